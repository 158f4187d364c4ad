import { NodeHttpClient } from "@effect/platform-node"
import * as HttpHeaders from "@effect/platform/Headers"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as FiberRef from "effect/FiberRef"
import * as Redacted from "effect/Redacted"
import * as Tracer from "effect/Tracer"
import { text } from "../../../src/domain/Prompt.js"
import * as Anthropic from "../../../src/providers/anthropic/Anthropic.js"
import * as Request from "../../../src/providers/anthropic/Request.js"
import * as Loopback from "../../support/LoopbackServer.js"
import { apiKey, frameChunks, hello, runStream, setup, vercel } from "./Harness.js"

const unary = () => Loopback.replay(vercel + "anthropic-text.json", { headers: { "content-type": "application/json" } })

it.layer(NodeHttpClient.layerUndici)("Anthropic requests", (it) => {
  it.scoped("posts /v1/messages with the key only in x-api-key, anthropic-version, and maps the request body", () =>
    Effect.gen(function*() {
      const { client, server, target } = yield* setup
      server.enqueue(unary())
      yield* client.generate(target, {
        system: "Be brief.",
        messages: [
          { role: "user", parts: [text("Hello")] },
          { role: "assistant", parts: [text("Hi!")] },
          { role: "user", parts: [text("Capital of "), text("France?")] }
        ],
        maxOutputTokens: 200,
        temperature: 0.7,
        topP: 0.95,
        stop: ["\n\nHuman:"]
      })
      const [request] = server.requests
      assert.strictEqual(request!.method, "POST")
      assert.strictEqual(request!.url, "/v1/messages")
      assert.strictEqual(request!.headers["x-api-key"], apiKey)
      assert.strictEqual(request!.headers["anthropic-version"], "2023-06-01")
      assert.isUndefined(request!.headers["authorization"])
      assert.match(String(request!.headers["content-type"]), /^application\/json/)
      assert.strictEqual(request!.headers.accept, "application/json")
      assert.notInclude(request!.bodyText, apiKey)
      assert.deepStrictEqual(request!.json, {
        model: "claude-haiku-4-5",
        max_tokens: 200,
        system: "Be brief.",
        messages: [
          { role: "user", content: "Hello" },
          { role: "assistant", content: "Hi!" },
          { role: "user", content: [{ type: "text", text: "Capital of " }, { type: "text", text: "France?" }] }
        ],
        temperature: 0.7,
        top_p: 0.95,
        stop_sequences: ["\n\nHuman:"]
      })
    }))

  it.scoped("always sends max_tokens; leaves out system, sampling and an empty stop list when nothing sets them", () =>
    Effect.gen(function*() {
      const { client, server, target } = yield* setup
      server.enqueue(unary(), unary())
      yield* client.generate(target, { ...hello, stop: [] })
      assert.deepStrictEqual(server.requests[0]!.json, {
        model: "claude-haiku-4-5",
        max_tokens: 1024,
        messages: [{ role: "user", content: "hi" }]
      })
      // A client used directly, without the plan's cap, still sends one.
      yield* client.generate(target, { ...hello, maxOutputTokens: undefined, temperature: 0 })
      assert.deepStrictEqual(server.requests[1]!.json, {
        model: "claude-haiku-4-5",
        max_tokens: Request.defaultMaxTokens,
        messages: [{ role: "user", content: "hi" }],
        temperature: 0
      })
    }))

  it.scoped("a stream request adds stream: true and asks for text/event-stream, with the same headers", () =>
    Effect.gen(function*() {
      const { client, server, target } = yield* setup
      server.enqueue(Loopback.replay(frameChunks(vercel + "anthropic-text.chunks.txt")))
      yield* runStream(client, target)
      const [request] = server.requests
      assert.strictEqual(request!.url, "/v1/messages")
      assert.strictEqual(request!.headers.accept, "text/event-stream")
      assert.strictEqual(request!.headers["x-api-key"], apiKey)
      assert.strictEqual(request!.headers["anthropic-version"], "2023-06-01")
      assert.strictEqual((request!.json as { stream?: unknown }).stream, true)
    }))

  it.scoped("a base_url with a path prefix and a trailing slash keeps the prefix", () =>
    Effect.gen(function*() {
      const { client, server, target } = yield* setup
      server.enqueue(unary())
      yield* client.generate({ ...target, endpoint: { ...target.endpoint, baseUrl: `${server.url}/proxy/` } }, hello)
      assert.strictEqual(server.requests[0]!.url, "/proxy/v1/messages")
    }))

  it.scoped("redacts x-api-key and the entry's extra headers from the HTTP client span, and sends them", () =>
    Effect.gen(function*() {
      const { client, server, target } = yield* setup
      server.enqueue(unary())
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
      const withHeader = { ...target, headers: [["anthropic-beta", Redacted.make("beta-secret-42")]] as const }
      yield* client.generate(withHeader, hello).pipe(Effect.withTracer(tracer))
      const attributes = spans.flatMap((span) => [...span.attributes.entries()])
      const keyHeader = attributes.find(([name]) => name === "http.request.header.x-api-key")
      assert.isDefined(keyHeader)
      assert.strictEqual(String(keyHeader![1]), "<redacted>")
      const version = attributes.find(([name]) => name === "http.request.header.anthropic-version")
      assert.strictEqual(String(version![1]), "2023-06-01")
      const printed = JSON.stringify(attributes.map(([name, value]) => [name, String(value)]))
      assert.notInclude(printed, apiKey)
      assert.notInclude(printed, "beta-secret-42")
      assert.strictEqual(server.requests[0]!.headers["anthropic-beta"], "beta-secret-42")
      // Scoped to the client's calls: the caller's redacted names are left as they were (x-api-key is
      // among @effect/platform's defaults already).
      const names = yield* FiberRef.get(HttpHeaders.currentRedactedNames)
      assert.notInclude(names, "anthropic-beta")
    }))
})

