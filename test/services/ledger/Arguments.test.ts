/**
 * The read methods called with wrong arguments (from JavaScript, or through `as any`) fail with a
 * `LedgerError` read_failed naming the argument, on every backend — never a thrown TypeError outside
 * the effect, nor a silent answer to a question not asked.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { Ledger } from "../../../src/services/Ledger.js"
import { backends } from "../../support/LedgerBackends.js"

const calls: ReadonlyArray<readonly [string, (ledger: Ledger.Service) => Effect.Effect<unknown, unknown>, RegExp]> = [
  [
    "events({ since: 'yesterday' })",
    (l) => l.events({ since: "yesterday" as never }),
    /^Ledger\.events: since must be a valid Date/
  ],
  ["events({ since: Invalid Date })", (l) => l.events({ since: new Date(NaN) }), /since must be a valid Date/],
  ["events({ traceId: 7 })", (l) => l.events({ traceId: 7 as never }), /traceId must be a string/],
  ["spend('global', 'yearly')", (l) => l.spend("global", "yearly" as never), /^Ledger\.spend: window must be daily/],
  ["summary({ groupBy: 'bogus' })", (l) => l.summary({ groupBy: "bogus" as never }), /groupBy must be day, week/],
  [
    "summary({ groupBy: 'day', until: '2026' })",
    (l) => l.summary({ groupBy: "day", until: "2026" as never }),
    /until must be a valid Date/
  ]
]

for (const backend of backends) {
  describe(`${backend.name} ledger: wrong arguments`, () => {
    it.effect.skipIf(backend.skip)(
      "each is a LedgerError read_failed naming the argument",
      () =>
        Effect.gen(function*() {
          const ledger = yield* Ledger
          for (const [name, call, message] of calls) {
            const error = yield* Effect.flip(Effect.suspend(() => call(ledger)))
            assert.strictEqual((error as { _tag: string })._tag, "LedgerError", name)
            assert.strictEqual((error as { reason: string }).reason, "read_failed", name)
            assert.match((error as Error).message, message, name)
          }
          // right ones still answer
          assert.deepStrictEqual(yield* ledger.events({ since: new Date(0) }), [])
          assert.deepStrictEqual(yield* ledger.summary({ groupBy: "tag:user" }), [])
        }).pipe(Effect.provide(backend.layer(900)))
    )
  })
}
