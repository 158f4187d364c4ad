/**
 * What only the SQLite ledger does: share one file between connections, keep its events across a
 * reopen, refuse foreign, newer or unusable files without touching them, and never store a key.
 */
import * as Reactivity from "@effect/experimental/Reactivity"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as SqliteClient from "@effect/sql-sqlite-node/SqliteClient"
import * as Statement from "@effect/sql/Statement"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Queue from "effect/Queue"
import * as Redacted from "effect/Redacted"
import * as TestClock from "effect/TestClock"
import * as Fs from "node:fs"
import * as Path from "node:path"
import { fileURLToPath } from "node:url"
import * as DashScopeErrors from "../../../src/providers/dashscope/Errors.js"
import * as HttpEncoding from "../../../src/providers/http/Encoding.js"
import * as HttpErrors from "../../../src/providers/http/Errors.js"
import { layerSqlite, Ledger } from "../../../src/services/Ledger.js"
import * as Checkpointer from "../../../src/services/ledger/Checkpointer.js"
import * as SqliteLedger from "../../../src/services/ledger/Sqlite.js"
import {
  buildFailure,
  day,
  ledgerOf,
  reopenedCountsEveryWindow,
  request,
  tempDir,
  tempFile,
  twoConnections,
  usage
} from "../../support/LedgerBackends.js"
import * as Loopback from "../../support/LoopbackServer.js"

const snapshot = (path: string) => Fs.readFileSync(path)

/** Writes a file with the given SQLite statements through better-sqlite3's own client, then closes it. */
const writeSqlite = (path: string, statements: ReadonlyArray<string>) =>
  Effect.scoped(Effect.gen(function*() {
    const sql = yield* SqliteClient.make({ filename: path, disableWAL: true }).pipe(
      Effect.provideServiceEffect(Reactivity.Reactivity, Reactivity.make)
    )
    for (const statement of statements) yield* Effect.orDie(sql.unsafe(statement))
  }))

