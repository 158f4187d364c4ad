/**
 * Making a file's directories. Node 20's recursive `mkdir` (sync and async alike) never returns for a
 * directory whose creation fails with ENOENT though its parent exists (anything under `/proc`): the
 * process spins, deaf to signals. So the missing directories are made one level at a time.
 */
import { SystemError } from "@effect/platform/Error"
import * as Effect from "effect/Effect"
import * as Fs from "node:fs"
import * as Path from "node:path"

/** Makes `dir` and its missing parents; a directory another process made meanwhile is fine. */
export const makeDirectoriesSync = (dir: string): void => {
  const missing: Array<string> = []
  for (let current = Path.resolve(dir); !Fs.existsSync(current); current = Path.dirname(current)) {
    missing.push(current)
    if (Path.dirname(current) === current) break
  }
  for (const directory of missing.reverse()) {
    try {
      Fs.mkdirSync(directory)
    } catch (error) {
      if ((error as { readonly code?: unknown }).code !== "EEXIST") throw error
    }
  }
}

const reasons: Readonly<Record<string, SystemError["reason"]>> = {
  ENOENT: "NotFound",
  EACCES: "PermissionDenied",
  EPERM: "PermissionDenied",
  EEXIST: "AlreadyExists",
  ENOTDIR: "BadResource"
}

/** `makeDirectoriesSync` as an effect, failing as `FileSystem.makeDirectory` does (`SystemError`). */
export const makeDirectories = (dir: string): Effect.Effect<void, SystemError> =>
  Effect.try({
    try: () => makeDirectoriesSync(dir),
    catch: (cause) => {
      const { code, message } = cause as { readonly code?: unknown; readonly message?: unknown }
      return new SystemError({
        reason: (typeof code === "string" ? reasons[code] : undefined) ?? "Unknown",
        module: "FileSystem",
        method: "makeDirectory",
        pathOrDescriptor: dir,
        description: typeof message === "string" ? message : String(cause),
        cause
      })
    }
  })
