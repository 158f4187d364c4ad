/**
 * Anthropic error classification. The 404 body is recorded traffic (pydantic-ai cassette); the other
 * bodies follow Anthropic's documented error shape and messages (WIRE-openai-anthropic.md §2.6–§2.7:
 * no public recording of a 429, 529, 413 or credit error was found), and the rate-limit headers follow
 * the names and RFC 3339 values of the recorded `test_stream_events_text.yaml`.
 */
import { NodeHttpClient } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type { LLMError } from "../../../src/domain/Errors.js"
import * as Errors from "../../../src/providers/anthropic/Errors.js"
import { outcomeOf } from "../../../src/services/CircuitBreaker.js"
import * as Loopback from "../../support/LoopbackServer.js"
import { apiKey, context, hello, pydantic, readCassette, setup, simonw } from "./Harness.js"

const millis = (duration: Duration.Duration | undefined) =>
  duration === undefined ? undefined : Duration.toMillis(duration)

const classify = (status: number, body: string, headers: Record<string, string> = {}) =>
  Errors.classify(status, body, headers, context)

const body = (type: string, message: string, extra: Record<string, unknown> = {}) =>
  JSON.stringify({ type: "error", error: { type, message, ...extra }, request_id: "req_011CSHoEeqs5C35K2UUqR7Fy" })

const fields = (error: LLMError) =>
  error as LLMError & { reason?: string; status?: number; retryAfter?: Duration.Duration; provider?: string }

/** `now` + `seconds`, as Anthropic writes its reset times (RFC 3339, second precision, UTC). */
const rfc3339 = (seconds: number) => new Date(context.now + seconds * 1000).toISOString().replace(/\.\d{3}Z$/, "Z")

