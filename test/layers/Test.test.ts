/**
 * The test helpers users test their programs with (`effect-llm/testing`, API.md §5): what a script says
 * reaches `generate`, `stream` and `effect-llm/ai` alike, a reply of the wrong shape is a defect naming
 * it, the script can be reset, and the client writes to the ledger the test gives it.
 */
import { LanguageModel } from "@effect/ai"
import { assert, describe, it } from "@effect/vitest"
import * as Chunk from "effect/Chunk"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as FiberRefs from "effect/FiberRefs"
import * as HashSet from "effect/HashSet"
import * as Layer from "effect/Layer"
import * as Stream from "effect/Stream"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import * as EffectLlmAi from "../../src/ai.js"
import { generate, Layers, Ledger, stream } from "../../src/index.js"
import { layerMemoryLedger, makeMockProviders, makeTestLayer, type MockReply } from "../../src/testing.js"
import { weatherHandlers, WeatherToolkit } from "../ai/Support.js"

class Unrelated extends Context.Tag("Unrelated")<Unrelated, string>() {}

const aiLayer = (replies: ReadonlyArray<MockReply>) =>
  EffectLlmAi.layer({ model: "test-model" }).pipe(
    Layer.provideMerge(makeTestLayer({ providers: makeMockProviders({ replies }) }))
  )

const weatherCall = { content: "", toolCalls: [{ name: "get_weather", params: { city: "Oslo" } }] }

