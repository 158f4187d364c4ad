/**
 * The records every ledger backend stores, built in one place: the hold, its raises and its
 * settlement (tags carried through, error messages scrubbed of credentials), and how raises show in
 * `events()` — folded into their hold, never listed themselves.
 */
import { LedgerEvent, type LedgerStatus } from "../../domain/LedgerEvent.js"
import { headOf } from "../../internal/Cut.js"
import { unvalidated } from "../../internal/Unvalidated.js"
import type { Hold, HoldRequest, RaiseRequest, Settlement } from "../Ledger.js"
import { scopesOf } from "./Spend.js"

/** Longest error message kept in a row. */
const maxErrorMessageLength = 2_000

/**
 * Defence in depth for records that outlive the process: an error message that quotes a request
 * (`JSON.stringify` of an `HttpClientRequest` shows its `authorization` header in clear) or a URL
 * with `key=` loses the credential before it is stored. The callers never mean to pass one.
 */
export const scrubSecrets = (message: string): string =>
  headOf(
    message
      .replace(
        /("?\b(?:authorization|x-goog-api-key|x-api-key|api[-_]?key)"?\s*[:=]\s*"?)(?:bearer\s+)?[^"\s,;}&]+/gi,
        "$1<redacted>"
      )
      .replace(/\bbearer\s+[\w.~+/=-]{8,}/gi, "Bearer <redacted>")
      .replace(/([?&](?:key|api_key|access_token)=)[^&\s"']+/gi, "$1<redacted>")
      .replace(/\b(?:sk-[\w-]{16,}|AIza[\w-]{30,})/g, "<redacted>"),
    maxErrorMessageLength
  )

/** Tags as stored: absent when there are none. */
/** The fields a `LedgerEvent` is made of. */
type LedgerEventFields = ConstructorParameters<typeof LedgerEvent>[0]

const tagsOf = (tags: Readonly<Record<string, string>> | undefined) =>
  tags !== undefined && Object.keys(tags).length > 0 ? { tags: { ...tags } } : {}

/** The `hold` event of a request (every backend stores the same record; its id is the hold's). */
export const holdEvent = (request: HoldRequest, id: string, now: number): LedgerEvent =>
  unvalidated(LedgerEvent, {
    id,
    type: "hold",
    holdId: id,
    traceId: request.traceId,
    provider: request.provider,
    model: request.model,
    alias: request.alias,
    ...tagsOf(request.tags),
    cost: request.estimate,
    status: "ok",
    timestamp: now
  })

/** The `Hold` handed back for a hold event. */
export const holdOf = (request: HoldRequest, id: string, now: number): Hold => ({
  id,
  traceId: request.traceId,
  provider: request.provider,
  model: request.model,
  alias: request.alias,
  tags: request.tags,
  estimate: request.estimate,
  timestamp: now,
  limits: request.limits
})

/**
 * True when raising `hold` for `request` changes nothing: no more money, and every limit in a scope
 * the hold already counts toward (so no scope of the fallback's own is left unchecked).
 */
export const isNoopRaise = (hold: Hold, request: RaiseRequest): boolean => {
  if (request.estimate > hold.estimate) return false
  if (request.alias === hold.alias) return true
  const scopes = scopesOf(hold.alias, hold.tags)
  return request.limits.every((limit) => scopes.includes(limit.scope))
}

/**
 * A stored `raise`: the hold `holdId` now stands for `cost` on the fallback's provider, model and
 * alias. Kept in its own row so every process's spend fold sees it; `events()` folds it into the hold.
 */
export interface RaiseRecord {
  readonly id: string
  readonly type: "raise"
  readonly holdId: string
  readonly traceId: string
  readonly provider: string
  readonly model: string
  readonly alias: string
  readonly tags: Readonly<Record<string, string>> | undefined
  readonly cost: number
  readonly timestamp: number
}

/** The raise of `hold` to `request.estimate` for the fallback `request` names. */
export const raiseRecord = (hold: Hold, request: RaiseRequest, id: string, now: number): RaiseRecord => ({
  id,
  type: "raise",
  holdId: hold.id,
  traceId: hold.traceId,
  provider: request.provider,
  model: request.model,
  alias: request.alias,
  tags: hold.tags,
  cost: request.estimate,
  timestamp: now
})

/**
 * A renewal of `hold` (a call still in flight), stored as a raise to what it already stands for: every
 * process's spend fold restarts the hold's age from a raise's time (`Spend.ts`).
 */
export const renewRecord = (hold: Hold, id: string, now: number): RaiseRecord => ({
  id,
  type: "raise",
  holdId: hold.id,
  traceId: hold.traceId,
  provider: hold.provider,
  model: hold.model,
  alias: hold.alias,
  tags: hold.tags,
  cost: hold.estimate,
  timestamp: now
})

/** The `Hold` after a raise (same id, time and tags; the raise's limits). */
export const raisedHold = (hold: Hold, request: RaiseRequest): Hold => ({
  ...hold,
  provider: request.provider,
  model: request.model,
  alias: request.alias,
  estimate: request.estimate,
  limits: request.limits
})

/** A hold event as `events()` shows it after `raise`: the raised cost, provider, model and alias. */
export const applyRaise = (event: LedgerEvent, raise: RaiseRecord): LedgerEvent =>
  unvalidated(LedgerEvent, {
    ...event,
    provider: raise.provider,
    model: raise.model,
    alias: raise.alias,
    cost: raise.cost
  })

/** Events as `events()` lists them from stored rows (oldest first): each raise folded into its hold, not listed. */
export const foldRaises = (rows: ReadonlyArray<LedgerEvent | RaiseRecord>): ReadonlyArray<LedgerEvent> => {
  const raises = new Map<string, RaiseRecord>()
  for (const row of rows) if (row.type === "raise") raises.set(row.holdId, row)
  const events: Array<LedgerEvent> = []
  for (const row of rows) {
    if (row.type === "raise") continue
    const raise = row.type === "hold" ? raises.get(row.holdId) : undefined
    events.push(raise === undefined ? row : applyRaise(row, raise))
  }
  return events
}

/** The `commit` / `cancel` event settling a hold (the hold's tags; error messages scrubbed of credentials). */
export const settlementEvent = (
  hold: Hold,
  settlement: Settlement,
  type: "commit" | "cancel",
  status: LedgerStatus,
  id: string,
  now: number
): LedgerEvent => {
  // Field by field, in the record's order (two per call: conditional spreads copy an object each).
  const fields: { -readonly [K in keyof LedgerEventFields]: LedgerEventFields[K] } = {
    id,
    type,
    holdId: hold.id,
    traceId: hold.traceId,
    provider: settlement.provider ?? hold.provider,
    model: settlement.model ?? hold.model,
    alias: settlement.alias ?? hold.alias
  } as LedgerEventFields
  if (settlement.endpoint !== undefined) fields.endpoint = settlement.endpoint
  if (hold.tags !== undefined && Object.keys(hold.tags).length > 0) fields.tags = { ...hold.tags }
  if (settlement.usage !== undefined) fields.usage = settlement.usage
  fields.cost = settlement.cost
  fields.status = status
  if (settlement.attempts !== undefined) fields.attempts = settlement.attempts
  if (settlement.error !== undefined) {
    fields.error = { tag: settlement.error.tag, message: scrubSecrets(settlement.error.message) }
  }
  if (settlement.timing !== undefined) fields.timing = settlement.timing
  fields.timestamp = now
  return unvalidated(LedgerEvent, fields)
}
