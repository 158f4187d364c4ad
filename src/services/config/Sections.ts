/**
 * The scalar sections (`resilience`, `budget`, `observability`, `ledger`): per key, the project's
 * value where it sets one, else the user's, else the default (API.md §4); then the rules that span
 * keys — `max_delay_s ≥ base_delay_s`, and a `ledger.url` that parses as a PostgreSQL URL (§14).
 */
import * as Effect from "effect/Effect"
import * as Predicate from "effect/Predicate"
import * as Redacted from "effect/Redacted"
import {
  type BudgetConfig,
  type CircuitBreakerConfig,
  defaults,
  type LedgerConfig,
  type ObservabilityConfig,
  type ResilienceConfig,
  type ScopeLimits
} from "../../domain/Config.js"
import type { ConfigError } from "../../domain/Errors.js"
import { tagKeyProblem } from "../../domain/Tags.js"
import { configError, invalid, quote } from "./Issues.js"
import type { Source } from "./Sources.js"

const firstDefined = <A>(values: ReadonlyArray<A | undefined>): A | undefined => values.find(Predicate.isNotUndefined)

/** Per key: the first layer that sets it, else the base. */
const mergeKeys = <T extends object>(base: T, layers: ReadonlyArray<Partial<T> | undefined>): T => {
  const merged: Record<string, unknown> = { ...(base as Record<string, unknown>) }
  for (const key of Object.keys(base)) {
    const value = firstDefined(layers.map((layer) => (layer as Record<string, unknown> | undefined)?.[key]))
    if (value !== undefined) merged[key] = value
  }
  return merged as T
}

/** `resilience`, with its `circuit_breaker` merged per key too. */
export const resolveResilience = (sources: ReadonlyArray<Source>): Effect.Effect<ResilienceConfig, ConfigError> => {
  const layers = sources.map((source) => source.file.resilience)
  const resilience: ResilienceConfig = {
    ...mergeKeys<Omit<ResilienceConfig, "circuitBreaker">>(defaults.resilience, layers),
    circuitBreaker: mergeKeys<CircuitBreakerConfig>(
      defaults.resilience.circuitBreaker,
      layers.map((layer) => layer?.circuitBreaker)
    )
  }
  if (resilience.maxDelayS < resilience.baseDelayS) {
    const capSource = sources.find((source) => source.file.resilience?.maxDelayS !== undefined)
    // Name the key the user wrote: a base above the default cap is the base's problem.
    return Effect.fail(
      capSource === undefined
        ? invalid(
          ["resilience", "base_delay_s"],
          `expected at most max_delay_s (${resilience.maxDelayS}, its default), got ${resilience.baseDelayS}`,
          sources.find((source) => source.file.resilience?.baseDelayS !== undefined)?.origin
        )
        : invalid(
          ["resilience", "max_delay_s"],
          `expected at least base_delay_s (${resilience.baseDelayS}), got ${resilience.maxDelayS}`,
          capSource.origin
        )
    )
  }
  return Effect.succeed(resilience)
}

/**
 * `per_model` or `per_tag`, merged per entry like `models`: the project's entry for an alias or tag
 * key wins, the user's other entries are added. Each key is checked by `problem` (a `ConfigError`
 * naming `budget.<table>.<key>`).
 */
const resolveScopeTable = (
  sources: ReadonlyArray<Source>,
  table: "perModel" | "perTag",
  problem: (key: string) => string | undefined
): Effect.Effect<Record<string, ScopeLimits>, ConfigError> => {
  const merged: Record<string, ScopeLimits> = {}
  for (const source of sources) {
    for (const [key, limits] of Object.entries(source.file.budget?.[table] ?? {})) {
      if (Object.hasOwn(merged, key)) continue
      const detail = problem(key)
      if (detail !== undefined) {
        return Effect.fail(
          invalid(["budget", table === "perModel" ? "per_model" : "per_tag", key], detail, source.origin)
        )
      }
      merged[key] = limits
    }
  }
  return Effect.succeed(merged)
}

/**
 * `budget`: scalar keys per key; `per_model` and `per_tag` per entry (every `per_model` key must be
 * a model alias, every `per_tag` key a valid tag key); `alert_thresholds` sorted and de-duplicated.
 */
export const resolveBudget = (
  sources: ReadonlyArray<Source>,
  aliases: ReadonlyArray<string>
): Effect.Effect<BudgetConfig, ConfigError> =>
  Effect.gen(function*() {
    const layers = sources.map((source) => source.file.budget)
    const scalars = mergeKeys<Omit<BudgetConfig, "perModel" | "perTag">>(
      {
        dailySpendLimit: defaults.budget.dailySpendLimit,
        weeklySpendLimit: defaults.budget.weeklySpendLimit,
        monthlySpendLimit: defaults.budget.monthlySpendLimit,
        alertThresholds: defaults.budget.alertThresholds,
        defaultMaxOutputTokens: defaults.budget.defaultMaxOutputTokens,
        holdTtlS: defaults.budget.holdTtlS
      },
      layers
    )
    const perModel = yield* resolveScopeTable(
      sources,
      "perModel",
      (alias) =>
        aliases.includes(alias)
          ? undefined
          : `expected one of the model aliases (${aliases.join(", ")}), got ${quote(alias)}`
    )
    const perTag = yield* resolveScopeTable(
      sources,
      "perTag",
      (key) => {
        const problem = tagKeyProblem(key)
        return problem === undefined ? undefined : `expected a tag key, got ${quote(key.slice(0, 70))}: ${problem}`
      }
    )
    return {
      ...scalars,
      alertThresholds: [...new Set(scalars.alertThresholds)].sort((a, b) => a - b),
      perModel,
      perTag
    }
  })

