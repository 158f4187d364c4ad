/**
 * `providers/http/Abortable.ts`: the attempt timeout that aborts a request relies on
 * `@effect/platform` sending a request under the controller registered for it. These check that
 * assumption against the installed platform (an upgrade that drops it fails here), and what is trusted.
 */
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Abortable from "../../../src/providers/http/Abortable.js"

/** A client made by `HttpClient.make` that remembers the signal each request was sent with. */
const recordingClient = () => {
  const signals: Array<AbortSignal> = []
  const client = HttpClient.make((request, _url, signal) => {
    signals.push(signal)
    return Effect.succeed(HttpClientResponse.fromWeb(request, new Response("ok")))
  })
  return { client, signals }
}

describe("Abortable", () => {
  it.effect("a registered request is sent under its controller; any other under one of the platform's", () =>
    Effect.gen(function*() {
      const { client, signals } = recordingClient()
      const controller = new AbortController()
      const registered = HttpClientRequest.get("http://127.0.0.1:1/registered")
      Abortable.registerRequest(registered, controller)
      yield* client.execute(registered)
      yield* client.execute(HttpClientRequest.get("http://127.0.0.1:1/other"))
      assert.strictEqual(signals[0], controller.signal)
      assert.notStrictEqual(signals[1], controller.signal)
      // traced or not, the same
      yield* client.execute(registered).pipe(Effect.withTracerEnabled(false))
      assert.strictEqual(signals[2], controller.signal)
    }))

  it("only the clients marked are trusted", () => {
    const marked = recordingClient().client
    const unmarked = recordingClient().client
    assert.strictEqual(Abortable.trustAbortController(marked), marked)
    assert.isTrue(Abortable.abortsRequests(marked))
    assert.isFalse(Abortable.abortsRequests(unmarked))
    // a client derived from a marked one (it may replace requests on the way) is not
    assert.isFalse(Abortable.abortsRequests(HttpClient.mapRequest(marked, HttpClientRequest.setHeader("x", "1"))))
  })
})
