/**
 * Settlements the ledger could not write when their call ended (a file locked past its busy timeout,
 * a database unreachable): kept, and written before the next call's hold and when the layer closes,
 * so no hold stays open and a billed call is not lost once the ledger is back (API.md §6: "no call
 * leaves a hold behind, whatever ends it"). No timer: a program waits for nothing it did not ask for.
 * Each attempt first reads whether the hold was settled after all (a write whose reply was lost), so
 * nothing counts twice; what the last attempt at close cannot write is logged as lost.
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import type { LedgerError } from "../domain/Errors.js"
import type { Hold, Ledger } from "../services/Ledger.js"

/** How long the last attempt at close may take. */
const lastAttemptTimeout = Duration.seconds(3)

interface Pending {
  readonly hold: Hold
  readonly write: Effect.Effect<void, LedgerError>
}

export interface PendingSettlements {
  /** Keeps `write` (the settlement of `hold`) for the next attempt. */
  readonly keep: (hold: Hold, write: Effect.Effect<void, LedgerError>) => void
  /** Writes what is kept (before a hold): those the ledger still refuses stay kept. Never fails. */
  readonly flush: Effect.Effect<void>
  /** Whether anything is kept (a check a call makes before its hold: no effect when nothing is). */
  readonly any: () => boolean
}

export const make = (ledger: Ledger.Service): Effect.Effect<PendingSettlements, never, Scope.Scope> =>
  Effect.gen(function*() {
    const kept: Array<Pending> = []

    const settledAlready = (hold: Hold) =>
      Effect.map(
        ledger.events({ traceId: hold.traceId }),
        (events) => events.some((event) => event.type !== "hold" && event.holdId === hold.id)
      )
    /** Writes the settlement unless the ledger has it already; whether this wrote it. */
    const attempt = ({ hold, write }: Pending) =>
      Effect.flatMap(settledAlready(hold), (settled) => settled ? Effect.succeed(false) : Effect.as(write, true))

    // Taken out whole (one fiber writes each), put back when refused again. Said at Debug: it runs on
    // the next call's path, where a success logs nothing at Info or above (API.md §14).
    const flush = Effect.suspend(() => {
      const batch = kept.splice(0)
      return Effect.forEach(batch, (pending) =>
        attempt(pending).pipe(
          Effect.tap((wrote) =>
            Effect.logDebug(
              `ledger: the settlement of hold ${pending.hold.id} (trace ${pending.hold.traceId}) ${
                wrote ? "is written" : "was written after all"
              }`
            )
          ),
          Effect.catchAll(() => Effect.sync(() => kept.push(pending)))
        ), { discard: true })
    }).pipe(Effect.uninterruptible)

    yield* Effect.addFinalizer(() =>
      Effect.forEach(kept.splice(0), (pending) =>
        attempt(pending).pipe(
          Effect.timeoutFail({
            duration: lastAttemptTimeout,
            onTimeout: () => new Error(`no answer within ${Duration.format(lastAttemptTimeout)}`)
          }),
          Effect.catchAll((error) =>
            Effect.logError(
              `ledger: the settlement of hold ${pending.hold.id} (trace ${pending.hold.traceId}) could not be written before the layer closed: ${error.message}`
            )
          )
        ), { discard: true })
    )

    return {
      keep: (hold, write) => void kept.push({ hold, write }),
      flush,
      any: () => kept.length > 0
    }
  })
