/**
 * Timeouts that cost one fiber instead of two, or none. `Effect.timeoutFail` races the effect against
 * a sleeping fiber (two forks, a sleep and a join per attempt, per stream pull); under the live clock
 * this runs the effect in one child fiber and waits on it with a plain timer, and an HTTP attempt whose
 * client honours an `AbortController` runs in the caller's fiber with a timer that aborts its request
 * (`timeoutAbortable`). Under any other clock (`TestClock`, a user's `withClock`) it is
 * `Effect.timeoutFailCause` itself, so tests stay driven by their clock.
 */
import * as Cause from "effect/Cause"
import type * as Chunk from "effect/Chunk"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as DefaultServices from "effect/DefaultServices"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"

const liveClock = Context.get(DefaultServices.liveServices, Clock.Clock)

/**
 * The live clock's time in epoch ms (what a live-clock fiber's `Clock.currentTimeMillis` reads). Its
 * timers are `setTimeout`'s, which is what `Effect.sleep` uses under it: `Clock` exposes no other.
 */
export const liveNow = (): number => liveClock.unsafeCurrentTimeMillis()

/** Longest delay `setTimeout` keeps (longer ones fire at once). */
export const maxTimerMs = 2_147_483_647

/** Whether `fiber` runs on the live clock (a plain timer then measures what its clock would). */
export const isLiveClock = (fiber: Fiber.RuntimeFiber<unknown, unknown>): boolean =>
  Context.unsafeGet(fiber.getFiberRef(DefaultServices.currentServices), Clock.Clock) === liveClock

/** `self`, failed with `onTimeout()` if it has not ended within `duration` (it is interrupted first). */
export const timeoutFailCause = <A, E, R, E1>(
  self: Effect.Effect<A, E, R>,
  duration: Duration.Duration,
  onTimeout: () => Cause.Cause<E1>
): Effect.Effect<A, E | E1, R> =>
  Effect.withFiberRuntime<A, E | E1, R>((fiber) => {
    const ms = Duration.toMillis(duration)
    if (!isLiveClock(fiber) || !(ms >= 0 && ms <= maxTimerMs)) {
      return Effect.timeoutFailCause(self, { duration, onTimeout })
    }
    return Effect.uninterruptibleMask((restore) =>
      // The child ends with the effect's `Exit` as its value: a failure is the caller's to report,
      // not logged as the child's unhandled error.
      Effect.flatMap(Effect.fork(Effect.exit(restore(self))), (child) =>
        restore(Effect.async<A, E | E1>((resume) => {
          let done = false
          const timer = setTimeout(() => {
            if (done) return
            done = true
            resume(Effect.zipRight(Fiber.interrupt(child), Effect.failCause(onTimeout())))
          }, ms)
          child.addObserver((exit: Exit.Exit<Exit.Exit<A, E>>) => {
            if (done) return
            done = true
            clearTimeout(timer)
            resume(Exit.flatten(exit))
          })
          // The caller was interrupted: stop the timer and the effect.
          return Effect.suspend(() => {
            done = true
            clearTimeout(timer)
            return Fiber.interrupt(child)
          })
        })))
    )
  })

/** `self`, failed with `onTimeout()` if it has not ended within `duration` (it is interrupted first). */
export const timeoutFail = <A, E, R, E1>(
  self: Effect.Effect<A, E, R>,
  duration: Duration.Duration,
  onTimeout: () => E1
): Effect.Effect<A, E | E1, R> => timeoutFailCause(self, duration, () => Cause.fail(onTimeout()))

/**
 * An attempt that sends a request, failed with `onTimeout()` if it has not ended within `duration`.
 * With `abortable` (the attempt's client honours the controller it is given:
 * `ProviderClient.abortsRequests`) and under the live clock, the attempt runs in the caller's fiber
 * and a plain timer aborts its request's controller: every await of an HTTP attempt (the response, its
 * body) then fails at once, and that failure is reported as the timeout. No fiber is forked (a fork
 * was ~15% of a unary call's CPU without a network, bench/overhead.ts). Otherwise `timeoutFail`: the
 * attempt is given no controller and is interrupted. Interrupting the caller aborts the request, as
 * `@effect/platform`'s client does for a request it made the controller of.
 *
 * `resultReadsRequest`: the attempt's value goes on reading the request (an opened stream). A value
 * that arrives after the timer fired is then spoilt (its request was aborted) and the attempt is
 * reported as the timeout; otherwise (an answer read to its end) it is still the answer.
 */
export const timeoutAbortable = <A, E, R, E1>(
  attempt: (abort: AbortController | undefined) => Effect.Effect<A, E, R>,
  abortable: boolean,
  duration: Duration.Duration,
  onTimeout: () => E1,
  options?: { readonly resultReadsRequest?: boolean }
): Effect.Effect<A, E | E1, R> =>
  Effect.withFiberRuntime<A, E | E1, R>((fiber) => {
    const ms = Duration.toMillis(duration)
    if (!abortable || !isLiveClock(fiber) || !(ms >= 0 && ms <= maxTimerMs)) {
      return timeoutFail(attempt(undefined), duration, onTimeout)
    }
    const controller = new AbortController()
    let timedOut = false
    const timer = setTimeout(() => {
      timedOut = true
      controller.abort()
    }, ms)
    return Effect.uninterruptibleMask((restore) =>
      Effect.matchCauseEffect(restore(attempt(controller)), {
        onSuccess: (value): Effect.Effect<A, E1> => {
          clearTimeout(timer)
          return timedOut && options?.resultReadsRequest === true ? Effect.fail(onTimeout()) : Effect.succeed(value)
        },
        onFailure: (cause): Effect.Effect<never, E | E1> => {
          clearTimeout(timer)
          if (Cause.isInterrupted(cause)) {
            if (!timedOut) controller.abort()
            return Effect.failCause(cause)
          }
          // What the abort made the attempt fail with is the timeout; a defect stays a defect.
          return timedOut && !Cause.isDie(cause) ? Effect.fail(onTimeout()) : Effect.failCause(cause)
        }
      })
    )
  })

/** A stream's pull, failed with `idle.onIdle()` when the next chunk takes longer than `idle.duration`. */
export const idleTimeout = <A, E, R, E1>(
  pull: Effect.Effect<Chunk.Chunk<A>, Option.Option<E>, R>,
  idle: { readonly duration: Duration.Duration; readonly onIdle: () => E1 }
): Effect.Effect<Chunk.Chunk<A>, Option.Option<E | E1>, R> =>
  timeoutFailCause(pull, idle.duration, () => Cause.fail(Option.some<E | E1>(idle.onIdle())))
