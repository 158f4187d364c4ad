import { assert, describe, it } from "@effect/vitest"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type { LLMError } from "../../../src/domain/Errors.js"
import * as Errors from "../../../src/providers/openai/Errors.js"
import {
  apiKey,
  cassette,
  context,
  expectError,
  fixtureText,
  hello,
  json,
  pai,
  replayInteraction,
  targetOf,
  vai,
  vao,
  withServer
} from "./Harness.js"

const millis = (error: LLMError) => {
  const retryAfter = (error as { retryAfter?: Duration.Duration }).retryAfter
  return retryAfter === undefined ? undefined : Duration.toMillis(retryAfter)
}

const classify = (status: number, body: string, headers: Record<string, string> = {}) =>
  Errors.classify(status, body, headers, context)

const body = (error: Record<string, unknown>) => JSON.stringify({ error })

const rateLimit = body({
  message:
    "Rate limit reached for gpt-4o-mini in organization org-abc on tokens per min (TPM): Limit 200000, Used 199500, Requested 800. Please try again in 90ms. Visit https://platform.openai.com/account/rate-limits to learn more.",
  type: "tokens",
  param: null,
  code: "rate_limit_exceeded"
})

describe("OpenAI Errors: a retried 5xx keeps the server's Retry-After", () => {
  it("503 with retry-after (or retry-after-ms) carries it as retryAfter; x-ratelimit-reset-* are a 429's only", () => {
    const overloaded = body({ message: "The engine is currently overloaded", type: "server_error" })
    const withHint = classify(503, overloaded, { "retry-after": "3" })
    assert.strictEqual(withHint._tag, "RetryableError")
    assert.strictEqual(millis(withHint), 3_000)
    assert.strictEqual(millis(classify(500, overloaded, { "retry-after-ms": "250", "retry-after": "3" })), 250)
    assert.isUndefined(millis(classify(503, overloaded, { "x-ratelimit-reset-requests": "6m0s" })))
  })
})

describe("one request over a per-minute token limit is the request's own fault", () => {
  const tooLarge = (limit: number, requested: number) =>
    body({
      message:
        `Request too large for model \`llama-3.3-70b-versatile\` in organization \`org_01\` service tier \`on_demand\` on tokens per minute (TPM): Limit ${limit}, Requested ${requested}, please reduce your message size and try again.`,
      type: "tokens",
      code: "rate_limit_exceeded"
    })

  it("Groq's 413 and OpenAI's 429 asking more than the limit are FatalError invalid_request, not a wait", () => {
    for (const [status, error] of [[413, tooLarge(6000, 10338)], [429, tooLarge(30000, 49335)]] as const) {
      const classified = classify(status, error, { "retry-after": "7" })
      assert.strictEqual(classified._tag, "FatalError", `${status}`)
      assert.strictEqual((classified as { reason?: string }).reason, "invalid_request")
      assert.include(classified.message, "Requested")
    }
  })

  it("a 429 whose request fits the limit once the window frees stays rate_limited", () => {
    assert.strictEqual(classify(429, tooLarge(30000, 29000))._tag, "RateLimitError")
    assert.strictEqual(classify(429, rateLimit)._tag, "RateLimitError")
  })
})

describe("a spend limit refused as a bad request is told from a bad request that quotes such words", () => {
  it("a 400 saying the credit balance is too low is quota_exhausted; one echoing the request's words is invalid_request", () => {
    const spent = classify(
      400,
      body({
        message:
          "Your credit balance is too low to access the Anthropic API. Please go to Plans & Billing to upgrade or purchase credits.",
        type: "invalid_request_error"
      })
    )
    assert.deepStrictEqual([spent._tag, spent.reason], ["RateLimitError", "quota_exhausted"])
    // a gateway quoting its upstream's error, as JSON text (LiteLLM) or a Python SDK's repr
    const quoted = [
      "litellm.BadRequestError: AnthropicException - {\"type\":\"error\",\"error\":{\"type\":\"invalid_request_error\",\"message\":\"Your credit balance is too low to access the Anthropic API. Please go to Plans & Billing to upgrade or purchase credits.\"}}",
      "Error code: 400 - {'type': 'error', 'error': {'type': 'invalid_request_error', 'message': 'Your credit balance is too low to access the Anthropic API. Please go to Plans & Billing to upgrade or purchase credits.'}}"
    ]
    for (const message of quoted) {
      const error = classify(400, body({ message, type: null, param: null, code: "400" }))
      assert.deepStrictEqual([error._tag, error.reason], ["RateLimitError", "quota_exhausted"], message)
    }
    const echoes = [
      body({
        message:
          "[{'type': 'literal_error', 'loc': ('body', 'messages', 0, 'role'), 'msg': \"Input should be 'user'\", 'input': 'usr', 'ctx': {'content': 'Why is my credit balance negative?'}}]",
        type: "BadRequestError",
        param: null,
        code: 400
      }),
      body({
        message:
          "This model's maximum context length is 8192 tokens. However, your messages resulted in 9000 tokens. Prompt starts: 'Insufficient funds error when paying...'",
        type: "invalid_request_error",
        code: "context_length_exceeded"
      }),
      body({
        message: "Insufficient funds, said the prompt, which is 9000 tokens: too long",
        type: "invalid_request_error",
        code: "context_length_exceeded"
      })
    ]
    for (const echo of echoes) {
      const error = classify(400, echo)
      assert.deepStrictEqual([error._tag, error.reason], ["FatalError", "invalid_request"], echo)
    }
  })
})

