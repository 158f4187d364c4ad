import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Logger from "effect/Logger"
import type { ModelConfig } from "../../src/domain/Config.js"
import { type CallRequest, text } from "../../src/domain/Prompt.js"
import { TokenUsage } from "../../src/domain/TokenUsage.js"
import { encodeMessages } from "../../src/providers/dashscope/Request.js"
import * as Pricing from "../../src/services/Pricing.js"

const priced: ModelConfig = {
  alias: "flash",
  provider: "google",
  protocol: "gemini",
  modelId: "gemini-2.5-flash",
  pricing: { inputPer1m: 0.3, outputPer1m: 2.5 },
  fallbacks: []
}
const unpriced: ModelConfig = { ...priced, alias: "free", pricing: undefined }
const cached: ModelConfig = {
  ...priced,
  alias: "cached",
  pricing: { inputPer1m: 3, outputPer1m: 15, cachedInputPer1m: 0.3, cacheWritePer1m: 3.75 }
}
const request: CallRequest = {
  system: "be brief",
  messages: [{ role: "user", parts: [text("x".repeat(92))] }],
  maxOutputTokens: undefined,
  temperature: undefined,
  topP: undefined,
  stop: undefined
}

/** Runs `effect` collecting log messages. */
const withLogs = <A, E>(effect: Effect.Effect<A, E>) =>
  Effect.gen(function*() {
    const messages: Array<string> = []
    const logger = Logger.make(({ message }) =>
      messages.push(String(Array.isArray(message) ? message.join(" ") : message))
    )
    const result = yield* effect.pipe(Effect.provide(Logger.replace(Logger.defaultLogger, logger)))
    return [result, messages] as const
  })

