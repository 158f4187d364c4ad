/**
 * The durable ledger's versioned schema, shared by SQLite and PostgreSQL and applied by the
 * `@effect/sql` Migrator (in a transaction) when a ledger layer is built. Append new migrations;
 * never change what a shipped one does.
 */
import * as Migrator from "@effect/sql/Migrator"
import * as SqlClient from "@effect/sql/SqlClient"
import * as Effect from "effect/Effect"

/** The table recording which migrations were applied (the schema version is its highest id). */
export const migrationsTable = "effect_llm_migrations"

/** The highest schema version this code knows; a ledger at a higher one is refused, not touched. */
export const latestVersion = 6

const indexes = (sql: SqlClient.SqlClient) =>
  Effect.all([
    sql`CREATE INDEX ledger_events_timestamp ON ledger_events (timestamp)`,
    sql`CREATE INDEX ledger_events_trace_id ON ledger_events (trace_id)`,
    sql`CREATE INDEX ledger_events_hold_id ON ledger_events (hold_id, type)`
  ], { discard: true })

/**
 * Version 1: one table of immutable events, in `seq` order. `id` is a random UUID and is never
 * looked up (settlements name their hold by `hold_id`), so it carries no unique index: every index
 * is another page written, and fsynced, per event. Indexes: `timestamp` (events since, summary
 * ranges, the spend fold's start), `trace_id` and `(hold_id, type)` (a hold's settlements).
 */
const createEvents = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* sql.onDialectOrElse({
    pg: () =>
      sql`CREATE TABLE ledger_events (
  seq BIGSERIAL PRIMARY KEY,
  id TEXT NOT NULL,
  type TEXT NOT NULL CHECK (type IN ('hold', 'commit', 'cancel')),
  hold_id TEXT NOT NULL,
  trace_id TEXT NOT NULL,
  provider TEXT NOT NULL,
  model TEXT NOT NULL,
  alias TEXT,
  endpoint TEXT,
  input_tokens INTEGER,
  output_tokens INTEGER,
  total_tokens INTEGER,
  cost DOUBLE PRECISION NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('ok', 'error', 'cancelled')),
  attempts INTEGER,
  error_tag TEXT,
  error_message TEXT,
  ttft_ms DOUBLE PRECISION,
  total_ms DOUBLE PRECISION,
  timestamp BIGINT NOT NULL
)`,
    orElse: () =>
      sql`CREATE TABLE ledger_events (
  seq INTEGER PRIMARY KEY,
  id TEXT NOT NULL,
  type TEXT NOT NULL CHECK (type IN ('hold', 'commit', 'cancel')),
  hold_id TEXT NOT NULL,
  trace_id TEXT NOT NULL,
  provider TEXT NOT NULL,
  model TEXT NOT NULL,
  alias TEXT,
  endpoint TEXT,
  input_tokens INTEGER,
  output_tokens INTEGER,
  total_tokens INTEGER,
  cost REAL NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('ok', 'error', 'cancelled')),
  attempts INTEGER,
  error_tag TEXT,
  error_message TEXT,
  ttft_ms REAL,
  total_ms REAL,
  timestamp BIGINT NOT NULL
)`
  })
  yield* indexes(sql)
})

/**
 * Version 2: a `tags` column (the call's tags as a JSON object, on holds, raises and settlements) and
 * `raise` rows (a fallback raising its hold). PostgreSQL alters the table in place (the type check is
 * the one version 1's column constraint was named by PostgreSQL). SQLite cannot change a CHECK, so
 * the table is rebuilt: a new table, every row copied with its `seq`, the old one dropped, the new one
 * renamed and indexed — inside the migration's transaction, so a failure leaves version 1 as it was.
 */
const tagsAndRaises = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* sql.onDialectOrElse({
    pg: () =>
      Effect.all([
        sql`ALTER TABLE ledger_events ADD COLUMN tags TEXT`,
        sql`ALTER TABLE ledger_events DROP CONSTRAINT ledger_events_type_check`,
        sql`ALTER TABLE ledger_events ADD CONSTRAINT ledger_events_type_check
  CHECK (type IN ('hold', 'raise', 'commit', 'cancel'))`
      ], { discard: true }),
    orElse: () =>
      Effect.all([
        sql`CREATE TABLE ledger_events_v2 (
  seq INTEGER PRIMARY KEY,
  id TEXT NOT NULL,
  type TEXT NOT NULL CHECK (type IN ('hold', 'raise', 'commit', 'cancel')),
  hold_id TEXT NOT NULL,
  trace_id TEXT NOT NULL,
  provider TEXT NOT NULL,
  model TEXT NOT NULL,
  alias TEXT,
  endpoint TEXT,
  input_tokens INTEGER,
  output_tokens INTEGER,
  total_tokens INTEGER,
  cost REAL NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('ok', 'error', 'cancelled')),
  attempts INTEGER,
  error_tag TEXT,
  error_message TEXT,
  ttft_ms REAL,
  total_ms REAL,
  timestamp BIGINT NOT NULL,
  tags TEXT
)`,
        sql`INSERT INTO ledger_events_v2 (seq, id, type, hold_id, trace_id, provider, model, alias, endpoint,
  input_tokens, output_tokens, total_tokens, cost, status, attempts, error_tag, error_message, ttft_ms, total_ms,
  timestamp)
SELECT seq, id, type, hold_id, trace_id, provider, model, alias, endpoint,
  input_tokens, output_tokens, total_tokens, cost, status, attempts, error_tag, error_message, ttft_ms, total_ms,
  timestamp
FROM ledger_events ORDER BY seq`,
        sql`DROP TABLE ledger_events`,
        sql`ALTER TABLE ledger_events_v2 RENAME TO ledger_events`,
        indexes(sql)
      ], { discard: true })
  })
})

