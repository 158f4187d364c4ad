/**
 * Chat Completions payloads (WIRE-openai-anthropic §1.3–§1.5), a unary `chat.completion` body or a
 * `chat.completion.chunk` event: their lenient Schema, the readers both paths use on the decoded
 * value (content, reasoning apart from it, tool calls, refusals, usage with its cache and reasoning
 * details, finish reason, ids), and the decoding of a unary 200 body into a `ProviderAnswer`.
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
import { metadataKey } from "./Content.js"
import { classifyInBand, isErrorPayload } from "./Errors.js"
import { fromOpenAI } from "./FinishReason.js"
import { isCompletion, isUsage } from "./Guards.js"

export { isCompletion }

/**
 * A tool call, whole (unary) or a fragment (stream, WIRE-tools-multimodal §3.3): `index` keys the
 * fragments, the first carries `id` and `function.name`, the others more `arguments` (a JSON text, in
 * pieces; DashScope's compatible mode repeats `"id": ""` on them).
 */
export const ToolCall = Schema.Struct({
  index: Json.field(Schema.Number),
  id: Json.field(Schema.String),
  type: Json.field(Schema.String),
  function: Json.field(Schema.Struct({ name: Json.field(Schema.String), arguments: Json.field(Schema.String) }))
})
export type ToolCall = typeof ToolCall.Type

/**
 * A `message` (unary) or `delta` (stream): the answer text, the reasoning text the service reports
 * beside it — `reasoning_content` (DeepSeek, DashScope, Ark, vLLM) or `reasoning` (Groq, Ollama,
 * OpenRouter) —, tool calls, and a refusal (structured output's "I can't help with that", which ends
 * the answer as `filter`). Annotations and audio are not read.
 */
export const Message = Schema.Struct({
  // a string, or (Mistral's Magistral) chunks: `{type:"text",text}` and `{type:"thinking",thinking:[…]}`
  content: Json.field(Schema.Union(Schema.String, Schema.Array(Schema.Unknown))),
  reasoning_content: Json.field(Schema.String),
  reasoning: Json.field(Schema.String),
  refusal: Json.field(Schema.String),
  tool_calls: Json.field(Schema.Array(ToolCall))
})

/**
 * Token counts: `cached_tokens` ⊂ `prompt_tokens`, `reasoning_tokens` ⊂ `completion_tokens`
 * (WIRE-openai-anthropic §1.4); DeepSeek's `prompt_cache_hit_tokens`, or Moonshot's top-level
 * `cached_tokens`, stands in for `cached_tokens`. Service extras (Groq timings, OpenRouter `cost`) are not read.
 */
export const Usage = Schema.Struct({
  prompt_tokens: Json.field(Schema.Number),
  completion_tokens: Json.field(Schema.Number),
  total_tokens: Json.field(Schema.Number),
  prompt_tokens_details: Json.field(Schema.Struct({
    cached_tokens: Json.field(Schema.Number),
    cache_write_tokens: Json.field(Schema.Number),
    /** Alibaba Model Studio's explicit-cache writes (billed at 125% of the input price). */
    cache_creation_input_tokens: Json.field(Schema.Number)
  })),
  completion_tokens_details: Json.field(Schema.Struct({ reasoning_tokens: Json.field(Schema.Number) })),
  prompt_cache_hit_tokens: Json.field(Schema.Number),
  cached_tokens: Json.field(Schema.Number),
  // Perplexity's, beside the counts and left out of them and of the total: the sources read (billed as
  // input on deep research only, the one model that reports `reasoning_tokens` too) and the reasoning
  citation_tokens: Json.field(Schema.Number),
  reasoning_tokens: Json.field(Schema.Number)
})
export type Usage = typeof Usage.Type

/**
 * A choice; `finish_reason` is null until the choice ends (kept as a string: unknown values → other).
 * Moonshot streams its usage inside the finishing choice.
 */
export const Choice = Schema.Struct({
  index: Json.field(Schema.Union(Schema.Number, Schema.String)),
  message: Json.field(Message),
  delta: Json.field(Message),
  finish_reason: Json.field(Schema.String),
  usage: Json.field(Usage)
})

