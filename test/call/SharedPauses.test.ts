/**
 * A server's 429 with Retry-After pauses its endpoint for the alias in every process sharing the
 * ledger (API.md §11: "with or without configured limits"; admission "holds across every process that
 * shares the ledger"), for an alias without limits too. Two clients over two ledger instances on one
 * SQLite file (or one PostgreSQL schema) stand for two processes: each has its own windows and reads
 * the other's rows. The memory ledger shares nothing, so its pauses stay in the process (README).
 */
import * as Reactivity from "@effect/experimental/Reactivity"
import * as SqliteClient from "@effect/sql-sqlite-node/SqliteClient"
import * as SqlClient from "@effect/sql/SqlClient"
import { assert, describe, it } from "@effect/vitest"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Scope from "effect/Scope"
import * as TestClock from "effect/TestClock"
import { FatalError, LedgerError, RateLimitError } from "../../src/domain/Errors.js"
import { layerWith } from "../../src/layers/Live.js"
import { makeMockProviders, type MockCall } from "../../src/layers/Test.js"
import type { ProviderAnswer } from "../../src/providers/Provider.js"
import { layerPostgres, layerSqlite, Ledger, makeMemory } from "../../src/services/Ledger.js"
import * as SqliteDriver from "../../src/services/ledger/SqliteDriver.js"
import * as SqlLimits from "../../src/services/ledger/SqlLimits.js"
import { LLMClient } from "../../src/services/LLMClient.js"
import * as LLMConfig from "../../src/services/LLMConfig.js"
import { day, freshPgSchema, pgReachable, tempFile } from "../support/LedgerBackends.js"
import { joinAdvancing } from "../support/TestClockRun.js"

/** `flash` has no `limits`: it takes no slots, only the pauses are shared. */
const config = (resilience: Record<string, unknown>) => ({
  default_model: "flash",
  providers: { google: { api_key: "pause-key", endpoints: [{ name: "g1", base_url: "http://127.0.0.1:9" }] } },
  models: { flash: { provider: "google", model_id: "gemini-x" }, pro: { provider: "google", model_id: "gemini-pro" } },
  resilience: { base_delay_s: 1, max_delay_s: 1, max_retries: 0, ...resilience },
  budget: { daily_spend_limit: 0 }
})

const answer = (call: MockCall): ProviderAnswer => ({
  content: "ok",
  reasoning: undefined,
  usage: { inputTokens: 10, outputTokens: 5, totalTokens: 15 },
  finishReason: "stop",
  requestId: undefined,
  modelVersion: call.modelId
})

const tooMany = (call: MockCall, retryAfter: Duration.Duration) =>
  new RateLimitError({
    reason: "rate_limited",
    message: "429 Too Many Requests",
    provider: call.provider,
    endpoint: call.endpoint,
    status: 429,
    retryAfter
  })

/** The request times (ms after `day`) and models the mock providers saw, across both clients. */
interface Arrival {
  readonly at: number
  readonly modelId: string
  readonly client: string
}

/** A client (one "process") over its own instance of the shared ledger; the first request of all gets the 429. */
const client = (
  name: string,
  ledger: Layer.Layer<Ledger, unknown>,
  arrivals: Array<Arrival>,
  resilience: Record<string, unknown>,
  scope: Scope.Scope,
  retryAfter: Duration.Duration = Duration.seconds(30)
) => {
  const providers = makeMockProviders({
    otherwise: (call) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) => {
        arrivals.push({ at: now - day, modelId: call.modelId, client: name })
        return arrivals.length === 1 ? Effect.fail(tooMany(call, retryAfter)) : Effect.succeed(answer(call))
      })
  })
  const layer = layerWith(LLMConfig.layerIsolated(config(resilience)), providers.layer, ledger as Layer.Layer<Ledger>)
  return Effect.map(
    Layer.buildWithScope(layer, scope),
    (context) => (model = "flash") =>
      Effect.flatMap(LLMClient, (llm) => llm.generate({ model, prompt: "hello" })).pipe(Effect.provide(context))
  )
}

const shared = [
  {
    name: "sqlite",
    skip: false,
    ledger: Effect.sync(() => tempFile()).pipe(Effect.map((path) => () => layerSqlite({ path })))
  },
  {
    name: "postgres",
    skip: !pgReachable,
    ledger: Effect.map(freshPgSchema(), (url) => () => layerPostgres({ url }))
  }
] as const

