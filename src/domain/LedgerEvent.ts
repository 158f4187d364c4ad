/**
 * The ledger's immutable events (API.md §6): a `hold` before the request, then exactly one
 * `commit` (success) or `cancel` (failure or interruption) that releases it.
 */
import * as Schema from "effect/Schema"
import { Timing } from "./GenerationResponse.js"
import { TokenUsage } from "./TokenUsage.js"

export const LedgerEventType = Schema.Literal("hold", "commit", "cancel")
export const LedgerStatus = Schema.Literal("ok", "error", "cancelled")
export type LedgerStatus = typeof LedgerStatus.Type

/** One ledger row. Never holds a key or prompt text: sizes, usage, cost, ids, timing and error tag/message only. */
export class LedgerEvent extends Schema.Class<LedgerEvent>("LedgerEvent")({
  id: Schema.String,
  type: LedgerEventType,
  /** The hold this event settles (its own id for a hold). */
  holdId: Schema.String,
  traceId: Schema.String,
  provider: Schema.String,
  model: Schema.String,
  alias: Schema.optional(Schema.String),
  endpoint: Schema.optional(Schema.String),
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

/** Filter for `Ledger.events`. */
export interface LedgerQuery {
  readonly traceId?: string
  readonly since?: Date
}

/** Grouping of `Ledger.summary`. */
export type SummaryGroupBy = "day" | "model" | "provider"

/** One row of `Ledger.summary`. */
export interface SummaryRow {
  /** The day (`YYYY-MM-DD`, UTC), model or provider of the group. */
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
