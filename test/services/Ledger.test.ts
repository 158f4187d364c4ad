/**
 * The ledger's behaviour, one shared suite run against every backend (memory, SQLite, PostgreSQL),
 * then what only the durable backends do: refuse foreign or newer files without touching them,
 * survive a reopen, and never store a key. PostgreSQL is skipped with a notice when unreachable,
 * unless EFFECT_LLM_REQUIRE_PG=1.
 */
import * as Reactivity from "@effect/experimental/Reactivity"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as PgClient from "@effect/sql-pg/PgClient"
import * as SqliteClient from "@effect/sql-sqlite-node/SqliteClient"
import { afterAll, assert, describe, it } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import * as TestClock from "effect/TestClock"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import type { LedgerError } from "../../src/domain/Errors.js"
import { TokenUsage } from "../../src/domain/TokenUsage.js"
import * as HttpErrors from "../../src/internal/HttpErrors.js"
import { computeSummary, type Hold, type HoldRequest, Ledger, layerMemory, scrubSecrets } from "../../src/services/Ledger.js"
import * as LedgerSql from "../../src/services/LedgerSql.js"
import * as Loopback from "../support/LoopbackServer.js"

const pgUrl = process.env.EFFECT_LLM_PG_URL ?? "postgres://postgres@127.0.0.1:5432/test"
const runId = `${process.pid}_${Math.floor(Math.random() * 1e9)}`
const tempDir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "effect-llm-ledger-"))
let fileCount = 0
const tempFile = () => Path.join(tempDir, `ledger-${++fileCount}.db`)

/** An admin connection to the test database, for creating and dropping per-test schemas. */
const adminClient = PgClient.make({ url: Redacted.make(pgUrl), connectTimeout: "2 seconds" }).pipe(
  Effect.provideServiceEffect(Reactivity.Reactivity, Reactivity.make)
)

const pgReachable = await Effect.runPromise(
  Effect.scoped(adminClient).pipe(Effect.as(true), Effect.catchAllCause(() => Effect.succeed(false)))
)
if (!pgReachable) {
  if (process.env.EFFECT_LLM_REQUIRE_PG === "1") {
    throw new Error(`PostgreSQL is not reachable at ${pgUrl} and EFFECT_LLM_REQUIRE_PG=1`)
  }
  console.log(`notice: PostgreSQL not reachable at ${pgUrl}; skipping the PostgreSQL ledger suite`)
}

/** A fresh schema, dropped with the scope; the URL picks it through `search_path`. */
const freshPgSchema = (schemaVersion?: number) =>
  Effect.gen(function*() {
    const schema = `effect_llm_test_${runId}_${++fileCount}`
    const admin = yield* Effect.orDie(adminClient)
    yield* Effect.orDie(admin.unsafe(`CREATE SCHEMA ${schema}`))
    yield* Effect.addFinalizer(() => Effect.ignore(admin.unsafe(`DROP SCHEMA ${schema} CASCADE`)))
    if (schemaVersion !== undefined) {
      yield* Effect.orDie(admin.unsafe(`CREATE TABLE ${schema}.effect_llm_migrations (migration_id integer primary key,
        created_at timestamp with time zone not null default now(), name text not null)`))
      yield* Effect.orDie(admin.unsafe(`INSERT INTO ${schema}.effect_llm_migrations (migration_id, name) VALUES (1, 'x'), (${schemaVersion}, 'future')`))
    }
    return Redacted.make(`${pgUrl}?options=${encodeURIComponent(`-c search_path=${schema}`)}`)
  })

/** A PostgreSQL ledger in a fresh schema. */
const layerPostgresFresh = (holdTtlS: number, schemaVersion?: number): Layer.Layer<Ledger, LedgerError> =>
  Layer.unwrapScoped(Effect.map(freshPgSchema(schemaVersion), (url) => LedgerSql.layerPostgres({ url, holdTtlS })))

interface Backend {
  readonly name: string
  readonly skip: boolean
  /** A fresh, empty ledger. */
  readonly layer: (holdTtlS: number) => Layer.Layer<Ledger, LedgerError>
}

const backends: ReadonlyArray<Backend> = [
  { name: "memory", skip: false, layer: (holdTtlS) => layerMemory({ holdTtlS }) },
  { name: "sqlite", skip: false, layer: (holdTtlS) => LedgerSql.layerSqlite({ path: tempFile(), holdTtlS }) },
  { name: "postgres", skip: !pgReachable, layer: (holdTtlS) => layerPostgresFresh(holdTtlS) }
]

