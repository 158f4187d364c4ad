/**
 * How a driver's failure reads in a `LedgerError`: the code in front, the words of the cause that
 * says what happened, never a secret of the URL.
 */
import { assert, describe, it } from "@effect/vitest"
import { explain, toLedgerError } from "../../../src/services/ledger/SqlDialect.js"

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
})
