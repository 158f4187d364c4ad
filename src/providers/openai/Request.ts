/**
 * A `CallRequest` as a Chat Completions request (WIRE-openai-anthropic §1.1–§1.2): `POST
 * {base_url}/chat/completions`, the system text as a `system` message, the output cap as
 * `max_completion_tokens` (api.openai.com, Azure) or `max_tokens` (every other host, or as the endpoint
 * says), `stream_options.include_usage` on streams only, `Authorization: Bearer` only when a key is
 * configured (local servers need none), and the protocol's request rules.
 */
import type { EndpointConfig, MaxTokensField } from "../../domain/Config.js"
import { FatalError } from "../../domain/Errors.js"
import { type CallRequest, textOf } from "../../domain/Prompt.js"
import * as Request from "../http/Request.js"
import type { ProviderTarget } from "../Provider.js"

/** The path appended to an endpoint's `baseUrl` (the versioned base: `…/v1`, `…/api/v3`). */
export const completionsPath = "/chat/completions"

/** One message (text content: the message's text parts joined). */
export interface MessageBody {
  readonly role: "system" | "user" | "assistant"
  readonly content: string
}

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
}

/** Hosts that want `max_completion_tokens` (reasoning models refuse `max_tokens` there). */
const completionTokensHost = (host: string): boolean => host === "api.openai.com" || host.endsWith(".openai.azure.com")

/**
 * The field of the output cap: the endpoint's `max_tokens_field` when set, else
 * `max_completion_tokens` for api.openai.com and Azure OpenAI (where `max_tokens` is deprecated and
 * refused by reasoning models) and `max_tokens` for every other host (Ollama knows only `max_tokens`;
 * DeepSeek, Ark and DashScope document `max_tokens`).
 */
export const maxTokensField = (endpoint: EndpointConfig): MaxTokensField => {
  if (endpoint.maxTokensField !== undefined) return endpoint.maxTokensField
  try {
    return completionTokensHost(new URL(endpoint.baseUrl).hostname.toLowerCase())
      ? "max_completion_tokens"
      : "max_tokens"
  } catch {
    return "max_tokens"
  }
}

/**
 * The request body; unset settings (and an empty stop list) are omitted. `stream_options` is only
 * sent with `stream: true` (some servers refuse it otherwise).
 */
export const encode = (
  modelId: string,
  request: CallRequest,
  streaming: boolean,
  capField: MaxTokensField = "max_tokens"
): ChatCompletionRequest => {
  const messages: Array<MessageBody> = []
  if (request.system !== undefined) messages.push({ role: "system", content: request.system })
  for (const message of request.messages) messages.push({ role: message.role, content: textOf(message) })
  const body: { -readonly [K in keyof ChatCompletionRequest]: ChatCompletionRequest[K] } = { model: modelId, messages }
  if (request.maxOutputTokens !== undefined) body[capField] = request.maxOutputTokens
  if (request.temperature !== undefined) body.temperature = request.temperature
  if (request.topP !== undefined) body.top_p = request.topP
  if (request.stop !== undefined && request.stop.length > 0) body.stop = request.stop
  if (streaming) {
    body.stream = true
    body.stream_options = { include_usage: true }
  }
  return body
}

/** The HTTP request of one attempt; a stream asks for `text/event-stream`. */
export const make = (target: ProviderTarget, request: CallRequest, streaming: boolean): Request.PreparedRequest =>
  Request.jsonPost(target, {
    url: Request.joinUrl(target.endpoint.baseUrl, completionsPath),
    body: encode(target.modelId, request, streaming, maxTokensField(target.endpoint)),
    apiKeyHeader: { name: "authorization", prefix: "Bearer " },
    accept: streaming ? "sse" : "json"
  })

/** Chat Completions' request rules: `temperature` within [0, 2] (the documented range). */
export const check = (request: CallRequest, _modelId: string): FatalError | undefined =>
  request.temperature !== undefined && !(request.temperature >= 0 && request.temperature <= 2)
    ? new FatalError({
      reason: "invalid_request",
      message: `temperature must be within [0, 2] for OpenAI-compatible models, got ${request.temperature}`
    })
    : undefined
