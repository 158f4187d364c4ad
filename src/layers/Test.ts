/**
 * Test helpers, exported as `effect-llm/testing`: a scripted mock provider (no HTTP) and a whole
 * client over it with the in-memory ledger, so users test their programs the way this package does.
 */
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Stream from "effect/Stream"
import type { ProviderName } from "../domain/Config.js"
import type { LLMError } from "../domain/Errors.js"
import type { FinishReason } from "../domain/FinishReason.js"
import type { NormalizedRequest } from "../domain/Request.js"
import { TokenUsage } from "../domain/TokenUsage.js"
import type { Provider, ProviderAnswer, ProviderChunk, ProviderTarget } from "../providers/Provider.js"
import * as Ledger from "../services/Ledger.js"
import * as LLMConfig from "../services/LLMConfig.js"
import { Providers } from "../services/Providers.js"
import { layerWith, type LiveServices } from "./Live.js"

/** A scripted reply: text, a detailed answer, an error to fail with, or a function of the request. */
export type MockReply =
  | string
  | {
    readonly content: string
    readonly usage?: Partial<TokenUsage>
    readonly finishReason?: FinishReason
    /** How `stream` splits the content (default: by words). */
    readonly deltas?: ReadonlyArray<string>
  }
  | LLMError
  | ((call: MockCall) => Effect.Effect<ProviderAnswer, LLMError>)

/** One request the mock received. */
export interface MockCall {
  readonly provider: ProviderName
  readonly endpoint: string
  readonly modelId: string
  readonly request: NormalizedRequest
  readonly stream: boolean
}

/** A script: replies used in order, then `otherwise` (default: echo the last user message). */
export interface MockScript {
  readonly replies?: ReadonlyArray<MockReply>
  readonly otherwise?: MockReply
}

/** A mock provider set and the log of the calls it received. */
export interface MockProviders {
  readonly layer: Layer.Layer<Providers>
  readonly calls: ReadonlyArray<MockCall>
}

const isError = (reply: MockReply): reply is LLMError =>
  typeof reply === "object" && reply !== null && "_tag" in reply

const estimateTokens = (text: string) => Math.ceil(text.length / 4)

const toAnswer = (reply: MockReply, call: MockCall): Effect.Effect<ProviderAnswer, LLMError> => {
  if (typeof reply === "function") return reply(call)
  if (isError(reply)) return Effect.fail(reply)
  const spec = typeof reply === "string" ? { content: reply } : reply
  const input = estimateTokens(call.request.messages.map((m) => m.content).join(" ") + (call.request.system ?? ""))
  const output = estimateTokens(spec.content)
  const usage = new TokenUsage({
    inputTokens: spec.usage?.inputTokens ?? input,
    outputTokens: spec.usage?.outputTokens ?? output,
    totalTokens: spec.usage?.totalTokens ?? (spec.usage?.inputTokens ?? input) + (spec.usage?.outputTokens ?? output)
  })
  return Effect.succeed({
    content: spec.content,
    usage,
    finishReason: spec.finishReason ?? "stop",
    requestId: `mock-${crypto.randomUUID()}`,
    modelVersion: call.modelId
  })
}

const deltasOf = (reply: MockReply, content: string): ReadonlyArray<string> =>
  typeof reply === "object" && reply !== null && !isError(reply) && "deltas" in reply && reply.deltas !== undefined
    ? reply.deltas
    : content.split(/(?<= )/)

/** Builds scripted providers (both protocol names answer from the same script). */
export const makeMockProviders = (script: MockScript = {}): MockProviders => {
  const calls: Array<MockCall> = []
  let index = 0
  const echo: MockReply = (call) =>
    toAnswer(`echo: ${call.request.messages[call.request.messages.length - 1]?.content ?? ""}`, call)
  const next = (): MockReply => {
    const replies = script.replies ?? []
    if (index < replies.length) return replies[index++]!
    return script.otherwise ?? echo
  }
  const provider = (name: ProviderName): Provider => {
    const record = (target: ProviderTarget, request: NormalizedRequest, stream: boolean): MockCall => {
      const call = { provider: name, endpoint: target.endpoint.name, modelId: target.modelId, request, stream }
      calls.push(call)
      return call
    }
    return {
      name,
      generate: (target, request) => Effect.suspend(() => toAnswer(next(), record(target, request, false))),
      stream: (target, request) =>
        Effect.suspend(() => {
          const reply = next()
          return Effect.map(toAnswer(reply, record(target, request, true)), (answer) => {
            const pieces = deltasOf(reply, answer.content)
            const chunks: Array<ProviderChunk> = pieces.map((delta) => ({
              delta,
              usage: undefined,
              finishReason: undefined,
              requestId: answer.requestId,
              modelVersion: answer.modelVersion
            }))
            chunks.push({
              delta: "",
              usage: answer.usage,
              finishReason: answer.finishReason,
              requestId: answer.requestId,
              modelVersion: answer.modelVersion
            })
            return Stream.fromIterable(chunks)
          })
        })
    }
  }
  return { layer: Layer.succeed(Providers, { google: provider("google"), dashscope: provider("dashscope") }), calls }
}

/** A small config in the YAML shape for tests: `test-model` (google) with fallback-free pricing. */
export const testConfig = {
  default_model: "test-model",
  providers: {
    google: { api_key: "test-key", endpoints: [{ name: "mock-google", base_url: "http://127.0.0.1:9", region: "us" }] },
    dashscope: { api_key: "test-key", endpoints: [{ name: "mock-dashscope", base_url: "http://127.0.0.1:9", region: "sg" }] }
  },
  models: {
    "test-model": { provider: "google", model_id: "test-model-1", pricing: { input_per_1m: 1, output_per_1m: 2 } },
    "test-qwen": { provider: "dashscope", model_id: "qwen-test", pricing: { input_per_1m: 1, output_per_1m: 2 } }
  },
  ledger: { backend: "memory" }
} as const

/** Options of `makeTestLayer`. */
export interface TestLayerOptions {
  /** The project configuration in the YAML shape (default `testConfig`); no file, environment or user file is read. */
  readonly config?: unknown
  /** The scripted providers (default: echo). */
  readonly providers?: MockProviders
}

/**
 * The whole client over scripted providers and the in-memory ledger: budget checks, retries,
 * breakers and ledger settlement all run as in production, with no HTTP and no files.
 */
export const makeTestLayer = (options: TestLayerOptions = {}) =>
  layerWith(
    LLMConfig.layerIsolated(options.config ?? testConfig),
    (options.providers ?? makeMockProviders()).layer,
    Layer.unwrapEffect(
      Effect.map(LLMConfig.LLMConfig, ({ config }) => Ledger.layerMemory({ holdTtlS: config.budget.holdTtlS }))
    )
  ) satisfies Layer.Layer<LiveServices, unknown>

/** The in-memory ledger layer. */
export const layerMemoryLedger = Ledger.layerMemory
