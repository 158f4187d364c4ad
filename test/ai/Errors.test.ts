/**
 * `LLMError` → `AiError` (API.md §10): every tag becomes an `UnknownError` of module `effect-llm`
 * with the error as `cause` and its message as `description` — as a mapping, and through the layer
 * for each tag the pipeline produces (provider errors, budget, breaker, config, invalid requests
 * refused before any ledger write).
 */
import { AiError, LanguageModel, Tool, Toolkit } from "@effect/ai"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import * as EffectLlmAi from "../../src/ai.js"
import {
  BudgetExceededError,
  CircuitOpenError,
  ConfigError,
  FatalError,
  Ledger,
  type LLMError,
  RateLimitError,
  RetryableError,
  withCallContext
} from "../../src/index.js"
import { makeMockProviders, makeTestLayer, type MockReply, testConfig } from "../../src/layers/Test.js"

const samples: ReadonlyArray<LLMError> = [
  new RetryableError({ reason: "server_error", message: "upstream 503", provider: "google", status: 503 }),
  new RateLimitError({ reason: "quota_exhausted", message: "daily quota gone", provider: "google", status: 429 }),
  new FatalError({ reason: "authentication", message: "API key not valid", provider: "google", status: 401 }),
  new BudgetExceededError({
    reason: "daily_limit",
    message: "daily budget of $1 would be exceeded",
    scope: "global",
    window: "daily",
    spent: 0.99,
    limit: 1,
    estimate: 0.02
  }),
  new CircuitOpenError({ reason: "all_endpoints_open", message: "every endpoint of gemini-flash is open" }),
  new ConfigError({ reason: "invalid", message: "unknown model alias \"nope\"", path: "models" })
]

describe("toAiError", () => {
  for (const error of samples) {
    it(`${error._tag}: UnknownError of module effect-llm, the error as cause, its message as description`, () => {
      const mapped = EffectLlmAi.toAiError("generateText")(error)
      assert.instanceOf(mapped, AiError.UnknownError)
      const unknown = mapped as AiError.UnknownError
      assert.strictEqual(unknown.module, "effect-llm")
      assert.strictEqual(unknown.method, "generateText")
      assert.strictEqual(unknown.description, error.message)
      assert.strictEqual(unknown.cause, error)
      assert.strictEqual((unknown.cause as LLMError)._tag, error._tag)
      assert.strictEqual(unknown.message, `effect-llm.generateText: ${error.message}`)
    })
  }
})

const config = (extra: Record<string, unknown> = {}) => ({
  ...testConfig,
  resilience: { max_retries: 0, circuit_breaker: { failure_threshold: 1, recovery_timeout_s: 600 } },
  ...extra
})

const layerWith = (replies: ReadonlyArray<MockReply>, extra?: Record<string, unknown>, model = "test-model") => {
  const providers = makeMockProviders({ replies })
  return {
    providers,
    layer: EffectLlmAi.layer({ model }).pipe(
      Layer.provideMerge(makeTestLayer({ config: config(extra), providers }))
    )
  }
}

const failure = (effect: Effect.Effect<unknown, AiError.AiError, LanguageModel.LanguageModel>) =>
  Effect.map(Effect.flip(effect), (error) => {
    assert.instanceOf(error, AiError.UnknownError)
    return error as AiError.UnknownError
  })

const ask = LanguageModel.generateText({ prompt: "hi" })

const events = Effect.flatMap(Ledger, (ledger) => ledger.events())

