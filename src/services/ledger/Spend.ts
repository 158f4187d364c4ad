/**
 * The spend rule (API.md §12), once, for every backend: which scopes an event counts toward, the UTC
 * day / ISO week / month windows, and an incremental fold of the ledger's rows into what each scope
 * has spent in each window — the memory backend feeds it as it writes, the SQL ones the rows they read.
 */
import type { BudgetWindow } from "../../domain/Errors.js"
import { BudgetExceededError } from "../../domain/Errors.js"
import type { LedgerEvent } from "../../domain/LedgerEvent.js"
import { roundUsd, RunningTotal } from "../../internal/Usd.js"
import type { BudgetLimit } from "../Ledger.js"
import { OpenHolds } from "./OpenHolds.js"

const dayMs = 86_400_000

/** `LedgerOptions.budgetedTags` as the fold takes it. */
export const budgetedTagSet = (keys: ReadonlyArray<string> | undefined): ReadonlySet<string> | undefined =>
  keys === undefined ? undefined : new Set(keys)

/** Start (epoch ms) of the window holding `timestamp`: the UTC day, the ISO week (Monday, UTC) or the UTC month. */
export const windowStart = (window: BudgetWindow, timestamp: number): number => {
  const day = Math.floor(timestamp / dayMs) * dayMs
  switch (window) {
    case "daily":
      return day
    case "weekly":
      // 1970-01-01 was a Thursday: days since the epoch + 3, modulo 7, counts from Monday
      return day - (((Math.floor(timestamp / dayMs) + 3) % 7 + 7) % 7) * dayMs
    case "monthly": {
      const date = new Date(day)
      return Date.UTC(date.getUTCFullYear(), date.getUTCMonth(), 1)
    }
  }
}

/**
 * Whether a hold placed at `heldAt` is settled at `now` in another UTC day (so in another window of
 * some kind: a week or month turns only with a day). Its open hold moved into the new windows
 * unannounced at the turn, so its settlement is where those windows' alerts are checked.
 */
export const settledInLaterWindow = (heldAt: number, now: number): boolean =>
  Math.floor(heldAt / dayMs) !== Math.floor(now / dayMs)

const pad = (n: number) => String(n).padStart(2, "0")

/** `YYYY-MM-DD` of the UTC day holding `timestamp`. */
export const dayKey = (timestamp: number): string =>
  new Date(windowStart("daily", timestamp)).toISOString().slice(0, 10)

/** `YYYY-MM` of the UTC month holding `timestamp`. */
export const monthKey = (timestamp: number): string => dayKey(timestamp).slice(0, 7)

/** `YYYY-Www` of the ISO week holding `timestamp` (the year is the ISO year: that of the week's Thursday). */
export const weekKey = (timestamp: number): string => {
  const thursday = new Date(windowStart("weekly", timestamp) + 3 * dayMs)
  const year = thursday.getUTCFullYear()
  const week = 1 + Math.floor((thursday.getTime() - Date.UTC(year, 0, 1)) / (7 * dayMs))
  return `${year}-W${pad(week)}`
}

/**
 * The scopes an event counts toward: `global`, `model:<alias>`, and `<key>:<value>` for each of its
 * tags (a tag named `model` makes no scope: `model:` scopes are aliases) — with `budgetedTags`, only
 * for the tags whose key is one of them.
 */
export const scopesOf = (
  alias: string | undefined,
  tags: Readonly<Record<string, string>> | undefined,
  budgetedTags?: ReadonlySet<string>
): ReadonlyArray<string> => {
  const scopes = ["global", `model:${alias ?? ""}`]
  for (const key in tags) {
    if (key !== "model" && (budgetedTags === undefined || budgetedTags.has(key))) scopes.push(`${key}:${tags[key]}`)
  }
  return scopes
}

/**
 * True when a hold of `estimate` on top of `spent` stays within `limit` (0 means no limit), give or take
 * float rounding: a picodollar, or a few ulps of a limit past $1,000.
 */
export const fits = (spent: number, estimate: number, limit: number): boolean =>
  limit <= 0 || spent + estimate <= limit + Math.max(1e-12, limit * 1e-15)

/**
 * USD with enough significant digits for small amounts: at least cents, four significant digits
 * below $1, trailing zeros dropped past the cents (`$0.75`, `$12.50`, `$0.0000123`).
 */
