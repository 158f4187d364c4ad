/**
 * Micro-benchmark of the ledger backends: per-call latency of `hold` + `commit` (with the global daily
 * limit; with 9 scoped limits; with 9 limits past the first alert threshold), of a rate-limit
 * admission (`admit` + `release`, alone and with hold + commit) and of `spendToday`
 * (sequential, 1000 iterations after 50 warm-up calls), and the budget-alert check alone, for memory, SQLite (a temp file, next to the
 * cost of one fsync'd insert on the same disk, and on tmpfs where fsync is free) and PostgreSQL (a
 * throwaway schema).
 * Run: `npx tsx bench/ledger.ts` (EFFECT_LLM_PG_URL overrides the PostgreSQL URL).
 */
import * as Reactivity from "@effect/experimental/Reactivity"
import * as PgClient from "@effect/sql-pg/PgClient"
import * as SqliteClient from "@effect/sql-sqlite-node/SqliteClient"
import * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as Redacted from "effect/Redacted"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { performance } from "node:perf_hooks"
import type { LedgerError } from "../src/domain/Errors.js"
import { type HoldRequest, layerMemory, layerPostgres, layerSqlite, Ledger } from "../src/services/Ledger.js"
import { AlertTracker } from "../src/services/ledger/Alerts.js"

const iterations = 1000
const warmup = 50
const pgUrl = process.env.EFFECT_LLM_PG_URL ?? "postgres://postgres@127.0.0.1:5432/test"

