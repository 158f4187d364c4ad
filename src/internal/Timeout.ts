/**
 * Timeouts that cost one fiber instead of two. `Effect.timeoutFail` races the effect against a
 * sleeping fiber (two forks, a sleep and a join per attempt, per stream pull); under the live clock
 * this runs the effect in one child fiber and waits on it with a plain timer. Under any other clock
 * (`TestClock`, a user's `withClock`) it is `Effect.timeoutFailCause` itself, so tests stay driven by
 * their clock.
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

/** A stream's pull, failed with `idle.onIdle()` when the next chunk takes longer than `idle.duration`. */
export const idleTimeout = <A, E, R, E1>(
  pull: Effect.Effect<Chunk.Chunk<A>, Option.Option<E>, R>,
  idle: { readonly duration: Duration.Duration; readonly onIdle: () => E1 }
): Effect.Effect<Chunk.Chunk<A>, Option.Option<E | E1>, R> =>
  timeoutFailCause(pull, idle.duration, () => Cause.fail(Option.some<E | E1>(idle.onIdle())))
