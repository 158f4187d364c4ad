/**
 * The spend ledger (API.md §6, §12): every call holds its estimated cost before any request,
 * atomically with checking every limit it falls under, and later settles with exactly one commit or
 * cancel. This module is the contract and the layers that pick a backend; the backends are in `ledger/`.
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Stream from "effect/Stream"
import type { BudgetAlert } from "../domain/BudgetAlert.js"
import type { LedgerConfig, RateLimits } from "../domain/Config.js"
import { type BudgetExceededError, type BudgetWindow, LedgerError } from "../domain/Errors.js"
import type { Timing } from "../domain/GenerationResponse.js"
import type { LedgerEvent, LedgerQuery, LedgerStatus, SummaryGroupBy, SummaryRow } from "../domain/LedgerEvent.js"
import type { TokenUsage } from "../domain/TokenUsage.js"
import * as Spans from "../internal/Spans.js"
import * as Memory from "./ledger/Memory.js"
import type { PostgresLedgerOptions } from "./ledger/Postgres.js"
import type { SqliteLedgerOptions } from "./ledger/Sqlite.js"
import type { Refusal, SlotRecord, WindowUse } from "./ledger/Windows.js"

export type { MemoryLedgerOptions } from "./ledger/Memory.js"
export type { PostgresLedgerOptions } from "./ledger/Postgres.js"
export type { SqliteDurability, SqliteLedgerOptions } from "./ledger/Sqlite.js"
export type { Refusal, WindowUse } from "./ledger/Windows.js"

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
  /** The limits it was held (or last raised) against: a settlement above the hold is checked for alerts against them. */
  readonly limits?: ReadonlyArray<BudgetLimit> | undefined
}

/**
 * A fallback about to be used: the hold is moved to the fallback's alias and raised to `estimate`
 * (the fallback's price; never lowered) in one atomic step, checked against `limits` (every scope of
 * the fallback alias, with the call's tags), its own current amount excluded.
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

/** An HTTP attempt asking for a slot in its alias's rate-limit windows (API.md §11). */
export interface AdmitRequest {
  readonly alias: string
  readonly endpoint: string
  /** The alias's limits (at least one set). */
  readonly limits: RateLimits
  /** Tokens the attempt is admitted at: its input bound plus its output cap. */
  readonly tokens: number
}

/** An admitted attempt's place in the windows, released (its tokens corrected) when the attempt ends. */
export type Slot = Readonly<SlotRecord>

/** What `admit` decided: a slot, or the limit that refused and the time until the attempt would fit. */
export type Admission =
  | { readonly _tag: "Admitted"; readonly slot: Slot }
  | { readonly _tag: "Refused"; readonly refusal: Refusal }

/** One alias's current window use, as `limitUse` reports it. */
export interface LimitUse extends WindowUse {
  readonly alias: string
}

/** Options shared by every backend. */
export interface LedgerOptions {
  /** Seconds after which an unsettled hold stops counting toward spend (its process died). */
  readonly holdTtlS?: number | undefined
  /**
   * Fractions of each limit (ascending, each in (0, 1]) at which a `BudgetAlert` is published; default
   * `[0.8, 1]` (the config's `budget.alert_thresholds`); `[]` publishes none. A repeated fraction counts
   * once; one that is not a positive number is ignored.
   */
  readonly alertThresholds?: ReadonlyArray<number> | undefined
  /**
   * The tag keys that have a budget (the config's `budget.per_tag` keys): a call falls into a scope for
   * each of its tags with one of these keys (API.md §12), and only those scopes' spend is kept — a tag
   * without a budget (a request id) is only recorded on the events, and its `spend` reads 0. Default:
   * every tag key makes a scope (each value then keeps a few hundred bytes for up to two months).
   */
  readonly budgetedTags?: ReadonlyArray<string> | undefined
}

/** Range and grouping of `Ledger.summary`. */
export interface SummaryQuery {
  readonly since?: Date | undefined
  readonly until?: Date | undefined
  readonly groupBy: SummaryGroupBy
}

