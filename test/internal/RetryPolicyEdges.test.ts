/**
 * The retry decision at its edges (API.md §7, README "Resilience"): jitter, a Retry-After wait at
 * exactly `max_wait_timeout_s`, 429s counting as retries, a 503's hint past the wait cap or shorter
 * than the backoff, and the retry budget's end. (Cases found by mutation testing.)
 */
import { assert, describe, it } from "@effect/vitest"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Random from "effect/Random"
import { defaults, type ResilienceConfig } from "../../src/domain/Config.js"
import { type LLMError, RateLimitError, RetryableError } from "../../src/domain/Errors.js"
import * as RetryPolicy from "../../src/internal/RetryPolicy.js"

const config: ResilienceConfig = { ...defaults.resilience, maxRetries: 3, baseDelayS: 1, maxDelayS: 60 }
const decideAll = (cfg: ResilienceConfig, errors: ReadonlyArray<LLMError>) =>
  Effect.gen(function*() {
    const policy = RetryPolicy.schedule(cfg)
    let state = RetryPolicy.initial(policy, 0)
    const out: Array<number | "fail"> = []
    for (const error of errors) {
      const [d, next] = yield* RetryPolicy.decide(cfg, policy, state, error, 0)
      out.push(d._tag === "retry" ? Duration.toMillis(d.delay) : "fail")
      state = next
      if (d._tag === "fail") break
    }
    return out
  })
const limited = (ms: number) =>
  new RateLimitError({ reason: "rate_limited", message: "429", status: 429, retryAfter: Duration.millis(ms) })
const unavailable = (ms?: number) =>
  new RetryableError({
    reason: "server_error",
    message: "503",
    status: 503,
    ...(ms === undefined ? {} : { retryAfter: Duration.millis(ms) })
  })

describe("the retry decision at its edges", () => {
  it.effect("the backoff is jittered: the lowest draw waits 0.8 of the base delay", () =>
    Effect.gen(function*() {
      const out = yield* decideAll(config, [unavailable()]).pipe(Effect.withRandom(Random.fixed([0])))
      assert.deepStrictEqual(out, [800])
    }))
  it.effect("a 429 whose Retry-After equals max_wait_timeout_s is waited", () =>
    Effect.gen(function*() {
      const out = yield* decideAll({ ...config, maxWaitTimeoutS: 60, retryBudgetS: 300 }, [limited(60_000)])
      assert.deepStrictEqual(out, [60_000])
    }))
  it.effect("429s with Retry-After count as retries: with max_retries 1 the second fails", () =>
    Effect.gen(function*() {
      const out = yield* decideAll({ ...config, maxRetries: 1 }, [limited(1000), limited(1000)])
      assert.deepStrictEqual(out, [1000, "fail"])
    }))
  it.effect("a 503 hint over max_wait_timeout_s is not slept: the backoff is", () =>
    Effect.gen(function*() {
      const out = yield* decideAll({ ...config, maxWaitTimeoutS: 60, retryBudgetS: 1000 }, [unavailable(100_000)])
      assert.isTrue(typeof out[0] === "number" && out[0] <= 1200, String(out))
    }))
  it.effect("a 503 hint shorter than the backoff does not shorten it", () =>
    Effect.gen(function*() {
      const out = yield* decideAll({ ...config, baseDelayS: 10 }, [unavailable(100)])
      assert.isTrue(typeof out[0] === "number" && out[0] >= 8000, String(out))
    }))
  it("no time is left at the retry budget's end", () => {
    const policy = RetryPolicy.schedule(config)
    assert.strictEqual(
      RetryPolicy.remainingBudgetMs(config, RetryPolicy.initial(policy, 0), config.retryBudgetS * 1000),
      0
    )
  })
})
