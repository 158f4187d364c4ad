/**
 * Anthropic's Message and stream events (WIRE-openai-anthropic.md §2.3–§2.5): their lenient Schemas,
 * the readers both the unary and the stream path use (text, thinking, redacted thinking and tool_use
 * blocks as parts, usage with the cache fields, stop reason), and the decoding of a unary 200 body
 * into a `ProviderAnswer`.
 */
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import type { LLMError } from "../../domain/Errors.js"
import type { FinishReason } from "../../domain/FinishReason.js"
import type { AssistantPart } from "../../domain/Prompt.js"
import type { UsageCounts } from "../../domain/TokenUsage.js"
import { jsonText } from "../../internal/JsonText.js"
import * as Errors from "../http/Errors.js"
import * as Json from "../http/Json.js"
import type { ProviderAnswer } from "../Provider.js"
import { redactedMetadata, signatureMetadata } from "./Content.js"
import { classifyInBand, isErrorPayload } from "./Errors.js"
import { fromAnthropic } from "./FinishReason.js"

/**
 * A content block: `text` blocks carry the answer, `thinking` blocks the reasoning (with the
 * `signature` to echo), `redacted_thinking` blocks encrypted reasoning (`data`, echoed too),
 * `tool_use` blocks a call (`id`, `name`, `input`: an object, `{}` at a stream's block start); every
 * other type (server tool results, types newer than this code) is skipped.
 */
