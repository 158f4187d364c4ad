/**
 * Where configuration comes from: the project file (or the `config` option), the user file — read
 * through `@effect/platform`'s `FileSystem` and `Path` — and the environment, read through the current
 * `ConfigProvider` (so a test supplies `ConfigProvider.fromMap` instead of touching `process.env`).
 */
import * as FileSystem from "@effect/platform/FileSystem"
import * as Path from "@effect/platform/Path"
import * as Config from "effect/Config"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as os from "node:os"
import type { ConfigError } from "../../domain/Errors.js"
import { type Env, lookupEnv, variablePattern } from "./Interpolate.js"
import { configError, cycleError, cyclePath } from "./Issues.js"
import type { ConfigFile } from "./Schema.js"

/** Where `load` looks. Every field is optional. */
export interface LoadOptions {
  /** The project file; default `$EFFECT_LLM_CONFIG`, else `./config.yaml` (which may be absent). */
  readonly configPath?: string | undefined
  /** An object in the YAML shape that *is* the project configuration: no project file is read. */
  readonly config?: unknown
  /**
   * The user file: default `$XDG_CONFIG_HOME/effect-llm/config.yaml`, else
   * `~/.config/effect-llm/config.yaml` (optional there); a path names one (which must exist); `false`
   * reads none (tests and tools, API.md §14).
   */
  readonly userConfig?: false | string | undefined
  /** The directory relative paths start from; default the process's. */
  readonly cwd?: string | undefined
}

/** One source before `${VAR}` interpolation and decoding. */
export interface RawSource {
  /** Its display name in messages; `undefined` for the `config` option. */
  readonly origin: string | undefined
  /** The `config` option: its explicit keys beat the environment's. */
  readonly fromOptions: boolean
  readonly raw: unknown
}

/** One decoded source, beside what was read. */
export interface Source extends RawSource {
  readonly file: ConfigFile
}

/** What a load looked at, for the "no models" error. */
export interface Searched {
  readonly read: ReadonlyArray<string>
  readonly notFound: ReadonlyArray<string>
}

/** The sources a load found. */
export interface Found {
  readonly project: RawSource | undefined
  readonly user: RawSource | undefined
  readonly searched: Searched
}

/**
 * Reads the named environment variables from the current `ConfigProvider` (by default the process
 * environment), once each; an unset or empty one is absent from the snapshot.
 */
export const readEnvironment = (names: Iterable<string>): Effect.Effect<Env> =>
  Effect.forEach(
    new Set(names),
    (name) =>
      Config.string(name).pipe(
        Config.option,
        Effect.orElseSucceed(() => Option.none<string>()),
        Effect.map((value) => [name, Option.getOrUndefined(value)] as const)
      ),
    { concurrency: "unbounded" }
  ).pipe(
    Effect.map((entries) =>
      Object.fromEntries(
        entries.filter((entry): entry is readonly [string, string] => entry[1] !== undefined && entry[1] !== "")
      )
    )
  )

// Private-use characters: no configuration holds them, and a plain scalar may.
const maskOpen = "\uE000"
const maskClose = "\uE001"
const maskedPattern = /\$\uE000([A-Za-z_][A-Za-z0-9_]*)\uE001/g

/** A parsed value with every masked `${VAR}` written back, in keys and strings. */
const unmask = (value: unknown): unknown => {
  if (typeof value === "string") return value.replace(maskedPattern, "$${$1}")
  if (Array.isArray(value)) return value.map(unmask)
  if (typeof value === "object" && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([key, item]) => [unmask(key) as string, unmask(item)]))
  }
  return value
}

/** The text with each `${VAR}` as a plain scalar of the same length (`unmask` restores them). */
const masked = (text: string): string => text.replace(variablePattern, `$${maskOpen}$1${maskClose}`)

/**
 * Parses YAML text; an empty document is `{}`. Syntax errors name the file, line and column, but
 * never quote the source (the offending line could hold a key).
 */
