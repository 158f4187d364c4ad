/**
 * The two paths of `effect-llm batch`, checked before anything runs: a mistake in either (a missing or
 * unreadable input, an output that is not a file or cannot be written) is a usage error (exit 2) named
 * by its path, not a runtime failure.
 */
import type { PlatformError } from "@effect/platform/Error"
import type * as FileSystem from "@effect/platform/FileSystem"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { type CliError, notWritable, usage } from "../Exit.js"

/** The input must be a readable file (it is read twice, streaming). */
export const checkInput = (fs: FileSystem.FileSystem, path: string): Effect.Effect<void, CliError | PlatformError> =>
  Effect.gen(function*() {
    const info = yield* fs.stat(path)
    if (info.type !== "File") return yield* usage("NotAFile", `${path}: not a file (${info.type})`)
    yield* fs.access(path, { readable: true })
  }).pipe(
    Effect.catchTag("SystemError", (error) =>
      Effect.fail(
        error.reason === "NotFound"
          ? usage("FileNotFound", `${path}: no such file`)
          : usage("FileNotReadable", `${path}: cannot be read (${error.reason})`)
      ))
  )

/** The results file, when it exists, must be a file (an earlier run's, read then appended to) we may write. */
export const checkOutput = (fs: FileSystem.FileSystem, path: string): Effect.Effect<void, CliError | PlatformError> =>
  Effect.gen(function*() {
    const info = yield* fs.stat(path)
    if (info.type !== "File") return yield* usage("NotAFile", `${path}: not a file (${info.type})`)
    yield* fs.access(path, { writable: true }).pipe(
      Effect.catchTag("SystemError", (error) => Effect.fail(notWritable(path, error.reason)))
    )
  }).pipe(
    Effect.catchTag(
      "SystemError",
      (error) => error.reason === "NotFound" ? Effect.void : Effect.fail(notWritable(path, error.reason))
    )
  )

/**
 * The results file must not be the input (by any path to it: a link, `./`): the run would append its
 * results to the prompts, and every later run would find them malformed.
 */
export const checkDistinct = (
  fs: FileSystem.FileSystem,
  input: string,
  out: string
): Effect.Effect<void, CliError> =>
  Effect.gen(function*() {
    const [read, written] = yield* Effect.all([fs.stat(input), fs.stat(out)])
    const same = read.dev === written.dev && Option.isSome(read.ino) && Option.isSome(written.ino) &&
      read.ino.value === written.ino.value
    if (same) {
      return yield* usage("SameFile", `--out ${out} is the input file ${input}; name another file for the results`)
    }
  }).pipe(Effect.catchTags({ SystemError: () => Effect.void, BadArgument: () => Effect.void }))
