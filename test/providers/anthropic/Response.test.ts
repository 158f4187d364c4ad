import { NodeHttpClient } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import type { LLMError } from "../../../src/domain/Errors.js"
import * as Response from "../../../src/providers/anthropic/Response.js"
import type { ProviderAnswer } from "../../../src/providers/Provider.js"
import * as Loopback from "../../support/LoopbackServer.js"
import { context, fixtureText, hello, setup, vercel } from "./Harness.js"

const json = { "content-type": "application/json" }

const decode = (body: unknown, headers: Record<string, string> = {}) =>
  Response.decode(typeof body === "string" ? body : JSON.stringify(body), headers, context)

const answer = (body: unknown, headers: Record<string, string> = {}): ProviderAnswer => {
  const decoded = decode(body, headers)
  if (Either.isLeft(decoded)) throw new Error(`expected an answer, got ${decoded.left.message}`)
  return decoded.right
}

const failure = (body: unknown): LLMError => {
  const decoded = decode(body)
  if (Either.isRight(decoded)) throw new Error("expected a failure")
  return decoded.left
}

const text = JSON.parse(fixtureText(vercel + "anthropic-text.json"))
const message = (fields: Record<string, unknown>) => ({ ...text, ...fields })

it.layer(NodeHttpClient.layerUndici)("Anthropic unary answers over HTTP", (it) => {
  it.scoped("the recorded text answer: content, stop, usage with its (zero) cache parts, request-id header, model", () =>
    Effect.gen(function*() {
      const { client, server, target } = yield* setup
      server.enqueue(
        Loopback.replay(vercel + "anthropic-text.json", {
          headers: { ...json, "request-id": "req_011CZknL2bUdgvrtea9HYSrj" }
        })
      )
      const result = yield* client.generate(target, hello)
      assert.deepStrictEqual(result, {
        content:
          "Hello! I'm doing well, thanks for asking. How are you doing today? Is there anything I can help you with?",
        reasoning: undefined,
        usage: { inputTokens: 12, outputTokens: 29, totalTokens: 41, cachedInputTokens: 0, cacheWriteTokens: 0 },
        finishReason: "stop",
        requestId: "req_011CZknL2bUdgvrtea9HYSrj",
        modelVersion: "claude-sonnet-4-5-20250929"
      })
    }))

  it.scoped("the recorded thinking answer: thinking blocks are the reasoning, never the content", () =>
    Effect.gen(function*() {
      const { client, server, target } = yield* setup
      server.enqueue(Loopback.replay(vercel + "anthropic-clear-thinking.1.json", { headers: json }))
      const result = yield* client.generate(target, hello)
      assert.strictEqual(result.content, "925 ÷ 5 = 185")
      assert.strictEqual(result.reasoning, "925 divided by 5 = 185")
      assert.strictEqual(result.usage?.outputTokens, 33)
      // Without a request-id header, the message id.
      assert.strictEqual(result.requestId, "msg_01XrsJCi8CQoLcnnWdY8RsJz")
    }))

  it.scoped("a unary request answered with the stream (a proxy's doing, claude-code#87842): the events are the answer, usage and all", () =>
    Effect.gen(function*() {
      const { client, server, target } = yield* setup
      // the recorded stream of a text and a tool call, sent back to a unary request
      server.enqueue(
        Loopback.replay("anthropics-anthropic-sdk-python-tools/tool_use_response.txt", {
          headers: { "content-type": "text/event-stream; charset=utf-8" }
        })
      )
      const result = yield* client.generate(target, hello)
      assert.strictEqual(result.content, "I'll check the current weather in Paris for you.")
      assert.deepStrictEqual(
        result.parts?.filter((part) => part.type === "tool-call").map((part) =>
          part.type === "tool-call" && part.params
        ),
        [{ location: "Paris" }]
      )
      assert.isDefined(result.usage)
      assert.isAbove(result.usage!.inputTokens, 0)
    }))

  it.scoped("a 200 whose body is no Message is bad_response, never retried as a cut", () =>
    Effect.gen(function*() {
      const { client, server, target } = yield* setup
      server.enqueue({ headers: { "content-type": "text/html" }, body: "<html><body>maintenance</body></html>" })
      const error = yield* Effect.flip(client.generate(target, hello))
      assert.strictEqual(error._tag, "FatalError")
      assert.strictEqual((error as { reason?: string }).reason, "bad_response")
      assert.strictEqual((error as { status?: number }).status, 200)
    }))

  it.scoped("another 2xx that is no Message (a proxy's 204, a 203 page) is bad_response naming its own status", () =>
    Effect.gen(function*() {
      const { client, server, target } = yield* setup
      server.enqueue({ status: 204, body: "" }, { status: 203, body: "{\"type\":\"message\",\"content\":7}" })
      for (const status of [204, 203]) {
        const error = yield* Effect.flip(client.generate(target, hello))
        assert.strictEqual((error as { reason?: string }).reason, "bad_response")
        assert.strictEqual((error as { status?: number }).status, status)
      }
      // an error body under it says that status too
      server.enqueue({
        status: 203,
        body: JSON.stringify({ type: "error", error: { type: "overloaded_error", message: "Overloaded" } })
      })
      const inBand = yield* Effect.flip(client.generate(target, hello))
      assert.include(inBand.message, "answered HTTP 203 with an error body")
    }))
})

