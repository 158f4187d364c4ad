/**
 * What the simulated Messages API checks in content blocks, tool turns, tools, tool choices and
 * `output_config`, and rejects with a 400 `invalid_request_error` as the real service does
 * (WIRE-tools-multimodal §4.7): the recorded messages where there is one (unanswered `tool_use`
 * ids, orphaned `tool_result`s, the 5 MB image cap, tool names), the API's pydantic-style
 * `path: problem` form elsewhere. Also the signature the simulator puts on thinking blocks, checked
 * when a thinking block is echoed.
 */

/** The signature of the simulator's thinking blocks (a real one is opaque too). */
export const thinkingSignature = "c2ltdWxhdGVkLXNpZ25hdHVyZQ=="

type Json = Readonly<Record<string, unknown>>

const isObject = (value: unknown): value is Json => typeof value === "object" && value !== null && !Array.isArray(value)

const toolName = /^[a-zA-Z0-9_-]{1,64}$/
const imageTypes = new Set(["image/jpeg", "image/png", "image/gif", "image/webp"])
const maxImageBase64 = 5_242_880

const userBlocks = new Set(["text", "image", "document", "tool_result"])
const assistantBlocks = new Set(["text", "thinking", "redacted_thinking", "tool_use"])

/** The text a content carries: the string, or its text blocks (and tool results' text). */
export const contentText = (content: unknown): string =>
  typeof content === "string"
    ? content
    : Array.isArray(content)
    ? content.map((block) =>
      isObject(block)
        ? typeof block.text === "string"
          ? block.text
          : typeof block.content === "string"
          ? block.content
          : block.input !== undefined
          ? JSON.stringify(block.input)
          : ""
        : ""
    ).join("")
    : ""

const checkSource = (block: Json, at: string): string | undefined => {
  const source = block.source
  if (!isObject(source)) return `${at}.source: Field required`
  if (source.type === "url") return typeof source.url === "string" ? undefined : `${at}.source.url: Field required`
  // a plain-text document (PlainTextSource)
  if (source.type === "text" && block.type === "document") {
    if (source.media_type !== "text/plain") return `${at}.source.text.media_type: Input should be 'text/plain'`
    return typeof source.data === "string" ? undefined : `${at}.source.text.data: Field required`
  }
  if (source.type !== "base64") return `${at}.source.type: Input should be 'base64' or 'url'`
  if (typeof source.data !== "string") return `${at}.source.data: Field required`
  if (block.type === "image") {
    if (typeof source.media_type !== "string" || !imageTypes.has(source.media_type)) {
      return `${at}.source.base64.media_type: Input should be 'image/jpeg', 'image/png', 'image/gif' or 'image/webp'`
    }
    if (source.data.length > maxImageBase64) {
      return `${at}.source.base64: image exceeds 5 MB maximum: ${source.data.length} bytes > ${maxImageBase64} bytes`
    }
  } else if (source.media_type !== "application/pdf") {
    return `${at}.source.base64.media_type: Input should be 'application/pdf'`
  }
  return undefined
}

/** Whether every object schema in `schema` has `additionalProperties: false` (what native JSON output requires). */
const closedObjects = (schema: unknown): boolean => {
  if (Array.isArray(schema)) return schema.every(closedObjects)
  if (!isObject(schema)) return true
  if ((schema.type === "object" || isObject(schema.properties)) && schema.additionalProperties !== false) return false
  return Object.entries(schema).every(([key, value]) =>
    key === "properties" || key === "$defs"
      ? !isObject(value) || Object.values(value).every(closedObjects)
      : typeof value !== "object" || closedObjects(value)
  )
}

/** What a valid request holds beyond the checks. */
export interface Checked {
  readonly tools: ReadonlySet<string>
  /** The tool `tool_choice: {type: "tool"}` forces, if any. */
  readonly forcedTool: string | undefined
}

/**
 * Checks messages (blocks by role; image and document sources; a thinking block's signature; every
 * `tool_use` answered by a `tool_result` in the next message, none orphaned; tool blocks only with
 * tools declared), `tools` (names, `input_schema.type: "object"`), `tool_choice` (`auto`, `any`,
 * `none`, or a declared `tool`) and `output_config.format` (a `json_schema` with a schema whose
 * objects are closed).
 * A rejection's message, else what the request declared.
 */
