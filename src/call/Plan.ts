/**
 * The first step of a call: validate the request, resolve its alias, apply the protocol's rules,
 * decide the output cap and the budget limits, and price the hold — everything known before the
 * ledger is touched, as one immutable `Plan`. Nothing here writes or sends anything.
 */
import * as Effect from "effect/Effect"
import type { BudgetConfig, ModelConfig } from "../domain/Config.js"
import { type ConfigError, FatalError } from "../domain/Errors.js"
import type { CallRequest } from "../domain/Prompt.js"
import { type GenerateRequest, validate } from "../domain/Request.js"
import { protocols } from "../providers/registry.js"
import type { BudgetLimit } from "../services/Ledger.js"
import type { LLMConfig } from "../services/LLMConfig.js"
import type { Pricing } from "../services/Pricing.js"
import type { Router, Routing } from "../services/Router.js"

/** Everything decided about a call before its hold. */
export interface Plan {
  readonly traceId: string
  /** The requested alias. */
  readonly model: ModelConfig
  /** The validated request, its output cap set as API.md §14 says. */
  readonly request: CallRequest
  /** Where its attempts may go (fallbacks whose protocol cannot carry the request left out). */
  readonly routing: Routing
  /** The limits its hold must fit (empty: no budget applies). */
  readonly limits: ReadonlyArray<BudgetLimit>
  /** Output tokens the estimate assumes (the cap sent whenever a budget applies). */
  readonly outputCap: number
  /** USD held before the first request: an upper bound of what the call can cost on `model`. */
  readonly estimate: number
}

/** The budget limits a call to `model` falls under (API.md §6): the global daily limit when set. */
export const limitsFor = (budget: BudgetConfig, _model: ModelConfig): ReadonlyArray<BudgetLimit> =>
  budget.dailySpendLimit > 0 ? [{ scope: "global", window: "daily", limit: budget.dailySpendLimit }] : []

/** A protocol's verdict on a request for a model: `undefined` when it can carry it. */
export const checkFor = (model: ModelConfig, request: CallRequest): FatalError | undefined => {
  return protocols[model.protocol].check(request, model.modelId)
}

/** The planner over the layer's config, pricing and router. */
export const make = (deps: {
  readonly config: LLMConfig.Service
  readonly pricing: Pricing.Service
  readonly router: Router.Service
}) => {
  const budget = deps.config.config.budget
  const accepts = (request: CallRequest) => (fallback: ModelConfig) => checkFor(fallback, request) === undefined

  return (input: GenerateRequest): Effect.Effect<Plan, FatalError | ConfigError> =>
    Effect.gen(function*() {
      const validated = validate(input)
      if (validated instanceof FatalError) return yield* validated
      const model = yield* deps.config.model(input.model)
      const limits = limitsFor(budget, model)
      const outputCap = validated.maxOutputTokens ?? budget.defaultMaxOutputTokens
      const routing = yield* deps.router.routing(model, accepts(validated))
      // The cap is sent whenever a budget applies, so the hold bounds the call (API.md §14), and
      // always to a protocol that requires one (Anthropic's max_tokens).
      const needsCap = limits.length > 0 ||
        [...routing.own, ...routing.fallbacks].some(({ model }) => protocols[model.protocol].requiresMaxOutputTokens)
      const request: CallRequest = needsCap && validated.maxOutputTokens === undefined
        ? { ...validated, maxOutputTokens: outputCap }
        : validated
      const refused = checkFor(model, request)
      if (refused !== undefined) return yield* refused
      const traceId = typeof input.traceId === "string" && input.traceId.length > 0
        ? input.traceId
        : crypto.randomUUID()
      const estimate = yield* deps.pricing.estimate(model, request, outputCap)
      return { traceId, model, request, routing, limits, outputCap, estimate }
    })
}
