/**
 * What the SQL ledgers (`Sql.ts`, `SqlLimits.ts`) share per database: the dialect's name and
 * statements, how a driver's failure becomes a `LedgerError`, transactions on a reserved connection,
 * the schema check, and the clock in whole milliseconds.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import type * as SqlConnection from "@effect/sql/SqlConnection"
import type { SqlError } from "@effect/sql/SqlError"
import * as Cause from "effect/Cause"
import * as Chunk from "effect/Chunk"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as FiberId from "effect/FiberId"
import * as Option from "effect/Option"
import { LedgerError } from "../../domain/Errors.js"
import type { Scrubber } from "../../internal/Scrub.js"
import { latestVersion, migrationsTable } from "./Migrations.js"

/** How a database names itself in errors and classifies its drivers' failures. */
export interface Dialect {
  /** Names the ledger in error messages (never holds a password). */
  readonly label: string
  /** The config key that says where the ledger is (`ledger.path`, `ledger.url`), for what a message asks to change. */
  readonly setting: string
  /** The reason for a driver failure that is not the operation's own (busy, unreachable, corrupt). */
  readonly classify: (code: string) => LedgerError["reason"] | undefined
  /**
   * Removes the connection's secrets (a URL's password and query values) from a driver's message: a
   * server or a pooler may quote what it was sent (API.md §14).
   */
  readonly scrub?: Scrubber | undefined
  /** What to do about a failure the user can fix outside the ledger (a native driver not built), if any. */
  readonly hint?: ((detail: string) => string | undefined) | undefined
  /**
   * Whether a failure is the loss of the statement's connection (the server ended it: a restart, a
   * failover, an idle timeout, `pg_terminate_backend`), which a fresh connection may not meet. Omitted
   * where the database is a file.
   */
  readonly connectionLost?: ((cause: unknown) => boolean) | undefined
}

/**
 * What differs between the databases over an open client. Transaction control (BEGIN, the write
 * lock, COMMIT, PRAGMAs) is constant text run as-is on the reserved connection, as @effect/sql's own
 * `withTransaction` runs its BEGIN and COMMIT; every statement that reads or writes rows is a tagged
 * template. (A `Statement` costs ~15 µs more than the connection's `execute`, 4-5 of them a call.)
 */
export interface Statements {
  /** Opens a write transaction holding the ledger's write lock (a hold's or raise's; the budget check follows). */
  readonly beginWrite: ReadonlyArray<string>
  /** Run after a write transaction ended, however it ended. */
  readonly afterWrite: ReadonlyArray<string>
  /** Opens a settlement's transaction, when its single INSERT must take the write lock too. */
  readonly beginSettle: ReadonlyArray<string> | undefined
  /**
   * True when a lone `INSERT` takes the write lock itself and needs no statement around it, and the
   * driver returns the new row's `seq` (SQLite at `durability: normal`): a hold is then one
   * `INSERT … SELECT … WHERE` the table gained no row since the fold's last read, and the ledger
   * folds the rows it writes itself without reading them back.
   */
  readonly lockingInsert: boolean
  /** Opens a read-only transaction whose statements all see one snapshot. */
  readonly beginSnapshot: ReadonlyArray<string>
  /** True when the migrations table exists. */
  readonly hasMigrationsTable: Effect.Effect<boolean, SqlError>
  /** True when the database holds tables though no ledger (SQLite: such a file is refused); undefined to skip. */
  readonly hasTables: Effect.Effect<boolean, SqlError> | undefined
}

// ---------------------------------------------------------------------------------------------
// Failures

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

/**
 * A statement the server never answered (node-postgres's client-side `query_timeout`): its connection
 * still waits for that answer, so nothing more is sent on it (a ROLLBACK would wait as long again).
 */
const silentServer = "Query read timeout"
export const unanswered = (error: unknown): boolean =>
  (innermost(error) as { message?: unknown } | undefined)?.message === silentServer ||
  (error instanceof LedgerError && error.message.includes(silentServer))

/** Whether `test` holds for `cause` or any `cause` it wraps. */
export const someCause = (cause: unknown, test: (cause: object) => boolean): boolean => {
  let current = cause
  for (let depth = 0; depth < 8 && typeof current === "object" && current !== null; depth++) {
    if (test(current)) return true
    current = (current as { cause?: unknown }).cause
  }
  return false
}

