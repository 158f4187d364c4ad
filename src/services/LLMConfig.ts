/**
 * The configuration service (API.md §4, §5): loads the project file (or the `config` option), the user
 * file and the environment, merges them over the defaults, validates the result once, and serves the
 * decoded `ResolvedConfig`, API keys (checked when a provider is used, not at load) and model aliases.
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as nodePath from "node:path"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Predicate from "effect/Predicate"
import * as Redacted from "effect/Redacted"
import {
  defaults,
  type ApiKeySource,
  type BudgetConfig,
  type CircuitBreakerConfig,
  type ObservabilityConfig,
  type EndpointConfig,
  type LedgerConfig,
  type ModelConfig,
  type ProviderConfig,
  type ProviderName,
  type ResilienceConfig,
  type ResolvedConfig
} from "../domain/Config.js"
import { type ConfigError, FatalError } from "../domain/Errors.js"
import {
  type ConfigFile,
  type ConfigModel,
  configError,
  decodeSource,
  type Env,
  formatPath,
  type KeyPath,
  lookupEnv,
  MissingVariable,
  parseYaml
} from "../internal/ConfigFile.js"

/** The environment variables that supply each provider's key, over any file value; the first set one wins. */
export const providerEnvVar: Readonly<Record<ProviderName, ReadonlyArray<string>>> = {
  google: ["GEMINI_API_KEY", "GOOGLE_API_KEY"],
  dashscope: ["DASHSCOPE_API_KEY"]
}

const providerNames: ReadonlyArray<ProviderName> = ["google", "dashscope"]

export declare namespace LLMConfig {
  /** The loaded configuration and the two lookups every call makes; no method has requirements. */
  export interface Service {
    readonly config: ResolvedConfig
    /**
     * A provider entry's key and extra headers, as a request sends them. A `ConfigError` (reason
     * `missing`, path `providers.<name>.api_key`) naming the unset variable when its protocol needs a
     * key and it has none; `apiKey: undefined` for a protocol whose key is optional and unset.
     */
    readonly credentials: (provider: string) => Effect.Effect<Credentials, ConfigError>
    /** The model behind an alias (`undefined`: `default_model`); an unknown alias is an invalid request. */
    readonly model: (alias: string | undefined) => Effect.Effect<ModelConfig, FatalError>
    /**
     * Every configured secret value — API keys, `headers` values, the password and query-parameter
     * values of every `base_url` and of `ledger.url` — for scrubbing every string effect-llm produces.
     */
    readonly secrets: ReadonlyArray<Redacted.Redacted<string>>
  }

  /** What a request to a provider entry carries. */
  export interface Credentials {
    readonly apiKey: Redacted.Redacted<string> | undefined
    readonly headers: ReadonlyArray<readonly [name: string, value: Redacted.Redacted<string>]>
  }
}

/** The configuration service. */
export class LLMConfig extends Context.Tag("effect-llm/LLMConfig")<LLMConfig, LLMConfig.Service>() {}

/** Where `load` looks. Every field is optional; `env` and `cwd` default to the process's own. */
export interface LoadOptions {
  /** The project file; default `$EFFECT_LLM_CONFIG`, else `./config.yaml` (which may be absent). */
  readonly configPath?: string
  /** An object in the YAML shape that *is* the project configuration: no project file is read. */
  readonly config?: unknown
  readonly env?: Env
  readonly cwd?: string
  /** Default `$XDG_CONFIG_HOME/effect-llm/config.yaml`, else `~/.config/effect-llm/config.yaml` (optional); `null`: none. */
  readonly userConfigPath?: string | null
}

/** One decoded source; `origin` is its display name (undefined for the `config` option). */
interface Source {
  readonly origin: string | undefined
  readonly fromOptions: boolean
  readonly file: ConfigFile
}

/** What was looked at, for the "no models" error. */
interface Searched {
  readonly read: Array<string>
  readonly notFound: Array<string>
}

const displayName = (file: string, cwd: string): string => {
  const relative = nodePath.relative(cwd, file)
  return relative !== "" && !relative.startsWith("..") && !nodePath.isAbsolute(relative) ? relative : file
}

/** Reads and decodes a YAML file; `undefined` when an optional file does not exist. */
const readSource = (
  file: string,
  origin: string,
  env: Env,
  namedBy: string | undefined
): Effect.Effect<Source | undefined, ConfigError> =>
  Effect.gen(function* () {
    const text = yield* Effect.try({
      try: (): string | undefined => fs.readFileSync(file, "utf8"),
      catch: (cause) => cause as NodeJS.ErrnoException
    }).pipe(
      Effect.catchAll((cause) =>
        cause.code === "ENOENT" && namedBy === undefined
          ? Effect.succeed(undefined)
          : Effect.fail(
              configError({
                reason: "unreadable",
                path: [],
                origin,
                detail:
                  cause.code === "ENOENT"
                    ? `config file not found (named by ${namedBy})`
                    : `cannot read the config file (${cause.code ?? cause.message})`
              })
            )
      )
    )
    if (text === undefined) return undefined
    const decoded = yield* decodeSource(yield* parseYaml(text, origin), env, origin)
    return { origin, fromOptions: false, file: decoded }
  })

