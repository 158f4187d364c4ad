/**
 * `providers/http/AbortBeforeConnect.ts`: the live layer's undici pool fails a request whose signal
 * fires while its connection is still being made (undici alone waits for the connection, or for its
 * 10 s connect timeout), closes a connection still being made once only aborted requests wait for it
 * (undici kept it, and the process, alive to that timeout), and changes nothing else: aborts on a
 * connection, answers, connection errors, undici 7's new-style handlers.
 * (That a finished request's connection outlives its attempt's timer is checked over the live layer:
 * `test/services/AttemptAbort.test.ts`.)
 */
import * as Undici from "@effect/platform-node/Undici"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Net from "node:net"
import { makeLiveAgent } from "../../../src/providers/http/AbortBeforeConnect.js"
import * as Loopback from "../../support/LoopbackServer.js"

const agent = Effect.map(
  Effect.acquireRelease(Effect.sync(() => makeLiveAgent(Undici)), (live) => Effect.promise(live.close)),
  (live) => live.agent
)

/** The name of the error a forked `send` was rejected with. */
const errorNameOf = (sent: Fiber.RuntimeFiber<{ readonly error: Error } | object>) =>
  Effect.map(Effect.flatten(sent.await), (outcome) => errorOf(outcome).name)

const untilAccepted = (listener: Loopback.SilentListener, count: number) =>
  Effect.promise(() => Loopback.waitFor(() => listener.accepted() === count))

/** Waits until the client has closed every connection the listener accepted. */
const untilAllClosed = (listener: Loopback.SilentListener) =>
  Effect.promise(() => Loopback.waitFor(() => listener.open() === 0))

/** A few turns of the event loop: time for a destroyed socket's close to reach the other end. */
const turns = (count: number) => Effect.promise(() => Loopback.waitFor(() => count-- === 0))

/** The request's outcome: its status and body, or the error it was rejected with. */
const send = (dispatcher: Undici.Dispatcher, url: string, signal: AbortSignal | undefined) =>
  Effect.promise(() =>
    dispatcher.request({
      origin: new URL(url).origin,
      path: "/",
      method: "POST",
      body: "{}",
      ...(signal !== undefined ? { signal } : {})
    }).then(
      async (response) => ({ status: response.statusCode, body: await response.body.text() }),
      (error: unknown) => ({ error: error as Error })
    )
  )

const errorOf = (outcome: { readonly error: Error } | object): Error => {
  assert.property(outcome, "error")
  return (outcome as { readonly error: Error }).error
}

