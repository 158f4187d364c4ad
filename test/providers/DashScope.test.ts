import * as Headers from "@effect/platform/Headers"
import type * as HttpClient from "@effect/platform/HttpClient"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import { assert, describe, it } from "@effect/vitest"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as FiberRef from "effect/FiberRef"
import * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type { LLMError } from "../../src/domain/Errors.js"
import type { NormalizedRequest } from "../../src/domain/Request.js"
import * as DashScope from "../../src/providers/DashScope.js"
import type { Provider, ProviderChunk, ProviderTarget } from "../../src/providers/Provider.js"
import * as Loopback from "../support/LoopbackServer.js"

const fixtureName = (name: string) => `cnblogs-dashscope-sdk/${name}`
const fixture = (name: string): string => Loopback.readFixture(fixtureName(name)).toString("utf8")
const context = { provider: "dashscope", endpoint: "dashscope-intl" } as const
const classify = (status: number, body: string, headers: Record<string, string> = {}): LLMError =>
  DashScope.classifyError(status, body, Headers.fromInput(headers), context)

const expectError = (error: LLMError, tag: LLMError["_tag"], reason: string, status?: number) => {
  assert.strictEqual(error._tag, tag)
  assert.strictEqual((error as { reason: string }).reason, reason)
  if (status !== undefined) assert.strictEqual((error as { status?: number }).status, status)
  assert.strictEqual((error as { provider?: string }).provider, "dashscope")
  assert.strictEqual((error as { endpoint?: string }).endpoint, "dashscope-intl")
}

