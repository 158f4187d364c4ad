/**
 * Schemas v2 (tags, raise rows), v3 (rate-limit rows), v4 (partial indexes) and v5 (usage parts) over ledgers written
 * by the release before them: a SQLite file and a PostgreSQL schema made by effect-llm at 97c2780
 * (test/support/fixtures/ledger) open, are migrated
 * in place with every row kept, and then work as any ledger: tags, raises, the spend of each window.
 */
import * as Reactivity from "@effect/experimental/Reactivity"
import * as PgClient from "@effect/sql-pg/PgClient"
import * as SqliteClient from "@effect/sql-sqlite-node/SqliteClient"
import type * as SqlClient from "@effect/sql/SqlClient"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Redacted from "effect/Redacted"
import * as TestClock from "effect/TestClock"
import * as Fs from "node:fs"
import * as Path from "node:path"
import { fileURLToPath } from "node:url"
import type { LedgerError } from "../../../src/domain/Errors.js"
import { TokenUsage } from "../../../src/domain/TokenUsage.js"
import { layerPostgres, layerSqlite, Ledger } from "../../../src/services/Ledger.js"
import { buildFailure, freshPgSchema, pgReachable, tempFile } from "../../support/LedgerBackends.js"

const fixtures = Path.resolve(Path.dirname(fileURLToPath(import.meta.url)), "../../support/fixtures/ledger")

/** Every column version 1 had, in `seq` order: what the migration must keep. */
const v1Rows = (sql: SqlClient.SqlClient) =>
  Effect.orDie(sql.unsafe<Record<string, unknown>>(`SELECT seq, id, type, hold_id, trace_id, provider, model, alias,
    endpoint, input_tokens, output_tokens, total_tokens, cost, status, attempts, error_tag, error_message, ttft_ms, total_ms,
    timestamp FROM ledger_events ORDER BY seq`))

const versions = (sql: SqlClient.SqlClient) =>
  Effect.map(
    Effect.orDie(
      sql.unsafe<{ migration_id: number }>("SELECT migration_id FROM effect_llm_migrations ORDER BY migration_id")
    ),
    (rows) => rows.map((row) => Number(row.migration_id))
  )

const sqliteClient = (path: string) =>
  Effect.provideServiceEffect(SqliteClient.make({ filename: path }), Reactivity.Reactivity, Reactivity.make)

const pgClient = (url: Redacted.Redacted<string>) =>
  Effect.provideServiceEffect(PgClient.make({ url }), Reactivity.Reactivity, Reactivity.make)

/**
 * What the fixtures hold (written 2026-01-14 and -15, see the fixtures' README): on the 14th a commit
 * ($0.0042) and an error cancel; on the 15th a cancelled call ($0.0000123), a commit by a fallback
 * (qwen-max, $0.0125) and one hold never settled ($0.05, trace v1-e).
 */
