/**
 * What is PostgreSQL's own in the durable ledger: connecting through `@effect/sql-pg` (loaded only
 * here), the advisory locks (one serialises every write to the events, one serialises migrations),
 * the snapshot reads and the error codes. The service itself is `Sql.ts`.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { SqlError } from "@effect/sql/SqlError"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import * as Net from "node:net"
import { LedgerError } from "../../domain/Errors.js"
import * as Scrub from "../../internal/Scrub.js"
import type { Ledger, LedgerOptions } from "../Ledger.js"
import { migrationsTable, runMigrations } from "./Migrations.js"
import * as Sql from "./Sql.js"
import * as SqlLimits from "./SqlLimits.js"

/** Options of the PostgreSQL ledger. */
export interface PostgresLedgerOptions extends LedgerOptions {
  /** `postgres://user:password@host:port/database`; `?options=-c%20search_path%3D<schema>` picks a schema. */
  readonly url: Redacted.Redacted<string>
}

/**
 * Advisory lock classes: one serialises writes to the events, one serialises migrations, one
 * serialises the rate limiter's rows (so an admission never waits behind a hold). Advisory locks
 * are the database's, not a schema's: each lock's second key is its ledger's schema (`schemaKey`),
 * so ledgers in other schemas of one database never wait on each other.
 */
const writeLockKey = 0x4c4c4d48
const migrationLockKey = 0x4c4c4d4d
const rateLockKey = 0x4c4c4d52

/** A schema name as a 32-bit lock key (FNV-1a): the same in every process, whatever the server's version. */
export const schemaKey = (schema: string): number => {
  let hash = 0x811c9dc5
  for (const byte of Buffer.from(schema, "utf8")) hash = Math.imul(hash ^ byte, 0x01000193)
  return hash | 0
}

/**
 * How long opening waits for the server to answer (pg alone waits forever). pg applies it too, to
 * every later connection attempt and to a wait for one of the pool's connections.
 */
const connectTimeout = Duration.seconds(10)

/**
 * A copy of an error chain (each `message` scrubbed, each `code` kept, as the ledger's errors read them),
 * so nothing that carries it — a log record's cause — holds a secret the server quoted.
 */
const scrubbedChain = (cause: unknown, scrub: (text: string) => string, depth = 0): unknown => {
  if (!(cause instanceof Error) || depth >= 8) return typeof cause === "string" ? scrub(cause) : cause
  const copy: Error & { code?: unknown } = new Error(scrub(cause.message))
  copy.name = cause.name
  const code = (cause as { readonly code?: unknown }).code
  if (code !== undefined) copy.code = code
  if (cause.cause !== undefined) copy.cause = scrubbedChain(cause.cause, scrub, depth + 1)
  return copy
}

/**
 * `PgClient` over a pool of our own: pg's pool with `allowExitOnIdle` (which `PgClient.make` does not
 * set), so that its idle connections do not keep the process alive — a program that ends with the
 * shared `LiveLayer` still open (never disposed) exits at once, not when pg's idle timer (10 s) ends.
 * A connection in use still does. And without a server that hangs it: `connectTimeout` on the Clock
 * closes the sockets still connecting. The first query is awaited uninterruptibly (an `acquireRelease`'s
 * acquire, as in `PgClient.make`), so no timeout (its own, or one around it) can end the wait while a
 * socket stays open — nor can an interruption (a runtime disposed while its layer is still being
 * built): it runs in a child fiber, and an interruption of the opening closes the sockets at once,
 * then waits for that child to end.
 */