describe("Anthropic Errors.classify", () => {
  it("the recorded 404 not_found_error is FatalError not_found with the server's message and request id", () => {
    const recorded = readCassette(pydantic + "test_model_name_suggestion[anthropic].yaml")
    assert.strictEqual(recorded.status, 404)
    const error = fields(classify(recorded.status, recorded.body.toString("utf8"), recorded.headers))
    assert.strictEqual(error._tag, "FatalError")
    assert.strictEqual(error.reason, "not_found")
    assert.strictEqual(error.status, 404)
    assert.strictEqual(error.provider, "anthropic")
    assert.include(error.message, "model: claude-sonet-4-5")
    assert.include(error.message, "not_found_error")
    assert.include(error.message, "req_011CdufXo8Y2LVfY2veyuQWG")
  })

  it("400 invalid_request_error is invalid_request; a prompt too long for the model too", () => {
    const error = fields(classify(400, body("invalid_request_error", "messages: roles must alternate")))
    assert.strictEqual(error._tag, "FatalError")
    assert.strictEqual(error.reason, "invalid_request")
    assert.include(error.message, "roles must alternate")
    assert.include(error.message, "req_011CSHoEeqs5C35K2UUqR7Fy")
    const long = fields(
      classify(400, body("invalid_request_error", "prompt is too long: 215000 tokens > 200000 maximum"))
    )
    assert.strictEqual(long._tag, "FatalError")
    assert.strictEqual(long.reason, "invalid_request")
    assert.include(long.message, "prompt is too long: 215000 tokens > 200000 maximum")
  })

  it("a spent balance or a reached spend limit (400) is RateLimitError quota_exhausted, without a wait", () => {
    for (
      const message of [
        "Your credit balance is too low to access the Anthropic API. Please go to Plans & Billing to upgrade or purchase credits.",
        "You have reached your specified API usage limits. You will regain access on 2025-06-01 at 00:00 UTC.",
        "You have reached your specified workspace API usage limits. You will regain access on 2025-07-01 at 00:00 UTC."
      ]
    ) {
      const error = fields(classify(400, body("invalid_request_error", message)))
      assert.strictEqual(error._tag, "RateLimitError", message)
      assert.strictEqual(error.reason, "quota_exhausted")
      assert.strictEqual(error.status, 400)
      assert.include(error.message, message.slice(0, 30))
      assert.include(error.message, "waiting will not clear it")
    }
  })

  it("the workspace spend limit answered as a 429 is quota_exhausted too, not a rate limit to wait out", () => {
    const message =
      "You have reached your specified workspace API usage limits. You will regain access on 2025-07-01 at 00:00 UTC."
    const error = fields(classify(429, body("rate_limit_error", message)))
    assert.strictEqual(error._tag, "RateLimitError")
    assert.strictEqual(error.reason, "quota_exhausted")
  })

  it("a compatible service's spent balance (z.ai's code 1113, Kimi's quota type) is quota_exhausted, not waited out", () => {
    const spent = [
      body("rate_limit_error", "Insufficient balance or no resource package. Please recharge.", { code: "1113" }),
      body("rate_limit_error", "余额不足或无可用资源包,请充值。", { code: "1113" }),
      JSON.stringify({ error: { code: 1113, message: "请充值" } }),
      body("exceeded_current_quota_error", "Your account org-1 is suspended, please recharge"),
      body("exceeded_current_quota_error", "Your account is suspended due to insufficient balance, please recharge")
    ]
    for (const text of spent) {
      const error = fields(classify(429, text, { "retry-after": "3" }))
      assert.strictEqual(error._tag, "RateLimitError", text)
      assert.strictEqual(error.reason, "quota_exhausted", text)
    }
    // a plain rate limit is still one
    assert.strictEqual(
      fields(classify(429, body("rate_limit_error", "Number of requests has exceeded your rate limit"))).reason,
      "rate_limited"
    )
  })

  it("a compatible service's locked account (z.ai's 429 1112 or 1121) is permission_denied, not waited out", () => {
    const locked = [
      JSON.stringify({
        type: "error",
        error: { type: "1112", message: "Your account has been locked, please contact customer service to unlock" }
      }),
      body("rate_limit_error", "Your account has been locked", { code: "1121" })
    ]
    for (const text of locked) {
      const error = fields(classify(429, text, { "retry-after": "3" }))
      assert.deepStrictEqual([error._tag, error.reason], ["FatalError", "permission_denied"], text)
    }
  })

  it("401 authentication_error says which key to check, and holds no key", () => {
    const error = fields(classify(401, body("authentication_error", "invalid x-api-key")))
    assert.strictEqual(error._tag, "FatalError")
    assert.strictEqual(error.reason, "authentication")
    assert.include(error.message, "invalid x-api-key")
    assert.include(error.message, "ANTHROPIC_API_KEY or providers.anthropic.api_key")
  })

  it("403 permission_error is permission_denied", () => {
    const error = fields(
      classify(403, body("permission_error", "Your API key does not have permission to use the specified resource."))
    )
    assert.strictEqual(error.reason, "permission_denied")
    assert.strictEqual(error.status, 403)
  })

  it("413 request_too_large is invalid_request, also as Cloudflare's HTML page (its text without markup)", () => {
    const json = fields(
      classify(413, body("request_too_large", "Request exceeds the maximum allowed number of bytes."))
    )
    assert.strictEqual(json._tag, "FatalError")
    assert.strictEqual(json.reason, "invalid_request")
    const page = "<html>\r\n<head><title>413 Request Entity Too Large</title></head>\r\n<body>\r\n" +
      "<center><h1>413 Request Entity Too Large</h1></center>\r\n<hr><center>cloudflare</center>\r\n</body>\r\n</html>\r\n"
    const html = fields(classify(413, page, { "content-type": "text/html" }))
    assert.strictEqual(html._tag, "FatalError")
    assert.strictEqual(html.reason, "invalid_request")
    assert.strictEqual(html.status, 413)
    assert.include(html.message, "413 Request Entity Too Large")
    assert.notInclude(html.message, "<title>")
  })

  describe("429", () => {
    const rateLimit = body(
      "rate_limit_error",
      "This request would exceed your organization's rate limit of 30,000 input tokens per minute (org: 0, model: claude-sonnet-4-5-20250929). For details, refer to: https://docs.claude.com/en/api/rate-limits."
    )

    it("rate_limit_error with retry-after: 55 is rate_limited, waiting 55 s", () => {
      const error = fields(classify(429, rateLimit, { "retry-after": "55" }))
      assert.strictEqual(error._tag, "RateLimitError")
      assert.strictEqual(error.reason, "rate_limited")
      assert.strictEqual(millis(error.retryAfter), 55_000)
      assert.include(error.message, "30,000 input tokens per minute")
    })

    it("retry-after as an HTTP-date is a wait from now; retry-after-ms alone is honoured; retry-after-ms comes first", () => {
      const date = new Date(context.now + 12_000).toUTCString()
      assert.strictEqual(millis(fields(classify(429, rateLimit, { "retry-after": date })).retryAfter), 12_000)
      assert.strictEqual(millis(fields(classify(429, rateLimit, { "retry-after-ms": "2500" })).retryAfter), 2500)
      assert.strictEqual(
        millis(fields(classify(429, rateLimit, { "retry-after": "3", "retry-after-ms": "2500" })).retryAfter),
        2500
      )
    })

    it("without retry-after: the latest reset among the limits whose remaining is 0", () => {
      const headers = {
        "anthropic-ratelimit-requests-limit": "50",
        "anthropic-ratelimit-requests-remaining": "0",
        "anthropic-ratelimit-requests-reset": rfc3339(20),
        "anthropic-ratelimit-input-tokens-limit": "30000",
        "anthropic-ratelimit-input-tokens-remaining": "0",
        "anthropic-ratelimit-input-tokens-reset": rfc3339(40),
        // Not exhausted: its later reset is no reason to wait.
        "anthropic-ratelimit-output-tokens-limit": "8000",
        "anthropic-ratelimit-output-tokens-remaining": "8000",
        "anthropic-ratelimit-output-tokens-reset": rfc3339(60),
        "anthropic-ratelimit-tokens-limit": "38000",
        "anthropic-ratelimit-tokens-remaining": "8000",
        "anthropic-ratelimit-tokens-reset": rfc3339(60)
      }
      assert.strictEqual(millis(fields(classify(429, rateLimit, headers)).retryAfter), 40_000)
      // retry-after still wins over the resets.
      assert.strictEqual(millis(fields(classify(429, rateLimit, { ...headers, "retry-after": "5" })).retryAfter), 5000)
    })

    it("headers sent twice (joined by a proxy: \"0, 0\", \"<date>, <date>\") still give the latest reset", () => {
      const doubled = {
        "anthropic-ratelimit-requests-remaining": "0, 0",
        "anthropic-ratelimit-requests-reset": `${rfc3339(20)}, ${rfc3339(30)}`,
        "anthropic-ratelimit-tokens-remaining": "8000, 8000",
        "anthropic-ratelimit-tokens-reset": `${rfc3339(60)}, ${rfc3339(60)}`
      }
      assert.strictEqual(millis(fields(classify(429, rateLimit, doubled)).retryAfter), 30_000)
      const resetOnly = {
        "anthropic-ratelimit-requests-remaining": "0",
        "anthropic-ratelimit-requests-reset": `${rfc3339(20)}, ${rfc3339(20)}`
      }
      assert.strictEqual(millis(fields(classify(429, rateLimit, resetOnly)).retryAfter), 20_000)
    })

    it("a reset already past is a zero wait; no exhausted limit and no retry-after is no hint", () => {
      const past = {
        "anthropic-ratelimit-requests-remaining": "0",
        "anthropic-ratelimit-requests-reset": rfc3339(-1)
      }
      assert.strictEqual(millis(fields(classify(429, rateLimit, past)).retryAfter), 0)
      // The recorded headers of a healthy stream: nothing is exhausted (resets one second before Date).
      const recorded = readCassette(simonw + "test_stream_events_text.yaml").headers
      assert.strictEqual(recorded["anthropic-ratelimit-requests-reset"], "2026-04-05T14:28:37Z")
      assert.isUndefined(fields(classify(429, rateLimit, recorded)).retryAfter)
      assert.isUndefined(fields(classify(429, rateLimit)).retryAfter)
      assert.strictEqual(millis(Errors.resetWait({ ...recorded, ...past }, context.now)), 0)
    })

    it("a spend limit (details.error_code enforced_spend_limit_reached) is quota_exhausted", () => {
      const error = fields(
        classify(
          429,
          body("rate_limit_error", "You have reached your monthly spend limit for this workspace.", {
            details: { error_code: "enforced_spend_limit_reached" }
          })
        )
      )
      assert.strictEqual(error._tag, "RateLimitError")
      assert.strictEqual(error.reason, "quota_exhausted")
      const byCode = fields(
        classify(
          429,
          body("rate_limit_error", "Limit reached.", { details: { error_code: "enforced_spend_limit_reached" } })
        )
      )
      assert.strictEqual(byCode.reason, "quota_exhausted")
      // `details: null` (the usual value) is no spend limit.
      assert.strictEqual(
        fields(classify(429, body("rate_limit_error", "Slow down.", { details: null }))).reason,
        "rate_limited"
      )
    })

    it("a 429 without a JSON body is rate_limited", () => {
      const error = fields(classify(429, "Too Many Requests", { "retry-after": "2" }))
      assert.strictEqual(error._tag, "RateLimitError")
      assert.strictEqual(error.reason, "rate_limited")
      assert.strictEqual(millis(error.retryAfter), 2000)
    })
  })

  it("402 billing_error is quota_exhausted", () => {
    const error = fields(classify(402, body("billing_error", "There is an issue with your payment method.")))
    assert.strictEqual(error._tag, "RateLimitError")
    assert.strictEqual(error.reason, "quota_exhausted")
  })

  it("500 api_error is server_error; 504 timeout_error is a retryable timeout", () => {
    const api = fields(classify(500, body("api_error", "Internal server error")))
    assert.strictEqual(api._tag, "RetryableError")
    assert.strictEqual(api.reason, "server_error")
    const timeout = fields(classify(504, body("timeout_error", "Request timed out. Consider using streaming.")))
    assert.strictEqual(timeout._tag, "RetryableError")
    assert.strictEqual(timeout.reason, "timeout")
    assert.strictEqual(timeout.status, 504)
  })

  it("a 5xx whose body names a client-side type (a gateway's wrapper) is still retried, as every 500-504 (API.md §3)", () => {
    for (const status of [500, 502, 503]) {
      const wrapped = fields(classify(status, body("invalid_request_error", "upstream failed")))
      assert.deepStrictEqual([wrapped._tag, wrapped.reason, wrapped.status], ["RetryableError", "server_error", status])
    }
  })

  it("a 408 whose body names a client-side type is still a retried timeout (API.md §3)", () => {
    const timedOut = fields(classify(408, body("invalid_request_error", "request timed out")))
    assert.deepStrictEqual([timedOut._tag, timedOut.reason, timedOut.status], ["RetryableError", "timeout", 408])
  })

  it("409 conflict_error is retried as a server error (WIRE-openai-anthropic §2.6), not a fatal 4xx", () => {
    const conflict = fields(classify(409, body("conflict_error", "Conflict")))
    assert.strictEqual(conflict._tag, "RetryableError")
    assert.strictEqual(conflict.reason, "server_error")
    assert.strictEqual(conflict.status, 409)
  })

  it("529 overloaded_error is RetryableError overloaded — also with no JSON body, or SSE-framed", () => {
    for (
      const text of [
        body("overloaded_error", "Overloaded"),
        "",
        "overloaded",
        `event: error\ndata: ${body("overloaded_error", "Overloaded")}\n\n`
      ]
    ) {
      const error = fields(classify(529, text))
      assert.strictEqual(error._tag, "RetryableError", text)
      assert.strictEqual(error.reason, "overloaded", text)
      assert.strictEqual(error.status, 529)
    }
    // The type decides, whatever the status.
    assert.strictEqual(fields(classify(503, body("overloaded_error", "Overloaded"))).reason, "overloaded")
    // and a 529 is overloaded whatever type its body names (a gateway's api_error wrapper)
    const wrapped = fields(classify(529, body("api_error", "Internal server error")))
    assert.strictEqual(wrapped._tag, "RetryableError")
    assert.strictEqual(wrapped.reason, "overloaded")
  })

  it("a 529 or 503 keeps the server's retry-after (-ms) as its retryAfter; the reset times are a 429's only", () => {
    const overloaded = fields(classify(529, body("overloaded_error", "Overloaded"), { "retry-after": "4" }))
    assert.strictEqual(overloaded._tag, "RetryableError")
    assert.strictEqual(millis(overloaded.retryAfter), 4_000)
    assert.strictEqual(millis(fields(classify(503, "", { "retry-after-ms": "1500" })).retryAfter), 1_500)
    const resetOnly = classify(529, body("overloaded_error", "Overloaded"), {
      "anthropic-ratelimit-requests-remaining": "0",
      "anthropic-ratelimit-requests-reset": rfc3339(20)
    })
    assert.isUndefined(fields(resetOnly).retryAfter)
    // a 4xx is not retried: no hint kept
    assert.isUndefined(fields(classify(400, body("invalid_request_error", "bad"), { "retry-after": "4" })).retryAfter)
  })

  it("an unknown error type falls back to the status; the request-id header names the request", () => {
    const bad = fields(classify(400, body("a_type_from_2027", "something new"), {}))
    assert.strictEqual(bad._tag, "FatalError")
    assert.strictEqual(bad.reason, "invalid_request")
    const unavailable = fields(classify(503, "<html>Service Unavailable</html>", { "request-id": "req_from_header" }))
    assert.strictEqual(unavailable._tag, "RetryableError")
    assert.strictEqual(unavailable.reason, "server_error")
    assert.include(unavailable.message, "req_from_header")
  })
})