/**
 * A completion or a chunk, leniently: every field optional or null, unknown fields (`obfuscation`,
 * `service_tier`, `provider`, `content_filter_results`, …) ignored. Groq without `stream_options` puts
 * usage in `x_groq.usage`. Only the fields effect-llm reads are declared (a field of the wrong type
 * among them fails the decode: `bad_response`).
 */
export const Completion = Schema.Struct({
  id: Json.field(Schema.String),
  model: Json.field(Schema.String),
  choices: Json.field(Schema.Array(Choice)),
  usage: Json.field(Usage),
  x_groq: Json.field(Schema.Struct({ usage: Json.field(Usage) }))
})
export type Completion = typeof Completion.Type

const decodeCompletion = Schema.decodeUnknownEither(Completion)

// Both paths check a payload with `Guards.isCompletion` before `Schema.decodeUnknownEither(Completion)`
// (the unary path falls back to the Schema only for its error message).

/** True for an object with one of the fields a completion or chunk is recognised by (`{"status":"ok"}` is not one). */
export const looksLikeCompletion = (json: unknown): boolean =>
  Json.isObject(json) && (json.choices !== undefined || json.usage !== undefined)

type Choice = typeof Choice.Type

/**
 * The choice with `index` 0 (or none given): a server that sends more choices than asked for
 * (`n` is never sent) streams each in chunks of its own, which must not be mixed into the answer.
 */
const firstChoice = (completion: Completion): Choice | undefined => {
  const choices = completion.choices
  if (choices == null) return undefined
  const head = choices[0]
  if (head == null || isFirst(head)) return head ?? undefined
  // a whole completion (`message`) numbered otherwise is still the answer; a chunk (`delta`) of
  // another choice is not
  return choices.find(isFirst) ?? (head.message != null ? head : undefined)
}

const isFirst = (choice: Choice): boolean => choice.index == null || choice.index === 0 || choice.index === "0"

/**
 * The choice's `message` (unary) or `delta` (`streamed`). Perplexity sends both in each: a chunk's
 * `message` holds the text so far, its `delta` the new text; an answer's `delta` is empty.
 */
const messageOf = (choice: Choice | undefined, streamed: boolean) =>
  (streamed ? choice?.delta ?? choice?.message : choice?.message ?? choice?.delta) ?? undefined

/** The first choice (index 0) of a stream chunk and its `delta` (else `message`): read once per stream event. */
export const firstOf = (completion: Completion) => {
  const choice = firstChoice(completion)
  return { choice, message: messageOf(choice, true) }
}
type Message = ReturnType<typeof messageOf>

/** The text of content chunks of `type` (`text`; `thinking`, whose `thinking` is text or text chunks). */
const chunksText = (chunks: ReadonlyArray<unknown>, type: "text" | "thinking"): string => {
  let text = ""
  for (const chunk of chunks) {
    if (!Json.isObject(chunk) || chunk.type !== type) continue
    const value = type === "text" ? chunk.text : chunk.thinking
    if (typeof value === "string") text += value
    else if (Array.isArray(value)) text += chunksText(value, "text")
  }
  return text
}

/** The answer text of a completion's first choice (`message`); `""` when it has none. */
export const contentOf = (completion: Completion): string => contentOfMessage(messageOf(firstChoice(completion), false))

/** `contentOf` of a first choice's message. */
export const contentOfMessage = (message: Message): string => {
  const content = message?.content
  return typeof content === "string" ? content : content == null ? "" : chunksText(content, "text")
}

/**
 * The first choice's reasoning text: `reasoning_content` if any, else `reasoning` (never both: some
 * send both), else the `thinking` chunks of its content.
 */
export const reasoningOf = (completion: Completion): string =>
  reasoningOfMessage(messageOf(firstChoice(completion), false))

/** `reasoningOf` of a first choice's message. */
export const reasoningOfMessage = (message: Message): string => {
  if (message == null) return ""
  const content = message.reasoning_content
  if (content != null && content.length > 0) return content
  if (message.reasoning != null && message.reasoning.length > 0) return message.reasoning
  return Array.isArray(message.content) ? chunksText(message.content, "thinking") : ""
}

/** Shared by every chunk without tool calls (most of a stream's): no array per event. */
const noToolCalls: ReadonlyArray<ToolCall> = Object.freeze([])

/** The first choice's tool calls (whole in a unary completion, fragments in a chunk). */
export const toolCallsOf = (completion: Completion): ReadonlyArray<ToolCall> =>
  messageOf(firstChoice(completion), false)?.tool_calls ?? noToolCalls