export declare namespace Ledger {
  /** The ledger's operations; none has requirements. */
  export interface Service {
    /** Holds `estimate` USD if it fits every limit; atomic with that check (across processes for SQL backends). */
    readonly hold: (request: HoldRequest) => Effect.Effect<Hold, BudgetExceededError | LedgerError>
    /**
     * Moves an open hold to a fallback and raises it to the fallback's estimate, if that fits every
     * limit of the request (the hold's own amount excluded); atomic with that check. A raise to no
     * more than the hold whose limits are all in scopes the hold already counts toward (global, its
     * tags, its own alias) is a no-op returning the hold; a cheaper fallback with limits of its own is
     * moved at its own estimate (checked against its limits at that amount).
     */
    readonly raise: (hold: Hold, request: RaiseRequest) => Effect.Effect<Hold, BudgetExceededError | LedgerError>
    /**
     * Restarts the age of an open hold whose call is still in flight, so that it keeps counting past
     * `hold_ttl_s` (which is for holds whose process died), in every process sharing the ledger.
     * Optional: a ledger without it lets a call's hold expire at the TTL, as before.
     */
    readonly renew?: (hold: Hold) => Effect.Effect<void, LedgerError>
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
    /** The scopes `spend` finds spend in now (settled in a current window, or held: renewed too); optional. */
    readonly scopes?: () => Effect.Effect<ReadonlyArray<string>, LedgerError>
    /** The events, oldest first (a raised hold shows its current cost; raises are not listed). */
    readonly events: (query?: LedgerQuery) => Effect.Effect<ReadonlyArray<LedgerEvent>, LedgerError>
    /** Calls, tokens, cost and outcomes grouped by day, week, month, model, provider, endpoint or a tag. */
    readonly summary: (query: SummaryQuery) => Effect.Effect<ReadonlyArray<SummaryRow>, LedgerError>
    /**
     * Budget alerts (API.md §12): each time a hold, a raise or a settlement above its hold takes a
     * scope's spend in a window to or above `threshold × limit`, once per scope, window, threshold and
     * ledger (process). A hot stream: it sees the alerts published after it starts running.
     */
    readonly alerts: Stream.Stream<BudgetAlert>
    /**
     * Takes a slot for one HTTP attempt if it fits every limit of the request and no learned pause
     * of its endpoint refuses it; atomic with that check — within the process for memory, across every
     * process sharing the database for SQL backends.
     */
    readonly admit: (request: AdmitRequest) => Effect.Effect<Admission, LedgerError>
    /** Ends a slot's attempt: its tokens become `tokens` (what it used; 0 frees them all). Its request stays counted. */
    readonly release: (slot: Slot, tokens: number) => Effect.Effect<void, LedgerError>
    /** Pauses `endpoint` for `alias` until epoch ms `until` (a server's 429 with Retry-After). */
    readonly pause: (alias: string, endpoint: string, until: number) => Effect.Effect<void, LedgerError>
    /**
     * How long (ms) a pause of `endpoint` for `alias` that any process sharing the ledger learned
     * still runs (`undefined`: none in force) — read for an alias without limits, which takes no
     * slots. Optional: without it (the memory ledger, a ledger of one's own) such pauses stay in the
     * process that learned them.
     */
    readonly pausedFor?: (alias: string, endpoint: string) => Effect.Effect<number | undefined, LedgerError>
    /** Every alias's current window use (requests and tokens in the last 60 s, requests in 24 h, pauses). */
    readonly limitUse: () => Effect.Effect<ReadonlyArray<LimitUse>, LedgerError>
  }
}

/** The ledger service. */
export class Ledger extends Context.Tag("effect-llm/Ledger")<Ledger, Ledger.Service>() {}

/**
 * Wraps every operation of a ledger backend in a span (`Ledger.hold`, `Ledger.commit`, …). No
 * creation stack trace: capturing one builds an `Error` per span, which costs more than the span.
 * Attributes are built only when the span is made (under an installed tracer). The read methods'
 * arguments are checked here too, the one wrapper every backend goes through (see `checked` below).
 */
