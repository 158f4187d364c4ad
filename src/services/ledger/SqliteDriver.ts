/**
 * better-sqlite3 itself, as `@effect/sql-sqlite-node` resolves it, for the two jobs the client's
 * connection would do at a cost: the checkpointing worker (`Checkpointer.ts`) and a read-only
 * connection for the limiter's read before each attempt of an alias without limits (`SqlLimits.ts`),
 * where a statement through the client (its prepared-statement cache, a fiber's worth of effects)
 * cost a call ~10% more than the read itself.
 */
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import { createRequire } from "node:module"

/** better-sqlite3's module path; undefined where modules cannot be resolved (a CommonJS bundle). */
export const driverPath = (): string | undefined => {
  try {
    const client = createRequire(import.meta.url).resolve("@effect/sql-sqlite-node/SqliteClient")
    return createRequire(client).resolve("better-sqlite3")
  } catch {
    return undefined
  }
}

/** The part of better-sqlite3's API used here. */
interface Database {
  readonly prepare: (sql: string) => { readonly all: (...params: ReadonlyArray<unknown>) => Array<unknown> }
  readonly close: () => void
}

/** One prepared query on a read-only connection: its rows, or `undefined` when the read failed. */
export type ReadQuery = (...params: ReadonlyArray<unknown>) => ReadonlyArray<unknown> | undefined

/**
 * Prepares `sql` on a read-only connection of its own to the ledger file at `path`, closed with the
 * scope; `undefined` when that cannot be done (no driver, a file that cannot be opened so), and the
 * caller reads through its client instead. WAL readers neither wait for nor block the writer.
 */
export const openReadQuery = (path: string, sql: string): Effect.Effect<ReadQuery | undefined, never, Scope.Scope> =>
  Effect.map(
    Effect.acquireRelease(
      Effect.sync((): Database | undefined => {
        const driver = driverPath()
        if (driver === undefined) return undefined
        try {
          const Driver = createRequire(import.meta.url)(driver) as new(
            path: string,
            options: { readonly readonly: boolean; readonly fileMustExist: boolean; readonly timeout: number }
          ) => Database
          return new Driver(path, { readonly: true, fileMustExist: true, timeout: 0 })
        } catch {
          return undefined
        }
      }),
      (db) => Effect.sync(() => db?.close())
    ),
    (db): ReadQuery | undefined => {
      if (db === undefined) return undefined
      let statement: ReturnType<Database["prepare"]>
      try {
        statement = db.prepare(sql)
      } catch {
        return undefined
      }
      return (...params) => {
        try {
          return statement.all(...params)
        } catch {
          return undefined
        }
      }
    }
  )
