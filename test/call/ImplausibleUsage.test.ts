/**
 * A provider's usage report is taken only when it is one a service could make: a negative,
 * non-finite or absurd count is treated as no report (the call settled at its bound, with a warning),
 * so a misbehaving server can neither lower the day's spend (negative cost) nor poison it (an
 * infinite cost refusing every later call). Fractional counts round up.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Logger from "effect/Logger"
import * as Stream from "effect/Stream"
import {
  generate,
  Ledger,
  makeLiveLayer,
  makeMockProviders,
  makeTestLayer,
  stream,
  testConfig
} from "../../src/index.js"
import * as Loopback from "../support/LoopbackServer.js"

const config = { ...testConfig, budget: { daily_spend_limit: 1, default_max_output_tokens: 100 } }

const layerAnswering = (usage: Record<string, number>) =>
  makeTestLayer({
    config,
    providers: makeMockProviders({ otherwise: { content: "four bytes", deltas: ["four", " bytes"], usage } })
  })

/** Runs a unary call and a stream; returns the ledger's settlements and the day's spend, and the warnings logged. */
const settle = (usage: Record<string, number>) =>
  Effect.gen(function*() {
    const warnings: Array<string> = []
    const logger = Logger.make(({ logLevel, message }) => {
      if (logLevel._tag === "Warning") warnings.push(String(message))
    })
    const result = yield* Effect.gen(function*() {
      const unary = yield* generate({ prompt: "hi", fullResponse: true })
      yield* Stream.runDrain(stream({ prompt: "hi" }))
      const ledger = yield* Ledger
      const settlements = (yield* ledger.events()).filter((event) => event.type !== "hold")
      return { unary, settlements, spend: yield* ledger.spendToday() }
    }).pipe(Effect.provide(Logger.replace(Logger.defaultLogger, logger)), Effect.provide(layerAnswering(usage)))
    return { ...result, warnings }
  })

describe("an impossible usage report is no report", () => {
  for (
    const [name, usage] of [
      ["negative counts", { inputTokens: -1_000_000, outputTokens: -1_000_000, totalTokens: -2_000_000 }],
      ["counts of 1e308", { inputTokens: 1e308, outputTokens: 1e308, totalTokens: 1e308 }],
      ["a NaN total", { inputTokens: 3, outputTokens: 2, totalTokens: NaN }]
    ] as const
  ) {
    it.effect(`${name}: settled at the bound (finite, positive), the row without usage, a warning (unary and streamed)`, () =>
      Effect.gen(function*() {
        const { settlements, spend, unary, warnings } = yield* settle(usage)
        assert.strictEqual(settlements.length, 2)
        for (const settlement of settlements) {
          assert.strictEqual(settlement.type, "commit")
          assert.isTrue(Number.isFinite(settlement.cost) && settlement.cost > 0, String(settlement.cost))
          assert.isUndefined(settlement.usage)
        }
        assert.isTrue(Number.isFinite(spend) && spend > 0, String(spend))
        // the answer's usage is the bound it was priced at, never the impossible report
        assert.isTrue(unary.usage.inputTokens > 0 && unary.usage.outputTokens === 10, JSON.stringify(unary.usage))
        // one for the unary call, one for the stream
        assert.lengthOf(
          warnings.filter((w) => w.includes("reported an impossible token usage")),
          2,
          warnings.join("\n")
        )
      }))
  }

  it.effect("fractional counts round up; an impossible cached count is dropped, the rest kept", () =>
    Effect.gen(function*() {
      const { settlements, unary, warnings } = yield* settle({
        inputTokens: 1.5,
        outputTokens: 2.2,
        totalTokens: 3.7,
        cachedInputTokens: -50
      })
      assert.deepStrictEqual(
        { ...unary.usage },
        { inputTokens: 2, outputTokens: 3, totalTokens: 4 }
      )
      for (const settlement of settlements) assert.strictEqual(settlement.usage?.outputTokens, 3)
      assert.deepStrictEqual(warnings, [])
    }))

  it.effect("a part larger than the count that includes it is cut to it (OpenRouter: 11 reasoning tokens in 10 output)", () =>
    Effect.gen(function*() {
      const { settlements, unary, warnings } = yield* settle({
        inputTokens: 20,
        outputTokens: 10,
        totalTokens: 30,
        reasoningTokens: 11,
        cachedInputTokens: 30,
        cacheWriteTokens: 5
      })
      const expected = {
        inputTokens: 20,
        outputTokens: 10,
        totalTokens: 30,
        cachedInputTokens: 20,
        cacheWriteTokens: 0,
        reasoningTokens: 10
      }
      assert.deepStrictEqual({ ...unary.usage }, expected)
      for (const settlement of settlements) assert.deepStrictEqual({ ...settlement.usage }, expected)
      assert.deepStrictEqual(warnings, [])
    }))
})

/**
 * Over the wire, a stream's last report decides: one that is impossible, or that never says the input,
 * is none (the call settles at its bound), never an earlier report that counts none of the text after it.
 */
