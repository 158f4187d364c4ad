/**
 * The ledger's contract, one shared suite run against every backend (memory, SQLite, PostgreSQL):
 * holds, raises and settlements, every limit in order, the windows, tags and summaries; then the
 * layer that picks a backend from config. Durable-only behaviour is in ledger/Sqlite and ledger/Postgres.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as TestClock from "effect/TestClock"
import * as Fs from "node:fs"
import * as Path from "node:path"
import { type Hold, layerFromConfig, Ledger } from "../../src/services/Ledger.js"
import { computeSummary } from "../../src/services/ledger/Summary.js"
import { backends, day, request, tempDir, usage } from "../support/LedgerBackends.js"

describe.each(backends)("Ledger ($name)", (backend) => {
  const test = <A, E>(name: string, holdTtlS: number, body: (ledger: Ledger.Service) => Effect.Effect<A, E>) =>
    it.effect.skipIf(backend.skip)(name, () =>
      Effect.gen(function*() {
        yield* TestClock.setTime(day)
        yield* Effect.flatMap(Ledger, body)
      }).pipe(Effect.provide(backend.layer(holdTtlS))))

  test(
    "ten $0.10 calls read $1 in spend and summary, not the float sum 0.9999999999999999",
    900,
    (ledger) =>
      Effect.gen(function*() {
        for (let i = 0; i < 10; i++) {
          const hold = yield* ledger.hold(request({ traceId: `t${i}`, estimate: 0.1, limit: 0 }))
          yield* ledger.commit(hold, { cost: 0.1, usage: usage(10, 1) })
        }
        assert.strictEqual(yield* ledger.spendToday(), 1)
        assert.strictEqual(yield* ledger.spend("global", "daily"), 1)
        const [row] = yield* ledger.summary({ groupBy: "day" })
        assert.strictEqual(row!.cost, 1)
      })
  )

  test(
    "records a hold, then its commit with usage, cost, attempts and timing",
    900,
    (ledger) =>
      Effect.gen(function*() {
        const hold = yield* ledger.hold(request({ estimate: 0.5 }))
        assert.strictEqual(hold.timestamp, day)
        yield* TestClock.adjust("2 seconds")
        yield* ledger.commit(hold, {
          cost: 0.125,
          usage: usage(100, 20),
          provider: "dashscope",
          model: "qwen-plus",
          alias: "qwen",
          endpoint: "intl",
          attempts: 2,
          timing: { ttftMs: 120, totalMs: 900 }
        })
        const events = yield* ledger.events()
        assert.deepStrictEqual(events.map((event) => event.type), ["hold", "commit"])
        const [held, committed] = events
        assert.strictEqual(held!.holdId, hold.id)
        assert.strictEqual(held!.id, hold.id)
        assert.strictEqual(held!.cost, 0.5)
        assert.strictEqual(held!.status, "ok")
        assert.strictEqual(held!.model, "gemini-2.5-flash")
        assert.strictEqual(held!.alias, "flash")
        assert.strictEqual(held!.usage, undefined)
        assert.strictEqual(committed!.holdId, hold.id)
        assert.strictEqual(committed!.traceId, "trace-1")
        assert.strictEqual(committed!.provider, "dashscope")
        assert.strictEqual(committed!.model, "qwen-plus")
        assert.strictEqual(committed!.alias, "qwen")
        assert.strictEqual(committed!.endpoint, "intl")
        assert.deepStrictEqual(committed!.usage, usage(100, 20))
        assert.strictEqual(committed!.cost, 0.125)
        assert.strictEqual(committed!.status, "ok")
        assert.strictEqual(committed!.attempts, 2)
        assert.deepStrictEqual(committed!.timing, { ttftMs: 120, totalMs: 900 })
        assert.strictEqual(committed!.error, undefined)
        assert.strictEqual(committed!.timestamp, day + 2000)
      })
  )

  test(
    "a clock between two milliseconds (a jittered sleep under TestClock) records whole-millisecond times",
    900,
    (ledger) =>
      Effect.gen(function*() {
        yield* TestClock.adjust("1234.5678 millis")
        const hold = yield* ledger.hold(request({ estimate: 0.5 }))
        yield* TestClock.adjust("0.75 millis")
        yield* ledger.commit(hold, { cost: 0.25, usage: usage(10, 5), attempts: 1 })
        const raised = yield* ledger.hold(request({ estimate: 0.1 }))
        yield* ledger.cancel(raised, { cost: 0, status: "cancelled" })
        const slot = yield* ledger.admit({ alias: "flash", endpoint: "google", limits: { rpm: 5 }, tokens: 10 })
        assert.strictEqual(slot._tag, "Admitted")
        if (slot._tag === "Admitted") yield* ledger.release(slot.slot, 3)
        const events = yield* ledger.events()
        assert.deepStrictEqual(events.map((event) => event.type), ["hold", "commit", "hold", "cancel"])
        for (const event of events) {
          assert.isTrue(Math.abs(event.timestamp - (day + 1235)) <= 1, `timestamp ${event.timestamp}`)
        }
        assert.strictEqual(yield* ledger.spendToday(), 0.25)
      })
  )

  test(
    "records a cancel with its status, error tag and message, and the partial usage",
    900,
    (ledger) =>
      Effect.gen(function*() {
        const failed = yield* ledger.hold(request())
        const stopped = yield* ledger.hold(request({ traceId: "trace-2" }))
        yield* ledger.cancel(failed, {
          cost: 0,
          status: "error",
          attempts: 4,
          error: { tag: "RetryableError", message: "gemini (default) answered HTTP 503: overloaded" }
        })
        yield* ledger.cancel(stopped, {
          cost: 0.0625,
          status: "cancelled",
          usage: usage(10, 5),
          timing: { totalMs: 40 }
        })
        const cancels = (yield* ledger.events()).filter((event) => event.type === "cancel")
        assert.strictEqual(cancels.length, 2)
        assert.strictEqual(cancels[0]!.status, "error")
        assert.deepStrictEqual(cancels[0]!.error, {
          tag: "RetryableError",
          message: "gemini (default) answered HTTP 503: overloaded"
        })
        assert.strictEqual(cancels[0]!.attempts, 4)
        assert.strictEqual(cancels[1]!.status, "cancelled")
        assert.strictEqual(cancels[1]!.holdId, stopped.id)
        assert.deepStrictEqual(cancels[1]!.usage, usage(10, 5))
        assert.deepStrictEqual(cancels[1]!.timing, { totalMs: 40 })
      })
  )

  test(
    "refuses a hold over the limit with BudgetExceededError (spent, limit, estimate) and records nothing",
    900,
    (ledger) =>
      Effect.gen(function*() {
        yield* ledger.hold(request({ estimate: 0.75 }))
        const refused = yield* Effect.flip(ledger.hold(request({ estimate: 0.5, provider: "dashscope" })))
        assert.strictEqual(refused._tag, "BudgetExceededError")
        if (refused._tag !== "BudgetExceededError") return
        assert.strictEqual(refused.spent, 0.75)
        assert.strictEqual(refused.limit, 1)
        assert.strictEqual(refused.estimate, 0.5)
        assert.strictEqual(refused.provider, "dashscope")
        assert.match(refused.message, /daily budget exceeded/)
        assert.strictEqual((yield* ledger.events()).length, 1)
        // exactly at the limit still fits
        yield* ledger.hold(request({ estimate: 0.25 }))
        assert.strictEqual(yield* ledger.spendToday(), 1)
      })
  )

  test("a limit of 0 means no limit", 900, (ledger) =>
    Effect.gen(function*() {
      yield* ledger.hold(request({ estimate: 1000, limit: 0 }))
      yield* ledger.hold(request({ estimate: 1000, limit: 0 }))
      assert.strictEqual(yield* ledger.spendToday(), 2000)
    }))

  test("50 concurrent holds against a limit that fits 5: exactly 5 succeed", 900, (ledger) =>
    Effect.gen(function*() {
      const results = yield* Effect.all(
        Array.from({ length: 50 }, (_, i) => Effect.either(ledger.hold(request({ traceId: `t${i}`, limit: 1.25 })))),
        { concurrency: "unbounded" }
      )
      const granted = results.filter(Either.isRight)
      assert.strictEqual(granted.length, 5)
      for (const result of results) {
        if (Either.isLeft(result)) assert.strictEqual(result.left._tag, "BudgetExceededError")
      }
      assert.strictEqual(yield* ledger.spendToday(), 1.25)
      assert.strictEqual((yield* ledger.events()).length, 5)
    }))

  /** A fallback priced at `estimate` raises the call's hold through the ledger, atomically with the check. */
  const fallback = (ledger: Ledger.Service, hold: Hold, estimate: number, limit: number) =>
    ledger.raise(hold, {
      provider: "dashscope",
      model: "qwen-max",
      alias: "max",
      estimate,
      limits: [{ scope: "global", window: "daily", limit }]
    })

  test(
    "concurrent holds that each move to a pricier fallback never together pass the limit",
    900,
    (ledger) =>
      Effect.gen(function*() {
        // 8 holds of 1/16 fit a limit of 1; each fallback costs 3/16, so only 4 of them fit on top
        const holds = yield* Effect.all(
          Array.from({ length: 8 }, (_, i) => ledger.hold(request({ traceId: `f${i}`, estimate: 0.0625 }))),
          { concurrency: "unbounded" }
        )
        const raised = yield* Effect.all(holds.map((hold) => Effect.either(fallback(ledger, hold, 0.1875, 1))), {
          concurrency: "unbounded"
        })
        assert.isAtMost(yield* ledger.spendToday(), 1)
        // a call that went ahead costs its fallback's full price (the bound its hold promised); the others cancel
        yield* Effect.forEach(raised, (result, i) =>
          Either.isRight(result) ?
            ledger.commit(result.right, { cost: 0.1875 }) :
            ledger.cancel(holds[i]!, {
              cost: 0,
              status: "error",
              error: { tag: "BudgetExceededError", message: "refused" }
            }))
        const granted = raised.filter(Either.isRight).length
        const spent = yield* ledger.spendToday()
        assert.isAtMost(spent, 1, `${granted} fallbacks went ahead, spending $${spent} of $1`)
        assert.strictEqual(granted, 4)
      })
  )

  test("spendToday counts committed and cancelled cost plus open holds", 900, (ledger) =>
    Effect.gen(function*() {
      const committed = yield* ledger.hold(request({ estimate: 0.5, limit: 0 }))
      const cancelled = yield* ledger.hold(request({ estimate: 0.5, limit: 0 }))
      yield* ledger.hold(request({ estimate: 0.25, limit: 0 }))
      assert.strictEqual(yield* ledger.spendToday(), 1.25)
      yield* ledger.commit(committed, { cost: 0.25 })
      yield* ledger.cancel(cancelled, { cost: 0.125, status: "error", error: { tag: "FatalError", message: "bad" } })
      assert.strictEqual(yield* ledger.spendToday(), 0.625)
    }))

  test(
    "spend starts again at the UTC day boundary (open holds keep counting until their TTL)",
    900,
    (ledger) =>
      Effect.gen(function*() {
        yield* TestClock.setTime(Date.UTC(2026, 0, 15, 23, 59, 0))
        const hold = yield* ledger.hold(request({ estimate: 0.75 }))
        yield* ledger.commit(hold, { cost: 0.75 })
        yield* ledger.hold(request({ estimate: 0.125 }))
        assert.strictEqual(yield* ledger.spendToday(), 0.875)
        assert.strictEqual((yield* Effect.flip(ledger.hold(request({ estimate: 0.25 }))))._tag, "BudgetExceededError")
        yield* TestClock.adjust("2 minutes")
        assert.strictEqual(yield* ledger.spendToday(), 0.125)
        yield* ledger.hold(request({ estimate: 0.75 }))
        assert.strictEqual(yield* ledger.spendToday(), 0.875)
        const days = yield* ledger.summary({ groupBy: "day" })
        assert.deepStrictEqual(days.map((row) => [row.key, row.calls]), [["2026-01-15", 2], ["2026-01-16", 1]])
      })
  )

  test(
    "only today's settlements count: a later day's rows do not when the clock is behind them (TestClock over a used ledger)",
    900,
    (ledger) =>
      Effect.gen(function*() {
        yield* TestClock.setTime(day + 86_400_000)
        const tomorrow = yield* ledger.hold(request({ estimate: 0.5 }))
        yield* ledger.commit(tomorrow, { cost: 0.5 })
        assert.strictEqual(yield* ledger.spendToday(), 0.5)
        yield* TestClock.setTime(day)
        assert.strictEqual(yield* ledger.spendToday(), 0)
        // a hold stamped ahead of this clock (another process's skew) still counts until it expires
        yield* TestClock.setTime(day + 1000)
        yield* ledger.hold(request({ estimate: 0.25 }))
        yield* TestClock.setTime(day)
        assert.strictEqual(yield* ledger.spendToday(), 0.25)
      })
  )

  test(
    "a clock stepped back across midnight or a week's start still reads that window's spend (an NTP correction)",
    900,
    (ledger) =>
      Effect.gen(function*() {
        const limits = [
          { scope: "global", window: "daily", limit: 10 },
          { scope: "global", window: "weekly", limit: 20 }
        ] as const
        const sundayNight = Date.UTC(2026, 0, 18, 23, 59, 59, 500)
        yield* TestClock.setTime(sundayNight)
        const held = yield* ledger.hold(request({ estimate: 8, limits }))
        yield* ledger.commit(held, { cost: 8 })
        // Monday 00:00:00.200: a new day and a new ISO week
        yield* TestClock.setTime(sundayNight + 700)
        assert.strictEqual(yield* ledger.spendToday(), 0)
        // stepped back 300 ms into Sunday: its $8 counts again, and $5 more would pass the daily $10
        yield* TestClock.setTime(sundayNight + 400)
        assert.strictEqual(yield* ledger.spendToday(), 8)
        const refused = yield* Effect.flip(ledger.hold(request({ estimate: 5, limits })))
        assert.strictEqual(refused._tag, "BudgetExceededError")
        assert.strictEqual(refused._tag === "BudgetExceededError" && refused.spent, 8)
        // the week too: $8 of it spent, so $13 more passes its $20 (a day's $10 allows only $2)
        const weekly = yield* Effect.flip(ledger.hold(request({ estimate: 13, limits: [limits[1]] })))
        assert.strictEqual(weekly._tag === "BudgetExceededError" && weekly.window, "weekly")
      })
  )

  test(
    "a hold expired at its TTL counts again when the clock steps back to before its TTL, until it is settled",
    60,
    (ledger) =>
      Effect.gen(function*() {
        const hold = yield* ledger.hold(request({ estimate: 0.5 }))
        yield* TestClock.setTime(day + 61_000)
        assert.strictEqual(yield* ledger.spendToday(), 0)
        yield* TestClock.setTime(day + 1000)
        assert.strictEqual(yield* ledger.spendToday(), 0.5)
        yield* TestClock.setTime(day + 61_000)
        assert.strictEqual(yield* ledger.spendToday(), 0)
        // settled after expiring: the stepped-back clock finds the settlement, not the hold
        yield* ledger.commit(hold, { cost: 0.25 })
        yield* TestClock.setTime(day + 2000)
        assert.strictEqual(yield* ledger.spendToday(), 0.25)
      })
  )

  test(
    "an unsettled hold stops counting after holdTtlS, is reported expired, and a late commit is recorded",
    60,
    (ledger) =>
      Effect.gen(function*() {
        const hold = yield* ledger.hold(request({ estimate: 0.5 }))
        yield* TestClock.adjust("59999 millis")
        assert.strictEqual(yield* ledger.spendToday(), 0.5)
        assert.strictEqual((yield* ledger.summary({ groupBy: "model" }))[0]!.expired, 0)
        yield* TestClock.adjust("1 millis")
        assert.strictEqual(yield* ledger.spendToday(), 0)
        const [expired] = yield* ledger.summary({ groupBy: "model" })
        assert.strictEqual(expired!.calls, 1)
        assert.strictEqual(expired!.expired, 1)
        yield* ledger.hold(request({ estimate: 1 }))
        yield* ledger.commit(hold, { cost: 0.25, usage: usage(7, 3) })
        assert.deepStrictEqual((yield* ledger.events({ traceId: "trace-1" })).map((event) => event.type), [
          "hold",
          "hold",
          "commit"
        ])
        assert.strictEqual(yield* ledger.spendToday(), 1.25)
        const rows = yield* ledger.summary({ groupBy: "model" })
        assert.strictEqual(rows[0]!.ok, 1)
        assert.strictEqual(rows[0]!.expired, 0)
        assert.strictEqual(rows[0]!.outputTokens, 3)
      })
  )

  test("events are oldest first and filter by traceId and since", 900, (ledger) =>
    Effect.gen(function*() {
      const a = yield* ledger.hold(request({ traceId: "a" }))
      yield* TestClock.adjust("1 second")
      const b = yield* ledger.hold(request({ traceId: "b" }))
      yield* TestClock.adjust("1 second")
      yield* ledger.commit(a, { cost: 0.125 })
      yield* TestClock.adjust("1 second")
      yield* ledger.cancel(b, { cost: 0, status: "cancelled" })
      const all = yield* ledger.events()
      assert.deepStrictEqual(all.map((event) => [event.traceId, event.type, event.timestamp - day]), [
        ["a", "hold", 0],
        ["b", "hold", 1000],
        ["a", "commit", 2000],
        ["b", "cancel", 3000]
      ])
      assert.deepStrictEqual((yield* ledger.events({ traceId: "a" })).map((event) => event.type), ["hold", "commit"])
      assert.deepStrictEqual(
        (yield* ledger.events({ since: new Date(day + 1000) })).map((event) => `${event.traceId}:${event.type}`),
        ["b:hold", "a:commit", "b:cancel"]
      )
      assert.deepStrictEqual(
        (yield* ledger.events({ traceId: "b", since: new Date(day + 2000) })).map((event) => event.type),
        ["cancel"]
      )
      assert.deepStrictEqual(yield* ledger.events({ traceId: "nobody" }), [])
    }))

  test(
    "summary groups calls, tokens, cost and outcomes by day, model and provider within [since, until)",
    60,
    (ledger) =>
      Effect.gen(function*() {
        const first = yield* ledger.hold(request({ limit: 0 }))
        yield* ledger.commit(first, { cost: 0.25, usage: usage(100, 10) })
        const failed = yield* ledger.hold(request({ provider: "dashscope", model: "qwen-plus", limit: 0 }))
        yield* ledger.cancel(failed, { cost: 0, status: "error", error: { tag: "FatalError", message: "401" } })
        yield* ledger.hold(request({ provider: "dashscope", model: "qwen-plus", limit: 0 })) // expires
        yield* TestClock.adjust("1 day")
        const fallback = yield* ledger.hold(request({ limit: 0 }))
        yield* ledger.commit(fallback, { cost: 0.5, usage: usage(200, 20), provider: "dashscope", model: "qwen-max" })
        const stopped = yield* ledger.hold(request({ limit: 0 }))
        yield* ledger.cancel(stopped, { cost: 0.125, status: "cancelled", usage: usage(50, 5) })
        yield* ledger.hold(request({ limit: 0 })) // still open

        const row = (
          key: string,
          calls: number,
          inputTokens: number,
          outputTokens: number,
          cost: number,
          ok: number,
          error: number,
          cancelled: number,
          expired: number
        ) => ({ key, calls, inputTokens, outputTokens, cost, ok, error, cancelled, expired })
        assert.deepStrictEqual(yield* ledger.summary({ groupBy: "day" }), [
          row("2026-01-15", 3, 100, 10, 0.25, 1, 1, 0, 1),
          row("2026-01-16", 3, 250, 25, 0.625, 1, 0, 1, 0)
        ])
        assert.deepStrictEqual(yield* ledger.summary({ groupBy: "model" }), [
          row("gemini-2.5-flash", 3, 150, 15, 0.375, 1, 0, 1, 0),
          row("qwen-max", 1, 200, 20, 0.5, 1, 0, 0, 0),
          row("qwen-plus", 2, 0, 0, 0, 0, 1, 0, 1)
        ])
        assert.deepStrictEqual(yield* ledger.summary({ groupBy: "provider" }), [
          row("dashscope", 3, 200, 20, 0.5, 1, 1, 0, 1),
          row("gemini", 3, 150, 15, 0.375, 1, 0, 1, 0)
        ])
        const secondDay = new Date(Date.UTC(2026, 0, 16))
        assert.deepStrictEqual(yield* ledger.summary({ groupBy: "day", since: secondDay }), [
          row("2026-01-16", 3, 250, 25, 0.625, 1, 0, 1, 0)
        ])
        assert.deepStrictEqual(yield* ledger.summary({ groupBy: "provider", until: secondDay }), [
          row("dashscope", 2, 0, 0, 0, 0, 1, 0, 1),
          row("gemini", 1, 100, 10, 0.25, 1, 0, 0, 0)
        ])
        // the same rows the shared fold computes from the stored events
        const events = yield* ledger.events()
        assert.deepStrictEqual(
          yield* ledger.summary({ groupBy: "provider" }),
          computeSummary(events, { groupBy: "provider" }, day + 86_400_000, 60)
        )
      })
  )
  test(
    "raise re-checks the limits without the hold's own amount, and a refused raise leaves the hold as it was",
    900,
    (ledger) =>
      Effect.gen(function*() {
        const a = yield* ledger.hold(request({ traceId: "a", estimate: 0.5 }))
        const b = yield* ledger.hold(request({ traceId: "b", estimate: 0.25 }))
        const raisedA = yield* fallback(ledger, a, 0.75, 1) // 0.25 + 0.75 fits exactly
        assert.deepStrictEqual(raisedA, {
          ...a,
          provider: "dashscope",
          model: "qwen-max",
          alias: "max",
          estimate: 0.75
        })
        assert.strictEqual(yield* ledger.spendToday(), 1)
        const refused = yield* Effect.flip(fallback(ledger, b, 0.5, 1))
        assert.strictEqual(refused._tag, "BudgetExceededError")
        if (refused._tag !== "BudgetExceededError") return
        assert.deepStrictEqual(
          [
            refused.reason,
            refused.scope,
            refused.window,
            refused.spent,
            refused.limit,
            refused.estimate,
            refused.provider
          ],
          ["daily_limit", "global", "daily", 0.75, 1, 0.5, "dashscope"]
        )
        assert.strictEqual(yield* ledger.spendToday(), 1)
        // a raise to no more than the hold changes nothing
        assert.strictEqual(yield* fallback(ledger, b, 0.25, 1), b)
        assert.strictEqual(yield* fallback(ledger, raisedA, 0.5, 1), raisedA)
        // events() shows each hold with its current cost and who it is for now, never the raises
        assert.deepStrictEqual(
          (yield* ledger.events()).map((
            event
          ) => [event.traceId, event.type, event.cost, event.alias, event.model, event.provider]),
          [["a", "hold", 0.75, "max", "qwen-max", "dashscope"], [
            "b",
            "hold",
            0.25,
            "flash",
            "gemini-2.5-flash",
            "gemini"
          ]]
        )
        // the settlement releases the raised amount as it would the hold's
        yield* ledger.commit(raisedA, { cost: 0.5 })
        assert.strictEqual(yield* ledger.spendToday(), 0.75)
      })
  )

  test(
    "a raised hold counts toward the fallback's alias, checked against every limit the raise names",
    900,
    (ledger) =>
      Effect.gen(function*() {
        const hold = yield* ledger.hold(request({ estimate: 0.25, tags: { user: "u1" }, limit: 0 }))
        assert.strictEqual(yield* ledger.spend("model:flash", "daily"), 0.25)
        const toMax = (estimate: number, limits: Parameters<Ledger.Service["raise"]>[1]["limits"]) =>
          ledger.raise(hold, { provider: "dashscope", model: "qwen-max", alias: "max", estimate, limits })
        const refused = yield* Effect.flip(toMax(0.5, [
          { scope: "global", window: "daily", limit: 10 },
          { scope: "model:max", window: "daily", limit: 2 },
          { scope: "user:u1", window: "weekly", limit: 0.375 }
        ]))
        assert.strictEqual(refused._tag, "BudgetExceededError")
        if (refused._tag !== "BudgetExceededError") return
        assert.deepStrictEqual([refused.reason, refused.scope, refused.window, refused.spent], [
          "weekly_limit",
          "user:u1",
          "weekly",
          0
        ])
        assert.match(refused.message, /^weekly budget exceeded for user:u1: spent \$0\.00 of \$0\.375 this week/)
        const raised = yield* toMax(0.5, [{ scope: "user:u1", window: "weekly", limit: 0.5 }])
        assert.deepStrictEqual(
          yield* Effect.all([
            ledger.spend("model:flash", "daily"),
            ledger.spend("model:max", "daily"),
            ledger.spend("user:u1", "weekly"),
            ledger.spendToday()
          ]),
          [0, 0.5, 0.5, 0.5]
        )
        yield* ledger.commit(raised, { cost: 0.375 })
        assert.deepStrictEqual(
          yield* Effect.all([ledger.spend("model:max", "daily"), ledger.spend("user:u1", "monthly")]),
          [0.375, 0.375]
        )
      })
  )

  test(
    "a renewed hold (a call still in flight) keeps counting for holdTtlS from its renewal, then expires",
    60,
    (ledger) =>
      Effect.gen(function*() {
        const hold = yield* ledger.hold(request({ estimate: 0.5 }))
        yield* TestClock.adjust("50 seconds")
        yield* ledger.renew!(hold)
        yield* TestClock.adjust("50 seconds") // 100 s after the hold, 50 s after its renewal
        assert.strictEqual(yield* ledger.spendToday(), 0.5)
        const refused = yield* Effect.flip(ledger.hold(request({ estimate: 0.75 })))
        assert.strictEqual(refused._tag, "BudgetExceededError")
        // renewals are not events: the list shows the hold as it was made
        assert.deepStrictEqual((yield* ledger.events()).map((event) => [event.type, event.cost]), [["hold", 0.5]])
        yield* TestClock.adjust("10 seconds") // 60 s after the renewal
        assert.strictEqual(yield* ledger.spendToday(), 0)
        yield* ledger.commit(hold, { cost: 0.25 })
        assert.strictEqual(yield* ledger.spendToday(), 0.25)
      })
  )

  test(
    "a raise of a hold past its TTL reserves its amount afresh, until the TTL passes again",
    60,
    (ledger) =>
      Effect.gen(function*() {
        const hold = yield* ledger.hold(request({ estimate: 0.25 }))
        yield* TestClock.adjust("61 seconds")
        assert.strictEqual(yield* ledger.spendToday(), 0)
        yield* fallback(ledger, hold, 0.5, 1)
        assert.strictEqual(yield* ledger.spendToday(), 0.5)
        yield* TestClock.adjust("59 seconds")
        assert.strictEqual(yield* ledger.spendToday(), 0.5)
        yield* TestClock.adjust("1 second")
        assert.strictEqual(yield* ledger.spendToday(), 0)
      })
  )

  test(
    "a hold is checked against every limit in order: the first that does not fit refuses with its scope and window, and nothing is held",
    900,
    (ledger) =>
      Effect.gen(function*() {
        const limits = (user: string, alias = "flash") => [
          { scope: "global", window: "daily", limit: 10 } as const,
          { scope: `model:${alias}`, window: "daily", limit: 1 } as const,
          { scope: `user:${user}`, window: "daily", limit: 0.5 } as const
        ]
        const u1 = { user: "u1", team: "acme" }
        yield* ledger.hold(request({ estimate: 0.25, tags: u1, limits: limits("u1") }))
        const byUser = yield* Effect.flip(ledger.hold(request({ estimate: 0.5, tags: u1, limits: limits("u1") })))
        assert.strictEqual(byUser._tag, "BudgetExceededError")
        if (byUser._tag !== "BudgetExceededError") return
        assert.deepStrictEqual(
          [byUser.reason, byUser.scope, byUser.window, byUser.spent, byUser.limit, byUser.estimate],
          ["daily_limit", "user:u1", "daily", 0.25, 0.5, 0.5]
        )
        assert.strictEqual(
          byUser.message,
          "daily budget exceeded for user:u1: spent $0.25 of $0.50 today, this call is estimated at $0.50"
        )
        yield* ledger.hold(request({ estimate: 0.5, tags: { user: "u2" }, limits: limits("u2") }))
        const byModel = yield* Effect.flip(
          ledger.hold(request({ estimate: 0.5, tags: { user: "u3" }, limits: limits("u3") }))
        )
        assert.deepStrictEqual(
          byModel._tag === "BudgetExceededError" && [byModel.scope, byModel.spent, byModel.limit],
          ["model:flash", 0.75, 1]
        )
        // another alias has its own scope
        yield* ledger.hold(request({ alias: "pro", estimate: 0.5, tags: { user: "u3" }, limits: limits("u3", "pro") }))
        assert.strictEqual((yield* ledger.events()).length, 3)
        assert.deepStrictEqual(
          yield* Effect.all([
            ledger.spend("user:u1", "daily"),
            ledger.spend("team:acme", "monthly"),
            ledger.spend("model:flash", "daily"),
            ledger.spend("model:pro", "weekly"),
            ledger.spend("global", "daily"),
            ledger.spend("user:nobody", "daily")
          ]),
          [0.25, 0.25, 0.75, 0.5, 1.25, 0]
        )
      })
  )

  test("200 concurrent holds tagged with 3 users never pass any user's limit", 900, (ledger) =>
    Effect.gen(function*() {
      const results = yield* Effect.all(
        Array.from({ length: 200 }, (_, i) => {
          const user = `u${i % 3}`
          return Effect.either(ledger.hold(request({
            traceId: `t${i}`,
            tags: { user },
            limits: [{ scope: "global", window: "daily", limit: 100 }, {
              scope: `user:${user}`,
              window: "daily",
              limit: 1.25
            }]
          })))
        }),
        { concurrency: "unbounded" }
      )
      assert.strictEqual(results.filter(Either.isRight).length, 15)
      assert.deepStrictEqual(
        yield* Effect.forEach(["u0", "u1", "u2"], (user) => ledger.spend(`user:${user}`, "daily")),
        [1.25, 1.25, 1.25]
      )
    }))

  test(
    "windows follow the Clock: the UTC day, the ISO week from Monday, the calendar month",
    60,
    (ledger) =>
      Effect.gen(function*() {
        const tags = { user: "u1" }
        const limits = [
          { scope: "user:u1", window: "daily", limit: 1 },
          { scope: "user:u1", window: "weekly", limit: 1.5 },
          { scope: "user:u1", window: "monthly", limit: 2 }
        ] as const
        const spent = Effect.all([
          ledger.spend("user:u1", "daily"),
          ledger.spend("user:u1", "weekly"),
          ledger.spend("user:u1", "monthly")
        ])
        const call = (cost: number) =>
          Effect.flatMap(
            ledger.hold(request({ estimate: cost, tags, limits })),
            (hold) => ledger.commit(hold, { cost })
          )
        const refusal = (estimate: number) =>
          Effect.map(Effect.flip(ledger.hold(request({ estimate, tags, limits }))), (error) =>
            error._tag === "BudgetExceededError" ? [error.reason, error.window, error.spent, error.message] : error)
        yield* TestClock.setTime(Date.UTC(2026, 0, 22, 12)) // Thursday of the week from Monday 19th
        yield* call(1)
        assert.deepStrictEqual(yield* spent, [1, 1, 1])
        yield* TestClock.setTime(Date.UTC(2026, 0, 25, 23, 59)) // its Sunday, a minute before midnight
        yield* call(0.5)
        assert.deepStrictEqual(yield* spent, [0.5, 1.5, 1.5])
        assert.deepStrictEqual(yield* refusal(0.25), [
          "weekly_limit",
          "weekly",
          1.5,
          "weekly budget exceeded for user:u1: spent $1.50 of $1.50 this week, this call is estimated at $0.25"
        ])
        yield* TestClock.adjust("2 minutes") // Monday 26th: a new day and week, the same month
        assert.deepStrictEqual(yield* spent, [0, 0, 1.5])
        yield* call(0.5)
        assert.deepStrictEqual(yield* refusal(0.25), [
          "monthly_limit",
          "monthly",
          2,
          "monthly budget exceeded for user:u1: spent $2.00 of $2.00 this month, this call is estimated at $0.25"
        ])
        yield* TestClock.setTime(Date.UTC(2026, 1, 1, 0, 0)) // Sunday 1 February: the week runs on, the month is new
        assert.deepStrictEqual(yield* spent, [0, 0.5, 0])
        yield* TestClock.setTime(Date.UTC(2026, 1, 2, 0, 0)) // Monday
        assert.deepStrictEqual(yield* spent, [0, 0, 0])
      })
  )

  test("tags are stored with the hold and its settlement", 900, (ledger) =>
    Effect.gen(function*() {
      const hold = yield* ledger.hold(request({ tags: { user: "u-42", team: "acme" } }))
      assert.deepStrictEqual(hold.tags, { user: "u-42", team: "acme" })
      yield* ledger.cancel(hold, { cost: 0.125, status: "cancelled" })
      yield* ledger.hold(request({ traceId: "untagged" }))
      assert.deepStrictEqual((yield* ledger.events()).map((event) => [event.type, event.tags]), [
        ["hold", { user: "u-42", team: "acme" }],
        ["cancel", { user: "u-42", team: "acme" }],
        ["hold", undefined]
      ])
    }))

  test(
    "summary groups by ISO week, month, endpoint and a tag (calls without it in one row keyed \"\")",
    60,
    (ledger) =>
      Effect.gen(function*() {
        yield* TestClock.setTime(Date.UTC(2026, 2, 1, 10)) // Sunday 1 March: 2026-W09
        const a = yield* ledger.hold(request({ tags: { user: "u1" }, limit: 0 }))
        yield* ledger.commit(a, { cost: 0.25, usage: usage(10, 1), endpoint: "intl" })
        const b = yield* ledger.hold(request({ tags: { user: "u2" }, limit: 0 }))
        yield* ledger.cancel(b, {
          cost: 0,
          status: "error",
          endpoint: "intl",
          error: { tag: "FatalError", message: "401" }
        })
        yield* TestClock.setTime(Date.UTC(2026, 2, 2, 10)) // Monday: 2026-W10
        const c = yield* ledger.hold(request({ tags: { user: "u1" }, limit: 0 }))
        yield* ledger.commit(c, { cost: 0.5, usage: usage(20, 2), endpoint: "default" })
        yield* ledger.hold(request({ limit: 0 })) // still open: no tag, no endpoint

        const row = (
          key: string,
          calls: number,
          inputTokens: number,
          outputTokens: number,
          cost: number,
          ok: number,
          error: number,
          cancelled: number,
          expired: number
        ) => ({ key, calls, inputTokens, outputTokens, cost, ok, error, cancelled, expired })
        assert.deepStrictEqual(yield* ledger.summary({ groupBy: "week" }), [
          row("2026-W09", 2, 10, 1, 0.25, 1, 1, 0, 0),
          row("2026-W10", 2, 20, 2, 0.5, 1, 0, 0, 0)
        ])
        assert.deepStrictEqual(yield* ledger.summary({ groupBy: "month" }), [
          row("2026-03", 4, 30, 3, 0.75, 2, 1, 0, 0)
        ])
        assert.deepStrictEqual(yield* ledger.summary({ groupBy: "endpoint" }), [
          row("", 1, 0, 0, 0, 0, 0, 0, 0),
          row("default", 1, 20, 2, 0.5, 1, 0, 0, 0),
          row("intl", 2, 10, 1, 0.25, 1, 1, 0, 0)
        ])
        assert.deepStrictEqual(yield* ledger.summary({ groupBy: "tag:user" }), [
          row("", 1, 0, 0, 0, 0, 0, 0, 0),
          row("u1", 2, 30, 3, 0.75, 2, 0, 0, 0),
          row("u2", 1, 0, 0, 0, 0, 1, 0, 0)
        ])
        assert.deepStrictEqual(yield* ledger.summary({ groupBy: "tag:team" }), [row("", 4, 30, 3, 0.75, 2, 1, 0, 0)])
        // a key a plain object inherits is a tag key like any other: no call has it
        for (const key of ["constructor", "toString", "hasOwnProperty"]) {
          assert.deepStrictEqual(yield* ledger.summary({ groupBy: `tag:${key}` }), [
            row("", 4, 30, 3, 0.75, 2, 1, 0, 0)
          ], key)
        }
      })
  )

  test("budget messages print small amounts with their significant digits", 900, (ledger) =>
    Effect.gen(function*() {
      yield* ledger.hold(request({ estimate: 0.0000123, limit: 0.00002 }))
      const refused = yield* Effect.flip(ledger.hold(request({ estimate: 0.0000123, limit: 0.00002 })))
      assert.strictEqual(
        refused.message,
        "daily budget exceeded for global: spent $0.0000123 of $0.00002 today, this call is estimated at $0.0000123"
      )
    }))
})

