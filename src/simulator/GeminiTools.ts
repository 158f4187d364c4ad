/**
 * What the simulated Gemini API checks in tools, tool choices, JSON output, content parts and tool
 * turns, and rejects with a 400 as the real service does (WIRE-tools-multimodal §1.9); and the
 * thought signatures it issues on calls — derived from the call itself, so that an echo can be
 * checked without remembering anything.
 */

/** A 400 the simulator answers: the `error.message` text. */
export type Rejection = { readonly message: string }

type Json = Readonly<Record<string, unknown>>

const isObject = (value: unknown): value is Json => typeof value === "object" && value !== null && !Array.isArray(value)

/** The `google.rpc.Status` message of a proto-parser rejection. */
const unknownField = (name: string, at: string): Rejection => ({
  message: `Invalid JSON payload received. Unknown name "${name}" at '${at}': Cannot find field.`
})

const invalidArgument: Rejection = { message: "Request contains an invalid argument." }

/** Keys of the OpenAPI `Schema` object `parameters` may hold (GENAI `Schema`). */
const schemaKeys = new Set([
  "type",
  "format",
  "title",
  "description",
  "nullable",
  "enum",
  "items",
  "minItems",
  "maxItems",
  "minLength",
  "maxLength",
  "pattern",
  "minimum",
  "maximum",
  "properties",
  "required",
  "minProperties",
  "maxProperties",
  "anyOf",
  "propertyOrdering",
  "default",
  "example"
])

const checkSchema = (schema: unknown, at: string): Rejection | undefined => {
  if (!isObject(schema)) return undefined
  for (const [key, value] of Object.entries(schema)) {
    if (!schemaKeys.has(key)) return unknownField(key, at)
    if (key === "properties" && isObject(value)) {
      for (const [name, property] of Object.entries(value)) {
        const found = checkSchema(property, `${at}.properties[${name}].value`)
        if (found !== undefined) return found
      }
    } else if (key === "items") {
      const found = checkSchema(value, `${at}.items`)
      if (found !== undefined) return found
    } else if (key === "anyOf" && Array.isArray(value)) {
      for (const [index, item] of value.entries()) {
        const found = checkSchema(item, `${at}.any_of[${index}]`)
        if (found !== undefined) return found
      }
    }
  }
  return undefined
}

const functionName = /^[A-Za-z_][A-Za-z0-9_.:-]{0,127}$/
const modes = new Set(["MODE_UNSPECIFIED", "AUTO", "ANY", "NONE", "VALIDATED"])

/** Checks `tools` and `toolConfig`; the declared function names on success. */
export const checkTools = (tools: unknown, toolConfig: unknown): Rejection | ReadonlySet<string> => {
  const names = new Set<string>()
  if (tools !== undefined) {
    if (!Array.isArray(tools)) return { message: "Invalid JSON payload received. Expected an array for 'tools'." }
    for (const [i, tool] of tools.entries()) {
      if (!isObject(tool)) return invalidArgument
      const declarations = tool.functionDeclarations ?? tool.function_declarations
      if (declarations === undefined) continue
      if (!Array.isArray(declarations)) return invalidArgument
      for (const [j, declaration] of declarations.entries()) {
        const at = `tools[${i}].function_declarations[${j}]`
        if (!isObject(declaration)) return invalidArgument
        const name = declaration.name
        if (typeof name !== "string" || !functionName.test(name)) {
          return {
            message:
              `* GenerateContentRequest.${at}.name: Invalid function name. Must start with a letter or an underscore. Must be a-z, A-Z, 0-9, or contain underscores, dots, colons and dashes, with a maximum length of 128.\n`
          }
        }
        const parameters = declaration.parameters
        const jsonSchema = declaration.parametersJsonSchema ?? declaration.parameters_json_schema
        if (parameters !== undefined && jsonSchema !== undefined) {
          return {
            message: `* GenerateContentRequest.${at}: parameters and parameters_json_schema are mutually exclusive\n`
          }
        }
        if (jsonSchema !== undefined && !isObject(jsonSchema)) return invalidArgument
        const found = checkSchema(parameters, `${at}.parameters`)
        if (found !== undefined) return found
        names.add(name)
      }
    }
  }
  if (toolConfig !== undefined) {
    const config = isObject(toolConfig) ? toolConfig.functionCallingConfig ?? toolConfig.function_calling_config : {}
    const mode = isObject(config) ? config.mode : undefined
    if (mode !== undefined && (typeof mode !== "string" || !modes.has(mode))) {
      return {
        message:
          `Invalid value at 'tool_config.function_calling_config.mode' (type.googleapis.com/google.ai.generativelanguage.v1beta.FunctionCallingConfig.Mode), "${
            String(mode)
          }"`
      }
    }
  }
  return names
}

