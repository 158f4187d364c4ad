/**
 * `effect-llm ledger`: the spend ledger summarised (calls, tokens, cost and outcomes by day, model or
 * provider) with today's spend against the daily limit; `ledger report` and `ledger limits` are its
 * subcommands (Budget.ts, Limits.ts).
 */
import * as Command from "@effect/cli/Command"
import type * as HelpDoc from "@effect/cli/HelpDoc"
import * as Options from "@effect/cli/Options"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type { ConfigError, LedgerError } from "../domain/Errors.js"
import type { SummaryGroupBy } from "../domain/LedgerEvent.js"
import { Ledger } from "../services/Ledger.js"
import * as LLMConfig from "../services/LLMConfig.js"
import type { WithLive } from "./Budget.js"
import { CliError, ExitCode } from "./Exit.js"
import { spendLine, table, usd } from "./Format.js"
import { CliOutput, noteMemoryLedger } from "./Output.js"
import { utcDate } from "./UtcDate.js"

/** The `ledger` command over the shared options (its subcommands are added by `Cli.ts`). */
export const makeCommand = (shared: {
  readonly config: Options.Options<Option.Option<string>>
  readonly json: Options.Options<boolean>
  readonly withLive: WithLive
  readonly describe: (summary: string, examples: ReadonlyArray<string>) => HelpDoc.HelpDoc
}) =>
  Command.make("ledger", {
    since: utcDate("since").pipe(
      Options.withDescription("From this date/time (ISO 8601, UTC unless it names a zone; e.g. 2025-01-31)."),
      Options.optional
    ),
    until: utcDate("until").pipe(Options.withDescription("Up to (excluding) this date/time."), Options.optional),
    // optional, not defaulted: `ledger --by day report` must be told apart from `ledger report` (Cli.ts)
    by: Options.choice("by", ["day", "model", "provider"]).pipe(
      Options.withDescription("Group the summary by day (UTC; the default), model or provider."),
      Options.optional
    ),
    json: shared.json,
    config: shared.config
  }, (options) =>
    Option.isSome(options.since) && Option.isSome(options.until) &&
      options.since.value.getTime() >= options.until.value.getTime()
      ? Effect.fail<CliError | ConfigError | LedgerError>(
        new CliError({
          kind: "InvalidRange",
          message:
            `--since (${options.since.value.toISOString()}) must be before --until (${options.until.value.toISOString()})`,
          exitCode: ExitCode.usage
        })
      )
      : shared.withLive(options.config)(Effect.gen(function*() {
        yield* noteMemoryLedger
        const groupBy: SummaryGroupBy = Option.getOrElse(options.by, () => "day" as const)
        const ledger = yield* Ledger
        const { config: resolved } = yield* LLMConfig.LLMConfig
        const rows = yield* ledger.summary({
          groupBy,
          ...Option.match(options.since, { onNone: () => ({}), onSome: (since) => ({ since }) }),
          ...Option.match(options.until, { onNone: () => ({}), onSome: (until) => ({ until }) })
        })
        const spent = yield* ledger.spendToday()
        const limit = resolved.budget.dailySpendLimit
        if (options.json) {
          return yield* Console.log(JSON.stringify({ groupBy, rows, today: { spent, limit } }, null, 2))
        }
        yield* Console.log(
          rows.length === 0
            ? "no calls recorded"
            : table(
              [groupBy, "calls", "input", "output", "cost", "ok", "error", "cancelled", "expired"],
              rows.map((row) => [
                row.key,
                String(row.calls),
                String(row.inputTokens),
                String(row.outputTokens),
                usd(row.cost),
                String(row.ok),
                String(row.error),
                String(row.cancelled),
                String(row.expired)
              ]),
              (yield* CliOutput).scrub
            )
        )
        yield* Console.log(`\ntoday  ${spendLine(spent, limit)}`)
      }))).pipe(
      Command.withDescription(shared.describe(
        "Summarise the spend ledger (calls, tokens, cost, outcomes) and show today's spend against the daily limit. `ledger report` reports the last N days as a table, CSV or JSON.",
        ["effect-llm ledger", "effect-llm ledger --by model --since 2025-01-01", "effect-llm ledger --json"]
      ))
    )
