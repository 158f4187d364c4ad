/**
 * `effect-llm/ai` end to end against the simulator, for each protocol that carries tools and JSON
 * output (`Support.cases`, `ready` by a capability check: the OpenAI and Anthropic cases run once
 * their protocols encode tools): a two-step weather tool loop with `generateText` and a `Toolkit`,
 * `generateObject` (and a malformed answer settled with its real usage), `streamText` with a tool
 * call, and `withCallContext` grouping a loop's requests under one trace id with its tags.
 */
import { AiError, LanguageModel, Prompt } from "@effect/ai"
import { assert, describe, it } from "@effect/vitest"
import * as Chunk from "effect/Chunk"
import * as Clock from "effect/Clock"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import { afterAll, beforeAll, beforeEach } from "vitest"
import { Ledger, withCallContext } from "../../src/index.js"
import * as Simulator from "../../src/simulator/Simulator.js"
import { cases, endpointOf, layerFor, settlements, weatherHandlers, WeatherToolkit } from "./Support.js"

let sim: Simulator.Simulator

beforeAll(async () => {
  sim = await Simulator.start()
})
afterAll(() => sim.close())
beforeEach(() => sim.reset())

const Person = Schema.Struct({ name: Schema.String, age: Schema.Number }).annotations({ identifier: "Person" })

