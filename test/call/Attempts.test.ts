/**
 * Where retries are decided, without the client: failover on retry (API.md §14) — the next usable
 * endpoint after a retryable failure, the same endpoint after a 429, fallbacks only when no endpoint
 * of the model is usable — the fallback's hold raised before its request, and retries logged at
 * Debug with nothing at Info or above on a call's success path.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as Option from "effect/Option"
import * as TestClock from "effect/TestClock"
import * as Admission from "../../src/call/Admission.js"
import * as Attempts from "../../src/call/Attempts.js"
import * as CallTelemetry from "../../src/call/CallTelemetry.js"
import * as Metering from "../../src/call/Metering.js"
import * as Plan from "../../src/call/Plan.js"
import { CallProgress } from "../../src/call/Progress.js"
import { RateLimitError, RetryableError } from "../../src/domain/Errors.js"
import * as Scrub from "../../src/internal/Scrub.js"
import { makeMockProviders, type MockReply } from "../../src/layers/Test.js"
import * as CircuitBreaker from "../../src/services/CircuitBreaker.js"
import * as Ledger from "../../src/services/Ledger.js"
import * as LLMConfig from "../../src/services/LLMConfig.js"
import * as Pricing from "../../src/services/Pricing.js"
import { Providers } from "../../src/services/Providers.js"
import * as Router from "../../src/services/Router.js"

const endpoints = (...names: ReadonlyArray<string>) => names.map((name) => ({ name, base_url: "http://127.0.0.1:9" }))

const configWith = (
  options: {
    readonly threshold?: number
    readonly own?: ReadonlyArray<string>
    readonly fallbacks?: ReadonlyArray<string>
    /** The backup's provider has no key. */
    readonly keylessBackup?: boolean
  } = {}
) => ({
  default_model: "main",
  providers: {
    google: { api_key: "attempts-key-123", endpoints: endpoints(...(options.own ?? ["g1", "g2", "g3"])) },
    dashscope: options.keylessBackup === true
      ? { endpoints: endpoints("d1") }
      : { api_key: "attempts-key-456", endpoints: endpoints("d1") },
    anthropic: { api_key: "attempts-key-789", endpoints: endpoints("a1") }
  },
  models: {
    main: {
      provider: "google",
      model_id: "gemini-x",
      pricing: { input_per_1m: 1, output_per_1m: 1 },
      fallbacks: options.fallbacks ?? ["backup"]
    },
    backup: { provider: "dashscope", model_id: "qwen-x", pricing: { input_per_1m: 5, output_per_1m: 5 } },
    spare: { provider: "anthropic", model_id: "claude-x", pricing: { input_per_1m: 3, output_per_1m: 3 } }
  },
  resilience: {
    max_retries: 4,
    base_delay_s: 1,
    max_delay_s: 2,
    circuit_breaker: { failure_threshold: options.threshold ?? 5, recovery_timeout_s: 300 }
  },
  ledger: { backend: "memory" }
})

const unavailable = () => new RetryableError({ reason: "server_error", message: "503", status: 503 })

/** Runs one call's attempts over scripted replies; returns how it ended, where each attempt went and when. */
const runExit = (replies: ReadonlyArray<MockReply>, config = configWith()) => {
  const providers = makeMockProviders({ replies })
  const services = Layer.mergeAll(Router.layer, Pricing.layer, Ledger.layerMemory()).pipe(
    Layer.provideMerge(CircuitBreaker.layer),
    Layer.provideMerge(providers.layer),
    Layer.provideMerge(LLMConfig.layerIsolated(config))
  )
  return Effect.gen(function*() {
    const llmConfig = yield* LLMConfig.LLMConfig
    const pricing = yield* Pricing.Pricing
    const router = yield* Router.Router
    const ledger = yield* Ledger.Ledger
    const telemetry = CallTelemetry.make({ recordContent: false })
    const scrub = Scrub.make([])
    const admission = Admission.make({ ledger, resilience: llmConfig.config.resilience, telemetry })
    const metering = Metering.make({
      ledger,
      pricing,
      budget: llmConfig.config.budget,
      telemetry,
      admission,
      scrub
    })
    const attempts = Attempts.make({
      resilience: llmConfig.config.resilience,
      router,
      breakers: yield* CircuitBreaker.CircuitBreaker,
      config: llmConfig,
      providers: yield* Providers,
      metering,
      admission,
      telemetry,
      scrub
    })
    const plan = yield* Plan.make({ config: llmConfig, pricing, router })({ prompt: "hello" })
    const meter = yield* metering.hold(plan, new CallProgress(yield* Clock.currentTimeMillis))
    const at: Array<number> = []
    let endedAt = -1
    const fiber = yield* Effect.fork(
      attempts.run(
        meter,
        (client, target) =>
          Effect.zipRight(
            Effect.map(Clock.currentTimeMillis, (now) => at.push(now)),
            client.generate(target, plan.request)
          )
      ).pipe(Effect.ensuring(Effect.map(Clock.currentTimeMillis, (now) => endedAt = now)))
    )
    // (TestClock wakes each sleep at its own time: `endedAt` is when the call ended, not a minute later)
    yield* TestClock.adjust("1 minute")
    const exit = yield* Fiber.await(fiber)
    return {
      exit,
      endpoints: providers.calls.map((call) => call.endpoint),
      at,
      endedAt,
      hold: meter.hold,
      events: yield* ledger.events()
    }
  }).pipe(Effect.provide(services))
}

