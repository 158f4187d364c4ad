/**
 * Error classification at its edges (WIRE.md, WIRE-openai-anthropic.md): a Gemini error inside a 200
 * does not take that response's Retry-After, an OpenAI-style 429 that says "overloaded" is overloaded,
 * and the `x-ratelimit-reset-*` waits. (Cases found by mutation testing.)
 */
import * as Duration from "effect/Duration"
import * as Either from "effect/Either"
import { assert, describe, it } from "vitest"
import * as AnthropicErrors from "../../src/providers/anthropic/Errors.js"
import * as AnthropicResponse from "../../src/providers/anthropic/Response.js"
import * as DashScopeErrors from "../../src/providers/dashscope/Errors.js"
import * as DashScopeResponse from "../../src/providers/dashscope/Response.js"
import * as Gemini from "../../src/providers/gemini/Errors.js"
import * as GeminiResponse from "../../src/providers/gemini/Response.js"
import { fromRateLimitReset } from "../../src/providers/http/RetryAfter.js"
import * as OpenAI from "../../src/providers/openai/Errors.js"
import * as OpenAIResponse from "../../src/providers/openai/Response.js"

const context = { provider: "p", endpoint: "e", now: 0 }
describe("error classification at its edges", () => {
  it("an in-band Gemini 503 does not take the 200's Retry-After", () => {
    const error = Gemini.classifyInBand(
      { error: { code: 503, message: "The service is currently unavailable.", status: "UNAVAILABLE" } },
      "",
      { "retry-after": "30" },
      context
    )
    assert.strictEqual(error._tag, "RetryableError")
    assert.isUndefined((error as { retryAfter?: Duration.Duration }).retryAfter)
  })
  it("a 429 whose body says the engine is overloaded is overloaded, not rate_limited", () => {
    const error = OpenAI.classify(
      429,
      JSON.stringify({
        error: { message: "The engine is currently overloaded, please try again later", type: "server_error" }
      }),
      {},
      context
    )
    assert.deepStrictEqual([error._tag, error.reason], ["RetryableError", "overloaded"])
  })
  it("both rate-limit dimensions spent: the later reset is the wait", () => {
    const wait = fromRateLimitReset({
      "x-ratelimit-remaining-requests": "0",
      "x-ratelimit-remaining-tokens": "0",
      "x-ratelimit-reset-requests": "1s",
      "x-ratelimit-reset-tokens": "30s"
    })
    assert.strictEqual(wait === undefined ? undefined : Duration.toMillis(wait), 30_000)
  })
  it("a reset duration is rounded up to whole milliseconds", () => {
    const wait = fromRateLimitReset({ "x-ratelimit-reset-requests": "1.2ms" }, "requests")
    assert.strictEqual(wait === undefined ? undefined : Duration.toMillis(wait), 2)
  })
  it("a 200 holding a value nested 20,000 deep where a field is checked is bad_response on every protocol, never a stack overflow", () => {
    const nest = "[".repeat(20_000) + "]".repeat(20_000)
    const answers = [
      GeminiResponse.decode(
        `{"candidates":[{"content":{"role":"model","parts":[{"text":"hi"}]},"finishReason":"STOP"}],"responseId":${nest}}`,
        {},
        context
      ),
      OpenAIResponse.decode(
        `{"id":${nest},"object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}]}`,
        200,
        {},
        context
      ),
      AnthropicResponse.decode(
        `{"id":${nest},"type":"message","role":"assistant","content":[{"type":"text","text":"hi"}],"stop_reason":"end_turn"}`,
        {},
        context
      ),
      DashScopeResponse.decode(
        `{"output":{"choices":[{"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}]},"request_id":${nest}}`,
        200,
        {},
        context
      )
    ]
    for (const answer of answers) {
      assert.isTrue(Either.isLeft(answer))
      const error = Either.isLeft(answer) ? answer.left : undefined
      assert.deepStrictEqual([error?._tag, error?.reason], ["FatalError", "bad_response"])
    }
  })

  it("a server's error code, type, status name and request id reach the message escaped and cut, as its text does", () => {
    const hostile = "\u001b]0;PWNED\u0007\u001b[2J\u009b2J" + "X".repeat(20_000)
    const messages = [
      OpenAI.classify(400, JSON.stringify({ error: { message: "bad", code: hostile, type: hostile } }), {}, context),
      OpenAI.classify(400, JSON.stringify({ error: { message: "bad" }, request_id: hostile }), {}, context),
      OpenAI.classify(400, JSON.stringify({ error: { message: "bad" } }), { "x-request-id": "r\u009b2J" }, context),
      AnthropicErrors.classify(
        400,
        JSON.stringify({ type: "error", error: { type: hostile, message: "m" }, request_id: hostile }),
        {},
        context
      ),
      Gemini.classify(400, JSON.stringify({ error: { code: 400, message: "m", status: hostile } }), {}, context),
      DashScopeErrors.classify(400, JSON.stringify({ code: hostile, message: "m", request_id: hostile }), {}, context)
    ].map((error) => error.message)
    for (const message of messages) {
      assert.notMatch(message, /\p{Cc}/u, message.slice(0, 120))
      assert.isBelow(message.length, 800, message.slice(0, 120))
    }
    assert.include(messages[0], "\\u001b]0;PWNED\\u0007")
  })

  it("a free tier spent (DashScope's FreeTierOnly, native and compatible) or absent (Gemini) is quota_exhausted", () => {
    const freeTier =
      "The free tier of the model has been exhausted. If you wish to continue access the model on a paid basis, please disable the \"use free tier only\" mode in the management console."
    const errors = [
      // 666ghj/BettaFish#609, verbatim
      OpenAI.classify(
        403,
        JSON.stringify({
          error: {
            message: freeTier,
            type: "AllocationQuota.FreeTierOnly",
            param: null,
            code: "AllocationQuota.FreeTierOnly"
          },
          id: "chatcmpl-1",
          request_id: "r-1"
        }),
        {},
        context
      ),
      DashScopeErrors.classify(
        403,
        JSON.stringify({ code: "AllocationQuota.FreeTierOnly", message: freeTier, request_id: "r-2" }),
        {},
        context
      ),
      // ai-christianson/RA.Aid#182
      Gemini.classify(
        429,
        JSON.stringify({
          error: {
            code: 429,
            message:
              "Gemini 2.5 Pro Preview doesn't have a free quota tier. Please use Gemini 2.5 Pro Experimental (models/gemini-2.5-pro-exp-03-25) instead.",
            status: "RESOURCE_EXHAUSTED"
          }
        }),
        {},
        context
      )
    ]
    for (const error of errors) {
      assert.deepStrictEqual([error._tag, error.reason], ["RateLimitError", "quota_exhausted"])
    }
  })

  it("a quota a gateway passes through the Messages API is quota_exhausted, as over Chat Completions", () => {
    const bodies = [
      JSON.stringify({
        error: {
          message: "You exceeded your current quota, please check your plan and billing details.",
          type: "insufficient_quota",
          code: "insufficient_quota"
        }
      }),
      JSON.stringify({
        type: "error",
        error: {
          type: "rate_limit_error",
          message:
            "You have used up your daily free allocation of 10,000 neurons, please upgrade to Cloudflare's Workers Paid plan"
        }
      })
    ]
    for (const body of bodies) {
      const error = AnthropicErrors.classify(429, body, { "retry-after": "1" }, context)
      assert.deepStrictEqual([error._tag, error.reason], ["RateLimitError", "quota_exhausted"], body)
      assert.deepStrictEqual(
        [OpenAI.classify(429, body, {}, context)._tag, OpenAI.classify(429, body, {}, context).reason],
        ["RateLimitError", "quota_exhausted"]
      )
    }
  })
})
