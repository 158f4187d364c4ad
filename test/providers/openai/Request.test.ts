import * as Headers from "@effect/platform/Headers"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as FiberRef from "effect/FiberRef"
import * as Redacted from "effect/Redacted"
import { text } from "../../../src/domain/Prompt.js"
import * as OpenAI from "../../../src/providers/openai/OpenAI.js"
import * as Request from "../../../src/providers/openai/Request.js"
import {
  apiKey,
  fixtureText,
  framed,
  fullRequest,
  hello,
  json,
  replaySse,
  runStream,
  targetOf,
  vai,
  vao,
  withServer
} from "./Harness.js"

const unary = () => ({ headers: json, body: fixtureText(vao + "openai/openai-text.json") })

describe("openai requests", () => {
  it.scoped("a unary call posts the Chat Completions body to {base_url}/chat/completions with a Bearer key", () =>
    withServer((server, client) =>
      Effect.gen(function*() {
        server.enqueue(unary(), unary())
        yield* client.generate(targetOf(server), fullRequest)
        yield* client.generate(targetOf(server), hello)
        const [full, minimal] = server.requests
        assert.strictEqual(full!.method, "POST")
        assert.strictEqual(full!.url, "/v1/chat/completions")
        assert.strictEqual(full!.headers.authorization, `Bearer ${apiKey}`)
        assert.match(String(full!.headers["content-type"]), /^application\/json/)
        assert.strictEqual(full!.headers.accept, "application/json")
        assert.deepStrictEqual(full!.json, {
          model: "gpt-4o-mini",
          messages: [
            { role: "system", content: "Answer briefly." },
            { role: "user", content: "hi" },
            { role: "assistant", content: "hello" },
            { role: "user", content: "Capital of France?" }
          ],
          // the entry named openai is OpenAI: its output cap field (WIRE-openai-anthropic §1.2)
          max_completion_tokens: 100,
          temperature: 0.5,
          top_p: 0.8,
          stop: ["\n\n"]
        })
        // Unary: neither `stream` nor `stream_options`; unset settings are left out.
        assert.deepStrictEqual(minimal!.json, { model: "gpt-4o-mini", messages: [{ role: "user", content: "hi" }] })
      })
    ))

  it.scoped("a stream sends stream: true with stream_options.include_usage and asks for text/event-stream", () =>
    withServer((server, client) =>
      Effect.gen(function*() {
        server.enqueue(replaySse(framed(vai + "openai-text.chunks.txt")))
        yield* runStream(client, targetOf(server), fullRequest)
        const [request] = server.requests
        assert.strictEqual(request!.url, "/v1/chat/completions")
        assert.strictEqual(request!.headers.accept, "text/event-stream")
        const body = request!.json as Record<string, unknown>
        assert.strictEqual(body.stream, true)
        assert.deepStrictEqual(body.stream_options, { include_usage: true })
        assert.strictEqual(body.max_completion_tokens, 100)
      })
    ))

  it.scoped("no key configured (a local server): no Authorization header at all", () =>
    withServer((server, client) =>
      Effect.gen(function*() {
        server.enqueue(unary(), replaySse(framed(vai + "openai-text.chunks.txt")))
        yield* client.generate(targetOf(server, { apiKey: undefined }), hello)
        yield* runStream(client, targetOf(server, { apiKey: undefined }))
        for (const request of server.requests) assert.isUndefined(request.headers.authorization)
      })
    ))

  it.scoped("extra headers from config are sent (OpenRouter's X-Title, HTTP-Referer) and, with the key, are secret headers", () =>
    withServer((server, client) =>
      Effect.gen(function*() {
        server.enqueue(unary())
        const target = targetOf(server, { headers: [["X-Title", "my-app"], ["HTTP-Referer", "https://example.org"]] })
        yield* client.generate(target, hello)
        const [request] = server.requests
        assert.strictEqual(request!.headers["x-title"], "my-app")
        assert.strictEqual(request!.headers["http-referer"], "https://example.org")
        const prepared = Request.make(target, hello, false)
        assert.deepStrictEqual(prepared.secretHeaders, ["x-title", "http-referer", "authorization"])
        const names = yield* FiberRef.get(Headers.currentRedactedNames)
        const shown = Headers.redact(prepared.request.headers, [...names, ...prepared.secretHeaders])
        for (const name of prepared.secretHeaders) assert.isTrue(Redacted.isRedacted(shown[name]), name)
        assert.deepStrictEqual(Request.make(targetOf(server, { apiKey: undefined }), hello, false).secretHeaders, [])
      })
    ))

  it.scoped("an endpoint's max_tokens_field: max_completion_tokens carries the output cap in that field", () =>
    withServer((server, client) =>
      Effect.gen(function*() {
        server.enqueue(unary())
        yield* client.generate(targetOf(server, { maxTokensField: "max_completion_tokens" }), fullRequest)
        const body = server.requests[0]!.json as Record<string, unknown>
        assert.strictEqual(body.max_completion_tokens, 100)
        assert.isUndefined(body.max_tokens)
      })
    ))

  it("the output cap's field: max_completion_tokens for the openai entry, api.openai.com and Azure, max_tokens elsewhere, the endpoint's option first", () => {
    const endpoint = (baseUrl: string, maxTokensField?: "max_tokens" | "max_completion_tokens") => ({
      name: "e",
      baseUrl,
      region: undefined,
      ...(maxTokensField !== undefined ? { maxTokensField } : {})
    })
    assert.strictEqual(Request.maxTokensField(endpoint("https://api.openai.com/v1")), "max_completion_tokens")
    assert.strictEqual(Request.maxTokensField(endpoint("https://API.OpenAI.com/v1/")), "max_completion_tokens")
    assert.strictEqual(
      Request.maxTokensField(endpoint("https://my-res.openai.azure.com/openai/v1")),
      "max_completion_tokens"
    )
    for (
      const base of [
        "https://api.deepseek.com",
        "https://ark.cn-beijing.volces.com/api/v3",
        "https://dashscope-intl.aliyuncs.com/compatible-mode/v1",
        "https://openrouter.ai/api/v1",
        "https://api.groq.com/openai/v1",
        "http://localhost:11434/v1"
      ]
    ) assert.strictEqual(Request.maxTokensField(endpoint(base)), "max_tokens", base)
    assert.strictEqual(Request.maxTokensField(endpoint("https://api.openai.com/v1", "max_tokens")), "max_tokens")
    // the provider entry named openai is the OpenAI service wherever it points (a test server, a proxy);
    // any other name goes by the host
    assert.strictEqual(Request.maxTokensField(endpoint("http://127.0.0.1:8080/v1"), "openai"), "max_completion_tokens")
    assert.strictEqual(Request.maxTokensField(endpoint("http://127.0.0.1:8080/v1"), "deepseek"), "max_tokens")
    assert.strictEqual(Request.maxTokensField(endpoint("http://127.0.0.1:8080/v1"), "local"), "max_tokens")
    assert.strictEqual(
      Request.maxTokensField(endpoint("http://127.0.0.1:8080/v1", "max_tokens"), "openai"),
      "max_tokens"
    )
    assert.strictEqual(
      Request.maxTokensField(endpoint("https://openrouter.ai/api/v1", "max_completion_tokens")),
      "max_completion_tokens"
    )
  })

  it("encode: the system text first, text parts joined, an empty stop list left out", () => {
    const body = Request.encode(
      "deepseek-chat",
      { ...hello, system: "sys", messages: [{ role: "user", parts: [text("a"), text("b")] }], stop: [] },
      false
    )
    assert.deepStrictEqual(body, {
      model: "deepseek-chat",
      messages: [{ role: "system", content: "sys" }, { role: "user", content: "ab" }]
    })
  })

  it("check: temperature within [0, 2], both ends included", () => {
    for (const temperature of [0, 1, 2]) assert.isUndefined(OpenAI.protocol.check({ ...hello, temperature }, "m"))
    for (const temperature of [-0.1, 2.01, Number.NaN]) {
      const refused = OpenAI.protocol.check({ ...hello, temperature }, "m")
      assert.strictEqual(refused?.reason, "invalid_request")
      assert.match(refused!.message, /temperature must be within \[0, 2\]/)
    }
  })

  it("the protocol: no key required, OPENAI_API_KEY / DEEPSEEK_API_KEY / ARK_API_KEY by entry name", () => {
    assert.isFalse(OpenAI.protocol.requiresApiKey)
    assert.isFalse(OpenAI.protocol.requiresMaxOutputTokens)
    assert.deepStrictEqual(OpenAI.protocol.keyVariables("openai"), ["OPENAI_API_KEY"])
    assert.deepStrictEqual(OpenAI.protocol.keyVariables("deepseek"), ["DEEPSEEK_API_KEY"])
    assert.deepStrictEqual(OpenAI.protocol.keyVariables("ark"), ["ARK_API_KEY"])
    assert.deepStrictEqual(OpenAI.protocol.keyVariables("my-local.llm"), ["MY_LOCAL_LLM_API_KEY"])
  })
})