describe("Anthropic protocol", () => {
  it("needs a key and an output cap; anthropic reads ANTHROPIC_API_KEY, any other entry its <NAME>_API_KEY", () => {
    assert.strictEqual(Anthropic.protocol.name, "anthropic")
    assert.isTrue(Anthropic.protocol.requiresApiKey)
    assert.isTrue(Anthropic.protocol.requiresMaxOutputTokens)
    assert.deepStrictEqual(Anthropic.protocol.keyVariables("anthropic"), ["ANTHROPIC_API_KEY"])
    assert.deepStrictEqual(Anthropic.protocol.keyVariables("claude-eu"), ["CLAUDE_EU_API_KEY"])
  })

  it("temperature must be within [0, 1]: outside is invalid_request naming the value", () => {
    for (const temperature of [1.5, 2, -0.1, 1.0001]) {
      const refused = Anthropic.protocol.check({ ...hello, temperature }, "claude-haiku-4-5")
      assert.strictEqual(refused?._tag, "FatalError")
      assert.strictEqual(refused?.reason, "invalid_request")
      assert.include(refused?.message, String(temperature))
      assert.include(refused?.message, "[0, 1]")
    }
    for (const temperature of [0, 0.5, 1, undefined]) {
      assert.isUndefined(Anthropic.protocol.check({ ...hello, temperature }, "claude-haiku-4-5"))
    }
    // No output cap is no refusal: the plan sets it (and a fallback is judged before it is set).
    assert.isUndefined(Anthropic.protocol.check({ ...hello, maxOutputTokens: undefined }, "claude-haiku-4-5"))
  })

  it("merges consecutive turns of one role into one turn of text blocks, in order", () => {
    assert.deepStrictEqual(
      Request.encodeMessages([
        { role: "user", parts: [text("a")] },
        { role: "user", parts: [text("b"), text("c")] },
        { role: "assistant", parts: [text("d")] },
        { role: "assistant", parts: [text("e")] },
        { role: "user", parts: [text("f")] }
      ]),
      [
        {
          role: "user",
          content: [{ type: "text", text: "a" }, { type: "text", text: "b" }, { type: "text", text: "c" }]
        },
        { role: "assistant", content: [{ type: "text", text: "d" }, { type: "text", text: "e" }] },
        { role: "user", content: "f" }
      ]
    )
  })

  it("whitespace-only text is left out and a final assistant turn (a prefill) is sent without trailing whitespace, as the service requires", () => {
    assert.deepStrictEqual(
      Request.encodeMessages([
        { role: "user", parts: [text("Say hi"), text(" \n ")] },
        { role: "assistant", parts: [text("\n\n")] },
        { role: "user", parts: [text("in French")] },
        { role: "assistant", parts: [text("Sure: ")] }
      ]),
      [
        { role: "user", content: [{ type: "text", text: "Say hi" }, { type: "text", text: "in French" }] },
        { role: "assistant", content: "Sure:" }
      ]
    )
    // an assistant turn that is not the last keeps its text as it was
    assert.deepStrictEqual(
      Request.encodeMessages([
        { role: "user", parts: [text("a")] },
        { role: "assistant", parts: [text("b ")] },
        { role: "user", parts: [text("c")] }
      ])[1],
      { role: "assistant", content: "b " }
    )
  })

  it("a request of whitespace only is invalid_request before any request (nothing would be left to send)", () => {
    const refused = Anthropic.protocol.check(
      { ...hello, messages: [{ role: "user", parts: [text(" \n ")] }] },
      "claude-haiku-4-5"
    )
    assert.strictEqual(refused?._tag, "FatalError")
    assert.strictEqual(refused?.reason, "invalid_request")
    assert.include(refused?.message, "only whitespace")
  })

  it("a whitespace-only stop sequence, or last user turn after an answer, is invalid_request before any request; a whitespace-only system text is left out", () => {
    const refused = Anthropic.protocol.check({ ...hello, stop: ["END", " \n"] }, "claude-haiku-4-5")
    assert.strictEqual(refused?._tag, "FatalError")
    assert.strictEqual(refused?.reason, "invalid_request")
    assert.include(refused?.message, `stop[1] " \\n" is whitespace only`)
    assert.isUndefined(Anthropic.protocol.check({ ...hello, stop: ["END", " x "] }, "claude-haiku-4-5"))
    assert.isUndefined(Request.encode("claude-haiku-4-5", { ...hello, system: " \n " }, false).system)
    // a last user turn of whitespace only after an answer would turn that answer into a prefill: refused
    const blankLast = Anthropic.protocol.check({
      ...hello,
      messages: [
        { role: "user", parts: [text("hi")] },
        { role: "assistant", parts: [text("Hello!")] },
        { role: "user", parts: [text("  ")] }
      ]
    }, "claude-haiku-4-5")
    assert.strictEqual(blankLast?.reason, "invalid_request")
    assert.include(blankLast?.message, "the last user turn (messages[2]) holds only whitespace")
    // after a user turn (or a tool result) it is merged into that turn: nothing becomes a prefill
    assert.isUndefined(Anthropic.protocol.check({
      ...hello,
      messages: [
        { role: "user", parts: [text("hi")] },
        { role: "assistant", parts: [text("Hello!")] },
        { role: "user", parts: [text("and now?")] },
        { role: "user", parts: [text("  ")] }
      ]
    }, "claude-haiku-4-5"))
    assert.strictEqual(Request.encode("claude-haiku-4-5", { ...hello, system: "Be brief." }, false).system, "Be brief.")
  })
})
