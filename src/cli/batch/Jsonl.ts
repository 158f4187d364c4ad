/**
 * JSON Lines files read as a stream of numbered lines, a chunk at a time (memory bounded by the
 * longest line, not the file). Each line knows the byte offset where it ends, so a results file whose
 * last line was cut by a killed run can be truncated back to its last complete line.
 */
import type { PlatformError } from "@effect/platform/Error"
import * as FileSystem from "@effect/platform/FileSystem"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"

/** One line of a file. */
export interface Line {
  /** 1-based line number. */
  readonly number: number
  /** The text, without its line break (a `\r` before the `\n` is removed too). */
  readonly text: string
  /** Byte offset just after this line's `\n` (or after its last byte, for an unterminated last line). */
  readonly end: number
  /** False for a last line without a final `\n`. */
  readonly terminated: boolean
}

const newline = 0x0a

/** The lines of a file, in order, blank ones included. */
export const lines = (path: string): Stream.Stream<Line, PlatformError, FileSystem.FileSystem> =>
  Stream.unwrap(Effect.map(FileSystem.FileSystem, (fs) =>
    Stream.suspend(() => {
      const decoder = new TextDecoder()
      let pending: Array<Uint8Array> = []
      let offset = 0
      let number = 0
      const make = (parts: ReadonlyArray<Uint8Array>, length: number, terminated: boolean): Line => {
        offset += length + (terminated ? 1 : 0)
        const bytes = parts.length === 1 ? parts[0]! : Buffer.concat(parts)
        const text = decoder.decode(bytes)
        return { number: ++number, text: text.endsWith("\r") ? text.slice(0, -1) : text, end: offset, terminated }
      }
      const split = (chunk: Uint8Array): Array<Line> => {
        const out: Array<Line> = []
        let start = 0
        for (let at = chunk.indexOf(newline); at >= 0; at = chunk.indexOf(newline, start)) {
          const piece = chunk.subarray(start, at)
          const parts = pending.length === 0 ? [piece] : [...pending, piece]
          out.push(make(parts, parts.reduce((sum, part) => sum + part.length, 0), true))
          pending = []
          start = at + 1
        }
        // Copied: the stream may reuse its read buffer.
        if (start < chunk.length) pending.push(Uint8Array.prototype.slice.call(chunk, start))
        return out
      }
      const rest = Stream.suspend(() =>
        pending.length === 0
          ? Stream.empty
          : Stream.make(make(pending, pending.reduce((sum, part) => sum + part.length, 0), false))
      )
      return fs.stream(path, { chunkSize: 64 * 1024 }).pipe(Stream.mapConcat(split), Stream.concat(rest))
    })))
