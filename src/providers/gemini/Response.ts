/**
 * Gemini's `GenerateContentResponse` (WIRE.md §1.3, §1.5): its lenient Schema, the readers both the
 * unary and the stream path use on the decoded value (text and thoughts of the first candidate,
 * usage, finish reason), and the decoding of a unary 200 body into a `ProviderAnswer`.
 */
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import type { LLMError } from "../../domain/Errors.js"
import type { FinishReason } from "../../domain/FinishReason.js"
import type { UsageCounts } from "../../domain/TokenUsage.js"
import * as Errors from "../http/Errors.js"
import * as Json from "../http/Json.js"
import type { ProviderAnswer } from "../Provider.js"
import { classifyInBand, isErrorPayload } from "./Errors.js"
import { fromGemini } from "./FinishReason.js"

/** A part: text, a thought summary when `thought` is true; other kinds (inline data, calls) are ignored. */
export const Part = Schema.Struct({ text: Json.field(Schema.String), thought: Json.field(Schema.Boolean) })

/** A `Content`: `parts` may be missing (`{"role":"model"}`). */
export const Content = Schema.Struct({ parts: Json.field(Schema.Array(Part)), role: Json.field(Schema.String) })

/** A candidate; `content` may be missing; `finishReason` is kept as a string (unknown values → other). */
export const Candidate = Schema.Struct({ content: Json.field(Content), finishReason: Json.field(Schema.String) })

/** Why a prompt was blocked (no candidates then). */
export const PromptFeedback = Schema.Struct({
  blockReason: Json.field(Schema.String),
  blockReasonMessage: Json.field(Schema.String)
})

/** Token counts; cumulative snapshots on a stream. */
export const UsageMetadata = Schema.Struct({
  promptTokenCount: Json.field(Schema.Number),
  candidatesTokenCount: Json.field(Schema.Number),
  thoughtsTokenCount: Json.field(Schema.Number),
  toolUsePromptTokenCount: Json.field(Schema.Number),
  cachedContentTokenCount: Json.field(Schema.Number),
  totalTokenCount: Json.field(Schema.Number)
})
export type UsageMetadata = typeof UsageMetadata.Type

/**
 * A `GenerateContentResponse`, leniently: every field optional or null, unknown fields ignored,
 * enums kept as strings. Only the fields effect-llm reads are declared (a field of the wrong type
 * among them fails the decode: `bad_response`).
 */
export const GenerateContentResponse = Schema.Struct({
  candidates: Json.field(Schema.Array(Candidate)),
  promptFeedback: Json.field(PromptFeedback),
  usageMetadata: Json.field(UsageMetadata),
  modelVersion: Json.field(Schema.String),
  responseId: Json.field(Schema.String)
})
export type GenerateContentResponse = typeof GenerateContentResponse.Type

const decodeResponse = Schema.decodeUnknownEither(GenerateContentResponse)

/** True for an object with one of the fields a response is recognised by (`{"this": …}` is not one). */
export const looksLikeResponse = (json: unknown): boolean =>
  Json.isObject(json) &&
  (json.candidates !== undefined || json.promptFeedback !== undefined || json.usageMetadata !== undefined)

/** The text of the first candidate's parts: the answer (`thought` false) or the thought summaries (true). */
export const textOf = (response: GenerateContentResponse, thought: boolean): string => {
  const parts = response.candidates?.[0]?.content?.parts
  if (parts == null) return ""
  let text = ""
  for (const part of parts) {
    if ((part.thought === true) === thought && part.text != null) text += part.text
  }
  return text
}

/**
 * Input = prompt + tool-use prompt (cached tokens are part of the prompt); output = candidates +
 * thoughts (thinking is billed as output; `candidatesTokenCount` excludes it); total as reported,
 * else the sum (WIRE.md §1.5).
 */
export const usageOf = (metadata: UsageMetadata): UsageCounts => {
  const inputTokens = (metadata.promptTokenCount ?? 0) + (metadata.toolUsePromptTokenCount ?? 0)
  const outputTokens = (metadata.candidatesTokenCount ?? 0) + (metadata.thoughtsTokenCount ?? 0)
  const usage: { -readonly [K in keyof UsageCounts]: UsageCounts[K] } = {
    inputTokens,
    outputTokens,
    totalTokens: metadata.totalTokenCount ?? inputTokens + outputTokens
  }
  if (metadata.cachedContentTokenCount != null) usage.cachedInputTokens = metadata.cachedContentTokenCount
  if (metadata.thoughtsTokenCount != null) usage.reasoningTokens = metadata.thoughtsTokenCount
  return usage
}

/** The finish reason, when this response carries one; a blocked prompt (feedback, no candidate) is `filter`. */
export const finishOf = (response: GenerateContentResponse): FinishReason | undefined => {
  const candidate = response.candidates?.[0]
  if (candidate != null) return candidate.finishReason != null ? fromGemini(candidate.finishReason) : undefined
  const feedback = response.promptFeedback
  return feedback != null && (feedback.blockReason != null || feedback.blockReasonMessage != null)
    ? "filter"
    : undefined
}

const nonEmpty = (text: string): string | undefined => (text.length > 0 ? text : undefined)

/** The answer a decoded unary response gives. */
export const answerOf = (response: GenerateContentResponse): ProviderAnswer => ({
  content: textOf(response, false),
  reasoning: nonEmpty(textOf(response, true)),
  usage: response.usageMetadata != null ? usageOf(response.usageMetadata) : undefined,
  finishReason: finishOf(response) ?? "other",
  requestId: response.responseId ?? undefined,
  modelVersion: response.modelVersion ?? undefined
})

/**
 * Decodes a unary 200 body. Not JSON, or JSON that is not a response → `FatalError` `bad_response`;
 * a `{"error":…}` body (an error sent with 200) → the classified error.
 */
export const decode = (
  bodyText: string,
  headers: Readonly<Record<string, string | undefined>>,
  context: Errors.ClassifyContext
): Either.Either<ProviderAnswer, LLMError> => {
  const json = Json.parse(bodyText)
  const bad = (detail: string) => Either.left(Errors.badResponse(detail, { ...context, status: 200 }))
  if (json === undefined) return bad(`the body is not JSON: ${bodyText}`)
  if (isErrorPayload(json)) return Either.left(classifyInBand(json, bodyText, headers, context))
  if (!looksLikeResponse(json)) return bad(`not a GenerateContentResponse: ${bodyText}`)
  const decoded = decodeResponse(json)
  return Either.isLeft(decoded)
    ? bad(`not a GenerateContentResponse: ${decoded.left.message}`)
    : Either.right(answerOf(decoded.right))
}