describe("Anthropic Response.decode", () => {
  it("text blocks are joined into the content; redacted_thinking, tool_use and unknown blocks are skipped", () => {
    const result = answer(message({
      content: [
        { type: "thinking", thinking: "Let me think. ", signature: "sig" },
        { type: "redacted_thinking", data: "EmwKAhgBEgy3va3pzix/LafPsn4a" },
        { type: "thinking", thinking: "Done." },
        { type: "text", text: "Part one, " },
        { type: "tool_use", id: "toolu_1", name: "lookup", input: {} },
        { type: "server_tool_use", id: "srvtoolu_1", name: "web_search", input: { query: "x" } },
        { type: "container_upload", file_id: "file_1" },
        { type: "text", text: "part two." }
      ]
    }))
    assert.strictEqual(result.content, "Part one, part two.")
    assert.strictEqual(result.reasoning, "Let me think. Done.")
  })

  it("a usage block that counts nothing ({} or both counts null), or no input count, is no report: the call is settled at its bound", () => {
    assert.isUndefined(answer(message({ usage: {} })).usage)
    assert.isUndefined(answer(message({ usage: { input_tokens: null, output_tokens: null } })).usage)
    assert.deepStrictEqual(answer(message({ usage: { input_tokens: 5, output_tokens: 0 } })).usage?.totalTokens, 5)
    // a whole Message always reports its input: without it the report is none (the bound), never an input of 0
    assert.isUndefined(answer(message({ usage: { output_tokens: 29 } })).usage)
  })

  it("usage: cache reads and writes are folded into inputTokens and reported apart", () => {
    const result = answer(message({
      usage: {
        input_tokens: 10,
        cache_creation_input_tokens: 50,
        cache_read_input_tokens: 100,
        cache_creation: { ephemeral_5m_input_tokens: 50, ephemeral_1h_input_tokens: 0 },
        output_tokens: 7,
        output_tokens_details: { thinking_tokens: 3 },
        service_tier: "standard"
      }
    }))
    assert.deepStrictEqual(result.usage, {
      inputTokens: 160,
      outputTokens: 7,
      totalTokens: 167,
      cachedInputTokens: 100,
      cacheWriteTokens: 50,
      reasoningTokens: 3
    })
  })

  it("usage without cache fields (compatible servers, null values) has no cache parts", () => {
    assert.deepStrictEqual(answer(message({ usage: { input_tokens: 43, output_tokens: 2 } })).usage, {
      inputTokens: 43,
      outputTokens: 2,
      totalTokens: 45
    })
    assert.deepStrictEqual(
      answer(message({
        usage: { input_tokens: 5, output_tokens: 1, cache_read_input_tokens: null, cache_creation_input_tokens: null }
      })).usage,
      { inputTokens: 5, outputTokens: 1, totalTokens: 6 }
    )
    assert.isUndefined(answer(message({ usage: undefined })).usage)
  })

  it("stop_reason: end_turn and stop_sequence → stop, max_tokens → length, refusal → filter, the rest → other", () => {
    const table: ReadonlyArray<readonly [unknown, string]> = [
      ["end_turn", "stop"],
      ["stop_sequence", "stop"],
      ["max_tokens", "length"],
      ["refusal", "filter"],
      ["tool_use", "other"],
      ["pause_turn", "other"],
      ["model_context_window_exceeded", "length"],
      ["a_reason_from_2027", "other"],
      [null, "other"]
    ]
    for (const [stop_reason, expected] of table) {
      assert.strictEqual(answer(message({ stop_reason })).finishReason, expected, String(stop_reason))
    }
  })

  it("a refusal with no content block is an empty answer with finish filter", () => {
    const result = answer(message({
      content: [],
      stop_reason: "refusal",
      stop_details: { type: "refusal", category: "cyber", explanation: "blocked", recommended_model: null }
    }))
    assert.strictEqual(result.content, "")
    assert.isUndefined(result.reasoning)
    assert.strictEqual(result.finishReason, "filter")
  })

  it("the request-id header wins over the message id", () => {
    assert.strictEqual(answer(text, { "request-id": "req_abc" }).requestId, "req_abc")
    assert.strictEqual(answer(text).requestId, "msg_01VdEjxAP5ahtHKrrRdNBteQ")
  })

  it("undecodable bodies are bad_response: not JSON, not a Message, a Message with fields of the wrong type", () => {
    for (
      const body of [
        "<html>502 Bad Gateway</html>",
        "",
        JSON.stringify({ hello: "world" }),
        JSON.stringify([text]),
        JSON.stringify(message({ content: "Hello" })),
        JSON.stringify(message({ content: [{ type: "text", text: 42 }] })),
        JSON.stringify(message({ usage: { input_tokens: "12", output_tokens: 29 } })),
        JSON.stringify(message({ stop_reason: 3 }))
      ]
    ) {
      const error = failure(body)
      assert.strictEqual(error._tag, "FatalError", body)
      assert.strictEqual((error as { reason?: string }).reason, "bad_response", body)
      assert.strictEqual((error as { provider?: string }).provider, "anthropic")
    }
  })

  it("an error body sent with 200 is classified", () => {
    const error = failure({ type: "error", error: { type: "overloaded_error", message: "Overloaded" } })
    assert.strictEqual(error._tag, "RetryableError")
    assert.strictEqual((error as { reason?: string }).reason, "overloaded")
    assert.include(error.message, "Overloaded")
  })
})

describe("Anthropic billedOf (an undecodable Message's usage)", () => {
  it("is a report only when it says the input: an output count alone is none, never an input of 0", () => {
    assert.isUndefined(Response.billedOf({ usage: { output_tokens: 5 } }))
    assert.isUndefined(Response.billedOf({ usage: {} }))
    assert.deepStrictEqual(Response.billedOf({ usage: { input_tokens: 3, output_tokens: 5 } }), {
      inputTokens: 3,
      outputTokens: 5,
      totalTokens: 8
    })
  })
})