/** `runExit` of a call that succeeds, with the route that answered. */
const run = (replies: ReadonlyArray<MockReply>, config = configWith()) =>
  Effect.flatMap(
    runExit(replies, config),
    ({ exit, ...result }) => Effect.map(exit, ([, route]) => ({ ...result, route }))
  )

describe("Attempts: failover on retry (API.md §14)", () => {
  it.effect("after a retryable failure the next attempt goes to the next endpoint, not the same one again", () =>
    Effect.gen(function*() {
      const result = yield* run([unavailable(), unavailable(), "ok"])
      assert.deepStrictEqual(result.endpoints, ["g1", "g2", "g3"])
      assert.strictEqual(result.route.endpoint.name, "g3")
    }))

  it.effect("the order wraps around: a fourth attempt goes back to the first endpoint", () =>
    Effect.gen(function*() {
      const result = yield* run([unavailable(), unavailable(), unavailable(), "ok"])
      assert.deepStrictEqual(result.endpoints, ["g1", "g2", "g3", "g1"])
    }))

  it.effect("a one-endpoint model retries the same endpoint after the backoff", () =>
    Effect.gen(function*() {
      const result = yield* run([unavailable(), "ok"], configWith({ own: ["only"] }))
      assert.deepStrictEqual(result.endpoints, ["only", "only"])
      assert.isAtLeast(result.at[1]! - result.at[0]!, 800, "the backoff was slept (1 s, jittered)")
    }))

  it.effect("after a 429 the next attempt stays on the same endpoint and waits the server's Retry-After", () =>
    Effect.gen(function*() {
      const limited = new RateLimitError({
        reason: "rate_limited",
        message: "429",
        status: 429,
        retryAfter: Duration.seconds(7)
      })
      const result = yield* run([limited, "ok"])
      assert.deepStrictEqual(result.endpoints, ["g1", "g1"])
      assert.strictEqual(result.at[1]! - result.at[0]!, 7_000)
    }))

  it.effect("the fallbacks are used only when no endpoint of the model is usable, the hold raised first", () =>
    Effect.gen(function*() {
      const result = yield* run([unavailable(), unavailable(), unavailable(), "ok"], configWith({ threshold: 1 }))
      assert.deepStrictEqual(result.endpoints, ["g1", "g2", "g3", "d1"])
      assert.strictEqual(result.route.model.alias, "backup")
      assert.strictEqual(result.hold.alias, "backup", "the hold moved to the fallback")
      const [hold] = result.events.filter((event) => event.type === "hold")
      assert.isAbove(hold!.cost, 0)
      assert.strictEqual(hold!.alias, "backup", "the ledger shows the raised hold")
    }))
})

describe("Attempts: a server's Retry-After on a retryable failure", () => {
  const overloaded = () =>
    new RetryableError({ reason: "server_error", message: "503", status: 503, retryAfter: Duration.seconds(30) })

  it.effect("a one-endpoint model whose breaker stays closed waits the hint before going back", () =>
    Effect.gen(function*() {
      const result = yield* run([overloaded(), "ok"], configWith({ own: ["only"] }))
      assert.deepStrictEqual(result.endpoints, ["only", "only"])
      assert.strictEqual(result.at[1]! - result.at[0]!, 30_000)
    }))

  it.effect("when the failure opened its only endpoint's breaker, the retry fails over to the fallback after the backoff, not the hint", () =>
    Effect.gen(function*() {
      const result = yield* run([overloaded(), "ok"], configWith({ own: ["only"], threshold: 1 }))
      assert.deepStrictEqual(result.endpoints, ["only", "d1"])
      assert.isBelow(result.at[1]! - result.at[0]!, 2_000, "the 1 s backoff (jittered), not the 30 s hint")
    }))
})

