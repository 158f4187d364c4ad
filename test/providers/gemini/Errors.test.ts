import { assert, describe, it } from "@effect/vitest"
import * as Duration from "effect/Duration"
import * as Errors from "../../../src/providers/gemini/Errors.js"
import { context, fixtureText, googleai, vercel, vertexai } from "./Harness.js"

const millis = (
  duration: Duration.Duration | undefined
) => (duration === undefined ? undefined : Duration.toMillis(duration))

describe("Gemini Errors.classify", () => {
  const classify = (status: number, body: string, headers: Record<string, string> = {}) =>
    Errors.classify(status, body, headers, context)

  it("400 API_KEY_INVALID is an authentication error that says the key was rejected, without echoing it", () => {
    const error = classify(400, fixtureText(googleai + "unary-failure-api-key.json"))
    assert.strictEqual(error._tag, "FatalError")
    assert.strictEqual((error as any).reason, "authentication")
    assert.strictEqual((error as any).status, 400)
    assert.strictEqual((error as any).provider, "google")
    assert.strictEqual((error as any).endpoint, "google-test")
    assert.match(error.message, /API key/)
    assert.match(error.message, /rejected/)
    assert.include(error.message, "400")
    assert.notInclude(error.message, "key1234") // the DebugInfo detail echoes the key
  })

  it("403 API not enabled is permission_denied with the server's message", () => {
    const error = classify(403, fixtureText(googleai + "unary-failure-generativelanguage-api-not-enabled.json"))
    assert.strictEqual((error as any).reason, "permission_denied")
    assert.include(error.message, "403")
    assert.include(error.message, "Generative Language API has not been used in project 12345678")
  })

  it("404 unknown model is not_found", () => {
    const error = classify(404, fixtureText(googleai + "unary-failure-unknown-model.json"))
    assert.strictEqual(error._tag, "FatalError")
    assert.strictEqual((error as any).reason, "not_found")
    assert.include(error.message, "models/gemini-5.0-flash is not found")
  })

  it("429 with RetryInfo 34.4s (per-minute quota) is rate_limited with retryAfter 34.4s", () => {
    const error = classify(429, fixtureText(vercel + "google-429-retry-info.json"))
    assert.strictEqual(error._tag, "RateLimitError")
    assert.strictEqual((error as any).reason, "rate_limited")
    assert.strictEqual(millis((error as any).retryAfter), 34_400)
    assert.include(error.message, "You exceeded your current quota")
  })

  it("RetryInfo wins over Retry-After headers", () => {
    const error = classify(429, fixtureText(vercel + "google-429-retry-info.json"), { "retry-after": "3" })
    assert.strictEqual(millis((error as any).retryAfter), 34_400)
  })

  it("429 without RetryInfo: the message's \"Please retry in 26.5s\" is the wait (RetryInfo and headers still win)", () => {
    const body = JSON.stringify({
      error: {
        code: 429,
        status: "RESOURCE_EXHAUSTED",
        message: "You exceeded your current quota, please check your plan and billing details.\nPlease retry in 26.5s."
      }
    })
    assert.strictEqual(millis((classify(429, body) as any).retryAfter), 26_500)
    assert.strictEqual(millis((classify(429, body, { "retry-after": "12" }) as any).retryAfter), 12_000)
  })

  it("old-style 429 without RetryInfo is rate_limited with no retryAfter, or the header's", () => {
    const body = fixtureText(vertexai + "unary-failure-quota-exceeded.json")
    const error = classify(429, body)
    assert.strictEqual(error._tag, "RateLimitError")
    assert.strictEqual((error as any).reason, "rate_limited")
    assert.isUndefined((error as any).retryAfter)
    assert.strictEqual(millis((classify(429, body, { "retry-after": "12" }) as any).retryAfter), 12_000)
    assert.strictEqual(millis((classify(429, body, { "retry-after-ms": "1500" }) as any).retryAfter), 1500)
    assert.strictEqual(
      millis((classify(429, body, { "retry-after": "Sat, 16 Aug 2025 00:46:02 GMT" }) as any).retryAfter),
      30_000
    )
  })

  it("a 503 behind a proxy that sends Retry-After keeps it as retryAfter (Google itself sends none)", () => {
    const error = classify(
      503,
      JSON.stringify({ error: { code: 503, message: "The model is overloaded.", status: "UNAVAILABLE" } }),
      { "retry-after": "2" }
    )
    assert.strictEqual(error._tag, "RetryableError")
    assert.strictEqual(millis((error as any).retryAfter), 2_000)
  })

  it("429 on a per-day quota is quota_exhausted even with a short RetryInfo", () => {
    const body = JSON.stringify({
      error: {
        code: 429,
        message:
          "You exceeded your current quota, please check your plan and billing details.\n* Quota exceeded for metric: generativelanguage.googleapis.com/generate_content_free_tier_requests, limit: 250\nPlease retry in 1.68122827s.",
        status: "RESOURCE_EXHAUSTED",
        details: [
          {
            "@type": "type.googleapis.com/google.rpc.Help",
            links: [{ description: "Learn more", url: "https://ai.google.dev/gemini-api/docs/rate-limits" }]
          },
          {
            "@type": "type.googleapis.com/google.rpc.QuotaFailure",
            violations: [{
              quotaMetric: "generativelanguage.googleapis.com/generate_content_free_tier_requests",
              quotaId: "GenerateRequestsPerDayPerProjectPerModel-FreeTier",
              quotaDimensions: { location: "global", model: "gemini-2.5-flash" },
              quotaValue: "250"
            }]
          },
          { "@type": "type.googleapis.com/google.rpc.RetryInfo", retryDelay: "1s" }
        ]
      }
    })
    const error = classify(429, body)
    assert.strictEqual(error._tag, "RateLimitError")
    assert.strictEqual((error as any).reason, "quota_exhausted")
    // RetryInfo's whole "1s" is the message's 1.68122827s truncated (WIRE.md §1.7): the longer wait
    assert.strictEqual(millis((error as any).retryAfter), 1681)
    // a per-minute 429 saying the same waits the same
    const perMinute = classify(429, body.replace("PerDay", "PerMinute"))
    assert.strictEqual((perMinute as any).reason, "rate_limited")
    assert.strictEqual(millis((perMinute as any).retryAfter), 1681)
  })

  it("429 on a quota of 0 (no free tier for the model) is quota_exhausted, though its RetryInfo is short", () => {
    const body = (message: string, quotaValue: string) =>
      JSON.stringify({
        error: {
          code: 429,
          message,
          status: "RESOURCE_EXHAUSTED",
          details: [
            {
              "@type": "type.googleapis.com/google.rpc.QuotaFailure",
              violations: [{ quotaId: "GenerateRequestsPerMinutePerProjectPerModel-FreeTier", quotaValue }]
            },
            { "@type": "type.googleapis.com/google.rpc.RetryInfo", retryDelay: "1s" }
          ]
        }
      })
    // WIRE.md §1.7's free-tier body, verbatim
    const zero = classify(
      429,
      body(
        "You exceeded your current quota, please check your plan and billing details. For more information on this error, head to: https://ai.google.dev/gemini-api/docs/rate-limits.\n* Quota exceeded for metric: generativelanguage.googleapis.com/generate_content_free_tier_requests, limit: 0, model: gemini-2.0-flash\nPlease retry in 1.68122827s.",
        "0"
      )
    )
    assert.strictEqual(zero._tag, "RateLimitError")
    assert.strictEqual((zero as any).reason, "quota_exhausted")
    assert.include(zero.message, "a quota of 0")
    // the QuotaFailure's value alone says it too
    assert.strictEqual((classify(429, body("Resource has been exhausted.", "0")) as any).reason, "quota_exhausted")
    // a per-minute quota that is not 0 is waited out
    const fifteen = classify(429, body("Quota exceeded for metric: …, limit: 15, model: gemini-2.0-flash", "15"))
    assert.strictEqual((fifteen as any).reason, "rate_limited")
    assert.notInclude(fifteen.message, "a quota of 0")
  })

  it("429 that says a spend limit was reached is quota_exhausted; per-minute quota words are not (API.md §8)", () => {
    const spent = classify(
      429,
      JSON.stringify({
        error: {
          code: 429,
          status: "RESOURCE_EXHAUSTED",
          message: "Your project has reached its spend limit. Raise the spend limit to continue."
        }
      })
    )
    assert.strictEqual(spent._tag, "RateLimitError")
    assert.strictEqual((spent as any).reason, "quota_exhausted")
    assert.strictEqual((classify(429, "Spending cap exceeded for this project") as any).reason, "quota_exhausted")
    // "You exceeded your current quota … check your plan and billing details" is on every Gemini 429
    assert.strictEqual(
      (classify(429, fixtureText(vercel + "google-429-retry-info.json")) as any).reason,
      "rate_limited"
    )
  })

  it("529 is overloaded, with a body, as plain text and in-band (API.md §8)", () => {
    for (const body of [JSON.stringify({ error: { code: 529, status: "UNAVAILABLE", message: "busy" } }), "busy"]) {
      const error = classify(529, body)
      assert.strictEqual(error._tag, "RetryableError")
      assert.strictEqual((error as any).reason, "overloaded")
      assert.strictEqual((error as any).status, 529)
    }
    const inBand = Errors.classifyInBand({ error: { code: 529, message: "busy" } }, "", {}, context)
    assert.strictEqual((inBand as any).reason, "overloaded")
  })

  it("other 400s are invalid_request with the server's message", () => {
    const live = JSON.parse(fixtureText(vercel + "issue-22372-live-errors.json"))
    for (const body of [live.reasoningNoneResponse, live.thinkingLevelAndBudgetResponse]) {
      const error = classify(400, JSON.stringify(body))
      assert.strictEqual(error._tag, "FatalError")
      assert.strictEqual((error as any).reason, "invalid_request")
      assert.include(error.message, body.error.message)
    }
    const penalty = classify(400, fixtureText(vercel + "issue-8943-gemini-2.5-flash-error.json"))
    assert.strictEqual((penalty as any).reason, "invalid_request")
    assert.include(penalty.message, "Penalty is not enabled for models/gemini-2.5-flash")
    assert.include(penalty.message, "INVALID_ARGUMENT")
    assert.strictEqual(
      (classify(400, fixtureText(googleai + "streaming-failure-image-rejected.txt")) as any).reason,
      "invalid_request"
    )
  })

  it("401 is authentication", () => {
    const error = classify(
      401,
      JSON.stringify({
        error: { code: 401, message: "Request had invalid authentication credentials.", status: "UNAUTHENTICATED" }
      })
    )
    assert.strictEqual((error as any).reason, "authentication")
  })

  it("500, 502, 503, 504, 499 and 409 are retryable server errors, a 503 that says the model is overloaded is overloaded (API.md §8); 408 is a retryable timeout", () => {
    const rpc = (code: number, status: string, message: string) => JSON.stringify({ error: { code, message, status } })
    const cases: Array<[number, string, string]> = [
      [
        500,
        rpc(
          500,
          "INTERNAL",
          "An internal error has occurred. Please retry or report in https://developers.generativeai.google/guide/troubleshooting"
        ),
        "server_error"
      ],
      [503, rpc(503, "UNAVAILABLE", "The model is overloaded. Please try again later."), "overloaded"],
      [
        503,
        rpc(
          503,
          "UNAVAILABLE",
          "This model is currently experiencing high demand. Spikes in demand are usually temporary. Please try again later."
        ),
        "overloaded"
      ],
      [503, rpc(503, "UNAVAILABLE", "The service is currently unavailable."), "server_error"],
      [504, rpc(504, "DEADLINE_EXCEEDED", "Deadline expired before operation could complete."), "server_error"],
      [502, "<html><body>502 Bad Gateway</body></html>", "server_error"],
      [499, rpc(499, "CANCELLED", "The operation was cancelled."), "server_error"],
      [409, rpc(409, "ABORTED", "The operation was aborted."), "server_error"],
      [408, "", "timeout"]
    ]
    for (const [status, body, reason] of cases) {
      const error = classify(status, body)
      assert.strictEqual(error._tag, "RetryableError", `HTTP ${status}`)
      assert.strictEqual((error as any).reason, reason)
      assert.strictEqual((error as any).status, status)
      assert.include(error.message, String(status))
    }
    assert.include(classify(502, "<html><body>502 Bad Gateway</body></html>").message, "502 Bad Gateway")
    // a 409 that says the resource already exists is no passing conflict
    const exists = classify(409, rpc(409, "ALREADY_EXISTS", "Cached content already exists."))
    assert.strictEqual(exists._tag, "FatalError")
    assert.strictEqual((exists as any).reason, "invalid_request")
  })

  it("an SSE-framed error body is read from its data line", () => {
    const error = classify(
      503,
      `data: {"error":{"code":503,"message":"The model is overloaded.","status":"UNAVAILABLE"}}\r\n\r\n`
    )
    assert.strictEqual((error as any).reason, "overloaded")
    assert.include(error.message, "503 UNAVAILABLE: The model is overloaded.")
  })

  it("an error wrapped in an array of one (Vertex AI, Code Assist) is classified as the error itself", () => {
    const wrapped = (text: string) => JSON.stringify([JSON.parse(text)])
    const key = classify(400, wrapped(fixtureText(googleai + "unary-failure-api-key.json")))
    assert.strictEqual((key as any).reason, "authentication")
    const quota = (quotaId: string) =>
      JSON.stringify([{
        error: {
          code: 429,
          message: "You exceeded your current quota, please check your plan and billing details.",
          status: "RESOURCE_EXHAUSTED",
          details: [
            { "@type": "type.googleapis.com/google.rpc.QuotaFailure", violations: [{ quotaId }] },
            { "@type": "type.googleapis.com/google.rpc.RetryInfo", retryDelay: "20s" }
          ]
        }
      }])
    const perMinute = classify(429, quota("GenerateRequestsPerMinutePerProjectPerModel"))
    assert.strictEqual((perMinute as any).reason, "rate_limited")
    assert.strictEqual(millis((perMinute as any).retryAfter), 20_000)
    assert.include(perMinute.message, "You exceeded your current quota")
    assert.notInclude(perMinute.message, "[{")
    assert.strictEqual(
      (classify(429, quota("GenerateRequestsPerDayPerProjectPerModel")) as any).reason,
      "quota_exhausted"
    )
  })

  it("a long non-JSON body is truncated in the message", () => {
    const error = classify(500, "x".repeat(10_000))
    assert.isBelow(error.message.length, 700)
  })

  it("a cut never splits a character: emoji past the limit are kept whole or left out", () => {
    for (const body of ["😀".repeat(600), `x${"😀".repeat(600)}`]) {
      const error = classify(400, body)
      assert.notMatch(error.message, /\p{Cs}/u, body.slice(0, 3))
      assert.include(error.message, "😀…")
    }
  })
})

