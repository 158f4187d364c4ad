/**
 * `providers/http/AbortBeforeConnect.ts`: the live layer's undici pool fails a request whose signal
 * fires while its connection is still being made (undici alone waits for the connection, or for its
 * 10 s connect timeout), and changes nothing else: aborts on a connection, answers, connection errors.
 * (That a finished request's connection outlives its attempt's timer is checked over the live layer:
 * `test/services/AttemptAbort.test.ts`.)
 */
import * as Undici from "@effect/platform-node/Undici"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Net from "node:net"
import { abortBeforeConnect } from "../../../src/providers/http/AbortBeforeConnect.js"
import * as Loopback from "../../support/LoopbackServer.js"

const agent = Effect.acquireRelease(
  Effect.sync(() => abortBeforeConnect(new Undici.Agent())),
  (dispatcher) => Effect.promise(() => dispatcher.destroy())
)

/** The request's outcome: its status and body, or the error it was rejected with. */
const send = (dispatcher: Undici.Dispatcher, url: string, signal: AbortSignal) =>
  Effect.promise(() =>
    dispatcher.request({ origin: new URL(url).origin, path: "/", method: "POST", body: "{}", signal }).then(
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
      yield* Effect.promise(() => waitFor(() => listener.accepted() === 1))
      controller.abort()
      const error = errorOf(yield* pending.await.pipe(Effect.flatten))
      assert.strictEqual(error.name, "AbortError")
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
      assert.strictEqual(errorOf(yield* pending.await.pipe(Effect.flatten)).name, "AbortError")
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
})

/** Resolves once `done()` holds (checked on each turn of the event loop). */
const waitFor = (done: () => boolean): Promise<void> =>
  new Promise((resolve) => {
    const check = () => (done() ? resolve() : setImmediate(check))
    check()
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