afterAll(() => Fs.rmSync(tempDir, { recursive: true, force: true }))

const day = Date.UTC(2026, 0, 15, 12, 0, 0)
const request = (overrides: Partial<HoldRequest> = {}): HoldRequest => ({
  traceId: "trace-1",
  provider: "gemini",
  model: "gemini-2.5-flash",
  alias: "flash",
  estimate: 0.25,
  limit: 1,
  ...overrides
})
const usage = (inputTokens: number, outputTokens: number) =>
  new TokenUsage({ inputTokens, outputTokens, totalTokens: inputTokens + outputTokens })

describe.each(backends)("Ledger ($name)", (backend) => {
  const test = <A, E>(name: string, holdTtlS: number, body: (ledger: Ledger.Service) => Effect.Effect<A, E>) =>
    it.effect.skipIf(backend.skip)(name, () =>
      Effect.gen(function*() {
        yield* TestClock.setTime(day)
        yield* Effect.flatMap(Ledger, body)
      }).pipe(Effect.provide(backend.layer(holdTtlS))))

  test("records a hold, then its commit with usage, cost, attempts and timing", 900, (ledger) =>
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
    }))

  test("records a cancel with its status, error tag and message, and the partial usage", 900, (ledger) =>
    Effect.gen(function*() {
      const failed = yield* ledger.hold(request())
      const stopped = yield* ledger.hold(request({ traceId: "trace-2" }))
      yield* ledger.cancel(failed, {
        cost: 0,
        status: "error",
        attempts: 4,
        error: { tag: "RetryableError", message: "gemini (default) answered HTTP 503: overloaded" }
      })
      yield* ledger.cancel(stopped, { cost: 0.0625, status: "cancelled", usage: usage(10, 5), timing: { totalMs: 40 } })
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
    }))

  test("refuses a hold over the limit with BudgetExceededError (spent, limit, estimate) and records nothing", 900, (ledger) =>
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
    }))

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

  /**
   * The fallback's budget re-check as the client at 97c2780 did it (`checkFallbackBudget`): today's
   * spend read outside any transaction, then the call goes ahead at the fallback's price without raising its hold.
   */
  const fallback = (ledger: Ledger.Service, hold: Hold, estimate: number, limit: number) =>
    Effect.gen(function*() {
      const spent = yield* ledger.spendToday()
      if (spent + estimate - hold.estimate > limit + 1e-12) return yield* Effect.fail({ _tag: "BudgetExceededError" as const })
      return { ...hold, estimate }
    })

  test("concurrent holds that each move to a pricier fallback never together pass the limit", 900, (ledger) =>
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
          ledger.cancel(holds[i]!, { cost: 0, status: "error", error: { tag: "BudgetExceededError", message: "refused" } }))
      const granted = raised.filter(Either.isRight).length
      const spent = yield* ledger.spendToday()
      assert.isAtMost(spent, 1, `${granted} fallbacks went ahead, spending $${spent} of $1`)
      assert.strictEqual(granted, 4)
    }))

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

  test("spend starts again at the UTC day boundary (open holds keep counting until their TTL)", 900, (ledger) =>
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
    }))

  test("only today's settlements count: a later day's rows do not when the clock is behind them (TestClock over a used ledger)", 900, (ledger) =>
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
    }))

  test("an unsettled hold stops counting after holdTtlS, is reported expired, and a late commit is recorded", 60, (ledger) =>
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
    }))

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

  test("summary groups calls, tokens, cost and outcomes by day, model and provider within [since, until)", 60, (ledger) =>
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

      const row = (key: string, calls: number, inputTokens: number, outputTokens: number, cost: number, ok: number, error: number, cancelled: number, expired: number) => ({ key, calls, inputTokens, outputTokens, cost, ok, error, cancelled, expired })
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
    }))
})

// -------------------------------------------------------------------------------------------------
// Durable backends only

const buildFailure = (layer: Layer.Layer<Ledger, LedgerError>) =>
  Effect.flip(Effect.scoped(Layer.build(layer)))

const snapshot = (path: string) => Fs.readFileSync(path)

