/**
 * `effect-llm ledger report` (where the money went: calls, outcomes, tokens and cost over the last N
 * days, grouped; a failure rate per endpoint) and `effect-llm budget` (each scope's spend against its
 * limits in the current day, week and month). Built here, wired into the command tree by `Cli.ts`.
 */
import * as Command from "@effect/cli/Command"
import * as HelpDoc from "@effect/cli/HelpDoc"
import * as Options from "@effect/cli/Options"
import * as ValidationError from "@effect/cli/ValidationError"
import * as Clock from "effect/Clock"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import type * as Option from "effect/Option"
import type { ScopeLimits } from "../domain/Config.js"
import type { BudgetWindow, ConfigError, LedgerError } from "../domain/Errors.js"
import type { SummaryGroupBy } from "../domain/LedgerEvent.js"
import { tagKeyProblem, tagValueOf } from "../domain/Tags.js"
import { roundUsd } from "../internal/Usd.js"
import type { LiveServices } from "../layers/Live.js"
import { Ledger } from "../services/Ledger.js"
import { windowStart } from "../services/ledger/Spend.js"
import { LLMConfig } from "../services/LLMConfig.js"
import * as Output from "./Output.js"
import { type BudgetRow, formats, groupings, makeReport, renderBudget, renderReport } from "./Report.js"

/** `Cli.ts`'s runner of a command over the live services for `--config`. */
export type WithLive = (
  configPath: Option.Option<string>
) => <A, E, R>(
  command: Effect.Effect<A, E, R>
) => Effect.Effect<A, E | ConfigError | LedgerError, Output.CliOutput | Exclude<R, LiveServices>>

const dayMs = 86_400_000
/** The longest report: a date this far back is still one the ledger can hold. */
const maxDays = 36_500
const windows: ReadonlyArray<BudgetWindow> = ["daily", "weekly", "monthly"]

const invalid = (message: string) => Effect.fail(ValidationError.invalidValue(HelpDoc.p(message)))

/** `--by`: a grouping, or `tag:<key>` with a valid tag key. */
const parseGroupBy = (value: string): Effect.Effect<SummaryGroupBy, ValidationError.ValidationError> => {
  if ((groupings as ReadonlyArray<string>).includes(value)) return Effect.succeed(value as SummaryGroupBy)
  if (value.startsWith("tag:")) {
    const problem = tagKeyProblem(value.slice(4))
    return problem === undefined
      ? Effect.succeed(value as SummaryGroupBy)
      : invalid(`--by ${value}: ${problem}`)
  }
  return invalid(`--by: expected one of ${groupings.join(", ")} or tag:<key>, got '${value}'`)
}

/** A description with examples, for `--help`. */
const describe = (summary: string, examples: ReadonlyArray<string>): HelpDoc.HelpDoc =>
  HelpDoc.blocks([
    HelpDoc.p(summary),
    HelpDoc.p("Examples:"),
    ...examples.map((example) => HelpDoc.p(`  $ ${example}`))
  ])

/** The limits > 0 of a scope, by window. */
const limitsIn = (limits: ScopeLimits | undefined): Partial<Record<BudgetWindow, number>> => {
  const found: Partial<Record<BudgetWindow, number>> = {}
  for (const window of windows) {
    const limit = limits?.[window]
    if (limit !== undefined && limit > 0) found[window] = limit
  }
  return found
}

