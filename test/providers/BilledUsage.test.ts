/**
 * A unary 200 whose body does not decode but whose usage does (the provider billed the call): the
 * `FatalError` `bad_response` carries that usage beside it, on every protocol, and the call's cancel is
 * priced by it instead of $0.
 */
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import type { LLMError } from "../../src/domain/Errors.js"
import { generate, Ledger, makeLiveLayer } from "../../src/index.js"
import * as Anthropic from "../../src/providers/anthropic/Response.js"
import * as DashScope from "../../src/providers/dashscope/Response.js"
import * as Gemini from "../../src/providers/gemini/Response.js"
import { billedUsageOf } from "../../src/providers/http/Errors.js"
import * as OpenAI from "../../src/providers/openai/Response.js"

const context = { provider: "p", endpoint: "p-1", now: 0 }

const failure = (decoded: Either.Either<unknown, LLMError>): LLMError => {
  assert.isTrue(Either.isLeft(decoded))
  return (decoded as Either.Left<LLMError, unknown>).left
}

const bodies = {
  gemini: {
    candidates: [{ content: { parts: "oops", role: "model" }, finishReason: "STOP" }],
    usageMetadata: { promptTokenCount: 100, candidatesTokenCount: 900, totalTokenCount: 1000 }
  },
  openai: {
    id: "c",
    object: "chat.completion",
    choices: "oops",
    usage: { prompt_tokens: 100, completion_tokens: 900, total_tokens: 1000 }
  },
  anthropic: {
    id: "msg",
    type: "message",
    role: "assistant",
    content: "oops",
    stop_reason: "end_turn",
    usage: { input_tokens: 100, output_tokens: 900 }
  },
  dashscope: {
    output: { choices: "oops" },
    usage: { input_tokens: 100, output_tokens: 900, total_tokens: 1000 },
    request_id: "r"
  }
}

describe("an undecodable 200 that reports its usage", () => {
  it("is bad_response with that usage beside it, on every protocol", () => {
    const errors = {
      gemini: failure(Gemini.decode(JSON.stringify(bodies.gemini), {}, context)),
      openai: failure(OpenAI.decode(JSON.stringify(bodies.openai), 200, {}, context)),
      anthropic: failure(Anthropic.decode(JSON.stringify(bodies.anthropic), {}, context)),
      dashscope: failure(DashScope.decode(JSON.stringify(bodies.dashscope), 200, {}, context))
    }
    for (const [protocol, error] of Object.entries(errors)) {
      assert.deepStrictEqual([error._tag, error.reason], ["FatalError", "bad_response"], protocol)
      const billed = billedUsageOf(error)
      assert.deepStrictEqual([billed?.inputTokens, billed?.outputTokens], [100, 900], protocol)
    }
    // DashScope: an `output` that is no object, beside a usage that reads
    for (const output of [5, null, []]) {
      const error = failure(DashScope.decode(JSON.stringify({ ...bodies.dashscope, output }), 200, {}, context))
      assert.strictEqual(error.reason, "bad_response")
      assert.strictEqual(billedUsageOf(error)?.outputTokens, 900, JSON.stringify(output))
    }
    // a body with no usage either carries none
    const bare = failure(Gemini.decode(JSON.stringify({ candidates: [{ content: { parts: "oops" } }] }), {}, context))
    assert.isUndefined(billedUsageOf(bare))
  })

  it("an OpenAI-compatible error body beside a finished choice and its usage (OpenRouter's) keeps that usage too", () => {
    const body = {
      id: "gen-1",
      object: "chat.completion",
      model: "m",
      choices: [{ index: 0, message: { role: "assistant", content: "Partial" }, finish_reason: "length" }],
      error: { code: 400, message: "Token limit reached" },
      usage: { prompt_tokens: 5000, completion_tokens: 1000, total_tokens: 6000 }
    }
    const error = failure(OpenAI.decode(JSON.stringify(body), 200, {}, context))
    assert.deepStrictEqual([error._tag, error.reason], ["FatalError", "invalid_request"])
    const billed = billedUsageOf(error)
    assert.deepStrictEqual([billed?.inputTokens, billed?.outputTokens], [5000, 1000])
    // an error body without usage carries none
    const { usage: _, ...bare } = body
    assert.isUndefined(billedUsageOf(failure(OpenAI.decode(JSON.stringify(bare), 200, {}, context))))
  })

  it.effect("settles its call's cancel at that usage, not at $0", () =>
    Effect.gen(function*() {
      const answering = Layer.succeed(
        HttpClient.HttpClient,
        HttpClient.make((request) =>
          Effect.succeed(HttpClientResponse.fromWeb(
            request,
            new Response(JSON.stringify(bodies.gemini), {
              status: 200,
              headers: { "content-type": "application/json" }
            })
          ))
        )
      )
      const layer = makeLiveLayer({
        config: {
          default_model: "flash",
          providers: {
            google: { api_key: "billed-test-key-123456", endpoints: [{ name: "g", base_url: "http://127.0.0.1:9" }] }
          },
          models: {
            flash: { provider: "google", model_id: "gemini-x", pricing: { input_per_1m: 1, output_per_1m: 4 } }
          },
          ledger: { backend: "memory" }
        },
        userConfig: false,
        httpClient: answering
      })
      yield* Effect.gen(function*() {
        const error = yield* Effect.flip(generate({ prompt: "hi", traceId: "t-billed" }))
        assert.strictEqual(error.reason, "bad_response")
        const cancel = (yield* (yield* Ledger).events({ traceId: "t-billed" })).find((event) => event.type === "cancel")
        assert.strictEqual(cancel?.status, "error")
        assert.deepStrictEqual([cancel?.usage?.inputTokens, cancel?.usage?.outputTokens], [100, 900])
        assert.closeTo(cancel?.cost ?? 0, 100 / 1e6 + 900 * 4 / 1e6, 1e-12)
      }).pipe(Effect.provide(layer))
    }))
})
