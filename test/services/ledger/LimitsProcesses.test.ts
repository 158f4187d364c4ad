/**
 * Rate limits across real processes (test/support/limits-child.ts, the whole client in each): four
 * processes × 25 concurrent callers against `rpm: 30` on one SQLite file, and on one PostgreSQL
 * database, send at most 30 requests — counted where they land, at a loopback server, by arrival
 * time. The test lasts seconds, well under the 60 s window, so every arrival is in one window: at
 * most 30 in all. And a process SIGKILLed mid-call leaves its slot counting only until its window
 * ends. PostgreSQL is skipped with a notice when unreachable, unless EFFECT_LLM_REQUIRE_PG=1.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import * as TestClock from "effect/TestClock"
import * as Path from "node:path"
import { fileURLToPath } from "node:url"
import { layerPostgres, layerSqlite, type Ledger } from "../../../src/services/Ledger.js"
import * as Children from "../../support/ChildProcess.js"
import { adminClient, ledgerOf, pgReachable, schemaUrl, tempDir } from "../../support/LedgerBackends.js"
import type { LimitsArgs } from "../../support/limits-child.js"
import * as Loopback from "../../support/LoopbackServer.js"

const root = Path.resolve(Path.dirname(fileURLToPath(import.meta.url)), "../../..")

const childScript = await Children.bundleChildScript(root, "limits-child", tempDir)

const okBody = Loopback.readFixture("vertexai-sdk-test-data/googleai/unary-success-basic-reply-short.json")

/** A running child process of this test's script. */
const spawnChild = (args: LimitsArgs) => Children.spawnChild(root, childScript, args)

/** A fresh PostgreSQL schema for one test, dropped with the scope. */
const pgSchema = (name: string) =>
  Effect.gen(function*() {
    const schema = `effect_llm_${name}_${process.pid}_${Math.floor(Math.random() * 1e9)}`
    const admin = yield* Effect.orDie(adminClient)
    yield* Effect.orDie(admin.unsafe(`CREATE SCHEMA ${schema}`))
    yield* Effect.addFinalizer(() => Effect.ignore(admin.unsafe(`DROP SCHEMA ${schema} CASCADE`)))
    return schemaUrl(schema)
  })

/** The stores under test: a SQLite file, and a PostgreSQL schema when the server answers. */
const stores = (name: string) =>
  Effect.gen(function*() {
    const sqlite = { backend: "sqlite", path: Path.join(tempDir, `${name}.db`) } as const
    if (!pgReachable) return [sqlite]
    return [sqlite, { backend: "postgres", url: yield* pgSchema(name) } as const]
  })

const ledgerFor = (
  store: { readonly backend: "sqlite"; readonly path: string } | {
    readonly backend: "postgres"
    readonly url: string
  }
) =>
  ledgerOf(
    store.backend === "sqlite" ? layerSqlite({ path: store.path }) : layerPostgres({ url: Redacted.make(store.url) })
  )

describe("rate limits across processes", () => {
  it.effect(
    "4 processes × 25 callers against rpm: 30 send at most 30 requests (SQLite file, PostgreSQL database)",
    () =>
      Effect.gen(function*() {
        for (const store of yield* stores("rpm")) {
          const server = yield* Loopback.make
          const arrivals: Array<number> = []
          server.setDefault(() => {
            arrivals.push(Date.now())
            return { headers: { "content-type": "application/json" }, body: okBody }
          })
          const children = Array.from(
            { length: 4 },
            () => spawnChild({ ...store, baseUrl: server.url, rpm: 30, mode: "burst", callers: 25 })
          )
          yield* Effect.promise(() =>
            Promise.all(children.map((child) => child.waitFor((lines) => lines.includes("ready"), "ready")))
          )
          const startAt = Date.now() + 300
          for (const child of children) child.child.stdin.write(`${startAt}\n`)
          yield* Effect.promise(() =>
            Promise.all(
              children.map((child) => child.waitFor((lines) => lines.some((l) => l.startsWith("{")), "a result"))
            )
          )
          const finishedAt = Date.now()
          for (const child of children) assert.strictEqual(yield* Effect.promise(() => child.exited), 0, child.stderr())
          const tallies = children.map((child) => JSON.parse(child.lines.find((l) => l.startsWith("{"))!))
          const sum = (key: string) => tallies.reduce((total, tally) => total + (tally[key] ?? 0), 0)
          const what = `${store.backend}: ${JSON.stringify(tallies)}`
          // every arrival is within one 60 s window: the whole run took less
          assert.isBelow(finishedAt - startAt, 60_000)
          assert.strictEqual(arrivals.length, 30, what)
          assert.strictEqual(sum("ok"), 30, what)
          assert.strictEqual(sum("local_limit:rpm"), 70, what)
          // the ledger agrees: 30 requests in the last minute
          yield* TestClock.setTime(Date.now())
          const ledger = yield* ledgerFor(store)
          const [use] = yield* ledger.limitUse()
          assert.deepStrictEqual([use?.alias, use?.requestsMinute], ["flash", 30])
        }
      }).pipe(Effect.scoped),
    120_000
  )

  it.effect(
    "a process SIGKILLed mid-call leaves its slot counting only until its window ends",
    () =>
      Effect.gen(function*() {
        for (const store of yield* stores("killed")) {
          const server = yield* Loopback.make
          server.setDefault(() => ({ hang: true }))
          const child = spawnChild({ ...store, baseUrl: server.url, rpm: 1, mode: "hang" })
          yield* Effect.promise(() => server.awaitRequests(1))
          const sentAt = Date.now()
          child.child.kill("SIGKILL")
          yield* Effect.promise(() => child.exited)

          yield* TestClock.setTime(Date.now())
          const ledger: Ledger.Service = yield* ledgerFor(store)
          // the killed call's request was sent: it counts, at its estimate, for the rest of its minute
          const [use] = yield* ledger.limitUse()
          assert.strictEqual(use?.requestsMinute, 1, store.backend)
          assert.isAbove(use?.tokensMinute ?? 0, 0)
          const admit = ledger.admit({ alias: "flash", endpoint: "loopback", limits: { rpm: 1 }, tokens: 10 })
          const refused = yield* admit
          assert.strictEqual(refused._tag, "Refused")
          if (refused._tag === "Refused") {
            assert.strictEqual(refused.refusal.kind, "rpm")
            assert.isAtMost(refused.refusal.retryAfterMs, 60_000 - (Date.now() - sentAt) + 1_000)
          }
          // once its window has passed, nothing of it is left
          yield* TestClock.adjust("60 seconds")
          assert.strictEqual((yield* admit)._tag, "Admitted")
          const [after] = yield* ledger.limitUse()
          assert.deepStrictEqual([after?.requestsMinute, after?.tokensMinute], [1, 10])
        }
      }).pipe(Effect.scoped),
    60_000
  )
})
