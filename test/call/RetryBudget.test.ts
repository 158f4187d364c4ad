/**
 * `retry_budget_s` bounds a call's attempts and the waits between them (API.md §7): it counts from the
 * first attempt, not from the call's start (a ledger that waits for a lock is neither), and an attempt
 * the budget leaves no time for is not sent (it could only time out, after the provider billed it).
 */
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as TestClock from "effect/TestClock"
import { CircuitBreaker, generate, Ledger } from "../../src/index.js"
import { layerMemoryLedger, makeMockProviders, makeTestLayer, RetryableError, testConfig } from "../../src/testing.js"

/** The in-memory ledger, with `hold` and `renew` taking the given time (a busy database, a held lock). */
/** A memory ledger whose holds take `holdS`, and whose rate-limit admissions the seconds `admitS` lists, in turn. */
const slowLedger = (slow: { readonly holdS?: number; readonly admitS?: ReadonlyArray<number> }) =>
  Layer.effect(
    Ledger,
    Effect.map(Ledger, (ledger) => {
      let admissions = 0
      return {
        ...ledger,
        hold: (request: Parameters<typeof ledger.hold>[0]) =>
          Effect.zipRight(Effect.sleep(`${slow.holdS ?? 0} seconds`), ledger.hold(request)),
        admit: (...args: Parameters<NonNullable<typeof ledger.admit>>) =>
          Effect.zipRight(
            Effect.sleep(`${slow.admitS?.[admissions++] ?? 0} seconds`),
            ledger.admit!(...args)
          )
      }
    })
  ).pipe(Layer.provide(layerMemoryLedger()))

const config = (resilience: Record<string, unknown>, budget: Record<string, unknown> = {}) => ({
  ...testConfig,
  resilience: { ...testConfig.resilience, ...resilience },
  budget: { daily_spend_limit: 1, ...budget }
})

