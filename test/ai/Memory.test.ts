/**
 * The provider data the layer remembers by tool-call id (Chat histories drop part metadata), and the
 * answers' decoding into @effect/ai parts that feeds it: unary and streamed, signatures on the parts
 * they belong to, re-attached to a replayed call and to the signed reasoning and text of its turn.
 */
import { Prompt } from "@effect/ai"
import { assert, describe, it } from "@effect/vitest"
import * as Memory from "../../src/ai/Memory.js"
import { encodePrompt } from "../../src/ai/Prompt.js"
import { decodeAnswer, finishReasonOf, streamDecoder } from "../../src/ai/Response.js"
import type { PartsElement } from "../../src/call/Parts.js"
import { GenerationResponse } from "../../src/domain/GenerationResponse.js"
import { TokenUsage } from "../../src/domain/TokenUsage.js"
import type { ProviderAnswer } from "../../src/providers/Provider.js"

const response = (finishReason: "stop" | "length" = "stop") =>
  new GenerationResponse({
    content: "",
    model: "gemini-3-pro-preview",
    alias: "gemini-3",
    provider: "google",
    endpoint: "google-sim",
    usage: new TokenUsage({ inputTokens: 30, outputTokens: 12, totalTokens: 42, reasoningTokens: 5 }),
    cost: 0.0002,
    finishReason,
    traceId: "t-1",
    requestId: "req-1",
    timing: { totalMs: 10 } as any,
    attempts: 1
  })

const signed = (key: string, value: string) => ({ [key]: { signature: value } })
const at = new Date(0)

