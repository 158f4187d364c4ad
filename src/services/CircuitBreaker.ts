/**
 * One circuit breaker per endpoint (API.md §7): a `Ref`-held state machine, time from `Clock`.
 * `closed` → `open` after `failureThreshold` consecutive counted failures; after `recoveryTimeoutS`
 * the next admission becomes the single `half_open` probe; its success closes, its failure reopens.
 * Attempts admitted in an earlier closed period (stragglers) report nothing.
 * An admitted attempt runs under `guard`, which reads its `Exit` and records the outcome, so no caller
 * decides what counts as a failure or can leave a probe unreleased.
 */
import * as Cause from "effect/Cause"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import * as Ref from "effect/Ref"
import * as Scope from "effect/Scope"
import type { CircuitBreakerConfig } from "../domain/Config.js"
import * as KeyedSignal from "../internal/KeyedSignal.js"
import * as Telemetry from "../internal/Telemetry.js"
import { LLMConfig } from "./LLMConfig.js"

/** A breaker's state. `failures` counts consecutive counted failures. */
export type BreakerState =
  | { readonly _tag: "closed"; readonly failures: number }
  | {
    readonly _tag: "open"
    readonly failures: number
    readonly reopensAt: number
    /** A half-open breaker whose probe was given back: admitting the next probe is no new transition. */
    readonly givenBack?: true
  }
  | { readonly _tag: "half_open"; readonly failures: number }

/** What `admit` decided for one attempt. A `pass` names the closed period it was admitted in. */
export type Admission =
  | { readonly _tag: "pass"; readonly period: number }
  | { readonly _tag: "probe" }
  | { readonly _tag: "reject"; readonly reopensAt: number }

/** How an attempt ended, as far as the breaker is concerned. */
export type AttemptOutcome =
  /** The endpoint answered well. */
  | "success"
  /** The endpoint answered, but with an error that does not count (4xx, 429): the count is kept as is. */
  | "neutral"
  /** A failure that counts: retryable errors and timeouts. */
  | "failure"
  /** The attempt never reached the endpoint (e.g. abandoned before the request); frees a probe slot. */
  | "abandoned"

/** One endpoint's state, for inspection. */
export interface EndpointBreaker {
  readonly endpoint: string
  readonly state: BreakerState["_tag"]
  readonly failures: number
  /** Epoch ms when an open breaker lets its probe through. */
  readonly reopensAt: number | undefined
}

export declare namespace CircuitBreaker {
  export interface Service {
    /** Asks to send one attempt to `endpoint`. An admission that is not `reject` must be used through `guard`. */
    readonly admit: (endpoint: string) => Effect.Effect<Admission>
    /**
     * Whether `admission` (from `admit`) still lets its attempt through: a pass of the current closed
     * period, or the probe. Read only. An attempt that waited after its admission (for a rate-limit
     * slot) asks again before sending: the breaker may have opened meanwhile.
     */
    readonly stillAdmits: (endpoint: string, admission: Admission) => Effect.Effect<boolean>
    /**
     * Completes when `admission` (to `endpoint`) no longer stands: at once if the breaker opened since it
     * was given, else at the next opening. An attempt waiting for a rate-limit slot wakes then, to be
     * routed again, rather than sleep out a wait for an endpoint it will not be sent to.
     * (Optional, for a hand-made service: without it the wait runs its course.)
     */
    readonly whenOpened?: ((endpoint: string, admission: Admission) => Effect.Effect<void>) | undefined
    /**
     * Runs an admitted attempt and records its outcome from its `Exit` (`outcomeOf`), however it ends
     * (interruption included). The effect's result is passed through unchanged. With `successIn`, a
     * successful attempt's outcome is that scope's exit instead, recorded when it closes: a stream's
     * attempt succeeds at its first delta, and what the endpoint did after it (finished, or was cut)
     * is what counts — but a probe's first delta closes the breaker then, its stream's end counting
     * as an attempt of the closed breaker.
     */
    readonly guard: <A, E, R>(
      endpoint: string,
      admission: Admission,
      attempt: Effect.Effect<A, E, R>,
      successIn?: Scope.Scope
    ) => Effect.Effect<A, E, R>
    /** Every known endpoint's breaker; an open one past its recovery time reads as `half_open` (API.md §7). */
    readonly states: () => Effect.Effect<ReadonlyArray<EndpointBreaker>>
  }
}