export const parseYaml = (text: string, origin: string): Effect.Effect<unknown, ConfigError> =>
  // Loaded on first use: only programs that read a config file pay for the parser.
  Effect.flatMap(Effect.promise(() => import("yaml")), (Yaml) => {
    // `<<` merge keys (YAML 1.1, as docker compose files use them) share settings between entries
    let document = Yaml.parseDocument(text, { merge: true })
    let restore = false
    if (document.errors.length > 0 && text.includes("${")) {
      // `{ api_key: ${KEY} }` (API.md §8's one-line entries) is no YAML: `{` opens a mapping inside the
      // flow. Read again with each `${VAR}` as a plain scalar, restored after: only text that failed.
      // Masking keeps every position (`${` and `}` are as long as their masks), so when the masked
      // text fails too its first error is the real one, where the first reading stopped at a `${VAR}`.
      document = Yaml.parseDocument(masked(text), { merge: true })
      restore = true
    }
    if (document.errors[0]?.code === "MULTIPLE_DOCS") {
      // a document marker with nothing after it (a generated file's trailing `---`) is one document
      const documents = Yaml.parseAllDocuments(restore ? masked(text) : text, { merge: true })
      const filled = Array.isArray(documents)
        ? documents.filter((each) =>
          !(each.contents === null || Yaml.isScalar(each.contents) && each.contents.value === null)
        )
        : []
      if (filled.length === 1) document = filled[0]! as typeof document
    }
    const error = document.errors[0]
    if (error !== undefined) {
      const position = error.linePos?.[0]
      const where = position === undefined ? "" : ` (line ${position.line}, column ${position.col})`
      // (the parser's own advice for this one is for its caller, not for someone editing the file)
      const what = error.code === "MULTIPLE_DOCS"
        ? "a config file holds one YAML document, and this one has a second after a `---` line"
        : error.message.split(" at line ")[0] ?? error.code
      return Effect.fail(configError({ reason: "invalid", path: [], origin, detail: `invalid YAML${where}: ${what}` }))
    }
    // toJS throws on an alias bomb ("excessive alias count") and on aliases it cannot resolve:
    // configuration errors, not defects.
    return Effect.try({
      try: () => (document.toJS() as unknown) ?? {},
      catch: (cause) =>
        configError({
          reason: "invalid",
          path: [],
          origin,
          detail: `invalid YAML: ${cause instanceof Error ? cause.message : "unreadable document"}`
        })
    }).pipe(Effect.flatMap((value) => {
      const cycle = cyclePath(value)
      if (cycle !== undefined) return Effect.fail(cycleError(cycle, origin))
      return Effect.succeed(restore ? unmask(value) : value)
    }))
  })

/** The `config` option as a source. */
export const optionSource = (config: unknown): RawSource => ({ origin: undefined, fromOptions: true, raw: config })

/**
 * Reads and parses a YAML file; `undefined` when an optional file (`namedBy` undefined) does not
 * exist. A file something named must exist.
 */
const readFile = (
  file: string,
  origin: string,
  namedBy: string | undefined
): Effect.Effect<RawSource | undefined, ConfigError, FileSystem.FileSystem> =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const text = yield* fs.readFileString(file, "utf8").pipe(
      Effect.map((text): string | undefined => text),
      Effect.catchAll((error) => {
        const notFound = error._tag === "SystemError" && error.reason === "NotFound"
        if (notFound && namedBy === undefined) return Effect.succeed(undefined)
        return Effect.fail(
          configError({
            reason: "unreadable",
            path: [],
            origin,
            detail: notFound
              ? `config file not found (named by ${namedBy})`
              : `cannot read the config file (${error._tag === "SystemError" ? error.reason : error.message})`
          })
        )
      })
    )
    if (text === undefined) return undefined
    return { origin, fromOptions: false, raw: yield* parseYaml(text, origin) }
  })

/**
 * Finds and reads the project source (the `config` option, else the file named by `configPath`, else
 * by `$EFFECT_LLM_CONFIG`, else `./config.yaml` if present) and the user source (`userConfig`, else
 * `$XDG_CONFIG_HOME/effect-llm/config.yaml`, else `$HOME/.config/effect-llm/config.yaml`, with the
 * OS's home directory as the last resort).
 */
export const find = (
  options: LoadOptions
): Effect.Effect<Found, ConfigError, FileSystem.FileSystem | Path.Path> =>
  Effect.gen(function*() {
    const path = yield* Path.Path
    const env = yield* readEnvironment(["EFFECT_LLM_CONFIG", "XDG_CONFIG_HOME", "HOME"])
    const cwd = path.resolve(options.cwd ?? ".")
    const displayName = (file: string): string => {
      const relative = path.relative(cwd, file)
      return relative !== "" && !relative.startsWith("..") && !path.isAbsolute(relative) ? relative : file
    }
    const read: Array<string> = []
    const notFound: Array<string> = []

    let project: RawSource | undefined
    if (options.config !== undefined) {
      project = optionSource(options.config)
      read.push("the config option")
    } else {
      const fromEnv = lookupEnv(env, "EFFECT_LLM_CONFIG")
      const [file, namedBy] = options.configPath !== undefined
        ? [path.resolve(cwd, options.configPath), "the configPath option or --config"]
        : fromEnv !== undefined
        ? [path.resolve(cwd, fromEnv), "EFFECT_LLM_CONFIG"]
        : [path.join(cwd, "config.yaml"), undefined]
      project = yield* readFile(file, displayName(file), namedBy)
      ;(project === undefined ? notFound : read).push(displayName(file))
    }

    let user: RawSource | undefined
    if (options.userConfig !== false) {
      const file = options.userConfig !== undefined
        ? path.resolve(cwd, options.userConfig)
        : path.join(
          lookupEnv(env, "XDG_CONFIG_HOME") ?? path.join(lookupEnv(env, "HOME") ?? os.homedir(), ".config"),
          "effect-llm",
          "config.yaml"
        )
      user = yield* readFile(file, displayName(file), options.userConfig === undefined ? undefined : "userConfig")
      ;(user === undefined ? notFound : read).push(displayName(file))
    }

    return { project, user, searched: { read, notFound } }
  })
