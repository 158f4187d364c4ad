/**
 * The `effect-llm` command line, built with @effect/cli: `generate`, `stream`, `ledger`, `doctor`,
 * `init` and `demo`, each taking `--config <path>` (the project file given to `makeLiveLayer`).
 * `run(argv)` parses and runs one command and returns its exit code (see `Exit.ts`).
 */
import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import * as HelpDoc from "@effect/cli/HelpDoc"
import * as Options from "@effect/cli/Options"
import * as FileSystem from "@effect/platform/FileSystem"
import * as Path from "@effect/platform/Path"
import * as Terminal from "@effect/platform/Terminal"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import { readFileSync } from "node:fs"
import { GenerationResponse } from "../domain/GenerationResponse.js"
import type { SummaryGroupBy } from "../domain/LedgerEvent.js"
import type { GenerateRequest } from "../domain/Request.js"
import { makeLiveLayer } from "../layers/Live.js"
import { Ledger } from "../services/Ledger.js"
import { generate, stream } from "../services/LLMClient.js"
import { LLMConfig } from "../services/LLMConfig.js"
import { demo } from "./Demo.js"
import { doctor } from "./Doctor.js"
import { CliError, ExitCode, printError, toExitCode } from "./Exit.js"
import { spendLine, streamSummary, table, usd } from "./Format.js"

/** The package's version, for `--version` (package.json sits two levels up from src/cli and dist/cli). */
const version: string = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")).version

// ---------------------------------------------------------------------------------------------
// Shared options

const config = Options.text("config").pipe(
  Options.withAlias("c"),
  Options.withDescription("The project config file (default: $EFFECT_LLM_CONFIG, else ./config.yaml)."),
  Options.optional
)

const json = Options.boolean("json").pipe(Options.withDescription("Print JSON instead of text."))

/** The live services for `--config` (a fresh set: one command, one process). */
const live = (configPath: Option.Option<string>) =>
  makeLiveLayer(Option.match(configPath, { onNone: () => ({}), onSome: (path) => ({ configPath: path }) }))

/** A description with examples, for `--help`. */
const describe = (summary: string, examples: ReadonlyArray<string>): HelpDoc.HelpDoc =>
  HelpDoc.blocks([
    HelpDoc.p(summary),
    HelpDoc.p("Examples:"),
    ...examples.map((example) => HelpDoc.p(`  $ ${example}`))
  ])

// ---------------------------------------------------------------------------------------------
// generate / stream

const requestOptions = {
  prompt: Args.text({ name: "prompt" }).pipe(Args.withDescription("The prompt; `-` reads it from stdin.")),
  model: Options.text("model").pipe(
    Options.withAlias("m"),
    Options.withDescription("A model alias from config `models` (default: `default_model`)."),
    Options.optional
  ),
  system: Options.text("system").pipe(Options.withDescription("A system instruction."), Options.optional),
  maxTokens: Options.integer("max-tokens").pipe(Options.withDescription("Maximum output tokens."), Options.optional),
  temperature: Options.float("temperature").pipe(
    Options.withDescription("Sampling temperature, 0–2."),
    Options.optional
  ),
  config
}

type RequestOptions = {
  readonly prompt: string
  readonly model: Option.Option<string>
  readonly system: Option.Option<string>
  readonly maxTokens: Option.Option<number>
  readonly temperature: Option.Option<number>
}

/** All of stdin as text (for the prompt `-`), without its final newline. */
const readStdin = Effect.async<string, CliError>((resume) => {
  const chunks: Array<Buffer> = []
  const onData = (chunk: Buffer) => chunks.push(chunk)
  const onEnd = () => resume(Effect.succeed(Buffer.concat(chunks).toString("utf8").replace(/\r?\n$/, "")))
  const onError = (error: Error) =>
    resume(Effect.fail(new CliError({ kind: "StdinError", message: error.message, exitCode: ExitCode.runtime })))
  process.stdin.on("data", onData).once("end", onEnd).once("error", onError)
  return Effect.sync(() => {
    process.stdin.off("data", onData).off("end", onEnd).off("error", onError)
    process.stdin.pause()
  })
})

/** The library request for the command's options; `-` as the prompt reads stdin. */
const requestOf = (options: RequestOptions): Effect.Effect<GenerateRequest, CliError> =>
  Effect.map(options.prompt === "-" ? readStdin : Effect.succeed(options.prompt), (prompt) => ({
    prompt,
    ...Option.match(options.model, { onNone: () => ({}), onSome: (model) => ({ model }) }),
    ...Option.match(options.system, { onNone: () => ({}), onSome: (system) => ({ system }) }),
    ...Option.match(options.maxTokens, { onNone: () => ({}), onSome: (maxOutputTokens) => ({ maxOutputTokens }) }),
    ...Option.match(options.temperature, { onNone: () => ({}), onSome: (temperature) => ({ temperature }) })
  }))