/**
 * How an attempt's `Exit` counts (API.md §7, §11, §14): success; a `RetryableError` (5xx, timeout,
 * connection, overload, a cut stream) is a failure; any other answer from the endpoint (a 4xx, a 429,
 * an undecodable 200 — errors carrying the HTTP `status`) is neutral; anything that never reached the
 * endpoint (interruption, a budget or config refusal, a local rate limit, a defect) is abandoned.
 */
export const outcomeOf = (exit: Exit.Exit<unknown, unknown>): AttemptOutcome => {
  if (Exit.isSuccess(exit)) return "success"
  const failure = Cause.failureOption(exit.cause)
  if (Option.isNone(failure)) return "abandoned"
  const error = failure.value as { readonly _tag?: unknown; readonly status?: unknown }
  if (error._tag === "RetryableError") return "failure"
  return typeof error.status === "number" ? "neutral" : "abandoned"
}

/** The breakers of one layer: every call through it shares them. */
export class CircuitBreaker
  extends Context.Tag("effect-llm/CircuitBreaker")<CircuitBreaker, CircuitBreaker.Service>()
{}

/**
 * A breaker's state and its closed period (counted up each time it opens). An attempt admitted in an
 * earlier period (a straggler, still running when the breaker opened) reports nothing: only the probe
 * moves an open or half-open breaker, and an old failure does not count against a breaker closed since.
 */
interface Cell {
  readonly state: BreakerState
  readonly period: number
}

const closed: BreakerState = { _tag: "closed", failures: 0 }

const logTransition = (endpoint: string, from: BreakerState, to: BreakerState) =>
  from._tag === to._tag
    ? Effect.void
    : Effect.zipRight(
      Metric.increment(Telemetry.withTags(Telemetry.breakerTransitions, { endpoint, from: from._tag, to: to._tag })),
      Effect.logWarning(`circuit breaker ${endpoint}: ${from._tag} -> ${to._tag}`).pipe(
        Effect.annotateLogs({ endpoint, from: from._tag, to: to._tag, failures: to.failures })
      )
    )

/**
 * Builds the breakers from config, one per endpoint name: the configured `endpoints` from the start
 * (so `states()` lists every one, closed until used), any other name on first use.
 */