describe("effect-llm/testing: scripted replies", () => {
  it.effect("a scripted tool call reaches streamText as on the live path: the call, its result, finish tool-calls", () =>
    Effect.gen(function*() {
      const parts = Chunk.toArray(
        yield* Stream.runCollect(LanguageModel.streamText({ prompt: "Weather in Oslo?", toolkit: WeatherToolkit }))
      )
      const calls = parts.filter((part) => part.type === "tool-call")
      assert.deepStrictEqual(calls.map((call) => [call.name, call.params]), [["get_weather", { city: "Oslo" }]])
      const results = parts.filter((part) => part.type === "tool-result")
      assert.deepStrictEqual(results.map((result) => (result.result as { city: string }).city), ["Oslo"])
      assert.strictEqual(parts.find((part) => part.type === "finish")?.reason, "tool-calls")
    }).pipe(Effect.provide(aiLayer([weatherCall])), Effect.provide(weatherHandlers)))

  it.effect("and generateText: the same call and result", () =>
    Effect.gen(function*() {
      const response = yield* LanguageModel.generateText({ prompt: "Weather in Oslo?", toolkit: WeatherToolkit })
      assert.deepStrictEqual(response.toolCalls.map((call) => call.params), [{ city: "Oslo" }])
      assert.strictEqual(response.finishReason, "tool-calls")
      assert.lengthOf(response.toolResults, 1)
    }).pipe(Effect.provide(aiLayer([weatherCall])), Effect.provide(weatherHandlers)))

  it.effect("scripted tool calls without ids get ids that never repeat across turns, until reset()", () =>
    Effect.gen(function*() {
      const providers = makeMockProviders({ replies: [weatherCall, weatherCall, weatherCall] })
      const ids = (response: LanguageModel.GenerateTextResponse<any>) => response.toolCalls.map((call) => call.id)
      const turns = yield* Effect.gen(function*() {
        const first = yield* LanguageModel.generateText({ prompt: "Weather in Oslo?", toolkit: WeatherToolkit })
        const second = yield* LanguageModel.generateText({ prompt: "And now?", toolkit: WeatherToolkit })
        providers.reset()
        const third = yield* LanguageModel.generateText({ prompt: "Again?", toolkit: WeatherToolkit })
        return [ids(first), ids(second), ids(third)]
      }).pipe(
        Effect.provide(EffectLlmAi.layer({ model: "test-model" })),
        Effect.provide(makeTestLayer({ providers })),
        Effect.provide(weatherHandlers)
      )
      assert.deepStrictEqual(turns, [["call_0"], ["call_1"], ["call_0"]])
    }))

  it.effect("a function reply may give a string or an answer, like the other replies", () =>
    Effect.gen(function*() {
      const providers = makeMockProviders({
        replies: [
          (call) => Effect.succeed(`you said: ${call.request.messages.length} message`),
          () => Effect.succeed({ content: "two words", deltas: ["two ", "words"] })
        ]
      })
      const { first, second } = yield* Effect.gen(function*() {
        const first = yield* generate({ prompt: "hi", fullResponse: true })
        const second = Chunk.toArray(yield* Stream.runCollect(stream({ prompt: "hi" })))
        return { first, second }
      }).pipe(Effect.provide(makeTestLayer({ providers })))
      assert.strictEqual(first.content, "you said: 1 message")
      assert.strictEqual(first.finishReason, "stop")
      assert.isAbove(first.usage.outputTokens, 0)
      assert.deepStrictEqual(second.filter((event) => !event.isFinish).map((event) => event.delta), ["two ", "words"])
      assert.strictEqual(second.at(-1)?.response?.content, "two words")
    }))

  it.effect("a reply of the wrong shape is a defect naming it, not an answer without content", () =>
    Effect.gen(function*() {
      const bad = makeMockProviders({ replies: [() => Effect.succeed({ text: "no content" } as never)] })
      const exit = yield* Effect.exit(
        generate({ prompt: "hi" }).pipe(Effect.provide(makeTestLayer({ providers: bad })))
      )
      assert.isTrue(Exit.isFailure(exit) && String(exit.cause).includes("string content"))
      // the reply itself is shown, so the test that scripted it can find it
      assert.include(String(Exit.isFailure(exit) && exit.cause), `got {"text":"no content"}`)
    }))

  it.effect("a scripted plain Error or an Effect in place of a function is a defect saying what to script instead", () =>
    Effect.gen(function*() {
      const causeOf = (reply: unknown) =>
        Effect.map(
          Effect.exit(
            generate({ prompt: "hi" }).pipe(
              Effect.provide(makeTestLayer({ providers: makeMockProviders({ replies: [reply as MockReply] }) }))
            )
          ),
          (exit) => (Exit.isFailure(exit) ? String(exit.cause) : "succeeded")
        )
      const plain = yield* causeOf(new Error("boom"))
      assert.include(plain, "Error: boom (a scripted error must be an LLMError")
      const effect = yield* causeOf(Effect.succeed("hi"))
      assert.include(effect, "an Effect (script a function of the call returning it")
    }))

  for (
    const [stop, merged] of [["to its end", false], ["early", false], ["to its end", true], ["early", true]] as const
  ) {
    it.scoped(
      `a stream pulled with Stream.toPull under the test's own scope, ${stop}${
        merged ? ", the layer merged with another (closed on a child fiber)" : ""
      }: the layer closes (it waited on its own fiber for ever)`,
      () =>
        Effect.gen(function*() {
          const pull = yield* Stream.toPull(stream({ prompt: "one two three", traceId: "pulled" }))
          let text = ""
          for (;;) {
            const chunk = yield* Effect.option(pull)
            if (chunk._tag === "None") break
            text += Chunk.toReadonlyArray(chunk.value).map((event) => event.delta).join("")
            if (stop === "early") break
          }
          assert.isAbove(text.length, 0)
          const events = yield* (yield* Ledger).events({ traceId: "pulled" })
          assert.strictEqual(events[0]?.type, "hold")
        }).pipe(Effect.provide(
          merged
            ? Layer.merge(makeTestLayer({ providers: makeMockProviders() }), Layer.succeed(Unrelated, "other"))
            : makeTestLayer({ providers: makeMockProviders() })
        )),
      { timeout: 5_000 }
    )
  }

  it.effect("deltas that do not join to the content are a defect (generate and stream would disagree)", () =>
    Effect.gen(function*() {
      const providers = makeMockProviders({ replies: [{ content: "abcdef", deltas: ["zz"] }] })
      const exit = yield* Effect.exit(
        Stream.runDrain(stream({ prompt: "hi" })).pipe(Effect.provide(makeTestLayer({ providers })))
      )
      assert.isTrue(Exit.isFailure(exit))
      assert.include(String(Exit.isFailure(exit) ? exit.cause : ""), "must join to its content")
    }))

  it.effect("a stream its consumer stops early is settled cancelled with the usage seen so far, not the answer's whole usage (parts come one a chunk, as a wire's events)", () =>
    Effect.gen(function*() {
      const providers = makeMockProviders({
        replies: [{
          content: "one two three four",
          deltas: ["one ", "two ", "three ", "four"],
          usage: { outputTokens: 400 }
        }]
      })
      const layer = makeTestLayer({ providers })
      const events = yield* Effect.gen(function*() {
        const taken = yield* Stream.runCollect(Stream.take(stream({ prompt: "hi", traceId: "early-1" }), 1))
        assert.deepStrictEqual(Chunk.toReadonlyArray(taken).map((event) => event.delta), ["one "])
        return yield* Effect.flatMap(Ledger, (ledger) => ledger.events({ traceId: "early-1" }))
      }).pipe(Effect.provide(layer))
      const settled = events.find((event) => event.type !== "hold")!
      assert.strictEqual(settled.type, "cancel")
      assert.strictEqual(settled.status, "cancelled")
      assert.isBelow(settled.usage?.outputTokens ?? Infinity, 400)
    }))

  it.effect("a reply's deltas split its text in a stream also beside its tool calls", () =>
    Effect.gen(function*() {
      const providers = makeMockProviders({
        replies: [{ ...weatherCall, content: "Checking Oslo", deltas: ["Check", "ing Oslo"] }]
      })
      const events = yield* Stream.runCollect(stream({ prompt: "weather?" })).pipe(
        Effect.provide(makeTestLayer({ providers }))
      )
      const deltas = Chunk.toReadonlyArray(events).filter((event) => !event.isFinish).map((event) => event.delta)
      assert.deepStrictEqual(deltas, ["Check", "ing Oslo"])
    }))

  it.effect("reset() starts the script again and empties the log of calls", () =>
    Effect.gen(function*() {
      const providers = makeMockProviders({ replies: ["first answer"] })
      const layer = makeTestLayer({ providers })
      assert.strictEqual(yield* generate({ prompt: "a" }).pipe(Effect.provide(layer)), "first answer")
      assert.strictEqual(yield* generate({ prompt: "b" }).pipe(Effect.provide(layer)), "echo: b")
      providers.reset()
      assert.lengthOf(providers.calls, 0)
      assert.strictEqual(yield* generate({ prompt: "c" }).pipe(Effect.provide(layer)), "first answer")
      assert.lengthOf(providers.calls, 1)
    }))
})

