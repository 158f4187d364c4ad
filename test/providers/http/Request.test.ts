import { assert, describe, it } from "@effect/vitest"
import * as Redacted from "effect/Redacted"
import * as AnthropicRequest from "../../../src/providers/anthropic/Request.js"
import * as DashScopeRequest from "../../../src/providers/dashscope/Request.js"
import * as GeminiRequest from "../../../src/providers/gemini/Request.js"
import * as Request from "../../../src/providers/http/Request.js"
import type { ProviderTarget } from "../../../src/providers/Provider.js"

const target = (
  apiKey: string | undefined,
  headers: ReadonlyArray<readonly [string, string]> = []
): ProviderTarget => ({
  provider: "local",
  endpoint: { name: "local-1", baseUrl: "http://127.0.0.1:1/v1/", region: undefined },
  modelId: "m",
  apiKey: apiKey === undefined ? undefined : Redacted.make(apiKey),
  headers: headers.map(([name, value]) => [name, Redacted.make(value)] as const)
})

describe("Request.jsonPost", () => {
  it("sets the key in the protocol's header after its prefix, the extra headers, a JSON body; names the secret headers", () => {
    const { request, secretHeaders } = Request.jsonPost(target("sk-1", [["X-Title", "my-app"], ["X-Team", "t-9"]]), {
      url: Request.joinUrl("http://127.0.0.1:1/v1//", "/chat"),
      body: { hello: "world" },
      apiKeyHeader: { name: "Authorization", prefix: "Bearer " },
      accept: "sse",
      headers: { "X-Protocol": "1", "x-title": "protocol default" }
    })
    assert.strictEqual(request.method, "POST")
    assert.strictEqual(request.url, "http://127.0.0.1:1/v1/chat")
    assert.strictEqual(request.headers.authorization, "Bearer sk-1")
    assert.strictEqual(request.headers.accept, "text/event-stream")
    assert.strictEqual(request.headers["x-protocol"], "1")
    // The entry's extra headers override the protocol's defaults.
    assert.strictEqual(request.headers["x-title"], "my-app")
    assert.strictEqual(request.headers["x-team"], "t-9")
    assert.strictEqual(request.body._tag, "Uint8Array")
    assert.deepStrictEqual(JSON.parse(new TextDecoder().decode((request.body as { body: Uint8Array }).body)), {
      hello: "world"
    })
    assert.deepStrictEqual([...secretHeaders].sort(), ["authorization", "x-team", "x-title"])
  })

  it("sends no auth header when the target has no key", () => {
    const { request, secretHeaders } = Request.jsonPost(target(undefined), {
      url: "http://127.0.0.1:1/v1/chat",
      urlParams: { alt: "sse" },
      body: {},
      apiKeyHeader: { name: "x-goog-api-key" },
      accept: "json"
    })
    assert.isUndefined(request.headers["x-goog-api-key"])
    assert.strictEqual(request.headers.accept, "application/json")
    assert.deepStrictEqual(secretHeaders, [])
    assert.deepStrictEqual(request.urlParams, [["alt", "sse"]])
  })
})

describe("Request.joinUrl", () => {
  it("appends the path to the base URL's path and keeps its query (Azure's api-version, a gateway token); drops a fragment", () => {
    assert.strictEqual(Request.joinUrl("http://127.0.0.1:1/v1//", "/chat"), "http://127.0.0.1:1/v1/chat")
    assert.strictEqual(
      Request.joinUrl("http://127.0.0.1:1/openai/deployments/d1?api-version=2024-10-21", "/chat/completions"),
      "http://127.0.0.1:1/openai/deployments/d1/chat/completions?api-version=2024-10-21"
    )
    assert.strictEqual(
      Request.joinUrl("http://127.0.0.1:1/p/?token=X&b=2#top", "/v1/messages"),
      "http://127.0.0.1:1/p/v1/messages?token=X&b=2"
    )
    assert.strictEqual(Request.joinUrl("http://127.0.0.1:1#top", "/v1"), "http://127.0.0.1:1/v1")
  })

  it("a base URL written with the protocol's version path does not get it twice (WIRE.md writes DashScope's base as …/api/v1)", () => {
    const cases: ReadonlyArray<readonly [string, string]> = [
      [
        GeminiRequest.methodUrl("http://127.0.0.1:1/v1beta/", "gemini-2.5-flash", "generateContent"),
        "http://127.0.0.1:1/v1beta/models/gemini-2.5-flash:generateContent"
      ],
      [
        GeminiRequest.methodUrl("http://127.0.0.1:1", "gemini-2.5-flash", "generateContent"),
        "http://127.0.0.1:1/v1beta/models/gemini-2.5-flash:generateContent"
      ],
      // another Gemini API version ending the base (pasted from Google's docs) is kept, not doubled
      [
        GeminiRequest.methodUrl("http://127.0.0.1:1/v1", "gemini-2.5-flash", "generateContent"),
        "http://127.0.0.1:1/v1/models/gemini-2.5-flash:generateContent"
      ],
      [
        GeminiRequest.methodUrl("http://127.0.0.1:1/gw/v1alpha/?k=1", "gemini-2.5-flash", "streamGenerateContent"),
        "http://127.0.0.1:1/gw/v1alpha/models/gemini-2.5-flash:streamGenerateContent?k=1"
      ],
      [
        GeminiRequest.methodUrl("http://127.0.0.1:1/gw-v1", "gemini-2.5-flash", "generateContent"),
        "http://127.0.0.1:1/gw-v1/v1beta/models/gemini-2.5-flash:generateContent"
      ],
      [
        Request.joinUrl("http://127.0.0.1:1/api/v1", DashScopeRequest.generationPath, "/api/v1"),
        "http://127.0.0.1:1/api/v1/services/aigc/text-generation/generation"
      ],
      [
        Request.joinUrl("http://127.0.0.1:1/v1?k=1", AnthropicRequest.messagesPath, "/v1"),
        "http://127.0.0.1:1/v1/messages?k=1"
      ],
      // only a whole trailing segment is the version: a proxy's own path is kept
      [
        Request.joinUrl("http://127.0.0.1:1/proxy", AnthropicRequest.messagesPath, "/v1"),
        "http://127.0.0.1:1/proxy/v1/messages"
      ]
    ]
    for (const [url, expected] of cases) assert.strictEqual(url, expected)
  })
})