describe("Chinese services' own shapes (Hunyuan, Ark, SiliconFlow, Zhipu)", () => {
  it("a rate limit in words is retried, moderation codes are content_filter, a balance is quota, a locked account is fatal", () => {
    const reasonOf = (status: number, error: string) => {
      const classified = classify(status, error)
      return [classified._tag, classified.reason]
    }
    assert.deepStrictEqual(
      reasonOf(400, body({ message: "请求限频，请稍后重试", type: "runtime_error", code: "2003" })),
      ["RateLimitError", "rate_limited"]
    )
    // a 400 quoting a prompt that speaks of rate limits is the request's fault still
    for (
      const quoted of [
        body({
          message:
            "[{'type': 'string_too_long', 'loc': ('body', 'messages', 0, 'content'), 'msg': 'String should have at most 8 characters', 'input': '如何在网关上配置限流？', 'ctx': {'max_length': 8}}]",
          type: "BadRequestError"
        }),
        body({
          message:
            "This model's maximum context length is 8192 tokens. However, you requested 9000 tokens. Prompt starts: '请求过于频繁时返回什么错误码'",
          type: "BadRequestError",
          code: "context_length_exceeded"
        }),
        body({ message: "Invalid value for 'stop': \"请求限频\" is not allowed", type: "invalid_request_error" })
      ]
    ) {
      assert.deepStrictEqual(reasonOf(400, quoted), ["FatalError", "invalid_request"], quoted)
    }
    for (const code of ["SensitiveContentDetected", "InputTextSensitiveContentDetected", "OutputTextRiskDetection"]) {
      assert.deepStrictEqual(reasonOf(400, body({ message: "The request failed.", code, type: "BadRequest" })), [
        "FatalError",
        "content_filter"
      ])
    }
    // FoundationAgents/OpenManus#438
    assert.deepStrictEqual(
      reasonOf(
        403,
        JSON.stringify({
          code: 30011,
          message:
            "The selected model requires paid balance. Your paid balance is insufficient. Please top up and try again.",
          data: null
        })
      ),
      ["RateLimitError", "quota_exhausted"]
    )
    assert.deepStrictEqual(
      reasonOf(
        429,
        body({ message: "Your account has been locked, please contact customer service to unlock", code: "1112" })
      ),
      ["FatalError", "permission_denied"]
    )
  })
})

describe("Together's context overflow under 403", () => {
  it("is FatalError invalid_request (the prompt is too long), while another 403 stays permission_denied", () => {
    const overflow = classify(
      403,
      body({
        message:
          "Input token count + max_tokens parameter must be less than the context length of the model being queried.",
        type: "invalid_request_error"
      })
    )
    assert.deepStrictEqual([overflow._tag, overflow.reason], ["FatalError", "invalid_request"])
    const denied = classify(
      403,
      body({ message: "You do not have access to this model.", type: "invalid_request_error" })
    )
    assert.deepStrictEqual([denied._tag, denied.reason], ["FatalError", "permission_denied"])
  })
})

describe("a server's text in a message", () => {
  it("has its control characters escaped (ESC, BEL, backspace, DEL, C1), so a log or a terminal never runs them", () => {
    const error = classify(
      400,
      body({ message: "bad \x1b[2J\x1b]0;pwned\x07 x\b\x7f\x9b1m end", type: "invalid_request_error" })
    )
    assert.include(error.message, "bad \\u001b[2J\\u001b]0;pwned\\u0007 x\\b\\u007f\\u009b1m end")
    assert.notMatch(error.message, /\p{Cc}/u)
  })
})

