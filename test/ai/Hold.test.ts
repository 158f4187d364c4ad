/**
 * The hold bounds a tool call (API.md §14) on a protocol whose service adds input of its own to a
 * request with tools: Anthropic prepends a tool-use system prompt (the simulator counts it, as the
 * service does), so the input bound of the hold must count it too.
 */
import { LanguageModel } from "@effect/ai"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { afterAll, beforeAll, beforeEach } from "vitest"
import { Ledger } from "../../src/index.js"
import * as Simulator from "../../src/simulator/Simulator.js"
import { cases, layerFor, weatherHandlers, WeatherToolkit } from "./Support.js"

let sim: Simulator.Simulator

beforeAll(async () => {
  sim = await Simulator.start()
})
afterAll(() => sim.close())
beforeEach(() => sim.reset())

const anthropic = cases.find((c) => c.protocol === "anthropic")!

describe.skipIf(!anthropic.ready)("the hold of a tool call on Anthropic", () => {
  it.effect("covers the input the service counts (its tool-use system prompt included) with the whole output cap", () =>
    Effect.gen(function*() {
      sim.script("anthropic-sim", { toolCalls: [{ name: "get_weather", arguments: { city: "Oslo" } }] })
      yield* LanguageModel.generateText({
        prompt: "Weather in Oslo?",
        toolkit: WeatherToolkit,
        disableToolCallResolution: true
      })
      const events = yield* Effect.flatMap(Ledger, (ledger) => ledger.events())
      const hold = events.find((event) => event.type === "hold")!
      const commit = events.find((event) => event.type === "commit")!
      const inputTokens = commit.usage!.inputTokens
      // The simulator counted the tool-use system prompt: more than the request's own bytes.
      assert.isAbove(inputTokens, 346)
      // claude-haiku at $1 / $5 per million, the default output cap of 512 (Support.configFor):
      // the worst this call could have cost is under its hold.
      assert.isAtLeast(hold.cost, (inputTokens * 1 + 512 * 5) / 1e6)
      assert.isAtMost(commit.cost, hold.cost)
    }).pipe(Effect.provide(weatherHandlers), Effect.provide(layerFor(sim, anthropic.alias))))
})
