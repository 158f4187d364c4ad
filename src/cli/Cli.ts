/**
 * The `effect-llm` command line, built with @effect/cli: `generate`, `stream`, `ledger`, `doctor`,
 * `init` and `demo`, each taking `--config <path>` (the project file given to `makeLiveLayer`).
 * `run(argv)` parses and runs one command and returns its exit code (see `Exit.ts`).
 */
import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import * as HelpDoc from "@effect/cli/HelpDoc"
import * as Options from "@effect/cli/Options"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as FiberRef from "effect/FiberRef"
import { identity } from "effect/Function"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import { readFileSync } from "node:fs"
import type { ConfigError, LedgerError } from "../domain/Errors.js"
import { GenerationResponse } from "../domain/GenerationResponse.js"
import type { GenerateRequest } from "../domain/Request.js"
import { stdoutColoured } from "../internal/Colour.js"
import { escapeControlsKeepingLines } from "../internal/Printable.js"
import { liveOver, type LiveServices, nodeFileSystem } from "../layers/Live.js"
import { generate, stream } from "../services/LLMClient.js"
import * as LLMConfig from "../services/LLMConfig.js"
import { asksVersion, checkArgs, misplacedOptions, namingChoices, stdinPromptLast, takeLogLevel } from "./Arguments.js"
import { batchCommand } from "./batch/Command.js"
import * as Budget from "./Budget.js"
import { CliError, ExitCode, toExitCode } from "./Exit.js"
import { streamSummary } from "./Format.js"
import * as Init from "./Init.js"
import * as LedgerCommand from "./Ledger.js"
import * as Limits from "./Limits.js"
import * as Output from "./Output.js"
import { readerGone } from "./Signals.js"

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

/**
 * The `--config` given to a parent command before its subcommand (`ledger -c X report`): the
 * subcommand's own `--config` wins, this one applies when it has none.
 */
const parentConfigPath = FiberRef.unsafeMake<Option.Option<string>>(Option.none())

/**
 * Runs a command over the live services for `--config` (a fresh set: one command, one process). The
 * config is loaded first, alone, so that the run's output knows every secret before anything can
 * print one — even an error building the ledger (a `ledger.url` password); the services are then
 * built over that same loaded config (`makeLiveLayer`'s composition, without reading it again).
 */
const withLive = (configPath: Option.Option<string>) =>
<A, E, R>(
  command: Effect.Effect<A, E, R>
): Effect.Effect<
  A,
  E | ConfigError | LedgerError,
  Output.CliOutput | Exclude<R, LiveServices>
> => {
  return Effect.gen(function*() {
    const parentPath = yield* FiberRef.get(parentConfigPath)
    const path = Option.orElse(configPath, () => parentPath)
    const options = Option.match(path, { onNone: () => ({}), onSome: (path) => ({ configPath: path }) })
    const output = yield* Output.CliOutput
    const loaded = yield* LLMConfig.LLMConfig.pipe(
      Effect.provide(LLMConfig.layer(options).pipe(Layer.provide(nodeFileSystem)))
    )
    output.addSecrets(loaded.secrets)
    return yield* Effect.provide(command, liveOver(Layer.succeed(LLMConfig.LLMConfig, loaded)))
  })
}

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

const generateCommand = Command.make(
  "generate",
  { ...requestOptions, json },
  (options) =>
    withLive(options.config)(Effect.gen(function*() {
      const request = yield* requestOf(options)
      const response = yield* generate({ ...request, fullResponse: true })
      if (options.json) {
        const encoded = yield* Schema.encode(GenerationResponse)(response).pipe(Effect.orDie)
        yield* Console.log(JSON.stringify(encoded, null, 2))
      } else yield* Console.log(response.content)
    }))
).pipe(
  Command.withDescription(
    describe("Generate a completion and print its text (or, with --json, the whole GenerationResponse).", [
      `effect-llm generate "Why is the sky blue?"`,
      `effect-llm generate --model qwen-plus --max-tokens 200 --temperature 0.2 "Summarise Effect in one line"`,
      `echo "Translate to French: good morning" | effect-llm generate -`,
      `effect-llm generate --json "hi" | jq .usage`
    ])
  )
)

/**
 * Writes to stdout and waits until the text is handed on: `true` once written, `false` when the
 * reader has gone (EPIPE); another write error fails with `OutputError` (exit 1). Interruptible
 * (Ctrl-C does not wait for a blocked pipe).
 */
const writeStdout = (text: string): Effect.Effect<boolean, CliError> =>
  text === "" ? Effect.succeed(true) : Effect.async<boolean, CliError>((resume) => {
    process.stdout.write(text, (error) => {
      if (error === null || error === undefined) return resume(Effect.succeed(true))
      const code = (error as NodeJS.ErrnoException).code
      resume(
        code !== undefined && readerGone.has(code)
          ? Effect.succeed(false)
          : Effect.fail(
            new CliError({ kind: "OutputError", message: `stdout: ${error.message}`, exitCode: ExitCode.runtime })
          )
      )
    })
  })

