/**
 * The first step of a call: validate the request, resolve its alias, apply the protocol's rules,
 * decide the output cap and the budget limits, and price the hold — everything known before the
 * ledger is touched, as one immutable `Plan`. Nothing here writes or sends anything.
 */
import * as Effect from "effect/Effect"
import * as FiberRef from "effect/FiberRef"
import * as Option from "effect/Option"
import type { BudgetConfig, ModelConfig, ScopeLimits } from "../domain/Config.js"
import { type ConfigError, FatalError, type RateLimitError } from "../domain/Errors.js"
import type { CallRequest } from "../domain/Prompt.js"
import { type GenerateRequest, invalidRequest, validate } from "../domain/Request.js"
import { tagsProblem, traceIdProblem } from "../domain/Tags.js"
import { protocols } from "../providers/registry.js"
import type { BudgetLimit } from "../services/Ledger.js"
import type { LLMConfig } from "../services/LLMConfig.js"
import type { Pricing } from "../services/Pricing.js"
import type { Router, Routing } from "../services/Router.js"
import { admittedTokens, oversize } from "./Admission.js"
import { type CallContext, currentCallContext } from "./CallContext.js"

/** Everything decided about a call before its hold. */
export interface Plan {
  readonly traceId: string
  /** The requested alias. */
  readonly model: ModelConfig
  /** The validated request, its output cap set as API.md §14 says. */
  readonly request: CallRequest
  /** Where its attempts may go (fallbacks whose protocol cannot carry the request left out). */
  readonly routing: Routing
  /** The call's tags (the request's over `withCallContext`'s), held and stored with its events. */
  readonly tags: Readonly<Record<string, string>> | undefined
  /** The limits its hold must fit (empty: no budget applies). */
  readonly limits: ReadonlyArray<BudgetLimit>
  /** Output tokens the estimate assumes (the cap sent whenever a budget applies). */
  readonly outputCap: number
  /** USD held before the first request: an upper bound of what the call can cost on `model`. */
  readonly estimate: number
  /**
   * The rate limiter's refusal of a request no wait could admit (its tokens over the alias's `tpm`):
   * the hold refuses it before any ledger write, as a call the budget refuses is (counted, its span
   * named by its trace id and alias).
   */
  readonly oversize?: RateLimitError | undefined
}

const windows = ["daily", "weekly", "monthly"] as const

/** Appends a scope's limits > 0, daily, weekly, monthly. */
const addScope = (limits: Array<BudgetLimit>, scope: string, windowLimits: ScopeLimits | undefined): void => {
  if (windowLimits === undefined) return
  for (const window of windows) {
    const limit = windowLimits[window]
    if (limit !== undefined && limit > 0) limits.push({ scope, window, limit })
  }
}

/**
 * The budget limits a call to `model` with `tags` falls under (API.md §12), in refusal order: the
 * global scope, then `model:<alias>`, then `<key>:<value>` for each tag key with a `per_tag` budget,
 * by key name; within a scope daily, weekly, monthly. Only limits > 0.
 */
export const limitsFor = (
  budget: BudgetConfig,
  model: ModelConfig,
  tags?: Readonly<Record<string, string>> | undefined
): ReadonlyArray<BudgetLimit> => {
  const limits: Array<BudgetLimit> = []
  addScope(limits, "global", {
    daily: budget.dailySpendLimit,
    weekly: budget.weeklySpendLimit,
    monthly: budget.monthlySpendLimit
  })
  if (Object.hasOwn(budget.perModel, model.alias)) {
    addScope(limits, `model:${model.alias}`, budget.perModel[model.alias])
  }
  if (tags !== undefined) {
    const keys = Object.keys(tags).filter((key) => Object.hasOwn(budget.perTag, key)).sort()
    for (const key of keys) addScope(limits, `${key}:${tags[key]}`, budget.perTag[key])
  }
  return limits
}

/** What a plan takes from the request besides its content. */
interface CallMeta {
  readonly model?: string | undefined
  readonly traceId?: string | undefined
  readonly tags?: Readonly<Record<string, string>> | undefined
}

/** The request's tags over the context's (undefined when there are none); a `FatalError` for invalid context tags. */
const tagsOf = (
  request: CallMeta,
  context: CallContext
): Readonly<Record<string, string>> | FatalError | undefined => {
  if (context.tags === undefined) return request.tags
  const problem = tagsProblem(context.tags)
  if (problem !== undefined) return invalidRequest(`withCallContext: ${problem}`)
  if (request.tags === undefined) return context.tags
  const merged = { ...context.tags, ...request.tags }
  const mergedProblem = tagsProblem(merged)
  return mergedProblem === undefined ? merged : invalidRequest(mergedProblem)
}

