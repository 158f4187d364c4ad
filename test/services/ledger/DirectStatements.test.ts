/**
 * SQLite's per-call INSERTs run straight on the ledger's connection (`DirectStatements`), without
 * `@effect/sql`'s connection permit. On one connection a statement run while another fiber's
 * transaction is open would become part of it: these tests hold a transaction open across fiber
 * switches and roll it back, and check that no direct write was lost with it.
 */
import * as Reactivity from "@effect/experimental/Reactivity"
import * as SqliteClient from "@effect/sql-sqlite-node/SqliteClient"
import { assert, describe, it } from "@effect/vitest"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import { DirectStatements, inTransaction } from "../../../src/services/ledger/SqlDialect.js"
import { tempFile } from "../../support/LedgerBackends.js"

const database = Effect.gen(function*() {
  const sql = yield* SqliteClient.make({ filename: tempFile() }).pipe(
    Effect.provideServiceEffect(Reactivity.Reactivity, Reactivity.make)
  )
  yield* sql`CREATE TABLE rows (name TEXT NOT NULL)`
  return sql
})

const names = (sql: SqliteClient.SqliteClient) =>
  Effect.map(sql<{ name: string }>`SELECT name FROM rows ORDER BY rowid`, (rows) => rows.map((row) => row.name))

describe("direct statements on the ledger's connection", () => {
  it.live("a write made while another fiber's transaction is open waits for it, and survives its rollback", () =>
    Effect.gen(function*() {
      const sql = yield* database
      const direct = yield* DirectStatements.make(sql)
      const opened = yield* Deferred.make<void>()
      const release = yield* Deferred.make<void>()
      // a transaction that inserts, waits across fiber switches, then fails (rolled back)
      const transaction = yield* Effect.fork(Effect.either(inTransaction(
        sql,
        ["BEGIN IMMEDIATE"],
        Effect.gen(function*() {
          yield* sql`INSERT INTO rows (name) VALUES ('rolled back')`
          yield* Deferred.succeed(opened, undefined)
          yield* Deferred.await(release)
          return yield* Effect.fail("refused" as const)
        })
      )))
      yield* Deferred.await(opened)
      const write = yield* Effect.fork(direct.execute("INSERT INTO rows (name) VALUES (?)", ["direct"]))
      yield* Effect.yieldNow()
      // the write has not gone into the open transaction: it waits for it to end
      const doneEarly = Option.isSome(yield* Fiber.poll(write))
      yield* Deferred.succeed(release, undefined)
      assert.isFalse(doneEarly)
      assert.deepStrictEqual((yield* Fiber.join(transaction))._tag, "Left")
      yield* Fiber.join(write)
      assert.deepStrictEqual(yield* names(sql), ["direct"])
    }).pipe(Effect.scoped))

  it.live("with no transaction open, writes go straight through, and a transaction after them sees them", () =>
    Effect.gen(function*() {
      const sql = yield* database
      const direct = yield* DirectStatements.make(sql)
      yield* Effect.all(
        Array.from({ length: 20 }, (_, i) => direct.execute("INSERT INTO rows (name) VALUES (?)", [`w${i}`])),
        { concurrency: "unbounded" }
      )
      const counted = yield* inTransaction(
        sql,
        ["BEGIN IMMEDIATE"],
        Effect.map(sql<{ count: number }>`SELECT COUNT(*) AS count FROM rows`, ([row]) => row!.count)
      )
      assert.strictEqual(counted, 20)
    }).pipe(Effect.scoped))

  it.live("a failing direct statement fails with SqlError and leaves the next transaction free to run", () =>
    Effect.gen(function*() {
      const sql = yield* database
      const direct = yield* DirectStatements.make(sql)
      const failed = yield* Effect.flip(direct.execute("INSERT INTO missing (name) VALUES (?)", ["x"]))
      assert.strictEqual(failed._tag, "SqlError")
      yield* inTransaction(sql, ["BEGIN IMMEDIATE"], sql`INSERT INTO rows (name) VALUES ('after')`)
      assert.deepStrictEqual(yield* names(sql), ["after"])
    }).pipe(Effect.scoped))
})
