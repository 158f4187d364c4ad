/**
 * `http/Body.ts` and `EventStream.openPull`: how the stream path reads a 200 body. Over undici's
 * Node stream the reads keep the idle time themselves under the live clock (the only way to reach
 * that path is `it.live` with millisecond timeouts, as in test/internal/Timeout.test.ts); any other
 * client's body is read through `response.stream` and timed by `Timeout.idleTimeout`, which follows
 * `TestClock`.
 */
import { NodeHttpClient } from "@effect/platform-node"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import { assert, describe, it } from "@effect/vitest"
import * as Chunk from "effect/Chunk"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as TestClock from "effect/TestClock"
import * as Undici from "undici"
import { RetryableError } from "../../../src/domain/Errors.js"
import type { Pull } from "../../../src/internal/Peel.js"
import * as Gemini from "../../../src/providers/gemini/Gemini.js"
import * as OpenAI from "../../../src/providers/openai/OpenAI.js"
import type { IdleTimeout, StreamPart } from "../../../src/providers/Provider.js"
import { pullEndOf } from "../../support/Exits.js"
import * as Loopback from "../../support/LoopbackServer.js"
import { googleai, hello, targetOf, vertexai } from "../gemini/Harness.js"
import { framed, hello as openaiHello, targetOf as openaiTargetOf, vai } from "../openai/Harness.js"

const idleError = new RetryableError({
  reason: "timeout",
  message: "idle",
  provider: "google",
  endpoint: "google-test"
})
const idleAfter = (ms: number): IdleTimeout => ({ duration: Duration.millis(ms), onIdle: () => idleError })

const full = Loopback.readFixture(googleai + "streaming-success-basic-reply-long.txt")
/** The recorded stream's events, each with its blank line. */
const events = full.toString("utf8").split("\r\n\r\n").filter((event) => event.trim().length > 0).map((event) =>
  `${event}\r\n\r\n`
)
const firstEvent = events[0]!
/** The text of an event of the recorded stream. */
const textOf = (event: string): string =>
  (JSON.parse(event.slice(event.indexOf("{"))) as {
    candidates: Array<{ content: { parts: Array<{ text?: string }> } }>
  }).candidates[0]!.content.parts.map((part) => part.text ?? "").join("")

/** Pulls until the end; the text deltas, and how the pull ended. */
const drain = (pull: Pull<StreamPart, RetryableError | unknown>) =>
  Effect.gen(function*() {
    const deltas: Array<string> = []
    for (;;) {
      const exit = yield* Effect.exit(pull)
      if (Exit.isSuccess(exit)) {
        for (const part of Chunk.toReadonlyArray(exit.value)) if (part._tag === "TextDelta") deltas.push(part.text)
        continue
      }
      return { deltas, exit }
    }
  })

const openGemini = (server: Loopback.LoopbackServer, idle: IdleTimeout) =>
  Effect.flatMap(
    Gemini.make,
    (client) => Effect.flatMap(Effect.scope, (scope) => client.openStream!(targetOf(server), hello, idle, scope))
  )