/**
 * Version 3: `rate_events`, the rate limiter's log (API.md §11), append-only like the events: a
 * `slot` row per admitted attempt (its tokens the estimate), a `settle` row correcting a slot's tokens
 * to what its attempt used, a `pause` row per server-taught pause (`timestamp` is when it ends).
 * `keep_until` is when no window counts the row any more (60 s, or 24 h for an alias with `rpd`); rows
 * one retention past it are deleted by the admitting processes, so the table holds at most two days of
 * attempts.
 */
const rateEvents = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* sql.onDialectOrElse({
    pg: () =>
      sql`CREATE TABLE rate_events (
  seq BIGSERIAL PRIMARY KEY,
  type TEXT NOT NULL CHECK (type IN ('slot', 'settle', 'pause')),
  slot_id TEXT NOT NULL,
  alias TEXT NOT NULL,
  endpoint TEXT NOT NULL,
  tokens BIGINT NOT NULL,
  timestamp BIGINT NOT NULL,
  keep_until BIGINT NOT NULL
)`,
    orElse: () =>
      sql`CREATE TABLE rate_events (
  seq INTEGER PRIMARY KEY,
  type TEXT NOT NULL CHECK (type IN ('slot', 'settle', 'pause')),
  slot_id TEXT NOT NULL,
  alias TEXT NOT NULL,
  endpoint TEXT NOT NULL,
  tokens BIGINT NOT NULL,
  timestamp BIGINT NOT NULL,
  keep_until BIGINT NOT NULL
)`
  })
  yield* sql`CREATE INDEX rate_events_keep_until ON rate_events (keep_until)`
})

/**
 * Version 4: each random-key index on the rows that are looked up by it, only: `trace_id` on holds (a
 * trace's holds; their raises and settlements follow by `hold_id`), `hold_id` on raises and
 * settlements (a hold's). Every row used to add a key to both; now one, so a call writes two
 * random-key index pages instead of four, and a large ledger's index B-trees hold half the keys.
 * Measured on better-sqlite3 alone (the ledger's INSERT on a copy of a bench ledger): a hold + commit
 * pair 170–250 → 130–190 µs. Queries by trace and the summary name the row types, as the indexes' own
 * conditions do, so that both SQLite and PostgreSQL use them.
 */
const partialIndexes = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* sql`DROP INDEX ledger_events_trace_id`
  yield* sql`DROP INDEX ledger_events_hold_id`
  yield* sql`CREATE INDEX ledger_events_hold_trace_id ON ledger_events (trace_id) WHERE type = 'hold'`
  yield* sql`CREATE INDEX ledger_events_settlement_hold_id ON ledger_events (hold_id) WHERE type <> 'hold'`
})

/**
 * Version 5: the usage parts `TokenUsage` carries beside its totals (API.md §8): prompt tokens read
 * from the provider's cache, written to it, and reasoning tokens. Nullable columns added in place (both
 * dialects add a column without rewriting the rows); earlier rows read back without them, as written.
 */
const usageParts = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* sql`ALTER TABLE ledger_events ADD COLUMN cached_input_tokens INTEGER`
  yield* sql`ALTER TABLE ledger_events ADD COLUMN cache_write_tokens INTEGER`
  yield* sql`ALTER TABLE ledger_events ADD COLUMN reasoning_tokens INTEGER`
})

/**
 * Version 6 changes no table: it marks the PostgreSQL ledger's advisory locks keyed by schema (releases
 * from 2026-12-06), which the single-key locks of releases before never exclude. Those releases, schema 5,
 * now refuse a ledger a newer process has opened (`incompatible_schema`) instead of sharing its budget
 * without serialising their holds with it.
 */
const schemaKeyedLocks = Effect.void

/** The migrations, by `<version>_<name>`. */
export const migrations: Record<string, Effect.Effect<void, unknown, SqlClient.SqlClient>> = {
  "1_create_ledger_events": createEvents,
  "2_tags_and_raises": tagsAndRaises,
  "3_rate_events": rateEvents,
  "4_partial_indexes": partialIndexes,
  "5_usage_parts": usageParts,
  "6_schema_keyed_locks": schemaKeyedLocks
}

/** Applies the pending migrations (no schema dump). */
export const runMigrations = Migrator.make({})({ loader: Migrator.fromRecord(migrations), table: migrationsTable })
