/**
 * The command line's words read before @effect/cli parses them: `--log-level` taken out wherever it
 * stands, and the options of the commands whose prompt is free text checked (an unknown option would
 * otherwise become the prompt).
 */
import * as ValidationError from "@effect/cli/ValidationError"
import * as Effect from "effect/Effect"
import * as LogLevel from "effect/LogLevel"
import { CliError, errorLine, ExitCode } from "./Exit.js"

/** The levels `--log-level` takes (@effect/cli's choice: every `LogLevel`, lower-case). */
const logLevels = new Map(LogLevel.allLevels.map((level) => [level._tag.toLowerCase(), level]))

/**
 * Takes `--log-level <level>` (or `--log-level=<level>`) out of the arguments wherever it stands —
 * before or after the subcommand, among its options or after its prompt — up to a `--`, after which
 * everything is an argument. @effect/cli itself accepts it only right after a command's name. The
 * last one wins; a missing or unknown level is a usage error.
 */
export const takeLogLevel = (
  args: ReadonlyArray<string>
): Effect.Effect<{ readonly args: ReadonlyArray<string>; readonly level: LogLevel.LogLevel | undefined }, CliError> =>
  Effect.suspend(() => {
    const rest: Array<string> = []
    let level: LogLevel.LogLevel | undefined
    for (let i = 0; i < args.length; i++) {
      const arg = args[i]!
      if (arg === "--") {
        rest.push(...args.slice(i))
        break
      }
      if (arg !== "--log-level" && !arg.startsWith("--log-level=")) {
        rest.push(arg)
        continue
      }
      const value = arg === "--log-level" ? args[++i] : arg.slice("--log-level=".length)
      const choices = [...logLevels.keys()].join(", ")
      if (value === undefined || value === "") {
        return Effect.fail(
          new CliError({
            kind: "MissingValue",
            message: `--log-level needs a level: one of ${choices}`,
            exitCode: ExitCode.usage
          })
        )
      }
      level = logLevels.get(value.toLowerCase())
      if (level === undefined) {
        return Effect.fail(
          new CliError({
            kind: "InvalidValue",
            message: `--log-level: expected one of ${choices}, got '${value}'`,
            exitCode: ExitCode.usage
          })
        )
      }
    }
    return Effect.succeed({ args: rest, level })
  })

/** The options of `generate` and `stream` that take a value, and their flags (@effect/cli's built-ins included). */
const requestValueOptions = new Set([
  "--model",
  "-m",
  "--system",
  "--max-tokens",
  "--temperature",
  "--config",
  "-c",
  "--completions"
])
const requestFlags: Record<string, ReadonlySet<string>> = {
  generate: new Set(["--json", "--help", "-h", "--wizard", "--version"]),
  stream: new Set(["--help", "-h", "--wizard", "--version"])
}

/**
 * `generate` and `stream` take free text as their prompt, which @effect/cli would fill with any
 * unknown option (`--jsno` sent to the model as the prompt, a paid call, exit 0): before the `--`
 * that ends the options, a token that starts with `-` must be one of the command's options (a value
 * option's value may start with `-`). A usage error (exit 2) names the token.
 */
export const checkRequestArgs = (args: ReadonlyArray<string>): Effect.Effect<void, CliError> =>
  Effect.suspend(() => {
    const commandAt = args.findIndex((arg) => !arg.startsWith("-"))
    const flags = commandAt < 0 ? undefined : requestFlags[args[commandAt]!]
    if (flags === undefined) return Effect.void
    const command = args[commandAt]!
    const usage = (kind: string, message: string) =>
      Effect.fail(new CliError({ kind, message, exitCode: ExitCode.usage }))
    for (let i = commandAt + 1; i < args.length; i++) {
      const arg = args[i]!
      if (arg === "--") break
      if (arg === "-" || !arg.startsWith("-")) continue
      const name = arg.includes("=") ? arg.slice(0, arg.indexOf("=")) : arg
      if (requestValueOptions.has(name)) {
        if (name !== arg) continue
        if (i + 1 >= args.length || args[i + 1] === "--") {
          return usage("MissingValue", `${command}: ${arg} needs a value`)
        }
        i++
      } else if (!flags.has(name)) {
        return usage(
          "UnknownOption",
          `${command}: unknown option '${arg}' (a prompt that starts with '-' goes after '--': effect-llm ${command} -- '${arg}')`
        )
      }
    }
    return Effect.void
  })