describe("Memory", () => {
  it("remembers by call id, least recently used out first", () => {
    const memory = Memory.make(2)
    memory.remember([{ id: "a", metadata: signed("x", "1") }], [])
    memory.remember([{ id: "b", metadata: signed("x", "2") }], [])
    memory.recall("a") // a is now the most recent
    memory.remember([{ id: "c", metadata: signed("x", "3") }], [])
    assert.strictEqual(memory.size(), 2)
    assert.isUndefined(memory.recall("b"))
    assert.deepStrictEqual(memory.recall("a")?.call, signed("x", "1"))
    assert.deepStrictEqual(memory.recall("c")?.call, signed("x", "3"))
  })

  it("after many times its capacity in calls, keeps exactly the most recently used", () => {
    const memory = Memory.make(3)
    memory.remember([{ id: "keep", metadata: signed("x", "kept") }], [])
    for (let i = 0; i < 10_000; i++) {
      memory.remember([{ id: `c${i}`, metadata: signed("x", String(i)) }], [])
      if (i % 2 === 1) memory.recall("keep") // used every second call: never the least recent
    }
    memory.remember([{ id: "c9998", metadata: signed("x", "again") }], []) // remembered anew: the newest
    memory.remember([{ id: "last", metadata: signed("x", "last") }], []) // drops c9999, now the least recent
    assert.strictEqual(memory.size(), 3)
    assert.isUndefined(memory.recall("c9999"))
    assert.isUndefined(memory.recall("c9997"))
    assert.deepStrictEqual(memory.recall("keep")?.call, signed("x", "kept"))
    assert.deepStrictEqual(memory.recall("c9998")?.call, signed("x", "again"))
    assert.deepStrictEqual(memory.recall("last")?.call, signed("x", "last"))
  })

  it("stores nothing for calls with no provider data around them", () => {
    const memory = Memory.make()
    memory.remember([{ id: "a", metadata: undefined }, { id: "b", metadata: {} }], [])
    assert.strictEqual(memory.size(), 0)
  })

  it("an Anthropic-style turn (signed thinking, then a call) goes back whole after Chat's history dropped it", () => {
    const memory = Memory.make()
    const answer: ProviderAnswer = {
      content: "",
      reasoning: "Need the weather.",
      parts: [
        { type: "reasoning", text: "Need the weather.", metadata: signed("anthropic", "th-sig") },
        { type: "tool-call", id: "toolu_1", name: "get_weather", params: { city: "Oslo" } }
      ],
      usage: undefined,
      finishReason: "stop",
      requestId: undefined,
      modelVersion: undefined
    }
    const parts = decodeAnswer(answer, response(), memory, at)
    assert.deepStrictEqual(parts.map((part) => part.type), ["response-metadata", "reasoning", "tool-call", "finish"])
    // What Chat keeps: no metadata anywhere.
    const history = Prompt.fromResponseParts(
      parts.filter((part) => part.type === "reasoning" || part.type === "tool-call").map((part) => ({
        ...part,
        metadata: {},
        providerExecuted: false
      })) as any
    )
    const encoded = encodePrompt(Prompt.merge(Prompt.make("Weather?"), history), memory) as any
    assert.deepStrictEqual(encoded.messages[1].parts, [
      { type: "reasoning", text: "Need the weather.", metadata: signed("anthropic", "th-sig") },
      { type: "tool-call", id: "toolu_1", name: "get_weather", params: { city: "Oslo" } }
    ])
  })

  it("a Gemini 3 answer without calls: its signed text goes back with its signature after Chat's history dropped it", () => {
    const memory = Memory.make()
    const answer: ProviderAnswer = {
      content: "Sunny in both.",
      reasoning: undefined,
      parts: [{ type: "text", text: "Sunny in both.", metadata: signed("gemini", "SIG-T") }],
      usage: undefined,
      finishReason: "stop",
      requestId: undefined,
      modelVersion: undefined
    }
    const parts = decodeAnswer(answer, response(), memory, at)
    const history = Prompt.fromResponseParts(
      parts.filter((part) => part.type === "text").map((part) => ({ ...part, metadata: {} })) as any
    )
    const encoded = encodePrompt(Prompt.merge(Prompt.make("Weather in Oslo and Rome?"), history), memory) as any
    assert.deepStrictEqual(encoded.messages[1].parts, [
      { type: "text", text: "Sunny in both.", metadata: signed("gemini", "SIG-T") }
    ])
    // unsigned text is not remembered: nothing to give back
    const plain = decodeAnswer(
      { ...answer, content: "Plain.", parts: [{ type: "text", text: "Plain." }] },
      response(),
      memory,
      at
    )
    assert.strictEqual(plain.length > 0, true)
    assert.strictEqual(memory.size(), 1)
  })

  it("metadata the prompt carries itself wins over the memory", () => {
    const memory = Memory.make()
    memory.remember([{ id: "c1", metadata: signed("gemini", "old") }], [])
    const encoded = encodePrompt(
      Prompt.make([{ role: "user", content: "hi" }, {
        role: "assistant",
        content: [{
          type: "tool-call",
          id: "c1",
          name: "f",
          params: {},
          providerExecuted: false,
          options: signed("gemini", "new")
        }]
      }]),
      memory
    ) as any
    assert.deepStrictEqual(encoded.messages[1].parts[0].metadata, signed("gemini", "new"))
  })
})

