/**
 * The in-memory ledger: exact running totals (the shared spend fold), and at most `maxEvents` events
 * kept for `events()` and `summary` (API.md §14), the oldest dropped first. Forgets on restart.
 */
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import type { BudgetAlert } from "../../domain/BudgetAlert.js"
import type { LedgerEvent, LedgerStatus } from "../../domain/LedgerEvent.js"
import type { Admission, Hold, Ledger, LedgerOptions, Settlement } from "../Ledger.js"
import * as Alerts from "./Alerts.js"
import {
  applyRaise,
  holdEvent,
  holdOf,
  isNoopRaise,
  raisedHold,
  raiseRecord,
  renewRecord,
  settlementEvent
} from "./Events.js"
import { budgetedTagSet, budgetExceeded, firstRefusal, settledInLaterWindow, SpendFold, spendRow } from "./Spend.js"
import { computeSummary } from "./Summary.js"
import { RateWindows, retention } from "./Windows.js"

/** Options of the in-memory ledger. */
export interface MemoryLedgerOptions extends LedgerOptions {
  /**
   * How many events `events()` and `summary` keep (default 10,000); the totals stay exact beyond. A
   * fraction is taken down to a whole number, and anything below 1 (or not a number) keeps 1.
   */
  readonly maxEvents?: number | undefined
}

/**
 * A fresh in-memory ledger. `hold` and `raise` read the clock, check every limit and record in one
 * synchronous step, which no other fiber can interleave with: concurrent calls cannot jointly pass a limit.
 */
