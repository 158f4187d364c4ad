/**
 * Budget alerts (API.md §12) for every backend: after a hold, a raise, or a settlement that adds to
 * spend, the limits it was checked against and the spend the backend computed for them anyway are
 * compared with the thresholds; each (scope, window, window start, threshold) fires once per ledger
 * service (once per process with `LiveLayer`) on `Ledger.alerts`, as a warning log and on a metric.
 */
import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import * as PubSub from "effect/PubSub"
import * as Stream from "effect/Stream"
import { BudgetAlert } from "../../domain/BudgetAlert.js"
import type { BudgetWindow } from "../../domain/Errors.js"
import * as Telemetry from "../../internal/Telemetry.js"
import { roundUsd } from "../../internal/Usd.js"
import type { BudgetLimit } from "../Ledger.js"
import { formatUsd, windowStart } from "./Spend.js"

/** A threshold as the percent a reader expects: 0.001 is "0.1", 0.07 is "7" (not 7.000000000000001). */
const percent = (threshold: number): string => String(Number((threshold * 100).toPrecision(6)))

/** The thresholds when neither the options nor the configuration name any. */
export const defaultAlertThresholds: ReadonlyArray<number> = [0.8, 1]

const dayMs = 86_400_000

/** Start of the window after the one starting at `start`. */
const nextWindowStart = (window: BudgetWindow, start: number): number => {
  switch (window) {
    case "daily":
      return start + dayMs
    case "weekly":
      return start + 7 * dayMs
    case "monthly": {
      const date = new Date(start)
      return Date.UTC(date.getUTCFullYear(), date.getUTCMonth() + 1, 1)
    }
  }
}

/** The alerts a scope's window has sent: thresholds are ascending, so they are always its first `sent`. */
interface Sent {
  readonly start: number
  readonly end: number
  sent: number
}

/**
 * Which alerts are due. Synchronous, so a backend calls it inside its atomic step or right after.
 * The common case — every limit's spend below the lowest threshold — is one comparison per limit;
 * past it, one map lookup per limit (no key is built, no date computed while the window lasts).
 */
export class AlertTracker {
  private readonly lowest: number
  /** scope → window → the window's bounds and how many thresholds it has alerted. */
  private readonly sent = new Map<string, Partial<Record<BudgetWindow, Sent>>>()
  /** The same for the window each record replaced, for a clock stepped back into it (an NTP correction). */
  private readonly replaced = new Map<string, Partial<Record<BudgetWindow, Sent>>>()
  private prunedOn = Number.NaN

  /** `thresholds`: ascending, each in (0, 1]. */
  constructor(private readonly thresholds: ReadonlyArray<number>) {
    this.lowest = thresholds.length === 0 ? Number.POSITIVE_INFINITY : thresholds[0]!
  }

  /** False when no threshold is configured (nothing can fire). */
  get active(): boolean {
    return this.thresholds.length > 0
  }

  /**
   * The alerts `limits` owe now that each has spent `spent[i] + added` at `now`, marked sent; undefined
   * when none. `spent[i]` is limit i's spend without `added` (the amount just held, raised or settled).
   */
  take(
    limits: ReadonlyArray<BudgetLimit>,
    spent: ReadonlyArray<number>,
    added: number,
    now: number
  ): Array<BudgetAlert> | undefined {
    let due: Array<BudgetAlert> | undefined
    for (let i = 0; i < limits.length; i++) {
      const limit = limits[i]!
      // a limit of 0 or less is none (as admission reads it): nothing to alert
      if (!(limit.limit > 0)) continue
      const total = spent[i]! + added
      if (total + 1e-12 < this.lowest * limit.limit) continue
      let reached = 0
      while (reached < this.thresholds.length && total + 1e-12 >= this.thresholds[reached]! * limit.limit) reached++
      let windows = this.sent.get(limit.scope)
      let window = windows?.[limit.window]
      if (window !== undefined && window.sent >= reached && now >= window.start && now < window.end) continue
      this.prune(now)
      // The prune may have dropped this scope's ended windows, and the scope with them: read them again,
      // so the new window's record is kept and a second call over the threshold does not alert again.
      windows = this.sent.get(limit.scope)
      window = windows?.[limit.window]
      if (window === undefined || now < window.start || now >= window.end) {
        if (windows === undefined) this.sent.set(limit.scope, windows = {})
        // The record this one replaced, when the clock went back into its window; else a fresh one.
        let replaced = this.replaced.get(limit.scope)
        const other = replaced?.[limit.window]
        const reentered = other !== undefined && now >= other.start && now < other.end
        const start = windowStart(limit.window, now)
        const next: Sent = reentered ? other : { start, end: nextWindowStart(limit.window, start), sent: 0 }
        if (window !== undefined) {
          if (replaced === undefined) this.replaced.set(limit.scope, replaced = {})
          replaced[limit.window] = window
        } else if (reentered) delete replaced![limit.window]
        windows[limit.window] = window = next
      }
      for (; window.sent < reached; window.sent++) {
        ;(due ??= []).push(
          new BudgetAlert({
            scope: limit.scope,
            window: limit.window,
            threshold: this.thresholds[window.sent]!,
            spent: roundUsd(total),
            limit: limit.limit,
            timestamp: now
          }, true)
        )
      }
    }
    return due
  }

