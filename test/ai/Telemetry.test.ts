/**
 * The spans of `effect-llm/ai` calls: each model request's `LLMClient.generate` / `LLMClient.stream`
 * span is a child of @effect/ai's `LanguageModel.generateText` / `streamText` span, so a tool loop
 * shows as @effect/ai's operations with effect-llm's calls (and their attempts) inside.
 */
import { LanguageModel, Prompt } from "@effect/ai"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Stream from "effect/Stream"
import * as EffectLlmAi from "../../src/ai.js"
import { makeMockProviders, makeTestLayer } from "../../src/layers/Test.js"
import * as RecordingTracer from "../support/RecordingTracer.js"

const layer = () =>
  EffectLlmAi.layer({ model: "test-model" }).pipe(
    Layer.provideMerge(makeTestLayer({ providers: makeMockProviders({ otherwise: "Fine." }) }))
  )

describe("spans", () => {
  it.effect("LLMClient.generate and LLMClient.stream under @effect/ai's own spans", () => {
    const recording = RecordingTracer.make()
    return Effect.gen(function*() {
      yield* LanguageModel.generateText({ prompt: Prompt.make("one") })
      yield* LanguageModel.generateText({ prompt: Prompt.make("two") })
      yield* Stream.runDrain(LanguageModel.streamText({ prompt: "three" }))
      const generates = recording.named("LLMClient.generate")
      assert.lengthOf(generates, 2)
      for (const span of generates) {
        assert.strictEqual(span.parentName, "LanguageModel.generateText")
        assert.isTrue(span.ended)
      }
      const streams = recording.named("LLMClient.stream")
      assert.lengthOf(streams, 1)
      assert.strictEqual(streams[0]!.parentName, "LanguageModel.streamText")
    }).pipe(Effect.provide(layer()), Effect.withTracer(recording.tracer))
  })
})
