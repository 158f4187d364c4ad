import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as TestClock from "effect/TestClock"
import * as CircuitBreaker from "../../src/services/CircuitBreaker.js"

const make = CircuitBreaker.make({ failureThreshold: 3, recoveryTimeoutS: 10 })

const stateOf = (breakers: CircuitBreaker.CircuitBreaker.Service, endpoint: string) =>
  Effect.map(breakers.states(), (all) => all.find((b) => b.endpoint === endpoint))

const fail = (breakers: CircuitBreaker.CircuitBreaker.Service, endpoint: string) =>
  Effect.flatMap(breakers.admit(endpoint), (admission) => breakers.record(endpoint, admission, "failure"))

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
      for (let i = 0; i < 10; i++) {
        yield* breakers.record("a", yield* breakers.admit("a"), "neutral")
      }
      assert.strictEqual((yield* stateOf(breakers, "a"))?.state, "closed")
      assert.strictEqual((yield* stateOf(breakers, "a"))?.failures, 2)
    }))

  it.effect("a success resets the count", () =>
    Effect.gen(function*() {
      const breakers = yield* make
      yield* fail(breakers, "a")
      yield* fail(breakers, "a")
      yield* breakers.record("a", yield* breakers.admit("a"), "success")
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
      const probe = yield* breakers.admit("a")
      yield* breakers.record("a", probe, "success")
      assert.strictEqual((yield* stateOf(breakers, "a"))?.state, "closed")
      assert.strictEqual((yield* breakers.admit("a"))._tag, "pass")
    }))

  it.effect("the probe's failure reopens for another recovery_timeout_s", () =>
    Effect.gen(function*() {
      const breakers = yield* make
      for (let i = 0; i < 3; i++) yield* fail(breakers, "a")
      yield* TestClock.adjust("10 seconds")
      yield* breakers.record("a", yield* breakers.admit("a"), "failure")
      const state = yield* stateOf(breakers, "a")
      assert.strictEqual(state?.state, "open")
      assert.strictEqual(state?.reopensAt, 20_000)
      yield* TestClock.adjust("9 seconds")
      assert.strictEqual((yield* breakers.admit("a"))._tag, "reject")
      yield* TestClock.adjust("1 seconds")
      assert.strictEqual((yield* breakers.admit("a"))._tag, "probe")
    }))

  it.effect("an abandoned probe gives its slot back", () =>
    Effect.gen(function*() {
      const breakers = yield* make
      for (let i = 0; i < 3; i++) yield* fail(breakers, "a")
      yield* TestClock.adjust("10 seconds")
      yield* breakers.record("a", yield* breakers.admit("a"), "abandoned")
      assert.strictEqual((yield* breakers.admit("a"))._tag, "probe")
    }))

  it.effect("endpoints have independent breakers", () =>
    Effect.gen(function*() {
      const breakers = yield* make
      for (let i = 0; i < 3; i++) yield* fail(breakers, "a")
      assert.strictEqual((yield* breakers.admit("b"))._tag, "pass")
    }))
})