/** The innermost `cause` of a chain (itself when it has none). */
const innermost = (cause: unknown): unknown => {
  let current = cause
  for (let depth = 0; depth < 8 && typeof current === "object" && current !== null; depth++) {
    const next = (current as { cause?: unknown }).cause
    if (next === undefined || next === null) break
    current = next
  }
  return current
}

/**
 * A failure's message, with the driver's code in front when the message does not name it; a wrapper
 * with no code anywhere in its chain ("PgClient: Failed to connect") is followed by its innermost
 * cause's words ("The server does not support SSL connections").
 */
export const explain = (cause: unknown): string => {
  const root = rootCause(cause)
  if (root === cause && root instanceof Error && typeof (root as { code?: unknown }).code !== "string") {
    const inner = innermost(cause)
    if (inner !== cause && inner instanceof Error && inner.message && !root.message.includes(inner.message)) {
      return `${root.message}: ${inner.message}`
    }
  }
  if (root instanceof Error) {
    const code = (root as { code?: unknown }).code
    const message = root.message || (root.constructor?.name ?? "error")
    return typeof code === "string" && !message.includes(code) ? `${code}: ${message}` : message
  }
  if (typeof root === "object" && root !== null && "message" in root) return String(root.message)
  return String(root)
}

/** Maps any failure (driver error, migration error or defect) to a `LedgerError` naming what failed. */
export const toLedgerError =
  (dialect: Dialect, reason: LedgerError["reason"], doing: string) => (cause: unknown): LedgerError => {
    if (cause instanceof LedgerError) return cause
    const code = (rootCause(cause) as { code?: unknown } | undefined)?.code
    const detail = explain(cause)
    return new LedgerError({
      reason: unanswered(cause) ? "unavailable" : (typeof code === "string" ? dialect.classify(code) : undefined) ??
        reason,
      message: `${dialect.label}: ${doing} failed: ${dialect.scrub?.(detail) ?? detail}${dialect.hint?.(detail) ?? ""}`
    })
  }

/**
 * The clock in whole milliseconds: timestamps are BIGINT columns, and a clock that is not the wall
 * clock (TestClock after a jittered sleep, a scaled demo clock) can stand between two milliseconds.
 */
export const wholeMillis: Effect.Effect<number> = Effect.map(Clock.currentTimeMillis, Math.floor)

/** Runs `effect`, turning every failure and defect into a `LedgerError`. */
export const guard =
  (dialect: Dialect, reason: LedgerError["reason"], doing: string) =>
  <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, LedgerError, R> => {
    const map = toLedgerError(dialect, reason, doing)
    return effect.pipe(Effect.mapError(map), Effect.catchAllDefect((defect) => Effect.fail(map(defect))))
  }

// ---------------------------------------------------------------------------------------------
// Transactions

/**
 * `effect` without a transaction of another client in its context. `@effect/sql`'s
 * `TransactionConnection` is one tag for every client, so inside a program's own `withTransaction`
 * (on its own database) a ledger statement would run on the program's connection.
 */
export const outsideAmbientTransaction = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.contextWithEffect((context: Context.Context<never>) =>
    Option.isNone(Context.getOption(context, SqlClient.TransactionConnection)) ?
      effect :
      // the tag is never in `R` (no ledger operation needs one), so `R` stays whole
      Effect.mapInputContext(
        effect,
        (outer: Context.Context<R>) => Context.omit(SqlClient.TransactionConnection)(outer) as Context.Context<R>
      )
  )

/** The service with every operation run outside a program's transaction (`outsideAmbientTransaction`). */
export const outsideAmbientTransactions = <S extends object>(service: S): S =>
  Object.fromEntries(
    Object.entries(service).map(([name, value]) => [
      name,
      typeof value !== "function" ? value : (...args: ReadonlyArray<unknown>) => {
        const result: unknown = value(...args)
        return Effect.isEffect(result) ? outsideAmbientTransaction(result) : result
      }
    ])
  ) as S

/**
 * One statement on the client's own connection, outside a transaction: the connection as
 * `SqlClient.reserve` hands it (waiting out a transaction of this ledger), without a `Statement`'s
 * span, compiling and connection lookup.
 */