export const withSpans = (ledger: Ledger.Service): Ledger.Service =>
  Ledger.of({
    hold: (request) =>
      Spans.withSpan(ledger.hold(request), "Ledger.hold", () => ({
        attributes: {
          "effect_llm.trace_id": request.traceId,
          "effect_llm.alias": request.alias,
          "effect_llm.estimate_usd": request.estimate
        },
        captureStackTrace: false
      })),
    raise: (hold, request) =>
      Spans.withSpan(ledger.raise(hold, request), "Ledger.raise", () => ({
        attributes: {
          "effect_llm.trace_id": hold.traceId,
          "effect_llm.alias": request.alias,
          "effect_llm.estimate_usd": request.estimate
        },
        captureStackTrace: false
      })),
    ...(ledger.renew === undefined ? {} : {
      renew: (hold: Hold) =>
        Spans.withSpan(ledger.renew!(hold), "Ledger.renew", () => ({
          attributes: { "effect_llm.trace_id": hold.traceId, "effect_llm.alias": hold.alias },
          captureStackTrace: false
        }))
    }),
    commit: (hold, settlement) =>
      Spans.withSpan(ledger.commit(hold, settlement), "Ledger.commit", () => ({
        attributes: {
          "effect_llm.trace_id": hold.traceId,
          "effect_llm.alias": hold.alias,
          "effect_llm.cost_usd": settlement.cost
        },
        captureStackTrace: false
      })),
    cancel: (hold, settlement) =>
      Spans.withSpan(ledger.cancel(hold, settlement), "Ledger.cancel", () => ({
        attributes: {
          "effect_llm.trace_id": hold.traceId,
          "effect_llm.alias": hold.alias,
          "effect_llm.status": settlement.status
        },
        captureStackTrace: false
      })),
    spendToday: () => Spans.withSpan(ledger.spendToday(), "Ledger.spendToday", { captureStackTrace: false }),
    spend: (scope, window) =>
      Spans.withSpan(
        checked(spendProblem(scope, window), "spend", () => ledger.spend(scope, window)),
        "Ledger.spend",
        () => ({ attributes: { scope, window }, captureStackTrace: false })
      ),
    ...(ledger.scopes &&
      { scopes: () => Spans.withSpan(ledger.scopes!(), "Ledger.scopes", { captureStackTrace: false }) }),
    events: (query) =>
      Spans.withSpan(checked(eventsProblem(query), "events", () => ledger.events(query)), "Ledger.events", {
        captureStackTrace: false
      }),
    summary: (query) =>
      Spans.withSpan(checked(summaryProblem(query), "summary", () => ledger.summary(query)), "Ledger.summary", () => ({
        attributes: { groupBy: String(query?.groupBy) },
        captureStackTrace: false
      })),
    alerts: ledger.alerts,
    admit: (request) =>
      Spans.withSpan(ledger.admit(request), "Ledger.admit", () => ({
        attributes: { "effect_llm.alias": request.alias, "effect_llm.endpoint": request.endpoint },
        captureStackTrace: false
      })),
    release: (slot, tokens) =>
      Spans.withSpan(ledger.release(slot, tokens), "Ledger.release", () => ({
        attributes: { "effect_llm.alias": slot.alias },
        captureStackTrace: false
      })),
    pause: (alias, endpoint, until) =>
      Spans.withSpan(ledger.pause(alias, endpoint, until), "Ledger.pause", () => ({
        attributes: { "effect_llm.alias": alias, "effect_llm.endpoint": endpoint },
        captureStackTrace: false
      })),
    // no span: read before every attempt of an alias without limits, it is no operation of its own
    ...(ledger.pausedFor === undefined ? {} : { pausedFor: ledger.pausedFor }),
    limitUse: () => Spans.withSpan(ledger.limitUse(), "Ledger.limitUse", { captureStackTrace: false })
  })

/*
 * The read methods' arguments, checked for JavaScript callers (TypeScript's types already say this):
 * a wrong one is a LedgerError read_failed naming it, never a thrown TypeError or a silent empty answer.
 */
const windows: ReadonlySet<unknown> = new Set(["daily", "weekly", "monthly"])
const groupings: ReadonlySet<unknown> = new Set(["day", "week", "month", "model", "provider", "endpoint"])
const dateProblem = (name: string, value: unknown): string | undefined =>
  value === undefined || (value instanceof Date && !Number.isNaN(value.getTime()))
    ? undefined
    : `${name} must be a valid Date`