const firstDefined = <A>(values: ReadonlyArray<A | undefined>): A | undefined => values.find(Predicate.isNotUndefined)

/** Per key: the first layer that sets it, else the base. */
const mergeKeys = <T extends object>(base: T, layers: ReadonlyArray<Partial<T> | undefined>): T => {
  const merged: Record<string, unknown> = { ...(base as Record<string, unknown>) }
  for (const key of Object.keys(base)) {
    const value = firstDefined(layers.map((layer) => (layer as Record<string, unknown> | undefined)?.[key]))
    if (value !== undefined) merged[key] = value
  }
  return merged as T
}

const isPresent = (key: Redacted.Redacted<string> | MissingVariable | undefined): key is Redacted.Redacted<string> =>
  Redacted.isRedacted(key)

const quote = (value: string): string => JSON.stringify(value)

/**
 * Merges the project and user sources over the defaults (API.md §4) and validates the whole.
 *
 * - `models`: the project's win per alias and come first; the user's other aliases are added.
 * - providers: the key is the `config` option's explicit key, else the environment's, else the first
 *   file that has a value (project, then user); else `Missing`, naming the first unset `${VAR}`.
 *   Endpoints: the project's, then the user's. A user endpoint repeating a name the project already
 *   gives the same provider is skipped (a user file is often a copy of the project's); any other
 *   repeated name is an error, since breakers are keyed by endpoint name.
 * - `allowed_regions` (project's, else user's) drops every endpoint whose region is outside it; an
 *   endpoint without a region is always kept (it declares no residency to check).
 * - `resilience`, `budget`, `ledger`, `observability`: per key, project, else user, else defaults.
 */
