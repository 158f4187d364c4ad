/**
 * What the simulator answers and how it misbehaves: the fault-script step type, the in-prompt
 * `[[sim key=value …]]` directive, and the deterministic answer (an echo of the prompt plus lorem
 * ipsum, about 4 characters per token) split into stream deltas.
 */

/**
 * One scripted behaviour for one request (or, via `always`, for every request of an endpoint).
 * Every field is optional; an empty step is a normal, successful answer.
 */
export interface SimulatorStep {
  /** Answer with this HTTP status (≥ 400) and the provider's error body. */
  readonly status?: number
  /**
   * Error code: DashScope `code` (e.g. `Throttling.AllocationQuota`), Gemini `status` (e.g.
   * `UNAVAILABLE`), OpenAI `error.code` (e.g. `context_length_exceeded`, `insufficient_quota`) or
   * Anthropic `error.type` (e.g. `overloaded_error`).
   */
  readonly code?: string
  /** Error message instead of the provider's usual one. */
  readonly message?: string
  /** `Retry-After` header on the error (seconds, or an HTTP date string). */
  readonly retryAfter?: number | string
  /** `retry-after-ms` header on the error. */
  readonly retryAfterMs?: number
  /** OpenAI: `x-ratelimit-reset-requests` on the error (a Go duration such as `"6m0s"`, `"20ms"`). */
  readonly resetRequests?: string
  /** OpenAI: `x-ratelimit-reset-tokens` on the error. */
  readonly resetTokens?: string
  /** Gemini 429: a `google.rpc.RetryInfo` detail with this `retryDelay` (e.g. `"2s"`, `"34.4s"`). */
  readonly retryInfo?: string
  /**
   * 429 quota kind: `"day"` is a quota waiting cannot clear (Gemini per-day quotaId, DashScope free
   * quota gone, OpenAI `insufficient_quota`, Anthropic `enforced_spend_limit_reached`).
   */
  readonly quota?: "minute" | "day"
  /**
   * For stream requests: answer HTTP 200 and deliver the error as an in-band event (Gemini and
   * OpenAI `data: {"error":…}`, DashScope and Anthropic `event: error`) after `N` text events (`true` = 0).
   */
  readonly inStream?: boolean | number
  /** Milliseconds to wait before the response headers. */
  readonly delayMs?: number
  /** Never answer (the connection stays open until the client gives up or the simulator closes). */
  readonly hang?: boolean
  /** Destroy the connection without answering (a connection reset). */
  readonly reset?: boolean
  /** The answer text, instead of the generated echo + lorem. */
  readonly text?: string
  /** Length of the generated answer in tokens (≈ 4 characters each); default 48. Capped by `maxOutputTokens`. */
  readonly tokens?: number
  /** Stream: number of text events. With `chars`, the answer is exactly `events × chars` characters. */
  readonly events?: number
  /** Stream: characters per text event (default 24). */
  readonly chars?: number
  /** Stream: milliseconds before each event. */
  readonly eventDelayMs?: number
  /** Stream: send this many events, then destroy the connection mid-body. */
  readonly cutAfter?: number
  /** Stream: send this many events, then end the body cleanly without the finish signal. */
  readonly endAfter?: number
  /** The provider's raw finish reason on the last event (e.g. `"SAFETY"`, `"length"`). */
  readonly finishReason?: string
  /**
   * Gemini: block the prompt with this `promptFeedback.blockReason` (DashScope: 400
   * `DataInspectionFailed`; OpenAI: 400 `content_filter`; Anthropic: a refusal, `stop_reason:
   * "refusal"` with this `stop_details.category` and no content).
   */
  readonly promptBlocked?: string
  /** OpenAI: report no usage, as a server that ignores `stream_options.include_usage` does. */
  readonly noUsage?: boolean
  /**
   * Reasoning of this text before the answer: OpenAI `reasoning_content` deltas (DeepSeek-style),
   * Anthropic a `thinking` block (thinking deltas and a signature).
   */
  readonly reasoning?: string
  /** Anthropic: prompt tokens reported as read from the cache (`cache_read_input_tokens`). */
  readonly cacheReadTokens?: number
  /** Anthropic: prompt tokens reported as written to the cache (`cache_creation_input_tokens`). */
  readonly cacheWriteTokens?: number
  /** Anthropic 429: the exhausted limit's `anthropic-ratelimit-*-reset` (RFC 3339) instead of now + the wait. */
  readonly ratelimitReset?: string
  /**
   * Answer with these tool calls (in the protocol's wire shape: Gemini `functionCall` parts, OpenAI and
   * DashScope `tool_calls` — streamed as index-keyed argument fragments —, Anthropic `tool_use` blocks
   * with `input_json_delta`s) instead of text; several are parallel calls. `id` defaults to a
   * generated one (Gemini 2.x sends none).
   */
  readonly toolCalls?: ReadonlyArray<ScriptedToolCall>
  /** Answer with this value as the JSON text of a structured-output answer (as the protocol sends it). */
  readonly json?: unknown
}