describe("layerFromConfig", () => {
  it.effect("picks the backend named in config", () =>
    Effect.gen(function*() {
      const memory = yield* Effect.provide(
        Effect.flatMap(Ledger, (ledger) => ledger.spendToday()),
        layerFromConfig({ backend: "memory", maxEvents: 10 }, { holdTtlS: 60 })
      )
      assert.strictEqual(memory, 0)
      const path = Path.join(tempDir, "from-config", "ledger.db")
      yield* Effect.scoped(
        Layer.build(layerFromConfig({ backend: "sqlite", path, durability: "full" }, { holdTtlS: 60 }))
      )
      assert.isTrue(Fs.existsSync(path))
      const exit = yield* Effect.exit(
        Effect.scoped(Layer.build(layerFromConfig({ backend: "memory", maxEvents: 10 }, { holdTtlS: 60 })))
      )
      assert.isTrue(Exit.isSuccess(exit))
    }))

  it.effect("the memory backend keeps config's maxEvents", () =>
    Effect.gen(function*() {
      const ledger = yield* Ledger
      for (let i = 0; i < 3; i++) yield* ledger.hold(request({ traceId: `t${i}`, limit: 0 }))
      assert.deepStrictEqual((yield* ledger.events()).map((event) => event.traceId), ["t1", "t2"])
    }).pipe(Effect.provide(layerFromConfig({ backend: "memory", maxEvents: 2 }))))
})
