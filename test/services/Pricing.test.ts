import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Logger from "effect/Logger"
import type { ModelConfig } from "../../src/domain/Config.js"
import type { NormalizedRequest } from "../../src/domain/Request.js"
import { TokenUsage } from "../../src/domain/TokenUsage.js"
import * as Pricing from "../../src/services/Pricing.js"

const priced: ModelConfig = {
  alias: "flash",
  provider: "google",
  modelId: "gemini-2.5-flash",
  pricing: { inputPer1m: 0.3, outputPer1m: 2.5 },
  fallbacks: []
}
const unpriced: ModelConfig = { ...priced, alias: "free", pricing: undefined }
const request: NormalizedRequest = {
  system: "be brief",
  messages: [{ role: "user", content: "x".repeat(92) }],
  maxOutputTokens: undefined,
  temperature: undefined,
  topP: undefined,
  stop: undefined
}

/** Runs `effect` collecting log messages. */
const withLogs = <A, E>(effect: Effect.Effect<A, E>) =>
  Effect.gen(function*() {
    const messages: Array<string> = []
    const logger = Logger.make(({ message }) => messages.push(String(Array.isArray(message) ? message.join(" ") : message)))
    const result = yield* effect.pipe(Effect.provide(Logger.replace(Logger.defaultLogger, logger)))
    return [result, messages] as const
  })

describe("Pricing", () => {
  it.effect("cost = input × input_per_1m / 1e6 + output × output_per_1m / 1e6", () =>
    Effect.gen(function*() {
      const pricing = yield* Pricing.make(1024)
      const cost = yield* pricing.cost(priced, new TokenUsage({ inputTokens: 1000, outputTokens: 2000, totalTokens: 3000 }))
      assert.closeTo(cost, (1000 * 0.3 + 2000 * 2.5) / 1e6, 1e-15)
    }))

  it.effect("the estimate prices characters / 3 (rounded up) as input plus the output cap", () =>
    Effect.gen(function*() {
      const pricing = yield* Pricing.make(1024)
      // 8 + 92 = 100 characters → 34 tokens; no maxOutputTokens → the default 1024.
      assert.closeTo(yield* pricing.estimate(priced, request), (34 * 0.3 + 1024 * 2.5) / 1e6, 1e-15)
      assert.closeTo(
        yield* pricing.estimate(priced, { ...request, maxOutputTokens: 10 }),
        (34 * 0.3 + 10 * 2.5) / 1e6,
        1e-15
      )
    }))

  it.effect("a model without pricing costs 0 and says so once in a log line", () =>
    Effect.gen(function*() {
      const pricing = yield* Pricing.make(1024)
      const usage = new TokenUsage({ inputTokens: 10, outputTokens: 10, totalTokens: 20 })
      const [costs, messages] = yield* withLogs(
        Effect.all([pricing.cost(unpriced, usage), pricing.estimate(unpriced, request), pricing.cost(unpriced, usage)])
      )
      assert.deepStrictEqual(costs, [0, 0, 0])
      assert.strictEqual(messages.filter((m) => m.includes("no pricing")).length, 1)
      assert.include(messages[0]!, "\"free\"")
    }))
})