  /**
   * Forgets the windows that ended before the one preceding `now`'s (that one is kept for a clock
   * stepped back into it), once per UTC day the clock is on.
   */
  private prune(now: number): void {
    const day = windowStart("daily", now)
    if (day === this.prunedOn) return
    this.prunedOn = day
    for (const records of [this.sent, this.replaced]) {
      for (const [scope, windows] of records) {
        for (const window of Object.keys(windows) as Array<BudgetWindow>) {
          if (windows[window]!.end <= windowStart(window, windowStart(window, now) - 1)) delete windows[window]
        }
        if (Object.keys(windows).length === 0) records.delete(scope)
      }
    }
  }
}

/** The metric label of a scope: a tag scope by its key only, so per-user scopes do not multiply label sets. */
const scopeLabel = (scope: string): string => {
  if (scope === "global" || scope.startsWith("model:")) return scope
  const colon = scope.indexOf(":")
  return `tag:${colon < 0 ? scope : scope.slice(0, colon)}`
}

/** A ledger's alerts: the tracker, how due alerts are published, and the stream subscribers read. */
export interface Alerts {
  readonly tracker: AlertTracker
  /** Publishes alerts on the stream, as warning logs and on the metric. */
  readonly publish: (alerts: ReadonlyArray<BudgetAlert>) => Effect.Effect<void>
  /** Every alert published after the stream starts (a hot stream: nothing is replayed). */
  readonly stream: Stream.Stream<BudgetAlert>
}

/**
 * A ledger's alerts for `thresholds`: sorted ascending, a repeated one kept once (else one hold would
 * publish the same alert twice) and one that is not a positive number dropped; empty: never fires.
 */
export const make = (thresholds: ReadonlyArray<number>): Effect.Effect<Alerts> =>
  Effect.map(PubSub.unbounded<BudgetAlert>(), (pubsub) => ({
    tracker: new AlertTracker(
      [...new Set(thresholds)].filter((threshold) => threshold > 0 && Number.isFinite(threshold)).sort((a, b) => a - b)
    ),
    // Alerts are rare: a few scheduler turns first let a subscriber forked just before the call
    // subscribe (`Stream.runForEach(ledger.alerts, …)` takes two), so it sees the call's alerts.
    publish: (alerts) =>
      Effect.zipRight(
        Effect.repeatN(Effect.yieldNow(), 2),
        Effect.forEach(alerts, (alert) =>
          Effect.zipRight(
            Effect.zipRight(
              Metric.increment(
                Telemetry.withTags(Telemetry.budgetAlerts, {
                  scope: scopeLabel(alert.scope),
                  window: alert.window,
                  threshold: String(alert.threshold)
                })
              ),
              PubSub.publish(pubsub, alert)
            ),
            // Last, and never failing: it runs inside the call's hold, so a logger that throws (a
            // failing sink) would fail the call with its hold written and not settled.
            Effect.catchAllCause(
              Effect.logWarning(
                `budget alert: ${alert.scope} reached ${percent(alert.threshold)}% of its ${alert.window} limit (${
                  formatUsd(alert.spent)
                } of ${formatUsd(alert.limit)})`
              ).pipe(
                Effect.annotateLogs({
                  scope: alert.scope,
                  window: alert.window,
                  threshold: alert.threshold,
                  spent: alert.spent,
                  limit: alert.limit
                })
              ),
              () => Effect.void
            )
          ), { discard: true })
      ),
    stream: Stream.fromPubSub(pubsub)
  }))
