import { assert, describe, it } from "@effect/vitest"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Logger from "effect/Logger"
import * as Scope from "effect/Scope"
import * as TestClock from "effect/TestClock"
import { BudgetExceededError, FatalError, RateLimitError, RetryableError } from "../../src/domain/Errors.js"
import * as CircuitBreaker from "../../src/services/CircuitBreaker.js"
import * as LLMConfig from "../../src/services/LLMConfig.js"

const make = CircuitBreaker.make({ failureThreshold: 3, recoveryTimeoutS: 10 })

type Breakers = CircuitBreaker.CircuitBreaker.Service

const stateOf = (breakers: Breakers, endpoint: string) =>
  Effect.map(breakers.states(), (all) => all.find((b) => b.endpoint === endpoint))

/** Admits an attempt and runs `attempt` under the breaker's guard (its result ignored). */
const run = <E>(breakers: Breakers, endpoint: string, attempt: Effect.Effect<void, E>) =>
  Effect.flatMap(breakers.admit(endpoint), (admission) => Effect.exit(breakers.guard(endpoint, admission, attempt)))

const unavailable = new RetryableError({ reason: "server_error", message: "503", status: 503, endpoint: "a" })
const badRequest = new FatalError({ reason: "invalid_request", message: "400", status: 400, endpoint: "a" })
const tooMany = new RateLimitError({ reason: "rate_limited", message: "429", status: 429, endpoint: "a" })

const fail = (breakers: Breakers, endpoint: string) => run(breakers, endpoint, Effect.fail(unavailable))
const neutral = (breakers: Breakers, endpoint: string) => run(breakers, endpoint, Effect.fail(badRequest))
const succeed = (breakers: Breakers, endpoint: string) => run(breakers, endpoint, Effect.void)

