/**
 * Drives the `TestClock` for a fiber that mixes real I/O (loopback HTTP) with sleeps: whenever
 * something sleeps on the test clock, the clock moves to the earliest wake-up; otherwise the fiber
 * is given the event loop. No adjustment is made before a sleep exists.
 *
 * With `settleMs`, a sleep that exists while a response is still on its way (an attempt's timeout
 * sleeps from the moment the request leaves) is not jumped to at once: the fiber gets that much real
 * time, polled each millisecond, to make progress first. Every time the code under test sees is still
 * the test clock's; the real wait only lets loopback I/O land.
 */
import * as Chunk from "effect/Chunk"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as TestClock from "effect/TestClock"

const realTick = Effect.promise(() => new Promise<void>((resolve) => setTimeout(resolve, 1)))

/** Joins `fiber`, moving the test clock to each sleep's wake-up time as the sleeps appear. */
export const joinAdvancing = <A, E>(fiber: Fiber.Fiber<A, E>, options: { readonly settleMs?: number } = {}) =>
  Effect.gen(function*() {
    const settleMs = options.settleMs ?? 0
    while (true) {
      const done = yield* Fiber.poll(fiber)
      if (Option.isSome(done)) return yield* done.value
      const sleeps = Chunk.toReadonlyArray(yield* TestClock.sleeps())
      if (sleeps.length === 0) {
        yield* Effect.yieldNow()
        continue
      }
      if (settleMs === 0) {
        const now = yield* Clock.currentTimeMillis
        yield* TestClock.adjust(Math.max(0, Math.min(...sleeps) - now))
        continue
      }
      let waited = 0
      while (waited < settleMs && Option.isNone(yield* Fiber.poll(fiber))) {
        yield* realTick
        waited++
      }
      if (Option.isSome(yield* Fiber.poll(fiber))) continue
      const pending = Chunk.toReadonlyArray(yield* TestClock.sleeps())
      if (pending.length === 0) continue
      const now = yield* Clock.currentTimeMillis
      // whole nanoseconds, rounded up: a wake-up a float's rounding error ahead still fires
      const gapNanos = Math.max(1, Math.ceil((Math.min(...pending) - now) * 1e6))
      yield* TestClock.adjust(Duration.nanos(BigInt(gapNanos)))
    }
  })
