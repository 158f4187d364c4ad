/**
 * What is SQLite's own in the durable ledger: the file checks before anything is written, opening
 * through `@effect/sql-sqlite-node` (loaded only here), `BEGIN IMMEDIATE` as the write lock, the
 * fsync policy and the error codes. The service itself is `Sql.ts`.
 */
import type * as SqliteClient from "@effect/sql-sqlite-node/SqliteClient"
import * as SqlClient from "@effect/sql/SqlClient"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import * as Fs from "node:fs"
import * as Path from "node:path"
import { LedgerError } from "../../domain/Errors.js"
import { makeDirectoriesSync } from "../../internal/Directories.js"
import type { Ledger, LedgerOptions } from "../Ledger.js"
import * as Checkpointer from "./Checkpointer.js"
import { migrationsTable, runMigrations } from "./Migrations.js"
import * as Sql from "./Sql.js"
import * as SqliteDriver from "./SqliteDriver.js"
import * as SqlLimits from "./SqlLimits.js"

/** Options of the SQLite ledger. */
export interface SqliteLedgerOptions extends LedgerOptions {
  /** The database file (created with its parent directories when missing); `:memory:` for a private one. */
  readonly path: string
  /**
   * When a settlement reaches the disk (`ledger.durability`, default `normal`): `full` fsyncs every
   * commit/cancel before it returns; `normal` (WAL with `synchronous=NORMAL`) keeps every returned
   * commit through a crash of the process, and loses at most the last transactions on power loss.
   */
  readonly durability?: SqliteDurability | undefined
}

/** How hard a SQLite ledger syncs (see `SqliteLedgerOptions.durability`). */
export type SqliteDurability = "full" | "normal"

const sqliteMagic = Buffer.from("SQLite format 3\0", "latin1")

/**
 * better-sqlite3 is a native module built by its install script: when that did not run (npm's
 * `allowScripts`, `--ignore-scripts`) or Node was upgraded under it, opening fails with the addon's own
 * words, which do not say what to do.
 */
export const nativeModuleHint = (detail: string): string | undefined =>
  /bindings file|NODE_MODULE_VERSION|better_sqlite3\.node|invalid ELF header/.test(detail)
    ? " (better-sqlite3's native module is not built for this Node: run `npm rebuild better-sqlite3`, " +
      "or use the memory ledger, `ledger: { backend: memory }`)"
    : undefined

/**
 * SQLite writes its `-wal` and `-shm` files beside the ledger, so a read-only directory refuses even
 * reading an up-to-date ledger ("SQLITE_READONLY_DIRECTORY: attempt to write a readonly database").
 */
const readonlyDirectoryHint = (detail: string): string | undefined =>
  /SQLITE_READONLY_DIRECTORY/.test(detail)
    ? " (the ledger's directory cannot be written: SQLite keeps its -wal and -shm files beside the file, so the directory must be writable; the ledger was left unchanged)"
    : undefined

export const dialect = (path: string): Sql.Dialect => ({
  label: `SQLite ledger at ${path}`,
  setting: "ledger.path",
  hint: (detail) => nativeModuleHint(detail) ?? readonlyDirectoryHint(detail),
  classify: (code) =>
    /^SQLITE_(CORRUPT|NOTADB)/.test(code) ?
      "corrupt" :
      /^SQLITE_(BUSY|LOCKED|CANTOPEN|READONLY|PERM|AUTH)/.test(code) ?
      "unavailable" :
      undefined
})

const statements = (sql: SqlClient.SqlClient, durability: SqliteDurability): Sql.Statements => ({
  // A hold is never fsynced on its own: it is visible to other processes as soon as it commits (the
  // WAL index is shared memory). With `full` the settlement's FULL commit syncs the WAL up to and
  // including it — one fsync per call; with `normal` the WAL is synced at checkpoints only.
  beginWrite: durability === "full" ? ["PRAGMA synchronous = NORMAL", "BEGIN IMMEDIATE"] : ["BEGIN IMMEDIATE"],
  afterWrite: durability === "full" ? ["PRAGMA synchronous = FULL"] : [],
  beginSettle: undefined, // SQLite has one writer at a time: a single INSERT takes the lock itself
  // with `full` a hold must not be fsynced (its PRAGMAs wrap it), so it keeps its transaction
  lockingInsert: durability === "normal",
  beginSnapshot: ["BEGIN"],
  hasMigrationsTable: Effect.map(
    sql`SELECT name FROM sqlite_master WHERE type = 'table' AND name = ${migrationsTable}`,
    (rows) => rows.length > 0
  ),
  hasTables: Effect.map(
    sql<{ count: number }>`SELECT COUNT(*) AS count FROM sqlite_master WHERE type = 'table'`,
    ([row]) => Number(row?.count ?? 0) > 0
  )
})

/**
 * The driver is loaded when a ledger opens, not when the package is imported: a program on
 * `memory` never loads it.
 */
const open = (config: SqliteClient.SqliteClientConfig, on: Sql.Dialect) =>
  Effect.gen(function*() {
    const [SqliteClient, Reactivity] = yield* Effect.tryPromise({
      try: () =>
        Promise.all([import("@effect/sql-sqlite-node/SqliteClient"), import("@effect/experimental/Reactivity")]),
      catch: Sql.toLedgerError(on, "unavailable", "loading @effect/sql-sqlite-node")
    })
    return yield* Sql.guard(on, "unavailable", "opening the database")(
      Effect.provideServiceEffect(SqliteClient.make(config), Reactivity.Reactivity, Reactivity.make)
    )
  })