const directivePattern = /\[\[sim\b([^\]]*)\]\]/g

/** Reads `[[sim key=value …]]` directives out of a prompt into a step (numbers and booleans parsed). */
export const parseDirective = (prompt: string): SimulatorStep => {
  const step: Record<string, unknown> = {}
  for (const match of prompt.matchAll(directivePattern)) {
    for (const pair of match[1]!.split(/[\s,]+/)) {
      const equals = pair.indexOf("=")
      if (equals <= 0) continue
      const key = pair.slice(0, equals)
      const raw = pair.slice(equals + 1)
      step[key] = /^-?\d+(\.\d+)?$/.test(raw) ? Number(raw) : raw === "true" ? true : raw === "false" ? false : raw
    }
  }
  return step as SimulatorStep
}

/** The prompt without its directives. */
export const stripDirective = (prompt: string): string => prompt.replace(directivePattern, "").trim()

/** What the simulator needs from a decoded request, whatever the wire format. */
export interface ParsedRequest {
  readonly model: string
  /** The last user turn's text (directives included). */
  readonly prompt: string
  /** Characters of all text sent (system + every turn), for the input token count. */
  readonly inputChars: number
  readonly maxOutputTokens: number | undefined
  readonly stop: ReadonlyArray<string>
  /** DashScope `result_format` (`message`, or the legacy `text`); Gemini: `message`. */
  readonly resultFormat: "message" | "text"
  /** DashScope `incremental_output`: deltas (`true`) or the whole text so far in each event; Gemini: `true`. */
  readonly incremental: boolean
  /** OpenAI `stream_options.include_usage`: a `choices: []` usage chunk before `[DONE]`. */
  readonly includeUsage?: boolean
  /** Anthropic: the forced tool (`tool_choice: {type: "tool"}`) the answer must come back through. */
  readonly answerTool?: string
}

/** A tool call a step scripts: `arguments` is the value (a string is sent as the raw arguments text). */
export interface ScriptedToolCall {
  readonly name: string
  readonly arguments: unknown
  readonly id?: string
}

/** A decided answer: the deltas to send and why it ends. */
export interface Completion {
  readonly model: string
  readonly requestId: string
  readonly inputTokens: number
  /** The text in stream-sized pieces (one piece for a unary answer is fine too: join them). */
  readonly deltas: ReadonlyArray<string>
  /** Normalised end: the wire module maps it to the provider's vocabulary unless `finishRaw` is set. */
  readonly finish: "stop" | "length"
  readonly finishRaw: string | undefined
  readonly resultFormat: "message" | "text"
  readonly incremental: boolean
  /** Whether the usage chunk is asked for (OpenAI streams). */
  readonly includeUsage: boolean
  /** Whether the answer reports usage at all (OpenAI: `noUsage` makes it report none). */
  readonly reportUsage: boolean
  /** Reasoning text to send before the answer (OpenAI `reasoning_content`). */
  readonly reasoning: string | undefined
  /** Anthropic: prompt tokens read from / written to the cache (part of the input, reported apart). */
  readonly cacheReadTokens?: number
  readonly cacheWriteTokens?: number
  /** The step's tool calls, sent after the text (which is empty unless the step gave one). */
  readonly toolCalls?: ReadonlyArray<ScriptedToolCall>
  /** Anthropic: the forced tool the answer (a step's `json`) comes back through. */
  readonly answerTool?: string
}

/** Tokens of a text, ≈ characters / 4 (rounded up). */
export const tokensOf = (chars: number): number => Math.ceil(chars / 4)