describe("SQLite ledger file", () => {
  it.effect("two connections to one file see each other's holds and settlements at once", () => {
    const path = tempFile()
    return twoConnections(ledgerOf(layerSqlite({ path })))
  })

  it.effect("keeps its events across a reopen, with parent directories created", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(day)
      const path = Path.join(tempDir, "nested", "deeper", "ledger.db")
      const use = <A, E>(effect: Effect.Effect<A, E, Ledger>) =>
        Effect.provide(effect, layerSqlite({ path, holdTtlS: 900 }))
      yield* use(Effect.gen(function*() {
        const ledger = yield* Ledger
        const hold = yield* ledger.hold(request())
        yield* ledger.commit(hold, { cost: 0.125 })
      }))
      const events = yield* use(Effect.flatMap(Ledger, (ledger) => ledger.events()))
      assert.deepStrictEqual(events.map((event) => event.type), ["hold", "commit"])
      const journal = yield* Effect.scoped(Effect.gen(function*() {
        const sql = yield* SqliteClient.make({ filename: path }).pipe(
          Effect.provideServiceEffect(Reactivity.Reactivity, Reactivity.make)
        )
        return yield* Effect.orDie(sql.unsafe<{ journal_mode: string }>("PRAGMA journal_mode"))
      }))
      assert.strictEqual(journal[0]!.journal_mode, "wal")
    }))

  it.effect("a reopened ledger counts open holds from before midnight but not yesterday's settlements", () =>
    Effect.gen(function*() {
      const path = tempFile()
      const use = <A, E>(effect: Effect.Effect<A, E, Ledger>) =>
        Effect.provide(effect, layerSqlite({ path, holdTtlS: 900 }))
      yield* TestClock.setTime(Date.UTC(2026, 0, 15, 23, 59, 0))
      yield* use(Effect.gen(function*() {
        const ledger = yield* Ledger
        yield* ledger.hold(request({ estimate: 0.25 }))
        const settled = yield* ledger.hold(request({ estimate: 0.5 }))
        yield* TestClock.adjust("30 seconds")
        yield* ledger.commit(settled, { cost: 0.125 })
      }))
      yield* TestClock.adjust("1 minute") // 00:00:30 the next day
      yield* use(Effect.gen(function*() {
        const ledger = yield* Ledger
        assert.strictEqual(yield* ledger.spendToday(), 0.25)
        yield* TestClock.adjust("15 minutes")
        assert.strictEqual(yield* ledger.spendToday(), 0)
      }))
    }))

  it.effect("a reopened ledger counts this week's and month's settlements in every scope", () => {
    const path = tempFile()
    return reopenedCountsEveryWindow(() => layerSqlite({ path, holdTtlS: 900 }))
  })

  it.effect("a file that is not a SQLite database fails with LedgerError corrupt and is left byte for byte", () =>
    Effect.gen(function*() {
      const path = tempFile()
      Fs.writeFileSync(path, Buffer.from("this is my thesis, not a ledger\n".repeat(200)))
      const before = snapshot(path)
      const error = yield* buildFailure(layerSqlite({ path }))
      assert.strictEqual(error.reason, "corrupt")
      assert.include(error.message, path)
      assert.include(error.message, "not a SQLite database")
      assert.isTrue(before.equals(snapshot(path)))
      assert.isFalse(Fs.existsSync(`${path}-wal`))
    }))

  it.effect("a SQLite database of another program fails with LedgerError corrupt and is left unchanged", () =>
    Effect.gen(function*() {
      const path = tempFile()
      yield* writeSqlite(path, [
        "CREATE TABLE photos (id INTEGER PRIMARY KEY, name TEXT)",
        "INSERT INTO photos (name) VALUES ('cat')"
      ])
      const before = snapshot(path)
      const error = yield* buildFailure(layerSqlite({ path }))
      assert.strictEqual(error.reason, "corrupt")
      assert.include(error.message, "not an effect-llm ledger")
      assert.isTrue(before.equals(snapshot(path)))
    }))

  it.effect("a ledger with a newer schema version fails with LedgerError incompatible_schema and is left unchanged", () =>
    Effect.gen(function*() {
      const path = tempFile()
      yield* Effect.scoped(Layer.build(layerSqlite({ path })))
      yield* writeSqlite(path, ["INSERT INTO effect_llm_migrations (migration_id, name) VALUES (7, 'from_the_future')"])
      const before = snapshot(path)
      const error = yield* buildFailure(layerSqlite({ path }))
      assert.strictEqual(error.reason, "incompatible_schema")
      assert.include(error.message, "version 7")
      assert.include(error.message, "point ledger.path elsewhere")
      assert.isTrue(before.equals(snapshot(path)))
    }))

  it.effect("reads a trace's events and the summary through the v4 indexes, never the whole table", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(day)
      const path = tempFile()
      // the SQL text the ledger runs, captured as @effect/sql compiles it
      const statements: Array<readonly [string, ReadonlyArray<unknown>]> = []
      const captured = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
        Statement.withTransformer(effect, (statement) =>
          Effect.sync(() => {
            statements.push(statement.compile())
            return statement
          }))
      const [traced, summary] = yield* Effect.provide(
        Effect.gen(function*() {
          const ledger = yield* Ledger
          for (const traceId of ["trace-a", "trace-b", "trace-c"]) {
            const hold = yield* ledger.hold(request({ traceId, limit: 0 }))
            const raised = yield* ledger.raise(hold, { ...request({ traceId, limit: 0 }), alias: "pro", estimate: 0.5 })
            yield* ledger.commit(raised, { cost: 0.125, usage: usage(10, 20) })
          }
          const traced = yield* captured(ledger.events({ traceId: "trace-b" }))
          const summary = yield* captured(ledger.summary({ groupBy: "day" }))
          return [traced, summary] as const
        }),
        layerSqlite({ path })
      )
      assert.deepStrictEqual(traced.map((event) => `${event.traceId}:${event.type}:${event.alias}`), [
        "trace-b:hold:pro",
        "trace-b:commit:pro"
      ])
      assert.deepStrictEqual(summary.map((row) => [row.calls, row.ok]), [[3, 3]])
      const reads = statements.filter(([text]) => /^SELECT \* FROM ledger_events/.test(text))
      assert.strictEqual(reads.length, 2)
      yield* Effect.scoped(Effect.gen(function*() {
        const sql = yield* SqliteClient.make({ filename: path }).pipe(
          Effect.provideServiceEffect(Reactivity.Reactivity, Reactivity.make)
        )
        for (const [text, params] of reads) {
          const plan = (yield* Effect.orDie(sql.unsafe<{ detail: string }>(`EXPLAIN QUERY PLAN ${text}`, params)))
            .map((row) => row.detail)
          assert.isTrue(plan.some((step) => step.includes("ledger_events_settlement_hold_id")), plan.join("; "))
          assert.isFalse(plan.some((step) => /^SCAN ledger_events\b/.test(step)), plan.join("; "))
        }
      }))
    }))

  it.effect("a path that cannot be created fails with LedgerError unavailable", () =>
    Effect.gen(function*() {
      const blocker = tempFile()
      Fs.writeFileSync(blocker, "a file where a directory should be")
      const error = yield* buildFailure(layerSqlite({ path: Path.join(blocker, "sub", "ledger.db") }))
      assert.strictEqual(error.reason, "unavailable")
      assert.include(error.message, "ENOTDIR")
    }))

  // Node 20's recursive mkdir never returned for this path (the process spun, deaf to signals).
  it.effect.skipIf(!Fs.existsSync("/proc/self"))(
    "a path under /proc, where no directory can be made, fails with LedgerError unavailable",
    () =>
      Effect.gen(function*() {
        const error = yield* buildFailure(layerSqlite({ path: "/proc/effect-llm-nope/sub/ledger.db" }))
        assert.strictEqual(error.reason, "unavailable")
        assert.include(error.message, "ENOENT")
      })
  )

  it.live("never stores the API key: only ids, usage, cost, timing and the error's tag and message", () =>
    Effect.gen(function*() {
      const key = Redacted.make("sk-live-4f9c2e7a1b8d6053aa91-do-not-store")
      const path = tempFile()
      const server = yield* Loopback.make
      server.setDefault(() => ({
        status: 401,
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ code: "InvalidApiKey", message: "Invalid API-key provided.", request_id: "7f3d" })
      }))
      const context = { provider: "dashscope", endpoint: "intl" }
      yield* Effect.gen(function*() {
        const ledger = yield* Ledger
        const client = yield* HttpClient.HttpClient
        // A call that fails the way a provider call does, its error recorded by `cancel`.
        const hold = yield* ledger.hold(request({ provider: "dashscope", model: "qwen-plus", limit: 0 }))
        const response = yield* client.execute(
          HttpClientRequest.post(`${server.url}/api/v1/services/aigc/text-generation/generation`).pipe(
            HttpClientRequest.bearerToken(key),
            HttpClientRequest.bodyUnsafeJson({
              model: "qwen-plus",
              input: { messages: [{ role: "user", content: "hi" }] }
            })
          )
        )
        const error = DashScopeErrors.classify(
          response.status,
          yield* HttpEncoding.readBodyText(response),
          response.headers,
          {
            ...context,
            now: 0
          }
        )
        yield* ledger.cancel(hold, {
          cost: 0,
          status: "error",
          attempts: 1,
          error: { tag: error._tag, message: error.message }
        })
        // A transport failure (its request, with the auth header, is part of the HttpClientError).
        const refused = yield* ledger.hold(request({ provider: "dashscope", limit: 0 }))
        const transport = yield* Effect.flip(
          client.execute(HttpClientRequest.get("http://127.0.0.1:1/").pipe(HttpClientRequest.bearerToken(key)))
        )
        const retryable = HttpErrors.fromHttpClientError(transport, context)
        yield* ledger.cancel(refused, {
          cost: 0,
          status: "error",
          error: { tag: retryable._tag, message: `${retryable.message}; request ${JSON.stringify(transport.request)}` }
        })
        const ok = yield* ledger.hold(request({ limit: 0 }))
        yield* ledger.commit(ok, { cost: 0.001, usage: usage(12, 3), attempts: 1, timing: { ttftMs: 5, totalMs: 9 } })
        const stored = yield* ledger.events()
        assert.include(stored[1]!.error!.message, "Invalid API-key provided.")
        // JSON.stringify of an HttpClientRequest shows the authorization header in clear: the ledger scrubs it
        assert.include(JSON.stringify(transport.request), Redacted.value(key))
        assert.include(stored[3]!.error!.message, `"authorization":"<redacted>"`)
      }).pipe(Effect.provide(Layer.merge(layerSqlite({ path }), NodeHttpClient.layerUndici)))
      // the key really went over the wire …
      assert.strictEqual(server.requests[0]!.headers.authorization, `Bearer ${Redacted.value(key)}`)
      // … and is in no byte of the ledger (main file, and WAL if any is left)
      const needle = Buffer.from(Redacted.value(key))
      for (const file of [path, `${path}-wal`].filter((file) => Fs.existsSync(file))) {
        assert.strictEqual(Fs.readFileSync(file).indexOf(needle), -1, `${file} contains the key`)
      }
      assert.notStrictEqual(Fs.readFileSync(path).indexOf(Buffer.from("Invalid API-key provided.")), -1)
    }).pipe(Effect.scoped))
})