describe("openai Errors.classify: fatal statuses", () => {
  it("400 (recorded: the developer role refused) is invalid_request with the server's message", () => {
    const [interaction] = cassette(pai + "test_openai_o1_mini_system_role[developer].yaml")
    const error = classify(interaction!.status, interaction!.body)
    expectError(error, "FatalError", "invalid_request", 400)
    assert.include(error.message, "unsupported_value / invalid_request_error")
    assert.include(error.message, "does not support 'developer' with this model")
  })

  it("400 (recorded: max_tokens refused by a reasoning model, temperature refused) is invalid_request", () => {
    for (
      const path of [
        vai + "reasoning-model-legacy-parameter-error.json",
        vao + "openai/reasoning-model-temperature-error.json"
      ]
    ) {
      const error = classify(400, fixtureText(path))
      expectError(error, "FatalError", "invalid_request", 400)
      assert.match(error.message, /Unsupported parameter: '(max_tokens|temperature)'/)
    }
  })

  it("400 context_length_exceeded is invalid_request", () => {
    const error = classify(
      400,
      body({
        message:
          "This model's maximum context length is 128000 tokens. However, your messages resulted in 130000 tokens. Please reduce the length of the messages.",
        type: "invalid_request_error",
        param: "messages",
        code: "context_length_exceeded"
      })
    )
    expectError(error, "FatalError", "invalid_request", 400)
    assert.include(error.message, "context_length_exceeded")
  })

  it("422 (DeepSeek Invalid Parameters) and 413 are invalid_request", () => {
    expectError(
      classify(422, body({ message: "Invalid Parameters", type: "invalid_request_error" })),
      "FatalError",
      "invalid_request",
      422
    )
    expectError(classify(413, "Request Entity Too Large"), "FatalError", "invalid_request", 413)
  })

  it("401 is authentication, hints at the key variable, and never repeats the key the server quotes", () => {
    const error = classify(
      401,
      body({
        message:
          "Incorrect API key provided: sk-test-********************************cdef. You can find your API key at https://platform.openai.com/account/api-keys.",
        type: "invalid_request_error",
        param: null,
        code: "invalid_api_key"
      }),
      { "x-request-id": "req_401" }
    )
    expectError(error, "FatalError", "authentication", 401)
    assert.include(error.message, "OPENAI_API_KEY or providers.openai.api_key")
    assert.include(error.message, "request_id req_401")
    // without a request id the server's sentence ends the text: no stray ".;" before the hint
    const bare = classify(401, body({ message: "Incorrect API key provided.", code: "invalid_api_key" }))
    assert.include(bare.message, "Incorrect API key provided; check OPENAI_API_KEY")
    assert.notInclude(error.message, "sk-test-")
    assert.notInclude(error.message, "cdef")
    assert.notInclude(error.message, apiKey)
    // a key with characters beyond [A-Za-z0-9._-] is shortened whole, not up to its first '+'
    const plus = classify(401, body({ message: "Incorrect API key provided: sk-Abc123XYZ+secretSuffix0123456789." }))
    assert.include(plus.message, "Incorrect API key provided: sk-…; check OPENAI_API_KEY")
    assert.notInclude(plus.message, "secretSuffix")
  })

  it("403 is permission_denied", () => {
    const error = classify(
      403,
      body({
        message: "Country, region, or territory not supported",
        type: "request_forbidden",
        code: "unsupported_country_region_territory"
      })
    )
    expectError(error, "FatalError", "permission_denied", 403)
  })

  it("404 (recorded: model_not_found) is not_found", () => {
    const [interaction] = cassette(pai + "test_model_name_suggestion[openai-chat].yaml")
    const error = classify(interaction!.status, interaction!.body)
    expectError(error, "FatalError", "not_found", 404)
    assert.include(error.message, "The model `gpt-5.2-proo` does not exist")
  })
})