export const formatUsd = (amount: number): string => {
  if (!Number.isFinite(amount)) return `$${amount}`
  const magnitude = Math.abs(amount)
  const decimals = magnitude === 0 ? 2 : Math.min(12, Math.max(2, 3 - Math.floor(Math.log10(magnitude))))
  const fixed = amount.toFixed(decimals)
  const trimmed = fixed.replace(/(\.\d\d\d*?)0+$/, "$1")
  return `${amount < 0 ? "-" : ""}$${trimmed.replace(/^-/, "")}`
}

const windowWords: Record<BudgetWindow, { readonly name: string; readonly period: string }> = {
  daily: { name: "daily", period: "today" },
  weekly: { name: "weekly", period: "this week" },
  monthly: { name: "monthly", period: "this month" }
}

/** The refusal of a hold or raise of `estimate` that `limit` cannot take on top of `spent`. */
export const budgetExceeded = (
  limit: BudgetLimit,
  spent: number,
  estimate: number,
  provider: string | undefined
): BudgetExceededError => {
  const words = windowWords[limit.window]
  return new BudgetExceededError({
    reason: `${limit.window}_limit`,
    message: `${words.name} budget exceeded for ${limit.scope}: spent ${formatUsd(spent)} of ${
      formatUsd(limit.limit)
    } ${words.period}, this call is estimated at ${formatUsd(estimate)}`,
    scope: limit.scope,
    window: limit.window,
    spent: roundUsd(spent),
    limit: limit.limit,
    estimate,
    ...(provider !== undefined ? { provider } : {})
  })
}

/** One row as the fold reads it: an event, or a `raise` that moves its hold to a new amount and alias. */
export interface SpendRow {
  readonly type: "hold" | "raise" | "commit" | "cancel"
  readonly holdId: string
  readonly cost: number
  readonly timestamp: number
  readonly alias: string | undefined
  readonly tags: Readonly<Record<string, string>> | undefined
}

/** The first limit a hold or raise does not fit, with what its scope had spent in its window. */
export interface Refusal {
  readonly limit: BudgetLimit
  readonly spent: number
}

/** The first of `limits` (in order) whose `spent` cannot take `estimate` more; undefined when every one can. */
export const firstRefusal = (
  limits: ReadonlyArray<BudgetLimit>,
  spent: ReadonlyArray<number>,
  estimate: number
): Refusal | undefined => {
  for (let i = 0; i < limits.length; i++) {
    if (!fits(spent[i]!, estimate, limits[i]!.limit)) return { limit: limits[i]!, spent: spent[i]! }
  }
  return undefined
}

const budgetWindows: ReadonlyArray<BudgetWindow> = ["daily", "weekly", "monthly"]

/**
 * Spend in a scope's window = the cost of the commits and cancels stamped in the window (a cancel's
 * partial cost counts) + the open holds younger than the hold TTL. A hold counts by age, not by
 * window, so one from before midnight keeps counting until it expires, and one stamped ahead of this
 * clock (another process's skew) counts until it expires too: the budget errs on the safe side. Only
 * the current windows' settlements count (a later window's, seen when the clock is behind the rows,
 * do not); windows before the previous one and expired holds are dropped as the clock moves on, so
 * memory stays bounded by the scopes seen in the last two months plus the open holds (`OpenHolds.ts`).
 * A clock stepped back into the previous window reads its spend, and an expired hold young again
 * counts again (`OpenHolds.ts` keeps it 2-3 TTLs); a clock stepped back further, or before the fold
 * started, does not see what was dropped.
 *
 * A `raise` moves its hold to the raised cost and alias and restarts its age: a raise (a fallback's,
 * or a renewal to the same cost) is written by a call still in flight, so its hold counts for another
 * TTL from then; a raise of a hold that no longer counted (expired) reserves its amount afresh.
 */
export class SpendFold {
  private readonly ttlMs: number
  private readonly open = new OpenHolds()
  private prunedOn = Number.NaN
  /** window → window start → scope → USD settled. */
  private readonly settled = new Map<BudgetWindow, Map<number, Map<string, RunningTotal>>>(
    budgetWindows.map((window) => [window, new Map()])
  )

  /** `budgetedTags`: the tag keys that make scopes (`LedgerOptions.budgetedTags`); undefined: every key. */
  constructor(holdTtlS: number, private readonly budgetedTags?: ReadonlySet<string>) {
    this.ttlMs = holdTtlS * 1000
  }

