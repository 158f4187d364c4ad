/**
 * The durable ledgers across real processes (test/support/ledger-child.ts): a SIGKILLed writer loses
 * no committed event and its open holds expire; four processes racing for one budget never pass it,
 * whether holding or raising their holds for a pricier fallback, on one SQLite file and on one
 * PostgreSQL database. PostgreSQL is skipped with a notice when unreachable, unless EFFECT_LLM_REQUIRE_PG=1.
 */
import * as Reactivity from "@effect/experimental/Reactivity"
import * as SqliteClient from "@effect/sql-sqlite-node/SqliteClient"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import * as TestClock from "effect/TestClock"
import * as Path from "node:path"
import { fileURLToPath } from "node:url"
import { layerPostgres, layerSqlite, Ledger } from "../../../src/services/Ledger.js"
import * as Children from "../../support/ChildProcess.js"
import type { Args } from "../../support/ledger-child.js"
import { adminClient, ledgerOf, pgReachable, schemaUrl, tempDir } from "../../support/LedgerBackends.js"
import { computeSpend } from "../../support/Spend.js"

const root = Path.resolve(Path.dirname(fileURLToPath(import.meta.url)), "../../..")

const childScript = await Children.bundleChildScript(root, "ledger-child", tempDir)

/** A running child process of this test's script. */
const spawnChild = (args: Args) => Children.spawnChild(root, childScript, args, ` (${args.backend})`)

const sqlite = (path: string) =>
  Effect.provideServiceEffect(SqliteClient.make({ filename: path }), Reactivity.Reactivity, Reactivity.make)

