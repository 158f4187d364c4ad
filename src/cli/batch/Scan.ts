/**
 * The first pass of `batch` over its input file, before any item runs: malformed lines (duplicate
 * ids included) reported with their numbers, the items counted for progress and the ETA, and the
 * line that defines each id remembered.
 */
import type { PlatformError } from "@effect/platform/Error"
import type * as FileSystem from "@effect/platform/FileSystem"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import * as Input from "./Input.js"
import * as Jsonl from "./Jsonl.js"
import type * as Progress from "./Progress.js"

/** What the first pass over the input found. */
export interface Scan {
  /** Per id, the line that defines it (a later line with the same id is a duplicate). */
  readonly firstLine: Map<string, number>
  /** The ids given as JSON integers (`42` and `"42"` are one id; its results say it as it was given). */
  readonly integerIds: ReadonlySet<string>
  readonly counts: Progress.InputCounts
}

/**
 * The first pass over the input: every malformed line (a duplicate id included) reported with its
 * number, the items counted (for progress and ETA) and the line defining each id remembered.
 */
export const scanInput = <R>(
  path: string,
  context: Input.ParseContext,
  report: {
    /** The id already has a success in the results file. */
    readonly done: (id: string) => boolean
    /** The id failed in an earlier run and is not retried. */
    readonly kept: (id: string) => boolean
    readonly malformed: (line: number, reason: string, id: string | undefined) => Effect.Effect<void, never, R>
  }
): Effect.Effect<Scan, PlatformError, FileSystem.FileSystem | R> =>
  Effect.gen(function*() {
    const firstLine = new Map<string, number>()
    const integerIds = new Set<string>()
    const malformedLines: Array<number> = []
    let malformed = 0
    let items = 0
    let alreadyDone = 0
    let keptFailed = 0
    yield* Stream.runForEach(Jsonl.lines(path), (line) => {
      const parsed = Input.parseLine(line.text, context)
      let reason: string | undefined
      let id: string | undefined
      if (parsed._tag === "Malformed") {
        reason = parsed.reason
        id = parsed.id
      } else if (parsed._tag === "Item") {
        id = parsed.item.id
        const first = firstLine.get(id)
        if (first !== undefined) reason = `duplicate id ${JSON.stringify(id)} (first at line ${first})`
        else {
          firstLine.set(id, line.number)
          if (parsed.integerId) integerIds.add(id)
          items++
          if (report.done(id)) alreadyDone++
          else if (report.kept(id)) keptFailed++
        }
      }
      if (reason === undefined) return Effect.void
      malformed++
      if (malformedLines.length < 100) malformedLines.push(line.number)
      return report.malformed(line.number, reason, id)
    })
    return { firstLine, integerIds, counts: { items, alreadyDone, keptFailed, malformed, malformedLines } }
  })