export const make = (
  config: CircuitBreakerConfig,
  endpoints: Iterable<string> = []
): Effect.Effect<CircuitBreaker.Service> =>
  Effect.sync(() => {
    const cells = new Map<string, Ref.Ref<Cell>>()
    const recoveryMs = config.recoveryTimeoutS * 1000
    const cell = (endpoint: string): Ref.Ref<Cell> => {
      const found = cells.get(endpoint)
      if (found !== undefined) return found
      const created = Ref.unsafeMake<Cell>({ state: closed, period: 0 })
      cells.set(endpoint, created)
      return created
    }
    for (const endpoint of endpoints) cell(endpoint)
    // What the attempts waiting for a rate-limit slot on an endpoint await: done (and dropped) when the
    // endpoint's breaker opens. One per endpoint that has a waiter.
    const openings = KeyedSignal.make()
    // Every attempt runs two transitions (admit, record): the clock is read inside the Ref's update
    // and the log effect built only on a change, so an unchanged breaker costs two steps, not six.
    // A change `f` marks `quiet` is not logged nor counted: readers see no change (a probe given back).
    const transition = <A>(
      endpoint: string,
      f: (state: BreakerState, now: number, period: number) => readonly [A, BreakerState, quiet?: boolean]
    ) =>
      Effect.clockWith((clock) =>
        Effect.flatMap(
          Ref.modify(cell(endpoint), ({ period, state }) => {
            const [result, next, quiet] = f(state, clock.unsafeCurrentTimeMillis(), period)
            const nextPeriod = state._tag === "closed" && next._tag !== "closed" ? period + 1 : period
            return [[result, state, quiet === true ? state : next] as const, { state: next, period: nextPeriod }]
          }),
          ([result, from, to]) => {
            if (from._tag === to._tag) return Effect.succeed(result)
            if (to._tag === "open") openings.fire(endpoint)
            return Effect.as(logTransition(endpoint, from, to), result)
          }
        )
      )

    const admit = (endpoint: string) =>
      transition<Admission>(endpoint, (state, now, period) => {
        switch (state._tag) {
          case "closed":
            return [{ _tag: "pass", period }, state]
          case "half_open":
            return [{ _tag: "reject", reopensAt: now + recoveryMs }, state]
          case "open":
            return now >= state.reopensAt
              ? [{ _tag: "probe" }, { _tag: "half_open", failures: state.failures }, state.givenBack === true]
              : [{ _tag: "reject", reopensAt: state.reopensAt }, state]
        }
      })

    const record = (endpoint: string, admission: Admission, outcome: AttemptOutcome) =>
      admission._tag === "reject" ? Effect.void : transition<void>(endpoint, (state, now, period) => {
        if (admission._tag === "pass" && (state._tag !== "closed" || admission.period !== period)) {
          return [undefined, state]
        }
        if (outcome === "abandoned") {
          // A probe that never went out gives its slot back: the breaker is open and due again at once,
          // which `states()` reads as the half_open it was (no transition to log).
          return state._tag === "half_open" && admission._tag === "probe"
            ? [undefined, { _tag: "open", failures: state.failures, reopensAt: now, givenBack: true }, true]
            : [undefined, state]
        }
        if (outcome === "success") return [undefined, closed]
        if (outcome === "neutral") {
          // A probe that got any answer proves the endpoint reachable: close; otherwise keep the count.
          return [undefined, state._tag === "half_open" ? closed : state]
        }
        if (state._tag !== "closed") {
          // Only the probe reports here; its failure reopens for another recovery period.
          return [undefined, { _tag: "open", failures: state.failures + 1, reopensAt: now + recoveryMs }]
        }
        const failures = state.failures + 1
        return [
          undefined,
          failures >= config.failureThreshold
            ? { _tag: "open", failures, reopensAt: now + recoveryMs }
            : { _tag: "closed", failures }
        ]
      })

    const stillAdmits = (endpoint: string, admission: Admission) =>
      Effect.map(Ref.get(cell(endpoint)), ({ period, state }) =>
        admission._tag === "pass"
          ? state._tag === "closed" && admission.period === period
          : admission._tag === "probe" && state._tag === "half_open")

    // An open breaker moves to half_open only when its probe is admitted; past its recovery time it
    // already is half_open as far as a reader is concerned (the read changes nothing).
    const states = () =>
      Effect.clockWith((clock) =>
        Effect.forEach([...cells.entries()], ([endpoint, ref]) =>
          Effect.map(Ref.get(ref), ({ state: s }): EndpointBreaker => {
            const open = s._tag === "open" && clock.unsafeCurrentTimeMillis() < s.reopensAt
            return {
              endpoint,
              state: s._tag === "open" && !open ? "half_open" : s._tag,
              failures: s.failures,
              reopensAt: open ? s.reopensAt : undefined
            }
          }))
      )

    // A streamed probe's first delta closes the breaker at once, handing back the pass its stream's
    // end is then recorded under (as any attempt of the closed breaker): one atomic step, so no other
    // attempt's outcome falls between the closing and the period it is read from.
    const closeByProbe = (endpoint: string) =>
      transition<Admission>(endpoint, (_state, _now, period) => [{ _tag: "pass", period }, closed])

    const guard = <A, E, R>(
      endpoint: string,
      admission: Admission,
      attempt: Effect.Effect<A, E, R>,
      successIn?: Scope.Scope
    ) =>
      Effect.onExit(attempt, (exit) => {
        if (successIn === undefined || !Exit.isSuccess(exit)) {
          return record(endpoint, admission, outcomeOf(exit))
        }
        // a probe's stream does not keep every other attempt off a serving endpoint for its whole length
        if (admission._tag === "probe") {
          return Effect.flatMap(closeByProbe(endpoint), (pass) =>
            Scope.addFinalizerExit(successIn, (end) =>
              record(endpoint, pass, outcomeOf(end))))
        }
        return Scope.addFinalizerExit(successIn, (end) =>
          record(endpoint, admission, outcomeOf(end)))
      })

    // checked after the waiter is registered: an opening while it asked the ledger for a slot (a
    // PostgreSQL round trip) is seen, not waited for until the next one
    const whenOpened = (endpoint: string, admission: Admission) =>
      openings.wait(
        endpoint,
        Effect.map(stillAdmits(endpoint, admission), (admits) =>
          !admits)
      )

    return CircuitBreaker.of({ admit, stillAdmits, whenOpened, guard, states })
  })

/** The breakers, configured from `resilience.circuit_breaker`. */
export const layer: Layer.Layer<CircuitBreaker, never, LLMConfig> = Layer.effect(
  CircuitBreaker,
  Effect.flatMap(LLMConfig, ({ config }) =>
    make(
      config.resilience.circuitBreaker,
      Object.values(config.providers).flatMap((provider) => provider.endpoints.map((endpoint) => endpoint.name))
    ))
)
