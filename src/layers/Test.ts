/**
 * Test helpers, exported as `effect-llm/testing`: scripted protocol clients (no HTTP) and the whole
 * client over them with the in-memory ledger, so users test their programs the way this package does.
 */
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Stream from "effect/Stream"
import { type ConfigError, FatalError, type LLMError, RateLimitError, RetryableError } from "../domain/Errors.js"
import type { FinishReason } from "../domain/FinishReason.js"
import { type AssistantPart, type CallRequest, textOf, type ToolCallPart } from "../domain/Prompt.js"
import type { UsageCounts } from "../domain/TokenUsage.js"
import type { ProviderAnswer, ProviderClient, ProviderTarget, StreamPart } from "../providers/Provider.js"
import { type ProtocolName, protocols } from "../providers/registry.js"
import * as Ledger from "../services/Ledger.js"
import * as LLMConfig from "../services/LLMConfig.js"
import { Providers } from "../services/Providers.js"
import { layerWith, type LiveServices } from "./Live.js"

/** A scripted answer: its text, and what else the call reports. */
export interface MockAnswer {
  readonly content: string
  readonly reasoning?: string | undefined
  /**
   * Tool calls the model makes (after the text); `id` defaults to `call_<n>`, numbered across the
   * mock's answers (as a service's ids never repeat in one conversation) until `reset()`.
   */
  readonly toolCalls?: ReadonlyArray<MockToolCall> | undefined
  readonly usage?: Partial<UsageCounts> | undefined
  readonly finishReason?: FinishReason | undefined
  /** How `stream` splits the content (default: by words); they must join to `content`. */
  readonly deltas?: ReadonlyArray<string> | undefined
}

/** A scripted tool call: the tool's name and the params its handler gets. */
export interface MockToolCall {
  readonly name: string
  readonly params: unknown
  readonly id?: string
}

/**
 * A scripted reply: text, an answer, an error to fail with, or a function of the call giving either of
 * the first two (or a protocol client's own `ProviderAnswer`, taken as it is).
 */
export type MockReply =
  | string
  | MockAnswer
  | LLMError
  | ((call: MockCall) => Effect.Effect<string | MockAnswer | ProviderAnswer, LLMError>)

/** One request the mock received. */
export interface MockCall {
  /** The provider entry's name. */
  readonly provider: string
  readonly protocol: ProtocolName
  readonly endpoint: string
  readonly modelId: string
  readonly request: CallRequest
  readonly stream: boolean
}

/** A script: replies used in order, then `otherwise` (default: echo the last user message). */
export interface MockScript {
  readonly replies?: ReadonlyArray<MockReply> | undefined
  readonly otherwise?: MockReply | undefined
}

/**
 * A mock set of protocol clients and the log of the calls it received. The script's place and the log
 * belong to this object, not to a layer built from it: make one per test (or `reset()` it).
 */
export interface MockProviders {
  readonly layer: Layer.Layer<Providers>
  readonly calls: ReadonlyArray<MockCall>
  /** Starts the script again from its first reply (and tool-call ids from `call_0`) and empties `calls`. */
  readonly reset: () => void
}

const isError = (reply: MockReply): reply is LLMError =>
  // an `LLMError` is a tagged `Error` (an `Effect.succeed(…)` has a `_tag` too, and is no error)
  typeof reply === "object" && reply !== null && "_tag" in reply && reply instanceof Error

const estimateTokens = (text: string) => Math.ceil(text.length / 4)

const lastUserText = (request: CallRequest): string => {
  const last = request.messages[request.messages.length - 1]
  return last === undefined ? "" : textOf(last)
}

/** The HTTP status a live client's error of this kind carries: the server's answer it stands for. */
const answerStatus: Readonly<Record<string, number>> = {
  rate_limited: 429,
  quota_exhausted: 429,
  invalid_request: 400,
  authentication: 401,
  permission_denied: 403,
  not_found: 404,
  bad_response: 200,
  content_filter: 400
}