const streamCommand = Command.make(
  "stream",
  requestOptions,
  (options) =>
    withLive(options.config)(Effect.gen(function*() {
      const request = yield* requestOf(options)
      const output = yield* Output.CliOutput
      const text = output.streamScrubber()
      let deltas = 0
      // A reader that stops (`| head -c 5`) stops the stream like `Stream.take`: the ledger records the
      // call `cancelled`, and the command ends quietly with exit 0.
      yield* stream(request).pipe(
        Stream.runForEachWhile((event) => {
          if (!event.isFinish) {
            deltas += 1
            return writeStdout(text.push(event.delta))
          }
          return Effect.tap(
            writeStdout(`${text.flush()}\n`),
            (open) =>
              open && event.response !== undefined ? Output.printError(streamSummary(event.response)) : Effect.void
          )
        }),
        // a failure after text: the answer so far ends its line, so the error line starts on its own
        Effect.tapError(() => deltas > 0 ? writeStdout(`${text.flush()}\n`) : Effect.void),
        Effect.onInterrupt(() => Output.printError(`\ninterrupted after ${deltas} deltas: the stream was cancelled`))
      )
    }))
).pipe(
  Command.withDescription(describe(
    "Stream a completion: tokens are printed as they arrive, then one summary line on stderr (model, endpoint, TTFT, total time, tokens, cost). Ctrl-C stops the stream; the ledger records it as cancelled.",
    [`effect-llm stream "Write a haiku about retries"`, `effect-llm stream --model qwen-plus - < prompt.txt`]
  ))
)

// ---------------------------------------------------------------------------------------------
// ledger (and `ledger report`, `budget`: Budget.ts)

const budgetCommands = Budget.makeCommands({ config, withLive })

const ledgerSummary = LedgerCommand.makeCommand({ config, json, withLive, describe })

/**
 * A `ledger` subcommand: it takes the `--config` given before its name (`ledger -c X report`); the
 * summary's own options there (`ledger --json limits`) would be dropped silently, so they are a usage
 * error naming where they go.
 */
const underLedger = <Name extends string, R, E, A>(name: Name, subcommand: Command.Command<Name, R, E, A>) =>
  Command.transformHandler(
    subcommand,
    (handler) =>
      Effect.flatMap(ledgerSummary, (parent): Effect.Effect<void, E | CliError, R> => {
        const misplaced = [
          Option.isSome(parent.since) ? "--since" : undefined,
          Option.isSome(parent.until) ? "--until" : undefined,
          Option.isSome(parent.by) ? "--by" : undefined,
          parent.json ? "--json" : undefined
        ].filter((option) => option !== undefined)
        if (misplaced.length === 0) return Effect.locally(handler, parentConfigPath, parent.config)
        return Effect.fail(misplacedOptions(name, misplaced, process.argv.slice(2)))
      })
  )

const ledgerCommand = ledgerSummary.pipe(
  Command.withSubcommands([
    underLedger("report", budgetCommands.report),
    underLedger("limits", Limits.makeCommand({ config, json, withLive }))
  ])
)

// ---------------------------------------------------------------------------------------------
// doctor / init / demo

// `doctor` and `demo` load their modules when they run: the demo brings the simulator and @effect/ai,
// doctor its own HTTP client; `generate` needs neither (issue 17: CLI start-up).
const doctorCommand = Command.make(
  "doctor",
  { config },
  (options) =>
    Effect.flatMap(
      Effect.promise(() => import("./Doctor.js")),
      ({ doctor }) => doctor(Option.getOrUndefined(options.config))
    )
)
  .pipe(
    Command.withDescription(describe(
      "Check the setup without spending: config, models → endpoints, keys (redacted), endpoint reachability (TCP + one plain HTTP request, no generation), breaker settings and the ledger. Exits non-zero when anything is wrong.",
      ["effect-llm doctor", "effect-llm doctor --config ./staging.yaml"]
    ))
  )

const initCommand = Init.makeCommand({ config, describe })

const demoCommand = Command.make("demo", {
  live: Options.boolean("live").pipe(
    Options.withDescription(
      "run the live steps against the real services (needs GEMINI_API_KEY or DASHSCOPE_API_KEY; costs money)"
    )
  ),
  json: Options.boolean("json").pipe(
    Options.withDescription("print one JSON object per step (what it demonstrates), then a summary line")
  )
}, (options) => Effect.flatMap(Effect.promise(() => import("./Demo.js")), ({ demo }) => demo(options))).pipe(
  Command.withDescription(
    describe("Run the tour of `npm run demo`: offline by default (embedded simulator, no keys, no network).", [
      "effect-llm demo",
      "effect-llm demo --json",
      "GEMINI_API_KEY=… effect-llm demo --live"
    ])
  )
)