const generateCommand = Command.make("generate", { ...requestOptions, json }, (options) =>
  Effect.gen(function*() {
    const request = yield* requestOf(options)
    const response = yield* generate({ ...request, fullResponse: true })
    if (options.json) {
      const encoded = yield* Schema.encode(GenerationResponse)(response).pipe(Effect.orDie)
      yield* Console.log(JSON.stringify(encoded, null, 2))
    } else yield* Console.log(response.content)
  }).pipe(Effect.provide(live(options.config)))).pipe(
    Command.withDescription(
      describe("Generate a completion and print its text (or, with --json, the whole GenerationResponse).", [
        `effect-llm generate "Why is the sky blue?"`,
        `effect-llm generate --model qwen-plus --max-tokens 200 --temperature 0.2 "Summarise Effect in one line"`,
        `echo "Translate to French: good morning" | effect-llm generate -`,
        `effect-llm generate --json "hi" | jq .usage`
      ])
    )
  )

const streamCommand = Command.make("stream", requestOptions, (options) =>
  Effect.gen(function*() {
    const request = yield* requestOf(options)
    const terminal = yield* Terminal.Terminal
    const display = (text: string) =>
      terminal.display(text).pipe(
        Effect.mapError(() =>
          new CliError({ kind: "OutputClosed", message: "stdout was closed", exitCode: ExitCode.runtime })
        )
      )
    let deltas = 0
    yield* stream(request).pipe(
      Stream.runForEach((event) => {
        if (!event.isFinish) {
          deltas += 1
          return display(event.delta)
        }
        return Effect.zipRight(
          display("\n"),
          event.response === undefined ? Effect.void : printError(streamSummary(event.response))
        )
      }),
      Effect.onInterrupt(() => printError(`\ninterrupted after ${deltas} deltas: the stream was cancelled`))
    )
  }).pipe(Effect.provide(live(options.config)))).pipe(
    Command.withDescription(describe(
      "Stream a completion: tokens are printed as they arrive, then one summary line on stderr (model, endpoint, TTFT, total time, tokens, cost). Ctrl-C stops the stream; the ledger records it as cancelled.",
      [`effect-llm stream "Write a haiku about retries"`, `effect-llm stream --model qwen-plus - < prompt.txt`]
    ))
  )

// ---------------------------------------------------------------------------------------------
// ledger

const ledgerCommand = Command.make("ledger", {
  since: Options.date("since").pipe(
    Options.withDescription("From this date/time (ISO 8601, UTC; e.g. 2025-01-31)."),
    Options.optional
  ),
  until: Options.date("until").pipe(Options.withDescription("Up to (excluding) this date/time."), Options.optional),
  by: Options.choice("by", ["day", "model", "provider"]).pipe(
    Options.withDescription("Group the summary by day (UTC), model or provider."),
    Options.withDefault("day" as SummaryGroupBy)
  ),
  json,
  config
}, (options) =>
  Effect.gen(function*() {
    const ledger = yield* Ledger
    const { config: resolved } = yield* LLMConfig
    const rows = yield* ledger.summary({
      groupBy: options.by,
      ...Option.match(options.since, { onNone: () => ({}), onSome: (since) => ({ since }) }),
      ...Option.match(options.until, { onNone: () => ({}), onSome: (until) => ({ until }) })
    })
    const spent = yield* ledger.spendToday()
    const limit = resolved.budget.dailySpendLimit
    if (options.json) {
      return yield* Console.log(JSON.stringify({ groupBy: options.by, rows, today: { spent, limit } }, null, 2))
    }
    yield* Console.log(
      rows.length === 0
        ? "no calls recorded"
        : table(
          [options.by, "calls", "input", "output", "cost", "ok", "error", "cancelled", "expired"],
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
          ])
        )
    )
    yield* Console.log(`\ntoday  ${spendLine(spent, limit)}`)
  }).pipe(Effect.provide(live(options.config)))).pipe(
    Command.withDescription(describe(
      "Summarise the spend ledger (calls, tokens, cost, outcomes) and show today's spend against the daily limit.",
      ["effect-llm ledger", "effect-llm ledger --by model --since 2025-01-01", "effect-llm ledger --json"]
    ))
  )

// ---------------------------------------------------------------------------------------------
// doctor / init / demo

const doctorCommand = Command.make("doctor", { config }, (options) => doctor(Option.getOrUndefined(options.config)))
  .pipe(
    Command.withDescription(describe(
      "Check the setup without spending: config, models → endpoints, keys (redacted), endpoint reachability (TCP + one plain HTTP request, no generation), breaker settings and the ledger. Exits non-zero when anything is wrong.",
      ["effect-llm doctor", "effect-llm doctor --config ./staging.yaml"]
    ))
  )