describe("Anthropic Errors.classifyInBand (a stream error event)", () => {
  it("overloaded_error is RetryableError overloaded with the status Anthropic documents for it (529)", () => {
    const error = fields(
      Errors.classifyInBand(
        {
          type: "error",
          error: { details: null, type: "overloaded_error", message: "Overloaded" },
          request_id: "req_011Cecah"
        },
        "",
        {},
        context
      )
    )
    assert.strictEqual(error._tag, "RetryableError")
    assert.strictEqual(error.reason, "overloaded")
    assert.strictEqual(error.status, 529)
    assert.include(error.message, "mid-stream")
    assert.include(error.message, "req_011Cecah")
  })

  it("rate_limit_error is rate_limited, waited by the schedule: the 200's retry-after is no wait for it; an unknown type is a server error", () => {
    const limited = fields(
      Errors.classifyInBand(
        { type: "error", error: { type: "rate_limit_error", message: "Rate limited" } },
        "",
        { "retry-after": "9" },
        context
      )
    )
    assert.strictEqual(limited._tag, "RateLimitError")
    // Anthropic sends retry-after on plain 200s too (WIRE-openai-anthropic §2.1): not this error's wait
    assert.isUndefined(limited.retryAfter)
    const unknown = fields(
      Errors.classifyInBand({ type: "error", error: { type: "new_error", message: "?" } }, "", {}, context)
    )
    assert.strictEqual(unknown._tag, "RetryableError")
    assert.strictEqual(unknown.reason, "server_error")
    assert.strictEqual(unknown.status, 500)
    assert.strictEqual(limited.status, 429)
  })

  it("an in-band invalid_request_error carries 400, so it counts as an answer from the endpoint (a half-open probe is settled)", () => {
    const invalid = fields(
      Errors.classifyInBand(
        { type: "error", error: { type: "invalid_request_error", message: "bad" } },
        "",
        {},
        context
      )
    )
    assert.deepStrictEqual([invalid._tag, invalid.status], ["FatalError", 400])
    assert.strictEqual(outcomeOf(Exit.fail(invalid)), "neutral")
    const odd = fields(
      Errors.classifyInBand({ type: "error", error: { type: "constructor", message: "?" } }, "", {}, context)
    )
    assert.deepStrictEqual([odd._tag, odd.status], ["RetryableError", 500])
  })
})

