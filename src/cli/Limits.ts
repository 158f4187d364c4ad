/**
 * `effect-llm ledger limits`: each model's rate limits (API.md §11) against its current window use
 * in the ledger — requests and tokens in the last 60 s, requests in the last 24 h (for an alias with
 * `rpd`: only its requests are kept a day; `-` for the others) — and the endpoints
 * a server's 429 has paused. With a shared ledger (SQLite file, PostgreSQL) that is every process's use.
 */
import * as Command from "@effect/cli/Command"
import * as HelpDoc from "@effect/cli/HelpDoc"
import type * as Options from "@effect/cli/Options"
import * as Clock from "effect/Clock"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import type * as Option from "effect/Option"
import type { RateLimits } from "../domain/Config.js"
import { Ledger, type LimitUse } from "../services/Ledger.js"
import { LLMConfig } from "../services/LLMConfig.js"
import type { WithLive } from "./Budget.js"
import { table } from "./Format.js"
import { CliOutput, noteMemoryLedger } from "./Output.js"

/** One alias's row: its limits and its use (zero when the ledger has none in its windows). */
export interface LimitsRow {
  readonly alias: string
  readonly limits: RateLimits
  readonly requestsMinute: number
  readonly tokensMinute: number
  /** `null` for an alias without `rpd`: only its last 60 s are kept (`WindowUse.requestsDay`). */
  readonly requestsDay: number | null
  readonly pauses: ReadonlyArray<{ readonly endpoint: string; readonly until: string }>
}

/** The rows: every alias with limits, and any other the ledger holds use or a pause for. */
export const limitsRows = (
  models: Readonly<Record<string, { readonly limits?: RateLimits | undefined }>>,
  use: ReadonlyArray<LimitUse>
): ReadonlyArray<LimitsRow> => {
  const byAlias = new Map(use.map((row) => [row.alias, row]))
  const aliases = [
    ...Object.keys(models).filter((alias) => models[alias]?.limits !== undefined),
    // an alias without limits only while it has use or a pause to show (a pause that ended is none)
    ...use.filter((row) =>
      models[row.alias]?.limits === undefined &&
      (row.requestsMinute > 0 || row.tokensMinute > 0 || row.pauses.length > 0)
    ).map((row) => row.alias)
  ]
  return aliases.map((alias) => {
    const row = byAlias.get(alias)
    return {
      alias,
      limits: models[alias]?.limits ?? {},
      requestsMinute: row?.requestsMinute ?? 0,
      tokensMinute: row?.tokensMinute ?? 0,
      requestsDay: models[alias]?.limits?.rpd === undefined ? null : row?.requestsDay ?? 0,
      pauses: (row?.pauses ?? []).map((pause) => ({
        endpoint: pause.endpoint,
        until: new Date(pause.until).toISOString()
      }))
    }
  })
}

const of = (used: number, limit: number | undefined) => limit === undefined ? `${used}` : `${used}/${limit}`

/** The rows as a table. */
export const renderLimits = (rows: ReadonlyArray<LimitsRow>, scrub?: (text: string) => string): string =>
  rows.length === 0 ? "no model has rate limits (models.<alias>.limits) and no window holds any use" : table(
    ["model", "requests/60s", "tokens/60s", "requests/24h", "paused"],
    rows.map((row) => [
      row.alias,
      of(row.requestsMinute, row.limits.rpm),
      of(row.tokensMinute, row.limits.tpm),
      row.requestsDay === null ? "-" : of(row.requestsDay, row.limits.rpd),
      row.pauses.map((pause) => `${pause.endpoint} until ${pause.until}`).join(", ") || "-"
    ]),
    scrub
  )

/** `ledger limits`, over `Cli.ts`'s `--config` and `--json` options and live runner. */
export const makeCommand = (shared: {
  readonly config: Options.Options<Option.Option<string>>
  readonly json: Options.Options<boolean>
  readonly withLive: WithLive
}) =>
  Command.make(
    "limits",
    { config: shared.config, json: shared.json },
    (options) =>
      shared.withLive(options.config)(Effect.gen(function*() {
        yield* noteMemoryLedger
        const { config } = yield* LLMConfig
        const use = yield* (yield* Ledger).limitUse()
        const rows = limitsRows(config.models, use)
        if (options.json) {
          const at = new Date(yield* Clock.currentTimeMillis).toISOString()
          return yield* Console.log(JSON.stringify({ at, rows }, null, 2))
        }
        yield* Console.log(renderLimits(rows, (yield* CliOutput).scrub))
      }))
  ).pipe(
    Command.withDescription(HelpDoc.blocks([
      HelpDoc.p(
        "Rate limits (models.<alias>.limits) against their current window use: requests and tokens in the last 60 s, requests in the last 24 h for a model with rpd (- for one without: its requests are kept 60 s), across every process sharing the ledger, and the endpoints a 429 has paused."
      ),
      HelpDoc.p("Examples:"),
      HelpDoc.p("  $ effect-llm ledger limits"),
      HelpDoc.p("  $ effect-llm ledger limits --json")
    ]))
  )
