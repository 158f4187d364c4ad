/**
 * Where retries are decided (Plan asks the `Router` for the call's routing; Admission waits on the
 * breaker and the rate limits): each attempt is routed (API.md §7, §14), admitted by the endpoint's
 * breaker and run under its guard (a fallback's hold raised first, then a rate-limit slot taken:
 * API.md §11; routed again if the breaker opened while it waited for the slot), bounded by
 * `request_timeout_s` and what is left of `retry_budget_s` (a cut by the budget is not the endpoint's
 * failure); a failure is retried after the policy's delay or the server's Retry-After. A failed attempt
 * that was billed is charged to the call before its retry (`Metering.chargeFailed`).
 */
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type * as Fiber from "effect/Fiber"
import { identity } from "effect/Function"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import type { ResilienceConfig } from "../domain/Config.js"
import { type ConfigError, type LLMError, RetryableError } from "../domain/Errors.js"
import * as OnFailure from "../internal/OnFailure.js"
import * as RetryPolicy from "../internal/RetryPolicy.js"
import { type Scrubber, scrubError } from "../internal/Scrub.js"
import * as Spans from "../internal/Spans.js"
import type { ProviderClient, ProviderTarget } from "../providers/Provider.js"
import type { CircuitBreaker } from "../services/CircuitBreaker.js"
import type { LLMConfig } from "../services/LLMConfig.js"
import type { Providers } from "../services/Providers.js"
import {
  isOnlyEndpoint,
  type PreviousAttempt,
  type Route,
  type Router,
  withoutKeylessFallback
} from "../services/Router.js"
import type { Admission } from "./Admission.js"
import type { CallTelemetry } from "./CallTelemetry.js"
import type { Meter } from "./Meter.js"
import type { Metering } from "./Metering.js"

/** One attempt as the caller runs it: on `client`, to `target`, within `timeout`. */
export type Attempt<A> = (
  client: ProviderClient,
  target: ProviderTarget,
  route: Route,
  timeout: Duration.Duration
) => Effect.Effect<A, LLMError>

/** The errors `attemptTimeout` made: how an attempt tells its own timeout from a provider's 408. */
const attemptTimeouts = new WeakSet<LLMError>()

/** The `RetryableError` of an attempt that got no response within `timeout`. */
export const attemptTimeout = (route: Route, timeout: Duration.Duration): RetryableError => {
  const error = new RetryableError({
    reason: "timeout",
    // whole milliseconds: a timeout the retry budget cut short is fractional (no "526941ns" in a message)
    message: `${route.model.provider} (endpoint "${route.endpoint.name}") sent no response within ${
      Duration.format(Duration.millis(Math.round(Duration.toMillis(timeout))))
    }`,
    provider: route.model.provider,
    endpoint: route.endpoint.name
  })
  attemptTimeouts.add(error)
  return error
}

/**
 * The breaker stopped letting an attempt through while it waited for a rate-limit slot: no request was
 * sent (no slot taken), and `run` routes it again; the guard records nothing for its stale admission.
 */
class Rerouted {
  readonly _tag = "Rerouted"
}
const rerouted = new Rerouted()

/**
 * An attempt whose timeout — what was left of `retry_budget_s`, shorter than `request_timeout_s` — fired:
 * the call's own deadline, not the endpoint's fault, so the guard counts it for nothing (`outcomeOf`:
 * abandoned, like an interruption); `run` fails the call with `error` as before.
 */
class CutShort {
  readonly _tag = "CutShort"
  readonly error: LLMError
  constructor(error: LLMError) {
    this.error = error
  }
}

/**
 * A fallback whose provider's key is not set: it cannot serve, so `run` leaves it out of the call's
 * routing, as one whose protocol cannot carry the request, and routes again; the call ends with what
 * the endpoints it could use gave it, not this `ConfigError` (which would hide the error that led to
 * the fallback, and the later fallbacks that could serve).
 */
class Unkeyed {
  readonly _tag = "Unkeyed"
  readonly error: ConfigError
  constructor(error: ConfigError) {
    this.error = error
  }
}

