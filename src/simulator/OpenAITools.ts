/**
 * What the simulated Chat Completions API checks in content parts, tool calls and results, tools,
 * tool choices and `response_format`, and rejects with a 400 as the real service does
 * (WIRE-tools-multimodal §3.7): the messages quoted there where one is recorded, OpenAI's usual
 * `Invalid value for '…'` form elsewhere. Also the text a message carries (for the echo and the
 * token count).
 */

/** A 400 the simulator answers: the `error` object's message, `param` and `code`. */
export interface Rejection {
  readonly message: string
  readonly param: string | null
  readonly code: string | null
}

type Json = Readonly<Record<string, unknown>>

const isObject = (value: unknown): value is Json => typeof value === "object" && value !== null && !Array.isArray(value)

const reject = (message: string, param: string | null = null, code: string | null = null): Rejection => ({
  message,
  param,
  code
})

const roles = new Set(["system", "developer", "user", "assistant", "tool"])
const functionName = /^[a-zA-Z0-9_-]{1,64}$/
const imageUrl = /^(https:\/\/|data:image\/(png|jpeg|webp|gif);base64,)/i

/** The text of a content: a string, or its text parts (media parts count as nothing). */
export const contentText = (content: unknown): string =>
  typeof content === "string"
    ? content
    : Array.isArray(content)
    ? content.map((part) => (isObject(part) && typeof part.text === "string" ? part.text : "")).join("")
    : ""

const checkPart = (part: unknown, role: string, at: string): Rejection | undefined => {
  const type = isObject(part) ? part.type : undefined
  if (type === "text") {
    return typeof (part as Json).text === "string" ? undefined : reject(`Invalid type for '${at}.text'.`, `${at}.text`)
  }
  if (role !== "user" || !isObject(part)) {
    return reject(
      `Invalid value: '${String(type)}'. Supported values are: 'text'${
        role === "user" ? ", 'image_url', 'input_audio', 'refusal', 'audio' and 'file'" : ""
      }.`,
      `${at}.type`,
      "invalid_value"
    )
  }
  switch (type) {
    case "image_url": {
      const url = isObject(part.image_url) ? part.image_url.url : undefined
      return typeof url === "string" && imageUrl.test(url) ? undefined : reject("Invalid image.", null, "invalid_image")
    }
    case "input_audio": {
      const audio = isObject(part.input_audio) ? part.input_audio : {}
      if (audio.format !== "wav" && audio.format !== "mp3") {
        return reject(
          `Invalid value: '${String(audio.format)}'. Supported values are: 'wav' and 'mp3'.`,
          `${at}.input_audio.format`,
          "invalid_value"
        )
      }
      return typeof audio.data === "string" && !audio.data.startsWith("data:")
        ? undefined
        : reject("Invalid audio data: expected base64-encoded bytes.", `${at}.input_audio.data`, "invalid_value")
    }
    case "file": {
      const file = isObject(part.file) ? part.file : {}
      return typeof file.file_data === "string" && /^data:application\/pdf;base64,/.test(file.file_data)
        ? undefined
        : reject(
          "Invalid file data: expected a base64-encoded data URL with the PDF MIME type.",
          `${at}.file.file_data`,
          "invalid_value"
        )
    }
    default:
      return reject(
        `Invalid value: '${
          String(type)
        }'. Supported values are: 'text', 'image_url', 'input_audio', 'refusal', 'audio' and 'file'.`,
        `${at}.type`,
        "invalid_value"
      )
  }
}