/** A protocol's verdict on a request for a model: `undefined` when it can carry it. */
export const checkFor = (model: ModelConfig, request: CallRequest): FatalError | undefined => {
  const refused = protocols[model.protocol].check(request, model.modelId)
  // A protocol's rules know no provider entry: the refusal names the one it was for (API.md §3).
  return refused === undefined ? refused : withProvider(refused, model)
}

const withProvider = (refused: FatalError, model: ModelConfig): FatalError =>
  refused.provider !== undefined
    ? refused
    : new FatalError({ reason: refused.reason, message: refused.message, provider: model.provider })

/**
 * A request already in the protocols' shape (the `effect-llm/ai` entry): parts, tools, tool choice and
 * output format, with the call's alias, trace id and tags beside it.
 */
export interface PartsInput {
  readonly model?: string | undefined
  readonly request: CallRequest
  readonly traceId?: string | undefined
  readonly tags?: Readonly<Record<string, string>> | undefined
}

/** The planner over the layer's config, pricing and router. */
export const make = (deps: PlannerDeps) => {
  const planned = planValidated(deps)
  return (input: GenerateRequest): Effect.Effect<Plan, FatalError | ConfigError | RateLimitError> =>
    Effect.withFiberRuntime((fiber) => {
      const validated = validate(input)
      if (!(validated instanceof FatalError)) return planned(input, validated, fiber.getFiberRef(currentCallContext))
      // A malformed request for a model that resolves names its provider, as every error does where known.
      // (A request that is not an object, `null` included, has no alias to read.)
      const given = typeof input === "object" && input !== null ? input.model : undefined
      const alias = given === undefined || typeof given === "string" ? given : null
      return alias === null ? Effect.fail(validated) : Effect.flatMap(
        Effect.option(deps.config.model(alias)),
        (model) => Effect.fail(Option.isSome(model) ? withProvider(validated, model.value) : validated)
      )
    })
}

/**
 * What is known of a call its planner refused, for its span and metrics: the trace id it was given
 * (the request's, else `withCallContext`'s, when valid) and its model when the alias resolves.
 */
export const knownOf = (
  config: LLMConfig.Service,
  input: { readonly model?: unknown; readonly traceId?: unknown } | undefined
): Effect.Effect<{ readonly traceId: string | undefined; readonly model: ModelConfig | undefined }> =>
  Effect.gen(function*() {
    const context = yield* FiberRef.get(currentCallContext)
    const given = [input?.traceId, context.traceId].find((traceId) =>
      typeof traceId === "string" && traceId.length > 0 && traceIdProblem(traceId) === undefined
    ) as string | undefined
    const alias = input?.model
    const model = alias === undefined || typeof alias === "string"
      ? Option.getOrUndefined(yield* Effect.option(config.model(alias)))
      : undefined
    return { traceId: given, model }
  })

/**
 * The planner of requests already in the protocols' shape (`PartsInput`): everything `make` does after
 * validating a public request — tags, alias, routing, output cap, the protocol's check, trace id, estimate.
 */
export const makeForParts = (deps: PlannerDeps) => {
  const planned = planValidated(deps)
  return (input: PartsInput): Effect.Effect<Plan, FatalError | ConfigError | RateLimitError> => {
    const problem = input.tags === undefined ? undefined : tagsProblem(input.tags)
    return problem === undefined
      ? Effect.withFiberRuntime((fiber) => planned(input, input.request, fiber.getFiberRef(currentCallContext)))
      : Effect.fail(invalidRequest(problem))
  }
}

/** What a planner works from; `scrub` takes the configured secrets out of tag values and trace ids. */
interface PlannerDeps {
  readonly config: LLMConfig.Service
  readonly pricing: Pricing.Service
  readonly router: Router.Service
  readonly scrub?: ((text: string) => string) | undefined
}

/**
 * Tags with no configured secret in a name or a value (a key passed as a tag would be stored in every
 * ledger row).
 */
const scrubbedTags = (
  tags: Readonly<Record<string, string>> | undefined,
  scrub: ((text: string) => string) | undefined
): Readonly<Record<string, string>> | undefined => {
  if (tags === undefined || scrub === undefined) return tags
  const entries = Object.entries(tags)
  const clean = entries.map(([key, value]) => [scrub(key), scrub(value)] as const)
  return clean.every(([key, value], i) => key === entries[i]![0] && value === entries[i]![1])
    ? tags
    : Object.fromEntries(clean)
}