/** The commented template: the package's own `config.yaml` (shipped in `files`). */
const templateUrl = new URL("../../config.yaml", import.meta.url)

const initCommand = Command.make("init", {
  force: Options.boolean("force").pipe(Options.withDescription("Overwrite an existing file.")),
  config
}, (options) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const target = path.resolve(Option.getOrElse(options.config, () => "config.yaml"))
    if (!options.force && (yield* fs.exists(target))) {
      return yield* new CliError({
        kind: "FileExists",
        message: `${target} already exists; pass --force to overwrite it`,
        exitCode: ExitCode.usage
      })
    }
    const template = yield* fs.readFileString(yield* path.fromFileUrl(templateUrl))
    yield* fs.makeDirectory(path.dirname(target), { recursive: true })
    yield* fs.writeFileString(target, template)
    yield* Console.log(
      `wrote ${target}\nnext: set GEMINI_API_KEY and/or DASHSCOPE_API_KEY, then run \`effect-llm doctor\``
    )
  }).pipe(
    Effect.catchTags({
      SystemError: (error) => new CliError({ kind: "SystemError", message: error.message, exitCode: ExitCode.runtime }),
      BadArgument: (error) => new CliError({ kind: "BadArgument", message: error.message, exitCode: ExitCode.runtime })
    })
  )).pipe(
    Command.withDescription(describe("Write a commented config.yaml template (never overwrites without --force).", [
      "effect-llm init",
      "effect-llm init --config ~/.config/effect-llm/config.yaml",
      "effect-llm init --force"
    ]))
  )

const demoCommand = Command.make("demo", {
  live: Options.boolean("live").pipe(
    Options.withDescription(
      "run the live steps against the real services (needs GEMINI_API_KEY or DASHSCOPE_API_KEY; costs money)"
    )
  ),
  json: Options.boolean("json").pipe(
    Options.withDescription("print one JSON object per step (what it demonstrates), then a summary line")
  )
}, demo).pipe(
  Command.withDescription(
    describe("Run the tour of `npm run demo`: offline by default (embedded simulator, no keys, no network).", [
      "effect-llm demo",
      "effect-llm demo --json",
      "GEMINI_API_KEY=… effect-llm demo --live"
    ])
  )
)

// ---------------------------------------------------------------------------------------------
// the application

const root = Command.make("effect-llm").pipe(
  Command.withDescription(
    "Call Gemini and Qwen/DashScope through effect-llm: generate, stream, inspect spend, check a setup."
  ),
  Command.withSubcommands([generateCommand, streamCommand, ledgerCommand, doctorCommand, initCommand, demoCommand])
)

/** The exit-code table, shown at the end of every `--help`. */
const footer = HelpDoc.blocks([
  HelpDoc.h1("EXIT CODES"),
  HelpDoc.p("  0    ok"),
  HelpDoc.p("  1    runtime error (provider error, unreachable endpoint, ledger failure, failed doctor check)"),
  HelpDoc.p("  2    usage or configuration error (bad arguments, invalid request, ConfigError, existing file)"),
  HelpDoc.p("  3    budget exceeded (BudgetExceededError: no request was made)"),
  HelpDoc.p("  130  interrupted (Ctrl-C); a stream is recorded as cancelled"),
  HelpDoc.p(
    "Errors print one line on stderr: `error: <tag>: <message>`. `--log-level info` shows retries and breaker changes."
  )
])

const cli = Command.run(root, { name: "effect-llm", version, footer })

/** Library log lines go to stderr (stdout carries only the answer), as `level: message`. */
const stderrLogger = Logger.make(({ logLevel, message }) => {
  const text = (Array.isArray(message) ? message : [message]).map(String).join(" ")
  process.stderr.write(`${logLevel.label.toLowerCase()}: ${text}\n`)
})

/** @effect/cli's help is always styled; plain text unless stdout is a terminal without `NO_COLOR`. */
const colour = process.stdout.isTTY === true && process.env.NO_COLOR === undefined
const stripAnsi = (text: string): string => text.replace(/\x1b\[[0-9;]*m/g, "")

/**
 * Runs the command line (`argv` as in `process.argv`) to an exit code. @effect/cli prints usage
 * errors with `Console.error`; that console is silenced so `toExitCode` prints them as one line.
 */
export const run = (argv: ReadonlyArray<string>) =>
  toExitCode(Console.consoleWith((console) =>
    Effect.withConsole(cli(argv), {
      ...console,
      error: () => Effect.void,
      log: (...args) =>
        console.log(...(colour ? args : args.map((arg) => typeof arg === "string" ? stripAnsi(arg) : arg)))
    })
  )).pipe(
    Logger.withMinimumLogLevel(LogLevel.Warning),
    Effect.provide(Logger.replace(Logger.defaultLogger, stderrLogger))
  )