/** Checks the JSON-output settings: a schema needs `responseMimeType: application/json`, and only one schema. */
export const checkJsonOutput = (config: Json): Rejection | undefined => {
  const schema = config.responseSchema ?? config.response_schema
  const jsonSchema = config.responseJsonSchema ?? config.response_json_schema
  if (schema !== undefined && jsonSchema !== undefined) {
    return {
      message:
        "* GenerateContentRequest.generation_config: response_schema and response_json_schema are mutually exclusive\n"
    }
  }
  const mime = config.responseMimeType ?? config.response_mime_type
  if ((schema !== undefined || jsonSchema !== undefined) && mime !== "application/json") {
    return {
      message:
        "* GenerateContentRequest.generation_config.response_mime_type: When response_schema or response_json_schema is set, response_mime_type must be application/json.\n"
    }
  }
  return undefined
}

const dataFields = [
  "text",
  "inlineData",
  "fileData",
  "functionCall",
  "functionResponse",
  "executableCode",
  "codeExecutionResult"
]
const partKeys = new Set([
  ...dataFields,
  "thought",
  "thoughtSignature",
  "videoMetadata",
  "mediaResolution",
  "partMetadata"
])

// Media types the simulator accepts inline (WIRE-tools-multimodal §1.8).
const inlineTypes =
  /^(image\/(png|jpeg|webp|heic|heif)|application\/pdf|text\/plain|audio\/(wav|x-wav|mp3|mpeg|aiff|aac|ogg|flac)|video\/(mp4|mpeg|mov|quicktime|avi|x-flv|mpg|webm|wmv|3gpp))$/
const base64 = /^[A-Za-z0-9+/]*={0,2}$/

const fnv = (text: string): string => {
  let h = 2166136261
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 16777619)
  return (h >>> 0).toString(16).padStart(8, "0")
}

/** JSON with object keys sorted: the same value always gives the same text. */
const stable = (value: unknown): string =>
  Array.isArray(value)
    ? `[${value.map(stable).join(",")}]`
    : isObject(value)
    ? `{${Object.keys(value).sort().map((key) => `${JSON.stringify(key)}:${stable(value[key])}`).join(",")}}`
    : JSON.stringify(value) ?? "null"

/** The signature the simulator puts on a call it issues (base64, as Gemini's opaque ones). */
export const signatureOf = (call: { readonly name: string; readonly args: unknown; readonly id?: string }) =>
  Buffer.from(`sim-thought:${fnv(`${call.id ?? ""}|${call.name}|${stable(call.args)}`)}`).toString("base64")

/** The value Google documents for a replayed call whose signature is lost. */
export const skipSignatureValidator = "skip_thought_signature_validator"

/** Whether a model id names Gemini 3 or later (server ids on calls, enforced signatures). */
export const isGemini3 = (model: string): boolean => Number(/gemini-(\d+)/.exec(model)?.[1] ?? 0) >= 3

/** Whether a model thinks before calling (Gemini 2.5 and later): its first call of a turn is signed. */
export const signsCalls = (model: string): boolean => isGemini3(model) || /gemini-2\.5/.test(model)

interface Turn {
  readonly role: string
  readonly calls: number
  readonly responses: number
  readonly text: boolean
  /** A Gemini 3 model turn whose first call carries no signature. */
  readonly unsigned: boolean
}

/**
 * Checks every content's parts (one data field each, known keys, valid inline data, function calls
 * only from the model and responses only from the user, `response` an object), that a turn of
 * function responses answers each call of the turn before it, and — on Gemini 3 — that the first call
 * of each model turn since the last user text carries the signature the simulator issued for it (or
 * the documented skip value).
 */