describe("openai Errors.classify: 429 and its wait", () => {
  it("rate_limit_exceeded is rate_limited; no hint → no retryAfter", () => {
    const error = classify(429, rateLimit)
    expectError(error, "RateLimitError", "rate_limited", 429)
    assert.isUndefined(millis(error))
  })

  it("retry-after-ms wins over retry-after, which wins over the reset headers", () => {
    const headers = {
      "retry-after-ms": "1500",
      "retry-after": "20",
      "x-ratelimit-reset-tokens": "6m0s",
      "x-ratelimit-reset-requests": "1s"
    }
    assert.strictEqual(millis(classify(429, rateLimit, headers)), 1500)
    const { "retry-after-ms": _, ...withoutMs } = headers
    assert.strictEqual(millis(classify(429, rateLimit, withoutMs)), 20_000)
  })

  it("retry-after as an HTTP-date is measured from Clock's now", () => {
    assert.strictEqual(millis(classify(429, rateLimit, { "retry-after": "Sat, 16 Aug 2025 00:46:02 GMT" })), 30_000)
  })

  it("x-ratelimit-reset-*: the dimension the 429's type names, else the one spent, else the sooner", () => {
    const reset = { "x-ratelimit-reset-requests": "6m0s", "x-ratelimit-reset-tokens": "20ms" }
    // type "tokens" (the recorded body shape): the tokens window.
    assert.strictEqual(millis(classify(429, rateLimit, reset)), 20)
    const requests = body({
      message: "Rate limit reached on requests per min (RPM)",
      type: "requests",
      code: "rate_limit_exceeded"
    })
    assert.strictEqual(millis(classify(429, requests, reset)), 360_000)
    const plain = body({ message: "Too many requests" })
    assert.strictEqual(millis(classify(429, plain, { ...reset, "x-ratelimit-remaining-requests": "0" })), 360_000)
    assert.strictEqual(millis(classify(429, plain, reset)), 20)
    assert.strictEqual(millis(classify(429, plain, { "x-ratelimit-reset-requests": "2m59.56s" })), 179_560)
  })

  it("OpenRouter's recorded 429 (Provider returned error, upstream words in metadata.raw) is rate_limited", () => {
    const [interaction] = cassette(pai + "test_openrouter_errors_raised.yaml")
    const error = classify(interaction!.status, interaction!.body)
    expectError(error, "RateLimitError", "rate_limited", 429)
    assert.include(error.message, "Provider returned error")
    assert.include(error.message, "temporarily rate-limited upstream")
  })

  it("insufficient_quota (code or type), credit_balance_exhausted and spend-limit words are quota_exhausted, even with a wait", () => {
    const quota = body({
      message: "You exceeded your current quota, please check your plan and billing details.",
      type: "insufficient_quota",
      param: null,
      code: "insufficient_quota"
    })
    for (
      const text of [
        quota,
        body({ message: "Quota", type: "insufficient_quota" }),
        body({
          message: "You have no credits remaining.",
          type: "invalid_request_error",
          code: "credit_balance_exhausted"
        }),
        body({ message: "You have reached your spend limit for this month." }),
        // a LiteLLM proxy's key budget
        body({ message: "Budget has been exceeded! Current cost: 1.02, Max budget: 1.0", type: "budget_exceeded" }),
        body({ message: "You have reached your specified API usage limits. You will regain access on 2025-09-01." }),
        // Anthropic's workspace limit through an OpenAI-compatible proxy
        body({
          message: "You have reached your specified workspace API usage limits. You will regain access on 2025-09-01."
        })
      ]
    ) {
      const error = classify(429, text, { "retry-after": "5" })
      expectError(error, "RateLimitError", "quota_exhausted", 429)
      assert.include(error.message, "waiting will not clear it")
    }
  })

  it("a rate-limit message that mentions billing is still rate_limited", () => {
    const text = body({
      message:
        "Rate limit reached for gpt-4o-mini on requests per day (RPD): Limit 200, Used 200. You can increase your rate limit by adding a payment method at https://platform.openai.com/account/billing.",
      type: "requests",
      code: "rate_limit_exceeded"
    })
    expectError(classify(429, text), "RateLimitError", "rate_limited", 429)
  })

  it("DeepSeek 402 Insufficient Balance and OpenRouter 402 are quota_exhausted", () => {
    expectError(
      classify(
        402,
        body({ message: "Insufficient Balance", type: "unknown_error", param: null, code: "invalid_request_error" })
      ),
      "RateLimitError",
      "quota_exhausted",
      402
    )
    expectError(
      classify(402, JSON.stringify({ error: { code: 402, message: "Insufficient credits" } })),
      "RateLimitError",
      "quota_exhausted",
      402
    )
  })
})