describe("Attempts: a fallback whose provider's key is not set", () => {
  it.effect("is left out and the next fallback serves the call", () =>
    Effect.gen(function*() {
      const result = yield* run(
        [unavailable(), "ok"],
        configWith({ own: ["only"], threshold: 1, fallbacks: ["backup", "spare"], keylessBackup: true })
      )
      assert.deepStrictEqual(result.endpoints, ["only", "a1"])
      assert.strictEqual(result.route.model.alias, "spare")
      assert.strictEqual(result.hold.alias, "spare")
    }))

  it.effect("when it was the only way left, the call ends with the error that led to it, not a ConfigError", () =>
    Effect.gen(function*() {
      const result = yield* runExit(
        [unavailable(), "ok"],
        configWith({ own: ["only"], threshold: 1, fallbacks: ["backup"], keylessBackup: true })
      )
      assert.deepStrictEqual(result.endpoints, ["only"])
      const error = Exit.isFailure(result.exit) ? Cause.failureOption(result.exit.cause) : Option.none()
      assert.strictEqual(Option.getOrThrow(error)._tag, "RetryableError", "the 503, not the fallback's ConfigError")
      assert.strictEqual(result.hold.alias, "main", "the hold was not raised to the keyless fallback's price")
    }))
})

describe("Attempts: every breaker open", () => {
  it.effect("a call whose own failure opened the last breaker it could use ends at once with that error, not after another backoff", () =>
    Effect.gen(function*() {
      const result = yield* runExit(
        [unavailable(), unavailable(), "ok"],
        configWith({ threshold: 2, own: ["only"], fallbacks: [] })
      )
      assert.deepStrictEqual(result.endpoints, ["only", "only"], "no request after the breaker opened")
      assert.isTrue(Exit.isFailure(result.exit))
      const error = Exit.isFailure(result.exit) ? Cause.failureOption(result.exit.cause) : Option.none()
      assert.strictEqual(Option.getOrThrow(error)._tag, "RetryableError", "the 503 it got, not CircuitOpenError")
      // ended when the second attempt failed: no second backoff (2 s) slept before failing
      assert.strictEqual(result.endedAt, result.at[1])
    }))

  it.effect("a retry still waits when a breaker reopens for its probe before the backoff ends", () =>
    Effect.gen(function*() {
      // recovery 1 s, backoff 2 s (jittered 1.6-2.4 s): the breaker is due its probe when the sleep ends
      const config = configWith({ threshold: 1, own: ["only"], fallbacks: [] })
      const result = yield* runExit([unavailable(), unavailable(), "ok"], {
        ...config,
        resilience: {
          ...config.resilience,
          base_delay_s: 2,
          max_delay_s: 4,
          circuit_breaker: { failure_threshold: 1, recovery_timeout_s: 1 }
        }
      })
      assert.deepStrictEqual(result.endpoints, ["only", "only", "only"], "each retry is the breaker's probe")
      assert.isTrue(Exit.isSuccess(result.exit))
    }))
})

describe("Attempts: logs", () => {
  it.effect("retries log at Debug; a call's success path logs nothing at Info or above", () =>
    Effect.gen(function*() {
      const records: Array<{ readonly level: string; readonly message: string }> = []
      const logger = Logger.make(({ logLevel, message }) => {
        records.push({ level: logLevel.label, message: String(Array.isArray(message) ? message.join(" ") : message) })
      })
      yield* run([unavailable(), "ok"]).pipe(
        Effect.provide(Layer.merge(Logger.replace(Logger.defaultLogger, logger), Logger.minimumLogLevel(LogLevel.All)))
      )
      const retries = records.filter((record) => record.message.startsWith("retrying"))
      assert.strictEqual(retries.length, 1)
      assert.strictEqual(retries[0]!.level, "DEBUG")
      assert.deepStrictEqual(records.filter((record) => !["DEBUG", "TRACE"].includes(record.level)), [])
    }))
})

describe("Attempts: timeout messages", () => {
  it("a timeout the retry budget cut short is named in whole milliseconds", () => {
    const route = { model: { provider: "google" }, endpoint: { name: "g1" } } as unknown as Router.Route
    assert.strictEqual(
      Attempts.attemptTimeout(route, Duration.nanos(4_076_526_941n)).message,
      `google (endpoint "g1") sent no response within 4s 77ms`
    )
  })
})
