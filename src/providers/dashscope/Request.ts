/**
 * A `CallRequest` as a DashScope native generation request (WIRE.md §2.1–§2.2, WIRE-tools-multimodal
 * §2): messages inside `input` (system first) — string content on `text-generation`, arrays of one-key
 * items on `multimodal-generation` (the endpoint `Models.ts` picks) —, tool calls with their original
 * `arguments` string, `role: "tool"` results, `parameters.tools` / `tool_choice` /
 * `parallel_tool_calls`, JSON mode, `result_format: "message"`, `incremental_output` on streams, the
 * key as `Authorization: Bearer`, and the protocol's request rules.
 */
import { FatalError } from "../../domain/Errors.js"
import type {
  AssistantPart,
  CallRequest,
  FilePart,
  JsonSchema,
  ToolCallPart,
  ToolChoice,
  ToolResultPart
} from "../../domain/Prompt.js"
import * as JsonInstruction from "../http/JsonInstruction.js"
import { type Capabilities, refuseUnsupported } from "../http/Parts.js"
import * as Request from "../http/Request.js"
import { argumentsText, checkTools, resultsInCallOrder, resultText as toolResultText } from "../http/Tools.js"
import type { ProviderTarget } from "../Provider.js"
import * as Models from "./Models.js"

/** The text-generation path, appended to an endpoint's `baseUrl` (the host). */
export const generationPath = "/api/v1/services/aigc/text-generation/generation"

/** The multimodal-generation path (vision, audio and omni models; Qwen 3.5+ with files). */
export const multimodalPath = "/api/v1/services/aigc/multimodal-generation/generation"

/** The header that carries the API key (`Bearer <key>`). */
export const apiKeyHeader = "authorization"

/** The key of DashScope's data in a part's provider metadata: `{ dashscope: { arguments } }`. */
export const metadataKey = "dashscope"

/** A content item of the multimodal endpoint: one key each. */
export type ContentItem =
  | { readonly text: string }
  | { readonly image: string }
  | { readonly audio: string }
  | { readonly video: string }

/** A tool call of an assistant message, as the service sent it (WIRE-tools-multimodal §2.5). */
export interface ToolCallBody {
  readonly function: { readonly name: string; readonly arguments: string }
  readonly index: number
  readonly id: string
  readonly type: "function"
}

/** One message of `input.messages`: string content on text-generation, items on multimodal-generation. */
export interface MessageBody {
  readonly role: "system" | "user" | "assistant" | "tool"
  readonly content: string | ReadonlyArray<ContentItem>
  readonly tool_calls?: ReadonlyArray<ToolCallBody>
  readonly tool_call_id?: string
}

/** A tool declaration (`parameters.tools[]`). */
export interface ToolBody {
  readonly type: "function"
  readonly function: { readonly name: string; readonly description?: string; readonly parameters: JsonSchema }
}

/** `parameters.tool_choice`: `"auto"`, `"none"`, or one function. */
export type ToolChoiceBody = "auto" | "none" | {
  readonly type: "function"
  readonly function: { readonly name: string }
}

/** The generation request body. */
export interface GenerationRequest {
  readonly model: string
  readonly input: { readonly messages: ReadonlyArray<MessageBody> }
  readonly parameters: {
    readonly result_format: "message"
    readonly max_tokens?: number
    readonly temperature?: number
    readonly top_p?: number
    readonly stop?: ReadonlyArray<string>
    readonly incremental_output?: true
    readonly tools?: ReadonlyArray<ToolBody>
    readonly tool_choice?: ToolChoiceBody
    readonly parallel_tool_calls?: boolean
    readonly response_format?: { readonly type: "json_object" }
  }
}

/**
 * A call's `arguments` as sent back: the string the service sent when the part still carries it and
 * it still says what `params` says (DashScope checks it is JSON: never re-serialised needlessly),
 * else `params` as JSON.
 */
export const argumentsOf = (part: ToolCallPart): string => argumentsText(part, metadataKey)

/** A tool result as the `tool` message's text: a string as it is, anything else as JSON; a failure as `{"error":…}`. */
export const resultText: (part: ToolResultPart) => string = toolResultText

const dataUrl = (part: FilePart): string =>
  part.data._tag === "base64" ? `data:${part.mediaType};base64,${part.data.base64}` : part.data.url