describe.each(shared)("a learned pause across processes ($name)", (backend) => {
  /** Clients `a` and `b` over two instances of one fresh ledger, at `day`; `b` with `resilience`. */
  const twoProcesses = (resilience: Record<string, unknown>, retryAfter?: Duration.Duration) =>
    Effect.gen(function*() {
      yield* TestClock.setTime(day)
      const ledger = yield* backend.ledger
      const scope = yield* Effect.scope
      const arrivals: Array<Arrival> = []
      const a = yield* client("a", ledger(), arrivals, {}, scope, retryAfter)
      const b = yield* client("b", ledger(), arrivals, resilience, scope, retryAfter)
      return { a, arrivals, b }
    })

  it.scoped.skipIf(backend.skip)(
    "another process's call to the paused endpoint waits it out; other aliases go on",
    () =>
      Effect.gen(function*() {
        const { a, arrivals, b } = yield* twoProcesses({})
        const refused = yield* Effect.flip(a())
        assert.strictEqual(refused._tag, "RateLimitError")
        // another alias on that endpoint is not paused
        assert.strictEqual(yield* b("pro"), "ok")
        assert.strictEqual(yield* joinAdvancing(yield* Effect.fork(b())), "ok")
        const flash = arrivals.filter((arrival) => arrival.modelId === "gemini-x")
        assert.deepStrictEqual(flash.map((arrival) => arrival.client), ["a", "b"])
        // nothing went to g1 for flash from b before the 30 s the 429 asked for
        assert.isAtLeast(flash[1]!.at, 30_000)
        if (backend.name === "sqlite") assert.strictEqual(flash[1]!.at, 30_000)
      })
  )

  it.scoped.skipIf(backend.skip)(
    "a process that cannot wait it out fails local_limit (server) with no request",
    () =>
      Effect.gen(function*() {
        const { a, arrivals, b } = yield* twoProcesses({ max_wait_timeout_s: 10 })
        yield* Effect.flip(a())
        yield* TestClock.adjust("5 seconds")
        const refused = yield* Effect.flip(b())
        assert.instanceOf(refused, RateLimitError)
        assert.strictEqual((refused as RateLimitError).reason, "local_limit")
        assert.strictEqual((refused as RateLimitError).limitKind, "server")
        assert.strictEqual(Duration.toMillis((refused as RateLimitError).retryAfter!), 25_000)
        assert.strictEqual(arrivals.length, 1)
        // once the pause is over, b's calls go
        yield* TestClock.adjust("25 seconds")
        assert.strictEqual(yield* b(), "ok")
        assert.strictEqual(arrivals.length, 2)
      })
  )

  it.scoped.skipIf(backend.skip)(
    "a Retry-After past a day (a header in the wrong unit, a broken gateway) pauses the alias a day, not for ever",
    () =>
      Effect.gen(function*() {
        // 86,400,000 s: milliseconds written into the seconds header, 1,000 days
        const { a, arrivals, b } = yield* twoProcesses({ max_wait_timeout_s: 10 }, Duration.seconds(86_400_000))
        yield* Effect.flip(a())
        const refused = yield* Effect.flip(b())
        assert.strictEqual(refused._tag === "RateLimitError" && refused.limitKind, "server")
        assert.strictEqual(Duration.toMillis((refused as RateLimitError).retryAfter!), 24 * 60 * 60 * 1000)
        yield* TestClock.adjust("24 hours")
        assert.strictEqual(yield* b(), "ok")
        assert.strictEqual(arrivals.length, 2)
      })
  )
})

describe("the SQLite ledger's read-only connection", () => {
  it.scoped("opens on a ledger file and reads what the ledger wrote; a file that is not there gives none", () =>
    Effect.gen(function*() {
      const path = tempFile()
      const ledger = yield* Layer.build(layerSqlite({ path }))
      void ledger
      const query = yield* SqliteDriver.openReadQuery(path, "SELECT COUNT(*) AS n FROM rate_events WHERE seq > ?")
      assert.isDefined(query)
      assert.deepStrictEqual(query!(0), [{ n: 0 }])
      assert.isUndefined(yield* SqliteDriver.openReadQuery(`${path}.absent`, "SELECT 1"))
      // a statement the file cannot run: none (the limiter then reads through its client)
      assert.isUndefined(yield* SqliteDriver.openReadQuery(path, "SELECT * FROM no_such_table"))
    }))
})