/** `observability`. */
export const resolveObservability = (sources: ReadonlyArray<Source>): ObservabilityConfig =>
  mergeKeys<ObservabilityConfig>(defaults.observability, sources.map((source) => source.file.observability))

const postgresExample = "postgres://user:password@host:5432/database"

/**
 * Why `url` is not a PostgreSQL connection URL, else `undefined`. Checked at load so a typo fails
 * here rather than as a DNS lookup of a made-up host; the reason never quotes the URL (it may hold
 * the password).
 */
export const postgresUrlProblem = (url: string): string | undefined => {
  let scheme: string
  try {
    scheme = new URL(url).protocol
  } catch {
    return "a value that is not a URL"
  }
  if (scheme !== "postgres:" && scheme !== "postgresql:") return `a URL with scheme ${quote(scheme)}`
  // `postgres:u:pass@host/db` parses, but the driver reads it as a database name on the local server
  if (!url.toLowerCase().startsWith(`${scheme}//`)) return `a URL without "//" after ${quote(scheme)}`
  // `postgres://u:pa/ss@host/db`: a password's `/` ends the host there; the rest of it would be looked up as one
  return /^[^/]*\/\/[^/]*\/[^?#]*@/.test(url)
    ? "a URL with an \"@\" after its host (a password holding \"/\" or \"@\" must be percent-encoded: %2F, %40)"
    : undefined
}

/**
 * `ledger`: the backend (project, else user, else `postgres` beside a `url`, else `sqlite`) and, per key, the settings it reads —
 * `path` and `durability` (sqlite), `max_events` (memory), `url` (postgres: required, and a PostgreSQL URL).
 */
/** Where a setting came from, for a message (` (in ~/.config/effect-llm/config.yaml)`); nothing for the options. */
const from = (origin: string | undefined): string => origin === undefined ? "" : ` (${origin})`

export const resolveLedger = (sources: ReadonlyArray<Source>): Effect.Effect<LedgerConfig, ConfigError> => {
  const ledgerKey = <K extends "backend" | "path" | "url" | "maxEvents" | "durability">(key: K) =>
    firstDefined(sources.map((source) => source.file.ledger?.[key]))
  const originOf = (key: "backend" | "url" | "path" | "durability" | "maxEvents") =>
    sources.find((source) => source.file.ledger?.[key] !== undefined)?.origin
  // a `url` with no `backend` (nor another backend's setting) in any file means PostgreSQL, the only
  // backend that reads one, not the default SQLite file: machines meant to share one budget would each keep their own
  const otherSettings = ledgerKey("path") !== undefined || ledgerKey("durability") !== undefined ||
    ledgerKey("maxEvents") !== undefined
  const backend = ledgerKey("backend") ??
    (ledgerKey("url") !== undefined && !otherSettings ? "postgres" : defaults.ledger.backend)
  switch (backend) {
    case "sqlite": {
      const config: LedgerConfig = {
        backend,
        path: ledgerKey("path") ?? defaults.ledger.path,
        durability: ledgerKey("durability") ?? defaults.ledger.durability
      }
      // a `url` another file's SQLite setting overrode: said, or a fleet meant to share one budget
      // would each keep their own without a word
      const sqliteSetting = ledgerKey("path") !== undefined
        ? "path"
        : ledgerKey("durability") !== undefined
        ? "durability"
        : "max_events"
      return ledgerKey("url") !== undefined && ledgerKey("backend") === undefined
        ? Effect.as(
          Effect.logWarning(
            `ledger.url${from(originOf("url"))} is not used: ledger.${sqliteSetting}${
              from(originOf(sqliteSetting === "max_events" ? "maxEvents" : sqliteSetting))
            } makes the ledger a local SQLite file; set ledger.backend: postgres to use the URL`
          ),
          config
        )
        : Effect.succeed(config)
    }
    case "memory":
      return Effect.succeed({ backend, maxEvents: ledgerKey("maxEvents") ?? defaults.ledger.maxEvents })
    case "postgres": {
      const url = ledgerKey("url")
      if (url === undefined) {
        return Effect.fail(
          configError({
            reason: "missing",
            path: ["ledger", "url"],
            origin: originOf("backend"),
            detail: "expected a connection URL when backend is postgres, got nothing"
          })
        )
      }
      // blanks around it (a value pasted from a secret store) are no part of it, as around a `base_url`
      const text = Redacted.value(url).trim()
      const problem = postgresUrlProblem(text)
      if (problem !== undefined) {
        return Effect.fail(
          invalid(["ledger", "url"], `expected a PostgreSQL URL (${postgresExample}), got ${problem}`, originOf("url"))
        )
      }
      return Effect.succeed({ backend, url: text === Redacted.value(url) ? url : Redacted.make(text) })
    }
  }
}