describe("abortBeforeConnect", () => {
  it.scopedLive("an abort during a TLS handshake that never completes fails the request at once", () =>
    Effect.gen(function*() {
      const listener = yield* Loopback.silentTlsListener
      const dispatcher = yield* agent
      const controller = new AbortController()
      const pending = yield* Effect.fork(send(dispatcher, listener.url, controller.signal))
      yield* untilAccepted(listener, 1)
      controller.abort()
      const error = errorOf(yield* pending.await.pipe(Effect.flatten))
      assert.strictEqual(error.name, "AbortError")
      yield* untilAllClosed(listener)
    }))

  it.scopedLive("a connection being made is kept while another request to the origin waits, closed after the last abort", () =>
    Effect.gen(function*() {
      const listener = yield* Loopback.silentTlsListener
      const dispatcher = yield* agent
      const [first, second] = [new AbortController(), new AbortController()]
      const firstSent = yield* Effect.fork(send(dispatcher, listener.url, first.signal))
      const secondSent = yield* Effect.fork(send(dispatcher, listener.url, second.signal))
      yield* untilAccepted(listener, 2)
      first.abort()
      assert.strictEqual(yield* errorNameOf(firstSent), "AbortError")
      yield* turns(20)
      assert.isTrue(Option.isNone(yield* Fiber.poll(secondSent)), "the other request still waits")
      assert.strictEqual(listener.open(), 2)
      second.abort()
      assert.strictEqual(yield* errorNameOf(secondSent), "AbortError")
      yield* untilAllClosed(listener)
    }))

  it.scopedLive("a request sent without a signal (not followed) keeps its origin's connections being made", () =>
    Effect.gen(function*() {
      const listener = yield* Loopback.silentTlsListener
      const live = makeLiveAgent(Undici)
      const unsignalled = yield* Effect.fork(send(live.agent, listener.url, undefined))
      const aborted = new AbortController()
      const abortedSent = yield* Effect.fork(send(live.agent, listener.url, aborted.signal))
      yield* untilAccepted(listener, 2)
      aborted.abort()
      assert.strictEqual(yield* errorNameOf(abortedSent), "AbortError")
      yield* turns(20)
      assert.isTrue(Option.isNone(yield* Fiber.poll(unsignalled)), "the request without a signal still waits")
      assert.strictEqual(listener.open(), 2)
      yield* Effect.promise(live.close)
      assert.strictEqual(yield* errorNameOf(unsignalled), "ClientDestroyedError")
      yield* untilAllClosed(listener)
    }))

  it.scopedLive("closing the agent fails a request still waiting and closes its connection being made", () =>
    Effect.gen(function*() {
      const listener = yield* Loopback.silentTlsListener
      const live = makeLiveAgent(Undici)
      const pending = yield* Effect.fork(send(live.agent, listener.url, new AbortController().signal))
      yield* untilAccepted(listener, 1)
      yield* Effect.promise(live.close)
      assert.strictEqual(yield* errorNameOf(pending), "ClientDestroyedError")
      yield* untilAllClosed(listener)
    }))

  it.scopedLive("a signal aborted before the request is sent: rejected without opening a connection", () =>
    Effect.gen(function*() {
      const listener = yield* Loopback.silentTlsListener
      const dispatcher = yield* agent
      const controller = new AbortController()
      const reason = new Error("gave up")
      controller.abort(reason)
      assert.strictEqual(errorOf(yield* send(dispatcher, listener.url, controller.signal)), reason)
      assert.deepStrictEqual(Object.keys(dispatcher.stats), [], "no pool was made for the origin")
    }))

  it.scopedLive("on a connection, undici's own abort closes it; an answer is unchanged", () =>
    Effect.gen(function*() {
      const server = yield* Loopback.make
      server.enqueue({ hang: true }, { headers: { "content-type": "application/json" }, body: "{\"ok\":true}" })
      const dispatcher = yield* agent
      const hanging = new AbortController()
      const pending = yield* Effect.fork(send(dispatcher, server.url, hanging.signal))
      yield* Effect.promise(() => server.awaitRequests(1))
      hanging.abort()
      assert.strictEqual(yield* errorNameOf(pending), "AbortError")
      yield* Effect.promise(() => server.requests[0]!.socketClosed)
      const answered = new AbortController()
      assert.deepStrictEqual(yield* send(dispatcher, server.url, answered.signal), {
        status: 200,
        body: "{\"ok\":true}"
      })
    }))

  it.scopedLive("a connection refused before any abort is reported as undici reports it", () =>
    Effect.gen(function*() {
      const port = yield* Effect.promise(() => closedPort())
      const dispatcher = yield* agent
      const error = errorOf(yield* send(dispatcher, `http://127.0.0.1:${port}`, new AbortController().signal))
      assert.strictEqual((error as Error & { readonly code?: string }).code, "ECONNREFUSED")
    }))

  it.scopedLive("a new-style handler (as compose's interceptors send) is passed on: its answer arrives", () =>
    Effect.gen(function*() {
      const server = yield* Loopback.make
      server.enqueue({ headers: { "content-type": "application/json" }, body: "{\"ok\":true}" })
      const dispatcher = yield* agent
      const answer = yield* Effect.async<{ status: number; body: string }, Error>((resume) => {
        const chunks: Array<Buffer> = []
        let status = 0
        dispatcher.dispatch({
          origin: new URL(server.url).origin,
          path: "/",
          method: "POST",
          body: "{}",
          signal: new AbortController().signal
        } as Undici.Dispatcher.DispatchOptions, {
          onRequestStart: () => {},
          onResponseStart: (_controller: unknown, statusCode: number) => void (status = statusCode),
          onResponseData: (_controller: unknown, chunk: Buffer) => void chunks.push(chunk),
          onResponseEnd: () => resume(Effect.succeed({ status, body: Buffer.concat(chunks).toString() })),
          onResponseError: (_controller: unknown, error: Error) => resume(Effect.fail(error))
        } as Undici.Dispatcher.DispatchHandler)
      }).pipe(Effect.timeout("5 seconds"))
      assert.deepStrictEqual(answer, { status: 200, body: "{\"ok\":true}" })
    }))
})

/** A loopback port nothing listens on (a listener opened and closed). */
const closedPort = (): Promise<number> =>
  new Promise((resolve) => {
    const server = Net.createServer()
    server.listen(0, "127.0.0.1", () => {
      const port = (server.address() as Net.AddressInfo).port
      server.close(() => resolve(port))
    })
  })