  /** Folds one row in (rows must come in the order they were written). */
  add(row: SpendRow): void {
    switch (row.type) {
      case "hold":
      case "raise":
        this.open.set(row.holdId, {
          timestamp: row.timestamp,
          cost: row.cost,
          scopes: distinctScopes(row, this.budgetedTags)
        })
        return
      default: {
        this.open.delete(row.holdId)
        const scopes = distinctScopes(row, this.budgetedTags)
        for (const [window, starts] of this.settled) {
          const start = windowStart(window, row.timestamp)
          let byScope = starts.get(start)
          if (byScope === undefined) starts.set(start, byScope = new Map())
          // compensated: a plain float sum drifted past the tolerance of `fits` (a call that fitted exactly was refused)
          for (const scope of scopes) {
            const total = byScope.get(scope)
            if (total === undefined) byScope.set(scope, new RunningTotal(row.cost))
            else total.add(row.cost)
          }
        }
      }
    }
  }

  /** True when the hold is open and counts at `now` (not settled, not expired). */
  counts(holdId: string, now: number): boolean {
    const held = this.open.get(holdId)
    return held !== undefined && now - held.timestamp < this.ttlMs
  }

  /** What `scope` has spent in its `window` at `now`, leaving out the hold `exclude`. */
  spent(scope: string, window: BudgetWindow, now: number, exclude?: string): number {
    return roundUsd(this.spentIn([{ scope, window, limit: 0 }], now, exclude)[0]!)
  }

  /**
   * The scopes with spend at `now`: a settlement in one of their current windows, or an open hold
   * (one renewed since it was made too, however long ago that was). What `spent` reads, scope by scope.
   */
  scopes(now: number): ReadonlyArray<string> {
    this.prune(now)
    this.open.expire(now, this.ttlMs)
    const found = new Set(this.open.scopes())
    for (const [window, starts] of this.settled) {
      for (const scope of starts.get(windowStart(window, now))?.keys() ?? []) found.add(scope)
    }
    return [...found]
  }

  /**
   * The first of `limits` (in order) that cannot take `estimate` more at `now`, the hold `exclude`
   * (one being raised) left out; undefined when every limit fits.
   */
  check(limits: ReadonlyArray<BudgetLimit>, estimate: number, now: number, exclude?: string): Refusal | undefined {
    return firstRefusal(limits, this.spentIn(limits, now, exclude), estimate)
  }

  /**
   * Drops the settled totals of windows before the one preceding `now`'s, once per UTC day the clock
   * is on: the previous window is kept, so a clock stepped back across a boundary (an NTP correction
   * just after midnight) still reads that window's spend.
   */
  private prune(now: number): void {
    const day = windowStart("daily", now)
    if (day === this.prunedOn) return
    this.prunedOn = day
    for (const [window, starts] of this.settled) {
      const previous = windowStart(window, windowStart(window, now) - 1)
      for (const start of starts.keys()) if (start < previous) starts.delete(start)
    }
  }

  /**
   * Each limit's spend at `now` (the hold `exclude` left out) in one pass over the open holds; drops
   * past windows and expired holds.
   */
  spentIn(limits: ReadonlyArray<BudgetLimit>, now: number, exclude?: string): Array<number> {
    this.prune(now)
    this.open.expire(now, this.ttlMs)
    const excluded = exclude === undefined ? undefined : this.open.get(exclude)
    const totals = new Array<number>(limits.length)
    for (let i = 0; i < limits.length; i++) {
      const limit = limits[i]!
      const settled = this.settled.get(limit.window)!.get(windowStart(limit.window, now))?.get(limit.scope)?.value ?? 0
      const reserved = this.open.reserved(limit.scope)
      totals[i] = settled +
        (excluded !== undefined && excluded.scopes.includes(limit.scope) ? reserved - excluded.cost : reserved)
    }
    return totals
  }
}

/** A row's scopes, each once (two tags can name one scope: `a:b` = `c` and `a` = `b:c`). */
const distinctScopes = (row: SpendRow, budgetedTags: ReadonlySet<string> | undefined): ReadonlyArray<string> => {
  const scopes = scopesOf(row.alias, row.tags, budgetedTags)
  if (scopes.length <= 3) return scopes
  const distinct = new Set(scopes)
  return distinct.size === scopes.length ? scopes : [...distinct]
}

/** The fold's row for an event. */
export const spendRow = (event: LedgerEvent): SpendRow => ({
  type: event.type,
  holdId: event.holdId,
  cost: event.cost,
  timestamp: event.timestamp,
  alias: event.alias,
  tags: event.tags
})
