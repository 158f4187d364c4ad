/**
 * A budget alert (API.md §12): a scope's spend in a window reached a threshold of its limit.
 * Published on `Ledger.alerts`, logged as a warning and counted by a metric, once per scope, window,
 * threshold and process (each new day, week or month starts afresh).
 */
import * as Schema from "effect/Schema"
import { BudgetWindow } from "./Errors.js"

/** A scope's spend in its current window reached `threshold × limit`. */
export class BudgetAlert extends Schema.Class<BudgetAlert>("BudgetAlert")({
  /** `global`, `model:<alias>` or `<tag>:<value>`. */
  scope: Schema.String,
  window: BudgetWindow,
  /** The fraction of the limit reached (one of `budget.alert_thresholds`). */
  threshold: Schema.Number,
  /** USD spent in the window when the alert fired: settled cost plus open holds, this call's included. */
  spent: Schema.Number,
  /** USD, the scope's limit in the window. */
  limit: Schema.Number,
  /** Epoch ms (from `Clock`) when the alert fired. */
  timestamp: Schema.Number
}) {}