const spendProblem = (scope: unknown, window: unknown): string | undefined =>
  typeof scope !== "string"
    ? "scope must be a string (global, model:<alias>, <tag>:<value>)"
    : windows.has(window)
    ? undefined
    : "window must be daily, weekly or monthly"
const eventsProblem = (query: unknown): string | undefined => {
  if (query === undefined) return undefined
  if (typeof query !== "object" || query === null) return "the query must be an object"
  const { since, traceId } = query as { readonly since?: unknown; readonly traceId?: unknown }
  return traceId !== undefined && typeof traceId !== "string" ? "traceId must be a string" : dateProblem("since", since)
}
const summaryProblem = (query: unknown): string | undefined => {
  if (typeof query !== "object" || query === null) return "the query must be an object with groupBy"
  const { groupBy, since, until } = query as {
    readonly groupBy?: unknown
    readonly since?: unknown
    readonly until?: unknown
  }
  const groups = groupings.has(groupBy) || (typeof groupBy === "string" && /^tag:.+/.test(groupBy))
  return groups
    ? dateProblem("since", since) ?? dateProblem("until", until)
    : "groupBy must be day, week, month, model, provider, endpoint or tag:<key>"
}
const checked = <A>(
  problem: string | undefined,
  method: string,
  run: () => Effect.Effect<A, LedgerError>
): Effect.Effect<A, LedgerError> =>
  problem === undefined
    ? Effect.suspend(run)
    : Effect.fail(new LedgerError({ reason: "read_failed", message: `Ledger.${method}: ${problem}` }))

/** A fresh in-memory ledger (exact totals, at most `maxEvents` events kept; forgets on restart). */
export const makeMemory = (options: Memory.MemoryLedgerOptions = {}): Effect.Effect<Ledger.Service> =>
  Effect.map(Memory.make(options), withSpans)

/** The in-memory ledger as a layer (for tests and users who want no file). */
export const layerMemory = (options: Memory.MemoryLedgerOptions = {}): Layer.Layer<Ledger> =>
  Layer.effect(Ledger, makeMemory(options))

/**
 * A durable backend's module, loaded when its layer is built, not when the package is imported:
 * a program on `memory` never loads the SQL modules or their drivers, one on SQLite never PostgreSQL's.
 */
const load = <A>(name: string, module: () => Promise<A>): Effect.Effect<A, LedgerError> =>
  Effect.tryPromise({
    try: module,
    catch: (cause) =>
      new LedgerError({
        reason: "unavailable",
        message: `loading the ${name} ledger failed: ${cause instanceof Error ? cause.message : String(cause)}`
      })
  })

/** The SQLite ledger (created, migrated as needed); `LedgerError` if the file cannot be used. Closes with the layer. */
export const layerSqlite = (options: SqliteLedgerOptions): Layer.Layer<Ledger, LedgerError> =>
  Layer.scoped(
    Ledger,
    Effect.flatMap(load("SQLite", () => import("./ledger/Sqlite.js")), (Sqlite) =>
      Effect.map(Sqlite.make(options), withSpans))
  )

/** The PostgreSQL ledger (migrated as needed); `LedgerError` if the server cannot be used. Closes with the layer. */
export const layerPostgres = (options: PostgresLedgerOptions): Layer.Layer<Ledger, LedgerError> =>
  Layer.scoped(
    Ledger,
    Effect.flatMap(
      load("PostgreSQL", () => import("./ledger/Postgres.js")),
      (Postgres) => Effect.map(Postgres.make(options), withSpans)
    )
  )

/** The ledger the configuration's `ledger:` section names, with the options every backend shares. */
export const layerFromConfig = (
  config: LedgerConfig,
  options: LedgerOptions = {}
): Layer.Layer<Ledger, LedgerError> => {
  switch (config.backend) {
    case "memory":
      return layerMemory({ ...options, maxEvents: config.maxEvents })
    case "sqlite":
      return layerSqlite({ ...options, path: config.path, durability: config.durability })
    case "postgres":
      return layerPostgres({ ...options, url: config.url })
  }
}
