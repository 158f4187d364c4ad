/**
 * A call made inside the program's own `sql.withTransaction` (on its own database): `@effect/sql`'s
 * transaction connection is one context tag for every client, so a ledger statement run in that
 * context would go to the program's connection. The durable ledgers write and read their own store
 * only, and leave the program's transaction as it was.
 */
import * as Reactivity from "@effect/experimental/Reactivity"
import * as SqliteClient from "@effect/sql-sqlite-node/SqliteClient"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as TestClock from "effect/TestClock"
import { backends, day, ledgerOf, request, tempFile } from "../../support/LedgerBackends.js"

/** The program's own SQLite database, with a table of its own. */
const programDatabase = Effect.gen(function*() {
  const sql = yield* SqliteClient.make({ filename: tempFile() }).pipe(
    Effect.provideServiceEffect(Reactivity.Reactivity, Reactivity.make)
  )
  yield* sql`CREATE TABLE notes (text TEXT NOT NULL)`
  return sql
})

describe("a ledger used inside the program's own SQL transaction", () => {
  for (const backend of backends.filter((backend) => backend.name !== "memory")) {
    it.effect.skipIf(backend.skip)(
      `${backend.name}: records in the ledger, not in the program's database`,
      () =>
        Effect.gen(function*() {
          yield* TestClock.setTime(day)
          const program = yield* programDatabase
          const ledger = yield* ledgerOf(backend.layer(900))
          const spent = yield* program.withTransaction(Effect.gen(function*() {
            yield* program`INSERT INTO notes (text) VALUES ('before the call')`
            const held = yield* ledger.hold(request({ estimate: 0.5 }))
            yield* ledger.commit(held, { cost: 0.25 })
            yield* program`INSERT INTO notes (text) VALUES ('after the call')`
            return [yield* ledger.spendToday(), (yield* ledger.events()).length] as const
          }))
          assert.deepStrictEqual(spent, [0.25, 2])
          // the program's transaction committed its own rows, and nothing of the ledger's
          const notes = yield* program<{ text: string }>`SELECT text FROM notes`
          assert.deepStrictEqual(notes.map((row) => row.text), ["before the call", "after the call"])
          const tables = yield* program<{ name: string }>`SELECT name FROM sqlite_master WHERE type = 'table'`
          assert.deepStrictEqual(tables.map((row) => row.name), ["notes"])
          // and the ledger has both rows, read outside the program's transaction
          assert.strictEqual((yield* ledger.events()).length, 2)
          assert.strictEqual(yield* ledger.spendToday(), 0.25)
        }).pipe(Effect.scoped)
    )
  }
})
