/**
 * How the command line ends: its exit codes, the CLI's own failures, and the mapping from any
 * failure to one `error: <tag>: <message>` line on stderr and a code. Never a stack trace.
 */
import * as HelpDoc from "@effect/cli/HelpDoc"
import * as ValidationError from "@effect/cli/ValidationError"
import * as Cause from "effect/Cause"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { escapeControls } from "../internal/Printable.js"
import { type CliOutput, printError } from "./Output.js"

/** The exit codes (also listed in `--help`). */
export const ExitCode = {
  ok: 0,
  /** A runtime failure: provider error, unreachable endpoint, ledger failure, a failed doctor check. */
  runtime: 1,
  /** Bad usage or configuration: unknown option, invalid request parameter, `ConfigError`, existing file. */
  usage: 2,
  /** The daily budget refused the call (`BudgetExceededError`); no request was made. */
  budget: 3,
  /** Stopped by Ctrl-C (SIGINT: 128 + 2); a call in flight is settled `cancelled` first. */
  interrupted: 130,
  /** Stopped by SIGTERM (128 + 15), as a shell reports a process the signal ended; settled like SIGINT. */
  terminated: 143
} as const

/** The exit code for a signal: 128 + its number (SIGINT 130, SIGTERM 143), the shells' convention. */
export const signalExitCode = (signal: "SIGINT" | "SIGTERM"): number =>
  signal === "SIGINT" ? ExitCode.interrupted : ExitCode.terminated

/** A failure of the command line itself (not of the library); `exitCode` says how the process ends. */
export class CliError extends Data.TaggedError("CliError")<{
  /** Shown as the error's tag, e.g. `FileExists`. */
  readonly kind: string
  readonly message: string
  readonly exitCode: number
}> {}

/** A usage mistake (exit 2). */
export const usage = (kind: string, message: string) => new CliError({ kind, message, exitCode: ExitCode.usage })

/** A file the command was told to write cannot be made or written (read-only, a path under a file). */
export const notWritable = (path: string, reason: string) =>
  usage("FileNotWritable", `${path}: cannot be written (${reason})`)

/** A platform error's reason, or the system's code (`ENOSPC`) when the platform could not name it. */
export const systemReason = (error: { readonly reason: string; readonly message: string }): string =>
  error.reason !== "Unknown" ? error.reason : /\b(E[A-Z]{2,})\b/.exec(error.message)?.[1] ?? error.reason

/** The exit code for a failure value. */
export const exitCodeOf = (error: unknown): number => {
  if (error instanceof CliError) return error.exitCode
  if (ValidationError.isValidationError(error)) return ExitCode.usage
  const tagged = (error ?? {}) as { readonly _tag?: unknown; readonly reason?: unknown }
  switch (tagged._tag) {
    case "ConfigError":
      return ExitCode.usage
    case "BudgetExceededError":
      return ExitCode.budget
    case "FatalError":
      return tagged.reason === "invalid_request" ? ExitCode.usage : ExitCode.runtime
    default:
      return ExitCode.runtime
  }
}

/** A message on one line: lines joined, colour removed, any other control character escaped (a server's text). */
const oneLine = (text: string): string =>
  text.replace(/\x1b\[[0-9;]*m/g, "").split("\n").map((part) => escapeControls(part.trim())).filter((part) =>
    part !== ""
  ).join(" ")

/** The one line printed for a failure: `error: <tag>: <message>` (a multi-line message is joined). */
export const errorLine = (error: unknown): string => {
  if (ValidationError.isValidationError(error)) {
    // @effect/cli writes "is not a integer"
    return `error: ${error._tag}: ${
      oneLine(HelpDoc.toAnsiText(error.error)).replace(/\bnot a integer\b/, "not an integer")
    }`
  }
  const tagged = error as { readonly _tag?: unknown; readonly message?: unknown } | null | undefined
  const tag = error instanceof CliError ? error.kind : typeof tagged?._tag === "string" ? tagged._tag : "Error"
  const message = typeof tagged?.message === "string" && tagged.message !== "" ? tagged.message : String(error)
  return `error: ${tag}: ${oneLine(message)}`
}

/**
 * Runs a command to an exit code: a failure prints one line (through the run's scrubbing `Output`)
 * and maps to its code; a defect prints one line too (exit 1), never a stack. Interruption is kept,
 * so the runtime runs finalizers and reports it (the signal's code, see `Signals.ts`).
 */
export const toExitCode = <E, R>(program: Effect.Effect<void, E, R>): Effect.Effect<number, never, R | CliOutput> =>
  program.pipe(
    Effect.as(ExitCode.ok as number),
    Effect.catchAllCause((cause) => {
      if (Cause.isInterruptedOnly(cause)) return Effect.failCause(cause as Cause.Cause<never>)
      const failure = Cause.failureOption(cause)
      if (Option.isSome(failure)) return Effect.as(printError(errorLine(failure.value)), exitCodeOf(failure.value))
      const defect = Cause.dieOption(cause)
      const line = Option.isSome(defect)
        ? errorLine(defect.value).replace(/^error: /, "error: Defect: ")
        : "error: Defect: unknown"
      return Effect.as(printError(line), ExitCode.runtime)
    })
  )
