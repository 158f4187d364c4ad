/**
 * The batch results file: one JSON object per finished item, appended as items finish and written
 * through to the operating system at once (a killed run loses no finished item), and what an earlier
 * run left in it (which ids succeeded, which failed) for resuming.
 */
import type { PlatformError } from "@effect/platform/Error"
import * as FileSystem from "@effect/platform/FileSystem"
import * as Path from "@effect/platform/Path"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type { BatchFailure, BatchSuccess } from "../../batch/Batch.js"
import type { LedgerEvent } from "../../domain/LedgerEvent.js"
import { makeDirectories } from "../../internal/Directories.js"
import { CliError, ExitCode, systemReason } from "../Exit.js"
import * as Jsonl from "./Jsonl.js"

/** Token counts of a result line. */
export interface UsageLine {
  readonly inputTokens: number
  readonly outputTokens: number
  readonly totalTokens: number
}

/** One line of the results file (README "Batch jobs"). */
export interface ResultLine {
  /** The input line's id as it was given: a string, or an integer. */
  readonly id: string | number
  /** `true` with `content`, `false` with `error`. */
  readonly ok: boolean
  readonly content?: string
  readonly error?: { readonly tag: string; readonly reason?: string; readonly message: string }
  /** The model alias asked for (a fallback's answer names its own in `model` / `provider`). */
  readonly alias: string
  /** The provider's model id that answered (or was last tried). */
  readonly model?: string
  readonly provider?: string
  readonly endpoint?: string
  readonly usage?: UsageLine
  /** USD, as the ledger settled it (0 for a call that made no request). */
  readonly cost: number
  /** HTTP attempts made. */
  readonly attempts: number
  readonly finishReason?: string
  readonly traceId: string
  readonly requestId?: string
  /** Milliseconds from the item's admission to its settlement. */
  readonly latencyMs: number
  /** When the item settled (ISO 8601, UTC). */
  readonly finishedAt: string
}

const usageOf = (usage: UsageLine): UsageLine => ({
  inputTokens: usage.inputTokens,
  outputTokens: usage.outputTokens,
  totalTokens: usage.totalTokens
})

/** The line of an answered item; `alias` is the one asked for, as on a failed item's line. */
export const successLine = (result: BatchSuccess, alias: string, finishedAt: number): ResultLine => {
  const response = result.response
  return {
    id: result.id,
    ok: true,
    content: response.content,
    alias,
    model: response.model,
    provider: response.provider,
    endpoint: response.endpoint,
    usage: usageOf(response.usage),
    cost: response.cost,
    attempts: response.attempts,
    finishReason: response.finishReason,
    traceId: result.traceId,
    ...(response.requestId !== undefined ? { requestId: response.requestId } : {}),
    latencyMs: result.latencyMs,
    finishedAt: new Date(finishedAt).toISOString()
  }
}

/**
 * The line of a failed item: the error, and what the ledger settled for it (`settlement`, the call's
 * `cancel` event: who was tried, attempts, usage and cost), when the call got that far.
 */
export const failureLine = (
  result: BatchFailure,
  alias: string,
  settlement: LedgerEvent | undefined,
  finishedAt: number
): ResultLine => {
  const { error } = result
  const endpoint = settlement?.endpoint ?? ("endpoint" in error ? error.endpoint : undefined)
  const provider = settlement?.provider ?? error.provider
  return {
    id: result.id,
    ok: false,
    error: { tag: error._tag, ...("reason" in error ? { reason: error.reason } : {}), message: error.message },
    alias,
    ...(settlement !== undefined ? { model: settlement.model } : {}),
    ...(provider !== undefined ? { provider } : {}),
    ...(endpoint !== undefined ? { endpoint } : {}),
    ...(settlement?.usage !== undefined ? { usage: usageOf(settlement.usage) } : {}),
    cost: settlement?.cost ?? 0,
    attempts: settlement?.attempts ?? 0,
    traceId: result.traceId,
    latencyMs: result.latencyMs,
    finishedAt: new Date(finishedAt).toISOString()
  }
}

/** What an earlier run left in the results file. */
export interface Previous {
  /** Ids with a success line. */
  readonly succeeded: ReadonlySet<string>
  /** Ids with failure lines only. */
  readonly failed: ReadonlySet<string>
  /** Result lines read. */
  readonly lines: number
  /** Numbers of the lines that are not result lines (ignored). */
  readonly unreadable: ReadonlyArray<number>
  /** Bytes of an unfinished last line (a run killed while writing it) that were cut off; 0 if none. */
  readonly cutBytes: number
  /** The file ends without a line break after a complete line: the next line must start on a new one. */
  readonly needsNewline: boolean
}

