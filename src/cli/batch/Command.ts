/**
 * `effect-llm batch <input.jsonl> --out <results.jsonl>`: its arguments, options and help. The program
 * (`Run.ts`, with the batch runner, the input and results files) is loaded only when `batch` runs, so
 * the other commands do not load it.
 */
import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import * as HelpDoc from "@effect/cli/HelpDoc"
import * as Options from "@effect/cli/Options"
import * as ValidationError from "@effect/cli/ValidationError"
import * as Effect from "effect/Effect"
import type * as Option from "effect/Option"
import type { ConfigError, LedgerError } from "../../domain/Errors.js"
import type { LiveServices } from "../../layers/Live.js"
import type * as Output from "../Output.js"

/** Runs a command over the live services of `--config` (Cli.ts's `withLive`). */
export type WithLive = (configPath: Option.Option<string>) => <A, E, R>(
  command: Effect.Effect<A, E, R>
) => Effect.Effect<A, E | ConfigError | LedgerError, Output.CliOutput | Exclude<R, LiveServices>>

/** The `batch` command, over Cli.ts's shared pieces. */
export const batchCommand = (shared: {
  readonly config: Options.Options<Option.Option<string>>
  readonly withLive: WithLive
  readonly describe: (summary: string, examples: ReadonlyArray<string>) => HelpDoc.HelpDoc
}) =>
  Command.make("batch", {
    input: Args.text({ name: "input" }).pipe(
      Args.withDescription("The input file (JSON Lines): one object per line with `id` and `prompt` or `messages`.")
    ),
    out: Options.text("out").pipe(
      Options.withAlias("o"),
      Options.withDescription(
        "The results file (JSON Lines), appended as items finish; ids already answered there are skipped."
      )
    ),
    model: Options.text("model").pipe(
      Options.withAlias("m"),
      Options.withDescription("The model alias of lines that name none (default: `default_model`)."),
      Options.optional
    ),
    concurrency: Options.integer("concurrency").pipe(
      Options.withDescription("Items in flight at most (1 to 1000; default 8)."),
      Options.withDefault(8)
    ),
    retryFailed: Options.boolean("retry-failed").pipe(
      Options.withDescription("Also run the ids that failed in an earlier run (by default they are kept as they are).")
    ),
    strict: Options.boolean("strict").pipe(
      Options.withDescription(
        "Run nothing if any input line is malformed (by default such lines are reported and skipped)."
      )
    ),
    stopOn: Options.choice("stop-on", ["budget", "error", "never"]).pipe(
      Options.withDescription(
        "What stops the batch: a budget refusal (default), any failed item, or nothing (every item is tried)."
      ),
      Options.withDefault("budget" as const)
    ),
    progressInterval: Options.float("progress-interval").pipe(
      Options.withDescription(
        "Seconds between progress updates (default: 0.25 on a terminal, 10 in a log, 1 with --json)."
      ),
      // 0, a negative number or NaN would redraw progress without pause, flooding stderr.
      Options.mapEffect((seconds) =>
        Number.isFinite(seconds) && seconds > 0
          ? Effect.succeed(seconds)
          : Effect.fail(ValidationError.invalidValue(HelpDoc.p(
            `--progress-interval: expected a positive number of seconds, got ${seconds}`
          )))
      ),
      Options.optional
    ),
    json: Options.boolean("json").pipe(
      Options.withDescription("Progress as JSON events on stderr (one per line) and the summary as JSON on stdout.")
    ),
    config: shared.config
  }, (options) =>
    shared.withLive(options.config)(
      Effect.flatMap(Effect.promise(() => import("./Run.js")), (run) => run.program(options))
    )).pipe(
      Command.withDescription(shared.describe(
        "Run every line of a JSON Lines file through the model, a few at a time, appending one result line per item to --out as it finishes. Re-running with the same --out skips the ids already answered (and, with --retry-failed, retries the failed ones). Ctrl-C stops starting items and lets those in flight finish; a second Ctrl-C cancels them.",
        [
          "effect-llm batch prompts.jsonl --out results.jsonl --model gemini-flash --concurrency 16",
          "effect-llm batch prompts.jsonl --out results.jsonl --retry-failed",
          "effect-llm batch prompts.jsonl --out results.jsonl --json 2> progress.jsonl"
        ]
      ))
    )