describe("openai Errors.classify: retryable and overloaded", () => {
  it("408 timeout; 409, 500, 502, 504 server_error; a non-JSON gateway page by its status", () => {
    expectError(classify(408, body({ message: "Request timed out" })), "RetryableError", "timeout", 408)
    expectError(classify(409, body({ message: "Conflict" })), "RetryableError", "server_error", 409)
    expectError(
      classify(
        500,
        body({
          message: "The server had an error while processing your request. Sorry about that!",
          type: "server_error"
        })
      ),
      "RetryableError",
      "server_error",
      500
    )
    const gateway = classify(502, "<html><head><title>502 Bad Gateway</title></head></html>")
    expectError(gateway, "RetryableError", "server_error", 502)
    assert.include(gateway.message, "502 Bad Gateway")
    expectError(classify(504, ""), "RetryableError", "server_error", 504)
    expectError(classify(503, body({ message: "Service Unavailable" })), "RetryableError", "server_error", 503)
  })

  it("529, an overload body (OpenAI 503, DeepSeek 503 Server overloaded), Groq 498 and Ark ServerOverloaded are overloaded", () => {
    const cases: ReadonlyArray<readonly [number, string]> = [
      [529, body({ type: "overloaded_error", message: "Overloaded" })],
      [529, ""],
      [503, body({ message: "The engine is currently overloaded, please try again later", type: "server_error" })],
      [503, body({ message: "Server overloaded", type: "server_error", code: "server_is_overloaded" })],
      [503, "Server overloaded"],
      [498, body({ message: "Flex tier capacity exceeded.", type: "capacity_exceeded", code: "capacity_exceeded" })],
      [429, body({ code: "ServerOverloaded", message: "The service is overloaded.", type: "TooManyRequests" })]
    ]
    for (const [status, text] of cases) expectError(classify(status, text), "RetryableError", "overloaded", status)
  })
})

describe("openai Errors.classify: service shapes", () => {
  it("Ark's PascalCase codes (type = the HTTP reason phrase)", () => {
    const ark = (code: string, type: string) =>
      body({ code, message: `${code}. Request id: 0217389254`, param: "", type })
    expectError(classify(404, ark("InvalidEndpoint.NotFound", "NotFound")), "FatalError", "not_found", 404)
    expectError(classify(403, ark("AccountOverdueError", "Forbidden")), "RateLimitError", "quota_exhausted", 403)
    expectError(classify(403, ark("AccessDenied", "Forbidden")), "FatalError", "permission_denied", 403)
    expectError(classify(401, ark("AuthenticationError", "Unauthorized")), "FatalError", "authentication", 401)
    expectError(
      classify(429, ark("RateLimitExceeded.EndpointRPMExceeded", "TooManyRequests")),
      "RateLimitError",
      "rate_limited",
      429
    )
    expectError(classify(429, ark("QuotaExceeded", "TooManyRequests")), "RateLimitError", "quota_exhausted", 429)
    expectError(classify(400, ark("InputTextRiskDetection", "BadRequest")), "FatalError", "content_filter", 400)
    expectError(
      classify(500, ark("InternalServiceError", "InternalServerError")),
      "RetryableError",
      "server_error",
      500
    )
  })

  it("Ollama's typed body and its native string-shaped error", () => {
    const typed = classify(
      404,
      body({
        message: "model \"llama9\" not found, try pulling it first",
        type: "not_found_error",
        param: null,
        code: null
      })
    )
    expectError(typed, "FatalError", "not_found", 404)
    const native = classify(500, JSON.stringify({ error: "the model failed to generate a response" }))
    expectError(native, "RetryableError", "server_error", 500)
    assert.include(native.message, "the model failed to generate a response")
    expectError(classify(400, JSON.stringify({ error: "invalid options" })), "FatalError", "invalid_request", 400)
  })

  it("vLLM's integer code, nested and flat", () => {
    const nested = body({ message: "The model `x` does not exist.", type: "NotFoundError", param: null, code: 404 })
    expectError(classify(404, nested), "FatalError", "not_found", 404)
    const flat = JSON.stringify({
      object: "error",
      message: "max_tokens is too large",
      type: "BadRequestError",
      param: null,
      code: 400
    })
    const error = classify(400, flat)
    expectError(error, "FatalError", "invalid_request", 400)
    assert.include(error.message, "max_tokens is too large")
  })

  it("an error body framed as SSE (some servers answer a stream request so) and one behind blank lines", () => {
    expectError(
      classify(429, `data: ${rateLimit}\n\n`, { "retry-after": "2" }),
      "RateLimitError",
      "rate_limited",
      429
    )
    expectError(
      classify(400, `\n\n${body({ message: "bad", code: "context_length_exceeded" })}`),
      "FatalError",
      "invalid_request"
    )
  })

  it("a 200 carrying an error is classified by what it names", () => {
    expectError(classify(200, body({ message: "busy", code: 503 })), "RetryableError", "server_error", 503)
    expectError(
      classify(200, body({ message: "bad", type: "invalid_request_error" })),
      "FatalError",
      "invalid_request",
      400
    )
  })
})

