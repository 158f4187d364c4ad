import * as Headers from "@effect/platform/Headers"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientError from "@effect/platform/HttpClientError"
import * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as FiberRef from "effect/FiberRef"
import * as Redacted from "effect/Redacted"
import * as TestClock from "effect/TestClock"
import { FatalError } from "../../../src/domain/Errors.js"
import * as Request from "../../../src/providers/http/Request.js"
import * as Response from "../../../src/providers/http/Response.js"

const context = { provider: "local", endpoint: "local-1" }

const prepared = Request.jsonPost(
  {
    provider: "local",
    endpoint: { name: "local-1", baseUrl: "http://127.0.0.1:1", region: undefined },
    modelId: "m",
    apiKey: Redacted.make("sk-secret"),
    headers: [["X-Team", Redacted.make("t-9")]]
  },
  { url: "http://127.0.0.1:1/generate", body: {}, apiKeyHeader: { name: "x-api-token" }, accept: "json" }
)

/** A client answering every request with `status` and `body`, recording the redacted header names it ran with. */
const answering = (status: number, body: string, seen: Array<ReadonlyArray<string | RegExp>> = []) =>
  HttpClient.make((request) =>
    Effect.map(FiberRef.get(Headers.currentRedactedNames), (names) => {
      seen.push(names)
      return HttpClientResponse.fromWeb(
        request,
        new globalThis.Response(body, { status, headers: { "x-request-id": "r-1" } })
      )
    })
  )

describe("Response.makeTransport", () => {
  it.effect("a 2xx response is handed over, with the secret headers redacted while the request runs", () =>
    Effect.gen(function*() {
      const seen: Array<ReadonlyArray<string | RegExp>> = []
      const transport = Response.makeTransport(answering(200, "ok", seen))
      const response = yield* transport.send(prepared, context, () => {
        throw new Error("not classified")
      })
      assert.strictEqual(yield* Response.readText(response, context), "ok")
      assert.includeMembers([...seen[0]!], ["x-api-token", "x-team"])
      assert.notInclude(yield* FiberRef.get(Headers.currentRedactedNames), "x-api-token")
    }))

  it.effect("a non-2xx response fails with the protocol's classification of its body, status, headers and the Clock's time", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(1_000_000)
      const transport = Response.makeTransport(answering(418, "teapot"))
      const calls: Array<unknown> = []
      const error = yield* Effect.flip(transport.send(prepared, context, (status, body, headers, classifyContext) => {
        calls.push({ status, body, requestId: headers["x-request-id"], classifyContext })
        return new FatalError({ reason: "invalid_request", message: "refused" })
      }))
      assert.strictEqual(error.message, "refused")
      assert.deepStrictEqual(calls, [{
        status: 418,
        body: "teapot",
        requestId: "r-1",
        classifyContext: { ...context, now: 1_000_000 }
      }])
    }))

  it.effect("a transport failure is a RetryableError connection naming the endpoint, never the key", () =>
    Effect.gen(function*() {
      const failing = HttpClient.make((request) =>
        Effect.fail(
          new HttpClientError.RequestError({ request, reason: "Transport", cause: new Error("connect ECONNREFUSED") })
        )
      )
      const error = yield* Effect.flip(
        Effect.flatMap(Effect.scope, (scope) =>
          Response.makeTransport(failing).open(prepared, context, () => {
            throw new Error("not classified")
          }, scope)).pipe(Effect.scoped)
      )
      assert.strictEqual(error._tag, "RetryableError")
      assert.strictEqual((error as { reason: string }).reason, "connection")
      assert.include(error.message, "local (endpoint \"local-1\")")
      assert.include(error.message, "ECONNREFUSED")
      assert.notInclude(JSON.stringify(error), "sk-secret")
    }))

  it.effect("a request the HTTP client refuses to send (a header it cannot carry) is a FatalError, not a retryable connection failure", () =>
    Effect.gen(function*() {
      const refusing = (cause: unknown) =>
        HttpClient.make((request) =>
          Effect.fail(new HttpClientError.RequestError({ request, reason: "Transport", cause }))
        )
      const send = (cause: unknown) =>
        Effect.flip(
          Response.makeTransport(refusing(cause)).send(prepared, context, () => {
            throw new Error("not classified")
          })
        )
      // undici (the live layer's client), Node's http, and fetch (whose message quotes the value)
      const undici = Object.assign(new Error("invalid authorization header"), { code: "UND_ERR_INVALID_ARG" })
      const node = Object.assign(new TypeError("Invalid character in header content [\"x-api-token\"]"), {
        code: "ERR_INVALID_CHAR"
      })
      const fetch = new TypeError("Headers.append: \"sk-secret\\n\" is an invalid header value.")
      for (const cause of [undici, node, fetch]) {
        const error = yield* send(cause)
        assert.strictEqual(error._tag, "FatalError")
        assert.strictEqual((error as { reason: string }).reason, "invalid_request")
        assert.isUndefined((error as { status?: number }).status, "never reached the endpoint: no breaker counts it")
        assert.include(error.message, "local (endpoint \"local-1\"): the HTTP client refused to send the request")
        assert.notInclude(error.message, "sk-secret")
      }
      // a network failure stays one
      const refused = Object.assign(new TypeError("fetch failed"), { cause: new Error("connect ECONNREFUSED") })
      assert.strictEqual((yield* send(refused))._tag, "RetryableError")
      // a body the client could not write (a user client's `Encode` failure) never reached the endpoint either
      const encode = yield* Effect.flip(
        Response.makeTransport(
          HttpClient.make((request) =>
            Effect.fail(new HttpClientError.RequestError({ request, reason: "Encode", cause: new Error("boom") }))
          )
        ).send(prepared, context, () => {
          throw new Error("not classified")
        })
      )
      assert.strictEqual(encode._tag, "FatalError")
      assert.include(encode.message, "its body could not be written")
    }))
})