/**
 * Ledgers of one process opening one file at once (several `makeLiveLayer` sets, a fleet's worth of
 * tests): each creates or migrates it in turn, where two connections of one thread used to deadlock
 * until SQLite's busy timeout failed one of them.
 */
const openTogether = (path: string) =>
  Effect.gen(function*() {
    yield* TestClock.setTime(day)
    const ledgers = yield* Effect.all(Array.from({ length: 4 }, () => ledgerOf(layerSqlite({ path }))), {
      concurrency: "unbounded"
    })
    const [events, spent] = [(yield* ledgers[0]!.events()).length, yield* ledgers[0]!.spendToday()]
    const held = yield* ledgers[1]!.hold(request({ limit: 0 }))
    yield* ledgers[2]!.commit(held, { cost: 0.125 })
    for (const ledger of ledgers) assert.strictEqual((yield* ledger.events()).length, events + 2)
    assert.closeTo(yield* ledgers[3]!.spendToday(), spent + 0.125, 1e-12)
  }).pipe(Effect.scoped)

describe("SQLite ledgers opened together in one process", () => {
  it.effect("all create a new file and work", () => openTogether(tempFile()))

  it.effect("all migrate a file of the first schema and work", () => {
    const path = tempFile()
    Fs.copyFileSync(
      Path.resolve(Path.dirname(fileURLToPath(import.meta.url)), "../../support/fixtures/ledger/v1.db"),
      path
    )
    return openTogether(path)
  })
})