/** The `ledger report` and `budget` commands, over `Cli.ts`'s `--config` option and live runner. */
export const makeCommands = (shared: {
  readonly config: Options.Options<Option.Option<string>>
  readonly withLive: WithLive
}) => {
  const format = Options.choice("format", formats).pipe(
    Options.withDescription("table (aligned, with bars), csv (RFC 4180, a header line) or json."),
    Options.withDefault("table" as const)
  )

  const report = Command.make("report", {
    days: Options.integer("days").pipe(
      Options.withDescription("The last N UTC days, today included (default 7)."),
      Options.withDefault(7),
      Options.mapEffect((
        days
      ) =>
        days < 1
          ? invalid(`--days: expected at least 1, got ${days}`)
          : days > maxDays
          ? invalid(`--days: expected at most ${maxDays} (100 years), got ${days}`)
          : Effect.succeed(days)
      )
    ),
    by: Options.text("by").pipe(
      Options.withDescription(`Group by ${groupings.join(", ")} or tag:<key> (default day).`),
      Options.withDefault("day"),
      Options.mapEffect(parseGroupBy)
    ),
    format,
    config: shared.config
  }, (options) =>
    shared.withLive(options.config)(Effect.gen(function*() {
      yield* Output.noteMemoryLedger
      const ledger = yield* Ledger
      const now = yield* Clock.currentTimeMillis
      const since = windowStart("daily", now) - (options.days - 1) * dayMs
      const rows = yield* ledger.summary({ groupBy: options.by, since: new Date(since) })
      const { scrub } = yield* Output.CliOutput
      yield* Console.log(renderReport(makeReport(options.by, options.days, since, now, rows), options.format, scrub))
    }))).pipe(
      Command.withDescription(describe(
        "Where the money went: calls, outcomes (ok, error, cancelled, expired), tokens and cost of the calls held in the last N days, grouped; grouped by endpoint, each endpoint's failure rate (error / ok + error).",
        [
          "effect-llm ledger report",
          "effect-llm ledger report --days 30 --by model",
          "effect-llm ledger report --by endpoint --format csv > endpoints.csv",
          "effect-llm ledger report --by tag:user --format json | jq '.rows[0]'"
        ]
      ))
    )

  const budget = Command.make(
    "budget",
    { format, config: shared.config },
    (options) =>
      shared.withLive(options.config)(Effect.gen(function*() {
        yield* Output.noteMemoryLedger
        const ledger = yield* Ledger
        const { config } = yield* LLMConfig
        const now = yield* Clock.currentTimeMillis
        const rows: Array<BudgetRow> = []
        const row = (scope: string, window: BudgetWindow, limit: number, spent: number) =>
          rows.push({
            scope,
            window,
            windowStart: new Date(windowStart(window, now)).toISOString(),
            spent,
            limit,
            // to 12 places, as costs are: 0.54 / 10 is 0.054, not 0.054000000000000006
            fraction: limit > 0 ? roundUsd(spent / limit) : null
          })
        const add = (scope: string, window: BudgetWindow, limit: number) =>
          Effect.map(ledger.spend(scope, window), (spent) => row(scope, window, limit, spent))
        const { budget: settings } = config
        yield* add("global", "daily", settings.dailySpendLimit)
        yield* add("global", "weekly", settings.weeklySpendLimit)
        yield* add("global", "monthly", settings.monthlySpendLimit)
        for (const alias of Object.keys(config.models)) {
          for (const [window, limit] of Object.entries(limitsIn(settings.perModel[alias]))) {
            yield* add(`model:${alias}`, window as BudgetWindow, limit)
          }
        }
        const unseenTags: Array<{ key: string; limits: Partial<Record<BudgetWindow, number>> }> = []
        const tagKeys = Object.keys(settings.perTag).sort().filter((key) =>
          Object.keys(limitsIn(settings.perTag[key])).length > 0
        )
        // The tag values seen in the current windows (calls held or settled since the earliest of them
        // began) and those whose spend counts now, as the budget check counts it (`Ledger.scopes`: a
        // call held before the window and settled in it, or still open — renewed, however long ago held).
        const earliest = Math.min(...windows.map((window) => windowStart(window, now)))
        const events = tagKeys.length === 0 ? [] : yield* ledger.events({ since: new Date(earliest) })
        const counted = tagKeys.length === 0 || ledger.scopes === undefined ? [] : yield* ledger.scopes()
        for (const key of tagKeys) {
          const limits = limitsIn(settings.perTag[key])
          const limited = Object.keys(limits) as Array<BudgetWindow>
          const since = Math.min(...limited.map((window) => windowStart(window, now)))
          const seenInWindow = new Set<string>()
          for (const event of events) {
            const value = tagValueOf(event.tags, key)
            if (value !== undefined && value !== "" && event.timestamp >= since) seenInWindow.add(value)
          }
          const candidates = new Set(seenInWindow)
          for (const scope of counted) {
            if (scope.startsWith(`${key}:`)) candidates.add(scope.slice(key.length + 1))
          }
          let shown = 0
          for (const value of [...candidates].sort()) {
            const spends = yield* Effect.forEach(limited, (window) => ledger.spend(`${key}:${value}`, window))
            if (!seenInWindow.has(value) && spends.every((spent) => spent <= 0)) continue
            shown++
            limited.forEach((window, i) => row(`${key}:${value}`, window, limits[window]!, spends[i]!))
          }
          if (shown === 0) unseenTags.push({ key, limits })
        }
        const { scrub } = yield* Output.CliOutput
        yield* Console.log(renderBudget({ at: new Date(now).toISOString(), rows, unseenTags }, options.format, scrub))
      }))
  ).pipe(
    Command.withDescription(describe(
      "Each budget scope's spend against its limits in the current UTC day, ISO week and month: global, every per_model alias, and for each per_tag key the values seen in its current windows. Spend counts settled calls and open holds.",
      ["effect-llm budget", "effect-llm budget --format json | jq '.rows[] | select(.fraction > 0.8)'"]
    ))
  )

  return { report, budget }
}
