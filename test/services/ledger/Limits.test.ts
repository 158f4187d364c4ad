/**
 * The ledger's rate-limit windows (API.md §11), one suite run against every backend with `TestClock`:
 * each window's admission and expiry, token correction at release, learned pauses, the current use;
 * then what only the durable backends do: two connections share the windows, and rows past every
 * window are deleted.
 */
import * as Reactivity from "@effect/experimental/Reactivity"
import * as PgClient from "@effect/sql-pg/PgClient"
import * as SqliteClient from "@effect/sql-sqlite-node/SqliteClient"
import { assert, describe, it } from "@effect/vitest"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as TestClock from "effect/TestClock"
import type { RateLimits } from "../../../src/domain/Config.js"
import { type Admission, type AdmitRequest, Ledger, type Slot } from "../../../src/services/Ledger.js"
import { layerPostgres, layerSqlite } from "../../../src/services/Ledger.js"
import { backends, day, freshPgSchema, ledgerOf, pgReachable, tempFile } from "../../support/LedgerBackends.js"

const ask = (limits: RateLimits, overrides: Partial<AdmitRequest> = {}): AdmitRequest => ({
  alias: "flash",
  endpoint: "google",
  limits,
  tokens: 100,
  ...overrides
})

const slotOf = (admission: Admission): Slot => {
  if (admission._tag !== "Admitted") assert.fail(`expected a slot, got ${JSON.stringify(admission)}`)
  return admission.slot
}

const refusalOf = (admission: Admission) => {
  if (admission._tag !== "Refused") assert.fail("expected a refusal")
  return admission.refusal
}

// SQLite with `durability: full` writes its lone rows in a transaction of their own (no fsync each)
const everyBackend = [
  ...backends,
  {
    name: "sqlite, durability full",
    skip: false,
    layer: (holdTtlS: number) => layerSqlite({ path: tempFile(), durability: "full", holdTtlS })
  }
]

