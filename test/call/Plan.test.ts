/**
 * The plan of a call, without the client: validation, alias resolution, the protocol's rules, the
 * output cap sent whenever a budget applies, the input bound, fallbacks a protocol cannot serve.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Plan from "../../src/call/Plan.js"
import { FatalError } from "../../src/domain/Errors.js"
import type { GenerateRequest } from "../../src/domain/Request.js"
import * as CircuitBreaker from "../../src/services/CircuitBreaker.js"
import * as LLMConfig from "../../src/services/LLMConfig.js"
import * as Pricing from "../../src/services/Pricing.js"
import * as Router from "../../src/services/Router.js"

const baseConfig = {
  default_model: "gem",
  providers: {
    google: { api_key: "test-key-1234", endpoints: [{ name: "g1", base_url: "http://127.0.0.1:9" }] },
    dashscope: { api_key: "test-key-5678", endpoints: [{ name: "d1", base_url: "http://127.0.0.1:9" }] }
  },
  models: {
    gem: {
      provider: "google",
      model_id: "gemini-x",
      pricing: { input_per_1m: 1, output_per_1m: 2 },
      fallbacks: ["qwen"]
    },
    qwen: { provider: "dashscope", model_id: "qwen-x", pricing: { input_per_1m: 1, output_per_1m: 2 } }
  },
  ledger: { backend: "memory" }
}

const planner = (config: Record<string, unknown> = baseConfig) =>
  Effect.gen(function*() {
    return Plan.make({
      config: yield* LLMConfig.LLMConfig,
      pricing: yield* Pricing.Pricing,
      router: yield* Router.Router
    })
  }).pipe(
    Effect.provide(
      Router.layer.pipe(
        Layer.provideMerge(CircuitBreaker.layer),
        Layer.provideMerge(Pricing.layer),
        Layer.provideMerge(LLMConfig.layerIsolated(config))
      )
    )
  )

const plan = (request: GenerateRequest, config?: Record<string, unknown>) =>
  Effect.flatMap(planner(config), (make) => make(request))

const refusal = (request: GenerateRequest, config?: Record<string, unknown>) => Effect.flip(plan(request, config))

describe("Plan", () => {
  it.effect("an invalid request is a FatalError invalid_request naming the field and what it got", () =>
    Effect.gen(function*() {
      const error = yield* refusal({ prompt: "hi", temperature: "0.5" as unknown as number })
      assert.instanceOf(error, FatalError)
      assert.strictEqual(error.reason, "invalid_request")
      assert.include(error.message, "temperature")
      assert.include(error.message, "a string")
      assert.include((yield* refusal({})).message, "prompt")
      assert.include((yield* refusal({ prompt: "hi", model: "nope" })).message, "nope")
      assert.include((yield* refusal({ prompt: "hi", maxOutputTokens: 0 })).message, "maxOutputTokens")
    }))

  it.effect("a budget in force sends the output cap: the request's, else budget.default_max_output_tokens", () =>
    Effect.gen(function*() {
      const planned = yield* plan({ prompt: "hi" })
      assert.strictEqual(planned.request.maxOutputTokens, 1024)
      assert.strictEqual(planned.outputCap, 1024)
      assert.deepStrictEqual(planned.limits, [{ scope: "global", window: "daily", limit: 1 }])
      const own = yield* plan({ prompt: "hi", maxOutputTokens: 50 })
      assert.strictEqual(own.request.maxOutputTokens, 50)
      assert.strictEqual(own.outputCap, 50)
    }))

  it.effect("with no budget in force no output limit is added to the request", () =>
    Effect.gen(function*() {
      const planned = yield* plan({ prompt: "hi" }, { ...baseConfig, budget: { daily_spend_limit: 0 } })
      assert.isUndefined(planned.request.maxOutputTokens)
      assert.deepStrictEqual(planned.limits, [])
    }))

  it.effect("the estimate bounds the input by UTF-8 bytes plus a per-message allowance, at the model's price", () =>
    Effect.gen(function*() {
      const english = yield* plan({ prompt: "hello world", maxOutputTokens: 10 })
      // 11 bytes + one message + the request's allowance; 10 output tokens.
      const englishTokens = 11 + 2 * Pricing.perMessageTokenAllowance
      assert.closeTo(english.estimate, (englishTokens * 1 + 10 * 2) / 1e6, 1e-15)
      const cjk = yield* plan({ prompt: "你好世界", maxOutputTokens: 10 })
      // Four characters, three UTF-8 bytes each.
      assert.closeTo(cjk.estimate, ((12 + 2 * Pricing.perMessageTokenAllowance) * 1 + 10 * 2) / 1e6, 1e-15)
    }))

  it.effect("a protocol's rule refuses the request before anything is held (DashScope temperature 2)", () =>
    Effect.gen(function*() {
      const error = yield* refusal({ prompt: "hi", model: "qwen", temperature: 2 })
      assert.strictEqual(error.provider, "dashscope", "the refusal names the provider it was for")
      assert.strictEqual(error.reason, "invalid_request")
      assert.include(error.message, "temperature")
    }))

  it.effect("a fallback whose protocol cannot carry the request is left out of the routing", () =>
    Effect.gen(function*() {
      const hot = yield* plan({ prompt: "hi", temperature: 2 })
      assert.deepStrictEqual(hot.routing.fallbacks, [])
      const mild = yield* plan({ prompt: "hi", temperature: 1 })
      assert.deepStrictEqual(mild.routing.fallbacks.map((c) => c.endpoint.name), ["d1"])
    }))

  it.effect("a budget on a tag or on a fallback alias alone also sends the output cap (API.md §14)", () =>
    Effect.gen(function*() {
      const byTag = { ...baseConfig, budget: { daily_spend_limit: 0, per_tag: { user: { weekly: 2 } } } }
      const tagged = yield* plan({ prompt: "hi", tags: { user: "u-1", plan: "free" } }, byTag)
      assert.deepStrictEqual(tagged.limits, [{ scope: "user:u-1", window: "weekly", limit: 2 }])
      assert.deepStrictEqual(tagged.tags, { user: "u-1", plan: "free" })
      assert.strictEqual(tagged.request.maxOutputTokens, 1024)
      assert.isUndefined((yield* plan({ prompt: "hi" }, byTag)).request.maxOutputTokens)
      const byFallback = { ...baseConfig, budget: { daily_spend_limit: 0, per_model: { qwen: { monthly: 5 } } } }
      const planned = yield* plan({ prompt: "hi" }, byFallback)
      assert.deepStrictEqual(planned.limits, [])
      assert.strictEqual(planned.request.maxOutputTokens, 1024)
    }))

  it.effect("limitsFor: global, the alias, then tag keys by name; daily, weekly, monthly; only limits > 0", () =>
    Effect.gen(function*() {
      const { config } = yield* LLMConfig.LLMConfig.pipe(Effect.provide(LLMConfig.layerIsolated({
        ...baseConfig,
        budget: {
          daily_spend_limit: 1,
          weekly_spend_limit: 0,
          monthly_spend_limit: 20,
          per_model: { gem: { weekly: 3, daily: 0 } },
          per_tag: { user: { monthly: 4, daily: 0.5 }, team: { daily: 6 }, region: {} }
        }
      })))
      const limits = Plan.limitsFor(config.budget, config.models.gem!, { user: "u", team: "t", region: "eu", x: "y" })
      assert.deepStrictEqual(limits.map((l) => [l.scope, l.window, l.limit]), [
        ["global", "daily", 1],
        ["global", "monthly", 20],
        ["model:gem", "weekly", 3],
        ["team:t", "daily", 6],
        ["user:u", "daily", 0.5],
        ["user:u", "monthly", 4]
      ])
      assert.deepStrictEqual(Plan.limitsFor(config.budget, config.models.qwen!).map((l) => l.scope), [
        "global",
        "global"
      ])
    }))

  it.effect("one planner: each call gets its own alias's and tags' limits, untagged calls before and after tagged ones", () =>
    Effect.gen(function*() {
      const make = yield* planner({
        ...baseConfig,
        budget: { daily_spend_limit: 1, per_model: { qwen: { weekly: 3 } }, per_tag: { user: { monthly: 4 } } }
      })
      const scopes = (planned: Plan.Plan) => planned.limits.map((l) => `${l.scope}/${l.window}`)
      assert.deepStrictEqual(scopes(yield* make({ prompt: "a" })), ["global/daily"])
      assert.deepStrictEqual(scopes(yield* make({ prompt: "b", tags: { user: "u-1" } })), [
        "global/daily",
        "user:u-1/monthly"
      ])
      assert.deepStrictEqual(scopes(yield* make({ prompt: "c" })), ["global/daily"])
      assert.deepStrictEqual(scopes(yield* make({ prompt: "d", model: "qwen" })), ["global/daily", "model:qwen/weekly"])
      assert.deepStrictEqual(scopes(yield* make({ prompt: "e", model: "qwen", tags: { user: "u-2" } })), [
        "global/daily",
        "model:qwen/weekly",
        "user:u-2/monthly"
      ])
      assert.deepStrictEqual(scopes(yield* make({ prompt: "f" })), ["global/daily"])
    }))

  it.effect("the trace id is the request's, else a fresh UUID", () =>
    Effect.gen(function*() {
      assert.strictEqual((yield* plan({ prompt: "hi", traceId: "t-1" })).traceId, "t-1")
      assert.match((yield* plan({ prompt: "hi" })).traceId, /^[0-9a-f-]{36}$/)
    }))
})