const resolve = (
  project: Source | undefined,
  user: Source | undefined,
  env: Env,
  searched: Searched
): Effect.Effect<ResolvedConfig, ConfigError> =>
  Effect.gen(function* () {
    const sources = [project, user].filter(Predicate.isNotUndefined)
    const invalid = (path: KeyPath, detail: string, origin: string | undefined) =>
      Effect.fail(configError({ reason: "invalid", path, detail, origin }))

    // Models, in order: the project's aliases first.
    const models = new Map<string, { readonly model: ConfigModel; readonly origin: string | undefined }>()
    for (const source of sources) {
      for (const [alias, model] of Object.entries(source.file.models ?? {})) {
        if (!models.has(alias)) models.set(alias, { model, origin: source.origin })
      }
    }
    if (models.size === 0) {
      const consulted = [
        ...searched.read.map((name) => `read: ${name}`),
        ...searched.notFound.map((name) => `not found: ${name}`)
      ].join("; ")
      return yield* Effect.fail(
        configError({ reason: "missing", path: ["models"], detail: `expected at least one model alias, got none (${consulted})` })
      )
    }
    const aliases = [...models.keys()]

    // Providers.
    const allowedRegions = firstDefined(sources.map((source) => source.file.allowedRegions))
    const providers: Partial<Record<ProviderName, ProviderConfig>> = {}
    const unfilteredCount: Partial<Record<ProviderName, number>> = {}
    const endpointOwners = new Map<string, { readonly provider: ProviderName; readonly source: Source; readonly path: string }>()
    for (const name of providerNames) {
      const entries = sources.flatMap((source) => {
        const provider = source.file.providers?.[name]
        return provider === undefined ? [] : [{ source, provider }]
      })
      if (entries.length === 0) continue

      const endpoints: Array<EndpointConfig> = []
      for (const { source, provider } of entries) {
        for (const [index, endpoint] of (provider.endpoints ?? []).entries()) {
          const path: KeyPath = ["providers", name, "endpoints", index, "name"]
          const owner = endpointOwners.get(endpoint.name)
          if (owner !== undefined) {
            if (owner.provider === name && owner.source !== source) continue
            return yield* invalid(
              path,
              `expected a unique endpoint name, got ${quote(endpoint.name)}, already used by ${owner.path}`,
              source.origin
            )
          }
          endpointOwners.set(endpoint.name, { provider: name, source, path: formatPath(path.slice(0, 4)) })
          endpoints.push({ name: endpoint.name, baseUrl: endpoint.baseUrl, region: endpoint.region })
        }
      }
      unfilteredCount[name] = endpoints.length

      const declared = entries.map((entry) => entry.provider.apiKey).filter(Predicate.isNotUndefined)
      const explicit = entries[0]?.source.fromOptions ? entries[0].provider.apiKey : undefined
      const fromEnv = firstDefined(providerEnvVar[name].map((variable) => lookupEnv(env, variable)))
      const value =
        (isPresent(explicit) ? explicit : undefined) ??
        (fromEnv === undefined ? undefined : Redacted.make(fromEnv)) ??
        declared.find(isPresent)
      const apiKey: ApiKeySource =
        value !== undefined
          ? { _tag: "Present", value }
          : { _tag: "Missing", variable: declared.find((key) => key instanceof MissingVariable)?.variable }

      providers[name] = {
        name,
        apiKey,
        endpoints: endpoints.filter(
          (endpoint) =>
            allowedRegions === undefined || endpoint.region === undefined || allowedRegions.includes(endpoint.region)
        )
      }
    }
    const configured = Object.keys(providers)

    // Models against providers and each other.
    const resolvedModels: Record<string, ModelConfig> = {}
    for (const [alias, { model, origin }] of models) {
      const provider = providerNames.find((name) => name === model.provider && providers[name] !== undefined)
      if (provider === undefined) {
        return yield* invalid(
          ["models", alias, "provider"],
          `expected one of the configured providers (${configured.join(", ") || "none"}), got ${quote(model.provider)}`,
          origin
        )
      }
      if (providers[provider]?.endpoints.length === 0) {
        return yield* invalid(
          ["providers", provider, "endpoints"],
          unfilteredCount[provider] === 0
            ? `expected at least one endpoint (model ${quote(alias)} uses this provider)`
            : `expected at least one endpoint in allowed_regions (${allowedRegions?.join(", ")}) (model ${quote(alias)} uses this provider)`,
          origin
        )
      }
      const fallbacks = model.fallbacks ?? []
      for (const [index, fallback] of fallbacks.entries()) {
        if (fallback === alias) {
          return yield* invalid(
            ["models", alias, "fallbacks", index],
            `expected another model alias, got ${quote(fallback)} (the model itself)`,
            origin
          )
        }
        if (!models.has(fallback)) {
          return yield* invalid(
            ["models", alias, "fallbacks", index],
            `expected one of the model aliases (${aliases.join(", ")}), got ${quote(fallback)}`,
            origin
          )
        }
      }
      resolvedModels[alias] = { alias, provider, modelId: model.modelId, pricing: model.pricing, fallbacks }
    }

    const defaultSource = sources.find((source) => source.file.defaultModel !== undefined)
    const defaultModel = defaultSource?.file.defaultModel ?? aliases[0]!
    if (!models.has(defaultModel)) {
      return yield* invalid(
        ["default_model"],
        `expected one of the model aliases (${aliases.join(", ")}), got ${quote(defaultModel)}`,
        defaultSource?.origin
      )
    }

    // Scalar sections, per key.
    const resilienceLayers = sources.map((source) => source.file.resilience)
    const resilience: ResilienceConfig = {
      ...mergeKeys<Omit<ResilienceConfig, "circuitBreaker">>(defaults.resilience, resilienceLayers),
      circuitBreaker: mergeKeys<CircuitBreakerConfig>(defaults.resilience.circuitBreaker, resilienceLayers.map((layer) => layer?.circuitBreaker))
    }
    if (resilience.maxDelayS < resilience.baseDelayS) {
      return yield* invalid(
        ["resilience", "max_delay_s"],
        `expected at least base_delay_s (${resilience.baseDelayS}), got ${resilience.maxDelayS}`,
        sources.find((source) => source.file.resilience?.maxDelayS !== undefined)?.origin
      )
    }

    const ledgerKey = <K extends "backend" | "path" | "url">(key: K) =>
      firstDefined(sources.map((source) => source.file.ledger?.[key]))
    const backendSource = sources.find((source) => source.file.ledger?.backend !== undefined)
    const backend = backendSource?.file.ledger?.backend ?? defaults.ledger.backend
    let ledger: LedgerConfig
    switch (backend) {
      case "sqlite":
        ledger = { backend, path: ledgerKey("path") ?? defaults.ledger.path }
        break
      case "memory":
        ledger = { backend }
        break
      case "postgres": {
        const url = ledgerKey("url")
        if (url === undefined) {
          return yield* Effect.fail(
            configError({
              reason: "missing",
              path: ["ledger", "url"],
              origin: backendSource?.origin,
              detail: "expected a connection URL when backend is postgres, got nothing"
            })
          )
        }
        ledger = { backend, url }
      }
    }

    return {
      defaultModel,
      providers,
      models: resolvedModels,
      allowedRegions,
      resilience,
      budget: mergeKeys<BudgetConfig>(defaults.budget, sources.map((source) => source.file.budget)),
      ledger,
      observability: mergeKeys<ObservabilityConfig>(defaults.observability, sources.map((source) => source.file.observability))
    }
  })