describe("openPull over undici's body, live clock", () => {
  it.live("a read that holds the whole answer gives its first delta alone, the rest with the next pull", () =>
    Effect.gen(function*() {
      const server = yield* Loopback.make
      server.enqueue({ status: 200, headers: { "content-type": "text/event-stream" }, body: full })
      const pull = yield* openGemini(server, idleAfter(5_000))
      const first = Chunk.toReadonlyArray(yield* pull)
      assert.deepStrictEqual(first.filter((part) => part._tag === "TextDelta").map((part) => part.text), [
        textOf(firstEvent)
      ])
      const { deltas, exit } = yield* drain(pull)
      assert.strictEqual(pullEndOf(exit), "end")
      assert.strictEqual(textOf(firstEvent) + deltas.join(""), events.map(textOf).join(""))
      assert.isAbove(deltas.length, 1)
    }).pipe(Effect.scoped, Effect.provide(NodeHttpClient.layerUndici)))

  it.live("an error in the same read after the first delta: the first delta alone, the next, then the error", () =>
    Effect.gen(function*() {
      const server = yield* Loopback.make
      server.enqueue({
        status: 200,
        headers: { "content-type": "text/event-stream" },
        body: Loopback.readFixture(vertexai + "streaming-failure-error-mid-stream.txt")
      })
      const pull = yield* openGemini(server, idleAfter(5_000))
      const first = Chunk.toReadonlyArray(yield* pull)
      assert.deepStrictEqual(first.filter((part) => part._tag === "TextDelta").map((part) => part.text), ["First "])
      const { deltas, exit } = yield* drain(pull)
      assert.strictEqual(deltas.length, 1)
      const error = pullEndOf(exit) as RetryableError
      assert.strictEqual(error._tag, "RetryableError")
      assert.strictEqual(error.status, 499)
    }).pipe(Effect.scoped, Effect.provide(NodeHttpClient.layerUndici)))

  it.live("a body that goes silent fails the next pull with the idle error, after what came in time", () =>
    Effect.gen(function*() {
      const server = yield* Loopback.make
      server.enqueue({ status: 200, headers: { "content-type": "text/event-stream" }, body: [firstEvent], end: "hang" })
      const { deltas, exit } = yield* drain(yield* openGemini(server, idleAfter(50)))
      assert.isAbove(deltas.length, 0, "the first event arrived before the silence")
      assert.strictEqual(pullEndOf(exit), idleError)
    }).pipe(Effect.scoped, Effect.provide(NodeHttpClient.layerUndici)))

  it.live("the idle time counts from each pull: a slow stream that never pauses that long is read whole", () =>
    Effect.gen(function*() {
      const server = yield* Loopback.make
      // 12 events 30 ms apart (> 300 ms in all) under a 150 ms idle timeout.
      const body = events.slice(0, 12).flatMap((event, index) => index === 0 ? [event] : [{ delayMs: 30 }, event])
      const last = events.slice(12).join("")
      server.enqueue({ status: 200, headers: { "content-type": "text/event-stream" }, body: [...body, last] })
      const { deltas, exit } = yield* drain(yield* openGemini(server, idleAfter(150)))
      assert.strictEqual(pullEndOf(exit), "end", "ended by the provider's finish signal")
      assert.isAbove(deltas.length, 0)
    }).pipe(Effect.scoped, Effect.provide(NodeHttpClient.layerUndici)))

  it.live("the idle time counts only while a read waits: a consumer that holds the stream longer loses nothing", () =>
    Effect.gen(function*() {
      const server = yield* Loopback.make
      // Events at once, 20 ms later, then the rest 150 ms after that, under a 100 ms idle timeout; the
      // consumer holds the stream 120 ms after its second read (no read waits meanwhile).
      const rest = events.slice(2).join("")
      server.enqueue({
        status: 200,
        headers: { "content-type": "text/event-stream" },
        body: [events[0]!, { delayMs: 20 }, events[1]!, { delayMs: 150 }, rest]
      })
      const pull = yield* openGemini(server, idleAfter(100))
      const first = yield* pull
      const second = yield* pull
      yield* Effect.sleep(Duration.millis(120))
      const { deltas, exit } = yield* drain(pull)
      assert.strictEqual(pullEndOf(exit), "end", "read to the provider's finish signal")
      assert.isAbove(Chunk.size(first) + Chunk.size(second) + deltas.length, 2)
    }).pipe(Effect.scoped, Effect.provide(NodeHttpClient.layerUndici)))
})

/** An OpenAI-compatible stream: its finish signal, `data: [DONE]`, comes before the body's end. */
const openaiEvents = framed(vai + "openai-text.chunks.txt")

/** undici with one pooled connection per origin: a second request waits for the first's connection. */
const oneConnection = Layer.scoped(
  HttpClient.HttpClient,
  Effect.map(
    Effect.acquireRelease(
      Effect.sync(() => new Undici.Agent({ connections: 1 })),
      (agent) => Effect.promise(() => agent.close())
    ),
    NodeHttpClient.makeUndici
  )
)

/** With `abort`: sent under the caller's own controller, as an attempt over the live layer's pool is. */
const readOpenAI = (server: Loopback.LoopbackServer, idle: IdleTimeout, abort?: AbortController) =>
  Effect.scoped(
    Effect.flatMap(
      Effect.flatMap(OpenAI.make, (client) =>
        Effect.flatMap(Effect.scope, (scope) =>
          client.openStream!(openaiTargetOf(server), openaiHello, idle, scope, abort))),
      drain
    )
  )

/** The request's controller: the platform's own, or the caller's (`Timeout.timeoutAbortable`). */
const controllers = [
  { label: "", abort: () => undefined },
  { label: ", sent under the caller's controller", abort: () => new AbortController() }
] as const

describe("a stream read to its finish signal before the body's end (undici, live clock)", () => {
  for (const { abort, label } of controllers) {
    it.live(`the rest of the body drains: the next request reuses the connection${label}`, () =>
      Effect.gen(function*() {
        const server = yield* Loopback.make
        const events = { status: 200, headers: { "content-type": "text/event-stream" } }
        // The body's end (its last empty chunk) comes after the call has read `data: [DONE]`.
        server.enqueue({ ...events, body: [openaiEvents, { delayMs: 30 }] }, { ...events, body: openaiEvents })
        for (const _ of [1, 2]) {
          const { deltas, exit } = yield* readOpenAI(server, idleAfter(60_000), abort())
          assert.strictEqual(pullEndOf(exit), "end")
          assert.isAbove(deltas.length, 0)
        }
        assert.strictEqual(server.connectionsAccepted(), 1, "both streams on one connection")
        assert.strictEqual(server.connectionsClosed(), 0)
      }).pipe(Effect.scoped, Effect.provide(oneConnection)))
  }

  for (
    const [idleMs, { abort, label }] of [[50, controllers[0]], [60_000, controllers[0]], [50, controllers[1]]] as const
  ) {
    it.live(`a body that never ends after its finish signal is destroyed after the idle time, at most a second (idle ${idleMs} ms${label})`, () =>
      Effect.gen(function*() {
        const server = yield* Loopback.make
        server.enqueue({
          status: 200,
          headers: { "content-type": "text/event-stream" },
          body: openaiEvents,
          end: "hang"
        })
        const { exit } = yield* readOpenAI(server, idleAfter(idleMs), abort())
        assert.strictEqual(pullEndOf(exit), "end", "the call finished at [DONE]")
        const [request] = yield* Effect.promise(() => server.awaitRequests(1))
        const closed = yield* Effect.promise(() =>
          Promise.race([
            request!.socketClosed.then(() => true),
            new Promise<boolean>((done) => setTimeout(() => done(false), 4_000))
          ])
        )
        assert.isTrue(closed, "the connection was closed")
      }).pipe(Effect.scoped, Effect.provide(NodeHttpClient.layerUndici)))
  }
})