for (const c of cases) {
  describe.skipIf(!c.ready)(`${c.protocol} (${c.modelId})`, () => {
    const endpoint = endpointOf(c)
    const provide = <A, E>(effect: Effect.Effect<A, E, any>) =>
      effect.pipe(Effect.provide(weatherHandlers), Effect.provide(layerFor(sim, c.alias))) as Effect.Effect<A, E>

    it.effect("a two-step tool loop: the call, its result sent back, the answer; two settled calls under one trace", () =>
      provide(
        Effect.gen(function*() {
          sim.script(endpoint, { toolCalls: [{ name: "get_weather", arguments: { city: "Paris" } }] }, {
            text: "It is 18 °C and clear in Paris."
          })
          const question = Prompt.make("What is the weather in Paris?")
          const first = yield* LanguageModel.generateText({ prompt: question, toolkit: WeatherToolkit })
          assert.strictEqual(first.finishReason, "tool-calls")
          assert.lengthOf(first.toolCalls, 1)
          assert.deepStrictEqual(first.toolCalls[0]!.params, { city: "Paris" })
          assert.deepStrictEqual(first.toolResults[0]!.result, { city: "Paris", celsius: 18, sky: "clear" })
          assert.isAbove(first.usage.inputTokens ?? 0, 0)

          const second = yield* LanguageModel.generateText({
            prompt: Prompt.merge(question, Prompt.fromResponseParts(first.content)),
            toolkit: WeatherToolkit
          })
          assert.strictEqual(second.text, "It is 18 °C and clear in Paris.")
          assert.strictEqual(second.finishReason, "stop")
          assert.lengthOf(second.toolCalls, 0)

          // The second request carried the call and its result in the protocol's own shape.
          const sent = JSON.stringify(sim.log(endpoint)[1]!.body)
          assert.include(sent, "get_weather")
          assert.match(sent, /celsius\\*":18/)

          const rows = yield* settlements
          assert.lengthOf(rows, 2)
          for (const row of rows) {
            assert.strictEqual(row.status, "ok")
            assert.strictEqual(row.traceId, "trip-7")
            assert.deepStrictEqual(row.tags, { user: "u-42" })
            assert.isAbove(row.usage!.inputTokens, 0)
            assert.isAbove(row.cost, 0)
          }
        }).pipe(withCallContext({ traceId: "trip-7", tags: { user: "u-42" } }))
      ))

    it.effect("generateObject: the protocol's JSON mode, decoded by the schema; the call settled", () =>
      provide(Effect.gen(function*() {
        sim.script(endpoint, { json: { name: "Ada", age: 36 } })
        const response = yield* LanguageModel.generateObject({ prompt: "Who wrote the first program?", schema: Person })
        assert.deepStrictEqual(response.value, { name: "Ada", age: 36 })
        const rows = yield* settlements
        assert.lengthOf(rows, 1)
        assert.strictEqual(rows[0]!.status, "ok")
        assert.strictEqual(response.usage.outputTokens, rows[0]!.usage!.outputTokens)
      })))

    it.effect("generateObject: an answer that does not decode is MalformedOutput, and the call is settled with its usage", () =>
      provide(Effect.gen(function*() {
        sim.script(endpoint, { json: { name: "Ada", age: "thirty-six" } })
        const error = yield* Effect.flip(LanguageModel.generateObject({ prompt: "Who?", schema: Person }))
        assert.instanceOf(error, AiError.MalformedOutput)
        const rows = yield* settlements
        assert.lengthOf(rows, 1)
        assert.strictEqual(rows[0]!.status, "ok")
        assert.isAbove(rows[0]!.usage!.outputTokens, 0)
        assert.isAbove(rows[0]!.cost, 0)
      })))

    it.effect("streamText: a streamed tool call arrives whole, its result follows, then finish with the settled usage", () =>
      provide(Effect.gen(function*() {
        sim.script(endpoint, {
          toolCalls: [{ name: "get_weather", arguments: { city: "Oslo" } }, {
            name: "get_weather",
            arguments: { city: "Paris" }
          }]
        })
        const parts = Chunk.toArray(
          yield* Stream.runCollect(
            LanguageModel.streamText({ prompt: "Weather in Oslo and Paris?", toolkit: WeatherToolkit })
          )
        )
        const calls = parts.filter((part) => part.type === "tool-call")
        assert.deepStrictEqual(calls.map((call) => call.params), [{ city: "Oslo" }, { city: "Paris" }])
        const results = parts.filter((part) => part.type === "tool-result")
        assert.deepStrictEqual(results.map((result) => (result.result as any).celsius), [4, 18])
        const finish = parts.find((part) => part.type === "finish")!
        assert.strictEqual(finish.reason, "tool-calls")
        const rows = yield* settlements
        assert.lengthOf(rows, 1)
        assert.strictEqual(finish.usage.outputTokens, rows[0]!.usage!.outputTokens)
      })))

    it.effect("streamText: a consumer that stops at the tool-call part had a finished answer, settled ok with its usage", () =>
      provide(Effect.gen(function*() {
        sim.script(endpoint, { toolCalls: [{ name: "get_weather", arguments: { city: "Oslo" } }] })
        const parts = Chunk.toArray(
          yield* Stream.runCollect(
            LanguageModel.streamText({
              prompt: "Weather in Oslo?",
              toolkit: WeatherToolkit,
              disableToolCallResolution: true
            })
              .pipe(Stream.takeUntil((part) => part.type === "tool-call"))
          )
        )
        assert.strictEqual(parts.at(-1)!.type, "tool-call")
        const rows = yield* settlements
        assert.lengthOf(rows, 1)
        assert.strictEqual(rows[0]!.type, "commit")
        assert.strictEqual(rows[0]!.status, "ok")
        assert.isAbove(rows[0]!.usage!.outputTokens, 0)
      })))

    it.effect("streamText: a tool call whose params do not decode is MalformedOutput, and the call is settled ok with its usage", () =>
      provide(Effect.gen(function*() {
        sim.script(endpoint, { toolCalls: [{ name: "get_weather", arguments: { city: 42 } }] })
        const error = yield* Effect.flip(
          Stream.runDrain(LanguageModel.streamText({ prompt: "Weather?", toolkit: WeatherToolkit }))
        )
        assert.instanceOf(error, AiError.MalformedOutput)
        const rows = yield* settlements
        assert.lengthOf(rows, 1)
        assert.strictEqual(rows[0]!.type, "commit")
        assert.strictEqual(rows[0]!.status, "ok")
      })))

    it.effect("streamText: text as one text-start / text-delta… / text-end block", () =>
      provide(Effect.gen(function*() {
        sim.script(endpoint, { text: "Clear skies over Oslo today." })
        const parts = Chunk.toArray(yield* Stream.runCollect(LanguageModel.streamText({ prompt: "Oslo?" })))
        const types = parts.map((part) => part.type)
        assert.strictEqual(types[0], "text-start")
        assert.deepStrictEqual(types.slice(-3), ["text-end", "response-metadata", "finish"])
        const text = parts.flatMap((part) => (part.type === "text-delta" ? [part.delta] : [])).join("")
        assert.strictEqual(text, "Clear skies over Oslo today.")
        // Stamped by the fiber's Clock (the TestClock here), not the wall clock.
        const metadata = parts.find((part) => part.type === "response-metadata")!
        const now = yield* Clock.currentTimeMillis
        assert.strictEqual(Option.getOrUndefined(Option.map(metadata.timestamp, DateTime.toEpochMillis)), now)
      })))

    it.effect("a required choice among tools the toolkit lacks, or among none, is invalid_request naming them: no request, no ledger write", () =>
      provide(Effect.gen(function*() {
        sim.script(endpoint, { text: "unused" })
        for (const toolChoice of [["nope"], []].flatMap((oneOf) => [{ oneOf, mode: "required" }, { oneOf }])) {
          const oneOf = toolChoice.oneOf
          const unary = yield* Effect.flip(
            LanguageModel.generateText({ prompt: "Weather?", toolkit: WeatherToolkit, toolChoice: toolChoice as any })
          )
          const streamed = yield* Effect.flip(Stream.runDrain(
            LanguageModel.streamText({ prompt: "Weather?", toolkit: WeatherToolkit, toolChoice: toolChoice as any })
          ))
          for (const error of [unary, streamed]) {
            assert.instanceOf(error, AiError.UnknownError)
            assert.strictEqual(((error as AiError.UnknownError).cause as any).reason, "invalid_request")
            assert.include(error.message, `toolChoice { oneOf: ${JSON.stringify(oneOf)} } names no declared tool`)
          }
        }
        assert.lengthOf(sim.log(endpoint), 0)
        assert.lengthOf(yield* Effect.flatMap(Ledger, (ledger) => ledger.events()), 0)
      })))

    it.effect("a history whose tool call params or tool result cannot be JSON (a BigInt, a cycle) is invalid_request naming its position: no request, no ledger write", () =>
      provide(Effect.gen(function*() {
        sim.script(endpoint, { text: "unused" })
        const cycle: Record<string, unknown> = { city: "Oslo" }
        cycle.self = cycle
        for (const [value, inResult] of [[10n, false], [cycle, false], [{ n: 10n }, true], [cycle, true]] as const) {
          const prompt = Prompt.make([
            { role: "user", content: "Weather?" },
            {
              role: "assistant",
              content: [{
                type: "tool-call",
                id: "call_1",
                name: "GetWeather",
                params: inResult ? { city: "Oslo" } : value
              }]
            },
            {
              role: "tool",
              content: [{
                type: "tool-result",
                id: "call_1",
                name: "GetWeather",
                result: inResult ? value : "sunny",
                isFailure: false,
                providerExecuted: false
              }]
            }
          ] as any)
          const error = yield* Effect.flip(LanguageModel.generateText({ prompt }))
          assert.instanceOf(error, AiError.UnknownError, String(error))
          assert.strictEqual(((error as AiError.UnknownError).cause as any).reason, "invalid_request")
          assert.include(
            error.message,
            inResult ? "messages[2].content[0]: a tool result" : "messages[1].content[0]: a tool call's params"
          )
        }
        assert.lengthOf(sim.log(endpoint), 0)
        assert.lengthOf(yield* Effect.flatMap(Ledger, (ledger) => ledger.events()), 0)
      })))

    it.effect("a tool choice of no known form (from untyped code or JSON) is invalid_request naming it: no request, no ledger write", () =>
      provide(Effect.gen(function*() {
        sim.script(endpoint, { text: "unused" })
        for (const toolChoice of ["sometimes", 5, { tool: 5 }, { oneOf: "a" }]) {
          const unary = yield* Effect.flip(
            LanguageModel.generateText({ prompt: "Weather?", toolkit: WeatherToolkit, toolChoice: toolChoice as any })
          )
          const streamed = yield* Effect.flip(Stream.runDrain(
            LanguageModel.streamText({ prompt: "Weather?", toolkit: WeatherToolkit, toolChoice: toolChoice as any })
          ))
          for (const error of [unary, streamed]) {
            assert.instanceOf(error, AiError.UnknownError, String(error))
            assert.strictEqual(((error as AiError.UnknownError).cause as any).reason, "invalid_request")
            assert.include(error.message, "toolChoice must be")
          }
        }
        assert.lengthOf(sim.log(endpoint), 0)
        assert.lengthOf(yield* Effect.flatMap(Ledger, (ledger) => ledger.events()), 0)
      })))
  })
}

describe("anthropic prompt caching (the cacheControl option @effect/ai-anthropic defines)", () => {
  const ephemeral = { anthropic: { cacheControl: { type: "ephemeral" } } }
  const hour = { anthropic: { cacheControl: { type: "ephemeral", ttl: "1h" } } }
  const cachedPrompt = Prompt.make([
    { role: "system", content: "You are a terse assistant.", options: hour },
    {
      role: "user",
      content: [
        { type: "text", text: "A long document to cache.", options: ephemeral },
        { type: "text", text: "A question about it." }
      ]
    },
    {
      role: "assistant",
      content: [{
        type: "tool-call",
        id: "toolu_1",
        name: "get_weather",
        params: { city: "Oslo" },
        providerExecuted: false
      }]
    },
    {
      role: "tool",
      content: [{
        type: "tool-result",
        id: "toolu_1",
        name: "get_weather",
        result: { celsius: 4 },
        isFailure: false,
        providerExecuted: false,
        options: ephemeral
      }]
    },
    {
      role: "user",
      content: [{ type: "text", text: "What is in this picture?" }, {
        type: "file",
        mediaType: "image/png",
        data: new Uint8Array([137, 80, 78, 71])
      }],
      options: ephemeral
    }
  ])

  it.effect("part, message and system options become cache_control breakpoints; other protocols ignore them", () =>
    Effect.gen(function*() {
      sim.script("anthropic-sim", { text: "Noted." })
      yield* LanguageModel.generateText({ prompt: cachedPrompt, toolkit: WeatherToolkit })
      const sent = sim.log("anthropic-sim").at(-1)!.body as any
      assert.deepStrictEqual(sent.system, [{
        type: "text",
        text: "You are a terse assistant.",
        cache_control: { type: "ephemeral", ttl: "1h" }
      }])
      assert.deepStrictEqual(sent.messages[0].content, [
        { type: "text", text: "A long document to cache.", cache_control: { type: "ephemeral" } },
        { type: "text", text: "A question about it." }
      ])
      // the tool result, then the last user message's last part (its message's option)
      assert.deepStrictEqual(sent.messages[2].content.map((block: any) => [block.type, block.cache_control]), [
        ["tool_result", { type: "ephemeral" }],
        ["text", undefined],
        ["image", { type: "ephemeral" }]
      ])
    }).pipe(Effect.provide([layerFor(sim, "claude-haiku"), weatherHandlers])))

  it.effect("a single text part with a breakpoint goes as a block, not as the plain string", () =>
    Effect.gen(function*() {
      sim.script("anthropic-sim", { text: "Noted." })
      yield* LanguageModel.generateText({
        prompt: Prompt.make([{ role: "user", content: [{ type: "text", text: "Cache me.", options: ephemeral }] }])
      })
      const sent = sim.log("anthropic-sim").at(-1)!.body as any
      assert.deepStrictEqual(sent.messages[0].content, [
        { type: "text", text: "Cache me.", cache_control: { type: "ephemeral" } }
      ])
    }).pipe(Effect.provide(layerFor(sim, "claude-haiku"))))

  it.effect("openai: the Anthropic option sends nothing extra", () =>
    Effect.gen(function*() {
      sim.script("openai-sim", { text: "Noted." })
      yield* LanguageModel.generateText({ prompt: cachedPrompt, toolkit: WeatherToolkit })
      const sent = JSON.stringify(sim.log("openai-sim").at(-1)!.body)
      assert.include(sent, "A long document to cache.")
      assert.notInclude(sent, "cache_control")
      assert.notInclude(sent, "cacheControl")
    }).pipe(Effect.provide([layerFor(sim, "gpt-mini"), weatherHandlers])))
})

describe("files through the layer", () => {
  const picture = Prompt.make([{
    role: "user",
    content: [{ type: "text", text: "What is in this picture?" }, {
      type: "file",
      mediaType: "image/png",
      data: new Uint8Array([137, 80, 78, 71])
    }]
  }])

  it.effect("gemini: an image part goes as inlineData", () =>
    Effect.gen(function*() {
      sim.script("google-sim", { text: "A tiny PNG." })
      const response = yield* LanguageModel.generateText({ prompt: picture })
      assert.strictEqual(response.text, "A tiny PNG.")
      const parts = (sim.log("google-sim")[0]!.body as any).contents[0].parts
      assert.deepStrictEqual(parts[1], { inlineData: { mimeType: "image/png", data: "iVBORw==" } })
    }).pipe(Effect.provide(layerFor(sim, "gemini-flash"))))

  // @effect/ai marks an image of unknown type `image/*`: a `data:` URL string names the real one
  const dataUrlPicture = (mediaType: string) =>
    Prompt.make([{
      role: "user",
      content: [{ type: "text", text: "What is in this picture?" }, {
        type: "file",
        mediaType,
        data: "data:image/png;base64,iVBORw=="
      }]
    }])

  it.effect("openai: an image/* part given as a data: URL string goes as that data URL", () =>
    Effect.gen(function*() {
      sim.script("openai-sim", { text: "A tiny PNG." })
      const response = yield* LanguageModel.generateText({ prompt: dataUrlPicture("image/*") })
      assert.strictEqual(response.text, "A tiny PNG.")
      const content = (sim.log("openai-sim")[0]!.body as any).messages[0].content
      assert.deepStrictEqual(content[1], { type: "image_url", image_url: { url: "data:image/png;base64,iVBORw==" } })
    }).pipe(Effect.provide(layerFor(sim, "gpt-mini"))))

  it.effect("gemini: a data: URL string's own type is sent, for image/* and over a wrong declared type", () =>
    Effect.gen(function*() {
      for (const declared of ["image/*", "image/jpeg"]) {
        sim.script("google-sim", { text: "A tiny PNG." })
        yield* LanguageModel.generateText({ prompt: dataUrlPicture(declared) })
        const parts = (sim.log("google-sim").at(-1)!.body as any).contents[0].parts
        assert.deepStrictEqual(parts[1], { inlineData: { mimeType: "image/png", data: "iVBORw==" } }, declared)
      }
    }).pipe(Effect.provide(layerFor(sim, "gemini-flash"))))

  it.effect("dashscope qwen-plus (a text model): the image is invalid_request naming the part, before any ledger write", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(LanguageModel.generateText({ prompt: picture }))
      assert.instanceOf(error, AiError.UnknownError)
      assert.include(error.message, "messages[0].content[1]")
      assert.strictEqual(((error as AiError.UnknownError).cause as any).reason, "invalid_request")
      assert.lengthOf(sim.log("dashscope-sim"), 0)
      assert.lengthOf(yield* settlements, 0)
    }).pipe(Effect.provide(layerFor(sim, "qwen-plus"))))

  it.effect("gemini: a file of empty bytes is invalid_request naming the part and its media type, before any ledger write or request", () =>
    Effect.gen(function*() {
      const empty = Prompt.make([{
        role: "user",
        content: [{ type: "text", text: "What is in this picture?" }, {
          type: "file",
          mediaType: "image/png",
          data: new Uint8Array(0)
        }]
      }])
      const unary = yield* Effect.flip(LanguageModel.generateText({ prompt: empty }))
      const streamed = yield* Effect.flip(Stream.runDrain(LanguageModel.streamText({ prompt: empty })))
      for (const error of [unary, streamed]) {
        assert.instanceOf(error, AiError.UnknownError)
        assert.strictEqual(((error as AiError.UnknownError).cause as any).reason, "invalid_request")
        assert.include(error.message, "messages[0].content[1] (image/png): data must be non-empty")
      }
      assert.lengthOf(sim.log("google-sim"), 0)
      assert.lengthOf(yield* Effect.flatMap(Ledger, (ledger) => ledger.events()), 0)
    }).pipe(Effect.provide(layerFor(sim, "gemini-flash"))))

  it.effect("openai: a refused part is named messages[i].content[j], i its message's index in the prompt (system counted)", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(LanguageModel.generateText({
        prompt: Prompt.make([
          { role: "system", content: "Be brief." },
          {
            role: "user",
            content: [{ type: "text", text: "Transcribe this." }, {
              type: "file",
              mediaType: "audio/ogg",
              data: new Uint8Array([1, 2, 3, 4])
            }]
          }
        ])
      }))
      assert.instanceOf(error, AiError.UnknownError)
      assert.strictEqual(((error as AiError.UnknownError).cause as any).reason, "invalid_request")
      assert.include(error.message, "messages[1].content[1]: an inline audio/ogg file")
      assert.lengthOf(sim.log("openai-sim"), 0)
    }).pipe(Effect.provide(layerFor(sim, "gpt-mini"))))
})