describe("effect-llm/testing: a long-lived fiber's streams", () => {
  /** The elements of every Set-valued fiber ref of the current fiber: what its own state holds. */
  const setElements = Effect.map(Effect.getFiberRefs, (refs) => {
    let count = 0
    for (const ref of HashSet.toValues(FiberRefs.fiberRefs(refs))) {
      const value: unknown = FiberRefs.getOrDefault(refs, ref)
      if (value instanceof Set) count += value.size
    }
    return count
  })

  it.effect("a worker running streams through Effect.timeout, forked fibers or Effect.all keeps no state per stream", () =>
    Effect.gen(function*() {
      const one = Stream.runDrain(stream({ prompt: "one two" }))
      const run = (times: number) =>
        Effect.repeatN(
          Effect.all([
            Effect.timeout(one, "10 seconds"),
            Effect.flatMap(Effect.fork(one), (fiber) => Effect.zipRight(fiber.await, fiber.inheritAll)),
            Effect.all([one, one], { concurrency: 2 })
          ]),
          times - 1
        )
      yield* run(2)
      const after2 = yield* setElements
      yield* run(100)
      assert.strictEqual(yield* setElements, after2)
    }).pipe(Effect.provide(makeTestLayer({ providers: makeMockProviders() }))))
})

describe("effect-llm/testing: makeTestLayer's ledger option", () => {
  it.effect("the client writes to the ledger the test gives, and the test reads the same one", () =>
    Effect.gen(function*() {
      const ledger = yield* Layer.build(layerMemoryLedger())
      const mine = Layer.succeedContext(ledger)
      yield* generate({ prompt: "hi", traceId: "mine-1" }).pipe(
        Effect.provide(makeTestLayer({ ledger: mine }))
      )
      const events = yield* Effect.flatMap(Ledger, (l) => l.events({ traceId: "mine-1" })).pipe(Effect.provide(mine))
      assert.deepStrictEqual(events.map((event) => event.type), ["hold", "commit"])
    }).pipe(Effect.scoped))

  it.effect("a ledger whose build can fail (a SQLite file) is taken too; its LedgerError is the layer's", () =>
    Effect.gen(function*() {
      const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "effect-llm-test-ledger-"))
      const layer = makeTestLayer({ ledger: Layers.ledgerSqlite({ path: Path.join(dir, "ledger.db") }) })
      const events = yield* Effect.gen(function*() {
        yield* generate({ prompt: "hi", traceId: "sqlite-1" })
        return yield* Effect.flatMap(Ledger, (l) => l.events({ traceId: "sqlite-1" }))
      }).pipe(Effect.provide(layer))
      assert.deepStrictEqual(events.map((event) => event.type), ["hold", "commit"])
      // a path that cannot be opened as a database (a directory) fails the layer with the ledger's typed error
      const refused = yield* Effect.flip(
        generate({ prompt: "hi" }).pipe(
          Effect.provide(makeTestLayer({ ledger: Layers.ledgerSqlite({ path: dir }) }))
        )
      )
      assert.strictEqual(refused._tag, "LedgerError")
      Fs.rmSync(dir, { recursive: true, force: true })
    }))
})