/** Writes a file with the given SQLite statements through better-sqlite3's own client, then closes it. */
const writeSqlite = (path: string, statements: ReadonlyArray<string>) =>
  Effect.scoped(Effect.gen(function*() {
    const sql = yield* SqliteClient.make({ filename: path, disableWAL: true }).pipe(
      Effect.provideServiceEffect(Reactivity.Reactivity, Reactivity.make)
    )
    for (const statement of statements) yield* Effect.orDie(sql.unsafe(statement))
  }))

/** Two ledgers over one store see each other's writes at once (the spend fold misses no row). */
const twoConnections = (open: Effect.Effect<Ledger.Service, LedgerError, Scope.Scope>) =>
  Effect.gen(function*() {
    yield* TestClock.setTime(day)
    const a = yield* open
    const b = yield* open
    const held = yield* a.hold(request({ estimate: 0.5 }))
    assert.strictEqual(yield* b.spendToday(), 0.5)
    yield* b.hold(request({ estimate: 0.5 }))
    const refused = yield* Effect.flip(a.hold(request({ estimate: 0.25 })))
    assert.strictEqual(refused._tag === "BudgetExceededError" && refused.spent, 1)
    yield* b.commit(held, { cost: 0.125 })
    assert.strictEqual(yield* a.spendToday(), 0.625)
    assert.strictEqual((yield* a.events()).length, 3)
  }).pipe(Effect.scoped)

const ledgerOf = (layer: Layer.Layer<Ledger, LedgerError>) =>
  Effect.map(Layer.build(layer), (context) => Context.get(context, Ledger))

