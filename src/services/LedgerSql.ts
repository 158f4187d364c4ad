/**
 * The durable ledger backends (API.md §6): SQLite through `@effect/sql-sqlite-node` and PostgreSQL
 * through `@effect/sql-pg`, over one table of immutable events. A hold checks the budget and inserts
 * itself in one database transaction (SQLite `BEGIN IMMEDIATE`, PostgreSQL an advisory lock), so
 * processes sharing a ledger can never jointly pass a limit. Answers follow the in-memory rules.
 */
import type * as SqliteClient from "@effect/sql-sqlite-node/SqliteClient"
import * as SqlClient from "@effect/sql/SqlClient"
import type { Connection } from "@effect/sql/SqlConnection"
import type { SqlError } from "@effect/sql/SqlError"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import { randomUUID } from "node:crypto"
import * as Fs from "node:fs"
import * as Path from "node:path"
import type { LedgerConfig } from "../domain/Config.js"
import { LedgerError } from "../domain/Errors.js"
import { LedgerEvent, type LedgerQuery, type LedgerStatus } from "../domain/LedgerEvent.js"
import { latestVersion, migrationsTable, runMigrations } from "../internal/LedgerMigrations.js"
import {
  budgetExceeded,
  computeSummary,
  fits,
  type Hold,
  holdEvent,
  holdOf,
  type HoldRequest,
  Ledger,
  type LedgerOptions,
  layerMemory,
  type Settlement,
  settlementEvent,
  type SummaryQuery,
  utcDayStart,
  withSpans
} from "./Ledger.js"

/** Options of the SQLite ledger. */
export interface SqliteLedgerOptions extends LedgerOptions {
  /** The database file (created with its parent directories when missing). */
  readonly path: string
}

/** Options of the PostgreSQL ledger. */
export interface PostgresLedgerOptions extends LedgerOptions {
  /** `postgres://user:password@host:port/database`; `?options=-c%20search_path%3D<schema>` picks a schema. */
  readonly url: Redacted.Redacted<string>
}

/** How long a SQLite statement waits for another process's write lock before failing `unavailable`. */
const busyTimeoutMs = 5_000
/** PostgreSQL advisory lock keys: one serialises writes to the events, one serialises migrations. */
const writeLockKey = 0x4c4c4d48
const migrationLockKey = 0x4c4c4d4d
const sqliteMagic = Buffer.from("SQLite format 3\0", "latin1")

// ---------------------------------------------------------------------------------------------
// Statements (written with `?`; PostgreSQL's `$n` are substituted per dialect)

const columns = [
  "id", "type", "hold_id", "trace_id", "provider", "model", "alias", "endpoint", "input_tokens",
  "output_tokens", "total_tokens", "cost", "status", "attempts", "error_tag", "error_message", "ttft_ms",
  "total_ms", "timestamp"
] as const

const insertSql = `INSERT INTO ledger_events (${columns.join(", ")}) VALUES (${columns.map(() => "?").join(", ")})`

/** The holds made in `[since, until)` with their settlements, for `computeSummary`. */
const summarySql = `SELECT * FROM ledger_events WHERE hold_id IN
  (SELECT id FROM ledger_events WHERE type = 'hold' AND timestamp >= ? AND timestamp < ?) ORDER BY timestamp, seq`

const eventParams = (event: LedgerEvent): ReadonlyArray<unknown> => [
  event.id, event.type, event.holdId, event.traceId, event.provider, event.model, event.alias ?? null,
  event.endpoint ?? null, event.usage?.inputTokens ?? null, event.usage?.outputTokens ?? null,
  event.usage?.totalTokens ?? null, event.cost, event.status, event.attempts ?? null, event.error?.tag ?? null,
  event.error?.message ?? null, event.timing?.ttftMs ?? null, event.timing?.totalMs ?? null, event.timestamp
]

const decodeEvent = Schema.decodeUnknownSync(LedgerEvent)
/** PostgreSQL returns BIGINT as text. */
const numeric = (value: unknown): unknown => typeof value === "string" ? Number(value) : value
const present = (value: unknown): boolean => value !== null && value !== undefined