/** The first choice's refusal text (`""` when it has none). */
export const refusalOf = (completion: Completion): string => messageOf(firstChoice(completion), false)?.refusal ?? ""

/** An assembled call as a tool-call part, its original `arguments` text kept in metadata. */
export const toolCallPart = (id: string, name: string, text: string, newId?: () => string): ToolCallPart =>
  Tools.toolCallPart(metadataKey, id, name, text, newId)

/** The finish reason, once the first choice says it ended (not null, absent or empty). */
export const finishOf = (completion: Completion): FinishReason | undefined => finishOfChoice(firstChoice(completion))

/** `finishOf` of a first choice. */
export const finishOfChoice = (choice: Choice | undefined): FinishReason | undefined => {
  const reason = choice?.finish_reason
  return typeof reason === "string" && reason.length > 0 ? fromOpenAI(reason) : undefined
}

/**
 * The usage a payload reports (top-level, else Groq's `x_groq.usage`, else Moonshot's in the first
 * choice); `undefined` when it reports none
 * or leaves a count unknown (vLLM's `completion_tokens: null`): missing is unknown, not 0
 * (WIRE-openai-anthropic §1.4), so the call is settled at its estimate instead of under-counted.
 */
export const reportedUsage = (completion: Completion, first?: Choice): Usage | undefined => {
  const usage = completion.usage ?? completion.x_groq?.usage ?? (first ?? firstChoice(completion))?.usage ?? undefined
  return usage != null && usage.prompt_tokens != null && usage.completion_tokens != null ? usage : undefined
}

/** The usage of a completion whose other fields do not decode (it was billed), when that part is readable. */
export const billedOf = (json: Record<string, unknown>): UsageCounts | undefined => {
  const usage = json.usage
  return usage != null && isUsage(usage) && (usage as Usage).prompt_tokens != null &&
      (usage as Usage).completion_tokens != null
    ? usageOf(usage as Usage)
    : undefined
}

/**
 * Input = prompt_tokens, output = completion_tokens (reasoning included), total as reported, else the
 * sum. A service whose `completion_tokens` leaves the reasoning out (xAI: `reasoning_tokens` beside it,
 * billed at the output rate; gateways translating Gemini) says so by its total: the output is then what
 * the total counts beyond the prompt; without a total, the sum of the two when the reasoning is clearly
 * more than the completion. Perplexity's top-level `reasoning_tokens` are output, and its `citation_tokens`
 * input beside them (deep research; its other models do not bill the citations they report).
 */
export const usageOf = (usage: Usage): UsageCounts => {
  const besideReasoning = usage.reasoning_tokens ?? 0
  const citations = usage.reasoning_tokens != null ? usage.citation_tokens ?? 0 : 0
  const inputTokens = (usage.prompt_tokens ?? 0) + citations
  const completion = usage.completion_tokens ?? 0
  const detailedReasoning = usage.completion_tokens_details?.reasoning_tokens
  const reasoning = detailedReasoning ?? 0
  // the reasoning `completion_tokens` left out: what the total counts beyond both (at most the
  // reasoning); without a total, all of it when it is clearly more than the completion can hold (a
  // count up to a tenth above it is the completion's own reasoning miscounted: OpenRouter's 11 in 10)
  const leftOut = reasoning === 0
    ? 0
    : usage.total_tokens != null && usage.prompt_tokens != null
    ? Math.min(usage.total_tokens - usage.prompt_tokens - completion, reasoning)
    : reasoning > completion * 1.1 + 1
    ? reasoning
    : 0
  const outputTokens = completion + Math.max(0, leftOut) + besideReasoning
  const counts: { -readonly [K in keyof UsageCounts]: UsageCounts[K] } = {
    inputTokens,
    outputTokens,
    totalTokens: usage.total_tokens != null
      ? usage.total_tokens + citations + besideReasoning
      : inputTokens + outputTokens
  }
  const cached = usage.prompt_tokens_details?.cached_tokens ?? usage.prompt_cache_hit_tokens ?? usage.cached_tokens
  if (cached != null) counts.cachedInputTokens = cached
  const written = usage.prompt_tokens_details?.cache_write_tokens ??
    usage.prompt_tokens_details?.cache_creation_input_tokens
  if (written != null) counts.cacheWriteTokens = written
  if (detailedReasoning != null || usage.reasoning_tokens != null) {
    counts.reasoningTokens = reasoning + besideReasoning
  }
  return counts
}

