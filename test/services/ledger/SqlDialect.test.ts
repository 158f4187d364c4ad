/**
 * How a driver's failure reads in a `LedgerError`: the code in front, the words of the cause that
 * says what happened, never a secret of the URL.
 */
import { assert, describe, it } from "@effect/vitest"
import { explain, toLedgerError } from "../../../src/services/ledger/SqlDialect.js"
import { dialect as sqliteDialect } from "../../../src/services/ledger/Sqlite.js"

const dialect = { label: "PostgreSQL ledger at db:5432/llm", setting: "ledger.url", classify: () => undefined }

describe("SqlDialect: a failure's message", () => {
  it("a wrapper with no code anywhere is followed by its innermost cause's words (pg's SSL refusal)", () => {
    const refused = new Error("PgClient: Failed to connect", {
      cause: new Error("The server does not support SSL connections")
    })
    assert.strictEqual(explain(refused), "PgClient: Failed to connect: The server does not support SSL connections")
    assert.strictEqual(
      toLedgerError(dialect, "unavailable", "connecting")(refused).message,
      "PostgreSQL ledger at db:5432/llm: connecting failed: PgClient: Failed to connect: The server does not support SSL connections"
    )
  })

  it("a coded cause is named by its code and message; a message alone stays as it is", () => {
    const coded = new Error("wrapper", {
      cause: Object.assign(new Error("database \"llm\" does not exist"), { code: "3D000" })
    })
    assert.strictEqual(explain(coded), "3D000: database \"llm\" does not exist")
    assert.strictEqual(explain(new Error("plain")), "plain")
  })

  it("SQLite: a native module that was never built, or built for another Node, says how to fix it", () => {
    const failures = [
      new Error(
        "Could not locate the bindings file. Tried:\n → /app/node_modules/better-sqlite3/build/better_sqlite3.node"
      ),
      new Error(
        "The module '/app/node_modules/better-sqlite3/build/Release/better_sqlite3.node' was compiled against a different Node.js version using NODE_MODULE_VERSION 115."
      )
    ]
    for (const failure of failures) {
      const { message } = toLedgerError(sqliteDialect("/tmp/l.db"), "unavailable", "opening the database")(failure)
      assert.match(message, /^SQLite ledger at \/tmp\/l\.db: opening the database failed: /)
      assert.include(message, "run `npm rebuild better-sqlite3`, or use the memory ledger")
    }
    // other failures are told as they were
    const busy = toLedgerError(sqliteDialect("/tmp/l.db"), "unavailable", "opening the database")(
      new Error("disk I/O error")
    )
    assert.strictEqual(busy.message, "SQLite ledger at /tmp/l.db: opening the database failed: disk I/O error")
  })
})
