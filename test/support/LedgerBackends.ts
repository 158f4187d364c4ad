/**
 * What the ledger tests share: every backend as a fresh layer (memory, a SQLite temp file, a
 * PostgreSQL schema of its own), a temp directory, and hold requests. PostgreSQL is skipped with a
 * notice when unreachable, unless EFFECT_LLM_REQUIRE_PG=1.
 */
import * as Reactivity from "@effect/experimental/Reactivity"
import * as PgClient from "@effect/sql-pg/PgClient"
import { afterAll } from "@effect/vitest"
import { assert } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import * as TestClock from "effect/TestClock"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import type { LedgerError } from "../../src/domain/Errors.js"
import { TokenUsage } from "../../src/domain/TokenUsage.js"
import { type HoldRequest, layerMemory, layerPostgres, layerSqlite, Ledger } from "../../src/services/Ledger.js"

export const pgUrl = process.env.EFFECT_LLM_PG_URL ?? "postgres://postgres@127.0.0.1:5432/test"
const runId = `${process.pid}_${Math.floor(Math.random() * 1e9)}`

/** A temp directory removed after the file's tests. */
export const tempDir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "effect-llm-ledger-"))
afterAll(() => Fs.rmSync(tempDir, { recursive: true, force: true }))
let fileCount = 0
/** A fresh path in the temp directory. */
export const tempFile = () => Path.join(tempDir, `ledger-${++fileCount}.db`)

/** An admin connection to the test database, for creating and dropping per-test schemas. */
export const adminClient = PgClient.make({ url: Redacted.make(pgUrl), connectTimeout: "2 seconds" }).pipe(
  Effect.provideServiceEffect(Reactivity.Reactivity, Reactivity.make)
)

/** Whether the test database answers. */
export const pgReachable = await Effect.runPromise(
  Effect.scoped(adminClient).pipe(Effect.as(true), Effect.catchAllCause(() => Effect.succeed(false)))
)
if (!pgReachable) {
  if (process.env.EFFECT_LLM_REQUIRE_PG === "1") {
    throw new Error(`PostgreSQL is not reachable at ${pgUrl} and EFFECT_LLM_REQUIRE_PG=1`)
  }
  console.log(`notice: PostgreSQL not reachable at ${pgUrl}; skipping the PostgreSQL ledger tests`)
}

/** A URL whose connections use `schema` (through `search_path`). */
export const schemaUrl = (schema: string) => `${pgUrl}?options=${encodeURIComponent(`-c search_path=${schema}`)}`

/**
 * A fresh schema, dropped with the scope; the URL picks it through `search_path`. With
 * `schemaVersion`, a migrations table claims that version (a ledger from the future).
 */
export const freshPgSchema = (schemaVersion?: number) =>
  Effect.gen(function*() {
    const schema = `effect_llm_test_${runId}_${++fileCount}`
    const admin = yield* Effect.orDie(adminClient)
    yield* Effect.orDie(admin.unsafe(`CREATE SCHEMA ${schema}`))
    yield* Effect.addFinalizer(() => Effect.ignore(admin.unsafe(`DROP SCHEMA ${schema} CASCADE`)))
    if (schemaVersion !== undefined) {
      yield* Effect.orDie(admin.unsafe(`CREATE TABLE ${schema}.effect_llm_migrations (migration_id integer primary key,
        created_at timestamp with time zone not null default now(), name text not null)`))
      yield* Effect.orDie(
        admin.unsafe(
          `INSERT INTO ${schema}.effect_llm_migrations (migration_id, name) VALUES (1, 'x'), (${schemaVersion}, 'future')`
        )
      )
    }
    return Redacted.make(schemaUrl(schema))
  })

/** A PostgreSQL ledger in a fresh schema. */
export const layerPostgresFresh = (holdTtlS: number, schemaVersion?: number): Layer.Layer<Ledger, LedgerError> =>
  Layer.unwrapScoped(Effect.map(freshPgSchema(schemaVersion), (url) => layerPostgres({ url, holdTtlS })))

/** A backend the shared suites run against. */
export interface Backend {
  readonly name: string
  readonly skip: boolean
  /** A fresh, empty ledger. */
  readonly layer: (holdTtlS: number) => Layer.Layer<Ledger, LedgerError>
}

/** Memory, SQLite and PostgreSQL. */
export const backends: ReadonlyArray<Backend> = [
  { name: "memory", skip: false, layer: (holdTtlS) => layerMemory({ holdTtlS }) },
  { name: "sqlite", skip: false, layer: (holdTtlS) => layerSqlite({ path: tempFile(), holdTtlS }) },
  { name: "postgres", skip: !pgReachable, layer: (holdTtlS) => layerPostgresFresh(holdTtlS) }
]

/** Noon UTC on Thursday 2026-01-15. */
export const day = Date.UTC(2026, 0, 15, 12, 0, 0)

/**
 * A hold request: `flash` on gemini, $0.25 against a global daily `limit` of $1 (a `limit` of 0: no
 * limit); `limits` overrides it.
 */
export const request = (overrides: Partial<HoldRequest> & { readonly limit?: number } = {}): HoldRequest => {
  const { limit = 1, ...rest } = overrides
  return {
    traceId: "trace-1",
    provider: "gemini",
    model: "gemini-2.5-flash",
    alias: "flash",
    estimate: 0.25,
    limits: limit > 0 ? [{ scope: "global", window: "daily", limit }] : [],
    ...rest
  }
}