describe("SQLite ledger file", () => {
  it.effect("two connections to one file see each other's holds and settlements at once", () => {
    const path = tempFile()
    return twoConnections(ledgerOf(LedgerSql.layerSqlite({ path })))
  })

  it.effect("keeps its events across a reopen, with parent directories created", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(day)
      const path = Path.join(tempDir, "nested", "deeper", "ledger.db")
      const use = <A, E>(effect: Effect.Effect<A, E, Ledger>) =>
        Effect.provide(effect, LedgerSql.layerSqlite({ path, holdTtlS: 900 }))
      yield* use(Effect.gen(function*() {
        const ledger = yield* Ledger
        const hold = yield* ledger.hold(request())
        yield* ledger.commit(hold, { cost: 0.125 })
      }))
      const events = yield* use(Effect.flatMap(Ledger, (ledger) => ledger.events()))
      assert.deepStrictEqual(events.map((event) => event.type), ["hold", "commit"])
      const journal = yield* Effect.scoped(Effect.gen(function*() {
        const sql = yield* SqliteClient.make({ filename: path }).pipe(
          Effect.provideServiceEffect(Reactivity.Reactivity, Reactivity.make)
        )
        return yield* Effect.orDie(sql.unsafe<{ journal_mode: string }>("PRAGMA journal_mode"))
      }))
      assert.strictEqual(journal[0]!.journal_mode, "wal")
    }))

  it.effect("a reopened ledger counts open holds from before midnight but not yesterday's settlements", () =>
    Effect.gen(function*() {
      const path = tempFile()
      const use = <A, E>(effect: Effect.Effect<A, E, Ledger>) =>
        Effect.provide(effect, LedgerSql.layerSqlite({ path, holdTtlS: 900 }))
      yield* TestClock.setTime(Date.UTC(2026, 0, 15, 23, 59, 0))
      yield* use(Effect.gen(function*() {
        const ledger = yield* Ledger
        yield* ledger.hold(request({ estimate: 0.25 }))
        const settled = yield* ledger.hold(request({ estimate: 0.5 }))
        yield* TestClock.adjust("30 seconds")
        yield* ledger.commit(settled, { cost: 0.125 })
      }))
      yield* TestClock.adjust("1 minute") // 00:00:30 the next day
      yield* use(Effect.gen(function*() {
        const ledger = yield* Ledger
        assert.strictEqual(yield* ledger.spendToday(), 0.25)
        yield* TestClock.adjust("15 minutes")
        assert.strictEqual(yield* ledger.spendToday(), 0)
      }))
    }))

  it.effect("a file that is not a SQLite database fails with LedgerError corrupt and is left byte for byte", () =>
    Effect.gen(function*() {
      const path = tempFile()
      Fs.writeFileSync(path, Buffer.from("this is my thesis, not a ledger\n".repeat(200)))
      const before = snapshot(path)
      const error = yield* buildFailure(LedgerSql.layerSqlite({ path }))
      assert.strictEqual(error.reason, "corrupt")
      assert.include(error.message, path)
      assert.include(error.message, "not a SQLite database")
      assert.isTrue(before.equals(snapshot(path)))
      assert.isFalse(Fs.existsSync(`${path}-wal`))
    }))

  it.effect("a SQLite database of another program fails with LedgerError corrupt and is left unchanged", () =>
    Effect.gen(function*() {
      const path = tempFile()
      yield* writeSqlite(path, ["CREATE TABLE photos (id INTEGER PRIMARY KEY, name TEXT)", "INSERT INTO photos (name) VALUES ('cat')"])
      const before = snapshot(path)
      const error = yield* buildFailure(LedgerSql.layerSqlite({ path }))
      assert.strictEqual(error.reason, "corrupt")
      assert.include(error.message, "not an effect-llm ledger")
      assert.isTrue(before.equals(snapshot(path)))
    }))

  it.effect("a ledger with a newer schema version fails with LedgerError incompatible_schema and is left unchanged", () =>
    Effect.gen(function*() {
      const path = tempFile()
      yield* Effect.scoped(Layer.build(LedgerSql.layerSqlite({ path })))
      yield* writeSqlite(path, ["INSERT INTO effect_llm_migrations (migration_id, name) VALUES (7, 'from_the_future')"])
      const before = snapshot(path)
      const error = yield* buildFailure(LedgerSql.layerSqlite({ path }))
      assert.strictEqual(error.reason, "incompatible_schema")
      assert.include(error.message, "version 7")
      assert.isTrue(before.equals(snapshot(path)))
    }))

  it.effect("a path that cannot be created fails with LedgerError unavailable", () =>
    Effect.gen(function*() {
      const blocker = tempFile()
      Fs.writeFileSync(blocker, "a file where a directory should be")
      const error = yield* buildFailure(LedgerSql.layerSqlite({ path: Path.join(blocker, "sub", "ledger.db") }))
      assert.strictEqual(error.reason, "unavailable")
      assert.include(error.message, "ENOTDIR")
    }))

  it.live("never stores the API key: only ids, usage, cost, timing and the error's tag and message", () =>
    Effect.gen(function*() {
      const key = Redacted.make("sk-live-4f9c2e7a1b8d6053aa91-do-not-store")
      const path = tempFile()
      const server = yield* Loopback.make
      server.setDefault(() => ({
        status: 401,
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ code: "InvalidApiKey", message: "Invalid API-key provided.", request_id: "7f3d" })
      }))
      const context = { provider: "dashscope", endpoint: "intl" }
      yield* Effect.gen(function*() {
        const ledger = yield* Ledger
        const client = yield* HttpClient.HttpClient
        // A call that fails the way a provider call does, its error recorded by `cancel`.
        const hold = yield* ledger.hold(request({ provider: "dashscope", model: "qwen-plus", limit: 0 }))
        const response = yield* client.execute(
          HttpClientRequest.post(`${server.url}/api/v1/services/aigc/text-generation/generation`).pipe(
            HttpClientRequest.bearerToken(key),
            HttpClientRequest.bodyUnsafeJson({ model: "qwen-plus", input: { messages: [{ role: "user", content: "hi" }] } })
          )
        )
        const error = HttpErrors.fromStatus(response.status, yield* HttpErrors.readBodyText(response), context)
        yield* ledger.cancel(hold, { cost: 0, status: "error", attempts: 1, error: { tag: error._tag, message: error.message } })
        // A transport failure (its request, with the auth header, is part of the HttpClientError).
        const refused = yield* ledger.hold(request({ provider: "dashscope", limit: 0 }))
        const transport = yield* Effect.flip(
          client.execute(HttpClientRequest.get("http://127.0.0.1:1/").pipe(HttpClientRequest.bearerToken(key)))
        )
        const retryable = HttpErrors.fromHttpClientError(transport, context)
        yield* ledger.cancel(refused, {
          cost: 0,
          status: "error",
          error: { tag: retryable._tag, message: `${retryable.message}; request ${JSON.stringify(transport.request)}` }
        })
        const ok = yield* ledger.hold(request({ limit: 0 }))
        yield* ledger.commit(ok, { cost: 0.001, usage: usage(12, 3), attempts: 1, timing: { ttftMs: 5, totalMs: 9 } })
        const stored = yield* ledger.events()
        assert.include(stored[1]!.error!.message, "Invalid API-key provided.")
        // JSON.stringify of an HttpClientRequest shows the authorization header in clear: the ledger scrubs it
        assert.include(JSON.stringify(transport.request), Redacted.value(key))
        assert.include(stored[3]!.error!.message, `"authorization":"<redacted>"`)
      }).pipe(Effect.provide(Layer.merge(LedgerSql.layerSqlite({ path }), NodeHttpClient.layerUndici)))
      // the key really went over the wire …
      assert.strictEqual(server.requests[0]!.headers.authorization, `Bearer ${Redacted.value(key)}`)
      // … and is in no byte of the ledger (main file, and WAL if any is left)
      const needle = Buffer.from(Redacted.value(key))
      for (const file of [path, `${path}-wal`].filter((file) => Fs.existsSync(file))) {
        assert.strictEqual(Fs.readFileSync(file).indexOf(needle), -1, `${file} contains the key`)
      }
      assert.notStrictEqual(Fs.readFileSync(path).indexOf(Buffer.from("Invalid API-key provided.")), -1)
    }).pipe(Effect.scoped))
})

