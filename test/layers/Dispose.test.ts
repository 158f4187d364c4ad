/**
 * `makeLiveLayer` is scoped (API.md §13, §14): disposing its runtime interrupts the calls in flight,
 * settles each as `cancelled` with no breaker counting it and no new request sent, and only then
 * closes the ledger connection and the HTTP pool.
 */
import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as ManagedRuntime from "effect/ManagedRuntime"
import * as Redacted from "effect/Redacted"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { generate, Layers, Ledger, makeLiveLayer, stream } from "../../src/index.js"
import { freshPgSchema, pgReachable } from "../support/LedgerBackends.js"
import * as Loopback from "../support/LoopbackServer.js"

let server: Loopback.LoopbackServer
let dir: string

beforeAll(async () => {
  server = await Loopback.start()
  dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "effect-llm-dispose-"))
})

afterAll(async () => {
  await server.close()
  Fs.rmSync(dir, { recursive: true, force: true })
})

/** The ledger a test's runtime uses: a SQLite file, or (`{ url }`) a PostgreSQL schema. */
type LedgerAt = string | { readonly url: string }

const configFor = (ledgerAt: LedgerAt) => ({
  default_model: "flash",
  providers: {
    google: {
      api_key: "dispose-test-key-123456",
      endpoints: [{ name: "loop", base_url: server.url }, { name: "loop-2", base_url: server.url }]
    }
  },
  models: {
    flash: { provider: "google", model_id: "gemini-2.5-flash", pricing: { input_per_1m: 1, output_per_1m: 2 } }
  },
  resilience: { max_retries: 2, circuit_breaker: { failure_threshold: 1, recovery_timeout_s: 300 } },
  ledger: typeof ledgerAt === "string" ?
    { backend: "sqlite", path: ledgerAt } :
    { backend: "postgres", url: ledgerAt.url }
})

const readLedger = (ledgerAt: LedgerAt) =>
  Effect.runPromise(
    Effect.flatMap(Ledger, (ledger) => ledger.events()).pipe(
      Effect.provide(
        typeof ledgerAt === "string" ?
          Layers.ledgerSqlite({ path: ledgerAt }) :
          Layers.ledgerPostgres({ url: Redacted.make(ledgerAt.url) })
      )
    )
  )

/**
 * A stream a program pulls under a scope of its own (a session's), over a runtime of its own: the
 * server sends one delta and then nothing.
 */
const session = async (ledgerAt: LedgerAt) => {
  const chunk = JSON.stringify({
    candidates: [{ content: { parts: [{ text: "first" }], role: "model" } }],
    usageMetadata: { promptTokenCount: 3, candidatesTokenCount: 1, totalTokenCount: 4 }
  })
  server.setDefault(() => ({
    headers: { "content-type": "text/event-stream" },
    body: [`data: ${chunk}\r\n\r\n`],
    end: "hang"
  }))
  const runtime = ManagedRuntime.make(makeLiveLayer({ config: configFor(ledgerAt), userConfig: false }))
  const scope = await runtime.runPromise(Scope.make())
  const pull = await runtime.runPromise(Scope.extend(Stream.toPull(stream({ prompt: "a session" })), scope))
  return { pull, runtime, scope }
}