/** Every error body of this file (and the recorded 404), as the server sends it. */
const errorBodies: ReadonlyArray<{
  readonly status: number
  readonly headers: Record<string, string>
  readonly body: string | Buffer
  readonly expected: readonly [string, string]
}> = [
  {
    ...(() => {
      const recorded = readCassette(pydantic + "test_model_name_suggestion[anthropic].yaml")
      return { status: recorded.status, headers: recorded.headers, body: recorded.body }
    })(),
    expected: ["FatalError", "not_found"]
  },
  {
    status: 400,
    headers: { "content-type": "application/json" },
    body: body("invalid_request_error", "prompt is too long: 215000 tokens > 200000 maximum"),
    expected: ["FatalError", "invalid_request"]
  },
  {
    status: 400,
    headers: { "content-type": "application/json" },
    body: body("invalid_request_error", "Your credit balance is too low to access the Anthropic API."),
    expected: ["RateLimitError", "quota_exhausted"]
  },
  {
    status: 401,
    headers: { "content-type": "application/json" },
    body: body("authentication_error", "invalid x-api-key"),
    expected: ["FatalError", "authentication"]
  },
  {
    status: 403,
    headers: { "content-type": "application/json" },
    body: body("permission_error", "no permission"),
    expected: ["FatalError", "permission_denied"]
  },
  {
    status: 413,
    headers: { "content-type": "text/html" },
    body: "<html><head><title>413 Request Entity Too Large</title></head><body>cloudflare</body></html>",
    expected: ["FatalError", "invalid_request"]
  },
  {
    status: 429,
    headers: { "content-type": "application/json", "retry-after": "55" },
    body: body("rate_limit_error", "rate limited"),
    expected: ["RateLimitError", "rate_limited"]
  },
  {
    status: 429,
    headers: { "content-type": "application/json" },
    body: body("rate_limit_error", "spend limit", { details: { error_code: "enforced_spend_limit_reached" } }),
    expected: ["RateLimitError", "quota_exhausted"]
  },
  {
    status: 402,
    headers: { "content-type": "application/json" },
    body: body("billing_error", "payment"),
    expected: ["RateLimitError", "quota_exhausted"]
  },
  {
    status: 500,
    headers: { "content-type": "application/json" },
    body: body("api_error", "Internal server error"),
    expected: ["RetryableError", "server_error"]
  },
  {
    status: 504,
    headers: { "content-type": "application/json" },
    body: body("timeout_error", "Request timed out"),
    expected: ["RetryableError", "timeout"]
  },
  {
    status: 529,
    headers: { "content-type": "application/json" },
    body: body("overloaded_error", "Overloaded"),
    expected: ["RetryableError", "overloaded"]
  }
]

it.layer(NodeHttpClient.layerUndici)("Anthropic error bodies over HTTP", (it) => {
  it.scoped("each body, replayed byte for byte to a unary and to a stream request, fails as classify says", () =>
    Effect.gen(function*() {
      const { client, server, target } = yield* setup
      for (const entry of errorBodies) {
        for (const request of ["unary", "stream"] as const) {
          server.enqueue(Loopback.replay(Buffer.from(entry.body), { status: entry.status, headers: entry.headers }))
          const attempt: Effect.Effect<unknown, LLMError> = request === "unary"
            ? client.generate(target, hello)
            : Effect.scoped(client.stream(target, hello))
          const error = fields(yield* Effect.flip(attempt))
          const label = `${entry.status} ${request}`
          assert.deepStrictEqual([error._tag, error.reason], [...entry.expected], label)
          assert.strictEqual(error.status, entry.status, label)
          assert.notInclude(error.message, apiKey, label)
        }
      }
      assert.strictEqual(server.requests.length, errorBodies.length * 2)
    }))
})
