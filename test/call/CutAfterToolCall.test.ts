/**
 * A tool call is handed over with the finish (API.md §10), so a stream cut after a call arrived but
 * before its finish (Gemini sends each call whole, then a finish chunk) showed its caller nothing:
 * it is retried as any cut before the first delta (API.md §7), and the tool runs once.
 */
import { LanguageModel, Tool, Toolkit } from "@effect/ai"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import * as EffectLlmAi from "../../src/ai.js"
import { Ledger, makeLiveLayer } from "../../src/index.js"
import * as Loopback from "../support/LoopbackServer.js"

const Weather = Tool.make("weather", { parameters: { location: Schema.String }, success: Schema.String })
const toolkit = Toolkit.make(Weather)

// The recorded Gemini 3 tool call: the call's chunk, then the finish chunk with usage.
const [callChunk, finishChunk] = Loopback.readFixture("vercel-ai-tools/google/google-tool-call.chunks.txt")
  .toString("utf8").trim().split("\n").map((line) => `data: ${line}\r\n\r\n`)
const sse = { "content-type": "text/event-stream" }

const layerFor = (url: string, maxRetries = 1) =>
  EffectLlmAi.layer({ model: "g" }).pipe(Layer.provideMerge(makeLiveLayer({
    config: {
      default_model: "g",
      providers: { google: { api_key: "cut-tool-test-key-0123", endpoints: [{ name: "a", base_url: url }] } },
      models: {
        g: { provider: "google", model_id: "gemini-3-pro-preview", pricing: { input_per_1m: 1, output_per_1m: 2 } }
      },
      resilience: { max_retries: maxRetries, base_delay_s: 0.001, max_delay_s: 0.001 },
      ledger: { backend: "memory" }
    },
    userConfig: false
  })))

describe("a stream cut after a whole tool call, before its finish", () => {
  it.live("is retried: the answer's call runs once, the call settles once", () =>
    Effect.gen(function*() {
      const server = yield* Loopback.make
      server.enqueue({ headers: sse, body: [callChunk!], end: "destroy" }, {
        headers: sse,
        body: callChunk! + finishChunk!
      })
      let runs = 0
      const handlers = toolkit.toLayer({ weather: () => Effect.sync(() => (runs++, "sunny")) })
      const { parts, settlements } = yield* Effect.gen(function*() {
        const parts = yield* Stream.runCollect(LanguageModel.streamText({ prompt: "weather?", toolkit }))
        const events = yield* Effect.flatMap(Ledger, (ledger) => ledger.events())
        return { parts: [...parts], settlements: events.filter((event) => event.type !== "hold") }
      }).pipe(Effect.provide(Layer.merge(layerFor(server.url), handlers)))
      assert.strictEqual(server.requests.length, 2)
      assert.deepStrictEqual(
        parts.filter((part) => part.type === "tool-call").map((part) => part.type === "tool-call" && part.params),
        [{ location: "San Francisco" }]
      )
      assert.strictEqual(runs, 1)
      assert.deepStrictEqual(settlements.map((event) => [event.type, event.attempts]), [["commit", 2]])
    }).pipe(Effect.scoped))

  it.live("the cut attempt is still billed for the call it received (no usage beside it): as much as the same cut settled alone", () =>
    Effect.gen(function*() {
      const server = yield* Loopback.make
      const { usageMetadata: _, ...withoutUsage } = JSON.parse(callChunk!.slice("data: ".length))
      const noUsage = `data: ${JSON.stringify(withoutUsage)}\r\n\r\n`
      const handlers = toolkit.toLayer({ weather: () => Effect.succeed("sunny") })
      const costOf = (maxRetries: number) =>
        Effect.gen(function*() {
          yield* Effect.either(Stream.runDrain(LanguageModel.streamText({ prompt: "weather?", toolkit })))
          const events = yield* Effect.flatMap(Ledger, (ledger) => ledger.events())
          return events.find((event) => event.type !== "hold")!.cost
        }).pipe(Effect.provide(Layer.merge(layerFor(server.url, maxRetries), handlers)))
      const cut = { headers: sse, body: [noUsage], end: "destroy" as const }
      server.enqueue(cut)
      const alone = yield* costOf(0)
      server.enqueue({ headers: sse, body: callChunk! + finishChunk! })
      const answer = yield* costOf(0)
      server.enqueue(cut, { headers: sse, body: callChunk! + finishChunk! })
      const retried = yield* costOf(1)
      assert.isAbove(alone, 0)
      assert.closeTo(retried, answer + alone, 1e-12)
    }).pipe(Effect.scoped))
})
