/**
 * One-shot wake-ups by key: fibers `wait(key)` until the next `fire(key)`, which wakes every waiter of
 * that key at once and starts a fresh round. Used where a sleep should end early on an event of this
 * process (tokens freed for an alias, an endpoint's breaker opening). Holds one `Deferred` per key
 * that has a waiter.
 */
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as FiberId from "effect/FiberId"

export interface KeyedSignal {
  /**
   * Completes at the next `fire(key)`; with `over`, also at once if it is true, read after the waiter
   * is registered (a fire between the check and the wait is never missed).
   */
  readonly wait: (key: string, over?: Effect.Effect<boolean>) => Effect.Effect<void>
  /** Wakes the waiters of `key` (none: nothing to do). */
  readonly fire: (key: string) => void
}

export const make = (): KeyedSignal => {
  const signals = new Map<string, Deferred.Deferred<void>>()
  return {
    wait: (key, over) =>
      Effect.suspend(() => {
        let signal = signals.get(key)
        if (signal === undefined) {
          signal = Deferred.unsafeMake<void>(FiberId.none)
          signals.set(key, signal)
        }
        const fired = Deferred.await(signal)
        return over === undefined ? fired : Effect.flatMap(over, (done) => done ? Effect.void : fired)
      }),
    fire: (key) => {
      const signal = signals.get(key)
      if (signal === undefined) return
      signals.delete(key)
      Deferred.unsafeDone(signal, Exit.void)
    }
  }
}