/**
 * Whether the line asks for the version (@effect/cli's built-in, after any command): `--version`
 * before `--`, not an option's value. @effect/cli prints it as a paragraph, a blank line after it;
 * scripts read one line, so the caller prints it.
 */
export const asksVersion = (args: ReadonlyArray<string>): boolean => {
  for (let i = 0; i < args.length && args[i] !== "--"; i++) {
    if (args[i] === "--version") return true
    if (requestValueOptions.has(args[i]!) || batchValueOptions.has(args[i]!)) i++
  }
  return false
}

/** The options of `batch` that take a value (@effect/cli's built-ins included). */
const batchValueOptions = new Set([
  "--out",
  "-o",
  "--model",
  "-m",
  "--concurrency",
  "--stop-on",
  "--progress-interval",
  "--config",
  "-c",
  "--completions"
])

/**
 * `batch` reads its input twice (checked whole, then run), so it takes a file, not stdin: a lone `-`
 * (the stdin convention of `generate`) would otherwise end @effect/cli's options and be reported as
 * a missing `--out`. A usage error (exit 2) says what to do instead.
 */
export const checkBatchInput = (args: ReadonlyArray<string>): Effect.Effect<void, CliError> => {
  const commandAt = args.findIndex((arg) => !arg.startsWith("-"))
  if (commandAt < 0 || args[commandAt] !== "batch") return Effect.void
  let stdin = false
  for (let i = commandAt + 1; i < args.length && args[i] !== "--"; i++) {
    const arg = args[i]!
    if ((arg === "--out" || arg === "-o" || arg === "--out=-") && (arg === "--out=-" || args[i + 1] === "-")) {
      return Effect.fail(
        new CliError({
          kind: "StdoutOutput",
          message:
            "batch: --out must be a file (a later run reads it back to skip what is done); `-` (stdout) is not supported: name a file",
          exitCode: ExitCode.usage
        })
      )
    }
    // an option's value is not the input
    if (batchValueOptions.has(arg)) i++
    else if (arg === "-") stdin = true
  }
  return stdin ?
    Effect.fail(
      new CliError({
        kind: "StdinInput",
        message:
          "batch: the input must be a file (it is read twice: checked whole, then run); `-` (stdin) is not supported: save the lines to a file and name it",
        exitCode: ExitCode.usage
      })
    ) :
    Effect.void
}

/**
 * `generate - --config c.yaml`: @effect/cli stops reading options at a lone `-` (stdin as the prompt)
 * and refuses those after it as unknown arguments, where it reads them after an ordinary prompt. The
 * `-` (the command's one argument) is moved after them. Left alone after `--`, which ends the options.
 */
export const stdinPromptLast = (args: ReadonlyArray<string>): ReadonlyArray<string> => {
  const commandAt = args.findIndex((arg) => !arg.startsWith("-"))
  if (commandAt < 0 || requestFlags[args[commandAt]!] === undefined) return args
  for (let i = commandAt + 1; i < args.length; i++) {
    const arg = args[i]!
    if (arg === "--") return args
    if (requestValueOptions.has(arg)) i++
    else if (arg === "-") {
      return i === args.length - 1 ? args : [...args.slice(0, i), ...args.slice(i + 1), "-"]
    }
  }
  return args
}

/**
 * @effect/cli's `--wizard` asks its questions on the terminal; on a stdin that is not one (a pipe,
 * `/dev/null`, a CI job) it would wait for answers that never come. A usage error there (exit 2).
 */
export const checkWizard = (args: ReadonlyArray<string>, interactive: boolean): Effect.Effect<void, CliError> => {
  const end = args.indexOf("--")
  const wizard = (end < 0 ? args : args.slice(0, end)).includes("--wizard")
  return wizard && !interactive
    ? Effect.fail(
      new CliError({
        kind: "NotATerminal",
        message:
          "--wizard asks its questions on a terminal, and stdin is not one: give the command its options instead",
        exitCode: ExitCode.usage
      })
    )
    : Effect.void
}