describe("Pricing", () => {
  it.effect("cost = input × input_per_1m / 1e6 + output × output_per_1m / 1e6", () =>
    Effect.gen(function*() {
      const pricing = yield* Pricing.make
      const cost = yield* pricing.cost(
        priced,
        new TokenUsage({ inputTokens: 1000, outputTokens: 2000, totalTokens: 3000 })
      )
      assert.closeTo(cost, (1000 * 0.3 + 2000 * 2.5) / 1e6, 1e-15)
    }))

  it("a cost and an estimate are reported to the picodollar, without float noise", () => {
    // (1234 × 0.3 + 567 × 2.5) / 1e6 is 0.0017877000000000001 in floating point
    assert.strictEqual(
      Pricing.price(priced, new TokenUsage({ inputTokens: 1234, outputTokens: 567, totalTokens: 1801 })),
      0.0017877
    )
    // the estimate a hold records too: (18 × 0.3 + 1024 × 2.5) / 1e6 is 0.0025654000000000002 in floating point
    assert.strictEqual(Pricing.estimateCost(priced, 18, 1024), 0.0025654)
  })

  it.effect("cache reads and writes are priced at their own rates, the rest of the input at input_per_1m (API.md §8)", () =>
    Effect.gen(function*() {
      const pricing = yield* Pricing.make
      const usage = new TokenUsage({
        inputTokens: 1000,
        outputTokens: 100,
        totalTokens: 1100,
        cachedInputTokens: 600,
        cacheWriteTokens: 300
      })
      assert.closeTo(yield* pricing.cost(cached, usage), (100 * 3 + 600 * 0.3 + 300 * 3.75 + 100 * 15) / 1e6, 1e-15)
      // Without cache prices, cached tokens cost the input rate.
      assert.closeTo(yield* pricing.cost(priced, usage), (1000 * 0.3 + 100 * 2.5) / 1e6, 1e-15)
    }))

  it.effect("the estimate bounds the input by UTF-8 bytes plus a per-message allowance, and adds the output cap", () =>
    Effect.gen(function*() {
      const pricing = yield* Pricing.make
      // 8 + 92 bytes, the system and the user message, and the request: 100 + 3 × 8 tokens.
      const input = 100 + 3 * Pricing.perMessageTokenAllowance
      assert.strictEqual(Pricing.inputTokenBound(request, priced.protocol), input)
      assert.closeTo(yield* pricing.estimate(priced, request, 1024), (input * 0.3 + 1024 * 2.5) / 1e6, 1e-15)
      assert.closeTo(yield* pricing.estimate(priced, request, 10), (input * 0.3 + 10 * 2.5) / 1e6, 1e-15)
    }))

  it.effect("the estimate prices the input at the dearest input rate, so a cache write cannot pass the hold", () =>
    Effect.gen(function*() {
      const pricing = yield* Pricing.make
      const input = Pricing.inputTokenBound(request, cached.protocol)
      assert.closeTo(yield* pricing.estimate(cached, request, 10), (input * 3.75 + 10 * 15) / 1e6, 1e-15)
    }))

  it.effect("a model without pricing costs 0; the layer says so once, when built, and calls log nothing", () =>
    Effect.gen(function*() {
      const usage = new TokenUsage({ inputTokens: 10, outputTokens: 10, totalTokens: 20 })
      const [, buildMessages] = yield* withLogs(Pricing.warnUnpriced([priced, unpriced]))
      assert.strictEqual(buildMessages.filter((m) => m.includes("no pricing")).length, 1)
      assert.include(buildMessages[0]!, "\"free\"")
      const pricing = yield* Pricing.make
      const [costs, callMessages] = yield* withLogs(
        Effect.all([
          pricing.cost(unpriced, usage),
          pricing.estimate(unpriced, request, 10),
          pricing.cost(unpriced, usage)
        ])
      )
      assert.deepStrictEqual(costs, [0, 0, 0])
      assert.deepStrictEqual(callMessages, [])
    }))

  it("a reasoning part sent back counts its metadata too: Anthropic's redacted_thinking data is input within a tool-use cycle", () => {
    const withReasoning = (metadata?: Record<string, Record<string, string>>): CallRequest => ({
      ...request,
      messages: [
        ...request.messages,
        { role: "assistant", parts: [{ type: "reasoning", text: "", ...(metadata ? { metadata } : {}) }] }
      ]
    })
    const data = "E".repeat(40_000)
    assert.isAtLeast(
      Pricing.inputTokenBound(withReasoning({ anthropic: { redactedData: data } }), "anthropic"),
      Pricing.inputTokenBound(withReasoning(), "anthropic") + data.length
    )
  })

  describe("an output schema counts the prompt the protocol adds for it (API.md §14: the hold bounds the call)", () => {
    const schema = { type: "object", properties: { name: { type: "string" } }, required: ["name"] }
    const withSchema: CallRequest = {
      ...request,
      system: undefined,
      responseFormat: { type: "json", name: "Person", schema }
    }
    const schemaOnly = Pricing.inputTokenBound(withSchema, "gemini")

    it("Anthropic: the forced answer tool brings its tool-use system prompt, counted once beside tools", () => {
      assert.strictEqual(
        Pricing.inputTokenBound(withSchema, "anthropic"),
        schemaOnly + Pricing.toolPromptTokens.anthropic!
      )
      const tools = [{ name: "lookup", description: undefined, parameters: { type: "object" } }]
      const withTools = { ...withSchema, tools }
      assert.strictEqual(
        Pricing.inputTokenBound(withTools, "anthropic"),
        Pricing.inputTokenBound(withTools, "gemini") + Pricing.toolPromptTokens.anthropic!
      )
    })

    it("DashScope JSON mode: the bound covers every byte of the system message it sends, instruction included", () => {
      for (const system of [undefined, "be brief"]) {
        const sent = encodeMessages({ ...withSchema, system }, "text-generation")
        const sentBytes = sent.reduce(
          (sum, message) =>
            sum + Buffer.byteLength(typeof message.content === "string" ? message.content : "") +
            Pricing.perMessageTokenAllowance,
          Pricing.perMessageTokenAllowance
        )
        assert.isAtLeast(Pricing.inputTokenBound({ ...withSchema, system }, "dashscope"), sentBytes)
      }
    })
  })
})
