/**
 * Prices calls from config: cost = input × `input_per_1m` / 1e6 + output × `output_per_1m` / 1e6, and the
 * pre-call estimate the budget check holds. A model without pricing costs 0 and says so once in a log.
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type { ModelConfig } from "../domain/Config.js"
import { type NormalizedRequest, promptCharacters } from "../domain/Request.js"
import type { TokenUsage } from "../domain/TokenUsage.js"
import { LLMConfig } from "./LLMConfig.js"

export declare namespace Pricing {
  export interface Service {
    /** USD for the usage of a call to `model`. */
    readonly cost: (model: ModelConfig, usage: TokenUsage) => Effect.Effect<number>
    /** USD the call is held at before it is made: prompt ≈ characters / 3 tokens, plus the output cap. */
    readonly estimate: (model: ModelConfig, request: NormalizedRequest) => Effect.Effect<number>
  }
}

/** The pricing service. */
export class Pricing extends Context.Tag("effect-llm/Pricing")<Pricing, Pricing.Service>() {}

/** Tokens a prompt is estimated at: characters / 3, rounded up. */
export const estimatePromptTokens = (request: NormalizedRequest): number => Math.ceil(promptCharacters(request) / 3)

/** USD for a number of input and output tokens at a model's price (0 without one). */
export const price = (model: ModelConfig, inputTokens: number, outputTokens: number): number =>
  model.pricing === undefined
    ? 0
    : (inputTokens * model.pricing.inputPer1m) / 1e6 + (outputTokens * model.pricing.outputPer1m) / 1e6

/** Builds the pricing service; `defaultMaxOutputTokens` caps the estimate of a request that names none. */
export const make = (defaultMaxOutputTokens: number): Effect.Effect<Pricing.Service> =>
  Effect.sync(() => {
    const warned = new Set<string>()
    const warnOnce = (model: ModelConfig) => {
      if (model.pricing !== undefined || warned.has(model.alias)) return Effect.void
      warned.add(model.alias)
      return Effect.logWarning(`model "${model.alias}" has no pricing in config: its calls are counted as costing $0`).pipe(
        Effect.annotateLogs({ alias: model.alias })
      )
    }
    return Pricing.of({
      cost: (model, usage) => Effect.as(warnOnce(model), price(model, usage.inputTokens, usage.outputTokens)),
      estimate: (model, request) =>
        Effect.as(
          warnOnce(model),
          price(model, estimatePromptTokens(request), request.maxOutputTokens ?? defaultMaxOutputTokens)
        )
    })
  })

/** Pricing configured from `budget.default_max_output_tokens`. */
export const layer: Layer.Layer<Pricing, never, LLMConfig> = Layer.effect(
  Pricing,
  Effect.flatMap(LLMConfig, (config) => make(config.config.budget.defaultMaxOutputTokens))
)
