/**
 * One load, end to end: find and read the sources, snapshot the environment variables they need
 * (each `${VAR}`, each entry's key variables), decode, resolve.
 */
import type * as FileSystem from "@effect/platform/FileSystem"
import type * as Path from "@effect/platform/Path"
import * as Effect from "effect/Effect"
import type { ConfigError } from "../../domain/Errors.js"
import * as Scrub from "../../internal/Scrub.js"
import { variablesIn } from "./Interpolate.js"
import { cycleError, cyclePath, isPlainObject } from "./Issues.js"
import { candidateKeyVariables, type ProtocolTable } from "./Providers.js"
import { resolve, type Resolved } from "./Resolve.js"
import { decodeSource } from "./Schema.js"
import { secretsOfRaw } from "./Secrets.js"
import {
  find,
  type Found,
  type LoadOptions,
  optionSource,
  type RawSource,
  readEnvironment,
  type Source
} from "./Sources.js"

/** The entry names under `providers` of a raw source (for the key variables to read). */
const providerNames = (source: RawSource | undefined): ReadonlyArray<string> => {
  const providers = isPlainObject(source?.raw) ? source.raw.providers : undefined
  return isPlainObject(providers) ? Object.keys(providers) : []
}

/** Decodes and resolves sources already read; the environment comes from the current `ConfigProvider`. */
export const fromSources = (found: Found, protocols: ProtocolTable): Effect.Effect<Resolved, ConfigError> =>
  Effect.gen(function*() {
    const raw = [found.project, found.user]
    // a file's cycles are refused as it is parsed; the `config` object's here, before anything walks it
    const cycle = found.project?.fromOptions === true ? cyclePath(found.project.raw) : undefined
    if (cycle !== undefined) return yield* Effect.fail(cycleError(cycle, undefined))
    const keyVariables = raw.flatMap(providerNames).flatMap((name) => candidateKeyVariables(protocols, name))
    const env = yield* readEnvironment([
      ...raw.flatMap((source) => (source === undefined ? [] : variablesIn(source.raw))),
      ...keyVariables
    ])
    const decode = (source: RawSource | undefined): Effect.Effect<Source | undefined, ConfigError> =>
      source === undefined
        ? Effect.succeed(undefined)
        : Effect.map(decodeSource(source.raw, env, source.origin), (file) => ({ ...source, file }))
    return yield* Effect.gen(function*() {
      const project = yield* decode(found.project)
      const user = yield* decode(found.user)
      return yield* resolve({ project, user, env, protocols, searched: found.searched })
    }).pipe(
      // A message that quotes a value (`got "…"`) never shows a configured secret (API.md §14).
      Effect.mapError((error) => Scrub.scrubError(Scrub.make(secretsOfRaw(raw, env, keyVariables)), error))
    )
  })

/** Loads as `LoadOptions` describe: files through `FileSystem`/`Path`, variables through the `ConfigProvider`. */
export const load = (
  options: LoadOptions,
  protocols: ProtocolTable
): Effect.Effect<Resolved, ConfigError, FileSystem.FileSystem | Path.Path> =>
  Effect.flatMap(find(options), (found) => fromSources(found, protocols))

/** Loads a configuration object alone: no project file, no user file, no file system. */
export const loadObject = (config: unknown, protocols: ProtocolTable): Effect.Effect<Resolved, ConfigError> =>
  fromSources(
    { project: optionSource(config), user: undefined, searched: { read: ["the config option"], notFound: [] } },
    protocols
  )