/** Token usage with its total. */
export const usage = (inputTokens: number, outputTokens: number) =>
  new TokenUsage({ inputTokens, outputTokens, totalTokens: inputTokens + outputTokens })

/** The error a layer fails to build with. */
export const buildFailure = (layer: Layer.Layer<Ledger, LedgerError>) => Effect.flip(Effect.scoped(Layer.build(layer)))

/** The service of a layer, built in the current scope. */
export const ledgerOf = (layer: Layer.Layer<Ledger, LedgerError>) =>
  Effect.map(Layer.build(layer), (context) => Context.get(context, Ledger))

/** Two ledgers over one store see each other's writes at once (the spend fold misses no row). */
export const twoConnections = (open: Effect.Effect<Ledger.Service, LedgerError, Scope.Scope>) =>
  Effect.gen(function*() {
    yield* TestClock.setTime(day)
    const a = yield* open
    const b = yield* open
    const held = yield* a.hold(request({ estimate: 0.5 }))
    assert.strictEqual(yield* b.spendToday(), 0.5)
    const other = yield* b.hold(request({ estimate: 0.5 }))
    const refused = yield* Effect.flip(a.hold(request({ estimate: 0.25 })))
    assert.strictEqual(refused._tag === "BudgetExceededError" && refused.spent, 1)
    yield* b.commit(held, { cost: 0.125 })
    assert.strictEqual(yield* a.spendToday(), 0.625)
    assert.strictEqual((yield* a.events()).length, 3)
    // a raise through one is seen by the other
    const limits = [{ scope: "global", window: "daily", limit: 1 }] as const
    const raised = yield* b.raise(other, {
      provider: "gemini",
      model: "gemini-2.5-pro",
      alias: "pro",
      estimate: 0.875,
      limits
    })
    assert.strictEqual(yield* a.spendToday(), 1)
    assert.strictEqual(yield* a.spend("model:pro", "daily"), 0.875)
    assert.strictEqual((yield* Effect.flip(a.hold(request({ estimate: 0.125 }))))._tag, "BudgetExceededError")
    // a refusal by what `a` read last is not final: the settlement written since frees the room
    yield* b.commit(raised, { cost: 0.25 })
    const inFlight = yield* a.hold(request({ estimate: 0.5 }))
    assert.strictEqual(yield* b.spendToday(), 0.875)
    // a renewal through one (a call still in flight) keeps the hold counting for the other past the TTL
    yield* TestClock.adjust("10 minutes")
    yield* a.renew!(inFlight)
    yield* TestClock.adjust("10 minutes") // 20 minutes after the hold: 5 past its 15-minute TTL
    assert.strictEqual(yield* b.spendToday(), 0.875)
    yield* TestClock.adjust("5 minutes") // 15 minutes after the renewal
    assert.strictEqual(yield* b.spendToday(), 0.375)
  }).pipe(Effect.scoped)

/**
 * A ledger reopened (each `open()` a fresh layer over the same store) starts from this week's and
 * month's settlements and the open holds: what it spent before the restart still counts in every
 * window and scope.
 */
export const reopenedCountsEveryWindow = (open: () => Layer.Layer<Ledger, LedgerError>) =>
  Effect.gen(function*() {
    const use = <A, E>(effect: Effect.Effect<A, E, Ledger>) => Effect.provide(effect, open())
    const call = (overrides: Partial<HoldRequest>, cost: number, cancel = false) =>
      Effect.gen(function*() {
        const ledger = yield* Ledger
        const hold = yield* ledger.hold(request({ limit: 0, ...overrides }))
        if (cancel) yield* ledger.cancel(hold, { cost, status: "cancelled" })
        else yield* ledger.commit(hold, { cost })
      })
    yield* TestClock.setTime(Date.UTC(2026, 0, 1, 10)) // Thursday 1 January (its week began Monday 29 December)
    yield* use(Effect.all([call({ tags: { user: "u1" } }, 0.25), call({ alias: "pro" }, 0.125, true)]))
    yield* TestClock.setTime(Date.UTC(2026, 0, 5, 10)) // Monday 5th: a new week
    yield* use(Effect.gen(function*() {
      yield* call({ tags: { user: "u1" } }, 0.5)
      yield* (yield* Ledger).hold(request({ estimate: 0.0625, limit: 0 })) // never settled
    }))
    yield* TestClock.setTime(Date.UTC(2026, 0, 7, 10)) // Wednesday: long after the open hold expired
    yield* use(Effect.gen(function*() {
      const ledger = yield* Ledger
      assert.deepStrictEqual(
        yield* Effect.all([
          ledger.spend("global", "monthly"),
          ledger.spend("global", "weekly"),
          ledger.spendToday(),
          ledger.spend("user:u1", "monthly"),
          ledger.spend("user:u1", "weekly"),
          ledger.spend("model:pro", "monthly")
        ]),
        [0.875, 0.5, 0, 0.75, 0.5, 0.125]
      )
      const refused = yield* Effect.flip(ledger.hold(request({
        estimate: 0.5,
        tags: { user: "u1" },
        limits: [{ scope: "user:u1", window: "monthly", limit: 1 }]
      })))
      assert.deepStrictEqual(refused._tag === "BudgetExceededError" && [refused.scope, refused.spent], [
        "user:u1",
        0.75
      ])
    }))
  })
