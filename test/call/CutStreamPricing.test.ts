/**
 * A stream cut after its first delta is priced with everything it streamed (API.md §6, README
 * "Streaming"): reasoning deltas and a tool call's name and arguments count as output, one token per
 * byte, like text. (Cases found by mutation testing.)
 */
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import { Ledger, makeLiveLayer, stream } from "../../src/index.js"
import * as Loopback from "../support/LoopbackServer.js"

const sse = { "content-type": "text/event-stream; charset=utf-8" }
const layerFor = (url: string, limits?: Record<string, number>) =>
  makeLiveLayer({
    config: {
      default_model: "flash",
      providers: { google: { api_key: "stream-kill-key-123", endpoints: [{ name: "a", base_url: url }] } },
      models: {
        flash: {
          provider: "google",
          model_id: "gemini-2.5-flash",
          pricing: { input_per_1m: 1, output_per_1m: 10 },
          ...(limits === undefined ? {} : { limits })
        }
      },
      resilience: { max_retries: 0 },
      budget: { daily_spend_limit: 1, default_max_output_tokens: 1000 },
      ledger: { backend: "memory" }
    },
    userConfig: false
  })
const chunk = (part: Record<string, unknown>, usageMetadata?: Record<string, number>) =>
  `data: ${
    JSON.stringify({
      candidates: [{ content: { role: "model", parts: [part] } }],
      ...(usageMetadata === undefined ? {} : { usageMetadata })
    })
  }\r\n\r\n`

const cutAfter = (body: string, traceId: string) =>
  Effect.gen(function*() {
    const server = yield* Loopback.make
    server.enqueue(Loopback.replay(Buffer.from(body), { headers: sse }))
    return yield* Effect.gen(function*() {
      const error = yield* Stream.runDrain(stream({ prompt: "x", traceId })).pipe(Effect.flip)
      assert.strictEqual((error as { reason?: string }).reason, "stream_interrupted")
      const events = yield* (yield* Ledger).events({ traceId })
      return events.find((e) => e.type === "cancel")!
    }).pipe(Effect.provide(layerFor(server.url)))
  })

describe("a cut stream's price", () => {
  it.scoped("a stream cut after reasoning deltas prices the reasoning bytes", () =>
    Effect.gen(function*() {
      const cancel = yield* cutAfter(
        chunk({ text: "t".repeat(40), thought: true }) + chunk({ text: "Hi" }),
        "cut-reasoning"
      )
      assert.strictEqual(cancel.usage?.outputTokens, 42)
    }))
  it.scoped("a stream cut after a tool call prices the call's name and arguments", () =>
    Effect.gen(function*() {
      const cancel = yield* cutAfter(
        chunk({ text: "Hi" }) + chunk({ functionCall: { name: "lookup", args: { q: "x".repeat(30) } } }),
        "cut-tool"
      )
      assert.isAbove(cancel.usage?.outputTokens ?? 0, 30, JSON.stringify(cancel.usage))
    }))
  it.scoped("a stream cut after a report of more output than the cap sent is settled at the report (not the cap): its cancel, cost and rate-limit slot", () =>
    Effect.gen(function*() {
      const server = yield* Loopback.make
      // the cap sent is budget.default_max_output_tokens, 1,000; the service reports 1,500 output
      // tokens, streams 40 bytes more that no report counts, and the connection ends with no finish
      server.enqueue(Loopback.replay(
        Buffer.from(
          chunk({ text: "Hi" }, { promptTokenCount: 3, candidatesTokenCount: 1500, totalTokenCount: 1503 }) +
            chunk({ text: "t".repeat(40) })
        ),
        { headers: sse }
      ))
      yield* Effect.gen(function*() {
        const error = yield* Stream.runDrain(stream({ prompt: "x", traceId: "cut-over-cap" })).pipe(Effect.flip)
        assert.strictEqual((error as { reason?: string }).reason, "stream_interrupted")
        const sent = server.requests[0]!.json as { readonly generationConfig?: { readonly maxOutputTokens?: number } }
        assert.strictEqual(sent.generationConfig?.maxOutputTokens, 1000)
        const ledger = yield* Ledger
        const cancel = (yield* ledger.events({ traceId: "cut-over-cap" })).find((e) => e.type === "cancel")!
        assert.deepStrictEqual([cancel.usage?.inputTokens, cancel.usage?.outputTokens], [3, 1500])
        assert.closeTo(cancel.cost, (3 * 1 + 1500 * 10) / 1e6, 1e-12)
        // the slot keeps the tokens the report says were generated
        const [use] = yield* ledger.limitUse()
        assert.strictEqual(use?.tokensMinute, 1503)
      }).pipe(Effect.provide(layerFor(server.url, { tpm: 1_000_000 })))
    }))
})
