/**
 * The attempt timeout under the live clock over the live layer's own HTTP pool: the attempt runs in
 * the caller's fiber and its timer aborts the request (`Timeout.timeoutAbortable`, `Abortable.ts`).
 * Every other test runs under `TestClock`, where Effect's own timeout applies; these use `it.live`
 * with timeouts of a tenth of a second, the only way to reach this path. What a user sees must not
 * change: the timeout error, the connection closed, an interruption settling the call, answers and
 * early stops as before.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Stream from "effect/Stream"
import { generate, Ledger, makeLiveLayer, stream } from "../../src/index.js"
import * as Loopback from "../support/LoopbackServer.js"
import * as RecordingTracer from "../support/RecordingTracer.js"

const googleai = "vertexai-sdk-test-data/googleai/"
const json = { "content-type": "application/json" }
const sse = { "content-type": "text/event-stream" }
const unary = Loopback.readFixture(googleai + "unary-success-basic-reply-short.json")
const streamed = Loopback.readFixture(googleai + "streaming-success-basic-reply-long.txt")

const layerFor = (url: string, requestTimeoutS: number) =>
  makeLiveLayer({
    config: {
      default_model: "flash",
      providers: { google: { api_key: "abort-test-key", endpoints: [{ name: "loop", base_url: url }] } },
      models: { flash: { provider: "google", model_id: "gemini-2.0-flash" } },
      resilience: { max_retries: 0, request_timeout_s: requestTimeoutS },
      ledger: { backend: "memory" }
    },
    userConfig: false
  })

const reasonOf = (error: unknown) => (error as { readonly reason?: string }).reason

describe("the attempt timeout aborts the request (live clock, the live layer's pool)", () => {
  it.scopedLive("a response that never starts: RetryableError timeout, the connection closed, the call settled", () =>
    Effect.gen(function*() {
      const server = yield* Loopback.make
      server.enqueue({ hang: true })
      const { error, events } = yield* Effect.gen(function*() {
        const error = yield* Effect.flip(generate({ prompt: "x", traceId: "abort-1" }))
        return { error, events: yield* Effect.flatMap(Ledger, (ledger) => ledger.events({ traceId: "abort-1" })) }
      }).pipe(Effect.provide(layerFor(server.url, 0.1)))
      assert.strictEqual(error._tag, "RetryableError")
      assert.strictEqual(reasonOf(error), "timeout")
      assert.include(error.message, "within 100ms")
      yield* Effect.promise(() => server.requests[0]!.socketClosed)
      assert.deepStrictEqual(events.map((event) => [event.type, event.status]), [["hold", "ok"], ["cancel", "error"]])
    }))

  it.scopedLive("a body that stops half-way: timeout, not a broken connection; the connection closed", () =>
    Effect.gen(function*() {
      const server = yield* Loopback.make
      server.enqueue({ headers: json, body: [unary.subarray(0, 40)], end: "hang" })
      const error = yield* Effect.flip(generate({ prompt: "x" })).pipe(Effect.provide(layerFor(server.url, 0.1)))
      assert.strictEqual(reasonOf(error), "timeout")
      yield* Effect.promise(() => server.requests[0]!.socketClosed)
    }))

  it.scopedLive("a stream whose response never starts: timeout, the connection closed", () =>
    Effect.gen(function*() {
      const server = yield* Loopback.make
      server.enqueue({ hang: true })
      const error = yield* Effect.flip(Stream.runDrain(stream({ prompt: "x" }))).pipe(
        Effect.provide(layerFor(server.url, 0.1))
      )
      assert.strictEqual(reasonOf(error), "timeout")
      yield* Effect.promise(() => server.requests[0]!.socketClosed)
    }))

  it.scopedLive("under an installed tracer (trace headers added on the way): the same timeout, the attempt's span ended", () =>
    Effect.gen(function*() {
      const server = yield* Loopback.make
      server.enqueue({ hang: true })
      const recording = RecordingTracer.make()
      const error = yield* Effect.flip(generate({ prompt: "x" })).pipe(
        Effect.provide(layerFor(server.url, 0.1)),
        Effect.withTracer(recording.tracer)
      )
      assert.strictEqual(reasonOf(error), "timeout")
      assert.isString(server.requests[0]!.headers["traceparent"])
      yield* Effect.promise(() => server.requests[0]!.socketClosed)
      const attempt = recording.spans.find((span) => span.name === "LLMClient.attempt")
      assert.strictEqual(attempt?.status._tag, "Ended")
    }))

  // undici acts on an abort only once the request is on a connection; before that (DNS, TCP connect,
  // TLS handshake) it waited for its own 10 s connect timeout. Each case would take 10 s per attempt.
  const connectTimeoutBound = "5 seconds"
  const withinConnectPhase = <A, E, R>(call: Effect.Effect<A, E, R>) =>
    Effect.raceFirst(
      Effect.either(call),
      Effect.as(Effect.sleep(connectTimeoutBound), "still waiting for the connection" as const)
    )

  /** Whether every connection the listener accepted was closed by the client (undici kept them to 10 s). */
  const allClosed = (listener: Loopback.SilentListener) =>
    Effect.raceFirst(
      Effect.as(Effect.promise(() => Loopback.waitFor(() => listener.open() === 0)), true),
      Effect.as(Effect.sleep(connectTimeoutBound), false)
    )

  it.scopedLive("a TLS handshake that never completes: timeout at the request timeout, every retry made", () =>
    Effect.gen(function*() {
      const listener = yield* Loopback.silentTlsListener
      const layer = makeLiveLayer({
        config: {
          default_model: "flash",
          providers: { google: { api_key: "abort-test-key", endpoints: [{ name: "loop", base_url: listener.url }] } },
          models: { flash: { provider: "google", model_id: "gemini-2.0-flash" } },
          resilience: { max_retries: 2, base_delay_s: 0.01, request_timeout_s: 0.1, retry_budget_s: 30 },
          ledger: { backend: "memory" }
        },
        userConfig: false
      })
      const outcome = yield* Effect.gen(function*() {
        const outcome = yield* withinConnectPhase(generate({ prompt: "x", traceId: "abort-tls" }))
        const events = yield* Effect.flatMap(Ledger, (ledger) => ledger.events({ traceId: "abort-tls" }))
        return { outcome, events }
      }).pipe(Effect.provide(layer))
      assert.notStrictEqual(outcome.outcome, "still waiting for the connection")
      const error = (outcome.outcome as Either.Either<string, { readonly _tag: string }>).pipe(
        Either.flip,
        Either.getOrThrow
      )
      assert.strictEqual(reasonOf(error), "timeout")
      assert.strictEqual(listener.accepted(), 3, "three attempts, each on a connection of its own")
      assert.isTrue(yield* allClosed(listener), "each abandoned handshake closed, none left to undici's 10 s")
      assert.deepStrictEqual(outcome.events.map((event) => [event.type, event.status]), [["hold", "ok"], [
        "cancel",
        "error"
      ]])
    }))

  it.scopedLive("a stream whose TLS handshake never completes: timeout at the request timeout", () =>
    Effect.gen(function*() {
      const listener = yield* Loopback.silentTlsListener
      const outcome = yield* withinConnectPhase(Stream.runDrain(stream({ prompt: "x" }))).pipe(
        Effect.provide(layerFor(listener.url, 0.1))
      )
      assert.notStrictEqual(outcome, "still waiting for the connection")
      const error = (outcome as Either.Either<void, unknown>).pipe(Either.flip, Either.getOrThrow)
      assert.strictEqual(reasonOf(error), "timeout")
      assert.isTrue(yield* allClosed(listener), "the abandoned handshake closed")
    }))

  it.scopedLive("interrupting a call waiting for its response aborts the request and settles it cancelled", () =>
    Effect.gen(function*() {
      const server = yield* Loopback.make
      server.enqueue({ hang: true }, { hang: true })
      yield* Effect.gen(function*() {
        const unaryCall = yield* Effect.fork(generate({ prompt: "x", traceId: "abort-2" }))
        yield* Effect.promise(() => server.awaitRequests(1))
        assert.isTrue(Exit.isInterrupted(yield* Fiber.interrupt(unaryCall)))
        yield* Effect.promise(() => server.requests[0]!.socketClosed)
        const streamCall = yield* Effect.fork(Stream.runDrain(stream({ prompt: "y", traceId: "abort-3" })))
        yield* Effect.promise(() => server.awaitRequests(2))
        assert.isTrue(Exit.isInterrupted(yield* Fiber.interrupt(streamCall)))
        yield* Effect.promise(() => server.requests[1]!.socketClosed)
        for (const traceId of ["abort-2", "abort-3"]) {
          const events = yield* Effect.flatMap(Ledger, (ledger) => ledger.events({ traceId }))
          assert.deepStrictEqual(events.map((event) => [event.type, event.status]), [["hold", "ok"], [
            "cancel",
            "cancelled"
          ]])
        }
      }).pipe(Effect.provide(layerFor(server.url, 60)))
    }))

  it.scopedLive("answers arrive as before and keep their connections; a stream stopped early closes its own", () =>
    Effect.gen(function*() {
      const server = yield* Loopback.make
      server.enqueue(
        { headers: json, body: unary },
        { headers: json, body: unary },
        Loopback.replay(streamed, { headers: sse, chunkSizes: [700] }),
        Loopback.replay(streamed, { headers: sse, chunkSizes: [700], delayMs: 20, end: "hang" })
      )
      yield* Effect.gen(function*() {
        const first = yield* generate({ prompt: "1" })
        const second = yield* generate({ prompt: "2" })
        assert.isAbove(first.length, 0)
        assert.strictEqual(second, first)
        const events = yield* Stream.runCollect(stream({ prompt: "3" }))
        assert.isTrue(Chunk.unsafeLast(events).isFinish)
        // past the attempts' 0.1 s: a timer left behind would have aborted its request by now
        yield* Effect.sleep("150 millis")
        assert.strictEqual(server.connectionsClosed(), 0, "no finished request was aborted")
        const firstDelta = yield* Stream.runCollect(Stream.take(stream({ prompt: "4" }), 1))
        assert.strictEqual(Chunk.size(firstDelta), 1)
        yield* Effect.promise(() => server.requests[3]!.socketClosed)
      }).pipe(Effect.provide(layerFor(server.url, 0.1)))
    }))
})