const rowToEvent = (row: Record<string, unknown>): LedgerEvent =>
  decodeEvent({
    id: row.id,
    type: row.type,
    holdId: row.hold_id,
    traceId: row.trace_id,
    provider: row.provider,
    model: row.model,
    ...(present(row.alias) ? { alias: row.alias } : {}),
    ...(present(row.endpoint) ? { endpoint: row.endpoint } : {}),
    ...(present(row.input_tokens) ?
      {
        usage: {
          inputTokens: numeric(row.input_tokens),
          outputTokens: numeric(row.output_tokens),
          totalTokens: numeric(row.total_tokens)
        }
      } :
      {}),
    cost: numeric(row.cost),
    status: row.status,
    ...(present(row.attempts) ? { attempts: numeric(row.attempts) } : {}),
    ...(present(row.error_tag) ? { error: { tag: row.error_tag, message: row.error_message ?? "" } } : {}),
    ...(present(row.total_ms) ?
      {
        timing: {
          totalMs: numeric(row.total_ms),
          ...(present(row.ttft_ms) ? { ttftMs: numeric(row.ttft_ms) } : {})
        }
      } :
      {}),
    timestamp: numeric(row.timestamp)
  })

// ---------------------------------------------------------------------------------------------
// Dialects and failures

/** What differs between the two databases. */
interface Dialect {
  /** Names the ledger in error messages (never holds a password). */
  readonly label: string
  /** Statements opening a hold's transaction (they take the ledger's write lock); the budget check follows. */
  readonly holdBegin: ReadonlyArray<string>
  /** Statements run after a hold's transaction ended, however it ended. */
  readonly holdEnd: ReadonlyArray<string>
  /** Statements opening a settlement's transaction, when its single INSERT must take the write lock too. */
  readonly settleBegin: ReadonlyArray<string> | undefined
  /** Opens a read-only transaction whose statements all see one snapshot. */
  readonly snapshotBegin: string
  /** Rewrites `?` placeholders. */
  readonly text: (sql: string) => string
  /** Returns the migrations table's name when it exists. */
  readonly migrationsTableSql: string
  /** Counts the tables of a database (SQLite: a database with tables but no ledger is refused). */
  readonly tableCountSql: string | undefined
  /** The reason for a driver failure that is not the operation's own (busy, unreachable, corrupt). */
  readonly classify: (code: string) => LedgerError["reason"] | undefined
}

const sqliteDialect = (path: string): Dialect => ({
  label: `SQLite ledger at ${path}`,
  // A hold is not fsynced on its own: it is visible to other processes as soon as it commits (the
  // WAL index is shared memory), and the settlement's FULL commit syncs the WAL up to and including
  // it. Power lost in between loses an unsettled hold of a process that died with it: one fsync per call.
  holdBegin: ["PRAGMA synchronous = NORMAL", "BEGIN IMMEDIATE"],
  holdEnd: ["PRAGMA synchronous = FULL"],
  settleBegin: undefined, // SQLite has one writer at a time
  snapshotBegin: "BEGIN",
  text: (sql) => sql,
  migrationsTableSql: `SELECT name FROM sqlite_master WHERE type = 'table' AND name = '${migrationsTable}'`,
  tableCountSql: "SELECT COUNT(*) AS count FROM sqlite_master WHERE type = 'table'",
  classify: (code) =>
    /^SQLITE_(CORRUPT|NOTADB)/.test(code) ?
      "corrupt" :
      /^SQLITE_(BUSY|LOCKED|CANTOPEN|READONLY|PERM|AUTH)/.test(code) ?
      "unavailable" :
      undefined
})

