import * as Headers from "@effect/platform/Headers"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as FiberRef from "effect/FiberRef"
import * as Redacted from "effect/Redacted"
import * as DashScope from "../../../src/providers/dashscope/DashScope.js"
import * as Request from "../../../src/providers/dashscope/Request.js"
import type { ProviderTarget } from "../../../src/providers/Provider.js"
import { apiKey, collect, fullRequest, minimalRequest, replay, targetOf, withServer } from "./Harness.js"

describe("DashScope requests", () => {
  it.scoped("a unary call posts the native body with a Bearer key to the generation path", () =>
    withServer((server, client) =>
      Effect.gen(function*() {
        server.enqueue(replay("single-generation-message-nosse"), replay("single-generation-message-nosse"))
        yield* client.generate(targetOf(server), fullRequest)
        yield* client.generate(targetOf(server), minimalRequest)
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
    withServer((server, client) =>
      Effect.gen(function*() {
        server.enqueue(replay("single-generation-text-sse"))
        yield* collect(yield* client.stream(targetOf(server), fullRequest))
        const [request] = server.requests
        assert.strictEqual(request!.url, "/api/v1/services/aigc/text-generation/generation")
        assert.strictEqual(request!.headers.authorization, `Bearer ${apiKey}`)
        assert.strictEqual(request!.headers["x-dashscope-sse"], "enable")
        assert.strictEqual(request!.headers.accept, "text/event-stream")
        const body = request!.json as {
          input: { messages: Array<{ role: string }> }
          parameters: Record<string, unknown>
        }
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
    Effect.gen(function*() {
      const target: ProviderTarget = {
        provider: "dashscope",
        endpoint: { name: "dashscope-cn", baseUrl: "https://dashscope.aliyuncs.com//", region: "cn" },
        modelId: "qwen-plus",
        apiKey: Redacted.make(apiKey),
        headers: []
      }
      const { request, secretHeaders } = Request.make(target, minimalRequest, false)
      assert.strictEqual(request.url, "https://dashscope.aliyuncs.com/api/v1/services/aigc/text-generation/generation")
      assert.strictEqual(request.headers.authorization, `Bearer ${apiKey}`)
      assert.deepStrictEqual(secretHeaders, ["authorization"])
      const names = yield* FiberRef.get(Headers.currentRedactedNames)
      assert.isTrue(Redacted.isRedacted(Headers.redact(request.headers, names).authorization))
    }))

  it("an empty stop list is left out, like every unset parameter", () => {
    assert.deepStrictEqual(Request.encode("qwen-plus", { ...minimalRequest, stop: [] }, false).parameters, {
      result_format: "message"
    })
  })
})

describe("DashScope protocol", () => {
  it("needs a key, not an output cap; the key comes from <NAME>_API_KEY", () => {
    assert.strictEqual(DashScope.protocol.name, "dashscope")
    assert.isTrue(DashScope.protocol.requiresApiKey)
    assert.isFalse(DashScope.protocol.requiresMaxOutputTokens)
    assert.deepStrictEqual(DashScope.protocol.keyVariables("dashscope"), ["DASHSCOPE_API_KEY"])
    assert.deepStrictEqual(DashScope.protocol.keyVariables("qwen-intl"), ["QWEN_INTL_API_KEY"])
  })

  it("temperature must be within [0, 2): 2 and negatives are refused before any request, naming the value", () => {
    for (const temperature of [undefined, 0, 1, 1.99]) {
      assert.isUndefined(DashScope.protocol.check({ ...minimalRequest, temperature }, "qwen-plus"), String(temperature))
    }
    for (const temperature of [2, 2.5, -0.1]) {
      const error = DashScope.protocol.check({ ...minimalRequest, temperature }, "qwen-plus")
      assert.strictEqual(error?._tag, "FatalError")
      assert.strictEqual(error?.reason, "invalid_request")
      assert.include(error?.message, `got ${temperature}`)
      assert.include(error?.message, "[0, 2)")
    }
  })
})
