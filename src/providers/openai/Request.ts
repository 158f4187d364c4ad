/**
 * A `CallRequest` as a Chat Completions request (WIRE-openai-anthropic §1.1–§1.2, WIRE-tools-multimodal
 * §3): `POST {base_url}/chat/completions`, the system text as a `system` message, the conversation
 * from `Content.ts`, tools as `function` tools, the tool choice, JSON output as `response_format`
 * (`json_schema`, strict when the schema qualifies; `json_object` on DeepSeek, DashScope's compatible
 * mode or as `json_mode` says), the output cap as `max_completion_tokens` (api.openai.com, Azure) or
 * `max_tokens` (every other host, or as the endpoint says), `stream_options.include_usage` on streams
 * only, `Authorization: Bearer` only when a key is configured (local servers need none), and the
 * protocol's request rules.
 */
import type { EndpointConfig, JsonMode, MaxTokensField } from "../../domain/Config.js"
import { FatalError } from "../../domain/Errors.js"
import type { CallRequest, JsonResponseFormat, JsonSchema, ToolChoice } from "../../domain/Prompt.js"
import * as DashScopeModels from "../dashscope/Models.js"
import * as JsonInstruction from "../http/JsonInstruction.js"
import { type Capabilities, refuseUnsupported } from "../http/Parts.js"
import * as Request from "../http/Request.js"
import { checkTools, narrowTools } from "../http/Tools.js"
import type { ProviderTarget } from "../Provider.js"
import { canCarry, encodeMessages, exceedsImageTotals, type MessageBody } from "./Content.js"
import { isStrict, schemaBody } from "./Strict.js"

export type { ContentPartBody, MessageBody, ToolCallBody } from "./Content.js"

/** The path appended to an endpoint's `baseUrl` (the versioned base: `…/v1`, `…/api/v3`). */
export const completionsPath = "/chat/completions"

/** The header that carries the API key (`Bearer <key>`); absent when the entry has no key. */
export const apiKeyHeader = "authorization"

/** A function tool (WIRE-tools-multimodal §3.1); `strict` is not sent: tool schemas are followed, not enforced. */
export interface ToolBody {
  readonly type: "function"
  readonly function: { readonly name: string; readonly description?: string; readonly parameters: JsonSchema }
}

/** `tool_choice`: a mode, or one function. */
export type ToolChoiceBody = "auto" | "none" | "required" | {
  readonly type: "function"
  readonly function: { readonly name: string }
}

/** `response_format`: a JSON Schema (strict or not), or JSON mode. */
export type ResponseFormatBody =
  | {
    readonly type: "json_schema"
    readonly json_schema: {
      readonly name: string
      readonly description?: string
      readonly schema: JsonSchema
      readonly strict: boolean
    }
  }
  | { readonly type: "json_object" }

/** The Chat Completions request body (the fields effect-llm sends). */
export interface ChatCompletionRequest {
  readonly model: string
  readonly messages: ReadonlyArray<MessageBody>
  readonly max_tokens?: number
  readonly max_completion_tokens?: number
  readonly temperature?: number
  readonly top_p?: number
  readonly stop?: ReadonlyArray<string>
  readonly stream?: true
  readonly stream_options?: { readonly include_usage: true }
  readonly tools?: ReadonlyArray<ToolBody>
  readonly tool_choice?: ToolChoiceBody
  readonly response_format?: ResponseFormatBody
}

/** Hosts that want `max_completion_tokens` (reasoning models refuse `max_tokens` there). */
const completionTokensHost = (host: string): boolean => host === "api.openai.com" || host.endsWith(".openai.azure.com")

/**
 * The field of the output cap: the endpoint's `max_tokens_field` when set, else
 * `max_completion_tokens` for OpenAI — the provider entry named `openai` (API.md §8's name for the
 * service), api.openai.com and Azure OpenAI, where `max_tokens` is deprecated and refused by reasoning
 * models — and `max_tokens` for every other (Ollama knows only `max_tokens`; DeepSeek, Ark and
 * DashScope document `max_tokens`).
 */
