/**
 * DashScope's generation payload (WIRE.md §2.3–§2.4, WIRE-tools-multimodal §2.3–§2.7), message or
 * text result format, from either endpoint: its lenient Schema, the readers both the unary and the
 * stream path use on the decoded value (content — a string, or `[{text}]` items on the multimodal
 * endpoint —, `reasoning_content`, tool calls, usage with its details, finish reason), and the
 * decoding of a unary 200 body.
 */
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import type { LLMError } from "../../domain/Errors.js"
import type { FinishReason } from "../../domain/FinishReason.js"
import type { AssistantPart, ToolCallPart } from "../../domain/Prompt.js"
import type { UsageCounts } from "../../domain/TokenUsage.js"
import * as Errors from "../http/Errors.js"
import * as Json from "../http/Json.js"
import * as Tools from "../http/Tools.js"
import type { ProviderAnswer } from "../Provider.js"
import { classify } from "./Errors.js"
import { fromDashScope } from "./FinishReason.js"
import { metadataKey } from "./Request.js"

/** A content item of the multimodal endpoint; only `text` is read (image-generation items are ignored). */
export const ContentItem = Schema.Struct({ text: Json.field(Schema.String) })

/**
 * A tool call, whole (unary) or a fragment (stream): `index` keys the fragments, the first carries
 * `id` and `name`, the others `"id": ""` and more `arguments` (a JSON text, in pieces).
 */
export const ToolCall = Schema.Struct({
  index: Json.field(Schema.Number),
  id: Json.field(Schema.String),
  type: Json.field(Schema.String),
  function: Json.field(Schema.Struct({ name: Json.field(Schema.String), arguments: Json.field(Schema.String) }))
})
export type ToolCall = typeof ToolCall.Type

/** An assistant message; thinking models add `reasoning_content`, function calling `tool_calls`. */
export const Message = Schema.Struct({
  content: Json.field(Schema.Union(Schema.String, Schema.Array(ContentItem))),
  reasoning_content: Json.field(Schema.String),
  tool_calls: Json.field(Schema.Array(ToolCall))
})

/** A choice (message format). `finish_reason` is the string `"null"` until the last event. */
export const Choice = Schema.Struct({ message: Json.field(Message), finish_reason: Json.field(Schema.String) })

/** `output`: `choices` (message format) or `text` and `finish_reason` (text format). */
export const Output = Schema.Struct({
  choices: Json.field(Schema.Array(Choice)),
  text: Json.field(Schema.String),
  finish_reason: Json.field(Schema.String)
})

/** Token counts (cumulative on a stream), with the reasoning and cache details where the model reports them. */
export const Usage = Schema.Struct({
  input_tokens: Json.field(Schema.Number),
  output_tokens: Json.field(Schema.Number),
  total_tokens: Json.field(Schema.Number),
  output_tokens_details: Json.field(Schema.Struct({ reasoning_tokens: Json.field(Schema.Number) })),
  prompt_tokens_details: Json.field(Schema.Struct({
    cached_tokens: Json.field(Schema.Number),
    /** Explicit-cache writes (billed at 125% of the input price). */
    cache_creation_input_tokens: Json.field(Schema.Number)
  }))
})
export type Usage = typeof Usage.Type

/**
 * A generation payload (a unary body or a stream event), leniently: every field optional or null,
 * unknown fields ignored, finish reasons kept as strings. Only the fields effect-llm reads are declared.
 */
export const Generation = Schema.Struct({
  output: Json.field(Output),
  usage: Json.field(Usage),
  request_id: Json.field(Schema.String)
})
export type Generation = typeof Generation.Type

const decodeGeneration = Schema.decodeUnknownEither(Generation)

// Both paths check a payload with the guards below before `Schema.decodeUnknownEither(
// Generation)` (the unary path falls back to the Schema only for its error message). Measured with bench/decode.ts (a W3-sized stream: 10,000 events
// decoded from bytes, 64 KiB reads; Node 20, 2 shared cores): 27 ms with the guards, 60 ms with the
// Schema — ≈2.2 µs per event for the Schema decode against ≈0.06 µs for the guards. The guards accept
// exactly what the Schema accepts and feed the same readers (below);
// test/providers/dashscope/Stream.test.ts checks both on every recorded event and on mutations of
// them. Keep the two in step when a field is added.

const isContentItem = (value: unknown): boolean => Json.isObject(value) && Json.isField(value.text, Json.isString)

const isContent = (value: unknown): boolean => Json.isString(value) || Json.isArrayOf(value, isContentItem)