describe("retry_budget_s", () => {
  it.effect("a retry budget shorter than request_timeout_s: an attempt timed out at the whole budget is the endpoint's failure, and a hung endpoint's breaker opens", () =>
    Effect.gen(function*() {
      const providers = makeMockProviders({ otherwise: () => Effect.never })
      const layer = makeTestLayer({
        config: config({
          retry_budget_s: 30,
          request_timeout_s: 60,
          max_retries: 0,
          circuit_breaker: { failure_threshold: 3, recovery_timeout_s: 300 }
        }),
        providers
      })
      const outcomes = yield* Effect.gen(function*() {
        const results: Array<string> = []
        for (let i = 0; i < 4; i++) {
          const fiber = yield* Effect.fork(Effect.flip(generate({ prompt: `call ${i}` })))
          yield* TestClock.adjust("30 seconds")
          const error = yield* Fiber.join(fiber)
          results.push(`${error._tag}${"reason" in error ? `/${String(error.reason)}` : ""}`)
        }
        return results
      }).pipe(Effect.provide(layer))
      assert.deepStrictEqual(outcomes, [
        "RetryableError/timeout",
        "RetryableError/timeout",
        "RetryableError/timeout",
        "CircuitOpenError/all_endpoints_open"
      ])
      // the open breaker sent nothing more
      assert.lengthOf(providers.calls, 3)
    }))

  it.effect("the same when the first attempt's admission took time (a rate-limit slot from a ledger that answers slowly): it had the whole budget but for that", () =>
    Effect.gen(function*() {
      const providers = makeMockProviders({ otherwise: () => Effect.never })
      const slowAdmit = Layer.effect(
        Ledger,
        Effect.map(Ledger, (ledger) => ({
          ...ledger,
          admit: (request: Parameters<typeof ledger.admit>[0]) =>
            Effect.zipRight(Effect.sleep("2 millis"), ledger.admit(request))
        }))
      ).pipe(Layer.provide(layerMemoryLedger()))
      const base = config({
        retry_budget_s: 30,
        request_timeout_s: 60,
        max_retries: 0,
        circuit_breaker: { failure_threshold: 2, recovery_timeout_s: 300 }
      })
      const limited = {
        ...base,
        models: Object.fromEntries(
          Object.entries(base.models).map(([alias, model]) => [alias, { ...model, limits: { rpm: 100 } }])
        )
      }
      const layer = makeTestLayer({ config: limited, providers, ledger: slowAdmit })
      const outcomes = yield* Effect.gen(function*() {
        const results: Array<string> = []
        for (let i = 0; i < 3; i++) {
          const fiber = yield* Effect.fork(Effect.flip(generate({ prompt: `call ${i}` })))
          yield* TestClock.adjust("31 seconds")
          results.push((yield* Fiber.join(fiber))._tag)
        }
        return results
      }).pipe(Effect.provide(layer))
      assert.deepStrictEqual(outcomes, ["RetryableError", "RetryableError", "CircuitOpenError"])
      assert.lengthOf(providers.calls, 2)
    }))

  it.effect("a first attempt routed to a fallback after a rate-limit wait had only what the wait left: its timeout is the call's deadline, not the fallback's failure", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(Date.UTC(2026, 0, 5))
      const base = config({
        retry_budget_s: 90,
        request_timeout_s: 180,
        max_wait_timeout_s: 90,
        max_retries: 0,
        circuit_breaker: { failure_threshold: 1, recovery_timeout_s: 300 }
      })
      const limited = {
        ...base,
        default_model: "flash",
        models: {
          flash: { provider: "google", model_id: "gemini-x", fallbacks: ["qwen"], limits: { rpm: 1 } },
          pro: { provider: "google", model_id: "gemini-pro" },
          qwen: { provider: "dashscope", model_id: "qwen-x" }
        }
      }
      const providers = makeMockProviders({
        otherwise: (call) =>
          call.modelId === "gemini-pro"
            ? Effect.fail(new RetryableError({ reason: "server_error", message: "503", status: 503 }))
            : call.modelId === "qwen-x"
            ? Effect.never // the fallback's endpoint hangs
            : Effect.succeed("ok")
      })
      const layer = makeTestLayer({ config: limited, providers })
      const fallback = yield* Effect.gen(function*() {
        yield* generate({ prompt: "first", model: "flash" })
        const waiting = yield* Effect.fork(Effect.flip(generate({ prompt: "second", model: "flash" })))
        while ((yield* TestClock.sleeps()).length === 0) yield* Effect.yieldNow()
        yield* TestClock.adjust("50 seconds") // the wait took 50 s of the 90 s budget
        yield* Effect.flip(generate({ prompt: "opens g1", model: "pro" })) // the waiter goes to qwen
        yield* TestClock.adjust("40 seconds")
        const error = yield* Fiber.join(waiting)
        assert.strictEqual(error._tag, "RetryableError")
        return (yield* (yield* CircuitBreaker).states()).find((breaker) => breaker.endpoint === "mock-dashscope")
      }).pipe(Effect.provide(layer))
      assert.deepStrictEqual([fallback?.state, fallback?.failures], ["closed", 0])
    }))

  it.effect("counts from the first attempt: a hold that waited past it still sends the call", () =>
    Effect.gen(function*() {
      // the endpoint answers in half a second
      const providers = makeMockProviders({ replies: [() => Effect.as(Effect.sleep("500 millis"), "answered")] })
      const layer = makeTestLayer({
        config: config({ retry_budget_s: 1, request_timeout_s: 5 }),
        providers,
        ledger: slowLedger({ holdS: 3 })
      })
      const fiber = yield* Effect.fork(generate({ prompt: "hi" }).pipe(Effect.provide(layer)))
      yield* TestClock.adjust("3 seconds")
      yield* TestClock.adjust("1 second")
      assert.strictEqual(yield* Fiber.join(fiber), "answered")
      assert.lengthOf(providers.calls, 1)
    }))

  it.effect("an attempt the budget leaves no time for is not sent; the call fails with the last endpoint's error", () =>
    Effect.gen(function*() {
      const providers = makeMockProviders({
        replies: [new RetryableError({ reason: "server_error", message: "503 from the endpoint", status: 503 }), "late"]
      })
      // the retry waits 1.2-1.8 s, then its rate-limit slot (a slow ledger) takes the rest of the budget
      const base = config({ retry_budget_s: 4, base_delay_s: 1.5, max_delay_s: 2, max_retries: 3 })
      const layer = makeTestLayer({
        config: {
          ...base,
          models: { ...base.models, "test-model": { ...base.models["test-model"], limits: { rpm: 100 } } }
        },
        providers,
        ledger: slowLedger({ admitS: [0, 5] })
      })
      const fiber = yield* Effect.fork(
        Effect.flip(generate({ prompt: "hi", traceId: "spent-1" })).pipe(
          Effect.zip(Effect.flatMap(Ledger, (ledger) => ledger.events({ traceId: "spent-1" }))),
          Effect.provide(layer)
        )
      )
      yield* TestClock.adjust("10 seconds")
      const [error, events] = yield* Fiber.join(fiber)
      assert.lengthOf(providers.calls, 1)
      assert.strictEqual(error._tag, "RetryableError")
      assert.include(error.message, "503 from the endpoint")
      const cancel = events.find((event) => event.type === "cancel")
      assert.strictEqual(cancel?.attempts, 1)
    }))

  it.effect("a first attempt with no time left names the budget, not the endpoint, and sends nothing", () =>
    Effect.gen(function*() {
      // the second call waits 60 s for its rate-limit slot, and the ledger's admission after the wait
      // takes the rest of the budget
      const providers = makeMockProviders({ replies: ["first", "never"] })
      const base = config({ retry_budget_s: 100, max_wait_timeout_s: 90 })
      const layer = makeTestLayer({
        config: {
          ...base,
          models: { ...base.models, "test-model": { ...base.models["test-model"], limits: { rpm: 1 } } }
        },
        providers,
        ledger: slowLedger({ admitS: [0, 0, 50] })
      })
      const fiber = yield* Effect.fork(
        Effect.zipRight(generate({ prompt: "one" }), Effect.flip(generate({ prompt: "two" }))).pipe(
          Effect.provide(layer)
        )
      )
      yield* TestClock.adjust("200 seconds")
      const error = yield* Fiber.join(fiber)
      assert.lengthOf(providers.calls, 1)
      assert.strictEqual(error._tag, "RetryableError")
      assert.match(
        error.message,
        /retry_budget_s \(1m 40s\) was spent before the attempt could be sent; no request was made/
      )
    }))
})