export const maxTokensField = (endpoint: EndpointConfig, provider?: string): MaxTokensField => {
  if (endpoint.maxTokensField !== undefined) return endpoint.maxTokensField
  if (provider === "openai") return "max_completion_tokens"
  try {
    return completionTokensHost(new URL(endpoint.baseUrl).hostname.toLowerCase())
      ? "max_completion_tokens"
      : "max_tokens"
  } catch {
    return "max_tokens"
  }
}

/**
 * How an endpoint takes structured output: its `json_mode`, else JSON mode for DeepSeek — the provider
 * entry named `deepseek`, or api.deepseek.com (DeepSeek documents `json_object` only) — and DashScope's
 * compatible mode (its JSON Schema mode takes "only some qwen-plus models"), a JSON Schema everywhere else.
 */
export const jsonMode = (endpoint: EndpointConfig, provider?: string): JsonMode => {
  if (endpoint.jsonMode !== undefined) return endpoint.jsonMode
  if (provider === "deepseek") return "json_object"
  const host = hostOf(endpoint)
  return host === "api.deepseek.com" || isDashScope(host) ? "json_object" : "json_schema"
}

const hostOf = (endpoint: EndpointConfig): string | undefined => {
  try {
    return new URL(endpoint.baseUrl).hostname.toLowerCase()
  } catch {
    return undefined
  }
}

const isDashScope = (host: string | undefined): boolean =>
  host !== undefined && /^dashscope(?:-[a-z]+)?\.aliyuncs\.com$/.test(host)

/**
 * How one request asks for JSON: the endpoint's mode, or the instruction alone (`instruction`) for a
 * Qwen model that thinks (QwQ, QVQ, `-thinking`, the open-weight Qwen3 hybrids) in JSON mode on
 * DashScope's compatible mode, which refuses it ("Json mode response is not supported when
 * enable_thinking is true"), as natively. Other hosts' JSON mode is left as configured.
 */
type RequestJsonMode = JsonMode | "instruction"

/** A `json_schema` name: the format's name when OpenAI's name rule takes it, else `response`. */
const formatName = (name: string): string => (/^[a-zA-Z0-9_-]{1,64}$/.test(name) ? name : "response")

/** The `response_format` of a JSON answer: `strict: true` only for a schema that qualifies (`Strict.ts`). */
export const responseFormatOf = (format: JsonResponseFormat, mode: JsonMode = "json_schema"): ResponseFormatBody =>
  mode === "json_object" ? { type: "json_object" } : {
    type: "json_schema",
    json_schema: {
      name: formatName(format.name),
      ...(format.description !== undefined && format.description.length > 0
        ? { description: format.description }
        : {}),
      schema: schemaBody(format.schema),
      strict: isStrict(format.schema)
    }
  }

/**
 * The system text, with the JSON instruction JSON mode needs appended (the word "json", which the
 * service requires somewhere in the messages, and the schema it cannot be given otherwise).
 */
const systemText = (request: CallRequest, mode: RequestJsonMode): string | undefined => {
  const format = request.responseFormat
  if (format === undefined || mode === "json_schema") return request.system
  return JsonInstruction.withInstruction(request.system, format)
}

/** `auto`, `none` and `required` as they are; one named tool as a function object (after `narrowTools`). */
export const toolChoiceOf = (choice: ToolChoice): ToolChoiceBody =>
  typeof choice === "string"
    ? choice
    : { type: "function", function: { name: "tool" in choice ? choice.tool : choice.oneOf[0]! } }

/**
 * The request body; unset settings (and an empty stop list) are omitted. `stream_options` is only
 * sent with `stream: true` (some servers refuse it otherwise). A choice of several tools is sent as
 * `required` over those tools only (`narrowTools`): `allowed_tools` is OpenAI's alone.
 */