describe("scrubSecrets", () => {
  it("removes credentials from error messages before they are stored", () => {
    const gemini = "AIzaSyA1b2C3d4E5f6G7h8I9j0KlMnOpQrStUvW"
    assert.strictEqual(
      scrubSecrets(`GET https://generativelanguage.googleapis.com/v1beta/models/x?key=${gemini}&alt=sse failed`),
      "GET https://generativelanguage.googleapis.com/v1beta/models/x?key=<redacted>&alt=sse failed"
    )
    assert.strictEqual(scrubSecrets(`headers: x-goog-api-key: ${gemini}, accept: */*`), "headers: x-goog-api-key: <redacted>, accept: */*")
    assert.strictEqual(scrubSecrets("Authorization: Bearer sk-0123456789abcdef0123"), "Authorization: <redacted>")
    assert.strictEqual(scrubSecrets("Incorrect API key provided: sk-0123456789abcdef0123."), "Incorrect API key provided: <redacted>.")
    assert.strictEqual(scrubSecrets("dashscope (intl) answered HTTP 503: overloaded"), "dashscope (intl) answered HTTP 503: overloaded")
  })
})

describe("PostgreSQL ledger", () => {
  it.effect.skipIf(!pgReachable)("two connections to one database see each other's holds and settlements at once", () =>
    Effect.gen(function*() {
      const url = yield* freshPgSchema()
      yield* twoConnections(ledgerOf(LedgerSql.layerPostgres({ url })))
    }).pipe(Effect.scoped))

  it.effect.skipIf(!pgReachable)("a database whose ledger schema is newer fails with LedgerError incompatible_schema", () =>
    Effect.gen(function*() {
      const error = yield* buildFailure(layerPostgresFresh(900, 9))
      assert.strictEqual(error.reason, "incompatible_schema")
      assert.include(error.message, "version 9")
    }))

  it.effect("an unreachable server fails with LedgerError unavailable whose message holds no password", () =>
    Effect.gen(function*() {
      const error = yield* buildFailure(
        LedgerSql.layerPostgres({ url: Redacted.make("postgres://ledger:hunter2-secret@127.0.0.1:1/ledger") })
      )
      assert.strictEqual(error.reason, "unavailable")
      assert.include(error.message, "127.0.0.1:1/ledger")
      assert.notInclude(error.message, "hunter2")
    }), { timeout: 10_000 })
})

describe("layerFromConfig", () => {
  it.effect("picks the backend named in config", () =>
    Effect.gen(function*() {
      const memory = yield* Effect.provide(Effect.flatMap(Ledger, (ledger) => ledger.spendToday()), LedgerSql.layerFromConfig({ backend: "memory" }, 60))
      assert.strictEqual(memory, 0)
      const path = Path.join(tempDir, "from-config", "ledger.db")
      yield* Effect.scoped(Layer.build(LedgerSql.layerFromConfig({ backend: "sqlite", path }, 60)))
      assert.isTrue(Fs.existsSync(path))
      const missing = yield* buildFailure(LedgerSql.layerFromConfig({ backend: "postgres", url: undefined }, 60))
      assert.strictEqual(missing.reason, "unavailable")
      assert.include(missing.message, "ledger.url")
      const exit = yield* Effect.exit(Effect.scoped(Layer.build(LedgerSql.layerFromConfig({ backend: "memory" }, 60))))
      assert.isTrue(Exit.isSuccess(exit))
    }))
})
