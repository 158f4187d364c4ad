/**
 * Routing (API.md §7): each attempt goes to the first endpoint of the model, in config order, whose
 * breaker lets it through; when none does, to the first usable endpoint of the model's fallbacks, in
 * order; when nothing is usable, `CircuitOpenError` — and no request.
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type { EndpointConfig, ModelConfig } from "../domain/Config.js"
import { CircuitOpenError, ConfigError } from "../domain/Errors.js"
import { type Admission, CircuitBreaker } from "./CircuitBreaker.js"
import { LLMConfig } from "./LLMConfig.js"

/** One place an attempt can go: a model alias on one of its provider's endpoints. */
export interface Candidate {
  readonly model: ModelConfig
  readonly endpoint: EndpointConfig
}

/** The candidate chosen for one attempt, with the breaker's admission to report back. */
export interface Route extends Candidate {
  readonly admission: Admission
}

export declare namespace Router {
  export interface Service {
    /** Every candidate of a model, in routing order (its endpoints, then each fallback's). */
    readonly candidates: (model: ModelConfig) => Effect.Effect<ReadonlyArray<Candidate>, ConfigError>
    /** Picks the candidate for the next attempt. */
    readonly route: (model: ModelConfig) => Effect.Effect<Route, CircuitOpenError | ConfigError>
  }
}

/** The router service. */
export class Router extends Context.Tag("effect-llm/Router")<Router, Router.Service>() {}

/** Builds the router over the config's models and the layer's breakers. */
export const make = Effect.gen(function*() {
  const { config } = yield* LLMConfig
  const breakers = yield* CircuitBreaker
  const cache = new Map<string, ReadonlyArray<Candidate>>()

  const endpointsOf = (model: ModelConfig): ReadonlyArray<Candidate> =>
    (config.providers[model.provider]?.endpoints ?? []).map((endpoint) => ({ model, endpoint }))

  const candidates = (model: ModelConfig): Effect.Effect<ReadonlyArray<Candidate>, ConfigError> =>
    Effect.suspend(() => {
      const cached = cache.get(model.alias)
      if (cached !== undefined) return Effect.succeed(cached)
      const list = [...endpointsOf(model)]
      for (const alias of model.fallbacks) {
        const fallback = config.models[alias]
        if (fallback !== undefined && fallback.alias !== model.alias) list.push(...endpointsOf(fallback))
      }
      if (list.length === 0) {
        return Effect.fail(
          new ConfigError({
            reason: "invalid",
            path: `providers.${model.provider}.endpoints`,
            provider: model.provider,
            message: `providers.${model.provider}.endpoints: no endpoint of model "${model.alias}" is left after the allowed_regions filter`
          })
        )
      }
      cache.set(model.alias, list)
      return Effect.succeed(list)
    })

  const route = (model: ModelConfig): Effect.Effect<Route, CircuitOpenError | ConfigError> =>
    Effect.flatMap(candidates(model), (list) =>
      Effect.gen(function*() {
        let reopensAt = Number.POSITIVE_INFINITY
        for (const candidate of list) {
          const admission = yield* breakers.admit(candidate.endpoint.name)
          if (admission._tag !== "reject") return { ...candidate, admission }
          reopensAt = Math.min(reopensAt, admission.reopensAt)
        }
        return yield* new CircuitOpenError({
          reason: "all_endpoints_open",
          provider: model.provider,
          message: `every endpoint of model "${model.alias}"${model.fallbacks.length > 0 ? " and its fallbacks" : ""} has an open circuit breaker; the first reopens at ${new Date(reopensAt).toISOString()}`,
          reopensAt
        })
      }))

  return Router.of({ candidates, route })
})

/** The router, over `LLMConfig` and `CircuitBreaker`. */
export const layer: Layer.Layer<Router, never, LLMConfig | CircuitBreaker> = Layer.effect(Router, make)