describe("openai errors over HTTP", () => {
  it.scoped("every recorded error response fails generate with its class, the key absent from the message", () =>
    withServer((server, client) =>
      Effect.gen(function*() {
        const recorded = [
          ...cassette(pai + "test_openai_o1_mini_system_role[developer].yaml"),
          ...cassette(pai + "test_model_name_suggestion[openai-chat].yaml"),
          ...cassette(pai + "test_openrouter_errors_raised.yaml").slice(0, 1)
        ]
        for (const interaction of recorded) server.enqueue(replayInteraction(interaction, { chunkSizes: [1, 7] }))
        server.enqueue({
          status: 401,
          headers: json,
          body: body({ message: `Incorrect API key provided: ${apiKey}`, code: "invalid_api_key" })
        })
        const errors = []
        for (let i = 0; i < recorded.length + 1; i++) {
          errors.push(yield* Effect.flip(client.generate(targetOf(server), hello)))
        }
        expectError(errors[0]!, "FatalError", "invalid_request", 400)
        expectError(errors[1]!, "FatalError", "not_found", 404)
        expectError(errors[2]!, "RateLimitError", "rate_limited", 429)
        expectError(errors[3]!, "FatalError", "authentication", 401)
        for (const error of errors) assert.notInclude(error.message, apiKey)
      })
    ))
})

describe("openai Errors.classify: DashScope through its compatible mode (API.md §3)", () => {
  it("Throttling* codes are rate_limited; \"Free allocated quota exceeded\" is quota_exhausted", () => {
    expectError(
      classify(429, JSON.stringify({ code: "Throttling.RateQuota", message: "Requests rate limit exceeded" })),
      "RateLimitError",
      "rate_limited"
    )
    expectError(
      classify(400, body({ code: "Throttling", message: "Requests throttling triggered", type: "Throttling" })),
      "RateLimitError",
      "rate_limited"
    )
    expectError(
      classify(429, body({ code: "Throttling.AllocationQuota", message: "Free allocated quota exceeded." })),
      "RateLimitError",
      "quota_exhausted"
    )
  })

  it("content moderation (data_inspection_failed, or the native DataInspectionFailed) is content_filter", () => {
    const compat = classify(
      400,
      JSON.stringify({
        error: {
          message: "Input data may contain inappropriate content.",
          type: "data_inspection_failed",
          param: null,
          code: "data_inspection_failed"
        },
        request_id: "r-1"
      })
    )
    expectError(compat, "FatalError", "content_filter", 400)
    assert.include(compat.message, "Input data may contain inappropriate content.")
    // compatible mode names the request in the body (WIRE.md §3): the message carries it as the header's would
    assert.include(compat.message, "(request_id r-1)")
    assert.include(
      classify(400, JSON.stringify({ error: { message: "m" }, request_id: "r-1" }), { "x-request-id": "h-1" }).message,
      "(request_id h-1)"
    )
    expectError(
      classify(
        400,
        JSON.stringify({ code: "DataInspectionFailed", message: "Input data may contain inappropriate content." })
      ),
      "FatalError",
      "content_filter",
      400
    )
  })

  it("Arrearage (an account in arrears), OpenAI-shaped or native, is quota_exhausted: no wait clears it", () => {
    const message = "Access denied, please make sure your account is in good standing."
    const compat = classify(
      400,
      JSON.stringify({ error: { code: "Arrearage", type: "Arrearage", param: null, message }, request_id: "r-1" })
    )
    expectError(compat, "RateLimitError", "quota_exhausted", 400)
    assert.include(compat.message, "waiting will not clear it")
    expectError(
      classify(400, JSON.stringify({ code: "Arrearage", message, request_id: "r-2" })),
      "RateLimitError",
      "quota_exhausted",
      400
    )
  })
})