const usesTheMigratedLedger = (layer: Layer.Layer<Ledger, LedgerError>) =>
  Effect.gen(function*() {
    yield* TestClock.setTime(Date.UTC(2026, 0, 15, 9, 31))
    const ledger = yield* Ledger
    const events = yield* ledger.events()
    assert.deepStrictEqual(events.map((event) => `${event.traceId}:${event.type}`), [
      "v1-a:hold",
      "v1-a:commit",
      "v1-b:hold",
      "v1-b:cancel",
      "v1-c:hold",
      "v1-c:cancel",
      "v1-d:hold",
      "v1-d:commit",
      "v1-e:hold"
    ])
    assert.isTrue(events.every((event) => event.tags === undefined))
    assert.deepStrictEqual(events[1]!.usage, { inputTokens: 1200, outputTokens: 300, totalTokens: 1500 })
    assert.deepStrictEqual(events[3]!.error, {
      tag: "RetryableError",
      message: "dashscope (intl) answered HTTP 503: overloaded"
    })
    assert.deepStrictEqual([events[7]!.model, events[7]!.alias, events[7]!.endpoint], ["qwen-max", "qwen-max", "intl"])
    assert.closeTo(yield* ledger.spendToday(), 0.0000123 + 0.0125 + 0.05, 1e-12)
    assert.closeTo(yield* ledger.spend("global", "weekly"), 0.0042 + 0.0000123 + 0.0125 + 0.05, 1e-12)
    assert.closeTo(yield* ledger.spend("model:qwen-max", "monthly"), 0.0125, 1e-12)
    assert.deepStrictEqual(
      (yield* ledger.summary({ groupBy: "day" })).map((row) => [row.key, row.calls, row.ok, row.error]),
      [
        ["2026-01-14", 2, 1, 1],
        ["2026-01-15", 3, 1, 0]
      ]
    )

    // the open v1 hold can be raised and settled, and new holds carry tags
    const open = events[8]!
    const hold = {
      id: open.holdId,
      traceId: open.traceId,
      provider: open.provider,
      model: open.model,
      alias: open.alias!,
      tags: undefined,
      estimate: open.cost,
      timestamp: open.timestamp
    }
    const limits = [{ scope: "global", window: "daily", limit: 1 }] as const
    const raised = yield* ledger.raise(hold, {
      provider: "gemini",
      model: "gemini-2.5-pro",
      alias: "pro",
      estimate: 0.25,
      limits
    })
    // v5: a commit keeps the usage parts beside the totals (the v1 rows read back without them)
    const usage = {
      inputTokens: 1000,
      outputTokens: 200,
      totalTokens: 1200,
      cachedInputTokens: 600,
      cacheWriteTokens: 100,
      reasoningTokens: 50
    }
    yield* ledger.commit(raised, { cost: 0.125, usage: new TokenUsage(usage) })
    const tagged = yield* ledger.hold({
      traceId: "v2",
      provider: "gemini",
      model: "gemini-2.5-flash",
      alias: "flash",
      tags: { user: "u-42" },
      estimate: 0.5,
      limits
    })
    assert.closeTo(yield* ledger.spendToday(), 0.0000123 + 0.0125 + 0.125 + 0.5, 1e-12)
    assert.strictEqual(yield* ledger.spend("user:u-42", "monthly"), 0.5)
    const after = yield* ledger.events()
    assert.deepStrictEqual([after[8]!.cost, after[8]!.alias], [0.25, "pro"])
    assert.deepStrictEqual({ ...after[9]!.usage }, usage)
    assert.deepStrictEqual(after.at(-1)!.tags, { user: "u-42" })
    assert.strictEqual(after.at(-1)!.holdId, tagged.id)
  }).pipe(Effect.provide(layer))