const postgresDialect = (url: Redacted.Redacted<string>): Dialect => {
  let where = ""
  try {
    const parsed = new URL(Redacted.value(url))
    where = ` at ${parsed.hostname}:${parsed.port || "5432"}${parsed.pathname}`
  } catch {
    // the driver reports the malformed URL when it connects
  }
  return {
    label: `PostgreSQL ledger${where}`,
    holdBegin: ["BEGIN", `SELECT pg_advisory_xact_lock(${writeLockKey})`],
    holdEnd: [],
    // every insert takes the lock, so `seq` (taken under it) numbers rows in commit order
    settleBegin: ["BEGIN", `SELECT pg_advisory_xact_lock(${writeLockKey})`],
    snapshotBegin: "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
    text: (sql) => {
      let n = 0
      return sql.replace(/\?/g, () => `$${++n}`)
    },
    migrationsTableSql: `SELECT to_regclass('${migrationsTable}')::text AS name`,
    tableCountSql: undefined,
    classify: (code) =>
      /^(E[A-Z]+|08...|28...|3D000|53...|57P0.)$/.test(code) ? "unavailable" : /^XX00[12]$/.test(code) ? "corrupt" : undefined
  }
}

/** The driver's error (the first in the `cause` chain with a string `code`), else the outermost. */
const rootCause = (cause: unknown): unknown => {
  for (let current = cause, depth = 0; current !== undefined && depth < 8; depth++) {
    if (typeof current === "object" && current !== null) {
      if (typeof (current as { code?: unknown }).code === "string") return current
      current = (current as { cause?: unknown }).cause
    } else return current
  }
  return cause
}

const explain = (cause: unknown): string => {
  const root = rootCause(cause)
  if (root instanceof Error) {
    const code = (root as { code?: unknown }).code
    const message = root.message || (root.constructor?.name ?? "error")
    return typeof code === "string" && !message.includes(code) ? `${code}: ${message}` : message
  }
  if (typeof root === "object" && root !== null && "message" in root) return String(root.message)
  return String(root)
}

/** Maps any failure (driver error, migration error or defect) to a `LedgerError` naming what failed. */
const toLedgerError = (dialect: Dialect, reason: LedgerError["reason"], doing: string) => (cause: unknown): LedgerError => {
  if (cause instanceof LedgerError) return cause
  const code = (rootCause(cause) as { code?: unknown } | undefined)?.code
  return new LedgerError({
    reason: (typeof code === "string" ? dialect.classify(code) : undefined) ?? reason,
    message: `${dialect.label}: ${doing} failed: ${explain(cause)}`
  })
}

/** Runs `effect`, turning every failure and defect into a `LedgerError`. */
const guard = (dialect: Dialect, reason: LedgerError["reason"], doing: string) =>
<A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, LedgerError, R> => {
  const map = toLedgerError(dialect, reason, doing)
  return effect.pipe(Effect.mapError(map), Effect.catchAllDefect((defect) => Effect.fail(map(defect))))
}

/**
 * Runs `body` in a transaction on a reserved connection: the `begin` statements, then `body`, then
 * COMMIT, or ROLLBACK on any failure; then the `end` statements. Uninterruptible, so a connection
 * never returns to its pool mid-transaction. (`SqlClient.withTransaction` does not fit: it begins
 * with a deferred `BEGIN`, which lets two SQLite processes read the same spend, and dies on a failed COMMIT.)
 */
const inTransaction = <A, E>(
  sql: SqlClient.SqlClient,
  statements: { readonly begin: ReadonlyArray<string>; readonly end?: ReadonlyArray<string> | undefined },
  body: (connection: Connection) => Effect.Effect<A, E>
): Effect.Effect<A, E | SqlError> =>
  Effect.scoped(Effect.flatMap(sql.reserve, (connection) => {
    const run = (statement: string) => connection.execute(statement, [], undefined)
    const rollback = Effect.ignore(run("ROLLBACK"))
    return Effect.uninterruptible(
      Effect.forEach(statements.begin, run, { discard: true }).pipe(
        Effect.zipRight(body(connection)),
        Effect.exit,
        Effect.flatMap((exit): Effect.Effect<A, E | SqlError> =>
          Exit.isSuccess(exit) ?
            Effect.as(Effect.tapError(run("COMMIT"), () => rollback), exit.value) :
            Effect.zipRight(rollback, exit)
        ),
        Effect.ensuring(Effect.ignore(Effect.forEach(statements.end ?? [], run, { discard: true })))
      )
    )
  }))