export const checkContents = (contents: ReadonlyArray<unknown>, model: string): Rejection | undefined => {
  const turns: Array<Turn> = []
  for (const [i, content] of contents.entries()) {
    const role = isObject(content) && typeof content.role === "string" ? content.role : "user"
    const parts = isObject(content) ? content.parts : undefined
    if (!Array.isArray(parts) || parts.length === 0) {
      return { message: `* GenerateContentRequest.contents[${i}].parts: contents.parts must not be empty.\n` }
    }
    let calls = 0
    let responses = 0
    let text = false
    let unsigned = false
    for (const [j, part] of parts.entries()) {
      const at = `contents[${i}].parts[${j}]`
      if (!isObject(part)) return invalidArgument
      for (const key of Object.keys(part)) if (!partKeys.has(key)) return unknownField(key, at)
      const present = dataFields.filter((field) => part[field] !== undefined)
      if (present.length !== 1) {
        return {
          message: present.length === 0
            ? `* GenerateContentRequest.${at}.data: required oneof field 'data' must have one initialized field\n`
            : `Invalid JSON payload received. Oneof field 'data' is already set. Cannot set '${present[1]}'`
        }
      }
      if (typeof part.text === "string" && part.thought !== true) text = true
      const inline = part.inlineData
      if (inline !== undefined) {
        if (
          !isObject(inline) || typeof inline.mimeType !== "string" || !inlineTypes.test(inline.mimeType) ||
          typeof inline.data !== "string" || inline.data.length === 0 || inline.data.length % 4 !== 0 ||
          !base64.test(inline.data)
        ) return invalidArgument
      }
      const file = part.fileData
      if (file !== undefined && (!isObject(file) || typeof file.fileUri !== "string" || file.fileUri === "")) {
        return { message: `* GenerateContentRequest.${at}.file_data.file_uri: file_uri must not be empty\n` }
      }
      const call = part.functionCall
      if (call !== undefined) {
        if (role !== "model") return invalidArgument
        if (!isObject(call) || typeof call.name !== "string") return invalidArgument
        if (calls === 0 && isGemini3(model)) {
          const signature = part.thoughtSignature
          if (signature !== undefined && signature !== skipSignatureValidator) {
            const expected = signatureOf({
              name: call.name,
              args: call.args ?? {},
              ...(typeof call.id === "string" ? { id: call.id } : {})
            })
            if (signature !== expected) return { message: "Corrupted thought signature." }
          }
          // Checked below, once it is known whether this turn is part of the current one.
          unsigned = signature === undefined
        }
        calls++
      }
      const response = part.functionResponse
      if (response !== undefined) {
        if (role === "model") return invalidArgument
        if (!isObject(response) || typeof response.name !== "string" || response.name === "") {
          return { message: `* GenerateContentRequest.${at}.function_response.name: Name cannot be empty.\n` }
        }
        if (!isObject(response.response)) {
          return {
            message:
              `Invalid JSON payload received. Unknown name "response" at '${at}.function_response': Proto field is not repeating, cannot start list.`
          }
        }
        responses++
      }
    }
    if (responses > 0) {
      const previous = turns.at(-1)
      if (previous === undefined || previous.role !== "model" || previous.calls === 0) {
        return {
          message: "Please ensure that function response turn comes immediately after a function call turn."
        }
      }
      if (previous.calls !== responses) {
        return {
          message:
            "Please ensure that the number of function response parts is equal to the number of function call parts of the function call turn."
        }
      }
    }
    turns.push({ role, calls, responses, text, unsigned })
  }
  // Gemini 3 validates the signatures of the current turn: model turns after the last user text.
  let current = false
  for (let index = turns.length - 1; index >= 0; index--) {
    const turn = turns[index]!
    if (turn.role === "user" && turn.text) break
    if (turn.unsigned) current = true
  }
  if (current) {
    return {
      message:
        "Function call is missing a thought_signature in functionCall parts. This is required for tools to work correctly, and missing thought_signature may lead to degraded model performance. Additional data, function call `default_api:tool`, position 1. Please refer to https://ai.google.dev/gemini-api/docs/thought-signatures for more details."
    }
  }
  return undefined
}