describe("DashScope.classifyError", () => {
  it("a 401 InvalidApiKey is an authentication error that points at the key's region", () => {
    const error = classify(401, fixture("auth-error-nosse.response.body.txt"))
    expectError(error, "FatalError", "authentication", 401)
    assert.match(error.message, /rejected the API key/)
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
    const json = `{"code":"Throttling.AllocationQuota","message":"Allocated quota exceeded, please increase your quota limit."}`
    expectError(classify(429, json), "RateLimitError", "rate_limited", 429)
  })

  it("an OpenAI-shaped insufficient_quota is quota_exhausted", () => {
    const body = JSON.stringify({
      error: { message: "You exceeded your current quota, please check your plan and billing details.", type: "insufficient_quota", param: null, code: "insufficient_quota" },
      request_id: "r3"
    })
    const error = classify(429, body)
    expectError(error, "RateLimitError", "quota_exhausted", 429)
    assert.match(error.message, /exceeded your current quota/)
  })

  it("an OpenAI-shaped invalid_api_key is an authentication error", () => {
    const body = `{"error":{"message":"Incorrect API key provided.","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}`
    expectError(classify(401, body), "FatalError", "authentication", 401)
  })

  it("a 500 InternalError and a 503 ModelUnavailable are retryable server errors", () => {
    const internal = `{"code":"InternalError","message":"An internal error has occured, please try again later or contact service support."}`
    expectError(classify(500, internal), "RetryableError", "server_error", 500)
    expectError(classify(503, `{"code":"ModelUnavailable","message":"model temporarily unavailable"}`), "RetryableError", "server_error", 503)
  })

  it("InternalError.Algo.InvalidParameter is an invalid request, not a server error", () => {
    const body = `{"code":"InternalError.Algo.InvalidParameter","message":"Range of max_tokens should be [1, 32768]"}`
    expectError(classify(400, body), "FatalError", "invalid_request", 400)
  })

  it("a 400 DataInspectionFailed is a content_filter error", () => {
    const body = `{"code":"DataInspectionFailed","message":"Input data may contain inappropriate content.","request_id":"r4"}`
    expectError(classify(400, body), "FatalError", "content_filter", 400)
  })

  it("codes map to permission_denied, not_found, timeout and invalid_request", () => {
    expectError(classify(403, `{"code":"AccessDenied.Unpurchased","message":"Access to model denied."}`), "FatalError", "permission_denied")
    expectError(classify(404, `{"code":"ModelNotFound","message":"Model not found"}`), "FatalError", "not_found")
    expectError(classify(408, `{"code":"RequestTimeOut","message":"Request timed out"}`), "RetryableError", "timeout")
    expectError(classify(400, `{"code":"Arrearage","message":"Access denied, please make sure your account is in good standing."}`), "FatalError", "invalid_request")
    expectError(classify(413, `{"code":"BadRequest.TooLarge","message":"Payload Too Large"}`), "FatalError", "invalid_request")
  })

  it("the code wins over the status: Throttling in a 200 event:error without a status comment", () => {
    const framed = `event:error\ndata:{"code":"Throttling.RateQuota","message":"Requests rate limit exceeded"}\n\n`
    expectError(classify(200, framed), "RateLimitError", "rate_limited")
  })

  it("an SSE-framed body under a real 429 status and raw JSON under a 503 are read by content", () => {
    const framed = `id:1\nevent:error\n:HTTP_STATUS/429\ndata:{"code":"Throttling","message":"Requests throttling triggered."}\n\n`
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

// ---------------------------------------------------------------------------------------------------
// Against a loopback server, through Node's undici client.

const apiKey = "sk-test-secret-key-0123456789"
const targetOf = (server: Loopback.LoopbackServer): ProviderTarget => ({
  endpoint: { name: "dashscope-intl", baseUrl: `${server.url}/`, region: "sg" },
  modelId: "qwen-plus",
  apiKey: Redacted.make(apiKey)
})
const minimalRequest: NormalizedRequest = {
  system: undefined,
  messages: [{ role: "user", content: "请问 1+1 是多少？" }],
  maxOutputTokens: undefined,
  temperature: undefined,
  topP: undefined,
  stop: undefined
}
const fullRequest: NormalizedRequest = {
  system: "Answer briefly.",
  messages: [
    { role: "user", content: "hi" },
    { role: "assistant", content: "hello" },
    { role: "user", content: "1+1?" }
  ],
  maxOutputTokens: 100,
  temperature: 0.5,
  topP: 0.8,
  stop: ["\n\n"]
}

/** The recorded status and headers of `<name>.response.header.txt`, minus framing/encoding headers. */
const recordedHead = (name: string): { status: number; headers: Record<string, string> } => {
  const lines = fixture(`${name}.response.header.txt`).replace(/^\uFEFF/, "").split(/\r?\n/).filter((l) => l.length > 0)
  const headers: Record<string, string> = {}
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(":")
    const header = line.slice(0, colon).trim()
    if (!["content-encoding", "transfer-encoding", "content-length", "date"].includes(header.toLowerCase())) {
      headers[header] = line.slice(colon + 1).trim()
    }
  }
  return { status: Number(lines[0]!.split(" ")[1]), headers }
}

/** Replays `<name>.response.body.txt` byte for byte with the recorded status and headers (when recorded). */
const replay = (name: string, options: Loopback.ReplayOptions = {}, head = recordedHead(name)): Loopback.ScriptedResponse =>
  Loopback.replay(fixtureName(`${name}.response.body.txt`), { status: head.status, headers: head.headers, ...options })

const withServer = <A, E>(
  f: (server: Loopback.LoopbackServer, provider: Provider) => Effect.Effect<A, E, HttpClient.HttpClient | Scope.Scope>
) =>
  Effect.gen(function* () {
    const server = yield* Loopback.make
    const provider = yield* DashScope.make
    return yield* f(server, provider)
  }).pipe(Effect.provide(NodeHttpClient.layerUndici))

/** Runs a provider stream to its end, keeping the chunks seen before any failure. */
const collect = (stream: Stream.Stream<ProviderChunk, LLMError>) =>
  Effect.gen(function* () {
    const chunks: Array<ProviderChunk> = []
    const exit = yield* Effect.exit(Stream.runForEach(stream, (chunk) => Effect.sync(() => chunks.push(chunk))))
    return { chunks, exit, text: chunks.map((c) => c.delta).join("") }
  })

const failureOf = <A>(exit: Exit.Exit<A, LLMError>): LLMError => {
  if (Exit.isSuccess(exit)) throw new Error("expected a failure")
  const failure = exit.cause._tag === "Fail" ? exit.cause.error : undefined
  if (failure === undefined) throw new Error(`expected a typed failure, got ${String(exit.cause)}`)
  return failure
}

const usage = (inputTokens: number, outputTokens: number, totalTokens: number) => ({ inputTokens, outputTokens, totalTokens })
const plainUsage = (u: { inputTokens: number; outputTokens: number; totalTokens: number } | undefined) =>
  u === undefined ? undefined : usage(u.inputTokens, u.outputTokens, u.totalTokens)

describe("DashScope requests", () => {
  it.scoped("a unary call posts the native body with a Bearer key to the generation path", () =>
    withServer((server, provider) =>
      Effect.gen(function* () {
        server.enqueue(replay("single-generation-message-nosse"), replay("single-generation-message-nosse"))
        yield* provider.generate(targetOf(server), fullRequest)
        yield* provider.generate(targetOf(server), minimalRequest)
        const [full, minimal] = server.requests
        assert.strictEqual(full!.method, "POST")
        assert.strictEqual(full!.url, "/api/v1/services/aigc/text-generation/generation")
        assert.strictEqual(full!.headers.authorization, `Bearer ${apiKey}`)
        assert.match(String(full!.headers["content-type"]), /^application\/json/)
        assert.isUndefined(full!.headers["x-dashscope-sse"])
        assert.deepStrictEqual(full!.json, {
          model: "qwen-plus",
          input: {
            messages: [
              { role: "system", content: "Answer briefly." },
              { role: "user", content: "hi" },
              { role: "assistant", content: "hello" },
              { role: "user", content: "1+1?" }
            ]
          },
          parameters: { result_format: "message", max_tokens: 100, temperature: 0.5, top_p: 0.8, stop: ["\n\n"] }
        })
        assert.deepStrictEqual(minimal!.json, {
          model: "qwen-plus",
          input: { messages: [{ role: "user", content: "请问 1+1 是多少？" }] },
          parameters: { result_format: "message" }
        })
      })
    ))

  it.scoped("a stream asks for SSE with X-DashScope-SSE, Accept and incremental_output", () =>
    withServer((server, provider) =>
      Effect.gen(function* () {
        server.enqueue(replay("single-generation-text-sse"))
        yield* collect(yield* provider.stream(targetOf(server), fullRequest))
        const [request] = server.requests
        assert.strictEqual(request!.url, "/api/v1/services/aigc/text-generation/generation")
        assert.strictEqual(request!.headers.authorization, `Bearer ${apiKey}`)
        assert.strictEqual(request!.headers["x-dashscope-sse"], "enable")
        assert.strictEqual(request!.headers.accept, "text/event-stream")
        const body = request!.json as { input: { messages: Array<{ role: string }> }; parameters: Record<string, unknown> }
        assert.strictEqual(body.input.messages[0]!.role, "system")
        assert.deepStrictEqual(body.parameters, {
          result_format: "message",
          max_tokens: 100,
          temperature: 0.5,
          top_p: 0.8,
          stop: ["\n\n"],
          incremental_output: true
        })
      })
    ))
})

describe("DashScope request building", () => {
  it.effect("the key is set only as the Authorization header, which @effect/platform redacts by default", () =>
    Effect.gen(function* () {
      const target: ProviderTarget = {
        endpoint: { name: "dashscope-cn", baseUrl: "https://dashscope.aliyuncs.com//", region: "cn" },
        modelId: "qwen-plus",
        apiKey: Redacted.make(apiKey)
      }
      const request = DashScope.makeRequest(target, minimalRequest, false)
      assert.strictEqual(request.url, "https://dashscope.aliyuncs.com/api/v1/services/aigc/text-generation/generation")
      assert.strictEqual(request.headers.authorization, `Bearer ${apiKey}`)
      const names = yield* FiberRef.get(Headers.currentRedactedNames)
      assert.isTrue(Redacted.isRedacted(Headers.redact(request.headers, names).authorization))
    }))

  it("an empty stop list is left out, like every unset parameter", () => {
    assert.deepStrictEqual(DashScope.encodeBody("qwen-plus", { ...minimalRequest, stop: [] }, false).parameters, {
      result_format: "message"
    })
  })
})

describe("DashScope unary answers", () => {
  it.scoped("decodes the message format (recorded, BOM, pretty-printed)", () =>
    withServer((server, provider) =>
      Effect.gen(function* () {
        server.enqueue(replay("single-generation-message-nosse"))
        const answer = yield* provider.generate(targetOf(server), minimalRequest)
        assert.strictEqual(answer.content, "1+1 等于 2。这是最基本的数学加法之一，在十进制计数体系中，任何两个相同的数字相加都等于该数字的二倍。")
        assert.strictEqual(answer.finishReason, "stop")
        assert.deepStrictEqual(plainUsage(answer.usage), usage(8, 39, 47))
        assert.strictEqual(answer.requestId, "e764bfe3-c0b7-97a0-ae57-cd99e1580960")
        assert.isUndefined(answer.modelVersion)
      })
    ))

  it.scoped("decodes the text format", () =>
    withServer((server, provider) =>
      Effect.gen(function* () {
        server.enqueue(replay("single-generation-text-nosse", {}, { status: 200, headers: { "content-type": "application/json" } }))
        const answer = yield* provider.generate(targetOf(server), minimalRequest)
        assert.strictEqual(answer.content, "1+1等于2。这是最基本的数学加法运算之一。")
        assert.strictEqual(answer.finishReason, "stop")
        assert.deepStrictEqual(plainUsage(answer.usage), usage(16, 14, 30))
        assert.strictEqual(answer.requestId, "7e3d5586-cb70-98ce-97bf-8a2ac0091c3f")
      })
    ))

  it.scoped("a reasoning answer cut by max tokens: finish length, reasoning_content excluded", () =>
    withServer((server, provider) =>
      Effect.gen(function* () {
        server.enqueue(replay("single-generation-message-reasoning-nosse", {}, { status: 200, headers: { "content-type": "application/json" } }))
        const answer = yield* provider.generate(targetOf(server), minimalRequest)
        assert.strictEqual(answer.content, "")
        assert.strictEqual(answer.finishReason, "length")
        assert.deepStrictEqual(plainUsage(answer.usage), usage(12, 21, 33))
      })
    ))

  it.scoped("missing usage is zero, a missing total is the sum, the request id falls back to x-request-id", () =>
    withServer((server, provider) =>
      Effect.gen(function* () {
        const headers = { "content-type": "application/json", "x-request-id": "hdr-42" }
        server.enqueue(
          { headers, body: `{"output":{"choices":[{"message":{"content":"ok"},"finish_reason":"stop"}]}}` },
          { headers, body: `{"output":{"text":"ok","finish_reason":"content_filter"},"usage":{"input_tokens":3,"output_tokens":4}}` }
        )
        const first = yield* provider.generate(targetOf(server), minimalRequest)
        assert.deepStrictEqual(plainUsage(first.usage), usage(0, 0, 0))
        assert.strictEqual(first.requestId, "hdr-42")
        const second = yield* provider.generate(targetOf(server), minimalRequest)
        assert.deepStrictEqual(plainUsage(second.usage), usage(3, 4, 7))
        assert.strictEqual(second.finishReason, "filter")
      })
    ))

  it.scoped("an undecodable 200 body is a bad_response; a 200 error body is classified", () =>
    withServer((server, provider) =>
      Effect.gen(function* () {
        const json = { "content-type": "application/json" }
        server.enqueue(
          { headers: json, body: "<html>gateway</html>" },
          { headers: json, body: `{"result":"what"}` },
          { headers: json, body: `{"code":"Throttling.RateQuota","message":"Requests rate limit exceeded"}` }
        )
        const notJson = yield* Effect.flip(provider.generate(targetOf(server), minimalRequest))
        expectError(notJson, "FatalError", "bad_response")
        const noOutput = yield* Effect.flip(provider.generate(targetOf(server), minimalRequest))
        expectError(noOutput, "FatalError", "bad_response")
        const rateLimited = yield* Effect.flip(provider.generate(targetOf(server), minimalRequest))
        expectError(rateLimited, "RateLimitError", "rate_limited")
      })
    ))

  it.scoped("recorded 401 and 400 bodies fail the call, and no message holds the key", () =>
    withServer((server, provider) =>
      Effect.gen(function* () {
        server.enqueue(replay("auth-error-nosse"), replay("parameter-error-nosse"))
        const auth = yield* Effect.flip(provider.generate(targetOf(server), minimalRequest))
        expectError(auth, "FatalError", "authentication", 401)
        assert.match(auth.message, /region/)
        const invalid = yield* Effect.flip(provider.generate(targetOf(server), minimalRequest))
        expectError(invalid, "FatalError", "invalid_request", 400)
        for (const error of [auth, invalid]) {
          assert.notInclude(error.message, apiKey)
          assert.notInclude(JSON.stringify(error), apiKey)
        }
      })
    ))

  it.scoped("a 503 ModelUnavailable and a 429 with Retry-After", () =>
    withServer((server, provider) =>
      Effect.gen(function* () {
        server.enqueue(
          { status: 503, headers: { "content-type": "application/json" }, body: `{"code":"ModelUnavailable","message":"Model is unavailable"}` },
          { status: 429, headers: { "retry-after": "3" }, body: `{"code":"Throttling.RateQuota","message":"Requests rate limit exceeded"}` }
        )
        expectError(yield* Effect.flip(provider.generate(targetOf(server), minimalRequest)), "RetryableError", "server_error", 503)
        const limited = yield* Effect.flip(provider.generate(targetOf(server), minimalRequest))
        expectError(limited, "RateLimitError", "rate_limited", 429)
        assert.isTrue(limited._tag === "RateLimitError" && Duration.toMillis(limited.retryAfter!) === 3000)
      })
    ))

  it.effect("connection refused is a RetryableError connection", () =>
    Effect.gen(function* () {
      const server = yield* Effect.promise(() => Loopback.start())
      yield* Effect.promise(() => server.close())
      const provider = yield* DashScope.make
      const unary = yield* Effect.flip(provider.generate(targetOf(server), minimalRequest))
      expectError(unary, "RetryableError", "connection")
      const stream = yield* Effect.flip(Effect.scoped(provider.stream(targetOf(server), minimalRequest)))
      expectError(stream, "RetryableError", "connection")
    }).pipe(Effect.provide(NodeHttpClient.layerUndici)))
})

const expectedMessageText = "1+1 等于 2。这是最基本的数学加法之一，在十进制计数体系中，任何情况下 1 加上另一个 1 的结果都是 2。"

describe("DashScope streams", () => {
  it.scoped("replays the text-format stream: deltas, cumulative usage, finish stop", () =>
    withServer((server, provider) =>
      Effect.gen(function* () {
        server.enqueue(replay("single-generation-text-sse"))
        const { chunks, exit, text } = yield* collect(yield* provider.stream(targetOf(server), minimalRequest))
        assert.isTrue(Exit.isSuccess(exit))
        assert.deepStrictEqual(chunks.map((c) => c.delta), ["1+", "1", "等于", "2。", ""])
        assert.strictEqual(text, "1+1等于2。")
        assert.deepStrictEqual(chunks.map((c) => c.usage?.outputTokens), [2, 3, 4, 6, 6])
        assert.deepStrictEqual(plainUsage(chunks.at(-1)!.usage), usage(16, 6, 22))
        assert.deepStrictEqual(chunks.map((c) => c.finishReason), [undefined, undefined, undefined, undefined, "stop"])
        assert.strictEqual(chunks[0]!.requestId, "5b441aa7-0b9c-9fbc-ae0a-e2b212b71eac")
      })
    ))

  it.scoped("replays the message-format stream without blank lines between events", () =>
    withServer((server, provider) =>
      Effect.gen(function* () {
        server.enqueue(replay("single-generation-message-sse"))
        const { chunks, exit, text } = yield* collect(yield* provider.stream(targetOf(server), minimalRequest))
        assert.isTrue(Exit.isSuccess(exit))
        assert.strictEqual(chunks.length, 10)
        assert.strictEqual(text, expectedMessageText)
        assert.deepStrictEqual(plainUsage(chunks.at(-1)!.usage), usage(8, 40, 48))
        assert.strictEqual(chunks.at(-1)!.finishReason, "stop")
        assert.isTrue(chunks.slice(0, -1).every((c) => c.finishReason === undefined))
      })
    ))

  it.scoped("replays a thinking stream without its reasoning_content, read byte by byte", () =>
    withServer((server, provider) =>
      Effect.gen(function* () {
        server.enqueue(replay("single-generation-message-reasoning-sse", { chunkSizes: [1, 7, 300] }, {
          status: 200,
          headers: { "content-type": "text/event-stream;charset=UTF-8" }
        }))
        const { exit, text, chunks } = yield* collect(yield* provider.stream(targetOf(server), minimalRequest))
        assert.isTrue(Exit.isSuccess(exit))
        assert.strictEqual(text, "1+1 等于 **2**。这是数学中最基本的加法运算之一。\n\n如果你有其他关于数学、科学或任何领域的问题，欢迎继续提问！😊")
        assert.deepStrictEqual(plainUsage(chunks.at(-1)!.usage), usage(16, 53, 69))
        assert.strictEqual(chunks.at(-1)!.finishReason, "stop")
      })
    ))

  it.scoped("LF, CRLF and CR framings decode to the same chunks", () =>
    withServer((server, provider) =>
      Effect.gen(function* () {
        const lf = fixture("single-generation-text-sse.response.body.txt")
        const bodies = [lf, lf.replace(/\n/g, "\r\n"), lf.replace(/\n/g, "\r")]
        for (const body of bodies) {
          server.enqueue(Loopback.replay(new TextEncoder().encode(body), { chunkSizes: [3, 1, 64] }))
        }
        const results = []
        for (const _ of bodies) results.push(yield* collect(yield* provider.stream(targetOf(server), minimalRequest)))
        for (const result of results) {
          assert.isTrue(Exit.isSuccess(result.exit))
          assert.strictEqual(result.text, "1+1等于2。")
          assert.deepStrictEqual(result.chunks, results[0]!.chunks)
        }
      })
    ))

  it.scoped("an HTTP 200 stream whose first event is event:error fails with the classified error", () =>
    withServer((server, provider) =>
      Effect.gen(function* () {
        server.enqueue(replay("parameter-error-sse"))
        const { chunks, exit } = yield* collect(yield* provider.stream(targetOf(server), minimalRequest))
        assert.strictEqual(chunks.length, 0)
        const error = failureOf(exit)
        expectError(error, "FatalError", "invalid_request", 400)
        assert.match(error.message, /Role must be user or assistant/)
      })
    ))

  it.scoped("an event:error after two result events fails after their two deltas", () =>
    withServer((server, provider) =>
      Effect.gen(function* () {
        const events = fixture("single-generation-text-sse.response.body.txt").split("\n\n").slice(0, 2).join("\n\n")
        const error = `id:3\nevent:error\n:HTTP_STATUS/429\ndata:{"code":"Throttling.AllocationQuota","message":"Free allocated quota exceeded.","request_id":"x"}\n\n`
        server.enqueue({ headers: { "content-type": "text/event-stream;charset=UTF-8" }, body: `${events}\n\n${error}` })
        const { chunks, exit } = yield* collect(yield* provider.stream(targetOf(server), minimalRequest))
        assert.deepStrictEqual(chunks.map((c) => c.delta), ["1+", "1"])
        expectError(failureOf(exit), "RateLimitError", "quota_exhausted", 429)
      })
    ))

  it.scoped("a body that ends while finish_reason is still \"null\" is stream_interrupted", () =>
    withServer((server, provider) =>
      Effect.gen(function* () {
        const events = fixture("single-generation-text-sse.response.body.txt").split("\n\n").slice(0, 4).join("\n\n")
        server.enqueue({ headers: { "content-type": "text/event-stream" }, body: `${events}\n\n` })
        const { chunks, exit } = yield* collect(yield* provider.stream(targetOf(server), minimalRequest))
        assert.strictEqual(chunks.length, 4)
        expectError(failureOf(exit), "RetryableError", "stream_interrupted")
      })
    ))

  it.scoped("a socket cut mid-body is stream_interrupted", () =>
    withServer((server, provider) =>
      Effect.gen(function* () {
        const bytes = Loopback.readFixture(fixtureName("single-generation-text-sse.response.body.txt"))
        server.enqueue({ headers: { "content-type": "text/event-stream" }, body: [bytes.subarray(0, 400)], end: "destroy" })
        const { chunks, exit } = yield* collect(yield* provider.stream(targetOf(server), minimalRequest))
        assert.isAtLeast(chunks.length, 1)
        expectError(failureOf(exit), "RetryableError", "stream_interrupted")
      })
    ))

  it.scoped("a body that ends cleanly in the middle of an event is stream_interrupted, at every cut inside the data line", () =>
    withServer((server, provider) =>
      Effect.gen(function* () {
        const body = fixture("single-generation-text-sse.response.body.txt")
        const dataStart = body.indexOf("data:")
        const dataEnd = body.indexOf("\n", dataStart)
        // Every cut point inside the first event's `data:` line (and right after its colon), ended cleanly.
        const cuts = [dataStart + 5, dataStart + 6, dataStart + 40, dataEnd - 1]
        for (const cut of cuts) server.enqueue({ headers: { "content-type": "text/event-stream" }, body: body.slice(0, cut) })
        for (const cut of cuts) {
          const { chunks, exit } = yield* collect(yield* provider.stream(targetOf(server), minimalRequest))
          assert.strictEqual(chunks.length, 0, `cut at ${cut}`)
          expectError(failureOf(exit), "RetryableError", "stream_interrupted")
        }
      })
    ))

  it.scoped("DataInspectionFailed after text ends the stream with finish filter; before any text it is a content_filter error", () =>
    withServer((server, provider) =>
      Effect.gen(function* () {
        const events = fixture("single-generation-text-sse.response.body.txt").split("\n\n").slice(0, 2).join("\n\n")
        const moderation = `id:3\nevent:error\n:HTTP_STATUS/400\ndata:{"code":"DataInspectionFailed","message":"Output data may contain inappropriate content.","request_id":"x"}\n\n`
        const sse = { "content-type": "text/event-stream;charset=UTF-8" }
        server.enqueue({ headers: sse, body: `${events}\n\n${moderation}` }, { headers: sse, body: moderation })
        const cut = yield* collect(yield* provider.stream(targetOf(server), minimalRequest))
        assert.isTrue(Exit.isSuccess(cut.exit))
        assert.strictEqual(cut.text, "1+1")
        assert.strictEqual(cut.chunks.at(-1)!.finishReason, "filter")
        assert.deepStrictEqual(plainUsage(cut.chunks[1]!.usage), usage(16, 3, 19))
        const before = yield* collect(yield* provider.stream(targetOf(server), minimalRequest))
        assert.strictEqual(before.chunks.length, 0)
        expectError(failureOf(before.exit), "FatalError", "content_filter", 400)
      })
    ))

  it.scoped("an HTTP 200 stream whose body is a plain JSON error (no SSE framing) is classified by its code", () =>
    withServer((server, provider) =>
      Effect.gen(function* () {
        server.enqueue({
          headers: { "content-type": "text/event-stream;charset=UTF-8" },
          body: `{"code":"Throttling.RateQuota","message":"Requests rate limit exceeded, please try again later.","request_id":"r-1"}`
        })
        const { chunks, exit } = yield* collect(yield* provider.stream(targetOf(server), minimalRequest))
        assert.strictEqual(chunks.length, 0)
        const error = failureOf(exit)
        expectError(error, "RateLimitError", "rate_limited")
        assert.match(error.message, /Throttling\.RateQuota/)
      })
    ))

  it.scoped("a non-200 stream answer fails the open, whatever the body's framing", () =>
    withServer((server, provider) =>
      Effect.gen(function* () {
        server.enqueue(
          { status: 429, headers: { "content-type": "application/json" }, body: `{"code":"Throttling.RateQuota","message":"Requests rate limit exceeded"}` },
          { status: 400, headers: { "content-type": "application/json" }, body: fixture("parameter-error-sse.response.body.txt") },
          { status: 500, headers: { "content-type": "text/event-stream" }, body: `{"code":"InternalError","message":"An internal error has occured"}` }
        )
        const open = () => Effect.flip(Effect.scoped(provider.stream(targetOf(server), minimalRequest)))
        expectError(yield* open(), "RateLimitError", "rate_limited", 429)
        expectError(yield* open(), "FatalError", "invalid_request", 400)
        expectError(yield* open(), "RetryableError", "server_error", 500)
      })
    ))

  it.scoped("a consumer that stops early closes the HTTP connection", () =>
    withServer((server, provider) =>
      Effect.gen(function* () {
        const events = fixture("single-generation-text-sse.response.body.txt").split("\n\n").slice(0, 2).join("\n\n")
        server.enqueue({ headers: { "content-type": "text/event-stream" }, body: [`${events}\n\n`], end: "hang" })
        const first = yield* Effect.scoped(
          Effect.flatMap(provider.stream(targetOf(server), minimalRequest), (stream) => Stream.runHead(stream))
        )
        assert.strictEqual(first._tag === "Some" ? first.value.delta : undefined, "1+")
        const closed = yield* Effect.promise(() => server.requests[0]!.socketClosed.then(() => true)).pipe(
          Effect.timeoutTo({ duration: "2 seconds", onSuccess: (ok) => ok, onTimeout: () => false })
        )
        assert.isTrue(closed, "the server saw the socket close")
      })
    ), { timeout: 10_000 })

  it.scoped("interrupting a consumer waiting on a silent stream closes the connection", () =>
    withServer((server, provider) =>
      Effect.gen(function* () {
        const events = fixture("single-generation-text-sse.response.body.txt").split("\n\n").slice(0, 1).join("\n\n")
        server.enqueue(
          { headers: { "content-type": "text/event-stream" }, body: [`${events}\n\n`], end: "hang" },
          { headers: { "content-type": "text/event-stream" }, body: [`${events}\n\n`], end: "hang" }
        )
        const seen = yield* Deferred.make<void>()
        const consumer = yield* Effect.fork(Effect.scoped(
          Effect.flatMap(provider.stream(targetOf(server), minimalRequest), (stream) =>
            Stream.runForEach(stream, () => Deferred.succeed(seen, undefined)))
        ))
        yield* Deferred.await(seen)
        yield* Fiber.interrupt(consumer)
        // A stream opened and never run: closing its scope alone must close the connection too.
        yield* Effect.scoped(provider.stream(targetOf(server), minimalRequest))
        const closed = yield* Effect.promise(() => Promise.all(server.requests.map((r) => r.socketClosed)).then(() => true)).pipe(
          Effect.timeoutTo({ duration: "2 seconds", onSuccess: (ok) => ok, onTimeout: () => false })
        )
        assert.isTrue(closed, "the server saw both sockets close")
      })
    ), { timeout: 10_000 })

  it.scoped("a 10,000-event stream decodes completely (speed is measured by npm run bench)", () =>
    withServer((server, provider) =>
      Effect.gen(function* () {
        const event = (i: number, finish: string) =>
          `id:${i}\nevent:result\n:HTTP_STATUS/200\ndata:{"output":{"choices":[{"message":{"content":"t${i} ","role":"assistant"},"finish_reason":"${finish}"}]},"usage":{"total_tokens":${i + 8},"input_tokens":8,"output_tokens":${i}},"request_id":"r"}\n\n`
        const events = Array.from({ length: 10_000 }, (_, i) => event(i + 1, i === 9_999 ? "stop" : "null")).join("")
        server.enqueue(Loopback.replay(new TextEncoder().encode(events), { chunkSizes: [16_384] }))
        const { chunks, exit } = yield* collect(yield* provider.stream(targetOf(server), minimalRequest))
        assert.isTrue(Exit.isSuccess(exit))
        assert.strictEqual(chunks.length, 10_000)
        assert.strictEqual(chunks.at(-1)!.usage?.outputTokens, 10_000)
      })
    ))
})
