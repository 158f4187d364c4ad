/**
 * What only the PostgreSQL ledger does: share one database between connections, refuse a newer
 * schema, and name an unreachable server without its password. Skipped with a notice when the test
 * database is unreachable, unless EFFECT_LLM_REQUIRE_PG=1.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import { layerPostgres } from "../../../src/services/Ledger.js"
import {
  buildFailure,
  freshPgSchema,
  layerPostgresFresh,
  ledgerOf,
  pgReachable,
  reopenedCountsEveryWindow,
  twoConnections
} from "../../support/LedgerBackends.js"

describe("PostgreSQL ledger", () => {
  it.effect.skipIf(!pgReachable)(
    "two connections to one database see each other's holds and settlements at once",
    () =>
      Effect.gen(function*() {
        const url = yield* freshPgSchema()
        yield* twoConnections(ledgerOf(layerPostgres({ url })))
      }).pipe(Effect.scoped)
  )

  it.effect.skipIf(!pgReachable)(
    "a reopened ledger counts this week's and month's settlements in every scope",
    () =>
      Effect.gen(function*() {
        const url = yield* freshPgSchema()
        yield* reopenedCountsEveryWindow(() => layerPostgres({ url, holdTtlS: 900 }))
      }).pipe(Effect.scoped)
  )

  it.effect.skipIf(!pgReachable)(
    "a database whose ledger schema is newer fails with LedgerError incompatible_schema",
    () =>
      Effect.gen(function*() {
        const error = yield* buildFailure(layerPostgresFresh(900, 9))
        assert.strictEqual(error.reason, "incompatible_schema")
        assert.include(error.message, "version 9")
      })
  )

  it.effect(
    "an unreachable server fails with LedgerError unavailable whose message holds no password",
    () =>
      Effect.gen(function*() {
        const error = yield* buildFailure(
          layerPostgres({ url: Redacted.make("postgres://ledger:hunter2-secret@127.0.0.1:1/ledger") })
        )
        assert.strictEqual(error.reason, "unavailable")
        assert.include(error.message, "127.0.0.1:1/ledger")
        assert.notInclude(error.message, "hunter2")
      }),
    { timeout: 10_000 }
  )
})
