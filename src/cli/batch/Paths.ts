/**
 * The two paths of `effect-llm batch`, checked before anything runs: a mistake in either (a missing or
 * unreadable input, an output that is not a file or cannot be written) is a usage error (exit 2) named
 * by its path, not a runtime failure.
 */
import type { PlatformError } from "@effect/platform/Error"
import type * as FileSystem from "@effect/platform/FileSystem"
import * as Effect from "effect/Effect"
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
