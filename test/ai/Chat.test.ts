/**
 * `Chat`-based tool loops on Gemini 3, whose replayed calls must carry their `thoughtSignature`:
 * `Prompt.fromResponseParts` (Chat's history) drops part metadata, and the layer's memory re-attaches
 * it by tool-call id. Against the simulator (which checks the signatures it issued, as Gemini 3 does)
 * and against loopback replays of recorded Gemini 3 / 3.1 tool-call streams.
 */
import { Chat, Prompt, Tool, Toolkit } from "@effect/ai"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Ref from "effect/Ref"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import { afterAll, beforeAll, beforeEach } from "vitest"
import * as EffectLlmAi from "../../src/ai.js"
import { makeLiveLayer, withCallContext } from "../../src/index.js"
import * as GeminiTools from "../../src/simulator/GeminiTools.js"
import * as Simulator from "../../src/simulator/Simulator.js"
import * as Loopback from "../support/LoopbackServer.js"
import { cases, layerFor, servicesFor, settlements, weatherHandlers, WeatherToolkit } from "./Support.js"

let sim: Simulator.Simulator

beforeAll(async () => {
  sim = await Simulator.start()
})
afterAll(() => sim.close())
beforeEach(() => sim.reset())

/** The model turn of a Gemini request body (the first `model` content). */
const modelTurn = (body: any) => body.contents.find((content: any) => content.role === "model")

describe("Chat tool loop on gemini-3-pro-preview (simulator)", () => {
  const loop = Effect.gen(function*() {
    sim.script("google-sim", { toolCalls: [{ name: "get_weather", arguments: { city: "Paris" } }] }, {
      text: "18 °C and clear in Paris."
    })
    const chat = yield* Chat.empty
    const first = yield* chat.generateText({ prompt: "Weather in Paris?", toolkit: WeatherToolkit })
    const second = yield* chat.generateText({ prompt: Prompt.empty, toolkit: WeatherToolkit })
    const history = yield* Ref.get(chat.history)
    return { first, second, history }
  }).pipe(Effect.provide(weatherHandlers))

  it.effect("the call goes back with the signature the model gave it, though Chat's history dropped it", () =>
    Effect.gen(function*() {
      const { first, history, second } = yield* loop
      const call = first.toolCalls[0]!
      const signature = (call.metadata as any).gemini.thoughtSignature
      assert.isString(signature)
      // Chat's history lost it: fromResponseParts keeps no part metadata.
      const replayed = history.content.flatMap((message) =>
        message.role === "assistant" ? message.content.filter((part) => part.type === "tool-call") : []
      )
      assert.deepStrictEqual(replayed[0]!.options, {})

      const sent = sim.log("google-sim")[1]!.body as any
      const echoed = modelTurn(sent).parts.find((part: any) => part.functionCall !== undefined)
      assert.strictEqual(echoed.thoughtSignature, signature)
      assert.strictEqual(echoed.thoughtSignature, GeminiTools.signatureOf(echoed.functionCall))
      assert.strictEqual(echoed.functionCall.id, call.id)
      assert.strictEqual(second.text, "18 °C and clear in Paris.")
    }).pipe(Effect.provide(layerFor(sim, "gemini-3"))))

  it.effect("a streamed turn its consumer stopped after the tool result (before the finish): the call still goes back with its signature", () =>
    Effect.gen(function*() {
      sim.script("google-sim", { toolCalls: [{ name: "get_weather", arguments: { city: "Paris" } }] }, {
        text: "18 °C and clear in Paris."
      })
      const chat = yield* Chat.empty
      const parts = yield* Stream.runCollect(
        chat.streamText({ prompt: "Weather in Paris?", toolkit: WeatherToolkit }).pipe(
          Stream.takeUntil((part) => part.type === "tool-result")
        )
      )
      const call = [...parts].find((part) => part.type === "tool-call")!
      const signature = (call.metadata as any).gemini.thoughtSignature
      assert.isString(signature)
      assert.isFalse([...parts].some((part) => part.type === "finish"))
      yield* Stream.runDrain(chat.streamText({ prompt: Prompt.empty, toolkit: WeatherToolkit }))
      const sent = sim.log("google-sim")[1]!.body as any
      const echoed = modelTurn(sent).parts.find((part: any) => part.functionCall !== undefined)
      assert.strictEqual(echoed.thoughtSignature, signature)
    }).pipe(Effect.provide(weatherHandlers), Effect.provide(layerFor(sim, "gemini-3"))))

  it.effect("with no memory (capacity 0) the call goes back with Google's skip-validation sentinel instead", () =>
    Effect.gen(function*() {
      yield* loop
      const sent = sim.log("google-sim")[1]!.body as any
      const echoed = modelTurn(sent).parts.find((part: any) => part.functionCall !== undefined)
      assert.strictEqual(echoed.thoughtSignature, GeminiTools.skipSignatureValidator)
    }).pipe(
      Effect.provide(
        EffectLlmAi.layer({ model: "gemini-3", memoryCapacity: 0 }).pipe(
          Layer.provideMerge(servicesFor(sim))
        )
      )
    ))

  it.effect("withCallContext: the loop's two model requests are two settled ledger rows under one trace id and its tags", () =>
    Effect.gen(function*() {
      yield* loop.pipe(withCallContext({ traceId: "chat-1", tags: { team: "travel" } }))
      const rows = yield* settlements
      assert.lengthOf(rows, 2)
      assert.deepStrictEqual(rows.map((row) => [row.status, row.traceId, row.tags?.team, row.alias]), [
        ["ok", "chat-1", "travel", "gemini-3"],
        ["ok", "chat-1", "travel", "gemini-3"]
      ])
    }).pipe(Effect.provide(layerFor(sim, "gemini-3"))))
})