describe("errors through the layer", () => {
  for (const error of samples.slice(0, 3)) {
    it.effect(`a provider's ${error._tag} fails the call as UnknownError with that cause; the call settles as error`, () => {
      const { layer } = layerWith([error])
      return Effect.gen(function*() {
        const mapped = yield* failure(ask)
        assert.strictEqual((mapped.cause as LLMError)._tag, error._tag)
        assert.strictEqual(mapped.method, "generateText")
        const rows = (yield* events).filter((event) => event.type !== "hold")
        assert.deepStrictEqual(rows.map((row) => [row.status, row.error?.tag]), [["error", error._tag]])
      }).pipe(Effect.provide(layer))
    })
  }

  it.effect("streamText: the error is mapped with method streamText", () => {
    const { layer } = layerWith([samples[2]!])
    return Effect.gen(function*() {
      const mapped = yield* failure(Stream.runDrain(LanguageModel.streamText({ prompt: "hi" })))
      assert.strictEqual(mapped.method, "streamText")
      assert.strictEqual((mapped.cause as LLMError)._tag, "FatalError")
    }).pipe(Effect.provide(layer))
  })

  it.effect("BudgetExceededError: refused before any request, recognisable through cause._tag", () => {
    const { layer, providers } = layerWith([], { budget: { daily_spend_limit: 0.000001 } })
    return Effect.gen(function*() {
      const mapped = yield* failure(ask)
      assert.strictEqual((mapped.cause as LLMError)._tag, "BudgetExceededError")
      assert.lengthOf(providers.calls, 0)
    }).pipe(Effect.provide(layer))
  })

  it.effect("withCallContext's tags put @effect/ai calls in their per_tag budget scope", () => {
    const { layer, providers } = layerWith([], { budget: { per_tag: { user: { daily: 0.000001 } } } })
    return Effect.gen(function*() {
      const mapped = yield* failure(ask.pipe(withCallContext({ tags: { user: "u-1" } })))
      const cause = mapped.cause as BudgetExceededError
      assert.strictEqual(cause._tag, "BudgetExceededError")
      assert.strictEqual(cause.scope, "user:u-1")
      assert.lengthOf(providers.calls, 0)
      // Another user's calls are not in that scope.
      yield* ask.pipe(withCallContext({ tags: { team: "t-1" } }))
      assert.lengthOf(providers.calls, 1)
    }).pipe(Effect.provide(layer))
  })

  it.effect("CircuitOpenError: after a failure opens the only endpoint's breaker", () => {
    const { layer, providers } = layerWith([samples[0]!])
    return Effect.gen(function*() {
      yield* failure(ask)
      const mapped = yield* failure(ask)
      assert.strictEqual((mapped.cause as LLMError)._tag, "CircuitOpenError")
      assert.lengthOf(providers.calls, 1)
    }).pipe(Effect.provide(layer))
  })

  it.effect("an alias the config does not have: invalid_request, before any ledger write", () => {
    const { layer } = layerWith([], undefined, "nope")
    return Effect.gen(function*() {
      const mapped = yield* failure(ask)
      assert.strictEqual((mapped.cause as FatalError).reason, "invalid_request")
      assert.include(mapped.description, "nope")
      assert.lengthOf(yield* events, 0)
    }).pipe(Effect.provide(layer))
  })

  it.effect("invalid_request: a tool name Gemini refuses, before any ledger write or request", () => {
    const Bad = Toolkit.make(Tool.make("get weather", { parameters: { city: Schema.String } }))
    const { layer, providers } = layerWith([])
    return Effect.gen(function*() {
      const mapped = yield* failure(
        LanguageModel.generateText({ prompt: "hi", toolkit: Bad }).pipe(
          Effect.provide(Bad.toLayer({ "get weather": () => Effect.void }))
        )
      )
      const cause = mapped.cause as FatalError
      assert.strictEqual(cause.reason, "invalid_request")
      assert.include(cause.message, "get weather")
      assert.lengthOf(providers.calls, 0)
      assert.lengthOf(yield* events, 0)
    }).pipe(Effect.provide(layer))
  })

  it.effect("a tool or object Schema with no JSON Schema form: invalid_request, not a defect, before any write", () => {
    const When = Toolkit.make(Tool.make("when", { parameters: { at: Schema.DateFromSelf } }))
    const { layer, providers } = layerWith([])
    return Effect.gen(function*() {
      const tool = (yield* failure(
        LanguageModel.generateText({ prompt: "hi", toolkit: When }).pipe(
          Effect.provide(When.toLayer({ when: () => Effect.void }))
        )
      )).cause as FatalError
      assert.strictEqual(tool.reason, "invalid_request")
      assert.include(tool.message, `the parameters of tool "when" has no JSON Schema form`)
      const object = (yield* failure(
        LanguageModel.generateObject({ prompt: "hi", schema: Schema.Struct({ at: Schema.DateFromSelf }) })
      )).cause as FatalError
      assert.strictEqual(object.reason, "invalid_request")
      assert.include(object.message, "has no JSON Schema form")
      assert.lengthOf(providers.calls, 0)
      assert.lengthOf(yield* events, 0)
    }).pipe(Effect.provide(layer))
  })

  it.effect("invalid settings of the layer (temperature 3) are invalid_request on each call", () => {
    const providers = makeMockProviders()
    const layer = EffectLlmAi.layer({ model: "test-model", temperature: 3 }).pipe(
      Layer.provideMerge(makeTestLayer({ config: config(), providers }))
    )
    return Effect.gen(function*() {
      const mapped = yield* failure(ask)
      assert.include((mapped.cause as FatalError).message, "temperature")
      assert.lengthOf(providers.calls, 0)
    }).pipe(Effect.provide(layer))
  })
})