/**
 * A scripted provider error as the live clients raise it (API.md §3: "where known"): naming the
 * provider and endpoint the call went to, and — for a 4xx, a 429 or an undecodable answer — the
 * HTTP status of the answer it stands for, so the breaker reads it as the endpoint's answer (a
 * half-open probe answered closes), when the script left them out.
 */
const located = (error: LLMError, call: MockCall): LLMError => {
  if (!(error instanceof RetryableError || error instanceof RateLimitError || error instanceof FatalError)) return error
  const status = error._tag === "RetryableError" ? undefined : error.status ?? answerStatus[error.reason]
  if (error.provider !== undefined && error.endpoint !== undefined && status === error.status) return error
  const { _tag, ...fields } = error
  const Class = error.constructor as new(fields: object) => LLMError
  return new Class({
    ...fields,
    message: error.message,
    provider: error.provider ?? call.provider,
    endpoint: error.endpoint ?? call.endpoint,
    ...(status === undefined ? {} : { status })
  })
}

/** A protocol client's answer (a function reply may give one): it carries every field, `usage` included. */
const isProviderAnswer = (value: MockAnswer | ProviderAnswer): value is ProviderAnswer =>
  "requestId" in value && "modelVersion" in value && "usage" in value

/** A reply as a message shows it: JSON (shortened) where it is data, else its kind. */
const shown = (value: unknown): string => {
  if (value === undefined) return "undefined"
  if (typeof value === "function") return "a function"
  if (Effect.isEffect(value) && !(value instanceof Error)) {
    return "an Effect (script a function of the call returning it: `() => effect`)"
  }
  if (value instanceof Error) {
    return `${value.name}: ${value.message} (a scripted error must be an LLMError: RetryableError, RateLimitError, FatalError, …)`
  }
  try {
    const json = JSON.stringify(value)
    return json === undefined ? String(value) : json.length > 120 ? `${json.slice(0, 117)}...` : json
  } catch {
    return String(value)
  }
}

/** What a script says, checked: a reply of the wrong shape is a defect naming it, not an odd answer. */
const checked = (spec: unknown): Effect.Effect<MockAnswer | ProviderAnswer> => {
  if (typeof spec !== "object" || spec === null || typeof (spec as MockAnswer).content !== "string") {
    return Effect.dieMessage(`a mock reply must be a string or an object with a string content, got ${shown(spec)}`)
  }
  const { content, deltas } = spec as MockAnswer
  if (deltas !== undefined && deltas.join("") !== content) {
    return Effect.dieMessage(
      `a mock reply's deltas must join to its content: ${JSON.stringify(deltas)} against ${JSON.stringify(content)}`
    )
  }
  return Effect.succeed(spec as MockAnswer)
}

/** The answer a scripted reply gives: usage estimated (a token per 4 characters) where the script left it out. */
const answerOf = (spec: MockAnswer | ProviderAnswer, call: MockCall, newCallId: () => string): ProviderAnswer => {
  if (isProviderAnswer(spec)) return spec
  const input = estimateTokens(call.request.messages.map(textOf).join(" ") + (call.request.system ?? ""))
  const output = estimateTokens(spec.content)
  const inputTokens = spec.usage?.inputTokens ?? input
  const outputTokens = spec.usage?.outputTokens ?? output
  const toolCalls = (spec.toolCalls ?? []).map((toolCall): ToolCallPart => ({
    type: "tool-call",
    id: toolCall.id ?? newCallId(),
    name: toolCall.name,
    params: toolCall.params
  }))
  const parts: Array<AssistantPart> = []
  if (toolCalls.length > 0) {
    if (spec.reasoning !== undefined && spec.reasoning.length > 0) {
      parts.push({ type: "reasoning", text: spec.reasoning })
    }
    if (spec.content.length > 0) parts.push({ type: "text", text: spec.content })
    parts.push(...toolCalls)
  }
  return {
    content: spec.content,
    reasoning: spec.reasoning,
    ...(parts.length > 0 ? { parts } : {}),
    usage: {
      ...spec.usage,
      inputTokens,
      outputTokens,
      totalTokens: spec.usage?.totalTokens ?? inputTokens + outputTokens
    },
    finishReason: spec.finishReason ?? "stop",
    requestId: `mock-${crypto.randomUUID()}`,
    modelVersion: call.modelId
  }
}

