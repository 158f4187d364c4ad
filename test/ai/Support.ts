/**
 * What the `effect-llm/ai` tests share: the four protocols against the simulator, each `ready` when
 * its protocol carries tools and structured output (a capability check on `Protocol.check`, so the
 * OpenAI and Anthropic cases run as soon as those protocols encode them), the config, a weather
 * toolkit and the ledger's settlements.
 */
import { Tool, Toolkit } from "@effect/ai"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import * as EffectLlmAi from "../../src/ai.js"
import type { CallRequest } from "../../src/domain/Prompt.js"
import { Ledger, makeLiveLayer } from "../../src/index.js"
import { type ProtocolName, protocols } from "../../src/providers/registry.js"
import type * as Simulator from "../../src/simulator/Simulator.js"

/** A protocol under test: its provider entry, a model of it and its simulated endpoint. */
export interface Case {
  readonly protocol: ProtocolName
  readonly provider: "google" | "dashscope" | "openai" | "anthropic"
  readonly modelId: string
  readonly alias: string
  /** Whether the protocol carries tools and JSON output yet (else its cases are skipped). */
  readonly ready: boolean
}

const probe: CallRequest = {
  system: undefined,
  messages: [{ role: "user", parts: [{ type: "text", text: "hi" }] }],
  maxOutputTokens: 256,
  temperature: undefined,
  topP: undefined,
  stop: undefined,
  tools: [{ name: "get_weather", description: "d", parameters: { type: "object", properties: {} } }],
  toolChoice: "auto"
}

/** Whether a protocol accepts tools and (separately) a JSON response format for a model. */
export const carriesTools = (protocol: ProtocolName, modelId: string): boolean =>
  protocols[protocol].check(probe, modelId) === undefined &&
  protocols[protocol].check({
      ...probe,
      tools: undefined,
      toolChoice: undefined,
      responseFormat: { type: "json", name: "x", schema: { type: "object" } }
    }, modelId) === undefined

const make = (
  protocol: ProtocolName,
  provider: Case["provider"],
  modelId: string,
  alias: string
): Case => ({ protocol, provider, modelId, alias, ready: carriesTools(protocol, modelId) })

/** The four protocols. */
export const cases: ReadonlyArray<Case> = [
  make("gemini", "google", "gemini-2.5-flash", "gemini-flash"),
  make("dashscope", "dashscope", "qwen-plus", "qwen-plus"),
  make("openai", "openai", "gpt-4o-mini", "gpt-mini"),
  make("anthropic", "anthropic", "claude-haiku-4-5", "claude-haiku")
]

/** A config with one provider entry per protocol, all on the simulator, priced, memory ledger. */
export const configFor = (sim: Simulator.Simulator, extra: Record<string, unknown> = {}) => ({
  default_model: "gemini-flash",
  providers: {
    google: { api_key: sim.keys.google, endpoints: [{ name: "google-sim", base_url: sim.baseUrl("google-sim") }] },
    dashscope: {
      api_key: sim.keys.dashscope,
      endpoints: [{ name: "dashscope-sim", base_url: sim.baseUrl("dashscope-sim") }]
    },
    openai: {
      api_key: sim.keys.openai,
      endpoints: [{ name: "openai-sim", base_url: sim.baseUrl("openai-sim") + "/v1" }]
    },
    anthropic: {
      api_key: sim.keys.anthropic,
      endpoints: [{ name: "anthropic-sim", base_url: sim.baseUrl("anthropic-sim") }]
    }
  },
  models: {
    "gemini-flash": {
      provider: "google",
      model_id: "gemini-2.5-flash",
      pricing: { input_per_1m: 0.3, output_per_1m: 2.5 }
    },
    "gemini-3": {
      provider: "google",
      model_id: "gemini-3-pro-preview",
      pricing: { input_per_1m: 2, output_per_1m: 12 }
    },
    "qwen-plus": { provider: "dashscope", model_id: "qwen-plus", pricing: { input_per_1m: 0.4, output_per_1m: 1.2 } },
    "gpt-mini": { provider: "openai", model_id: "gpt-4o-mini", pricing: { input_per_1m: 0.15, output_per_1m: 0.6 } },
    "claude-haiku": {
      provider: "anthropic",
      model_id: "claude-haiku-4-5",
      pricing: { input_per_1m: 1, output_per_1m: 5 }
    }
  },
  budget: { daily_spend_limit: 10, default_max_output_tokens: 512 },
  resilience: { max_retries: 0 },
  ledger: { backend: "memory" },
  ...extra
})

/** The endpoint a case's provider entry uses on the simulator. */
export const endpointOf = (c: Case): string =>
  ({ google: "google-sim", dashscope: "dashscope-sim", openai: "openai-sim", anthropic: "anthropic-sim" })[c.provider]

/** The live services over the simulator (no user file). */
export const servicesFor = (sim: Simulator.Simulator, extra?: Record<string, unknown>) =>
  makeLiveLayer({ config: configFor(sim, extra), userConfig: false })

/** `LanguageModel` for `alias` with the services it runs on. */
export const layerFor = (sim: Simulator.Simulator, alias: string, extra?: Record<string, unknown>) =>
  EffectLlmAi.layer({ model: alias }).pipe(Layer.provideMerge(servicesFor(sim, extra)))

/** The weather tool of the tests and the demo. */
export const GetWeather = Tool.make("get_weather", {
  description: "The current weather in a city",
  parameters: { city: Schema.String },
  success: Schema.Struct({ city: Schema.String, celsius: Schema.Number, sky: Schema.String })
})

export const WeatherToolkit = Toolkit.make(GetWeather)

/** The toolkit's handlers: a fixed forecast per city. */
export const weatherHandlers = WeatherToolkit.toLayer({
  get_weather: ({ city }) => Effect.succeed({ city, celsius: city === "Oslo" ? 4 : 18, sky: "clear" })
})

/** The settlements (`commit` / `error` rows) in the ledger, oldest first. */
export const settlements = Effect.map(
  Effect.flatMap(Ledger, (ledger) => ledger.events()),
  (events) => events.filter((event) => event.type !== "hold")
)