/** Strict mode's two enforced rules (WIRE-tools-multimodal §3.5), recursively; the context path of the first breach. */
const strictBreach = (schema: unknown, context: ReadonlyArray<string>, name: string): string | undefined => {
  if (!isObject(schema)) return undefined
  const where = `Invalid schema for response_format '${name}': In context=(${context.map((c) => `'${c}'`).join(", ")})`
  if (schema.type === "object" || isObject(schema.properties)) {
    if (schema.additionalProperties !== false) {
      return `${where}, 'additionalProperties' is required to be supplied and to be false.`
    }
    const properties = isObject(schema.properties) ? schema.properties : {}
    const required = Array.isArray(schema.required) ? schema.required : []
    const missing = Object.keys(properties).find((key) => !required.includes(key))
    if (missing !== undefined) {
      return `${where}, 'required' is required to be supplied and to be an array including every key in properties. Missing '${missing}'.`
    }
    for (const [key, value] of Object.entries(properties)) {
      const found = strictBreach(value, [...context, "properties", key], name)
      if (found !== undefined) return found
    }
  }
  if (schema.items !== undefined) return strictBreach(schema.items, [...context, "items"], name)
  return undefined
}

/** What a valid request holds beyond the checks. */
export interface Checked {
  readonly tools: ReadonlySet<string>
}

/**
 * Checks messages (roles; content parts by role; `image_url` an https or image `data:` URL; tool
 * calls each answered by a `tool` message before the next other message, and no `tool` message
 * without a call), `tools` (function tools with valid names), `tool_choice` (a mode, or a declared
 * function), and `response_format` (a strict schema's rules; `json_object` needs the word "json").
 */