/** The script's answer and how a stream splits its text (`undefined`: by words). */
const toAnswer = (
  reply: MockReply,
  call: MockCall,
  newCallId: () => string
): Effect.Effect<{ readonly answer: ProviderAnswer; readonly deltas: ReadonlyArray<string> | undefined }, LLMError> => {
  if (isError(reply)) return Effect.fail(located(reply, call))
  const spec: Effect.Effect<unknown, LLMError> = typeof reply === "function"
    ? Effect.mapError(reply(call), (error) => located(error, call))
    : Effect.succeed(reply)
  return Effect.flatMap(
    spec,
    (value) =>
      Effect.map(checked(typeof value === "string" ? { content: value } : value), (checkedSpec) => ({
        answer: answerOf(checkedSpec, call, newCallId),
        deltas: isProviderAnswer(checkedSpec) ? undefined : checkedSpec.deltas
      }))
  )
}

const byWords = (text: string): ReadonlyArray<string> => text.split(/(?<= )/)

/**
 * A scripted answer as the parts a protocol's stream gives: the ids, then every part of the answer in
 * order (text in `deltas`, else by words; tool calls whole; provider metadata after its text), then usage
 * and the finish.
 */
const streamPartsOf = (answer: ProviderAnswer, deltas: ReadonlyArray<string> | undefined): Array<StreamPart> => {
  const parts: Array<StreamPart> = [{
    _tag: "Metadata",
    requestId: answer.requestId,
    modelVersion: answer.modelVersion
  }]
  const text = (content: string, split: ReadonlyArray<string> | undefined) => {
    for (const delta of split ?? byWords(content)) parts.push({ _tag: "TextDelta", text: delta })
  }
  if (answer.parts === undefined) {
    if (answer.reasoning !== undefined) parts.push({ _tag: "ReasoningDelta", text: answer.reasoning })
    text(answer.content, deltas)
  } else {
    for (const part of answer.parts) {
      // the script's `deltas` split its content, the answer's one text part (beside its tool calls)
      if (part.type === "text") text(part.text, deltas?.join("") === part.text ? deltas : undefined)
      else if (part.type === "reasoning") parts.push({ _tag: "ReasoningDelta", text: part.text })
      else if (part.type === "tool-call") parts.push({ _tag: "ToolCall", call: part })
      if ((part.type === "text" || part.type === "reasoning") && part.metadata !== undefined) {
        parts.push({ _tag: "PartMetadata", part: part.type, metadata: part.metadata })
      }
    }
  }
  if (answer.usage !== undefined) parts.push({ _tag: "Usage", usage: answer.usage })
  parts.push({ _tag: "Finish", reason: answer.finishReason })
  return parts
}

