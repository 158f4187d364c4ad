/**
 * Routing (API.md §7, §14): the first attempt goes to the first endpoint of the model, in config
 * order, whose breaker lets it through; after a retryable failure, to the next usable endpoint after
 * the one that failed (wrapping around); after a 429, to the same endpoint again. The model's
 * fallbacks are tried, in order, only when no endpoint of the model is usable (a fallback alias's
 * endpoints failing over among themselves as the model's do); when nothing is,
 * `CircuitOpenError` — and no request.
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type { EndpointConfig, ModelConfig } from "../domain/Config.js"
import { CircuitOpenError, ConfigError, type FatalError } from "../domain/Errors.js"
import { type Admission, CircuitBreaker } from "./CircuitBreaker.js"
import { LLMConfig } from "./LLMConfig.js"

/** One place an attempt can go: a model alias on one of its provider's endpoints. */
export interface Candidate {
  readonly model: ModelConfig
  readonly endpoint: EndpointConfig
}

/** The candidate chosen for one attempt, with the breaker's admission (to run under `CircuitBreaker.guard`). */
export interface Route extends Candidate {
  readonly admission: Admission
}

/** Where a call may go: the model's own endpoints, then its fallbacks' endpoints, in config order. */
export interface Routing {
  readonly model: ModelConfig
  readonly own: ReadonlyArray<Candidate>
  readonly fallbacks: ReadonlyArray<Candidate>
  /** Fallback aliases left out because their protocol cannot carry the request (named when nothing is usable). */
  readonly leftOut?: ReadonlyArray<string>
  /** The first left-out fallback's refusal: the call's error when nothing else has an endpoint left. */
  readonly refusal?: FatalError
  /** Fallback aliases left out during the call because their provider's key is not set. */
  readonly keyless?: ReadonlyArray<string>
}

/** How the previous attempt ended: where it went, and whether the next one stays there (a 429). */
export interface PreviousAttempt {
  readonly endpoint: string
  readonly stay: boolean
}

export declare namespace Router {
  export interface Service {
    /**
     * The candidates of a model; a fallback alias is left out when `refusalOf` gives the refusal of its
     * protocol (it cannot carry the request). When neither the model nor its fallbacks have an endpoint
     * left: a left-out fallback's refusal (why it could not serve), else a `ConfigError` (allowed_regions
     * dropped them).
     */
    readonly routing: (
      model: ModelConfig,
      refusalOf?: (fallback: ModelConfig) => FatalError | undefined
    ) => Effect.Effect<Routing, ConfigError | FatalError>
    /** Picks (and admits) the candidate for the next attempt. */
    readonly route: (routing: Routing, previous?: PreviousAttempt) => Effect.Effect<Route, CircuitOpenError>
    /**
     * The earliest time (epoch ms) a candidate's breaker may let an attempt through, admitting nothing:
     * 0 when one is closed or half-open now (a probe in flight may close it at any moment).
     */
    readonly usableAt: (routing: Routing) => Effect.Effect<number>
  }
}

/** The router service. */
export class Router extends Context.Tag("effect-llm/Router")<Router, Router.Service>() {}

/** `list` starting after index `index`, wrapping around (the element at `index` comes last). */
const rotateAfter = <A>(list: ReadonlyArray<A>, index: number): ReadonlyArray<A> =>
  index < 0 ? list : [...list.slice(index + 1), ...list.slice(0, index + 1)]

/**
 * `fallbacks` with the endpoints of the alias that holds `index` rotated after it (wrapping within that
 * alias): a fallback model, like the model itself, retries its next usable endpoint (§14), and the
 * next fallback alias is tried only when none of its endpoints is usable (§7's "in order").
 */
const rotateWithinAlias = (fallbacks: ReadonlyArray<Candidate>, index: number): ReadonlyArray<Candidate> => {
  if (index < 0) return fallbacks
  const alias = fallbacks[index]!.model.alias
  let start = index
  while (start > 0 && fallbacks[start - 1]!.model.alias === alias) start--
  let end = index + 1
  while (end < fallbacks.length && fallbacks[end]!.model.alias === alias) end++
  return [
    ...fallbacks.slice(0, start),
    ...rotateAfter(fallbacks.slice(start, end), index - start),
    ...fallbacks.slice(end)
  ]
}

/**
 * The order in which candidates are tried for the next attempt: after a 429, the same endpoint first;
 * after a failure on one of the model's endpoints, the others after it (wrapping), then the
 * fallbacks; after a failure on a fallback, the model's endpoints, then the fallbacks in order, the
 * failed alias's own endpoints from the one after the failed one (wrapping).
 */
export const attemptOrder = (routing: Routing, previous: PreviousAttempt | undefined): ReadonlyArray<Candidate> => {
  if (previous === undefined) {
    return routing.fallbacks.length === 0
      ? routing.own
      : [...routing.own, ...routing.fallbacks]
  }
  const same = (candidate: Candidate) => candidate.endpoint.name === previous.endpoint
  const ownIndex = routing.own.findIndex(same)
  const fallbackIndex = ownIndex < 0 ? routing.fallbacks.findIndex(same) : -1
  const order = [...rotateAfter(routing.own, ownIndex), ...rotateWithinAlias(routing.fallbacks, fallbackIndex)]
  if (!previous.stay) return order
  const at = order.findIndex(same)
  return at <= 0 ? order : [order[at]!, ...order.slice(0, at), ...order.slice(at + 1)]
}

/**
 * Whether `candidate` is the only endpoint of its alias in `routing`: a retry after a failure there
 * (not a 429) comes back to it, as the failover of §14 has nowhere else to go within the alias.
 */