describe("reading the pauses", () => {
  it.scoped("a read the own connection cannot make goes through the client; one neither can make is read_failed", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(day)
      const path = tempFile()
      yield* Layer.build(layerSqlite({ path })) // creates and migrates the file
      const sql = yield* SqliteClient.make({ filename: path }).pipe(Effect.provide(Reactivity.layer))
      let reads = 0
      const failing: SqliteDriver.ReadQuery = () => {
        reads++
        return undefined
      }
      const dialect = { label: "test", classify: () => undefined } as never
      const limiter = yield* SqlLimits.make(
        sql,
        dialect,
        { begin: ["BEGIN IMMEDIATE"], after: [], single: "bare" },
        ["BEGIN"],
        failing
      )
      yield* limiter.pause("flash", "g1", day + 30_000)
      yield* TestClock.adjust("10 seconds")
      assert.strictEqual(yield* limiter.pausedFor("flash", "g1"), 20_000)
      assert.isUndefined(yield* limiter.pausedFor("flash", "g2"))
      assert.strictEqual(reads, 2)
      yield* Effect.provideService(sql`DROP TABLE rate_events`, SqlClient.SqlClient, sql)
      const error = yield* Effect.flip(limiter.pausedFor("flash", "g1"))
      assert.instanceOf(error, LedgerError)
      assert.strictEqual(error.reason, "read_failed")
      assert.include(error.message, "reading the rate-limit pauses")
    }))

  it.scoped("an old row past the cap hides no later pause; a day's pause from a clock a second ahead holds", () =>
    Effect.gen(function*() {
      const aDay = 24 * 60 * 60 * 1000
      yield* TestClock.setTime(day)
      const path = tempFile()
      yield* Layer.build(layerSqlite({ path }))
      const open = Effect.gen(function*() {
        const sql = yield* SqliteClient.make({ filename: path }).pipe(Effect.provide(Reactivity.layer))
        const dialect = { label: "test", classify: () => undefined } as never
        return yield* SqlLimits.make(sql, dialect, { begin: ["BEGIN IMMEDIATE"], after: [], single: "bare" }, ["BEGIN"])
      })
      const writer = yield* open
      // a row an older version wrote before the cap (1,000 days), then a real 60 s pause
      yield* writer.pause("flash", "g1", day + 1000 * aDay)
      yield* writer.pause("flash", "g1", day + 60_000)
      // another writer whose clock is a second ahead learned a day's pause
      yield* writer.pause("pro", "g1", day + 1_000 + aDay)
      const reader = yield* open
      for (const limiter of [writer, reader]) {
        assert.strictEqual(yield* limiter.pausedFor("flash", "g1"), 60_000)
        assert.strictEqual(yield* limiter.pausedFor("pro", "g1"), aDay + 1_000)
      }
      // `ledger limits` shows the pauses in force, not the old row
      const use = yield* reader.limitUse()
      assert.deepStrictEqual(use.map((alias) => [alias.alias, alias.pauses.map((pause) => pause.until - day)]), [
        ["flash", [60_000]],
        ["pro", [aDay + 1_000]]
      ])
      yield* TestClock.adjust("1 minute")
      assert.isUndefined(yield* reader.pausedFor("flash", "g1"))
      assert.strictEqual(yield* reader.pausedFor("pro", "g1"), aDay + 1_000 - 60_000)
    }))

  it.effect("a ledger whose pause read fails: the call fails ledger_unavailable before any request, settled as an error", () =>
    Effect.gen(function*() {
      const memory = yield* makeMemory()
      const failing = Layer.succeed(Ledger, {
        ...memory,
        pausedFor: () => Effect.fail(new LedgerError({ reason: "read_failed", message: "the disk is gone" }))
      })
      const arrivals: Array<Arrival> = []
      const scope = yield* Scope.make()
      const call = yield* client("a", failing, arrivals, {}, scope)
      const error = yield* Effect.flip(call())
      assert.instanceOf(error, FatalError)
      assert.strictEqual((error as FatalError).reason, "ledger_unavailable")
      assert.include(error.message, "the disk is gone")
      assert.strictEqual(arrivals.length, 0)
      const events = yield* memory.events()
      assert.deepStrictEqual(events.map((event) => [event.type, event.status]), [["hold", "ok"], ["cancel", "error"]])
      yield* Scope.close(scope, Exit.void)
    }))
})
