import * as Headers from "@effect/platform/Headers"
import { assert, describe, it } from "@effect/vitest"
import * as Duration from "effect/Duration"
import type { LLMError } from "../../../src/domain/Errors.js"
import * as Errors from "../../../src/providers/dashscope/Errors.js"
import { context, expectError, fixture } from "./Harness.js"

const classify = (status: number, body: string, headers: Record<string, string> = {}): LLMError =>
  Errors.classify(status, body, Headers.fromInput(headers), context)

describe("DashScope Errors.classify", () => {
  it("a 401 InvalidApiKey is an authentication error that points at the key's region", () => {
    const error = classify(401, fixture("auth-error-nosse.response.body.txt"))
    expectError(error, "FatalError", "authentication", 401)
    // where the key comes from, as on the other protocols
    assert.match(
      error.message,
      /; check DASHSCOPE_API_KEY or providers\.dashscope\.api_key; DashScope keys are region-bound/
    )
    // who answered is said once
    assert.strictEqual(error.message.split("dashscope (").length - 1, 1, error.message)
    assert.match(error.message, /region/)
    assert.match(error.message, /InvalidApiKey/)
    assert.match(error.message, /a1c0561c-1dfe-98a6-a62f-983577b8bc5e/)
  })

  it("a 400 InvalidParameter body (with BOM) is an invalid request carrying the server message", () => {
    const error = classify(400, fixture("parameter-error-nosse.response.body.txt"))
    expectError(error, "FatalError", "invalid_request", 400)
    assert.match(error.message, /Role must be user or assistant/)
  })

  it("an HTTP 200 event:error body takes its status from the :HTTP_STATUS/400 comment", () => {
    const error = classify(200, fixture("parameter-error-sse.response.body.txt"))
    expectError(error, "FatalError", "invalid_request", 400)
    assert.match(error.message, /InvalidParameter/)
  })

  it("a 429 Throttling.RateQuota is rate_limited without a retryAfter", () => {
    const error = classify(
      429,
      `{"code":"Throttling.RateQuota","message":"Requests rate limit exceeded, please try again later.","request_id":"r1"}`
    )
    expectError(error, "RateLimitError", "rate_limited", 429)
    assert.strictEqual(error._tag === "RateLimitError" ? error.retryAfter : "not a rate limit", undefined)
  })

  it("a Retry-After or retry-after-ms header becomes retryAfter", () => {
    const body = `{"code":"Throttling","message":"Requests throttling triggered."}`
    const seconds = classify(429, body, { "retry-after": "7" })
    const millis = classify(429, body, { "retry-after-ms": "1500" })
    assert.isTrue(seconds._tag === "RateLimitError" && Duration.toMillis(seconds.retryAfter!) === 7000)
    assert.isTrue(millis._tag === "RateLimitError" && Duration.toMillis(millis.retryAfter!) === 1500)
  })

  it("'Free allocated quota exceeded' is quota_exhausted, as plain JSON and framed in a 200 event:error", () => {
    const json = `{"code":"Throttling.AllocationQuota","message":"Free allocated quota exceeded.","request_id":"r2"}`
    expectError(classify(429, json), "RateLimitError", "quota_exhausted", 429)
    const framed = `id:1\nevent:error\n:HTTP_STATUS/429\ndata:${json}\n\n`
    expectError(classify(200, framed), "RateLimitError", "quota_exhausted", 429)
  })

  it("a TPM Throttling.AllocationQuota ('Allocated quota exceeded') stays rate_limited", () => {
    const json =
      `{"code":"Throttling.AllocationQuota","message":"Allocated quota exceeded, please increase your quota limit."}`
    expectError(classify(429, json), "RateLimitError", "rate_limited", 429)
  })

  it("an OpenAI-shaped insufficient_quota is quota_exhausted", () => {
    const body = JSON.stringify({
      error: {
        message: "You exceeded your current quota, please check your plan and billing details.",
        type: "insufficient_quota",
        param: null,
        code: "insufficient_quota"
      },
      request_id: "r3"
    })
    const error = classify(429, body)
    expectError(error, "RateLimitError", "quota_exhausted", 429)
    assert.match(error.message, /exceeded your current quota/)
  })

  it("an OpenAI-shaped invalid_api_key is an authentication error", () => {
    const body =
      `{"error":{"message":"Incorrect API key provided.","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}`
    expectError(classify(401, body), "FatalError", "authentication", 401)
  })

  it("a 500 InternalError and a 503 ModelUnavailable are retryable server errors", () => {
    const internal =
      `{"code":"InternalError","message":"An internal error has occured, please try again later or contact service support."}`
    expectError(classify(500, internal), "RetryableError", "server_error", 500)
    expectError(
      classify(503, `{"code":"ModelUnavailable","message":"model temporarily unavailable"}`),
      "RetryableError",
      "server_error",
      503
    )
    // a 409 conflict by its status alone (a code DashScope does not document): retried, as on every protocol
    expectError(classify(409, `{"code":"Conflict","message":"conflict"}`), "RetryableError", "server_error", 409)
  })

  it("InternalError.Algo.InvalidParameter is an invalid request, not a server error", () => {
    const body = `{"code":"InternalError.Algo.InvalidParameter","message":"Range of max_tokens should be [1, 32768]"}`
    expectError(classify(400, body), "FatalError", "invalid_request", 400)
  })

  it("a 400 DataInspectionFailed is a content_filter error", () => {
    const body =
      `{"code":"DataInspectionFailed","message":"Input data may contain inappropriate content.","request_id":"r4"}`
    expectError(classify(400, body), "FatalError", "content_filter", 400)
  })

  it("Arrearage (an account in arrears) is a billing refusal: quota_exhausted, not retried by waiting (API.md §8)", () => {
    const error = classify(
      400,
      `{"code":"Arrearage","message":"Access denied, please make sure your account is in good standing."}`
    )
    expectError(error, "RateLimitError", "quota_exhausted")
    // said as on the other protocols
    assert.match(error.message, /\(a spent quota or balance: waiting will not clear it\)$/)
  })

  it("a 429 that says a spend limit was reached is quota_exhausted, whatever its code or framing (API.md §8)", () => {
    const json = `{"code":"Throttling","message":"You have reached the spend limit of your account.","request_id":"r5"}`
    expectError(classify(429, json), "RateLimitError", "quota_exhausted", 429)
    expectError(
      classify(200, `event:error\n:HTTP_STATUS/429\ndata:${json}\n\n`),
      "RateLimitError",
      "quota_exhausted",
      429
    )
    expectError(classify(429, "Spending limit reached for this account"), "RateLimitError", "quota_exhausted", 429)
    // a plain throttle stays a wait
    expectError(
      classify(429, `{"code":"Throttling","message":"Requests throttling triggered."}`),
      "RateLimitError",
      "rate_limited",
      429
    )
  })

  it("a retried 503 keeps a Retry-After as its retryAfter (DashScope sends none today; a gateway may)", () => {
    const error = classify(503, `{"code":"ModelUnavailable","message":"model temporarily unavailable"}`, {
      "retry-after": "6"
    }) as LLMError & { retryAfter?: Duration.Duration }
    expectError(error, "RetryableError", "server_error", 503)
    assert.strictEqual(error.retryAfter && Duration.toMillis(error.retryAfter), 6_000)
  })

  it("a 529 is overloaded, with an unknown code, as plain text and in a 200 event:error (API.md §8)", () => {
    const json = `{"code":"ServiceUnavailable","message":"busy","request_id":"r6"}`
    expectError(classify(529, json), "RetryableError", "overloaded", 529)
    expectError(classify(529, "busy"), "RetryableError", "overloaded", 529)
    expectError(classify(200, `event:error\n:HTTP_STATUS/529\ndata:${json}\n\n`), "RetryableError", "overloaded", 529)
  })

  it("a 529 whose code names a generic server fault is overloaded too; a quota or bad-request code stays itself", () => {
    const internal = `{"code":"InternalError","message":"The server is busy","request_id":"r7"}`
    expectError(classify(529, internal), "RetryableError", "overloaded", 529)
    expectError(
      classify(200, `event:error\n:HTTP_STATUS/529\ndata:${internal}\n\n`),
      "RetryableError",
      "overloaded",
      529
    )
    // the same code under a 500 is a server error
    expectError(classify(500, internal), "RetryableError", "server_error", 500)
    expectError(
      classify(529, `{"code":"Throttling.AllocationQuota","message":"Free allocated quota exceeded."}`),
      "RateLimitError",
      "quota_exhausted",
      529
    )
    expectError(classify(529, `{"code":"InvalidParameter","message":"bad"}`), "FatalError", "invalid_request", 529)
  })

  it("codes map to permission_denied, not_found, timeout and invalid_request", () => {
    expectError(
      classify(403, `{"code":"AccessDenied.Unpurchased","message":"Access to model denied."}`),
      "FatalError",
      "permission_denied"
    )
    expectError(classify(404, `{"code":"ModelNotFound","message":"Model not found"}`), "FatalError", "not_found")
    expectError(classify(408, `{"code":"RequestTimeOut","message":"Request timed out"}`), "RetryableError", "timeout")
    // a 408 is a timeout (API.md §3) whatever client fault its code names
    expectError(classify(408, `{"code":"InvalidParameter","message":"timed out"}`), "RetryableError", "timeout")
    expectError(
      classify(413, `{"code":"BadRequest.TooLarge","message":"Payload Too Large"}`),
      "FatalError",
      "invalid_request"
    )
  })

  it("the code wins over the status: Throttling in a 200 event:error without a status comment", () => {
    const framed = `event:error\ndata:{"code":"Throttling.RateQuota","message":"Requests rate limit exceeded"}\n\n`
    expectError(classify(200, framed), "RateLimitError", "rate_limited")
  })

  it("an SSE-framed body under a real 429 status and raw JSON under a 503 are read by content", () => {
    const framed =
      `id:1\nevent:error\n:HTTP_STATUS/429\ndata:{"code":"Throttling","message":"Requests throttling triggered."}\n\n`
    expectError(classify(429, framed, { "content-type": "application/json" }), "RateLimitError", "rate_limited", 429)
    const raw = `{"code":"SystemError","message":"system error"}`
    expectError(classify(503, raw, { "content-type": "text/event-stream" }), "RetryableError", "server_error", 503)
  })

  it("a non-JSON body falls back to the status and quotes the text", () => {
    const error = classify(502, "<html><body>502 Bad Gateway</body></html>")
    expectError(error, "RetryableError", "server_error", 502)
    assert.match(error.message, /502 Bad Gateway/)
    expectError(classify(401, "Unauthorized"), "FatalError", "authentication", 401)
    expectError(classify(429, ""), "RateLimitError", "rate_limited", 429)
    expectError(classify(404, "no route"), "FatalError", "not_found", 404)
  })

  it("the request id comes from the x-request-id header when the body has none", () => {
    const error = classify(500, `{"code":"InternalError","message":"oops"}`, { "x-request-id": "hdr-id-1" })
    assert.match(error.message, /hdr-id-1/)
  })
})

describe("DashScope Errors.errorPayloadOf", () => {
  it("reads the native and the OpenAI-shaped body, tolerating nulls, and nothing else", () => {
    assert.deepStrictEqual(Errors.errorPayloadOf({ code: "Throttling", message: "slow down", request_id: "r" }), {
      code: "Throttling",
      type: undefined,
      message: "slow down",
      requestId: "r"
    })
    assert.deepStrictEqual(
      Errors.errorPayloadOf({
        error: { message: "Incorrect API key provided.", type: "invalid_request_error", code: null, param: null }
      }),
      { code: undefined, type: "invalid_request_error", message: "Incorrect API key provided.", requestId: undefined }
    )
    assert.isUndefined(Errors.errorPayloadOf({ output: { text: "hi" } }))
    assert.isUndefined(Errors.errorPayloadOf({ code: 42 }))
    assert.isUndefined(Errors.errorPayloadOf("text"))
  })
})