const executeRaw = (
  sql: SqlClient.SqlClient,
  statement: string,
  params: ReadonlyArray<unknown>
): Effect.Effect<unknown, SqlError> =>
  Effect.scoped(Effect.flatMap(sql.reserve, (connection) => connection.executeRaw(statement, params)))

/**
 * Statements run straight on a single-connection client's connection, outside a transaction, without
 * taking `@effect/sql`'s connection permit (a scope and a semaphore: ~90 of a statement's ~100 effect
 * steps; SQLite's two INSERTs a call). Safe because every transaction on the client goes through
 * `inTransaction`, which counts itself open before its BEGIN and first waits for the direct
 * statements already running; a direct statement that finds a transaction open takes the permit
 * instead (`executeRaw`), so it never lands inside another fiber's transaction. Never call it from
 * inside a transaction on the same client (it would wait for that transaction's own permit).
 */
export class DirectStatements {
  /** Transactions begun or about to begin on the client. */
  private transactions = 0
  /** Direct statements started and not yet ended. */
  private running = 0
  /** Completed when `running` drops to 0, while a transaction waits for it. */
  private drained: Deferred.Deferred<void> | undefined

  constructor(private readonly sql: SqlClient.SqlClient, private readonly connection: SqlConnection.Connection) {}

  /** Registers for `sql`'s connection (one connection for the client's whole life, as SQLite's is). */
  static make(sql: SqlClient.SqlClient): Effect.Effect<DirectStatements, SqlError> {
    return Effect.map(Effect.scoped(sql.reserve), (connection) => {
      const direct = new DirectStatements(sql, connection)
      directByClient.set(sql, direct)
      return direct
    })
  }

  execute(statement: string, params: ReadonlyArray<unknown>): Effect.Effect<unknown, SqlError> {
    // uninterruptible: a count taken is always given back (a transaction waits for it to drop)
    return Effect.uninterruptible(Effect.suspend(() => {
      if (this.transactions > 0) return executeRaw(this.sql, statement, params)
      this.running++
      return Effect.ensuring(this.connection.executeRaw(statement, params), this.ended)
    }))
  }

  private readonly ended = Effect.sync(() => {
    if (--this.running === 0 && this.drained !== undefined) {
      Deferred.unsafeDone(this.drained, Exit.void)
      this.drained = undefined
    }
  })

  /** Before a transaction's BEGIN: counts it open, then waits for the direct statements running. */
  readonly enter: Effect.Effect<void> = Effect.suspend(() => {
    this.transactions++
    if (this.running === 0) return Effect.void
    this.drained ??= Deferred.unsafeMake<void>(FiberId.none)
    return Deferred.await(this.drained)
  })

  /** After the transaction ended (however it ended). */
  readonly exit: Effect.Effect<void> = Effect.sync(() => {
    this.transactions--
  })
}

/** The clients whose transactions `DirectStatements` must hear of. */
const directByClient = new WeakMap<SqlClient.SqlClient, DirectStatements>()

/**
 * Runs `body` in a transaction on a reserved connection: the `begin` statements, then `body`, then
 * COMMIT, or ROLLBACK on any failure; then the `after` statements. Every statement `body` writes
 * with `sql` runs on that connection (provided as the `TransactionConnection`). Uninterruptible, so
 * a connection never returns to its pool mid-transaction. (`SqlClient.withTransaction` does not
 * fit: it begins with a deferred `BEGIN`, which lets two SQLite processes read the same spend, and
 * dies on a failed COMMIT.)
 */