const isFunction = (value: unknown): boolean =>
  Json.isObject(value) && Json.isField(value.name, Json.isString) && Json.isField(value.arguments, Json.isString)

const isToolCall = (value: unknown): boolean =>
  Json.isObject(value) && Json.isField(value.index, Json.isNumber) && Json.isField(value.id, Json.isString) &&
  Json.isField(value.type, Json.isString) && Json.isField(value.function, isFunction)

const isMessage = (value: unknown): boolean =>
  Json.isObject(value) && Json.isField(value.content, isContent) &&
  Json.isField(value.reasoning_content, Json.isString) &&
  Json.isField(value.tool_calls, (calls) => Json.isArrayOf(calls, isToolCall))

const isChoice = (value: unknown): boolean =>
  Json.isObject(value) && Json.isField(value.message, isMessage) && Json.isField(value.finish_reason, Json.isString)

const isChoices = (value: unknown): boolean => Json.isArrayOf(value, isChoice)

const isOutput = (value: unknown): boolean =>
  Json.isObject(value) && Json.isField(value.choices, isChoices) && Json.isField(value.text, Json.isString) &&
  Json.isField(value.finish_reason, Json.isString)

const isReasoningDetails = (value: unknown): boolean =>
  Json.isObject(value) && Json.isField(value.reasoning_tokens, Json.isNumber)

const isPromptDetails = (value: unknown): boolean =>
  Json.isObject(value) && Json.isField(value.cached_tokens, Json.isNumber) &&
  Json.isField(value.cache_creation_input_tokens, Json.isNumber)

const isUsage = (value: unknown): boolean =>
  Json.isObject(value) &&
  Json.isField(value.input_tokens, Json.isNumber) &&
  Json.isField(value.output_tokens, Json.isNumber) &&
  Json.isField(value.total_tokens, Json.isNumber) &&
  Json.isField(value.output_tokens_details, isReasoningDetails) &&
  Json.isField(value.prompt_tokens_details, isPromptDetails)

/** What a stream event or a unary body is read as: what `Schema.is(Generation)` accepts, at guard speed. */
export const isGeneration = (value: unknown): value is Generation =>
  Json.isObject(value) &&
  Json.isField(value.output, isOutput) &&
  Json.isField(value.usage, isUsage) &&
  Json.isField(value.request_id, Json.isString)

/** True for a payload with an `output` object, the field a generation is recognised by. */
export const looksLikeGeneration = (json: unknown): boolean => Json.isObject(json) && Json.isObject(json.output)

const choiceOf = (generation: Generation) => generation.output?.choices?.[0] ?? undefined

/**
 * The answer text of a payload: the first choice's message (its `text` items joined on the
 * multimodal endpoint), else the text format's `output.text`.
 */
export const contentOf = (generation: Generation): string => {
  const choice = choiceOf(generation)
  if (choice === undefined) return generation.output?.text ?? ""
  const content = choice.message?.content
  if (content == null) return ""
  if (typeof content === "string") return content
  let text = ""
  for (const item of content) if (item.text != null) text += item.text
  return text
}

/** Shared by every event without tool calls (most of a stream's): no array per event. */
const noToolCalls: ReadonlyArray<ToolCall> = Object.freeze([])

/** The first choice's tool calls (whole in a unary payload, fragments in a stream event). */
export const toolCallsOf = (generation: Generation): ReadonlyArray<ToolCall> =>
  choiceOf(generation)?.message?.tool_calls ?? noToolCalls

/** An assembled call as a tool-call part, its original `arguments` text kept in metadata. */
export const toolCallPart = (id: string, name: string, text: string, newId?: () => string): ToolCallPart =>
  Tools.toolCallPart(metadataKey, id, name, text, newId)

/** The first choice's `reasoning_content` (never part of the content). */
export const reasoningOf = (generation: Generation): string => choiceOf(generation)?.message?.reasoning_content ?? ""

/** The finish reason, once the payload says the generation ended (not the string `"null"`, JSON null or absent). */
export const finishOf = (generation: Generation): FinishReason | undefined => {
  const choice = choiceOf(generation)
  const finish = choice !== undefined && choice.finish_reason !== undefined
    ? choice.finish_reason
    : generation.output?.finish_reason
  return typeof finish === "string" && finish !== "null" && finish !== "" ? fromDashScope(finish) : undefined
}

/**
 * Whether a usage block is a report: it says the input, and the output or the total. `{}`, every count
 * `null`, or no input count is none (settled at the bound, as on the other protocols: never an input of 0).
 */
export const isReport = (usage: Usage): boolean =>
  usage.input_tokens != null && (usage.output_tokens != null || usage.total_tokens != null)