const connect = (
  PgClient: typeof import("@effect/sql-pg/PgClient"),
  Pool: typeof import("pg").Pool,
  config: {
    readonly url: Redacted.Redacted<string>
    readonly applicationName: string
    /** The URL's secrets out of a driver's error (the dialect's). */
    readonly scrub: Scrub.Scrubber
  }
) =>
  Effect.gen(function*() {
    const sockets = new Set<Net.Socket>()
    const stream = () => {
      const socket = new Net.Socket()
      sockets.add(socket)
      socket.once("close", () => sockets.delete(socket))
      return socket
    }
    const closeHung = Effect.sync(() => {
      const error = Object.assign(new Error(`no answer within ${Duration.format(connectTimeout)}`), {
        code: "ETIMEDOUT"
      })
      for (const socket of sockets) socket.destroy(error)
    })
    const acquire = Effect.acquireRelease(
      Effect.tryPromise({
        try: async () => {
          const pool = new Pool({
            connectionString: Redacted.value(config.url),
            stream,
            connectionTimeoutMillis: Duration.toMillis(connectTimeout),
            allowExitOnIdle: true,
            application_name: config.applicationName
          })
          pool.on("error", () => {}) // an idle connection's error: the next query reports its own
          try {
            await pool.query("SELECT 1")
            return pool
          } catch (cause) {
            await pool.end().catch(() => {})
            throw cause
          }
        },
        // the driver's error scrubbed, not kept: a server or pooler may quote the password it was sent
        catch: (cause) =>
          new SqlError({ cause: scrubbedChain(cause, config.scrub), message: "PgClient: Failed to connect" })
      }),
      (pool) => Effect.promise(() => pool.end()).pipe(Effect.interruptible, Effect.timeoutOption(1000))
    )
    const closer = yield* Effect.fork(Effect.delay(closeHung, connectTimeout))
    // its failure is joined and returned (as a `LedgerError`): not reported again as an unhandled one
    const opening = yield* Effect.fork(
      PgClient.fromPool({ acquire, applicationName: config.applicationName }).pipe(
        Effect.ensuring(Fiber.interrupt(closer))
      )
    ).pipe(Effect.withUnhandledErrorLogLevel(Option.none()))
    return yield* Fiber.join(opening).pipe(Effect.onInterrupt(() => Effect.zipRight(closeHung, Fiber.await(opening))))
  })

/**
 * The longest a ledger statement waits for a lock (another process's write, a `LOCK TABLE`) before it
 * fails `unavailable`, as SQLite's busy timeout: a peer frozen while holding the write lock cannot
 * hang calls (nor an interrupt or a dispose waiting on them). A URL that sets `lock_timeout` keeps its own.
 */
export const lockTimeoutMs = 5000

/**
 * The longest the driver waits for a statement's answer (node-postgres's client-side `query_timeout`)
 * before it fails `unavailable`: a server that stops answering while its connection stays open (a
 * frozen server, a stuck pooler, a paused VM) cannot hang calls, an interrupt or a dispose for ever.
 * Well above `lockTimeoutMs` (a statement waiting for a lock fails on the lock first) and what a
 * summary or a migration takes on a large ledger. A URL that sets `query_timeout` keeps its own (`0`: none).
 */
export const queryTimeoutMs = 30_000

/** The ledger URL with `lock_timeout` and `query_timeout` (pg reads both from the query) unless it sets them. */
export const withLockTimeout = (url: Redacted.Redacted<string>): Redacted.Redacted<string> => {
  let text = Redacted.value(url)
  if (text.includes("#")) return url
  for (const [name, ms] of [["lock_timeout", lockTimeoutMs], ["query_timeout", queryTimeoutMs]] as const) {
    if (!new RegExp(`[?&]${name}=`).test(text)) text = `${text}${text.includes("?") ? "&" : "?"}${name}=${ms}`
  }
  // pg reads the URL's query_timeout as text, where "0" is truthy: a 0 ms timer that fails every
  // statement ("Query read timeout"). Left out instead: pg's default is no timeout.
  text = text.replace(/([?&])query_timeout=0+(?:&|$)/, "$1").replace(/[?&]$/, "")
  return Redacted.make(text)
}