describe("disposing a runtime built from makeLiveLayer", () => {
  it("interrupts the calls in flight, settles every hold as cancelled, sends nothing more, then closes the pool and the ledger", async () => {
    const ledgerPath = Path.join(dir, "in-flight.db")
    server.setDefault(() => ({ hang: true }))
    const runtime = ManagedRuntime.make(makeLiveLayer({ config: configFor(ledgerPath), userConfig: false }))
    const before = server.requests.length
    const calls = Array.from({ length: 8 }, (_, i) => runtime.runPromiseExit(generate({ prompt: `call ${i}` })))
    const streams = Array.from(
      { length: 2 },
      (_, i) => runtime.runPromiseExit(Stream.runDrain(stream({ prompt: `stream ${i}` })))
    )
    const inFlight = (await server.awaitRequests(before + 10)).slice(before)
    await runtime.dispose()
    const exits: ReadonlyArray<Exit.Exit<unknown, unknown>> = await Promise.all([...calls, ...streams])
    for (const exit of exits) {
      assert.isTrue(Exit.isFailure(exit) && Exit.isInterrupted(exit), "the caller sees an interruption")
    }
    assert.strictEqual(
      server.requests.length,
      before + 10,
      "no new request after dispose began (no retry, no failover)"
    )
    // Every connection of the calls in flight is closed (a leak would hang here and time the test out).
    await Promise.all(inFlight.map((request) => request.socketClosed))
    // The last SQLite connection to close removes the WAL file: the ledger connection is closed.
    assert.isFalse(Fs.existsSync(`${ledgerPath}-wal`), "the ledger connection was closed")
    const events = await readLedger(ledgerPath)
    const holds = events.filter((event) => event.type === "hold")
    const cancels = events.filter((event) => event.type === "cancel")
    assert.strictEqual(holds.length, 10)
    assert.strictEqual(cancels.length, 10, "every hold settled")
    for (const cancel of cancels) assert.strictEqual(cancel.status, "cancelled")
    assert.isTrue(cancels.every((cancel) => cancel.attempts === 1), "no retry was attempted")
  })

  it("settles a stream pulled under a scope the program owns (no fiber runs it between pulls) as cancelled, before the ledger closes; a pull waiting then fails", async () => {
    const ledgerPath = Path.join(dir, "user-scope.db")
    const { pull, runtime, scope } = await session(ledgerPath)
    const first = await runtime.runPromise(pull)
    assert.deepStrictEqual(Chunk.toArray(first).map((event) => event.delta), ["first"])
    // a second pull, run by its own fiber, waits for the next event when the runtime is disposed
    const second = runtime.runPromiseExit(pull)
    await new Promise((resolve) => setTimeout(resolve, 50)) // until it waits on the socket
    await runtime.dispose()
    const secondExit = await second // it fails (it used to wait for ever), the stream cut under it
    assert.isTrue(Exit.isFailure(secondExit))
    assert.include(JSON.stringify(secondExit), "stream_interrupted")
    const events = await readLedger(ledgerPath)
    assert.deepStrictEqual(events.map((event) => [event.type, event.status]), [["hold", "ok"], ["cancel", "cancelled"]])
    // the program closing its scope later finds the stream settled (no second settlement, no error)
    await Effect.runPromise(Scope.close(scope, Exit.void))
    assert.lengthOf(await readLedger(ledgerPath), 2)
  })

  it("a stream the program pulls again after the runtime settled it is interrupted: no hang, no second settlement", async () => {
    const ledgerPath = Path.join(dir, "late-pull.db")
    const { pull, runtime } = await session(ledgerPath)
    await runtime.runPromise(pull)
    await runtime.dispose()
    // the pull reads what its stream opened; the disposed runtime cannot run it, the program can
    const late = await Effect.runPromiseExit(pull as Effect.Effect<unknown, unknown>)
    assert.isTrue(Exit.isInterrupted(late), JSON.stringify(late))
    const events = await readLedger(ledgerPath)
    assert.deepStrictEqual(events.map((event) => [event.type, event.status]), [["hold", "ok"], ["cancel", "cancelled"]])
  })

  it.skipIf(!pgReachable)(
    "a stream its program closes at the moment the runtime is disposed is settled before dispose returns (PostgreSQL: the settlement is a round trip)",
    async () => {
      const schemaScope = await Effect.runPromise(Scope.make())
      try {
        const url = Redacted.value(await Effect.runPromise(Scope.extend(freshPgSchema(), schemaScope)))
        const { pull, runtime, scope } = await session({ url })
        await runtime.runPromise(pull)
        // the program's close (another fiber) and the dispose start together: the dispose finds the scope
        // closing, its settlement under way, and waits for it (it returned at once, the settlement then
        // failed on the closed pool after 10 s and the hold stayed open)
        const owner = Effect.runPromise(Scope.close(scope, Exit.void))
        await runtime.dispose()
        const events = await readLedger({ url })
        assert.deepStrictEqual(events.map((event) => [event.type, event.status]), [["hold", "ok"], [
          "cancel",
          "cancelled"
        ]])
        await owner
      } finally {
        await Effect.runPromise(Scope.close(schemaScope, Exit.void))
      }
    }
  )

  it("a runtime disposed with nothing in flight closes cleanly and can be rebuilt", async () => {
    const ledgerPath = Path.join(dir, "idle.db")
    server.setDefault(() => ({
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        candidates: [{ content: { parts: [{ text: "hi" }] }, finishReason: "STOP" }],
        usageMetadata: { promptTokenCount: 1, candidatesTokenCount: 1, totalTokenCount: 2 }
      })
    }))
    for (let round = 0; round < 2; round++) {
      const runtime = ManagedRuntime.make(makeLiveLayer({ config: configFor(ledgerPath), userConfig: false }))
      assert.strictEqual(await runtime.runPromise(generate({ prompt: "hi" })), "hi")
      await runtime.dispose()
      assert.isFalse(Fs.existsSync(`${ledgerPath}-wal`))
    }
    const events = await readLedger(ledgerPath)
    assert.deepStrictEqual(events.map((event) => event.type), ["hold", "commit", "hold", "commit"])
  })
})
