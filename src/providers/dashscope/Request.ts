/**
 * A `CallRequest` as a DashScope native generation request (WIRE.md §2.1–§2.2): messages inside
 * `input` (system first), `result_format: "message"`, `incremental_output` on streams, the key as
 * `Authorization: Bearer`, and the protocol's request rules (`temperature` in [0, 2)).
 */
import { FatalError } from "../../domain/Errors.js"
import { type CallRequest, textOf } from "../../domain/Prompt.js"
import { refuseUnsupported, textOnly } from "../http/Parts.js"
import * as Request from "../http/Request.js"
import type { ProviderTarget } from "../Provider.js"

/** The generation path, appended to an endpoint's `baseUrl` (the host). */
export const generationPath = "/api/v1/services/aigc/text-generation/generation"

/** One message of `input.messages` (text content: the message's text parts joined). */
export interface MessageBody {
  readonly role: "system" | "user" | "assistant"
  readonly content: string
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
  }
}

/** The request body; unset parameters (and an empty stop list) are omitted. */
export const encode = (modelId: string, request: CallRequest, streaming: boolean): GenerationRequest => {
  const messages: Array<MessageBody> = []
  if (request.system !== undefined) messages.push({ role: "system", content: request.system })
  for (const message of request.messages) {
    // Tool turns never get here today: `check` refuses tool results before a request is built.
    if (message.role !== "tool") messages.push({ role: message.role, content: textOf(message) })
  }
  const parameters: { -readonly [K in keyof GenerationRequest["parameters"]]: GenerationRequest["parameters"][K] } = {
    result_format: "message"
  }
  if (request.maxOutputTokens !== undefined) parameters.max_tokens = request.maxOutputTokens
  if (request.temperature !== undefined) parameters.temperature = request.temperature
  if (request.topP !== undefined) parameters.top_p = request.topP
  if (request.stop !== undefined && request.stop.length > 0) parameters.stop = request.stop
  if (streaming) parameters.incremental_output = true
  return { model: modelId, input: { messages }, parameters }
}

/** The HTTP request of one attempt; a stream asks for SSE with `X-DashScope-SSE` and `Accept`. */
export const make = (target: ProviderTarget, request: CallRequest, streaming: boolean): Request.PreparedRequest =>
  Request.jsonPost(target, {
    url: Request.joinUrl(target.endpoint.baseUrl, generationPath),
    body: encode(target.modelId, request, streaming),
    apiKeyHeader: { name: "authorization", prefix: "Bearer " },
    accept: streaming ? "sse" : "json",
    ...(streaming ? { headers: { "X-DashScope-SSE": "enable" } } : {})
  })

/**
 * DashScope's request rules: `temperature` within [0, 2) (WIRE.md §2.2), so 2 is refused here rather
 * than as the service's 400.
 */
export const check = (request: CallRequest, _modelId: string): FatalError | undefined =>
  request.temperature !== undefined && !(request.temperature >= 0 && request.temperature < 2)
    ? new FatalError({
      reason: "invalid_request",
      message: `temperature must be within [0, 2) for DashScope models, got ${request.temperature}`
    })
    : refuseUnsupported(request, "dashscope", textOnly)
