/**
 * The configuration service (API.md §4, §5, §8, §14): loads the project file (or the `config` option),
 * the user file and the environment, merges them over the defaults, validates the result once, and
 * serves the decoded `ResolvedConfig`, each provider's credentials (checked when it is used, not at
 * load), model aliases and every configured secret. The work is in `config/`.
 */
import type * as FileSystem from "@effect/platform/FileSystem"
import type * as Path from "@effect/platform/Path"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Redacted from "effect/Redacted"
import type { ModelConfig, ResolvedConfig } from "../domain/Config.js"
import { type ConfigError, FatalError } from "../domain/Errors.js"
import { defaultKeyVariable } from "../providers/Provider.js"
import { impliedProtocols, protocols } from "../providers/registry.js"
import { type Env, malformedDetail } from "./config/Interpolate.js"
import { configError, type KeyPath, quote } from "./config/Issues.js"
import * as Load from "./config/Load.js"
import type { ProtocolTable } from "./config/Providers.js"
import { distinct, secretsOfConfig } from "./config/Secrets.js"
import type { LoadOptions } from "./config/Sources.js"

export type { Env, LoadOptions, ProtocolTable }

export declare namespace LLMConfig {
  /** The loaded configuration and the two lookups every call makes; no method has requirements. */
  export interface Service {
    readonly config: ResolvedConfig
    /**
     * A provider entry's key and extra headers, as a request sends them. A `ConfigError` (reason
     * `missing`, path `providers.<name>.api_key`) naming the unset variable when its protocol needs a
     * key and it has none, or (reason `invalid`) the variable whose value no header can carry;
     * `apiKey: undefined` for a protocol whose key is optional and unset.
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

/** The protocol registry as configuration sees it: which protocols exist, which entry names imply one. */
export const registryProtocols: ProtocolTable = { protocols, implied: impliedProtocols }

/**
 * Loads, merges and validates the configuration: the `config` option (else the project file) > the
 * environment's API keys > the user file > defaults. `${VAR}` is read in every string from the
 * current `ConfigProvider` (the process environment unless a program sets another); an unset one is a
 * load error except in `api_key`, where it only fails `credentials` when called.
 */
export const load = (
  options: LoadOptions = {}
): Effect.Effect<ResolvedConfig, ConfigError, FileSystem.FileSystem | Path.Path> =>
  Effect.map(Load.load(options, registryProtocols), (resolved) => resolved.config).pipe(
    Effect.withSpan("LLMConfig.load")
  )

/** What `make` may be given beyond the configuration. */
export interface MakeOptions {
  /** Secrets the sources held beyond those `config` still shows (a key the environment overrode). */
  readonly secrets?: ReadonlyArray<Redacted.Redacted<string>> | undefined
  /** The protocol table naming each protocol's key variables; default the registry's. */
  readonly protocols?: ProtocolTable | undefined
}

/**
 * Builds the service from a resolved configuration. The lookups are plain, span-free effects computed
 * once here: they run on every call.
 */
export const make = (config: ResolvedConfig, options: MakeOptions = {}): LLMConfig.Service => {
  const table = options.protocols ?? registryProtocols
  const keyVariables = (name: string, protocol: string | undefined): ReadonlyArray<string> => {
    const rules = protocol !== undefined && Object.hasOwn(table.protocols, protocol)
      ? table.protocols[protocol]
      : undefined
    return rules?.keyVariables(name) ?? [defaultKeyVariable(name)]
  }
  const credentials = new Map<string, Effect.Effect<LLMConfig.Credentials, ConfigError>>()
  for (const [name, provider] of Object.entries(config.providers)) {
    const path: KeyPath = ["providers", name, "api_key"]
    const key = provider.apiKey
    const { headers } = provider
    credentials.set(
      name,
      key._tag === "Present"
        ? Effect.succeed({ apiKey: key.value, headers })
        : key._tag === "None"
        ? Effect.succeed({ apiKey: undefined, headers })
        : key._tag === "Malformed"
        ? Effect.fail(configError({ reason: "invalid", path, detail: malformedDetail(key.variable) }))
        : Effect.fail(
          configError({
            reason: "missing",
            path,
            detail: key.variable === undefined
              ? `no API key configured (set ${keyVariables(name, provider.protocol).join(" or ")})`
              : `environment variable ${key.variable} is not set (or is empty)`
          })
        )
    )
  }
  const unconfigured = (name: string) =>
    Effect.fail(
      configError({
        reason: "missing",
        path: ["providers", name, "api_key"],
        detail: `provider ${name} is not configured (add it under providers and set ${
          keyVariables(name, Object.hasOwn(table.implied, name) ? table.implied[name] : undefined).join(" or ")
        })`
      })
    )
  const known = Object.keys(config.models).join(", ")

  return LLMConfig.of({
    config,
    credentials: (provider) => credentials.get(provider) ?? unconfigured(provider),
    model: (alias) => {
      const name = alias ?? config.defaultModel
      return Object.hasOwn(config.models, name)
        ? Effect.succeed(config.models[name]!)
        : Effect.fail(
          new FatalError({ reason: "invalid_request", message: `unknown model alias ${quote(name)} (known: ${known})` })
        )
    },
    secrets: distinct([...secretsOfConfig(config), ...(options.secrets ?? [])])
  })
}

/** The service from an already resolved configuration (tests, or a configuration built in code). */
export const layerFromConfig = (resolved: ResolvedConfig): Layer.Layer<LLMConfig> =>
  Layer.succeed(LLMConfig, make(resolved))

/**
 * The service loaded as `load` describes: the files read through `FileSystem` and `Path` (Node's in
 * `layers/Live.ts`), the environment through the current `ConfigProvider`, once, when the layer is built.
 */
export const layer = (
  options: LoadOptions = {}
): Layer.Layer<LLMConfig, ConfigError, FileSystem.FileSystem | Path.Path> =>
  Layer.effect(
    LLMConfig,
    Effect.map(
      Load.load(options, registryProtocols),
      (resolved) => make(resolved.config, { secrets: resolved.secrets })
    )
  )

/**
 * The service from a configuration object alone (YAML shape): no project file, no user file, and
 * `${VAR}` and `<NAME>_API_KEY` read from `env` (default: none), never from the machine.
 */
export const layerIsolated = (config: unknown, env: Env = {}): Layer.Layer<LLMConfig, ConfigError> =>
  Layer.effect(
    LLMConfig,
    Load.loadObject(config, registryProtocols).pipe(
      Effect.map((resolved) => make(resolved.config, { secrets: resolved.secrets })),
      Effect.withConfigProvider(
        ConfigProvider.fromMap(
          new Map(Object.entries(env).filter((entry): entry is [string, string] => entry[1] !== undefined))
        )
      )
    )
  )