/** Refuses a database whose schema is newer than this code (or, for SQLite, that holds other data). Writes nothing. */
const checkSchema = (sql: SqlClient.SqlClient, dialect: Dialect): Effect.Effect<void, LedgerError> =>
  Effect.gen(function*() {
    const [table] = yield* sql.unsafe<{ name: string | null }>(dialect.migrationsTableSql)
    if (table?.name === null || table?.name === undefined) {
      if (dialect.tableCountSql === undefined) return
      const [tables] = yield* sql.unsafe<{ count: number }>(dialect.tableCountSql)
      if (Number(tables?.count ?? 0) === 0) return
      return yield* new LedgerError({
        reason: "corrupt",
        message:
          `${dialect.label}: not an effect-llm ledger (a SQLite database with tables but no ${migrationsTable} table); left unchanged`
      })
    }
    const [row] = yield* sql.unsafe<{ version: number | string | null }>(
      `SELECT MAX(migration_id) AS version FROM ${migrationsTable}`
    )
    const version = Number(row?.version ?? 0)
    if (version > latestVersion) {
      return yield* new LedgerError({
        reason: "incompatible_schema",
        message:
          `${dialect.label}: the ledger's schema is version ${version}, newer than this effect-llm knows (up to ${latestVersion}); upgrade effect-llm or point ledger.path elsewhere — the ledger was left unchanged`
      })
    }
  }).pipe(guard(dialect, "read_failed", "reading the schema version"))

// ---------------------------------------------------------------------------------------------
// Today's spend

/** Runs one statement (written with `?`): on the hold's reserved connection, or through the client. */
type Run = (sql: string, params: ReadonlyArray<unknown>) => Effect.Effect<ReadonlyArray<Record<string, unknown>>, SqlError>

/** Reads today's spend (USD) at `now`; inside a hold it runs under the write lock. */
type SpendReader = (run: Run, now: number) => Effect.Effect<number, SqlError>

/**
 * `computeSpend`, folded incrementally. Every insert happens under the ledger's write lock (SQLite's
 * single writer; on PostgreSQL an advisory lock that settlements take too), so rows become visible in
 * `seq` order and reading `seq > last` misses none: a hold reads the few rows added since the previous
 * read instead of summing the day, which keeps it O(1) as the ledger grows (and no query plan can
 * turn quadratic). Expired holds and past days are dropped, so the clock must not go back before the
 * layer was built.
 */
const makeSpendFold = (ttlMs: number) => {
  let lastSeq = 0
  const settledByDay = new Map<number, number>()
  const open = new Map<string, { readonly timestamp: number; readonly cost: number }>()
  const fold = (rows: ReadonlyArray<Record<string, unknown>>) => {
    for (const row of rows) {
      const seq = Number(row.seq)
      if (seq <= lastSeq) continue // a concurrent read already folded it
      lastSeq = seq
      const holdId = String(row.hold_id)
      const timestamp = Number(row.timestamp)
      const cost = Number(row.cost)
      if (row.type === "hold") open.set(holdId, { timestamp, cost })
      else {
        open.delete(holdId)
        const day = utcDayStart(timestamp)
        settledByDay.set(day, (settledByDay.get(day) ?? 0) + cost)
      }
    }
  }
  const spendAt = (now: number) => {
    const dayStart = utcDayStart(now)
    let spent = 0
    // Only today's settlements count (a later day's, seen when the clock is behind the file's rows, do
    // not); past days are dropped. Holds count by age, and one stamped ahead of this clock (another
    // process's skew) counts until it expires: the budget errs on the safe side.
    for (const [day, cost] of settledByDay) {
      if (day === dayStart) spent += cost
      else if (day < dayStart) settledByDay.delete(day)
    }
    for (const [holdId, hold] of open) {
      if (now - hold.timestamp < ttlMs) spent += hold.cost
      else open.delete(holdId)
    }
    return spent
  }
  const columns = "SELECT seq, type, hold_id, cost, timestamp FROM ledger_events"
  const read: SpendReader = (run, now) =>
    Effect.map(run(`${columns} WHERE seq > ? ORDER BY seq`, [lastSeq]), (rows) => {
      fold(rows)
      return spendAt(now)
    })
  /**
   * Starts the fold from the rows that can still count at `now` (today's settlements, unexpired
   * holds); `run` must read one snapshot.
   */
  const load = (run: Run, now: number) =>
    Effect.gen(function*() {
      const [last] = yield* run("SELECT COALESCE(MAX(seq), 0) AS last FROM ledger_events", [])
      fold(yield* run(`${columns} WHERE timestamp > ? ORDER BY seq`, [Math.min(utcDayStart(now) - 1, Math.floor(now - ttlMs))]))
      lastSeq = Math.max(lastSeq, Number(last?.last ?? 0))
    })
  return { read, load }
}