export const isOnlyEndpoint = (routing: Routing, candidate: Candidate): boolean =>
  candidate.model.alias === routing.model.alias
    ? routing.own.length === 1
    : routing.fallbacks.filter((other) => other.model.alias === candidate.model.alias).length === 1

/** `routing` without the fallback `alias`, whose provider's key is not set (named when nothing is usable). */
export const withoutKeylessFallback = (routing: Routing, alias: string): Routing => ({
  ...routing,
  fallbacks: routing.fallbacks.filter((candidate) => candidate.model.alias !== alias),
  keyless: [...(routing.keyless ?? []), alias]
})

const quoted = (aliases: ReadonlyArray<string>) => aliases.map((alias) => `"${alias}"`).join(", ")

/** Builds the router over the config's models and the layer's breakers. */
export const make = Effect.gen(function*() {
  const { config } = yield* LLMConfig
  const breakers = yield* CircuitBreaker
  const cache = new Map<string, Routing>()

  const endpointsOf = (model: ModelConfig): ReadonlyArray<Candidate> =>
    (config.providers[model.provider]?.endpoints ?? []).map((endpoint) => ({ model, endpoint }))

  const build = (
    model: ModelConfig,
    refusalOf: ((fallback: ModelConfig) => FatalError | undefined) | undefined
  ): Routing => {
    const fallbacks: Array<Candidate> = []
    const leftOut: Array<string> = []
    let refusal: FatalError | undefined
    for (const alias of model.fallbacks) {
      const fallback = config.models[alias]
      if (fallback === undefined || fallback.alias === model.alias) continue
      const refused = refusalOf?.(fallback)
      if (refused === undefined) fallbacks.push(...endpointsOf(fallback))
      else {
        leftOut.push(alias)
        refusal ??= refused
      }
    }
    return {
      model,
      own: endpointsOf(model),
      fallbacks,
      ...(leftOut.length > 0 ? { leftOut } : {}),
      ...(refusal !== undefined ? { refusal } : {})
    }
  }

  // Built when called, not when run: its answer is an `Exit` (a plan's `Effect.gen` takes one in no
  // step; a suspended effect costs two). What it reads is the layer's config alone.
  const routing = (
    model: ModelConfig,
    refusalOf?: (fallback: ModelConfig) => FatalError | undefined
  ): Effect.Effect<Routing, ConfigError | FatalError> => {
    // A filter only drops fallbacks: without any, or unfiltered, the routing is the model's own and cached.
    const cacheable = refusalOf === undefined || model.fallbacks.length === 0
    const found = cacheable ? cache.get(model.alias) : undefined
    const result = found ?? build(model, refusalOf)
    // every endpoint of the model dropped by allowed_regions: its fallbacks' (in the allowed regions) serve it;
    // when those left could not carry the request, that is why nothing can serve it (their refusal names the part)
    if (result.own.length === 0 && result.fallbacks.length === 0) {
      return Effect.fail(
        result.refusal ?? new ConfigError({
          reason: "invalid",
          path: `providers.${model.provider}.endpoints`,
          provider: model.provider,
          message: `providers.${model.provider}.endpoints: no endpoint of model "${model.alias}"${
            model.fallbacks.length > 0 ? " or its fallbacks" : ""
          } is left after the allowed_regions filter`
        })
      )
    }
    if (found === undefined && cacheable) cache.set(model.alias, result)
    return Effect.succeed(result)
  }

  // One generator function per router, not one per call (see `Attempts.onceSteps`).
  function* routeSteps(plan: Routing, previous: PreviousAttempt | undefined) {
    let reopensAt = Number.POSITIVE_INFINITY
    for (const candidate of attemptOrder(plan, previous)) {
      const admission = yield* breakers.admit(candidate.endpoint.name)
      if (admission._tag !== "reject") return { model: candidate.model, endpoint: candidate.endpoint, admission }
      reopensAt = Math.min(reopensAt, admission.reopensAt)
    }
    const model = plan.model
    return yield* new CircuitOpenError({
      reason: "all_endpoints_open",
      provider: model.provider,
      message: `every endpoint of model "${model.alias}"${
        plan.fallbacks.length > 0 ? " and its fallbacks" : ""
      } has an open circuit breaker; the first reopens at ${new Date(reopensAt).toISOString()}${
        plan.leftOut === undefined
          ? ""
          : ` (left out: ${quoted(plan.leftOut)}, whose protocol cannot carry this request)`
      }${plan.keyless === undefined ? "" : ` (left out: ${quoted(plan.keyless)}, whose provider's key is not set)`}`,
      reopensAt
    })
  }

  const route = (plan: Routing, previous?: PreviousAttempt): Effect.Effect<Route, CircuitOpenError> =>
    Effect.gen(() => routeSteps(plan, previous))

  const usableAt = (plan: Routing): Effect.Effect<number> =>
    Effect.map(breakers.states(), (states) => {
      const reopening = new Map(states.map((state) => [state.endpoint, state.reopensAt ?? 0]))
      let earliest = Number.POSITIVE_INFINITY
      for (const candidate of [...plan.own, ...plan.fallbacks]) {
        earliest = Math.min(earliest, reopening.get(candidate.endpoint.name) ?? 0)
      }
      return earliest
    })

  return Router.of({ routing, route, usableAt })
})

/** The router, over `LLMConfig` and `CircuitBreaker`. */
export const layer: Layer.Layer<Router, never, LLMConfig | CircuitBreaker> = Layer.effect(Router, make)
