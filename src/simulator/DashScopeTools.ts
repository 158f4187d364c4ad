/**
 * What the simulated DashScope native API checks in messages, tools, tool choices and JSON mode on
 * both endpoints, and rejects with a 400 `InvalidParameter` as the real service does
 * (WIRE-tools-multimodal §2.9); and the text of a message (for the echo and the token count).
 */

type Json = Readonly<Record<string, unknown>>

const isObject = (value: unknown): value is Json => typeof value === "object" && value !== null && !Array.isArray(value)

const algo = (message: string) => `<400> InternalError.Algo.InvalidParameter: ${message}`

const itemKeys = new Set(["text", "image", "audio", "video"])

const fetchable = /^(https?:\/\/|oss:\/\/|data:)/i

/** The text a content carries: the string, or its items' `text` (media items as their URL). */
export const contentText = (content: unknown): string =>
  typeof content === "string"
    ? content
    : Array.isArray(content)
    ? content.map((item) => (isObject(item) && typeof item.text === "string" ? item.text : "")).join("")
    : ""

/**
 * Checks a message's content for an endpoint: a string on text-generation; on multimodal-generation
 * an array of one-key items (`text|image|audio|video`) whose media are URLs the service can fetch.
 */
const checkContent = (content: unknown, multimodal: boolean, index: number): string | undefined => {
  if (!multimodal) {
    return typeof content === "string"
      ? undefined
      : "Role must be user or assistant and Content length must be greater than 0"
  }
  if (!Array.isArray(content)) {
    return algo(
      `The content of message[${index}] must be a list of objects with one of the keys text, image, audio, video.`
    )
  }
  for (const item of content) {
    const keys = isObject(item) ? Object.keys(item) : []
    if (keys.length !== 1 || !itemKeys.has(keys[0]!)) {
      return algo(
        `The content of message[${index}] must be a list of objects with one of the keys text, image, audio, video.`
      )
    }
    const key = keys[0]!
    const value = (item as Json)[key]
    if (key === "text") {
      if (typeof value !== "string") return algo(`The text of message[${index}] must be a string.`)
    } else {
      const urls = key === "video" && Array.isArray(value) ? value : [value]
      if (urls.some((url) => typeof url !== "string" || !fetchable.test(url))) {
        return algo("Failed to download multimodal content")
      }
    }
  }
  return undefined
}

const isJson = (text: string): boolean => {
  try {
    JSON.parse(text)
    return true
  } catch {
    return false
  }
}

/** What a valid request holds beyond the checks: the declared tool names. */
export interface Checked {
  readonly tools: ReadonlySet<string>
}

/**
 * Checks messages (roles, content per endpoint, tool calls with JSON arguments, each answered by
 * exactly one later `tool` message with its `tool_call_id`), `parameters.tools`, `tool_choice`,
 * `result_format` with tools, and `response_format` (json_object needs the word "json" somewhere).
 * A rejection's message, else what the request declared.
 */
export const checkRequest = (
  messages: ReadonlyArray<unknown>,
  parameters: Json,
  multimodal: boolean
): string | Checked => {
  const pending = new Map<string, number>()
  let sawJson = false
  for (const [index, raw] of messages.entries()) {
    if (!isObject(raw) || !["system", "user", "assistant", "tool"].includes(raw.role as string)) {
      return "Role must be user or assistant and Content length must be greater than 0"
    }
    const contentError = checkContent(raw.content, multimodal, index)
    if (contentError !== undefined) return contentError
    if (/json/i.test(contentText(raw.content))) sawJson = true
    if (raw.role === "tool") {
      const id = raw.tool_call_id
      if (typeof id !== "string" || id === "") {
        return algo(`The "tool_call_id" of message[${index}] (role "tool") is required.`)
      }
      if (!pending.has(id)) {
        return algo(
          `Messages with role "tool" must be a response to a preceding message with "tool_calls": message[${index}].role`
        )
      }
      pending.delete(id)
      continue
    }
    if (pending.size > 0) {
      return algo(
        `An assistant message with "tool_calls" must be followed by tool messages responding to each "tool_call_id". The following tool_call_ids did not have response messages: message[${index}].role`
      )
    }
    const calls = raw.tool_calls
    if (calls === undefined) continue
    if (raw.role !== "assistant" || !Array.isArray(calls)) return algo(`message[${index}].tool_calls is invalid.`)
    for (const call of calls) {
      const fn = isObject(call) ? call.function : undefined
      if (!isObject(call) || typeof call.id !== "string" || !isObject(fn) || typeof fn.name !== "string") {
        return algo(`message[${index}].tool_calls is invalid.`)
      }
      if (typeof fn.arguments !== "string" || !isJson(fn.arguments)) {
        return algo(`The "function.arguments" parameter of the code model must be in JSON format.`)
      }
      pending.set(call.id, index)
    }
  }
  if (pending.size > 0) {
    return algo(
      `An assistant message with "tool_calls" must be followed by tool messages responding to each "tool_call_id". The following tool_call_ids did not have response messages: ${
        [...pending.keys()].join(", ")
      }`
    )
  }
  const tools = new Set<string>()
  const declared = parameters.tools
  if (declared !== undefined) {
    if (!Array.isArray(declared)) return algo("tools must be a list.")
    for (const tool of declared) {
      const fn = isObject(tool) ? tool.function : undefined
      if (
        !isObject(tool) || tool.type !== "function" || !isObject(fn) || typeof fn.name !== "string" || fn.name === ""
      ) {
        return algo(`Each tool must be {"type": "function", "function": {"name": …, "parameters": …}}.`)
      }
      if (fn.parameters !== undefined && !isObject(fn.parameters)) return algo("tool parameters must be an object.")
      tools.add(fn.name)
    }
    if (tools.size > 0 && parameters.result_format !== "message") {
      return algo(`The result_format must be "message" when tools are used.`)
    }
  }
  const choice = parameters.tool_choice
  if (choice !== undefined && choice !== "auto" && choice !== "none") {
    const name = isObject(choice) && choice.type === "function" && isObject(choice.function)
      ? choice.function.name
      : undefined
    if (typeof name !== "string") {
      return algo(`tool_choice must be "auto", "none" or {"type": "function", "function": {"name": …}}.`)
    }
    if (!tools.has(name)) return algo(`tool_choice names the function "${name}", which is not in tools.`)
  }
  const format = parameters.response_format
  if (format !== undefined) {
    const type = isObject(format) ? format.type : undefined
    if (type !== "json_object" && type !== "json_schema" && type !== "text") {
      return algo(`response_format.type must be one of text, json_object, json_schema.`)
    }
    if (type === "json_object" && !sawJson) {
      return algo(
        "'messages' must contain the word 'json' in some form, to use 'response_format' of type 'json_object'."
      )
    }
  }
  return { tools }
}

/** JSON as Python's `json.dumps` writes it (`", "` and `": "`): how Qwen's arguments text looks. */
export const modelJson = (value: unknown): string =>
  Array.isArray(value)
    ? `[${value.map(modelJson).join(", ")}]`
    : isObject(value)
    ? `{${Object.entries(value).map(([key, item]) => `${JSON.stringify(key)}: ${modelJson(item)}`).join(", ")}}`
    : JSON.stringify(value) ?? "null"