describe("ledger migration from schema v1", () => {
  it.effect("a SQLite file written by 97c2780 is migrated in place: every row kept, tags and raises work", () =>
    Effect.gen(function*() {
      const path = tempFile()
      Fs.copyFileSync(Path.join(fixtures, "v1.db"), path)
      const before = yield* Effect.scoped(
        Effect.flatMap(sqliteClient(path), (sql) => Effect.all([v1Rows(sql), versions(sql)]))
      )
      assert.strictEqual(before[0].length, 9)
      assert.deepStrictEqual(before[1], [1])

      yield* usesTheMigratedLedger(layerSqlite({ path }))

      yield* Effect.scoped(Effect.gen(function*() {
        const sql = yield* sqliteClient(path)
        assert.deepStrictEqual(yield* versions(sql), [1, 2, 3, 4, 5, 6])
        assert.deepStrictEqual((yield* v1Rows(sql)).slice(0, 9), before[0])
        const [integrity] = yield* Effect.orDie(sql.unsafe<{ integrity_check: string }>("PRAGMA integrity_check"))
        assert.strictEqual(integrity!.integrity_check, "ok")
        const indexes = yield* Effect.orDie(sql.unsafe<{ name: string }>(
          "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'ledger_events' ORDER BY name"
        ))
        assert.deepStrictEqual(indexes.map((index) => index.name), [
          "ledger_events_hold_trace_id",
          "ledger_events_settlement_hold_id",
          "ledger_events_timestamp"
        ])
        const tables = yield* Effect.orDie(
          sql.unsafe<{ name: string }>("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        )
        assert.deepStrictEqual(tables.map((table) => table.name), [
          "effect_llm_migrations",
          "ledger_events",
          "rate_events"
        ])
        // the rebuilt table still checks its types
        const bogus = yield* Effect.flip(sql.unsafe(
          "INSERT INTO ledger_events (id, type, hold_id, trace_id, provider, model, cost, status, timestamp) VALUES ('x', 'bogus', 'x', 'x', 'x', 'x', 0, 'ok', 0)"
        ))
        assert.include(String(bogus.cause), "CHECK constraint failed")
      }))
      // a second open finds nothing to migrate
      yield* Effect.scoped(Layer.build(layerSqlite({ path })))
      assert.deepStrictEqual(yield* Effect.scoped(Effect.flatMap(sqliteClient(path), versions)), [1, 2, 3, 4, 5, 6])
    }))

  it.effect("a version 1 ledger whose migration cannot be recorded (a read-only file) is LedgerError unavailable saying so, left as it was", () =>
    Effect.gen(function*() {
      const path = tempFile()
      Fs.copyFileSync(Path.join(fixtures, "v1.db"), path)
      // The write a read-only file refuses: @effect/sql's Migrator takes such a failure for another
      // process migrating and skips the migration without an error.
      const before = yield* Effect.scoped(Effect.gen(function*() {
        const sql = yield* sqliteClient(path)
        yield* Effect.orDie(sql.unsafe(
          `CREATE TRIGGER refuse_records BEFORE INSERT ON effect_llm_migrations BEGIN SELECT RAISE(ABORT, 'attempt to write a readonly database'); END`
        ))
        return yield* v1Rows(sql)
      }))
      const error = yield* buildFailure(layerSqlite({ path }))
      assert.strictEqual(error.reason, "unavailable")
      assert.include(error.message, "schema is version 1 and could not be migrated to 6")
      yield* Effect.scoped(Effect.gen(function*() {
        const sql = yield* sqliteClient(path)
        assert.deepStrictEqual(yield* versions(sql), [1])
        assert.deepStrictEqual(yield* v1Rows(sql), before)
      }))
    }))

  it.effect("a SQLite migration that fails leaves the version 1 ledger as it was", () =>
    Effect.gen(function*() {
      const path = tempFile()
      Fs.copyFileSync(Path.join(fixtures, "v1.db"), path)
      // a table in the way of the rebuild makes version 2 fail midway
      const before = yield* Effect.scoped(Effect.gen(function*() {
        const sql = yield* sqliteClient(path)
        yield* Effect.orDie(sql.unsafe("CREATE TABLE ledger_events_v2 (x INTEGER)"))
        return yield* v1Rows(sql)
      }))
      const error = yield* buildFailure(layerSqlite({ path }))
      assert.strictEqual(error.reason, "write_failed")
      assert.include(error.message, "migrating the schema")
      yield* Effect.scoped(Effect.gen(function*() {
        const sql = yield* sqliteClient(path)
        assert.deepStrictEqual(yield* versions(sql), [1])
        assert.deepStrictEqual(yield* v1Rows(sql), before)
        const [columns] = yield* Effect.orDie(sql.unsafe<{ count: number }>(
          "SELECT COUNT(*) AS count FROM pragma_table_info('ledger_events') WHERE name = 'tags'"
        ))
        assert.strictEqual(columns!.count, 0)
      }))
    }))

  it.effect.skipIf(!pgReachable)(
    "a PostgreSQL schema written by 97c2780 is migrated in place: every row kept, tags and raises work",
    () =>
      Effect.gen(function*() {
        const url = yield* freshPgSchema()
        const dump = Fs.readFileSync(Path.join(fixtures, "v1-postgres.sql"), "utf8")
        const statements = dump.split("\n").filter((line) => !line.startsWith("--")).join("\n").split(/;\s*\n/)
          .map((statement) => statement.trim()).filter((statement) => statement.length > 0)
        const before = yield* Effect.scoped(Effect.gen(function*() {
          const sql = yield* pgClient(url)
          for (const statement of statements) yield* Effect.orDie(sql.unsafe(statement))
          return yield* Effect.all([v1Rows(sql), versions(sql)])
        }))
        assert.strictEqual(before[0].length, 9)
        assert.deepStrictEqual(before[1], [1])

        yield* usesTheMigratedLedger(layerPostgres({ url }))

        yield* Effect.scoped(Effect.gen(function*() {
          const sql = yield* pgClient(url)
          assert.deepStrictEqual(yield* versions(sql), [1, 2, 3, 4, 5, 6])
          assert.deepStrictEqual((yield* v1Rows(sql)).slice(0, 9), before[0])
          const indexes = yield* Effect.orDie(sql.unsafe<{ indexname: string; indexdef: string }>(
            "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema() AND tablename = 'ledger_events' ORDER BY indexname"
          ))
          assert.deepStrictEqual(indexes.map((index) => index.indexname), [
            "ledger_events_hold_trace_id",
            "ledger_events_pkey",
            "ledger_events_settlement_hold_id",
            "ledger_events_timestamp"
          ])
          assert.include(indexes[0]!.indexdef, "WHERE (type = 'hold'::text)")
          assert.include(indexes[2]!.indexdef, "WHERE (type <> 'hold'::text)")
          const bogus = yield* Effect.flip(sql.unsafe(
            "INSERT INTO ledger_events (id, type, hold_id, trace_id, provider, model, cost, status, timestamp) VALUES ('x', 'bogus', 'x', 'x', 'x', 'x', 0, 'ok', 0)"
          ))
          assert.include(String(bogus.cause), "ledger_events_type_check")
        }))
      }).pipe(Effect.scoped)
  )
})