describe.each(everyBackend)("rate-limit windows ($name)", (backend) => {
  const test = <A, E>(name: string, body: (ledger: Ledger.Service) => Effect.Effect<A, E>) =>
    it.effect.skipIf(backend.skip)(name, () =>
      Effect.gen(function*() {
        yield* TestClock.setTime(day)
        yield* Effect.flatMap(Ledger, body)
      }).pipe(Effect.provide(backend.layer(900))))

  test("rpm: admits that many attempts in 60 s, then refuses until the oldest leaves the window", (ledger) =>
    Effect.gen(function*() {
      for (let i = 0; i < 3; i++) {
        slotOf(yield* ledger.admit(ask({ rpm: 3 })))
        yield* TestClock.adjust("10 seconds")
      }
      // slots at 0, 10, 20 s; now 30 s: the one at 0 s leaves at 60 s
      assert.deepStrictEqual(refusalOf(yield* ledger.admit(ask({ rpm: 3 }))), { kind: "rpm", retryAfterMs: 30_000 })
      yield* TestClock.adjust("29999 millis")
      assert.strictEqual((yield* ledger.admit(ask({ rpm: 3 })))._tag, "Refused")
      yield* TestClock.adjust("1 millis")
      slotOf(yield* ledger.admit(ask({ rpm: 3 })))
      // the next frees when the slot admitted at 10 s leaves
      assert.deepStrictEqual(refusalOf(yield* ledger.admit(ask({ rpm: 3 }))), { kind: "rpm", retryAfterMs: 10_000 })
      // another alias has windows of its own
      slotOf(yield* ledger.admit(ask({ rpm: 3 }, { alias: "pro" })))
    }))

  test("tpm: admits at the estimate; a release corrects it to the tokens used and frees the rest", (ledger) =>
    Effect.gen(function*() {
      const limits = { tpm: 1000 }
      const first = slotOf(yield* ledger.admit(ask(limits, { tokens: 600 })))
      yield* TestClock.adjust("5 seconds")
      assert.deepStrictEqual(refusalOf(yield* ledger.admit(ask(limits, { tokens: 500 }))), {
        kind: "tpm",
        retryAfterMs: 55_000
      })
      // the first attempt used 150 tokens: 850 are free
      yield* ledger.release(first, 150)
      const second = slotOf(yield* ledger.admit(ask(limits, { tokens: 500 })))
      assert.deepStrictEqual(
        (yield* ledger.limitUse()).map(({ alias, requestsMinute, tokensMinute }) => ({
          alias,
          requestsMinute,
          tokensMinute
        })),
        [{ alias: "flash", requestsMinute: 2, tokensMinute: 650 }]
      )
      // a failed attempt frees everything: its request still counts
      yield* ledger.release(second, 0)
      slotOf(yield* ledger.admit(ask(limits, { tokens: 850 })))
      const [use] = yield* ledger.limitUse()
      assert.strictEqual(use?.requestsMinute, 3)
      assert.strictEqual(use?.tokensMinute, 1000)
      // the tokens leave with their slots, 60 s after each admission
      yield* TestClock.adjust("55 seconds")
      const [later] = yield* ledger.limitUse()
      assert.strictEqual(later?.tokensMinute, 850)
    }))

  test("rpd: counts 24 h, beyond the minute windows", (ledger) =>
    Effect.gen(function*() {
      const limits = { rpm: 10, rpd: 2 }
      slotOf(yield* ledger.admit(ask(limits)))
      yield* TestClock.adjust("1 hour")
      slotOf(yield* ledger.admit(ask(limits)))
      yield* TestClock.adjust("2 hours")
      assert.deepStrictEqual(refusalOf(yield* ledger.admit(ask(limits))), {
        kind: "rpd",
        retryAfterMs: 21 * 3_600_000
      })
      assert.deepStrictEqual((yield* ledger.limitUse())[0]?.requestsDay, 2)
      yield* TestClock.adjust("21 hours")
      slotOf(yield* ledger.admit(ask(limits)))
    }))

  test("a refusal names the limit with the longest wait", (ledger) =>
    Effect.gen(function*() {
      const limits = { rpm: 1, tpm: 150 }
      slotOf(yield* ledger.admit(ask(limits)))
      yield* TestClock.adjust("20 seconds")
      assert.deepStrictEqual(refusalOf(yield* ledger.admit(ask(limits))), { kind: "rpm", retryAfterMs: 40_000 })
    }))

  test("tpm: the wait is until enough slots have left the minute for the attempt to fit, not until the first leaves (nor all)", (ledger) =>
    Effect.gen(function*() {
      const limits = { tpm: 1000 }
      // 300 tokens at 0 s, 300 at 10 s, 400 at 20 s: the minute is full
      slotOf(yield* ledger.admit(ask(limits, { tokens: 300 })))
      yield* TestClock.adjust("10 seconds")
      slotOf(yield* ledger.admit(ask(limits, { tokens: 300 })))
      yield* TestClock.adjust("10 seconds")
      slotOf(yield* ledger.admit(ask(limits, { tokens: 400 })))
      yield* TestClock.adjust("10 seconds")
      // at 30 s, 600 tokens fit exactly once the first two slots have left: at 70 s (the first leaves at
      // 60 s, leaving 700 + 600 > 1000; the third need not leave, 400 + 600 = 1000 fits)
      assert.deepStrictEqual(refusalOf(yield* ledger.admit(ask(limits, { tokens: 600 }))), {
        kind: "tpm",
        retryAfterMs: 40_000
      })
      yield* TestClock.adjust("39999 millis")
      assert.strictEqual(refusalOf(yield* ledger.admit(ask(limits, { tokens: 600 }))).retryAfterMs, 1)
      yield* TestClock.adjust("1 millis")
      slotOf(yield* ledger.admit(ask(limits, { tokens: 600 })))
    }))

  test("a clock stepped back (an NTP correction) still counts the slots of the window it reads", (ledger) =>
    Effect.gen(function*() {
      slotOf(yield* ledger.admit(ask({ rpm: 2 })))
      slotOf(yield* ledger.admit(ask({ rpm: 2 })))
      yield* TestClock.adjust("61 seconds")
      slotOf(yield* ledger.admit(ask({ rpm: 2 })))
      const [use] = yield* ledger.limitUse()
      assert.deepStrictEqual([use?.requestsMinute, use?.requestsDay], [1, 1])
      // back 31 s: the two slots admitted at the start are in the minute again
      yield* TestClock.setTime(day + 30_000)
      assert.deepStrictEqual(refusalOf(yield* ledger.admit(ask({ rpm: 2 }))), { kind: "rpm", retryAfterMs: 30_000 })
    }))

  test("a learned pause refuses its alias at that endpoint only, until it ends", (ledger) =>
    Effect.gen(function*() {
      yield* ledger.pause("flash", "google", day + 7_000)
      assert.deepStrictEqual(refusalOf(yield* ledger.admit(ask({ rpm: 100 }))), { kind: "server", retryAfterMs: 7000 })
      slotOf(yield* ledger.admit(ask({ rpm: 100 }, { endpoint: "vertex" })))
      slotOf(yield* ledger.admit(ask({ rpm: 100 }, { alias: "pro" })))
      // a shorter pause learned later does not shorten it
      yield* ledger.pause("flash", "google", day + 1_000)
      const [flash] = yield* ledger.limitUse()
      assert.deepStrictEqual(flash?.pauses, [{ endpoint: "google", until: day + 7_000 }])
      yield* TestClock.adjust("7 seconds")
      slotOf(yield* ledger.admit(ask({ rpm: 100 })))
      assert.deepStrictEqual((yield* ledger.limitUse())[0]?.pauses, [])
    }))
})

