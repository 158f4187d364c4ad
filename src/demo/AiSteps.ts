/**
 * The tour's `effect-llm/ai` steps: a two-step tool loop (a weather tool) with
 * `LanguageModel.generateText` and a `Toolkit`, grouped by `withCallContext` into one trace in the
 * ledger, and a typed object with `generateObject` — both on the simulator, which scripts the model's
 * tool call, its final answer and its JSON.
 */
import { type AiError, LanguageModel, Prompt, Tool, Toolkit } from "@effect/ai"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import * as EffectLlmAi from "../ai.js"
import { Ledger, type LLMError, withCallContext } from "../index.js"
import type * as Simulator from "../simulator/Simulator.js"
import { ledgerEventOf } from "./Facts.js"
import { style, tokens, usd } from "./Print.js"
import type { TourContext, TourStep } from "./Tour.js"

const GetWeather = Tool.make("get_weather", {
  description: "The current weather in a city",
  parameters: { city: Schema.String },
  success: Schema.Struct({ city: Schema.String, celsius: Schema.Number, sky: Schema.String })
})

const Weather = Toolkit.make(GetWeather)

const weatherHandlers = Weather.toLayer({
  get_weather: ({ city }) => Effect.succeed({ city, celsius: 18, sky: "clear" })
})

const City = Schema.Struct({
  name: Schema.String,
  country: Schema.String,
  population: Schema.Number
}).annotations({ identifier: "City", description: "A city and its population" })

/** An `AiError` back to the `LLMError` it wraps (a step fails with `LLMError`s only); anything else is a defect. */
const unwrap = <A, R>(effect: Effect.Effect<A, AiError.AiError, R>): Effect.Effect<A, LLMError, R> =>
  Effect.catchAll(
    effect,
    (error) =>
      error._tag === "UnknownError" && typeof error.cause === "object" && error.cause !== null && "_tag" in error.cause
        ? Effect.fail(error.cause as LLMError)
        : Effect.die(error)
  )

const simulatorOf = (context: TourContext): Effect.Effect<Simulator.Simulator> =>
  context.sim === undefined
    ? Effect.dieMessage("this step needs the simulator (offline tour)")
    : Effect.succeed(context.sim)

/** The steps, each on the tour's default model (`gemini-flash`, endpoint `google-primary`). */
export const aiSteps = (primary: string): ReadonlyArray<TourStep> => [
  {
    name: "tools",
    title: "effect-llm/ai: a two-step tool loop (weather tool), one trace in the ledger",
    live: false,
    run: (context) =>
      Effect.gen(function*() {
        const { out } = context
        const sim = yield* simulatorOf(context)
        sim.script(primary, { toolCalls: [{ name: "get_weather", arguments: { city: "Lisbon" } }] }, {
          text: "It is 18 °C and clear in Lisbon."
        })
        out.note(`simulator: ${primary} answers a get_weather call, then the final text`)
        const question = Prompt.make("What is the weather in Lisbon?")
        const traceId = `weather-${crypto.randomUUID().slice(0, 8)}`
        const { first, second } = yield* Effect.gen(function*() {
          const first = yield* LanguageModel.generateText({ prompt: question, toolkit: Weather })
          const second = yield* LanguageModel.generateText({
            prompt: Prompt.merge(question, Prompt.fromResponseParts(first.content)),
            toolkit: Weather
          })
          return { first, second }
        }).pipe(
          withCallContext({ traceId, tags: { feature: "weather" } }),
          Effect.provide(weatherHandlers),
          Effect.provide(EffectLlmAi.layer({ model: "gemini-flash" })),
          unwrap
        )
        const call = first.toolCalls[0]
        const result = first.toolResults[0]
        out.note(`step 1: the model called ${style.bold(`get_weather(${JSON.stringify(call?.params)})`)}`)
        out.note(`        the toolkit answered ${JSON.stringify(result?.result)}`)
        out.note(`step 2: → ${style.green(JSON.stringify(second.text))} (${second.finishReason})`)
        const rows = (yield* (yield* Ledger).events({ traceId })).filter((e) => e.type !== "hold")
        out.note(
          `ledger: ${rows.length} calls under trace ${traceId}: ` +
            rows.map((row) => `${row.status} ${row.usage ? tokens(row.usage) : ""} ${usd(row.cost)}`).join("; ")
        )
        return {
          traceId,
          toolCalls: first.toolCalls.map((c) => ({ name: c.name, params: c.params })),
          toolResults: first.toolResults.map((r) => ({ name: r.name, result: r.result })),
          finishReasons: [first.finishReason, second.finishReason],
          answer: second.text,
          ledger: rows.map(ledgerEventOf),
          tags: rows.map((row) => row.tags)
        }
      })
  },
  {
    name: "structured-output",
    title: "effect-llm/ai: generateObject decodes the model's JSON into a Schema",
    live: false,
    run: (context) =>
      Effect.gen(function*() {
        const { out } = context
        const sim = yield* simulatorOf(context)
        sim.script(primary, { json: { name: "Lisbon", country: "Portugal", population: 545_000 } })
        out.note(`simulator: ${primary} answers JSON (Gemini's responseJsonSchema mode)`)
        const response = yield* LanguageModel.generateObject({
          prompt: "Describe Lisbon.",
          schema: City
        }).pipe(Effect.provide(EffectLlmAi.layer({ model: "gemini-flash" })), unwrap)
        const sent = sim.log(primary)[0]?.body as
          | { readonly generationConfig?: Readonly<Record<string, unknown>> }
          | undefined
        out.note(`→ ${style.green(JSON.stringify(response.value))}`)
        out.note(`request generationConfig.responseMimeType: ${String(sent?.generationConfig?.responseMimeType)}`)
        return {
          value: response.value,
          responseMimeType: sent?.generationConfig?.responseMimeType,
          responseJsonSchema: sent?.generationConfig?.responseJsonSchema,
          usage: { inputTokens: response.usage.inputTokens, outputTokens: response.usage.outputTokens }
        }
      })
  }
]