export const inTransaction = <A, E>(
  sql: SqlClient.SqlClient,
  begin: ReadonlyArray<string>,
  body: Effect.Effect<A, E>,
  after: ReadonlyArray<string> = []
): Effect.Effect<A, E | SqlError> =>
  Effect.scoped(Effect.flatMap(sql.reserve, (connection) => {
    let stuck = false
    const run = (statement: string) =>
      stuck ? Effect.void : Effect.tapError(connection.execute(statement, [], undefined), (error) =>
        Effect.sync(() => {
          if (unanswered(error)) stuck = true
        }))
    const rollback = Effect.ignore(run("ROLLBACK"))
    const transaction = Effect.forEach(begin, run, { discard: true }).pipe(
      Effect.zipRight(Effect.provideService(body, SqlClient.TransactionConnection, [connection, 0] as const)),
      Effect.exit,
      Effect.flatMap((exit): Effect.Effect<A, E | SqlError> => {
        if (Exit.isFailure(exit) && Cause.failures(exit.cause).pipe(Chunk.some(unanswered))) stuck = true
        return Exit.isSuccess(exit) ?
          Effect.as(Effect.tapError(run("COMMIT"), () => rollback), exit.value) :
          Effect.zipRight(rollback, exit)
      }),
      Effect.ensuring(Effect.ignore(Effect.forEach(after, run, { discard: true })))
    )
    const direct = directByClient.get(sql)
    return Effect.uninterruptible(
      direct === undefined ? transaction : Effect.zipRight(direct.enter, Effect.ensuring(transaction, direct.exit))
    )
  }))

/** The latest migration recorded in the ledger's migrations table (which must exist). */
const schemaVersion = (sql: SqlClient.SqlClient) =>
  Effect.map(
    sql<{ version: number | string | null }>`SELECT MAX(migration_id) AS version FROM ${sql(migrationsTable)}`,
    ([row]) => Number(row?.version ?? 0)
  )

/** Whether the ledger's schema is already this code's (nothing to migrate). */
export const isCurrent = (
  sql: SqlClient.SqlClient,
  statements: Pick<Statements, "hasMigrationsTable">
): Effect.Effect<boolean, SqlError> =>
  Effect.flatMap(
    statements.hasMigrationsTable,
    (exists) => exists ? Effect.map(schemaVersion(sql), (version) => version >= latestVersion) : Effect.succeed(false)
  )

/**
 * After the migrator: the schema is this code's. `@effect/sql`'s Migrator takes any failure to record a
 * migration for another process migrating ("Migrations already running", at Debug) and skips it; under
 * the ledger's own lock no other process can be, so a schema left behind is a write that failed — a
 * read-only file or database — and is said so, instead of a query failing later on a missing column.
 */
export const checkMigrated = (
  sql: SqlClient.SqlClient,
  dialect: Dialect,
  statements: Pick<Statements, "hasMigrationsTable">
): Effect.Effect<void, LedgerError> =>
  Effect.gen(function*() {
    // an empty database the migrator could not create tables in (the @effect/sql migrator reports a
    // refused CREATE as a migration already running): no version to read
    if (!(yield* statements.hasMigrationsTable)) {
      return yield* new LedgerError({
        reason: "unavailable",
        message:
          `${dialect.label}: the ledger's tables could not be created (a read-only file or database, or a role that may not create tables there: create the ledger once as its owner); nothing was written`
      })
    }
    const version = yield* schemaVersion(sql)
    if (version < latestVersion) {
      return yield* new LedgerError({
        reason: "unavailable",
        message:
          `${dialect.label}: the ledger's schema is version ${version} and could not be migrated to ${latestVersion}: the migration could not be written (a read-only file or database?); the ledger was left unchanged`
      })
    }
  }).pipe(guard(dialect, "read_failed", "reading the schema version"))

/** Refuses a database whose schema is newer than this code (or, with `hasTables`, that holds other data). Writes nothing. */
export const checkSchema = (
  sql: SqlClient.SqlClient,
  dialect: Dialect,
  statements: Pick<Statements, "hasMigrationsTable" | "hasTables">
): Effect.Effect<void, LedgerError> =>
  Effect.gen(function*() {
    if (!(yield* statements.hasMigrationsTable)) {
      if (statements.hasTables === undefined || !(yield* statements.hasTables)) return
      return yield* new LedgerError({
        reason: "corrupt",
        message:
          `${dialect.label}: not an effect-llm ledger (a SQLite database with tables but no ${migrationsTable} table); left unchanged`
      })
    }
    const version = yield* schemaVersion(sql)
    if (version > latestVersion) {
      return yield* new LedgerError({
        reason: "incompatible_schema",
        message:
          `${dialect.label}: the ledger's schema is version ${version}, newer than this effect-llm knows (up to ${latestVersion}); upgrade effect-llm or point ${dialect.setting} elsewhere — the ledger was left unchanged`
      })
    }
  }).pipe(guard(dialect, "read_failed", "reading the schema version"))
