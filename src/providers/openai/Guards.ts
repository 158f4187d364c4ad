/**
 * The guards of the Chat Completions payloads (`Response.ts`' Schema): what `Schema.is(Completion)`
 * accepts, written out for a stream's every event.
 */
import { isObject } from "../http/Json.js"
import type { Completion } from "./Response.js"

// Both paths check a payload with these guards before `Schema.decodeUnknownEither(
// Completion)` (the unary path falls back to the Schema only for its error message). Measured with bench/decode.ts (10,000 chunks; Node 20, 2 shared
// and busy cores): the Schema decode ≈1.9–3.1 µs per chunk, the guards ≈0.08–0.12 µs; the whole stream
// from bytes in 64 KiB reads 54 ms, as the other protocols. The guards
// accept exactly what the Schema accepts and feed the same readers (`Response.ts`);
// test/providers/openai/Stream.test.ts checks both on every recorded event and on mutations of
// them. Keep the two in step when a field is added.

// Written out with inline checks (`x == null || typeof x === "…"` is `Json.isField(x, Json.isString)`):
// a chunk is checked once per stream event, and each helper call is a call more in the interpreter and
// a TurboFan job more while a stream warms up.
const isFunction = (value: unknown): boolean => {
  if (!isObject(value)) return false
  const name = value.name
  const args = value.arguments
  return (name == null || typeof name === "string") && (args == null || typeof args === "string")
}

const isToolCall = (value: unknown): boolean => {
  if (!isObject(value)) return false
  const index = value.index
  const id = value.id
  const type = value.type
  const fn = value.function
  return (index == null || typeof index === "number") && (id == null || typeof id === "string") &&
    (type == null || typeof type === "string") && (fn == null || isFunction(fn))
}

const isToolCalls = (calls: unknown): boolean => {
  if (!Array.isArray(calls)) return false
  for (let i = 0; i < calls.length; i++) if (!isToolCall(calls[i])) return false
  return true
}

const isMessage = (value: unknown): boolean => {
  if (!isObject(value)) return false
  const content = value.content
  const reasoningContent = value.reasoning_content
  const reasoning = value.reasoning
  const refusal = value.refusal
  const calls = value.tool_calls
  return (content == null || typeof content === "string" || Array.isArray(content)) &&
    (reasoningContent == null || typeof reasoningContent === "string") &&
    (reasoning == null || typeof reasoning === "string") && (refusal == null || typeof refusal === "string") &&
    (calls == null || isToolCalls(calls))
}

const isChoice = (value: unknown): boolean => {
  if (!isObject(value)) return false
  const index = value.index
  const message = value.message
  const delta = value.delta
  const reason = value.finish_reason
  return (index == null || typeof index === "number" || typeof index === "string") &&
    (message == null || isMessage(message)) && (delta == null || isMessage(delta)) &&
    (reason == null || typeof reason === "string") && (value.usage == null || isUsage(value.usage))
}

const isChoices = (value: unknown): boolean => {
  if (!Array.isArray(value)) return false
  for (let i = 0; i < value.length; i++) if (!isChoice(value[i])) return false
  return true
}

const optNumber = (value: unknown): boolean => value == null || typeof value === "number"

const isPromptDetails = (value: unknown): boolean =>
  isObject(value) && optNumber(value.cached_tokens) && optNumber(value.cache_write_tokens) &&
  optNumber(value.cache_creation_input_tokens)

const isCompletionDetails = (value: unknown): boolean => isObject(value) && optNumber(value.reasoning_tokens)

/** A `usage` block as `Usage` accepts it. */
export const isUsage = (value: unknown): boolean =>
  isObject(value) &&
  optNumber(value.prompt_tokens) &&
  optNumber(value.completion_tokens) &&
  optNumber(value.total_tokens) &&
  (value.prompt_tokens_details == null || isPromptDetails(value.prompt_tokens_details)) &&
  (value.completion_tokens_details == null || isCompletionDetails(value.completion_tokens_details)) &&
  optNumber(value.prompt_cache_hit_tokens) &&
  optNumber(value.cached_tokens)

const isGroq = (value: unknown): boolean => isObject(value) && (value.usage == null || isUsage(value.usage))

/** What a stream event or a unary body is read as: what `Schema.is(Completion)` accepts, at guard speed. */
export const isCompletion = (value: unknown): value is Completion => {
  if (!isObject(value)) return false
  const id = value.id
  const model = value.model
  const choices = value.choices
  const usage = value.usage
  const groq = value.x_groq
  return (id == null || typeof id === "string") && (model == null || typeof model === "string") &&
    (choices == null || isChoices(choices)) && (usage == null || isUsage(usage)) && (groq == null || isGroq(groq))
}