/**
 * Before anything is written: creates the parent directories, and refuses a file that is not a
 * SQLite database or whose schema is newer than this code (read through a read-only connection).
 */
const inspectFile = (path: string, on: Sql.Dialect): Effect.Effect<void, LedgerError> =>
  Effect.gen(function*() {
    const header = yield* Effect.try({
      try: () => {
        makeDirectoriesSync(Path.dirname(path))
        if (!Fs.existsSync(path)) return undefined
        const buffer = Buffer.alloc(sqliteMagic.length)
        const fd = Fs.openSync(path, "r")
        try {
          return buffer.subarray(0, Fs.readSync(fd, buffer, 0, buffer.length, 0))
        } finally {
          Fs.closeSync(fd)
        }
      },
      catch: Sql.toLedgerError(on, "unavailable", "creating or reading the file")
    })
    if (header === undefined || header.length === 0) return
    if (!header.equals(sqliteMagic)) {
      return yield* new LedgerError({
        reason: "corrupt",
        message: `${on.label}: not a ledger (the file is not a SQLite database); left unchanged`
      })
    }
    yield* Effect.scoped(
      Effect.flatMap(
        open({ filename: path, readonly: true, disableWAL: true }, on),
        // both reads of one snapshot: another process may be creating the ledger meanwhile
        (probe) =>
          Sql.inTransaction(probe, ["BEGIN"], Sql.checkSchema(probe, on, statements(probe, "normal"))).pipe(
            Sql.guard(on, "read_failed", "reading the schema version")
          )
      )
    )
  })

/**
 * One ledger of this process at a time opens, creates or migrates a SQLite file. Two connections on
 * one thread cannot take turns through SQLite's lock: while the first one's migration awaits, the
 * second one's busy timeout spins synchronously on the same thread, so the first never commits and
 * the second fails `SQLITE_BUSY` after 5 s. Other processes still wait on SQLite's own lock. One
 * permit for every file: an open takes milliseconds, and two paths to one file are still one.
 */
const opening = Effect.unsafeMakeSemaphore(1)

/**
 * The connection to a ledger file checked, configured (WAL journal, settlements synced as
 * `durability` says, a busy timeout for other processes, the checkpointer) and migrated.
 */
const openMigrated = (path: string, on: Sql.Dialect, durability: SqliteDurability) =>
  Effect.gen(function*() {
    const inMemory = path === ":memory:"
    if (!inMemory) yield* inspectFile(path, on)
    const sql = yield* open({ filename: path }, on)
    // a statement waits up to 5 s for another process's write lock before failing `unavailable`
    yield* Effect.all([
      sql`PRAGMA busy_timeout = 5000`,
      durability === "full" ? sql`PRAGMA synchronous = FULL` : sql`PRAGMA synchronous = NORMAL`
    ]).pipe(
      Sql.guard(on, "unavailable", "configuring the connection")
    )
    // checkpoints from a worker thread, so no call waits on a checkpoint's fsyncs
    if (!inMemory && (yield* Checkpointer.start(path))) {
      yield* sql.unsafe(`PRAGMA wal_autocheckpoint = ${Checkpointer.fallbackPages}`).pipe(
        Sql.guard(on, "unavailable", "configuring the connection")
      )
    }
    // The migrator runs inside this BEGIN IMMEDIATE (as a nested savepoint), so processes opening a
    // new ledger at the same time migrate one after the other, and a failed migration leaves nothing.
    yield* Sql.inTransaction(
      sql,
      ["BEGIN IMMEDIATE"],
      Effect.suspend(() => {
        const own = statements(sql, durability)
        return Effect.zipRight(
          Sql.checkSchema(sql, on, own),
          Effect.zipRight(
            Effect.provideService(runMigrations, SqlClient.SqlClient, sql),
            Sql.checkMigrated(sql, on, own)
          )
        )
      })
    ).pipe(Sql.guard(on, "write_failed", "creating or migrating the schema"))
    return sql
  }).pipe(opening.withPermits(1))

/** Opens (creating and migrating as needed) a SQLite ledger: see `SqliteLedgerOptions`. */
export const make = (options: SqliteLedgerOptions): Effect.Effect<Ledger.Service, LedgerError, Scope.Scope> =>
  Effect.gen(function*() {
    const path = options.path === ":memory:" ? options.path : Path.resolve(options.path)
    const on = dialect(path)
    const durability = options.durability ?? "normal"
    const sql = yield* openMigrated(path, on, durability)
    const own = statements(sql, durability)
    const ledger = yield* Sql.make(sql, on, own, options.holdTtlS ?? 900, options.alertThresholds, options.budgetedTags)
    // the limiter takes the same write lock (SQLite has one writer); its rows are never fsynced on their own
    const inMemory = path === ":memory:"
    const limiter = yield* SqlLimits.make(
      sql,
      on,
      { begin: own.beginWrite, after: own.afterWrite, single: durability === "full" ? "transaction" : "bare" },
      own.beginSnapshot,
      inMemory ? undefined : yield* SqliteDriver.openReadQuery(path, SqlLimits.newRowsQuery)
    )
    // a private database has no other process to learn pauses from: they stay in the limiter's process
    const { pausedFor: _unshared, ...unshared } = limiter
    return Sql.outsideAmbientTransactions(inMemory ? { ...ledger, ...unshared } : { ...ledger, ...limiter })
  }).pipe(Sql.outsideAmbientTransaction)