/** The usage of a generation whose other fields do not decode (it was billed), when that part is readable. */
const billedOf = (json: unknown): UsageCounts | undefined => {
  const usage = Json.isObject(json) ? json.usage : undefined
  return usage != null && isUsage(usage) && isReport(usage as Usage) ? usageOf(usage as Usage) : undefined
}

/** Input and output as reported (output includes reasoning; else what the total leaves); total as reported, else the sum. */
export const usageOf = (usage: Usage): UsageCounts => {
  const inputTokens = usage.input_tokens ?? 0
  // a total without its output count still says what the output was
  const outputTokens = usage.output_tokens ??
    (usage.total_tokens != null ? Math.max(0, usage.total_tokens - inputTokens) : 0)
  const counts: { -readonly [K in keyof UsageCounts]: UsageCounts[K] } = {
    inputTokens,
    outputTokens,
    totalTokens: usage.total_tokens ?? inputTokens + outputTokens
  }
  const cached = usage.prompt_tokens_details?.cached_tokens
  if (cached != null) counts.cachedInputTokens = cached
  const written = usage.prompt_tokens_details?.cache_creation_input_tokens
  if (written != null) counts.cacheWriteTokens = written
  const reasoning = usage.output_tokens_details?.reasoning_tokens
  if (reasoning != null) counts.reasoningTokens = reasoning
  return counts
}

/** The answer a decoded unary payload gives; the request id falls back to the `x-request-id` header. */
export const answerOf = (
  generation: Generation,
  headers: Readonly<Record<string, string | undefined>>,
  newId: () => string = Tools.newCallId
): ProviderAnswer => {
  const reasoning = reasoningOf(generation)
  const content = contentOf(generation)
  // a call whose arguments a `length` finish cut is no call (Tools.cutByLength)
  const finishedByLength = finishOf(generation) === "length"
  const calls = toolCallsOf(generation)
    .filter((call) => !Tools.cutByLength(call.function?.arguments ?? "", finishedByLength))
    .map((call) => toolCallPart(call.id ?? "", call.function?.name ?? "", call.function?.arguments ?? "", newId))
  // Parts only when there are calls: a tool turn is told by its calls, whatever finish_reason says.
  const parts: Array<AssistantPart> = []
  if (calls.length > 0) {
    if (reasoning.length > 0) parts.push({ type: "reasoning", text: reasoning })
    if (content.length > 0) parts.push({ type: "text", text: content })
    parts.push(...calls)
  }
  return {
    content,
    reasoning: reasoning.length > 0 ? reasoning : undefined,
    ...(parts.length > 0 ? { parts } : {}),
    usage: generation.usage != null && isReport(generation.usage) ? usageOf(generation.usage) : undefined,
    finishReason: finishOf(generation) ?? "other",
    requestId: generation.request_id ?? headers["x-request-id"],
    modelVersion: undefined
  }
}

/** True for a payload that carries an error: a `code`, an `error` object, or an `event:error` frame. */
const carriesError = (json: unknown, bodyText: string): boolean =>
  (Json.isObject(json) && (json.code !== undefined || Json.isObject(json.error))) ||
  /^\s*event:\s*error/m.test(bodyText)

/**
 * Decodes a unary 2xx body. A body with `output` is the answer (`bad_response` if its fields have
 * the wrong types); one carrying an error is classified; anything else is `bad_response`.
 */
export const decode = (
  bodyText: string,
  status: number,
  headers: Readonly<Record<string, string | undefined>>,
  context: Errors.ClassifyContext,
  newId: () => string = Tools.newCallId
): Either.Either<ProviderAnswer, LLMError> => {
  const json = Json.parse(bodyText.trim())
  // (`billed`: the usage an undecodable answer still reports: its cancel is priced by it)
  const bad = (detail: string, billed?: UsageCounts) =>
    Either.left(Errors.badResponse(detail, { ...context, status }, billed))
  if (looksLikeGeneration(json)) {
    if (isGeneration(json)) return Either.right(answerOf(json, headers, newId))
    const decoded = decodeGeneration(json)
    return Either.isLeft(decoded)
      ? bad(`not a generation: ${Json.issueText(decoded.left)}`, billedOf(json))
      : Either.right(answerOf(decoded.right, headers, newId))
  }
  if (carriesError(json, bodyText)) return Either.left(classify(status, bodyText, headers, context))
  // (an `output` of another type beside a usage that reads was billed)
  return json === undefined
    ? bad(`the body is not JSON: ${bodyText}`)
    : bad(`no \`output\` in the body: ${bodyText}`, billedOf(json))
}
