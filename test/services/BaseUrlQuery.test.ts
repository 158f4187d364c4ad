/**
 * A `base_url` with a query string (Azure OpenAI's `?api-version=`, a gateway's token): the protocol's
 * path goes after the base URL's path and the query is kept, on the unary and the stream path.
 */
import { assert, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import { generate, makeLiveLayer, stream } from "../../src/index.js"
import * as Loopback from "../support/LoopbackServer.js"
import * as RecordingTracer from "../support/RecordingTracer.js"

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

it.scoped("a query token written with '+' is removed in every form: the HTTP span's URL, a server's decoded echo (API.md §14)", () =>
  Effect.gen(function*() {
    const server = yield* Loopback.make
    const written = "tok+plus%2Fsecret+777"
    const forms = [written, "tok+plus/secret+777", "tok plus/secret 777", "plus%2Fsecret"]
    server.setDefault((request) => ({
      status: 400,
      headers: json,
      body: JSON.stringify({
        error: {
          message: `bad token ${new URL(request.url, "http://x").searchParams.get("token")}`,
          type: "invalid_request_error"
        }
      })
    }))
    const recording = RecordingTracer.make()
    const layer = makeLiveLayer({
      userConfig: false,
      config: {
        providers: {
          gw: {
            protocol: "openai",
            api_key: "gw-key-0123456789",
            endpoints: [{ name: "gw", base_url: `${server.url}/v1?token=${written}` }]
          }
        },
        models: { m: { provider: "gw", model_id: "gpt-4o-mini" } },
        ledger: { backend: "memory" }
      }
    })
    const error = yield* Effect.flip(generate({ prompt: "hi" })).pipe(
      Effect.provide(layer),
      Effect.withTracer(recording.tracer)
    )
    assert.include(error.message, "bad token <redacted>")
    const [http] = recording.spans.filter((span) => span.name.startsWith("http.client"))
    assert.strictEqual(http!.attributes.get("url.query"), "token=<redacted>")
    const shown = [error.message, String(http!.attributes.get("url.full"))]
    for (const text of shown) for (const form of forms) assert.notInclude(text, form)
  }))

it.scoped("a key a gateway takes in the base_url's path is removed from the HTTP span's url.path and url.full (API.md §14)", () =>
  Effect.gen(function*() {
    const server = yield* Loopback.make
    const key = "gw-path-key-0123456789"
    server.setDefault(() => ({
      headers: json,
      body: completion
    }))
    const recording = RecordingTracer.make()
    const layer = makeLiveLayer({
      userConfig: false,
      config: {
        providers: {
          gw: { protocol: "openai", api_key: key, endpoints: [{ name: "gw", base_url: `${server.url}/k/${key}/v1` }] }
        },
        models: { m: { provider: "gw", model_id: "gpt-4o-mini" } },
        ledger: { backend: "memory" }
      }
    })
    assert.strictEqual(
      yield* generate({ prompt: "hi" }).pipe(Effect.provide(layer), Effect.withTracer(recording.tracer)),
      "hello"
    )
    assert.strictEqual(server.requests[0]!.url, `/k/${key}/v1/chat/completions`) // sent as configured
    const [http] = recording.spans.filter((span) => span.name.startsWith("http.client"))
    assert.strictEqual(http!.attributes.get("url.path"), "/k/<redacted>/v1/chat/completions")
    assert.notInclude(String(http!.attributes.get("url.full")), key)
  }))