describe("SQLite ledger checkpoints", () => {
  it.live("a worker thread copies the WAL into the database file, so no call waits on it", () =>
    Effect.scoped(Effect.gen(function*() {
      const path = tempFile()
      const sql = yield* SqliteClient.make({ filename: path }).pipe(
        Effect.provideServiceEffect(Reactivity.Reactivity, Reactivity.make)
      )
      yield* Effect.orDie(sql.unsafe("PRAGMA wal_autocheckpoint = 0")) // this connection never checkpoints
      yield* Effect.orDie(sql.unsafe("CREATE TABLE t (x TEXT)"))
      for (let i = 0; i < 50; i++) yield* Effect.orDie(sql.unsafe("INSERT INTO t VALUES (?)", ["x".repeat(100)]))
      const checkpoints = yield* Queue.unbounded<Checkpointer.Checkpointed>()
      assert.isTrue(
        yield* Checkpointer.start(path, {
          delayMs: 0,
          report: (result) => Queue.unsafeOffer(checkpoints, result)
        })
      )
      const first = yield* Queue.take(checkpoints).pipe(Effect.timeoutFail({
        duration: "10 seconds",
        onTimeout: () => new Error("no checkpoint")
      }))
      assert.isAbove(first.log, 0)
      assert.strictEqual(first.checkpointed, first.log)
    })))

  it.live("closing waits for the worker's connection, so the ledger's own closes last and alone: the WAL is checkpointed and deleted", () =>
    Effect.gen(function*() {
      for (let round = 0; round < 3; round++) {
        const path = tempFile()
        yield* Effect.scoped(Effect.gen(function*() {
          const sql = yield* SqliteClient.make({ filename: path }).pipe(
            Effect.provideServiceEffect(Reactivity.Reactivity, Reactivity.make)
          )
          yield* Effect.orDie(sql.unsafe("PRAGMA journal_mode = WAL"))
          yield* Effect.orDie(sql.unsafe("CREATE TABLE t (x TEXT)"))
          const checkpoints = yield* Queue.unbounded<Checkpointer.Checkpointed>()
          yield* Checkpointer.start(path, { delayMs: 0, report: (result) => Queue.unsafeOffer(checkpoints, result) })
          yield* Effect.orDie(sql.unsafe("INSERT INTO t VALUES (?)", ["x"]))
          // the worker is running (it has checkpointed once): its connection is open beside ours
          yield* Queue.take(checkpoints).pipe(Effect.timeoutFail({
            duration: "10 seconds",
            onTimeout: () => new Error("no checkpoint")
          }))
          for (let i = 0; i < 20; i++) yield* Effect.orDie(sql.unsafe("INSERT INTO t VALUES (?)", ["y".repeat(100)]))
        }))
        assert.isFalse(Fs.existsSync(`${path}-wal`), `round ${round}: the -wal was left beside the file`)
      }
    }))
})

describe("the SQLite ledger's messages", () => {
  it("a read-only directory is named as such (SQLite writes -wal and -shm beside the file), not a bare SQLite code", () => {
    // (reproduced as a non-root user on a root-owned directory; a test run as root cannot make one)
    const dialect = SqliteLedger.dialect("/srv/ro/ledger.db")
    const detail = "SQLITE_READONLY_DIRECTORY: attempt to write a readonly database"
    assert.strictEqual(dialect.classify(detail.split(":")[0]!), "unavailable")
    assert.match(dialect.hint?.(detail) ?? "", /directory cannot be written: SQLite keeps its -wal and -shm files/)
    assert.isUndefined(dialect.hint?.("SQLITE_BUSY: database is locked"))
  })
})
