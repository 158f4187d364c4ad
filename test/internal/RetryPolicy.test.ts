import { assert, describe, it } from "@effect/vitest"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Random from "effect/Random"
import { defaults, type ResilienceConfig } from "../../src/domain/Config.js"
import { FatalError, type LLMError, RateLimitError, RetryableError } from "../../src/domain/Errors.js"
import * as RetryPolicy from "../../src/internal/RetryPolicy.js"

const config: ResilienceConfig = { ...defaults.resilience, maxRetries: 3, baseDelayS: 1, maxDelayS: 60 }
const unavailable = new RetryableError({ reason: "server_error", message: "503", status: 503 })

/** Runs the policy over a sequence of failures at `now` = 0, returning each decision's delay (ms) or "fail". */
const delays = (cfg: ResilienceConfig, errors: ReadonlyArray<LLMError>, nowAt: (i: number) => number = () => 0) =>
  Effect.gen(function*() {
    const policy = RetryPolicy.schedule(cfg)
    let state = RetryPolicy.initial(policy, 0)
    const out: Array<number | "fail"> = []
    for (const [i, error] of errors.entries()) {
      const [decision, next] = yield* RetryPolicy.decide(cfg, policy, state, error, nowAt(i))
      out.push(decision._tag === "retry" ? Duration.toMillis(decision.delay) : "fail")
      state = next
      if (decision._tag === "fail") break
    }
    return out
  })

describe("RetryPolicy", () => {
  it.effect("delays double from base_delay_s, within the jitter bounds", () =>
    Effect.gen(function*() {
      const out = yield* delays(config, [unavailable, unavailable, unavailable])
      const bounds = [1000, 2000, 4000]
      out.forEach((delay, i) => {
        assert.isTrue(typeof delay === "number" && delay >= bounds[i]! * 0.8 && delay <= bounds[i]! * 1.2, `${delay}`)
      })
    }))

  it.effect("delays are whole milliseconds, so a call's timestamps stay whole under TestClock", () =>
    Effect.gen(function*() {
      const cfg = { ...config, maxRetries: 20, baseDelayS: 0.0013, maxDelayS: 0.5, retryBudgetS: 10_000 }
      const out = yield* delays(cfg, Array.from({ length: 20 }, () => unavailable))
      assert.strictEqual(out.length, 20)
      for (const delay of out) assert.isTrue(Number.isInteger(delay) && (delay as number) <= 500, `${delay}`)
    }))

  it.effect("jitter is pinned by Random.fixed", () =>
    Effect.gen(function*() {
      const a = yield* delays(config, [unavailable, unavailable]).pipe(Effect.withRandom(Random.fixed([0.5])))
      const b = yield* delays(config, [unavailable, unavailable]).pipe(Effect.withRandom(Random.fixed([0.5])))
      assert.deepStrictEqual(a, b)
    }))

  it.effect("no delay ever exceeds max_delay_s", () =>
    Effect.gen(function*() {
      const cfg = { ...config, maxRetries: 20, baseDelayS: 1, maxDelayS: 5, retryBudgetS: 10_000 }
      const out = yield* delays(cfg, Array.from({ length: 20 }, () => unavailable))
      assert.strictEqual(out.length, 20)
      for (const delay of out) assert.isTrue(typeof delay === "number" && delay <= 5000)
    }))

  it.effect("max_retries: 3 allows exactly 3 retries", () =>
    Effect.gen(function*() {
      const out = yield* delays(config, Array.from({ length: 5 }, () => unavailable))
      assert.deepStrictEqual(out.map((d) => d === "fail" ? "fail" : "retry"), ["retry", "retry", "retry", "fail"])
    }))

  it.effect("a wait past retry_budget_s is refused", () =>
    Effect.gen(function*() {
      const cfg = { ...config, maxRetries: 10, retryBudgetS: 5 }
      // The call has already spent 4.5 s: a ≥0.8 s delay does not fit.
      const out = yield* delays(cfg, [unavailable], () => 4500)
      assert.deepStrictEqual(out, ["fail"])
    }))

  it.effect("a wait ending exactly at retry_budget_s is refused: the attempt after it would have no time", () =>
    Effect.gen(function*() {
      const cfg = { ...config, maxRetries: 10, retryBudgetS: 10 }
      const limited = new RateLimitError({ reason: "rate_limited", message: "429", retryAfter: Duration.seconds(3) })
      // spent 7 s: a 3 s wait would leave a 0 ms attempt; spent 6.999 s, it leaves 1 ms
      assert.deepStrictEqual(yield* delays(cfg, [limited], () => 7000), ["fail"])
      assert.deepStrictEqual(yield* delays(cfg, [limited], () => 6999), [3000])
    }))

  it.effect("fatal errors and exhausted quotas are never retried", () =>
    Effect.gen(function*() {
      const fatal = new FatalError({ reason: "not_found", message: "404" })
      const quota = new RateLimitError({ reason: "quota_exhausted", message: "per day" })
      assert.deepStrictEqual(yield* delays(config, [fatal]), ["fail"])
      assert.deepStrictEqual(yield* delays(config, [quota]), ["fail"])
    }))

  it.effect("a rate limit waits the server's retryAfter instead of the schedule's delay", () =>
    Effect.gen(function*() {
      const limited = new RateLimitError({ reason: "rate_limited", message: "429", retryAfter: Duration.seconds(7) })
      assert.deepStrictEqual(yield* delays(config, [limited]), [7000])
    }))

  it.effect("a wait over max_wait_timeout_s fails at once with retryAfter kept", () =>
    Effect.gen(function*() {
      const limited = new RateLimitError({ reason: "rate_limited", message: "429", retryAfter: Duration.seconds(34.4) })
      const policy = RetryPolicy.schedule({ ...config, maxWaitTimeoutS: 30 })
      const [decision] = yield* RetryPolicy.decide(
        { ...config, maxWaitTimeoutS: 30 },
        policy,
        RetryPolicy.initial(policy, 0),
        limited,
        0
      )
      assert.strictEqual(decision._tag, "fail")
      if (decision._tag === "fail" && decision.error._tag === "RateLimitError") {
        assert.strictEqual(Duration.toMillis(decision.error.retryAfter!), 34_400)
        // the message says why the wait was not slept, beside the server's words
        assert.strictEqual(
          decision.error.message,
          "429 (not waited: longer than resilience.max_wait_timeout_s (30s); retryAfter 34s 400ms)"
        )
      } else assert.fail("expected a RateLimitError")
    }))

  it.effect("wait_on_rate_limit: false returns the error at once; without a server hint retryAfter stays undefined (WIRE: DashScope's 429s)", () =>
    Effect.gen(function*() {
      const cfg = { ...config, waitOnRateLimit: false }
      const policy = RetryPolicy.schedule(cfg)
      const limited = new RateLimitError({ reason: "rate_limited", message: "429" })
      const [decision] = yield* RetryPolicy.decide(cfg, policy, RetryPolicy.initial(policy, 0), limited, 0)
      assert.strictEqual(decision._tag, "fail")
      if (decision._tag === "fail" && decision.error._tag === "RateLimitError") {
        assert.isUndefined(decision.error.retryAfter)
        assert.match(
          decision.error.message,
          /^429 \(not waited: resilience\.wait_on_rate_limit is off; next backoff delay \d/
        )
      } else assert.fail("expected a RateLimitError")
    }))
})
