/**
 * What only the in-memory ledger does: keep its running totals exact while holding at most
 * `maxEvents` events for `events()` and `summary`, dropping the oldest first (API.md §14).
 */
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as TestClock from "effect/TestClock"
import { makeMemory } from "../../../src/services/Ledger.js"
import { day, request, usage } from "../../support/LedgerBackends.js"

describe("in-memory ledger", () => {
  it.effect("query and option fields given as undefined mean absent (they type-check under exactOptionalPropertyTypes)", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(day)
      const given: { readonly since?: Date | undefined; readonly traceId?: string | undefined } = {}
      const ledger = yield* makeMemory({ maxEvents: undefined, holdTtlS: undefined, alertThresholds: undefined })
      const hold = yield* ledger.hold(request({ traceId: "t", limit: 0 }))
      yield* ledger.commit(hold, { cost: 0.5 })
      assert.strictEqual((yield* ledger.events({ traceId: given.traceId, since: given.since })).length, 2)
      const rows = yield* ledger.summary({ groupBy: "model", since: given.since, until: given.since })
      assert.deepStrictEqual(rows.map((row) => row.cost), [0.5])
    }))

  it.effect("keeps at most maxEvents events, the oldest dropped first, while its totals stay exact", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(day)
      const ledger = yield* makeMemory({ maxEvents: 5 })
      const open = yield* ledger.hold(request({ traceId: "open", estimate: 0.125, limit: 0 }))
      for (let i = 0; i < 4; i++) {
        const hold = yield* ledger.hold(request({ traceId: `t${i}`, limit: 0 }))
        yield* ledger.commit(hold, { cost: 0.0625, usage: usage(10, 1) })
      }
      const events = yield* ledger.events()
      assert.deepStrictEqual(events.map((event) => `${event.traceId}:${event.type}`), [
        "t1:commit",
        "t2:hold",
        "t2:commit",
        "t3:hold",
        "t3:commit"
      ])
      // the dropped hold still counts, and a raise of it still reserves
      assert.strictEqual(yield* ledger.spendToday(), 0.125 + 4 * 0.0625)
      yield* ledger.raise(open, {
        provider: "gemini",
        model: "gemini-2.5-pro",
        alias: "pro",
        estimate: 0.5,
        limits: []
      })
      assert.strictEqual(yield* ledger.spendToday(), 0.5 + 4 * 0.0625)
      assert.strictEqual(yield* ledger.spend("model:pro", "daily"), 0.5)
      assert.strictEqual((yield* ledger.events()).length, 5)
      // the summary sees only the calls whose hold is kept
      const [row] = yield* ledger.summary({ groupBy: "model" })
      assert.deepStrictEqual([row!.calls, row!.ok, row!.cost], [2, 2, 0.125])
    }))

  it.effect("sums a summary row's cost as spend sums: 9,999 calls of $0.10 are $999.90 in both", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(day)
      const ledger = yield* makeMemory({ maxEvents: 20_000 })
      for (let i = 0; i < 9_999; i++) {
        const hold = yield* ledger.hold(request({ traceId: `t${i}`, estimate: 0.1, limit: 0 }))
        yield* ledger.commit(hold, { cost: 0.1 })
      }
      assert.strictEqual(yield* ledger.spendToday(), 999.9)
      const rows = yield* ledger.summary({ groupBy: "day" })
      assert.deepStrictEqual(rows.map((row) => [row.calls, row.cost]), [[9_999, 999.9]])
    }))

  it.effect("keeps 10,000 events by default", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(day)
      const ledger = yield* makeMemory()
      for (let i = 0; i < 10_001; i++) yield* ledger.hold(request({ traceId: `t${i}`, estimate: 0, limit: 0 }))
      const events = yield* ledger.events()
      assert.strictEqual(events.length, 10_000)
      assert.strictEqual(events[0]!.traceId, "t1")
    }))

  it.effect("a maxEvents below 1 (negative, 0, NaN) keeps one event: the call goes on, nothing spins", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(day)
      for (const maxEvents of [-1, 0, Number.NaN, 2.5]) {
        const ledger = yield* makeMemory({ maxEvents })
        for (let i = 0; i < 3; i++) {
          const hold = yield* ledger.hold(request({ traceId: `m${i}`, limit: 0 }))
          yield* ledger.commit(hold, { cost: 0.0625, usage: usage(10, 1) })
        }
        assert.lengthOf(yield* ledger.events(), maxEvents === 2.5 ? 2 : 1, String(maxEvents))
        assert.strictEqual(yield* ledger.spendToday(), 3 * 0.0625)
      }
    }))

  it.effect("after many times its size in calls, still the newest maxEvents events in order, a raise in place", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(day)
      const ledger = yield* makeMemory({ maxEvents: 3 })
      let last = yield* ledger.hold(request({ traceId: "t0", estimate: 0, limit: 0 }))
      for (let i = 1; i < 9_000; i++) {
        yield* ledger.commit(last, { cost: 0 })
        last = yield* ledger.hold(request({ traceId: `t${i}`, estimate: 0, limit: 0 }))
      }
      yield* ledger.raise(last, {
        provider: "gemini",
        model: "gemini-2.5-pro",
        alias: "pro",
        estimate: 0.5,
        limits: []
      })
      const events = yield* ledger.events()
      assert.deepStrictEqual(events.map((event) => `${event.traceId}:${event.type}:${event.alias}`), [
        "t8998:hold:flash",
        "t8998:commit:flash",
        "t8999:hold:pro"
      ])
      assert.strictEqual(yield* ledger.spendToday(), 0.5)
    }))
})