describe("openPull over node:http's body (NodeHttpClient.layer)", () => {
  it.live("reads the stream whole, and a silence fails the pull with the idle error", () =>
    Effect.gen(function*() {
      const server = yield* Loopback.make
      server.enqueue({ status: 200, headers: { "content-type": "text/event-stream" }, body: full })
      const whole = yield* drain(yield* openGemini(server, idleAfter(60_000)))
      assert.strictEqual(pullEndOf(whole.exit), "end")
      assert.isAbove(whole.deltas.length, 1)
      server.enqueue({ status: 200, headers: { "content-type": "text/event-stream" }, body: [firstEvent], end: "hang" })
      const silent = yield* drain(yield* openGemini(server, idleAfter(50)))
      assert.isAbove(silent.deltas.length, 0)
      assert.strictEqual(pullEndOf(silent.exit), idleError)
    }).pipe(Effect.scoped, Effect.provide(NodeHttpClient.layer)))
})

/** An `HttpClient` whose 200 answers are web `Response`s over `body` (no Node stream under them). */
const webClient = (body: () => ReadableStream<Uint8Array>) =>
  HttpClient.make((request) =>
    Effect.succeed(
      HttpClientResponse.fromWeb(
        request,
        new Response(body(), { status: 200, headers: { "content-type": "text/event-stream" } })
      )
    )
  )

const target = { ...targetOf({ url: "http://127.0.0.1:1", port: 1 } as Loopback.LoopbackServer) }

describe("openPull over another client's body", () => {
  it.scoped("reads the stream to the provider's finish signal", () =>
    Effect.gen(function*() {
      const client = webClient(() =>
        new ReadableStream({
          start(controller) {
            controller.enqueue(new Uint8Array(full))
            controller.close()
          }
        })
      )
      const gemini = yield* Effect.provideService(Gemini.make, HttpClient.HttpClient, client)
      const { deltas, exit } = yield* drain(
        yield* Effect.flatMap(Effect.scope, (scope) => gemini.openStream!(target, hello, idleAfter(60_000), scope))
      )
      assert.strictEqual(pullEndOf(exit), "end")
      assert.isAbove(deltas.length, 1)
    }))

  it.scoped("a silent body fails with the idle error when the test's clock passes the idle time", () =>
    Effect.gen(function*() {
      const client = webClient(() =>
        new ReadableStream({
          start(controller) {
            controller.enqueue(new TextEncoder().encode(firstEvent))
          }
        })
      )
      const gemini = yield* Effect.provideService(Gemini.make, HttpClient.HttpClient, client)
      const fiber = yield* Effect.fork(
        Effect.flatMap(
          Effect.flatMap(Effect.scope, (scope) => gemini.openStream!(target, hello, idleAfter(10_000), scope)),
          drain
        )
      )
      yield* TestClock.adjust(Duration.seconds(9))
      assert.isTrue(Option.isNone(yield* Fiber.poll(fiber)), "still waiting before the idle time")
      yield* TestClock.adjust(Duration.seconds(1))
      const { deltas, exit } = yield* Fiber.join(fiber)
      assert.isAbove(deltas.length, 0)
      assert.strictEqual(pullEndOf(exit), idleError)
    }))

  it.effect("closing the stream's scope before the body's end aborts the request", () =>
    Effect.gen(function*() {
      const signals: Array<AbortSignal> = []
      const client = HttpClient.make((request, _url, signal) => {
        signals.push(signal)
        return Effect.succeed(HttpClientResponse.fromWeb(
          request,
          new Response(
            new ReadableStream({
              start(controller) {
                controller.enqueue(new TextEncoder().encode(firstEvent))
              }
            }),
            { status: 200, headers: { "content-type": "text/event-stream" } }
          )
        ))
      })
      const gemini = yield* Effect.provideService(Gemini.make, HttpClient.HttpClient, client)
      yield* Effect.scoped(Effect.flatMap(
        Effect.flatMap(Effect.scope, (scope) => gemini.openStream!(target, hello, idleAfter(60_000), scope)),
        (pull) => pull
      ))
      assert.strictEqual(signals.length, 1)
      assert.isTrue(signals[0]!.aborted, "the request of a body left unread is aborted")
    }))
})
