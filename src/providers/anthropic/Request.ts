/**
 * A `CallRequest` as an Anthropic Messages request (WIRE-openai-anthropic.md §2.1–§2.2): the system
 * text top-level, user/assistant turns (consecutive turns of one role merged), `max_tokens` always,
 * the key in `x-api-key` with `anthropic-version`, and the protocol's request rules (`temperature` in [0, 1]).
 */
import { FatalError } from "../../domain/Errors.js"
import type { CallRequest, Message } from "../../domain/Prompt.js"
import { refuseUnsupported, textOnly } from "../http/Parts.js"
import * as Request from "../http/Request.js"
import type { ProviderTarget } from "../Provider.js"

/** The Messages path, appended to an endpoint's `baseUrl` (the host). */
export const messagesPath = "/v1/messages"

/** The header that carries the API key. */
export const apiKeyHeader = "x-api-key"

/** The API version every request names (the only one Anthropic has published for the Messages API). */
export const anthropicVersion = "2023-06-01"

/**
 * `max_tokens` when a request reaches the encoder without an output cap. The plan always sets one for
 * this protocol (the request's, else `budget.default_max_output_tokens`); this is the same default, for
 * a client used directly.
 */
export const defaultMaxTokens = 1024

/** A text content block. */
export interface TextBlock {
  readonly type: "text"
  readonly text: string
}

/** One turn: a single text is sent as a string, merged turns as text blocks. */
export interface MessageBody {
  readonly role: "user" | "assistant"
  readonly content: string | ReadonlyArray<TextBlock>
}

/** The Messages request body. */
export interface MessagesRequest {
  readonly model: string
  readonly max_tokens: number
  readonly system?: string
  readonly messages: ReadonlyArray<MessageBody>
  readonly temperature?: number
  readonly top_p?: number
  readonly stop_sequences?: ReadonlyArray<string>
  readonly stream?: true
}

// Only text is carried today: `check` refuses every other part before a request is built.
const blocksOf = (message: Message): Array<TextBlock> =>
  message.parts.flatMap((part) => part.type === "text" ? [{ type: "text" as const, text: part.text }] : [])

/**
 * The turns: consecutive messages of one role become one turn whose content is their text blocks in
 * order — what the API does itself ("consecutive user or assistant turns … will be combined"), done
 * here so every Anthropic-compatible server sees alternating roles. A single text stays a string.
 */
export const encodeMessages = (messages: ReadonlyArray<Message>): Array<MessageBody> => {
  const turns: Array<{ role: "user" | "assistant"; blocks: Array<TextBlock> }> = []
  for (const message of messages) {
    if (message.role === "tool") continue
    const last = turns[turns.length - 1]
    if (last !== undefined && last.role === message.role) last.blocks.push(...blocksOf(message))
    else turns.push({ role: message.role, blocks: blocksOf(message) })
  }
  return turns.map(({ blocks, role }) => ({
    role,
    content: blocks.length === 1 ? blocks[0]!.text : blocks
  }))
}

/** The request body; unset settings (and an empty stop list) are left out, `stream` only on streams. */
export const encode = (modelId: string, request: CallRequest, streaming: boolean): MessagesRequest => {
  const body: { -readonly [K in keyof MessagesRequest]: MessagesRequest[K] } = {
    model: modelId,
    max_tokens: request.maxOutputTokens ?? defaultMaxTokens,
    messages: encodeMessages(request.messages)
  }
  if (request.system !== undefined) body.system = request.system
  if (request.temperature !== undefined) body.temperature = request.temperature
  if (request.topP !== undefined) body.top_p = request.topP
  if (request.stop !== undefined && request.stop.length > 0) body.stop_sequences = request.stop
  if (streaming) body.stream = true
  return body
}

/** The HTTP request of one attempt: `POST {base_url}/v1/messages`, a stream asking for `text/event-stream`. */
export const make = (target: ProviderTarget, request: CallRequest, streaming: boolean): Request.PreparedRequest =>
  Request.jsonPost(target, {
    url: Request.joinUrl(target.endpoint.baseUrl, messagesPath),
    body: encode(target.modelId, request, streaming),
    apiKeyHeader: { name: apiKeyHeader },
    accept: streaming ? "sse" : "json",
    headers: { "anthropic-version": anthropicVersion }
  })

/**
 * Anthropic's request rules: `temperature` within [0, 1] (the Messages API's range, narrower than
 * the [0, 2] effect-llm accepts), refused here rather than as the service's 400.
 */
export const check = (request: CallRequest, _modelId: string): FatalError | undefined =>
  request.temperature !== undefined && !(request.temperature >= 0 && request.temperature <= 1)
    ? new FatalError({
      reason: "invalid_request",
      message: `temperature must be within [0, 1] for Anthropic models, got ${request.temperature}`
    })
    : refuseUnsupported(request, "anthropic", textOnly)