describe("Ledger across processes", () => {
  it.effect("a SIGKILLed writer loses no printed commit, leaves an intact file, and its open holds expire", () =>
    Effect.gen(function*() {
      const path = Path.join(tempDir, "killed.db")
      const writer = spawnChild({ backend: "sqlite", path, mode: "loop", holdTtlS: 60 })
      yield* Effect.promise(() =>
        writer.waitFor((lines) => lines.filter((line) => line.startsWith("committed ")).length >= 40, "40 commits")
      )
      writer.child.kill("SIGKILL")
      yield* Effect.promise(() => writer.exited)
      const printed = writer.lines.filter((line) => line.startsWith("committed ")).map((line) => line.slice(10))
      const openId = writer.lines.find((line) => line.startsWith("open "))!.slice(5)

      const [integrity] = yield* Effect.scoped(
        Effect.flatMap(
          sqlite(path),
          (sql) => Effect.orDie(sql.unsafe<{ integrity_check: string }>("PRAGMA integrity_check"))
        )
      )
      assert.strictEqual(integrity!.integrity_check, "ok")

      const now = Date.now()
      yield* TestClock.setTime(now)
      yield* Effect.gen(function*() {
        const ledger = yield* Ledger
        const events = yield* ledger.events()
        const settled = new Set(events.filter((event) => event.type === "commit").map((event) => event.holdId))
        for (const id of printed) assert.isTrue(settled.has(id), `printed hold ${id} has no commit`)
        const unsettled = events.filter((event) => event.type === "hold" && !settled.has(event.holdId))
        assert.isTrue(unsettled.some((hold) => hold.holdId === openId))
        assert.isAtMost(unsettled.length, 2) // the never-settled hold, and at most one cut mid-call

        assert.closeTo(yield* ledger.spendToday(), computeSpend(events, now, 60), 1e-9)
        yield* TestClock.adjust("61 seconds")
        const later = now + 61_000
        const withoutUnsettled = events.filter((event) => !unsettled.includes(event))
        assert.closeTo(yield* ledger.spendToday(), computeSpend(withoutUnsettled, later, 60), 1e-9)
        const expired = (yield* ledger.summary({ groupBy: "model" })).reduce((sum, row) => sum + row.expired, 0)
        assert.strictEqual(expired, unsettled.length)
      }).pipe(Effect.provide(layerSqlite({ path, holdTtlS: 60 })))
    }))

  it.effect("four processes per backend racing for one budget never pass it (SQLite file, PostgreSQL database)", () =>
    Effect.gen(function*() {
      const burst = { mode: "burst", holds: 25, estimate: 0.25, limit: 1.5 } as const
      const path = Path.join(tempDir, "shared.db")
      const schema = `effect_llm_processes_${process.pid}_${Math.floor(Math.random() * 1e9)}`
      const url = schemaUrl(schema)
      if (pgReachable) {
        const admin = yield* Effect.orDie(adminClient)
        yield* Effect.orDie(admin.unsafe(`CREATE SCHEMA ${schema}`))
        yield* Effect.addFinalizer(() => Effect.ignore(admin.unsafe(`DROP SCHEMA ${schema} CASCADE`)))
      }
      const groups = [
        {
          name: "sqlite",
          children: Array.from({ length: 4 }, () => spawnChild({ backend: "sqlite", path, ...burst }))
        },
        ...(pgReachable ?
          [{
            name: "postgres",
            children: Array.from({ length: 4 }, () => spawnChild({ backend: "postgres", url, ...burst }))
          }] :
          [])
      ]
      const children = groups.flatMap((group) => group.children)
      yield* Effect.promise(() =>
        Promise.all(children.map((child) => child.waitFor((lines) => lines.includes("ready"), "ready")))
      )
      const startAt = Date.now() + 300
      for (const child of children) child.child.stdin.write(`${startAt}\n`)
      yield* Effect.promise(() =>
        Promise.all(
          children.map((child) => child.waitFor((lines) => lines.some((line) => line.startsWith("{")), "a result"))
        )
      )
      for (const child of children) assert.strictEqual(yield* Effect.promise(() => child.exited), 0, child.stderr())

      for (const group of groups) {
        const results = group.children.map((child) =>
          JSON.parse(child.lines.find((line) => line.startsWith("{"))!) as {
            granted: number
            refused: number
            failed: number
          }
        )
        const granted = results.reduce((sum, result) => sum + result.granted, 0)
        assert.strictEqual(granted, 6, `${group.name}: ${JSON.stringify(results)}`)
        assert.strictEqual(results.reduce((sum, result) => sum + result.failed, 0), 0)
        yield* TestClock.setTime(Date.now())
        const layer = group.name === "sqlite" ?
          layerSqlite({ path }) :
          layerPostgres({ url: Redacted.make(url) })
        yield* Effect.gen(function*() {
          const ledger = yield* Ledger
          const events = yield* ledger.events()
          assert.strictEqual(events.filter((event) => event.type === "hold").length, 6)
          assert.strictEqual(
            events.filter((event) => event.type === "commit").length,
            results.reduce(
              (sum, result) => sum + Math.ceil(result.granted / 2),
              0
            )
          )
          assert.strictEqual(yield* ledger.spendToday(), 1.5)
        }).pipe(Effect.provide(layer))
      }
    }).pipe(Effect.scoped))

  it.effect("four processes per backend whose holds all move to a pricier fallback at once never pass the limit", () =>
    Effect.gen(function*() {
      // 20 holds of 1/16 fit a limit of 2; each fallback costs 3/16, so only 6 of them fit on top
      const race = { mode: "raise", holds: 5, estimate: 0.0625, fallback: 0.1875, limit: 2 } as const
      const path = Path.join(tempDir, "raise.db")
      const schema = `effect_llm_raise_${process.pid}_${Math.floor(Math.random() * 1e9)}`
      const url = schemaUrl(schema)
      if (pgReachable) {
        const admin = yield* Effect.orDie(adminClient)
        yield* Effect.orDie(admin.unsafe(`CREATE SCHEMA ${schema}`))
        yield* Effect.addFinalizer(() => Effect.ignore(admin.unsafe(`DROP SCHEMA ${schema} CASCADE`)))
      }
      const groups = [
        { name: "sqlite", children: Array.from({ length: 4 }, () => spawnChild({ backend: "sqlite", path, ...race })) },
        ...(pgReachable ?
          [{
            name: "postgres",
            children: Array.from({ length: 4 }, () => spawnChild({ backend: "postgres", url, ...race }))
          }] :
          [])
      ]
      const children = groups.flatMap((group) => group.children)
      const startAll = (what: string) =>
        Effect.gen(function*() {
          yield* Effect.promise(() =>
            Promise.all(children.map((child) => child.waitFor((lines) => lines.includes(what), what)))
          )
          const startAt = Date.now() + 300
          for (const child of children) child.child.stdin.write(`${startAt}\n`)
        })
      const ledgers = Object.fromEntries(
        yield* Effect.forEach(groups, (group) =>
          Effect.map(
            ledgerOf(group.name === "sqlite" ? layerSqlite({ path }) : layerPostgres({ url: Redacted.make(url) })),
            (ledger) => [group.name, ledger] as const
          ))
      )
      yield* startAll("ready")
      yield* startAll("held") // every hold is in place before any fallback is priced: the worst interleaving
      yield* Effect.promise(() =>
        Promise.all(children.map((child) => child.waitFor((lines) => lines.includes("raised"), "raised")))
      )
      // with every raise made and nothing settled yet, the spend is at its peak
      yield* TestClock.setTime(Date.now())
      const peaks = yield* Effect.forEach(groups, (group) => ledgers[group.name]!.spendToday())
      for (const child of children) child.child.stdin.write(`${Date.now()}\n`)
      yield* Effect.promise(() =>
        Promise.all(
          children.map((child) => child.waitFor((lines) => lines.some((line) => line.startsWith("{")), "a result"))
        )
      )
      for (const child of children) assert.strictEqual(yield* Effect.promise(() => child.exited), 0, child.stderr())

      const outcomes: Array<
        {
          readonly name: string
          readonly peak: number
          readonly spent: number
          readonly granted: number
          readonly results: unknown
        }
      > = []
      for (const group of groups) {
        const results = group.children.map((child) =>
          JSON.parse(child.lines.find((line) => line.startsWith("{"))!) as {
            held: number
            granted: number
            failed: number
          }
        )
        assert.strictEqual(results.reduce((sum, result) => sum + result.held, 0), 20)
        assert.strictEqual(results.reduce((sum, result) => sum + result.failed, 0), 0)
        yield* TestClock.setTime(Date.now())
        const spent = yield* ledgers[group.name]!.spendToday()
        const granted = results.reduce((sum, result) => sum + result.granted, 0)
        outcomes.push({ name: group.name, peak: peaks[groups.indexOf(group)]!, spent, granted, results })
      }
      // every backend's outcome in one message
      const report = outcomes.map((outcome) =>
        `${outcome.name}: ${outcome.granted} fallbacks went ahead, spending $${outcome.spent} of $${race.limit} (at the peak $${outcome.peak})`
      ).join("; ")
      for (const outcome of outcomes) {
        assert.isAtMost(outcome.peak, race.limit, report)
        assert.isAtMost(outcome.spent, race.limit, report)
        assert.strictEqual(outcome.granted, 6, `${outcome.name}: ${JSON.stringify(outcome.results)}`)
      }
    }).pipe(Effect.scoped))

  it.effect("four processes per backend × 50 calls tagged with 3 users never pass any user's daily limit and leave no hold", () =>
    Effect.gen(function*() {
      const burst = { mode: "users", holds: 50, users: 3, estimate: 0.25, limit: 1.25 } as const
      const path = Path.join(tempDir, "users.db")
      const schema = `effect_llm_users_${process.pid}_${Math.floor(Math.random() * 1e9)}`
      const url = schemaUrl(schema)
      if (pgReachable) {
        const admin = yield* Effect.orDie(adminClient)
        yield* Effect.orDie(admin.unsafe(`CREATE SCHEMA ${schema}`))
        yield* Effect.addFinalizer(() => Effect.ignore(admin.unsafe(`DROP SCHEMA ${schema} CASCADE`)))
      }
      const groups = [
        {
          name: "sqlite",
          children: Array.from({ length: 4 }, () => spawnChild({ backend: "sqlite", path, ...burst }))
        },
        ...(pgReachable ?
          [{
            name: "postgres",
            children: Array.from({ length: 4 }, () => spawnChild({ backend: "postgres", url, ...burst }))
          }] :
          [])
      ]
      const children = groups.flatMap((group) => group.children)
      yield* Effect.promise(() =>
        Promise.all(children.map((child) => child.waitFor((lines) => lines.includes("ready"), "ready")))
      )
      const startAt = Date.now() + 300
      for (const child of children) child.child.stdin.write(`${startAt}\n`)
      yield* Effect.promise(() =>
        Promise.all(
          children.map((child) => child.waitFor((lines) => lines.some((line) => line.startsWith("{")), "a result"))
        )
      )
      for (const child of children) assert.strictEqual(yield* Effect.promise(() => child.exited), 0, child.stderr())

      for (const group of groups) {
        const results = group.children.map((child) =>
          JSON.parse(child.lines.find((line) => line.startsWith("{"))!) as {
            granted: number
            byUser: Record<string, number>
            failed: number
          }
        )
        const byUser = [0, 1, 2].map((i) => results.reduce((sum, result) => sum + (result.byUser[`u${i}`] ?? 0), 0))
        assert.deepStrictEqual(byUser, [5, 5, 5], `${group.name}: ${JSON.stringify(results)}`)
        assert.strictEqual(results.reduce((sum, result) => sum + result.failed, 0), 0)
        yield* TestClock.setTime(Date.now())
        const layer = group.name === "sqlite" ? layerSqlite({ path }) : layerPostgres({ url: Redacted.make(url) })
        yield* Effect.gen(function*() {
          const ledger = yield* Ledger
          assert.deepStrictEqual(
            yield* Effect.forEach(["u0", "u1", "u2"], (user) => ledger.spend(`user:${user}`, "daily")),
            [1.25, 1.25, 1.25]
          )
          const events = yield* ledger.events()
          const settled = new Set(events.filter((event) => event.type === "commit").map((event) => event.holdId))
          assert.deepStrictEqual(events.filter((event) => event.type === "hold" && !settled.has(event.holdId)), [])
          assert.strictEqual(settled.size, 15)
        }).pipe(Effect.provide(layer))
      }
    }).pipe(Effect.scoped))

  it.effect("a ledger never closed (a program on the shared LiveLayer) does not keep its process alive (SQLite file, PostgreSQL database)", () =>
    Effect.gen(function*() {
      const schema = `effect_llm_open_${process.pid}_${Math.floor(Math.random() * 1e9)}`
      if (pgReachable) {
        const admin = yield* Effect.orDie(adminClient)
        yield* Effect.orDie(admin.unsafe(`CREATE SCHEMA ${schema}`))
        yield* Effect.addFinalizer(() => Effect.ignore(admin.unsafe(`DROP SCHEMA ${schema} CASCADE`)))
      }
      const children = [
        spawnChild({ backend: "sqlite", path: Path.join(tempDir, "open.db"), mode: "open" }),
        ...(pgReachable ? [spawnChild({ backend: "postgres", url: schemaUrl(schema), mode: "open" })] : [])
      ]
      for (const child of children) {
        // exit 3 and "still running": the ledger's connections kept the process alive 5 s after its work
        assert.strictEqual(yield* Effect.promise(() => child.exited), 0, child.lines.join(" | ") + child.stderr())
        assert.deepStrictEqual(child.lines.filter((line) => line !== ""), ["committed"])
      }
    }).pipe(Effect.scoped))
})