export const ContentBlock = Schema.Struct({
  type: Json.field(Schema.String),
  text: Json.field(Schema.String),
  thinking: Json.field(Schema.String),
  signature: Json.field(Schema.String),
  data: Json.field(Schema.String),
  id: Json.field(Schema.String),
  name: Json.field(Schema.String),
  input: Json.field(Schema.Unknown)
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

/**
 * The `delta` of `content_block_delta` (text, thinking, a thinking block's signature, a tool call's
 * `partial_json`) or of `message_delta` (the stop reason).
 */
export const Delta = Schema.Struct({
  type: Json.field(Schema.String),
  text: Json.field(Schema.String),
  thinking: Json.field(Schema.String),
  signature: Json.field(Schema.String),
  partial_json: Json.field(Schema.String),
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

// A stream event and a unary body are checked with the guards below before `Schema.decodeUnknownEither`
// (the unary path falls back to the Schema of `Message` only for its error message), as the other
// protocols do. Measured with bench/decode.ts (10,000
// `content_block_delta` events; Node 20, 2 shared cores): ≈1.3 µs per event for the Schema decode
// against ≈0.06 µs for the guards; the whole stream decoded from bytes in 31 ms (64 KiB reads) and
// 70 ms (256-byte reads). The guards accept exactly what the Schema accepts and feed the same readers
// (below); test/providers/anthropic/Stream.test.ts checks both on every recorded event and on
// mutations of them. Keep the two in step when a field is added.

const isContentBlock = (value: unknown): boolean =>
  Json.isObject(value) && Json.isField(value.type, Json.isString) && Json.isField(value.text, Json.isString) &&
  Json.isField(value.thinking, Json.isString) && Json.isField(value.signature, Json.isString) &&
  Json.isField(value.data, Json.isString) && Json.isField(value.id, Json.isString) &&
  Json.isField(value.name, Json.isString)

const isThinkingDetails = (value: unknown): boolean =>
  Json.isObject(value) && Json.isField(value.thinking_tokens, Json.isNumber)

const isUsage = (value: unknown): boolean =>
  Json.isObject(value) &&
  Json.isField(value.input_tokens, Json.isNumber) &&
  Json.isField(value.output_tokens, Json.isNumber) &&
  Json.isField(value.cache_creation_input_tokens, Json.isNumber) &&
  Json.isField(value.cache_read_input_tokens, Json.isNumber) &&
  Json.isField(value.output_tokens_details, isThinkingDetails)

/** What `Schema.is(Message)` accepts, at guard speed (a unary body, a `message_start`'s message). */
export const isMessage = (value: unknown): value is Message =>
  Json.isObject(value) &&
  Json.isField(value.id, Json.isString) &&
  Json.isField(value.type, Json.isString) &&
  Json.isField(value.model, Json.isString) &&
  Json.isField(value.content, (content) => Json.isArrayOf(content, isContentBlock)) &&
  Json.isField(value.stop_reason, Json.isString) &&
  Json.isField(value.usage, isUsage)

const isDelta = (value: unknown): boolean =>
  Json.isObject(value) &&
  Json.isField(value.type, Json.isString) &&
  Json.isField(value.text, Json.isString) &&
  Json.isField(value.thinking, Json.isString) &&
  Json.isField(value.signature, Json.isString) &&
  Json.isField(value.partial_json, Json.isString) &&
  Json.isField(value.stop_reason, Json.isString)

/** What `Schema.is(StreamEvent)` accepts, at guard speed. */
export const isStreamEvent = (value: unknown): value is StreamEvent =>
  Json.isObject(value) &&
  Json.isField(value.type, Json.isString) &&
  Json.isField(value.message, isMessage) &&
  Json.isField(value.index, Json.isNumber) &&
  Json.isField(value.content_block, isContentBlock) &&
  Json.isField(value.delta, isDelta) &&
  Json.isField(value.usage, isUsage)

/** True for an object recognised as a Message: `type: "message"` or a `content` array. */
export const looksLikeMessage = (json: unknown): boolean =>
  Json.isObject(json) && (json.type === "message" || Array.isArray(json.content))

/** The usage of a Message whose other fields do not decode (it was billed), when that part is readable. */
export const billedOf = (json: unknown): UsageCounts | undefined => {
  const usage = Json.isObject(json) ? json.usage : undefined
  // (one without its input count is no report, as for a Message that decodes: never an input of 0)
  return usage != null && isUsage(usage) && (usage as Usage).input_tokens != null ? usageOf(usage as Usage) : undefined
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

/** A call's `input` as params: the object as it is (`{}` when absent). */
const inputOf = (input: unknown): unknown => (input === undefined || input === null ? {} : input)

/**
 * The finish of a stop reason: `tool_use` of the forced answer tool (JSON output through a forced
 * tool) is the answer's normal end, `stop`.
 */
export const finishOf = (stopReason: string, answered: boolean): FinishReason =>
  answered && stopReason === "tool_use" ? "stop" : fromAnthropic(stopReason)

/**
 * The block holding a forced-tool JSON answer: the call of `answerTool`, else — no other tool can be
 * called under the forced choice — the first call, whatever its name (a server answering with the name
 * it was recorded with, `json`); undefined when no JSON answer was asked for through a tool.
 */
const answerBlock = (
  content: ReadonlyArray<ContentBlock>,
  answerTool: string | undefined
): ContentBlock | undefined =>
  answerTool === undefined
    ? undefined
    : content.find((block) => block.type === "tool_use" && block.name === answerTool) ??
      content.find((block) => block.type === "tool_use")

/**
 * The answer's blocks as parts, in order: text, reasoning with its signature (a redacted block as
 * empty reasoning carrying its data), tool calls. A call of `answerTool` (the forced tool of JSON
 * output) is the answer itself: its `input` as JSON text, without any text block beside it (a
 * preamble would make the JSON undecodable).
 */
export const partsOf = (
  content: ReadonlyArray<ContentBlock>,
  answerTool: string | undefined
): Array<AssistantPart> => {
  const parts: Array<AssistantPart> = []
  const answer = answerBlock(content, answerTool)
  const answered = answer !== undefined
  for (const block of content) {
    switch (block.type) {
      case "text":
        if (block.text != null && !answered) parts.push({ type: "text", text: block.text })
        break
      case "thinking":
        parts.push({
          type: "reasoning",
          text: block.thinking ?? "",
          ...(block.signature != null && block.signature.length > 0
            ? { metadata: signatureMetadata(block.signature) }
            : {})
        })
        break
      case "redacted_thinking":
        if (block.data != null) parts.push({ type: "reasoning", text: "", metadata: redactedMetadata(block.data) })
        break
      case "tool_use":
        if (block === answer) {
          parts.push({ type: "text", text: jsonText(inputOf(block.input)) ?? "{}" })
        } else {
          parts.push({
            type: "tool-call",
            id: block.id ?? "",
            name: block.name ?? "",
            params: inputOf(block.input)
          })
        }
        break
    }
  }
  return parts
}

/**
 * The answer a decoded Message gives; the request id is the `request-id` header, else the message id.
 * `parts` are given when the answer holds more than text and unsigned reasoning (calls, signatures).
 */
export const answerOf = (
  message: Message,
  headers: Readonly<Record<string, string | undefined>>,
  answerTool?: string
): ProviderAnswer => {
  const parts = partsOf(message.content ?? [], answerTool)
  let content = ""
  let reasoning = ""
  for (const part of parts) {
    if (part.type === "text") content += part.text
    else if (part.type === "reasoning") reasoning += part.text
  }
  const answered = answerBlock(message.content ?? [], answerTool) !== undefined
  const rich = parts.some((part) =>
    part.type === "tool-call" || (part.type === "reasoning" && part.metadata !== undefined)
  )
  return {
    content,
    reasoning: nonEmpty(reasoning),
    ...(rich ? { parts } : {}),
    // a whole Message always reports its input: one without it is no report (settled at the bound, as on
    // the OpenAI wire), never an input of 0 (a stream's input comes apart, in `message_start`)
    usage: message.usage != null && message.usage.input_tokens != null ? usageOf(message.usage) : undefined,
    finishReason: message.stop_reason != null ? finishOf(message.stop_reason, answered) : "other",
    requestId: headers["request-id"] ?? message.id ?? undefined,
    modelVersion: message.model ?? undefined
  }
}

/**
 * Decodes a unary 200 body. A Message is the answer (`bad_response` if its fields have the wrong
 * types); an error body sent with 200 is classified; anything else is `bad_response`.
 */
export const decode = (
  bodyText: string,
  headers: Readonly<Record<string, string | undefined>>,
  /** With the answer's status (a 2xx other than 200 says so in a `bad_response`). */
  context: Errors.ClassifyContext & { readonly status?: number },
  answerTool?: string
): Either.Either<ProviderAnswer, LLMError> => {
  const json = Json.parse(bodyText.trim())
  const status = context.status ?? 200
  // (`billed`: the usage an undecodable answer still reports: its cancel is priced by it)
  const bad = (detail: string, billed?: UsageCounts) =>
    Either.left(Errors.badResponse(detail, { ...context, status }, billed))
  if (json === undefined) return bad(`the body is not JSON: ${bodyText}`)
  if (isErrorPayload(json)) {
    return Either.left(classifyInBand(json, bodyText, headers, context, `answered HTTP ${status} with an error body:`))
  }
  if (!looksLikeMessage(json)) return bad(`not a Message: ${bodyText}`)
  if (isMessage(json)) return Either.right(answerOf(json, headers, answerTool))
  const decoded = decodeMessage(json)
  return Either.isLeft(decoded)
    ? bad(`not a Message: ${Json.issueText(decoded.left)}`, billedOf(json))
    : Either.right(answerOf(decoded.right, headers, answerTool))
}