describe("openai Errors: compatible servers' own error shapes", () => {
  const inBand = (json: unknown) =>
    Errors.classifyInBand(json, JSON.stringify(json), {}, context, "sent an error mid-stream:")

  it("text-generation-inference's error_type: validation is the request's own, overloaded and generation the server's", () => {
    const tgi = (error_type: string) => inBand({ error: "Input validation error: too many tokens", error_type })
    expectError(tgi("validation"), "FatalError", "invalid_request", 400)
    expectError(tgi("template_error"), "FatalError", "invalid_request", 400)
    expectError(tgi("overloaded"), "RetryableError", "overloaded", 529)
    expectError(tgi("generation"), "RetryableError", "server_error", 500)
    // the same over HTTP: TGI answers a generation failure with 424 Failed Dependency
    const failed = JSON.stringify({
      error: "Request failed during generation: Server error: CUDA out of memory",
      error_type: "generation"
    })
    expectError(classify(424, failed), "RetryableError", "server_error", 424)
    expectError(
      classify(422, JSON.stringify({ error: "Input validation error: too many tokens", error_type: "validation" })),
      "FatalError",
      "invalid_request",
      422
    )
  })

  it("an in-band code that is an HTTP status as text (LiteLLM's \"429\") is that status", () => {
    expectError(
      inBand({ error: { message: "rate limited upstream", type: "None", code: "429" } }),
      "RateLimitError",
      "rate_limited",
      429
    )
    expectError(
      inBand({ error: { message: "upstream failed", type: "None", code: "500" } }),
      "RetryableError",
      "server_error",
      500
    )
  })

  it("OpenRouter's moderation 403 (\"No credits were charged.\") is content_filter, over HTTP and in-band; a spent balance stays quota", () => {
    const flagged = {
      error: {
        message:
          "anthropic/claude-3-5-haiku requires moderation on Amazon Bedrock. Your input was flagged for \"self-harm/instructions\". No credits were charged.",
        code: 403,
        metadata: { reasons: ["self-harm/instructions"], flagged_input: "…", provider_name: "Amazon Bedrock" }
      }
    }
    expectError(classify(403, JSON.stringify(flagged)), "FatalError", "content_filter", 403)
    expectError(inBand(flagged), "FatalError", "content_filter", 403)
    expectError(
      classify(403, JSON.stringify({ error: { message: "You have no credits left. Add more.", code: 403 } })),
      "RateLimitError",
      "quota_exhausted",
      403
    )
  })

  it("Bedrock Access Gateway's stream errors name their status in the text (\"400: …\", \"429: …\"): that status", () => {
    expectError(
      inBand({
        error: {
          message:
            "400: An error occurred (ValidationException) when calling the ConverseStream operation: Input is too long"
        }
      }),
      "FatalError",
      "invalid_request",
      400
    )
    expectError(
      inBand({ error: { message: "429: An error occurred (ThrottlingException): Too many requests, please wait" } }),
      "RateLimitError",
      "rate_limited",
      429
    )
  })

  it("spend limits refused under 400, 403 or 422 are quota_exhausted (LiteLLM's budget, Anthropic's compatible endpoint, OpenRouter's key limit)", () => {
    const litellm = JSON.stringify({
      error: {
        message: "Budget has been exceeded! Current cost: 10.5, Max budget: 10.0",
        type: "budget_exceeded",
        param: null,
        code: "400"
      }
    })
    expectError(classify(422, litellm), "RateLimitError", "quota_exhausted", 422)
    expectError(classify(400, litellm), "RateLimitError", "quota_exhausted", 400)
    const credit = body({
      message:
        "Your credit balance is too low to access the Anthropic API. Please go to Plans & Billing to upgrade or purchase credits.",
      type: "invalid_request_error"
    })
    expectError(classify(400, credit), "RateLimitError", "quota_exhausted", 400)
    const keyLimit = JSON.stringify({
      error: {
        message: "Key limit exceeded (daily limit). Manage it using https://openrouter.ai/settings/keys",
        code: 403
      }
    })
    expectError(classify(403, keyLimit), "RateLimitError", "quota_exhausted", 403)
    // a plain bad request stays one
    expectError(
      classify(400, body({ message: "max_tokens is too large", type: "invalid_request_error" })),
      "FatalError",
      "invalid_request",
      400
    )
  })

  it("a code that repeats the status (LiteLLM's, Azure's \"429\") or a Python None is left out of the message", () => {
    const repeated = classify(429, body({ message: "throttled", type: "throttling_error", code: "429" }))
    assert.include(repeated.message, "answered HTTP 429 throttling_error: throttled")
    const none = classify(400, body({ message: "Content blocked by guardrail", type: "None", code: "400" }))
    assert.include(none.message, "answered HTTP 400: Content blocked by guardrail")
  })

  it("OpenRouter's free-models-per-day 429 is quota_exhausted: no wait today clears it", () => {
    const error = classify(
      429,
      body({
        message: "Rate limit exceeded: free-models-per-day. Add 10 credits to unlock 1000 free model requests per day",
        code: 429
      })
    )
    expectError(error, "RateLimitError", "quota_exhausted", 429)
  })

  it("Gemini's OpenAI-compatible endpoint (its errors in Gemini's shape, in an array): a per-minute quota waits its RetryInfo, a per-day one is spent", () => {
    const google = (quotaId: string) =>
      JSON.stringify([{
        error: {
          code: 429,
          message: "You exceeded your current quota, please check your plan and billing details.",
          status: "RESOURCE_EXHAUSTED",
          details: [
            {
              "@type": "type.googleapis.com/google.rpc.QuotaFailure",
              violations: [{
                quotaMetric: "generativelanguage.googleapis.com/generate_content_free_tier_requests",
                quotaId
              }]
            },
            { "@type": "type.googleapis.com/google.rpc.RetryInfo", retryDelay: "34s" }
          ]
        }
      }])
    const perMinute = classify(429, google("GenerateRequestsPerMinutePerProjectPerModel-FreeTier"))
    expectError(perMinute, "RateLimitError", "rate_limited", 429)
    assert.strictEqual(millis(perMinute), 34_000)
    expectError(
      classify(429, google("GenerateRequestsPerDayPerProjectPerModel-FreeTier")),
      "RateLimitError",
      "quota_exhausted",
      429
    )
    // a 400 in that shape says the server's words, not the JSON
    const invalid = classify(
      400,
      JSON.stringify([{
        error: { code: 400, message: "Invalid JSON payload received.", status: "INVALID_ARGUMENT", details: [] }
      }])
    )
    expectError(invalid, "FatalError", "invalid_request", 400)
    assert.include(invalid.message, "Invalid JSON payload received.")
    assert.notInclude(invalid.message, "INVALID_ARGUMENT\"")
  })

  it("a spent balance at Zhipu, Moonshot or Cloudflare Workers AI is quota_exhausted: one request, no retry", () => {
    const spent = [
      // Zhipu (GLM): code 1113, "your account is in arrears, please recharge", in Chinese or English
      [429, body({ code: "1113", message: "您的账户已欠费，请充值后重试。" })],
      [429, body({ code: "1113", message: "Insufficient balance or no resource package. Please recharge." })],
      // Moonshot (Kimi): its quota type, on a 429 or a 403
      [
        429,
        body({
          type: "exceeded_current_quota_error",
          message: "You exceeded current quota, please check your plan and billing details"
        })
      ],
      [403, body({ type: "exceeded_current_quota_error", message: "Your account is suspended, please recharge" })],
      // Cloudflare Workers AI's envelope: its errors array
      [
        429,
        JSON.stringify({
          success: false,
          errors: [{
            code: 3036,
            message:
              "You have used up your daily free allocation of 10,000 neurons, please upgrade to Cloudflare's Workers Paid plan."
          }],
          messages: [],
          result: null
        })
      ]
    ] as const
    for (const [status, text] of spent) {
      const error = classify(status, text, { "retry-after": "5" })
      expectError(error, "RateLimitError", "quota_exhausted", status)
      assert.include(error.message, "waiting will not clear it")
    }
  })

  it("Cloudflare's error envelope is read: its message, not the JSON, and a capacity 429 still waits", () => {
    const error = classify(
      429,
      JSON.stringify({
        success: false,
        errors: [{ code: 3040, message: "Capacity temporarily exceeded, please try again." }]
      }),
      { "retry-after": "2" }
    )
    expectError(error, "RateLimitError", "rate_limited", 429)
    assert.strictEqual(millis(error), 2_000)
    assert.include(error.message, "Capacity temporarily exceeded, please try again.")
    assert.notInclude(error.message, "\"errors\"")
  })

  it("Zhipu's 1301 (unsafe or sensitive content) is content_filter", () => {
    expectError(
      classify(400, body({ code: "1301", message: "系统检测到输入或生成内容可能包含不安全或敏感内容" })),
      "FatalError",
      "content_filter",
      400
    )
  })
})
