/**
 * The ledger's immutable events (API.md §6, §12): a `hold` before the request, then exactly one
 * `commit` (success) or `cancel` (failure or interruption) that releases it.
 */
import * as Schema from "effect/Schema"
import { structural } from "../internal/Structural.js"
import { Timing } from "./GenerationResponse.js"
import { TokenUsage } from "./TokenUsage.js"

/** What an event records: a hold, or the commit / cancel settling it. */
export const LedgerEventType = Schema.Literal("hold", "commit", "cancel")
/** How a call ended (`ok` on a hold). */
export const LedgerStatus = Schema.Literal("ok", "error", "cancelled")
export type LedgerStatus = typeof LedgerStatus.Type

/**
 * One ledger row. Never holds a key or prompt text: sizes, usage, cost, ids, tags, timing and error
 * tag/message only. A hold a fallback raised shows its current (raised) cost, model and alias.
 */
export class LedgerEvent extends Schema.Class<LedgerEvent>("LedgerEvent")({
  id: Schema.String,
  type: LedgerEventType,
  /**
   * The hold this event settles (its own id for a hold). A ledger always writes it; `""` when an event
   * is built or decoded without it (API.md §6 lists no such field).
   */
  holdId: Schema.optionalWith(Schema.String, { default: () => "" }),
  traceId: Schema.String,
  provider: Schema.String,
  model: Schema.String,
  alias: Schema.optional(Schema.String),
  endpoint: Schema.optional(Schema.String),
  /** The call's tags (`{ user: "u-42" }`), on the hold and its settlement. */
  tags: Schema.optional(Schema.Record({ key: Schema.String, value: Schema.String })),
  usage: Schema.optional(TokenUsage),
  /** USD; the estimate on a hold. */
  cost: Schema.Number,
  status: LedgerStatus,
  attempts: Schema.optional(Schema.Number),
  error: Schema.optional(Schema.Struct({ tag: Schema.String, message: Schema.String })),
  timing: Schema.optional(Timing),
  /** Epoch ms. */
  timestamp: Schema.Number
}) {}

structural(LedgerEvent)

/** Filter for `Ledger.events`. */
export interface LedgerQuery {
  readonly traceId?: string | undefined
  readonly since?: Date | undefined
}

/**
 * Grouping of `Ledger.summary`: by the hold's UTC day, ISO week or month, by the model, provider or
 * endpoint that answered (the hold's for a call never settled), or by the value of one tag.
 */
export type SummaryGroupBy = "day" | "week" | "month" | "model" | "provider" | "endpoint" | `tag:${string}`

/** One row of `Ledger.summary`. */
export interface SummaryRow {
  /**
   * The group: `YYYY-MM-DD` (day), `YYYY-Www` (ISO week), `YYYY-MM` (month), the model, provider or
   * endpoint, or the tag's value; `""` for calls without an endpoint or without the tag.
   */
  readonly key: string
  readonly calls: number
  readonly inputTokens: number
  readonly outputTokens: number
  readonly cost: number
  readonly ok: number
  readonly error: number
  readonly cancelled: number
  readonly expired: number
}