export const encode = (
  modelId: string,
  request: CallRequest,
  streaming: boolean,
  capField: MaxTokensField = "max_tokens",
  mode: RequestJsonMode = "json_schema",
  streamUsage = true
): ChatCompletionRequest => {
  const messages: Array<MessageBody> = []
  const system = systemText(request, mode)
  if (system !== undefined) messages.push({ role: "system", content: system })
  messages.push(...encodeMessages(request.messages))
  const body: { -readonly [K in keyof ChatCompletionRequest]: ChatCompletionRequest[K] } = { model: modelId, messages }
  if (request.maxOutputTokens !== undefined) body[capField] = request.maxOutputTokens
  if (request.temperature !== undefined) body.temperature = request.temperature
  if (request.topP !== undefined) body.top_p = request.topP
  if (request.stop !== undefined && request.stop.length > 0) body.stop = request.stop
  if (streaming) {
    body.stream = true
    if (streamUsage) body.stream_options = { include_usage: true }
  }
  const { choice, tools } = narrowTools(request.tools ?? [], request.toolChoice)
  if (tools.length > 0) {
    body.tools = tools.map((tool) => ({
      type: "function",
      function: {
        name: tool.name,
        ...(tool.description !== undefined && tool.description.length > 0 ? { description: tool.description } : {}),
        parameters: tool.parameters
      }
    }))
    if (choice !== undefined) body.tool_choice = toolChoiceOf(choice)
  }
  if (request.responseFormat !== undefined && mode !== "instruction") {
    body.response_format = responseFormatOf(request.responseFormat, mode)
  }
  return body
}

/**
 * What an endpoint's provider and host decide, read once per endpoint (its config lives as long as the
 * layer, and belongs to one provider entry).
 */
const hostRules = new WeakMap<
  EndpointConfig,
  { readonly maxTokens: MaxTokensField; readonly json: JsonMode; readonly dashScope: boolean }
>()
const hostRulesOf = (target: ProviderTarget) => {
  let rules = hostRules.get(target.endpoint)
  if (rules === undefined) {
    rules = {
      maxTokens: maxTokensField(target.endpoint, target.provider),
      json: jsonMode(target.endpoint, target.provider),
      dashScope: isDashScope(hostOf(target.endpoint))
    }
    hostRules.set(target.endpoint, rules)
  }
  return rules
}

/** The HTTP request of one attempt; a stream asks for `text/event-stream`. */
export const make = (
  target: ProviderTarget,
  request: CallRequest,
  streaming: boolean,
  streamUsage = true
): Request.PreparedRequest => {
  const rules = hostRulesOf(target)
  const json = rules.json === "json_object" && rules.dashScope && request.responseFormat !== undefined &&
      DashScopeModels.thinks(target.modelId)
    ? "instruction"
    : rules.json
  return Request.jsonPost(target, {
    url: Request.joinUrl(target.endpoint.baseUrl, completionsPath),
    body: encode(target.modelId, request, streaming, rules.maxTokens, json, streamUsage),
    apiKeyHeader: { name: apiKeyHeader, prefix: "Bearer " },
    accept: streaming ? "sse" : "json"
  })
}

/** What Chat Completions carries: files in user turns as `Content.canCarry` says, tools and JSON output. */
export const capabilities: Capabilities = { part: canCarry, tools: true, structuredOutput: true }

/** A function name Chat Completions accepts (OAI `FunctionDefinition.name`, WIRE-tools-multimodal §3.1). */
export const functionName = /^[a-zA-Z0-9_-]{1,64}$/

/**
 * Chat Completions' request rules: `temperature` within [0, 2] (the documented range); the parts it
 * carries (files by kind, source and turn) and OpenAI's per-request image caps; tool names and choices.
 */
export const check = (request: CallRequest, _modelId: string): FatalError | undefined =>
  request.temperature !== undefined && !(request.temperature >= 0 && request.temperature <= 2)
    ? new FatalError({
      reason: "invalid_request",
      message: `temperature must be within [0, 2] for OpenAI-compatible models, got ${request.temperature}`
    })
    : refuseUnsupported(request, "openai", capabilities) ?? refuseImageTotals(request) ??
      checkTools(request, "openai", functionName)

const refuseImageTotals = (request: CallRequest): FatalError | undefined => {
  const exceeded = exceedsImageTotals(request)
  return exceeded === undefined ? undefined : new FatalError({ reason: "invalid_request", message: exceeded })
}
