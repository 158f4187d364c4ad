/**
 * What only the PostgreSQL ledger does: share one database between connections, refuse a newer
 * schema, name an unreachable server without its password, and give up on one that never answers.
 * The tests on the test database are skipped with a notice when it is unreachable, unless
 * EFFECT_LLM_REQUIRE_PG=1.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as TestClock from "effect/TestClock"
import * as Net from "node:net"
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

  it.effect(
    "a server that accepts the connection but never answers fails with LedgerError unavailable after 10 s, its socket closed",
    () =>
      Effect.gen(function*() {
        const sockets: Array<Net.Socket> = []
        let accepted!: () => void
        const connected = new Promise<void>((resolve) => accepted = resolve)
        const server = yield* Effect.acquireRelease(
          Effect.async<Net.Server>((resume) => {
            const server = Net.createServer((socket) => {
              sockets.push(socket)
              socket.resume() // reads what pg sends (and so sees the end), never answers
              accepted()
            })
            server.listen(0, "127.0.0.1", () => resume(Effect.succeed(server)))
          }),
          (server) =>
            Effect.sync(() => {
              for (const socket of sockets) socket.destroy()
              server.close()
            })
        )
        const { port } = server.address() as Net.AddressInfo
        const opening = yield* Effect.fork(buildFailure(
          layerPostgres({ url: Redacted.make(`postgres://ledger:hunter2-secret@127.0.0.1:${port}/ledger`) })
        ))
        yield* Effect.promise(() => connected)
        const closed = new Promise<void>((resolve) => sockets[0]!.once("close", () => resolve()))
        yield* TestClock.adjust("9 seconds")
        assert.isTrue(Option.isNone(yield* Fiber.poll(opening)))
        yield* TestClock.adjust("1 second")
        const error = yield* Fiber.join(opening)
        assert.strictEqual(error.reason, "unavailable")
        assert.include(error.message, `127.0.0.1:${port}/ledger`)
        assert.notInclude(error.message, "hunter2")
        yield* Effect.promise(() => closed)
      }).pipe(Effect.scoped)
  )
})