export const make = (options: MemoryLedgerOptions = {}): Effect.Effect<Ledger.Service> =>
  Effect.map(Alerts.make(options.alertThresholds ?? Alerts.defaultAlertThresholds), (alerts) => {
    const holdTtlS = options.holdTtlS ?? 900
    const { tracker } = alerts
    /** `result`, after publishing `due` alerts when there are any. */
    const withAlerts = <A>(due: ReadonlyArray<BudgetAlert> | undefined, result: A): Effect.Effect<A> =>
      due === undefined ? Effect.succeed(result) : Effect.as(alerts.publish(due), result)
    // at least one: with none (a negative or NaN limit) dropping the oldest never ends, or never starts
    const maxEvents = Math.max(1, Math.floor(options.maxEvents ?? 10_000) || 1)
    const fold = new SpendFold(holdTtlS, budgetedTagSet(options.budgetedTags))
    // by id, oldest first (a Map keeps insertion order, and a raise replaces its hold in place)
    const events = new Map<string, LedgerEvent>()
    // The ids in insertion order, oldest at `head`: what to drop next. (Dropping
    // `events.keys().next()` instead walks over every entry deleted before it until the Map is
    // rehashed: ~6 µs per event on a full 10,000-event ledger, growing with `maxEvents`.)
    let order: Array<string> = []
    let head = 0
    let sequence = 0
    const nextId = () => `mem-${++sequence}`
    const keep = (event: LedgerEvent) => {
      events.set(event.id, event)
      order.push(event.id)
      while (events.size > maxEvents) events.delete(order[head++]!)
      if (head >= 4096 && head * 2 >= order.length) {
        order = order.slice(head)
        head = 0
      }
    }

    // A settlement adds to spend only above its hold, or for a hold that no longer counted (expired):
    // only then, or when it lands in a later window than its hold (`settledInLaterWindow`), are its
    // limits checked for alerts.
    const settle = (hold: Hold, settlement: Settlement, type: "commit" | "cancel", status: LedgerStatus) =>
      Effect.clockWith((clock) => {
        const now = clock.unsafeCurrentTimeMillis()
        const adds = tracker.active && hold.limits !== undefined && hold.limits.length > 0 &&
          (settlement.cost > hold.estimate + 1e-12 ||
            (settlement.cost > 0 && (!fold.counts(hold.id, now) || settledInLaterWindow(hold.timestamp, now))))
        const event = settlementEvent(hold, settlement, type, status, nextId(), now)
        fold.add(spendRow(event))
        keep(event)
        if (!adds) return Effect.void
        return withAlerts(tracker.take(hold.limits!, fold.spentIn(hold.limits!, now), 0, now), undefined)
      })

    const windows = new RateWindows()

    const service: Ledger.Service = {
      hold: (request) =>
        Effect.clockWith((clock) => {
          const now = clock.unsafeCurrentTimeMillis()
          const spent = fold.spentIn(request.limits, now)
          const refusal = firstRefusal(request.limits, spent, request.estimate)
          if (refusal !== undefined) {
            return Effect.fail(budgetExceeded(refusal.limit, refusal.spent, request.estimate, request.provider))
          }
          const id = nextId()
          const event = holdEvent(request, id, now)
          fold.add(spendRow(event))
          keep(event)
          return withAlerts(tracker.take(request.limits, spent, request.estimate, now), holdOf(request, id, now))
        }),
      raise: (hold, request) =>
        isNoopRaise(hold, request) ?
          Effect.succeed(hold) :
          Effect.clockWith((clock) => {
            const now = clock.unsafeCurrentTimeMillis()
            const amount = request.estimate
            const spent = fold.spentIn(request.limits, now, hold.id)
            const refusal = firstRefusal(request.limits, spent, amount)
            if (refusal !== undefined) {
              return Effect.fail(budgetExceeded(refusal.limit, refusal.spent, amount, request.provider))
            }
            const raise = raiseRecord(hold, request, nextId(), now)
            fold.add(raise)
            const held = events.get(hold.id)
            if (held !== undefined) events.set(hold.id, applyRaise(held, raise))
            return withAlerts(tracker.take(request.limits, spent, amount, now), raisedHold(hold, request))
          }),
      renew: (hold) =>
        Effect.clockWith((clock) =>
          Effect.sync(() => fold.add(renewRecord(hold, nextId(), clock.unsafeCurrentTimeMillis())))
        ),
      commit: (hold, settlement) => settle(hold, settlement, "commit", "ok"),
      cancel: (hold, settlement) => settle(hold, settlement, "cancel", settlement.status),
      spendToday: () => Effect.map(Clock.currentTimeMillis, (now) => fold.spent("global", "daily", now)),
      spend: (scope, window) => Effect.map(Clock.currentTimeMillis, (now) => fold.spent(scope, window, now)),
      scopes: () => Effect.map(Clock.currentTimeMillis, (now) => fold.scopes(now)),
      events: (query) =>
        Effect.sync(() => {
          const listed: Array<LedgerEvent> = []
          for (const event of events.values()) {
            if (
              (query?.traceId === undefined || event.traceId === query.traceId) &&
              (query?.since === undefined || event.timestamp >= query.since.getTime())
            ) listed.push(event)
          }
          return listed
        }),
      summary: (query) =>
        Effect.map(Clock.currentTimeMillis, (now) => computeSummary([...events.values()], query, now, holdTtlS)),
      alerts: alerts.stream,
      // one synchronous step per admission: no other fiber interleaves between the check and the count
      admit: (request) =>
        Effect.clockWith((clock) =>
          Effect.sync((): Admission => {
            const now = clock.unsafeCurrentTimeMillis()
            const refusal = windows.check(request.alias, request.endpoint, request.limits, request.tokens, now)
            if (refusal !== undefined) return { _tag: "Refused", refusal }
            const slot = {
              id: nextId(),
              alias: request.alias,
              endpoint: request.endpoint,
              timestamp: now,
              tokens: request.tokens,
              keepUntil: now + retention(request.limits)
            }
            windows.add(slot)
            return { _tag: "Admitted", slot: { ...slot } }
          })
        ),
      release: (slot, tokens) => Effect.sync(() => windows.correct(slot.id, tokens)),
      pause: (alias, endpoint, until) =>
        Effect.map(Clock.currentTimeMillis, (now) => windows.pause(alias, endpoint, until, now)),
      limitUse: () =>
        Effect.map(
          Clock.currentTimeMillis,
          (now) => windows.aliases().map((alias) => ({ alias, ...windows.use(alias, now) }))
        )
    }
    return service
  })
