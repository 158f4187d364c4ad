/**
 * Gemini's `GenerateContentResponse` (WIRE.md §1.3, §1.5, WIRE-tools-multimodal §1.3, §1.6): its
 * lenient Schema, the readers both the unary and the stream path use on the decoded value (text and
 * thoughts of the first candidate, its parts with their signatures and function calls, usage, finish
 * reason), and the decoding of a unary 200 body into a `ProviderAnswer`.
 */
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import type { LLMError } from "../../domain/Errors.js"
import type { FinishReason } from "../../domain/FinishReason.js"
import type { AssistantPart, ToolCallPart } from "../../domain/Prompt.js"
import type { UsageCounts } from "../../domain/TokenUsage.js"
import * as Errors from "../http/Errors.js"
import * as Json from "../http/Json.js"
import type { ProviderAnswer } from "../Provider.js"
import { newCallId, signatureMetadata } from "./Content.js"
import { classifyInBand, isErrorPayload } from "./Errors.js"
import { fromGemini } from "./FinishReason.js"

/**
 * A `functionCall`: always whole on the Gemini API (Vertex's streamed `partialArgs` and `willContinue`
 * are ignored, as is a call without a name). `args` is the arguments object; `id` only on Gemini 3.
 */
export const FunctionCall = Schema.Struct({
  name: Json.field(Schema.String),
  args: Json.field(Schema.Unknown),
  id: Json.field(Schema.String)
})

/** `inlineData`: bytes in base64 (an image a model generated). */
export const Blob = Schema.Struct({ mimeType: Json.field(Schema.String), data: Json.field(Schema.String) })

/**
 * A part: text (a thought summary when `thought` is true), a function call or inline data, with the
 * `thoughtSignature` a thinking model attaches to it. Other kinds (code execution, …) are ignored.
 */
export const Part = Schema.Struct({
  text: Json.field(Schema.String),
  thought: Json.field(Schema.Boolean),
  thoughtSignature: Json.field(Schema.String),
  functionCall: Json.field(FunctionCall),
  inlineData: Json.field(Blob)
})
export type Part = typeof Part.Type

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

// Both paths check a response with the guards below before `Schema.decodeUnknownEither(
// GenerateContentResponse)` (the unary path falls back to the Schema only for its error message). Measured with bench/decode.ts (a W3-sized stream:
// 10,000 events decoded from bytes, 64 KiB reads; Node 20, 2 shared cores): 24 ms with the guards, 61 ms
// with the Schema — ≈2.6 µs per event for the Schema decode against ≈0.07 µs for the guards. The
// guards accept exactly what the Schema accepts and feed the same readers (below);
// test/providers/gemini/Stream.test.ts checks both on every recorded event and on mutations of
// them. Keep the two in step when a field is added.

const isFunctionCall = (value: unknown): boolean =>
  Json.isObject(value) && Json.isField(value.name, Json.isString) && Json.isField(value.id, Json.isString)

const isBlob = (value: unknown): boolean =>
  Json.isObject(value) && Json.isField(value.mimeType, Json.isString) && Json.isField(value.data, Json.isString)

const isPart = (value: unknown): boolean =>
  Json.isObject(value) && Json.isField(value.text, Json.isString) && Json.isField(value.thought, Json.isBoolean) &&
  Json.isField(value.thoughtSignature, Json.isString) && Json.isField(value.functionCall, isFunctionCall) &&
  Json.isField(value.inlineData, isBlob)

const isParts = (value: unknown): boolean => Json.isArrayOf(value, isPart)

const isContent = (value: unknown): boolean =>
  Json.isObject(value) && Json.isField(value.parts, isParts) && Json.isField(value.role, Json.isString)

const isCandidate = (value: unknown): boolean =>
  Json.isObject(value) && Json.isField(value.content, isContent) && Json.isField(value.finishReason, Json.isString)

const isCandidates = (value: unknown): boolean => Json.isArrayOf(value, isCandidate)

const isPromptFeedback = (value: unknown): boolean =>
  Json.isObject(value) && Json.isField(value.blockReason, Json.isString) &&
  Json.isField(value.blockReasonMessage, Json.isString)

const isUsageMetadata = (value: unknown): boolean =>
  Json.isObject(value) &&
  Json.isField(value.promptTokenCount, Json.isNumber) &&
  Json.isField(value.candidatesTokenCount, Json.isNumber) &&
  Json.isField(value.thoughtsTokenCount, Json.isNumber) &&
  Json.isField(value.toolUsePromptTokenCount, Json.isNumber) &&
  Json.isField(value.cachedContentTokenCount, Json.isNumber) &&
  Json.isField(value.totalTokenCount, Json.isNumber)

