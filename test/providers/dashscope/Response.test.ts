import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import { assert, describe, it } from "@effect/vitest"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as DashScope from "../../../src/providers/dashscope/DashScope.js"
import { usageOf } from "../../../src/providers/dashscope/Response.js"
import * as Loopback from "../../support/LoopbackServer.js"
import { apiKey, expectError, minimalRequest, plainUsage, replay, targetOf, usage, withServer } from "./Harness.js"

describe("DashScope unary answers", () => {
  it.scoped("decodes the message format (recorded, BOM, pretty-printed)", () =>
    withServer((server, client) =>
      Effect.gen(function*() {
        server.enqueue(replay("single-generation-message-nosse"))
        const answer = yield* client.generate(targetOf(server), minimalRequest)
        assert.strictEqual(
          answer.content,
          "1+1 等于 2。这是最基本的数学加法之一，在十进制计数体系中，任何两个相同的数字相加都等于该数字的二倍。"
        )
        assert.strictEqual(answer.finishReason, "stop")
        assert.deepStrictEqual(plainUsage(answer.usage), usage(8, 39, 47))
        assert.strictEqual(answer.requestId, "e764bfe3-c0b7-97a0-ae57-cd99e1580960")
        assert.isUndefined(answer.modelVersion)
        assert.isUndefined(answer.reasoning)
      })
    ))

  it.scoped("a field of the wrong type inside a union (content as a list of items) is named where it is", () =>
    withServer((server, client) =>
      Effect.gen(function*() {
        server.enqueue({
          status: 200,
          headers: { "content-type": "application/json" },
          body: JSON.stringify({
            output: { choices: [{ finish_reason: "stop", message: { role: "assistant", content: [{ text: 5 }] } }] },
            request_id: "r-2"
          })
        })
        const error = yield* Effect.flip(client.generate(targetOf(server), minimalRequest))
        expectError(error, "FatalError", "bad_response")
        assert.include(error.message, "output.choices.0.message.content.0.text: got 5, expected string | null")
      })
    ))

  it.scoped("a usage block without output_tokens: the output is what total_tokens leaves", () =>
    withServer((server, client) =>
      Effect.gen(function*() {
        server.enqueue({
          status: 200,
          headers: { "content-type": "application/json" },
          body: JSON.stringify({
            output: { choices: [{ finish_reason: "stop", message: { role: "assistant", content: "2" } }] },
            usage: { input_tokens: 8, total_tokens: 47 },
            request_id: "r-1"
          })
        })
        const answer = yield* client.generate(targetOf(server), minimalRequest)
        assert.deepStrictEqual(plainUsage(answer.usage), usage(8, 39, 47))
      })
    ))

  it.scoped("a usage block that counts nothing ({} or every count null) is no report: the call is settled at its bound", () =>
    withServer((server, client) =>
      Effect.gen(function*() {
        for (const empty of [{}, { input_tokens: null, output_tokens: null, total_tokens: null }]) {
          server.enqueue({
            status: 200,
            headers: { "content-type": "application/json" },
            body: JSON.stringify({
              output: { choices: [{ finish_reason: "stop", message: { role: "assistant", content: "2" } }] },
              usage: empty,
              request_id: "r-1"
            })
          })
          const answer = yield* client.generate(targetOf(server), minimalRequest)
          assert.isUndefined(answer.usage, JSON.stringify(empty))
        }
      })
    ))

  it.scoped("decodes the text format, with its cached-token detail", () =>
    withServer((server, client) =>
      Effect.gen(function*() {
        server.enqueue(
          replay("single-generation-text-nosse", {}, { status: 200, headers: { "content-type": "application/json" } })
        )
        const answer = yield* client.generate(targetOf(server), minimalRequest)
        assert.strictEqual(answer.content, "1+1等于2。这是最基本的数学加法运算之一。")
        assert.strictEqual(answer.finishReason, "stop")
        assert.deepStrictEqual(plainUsage(answer.usage), usage(16, 14, 30))
        assert.strictEqual(answer.usage?.cachedInputTokens, 0)
        assert.strictEqual(answer.requestId, "7e3d5586-cb70-98ce-97bf-8a2ac0091c3f")
      })
    ))

  it.scoped("a reasoning answer cut by max tokens: finish length, reasoning_content apart from the content", () =>
    withServer((server, client) =>
      Effect.gen(function*() {
        server.enqueue(
          replay("single-generation-message-reasoning-nosse", {}, {
            status: 200,
            headers: { "content-type": "application/json" }
          })
        )
        const answer = yield* client.generate(targetOf(server), minimalRequest)
        assert.strictEqual(answer.content, "")
        assert.strictEqual(answer.reasoning, "我们被问到：\"请问 1+1 是多少？\" 这是一个简单的问题。答案显然是")
        assert.strictEqual(answer.finishReason, "length")
        assert.deepStrictEqual(plainUsage(answer.usage), usage(12, 21, 33))
        assert.strictEqual(answer.usage?.reasoningTokens, 20)
        assert.strictEqual(answer.usage?.cachedInputTokens, 0)
      })
    ))

  it.scoped("missing usage is absent, a missing total is the sum, the request id falls back to x-request-id", () =>
    withServer((server, client) =>
      Effect.gen(function*() {
        const headers = { "content-type": "application/json", "x-request-id": "hdr-42" }
        server.enqueue(
          { headers, body: `{"output":{"choices":[{"message":{"content":"ok"},"finish_reason":"stop"}]}}` },
          {
            headers,
            body:
              `{"output":{"text":"ok","finish_reason":"content_filter"},"usage":{"input_tokens":3,"output_tokens":4}}`
          }
        )
        const first = yield* client.generate(targetOf(server), minimalRequest)
        assert.isUndefined(first.usage)
        assert.strictEqual(first.requestId, "hdr-42")
        const second = yield* client.generate(targetOf(server), minimalRequest)
        assert.deepStrictEqual(plainUsage(second.usage), usage(3, 4, 7))
        assert.isUndefined(second.usage?.reasoningTokens)
        assert.strictEqual(second.finishReason, "filter")
      })
    ))

  it.scoped("an undecodable 200 body is a bad_response; a 200 error body is classified", () =>
    withServer((server, client) =>
      Effect.gen(function*() {
        const json = { "content-type": "application/json" }
        server.enqueue(
          { headers: json, body: "<html>gateway</html>" },
          { headers: json, body: `{"result":"what"}` },
          { headers: json, body: `{"output":{"choices":[{"message":{"content":42}}]}}` },
          { headers: json, body: `{"code":"Throttling.RateQuota","message":"Requests rate limit exceeded"}` }
        )
        const notJson = yield* Effect.flip(client.generate(targetOf(server), minimalRequest))
        expectError(notJson, "FatalError", "bad_response")
        const noOutput = yield* Effect.flip(client.generate(targetOf(server), minimalRequest))
        expectError(noOutput, "FatalError", "bad_response")
        const wrongType = yield* Effect.flip(client.generate(targetOf(server), minimalRequest))
        expectError(wrongType, "FatalError", "bad_response")
        const rateLimited = yield* Effect.flip(client.generate(targetOf(server), minimalRequest))
        expectError(rateLimited, "RateLimitError", "rate_limited")
      })
    ))

  it.scoped("recorded 401 and 400 bodies fail the call, and no message holds the key", () =>
    withServer((server, client) =>
      Effect.gen(function*() {
        server.enqueue(replay("auth-error-nosse"), replay("parameter-error-nosse"))
        const auth = yield* Effect.flip(client.generate(targetOf(server), minimalRequest))
        expectError(auth, "FatalError", "authentication", 401)
        assert.match(auth.message, /region/)
        const invalid = yield* Effect.flip(client.generate(targetOf(server), minimalRequest))
        expectError(invalid, "FatalError", "invalid_request", 400)
        for (const error of [auth, invalid]) {
          assert.notInclude(error.message, apiKey)
          assert.notInclude(JSON.stringify(error), apiKey)
        }
      })
    ))

  it.scoped("errors carry the provider entry's name", () =>
    withServer((server, client) =>
      Effect.gen(function*() {
        server.enqueue(replay("auth-error-nosse"))
        const error = yield* Effect.flip(
          client.generate({ ...targetOf(server), provider: "qwen-intl" }, minimalRequest)
        )
        assert.strictEqual((error as { provider?: string }).provider, "qwen-intl")
        assert.include(error.message, "qwen-intl")
      })
    ))

  it.scoped("a 503 ModelUnavailable and a 429 with Retry-After", () =>
    withServer((server, client) =>
      Effect.gen(function*() {
        server.enqueue(
          {
            status: 503,
            headers: { "content-type": "application/json" },
            body: `{"code":"ModelUnavailable","message":"Model is unavailable"}`
          },
          {
            status: 429,
            headers: { "retry-after": "3" },
            body: `{"code":"Throttling.RateQuota","message":"Requests rate limit exceeded"}`
          }
        )
        expectError(
          yield* Effect.flip(client.generate(targetOf(server), minimalRequest)),
          "RetryableError",
          "server_error",
          503
        )
        const limited = yield* Effect.flip(client.generate(targetOf(server), minimalRequest))
        expectError(limited, "RateLimitError", "rate_limited", 429)
        assert.isTrue(limited._tag === "RateLimitError" && Duration.toMillis(limited.retryAfter!) === 3000)
      })
    ))

  it.effect("connection refused is a RetryableError connection", () =>
    Effect.gen(function*() {
      const server = yield* Effect.promise(() => Loopback.start())
      yield* Effect.promise(() => server.close())
      const client = yield* DashScope.make
      const unary = yield* Effect.flip(client.generate(targetOf(server), minimalRequest))
      expectError(unary, "RetryableError", "connection")
      const stream = yield* Effect.flip(Effect.scoped(client.stream(targetOf(server), minimalRequest)))
      expectError(stream, "RetryableError", "connection")
    }).pipe(Effect.provide(NodeHttpClient.layerUndici)))

  it("an explicit cache's writes (prompt_tokens_details.cache_creation_input_tokens) are cacheWriteTokens, priced as writes", () => {
    const counts = usageOf({
      input_tokens: 5000,
      output_tokens: 20,
      total_tokens: 5020,
      prompt_tokens_details: { cached_tokens: 0, cache_creation_input_tokens: 4800 }
    })
    assert.strictEqual(counts.inputTokens, 5000)
    assert.strictEqual(counts.cacheWriteTokens, 4800)
    assert.strictEqual(counts.cachedInputTokens, 0)
  })
})
