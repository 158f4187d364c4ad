/**
 * Images and files through `generate` (API.md §9): a part reaches the wire in the protocol's form and
 * the call is settled; a part the protocol cannot carry, or a malformed one, is `invalid_request`
 * naming it — with no request sent and nothing written to the ledger; and an image is held at its
 * conservative figure, so a budget too small for it refuses the call before it is sent.
 */
import * as HttpClient from "@effect/platform/HttpClient"
import type * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { generate, Ledger, type LLMClient, makeLiveLayer } from "../../src/index.js"

const png = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="

interface Sent {
  readonly url: string
  readonly body: Record<string, unknown>
}

/** A client answering like Gemini (or DashScope), remembering what it was sent. */
const capturing = (sent: Array<Sent>) =>
  Layer.succeed(
    HttpClient.HttpClient,
    HttpClient.make((request: HttpClientRequest.HttpClientRequest) =>
      Effect.sync(() => {
        const body = request.body._tag === "Uint8Array" ? new TextDecoder().decode(request.body.body) : "{}"
        sent.push({ url: request.url, body: JSON.parse(body) as Record<string, unknown> })
        const answer = request.url.includes("/dashscope")
          ? {
            request_id: "r1",
            output: {
              choices: [{ finish_reason: "stop", message: { role: "assistant", content: [{ text: "a cat" }] } }]
            },
            usage: { input_tokens: 1300, output_tokens: 3 }
          }
          : {
            candidates: [{ content: { role: "model", parts: [{ text: "a cat" }] }, finishReason: "STOP" }],
            usageMetadata: { promptTokenCount: 1300, candidatesTokenCount: 3, totalTokenCount: 1303 }
          }
        return HttpClientResponse.fromWeb(
          request,
          new Response(JSON.stringify(answer), { status: 200, headers: { "content-type": "application/json" } })
        )
      })
    )
  )

const config = (budget: Record<string, unknown> = {}) => ({
  default_model: "flash",
  providers: {
    google: { api_key: "content-test-key-123", endpoints: [{ name: "g", base_url: "http://127.0.0.1:9" }] },
    dashscope: {
      api_key: "content-test-key-456",
      endpoints: [{ name: "d", base_url: "http://127.0.0.1:9/dashscope", region: "cn" }]
    }
  },
  models: {
    flash: { provider: "google", model_id: "gemini-2.5-flash", pricing: { input_per_1m: 1, output_per_1m: 4 } },
    vl: { provider: "dashscope", model_id: "qwen-vl-max", pricing: { input_per_1m: 1, output_per_1m: 4 } }
  },
  budget: { default_max_output_tokens: 100, ...budget },
  resilience: { max_retries: 0 },
  ledger: { backend: "memory" }
})

const withLayer = <A, E>(
  effect: Effect.Effect<A, E, Ledger | LLMClient>,
  sent: Array<Sent>,
  budget?: Record<string, unknown>
) =>
  effect.pipe(Effect.provide(makeLiveLayer({ config: config(budget), userConfig: false, httpClient: capturing(sent) })))

describe("content parts through generate", () => {
  it.effect("an image reaches Gemini as inlineData and DashScope's multimodal endpoint as an image item; both settle", () => {
    const sent: Array<Sent> = []
    return withLayer(
      Effect.gen(function*() {
        const content = [{ type: "text" as const, text: "What is this?" }, {
          type: "image" as const,
          data: Buffer.from(png, "base64"),
          mediaType: "image/png"
        }]
        const gemini = yield* generate({ messages: [{ role: "user", content }] })
        const qwen = yield* generate({ model: "vl", messages: [{ role: "user", content }] })
        assert.strictEqual(gemini, "a cat")
        assert.strictEqual(qwen, "a cat")
        const contents = sent[0]!.body.contents as Array<{ parts: Array<unknown> }>
        assert.deepStrictEqual(contents[0]!.parts, [{ text: "What is this?" }, {
          inlineData: { mimeType: "image/png", data: png }
        }])
        assert.include(sent[1]!.url, "multimodal-generation")
        assert.include(JSON.stringify(sent[1]!.body), `data:image/png;base64,${png}`)
        const events = yield* (yield* Ledger).events()
        assert.deepStrictEqual(events.filter((event) => event.type === "commit").map((event) => event.alias), [
          "flash",
          "vl"
        ])
      }),
      sent
    )
  })

  it.effect("a part the protocol cannot carry, or a malformed one, is refused by position: nothing sent, nothing held", () => {
    const sent: Array<Sent> = []
    return withLayer(
      Effect.gen(function*() {
        const gif = yield* Effect.flip(generate({
          messages: [{
            role: "user",
            content: [{ type: "text", text: "look" }, {
              type: "image",
              data: "R0lGODlhAQABAAAAACw=",
              mediaType: "image/gif"
            }]
          }]
        }))
        assert.strictEqual(gif._tag, "FatalError")
        assert.strictEqual(gif._tag === "FatalError" && gif.reason, "invalid_request")
        assert.include(gif.message, "messages[0].content[1]")
        assert.include(gif.message, "image/gif")
        const plain = yield* Effect.flip(generate({
          messages: [{ role: "user", content: [{ type: "image", url: "http://example.com/cat.png" }] }]
        }))
        assert.include(plain.message, "messages[0].content[0]")
        assert.strictEqual(sent.length, 0)
        assert.deepStrictEqual(yield* (yield* Ledger).events(), [])
      }),
      sent
    )
  })

  it.effect("an image is held at its figure: a budget that admits the text alone refuses it with the image", () => {
    const sent: Array<Sent> = []
    // Text alone: ~(8 + 8 + 13 tokens) × $1/M + 100 × $4/M ≈ $0.00043; with an image of unknown
    // size (16,384 tokens held) ≈ $0.0168.
    return withLayer(
      Effect.gen(function*() {
        yield* generate({ prompt: "What is this?" })
        const refused = yield* Effect.flip(generate({
          messages: [{
            role: "user",
            content: [{ type: "text", text: "What is this?" }, { type: "image", url: "https://example.com/cat.png" }]
          }]
        }))
        assert.strictEqual(refused._tag, "BudgetExceededError")
        assert.strictEqual(sent.length, 1)
      }),
      sent,
      { daily_spend_limit: 0.01 }
    )
  })
})
