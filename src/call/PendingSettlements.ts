/**
 * Settlements the ledger could not write when their call ended (a file locked past its busy timeout,
 * a database unreachable): retried in the background until written, so no hold stays open and a
 * billed call is not lost when the ledger comes back (API.md §6: "no call leaves a hold behind,
 * whatever ends it"). Each retry first reads whether the hold was settled after all (a write whose
 * reply was lost), so nothing counts twice. Closing the layer makes one last bounded attempt each,
 * before the ledger itself closes; what still cannot be written is logged as lost.
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as FiberSet from "effect/FiberSet"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import type { LedgerError } from "../domain/Errors.js"
import type { Hold, Ledger } from "../services/Ledger.js"

/** Backing off from 1 s, doubling, to one attempt every 30 s. */
const retrySchedule = Schedule.exponential("1 second").pipe(Schedule.union(Schedule.spaced("30 seconds")))

/** How long the last attempt at shutdown may take. */
const lastAttemptTimeout = Duration.seconds(3)

export interface PendingSettlements {
  /** Writes `write` (the settlement of `hold`) later, in the background, until it is written. */
  readonly retry: (hold: Hold, write: Effect.Effect<void, LedgerError>) => Effect.Effect<void>
}

export const make = (ledger: Ledger.Service): Effect.Effect<PendingSettlements, never, Scope.Scope> =>
  Effect.map(FiberSet.make<void, never>(), (fibers) => {
    const settledAlready = (hold: Hold) =>
      Effect.map(
        ledger.events({ traceId: hold.traceId }),
        (events) => events.some((event) => event.type !== "hold" && event.holdId === hold.id)
      )
    const attempt = (hold: Hold, write: Effect.Effect<void, LedgerError>) =>
      Effect.flatMap(settledAlready(hold), (settled) => settled ? Effect.void : write)
    const lost = (hold: Hold, error: unknown) =>
      Effect.logError(
        `ledger: the settlement of hold ${hold.id} (trace ${hold.traceId}) could not be written before shutdown: ${
          error instanceof Error ? error.message : String(error)
        }`
      )

    const retry = (hold: Hold, write: Effect.Effect<void, LedgerError>): Effect.Effect<void> =>
      FiberSet.run(
        fibers,
        // The last attempt is armed before the wait can be interrupted (the fiber may be closed at once);
        // the wait itself is interruptible (the fiber is forked from a call's finalizer, which is not).
        Effect.uninterruptible(
          Effect.interruptible(
            attempt(hold, write).pipe(
              Effect.retry(retrySchedule),
              Effect.delay(Duration.seconds(1)),
              Effect.zipRight(
                Effect.logInfo(`ledger: the settlement of hold ${hold.id} (trace ${hold.traceId}) is written`)
              ),
              Effect.catchAll((error) => lost(hold, error))
            )
          ).pipe(
            Effect.onInterrupt(() =>
              attempt(hold, write).pipe(
                Effect.timeoutFail({
                  duration: lastAttemptTimeout,
                  onTimeout: () => new Error(`no answer within ${Duration.format(lastAttemptTimeout)}`)
                }),
                Effect.catchAll((error) => lost(hold, error))
              )
            )
          )
        )
      ).pipe(Effect.asVoid)

    return { retry }
  })