describe("CircuitBreaker", () => {
  it.effect("opens after failure_threshold consecutive counted failures", () =>
    Effect.gen(function*() {
      const breakers = yield* make
      yield* fail(breakers, "a")
      yield* fail(breakers, "a")
      assert.strictEqual((yield* stateOf(breakers, "a"))?.state, "closed")
      yield* fail(breakers, "a")
      const state = yield* stateOf(breakers, "a")
      assert.strictEqual(state?.state, "open")
      assert.strictEqual(state?.reopensAt, 10_000)
      assert.strictEqual((yield* breakers.admit("a"))._tag, "reject")
    }))

  it.effect("4xx and 429 (neutral outcomes) neither count nor reset", () =>
    Effect.gen(function*() {
      const breakers = yield* make
      yield* fail(breakers, "a")
      yield* fail(breakers, "a")
      for (let i = 0; i < 5; i++) {
        yield* neutral(breakers, "a")
        yield* run(breakers, "a", Effect.fail(tooMany))
      }
      assert.strictEqual((yield* stateOf(breakers, "a"))?.state, "closed")
      assert.strictEqual((yield* stateOf(breakers, "a"))?.failures, 2)
    }))

  it.effect("a success resets the count", () =>
    Effect.gen(function*() {
      const breakers = yield* make
      yield* fail(breakers, "a")
      yield* fail(breakers, "a")
      yield* succeed(breakers, "a")
      yield* fail(breakers, "a")
      yield* fail(breakers, "a")
      assert.strictEqual((yield* stateOf(breakers, "a"))?.state, "closed")
    }))

  it.effect("after recovery_timeout_s exactly one probe goes through; concurrent attempts are rejected", () =>
    Effect.gen(function*() {
      const breakers = yield* make
      for (let i = 0; i < 3; i++) yield* fail(breakers, "a")
      yield* TestClock.adjust("9999 millis")
      assert.strictEqual((yield* breakers.admit("a"))._tag, "reject")
      yield* TestClock.adjust("1 millis")
      const admissions = yield* Effect.all(Array.from({ length: 10 }, () => breakers.admit("a")), {
        concurrency: "unbounded"
      })
      assert.strictEqual(admissions.filter((a) => a._tag === "probe").length, 1)
      assert.strictEqual(admissions.filter((a) => a._tag === "reject").length, 9)
      assert.strictEqual((yield* stateOf(breakers, "a"))?.state, "half_open")
    }))

  it.effect("the probe's success closes the breaker", () =>
    Effect.gen(function*() {
      const breakers = yield* make
      for (let i = 0; i < 3; i++) yield* fail(breakers, "a")
      yield* TestClock.adjust("10 seconds")
      yield* succeed(breakers, "a")
      assert.strictEqual((yield* stateOf(breakers, "a"))?.state, "closed")
      assert.strictEqual((yield* breakers.admit("a"))._tag, "pass")
    }))

  it.effect("a streamed probe closes the breaker at its first delta, not when its stream ends; a cut afterwards counts once against the closed breaker", () =>
    Effect.gen(function*() {
      const breakers = yield* make
      for (let i = 0; i < 3; i++) yield* fail(breakers, "a")
      yield* TestClock.adjust("10 seconds")
      const probe = yield* breakers.admit("a")
      assert.strictEqual(probe._tag, "probe")
      // the stream's scope stays open while its deltas arrive
      const stream = yield* Scope.make()
      yield* breakers.guard("a", probe, Effect.void, stream)
      assert.strictEqual((yield* stateOf(breakers, "a"))?.state, "closed")
      assert.strictEqual((yield* breakers.admit("a"))._tag, "pass", "other attempts go to the serving endpoint")
      yield* Scope.close(stream, Exit.fail(unavailable))
      const state = yield* stateOf(breakers, "a")
      assert.strictEqual(state?.state, "closed")
      assert.strictEqual(state?.failures, 1)
    }))

  it.effect("the probe's failure reopens for another recovery_timeout_s", () =>
    Effect.gen(function*() {
      const breakers = yield* make
      for (let i = 0; i < 3; i++) yield* fail(breakers, "a")
      yield* TestClock.adjust("10 seconds")
      yield* fail(breakers, "a")
      const state = yield* stateOf(breakers, "a")
      assert.strictEqual(state?.state, "open")
      assert.strictEqual(state?.reopensAt, 20_000)
      yield* TestClock.adjust("9 seconds")
      assert.strictEqual((yield* breakers.admit("a"))._tag, "reject")
      yield* TestClock.adjust("1 seconds")
      assert.strictEqual((yield* breakers.admit("a"))._tag, "probe")
    }))

  it.effect("a probe that never reached the endpoint (budget refusal, defect) gives its slot back", () =>
    Effect.gen(function*() {
      const breakers = yield* make
      for (let i = 0; i < 3; i++) yield* fail(breakers, "a")
      yield* TestClock.adjust("10 seconds")
      const refusal = new BudgetExceededError({
        reason: "daily_limit",
        message: "over",
        scope: "global",
        window: "daily",
        spent: 1,
        limit: 1,
        estimate: 1
      })
      yield* run(breakers, "a", Effect.fail(refusal))
      assert.strictEqual((yield* stateOf(breakers, "a"))?.state, "half_open", "a refusal does not close it")
      yield* run(breakers, "a", Effect.die("bug"))
      assert.strictEqual((yield* breakers.admit("a"))._tag, "probe")
    }))

  it.effect("a probe given back logs no transition: the breaker still reads half_open, and the next probe's admission logs none either (it was half_open all along)", () =>
    Effect.gen(function*() {
      const logged: Array<string> = []
      const collect = Logger.make(({ message }) => {
        logged.push(String(Array.isArray(message) ? message.join(" ") : message))
      })
      yield* Effect.gen(function*() {
        const breakers = yield* make
        for (let i = 0; i < 3; i++) yield* fail(breakers, "a")
        yield* TestClock.adjust("10 seconds")
        yield* run(breakers, "a", Effect.die("bug"))
        assert.strictEqual((yield* stateOf(breakers, "a"))?.state, "half_open")
        yield* succeed(breakers, "a")
      }).pipe(Effect.provide(Logger.replace(Logger.defaultLogger, collect)))
      assert.deepStrictEqual(logged, [
        "circuit breaker a: closed -> open",
        "circuit breaker a: open -> half_open",
        "circuit breaker a: half_open -> closed"
      ])
    }))

  it.effect("an interrupted probe gives its slot back: the guard records even an interruption", () =>
    Effect.gen(function*() {
      const breakers = yield* make
      for (let i = 0; i < 3; i++) yield* fail(breakers, "a")
      yield* TestClock.adjust("10 seconds")
      const started = yield* Deferred.make<void>()
      const fiber = yield* Effect.fork(
        run(breakers, "a", Effect.zipRight(Deferred.succeed(started, undefined), Effect.never))
      )
      yield* Deferred.await(started)
      assert.strictEqual((yield* breakers.admit("a"))._tag, "reject", "the probe is in flight")
      yield* Fiber.interrupt(fiber)
      assert.strictEqual((yield* breakers.admit("a"))._tag, "probe")
    }))

  it.effect("a probe answered with a 4xx or an undecodable 200 closes it: the endpoint is reachable", () =>
    Effect.gen(function*() {
      const breakers = yield* make
      for (let i = 0; i < 3; i++) yield* fail(breakers, "a")
      yield* TestClock.adjust("10 seconds")
      const undecodable = new FatalError({ reason: "bad_response", message: "not JSON", status: 200, endpoint: "a" })
      yield* run(breakers, "a", Effect.fail(undecodable))
      assert.strictEqual((yield* stateOf(breakers, "a"))?.state, "closed")
    }))

  it.effect("outcomeOf: success, a RetryableError counts, an answered error is neutral, the rest abandoned", () =>
    Effect.gen(function*() {
      const outcome = (effect: Effect.Effect<void, unknown>) =>
        Effect.map(Effect.exit(effect), CircuitBreaker.outcomeOf)
      assert.strictEqual(yield* outcome(Effect.void), "success")
      assert.strictEqual(yield* outcome(Effect.fail(unavailable)), "failure")
      assert.strictEqual(yield* outcome(Effect.fail(badRequest)), "neutral")
      assert.strictEqual(yield* outcome(Effect.fail(tooMany)), "neutral")
      assert.strictEqual(
        yield* outcome(Effect.fail(new FatalError({ reason: "ledger_unavailable", message: "x" }))),
        "abandoned"
      )
      assert.strictEqual(yield* outcome(Effect.interrupt), "abandoned")
      assert.strictEqual(yield* outcome(Effect.die("bug")), "abandoned")
    }))

  it.effect("a straggler (admitted while closed, answering after the breaker opened) neither closes nor reopens it", () =>
    Effect.gen(function*() {
      const breakers = yield* make
      // Two slow attempts admitted while closed; the breaker opens while they run.
      const slowSuccess = yield* breakers.admit("a")
      const slowFailure = yield* breakers.admit("a")
      for (let i = 0; i < 3; i++) yield* fail(breakers, "a")
      yield* Effect.exit(breakers.guard("a", slowSuccess, Effect.void))
      let state = yield* stateOf(breakers, "a")
      assert.strictEqual(state?.state, "open", "a late success does not cut recovery_timeout_s short")
      assert.strictEqual(state?.reopensAt, 10_000)
      yield* TestClock.adjust("10 seconds")
      const probe = yield* breakers.admit("a")
      assert.strictEqual(probe._tag, "probe")
      // The other straggler fails while the probe is in flight: only the probe decides.
      yield* Effect.exit(breakers.guard("a", slowFailure, Effect.fail(unavailable)))
      assert.strictEqual((yield* stateOf(breakers, "a"))?.state, "half_open")
      yield* Effect.exit(breakers.guard("a", probe, Effect.void))
      state = yield* stateOf(breakers, "a")
      assert.strictEqual(state?.state, "closed")
      assert.strictEqual(state?.failures, 0)
    }))

  it.effect("a failure admitted before the breaker opened does not count against it once it has closed again", () =>
    Effect.gen(function*() {
      const breakers = yield* make
      const straggler = yield* breakers.admit("a")
      for (let i = 0; i < 3; i++) yield* fail(breakers, "a")
      yield* TestClock.adjust("10 seconds")
      yield* succeed(breakers, "a")
      yield* fail(breakers, "a")
      yield* fail(breakers, "a")
      yield* Effect.exit(breakers.guard("a", straggler, Effect.fail(unavailable)))
      const state = yield* stateOf(breakers, "a")
      assert.strictEqual(state?.state, "closed", "two failures of this closed period, not three")
      assert.strictEqual(state?.failures, 2)
    }))

  it.effect("states() reads an open breaker past recovery_timeout_s as half_open; the read admits nothing", () =>
    Effect.gen(function*() {
      const breakers = yield* make
      for (let i = 0; i < 3; i++) yield* fail(breakers, "a")
      yield* TestClock.adjust("9999 millis")
      let state = yield* stateOf(breakers, "a")
      assert.deepStrictEqual([state?.state, state?.reopensAt], ["open", 10_000])
      yield* TestClock.adjust("1 millis")
      state = yield* stateOf(breakers, "a")
      assert.deepStrictEqual([state?.state, state?.failures, state?.reopensAt], ["half_open", 3, undefined])
      // the reads took no probe: the next attempt is the one probe
      assert.strictEqual((yield* breakers.admit("a"))._tag, "probe")
      assert.strictEqual((yield* breakers.admit("a"))._tag, "reject")
      assert.strictEqual((yield* stateOf(breakers, "a"))?.state, "half_open")
    }))

  it.effect("stillAdmits: a pass stops letting its attempt through once the breaker opens, for good; the probe keeps its slot", () =>
    Effect.gen(function*() {
      const breakers = yield* make
      const early = yield* breakers.admit("a")
      assert.isTrue(yield* breakers.stillAdmits("a", early))
      yield* fail(breakers, "a")
      assert.isTrue(yield* breakers.stillAdmits("a", early), "a failure that does not open it changes nothing")
      yield* fail(breakers, "a")
      yield* fail(breakers, "a")
      assert.isFalse(yield* breakers.stillAdmits("a", early))
      yield* TestClock.adjust("10 seconds")
      const probe = yield* breakers.admit("a")
      assert.isTrue(yield* breakers.stillAdmits("a", probe))
      assert.isFalse(yield* breakers.stillAdmits("a", early), "not on a half-open breaker whose probe is in flight")
      yield* Effect.exit(breakers.guard("a", probe, Effect.void))
      assert.isFalse(yield* breakers.stillAdmits("a", early), "nor once it has closed again")
      assert.isFalse(yield* breakers.stillAdmits("a", probe), "a probe that has reported is spent")
      assert.isTrue(yield* breakers.stillAdmits("a", yield* breakers.admit("a")))
    }))

  it.effect("endpoints have independent breakers", () =>
    Effect.gen(function*() {
      const breakers = yield* make
      for (let i = 0; i < 3; i++) yield* fail(breakers, "a")
      assert.strictEqual((yield* breakers.admit("b"))._tag, "pass")
    }))

  it.effect("states() lists every configured endpoint from the start, closed, in config order (allowed_regions applied)", () =>
    Effect.gen(function*() {
      const breakers = yield* CircuitBreaker.CircuitBreaker
      assert.deepStrictEqual(
        (yield* breakers.states()).map(({ endpoint, state }) => [endpoint, state]),
        [["g-us", "closed"], ["q-sg", "closed"]]
      )
    }).pipe(
      Effect.provide(CircuitBreaker.layer),
      Effect.provide(LLMConfig.layerIsolated({
        default_model: "flash",
        allowed_regions: ["us", "sg"],
        providers: {
          google: { api_key: "k-123", endpoints: [{ name: "g-us", base_url: "http://127.0.0.1:9", region: "us" }] },
          dashscope: {
            api_key: "k-456",
            endpoints: [
              { name: "q-sg", base_url: "http://127.0.0.1:9", region: "sg" },
              { name: "q-cn", base_url: "http://127.0.0.1:9", region: "cn" }
            ]
          }
        },
        models: {
          flash: { provider: "google", model_id: "gemini-x" },
          qwen: { provider: "dashscope", model_id: "qwen-x" }
        },
        ledger: { backend: "memory" }
      }))
    ))
})