const nonEmpty = (text: string | null | undefined): string | undefined =>
  text === undefined || text === null || text.length === 0 ? undefined : text

/** The request id: the `x-request-id` header where the service sends one, else the body `id`. */
export const requestIdOf = (
  completion: Completion,
  headers: Readonly<Record<string, string | undefined>>
): string | undefined => nonEmpty(headers["x-request-id"]) ?? nonEmpty(completion.id)

/** The model the service says answered (`gpt-4.1-nano-2025-04-14` for `gpt-4.1-nano`). */
export const modelVersionOf = (completion: Completion): string | undefined => nonEmpty(completion.model)

/** The answer a decoded unary completion gives. */
export const answerOf = (
  completion: Completion,
  headers: Readonly<Record<string, string | undefined>>,
  newId: () => string = Tools.newCallId
): ProviderAnswer => {
  const usage = reportedUsage(completion)
  const content = contentOf(completion)
  const reasoning = nonEmpty(reasoningOf(completion))
  // a call whose arguments a `length` finish cut is no call (Tools.cutByLength)
  const finishedByLength = finishOf(completion) === "length"
  const calls = toolCallsOf(completion)
    .filter((call) => !Tools.cutByLength(call.function?.arguments ?? "", finishedByLength))
    .map((call) => toolCallPart(call.id ?? "", call.function?.name ?? "", call.function?.arguments ?? "", newId))
  // Parts only when there are calls: a tool turn is told by its calls, whatever finish_reason says.
  const parts: Array<AssistantPart> = []
  if (calls.length > 0) {
    if (reasoning !== undefined) parts.push({ type: "reasoning", text: reasoning })
    if (content.length > 0) parts.push({ type: "text", text: content })
    parts.push(...calls)
  }
  const finish = finishOf(completion) ?? "other"
  return {
    content,
    reasoning,
    ...(parts.length > 0 ? { parts } : {}),
    usage: usage !== undefined ? usageOf(usage) : undefined,
    // A refusal (`message.refusal`, with `finish_reason: "stop"`) is the model declining: `filter`.
    finishReason: refusalOf(completion).length > 0 && finish === "stop" ? "filter" : finish,
    requestId: requestIdOf(completion, headers),
    modelVersion: modelVersionOf(completion)
  }
}

/**
 * Decodes a unary 2xx body (leading blank lines, DeepSeek's keep-alive while queued, are skipped).
 * A body carrying an error is classified; one with `choices` is the answer (`bad_response` if its
 * fields have the wrong types); anything else is `bad_response`.
 */
export const decode = (
  bodyText: string,
  status: number,
  headers: Readonly<Record<string, string | undefined>>,
  context: Errors.ClassifyContext
): Either.Either<ProviderAnswer, LLMError> => {
  const json = Json.parse(bodyText.trim())
  const bad = (detail: string) => Either.left(Errors.badResponse(detail, { ...context, status }))
  if (json === undefined) return bad(`the body is not JSON: ${bodyText}`)
  if (isErrorPayload(json)) {
    const error = classifyInBand(json, bodyText, headers, context, `answered HTTP ${status} with an error body:`)
    // OpenRouter's error beside a finished choice and its usage: the call was billed, its cancel is priced
    return Either.left(Errors.withBilledUsage(error, Json.isObject(json) ? billedOf(json) : undefined))
  }
  if (!Json.isObject(json)) return bad(`no \`choices\` in the body: ${bodyText}`)
  if (!Array.isArray(json.choices)) {
    return Either.left(
      Errors.badResponse(`no \`choices\` in the body: ${bodyText}`, { ...context, status }, billedOf(json))
    )
  }
  if (isCompletion(json)) return Either.right(answerOf(json, headers))
  const decoded = decodeCompletion(json)
  return Either.isLeft(decoded)
    ? Either.left(
      Errors.badResponse(
        `not a chat completion: ${Json.issueText(decoded.left)}`,
        { ...context, status },
        billedOf(json)
      )
    )
    : Either.right(answerOf(decoded.right, headers))
}