const planValidated = (deps: PlannerDeps) => {
  const budget = deps.config.config.budget
  const refusalFor = (request: CallRequest) => (fallback: ModelConfig) => checkFor(fallback, request)
  // An untagged call's limits depend on its alias alone (the config is the layer's): built once per alias.
  const untaggedLimits = new Map<string, ReadonlyArray<BudgetLimit>>()
  const limitsOf = (model: ModelConfig, tags: Readonly<Record<string, string>> | undefined) => {
    if (tags !== undefined) return limitsFor(budget, model, tags)
    let limits = untaggedLimits.get(model.alias)
    if (limits === undefined) untaggedLimits.set(model.alias, limits = limitsFor(budget, model))
    return limits
  }

  // A malformed request for a model that resolves names its provider, as every error does where known.
  const failNamingProvider = (error: FatalError, alias: string | undefined) =>
    Effect.flatMap(
      Effect.option(deps.config.model(alias)),
      (model) => Effect.fail(Option.isSome(model) ? withProvider(error, model.value) : error)
    )

  // One generator function per planner, not one per call: V8 gives every `function*` object its own
  // prototype and generator map, made again for each call that creates one (~3 µs, old-space garbage).
  function* steps(input: CallMeta, validated: CallRequest, context: CallContext) {
    const traceIdRefused = traceIdProblem(input.traceId) ??
      (traceIdProblem(context.traceId) === undefined
        ? undefined
        : `withCallContext: ${traceIdProblem(context.traceId)}`)
    if (traceIdRefused !== undefined) return yield* failNamingProvider(invalidRequest(traceIdRefused), input.model)
    const given = tagsOf(input, context)
    if (given instanceof FatalError) return yield* failNamingProvider(given, input.model)
    const tags = scrubbedTags(given, deps.scrub)
    const model = yield* deps.config.model(input.model)
    // A provider without its key cannot be called: said before any ledger write, as a bad request is.
    // (A fallback's key is checked when the fallback is tried.)
    yield* deps.config.credentials(model.provider)
    const limits = limitsOf(model, tags)
    const outputCap = validated.maxOutputTokens ?? budget.defaultMaxOutputTokens
    const routing = yield* deps.router.routing(model, refusalFor(validated))
    // The cap is sent whenever a budget applies — to the alias or to a fallback it may raise its
    // hold for — so the hold bounds the call (API.md §14); a protocol that requires one (Anthropic's
    // max_tokens) gets it on its own attempts (`requestFor`), not on the others'.
    // a `tpm` limit counts the cap too, the alias's or a fallback's: sent, it bounds what the attempt can use
    const needsCap = limits.length > 0 || model.limits?.tpm !== undefined ||
      routing.fallbacks.some(({ model }) => model.limits?.tpm !== undefined || limitsOf(model, tags).length > 0)
    const request: CallRequest = needsCap && validated.maxOutputTokens === undefined
      ? { ...validated, maxOutputTokens: outputCap }
      : validated
    const refused = checkFor(model, request)
    if (refused !== undefined) return yield* refused
    // (the endpoint where known: the alias's only one)
    const tooBig = model.limits?.tpm !== undefined
      ? oversize(
        model,
        admittedTokens(model, request, outputCap),
        routing.own.length === 1 ? routing.own[0]!.endpoint.name : undefined
      )
      : undefined
    const givenTraceId = typeof input.traceId === "string" && input.traceId.length > 0
      ? input.traceId
      : context.traceId !== undefined && context.traceId.length > 0
      ? context.traceId
      : undefined
    // a configured secret pasted into a trace id is kept (ledger rows, spans, logs) scrubbed, as tag values are
    const traceId = givenTraceId === undefined
      ? crypto.randomUUID()
      : deps.scrub === undefined
      ? givenTraceId
      : deps.scrub(givenTraceId)
    const estimate = yield* deps.pricing.estimate(model, request, outputCap)
    return { traceId, model, request, routing, tags, limits, outputCap, estimate, oversize: tooBig }
  }

  // `context`: the fiber's `withCallContext`, read by the caller (which has the fiber at hand: a
  // `FiberRef.get` here is two steps more)
  return (
    input: CallMeta,
    validated: CallRequest,
    context: CallContext
  ): Effect.Effect<Plan, FatalError | ConfigError> => Effect.gen(() => steps(input, validated, context))
}

/**
 * The request an attempt on `model` sends: the plan's, with the plan's output cap added for a protocol
 * that requires one (Anthropic's `max_tokens`, API.md §8) when the plan sends none.
 */
export const requestFor = (plan: Plan, model: ModelConfig): CallRequest =>
  plan.request.maxOutputTokens === undefined && protocols[model.protocol].requiresMaxOutputTokens
    ? { ...plan.request, maxOutputTokens: plan.outputCap }
    : plan.request
