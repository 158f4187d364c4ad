/**
 * `Body.headersOf`: a Node client's response headers read without the copy `response.headers` makes —
 * the same names and values as `response.headers` for every response, the Node record itself only when
 * each value is a string (a repeated header, an array there, is joined by `Headers` as before).
 */
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Http from "node:http"
import { headersOf } from "../../../src/providers/http/Body.js"

const withServer = <A, E, R>(use: (url: string) => Effect.Effect<A, E, R>) =>
  Effect.acquireUseRelease(
    Effect.async<Http.Server>((resume) => {
      const server = Http.createServer((_request, response) => {
        response.setHeader("X-Request-Id", "req-1")
        if (_request.url === "/repeated") response.setHeader("Set-Cookie", ["a=1", "b=2"])
        response.end("{}")
      })
      server.listen(0, "127.0.0.1", () => resume(Effect.succeed(server)))
    }),
    (server) => use(`http://127.0.0.1:${(server.address() as { port: number }).port}`),
    (server) => Effect.promise(() => new Promise<void>((resolve) => server.close(() => resolve())))
  )

describe("headersOf", () => {
  for (const [name, layer] of [["undici", NodeHttpClient.layerUndici], ["node:http", NodeHttpClient.layer]] as const) {
    it.effect(`${name}: the Node record itself, with the names and values of response.headers`, () =>
      withServer((url) =>
        Effect.gen(function*() {
          const client = yield* HttpClient.HttpClient
          const response = yield* client.execute(HttpClientRequest.get(`${url}/plain`))
          const read = headersOf(response)
          assert.deepStrictEqual({ ...read }, { ...response.headers })
          assert.strictEqual(read["x-request-id"], "req-1")
          assert.strictEqual(headersOf(response), read, "no copy per read")
          yield* response.text
        })
      ).pipe(Effect.provide(layer), Effect.scoped))

    it.effect(`${name}: a repeated header is joined as response.headers joins it`, () =>
      withServer((url) =>
        Effect.gen(function*() {
          const client = yield* HttpClient.HttpClient
          const response = yield* client.execute(HttpClientRequest.get(`${url}/repeated`))
          assert.deepStrictEqual({ ...headersOf(response) }, { ...response.headers })
          assert.strictEqual(headersOf(response)["set-cookie"], "a=1, b=2")
          yield* response.text
        })
      ).pipe(Effect.provide(layer), Effect.scoped))
  }

  it("any other response: its headers", () => {
    const response = HttpClientResponse.fromWeb(
      HttpClientRequest.get("http://127.0.0.1:1/"),
      new Response("{}", { headers: { "X-Request-Id": "req-2" } })
    )
    assert.strictEqual(headersOf(response)["x-request-id"], "req-2")
  })
})