// ---------------------------------------------------------------------------------------------
// The service

/** The service over a migrated database; starts the spend fold from one snapshot. */
const makeService = (
  sql: SqlClient.SqlClient,
  dialect: Dialect,
  holdTtlS: number
): Effect.Effect<Ledger.Service, LedgerError> =>
  Effect.gen(function*() {
    const insert = dialect.text(insertSql)
    const summary = dialect.text(summarySql)
    const onConnection = (connection: Connection): Run => (text, params) =>
      connection.execute(dialect.text(text), params, undefined)
    const runOnClient: Run = (text, params) => sql.unsafe<Record<string, unknown>>(dialect.text(text), params)
    const holdFailed = toLedgerError(dialect, "write_failed", "recording a hold")
    const spend = makeSpendFold(holdTtlS * 1000)
    const startedAt = yield* Clock.currentTimeMillis
    yield* inTransaction(sql, { begin: [dialect.snapshotBegin] }, (connection) =>
      spend.load(onConnection(connection), startedAt)).pipe(guard(dialect, "read_failed", "reading today's spend"))

    const decodeRows = (rows: ReadonlyArray<Record<string, unknown>>) =>
      Effect.try({
        try: () => rows.map(rowToEvent),
        catch: (cause) =>
          new LedgerError({ reason: "corrupt", message: `${dialect.label}: a stored event is not valid: ${explain(cause)}` })
      })

    const record = (hold: Hold, settlement: Settlement, type: "commit" | "cancel", status: LedgerStatus) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) => {
        const event = settlementEvent(hold, settlement, type, status, randomUUID(), now)
        const write = dialect.settleBegin === undefined ?
          sql.unsafe(insert, eventParams(event)) :
          inTransaction(sql, { begin: dialect.settleBegin }, (connection) =>
            connection.execute(insert, eventParams(event), undefined))
        return write.pipe(
          Effect.asVoid,
          guard(dialect, "write_failed", `recording the ${type} of hold ${hold.id}`)
        )
      })

    return withSpans(Ledger.of({
      hold: Effect.fnUntraced(function*(request: HoldRequest) {
        const now = yield* Clock.currentTimeMillis
        const id = randomUUID()
        const event = holdEvent(request, id, now)
        yield* inTransaction(sql, { begin: dialect.holdBegin, end: dialect.holdEnd }, (connection) =>
          Effect.gen(function*() {
            const spent = yield* spend.read(onConnection(connection), now)
            if (!fits(spent, request.estimate, request.limit)) return yield* budgetExceeded(request, spent)
            yield* connection.execute(insert, eventParams(event), undefined)
          })).pipe(
            Effect.catchIf(
              (error): error is SqlError => error._tag === "SqlError",
              (error) => Effect.fail(holdFailed(error))
            ),
            Effect.catchAllDefect((defect) => Effect.fail(holdFailed(defect)))
          )
        return holdOf(request, id, now)
      }),
      commit: (hold: Hold, settlement: Settlement) => record(hold, settlement, "commit", "ok"),
      cancel: (hold: Hold, settlement: Settlement & { readonly status: Exclude<LedgerStatus, "ok"> }) =>
        record(hold, settlement, "cancel", settlement.status),
      spendToday: Effect.fnUntraced(function*() {
        const now = yield* Clock.currentTimeMillis
        return yield* guard(dialect, "read_failed", "reading today's spend")(spend.read(runOnClient, now))
      }),
      events: Effect.fnUntraced(function*(query?: LedgerQuery) {
        const conditions: Array<string> = []
        const params: Array<unknown> = []
        if (query?.traceId !== undefined) {
          conditions.push("trace_id = ?")
          params.push(query.traceId)
        }
        if (query?.since !== undefined) {
          conditions.push("timestamp >= ?")
          params.push(query.since.getTime())
        }
        const where = conditions.length > 0 ? ` WHERE ${conditions.join(" AND ")}` : ""
        const rows = yield* sql.unsafe<Record<string, unknown>>(
          dialect.text(`SELECT * FROM ledger_events${where} ORDER BY timestamp, seq`),
          params
        ).pipe(guard(dialect, "read_failed", "reading events"))
        return yield* decodeRows(rows)
      }),
      summary: Effect.fnUntraced(function*(query: SummaryQuery) {
        const now = yield* Clock.currentTimeMillis
        const rows = yield* sql.unsafe<Record<string, unknown>>(summary, [
          query.since?.getTime() ?? Number.MIN_SAFE_INTEGER,
          query.until?.getTime() ?? Number.MAX_SAFE_INTEGER
        ]).pipe(guard(dialect, "read_failed", "reading the summary"))
        return computeSummary(yield* decodeRows(rows), query, now, holdTtlS)
      })
    }))
  })