/**
 * Loads, merges and validates the configuration: the `config` option (else the project file) > the
 * environment's API keys > the user file > defaults. `${VAR}` is read from `env` in every string;
 * an unset one is a load error except in `api_key`, where it only fails `apiKey` when called.
 */
export const load = Effect.fn("LLMConfig.load")(function* (options: LoadOptions = {}) {
  const env = options.env ?? process.env
  const cwd = options.cwd ?? process.cwd()
  const searched: Searched = { read: [], notFound: [] }

  const projectFile = (() => {
    if (options.configPath !== undefined) return { file: nodePath.resolve(cwd, options.configPath), namedBy: "configPath" }
    const fromEnv = lookupEnv(env, "EFFECT_LLM_CONFIG")
    if (fromEnv !== undefined) return { file: nodePath.resolve(cwd, fromEnv), namedBy: "EFFECT_LLM_CONFIG" }
    return { file: nodePath.join(cwd, "config.yaml"), namedBy: undefined }
  })()
  const project: Source | undefined =
    options.config !== undefined
      ? { origin: undefined, fromOptions: true, file: yield* decodeSource(options.config, env, undefined) }
      : yield* readSource(projectFile.file, displayName(projectFile.file, cwd), env, projectFile.namedBy)
  if (options.config !== undefined) searched.read.push("the config option")
  else (project === undefined ? searched.notFound : searched.read).push(displayName(projectFile.file, cwd))

  let user: Source | undefined
  if (options.userConfigPath !== null) {
    const userFile =
      options.userConfigPath !== undefined
        ? nodePath.resolve(cwd, options.userConfigPath)
        : nodePath.join(
            lookupEnv(env, "XDG_CONFIG_HOME") ?? nodePath.join(lookupEnv(env, "HOME") ?? os.homedir(), ".config"),
            "effect-llm",
            "config.yaml"
          )
    user = yield* readSource(userFile, displayName(userFile, cwd), env, undefined)
    ;(user === undefined ? searched.notFound : searched.read).push(displayName(userFile, cwd))
  }

  return yield* resolve(project, user, env, searched)
})

/** Builds the service from a resolved configuration. The lookups are plain, span-free: they run on every call. */
export const make = (config: ResolvedConfig): LLMConfig.Service => {
  const keys = Object.fromEntries(
    providerNames.map((name): [ProviderName, Effect.Effect<Redacted.Redacted<string>, ConfigError>] => {
      const provider = config.providers[name]
      const path: KeyPath = ["providers", name, "api_key"]
      const suggestion = providerEnvVar[name].join(" or ")
      if (provider === undefined) {
        return [
          name,
          Effect.fail(
            configError({ reason: "missing", path, detail: `provider ${name} is not configured (add it under providers and set ${suggestion})` })
          )
        ]
      }
      const key = provider.apiKey
      if (key._tag === "Present") return [name, Effect.succeed(key.value)]
      return [
        name,
        Effect.fail(
          configError({
            reason: "missing",
            path,
            detail:
              key.variable === undefined
                ? `no API key configured (set ${suggestion})`
                : `environment variable ${key.variable} is not set`
          })
        )
      ]
    })
  ) as Record<ProviderName, Effect.Effect<Redacted.Redacted<string>, ConfigError>>
  const known = Object.keys(config.models).join(", ")

  return LLMConfig.of({
    config,
    apiKey: (provider) => keys[provider],
    model: (alias) => {
      const name = alias ?? config.defaultModel
      return Object.hasOwn(config.models, name)
        ? Effect.succeed(config.models[name]!)
        : Effect.fail(
            new FatalError({ reason: "invalid_request", message: `unknown model alias ${quote(name)} (known: ${known})` })
          )
    }
  })
}

/** The service from an already resolved configuration (tests, or a configuration built in code). */
export const layerFromConfig = (resolved: ResolvedConfig): Layer.Layer<LLMConfig> =>
  Layer.succeed(LLMConfig, make(resolved))

/**
 * The service loaded from `process.env`, the working directory's files and the user file, as `load`
 * describes. No requirements: files are read with `node:fs` once, when the layer is built.
 */
export const layer = (
  options: { readonly configPath?: string; readonly config?: unknown } = {}
): Layer.Layer<LLMConfig, ConfigError> => Layer.effect(LLMConfig, Effect.map(load(options), make))

/**
 * The service from a configuration object alone (YAML shape): no file, no user file, and `${VAR}` read
 * from `env` (default: none), so tests do not depend on the machine.
 */
export const layerIsolated = (config: unknown, env: Env = {}): Layer.Layer<LLMConfig, ConfigError> =>
  Layer.effect(LLMConfig, Effect.map(load({ config, env, userConfigPath: null }), make))
