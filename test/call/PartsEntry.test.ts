/**
 * The client's internal parts entry (`call/Parts.ts`, used by `effect-llm/ai`): the same life as
 * `generate` / `stream` — settled in the ledger — returning decoded parts and the settled record; empty
 * deltas reach no caller on either path; a client not built by `LLMClient.make` has no entry, and
 * `effect-llm/ai` says so.
 */
import { LanguageModel } from "@effect/ai"
import { assert, describe, it } from "@effect/vitest"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Stream from "effect/Stream"
import * as EffectLlmAi from "../../src/ai.js"
import * as Parts from "../../src/call/Parts.js"
import { text } from "../../src/domain/Prompt.js"
import { Ledger, LLMClient, stream } from "../../src/index.js"
import { makeMockProviders, makeTestLayer } from "../../src/layers/Test.js"

const request = {
  system: undefined,
  messages: [{ role: "user" as const, parts: [text("hello")] }],
  maxOutputTokens: undefined,
  temperature: undefined,
  topP: undefined,
  stop: undefined
}

const layer = () =>
  makeTestLayer({
    providers: makeMockProviders({
      otherwise: { content: "Hello", deltas: ["Hel", "", "lo"], usage: { outputTokens: 2 } }
    })
  })

const entry = Effect.map(LLMClient, (client) => Parts.entryOf(client)!)

describe("the parts entry", () => {
  it.effect("generate: the decoded answer and its settled record; one commit in the ledger", () =>
    Effect.gen(function*() {
      const { answer, response } = yield* Effect.flatMap(entry, (e) => e.generate({ request, traceId: "p-1" }))
      assert.strictEqual(answer.content, "Hello")
      assert.strictEqual(response.traceId, "p-1")
      const commits = (yield* (yield* Ledger).events()).filter((event) => event.type === "commit")
      assert.deepStrictEqual(commits.map((event) => [event.traceId, event.usage?.outputTokens]), [["p-1", 2]])
    }).pipe(Effect.provide(layer())))

  it.effect("stream: non-empty deltas, then the settled response; empty deltas reach neither stream", () =>
    Effect.gen(function*() {
      const parts = Chunk.toArray(
        yield* Stream.runCollect(Stream.unwrap(Effect.map(entry, (e) => e.stream({ request }))))
      )
      assert.deepStrictEqual(parts.filter((part) => part._tag === "TextDelta").map((part) => part.text), ["Hel", "lo"])
      const settled = parts.at(-1)!
      assert.strictEqual(settled._tag, "Settled")
      assert.strictEqual(settled._tag === "Settled" && settled.response.usage.outputTokens, 2)
      const events = Chunk.toArray(yield* Stream.runCollect(stream({ prompt: "hello" })))
      assert.deepStrictEqual(events.map((event) => event.delta), ["Hel", "lo", ""])
    }).pipe(Effect.provide(layer())))

  it.effect("a user's own LLMClient has no entry: effect-llm/ai dies naming what it needs", () =>
    Effect.gen(function*() {
      const stub = Layer.succeed(
        LLMClient,
        LLMClient.of({ generate: () => Effect.die("unused"), stream: () => Stream.empty } as any)
      )
      const exit = yield* Effect.exit(
        LanguageModel.generateText({ prompt: "hi" }).pipe(
          Effect.provide(EffectLlmAi.layer({}).pipe(Layer.provide(stub)))
        )
      )
      assert.isTrue(Exit.isFailure(exit))
      assert.include(String(Exit.isFailure(exit) ? exit.cause : ""), "needs the LLMClient built by effect-llm's layers")
    }))
})