// ---------------------------------------------------------------------------------------------
// SQLite

/**
 * The database drivers are loaded when a ledger opens, not when the package is imported: a program
 * on the SQLite default never loads the PostgreSQL driver, and one on `memory` neither.
 */
const loadDriver = <A>(dialect: Dialect, name: string, load: () => Promise<A>): Effect.Effect<A, LedgerError> =>
  Effect.tryPromise({ try: load, catch: toLedgerError(dialect, "unavailable", `loading ${name}`) })

const loadReactivity = (dialect: Dialect) =>
  loadDriver(dialect, "@effect/experimental/Reactivity", () => import("@effect/experimental/Reactivity"))

const openSqlite = (config: SqliteClient.SqliteClientConfig, dialect: Dialect) =>
  Effect.gen(function*() {
    const SqliteClient = yield* loadDriver(dialect, "@effect/sql-sqlite-node", () => import("@effect/sql-sqlite-node/SqliteClient"))
    const Reactivity = yield* loadReactivity(dialect)
    return yield* guard(dialect, "unavailable", "opening the database")(
      Effect.provideServiceEffect(SqliteClient.make(config), Reactivity.Reactivity, Reactivity.make)
    )
  })

/**
 * Before anything is written: creates the parent directories, and refuses a file that is not a
 * SQLite database or whose schema is newer than this code (read through a read-only connection).
 */
const inspectSqliteFile = (path: string, dialect: Dialect): Effect.Effect<void, LedgerError> =>
  Effect.gen(function*() {
    const header = yield* Effect.try({
      try: () => {
        Fs.mkdirSync(Path.dirname(path), { recursive: true })
        if (!Fs.existsSync(path)) return undefined
        const buffer = Buffer.alloc(sqliteMagic.length)
        const fd = Fs.openSync(path, "r")
        try {
          return buffer.subarray(0, Fs.readSync(fd, buffer, 0, buffer.length, 0))
        } finally {
          Fs.closeSync(fd)
        }
      },
      catch: toLedgerError(dialect, "unavailable", "creating or reading the file")
    })
    if (header === undefined || header.length === 0) return
    if (!header.equals(sqliteMagic)) {
      return yield* new LedgerError({
        reason: "corrupt",
        message: `${dialect.label}: not a ledger (the file is not a SQLite database); left unchanged`
      })
    }
    yield* Effect.scoped(
      Effect.flatMap(openSqlite({ filename: path, readonly: true, disableWAL: true }, dialect), (probe) =>
        checkSchema(probe, dialect))
    )
  })

/**
 * Opens (creating and migrating as needed) a SQLite ledger: WAL journal, `synchronous=FULL` (a
 * settled event is on disk when `commit`/`cancel` returns) and a busy timeout for other processes.
 */
