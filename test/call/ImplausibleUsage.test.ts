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
import { generate, Ledger, makeMockProviders, makeTestLayer, stream, testConfig } from "../../src/index.js"

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
    it.effect(`${name}: settled at the bound (finite, positive), the row without usage, a warning`, () =>
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
        assert.isTrue(warnings.some((w) => w.includes("reported an impossible token usage")), warnings.join("\n"))
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
