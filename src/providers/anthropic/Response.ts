/**
 * Anthropic's Message and stream events (WIRE-openai-anthropic.md §2.3–§2.5): their lenient Schemas,
 * the readers both the unary and the stream path use (text and thinking blocks, usage with the cache
 * fields, stop reason), and the decoding of a unary 200 body into a `ProviderAnswer`.
 */
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import type { LLMError } from "../../domain/Errors.js"
import type { UsageCounts } from "../../domain/TokenUsage.js"
import * as Errors from "../http/Errors.js"
import * as Json from "../http/Json.js"
import type { ProviderAnswer } from "../Provider.js"
import { classifyInBand, isErrorPayload } from "./Errors.js"
import { fromAnthropic } from "./FinishReason.js"

/**
 * A content block: `text` blocks carry the answer, `thinking` blocks the reasoning; every other type
 * (`redacted_thinking`, `tool_use`, server tool results, types newer than this code) is skipped.
 */
export const ContentBlock = Schema.Struct({
  type: Json.field(Schema.String),
  text: Json.field(Schema.String),
  thinking: Json.field(Schema.String)
})
export type ContentBlock = typeof ContentBlock.Type

/**
 * Token counts. `input_tokens` excludes the cache reads and writes, which come apart; any field may be
 * absent or null (compatible servers omit the cache fields).
 */
export const Usage = Schema.Struct({
  input_tokens: Json.field(Schema.Number),
  output_tokens: Json.field(Schema.Number),
  cache_creation_input_tokens: Json.field(Schema.Number),
  cache_read_input_tokens: Json.field(Schema.Number),
  output_tokens_details: Json.field(Schema.Struct({ thinking_tokens: Json.field(Schema.Number) }))
})
export type Usage = typeof Usage.Type

/** A Message (a unary body, or `message_start.message` with empty `content` and no `stop_reason`). */
export const Message = Schema.Struct({
  id: Json.field(Schema.String),
  type: Json.field(Schema.String),
  model: Json.field(Schema.String),
  content: Json.field(Schema.Array(ContentBlock)),
  stop_reason: Json.field(Schema.String),
  usage: Json.field(Usage)
})
export type Message = typeof Message.Type

/** The `delta` of `content_block_delta` (text, thinking; signatures and tool JSON unread) or of `message_delta`. */
export const Delta = Schema.Struct({
  type: Json.field(Schema.String),
  text: Json.field(Schema.String),
  thinking: Json.field(Schema.String),
  stop_reason: Json.field(Schema.String)
})

/**
 * One stream event's data, leniently: the fields of every event type effect-llm reads, each optional
 * (`type` repeats the SSE event name). Unknown fields are ignored; a known field of the wrong type
 * fails the decode (`bad_response`).
 */
export const StreamEvent = Schema.Struct({
  type: Json.field(Schema.String),
  message: Json.field(Message),
  index: Json.field(Schema.Number),
  content_block: Json.field(ContentBlock),
  delta: Json.field(Delta),
  usage: Json.field(Usage)
})
export type StreamEvent = typeof StreamEvent.Type

const decodeMessage = Schema.decodeUnknownEither(Message)

/** True for an object recognised as a Message: `type: "message"` or a `content` array. */
export const looksLikeMessage = (json: unknown): boolean =>
  Json.isObject(json) && (json.type === "message" || Array.isArray(json.content))

/** The text of the blocks of one type: `text` (the answer) or `thinking` (the reasoning). */
export const blocksText = (content: ReadonlyArray<ContentBlock> | null | undefined, type: "text" | "thinking") => {
  if (content == null) return ""
  let out = ""
  for (const block of content) {
    if (block.type !== type) continue
    const text = type === "text" ? block.text : block.thinking
    if (text != null) out += text
  }
  return out
}

/**
 * Input = `input_tokens` + cache reads + cache writes (Anthropic counts them apart; effect-llm's
 * `inputTokens` counts every input token), reported again as `cachedInputTokens` / `cacheWriteTokens`;
 * output = `output_tokens` (thinking included).
 */
export const usageOf = (usage: Usage): UsageCounts => {
  const read = usage.cache_read_input_tokens ?? undefined
  const written = usage.cache_creation_input_tokens ?? undefined
  const inputTokens = (usage.input_tokens ?? 0) + (read ?? 0) + (written ?? 0)
  const outputTokens = usage.output_tokens ?? 0
  const counts: { -readonly [K in keyof UsageCounts]: UsageCounts[K] } = {
    inputTokens,
    outputTokens,
    totalTokens: inputTokens + outputTokens
  }
  if (read !== undefined) counts.cachedInputTokens = read
  if (written !== undefined) counts.cacheWriteTokens = written
  const thinking = usage.output_tokens_details?.thinking_tokens
  if (thinking != null) counts.reasoningTokens = thinking
  return counts
}

const nonEmpty = (text: string): string | undefined => (text.length > 0 ? text : undefined)

/** The answer a decoded Message gives; the request id is the `request-id` header, else the message id. */
export const answerOf = (
  message: Message,
  headers: Readonly<Record<string, string | undefined>>
): ProviderAnswer => ({
  content: blocksText(message.content, "text"),
  reasoning: nonEmpty(blocksText(message.content, "thinking")),
  usage: message.usage != null ? usageOf(message.usage) : undefined,
  finishReason: message.stop_reason != null ? fromAnthropic(message.stop_reason) : "other",
  requestId: headers["request-id"] ?? message.id ?? undefined,
  modelVersion: message.model ?? undefined
})

/**
 * Decodes a unary 200 body. A Message is the answer (`bad_response` if its fields have the wrong
 * types); an error body sent with 200 is classified; anything else is `bad_response`.
 */
export const decode = (
  bodyText: string,
  headers: Readonly<Record<string, string | undefined>>,
  context: Errors.ClassifyContext
): Either.Either<ProviderAnswer, LLMError> => {
  const json = Json.parse(bodyText.trim())
  const bad = (detail: string) => Either.left(Errors.badResponse(detail, { ...context, status: 200 }))
  if (json === undefined) return bad(`the body is not JSON: ${bodyText}`)
  if (isErrorPayload(json)) {
    return Either.left(classifyInBand(json, bodyText, headers, context, "answered HTTP 200 with an error body:"))
  }
  if (!looksLikeMessage(json)) return bad(`not a Message: ${bodyText}`)
  const decoded = decodeMessage(json)
  return Either.isLeft(decoded)
    ? bad(`not a Message: ${decoded.left.message}`)
    : Either.right(answerOf(decoded.right, headers))
}
