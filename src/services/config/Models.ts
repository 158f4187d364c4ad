/**
 * Model aliases (API.md §4, §8): the project's win per alias and come first, the user's other aliases
 * are added; each must name a configured provider entry with a usable endpoint, and its fallbacks
 * other aliases. Then `default_model`.
 */
import * as Effect from "effect/Effect"
import type { ModelConfig, ProviderConfig } from "../../domain/Config.js"
import type { ConfigError } from "../../domain/Errors.js"
import { configError, invalid, quote } from "./Issues.js"
import type { Providers } from "./Providers.js"
import type { ConfigModel } from "./Schema.js"
import type { Searched, Source } from "./Sources.js"

/** The resolved aliases and the default one. */
export interface Models {
  readonly models: Readonly<Record<string, ModelConfig>>
  readonly defaultModel: string
}

const checkEndpoints = (
  alias: string,
  provider: ProviderConfig,
  providers: Providers,
  origin: string | undefined
): ConfigError | undefined => {
  // An entry `allowed_regions` emptied is not an error here: its models are called through their
  // fallbacks, or refused when called (Router.routing), so the other models keep working.
  if (provider.endpoints.length > 0 || providers.unfilteredCount[provider.name] !== 0) return undefined
  return invalid(
    ["providers", provider.name, "endpoints"],
    `expected at least one endpoint (model ${quote(alias)} uses this provider)`,
    origin
  )
}

/** Resolves every alias against the provider entries and the other aliases; `searched` explains "none". */
export const resolveModels = (
  sources: ReadonlyArray<Source>,
  providers: Providers,
  searched: Searched
): Effect.Effect<Models, ConfigError> =>
  Effect.gen(function*() {
    const declared = new Map<string, { readonly model: ConfigModel; readonly origin: string | undefined }>()
    for (const source of sources) {
      for (const [alias, model] of Object.entries(source.file.models ?? {})) {
        if (!declared.has(alias)) declared.set(alias, { model, origin: source.origin })
      }
    }
    if (declared.size === 0) {
      const consulted = [
        ...searched.read.map((name) => `read: ${name}`),
        ...searched.notFound.map((name) => `not found: ${name}`)
      ].join("; ")
      return yield* configError({
        reason: "missing",
        path: ["models"],
        detail: `expected at least one model alias, got none (${consulted})${
          searched.read.length === 0 ? "; `npx effect-llm init` writes a commented config.yaml to start from" : ""
        }`
      })
    }
    const aliases = [...declared.keys()]
    const configured = Object.keys(providers.providers)

    const models: Record<string, ModelConfig> = {}
    for (const [alias, { model, origin }] of declared) {
      const provider = Object.hasOwn(providers.providers, model.provider)
        ? providers.providers[model.provider]
        : undefined
      if (provider === undefined) {
        return yield* invalid(
          ["models", alias, "provider"],
          `expected one of the configured providers (${configured.join(", ") || "none"}), got ${quote(model.provider)}`,
          origin
        )
      }
      const noEndpoint = checkEndpoints(alias, provider, providers, origin)
      if (noEndpoint !== undefined) return yield* noEndpoint
      const fallbacks = model.fallbacks ?? []
      for (const [index, fallback] of fallbacks.entries()) {
        if (fallback === alias) {
          return yield* invalid(
            ["models", alias, "fallbacks", index],
            `expected another model alias, got ${quote(fallback)} (the model itself)`,
            origin
          )
        }
        if (!declared.has(fallback)) {
          return yield* invalid(
            ["models", alias, "fallbacks", index],
            `expected one of the model aliases (${aliases.join(", ")}), got ${quote(fallback)}`,
            origin
          )
        }
      }
      models[alias] = {
        alias,
        provider: provider.name,
        protocol: provider.protocol,
        modelId: model.modelId,
        pricing: model.pricing,
        fallbacks,
        // `limits: {}` sets none: the alias stays off the limiter's path
        ...(model.limits !== undefined && Object.keys(model.limits).length > 0 ? { limits: model.limits } : {})
      }
    }

    const defaultSource = sources.find((source) => source.file.defaultModel !== undefined)
    const defaultModel = defaultSource?.file.defaultModel ?? aliases[0]!
    if (!declared.has(defaultModel)) {
      return yield* invalid(
        ["default_model"],
        `expected one of the model aliases (${aliases.join(", ")}), got ${quote(defaultModel)}`,
        defaultSource?.origin
      )
    }
    return { models, defaultModel }
  })