const lorem = ("lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor incididunt ut labore " +
  "et dolore magna aliqua ut enim ad minim veniam quis nostrud exercitation ullamco laboris nisi ut aliquip ex " +
  "ea commodo consequat duis aute irure dolor in reprehenderit in voluptate velit esse cillum dolore eu fugiat " +
  "nulla pariatur excepteur sint occaecat cupidatat non proident sunt in culpa qui officia deserunt mollit anim " +
  "id est laborum").split(" ")
const loremBlock = lorem.join(" ") + " "

const hash = (text: string): number => {
  let h = 2166136261
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 16777619)
  return h >>> 0
}

/** Deterministic text of exactly `length` characters: `Echo: <prompt excerpt>.` then lorem ipsum. */
export const answerText = (prompt: string, length: number): string => {
  const clean = stripDirective(prompt).replace(/\s+/g, " ")
  const excerpt = clean.length > 60 ? `${clean.slice(0, 57)}...` : clean
  const head = /[.!?。！？]$/.test(excerpt) ? `Echo: ${excerpt} ` : `Echo: ${excerpt}. `
  if (head.length >= length) return head.slice(0, length)
  const start = loremBlock.indexOf(lorem[hash(clean) % lorem.length]! + " ")
  const rotated = loremBlock.slice(start) + loremBlock.slice(0, start)
  const rest = length - head.length
  const body = rotated.repeat(Math.ceil(rest / rotated.length)).slice(0, rest)
  return head + body.charAt(0).toUpperCase() + body.slice(1)
}

/** Splits text into pieces of `size` characters (at least one piece, possibly empty). */
const split = (text: string, size: number): Array<string> => {
  const pieces: Array<string> = []
  for (let i = 0; i < text.length; i += size) pieces.push(text.slice(i, i + size))
  return pieces.length === 0 ? [""] : pieces
}

/**
 * Decides the answer of a request under a step: an explicit `events × chars` stream shape wins;
 * otherwise `json` (as JSON text), `text` or `tokens` (default 48) capped by the request's
 * `maxOutputTokens` (finish `length`) and cut at the first stop sequence. Tool calls are passed on
 * for the wire to render after the text.
 */
export const complete = (request: ParsedRequest, step: SimulatorStep, requestId: string): Completion => {
  const base = {
    model: request.model,
    requestId,
    inputTokens: tokensOf(request.inputChars),
    finishRaw: step.finishReason,
    resultFormat: request.resultFormat,
    incremental: request.incremental,
    includeUsage: request.includeUsage ?? false,
    reportUsage: step.noUsage !== true,
    reasoning: step.reasoning,
    ...(step.cacheReadTokens !== undefined ? { cacheReadTokens: step.cacheReadTokens } : {}),
    ...(step.cacheWriteTokens !== undefined ? { cacheWriteTokens: step.cacheWriteTokens } : {}),
    ...(step.toolCalls !== undefined ? { toolCalls: step.toolCalls } : {}),
    ...(request.answerTool !== undefined ? { answerTool: request.answerTool } : {})
  }
  if (step.events !== undefined && step.chars !== undefined) {
    const text = answerText(request.prompt, step.events * step.chars)
    const deltas = step.events === 0 ? [""] : split(text, step.chars)
    return { ...base, deltas, finish: "stop" }
  }
  // A `json` step answers its value as JSON text; tool calls come without text unless the step gives one.
  let text = step.json !== undefined
    ? JSON.stringify(step.json)
    : step.text ??
      (step.toolCalls !== undefined ? "" : answerText(request.prompt, Math.max(0, Math.round((step.tokens ?? 48) * 4))))
  let finish: "stop" | "length" = "stop"
  const cap = request.maxOutputTokens
  if (cap !== undefined && tokensOf(text.length) > cap) {
    text = text.slice(0, cap * 4)
    finish = "length"
  }
  for (const stop of request.stop) {
    const at = stop.length > 0 ? text.indexOf(stop) : -1
    if (at >= 0) {
      text = text.slice(0, at)
      finish = "stop"
    }
  }
  const size = step.events !== undefined && step.events > 0
    ? Math.max(1, Math.ceil(text.length / step.events))
    : Math.max(1, step.chars ?? 24)
  return { ...base, deltas: split(text, size), finish }
}
