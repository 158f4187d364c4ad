/**
 * The spend ledger (API.md §6): every call holds its estimated cost before any request, atomically
 * with the daily budget check, and later settles with exactly one commit or cancel. This module holds
 * the service contract and the in-memory backend; the durable backends live in `LedgerSql.ts`.
 */
import * as Context from "effect/Context"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { BudgetExceededError, type BudgetWindow, type LedgerError } from "../domain/Errors.js"
import type { Timing } from "../domain/GenerationResponse.js"
import { LedgerEvent, type LedgerQuery, type LedgerStatus, type SummaryGroupBy, type SummaryRow } from "../domain/LedgerEvent.js"
import type { TokenUsage } from "../domain/TokenUsage.js"

/**
 * One limit a hold is checked against: a scope (`global`, `model:<alias>`, `<tag>:<value>`), a window
 * and the USD limit in it (> 0). An event counts toward `global` always, toward `model:<alias>` by its
 * alias, and toward `<tag>:<value>` when its tags hold that value.
 */
export interface BudgetLimit {
  readonly scope: string
  readonly window: BudgetWindow
  readonly limit: number
}

/** What a call asks the ledger to hold. */
export interface HoldRequest {
  readonly traceId: string
  readonly provider: string
  readonly model: string
  readonly alias: string
  readonly tags?: Readonly<Record<string, string>> | undefined
  /** USD, the call's estimated cost (an upper bound of what it can cost: API.md §14). */
  readonly estimate: number
  /**
   * The limits the hold must fit, in refusal order (API.md §12: global, the alias, the tags by key;
   * within a scope daily, weekly, monthly). The first that does not fit refuses, and nothing is held.
   */
  readonly limits: ReadonlyArray<BudgetLimit>
}

/** An open hold, to settle with `commit` or `cancel` (or raise for a fallback). */
export interface Hold {
  readonly id: string
  readonly traceId: string
  readonly provider: string
  readonly model: string
  readonly alias: string
  readonly tags: Readonly<Record<string, string>> | undefined
  readonly estimate: number
  readonly timestamp: number
}

/**
 * A fallback about to be used: the hold is re-checked and raised to `estimate` (the fallback's price)
 * in one atomic step, against `limits` (the fallback alias's scopes), its own current amount excluded.
 */
export interface RaiseRequest {
  readonly provider: string
  readonly model: string
  readonly alias: string
  readonly estimate: number
  readonly limits: ReadonlyArray<BudgetLimit>
}

/** How a call ended, as recorded by `commit` / `cancel` (who answered may differ from the hold: a fallback). */
export interface Settlement {
  readonly cost: number
  readonly usage?: TokenUsage | undefined
  readonly provider?: string | undefined
  readonly model?: string | undefined
  readonly alias?: string | undefined
  readonly endpoint?: string | undefined
  readonly attempts?: number | undefined
  readonly timing?: Timing | undefined
  readonly error?: { readonly tag: string; readonly message: string } | undefined
}

/** Options shared by every backend. */
export interface LedgerOptions {
  /** Seconds after which an unsettled hold stops counting toward spend (its process died). */
  readonly holdTtlS?: number
}

/** Range and grouping of `Ledger.summary`. */
export interface SummaryQuery {
  readonly since?: Date
  readonly until?: Date
  readonly groupBy: SummaryGroupBy
}

export declare namespace Ledger {
  /** The ledger's operations; none has requirements. */
  export interface Service {
    /** Holds `estimate` USD if it fits every limit; atomic with that check (across processes for SQL backends). */
    readonly hold: (request: HoldRequest) => Effect.Effect<Hold, BudgetExceededError | LedgerError>
    /**
     * Raises an open hold to a fallback's estimate, if it fits (the hold's own amount excluded);
     * atomic with that check. A raise to no more than the hold is a no-op returning the hold.
     */
    readonly raise: (hold: Hold, request: RaiseRequest) => Effect.Effect<Hold, BudgetExceededError | LedgerError>
    /** Settles a hold as a success. */
    readonly commit: (hold: Hold, settlement: Settlement) => Effect.Effect<void, LedgerError>
    /** Settles a hold as a failure (`error`) or an interruption / early stop (`cancelled`). */
    readonly cancel: (
      hold: Hold,
      settlement: Settlement & { readonly status: Exclude<LedgerStatus, "ok"> }
    ) => Effect.Effect<void, LedgerError>
    /** USD spent this UTC day (global scope): committed and cancelled cost plus open, unexpired holds. */
    readonly spendToday: () => Effect.Effect<number, LedgerError>
    /** USD spent in a scope's current window (same rule). */
    readonly spend: (scope: string, window: BudgetWindow) => Effect.Effect<number, LedgerError>
    /** The events, oldest first. */
    readonly events: (query?: LedgerQuery) => Effect.Effect<ReadonlyArray<LedgerEvent>, LedgerError>
    /** Calls, tokens, cost and outcomes grouped by day, model or provider. */
    readonly summary: (query: SummaryQuery) => Effect.Effect<ReadonlyArray<SummaryRow>, LedgerError>
  }
}