const batch = batchCommand({ config, withLive, describe })

// ---------------------------------------------------------------------------------------------
// the application

const root = Command.make("effect-llm").pipe(
  Command.withDescription(
    "Call LLMs through effect-llm (Gemini, DashScope/Qwen, OpenAI-compatible and Anthropic services): generate, stream, run a batch, inspect spend and limits, check a setup."
  ),
  Command.withSubcommands([
    generateCommand,
    streamCommand,
    ledgerCommand,
    budgetCommands.budget,
    doctorCommand,
    initCommand,
    demoCommand,
    batch
  ])
)

/** The exit-code table, shown at the end of every `--help`. */
const footer = HelpDoc.blocks([
  HelpDoc.h1("EXIT CODES"),
  HelpDoc.p("  0    ok (also when the reader of `stream` stops early, e.g. `| head`: the call is recorded cancelled)"),
  HelpDoc.p("  1    runtime error (provider or ledger failure, failed doctor check, stdout not writable)"),
  HelpDoc.p("  2    usage or configuration error (bad arguments, invalid request, ConfigError, existing file)"),
  HelpDoc.p("  3    budget exceeded (BudgetExceededError: no request was made)"),
  HelpDoc.p("  129  the terminal closed (SIGHUP); 131 SIGQUIT; a call in flight is recorded as cancelled"),
  HelpDoc.p("  130  interrupted by Ctrl-C (SIGINT), at any moment; a call in flight is recorded as cancelled"),
  HelpDoc.p("  143  terminated by SIGTERM, at any moment; a call in flight is recorded as cancelled"),
  HelpDoc.p(
    "  batch: 1 when an item failed or a line was malformed, 3 when a budget refusal stopped it, 130 after Ctrl-C (summary written)"
  ),
  HelpDoc.p(
    "Errors print one line on stderr: `error: <tag>: <message>`. `--log-level debug` (anywhere on the line) shows retries."
  )
])

const cli = Command.run(root, { name: "effect-llm", version, footer })

/** Library log lines go to stderr (stdout carries only the answer), as `level: message`, scrubbed. */
const stderrLogger = (output: Output.Output) =>
  Logger.make(({ logLevel, message }) => {
    // a record may quote a server (a tool call's name): its control characters are shown, never run
    const text = escapeControlsKeepingLines((Array.isArray(message) ? message : [message]).map(String).join(" "))
    process.stderr.write(`${output.scrub(`${logLevel.label.toLowerCase()}: ${text}`)}\n`)
  })

/** @effect/cli's help is always styled; plain text unless stdout is coloured (`stdoutColoured`). */
const colour = stdoutColoured()
const stripAnsi = (text: string): string => text.replace(/\x1b\[[0-9;]*m/g, "")

/**
 * Runs the command line (`argv` as in `process.argv`) to an exit code. @effect/cli prints usage
 * errors with `Console.error`; that console is silenced so `toExitCode` prints them as one line.
 * Everything the run prints (stdout, stderr, log records) goes through one `Output`, which removes
 * the secrets of the config a command loads.
 */
export const run = (argv: ReadonlyArray<string>): Effect.Effect<number, never, CliEnvironment> => {
  const output = Output.make()
  return toExitCode(
    Effect.flatMap(
      Effect.tap(
        takeLogLevel(argv.slice(2)),
        ({ args }) => checkArgs(args, process.stdin.isTTY === true)
      ),
      ({ args, level }) =>
        asksVersion(args) ?
          Effect.as(Console.log(version), 0) :
          Console.consoleWith((console) =>
            Effect.withConsole(namingChoices(cli([...argv.slice(0, 2), ...stdinPromptLast(args)]), args), {
              ...console,
              error: () => Effect.void,
              log: (...items) =>
                console.log(
                  ...items.map((item) =>
                    typeof item === "string" ? output.scrub(colour ? item : stripAnsi(item)) : item
                  )
                )
            })
          ).pipe(level === undefined ? identity : Logger.withMinimumLogLevel(level))
    )
  ).pipe(
    Logger.withMinimumLogLevel(LogLevel.Warning),
    Effect.provide(Logger.replace(Logger.defaultLogger, stderrLogger(output))),
    Effect.provideService(Output.CliOutput, output)
  )
}

/** What `run` needs from the platform (Node's context in `Main.ts`). */
export type CliEnvironment = Exclude<Effect.Effect.Context<ReturnType<typeof cli>>, Output.CliOutput>
