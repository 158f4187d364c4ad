/**
 * The durable ledger's versioned schema, shared by SQLite and PostgreSQL and applied by the
 * `@effect/sql` Migrator when a ledger layer is built. Append new migrations; never edit a shipped one.
 */
import * as Migrator from "@effect/sql/Migrator"
import * as SqlClient from "@effect/sql/SqlClient"
import * as Effect from "effect/Effect"

/** The table recording which migrations were applied (the schema version is its highest id). */
export const migrationsTable = "effect_llm_migrations"

/** The highest schema version this code knows; a ledger at a higher one is refused, not touched. */
export const latestVersion = 1

/**
 * Version 1: one table of immutable events, in `seq` order. `id` is a random UUID and is never
 * looked up (settlements name their hold by `hold_id`), so it carries no unique index: every index
 * is another page written, and fsynced, per event. Indexes: `timestamp` (events since, summary
 * ranges, the spend fold's start), `trace_id` and `(hold_id, type)` (a hold's settlements).
 */
const createEvents = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const pg = sql.onDialectOrElse({ pg: () => true, orElse: () => false })
  const real = pg ? "DOUBLE PRECISION" : "REAL"
  yield* sql.unsafe(`CREATE TABLE ledger_events (
  seq ${pg ? "BIGSERIAL PRIMARY KEY" : "INTEGER PRIMARY KEY"},
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
  cost ${real} NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('ok', 'error', 'cancelled')),
  attempts INTEGER,
  error_tag TEXT,
  error_message TEXT,
  ttft_ms ${real},
  total_ms ${real},
  timestamp BIGINT NOT NULL
)`)
  yield* sql.unsafe("CREATE INDEX ledger_events_timestamp ON ledger_events (timestamp)")
  yield* sql.unsafe("CREATE INDEX ledger_events_trace_id ON ledger_events (trace_id)")
  yield* sql.unsafe("CREATE INDEX ledger_events_hold_id ON ledger_events (hold_id, type)")
})

/** The migrations, by `<version>_<name>`. */
export const migrations: Record<string, Effect.Effect<void, unknown, SqlClient.SqlClient>> = {
  "1_create_ledger_events": createEvents
}

/** Applies the pending migrations (no schema dump). */
export const runMigrations = Migrator.make({})({ loader: Migrator.fromRecord(migrations), table: migrationsTable })