describe("a stream's last usage report", () => {
  const pricing = { input_per_1m: 1, output_per_1m: 10 }
  const layerFor = (url: string) =>
    makeLiveLayer({
      config: {
        default_model: "claude",
        providers: {
          google: { api_key: "implausible-google-key", endpoints: [{ name: "g", base_url: url }] },
          anthropic: { api_key: "sk-ant-api03-implausible-0123", endpoints: [{ name: "a", base_url: url }] },
          dashscope: { api_key: "implausible-dashscope-key", endpoints: [{ name: "d", base_url: url }] }
        },
        models: {
          flash: { provider: "google", model_id: "gemini-2.5-flash", pricing },
          qwen: { provider: "dashscope", model_id: "qwen-plus", pricing },
          claude: { provider: "anthropic", model_id: "claude-haiku-4-5", pricing }
        },
        resilience: { max_retries: 0 },
        budget: { daily_spend_limit: 1, default_max_output_tokens: 1000 },
        ledger: { backend: "memory" }
      },
      userConfig: false
    })
  const sse = { "content-type": "text/event-stream; charset=utf-8" }
  const data = (json: unknown) => `data: ${JSON.stringify(json)}\n\n`
  const named = (event: string, json: unknown) => `event: ${event}\n${data(json)}`
  // 40 bytes: settled at its bound, the answer counts 40 output tokens
  const answer = "The quick brown fox jumps over the dog. "
  const claude = (start: Record<string, number>, final: Record<string, number>) =>
    named("message_start", {
      type: "message_start",
      message: { id: "msg_1", type: "message", role: "assistant", model: "claude-haiku-4-5", content: [], usage: start }
    }) +
    named("content_block_start", { type: "content_block_start", index: 0, content_block: { type: "text", text: "" } }) +
    named("content_block_delta", {
      type: "content_block_delta",
      index: 0,
      delta: { type: "text_delta", text: answer }
    }) +
    named("content_block_stop", { type: "content_block_stop", index: 0 }) +
    named("message_delta", { type: "message_delta", delta: { stop_reason: "end_turn" }, usage: final }) +
    named("message_stop", { type: "message_stop" })
  // a whole snapshot on a chunk before the last (a proxy's), then an impossible final one
  const flash = data({
    candidates: [{ content: { role: "model", parts: [{ text: answer.slice(0, 4) }] } }],
    usageMetadata: { promptTokenCount: 7, candidatesTokenCount: 1, totalTokenCount: 8 }
  }) + data({
    candidates: [{ content: { role: "model", parts: [{ text: answer.slice(4) }] }, finishReason: "STOP" }],
    usageMetadata: { promptTokenCount: 7, candidatesTokenCount: 3e9, totalTokenCount: 3e9 + 7 }
  })

  // DashScope's native stream: cumulative usage on every event; here none says the input
  const qwen = [answer.slice(0, 4), answer.slice(4)].map((text, i) =>
    `id:${i + 1}\nevent:result\n:HTTP_STATUS/200\n${
      data({
        output: {
          choices: [{ message: { content: text, role: "assistant" }, finish_reason: i === 0 ? "null" : "stop" }]
        },
        usage: { output_tokens: 1 + 39 * i, total_tokens: 1 + 39 * i },
        request_id: "ds-1"
      })
    }`
  ).join("")

  for (
    const [name, model, body] of [
      ["DashScope: no input_tokens in any event", "qwen", qwen],
      [
        "Anthropic: message_delta's output of 3e9",
        "claude",
        claude({ input_tokens: 7, output_tokens: 1 }, { output_tokens: 3e9 })
      ],
      [
        "Anthropic: message_delta's output of -1",
        "claude",
        claude({ input_tokens: 7, output_tokens: 1 }, { output_tokens: -1 })
      ],
      ["Anthropic: no input_tokens anywhere", "claude", claude({ output_tokens: 1 }, { output_tokens: 40 })],
      ["Gemini: a whole snapshot, then an impossible final report", "flash", flash]
    ] as const
  ) {
    it.effect(`${name}: settled at the bound of the whole answer, not at an earlier report`, () =>
      Effect.gen(function*() {
        const server = yield* Loopback.make
        server.enqueue({ status: 200, headers: sse, body })
        const commit = yield* Effect.gen(function*() {
          const text = yield* Stream.runFold(
            stream({ prompt: "x", model }),
            "",
            (all, event) => all + (event.delta ?? "")
          )
          assert.strictEqual(text, answer)
          const events = yield* (yield* Ledger).events()
          return events.find((event) => event.type === "commit")
        }).pipe(Effect.provide(layerFor(server.url)))
        assert.isUndefined(commit?.usage)
        // at least the 40 output tokens the answer's bytes bound, at $10 per million
        assert.isAtLeast(commit!.cost, 40 * 10 / 1e6)
      }).pipe(Effect.scoped))
  }
})