const dialect = (url: Redacted.Redacted<string>): Sql.Dialect & { readonly scrub: Scrub.Scrubber } => {
  let where = ""
  try {
    const parsed = new URL(Redacted.value(url))
    where = ` at ${parsed.hostname}:${parsed.port || "5432"}${parsed.pathname}`
  } catch {
    // the driver reports the malformed URL when it connects
  }
  const scrub = Scrub.make(Scrub.urlSecrets(Redacted.value(url)))
  return {
    // scrubbed too: a password may also be the database's (or the host's) name
    label: scrub(`PostgreSQL ledger${where}`),
    setting: "ledger.url",
    scrub,
    connectionLost,
    classify: (code) =>
      // 55P03: a lock not granted within lock_timeout; 57014: a statement cancelled (statement_timeout)
      /^(E[A-Z]+|08...|28...|3D000|53...|55P03|57014|57P0.)$/.test(code) ?
        "unavailable" :
        /^XX00[12]$/.test(code) ?
        "corrupt" :
        undefined
  }
}

/**
 * The server ended the connection (57P01-57P03: terminated, crash, starting up; class 08: connection
 * failures) or the driver found it ended: pg's pool hands out an idle connection whose end it has not
 * read yet, and the statement run on it fails ("not queryable", "Connection terminated").
 */
const connectionLost = (cause: unknown): boolean =>
  // a connection that could not be made (a server down, a route dropping packets: pg's 10 s connect
  // timeout) is no connection the server ended: trying again only multiplies the wait
  !Sql.someCause(cause, (error) =>
    /^Failed to acquire connection/.test(String((error as { message?: unknown }).message))) &&
  Sql.someCause(cause, (error) => {
    const code = (error as { readonly code?: unknown }).code
    if (typeof code === "string" && /^(57P0[123]|08...|ECONNRESET|EPIPE)$/.test(code)) {
      return true
    }
    const message = (error as { readonly message?: unknown }).message
    return typeof message === "string" && /not queryable|Connection terminated/.test(message)
  })

const statements = (sql: SqlClient.SqlClient, schema: number): Sql.Statements => {
  const beginWrite = ["BEGIN", `SELECT pg_advisory_xact_lock(${writeLockKey}, ${schema})`]
  return {
    beginWrite,
    afterWrite: [],
    // every insert takes the lock, so `seq` (taken under it) numbers rows in commit order
    beginSettle: beginWrite,
    lockingInsert: false,
    beginSnapshot: ["BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"],
    hasMigrationsTable: Effect.map(
      sql<{ name: string | null }>`SELECT to_regclass(${migrationsTable})::text AS name`,
      ([row]) => row?.name !== null && row?.name !== undefined
    ),
    hasTables: undefined
  }
}

/** Connects to, and migrates as needed, a PostgreSQL ledger. The driver is loaded only now. */
/**
 * The URL as typed (a `Redacted`), or as JavaScript may pass it: a plain string, wrapped at once so no
 * message shows it; anything else is told by its type, never quoted.
 */
const urlOf = (url: unknown): Effect.Effect<Redacted.Redacted<string>, LedgerError> =>
  Redacted.isRedacted(url) && typeof Redacted.value(url) === "string"
    ? Effect.succeed(url as Redacted.Redacted<string>)
    : typeof url === "string"
    ? Effect.succeed(Redacted.make(url))
    : Effect.fail(
      new LedgerError({
        reason: "unavailable",
        message: `PostgreSQL ledger: url must be a postgres:// URL (a Redacted string), got ${
          url === null ? "null" : typeof url
        }`
      })
    )

