/**
 * A `base_url` with a query string (Azure OpenAI's `?api-version=`, a gateway's token): the protocol's
 * path goes after the base URL's path and the query is kept, on the unary and the stream path.
 */
import { assert, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import { generate, makeLiveLayer, stream } from "../../src/index.js"
import * as Loopback from "../support/LoopbackServer.js"

const json = { "content-type": "application/json" }
const completion = JSON.stringify({
  id: "chatcmpl-1",
  object: "chat.completion",
  model: "gpt-4o-mini",
  choices: [{ index: 0, message: { role: "assistant", content: "hello" }, finish_reason: "stop" }],
  usage: { prompt_tokens: 3, completion_tokens: 1, total_tokens: 4 }
})
const geminiStream = Loopback.readFixture("vertexai-sdk-test-data/googleai/streaming-success-basic-reply-short.txt")

it.scoped("the protocol's path goes before the base URL's query, which is kept (OpenAI unary, Gemini stream)", () =>
  Effect.gen(function*() {
    const server = yield* Loopback.make
    server.enqueue({ headers: json, body: completion })
    server.enqueue({ headers: { "content-type": "text/event-stream" }, body: geminiStream })
    const layer = makeLiveLayer({
      userConfig: false,
      config: {
        default_model: "azure",
        providers: {
          azure: {
            protocol: "openai",
            api_key: "azure-key-0123456789",
            endpoints: [{ name: "az", base_url: `${server.url}/openai/deployments/d1?api-version=2024-10-21` }]
          },
          google: {
            api_key: "AIza-test-key-0123456789",
            endpoints: [{ name: "g", base_url: `${server.url}/gw?token=gw-secret-42` }]
          }
        },
        models: {
          azure: { provider: "azure", model_id: "gpt-4o-mini" },
          flash: { provider: "google", model_id: "gemini-2.5-flash" }
        },
        ledger: { backend: "memory" }
      }
    })
    yield* Effect.gen(function*() {
      assert.strictEqual(yield* generate({ prompt: "hi" }), "hello")
      yield* Stream.runDrain(stream({ prompt: "hi", model: "flash" }))
    }).pipe(Effect.provide(layer))
    assert.strictEqual(server.requests[0]!.url, "/openai/deployments/d1/chat/completions?api-version=2024-10-21")
    const streamed = new URL(server.requests[1]!.url, "http://x")
    assert.strictEqual(streamed.pathname, "/gw/v1beta/models/gemini-2.5-flash:streamGenerateContent")
    assert.strictEqual(streamed.searchParams.get("token"), "gw-secret-42")
    assert.strictEqual(streamed.searchParams.get("alt"), "sse")
  }))