/** What `Schema.is(GenerateContentResponse)` accepts, at guard speed (a stream event, a unary body). */
export const isResponse = (value: unknown): value is GenerateContentResponse =>
  Json.isObject(value) &&
  Json.isField(value.candidates, isCandidates) &&
  Json.isField(value.promptFeedback, isPromptFeedback) &&
  Json.isField(value.usageMetadata, isUsageMetadata) &&
  Json.isField(value.modelVersion, Json.isString) &&
  Json.isField(value.responseId, Json.isString)

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
 * Whether a usage block is a report: it counts something. `{}` or every count `null` is none (the call
 * is then settled at its bound); otherwise a count it leaves out is 0 (WIRE.md §1.5: "All optional —
 * missing = 0"; a stream keeps an earlier prompt count, `Stream.ts`).
 */
export const isReport = (metadata: UsageMetadata): boolean =>
  metadata.promptTokenCount != null || metadata.candidatesTokenCount != null ||
  metadata.totalTokenCount != null || metadata.thoughtsTokenCount != null

/**
 * The prompt's count: as reported, else what a total beside the output counts leaves (total = prompt +
 * tool-use prompt + candidates + thoughts); `undefined` when neither says it.
 */
export const promptOf = (metadata: UsageMetadata): number | undefined =>
  metadata.promptTokenCount ??
    (metadata.totalTokenCount != null && metadata.candidatesTokenCount != null
      ? Math.max(
        0,
        metadata.totalTokenCount - metadata.candidatesTokenCount - (metadata.thoughtsTokenCount ?? 0) -
          (metadata.toolUsePromptTokenCount ?? 0)
      )
      : undefined)

/**
 * Input = prompt (`promptOf`) + tool-use prompt (cached tokens are part of the prompt); output =
 * candidates + thoughts (thinking is billed as output; `candidatesTokenCount` excludes it), or what the
 * total leaves when candidates are not counted (a blocked prompt: none); total as reported, else the sum
 * (WIRE.md §1.5).
 */
export const usageOf = (metadata: UsageMetadata): UsageCounts => {
  const output = (metadata.candidatesTokenCount ?? 0) + (metadata.thoughtsTokenCount ?? 0)
  const inputTokens = (promptOf(metadata) ?? 0) + (metadata.toolUsePromptTokenCount ?? 0)
  // a total without its candidates count still says what they were
  const outputTokens = metadata.candidatesTokenCount == null && metadata.totalTokenCount != null
    ? Math.max(metadata.thoughtsTokenCount ?? 0, metadata.totalTokenCount - inputTokens)
    : output
  const usage: { -readonly [K in keyof UsageCounts]: UsageCounts[K] } = {
    inputTokens,
    outputTokens,
    totalTokens: metadata.totalTokenCount ?? inputTokens + outputTokens
  }
  if (metadata.cachedContentTokenCount != null) usage.cachedInputTokens = metadata.cachedContentTokenCount
  if (metadata.thoughtsTokenCount != null) usage.reasoningTokens = metadata.thoughtsTokenCount
  return usage
}

/**
 * The finish reason, when this response carries one. A prompt blocked by `promptFeedback.blockReason`
 * (no candidate) is `filter` (API.md §2); prompt feedback with only a `blockReasonMessage` (and
 * `candidates: []`) ends the answer too, as `other`. Feedback with neither (its safety ratings alone)
 * ends nothing.
 */
export const finishOf = (response: GenerateContentResponse): FinishReason | undefined => {
  const candidate = response.candidates?.[0]
  if (candidate != null) return candidate.finishReason != null ? fromGemini(candidate.finishReason) : undefined
  const feedback = response.promptFeedback
  if (feedback == null) return undefined
  return feedback.blockReason != null ? "filter" : feedback.blockReasonMessage != null ? "other" : undefined
}

const nonEmpty = (text: string): string | undefined => (text.length > 0 ? text : undefined)

/**
 * A `functionCall` part as a tool call: the server's id (Gemini 3) or a new `call_…` one, the
 * arguments object (`{}` when absent), the part's signature in metadata. `undefined` without a name.
 */
export const toolCallOf = (part: Part, newId: () => string): ToolCallPart | undefined => {
  const call = part.functionCall
  if (call == null || call.name == null || call.name.length === 0) return undefined
  return {
    type: "tool-call",
    id: call.id != null && call.id.length > 0 ? call.id : newId(),
    name: call.name,
    params: call.args ?? {},
    ...(part.thoughtSignature != null ? { metadata: signatureMetadata(part.thoughtSignature) } : {})
  }
}

/**
 * The first candidate's parts in order, one `AssistantPart` each: text and thoughts (reasoning) with
 * their signatures, function calls, inline data as files. An empty unsigned text part carries nothing
 * and is left out; an empty signed one is kept (its signature is echoed back).
 */
export const partsOf = (response: GenerateContentResponse, newId: () => string): Array<AssistantPart> => {
  const out: Array<AssistantPart> = []
  for (const part of response.candidates?.[0]?.content?.parts ?? []) {
    const call = toolCallOf(part, newId)
    if (call !== undefined) out.push(call)
    else if (part.text != null && (part.text.length > 0 || part.thoughtSignature != null)) {
      const type = part.thought === true ? "reasoning" : "text"
      out.push(
        part.thoughtSignature != null
          ? { type, text: part.text, metadata: signatureMetadata(part.thoughtSignature) }
          : { type, text: part.text }
      )
    } else if (part.inlineData?.data != null && part.inlineData.mimeType != null) {
      out.push({
        type: "file",
        mediaType: part.inlineData.mimeType,
        data: { _tag: "base64", base64: part.inlineData.data }
      })
    }
  }
  return out
}

/** Whether parts say more than `content` and `reasoning` do (a call, a file, a signature). */
const needsParts = (parts: ReadonlyArray<AssistantPart>): boolean =>
  parts.some((part) => part.type === "tool-call" || part.type === "file" || "metadata" in part)

/**
 * The answer a decoded unary response gives; `parts` when it holds calls, files or signatures
 * (`newId` names calls that came without an id: Gemini 2.x).
 */
export const answerOf = (response: GenerateContentResponse, newId: () => string = newCallId): ProviderAnswer => {
  const parts = partsOf(response, newId)
  return {
    content: textOf(response, false),
    reasoning: nonEmpty(textOf(response, true)),
    ...(needsParts(parts) ? { parts } : {}),
    usage: response.usageMetadata != null && isReport(response.usageMetadata) ?
      usageOf(response.usageMetadata) :
      undefined,
    finishReason: finishOf(response) ?? "other",
    requestId: response.responseId ?? undefined,
    modelVersion: response.modelVersion ?? undefined
  }
}

/** The usage of an answer whose other fields do not decode (it was billed), when that part is readable. */
const billedOf = (json: unknown): UsageCounts | undefined => {
  const metadata = Json.isObject(json) ? json.usageMetadata : undefined
  return metadata != null && isUsageMetadata(metadata) && isReport(metadata as UsageMetadata)
    ? usageOf(metadata as UsageMetadata)
    : undefined
}

/**
 * Decodes a unary 200 body. Not JSON, or JSON that is not a response → `FatalError` `bad_response`;
 * a `{"error":…}` body (an error sent with 200) → the classified error.
 */
export const decode = (
  bodyText: string,
  headers: Readonly<Record<string, string | undefined>>,
  /** With the answer's status (a 2xx other than 200 says so in a `bad_response`). */
  context: Errors.ClassifyContext & { readonly status?: number },
  newId: () => string = newCallId
): Either.Either<ProviderAnswer, LLMError> => {
  const json = Json.parse(bodyText)
  const status = context.status ?? 200
  // (`billed`: the usage an undecodable answer still reports: its cancel is priced by it)
  const bad = (detail: string, billed?: UsageCounts) =>
    Either.left(Errors.badResponse(detail, { ...context, status }, billed))
  if (json === undefined) return bad(`the body is not JSON: ${bodyText}`)
  if (isErrorPayload(json)) return Either.left(classifyInBand(json, bodyText, headers, context))
  if (!looksLikeResponse(json)) return bad(`not a GenerateContentResponse: ${bodyText}`)
  if (isResponse(json)) return Either.right(answerOf(json, newId))
  const decoded = decodeResponse(json)
  return Either.isLeft(decoded)
    ? bad(`not a GenerateContentResponse: ${Json.issueText(decoded.left)}`, billedOf(json))
    : Either.right(answerOf(decoded.right, newId))
}
