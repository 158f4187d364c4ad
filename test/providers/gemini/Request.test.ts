import { NodeHttpClient } from "@effect/platform-node"
import * as HttpHeaders from "@effect/platform/Headers"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as FiberRef from "effect/FiberRef"
import * as Redacted from "effect/Redacted"
import * as Tracer from "effect/Tracer"
import { text } from "../../../src/domain/Prompt.js"
import * as Gemini from "../../../src/providers/gemini/Gemini.js"
import * as Request from "../../../src/providers/gemini/Request.js"
import * as Loopback from "../../support/LoopbackServer.js"
import { apiKey, googleai, hello, runStream, setup } from "./Harness.js"

it.layer(NodeHttpClient.layerUndici)("Gemini requests", (it) => {
  it.scoped("posts generateContent with the key only in x-goog-api-key and maps the request body", () =>
    Effect.gen(function*() {
      const { client, server, target } = yield* setup
      server.enqueue(
        Loopback.replay(googleai + "unary-success-basic-reply-short.json", {
          headers: { "content-type": "application/json" }
        })
      )
      yield* client.generate(target, {
        system: "Answer briefly.",
        messages: [
          { role: "user", parts: [text("Hello")] },
          { role: "assistant", parts: [text("Hi!")] },
          { role: "user", parts: [text("Where is "), text("Google?")] }
        ],
        maxOutputTokens: 200,
        temperature: 0.7,
        topP: 0.95,
        stop: ["\n\n"]
      })
      const [request] = server.requests
      assert.strictEqual(request!.method, "POST")
      assert.strictEqual(request!.url, "/v1beta/models/gemini-2.5-flash:generateContent")
      assert.strictEqual(request!.headers["x-goog-api-key"], apiKey)
      assert.isUndefined(request!.headers["authorization"])
      assert.notInclude(request!.url, apiKey)
      assert.notInclude(request!.url, "key=")
      assert.match(String(request!.headers["content-type"]), /^application\/json/)
      assert.deepStrictEqual(request!.json, {
        contents: [
          { role: "user", parts: [{ text: "Hello" }] },
          { role: "model", parts: [{ text: "Hi!" }] },
          { role: "user", parts: [{ text: "Where is " }, { text: "Google?" }] }
        ],
        systemInstruction: { parts: [{ text: "Answer briefly." }] },
        generationConfig: { maxOutputTokens: 200, temperature: 0.7, topP: 0.95, stopSequences: ["\n\n"] }
      })
    }))

  it.scoped("leaves out systemInstruction and generationConfig when nothing sets them", () =>
    Effect.gen(function*() {
      const { client, server, target } = yield* setup
      server.enqueue(Loopback.replay(googleai + "unary-success-basic-reply-short.json"))
      yield* client.generate(target, { ...hello, temperature: 0 })
      assert.deepStrictEqual(server.requests[0]!.json, {
        contents: [{ role: "user", parts: [{ text: "hi" }] }],
        generationConfig: { temperature: 0 }
      })
      server.enqueue(Loopback.replay(googleai + "unary-success-basic-reply-short.json"))
      yield* client.generate(target, { ...hello, stop: [] })
      assert.deepStrictEqual(server.requests[1]!.json, { contents: [{ role: "user", parts: [{ text: "hi" }] }] })
    }))

  it.scoped("streams from streamGenerateContent?alt=sse with the same header auth", () =>
    Effect.gen(function*() {
      const { client, server, target } = yield* setup
      server.enqueue(Loopback.replay(googleai + "streaming-success-basic-reply-short.txt"))
      yield* runStream(client, target)
      const [request] = server.requests
      assert.strictEqual(request!.url, "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse")
      assert.strictEqual(request!.headers["x-goog-api-key"], apiKey)
      assert.strictEqual(request!.headers.accept, "text/event-stream")
      assert.isUndefined(request!.headers["authorization"])
    }))

  it.scoped("redacts x-goog-api-key and the entry's extra headers from the HTTP client span, and sends them", () =>
    Effect.gen(function*() {
      const { client, server, target } = yield* setup
      server.enqueue(Loopback.replay(googleai + "unary-success-basic-reply-short.json"))
      const base = yield* Effect.tracer
      const spans: Array<Tracer.Span> = []
      const tracer = Tracer.make({
        context: base.context,
        span: (...args) => {
          const span = base.span(...args)
          spans.push(span)
          return span
        }
      })
      const withHeader = { ...target, headers: [["X-Gateway-Token", Redacted.make("gw-secret-42")]] as const }
      yield* client.generate(withHeader, hello).pipe(Effect.withTracer(tracer))
      const attributes = spans.flatMap((span) => [...span.attributes.entries()])
      const keyHeader = attributes.find(([name]) => name === "http.request.header.x-goog-api-key")
      assert.isDefined(keyHeader)
      assert.strictEqual(String(keyHeader![1]), "<redacted>")
      const gateway = attributes.find(([name]) => name === "http.request.header.x-gateway-token")
      assert.strictEqual(String(gateway![1]), "<redacted>")
      const printed = JSON.stringify(attributes.map(([name, value]) => [name, String(value)]))
      assert.notInclude(printed, apiKey)
      assert.notInclude(printed, "gw-secret-42")
      assert.strictEqual(server.requests[0]!.headers["x-gateway-token"], "gw-secret-42")
      // Scoped to the client's calls: the caller's redacted names are left as they were.
      const names = yield* FiberRef.get(HttpHeaders.currentRedactedNames)
      assert.notInclude(names, "x-goog-api-key")
      assert.notInclude(names, "x-gateway-token")
    }))
})

describe("Gemini protocol", () => {
  it("needs a key, not an output cap, and has no request rules of its own", () => {
    assert.strictEqual(Gemini.protocol.name, "gemini")
    assert.isTrue(Gemini.protocol.requiresApiKey)
    assert.isFalse(Gemini.protocol.requiresMaxOutputTokens)
    assert.isUndefined(Gemini.protocol.check({ ...hello, temperature: 2 }, "gemini-2.5-flash"))
  })

  it("google reads GEMINI_API_KEY then GOOGLE_API_KEY; any other entry its <NAME>_API_KEY", () => {
    assert.deepStrictEqual(Gemini.protocol.keyVariables("google"), ["GEMINI_API_KEY", "GOOGLE_API_KEY"])
    assert.deepStrictEqual(Gemini.protocol.keyVariables("gemini"), ["GEMINI_API_KEY"])
    assert.deepStrictEqual(Gemini.protocol.keyVariables("vertex-proxy"), ["VERTEX_PROXY_API_KEY"])
  })

  it("builds the method URL from the host, tolerating a trailing slash and a models/ prefix", () => {
    assert.strictEqual(
      Request.methodUrl("https://generativelanguage.googleapis.com/", "models/gemini-2.5-flash", "generateContent"),
      "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:generateContent"
    )
  })
})
