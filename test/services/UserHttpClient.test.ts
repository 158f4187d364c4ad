/**
 * `makeLiveLayer({ httpClient })` with clients users build (API.md §13): one that replaces each request
 * on the way (`HttpClient.mapRequest`) still sends no unscrubbed span under a tracer (API.md §14), and one
 * that turns non-2xx answers into errors (`HttpClient.filterStatusOk`) still gets each answer classified
 * by its status (API.md §3): a 401 is not retried, a 429's Retry-After is waited.
 */
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/TestClock"
import { generate, makeLiveLayer, stream } from "../../src/index.js"
import * as Loopback from "../support/LoopbackServer.js"
import * as RecordingTracer from "../support/RecordingTracer.js"

const json = { "content-type": "application/json" }
const key = "sk-user-client-secret-0123456789"
const token = "gw-token-987654321"
const completion = JSON.stringify({
  id: "chatcmpl-1",
  object: "chat.completion",
  model: "gpt-4o-mini",
  choices: [{ index: 0, message: { role: "assistant", content: "hello" }, finish_reason: "stop" }],
  usage: { prompt_tokens: 3, completion_tokens: 1, total_tokens: 4 }
})
const chunks =
  `data: {"id":"c","object":"chat.completion.chunk","model":"m","choices":[{"index":0,"delta":{"content":"hel"},"finish_reason":null}]}\n\n` +
  `data: {"id":"c","object":"chat.completion.chunk","model":"m","choices":[{"index":0,"delta":{"content":"lo"},"finish_reason":"stop"}]}\n\n` +
  `data: {"id":"c","object":"chat.completion.chunk","model":"m","choices":[],"usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5}}\n\n` +
  "data: [DONE]\n\n"

const configFor = (url: string) => ({
  default_model: "gpt",
  providers: {
    gw: { protocol: "openai", api_key: key, endpoints: [{ name: "gw", base_url: `${url}/v1?token=${token}` }] }
  },
  models: { gpt: { provider: "gw", model_id: "gpt-4o-mini" } },
  resilience: { max_retries: 2, base_delay_s: 1 },
  ledger: { backend: "memory" }
})

const withHeader = (client: Layer.Layer<HttpClient.HttpClient>) =>
  Layer.effect(
    HttpClient.HttpClient,
    Effect.map(HttpClient.HttpClient, HttpClient.mapRequest(HttpClientRequest.setHeader("x-app", "mine")))
  ).pipe(Layer.provide(client))

const filtering = Layer.effect(HttpClient.HttpClient, Effect.map(HttpClient.HttpClient, HttpClient.filterStatusOk))
  .pipe(Layer.provide(NodeHttpClient.layerUndici))

describe("a client that replaces the request (mapRequest)", () => {
  for (
    const [name, client] of [
      ["over Node's pool", withHeader(NodeHttpClient.layerUndici)],
      ["over fetch", withHeader(FetchHttpClient.layer)]
    ] as const
  ) {
    it.scopedLive(`${name}: one HTTP span, scrubbed, with trace headers; the key a server echoes and the URL's token in none`, () =>
      Effect.gen(function*() {
        const server = yield* Loopback.make
        // the server echoes the key it was sent in a response header
        server.setDefault((request) => ({
          headers: { ...json, "x-echo-key": String(request.headers.authorization) },
          body: request.bodyText.includes(`"stream":true`) ? chunks : completion
        }))
        const recording = RecordingTracer.make()
        const layer = makeLiveLayer({ userConfig: false, config: configFor(server.url), httpClient: client })
        yield* Effect.gen(function*() {
          assert.strictEqual(yield* generate({ prompt: "hi" }), "hello")
          yield* Stream.runDrain(stream({ prompt: "hi" }))
        }).pipe(Effect.provide(layer), Effect.withTracer(recording.tracer))
        assert.strictEqual(server.requests.length, 2)
        for (const request of server.requests) {
          assert.strictEqual(request.headers["x-app"], "mine", "the user's client applied")
          assert.isString(request.headers.traceparent, "the trace headers are sent")
        }
        const http = recording.spans.filter((span) => span.name.startsWith("http.client"))
        assert.strictEqual(http.length, 2, "one HTTP span a request: the library's, not also the platform's")
        for (const span of recording.spans) {
          const shown = [...span.attributes.values()].map(String).join("\n") +
            (span.status._tag === "Ended" && Exit.isFailure(span.status.exit) ? String(span.status.exit.cause) : "")
          assert.notInclude(shown, key, span.name)
          assert.notInclude(shown, token, span.name)
        }
        assert.strictEqual(http[0]!.attributes.get("http.response.header.x-echo-key"), "Bearer <redacted>")
      }))
  }
})

describe("a client that fails non-2xx answers (filterStatusOk)", () => {
  it.scoped("a 401 is FatalError authentication, sent once (unary and stream)", () =>
    Effect.gen(function*() {
      const server = yield* Loopback.make
      server.setDefault(() => ({
        status: 401,
        headers: json,
        body: JSON.stringify({ error: { message: "Incorrect API key provided", type: "invalid_request_error" } })
      }))
      const layer = makeLiveLayer({ userConfig: false, config: configFor(server.url), httpClient: filtering })
      const unary = yield* Effect.flip(generate({ prompt: "hi" })).pipe(Effect.provide(layer))
      const streamed = yield* Effect.flip(Stream.runDrain(stream({ prompt: "hi" }))).pipe(Effect.provide(layer))
      for (const error of [unary, streamed]) {
        assert.deepStrictEqual([error._tag, "reason" in error ? error.reason : undefined], [
          "FatalError",
          "authentication"
        ])
      }
      assert.strictEqual(server.requests.length, 2, "neither retried")
    }))

  it.scoped("a 429's Retry-After is waited, then the answer", () =>
    Effect.gen(function*() {
      const server = yield* Loopback.make
      server.enqueue({
        status: 429,
        headers: { ...json, "retry-after": "5" },
        body: JSON.stringify({
          error: { message: "Rate limit reached", type: "requests", code: "rate_limit_exceeded" }
        })
      }, { headers: json, body: completion })
      const layer = makeLiveLayer({ userConfig: false, config: configFor(server.url), httpClient: filtering })
      const fiber = yield* Effect.fork(generate({ prompt: "hi", fullResponse: true }).pipe(Effect.provide(layer)))
      yield* Effect.promise(() => server.awaitRequests(1))
      yield* TestClock.adjust("4999 millis")
      yield* Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 50)))
      assert.strictEqual(server.requests.length, 1, "not before the server's 5 s")
      yield* TestClock.adjust("1 millis")
      const response = yield* Fiber.join(fiber)
      assert.deepStrictEqual([response.content, response.attempts, response.timing.totalMs], ["hello", 2, 5000])
    }))
})