/**
 * `ledger`'s own summary options given with a subcommand (`ledger --json limits`, `ledger report
 * --json`), which would be dropped silently: a usage error saying where they go. @effect/cli gives
 * `ledger` its options wherever they stand, so typed after the subcommand they are ones it does not take.
 */
export const misplacedOptions = (
  name: string,
  misplaced: ReadonlyArray<string>,
  args: ReadonlyArray<string>
): CliError => {
  const at = args.indexOf(name)
  const after = at >= 0 &&
    misplaced.every((option) => args.slice(at + 1).some((arg) => arg === option || arg.startsWith(`${option}=`)))
  const listed = misplaced.join(", ")
  const help = `see \`effect-llm ledger ${name} --help\``
  const them = misplaced.length === 1 ? "it" : "them"
  return new CliError({
    kind: "MisplacedOption",
    message: after
      ? `\`ledger ${name}\` does not take ${listed} (${
        name === "report" && misplaced.includes("--json") ? "for JSON: --format json; " : ""
      }${help})`
      : `${listed} before \`${name}\` ${
        misplaced.length === 1 ? "is" : "are"
      } \`ledger\`'s own (its summary); put ${them} after \`ledger ${name}\` if it takes ${them} (${help})`,
    exitCode: ExitCode.usage
  })
}

/**
 * @effect/cli refuses a value outside an option's choices without naming the option ("Expected one of
 * the following cases: day, model, provider"): the option whose value on the command line is not one of
 * `cases` is named, with what was given. `undefined` when it cannot be told which.
 */
export const choiceRefusal = (args: ReadonlyArray<string>, text: string): CliError | undefined => {
  const listed = /Expected one of the following cases: (.+)$/.exec(text)?.[1]
  if (listed === undefined) return undefined
  const cases = listed.split(",").map((name) => name.trim())
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!
    if (arg === "--") break
    const [name, inline] = arg.startsWith("--") && arg.includes("=")
      ? [arg.slice(0, arg.indexOf("=")), arg.slice(arg.indexOf("=") + 1)]
      : [arg, args[i + 1]]
    if (!name.startsWith("-") || inline === undefined || cases.includes(inline) || inline.startsWith("-")) continue
    // only the option whose choices the refusal lists (`ledger --by model report --format xml` is about --format)
    const choices = choiceOptions.get(name)
    if (choices === undefined || !sameCases(choices, cases)) continue
    return new CliError({
      kind: "InvalidValue",
      message: `${name}: expected one of ${cases.join(", ")}; got '${inline}'`,
      exitCode: ExitCode.usage
    })
  }
  return undefined
}

/** The options whose value is one of a list (@effect/cli's `Options.choice`), with their choices (`undefined`: any list). */
const choiceOptions: ReadonlyMap<string, ReadonlyArray<string> | undefined> = new Map([
  ["--by", ["day", "model", "provider"]],
  ["--format", ["table", "csv", "json"]],
  ["--stop-on", ["budget", "error", "never"]],
  ["--log-level", undefined],
  ["--completions", undefined]
])

const sameCases = (choices: ReadonlyArray<string> | undefined, cases: ReadonlyArray<string>): boolean =>
  choices === undefined || (choices.length === cases.length && choices.every((choice) => cases.includes(choice)))

/** A value outside an option's choices names the option (`choiceRefusal`). */
export const namingChoices = <A, E, R>(program: Effect.Effect<A, E, R>, args: ReadonlyArray<string>) =>
  Effect.catchIf(
    program,
    (error) => ValidationError.isValidationError(error) && ValidationError.isInvalidValue(error),
    (error) => Effect.fail(choiceRefusal(args, errorLine(error)) ?? error)
  )

/** The checks of the command line made before @effect/cli reads it (`interactive`: stdin is a terminal). */
export const checkArgs = (args: ReadonlyArray<string>, interactive: boolean): Effect.Effect<void, CliError> =>
  Effect.all([checkWizard(args, interactive), checkRequestArgs(args), checkBatchInput(args)], { discard: true })
