/**
 * Keeping a call's hold counting while the call is in flight (API.md §6: `hold_ttl_s` is for holds
 * whose process died): a renewal each third of the TTL, on time, while a unary call's attempts run
 * (its waits for rate-limit slots and backoff, an answer slower than the TTL) and while a stream is
 * open, however slowly its provider sends or its consumer reads.
 */
import type * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Runtime from "effect/Runtime"
import * as Scope from "effect/Scope"
import type { BudgetConfig } from "../domain/Config.js"
import { isLiveClock, maxTimerMs } from "../internal/Timeout.js"
import type { Ledger } from "../services/Ledger.js"
import type { Meter } from "./Meter.js"

/** The renewals of a layer's calls, over its ledger. */
export const make = (ledger: Ledger.Service, budget: BudgetConfig) => {
  const renew = ledger.renew
  const renewEveryMs = (budget.holdTtlS * 1000) / 3
  /**
   * Renews `meter`'s hold each third of the TTL until the call settles or the fiber is interrupted:
   * a stream is pulled as fast as its consumer reads, so a slow consumer (or a long pause of the
   * provider's) would otherwise let the hold of a call still open lapse. Each renewal completes once
   * begun, so interrupting the fiber before the commit leaves no renewal after it. A renewal that
   * fails leaves the hold to its TTL; the call goes on. Undefined when the ledger does not renew.
   */
  const keepRenewed = (meter: Meter, clock: Clock.Clock): Effect.Effect<void> | undefined => {
    if (renew === undefined) return undefined
    // the hold as it stands once a raise under way is written (`Meter.writes`); the next renewal a
    // third of the TTL after this one ends: never at once after a slow one (a ledger lock waited out),
    // which would take the permit again before a raise waiting for it
    const writes = meter.writes ??= Effect.unsafeMakeSemaphore(1)
    const renewal = Effect.suspend(() => {
      const held = meter.hold
      return Effect.catchAll(renew(held), (error) => Effect.logDebug(`hold ${held.id} not renewed: ${error.message}`))
    }).pipe(
      writes.withPermits(1),
      Effect.tap(() => void (meter.renewedAt = clock.unsafeCurrentTimeMillis())),
      Effect.uninterruptible
    )
    const loop: Effect.Effect<void> = Effect.suspend(() => {
      if (meter.settled) return Effect.void
      const wait = meter.renewedAt + renewEveryMs - clock.unsafeCurrentTimeMillis()
      // whole milliseconds: a TestClock keeps time to the nanosecond, and a third of a TTL (33,333.33… ms)
      // would leave a fraction of one to sleep for again and again
      return wait > 0 ? Effect.zipRight(Effect.sleep(Math.ceil(wait)), loop) : Effect.zipRight(renewal, loop)
    })
    // interruptible whatever its caller (an acquire, `Effect.uninterruptible`): stopping it must not
    // wait for a loop that ends only at the settlement, which comes after the stop
    return Effect.interruptible(loop)
  }

  /**
   * Starts keeping `meter`'s hold renewed (`keepRenewed`); the effect returned stops it (no renewal
   * after it; one under way is waited for). Under the live clock the renewing fiber is started only
   * when the first renewal is due — a plain timer until then, so a call shorter than a third of the
   * hold TTL (nearly every one) forks no fiber and sleeps no `Effect.sleep`; under any other clock
   * (`TestClock`) it is forked at once (into `scope`, else as the caller's child), its waits the
   * clock's. Undefined when the ledger does not renew.
   */
  const startRenewing = (
    meter: Meter,
    clock: Clock.Clock,
    scope: Scope.Scope | undefined
  ): Effect.Effect<Effect.Effect<void>> | undefined => {
    const renewing = keepRenewed(meter, clock)
    if (renewing === undefined) return undefined
    return Effect.withFiberRuntime((fiber, status) => {
      const firstDue = meter.renewedAt + renewEveryMs - clock.unsafeCurrentTimeMillis()
      if (!isLiveClock(fiber) || !(firstDue <= maxTimerMs)) {
        const forked = scope === undefined ? Effect.fork(renewing) : Effect.forkIn(renewing, scope)
        return Effect.map(forked, (renewer) => Effect.asVoid(Fiber.interrupt(renewer)))
      }
      // what the fiber would have been forked with, read now (a fiber's state is its own)
      const context = fiber.currentContext
      const runtimeFlags = status.runtimeFlags
      const fiberRefs = fiber.getFiberRefs()
      let stopped = false
      let renewer: Fiber.RuntimeFiber<void> | undefined
      const timer = setTimeout(() => {
        if (!stopped) renewer = Runtime.runFork(Runtime.make({ context, runtimeFlags, fiberRefs }), renewing)
      }, Math.max(0, firstDue))
      // the call's own socket (and a stream's consumer) keep the process alive, not this timer
      timer.unref()
      return Effect.succeed(Effect.suspend(() => {
        stopped = true
        clearTimeout(timer)
        const running = renewer
        renewer = undefined
        return running === undefined ? Effect.void : Effect.asVoid(Fiber.interrupt(running))
      }))
    })
  }

  /**
   * Keeps `meter`'s hold renewed while `scope` is open (a stream's); the effect returned stops it, as
   * does closing `scope`. Undefined when the ledger does not renew.
   */
  const keepRenewedIn = (
    meter: Meter,
    clock: Clock.Clock,
    scope: Scope.Scope
  ): Effect.Effect<Effect.Effect<void> | undefined> => {
    const start = startRenewing(meter, clock, scope)
    if (start === undefined) return Effect.succeed(undefined)
    // after the settling finalizer: closing the scope stops it first
    return Effect.tap(start, (stop) => Scope.addFinalizer(scope, stop))
  }

  /**
   * Runs a unary call's attempts with `meter`'s hold kept renewed, stopped before the call settles:
   * an answer slower than the hold TTL (a long reasoning model, a short TTL) keeps its hold counting.
   */
  const keepRenewedWhile = <A, E, R>(
    meter: Meter,
    clock: Clock.Clock,
    attempts: Effect.Effect<A, E, R>
  ): Effect.Effect<A, E, R> => {
    const start = startRenewing(meter, clock, undefined)
    return start === undefined ? attempts : Effect.flatMap(start, (stop) => Effect.ensuring(attempts, stop))
  }

  return { keepRenewedIn, keepRenewedWhile }
}