/** The ledger service. */
export class Ledger extends Context.Tag("effect-llm/Ledger")<Ledger, Ledger.Service>() {}

const dayMs = 86_400_000

/** Start of the UTC day holding `timestamp` (epoch ms). */
export const utcDayStart = (timestamp: number): number => Math.floor(timestamp / dayMs) * dayMs

/** `YYYY-MM-DD` of the UTC day holding `timestamp`. */
export const utcDayKey = (timestamp: number): string => new Date(utcDayStart(timestamp)).toISOString().slice(0, 10)

/** The refusal for a hold that does not fit. */
export const budgetExceeded = (request: HoldRequest, spent: number): BudgetExceededError =>
  new BudgetExceededError({
    reason: "daily_limit",
    message: `daily budget exceeded: spent $${spent.toFixed(6)} of $${request.limit.toFixed(6)} today, this call is estimated at $${request.estimate.toFixed(6)}`,
    spent,
    limit: request.limit,
    estimate: request.estimate,
    provider: request.provider
  })

/** True when a hold of `estimate` on top of `spent` stays within `limit` (0 means no limit). */
export const fits = (spent: number, estimate: number, limit: number): boolean =>
  limit <= 0 || spent + estimate <= limit + 1e-12

/** Longest error message kept in a row. */
const maxErrorMessageLength = 2_000

/**
 * Defence in depth for records that outlive the process: an error message that quotes a request
 * (`JSON.stringify` of an `HttpClientRequest` shows its `authorization` header in clear) or a URL
 * with `key=` loses the credential before it is stored. The callers never mean to pass one.
 */
export const scrubSecrets = (message: string): string =>
  message
    .replace(/("?(?:authorization|x-goog-api-key|x-api-key|api[-_]?key)"?\s*[:=]\s*"?)(?:bearer\s+)?[^"\s,;}&]+/gi, "$1<redacted>")
    .replace(/\bbearer\s+[\w.~+/=-]{8,}/gi, "Bearer <redacted>")
    .replace(/([?&](?:key|api_key|access_token)=)[^&\s"']+/gi, "$1<redacted>")
    .replace(/\b(?:sk-[\w-]{16,}|AIza[\w-]{30,})/g, "<redacted>")
    .slice(0, maxErrorMessageLength)

/** The `hold` event of a request (every backend stores the same record). */
export const holdEvent = (request: HoldRequest, id: string, now: number): LedgerEvent =>
  new LedgerEvent({
    id,
    type: "hold",
    holdId: id,
    traceId: request.traceId,
    provider: request.provider,
    model: request.model,
    alias: request.alias,
    cost: request.estimate,
    status: "ok",
    timestamp: now
  }, true)

/** The `Hold` handed back for a hold event. */
export const holdOf = (request: HoldRequest, id: string, now: number): Hold => ({
  id,
  traceId: request.traceId,
  provider: request.provider,
  model: request.model,
  alias: request.alias,
  estimate: request.estimate,
  timestamp: now
})

/** The `commit` / `cancel` event settling a hold (error messages scrubbed of credentials). */
export const settlementEvent = (
  hold: Hold,
  settlement: Settlement,
  type: "commit" | "cancel",
  status: LedgerStatus,
  id: string,
  now: number
): LedgerEvent =>
  new LedgerEvent({
    id,
    type,
    holdId: hold.id,
    traceId: hold.traceId,
    provider: settlement.provider ?? hold.provider,
    model: settlement.model ?? hold.model,
    alias: settlement.alias ?? hold.alias,
    ...(settlement.endpoint !== undefined ? { endpoint: settlement.endpoint } : {}),
    ...(settlement.usage !== undefined ? { usage: settlement.usage } : {}),
    cost: settlement.cost,
    status,
    ...(settlement.attempts !== undefined ? { attempts: settlement.attempts } : {}),
    ...(settlement.error !== undefined
      ? { error: { tag: settlement.error.tag, message: scrubSecrets(settlement.error.message) } }
      : {}),
    ...(settlement.timing !== undefined ? { timing: settlement.timing } : {}),
    timestamp: now
  }, true)

/**
 * Folds events into spend and summary rows; shared by the in-memory backend and the tests of the
 * durable ones, so every backend answers by the same rules.
 */
export const computeSpend = (events: Iterable<LedgerEvent>, now: number, holdTtlS: number): number => {
  const dayStart = utcDayStart(now)
  const open = new Map<string, LedgerEvent>()
  let spent = 0
  for (const event of events) {
    if (event.type === "hold") open.set(event.holdId, event)
    else {
      open.delete(event.holdId)
      if (utcDayStart(event.timestamp) === dayStart) spent += event.cost
    }
  }
  for (const hold of open.values()) {
    if (now - hold.timestamp < holdTtlS * 1000) spent += hold.cost
  }
  return spent
}

/** Builds summary rows from events (used by the in-memory backend). */
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
  for (const hold of events) {
    if (hold.type !== "hold" || hold.timestamp < since || hold.timestamp >= until) continue
    const settlement = settled.get(hold.holdId)
    const subject = settlement ?? hold
    const key =
      query.groupBy === "day" ? utcDayKey(hold.timestamp) : query.groupBy === "model" ? subject.model : subject.provider
    const row = rows.get(key) ??
      { key, calls: 0, inputTokens: 0, outputTokens: 0, cost: 0, ok: 0, error: 0, cancelled: 0, expired: 0 }
    row.calls += 1
    if (settlement) {
      row.inputTokens += settlement.usage?.inputTokens ?? 0
      row.outputTokens += settlement.usage?.outputTokens ?? 0
      row.cost += settlement.cost
      row[settlement.status] += 1
    } else if (now - hold.timestamp >= holdTtlS * 1000) {
      row.expired += 1
    }
    rows.set(key, row)
  }
  return [...rows.values()].sort((a, b) => a.key.localeCompare(b.key))
}

/** A fresh in-memory ledger; `hold` checks and records in one synchronous step, so concurrent holds cannot jointly pass the limit. */
export const makeMemory = (options: LedgerOptions = {}): Effect.Effect<Ledger.Service> =>
  Effect.gen(function*() {
    const holdTtlS = options.holdTtlS ?? 900
    const events: Array<LedgerEvent> = []
    let sequence = 0
    const nextId = () => `mem-${++sequence}`
    // Running totals, so a hold costs O(open holds), not O(all events): the rules of computeSpend.
    const settledByDay = new Map<number, number>()
    const open = new Map<string, { readonly cost: number; readonly timestamp: number }>()
    const spendAt = (now: number) => {
      let spent = settledByDay.get(utcDayStart(now)) ?? 0
      for (const hold of open.values()) if (now - hold.timestamp < holdTtlS * 1000) spent += hold.cost
      return spent
    }

    const settle = (hold: Hold, settlement: Settlement, type: "commit" | "cancel", status: LedgerStatus) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) =>
        Effect.sync(() => {
          open.delete(hold.id)
          const day = utcDayStart(now)
          settledByDay.set(day, (settledByDay.get(day) ?? 0) + settlement.cost)
          events.push(settlementEvent(hold, settlement, type, status, nextId(), now))
        }))

    return withSpans(Ledger.of({
      // Reading the clock, checking the budget and recording the hold happen in one synchronous step,
      // which no other fiber can interleave with: concurrent holds cannot jointly pass the limit.
      hold: (request) =>
        Effect.clockWith((clock) =>
          Effect.suspend(() => {
            const now = clock.unsafeCurrentTimeMillis()
            const spent = spendAt(now)
            if (!fits(spent, request.estimate, request.limit)) return Effect.fail(budgetExceeded(request, spent))
            const id = nextId()
            open.set(id, { cost: request.estimate, timestamp: now })
            events.push(holdEvent(request, id, now))
            return Effect.succeed(holdOf(request, id, now))
          })
        ),
      commit: (hold, settlement) => settle(hold, settlement, "commit", "ok"),
      cancel: (hold, settlement) => settle(hold, settlement, "cancel", settlement.status),
      spendToday: () => Effect.map(Clock.currentTimeMillis, spendAt),
      events: (query) =>
        Effect.sync(() =>
          events.filter((event) =>
            (query?.traceId === undefined || event.traceId === query.traceId) &&
            (query?.since === undefined || event.timestamp >= query.since.getTime())
          )
        ),
      summary: (query) => Effect.map(Clock.currentTimeMillis, (now) => computeSummary(events, query, now, holdTtlS))
    }))
  })