export const checkRequest = (messages: ReadonlyArray<unknown>, body: Json): Rejection | Checked => {
  const pending = new Map<string, number>()
  let sawJson = false
  for (const [index, raw] of messages.entries()) {
    const at = `messages[${index}]`
    const role = isObject(raw) ? raw.role : undefined
    if (!isObject(raw) || typeof role !== "string" || !roles.has(role)) {
      return reject(
        `Invalid value: '${
          String(role)
        }'. Supported values are: 'system', 'assistant', 'user', 'function', 'tool', and 'developer'.`,
        `${at}.role`,
        "invalid_value"
      )
    }
    const content = raw.content
    if (Array.isArray(content)) {
      for (const [j, part] of content.entries()) {
        const found = checkPart(part, role, `${at}.content[${j}]`)
        if (found !== undefined) return found
      }
    } else if (typeof content !== "string" && !(role === "assistant" && content === null && raw.tool_calls)) {
      return reject(`Invalid type for '${at}.content'.`, `${at}.content`, "invalid_type")
    }
    if (/json/i.test(contentText(content))) sawJson = true
    if (role === "tool") {
      const id = raw.tool_call_id
      if (typeof id !== "string" || !pending.has(id)) {
        return reject(
          "Invalid parameter: messages with role 'tool' must be a response to a preceeding message with 'tool_calls'.",
          `${at}.role`
        )
      }
      pending.delete(id)
      continue
    }
    if (pending.size > 0) {
      return reject(
        `An assistant message with 'tool_calls' must be followed by tool messages responding to each 'tool_call_id'. The following tool_call_ids did not have response messages: ${
          [...pending.keys()].join(", ")
        }`,
        `messages.[${index}].role`
      )
    }
    const calls = raw.tool_calls
    if (calls === undefined || calls === null) continue
    if (role !== "assistant" || !Array.isArray(calls)) {
      return reject(`Invalid type for '${at}.tool_calls'.`, `${at}.tool_calls`, "invalid_type")
    }
    for (const [j, call] of calls.entries()) {
      const fn = isObject(call) ? call.function : undefined
      if (!isObject(call) || typeof call.id !== "string" || call.type !== "function" || !isObject(fn)) {
        return reject(`Invalid value for '${at}.tool_calls[${j}]'.`, `${at}.tool_calls[${j}]`, "invalid_value")
      }
      if (typeof fn.name !== "string" || !functionName.test(fn.name)) {
        return reject(
          `Invalid '${at}.tool_calls[${j}].function.name': string does not match pattern. Expected a string that matches the pattern '^[a-zA-Z0-9_-]+$'.`,
          `${at}.tool_calls[${j}].function.name`,
          "invalid_value"
        )
      }
      if (typeof fn.arguments !== "string") {
        return reject(
          `Invalid type for '${at}.tool_calls[${j}].function.arguments': expected a string.`,
          `${at}.tool_calls[${j}].function.arguments`,
          "invalid_type"
        )
      }
      pending.set(call.id, index)
    }
  }
  if (pending.size > 0) {
    return reject(
      `An assistant message with 'tool_calls' must be followed by tool messages responding to each 'tool_call_id'. The following tool_call_ids did not have response messages: ${
        [...pending.keys()].join(", ")
      }`,
      `messages.[${messages.length - 1}].role`
    )
  }
  const tools = new Set<string>()
  const declared = body.tools
  if (declared !== undefined) {
    if (!Array.isArray(declared)) return reject("Invalid type for 'tools': expected an array.", "tools", "invalid_type")
    for (const [i, tool] of declared.entries()) {
      const fn = isObject(tool) ? tool.function : undefined
      if (!isObject(tool) || tool.type !== "function" || !isObject(fn)) {
        return reject(
          `Missing required parameter: 'tools[${i}].function'.`,
          `tools[${i}].function`,
          "missing_required_parameter"
        )
      }
      if (typeof fn.name !== "string" || !functionName.test(fn.name)) {
        return reject(
          `Invalid 'tools[${i}].function.name': string does not match pattern. Expected a string that matches the pattern '^[a-zA-Z0-9_-]+$'.`,
          `tools[${i}].function.name`,
          "invalid_value"
        )
      }
      if (fn.parameters !== undefined && !isObject(fn.parameters)) {
        return reject(
          `Invalid type for 'tools[${i}].function.parameters'.`,
          `tools[${i}].function.parameters`,
          "invalid_type"
        )
      }
      if (fn.strict === true) {
        const breach = strictBreach(fn.parameters, [], fn.name)
        if (breach !== undefined) {
          return reject(breach, `tools[${i}].function.parameters`, "invalid_function_parameters")
        }
      }
      tools.add(fn.name)
    }
  }
  const choice = body.tool_choice
  if (choice !== undefined && choice !== null) {
    if (tools.size === 0) {
      return reject(
        "Invalid value for 'tool_choice': 'tool_choice' is only allowed when 'tools' are specified.",
        "tool_choice"
      )
    }
    if (typeof choice === "string") {
      if (!["none", "auto", "required"].includes(choice)) {
        return reject(
          `Invalid value: '${choice}'. Supported values are: 'none', 'auto', and 'required'.`,
          "tool_choice",
          "invalid_value"
        )
      }
    } else {
      const name = isObject(choice) && choice.type === "function" && isObject(choice.function)
        ? choice.function.name
        : undefined
      if (typeof name !== "string") return reject("Invalid value for 'tool_choice'.", "tool_choice", "invalid_value")
      if (!tools.has(name)) {
        return reject(
          `Invalid value for 'tool_choice': no function named '${name}' was specified in the 'tools' parameter.`,
          "tool_choice"
        )
      }
    }
  }
  const format = body.response_format
  if (format !== undefined && format !== null) {
    const type = isObject(format) ? format.type : undefined
    if (type === "json_schema") {
      const spec = (format as Json).json_schema
      if (!isObject(spec) || typeof spec.name !== "string" || !functionName.test(spec.name)) {
        return reject(
          "Missing required parameter: 'response_format.json_schema.name'.",
          "response_format.json_schema.name",
          "missing_required_parameter"
        )
      }
      if (spec.strict === true) {
        const breach = strictBreach(spec.schema, [], spec.name)
        if (breach !== undefined) return reject(breach, "response_format")
      }
    } else if (type === "json_object") {
      if (!sawJson) {
        return reject(
          "'messages' must contain the word 'json' in some form, to use 'response_format' of type 'json_object'.",
          "messages"
        )
      }
    } else if (type !== "text") {
      return reject(
        `Invalid value: '${String(type)}'. Supported values are: 'text', 'json_object', and 'json_schema'.`,
        "response_format.type",
        "invalid_value"
      )
    }
  }
  return { tools }
}