export const checkRequest = (messages: ReadonlyArray<unknown>, body: Json): string | Checked => {
  const tools = new Set<string>()
  const declared = body.tools
  if (declared !== undefined) {
    if (!Array.isArray(declared)) return "tools: Input should be a valid list"
    for (const [i, tool] of declared.entries()) {
      if (!isObject(tool)) return `tools.${i}: Input should be a valid dictionary`
      if (typeof tool.name !== "string" || !toolName.test(tool.name)) {
        return `tools.${i}.custom.name: String should match pattern '^[a-zA-Z0-9_-]{1,64}$'`
      }
      const schema = tool.input_schema
      if (!isObject(schema)) return `tools.${i}.custom.input_schema: Field required`
      if (schema.type !== "object") return `tools.${i}.custom.input_schema.type: Input should be 'object'`
      tools.add(tool.name)
    }
  }
  let pending: { readonly index: number; readonly ids: Set<string> } | undefined
  let sawToolBlocks = false
  for (const [index, raw] of messages.entries()) {
    const role = isObject(raw) ? raw.role : undefined
    if (role !== "user" && role !== "assistant") return `messages.${index}.role: Input should be 'user' or 'assistant'`
    const content = (raw as Json).content
    const blocks = typeof content === "string" ? [] : content
    if (!Array.isArray(blocks)) return `messages.${index}.content: Input should be a valid list`
    const answered = new Set<string>()
    const calls = new Set<string>()
    for (const [j, block] of blocks.entries()) {
      const at = `messages.${index}.content.${j}`
      const type = isObject(block) ? block.type : undefined
      if (!isObject(block) || typeof type !== "string" || !(role === "user" ? userBlocks : assistantBlocks).has(type)) {
        return `${at}.type: Input tag '${String(type)}' found using 'type' does not match any of the expected tags`
      }
      switch (type) {
        case "text":
          if (typeof block.text !== "string") return `${at}.text: Field required`
          break
        case "image":
        case "document": {
          const found = checkSource(block, `${at}.${type}`)
          if (found !== undefined) return found
          break
        }
        case "thinking":
          if (typeof block.signature !== "string") return `${at}.thinking.signature: Field required`
          if (block.signature !== thinkingSignature) return `${at}: Invalid \`signature\` in \`thinking\` block`
          break
        case "redacted_thinking":
          if (typeof block.data !== "string") return `${at}.redacted_thinking.data: Field required`
          break
        case "tool_use":
          sawToolBlocks = true
          if (typeof block.id !== "string" || typeof block.name !== "string") return `${at}.tool_use.id: Field required`
          if (!isObject(block.input)) return `${at}.tool_use.input: Input should be a valid dictionary`
          calls.add(block.id)
          break
        case "tool_result": {
          sawToolBlocks = true
          const id = block.tool_use_id
          if (typeof id !== "string" || pending === undefined || pending.index !== index - 1 || !pending.ids.has(id)) {
            return `${at}: unexpected \`tool_use_id\` found in \`tool_result\` blocks: ${
              String(id)
            }. Each \`tool_result\` block must have a corresponding \`tool_use\` block in the previous message.`
          }
          answered.add(id)
          break
        }
      }
    }
    if (pending !== undefined) {
      const missing = [...pending.ids].filter((id) => !answered.has(id))
      if (missing.length > 0) {
        return `messages.${pending.index}: \`tool_use\` ids were found without \`tool_result\` blocks immediately after: ${
          missing.join(", ")
        }. Each \`tool_use\` block must have a corresponding \`tool_result\` block in the next message.`
      }
    }
    pending = calls.size > 0 ? { index, ids: calls } : undefined
  }
  // A trailing assistant turn with calls is a prefill the model continues: not checked here.
  if (sawToolBlocks && tools.size === 0) {
    return "Requests which include `tool_use` or `tool_result` blocks must define tools."
  }
  let forcedTool: string | undefined
  const choice = body.tool_choice
  if (choice !== undefined) {
    const type = isObject(choice) ? choice.type : undefined
    if (type !== "auto" && type !== "any" && type !== "tool" && type !== "none") {
      return `tool_choice: Input tag '${
        String(type)
      }' found using 'type' does not match any of the expected tags: 'auto', 'any', 'tool', 'none'`
    }
    if (type === "tool") {
      const name = (choice as Json).name
      if (typeof name !== "string") return "tool_choice.tool.name: Field required"
      if (!tools.has(name)) return `tool_choice.tool.name: tool '${name}' is not defined in tools`
      forcedTool = name
    }
  }
  const config = body.output_config
  if (config !== undefined) {
    const format = isObject(config) ? config.format : undefined
    if (format !== undefined) {
      if (!isObject(format) || format.type !== "json_schema") {
        return "output_config.format.type: Input should be 'json_schema'"
      }
      if (!isObject(format.schema)) return "output_config.format.schema: Field required"
      // The service's wording for an open object is unverified (WIRE-tools-multimodal §4.5); the rule is documented.
      if (!closedObjects(format.schema)) {
        return "output_config.format.schema: For 'object' type, 'additionalProperties' must be explicitly set to false"
      }
    }
  }
  return { tools, forcedTool }
}