export const make = (options: PostgresLedgerOptions): Effect.Effect<Ledger.Service, LedgerError, Scope.Scope> =>
  Effect.gen(function*() {
    const url = yield* urlOf(options.url)
    const on = dialect(url)
    const [PgClient, Pool, Reactivity] = yield* Effect.tryPromise({
      try: () =>
        Promise.all([
          import("@effect/sql-pg/PgClient"),
          import("pg").then((pg) => pg.default.Pool),
          import("@effect/experimental/Reactivity")
        ]),
      catch: Sql.toLedgerError(on, "unavailable", "loading @effect/sql-pg")
    })
    const sql = yield* Sql.guard(on, "unavailable", "connecting")(
      Effect.provideServiceEffect(
        // a connection ended during its first statement (a restart, a failover) is opened again
        Sql.reconnecting(on)(
          connect(PgClient, Pool, { url: withLockTimeout(url), applicationName: "effect-llm ledger", scrub: on.scrub })
        ),
        Reactivity.Reactivity,
        Reactivity.make
      )
    )
    // the schema the ledger's tables are in, else the one they will be created in (search_path's
    // first existing one): every process sharing the tables must take the same locks
    const schema = schemaKey(
      yield* Effect.map(
        sql<{ name: string | null }>`SELECT COALESCE((SELECT n.nspname FROM pg_class c
  JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = to_regclass('ledger_events')), current_schema()) AS name`,
        ([row]) => row?.name ?? ""
      ).pipe(Sql.reconnecting(on), Sql.guard(on, "unavailable", "reading the schema"))
    )
    const own = statements(sql, schema)
    // A session advisory lock on a reserved connection serialises processes migrating one database;
    // the Migrator runs each migration in its own transaction.
    yield* Effect.scoped(Effect.gen(function*() {
      const connection = yield* sql.reserve
      const run = (statement: string) => connection.execute(statement, [], undefined)
      // Waiting for another process's migration, however long, is not a lock wait to give up on: the
      // lock is tried until it is free, each try a statement answered at once (so `query_timeout` bounds
      // each only against a server that stops answering). That wait is another process's, in real time.
      const tryLock = Effect.map(
        connection.execute(`SELECT pg_try_advisory_lock(${migrationLockKey}, ${schema}) AS locked`, [], undefined),
        (rows) => (rows[0] as { readonly locked?: unknown } | undefined)?.locked === true
      )
      const pause = Effect.promise(() => new Promise<void>((resolve) => setTimeout(resolve, 100)))
      const lockWhenFree: Effect.Effect<void, SqlError> = Effect.flatMap(
        tryLock,
        (locked) => locked ? Effect.void : Effect.zipRight(pause, Effect.suspend(() => lockWhenFree))
      )
      yield* Effect.acquireRelease(
        lockWhenFree,
        () => Effect.ignore(run(`SELECT pg_advisory_unlock(${migrationLockKey}, ${schema})`))
      )
      yield* Sql.checkSchema(sql, on, own)
      // An up-to-date ledger opens without the migrator, whose lock on its table takes more than the
      // SELECT and INSERT a ledger's role needs; a migration that fails on a role that may not migrate
      // is said as such ("could not be migrated", the ledger left unchanged)
      if (!(yield* Sql.isCurrent(sql, own))) {
        yield* Effect.provideService(runMigrations, SqlClient.SqlClient, sql).pipe(
          Effect.catchAll((error) => Effect.zipRight(Sql.checkMigrated(sql, on, own), Effect.fail(error)))
        )
        yield* Sql.checkMigrated(sql, on, own)
      }
    })).pipe(Sql.reconnecting(on), Sql.guard(on, "write_failed", "creating or migrating the schema"))
    const ledger = yield* Sql.make(sql, on, own, options.holdTtlS ?? 900, options.alertThresholds, options.budgetedTags)
    const limiter = yield* SqlLimits.make(
      sql,
      on,
      {
        begin: ["BEGIN", `SELECT pg_advisory_xact_lock(${rateLockKey}, ${schema})`],
        after: [],
        single: { advisory: [rateLockKey, schema] }
      },
      own.beginSnapshot
    )
    return Sql.outsideAmbientTransactions({ ...ledger, ...limiter })
  }).pipe(Sql.outsideAmbientTransaction)
