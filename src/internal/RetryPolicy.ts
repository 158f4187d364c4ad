/**
 * The retry policy of API.md §7 as an Effect `Schedule` (exponential from `base_delay_s`, doubling,
 * jittered, each delay capped at `max_delay_s`, at most `max_retries` retries), and the decision
 * that combines it with the server's rate-limit hint and the call's `retry_budget_s`.
 * The schedule is stepped explicitly rather than handed to `Effect.retry`, because a Retry-After
 * hint replaces its delay and a wait that does not fit the budget must be refused, not slept.
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Schedule from "effect/Schedule"
import * as ScheduleDecision from "effect/ScheduleDecision"
import * as Intervals from "effect/ScheduleIntervals"
import type { ResilienceConfig } from "../domain/Config.js"
import { isRetryable, isRetryRefused, type LLMError, RateLimitError } from "../domain/Errors.js"
import { billedUsageOf, withBilledUsage } from "./BilledUsage.js"

/** The backoff schedule built from `resilience.*`. Its input is the error that failed the attempt. */
export const schedule = (config: ResilienceConfig): Schedule.Schedule<unknown, LLMError> => {
  const maxMs = config.maxDelayS * 1000
  return Schedule.exponential(Duration.seconds(config.baseDelayS), 2).pipe(
    Schedule.jittered,
    // Whole milliseconds (timers have no finer grain): under TestClock a fractional sleep would leave
    // the call's timestamps and timings between two milliseconds, which the wall clock never does.
    Schedule.modifyDelay((_, delay) => Duration.millis(Math.min(Math.ceil(Duration.toMillis(delay)), maxMs))),
    Schedule.intersect(Schedule.recurs(config.maxRetries))
  )
}

/** What to do after a failed attempt. */
export type RetryDecision =
  | { readonly _tag: "retry"; readonly delay: Duration.Duration }
  | { readonly _tag: "fail"; readonly error: LLMError }

/**
 * The retry state of one call: the schedule's state plus the time the call started.
 * `decide` is pure with respect to time: `now` comes from the caller's `Clock`.
 */
export interface RetryState {
  readonly scheduleState: unknown
  readonly startedAt: number
}

/** Fresh retry state for a call that started at `now` (epoch ms). */
export const initial = (policy: Schedule.Schedule<unknown, LLMError>, now: number): RetryState => ({
  scheduleState: policy.initial,
  startedAt: now
})

/**
 * Decides whether a failed attempt is retried and after how long. Only `RetryableError` and a
 * `rate_limited` `RateLimitError` are; a rate-limit wait is the server's hint when it gave one,
 * else the schedule's delay; a wait over `max_wait_timeout_s` or past `retry_budget_s` is refused
 * (the error is returned at once; its `retryAfter` stays the server's hint, undefined without one, as
 * the wire notes say of DashScope's 429s, and the message names the wait). A `RetryableError`'s hint (a 503's
 * `Retry-After`) lengthens the schedule's delay when the retry goes back to the endpoint that sent it
 * (`backToSender`) and fits `max_wait_timeout_s` and the budget; otherwise the schedule's delay stands.
 */
export const decide = (
  config: ResilienceConfig,
  policy: Schedule.Schedule<unknown, LLMError>,
  state: RetryState,
  error: LLMError,
  now: number,
  backToSender = true
): Effect.Effect<readonly [RetryDecision, RetryState]> =>
  Effect.gen(function*() {
    const fail = (e: LLMError) => [{ _tag: "fail", error: e } as const, state] as const
    if (!isRetryable(error) || isRetryRefused(error)) return fail(error)
    const [scheduleState, , decision] = yield* policy.step(now, error, state.scheduleState)
    const next: RetryState = { scheduleState, startedAt: state.startedAt }
    const scheduled = ScheduleDecision.isDone(decision)
      ? undefined
      : Duration.millis(Math.max(0, Intervals.start(decision.intervals) - now))
    if (error._tag === "RateLimitError") {
      const delay = error.retryAfter ?? scheduled
      // a wait the call will not sleep: the message says why and how long, beside the server's words
      const notWaited = (why: string) =>
        fail(
          withMessage(
            error,
            `${error.message} (${why}; ${error.retryAfter === undefined ? "next backoff delay" : "retryAfter"} ${
              Duration.format(delay!)
            })`
          )
        )
      if (delay === undefined || scheduled === undefined) return fail(error)
      if (!config.waitOnRateLimit) return notWaited("not waited: resilience.wait_on_rate_limit is off")
      if (Duration.greaterThan(delay, Duration.seconds(config.maxWaitTimeoutS))) {
        return notWaited(
          `not waited: longer than resilience.max_wait_timeout_s (${
            Duration.format(Duration.seconds(config.maxWaitTimeoutS))
          })`
        )
      }
      if (!fitsBudget(config, state, now, delay)) {
        return notWaited(
          `not waited: no time would be left for another attempt within resilience.retry_budget_s (${
            Duration.format(Duration.seconds(config.retryBudgetS))
          })`
        )
      }
      return [{ _tag: "retry", delay } as const, next] as const
    }
    if (scheduled === undefined || !fitsBudget(config, state, now, scheduled)) return fail(error)
    const hint = backToSender && error._tag === "RetryableError" ? error.retryAfter : undefined
    const delay = hint !== undefined && Duration.greaterThan(hint, scheduled) &&
        !Duration.greaterThan(hint, Duration.seconds(config.maxWaitTimeoutS)) && fitsBudget(config, state, now, hint)
      ? hint
      : scheduled
    return [{ _tag: "retry", delay } as const, next] as const
  })

/** Whether the attempt after `delay` would still have time left of the budget (a 0 ms attempt would time out at once). */
const fitsBudget = (config: ResilienceConfig, state: RetryState, now: number, delay: Duration.Duration) =>
  now - state.startedAt + Duration.toMillis(delay) < config.retryBudgetS * 1000

/** Milliseconds left of the call's `retry_budget_s` at `now`. */
export const remainingBudgetMs = (config: ResilienceConfig, state: RetryState, now: number): number =>
  config.retryBudgetS * 1000 - (now - state.startedAt)

/**
 * A copy of a rate-limit error with some of its fields replaced (every other field kept, and the usage
 * the failed answer still reported: it was billed).
 */
const copyWith = (
  error: RateLimitError,
  changes: { readonly message?: string; readonly retryAfter?: Duration.Duration }
): RateLimitError => {
  const retryAfter = changes.retryAfter ?? error.retryAfter
  return withBilledUsage(
    new RateLimitError({
      reason: error.reason,
      message: changes.message ?? error.message,
      ...(retryAfter !== undefined ? { retryAfter } : {}),
      ...(error.limitKind !== undefined ? { limitKind: error.limitKind } : {}),
      ...(error.provider !== undefined ? { provider: error.provider } : {}),
      ...(error.endpoint !== undefined ? { endpoint: error.endpoint } : {}),
      ...(error.status !== undefined ? { status: error.status } : {})
    }),
    billedUsageOf(error)
  )
}

/** A copy of a rate-limit error with another message. */
const withMessage = (error: RateLimitError, message: string): RateLimitError => copyWith(error, { message })

/** A copy of a rate-limit error with `retryAfter` set. */
export const withRetryAfter = (error: RateLimitError, retryAfter: Duration.Duration): RateLimitError =>
  copyWith(error, { retryAfter })
