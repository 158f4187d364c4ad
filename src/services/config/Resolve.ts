/**
 * Decoded sources → the whole `ResolvedConfig` (API.md §4 merge order): provider entries, model
 * aliases, the scalar sections and the ledger, each resolved by its own module; plus every secret the
 * sources configure.
 */
import * as Effect from "effect/Effect"
import type * as Redacted from "effect/Redacted"
import type { ResolvedConfig } from "../../domain/Config.js"
import type { ConfigError } from "../../domain/Errors.js"
import type { Env } from "./Interpolate.js"
import { resolveModels } from "./Models.js"
import { type ProtocolTable, resolveProviders } from "./Providers.js"
import { distinct, secretsOfConfig, secretsOfSources, secretVariables } from "./Secrets.js"
import { resolveBudget, resolveLedger, resolveObservability, resolveResilience } from "./Sections.js"
import type { Searched, Source } from "./Sources.js"

/** A resolved configuration and every secret value configured to get there. */
export interface Resolved {
  readonly config: ResolvedConfig
  readonly secrets: ReadonlyArray<Redacted.Redacted<string>>
}

/** What `resolve` merges: the decoded project and user sources, and the environment snapshot. */
export interface ResolveInput {
  readonly project: Source | undefined
  readonly user: Source | undefined
  readonly env: Env
  readonly protocols: ProtocolTable
  /** What was looked at, for the "no models" error. */
  readonly searched: Searched
}

/** Merges the project and user sources over the defaults and validates the whole. */
export const resolve = (input: ResolveInput): Effect.Effect<Resolved, ConfigError> =>
  Effect.gen(function*() {
    const sources = [input.project, input.user].filter((source) => source !== undefined)
    const providers = yield* resolveProviders(sources, input.env, input.protocols)
    const { defaultModel, models } = yield* resolveModels(sources, providers, input.searched)
    const config: ResolvedConfig = {
      defaultModel,
      providers: providers.providers,
      models,
      allowedRegions: providers.allowedRegions,
      resilience: yield* resolveResilience(sources),
      budget: yield* resolveBudget(sources, Object.keys(models)),
      ledger: yield* resolveLedger(sources),
      observability: resolveObservability(sources)
    }
    const secrets = distinct([
      ...providers.environmentKeys,
      ...secretsOfSources(sources),
      ...secretVariables(sources, input.env),
      ...secretsOfConfig(config)
    ])
    return { config, secrets }
  })