/**
 * An attempt not sent: `retry_budget_s` was spent before it could be (a renewal of the hold, or a wait,
 * took what was left). No request was made, so the breaker counts nothing (abandoned) and `run` fails
 * the call with the last error an endpoint gave, or this one for a first attempt.
 */
class NotSent {
  readonly _tag = "NotSent"
  readonly error: LLMError
  constructor(error: LLMError) {
    this.error = error
  }
}

/** The attempt runner over the layer's router, breakers, credentials, protocol clients and policy. */
export const make = (deps: {
  readonly resilience: ResilienceConfig
  readonly router: Router.Service
  readonly breakers: CircuitBreaker.Service
  readonly config: LLMConfig.Service
  readonly providers: Providers["Type"]
  readonly metering: Metering
  readonly admission: Admission
  readonly telemetry: CallTelemetry
  /** Removes configured secrets from error messages (a server may echo a key back). */
  readonly scrub: Scrubber
}) => {
  const { admission, breakers, metering, resilience, router, telemetry } = deps
  const policy = RetryPolicy.schedule(resilience)
  const requestTimeoutMs = resilience.requestTimeoutS * 1000
  // The longest an attempt is ever given (the budget counts from the first attempt): a timeout at it —
  // `request_timeout_s`, or the whole retry budget when that is shorter — is the endpoint's failure;
  // only a shorter one, cut by what the earlier attempts left of the budget, is the call's own deadline.
  const fullTimeoutMs = Math.min(requestTimeoutMs, resilience.retryBudgetS * 1000)

  /** While waiting for a rate-limit slot: done when the endpoint's breaker opens (then `routeStands` reroutes). */
  const wakeOnOpening = breakers.whenOpened === undefined ?
    undefined :
    (route: Route): Effect.Effect<void> =>
      route.admission._tag === "pass" ? breakers.whenOpened!(route.endpoint.name, route.admission) : Effect.never

  /** After a rate-limit wait: whether the breaker still admits `route` (else the attempt is routed again). */
  const routeStands = (route: Route): Effect.Effect<void, Rerouted> =>
    Effect.flatMap(
      breakers.stillAdmits(route.endpoint.name, route.admission),
      (admits) => admits ? Effect.void : Effect.fail(rerouted)
    )

  /**
   * One admitted attempt's steps (see `once`). Generator functions made once per runner, not per call:
   * V8 gives every `function*` object its own prototype and generator map, made again for each call
   * that creates one (~3 µs, old-space garbage that only a full GC frees).
   */
  function* onceSteps<A>(
    fiber: Fiber.RuntimeFiber<unknown, unknown>,
    meter: Meter,
    route: Route,
    state: RetryPolicy.RetryState,
    attempt: Attempt<A>
  ) {
    const clock = Context.get(fiber.currentDefaultServices, Clock.Clock)
    // the key first: a fallback without one is left out before its price is held
    const credentials = yield* route.model.alias === meter.plan.model.alias
      ? deps.config.credentials(route.model.provider)
      : Effect.mapError(deps.config.credentials(route.model.provider), (error) => new Unkeyed(error))
    yield* metering.raiseFor(meter, route.model, route.endpoint.name)
    // a slot in the alias's rate-limit windows (API.md §11), last before the request, waited for
    // under the breaker's guard: a refusal never reached the endpoint, so the breaker does not count it.
    // After each wait (before a slot is taken) the breaker is asked again: if it opened meanwhile, the
    // attempt is routed again rather than sent to an endpoint the router now skips (API.md §7).
    const waited = yield* admission.admit(
      meter.plan.traceId,
      meter.progress,
      meter.plan.request,
      meter.plan.outputCap,
      route,
      state,
      routeStands,
      wakeOnOpening
    )
    const remainingMs = RetryPolicy.remainingBudgetMs(resilience, state, clock.unsafeCurrentTimeMillis())
    // an attempt with no time left is not sent: it could only time out, after the provider billed it
    if (remainingMs <= 0) {
      return yield* Effect.fail(
        new NotSent(
          new RetryableError({
            reason: "timeout",
            message: `${route.model.provider} (endpoint "${route.endpoint.name}"): retry_budget_s (${
              Duration.format(Duration.seconds(resilience.retryBudgetS))
            }) was spent before the attempt could be sent; no request was made`,
            provider: route.model.provider,
            endpoint: route.endpoint.name
          })
        )
      )
    }
    // the call's first attempt, sent without a rate-limit wait (its own, or one it was routed away from),
    // had the whole budget but for the milliseconds its admission took: a timeout of it is the
    // endpoint's, not the call's own deadline
    const first = meter.progress.attempts === 0 && waited === undefined && !meter.progress.wasReroutedAfterWait
    meter.progress.attempt(route)
    telemetry.attemptedIn(fiber, route)
    const timeoutMs = Math.min(requestTimeoutMs, remainingMs)
    const target: ProviderTarget = {
      provider: route.model.provider,
      endpoint: route.endpoint,
      modelId: route.model.modelId,
      apiKey: credentials.apiKey,
      headers: credentials.headers
    }
    const budgetCut = !first && timeoutMs < fullTimeoutMs
    let cutShort = false
    const sent = attempt(deps.providers[route.model.protocol], target, route, Duration.millis(timeoutMs))
    const scrubbed = (error: LLMError): LLMError => {
      cutShort = budgetCut && attemptTimeouts.has(error)
      return scrubError(deps.scrub, error)
    }
    const marked = (error: LLMError): LLMError | CutShort => cutShort ? new CutShort(error) : error
    // returned, not run here: the generator (and every local above) is let go while the request runs
    return Spans.isTraced(fiber)
      // Scrubbed inside the attempt span, so the error the span records holds no secret either.
      ? OnFailure.mapError(
        Effect.withSpan(
          OnFailure.mapError(sent, scrubbed),
          "LLMClient.attempt",
          telemetry.attemptSpan(meter.plan, route, meter.progress.attempts, waited)
        ),
        marked
      )
      // no span (the native tracer): one frame does both
      : OnFailure.mapError(sent, (error) => marked(scrubbed(error)))
  }

  /** One admitted attempt: the fallback raise, the credentials, then `attempt` within its timeout. */
  const once = <A>(meter: Meter, route: Route, state: RetryPolicy.RetryState, attempt: Attempt<A>) =>
    Effect.withFiberRuntime<A, LLMError | Rerouted | CutShort | NotSent | Unkeyed>((fiber) =>
      Effect.flatMap(Effect.gen(() => onceSteps(fiber, meter, route, state, attempt)), identity)
    )

  // Whether `endpoint`'s breaker is open now (this failure may have opened it): the retry then goes to
  // a fallback, or nowhere, and does not wait for a hint about the endpoint it leaves.
  const opened = (endpoint: string) =>
    Effect.map(
      breakers.states(),
      (states) => states.some((state) => state.endpoint === endpoint && state.state === "open")
    )

  /** The attempt loop of `run`. */
  function* runSteps<A>(meter: Meter, attempt: Attempt<A>, successIn: Scope.Scope | undefined) {
    const plan = meter.plan
    // The budget counts from the first attempt: the plan and the hold before it (a ledger that waits
    // for a lock, or a busy database) are not attempts or waits of the call's retries (API.md §7).
    let state = RetryPolicy.initial(policy, yield* Clock.currentTimeMillis)
    let previous: PreviousAttempt | undefined
    // The last attempt's error: when the call's own failures (or others' meanwhile) have opened every
    // breaker it could use, the call fails with what actually happened to it, not `CircuitOpenError`
    // (which says no request was made).
    let lastError: LLMError | undefined
    let routing = plan.routing
    while (true) {
      const routed = lastError === undefined
        ? router.route(routing, previous)
        : Effect.catchTag(router.route(routing, previous), "CircuitOpenError", () => Effect.fail(lastError!))
      // The admission and the guard that records its outcome in one uninterruptible step (the attempt
      // itself stays interruptible): a half-open breaker's probe interrupted between them was never
      // given back, and the breaker refused every call from then on.
      const [route, exit] = yield* Effect.uninterruptibleMask((restore) =>
        Effect.flatMap(routed, (route) =>
          Effect.map(
            Effect.exit(
              breakers.guard(
                route.endpoint.name,
                route.admission,
                restore(once(meter, route, state, attempt)),
                successIn
              )
            ),
            (exit) => [route, exit] as const
          ))
      )
      if (Exit.isSuccess(exit)) return [exit.value, route] as const
      const failure = Cause.failureOption(exit.cause)
      if (Option.isNone(failure)) return yield* Effect.failCause(exit.cause as Cause.Cause<never>)
      if (failure.value instanceof Rerouted) {
        meter.progress.reroutedAfterWait()
        yield* Effect.logDebug(
          `the breaker of ${route.endpoint.name} opened while ${plan.model.alias} waited for a rate-limit slot: routing again`
        ).pipe(Effect.annotateLogs({ traceId: plan.traceId, endpoint: route.endpoint.name }))
        continue
      }
      if (failure.value instanceof Unkeyed) {
        const unkeyed = failure.value.error
        yield* Effect.logWarning(
          `fallback "${route.model.alias}" of ${plan.model.alias} left out: ${unkeyed.message}`
        ).pipe(Effect.annotateLogs({ traceId: plan.traceId, fallback: route.model.alias }))
        routing = withoutKeylessFallback(routing, route.model.alias)
        // nothing else could ever serve (allowed_regions left only that fallback): the missing key is why
        if (routing.own.length === 0 && routing.fallbacks.length === 0) {
          return yield* Effect.fail(lastError ?? unkeyed)
        }
        continue
      }
      if (failure.value instanceof NotSent) {
        yield* admission.failed(plan.traceId, meter.progress, route, failure.value.error)
        return yield* Effect.fail(lastError ?? failure.value.error)
      }
      const error = failure.value instanceof CutShort ? failure.value.error : failure.value
      lastError = error
      yield* admission.failed(plan.traceId, meter.progress, route, error)
      const now = yield* Clock.currentTimeMillis
      const [decision, next] = yield* RetryPolicy.decide(
        resilience,
        policy,
        state,
        error,
        now,
        isOnlyEndpoint(routing, route) && !(yield* opened(route.endpoint.name))
      )
      if (decision._tag === "fail") return yield* Effect.fail(decision.error)
      const delayMs = Duration.toMillis(decision.delay)
      // Every breaker the call could use is open past the delay (its own failures opened the last one):
      // the retry could only find nothing usable, so the call ends now rather than after the sleep.
      if (now + delayMs < (yield* router.usableAt(routing))) return yield* Effect.fail(error)
      // what the failed attempt was billed is the call's (held with the next attempt, settled with it)
      yield* metering.chargeFailed(meter, error)
      yield* Effect.logDebug(
        `retrying ${plan.model.alias} after ${error._tag} (${error.reason}) from ${route.endpoint.name}: waiting ${
          Math.round(delayMs)
        } ms`
      ).pipe(Effect.annotateLogs({
        traceId: plan.traceId,
        endpoint: route.endpoint.name,
        attempt: meter.progress.attempts,
        error: error._tag,
        reason: error.reason,
        delayMs
      }))
      // counted as slept: a caller that leaves during the wait made no retry and waited only so long
      yield* error._tag === "RateLimitError"
        ? Effect.sleep(decision.delay).pipe(
          Effect.ensuring(
            Effect.flatMap(
              Clock.currentTimeMillis,
              (end) => telemetry.rateLimitWaited(route.model.provider, end - now)
            )
          )
        )
        : Effect.sleep(decision.delay)
      yield* telemetry.retried(error.reason)
      state = next
      // After a 429 the next attempt stays and waits; after any other failure it fails over (API.md §14).
      previous = { endpoint: route.endpoint.name, stay: error._tag === "RateLimitError" }
    }
  }

  /**
   * Runs attempts until one succeeds or the policy gives up; returns the answer and where it came
   * from. Interruptions and defects end the loop as they are. With `successIn` (a stream's scope), the
   * breaker counts a successful attempt by how that scope closes (`CircuitBreaker.guard`).
   */
  const run = <A>(
    meter: Meter,
    attempt: Attempt<A>,
    successIn?: Scope.Scope
  ): Effect.Effect<readonly [A, Route], LLMError> => Effect.gen(() => runSteps(meter, attempt, successIn))

  return { run }
}

/** The attempt runner of a layer. */
export type Attempts = ReturnType<typeof make>