describe("decoding answers", () => {
  it("finish reasons in @effect/ai's words; a stop after tool calls is tool-calls", () => {
    assert.strictEqual(finishReasonOf("stop", false), "stop")
    assert.strictEqual(finishReasonOf("stop", true), "tool-calls")
    assert.strictEqual(finishReasonOf("length", false), "length")
    assert.strictEqual(finishReasonOf("filter", false), "content-filter")
    assert.strictEqual(finishReasonOf("other", false), "other")
  })

  it("unary: plain text and reasoning without parts; finish with the settled usage and the call's record", () => {
    const parts = decodeAnswer(
      {
        content: "Hello.",
        reasoning: "Greet.",
        usage: undefined,
        finishReason: "length",
        requestId: "req-1",
        modelVersion: "gemini-3-pro-preview-001"
      },
      response("length"),
      undefined,
      at
    )
    assert.deepStrictEqual(parts, [
      { type: "response-metadata", id: "req-1", modelId: "gemini-3-pro-preview-001", timestamp: at.toISOString() },
      { type: "reasoning", text: "Greet." },
      { type: "text", text: "Hello." },
      {
        type: "finish",
        reason: "length",
        usage: { inputTokens: 30, outputTokens: 12, totalTokens: 42, reasoningTokens: 5 },
        metadata: {
          "effect-llm": {
            traceId: "t-1",
            alias: "gemini-3",
            provider: "google",
            model: "gemini-3-pro-preview",
            endpoint: "google-sim",
            cost: 0.0002,
            attempts: 1
          }
        }
      }
    ])
  })

  it("streamed: blocks open at their first delta, a signature closes its block on the -end part, calls come whole", () => {
    const memory = Memory.make()
    const decode = streamDecoder(memory, () => at)
    const elements: Array<PartsElement> = [
      { _tag: "Metadata", requestId: "req-1", modelVersion: "gemini-3-pro-preview" },
      { _tag: "ReasoningDelta", text: "Think" },
      { _tag: "ReasoningDelta", text: "ing." },
      { _tag: "PartMetadata", part: "reasoning", metadata: signed("anthropic", "r-sig") },
      { _tag: "TextDelta", text: "Let me " },
      { _tag: "TextDelta", text: "check." },
      {
        _tag: "ToolCall",
        call: {
          type: "tool-call",
          id: "c9",
          name: "get_weather",
          params: { city: "Oslo" },
          metadata: signed("gemini", "c-sig")
        }
      },
      { _tag: "Settled", response: response() }
    ]
    const out = elements.flatMap(decode)
    assert.deepStrictEqual(out.map((part) => part.type), [
      "reasoning-start",
      "reasoning-delta",
      "reasoning-delta",
      "reasoning-end",
      "text-start",
      "text-delta",
      "text-delta",
      "text-end",
      "tool-call",
      "response-metadata",
      "finish"
    ])
    assert.deepStrictEqual((out[3] as any).metadata, signed("anthropic", "r-sig"))
    assert.strictEqual((out[9] as any).modelId, "gemini-3-pro-preview")
    assert.strictEqual((out[10] as any).reason, "tool-calls")
    const remembered = memory.recall("c9")!
    assert.deepStrictEqual(remembered.call, signed("gemini", "c-sig"))
    assert.deepStrictEqual(remembered.turn, [{
      type: "reasoning",
      digest: Memory.textDigest("Thinking."),
      metadata: signed("anthropic", "r-sig")
    }])
  })

  it("long signed answers are remembered by digest: the memory does not keep their text, and they still go back signed", () => {
    const memory = Memory.make()
    const thinking = (i: number) => `${i} `.padEnd(20_000, "thought ")
    for (let i = 0; i < 2_000; i++) {
      decodeAnswer(
        {
          content: "",
          reasoning: thinking(i),
          parts: [{ type: "reasoning", text: thinking(i), metadata: signed("anthropic", `sig-${i}`) }],
          usage: undefined,
          finishReason: "stop",
          requestId: undefined,
          modelVersion: undefined
        },
        response(),
        memory,
        at
      )
    }
    // an entry is its digest and signature: kept whole, 2,000 of them held 80 MB (text as key and value)
    const entry = memory.recall(Memory.signedPartKey("reasoning", Memory.textDigest(thinking(7))))
    assert.deepStrictEqual(entry?.turn[0]?.metadata, signed("anthropic", "sig-7"))
    assert.isBelow(JSON.stringify(entry).length, 200)
    assert.isBelow(Memory.textDigest(thinking(7)).length, 50)
    const history = Prompt.make([{ role: "assistant", content: [{ type: "reasoning", text: thinking(1_234) }] }])
    const encoded = encodePrompt(Prompt.merge(Prompt.make("Why?"), history), memory) as any
    assert.deepStrictEqual(encoded.messages[1].parts, [
      { type: "reasoning", text: thinking(1_234), metadata: signed("anthropic", "sig-1234") }
    ])
  })
})
