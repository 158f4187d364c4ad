/**
 * Test helpers, exported as `effect-llm/testing`: scripted protocol clients (no HTTP) and the whole
 * client over them with the in-memory ledger, so users test their programs the way this package does.
 */
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Stream from "effect/Stream"
import { type ConfigError, FatalError, type LLMError, RateLimitError, RetryableError } from "../domain/Errors.js"
import type { FinishReason } from "../domain/FinishReason.js"
import { type CallRequest, textOf } from "../domain/Prompt.js"
import type { UsageCounts } from "../domain/TokenUsage.js"
import type { ProviderAnswer, ProviderClient, ProviderTarget, StreamPart } from "../providers/Provider.js"
import { type ProtocolName, protocols } from "../providers/registry.js"
import * as Ledger from "../services/Ledger.js"
import * as LLMConfig from "../services/LLMConfig.js"
import { Providers } from "../services/Providers.js"
import { layerWith, type LiveServices } from "./Live.js"

/** A scripted reply: text, a detailed answer, an error to fail with, or a function of the call. */
export type MockReply =
  | string
  | {
    readonly content: string
    readonly reasoning?: string
    readonly usage?: Partial<UsageCounts>
    readonly finishReason?: FinishReason
    /** How `stream` splits the content (default: by words). */
    readonly deltas?: ReadonlyArray<string>
  }
  | LLMError
  | ((call: MockCall) => Effect.Effect<ProviderAnswer, LLMError>)

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
  readonly replies?: ReadonlyArray<MockReply>
  readonly otherwise?: MockReply
}

/** A mock set of protocol clients and the log of the calls it received. */
export interface MockProviders {
  readonly layer: Layer.Layer<Providers>
  readonly calls: ReadonlyArray<MockCall>
}

const isError = (reply: MockReply): reply is LLMError => typeof reply === "object" && reply !== null && "_tag" in reply

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

const toAnswer = (reply: MockReply, call: MockCall): Effect.Effect<ProviderAnswer, LLMError> => {
  if (typeof reply === "function") return Effect.mapError(reply(call), (error) => located(error, call))
  if (isError(reply)) return Effect.fail(located(reply, call))
  const spec = typeof reply === "string" ? { content: reply } : reply
  const input = estimateTokens(call.request.messages.map(textOf).join(" ") + (call.request.system ?? ""))
  const output = estimateTokens(spec.content)
  const inputTokens = spec.usage?.inputTokens ?? input
  const outputTokens = spec.usage?.outputTokens ?? output
  return Effect.succeed({
    content: spec.content,
    reasoning: "reasoning" in spec ? spec.reasoning : undefined,
    usage: {
      ...spec.usage,
      inputTokens,
      outputTokens,
      totalTokens: spec.usage?.totalTokens ?? inputTokens + outputTokens
    },
    finishReason: ("finishReason" in spec ? spec.finishReason : undefined) ?? "stop",
    requestId: `mock-${crypto.randomUUID()}`,
    modelVersion: call.modelId
  })
}

const deltasOf = (reply: MockReply, content: string): ReadonlyArray<string> =>
  typeof reply === "object" && reply !== null && !isError(reply) && "deltas" in reply && reply.deltas !== undefined
    ? reply.deltas
    : content.split(/(?<= )/)

/** Builds scripted clients (every protocol answers from the same script). */
export const makeMockProviders = (script: MockScript = {}): MockProviders => {
  const calls: Array<MockCall> = []
  let index = 0
  const echo: MockReply = (call) => toAnswer(`echo: ${lastUserText(call.request)}`, call)
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
      generate: (target, request) => Effect.suspend(() => toAnswer(next(), record(target, request, false))),
      stream: (target, request) =>
        Effect.suspend(() => {
          const reply = next()
          return Effect.map(toAnswer(reply, record(target, request, true)), (answer) => {
            const parts: Array<StreamPart> = [{
              _tag: "Metadata",
              requestId: answer.requestId,
              modelVersion: answer.modelVersion
            }]
            if (answer.reasoning !== undefined) parts.push({ _tag: "ReasoningDelta", text: answer.reasoning })
            for (const text of deltasOf(reply, answer.content)) parts.push({ _tag: "TextDelta", text })
            if (answer.usage !== undefined) parts.push({ _tag: "Usage", usage: answer.usage })
            parts.push({ _tag: "Finish", reason: answer.finishReason })
            return Stream.fromIterable(parts)
          })
        })
    }
  }
  const clients = Object.fromEntries(
    (Object.keys(protocols) as Array<ProtocolName>).map((protocol) => [protocol, client(protocol)])
  ) as Record<ProtocolName, ProviderClient>
  return { layer: Layer.succeed(Providers, clients), calls }
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

/** Options of `makeTestLayer`. */
export interface TestLayerOptions {
  /** The project configuration in the YAML shape (default `testConfig`); no file, environment or user file is read. */
  readonly config?: unknown
  /** The scripted clients (default: echo). */
  readonly providers?: MockProviders
}

/**
 * The whole client over scripted clients and the in-memory ledger: budget checks, retries,
 * breakers and ledger settlement all run as in production, with no HTTP and no files.
 */
export const makeTestLayer = (options: TestLayerOptions = {}): Layer.Layer<LiveServices, ConfigError> =>
  layerWith(
    LLMConfig.layerIsolated(options.config ?? testConfig),
    (options.providers ?? makeMockProviders()).layer,
    Layer.unwrapEffect(
      Effect.map(LLMConfig.LLMConfig, ({ config }) =>
        Ledger.layerMemory({
          holdTtlS: config.budget.holdTtlS,
          alertThresholds: config.budget.alertThresholds,
          // the in-memory ledger keeps at most `ledger.max_events` events, as the live one does
          ...("maxEvents" in config.ledger ? { maxEvents: config.ledger.maxEvents } : {})
        }))
    )
  )

/** The in-memory ledger layer. */
export const layerMemoryLedger = Ledger.layerMemory
