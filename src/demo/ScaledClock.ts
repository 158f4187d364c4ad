/**
 * A `Clock` on which time runs `factor` times faster than the wall clock: `currentTimeMillis`
 * advances `factor` ms per real ms and `sleep(d)` takes `d / factor` of real time. The tour's
 * rate-limit step runs under it so a 60 s window passes in seconds: the limiter, its waits and the
 * ledger read time only from Effect's `Clock`, so they behave exactly as they would in real time.
 */
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"

export const make = (factor: number): Clock.Clock => {
  const origin = Date.now()
  const now = () => origin + (Date.now() - origin) * factor
  return {
    [Clock.ClockTypeId]: Clock.ClockTypeId,
    unsafeCurrentTimeMillis: now,
    currentTimeMillis: Effect.sync(now),
    unsafeCurrentTimeNanos: () => BigInt(Math.round(now() * 1e6)),
    currentTimeNanos: Effect.sync(() => BigInt(Math.round(now() * 1e6))),
    sleep: (duration) =>
      Effect.async<void>((resume) => {
        const timer = setTimeout(() => resume(Effect.void), Duration.toMillis(duration) / factor)
        return Effect.sync(() => clearTimeout(timer))
      })
  }
}