/** The in-memory ledger as a layer (forgets on restart; for tests and users who want no file). */
export const layerMemory = (options: LedgerOptions = {}): Layer.Layer<Ledger> =>
  Layer.effect(Ledger, makeMemory(options))

/**
 * Wraps every operation of a ledger backend in a span (`Ledger.hold`, `Ledger.commit`, …). No
 * creation stack trace: capturing one builds an `Error` per span, which costs more than the span.
 */
export const withSpans = (ledger: Ledger.Service): Ledger.Service =>
  Ledger.of({
    hold: (request) =>
      Effect.withSpan(ledger.hold(request), "Ledger.hold", {
        attributes: { "effect_llm.trace_id": request.traceId, "effect_llm.estimate_usd": request.estimate },
        captureStackTrace: false
      }),
    commit: (hold, settlement) =>
      Effect.withSpan(ledger.commit(hold, settlement), "Ledger.commit", {
        attributes: { "effect_llm.trace_id": hold.traceId, "effect_llm.cost_usd": settlement.cost },
        captureStackTrace: false
      }),
    cancel: (hold, settlement) =>
      Effect.withSpan(ledger.cancel(hold, settlement), "Ledger.cancel", {
        attributes: { "effect_llm.trace_id": hold.traceId, "effect_llm.status": settlement.status },
        captureStackTrace: false
      }),
    spendToday: () => Effect.withSpan(ledger.spendToday(), "Ledger.spendToday", { captureStackTrace: false }),
    events: (query) => Effect.withSpan(ledger.events(query), "Ledger.events", { captureStackTrace: false }),
    summary: (query) =>
      Effect.withSpan(ledger.summary(query), "Ledger.summary", { attributes: { groupBy: query.groupBy }, captureStackTrace: false })
  })