const empty: Previous = {
  succeeded: new Set(),
  failed: new Set(),
  lines: 0,
  unreadable: [],
  cutBytes: 0,
  needsNewline: false
}

/** A result line's id and outcome, or `undefined` for any other text. */
const outcomeOf = (text: string): { readonly id: string; readonly ok: boolean } | undefined => {
  try {
    const value = JSON.parse(text) as { readonly id?: unknown; readonly ok?: unknown } | null
    if (typeof value !== "object" || value === null || typeof value.ok !== "boolean") return undefined
    // an integer id is the same id as its decimal string, as the input's are
    return typeof value.id === "string" || Number.isSafeInteger(value.id)
      ? { id: String(value.id), ok: value.ok }
      : undefined
  } catch {
    return undefined
  }
}

/**
 * Reads the results file, if there is one (streamed: only ids are kept). A last line without a line
 * break that is not a whole result line was cut by a killed run: the file is truncated to the lines
 * before it, so the next line appended starts clean.
 */
export const readPrevious = (path: string): Effect.Effect<Previous, PlatformError, FileSystem.FileSystem> =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    if (!(yield* fs.exists(path))) return empty
    const succeeded = new Set<string>()
    const failed = new Set<string>()
    const unreadable: Array<number> = []
    let lines = 0
    let completeEnd = 0
    let cut: Jsonl.Line | undefined
    let needsNewline = false
    yield* Stream.runForEach(Jsonl.lines(path), (line) =>
      Effect.sync(() => {
        if (line.text.trim() === "") {
          completeEnd = line.end
          return
        }
        const outcome = outcomeOf(line.text)
        if (outcome === undefined && !line.terminated) {
          cut = line
          return
        }
        completeEnd = line.end
        needsNewline = !line.terminated
        if (outcome === undefined) return void unreadable.push(line.number)
        lines++
        if (outcome.ok) {
          succeeded.add(outcome.id)
          failed.delete(outcome.id)
        } else if (!succeeded.has(outcome.id)) failed.add(outcome.id)
      }))
    if (cut !== undefined) yield* fs.truncate(path, completeEnd)
    return {
      succeeded,
      failed,
      lines,
      unreadable,
      cutBytes: cut === undefined ? 0 : cut.end - completeEnd,
      needsNewline
    }
  })

/** Appends result lines to the results file. */
export interface ResultsWriter {
  /**
   * Appends one line; it is with the operating system when this returns (a killed process loses nothing).
   * A file that cannot take it (a full disk) fails the run, naming the file.
   */
  readonly write: (line: ResultLine) => Effect.Effect<void, CliError>
}

/**
 * A result line the file could not take: the call settled in the ledger all the same, so the line is
 * missing from the file and the item runs again on the next run — said, as the file and the ledger
 * otherwise agree.
 */
const unwritable = (path: string, error: PlatformError) =>
  new CliError({
    kind: "FileNotWritable",
    message: `${path}: a result could not be written (${
      error._tag === "SystemError" ? systemReason(error) : error.message
    }); its call is in the ledger, and the next run sends it again`,
    exitCode: ExitCode.runtime
  })

/** How often the file is also synced to disk (fsync), for a machine that crashes rather than a process. */
const syncEveryMs = 1000

/**
 * Opens the results file for appending (creating it and its directory) for the life of the scope;
 * every string in a line passes through `scrub` (no secret reaches the file). Each line is written
 * with one `write` as it comes; the file is fsynced at most once a second and when the scope closes.
 */
export const openWriter = (
  path: string,
  options: { readonly scrub: (text: string) => string; readonly needsNewline: boolean }
): Effect.Effect<ResultsWriter, PlatformError, FileSystem.FileSystem | Path.Path | Scope.Scope> =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const paths = yield* Path.Path
    yield* makeDirectories(paths.dirname(paths.resolve(path)))
    const file = yield* fs.open(path, { flag: "a" })
    yield* Effect.addFinalizer(() => Effect.ignore(file.sync))
    const encoder = new TextEncoder()
    let syncedAt = yield* Clock.currentTimeMillis
    let prefix = options.needsNewline ? "\n" : ""
    const replacer = (_key: string, value: unknown) => typeof value === "string" ? options.scrub(value) : value
    return {
      write: (line) =>
        Effect.gen(function*() {
          const text = `${prefix}${JSON.stringify(line, replacer)}\n`
          prefix = ""
          yield* file.writeAll(encoder.encode(text))
          const now = yield* Clock.currentTimeMillis
          if (now - syncedAt >= syncEveryMs) {
            syncedAt = now
            yield* file.sync
          }
        }).pipe(Effect.mapError((error) => unwritable(path, error)))
    }
  })