const fileItem = (part: FilePart): ContentItem => {
  const url = dataUrl(part)
  switch (Models.kindOf(part.mediaType)) {
    case "audio":
      return { audio: url }
    case "video":
      return { video: url }
    default:
      return { image: url }
  }
}

const toolCalls = (parts: ReadonlyArray<AssistantPart>): Array<ToolCallBody> =>
  parts.filter((part): part is ToolCallPart => part.type === "tool-call").map((part, index) => ({
    function: { name: part.name, arguments: argumentsOf(part) },
    index,
    id: part.id,
    type: "function"
  }))

const textOfParts = (parts: ReadonlyArray<{ readonly type: string; readonly text?: string }>): string => {
  let out = ""
  for (const part of parts) if (part.type === "text") out += part.text
  return out
}

/** The system text, with the JSON instruction JSON mode needs (the word "JSON" and the schema) appended. */
const systemText = (request: CallRequest): string | undefined => {
  const format = request.responseFormat
  return format === undefined ? request.system : JsonInstruction.withInstruction(request.system, format)
}

/** The messages for one endpoint: reasoning parts are never sent back (Qwen does not take them). */
export const encodeMessages = (request: CallRequest, endpoint: Models.Endpoint): Array<MessageBody> => {
  const multimodal = endpoint === "multimodal-generation"
  const textContent = (
    text: string
  ): MessageBody["content"] => (multimodal ? (text.length > 0 ? [{ text }] : []) : text)
  const out: Array<MessageBody> = []
  const system = systemText(request)
  if (system !== undefined) out.push({ role: "system", content: multimodal ? [{ text: system }] : system })
  // one `tool` message per call, in call order (WIRE-tools-multimodal §2.5)
  for (const message of resultsInCallOrder(request.messages)) {
    switch (message.role) {
      case "user":
        out.push({
          role: "user",
          content: multimodal
            ? message.parts.map((part) => (part.type === "text" ? { text: part.text } : fileItem(part)))
            : textOfParts(message.parts)
        })
        break
      case "assistant": {
        const calls = toolCalls(message.parts)
        out.push({
          role: "assistant",
          content: textContent(textOfParts(message.parts)),
          ...(calls.length > 0 ? { tool_calls: calls } : {})
        })
        break
      }
      case "tool":
        for (const part of message.parts) {
          out.push({ role: "tool", content: textContent(resultText(part)), tool_call_id: part.id })
        }
        break
    }
  }
  return out
}

/**
 * `auto` and `none` as they are; a choice that leaves one tool (`{tool}`, a one-name `oneOf`,
 * `required` with one tool declared) as that function object. `required` among several tools and a
 * choice of several cannot be said (DashScope documents no `"required"`): `undefined`.
 */
export const toolChoiceOf = (
  choice: ToolChoice,
  tools: ReadonlyArray<{ readonly name: string }>
): ToolChoiceBody | undefined => {
  if (choice === "auto" || choice === "none") return choice
  const names = choice === "required" ? tools.map((tool) => tool.name) : "tool" in choice ? [choice.tool] : choice.oneOf
  return names.length === 1 ? { type: "function", function: { name: names[0]! } } : undefined
}

/** The request body for one endpoint; unset parameters (and an empty stop list) are omitted. */
export const encode = (
  modelId: string,
  request: CallRequest,
  streaming: boolean,
  endpoint: Models.Endpoint = Models.endpointOf(modelId, request)
): GenerationRequest => {
  const parameters: { -readonly [K in keyof GenerationRequest["parameters"]]: GenerationRequest["parameters"][K] } = {
    result_format: "message"
  }
  if (request.maxOutputTokens !== undefined) parameters.max_tokens = request.maxOutputTokens
  if (request.temperature !== undefined) parameters.temperature = request.temperature
  if (request.topP !== undefined) parameters.top_p = request.topP
  if (request.stop !== undefined && request.stop.length > 0) parameters.stop = request.stop
  if (streaming) parameters.incremental_output = true
  const tools = request.tools ?? []
  if (tools.length > 0) {
    parameters.tools = tools.map((tool) => ({
      type: "function",
      function: {
        name: tool.name,
        ...(tool.description !== undefined && tool.description.length > 0 ? { description: tool.description } : {}),
        parameters: tool.parameters
      }
    }))
    const choice = request.toolChoice !== undefined ? toolChoiceOf(request.toolChoice, tools) : undefined
    if (choice !== undefined) parameters.tool_choice = choice
    // Qwen calls one tool per turn unless asked (its default is false); the other protocols' default is parallel.
    if (choice !== "none") parameters.parallel_tool_calls = true
  }
  if (request.responseFormat !== undefined && !Models.thinks(modelId)) {
    parameters.response_format = { type: "json_object" }
  }
  return { model: modelId, input: { messages: encodeMessages(request, endpoint) }, parameters }
}