const anthropic = cases.find((c) => c.protocol === "anthropic")!

// Runs once the anthropic protocol carries tools (`Support.carriesTools`).
describe.skipIf(!anthropic.ready)("Chat tool loop on Anthropic with thinking (simulator)", () => {
  for (const mode of ["generateText", "streamText"] as const) {
    it.effect(`${mode}: the signed thinking block goes back before its tool_use, though Chat's history dropped it`, () =>
      Effect.gen(function*() {
        sim.script("anthropic-sim", {
          reasoning: "The user wants the weather; call get_weather.",
          toolCalls: [{ name: "get_weather", arguments: { city: "Oslo" } }]
        }, { text: "4 °C and clear in Oslo." })
        const chat = yield* Chat.empty
        if (mode === "generateText") {
          yield* chat.generateText({ prompt: "Weather in Oslo?", toolkit: WeatherToolkit })
        } else {
          yield* Stream.runDrain(chat.streamText({ prompt: "Weather in Oslo?", toolkit: WeatherToolkit }))
        }
        const second = yield* chat.generateText({ prompt: Prompt.empty, toolkit: WeatherToolkit })
        assert.strictEqual(second.text, "4 °C and clear in Oslo.")
        const sent = sim.log("anthropic-sim")[1]!.body as any
        const assistant = sent.messages.find((message: any) => message.role === "assistant")
        assert.deepStrictEqual(assistant.content.map((block: any) => block.type), ["thinking", "tool_use"])
        assert.strictEqual(assistant.content[0].thinking, "The user wants the weather; call get_weather.")
        assert.isString(assistant.content[0].signature)
        assert.isAbove(assistant.content[0].signature.length, 0)
      }).pipe(Effect.provide(weatherHandlers), Effect.provide(layerFor(sim, anthropic.alias))))
  }
})

/** A recorded stream of `data:` lines as Gemini frames it. */
const framed = (path: string) =>
  Loopback.readFixture(path).toString("utf8").split("\n").filter((line) => line.trim().length > 0)
    .map((line) => `data: ${line}\r\n\r\n`).join("")

const finalAnswer = (modelVersion: string) => ({
  headers: { "content-type": "application/json; charset=UTF-8" },
  body: JSON.stringify({
    candidates: [{
      content: { role: "model", parts: [{ text: "It is 18 °C and clear in San Francisco." }] },
      finishReason: "STOP",
      index: 0
    }],
    usageMetadata: { promptTokenCount: 120, candidatesTokenCount: 12, totalTokenCount: 132 },
    modelVersion
  })
})

/** The tool of the vercel-ai recording (`weather({ location })`). */
const LocationWeather = Toolkit.make(Tool.make("weather", {
  parameters: { location: Schema.String },
  success: Schema.String
}))
const locationHandlers = LocationWeather.toLayer({ weather: ({ location }) => Effect.succeed(`18 °C in ${location}`) })

describe("Chat tool loops replaying recorded Gemini 3 streams (loopback)", () => {
  const recorded = [
    {
      fixture: "vercel-ai-tools/google/google-tool-call.chunks.txt",
      modelId: "gemini-3-pro-preview",
      args: { location: "San Francisco" },
      signature: /^EqUCCqICAb4/,
      serverId: undefined,
      text: undefined,
      toolkit: LocationWeather,
      handlers: locationHandlers
    },
    {
      fixture: "vercel-ai-tools/google/issue-10781.1.chunks.txt",
      modelId: "gemini-3.1-pro-preview",
      args: { city: "San Francisco" },
      signature: /^EqsGCqgGARFNMg/,
      serverId: "g1bmv6il",
      text: "Let me check.",
      toolkit: WeatherToolkit,
      handlers: weatherHandlers
    }
  ] as const

  for (const r of recorded) {
    it.scoped(`${r.modelId}: streamed call, then the next turn echoes its signature${r.serverId ? " and id" : ""}`, () =>
      Effect.gen(function*() {
        const server = yield* Loopback.make
        server.enqueue(
          { headers: { "content-type": "text/event-stream" }, body: framed(r.fixture) },
          finalAnswer(r.modelId)
        )
        const services = makeLiveLayer({
          userConfig: false,
          config: {
            default_model: "g3",
            providers: { google: { api_key: "g-key", endpoints: [{ name: "loop", base_url: server.url }] } },
            models: { g3: { provider: "google", model_id: r.modelId } },
            resilience: { max_retries: 0 },
            ledger: { backend: "memory" }
          }
        })
        yield* Effect.gen(function*() {
          const chat = yield* Chat.empty
          yield* Stream.runDrain(
            chat.streamText({
              prompt: "What is the weather in San Francisco?",
              toolkit: r.toolkit as typeof WeatherToolkit
            })
          )
          yield* chat.generateText({ prompt: Prompt.empty })
          const rows = yield* settlements
          assert.lengthOf(rows, 2)
        }).pipe(
          Effect.provide(r.handlers as typeof weatherHandlers),
          Effect.provide(EffectLlmAi.layer({ model: "g3" }).pipe(Layer.provideMerge(services)))
        )
        const second = server.requests[1]!.json as any
        const turn = modelTurn(second)
        const call = turn.parts.find((part: any) => part.functionCall !== undefined)
        assert.match(call.thoughtSignature, r.signature)
        assert.deepStrictEqual(call.functionCall.args, r.args)
        if (r.serverId !== undefined) {
          assert.strictEqual(call.functionCall.id, r.serverId)
          assert.strictEqual(second.contents[2].parts[0].functionResponse.id, r.serverId)
        }
        if (r.text !== undefined) assert.deepStrictEqual(turn.parts[0], { text: r.text })
      }))
  }
})
