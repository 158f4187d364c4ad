/**
 * `Body.readAllText`: a unary 200 body of undici's client read straight from its Node stream (not
 * through the response's `text`, which runs a fiber of its own per response): split writes and
 * multi-byte characters across them, a BOM, an empty body, a cut socket, an interruption mid-body
 * (the connection is closed, as the platform's own reader does), node:http's body too, and the platform registry it must
 * take the response off.
 */
import { NodeHttpClient } from "@effect/platform-node"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import { assert, it } from "@effect/vitest"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import { globalValue } from "effect/GlobalValue"
import * as TestClock from "effect/TestClock"
import * as Body from "../../../src/providers/http/Body.js"
import * as Loopback from "../../support/LoopbackServer.js"
import { hello, setup } from "../gemini/Harness.js"

const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve))

const answer = (text: string) =>
  JSON.stringify({ candidates: [{ content: { parts: [{ text }], role: "model" }, finishReason: "STOP" }] })

it.layer(NodeHttpClient.layer)("a unary body read from node:http's IncomingMessage", (it) => {
  it.scoped("read whole, a cut body failing as Decode", () =>
    Effect.gen(function*() {
      const { client, server, target } = yield* setup
      server.enqueue({ body: [answer("first ")] })
      const bytes = Buffer.from(answer("héllo"), "utf8")
      server.enqueue({ body: [bytes.subarray(0, 20), { delayMs: 5 }, bytes.subarray(20)] })
      assert.strictEqual((yield* client.generate(target, hello)).content, "first ")
      assert.strictEqual((yield* client.generate(target, hello)).content, "héllo")
      server.enqueue({ body: ["{\"candidates\": [", { delayMs: 10 }], end: "destroy" })
      const error = yield* Effect.flip(client.generate(target, hello))
      assert.strictEqual(error._tag, "RetryableError")
    }))
})

it.layer(NodeHttpClient.layerUndici)("a unary body read from undici's Node stream", (it) => {
  it.scoped("split writes, a character split between them and a BOM read as the whole text", () =>
    Effect.gen(function*() {
      const { client, server, target } = yield* setup
      const bytes = Buffer.from(`\ufeff${answer("héllo wörld ✓")}`, "utf8")
      const split = bytes.indexOf(Buffer.from("é", "utf8")) + 1 // inside the two bytes of "é"
      server.enqueue({ body: [bytes.subarray(0, split), { delayMs: 5 }, bytes.subarray(split)] })
      const response = yield* client.generate(target, hello)
      assert.strictEqual(response.content, "héllo wörld ✓")
    }))

  it.scoped("the text of a response read directly: whole, empty, and a cut body failing as Decode", () =>
    Effect.gen(function*() {
      const server = yield* Loopback.make
      const http = yield* HttpClient.HttpClient
      const read = Effect.flatMap(http.execute(HttpClientRequest.get(`${server.url}/x`)), (response) => {
        const direct = Body.readAllText(response)
        assert.isDefined(direct, "undici's responses are read directly")
        return direct!
      })
      server.enqueue({ body: "plain text" }, { body: "" })
      assert.strictEqual(yield* read, "plain text")
      assert.strictEqual(yield* read, "")
      server.enqueue({ body: ["{\"partial\":", { delayMs: 10 }], end: "destroy" })
      const error = yield* Effect.flip(read)
      assert.strictEqual(error._tag, "ResponseError")
      assert.strictEqual(error.reason, "Decode")
    }))

  it.scoped("an error status whose body stalls is classified by its status and headers after 2 s (not left to the attempt's timeout: a 401 retried as a `timeout`)", () =>
    Effect.gen(function*() {
      const { client, server, target } = yield* setup
      const stalled = (status: number, headers: Record<string, string> = {}) =>
        Effect.gen(function*() {
          server.enqueue({
            status,
            headers: { "content-type": "application/json", "content-length": "300", ...headers },
            body: ["{\"error\": {\"code\": "],
            end: "hang"
          })
          const fiber = yield* Effect.fork(Effect.flip(client.generate(target, hello)))
          while ((yield* TestClock.sleeps()).length === 0) yield* Effect.promise(nextTurn)
          yield* TestClock.adjust("2 seconds")
          return yield* Fiber.join(fiber)
        })
      const unauthorized = yield* stalled(401)
      assert.deepStrictEqual([unauthorized._tag, unauthorized.reason], ["FatalError", "authentication"])
      const limited = yield* stalled(429, { "retry-after": "7" })
      assert.strictEqual(limited._tag, "RateLimitError")
      assert.strictEqual(limited._tag === "RateLimitError" && Duration.toSeconds(limited.retryAfter!), 7)
    }))

  it.scoped("a call interrupted while its body arrives closes the connection", () =>
    Effect.gen(function*() {
      const { client, server, target } = yield* setup
      server.enqueue({ body: ["{\"candidates\": ["], end: "hang" })
      const fiber = yield* Effect.fork(client.generate(target, hello))
      // I/O turns until the server has the request and the client its first body bytes
      while (server.requests.length === 0) yield* Effect.promise(nextTurn)
      for (let i = 0; i < 20; i++) yield* Effect.promise(nextTurn)
      yield* Fiber.interrupt(fiber)
      yield* Effect.promise(() => server.requests[0]!.socketClosed)
    }))

  it.effect("the platform's registry of unread responses is where readAllText looks for it", () =>
    Effect.sync(() => {
      const registry = globalValue("@effect/platform/HttpClient/responseRegistry", () => undefined) as
        | { readonly register?: unknown; readonly unregister?: unknown }
        | undefined
      assert.isFunction(registry?.register, "@effect/platform keeps its registry under this key")
      assert.isFunction(registry?.unregister)
    }))
})