/** Two services over one store (each its own connection and windows), and a raw count of its rows. */
const shared = [
  {
    name: "sqlite",
    skip: false,
    open: Effect.sync(() => {
      const path = tempFile()
      return {
        layer: () => layerSqlite({ path }),
        rows: Effect.scoped(Effect.flatMap(
          Effect.provideServiceEffect(SqliteClient.make({ filename: path }), Reactivity.Reactivity, Reactivity.make),
          (sql) => sql<{ count: number }>`SELECT COUNT(*) AS count FROM rate_events`
        ))
      }
    })
  },
  {
    name: "postgres",
    skip: !pgReachable,
    open: Effect.map(freshPgSchema(), (url) => ({
      layer: () => layerPostgres({ url }),
      rows: Effect.scoped(Effect.flatMap(
        Effect.provideServiceEffect(PgClient.make({ url }), Reactivity.Reactivity, Reactivity.make),
        (sql) => sql<{ count: number }>`SELECT COUNT(*) AS count FROM rate_events`
      ))
    }))
  }
]

describe.each(shared)("rate-limit windows ($name, shared by connections)", (backend) => {
  /** A store at the test's day, and two connections to it. */
  const twoConnections = Effect.gen(function*() {
    yield* TestClock.setTime(day)
    const store = yield* backend.open
    return { store, a: yield* ledgerOf(store.layer()), b: yield* ledgerOf(store.layer()) }
  })

  it.effect.skipIf(backend.skip)(
    "two connections to one store share slots, corrections and pauses at once",
    () =>
      Effect.gen(function*() {
        const { a, b, store } = yield* twoConnections
        const limits = { rpm: 2, tpm: 1000 }
        const slot = slotOf(yield* a.admit(ask(limits, { tokens: 900 })))
        assert.strictEqual(refusalOf(yield* b.admit(ask(limits, { tokens: 200 }))).kind, "tpm")
        yield* a.release(slot, 100)
        slotOf(yield* b.admit(ask(limits, { tokens: 200 })))
        assert.strictEqual(refusalOf(yield* a.admit(ask(limits, { tokens: 1 }))).kind, "rpm")
        yield* b.pause("flash", "vertex", day + 3_000)
        assert.deepStrictEqual(refusalOf(yield* a.admit(ask({ rpm: 10 }, { endpoint: "vertex" }))), {
          kind: "server",
          retryAfterMs: 3000
        })
        // a third connection opened now starts from what the store holds
        const c = yield* ledgerOf(store.layer())
        assert.strictEqual(refusalOf(yield* c.admit(ask(limits, { tokens: 1 }))).kind, "rpm")
      }).pipe(Effect.scoped)
  )

  it.effect.skipIf(backend.skip)(
    "after the store was idle long enough for every row to be deleted, the connections still see each other's slots",
    () =>
      Effect.gen(function*() {
        const { a, b } = yield* twoConnections
        const limits = { rpm: 2 }
        slotOf(yield* a.admit(ask(limits)))
        slotOf(yield* b.admit(ask(limits)))
        // idle: the next admission deletes every row the windows no longer count
        yield* TestClock.adjust("3 minutes")
        slotOf(yield* a.admit(ask(limits)))
        slotOf(yield* b.admit(ask(limits)))
        assert.strictEqual(refusalOf(yield* b.admit(ask(limits))).kind, "rpm")
        assert.strictEqual(refusalOf(yield* a.admit(ask(limits))).kind, "rpm")
      }).pipe(Effect.scoped)
  )

  it.effect.skipIf(backend.skip)(
    "rows are deleted one retention after no window counts them: storage holds at most twice the windows",
    () =>
      Effect.gen(function*() {
        yield* TestClock.setTime(day)
        const store = yield* backend.open
        const ledger = yield* ledgerOf(store.layer())
        for (let i = 0; i < 5; i++) yield* ledger.release(slotOf(yield* ledger.admit(ask({ rpm: 100 }))), 10)
        slotOf(yield* ledger.admit(ask({ rpm: 100, rpd: 1000 }, { alias: "daily" })))
        yield* ledger.pause("flash", "google", day + 1_000)
        assert.strictEqual(Number((yield* store.rows)[0]?.count), 12)
        // the rows stored after the clock moves on by `duration` and one more attempt is admitted
        const rowsAfter = (duration: Duration.DurationInput) =>
          Effect.gen(function*() {
            yield* TestClock.adjust(duration)
            slotOf(yield* ledger.admit(ask({ rpm: 100 })))
            return Number((yield* store.rows)[0]?.count)
          })
        // one minute on, nothing is deleted yet (a clock stepped back would count them again)
        assert.strictEqual(yield* rowsAfter("1 minute"), 13)
        // two minutes from the start: the first minute slots, their settlements and the pause are gone
        assert.strictEqual(yield* rowsAfter("1 minute"), 3)
        // the rpd slot stays two days; the newest row stays too (the next row is numbered after it)
        assert.strictEqual(yield* rowsAfter("1 day"), 3)
        assert.strictEqual(yield* rowsAfter("1 day"), 2)
      }).pipe(Effect.scoped)
  )
})