/** Whether a user turn names a file by an `oss://` URL (DashScope's temporary storage). */
const refersToOss = (request: CallRequest): boolean =>
  request.messages.some((message) =>
    message.role === "user" &&
    message.parts.some((part) => part.type === "file" && part.data._tag === "url" && part.data.url.startsWith("oss://"))
  )

/**
 * The HTTP request of one attempt, to the model's endpoint; a stream asks for SSE with
 * `X-DashScope-SSE` and `Accept`. A file named by an `oss://` URL needs
 * `X-DashScope-OssResourceResolve: enable`, as the official SDK sends it (WIRE-tools-multimodal §2.7).
 */
export const make = (target: ProviderTarget, request: CallRequest, streaming: boolean): Request.PreparedRequest => {
  const endpoint = Models.endpointOf(target.modelId, request)
  const oss = endpoint === "multimodal-generation" && refersToOss(request)
  return Request.jsonPost(target, {
    url: Request.joinUrl(
      target.endpoint.baseUrl,
      endpoint === "multimodal-generation" ? multimodalPath : generationPath,
      "/api/v1"
    ),
    body: encode(target.modelId, request, streaming, endpoint),
    apiKeyHeader: { name: apiKeyHeader, prefix: "Bearer " },
    accept: streaming ? "sse" : "json",
    ...(streaming || oss
      ? {
        headers: {
          ...(streaming ? { "X-DashScope-SSE": "enable" } : {}),
          ...(oss ? { "X-DashScope-OssResourceResolve": "enable" } : {})
        }
      }
      : {})
  })
}

/**
 * What a model's family carries: files in user turns as `Models.canCarryFile` says (an assistant turn
 * is sent as its text: a file there would be dropped), tools (and tool turns) where the family calls
 * functions, JSON mode.
 */
export const capabilitiesOf = (modelId: string): Capabilities => {
  const family = Models.familyOf(modelId)
  return {
    part: (part, role) =>
      part.type === "file"
        ? role === "user" && Models.canCarryFile(family, part)
        : part.type === "tool-call" || part.type === "tool-result"
        ? family.tools
        : true,
    tools: family.tools,
    structuredOutput: true
  }
}

const invalid = (message: string) => new FatalError({ reason: "invalid_request", message })

/** A function name DashScope takes: its tool schema is OpenAI's, so is its name rule (assumed, §2.2). */
export const functionName = /^[a-zA-Z0-9_-]{1,64}$/

/**
 * DashScope's request rules: `temperature` within [0, 2) (WIRE.md §2.2), so 2 is refused here rather
 * than as the service's 400; the parts and tools the model's family takes (the refusal says what it
 * takes); tool names (OpenAI's rule, assumed) and a tool choice it can express (`auto`, `none`, one
 * named tool).
 */
export const check = (request: CallRequest, modelId: string): FatalError | undefined => {
  if (request.temperature !== undefined && !(request.temperature >= 0 && request.temperature < 2)) {
    return invalid(`temperature must be within [0, 2) for DashScope models, got ${request.temperature}`)
  }
  const refused = refuseUnsupported(request, "dashscope", capabilitiesOf(modelId))
  if (refused !== undefined) {
    return invalid(`${refused.message} (${Models.describeFamily(modelId, Models.familyOf(modelId))})`)
  }
  const tools = checkTools(request, "dashscope", functionName)
  if (tools !== undefined) return tools
  if (
    request.toolChoice !== undefined && (request.tools?.length ?? 0) > 0 &&
    toolChoiceOf(request.toolChoice, request.tools ?? []) === undefined
  ) {
    return invalid(
      `toolChoice ${
        JSON.stringify(request.toolChoice)
      } cannot be expressed over the dashscope protocol (it has "auto", "none" and one named tool; "required" only with one tool declared)`
    )
  }
  return undefined
}