const percentile = (sorted: ReadonlyArray<number>, p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!

/** p50/p95/max of `iterations` sequential runs of `call`, after a warm-up. */
const time = <E, R>(call: Effect.Effect<unknown, E, R>) =>
  Effect.gen(function*() {
    for (let i = 0; i < warmup; i++) yield* call
    const samples: Array<number> = []
    for (let i = 0; i < iterations; i++) {
      const start = performance.now()
      yield* call
      samples.push(performance.now() - start)
    }
    samples.sort((a, b) => a - b)
    return `p50 ${percentile(samples, 50).toFixed(3)} ms  p95 ${percentile(samples, 95).toFixed(3)} ms  max ${
      samples.at(-1)!.toFixed(3)
    } ms`
  })

/** The limits of a call under every scope and window (API.md §12): global, its alias, one tag, each by day/week/month. */
const scopedLimits = ["global", "model:a", "user:u-1"].flatMap((scope) =>
  (["daily", "weekly", "monthly"] as const).map((window) => ({ scope, window, limit: 1e9 }))
)

const measure = (name: string, layer: Layer.Layer<Ledger, LedgerError>) =>
  Effect.gen(function*() {
    const ledger = yield* Ledger
    const holdAndCommit = (request: Omit<HoldRequest, "traceId" | "provider" | "model" | "alias" | "estimate">) =>
      ledger.hold({ traceId: "bench", provider: "gemini", model: "m", alias: "a", estimate: 0.0001, ...request }).pipe(
        Effect.flatMap((hold) => ledger.commit(hold, { cost: 0.0001, attempts: 1, timing: { totalMs: 1 } }))
      )
    const call = holdAndCommit({ limits: [{ scope: "global", window: "daily", limit: 1e9 }] })
    console.log(`${name.padEnd(10)} hold+commit  ${yield* time(call)}`)
    const scoped = holdAndCommit({ limits: scopedLimits, tags: { user: "u-1", team: "t-1" } })
    console.log(`${name.padEnd(10)} hold+commit, 9 scoped limits  ${yield* time(scoped)}`)
    // Every scope of another user past 85% of its limits: each hold is checked for alerts already sent.
    const nearLimits = ["global", "model:a", "user:u-2"].flatMap((scope) =>
      (["daily", "weekly", "monthly"] as const).map((window) => ({ scope, window, limit: 1000 }))
    )
    yield* ledger.hold({
      traceId: "bench",
      provider: "gemini",
      model: "m",
      alias: "a",
      tags: { user: "u-2" },
      estimate: 850,
      limits: []
    }).pipe(Effect.flatMap((hold) => ledger.commit(hold, { cost: 850 })))
    const alerted = holdAndCommit({ limits: nearLimits, tags: { user: "u-2" } })
    console.log(`${name.padEnd(10)} hold+commit, 9 limits past 80%  ${yield* time(alerted)}`)
    console.log(
      `${name.padEnd(10)} spendToday   ${yield* time(ledger.spendToday())}  (after ${2 * (iterations + warmup)} events)`
    )
    // Rate limits (API.md §11): what a limited alias adds per HTTP attempt — a slot taken before the
    // request, its tokens corrected after — never refusing (limits far above the load), so every
    // slot of the run stays in the windows (the minute's slots are summed for tpm).
    const limits = { rpm: 1e9, tpm: 1e12, rpd: 1e9 }
    const admitAndRelease = ledger.admit({ alias: "a", endpoint: "e", limits, tokens: 1100 }).pipe(
      Effect.flatMap((admission) =>
        admission._tag === "Admitted" ? ledger.release(admission.slot, 300) : Effect.dieMessage("refused")
      )
    )
    console.log(`${name.padEnd(10)} admit+release (rpm, tpm, rpd)  ${yield* time(admitAndRelease)}`)
    console.log(
      `${name.padEnd(10)} hold+admit+release+commit  ${yield* time(Effect.zipRight(call, admitAndRelease))}`
    )
  }).pipe(Effect.provide(layer))

/** What one fsync'd SQLite insert costs on this disk, through the same client: the floor of a commit. */
const sqliteFloor = (path: string) =>
  Effect.scoped(Effect.gen(function*() {
    const sql = yield* Effect.provideServiceEffect(
      SqliteClient.make({ filename: path }),
      Reactivity.Reactivity,
      Reactivity.make
    )
    yield* sql.unsafe("PRAGMA synchronous = FULL")
    yield* sql.unsafe("CREATE TABLE t (x INTEGER)")
    console.log(`sqlite     one fsync'd INSERT (floor)  ${yield* time(sql.unsafe("INSERT INTO t VALUES (1)"))}`)
  }))

const pgSchema = `effect_llm_bench_${process.pid}`
const withPgSchema = <A, E>(effect: Effect.Effect<A, E>) =>
  Effect.scoped(Effect.gen(function*() {
    const admin = yield* Effect.provideServiceEffect(
      PgClient.make({ url: Redacted.make(pgUrl) }),
      Reactivity.Reactivity,
      Reactivity.make
    )
    yield* admin.unsafe(`CREATE SCHEMA ${pgSchema}`)
    yield* Effect.addFinalizer(() => Effect.ignore(admin.unsafe(`DROP SCHEMA ${pgSchema} CASCADE`)))
    return yield* effect
  }))

/** The alert check alone (what a hold adds for alerts), for 9 limits below and above the lowest threshold. */
const alertCheck = Effect.sync(() => {
  const runs = 1_000_000
  const spent = scopedLimits.map(() => 0)
  for (const [name, used] of [["below 80%", 0.5], ["past 80%, alerts sent", 0.9]] as const) {
    const tracker = new AlertTracker([0.8, 1])
    const limits = scopedLimits.map((limit) => ({ ...limit, limit: 1 }))
    const now = Date.UTC(2026, 0, 15, 12)
    tracker.take(limits, spent, used, now)
    const start = performance.now()
    for (let i = 0; i < runs; i++) tracker.take(limits, spent, used, now)
    console.log(`alerts     check of 9 limits, ${name}  ${((performance.now() - start) * 1e6 / runs).toFixed(0)} ns`)
  }
})

const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "effect-llm-bench-"))
const program = Effect.gen(function*() {
  yield* alertCheck
  yield* measure("memory", layerMemory())
  yield* sqliteFloor(Path.join(dir, "floor.db"))
  yield* measure("sqlite (durability normal)", layerSqlite({ path: Path.join(dir, "ledger.db") }))
  yield* measure("sqlite (durability full)", layerSqlite({ path: Path.join(dir, "full.db"), durability: "full" }))
  if (Fs.existsSync("/dev/shm")) {
    // the same on tmpfs, where fsync costs nothing: what the ledger itself costs per call
    const shm = Fs.mkdtempSync("/dev/shm/effect-llm-bench-")
    yield* measure("sqlite/shm", layerSqlite({ path: Path.join(shm, "ledger.db") })).pipe(
      Effect.ensuring(Effect.sync(() => Fs.rmSync(shm, { recursive: true, force: true })))
    )
  }
  yield* withPgSchema(
    measure(
      "postgres",
      layerPostgres({ url: Redacted.make(`${pgUrl}?options=${encodeURIComponent(`-c search_path=${pgSchema}`)}`) })
    )
  ).pipe(Effect.catchAll((error) => Effect.sync(() => console.log(`postgres  skipped: ${String(error)}`))))
}).pipe(
  Effect.ensuring(Effect.sync(() => Fs.rmSync(dir, { recursive: true, force: true }))),
  Logger.withMinimumLogLevel(LogLevel.Error) // the alerts of the last measure
)

Effect.runPromise(program).catch((error) => {
  console.error(error)
  process.exitCode = 1
})