describe("Gemini Errors.classifyInBand", () => {
  it("classifies an error object by its code, 500 when it names no 4xx/5xx status", () => {
    const overloaded = Errors.classifyInBand(
      { error: { code: 503, message: "The model is overloaded.", status: "UNAVAILABLE" } },
      "",
      {},
      context
    )
    assert.strictEqual(overloaded._tag, "RetryableError")
    assert.strictEqual((overloaded as any).status, 503)
    const nameless = Errors.classifyInBand({ error: { code: "oops", message: "Something broke" } }, "{}", {}, context)
    assert.strictEqual(nameless._tag, "RetryableError")
    assert.strictEqual((nameless as any).status, 500)
  })

  it("quotes only error.message from a decoded body (details may echo the key)", () => {
    const body = {
      error: {
        code: 400,
        message: "API key not valid. Please pass a valid API key.",
        status: "INVALID_ARGUMENT",
        details: [{ "@type": "type.googleapis.com/google.rpc.DebugInfo", detail: "Invalid API key: AIza-echoed" }]
      }
    }
    const error = Errors.classify(400, JSON.stringify(body), {}, context)
    assert.strictEqual((error as any).reason, "authentication")
    assert.notInclude(error.message, "AIza-echoed")
    assert.include(error.message, "GEMINI_API_KEY / GOOGLE_API_KEY or providers.google.api_key")
  })

  it("base64 a server quotes back (the request's own image) is named by its length, never kept in the message", () => {
    const image = Buffer.from(Array.from({ length: 3000 }, (_, i) => (i * 7919) % 256)).toString("base64")
    // google-gemini/deprecated-generative-ai-js#307
    const body = JSON.stringify({
      error: {
        code: 400,
        message:
          `Invalid value at 'contents[0].parts[1].inline_data.data' (TYPE_BYTES), Base64 decoding failed for "${image}"`,
        status: "INVALID_ARGUMENT"
      }
    })
    const classify = (text: string) => Errors.classify(400, text, {}, context)
    const error = classify(body)
    assert.strictEqual((error as any).reason, "invalid_request")
    assert.include(error.message, `Base64 decoding failed for "<base64, ${image.length} characters>"`)
    assert.notMatch(error.message, /[A-Za-z0-9+/]{64}/)
    // a data: URL echoed goes whole; short runs (ids, words) stay
    const echoed = classify(body.replace(image, `data:image/png;base64,${image}`))
    assert.include(echoed.message, `"<base64, ${"data:image/png;base64,".length + image.length} characters>"`)
    // ids, digests and paths that use the same characters stay
    for (
      const kept of [
        "req_0123456789abcdef0123456789abcdef",
        `sha256:${"0123456789abcdef".repeat(4)}`,
        "projects/123456789012/locations/global/publishers/google/models/gemini"
      ]
    ) {
      assert.include(classify(body.replace(image, kept)).message, kept)
    }
  })
})
