/**
 * Drives the `TestClock` for a fiber that mixes real I/O (loopback HTTP) with sleeps: whenever
 * something sleeps on the test clock, the clock moves to the earliest wake-up; otherwise the fiber
 * is given the event loop. No wall-clock waiting, and no adjustment made before a sleep exists.
 */
import * as Chunk from "effect/Chunk"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as TestClock from "effect/TestClock"

/** Joins `fiber`, moving the test clock to each sleep's wake-up time as the sleeps appear. */
export const joinAdvancing = <A, E>(fiber: Fiber.Fiber<A, E>) =>
  Effect.gen(function*() {
    while (true) {
      const done = yield* Fiber.poll(fiber)
      if (Option.isSome(done)) return yield* done.value
      const sleeps = Chunk.toReadonlyArray(yield* TestClock.sleeps())
      if (sleeps.length > 0) {
        const now = yield* Clock.currentTimeMillis
        yield* TestClock.adjust(Math.max(0, Math.min(...sleeps) - now))
      } else {
        yield* Effect.yieldNow()
      }
    }
  })