/** Builds scripted clients (every protocol answers from the same script). */
export const makeMockProviders = (script: MockScript = {}): MockProviders => {
  const calls: Array<MockCall> = []
  let index = 0
  let callIds = 0
  const newCallId = () => `call_${callIds++}`
  const echo: MockReply = (call) => Effect.succeed(`echo: ${lastUserText(call.request)}`)
  const next = (): MockReply => {
    const replies = script.replies ?? []
    if (index < replies.length) return replies[index++]!
    return script.otherwise ?? echo
  }
  const client = (protocol: ProtocolName): ProviderClient => {
    const record = (target: ProviderTarget, request: CallRequest, stream: boolean): MockCall => {
      const call = {
        provider: target.provider,
        protocol,
        endpoint: target.endpoint.name,
        modelId: target.modelId,
        request,
        stream
      }
      calls.push(call)
      return call
    }
    return {
      generate: (target, request) =>
        Effect.suspend(() =>
          Effect.map(toAnswer(next(), record(target, request, false), newCallId), ({ answer }) => answer)
        ),
      stream: (target, request) =>
        Effect.suspend(() =>
          Effect.map(
            toAnswer(next(), record(target, request, true), newCallId),
            // one part a chunk, as a wire's events come: a consumer that stops early has not seen the
            // usage and finish after where it stopped (the call settles with the usage seen so far)
            ({ answer, deltas }) => Stream.fromChunks(...streamPartsOf(answer, deltas).map(Chunk.of))
          )
        )
    }
  }
  const clients = Object.fromEntries(
    (Object.keys(protocols) as Array<ProtocolName>).map((protocol) => [protocol, client(protocol)])
  ) as Record<ProtocolName, ProviderClient>
  const reset = () => {
    index = 0
    callIds = 0
    calls.length = 0
  }
  return { layer: Layer.succeed(Providers, clients), calls, reset }
}

/**
 * A small config in the YAML shape for tests: `test-model` (google) and `test-qwen` (dashscope), with
 * millisecond backoffs (1 ms doubling to 10 ms), so a test whose calls retry is fast on the real clock
 * (`it.live`); under `it.effect` a retry still waits until the test advances the `TestClock`.
 */
export const testConfig = {
  default_model: "test-model",
  providers: {
    google: { api_key: "test-key", endpoints: [{ name: "mock-google", base_url: "http://127.0.0.1:9", region: "us" }] },
    dashscope: {
      api_key: "test-key",
      endpoints: [{ name: "mock-dashscope", base_url: "http://127.0.0.1:9", region: "sg" }]
    }
  },
  models: {
    "test-model": { provider: "google", model_id: "test-model-1", pricing: { input_per_1m: 1, output_per_1m: 2 } },
    "test-qwen": { provider: "dashscope", model_id: "qwen-test", pricing: { input_per_1m: 1, output_per_1m: 2 } }
  },
  resilience: { base_delay_s: 0.001, max_delay_s: 0.01 },
  ledger: { backend: "memory" }
} as const

/** Options of `makeTestLayer`; `E` is what building your own ledger may fail with (a SQLite file's `LedgerError`). */
export interface TestLayerOptions<E = never> {
  /** The project configuration in the YAML shape (default `testConfig`); no file, environment or user file is read. */
  readonly config?: unknown
  /** The scripted clients (default: echo). */
  readonly providers?: MockProviders | undefined
  /**
   * The ledger the client writes to (default: a fresh in-memory one, `ledger.max_events` and the
   * budget's hold TTL and alert thresholds from the config). Yours is what `Ledger` gives the test too.
   */
  readonly ledger?: Layer.Layer<Ledger.Ledger, E, LLMConfig.LLMConfig> | undefined
}

/**
 * The whole client over scripted clients and the in-memory ledger: budget checks, retries,
 * breakers and ledger settlement all run as in production, with no HTTP and no files.
 */
export const makeTestLayer = <E = never>(
  options: TestLayerOptions<E> = {}
): Layer.Layer<LiveServices, ConfigError | E> =>
  layerWith<ConfigError, never, E>(
    LLMConfig.layerIsolated(options.config ?? testConfig),
    (options.providers ?? makeMockProviders()).layer,
    options.ledger ?? Layer.unwrapEffect(
      Effect.map(LLMConfig.LLMConfig, ({ config }) =>
        Ledger.layerMemory({
          holdTtlS: config.budget.holdTtlS,
          alertThresholds: config.budget.alertThresholds,
          budgetedTags: Object.keys(config.budget.perTag),
          // the in-memory ledger keeps at most `ledger.max_events` events, as the live one does
          ...("maxEvents" in config.ledger ? { maxEvents: config.ledger.maxEvents } : {})
        }))
    )
  )

/** The in-memory ledger layer. */
export const layerMemoryLedger = Ledger.layerMemory
