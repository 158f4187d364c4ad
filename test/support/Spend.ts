/**
 * The spend rule applied to events as `Ledger.events` lists them, for checking what a backend
 * answers against the one fold every backend uses.
 */
import type { BudgetWindow } from "../../src/domain/Errors.js"
import type { LedgerEvent } from "../../src/domain/LedgerEvent.js"
import { SpendFold, spendRow } from "../../src/services/ledger/Spend.js"

/** What `scope` (default `global`) has spent in its `window` (default `daily`) at `now`. */
export const computeSpend = (
  events: Iterable<LedgerEvent>,
  now: number,
  holdTtlS: number,
  scope = "global",
  window: BudgetWindow = "daily"
): number => {
  const fold = new SpendFold(holdTtlS)
  for (const event of events) fold.add(spendRow(event))
  return fold.spent(scope, window, now)
}