export const makeSqlite = (options: SqliteLedgerOptions): Effect.Effect<Ledger.Service, LedgerError, Scope.Scope> =>
  Effect.gen(function*() {
    const inMemory = options.path === ":memory:"
    const path = inMemory ? options.path : Path.resolve(options.path)
    const dialect = sqliteDialect(path)
    if (!inMemory) yield* inspectSqliteFile(path, dialect)
    const sql = yield* openSqlite({ filename: path }, dialect)
    yield* Effect.all([
      sql.unsafe(`PRAGMA busy_timeout = ${busyTimeoutMs}`),
      sql.unsafe("PRAGMA synchronous = FULL")
    ]).pipe(guard(dialect, "unavailable", "configuring the connection"))
    // The migrator runs inside our BEGIN IMMEDIATE (as a nested savepoint), so processes opening a new
    // ledger at the same time migrate one after the other.
    yield* inTransaction(sql, { begin: ["BEGIN IMMEDIATE"] }, (connection) =>
      Effect.zipRight(checkSchema(sql, dialect), runMigrations).pipe(
        Effect.provideService(SqlClient.SqlClient, sql),
        Effect.provideService(SqlClient.TransactionConnection, [connection, 0] as const)
      )).pipe(guard(dialect, "write_failed", "creating or migrating the schema"))
    return yield* makeService(sql, dialect, options.holdTtlS ?? 900)
  })

/** The SQLite ledger as a layer (fails with `LedgerError` when the file cannot be used). */
export const layerSqlite = (options: SqliteLedgerOptions): Layer.Layer<Ledger, LedgerError> =>
  Layer.scoped(Ledger, makeSqlite(options))

// ---------------------------------------------------------------------------------------------
// PostgreSQL

/** Connects to, and migrates as needed, a PostgreSQL ledger. */
export const makePostgres = (options: PostgresLedgerOptions): Effect.Effect<Ledger.Service, LedgerError, Scope.Scope> =>
  Effect.gen(function*() {
    const dialect = postgresDialect(options.url)
    const PgClient = yield* loadDriver(dialect, "@effect/sql-pg", () => import("@effect/sql-pg/PgClient"))
    const Reactivity = yield* loadReactivity(dialect)
    const sql = yield* guard(dialect, "unavailable", "connecting")(
      Effect.provideServiceEffect(
        PgClient.make({ url: options.url, applicationName: "effect-llm ledger" }),
        Reactivity.Reactivity,
        Reactivity.make
      )
    )
    // A session advisory lock serialises processes migrating the same database.
    yield* Effect.scoped(Effect.gen(function*() {
      const connection = yield* sql.reserve
      const run = (statement: string) => connection.execute(statement, [], undefined)
      yield* Effect.acquireRelease(
        run(`SELECT pg_advisory_lock(${migrationLockKey})`),
        () => Effect.ignore(run(`SELECT pg_advisory_unlock(${migrationLockKey})`))
      )
      yield* checkSchema(sql, dialect)
      yield* Effect.provideService(runMigrations, SqlClient.SqlClient, sql)
    })).pipe(guard(dialect, "write_failed", "creating or migrating the schema"))
    return yield* makeService(sql, dialect, options.holdTtlS ?? 900)
  })

/** The PostgreSQL ledger as a layer (fails with `LedgerError` when the server cannot be used). */
export const layerPostgres = (options: PostgresLedgerOptions): Layer.Layer<Ledger, LedgerError> =>
  Layer.scoped(Ledger, makePostgres(options))

/** The ledger `ledger:` in the configuration names; postgres without a url fails with `LedgerError`. */
export const layerFromConfig = (config: LedgerConfig, holdTtlS: number): Layer.Layer<Ledger, LedgerError> => {
  switch (config.backend) {
    case "memory":
      return layerMemory({ holdTtlS })
    case "sqlite":
      return layerSqlite({ path: config.path, holdTtlS })
    case "postgres":
      return config.url === undefined ?
        Layer.fail(
          new LedgerError({
            reason: "unavailable",
            message: "ledger.backend is postgres but ledger.url is not set (e.g. url: ${EFFECT_LLM_LEDGER_URL})"
          })
        ) :
        layerPostgres({ url: config.url, holdTtlS })
  }
}
