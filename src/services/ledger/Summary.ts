/**
 * `Ledger.summary` (API.md §12), once for every backend: the calls held in a range, grouped by time,
 * model, provider, endpoint or tag, with their outcomes, tokens and cost.
 */
import type { LedgerEvent, SummaryGroupBy, SummaryRow } from "../../domain/LedgerEvent.js"
import { tagValueOf } from "../../domain/Tags.js"
import { roundUsd, RunningTotal } from "../../internal/Usd.js"
import type { SummaryQuery } from "../Ledger.js"
import { dayKey, monthKey, weekKey } from "./Spend.js"

/** The group of a call: its hold, and its settlement when it has one. */
const keyOf = (groupBy: SummaryGroupBy, hold: LedgerEvent, settlement: LedgerEvent | undefined): string => {
  const subject = settlement ?? hold
  switch (groupBy) {
    case "day":
      return dayKey(hold.timestamp)
    case "week":
      return weekKey(hold.timestamp)
    case "month":
      return monthKey(hold.timestamp)
    case "model":
      return subject.model
    case "provider":
      return subject.provider
    case "endpoint":
      return settlement?.endpoint ?? ""
    default:
      return tagValueOf(hold.tags, groupBy.slice(4)) ?? ""
  }
}

/**
 * Summary rows of the calls whose hold is in `[since, until)`, from their events (as `events()`
 * lists them), sorted by key. A hold with no settlement older than the TTL counts as `expired`.
 */
export const computeSummary = (
  events: ReadonlyArray<LedgerEvent>,
  query: SummaryQuery,
  now: number,
  holdTtlS: number
): ReadonlyArray<SummaryRow> => {
  const since = query.since?.getTime() ?? Number.NEGATIVE_INFINITY
  const until = query.until?.getTime() ?? Number.POSITIVE_INFINITY
  const settled = new Map<string, LedgerEvent>()
  for (const event of events) if (event.type !== "hold") settled.set(event.holdId, event)
  const rows = new Map<string, { -readonly [K in keyof SummaryRow]: SummaryRow[K] }>()
  // compensated, as spend is: a plain sum of 9,999 × $0.10 read 999.900000000159
  const costs = new Map<string, RunningTotal>()
  for (const hold of events) {
    if (hold.type !== "hold" || hold.timestamp < since || hold.timestamp >= until) continue
    const settlement = settled.get(hold.holdId)
    const key = keyOf(query.groupBy, hold, settlement)
    const row = rows.get(key) ??
      { key, calls: 0, inputTokens: 0, outputTokens: 0, cost: 0, ok: 0, error: 0, cancelled: 0, expired: 0 }
    row.calls += 1
    if (settlement) {
      row.inputTokens += settlement.usage?.inputTokens ?? 0
      row.outputTokens += settlement.usage?.outputTokens ?? 0
      const cost = costs.get(key)
      if (cost === undefined) costs.set(key, new RunningTotal(settlement.cost))
      else cost.add(settlement.cost)
      row[settlement.status] += 1
    } else if (now - hold.timestamp >= holdTtlS * 1000) {
      row.expired += 1
    }
    rows.set(key, row)
  }
  for (const row of rows.values()) row.cost = roundUsd(costs.get(row.key)?.value ?? 0)
  return [...rows.values()].sort((a, b) => a.key.localeCompare(b.key))
}
