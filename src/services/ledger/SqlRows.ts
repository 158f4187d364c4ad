/**
 * Rows of `ledger_events`: a ledger event as the columns it is written in (and SQLite's prepared
 * INSERT texts), and a row as the drivers return it read back into an event.
 */
import * as Schema from "effect/Schema"
import { LedgerEvent } from "../../domain/LedgerEvent.js"
import type { RaiseRecord } from "./Events.js"

/** A row of `ledger_events` as the drivers return it. */
export type Row = Record<string, unknown>

/** PostgreSQL returns BIGINT as text. */
const numeric = (value: unknown): unknown => typeof value === "string" ? Number(value) : value
export const present = (value: unknown): boolean => value !== null && value !== undefined
export const parseTags = (value: unknown): Record<string, string> | undefined =>
  present(value) ? JSON.parse(String(value)) as Record<string, string> : undefined

/** The columns of an event or raise. */
export const rowOf = (event: LedgerEvent | RaiseRecord) => {
  const settled = event.type === "raise" ? undefined : event
  return {
    id: event.id,
    type: event.type,
    hold_id: event.holdId,
    trace_id: event.traceId,
    provider: event.provider,
    model: event.model,
    alias: event.alias ?? null,
    endpoint: settled?.endpoint ?? null,
    input_tokens: settled?.usage?.inputTokens ?? null,
    output_tokens: settled?.usage?.outputTokens ?? null,
    total_tokens: settled?.usage?.totalTokens ?? null,
    cached_input_tokens: settled?.usage?.cachedInputTokens ?? null,
    cache_write_tokens: settled?.usage?.cacheWriteTokens ?? null,
    reasoning_tokens: settled?.usage?.reasoningTokens ?? null,
    cost: event.cost,
    status: settled?.status ?? "ok",
    attempts: settled?.attempts ?? null,
    error_tag: settled?.error?.tag ?? null,
    error_message: settled?.error?.message ?? null,
    ttft_ms: settled?.timing?.ttftMs ?? null,
    total_ms: settled?.timing?.totalMs ?? null,
    timestamp: event.timestamp,
    tags: event.tags !== undefined && Object.keys(event.tags).length > 0 ? JSON.stringify(event.tags) : null
  }
}

/** The columns of `rowOf`, in its order. */
const eventColumns = Object.keys(
  rowOf({
    id: "",
    type: "raise",
    holdId: "",
    traceId: "",
    provider: "",
    model: "",
    alias: "",
    tags: undefined,
    cost: 0,
    timestamp: 0
  })
).join(", ")
const eventPlaceholders = eventColumns.split(", ").map(() => "?").join(", ")
/** SQLite's text of an event's INSERT, built once: a statement the ledger writes needs no compiling per call. */
export const sqliteInsert = `INSERT INTO ledger_events (${eventColumns}) VALUES (${eventPlaceholders})`
/** The same, inserting only while the last row's `seq` is the bound one (MAX of the rowid is one B-tree seek). */
export const sqliteInsertIfLast = `INSERT INTO ledger_events (${eventColumns}) SELECT ${eventPlaceholders}
WHERE COALESCE((SELECT MAX(seq) FROM ledger_events), 0) = ?`

const decodeEvent = Schema.decodeUnknownSync(LedgerEvent)

export const rowToStored = (row: Row): LedgerEvent | RaiseRecord => {
  const tags = parseTags(row.tags)
  if (row.type === "raise") {
    return {
      id: String(row.id),
      type: "raise",
      holdId: String(row.hold_id),
      traceId: String(row.trace_id),
      provider: String(row.provider),
      model: String(row.model),
      alias: String(row.alias ?? ""),
      tags,
      cost: Number(row.cost),
      timestamp: Number(row.timestamp)
    }
  }
  return decodeEvent({
    id: row.id,
    type: row.type,
    holdId: row.hold_id,
    traceId: row.trace_id,
    provider: row.provider,
    model: row.model,
    ...(present(row.alias) ? { alias: row.alias } : {}),
    ...(present(row.endpoint) ? { endpoint: row.endpoint } : {}),
    ...(tags !== undefined ? { tags } : {}),
    ...(present(row.input_tokens) ?
      {
        usage: {
          inputTokens: numeric(row.input_tokens),
          outputTokens: numeric(row.output_tokens),
          totalTokens: numeric(row.total_tokens),
          ...(present(row.cached_input_tokens) ? { cachedInputTokens: numeric(row.cached_input_tokens) } : {}),
          ...(present(row.cache_write_tokens) ? { cacheWriteTokens: numeric(row.cache_write_tokens) } : {}),
          ...(present(row.reasoning_tokens) ? { reasoningTokens: numeric(row.reasoning_tokens) } : {})
        }
      } :
      {}),
    cost: numeric(row.cost),
    status: row.status,
    ...(present(row.attempts) ? { attempts: numeric(row.attempts) } : {}),
    ...(present(row.error_tag) ? { error: { tag: row.error_tag, message: row.error_message ?? "" } } : {}),
    ...(present(row.total_ms) ?
      {
        timing: {
          totalMs: numeric(row.total_ms),
          ...(present(row.ttft_ms) ? { ttftMs: numeric(row.ttft_ms) } : {})
        }
      } :
      {}),
    timestamp: numeric(row.timestamp)
  })
}
