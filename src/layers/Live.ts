/**
 * How the services are wired for real use (API.md §5): config from files and environment, Node's
 * keep-alive HTTP pool (undici), the ledger backend named in config, breakers shared by every call.
 */
import type * as HttpClient from "@effect/platform/HttpClient"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as ManagedRuntime from "effect/ManagedRuntime"
import type { ConfigError, LedgerError } from "../domain/Errors.js"
import * as CircuitBreaker from "../services/CircuitBreaker.js"
import { type Ledger, layerMemory } from "../services/Ledger.js"
import * as LLMClient from "../services/LLMClient.js"
import * as LLMConfig from "../services/LLMConfig.js"
import * as Pricing from "../services/Pricing.js"
import * as Providers from "../services/Providers.js"
import * as Router from "../services/Router.js"

/** What the live layers provide. `CircuitBreaker` is there too, for inspecting breaker states. */
export type LiveServices = LLMClient.LLMClient | Ledger | LLMConfig.LLMConfig | CircuitBreaker.CircuitBreaker

/** Options of `makeLiveLayer`: `config` is the project configuration itself; `configPath` names its file. */
export interface LiveLayerOptions {
  readonly configPath?: string
  readonly config?: unknown
}

/**
 * Wires the client over a given config layer and HTTP client; shared by the live and test layers so
 * both run the same pipeline.
 */
export const layerWith = <E, E2>(
  config: Layer.Layer<LLMConfig.LLMConfig, E>,
  providers: Layer.Layer<Providers.Providers, E2>,
  ledger: Layer.Layer<Ledger, LedgerError, LLMConfig.LLMConfig>
): Layer.Layer<LiveServices, E | E2 | LedgerError> => {
  const breakers = CircuitBreaker.layer
  const client = LLMClient.layer.pipe(
    Layer.provide(Router.layer),
    Layer.provideMerge(breakers),
    Layer.provideMerge(ledger),
    Layer.provide(Layer.mergeAll(Pricing.layer, providers))
  )
  return client.pipe(Layer.provideMerge(config))
}

/**
 * The ledger backend named by `ledger.backend`. The SQL backends (and their drivers) are loaded only
 * when configured, so importing the package stays cheap and `memory` users never load them.
 */
export const ledgerFromConfig: Layer.Layer<Ledger, LedgerError, LLMConfig.LLMConfig> = Layer.unwrapEffect(
  Effect.flatMap(LLMConfig.LLMConfig, ({ config }) =>
    config.ledger.backend === "memory"
      ? Effect.succeed(layerMemory({ holdTtlS: config.budget.holdTtlS }))
      : Effect.map(
        Effect.promise(() => import("../services/LedgerSql.js")),
        (LedgerSql) => LedgerSql.layerFromConfig(config.ledger, config.budget.holdTtlS)
      ))
)

/** Node's keep-alive HTTP pool (undici), loaded when a live layer is built rather than on import. */
const nodeHttpClient: Layer.Layer<HttpClient.HttpClient> = Layer.unwrapEffect(
  Effect.map(Effect.promise(() => import("@effect/platform-node/NodeHttpClient")), (NodeHttpClient) => NodeHttpClient.layerUndici)
)

/** A fresh, independent set of live services (own breakers, HTTP pool, ledger connection). */
export const makeLiveLayer = (options: LiveLayerOptions = {}): Layer.Layer<LiveServices, ConfigError | LedgerError> =>
  layerWith(
    LLMConfig.layer(options),
    Providers.layerHttp.pipe(Layer.provide(nodeHttpClient)),
    ledgerFromConfig
  )

let shared: ManagedRuntime.ManagedRuntime<LiveServices, ConfigError | LedgerError> | undefined

/**
 * The process-wide live services: built once, on first use, and shared by every program it is
 * provided to, so `Effect.provide(LiveLayer)` per call keeps breakers, the connection pool, the
 * decoded config and the ledger connection. A build that fails is retried by the next use.
 */
export const LiveLayer: Layer.Layer<LiveServices, ConfigError | LedgerError> = Layer.effectContext(
  Effect.suspend(() => {
    const runtime = shared ??= ManagedRuntime.make(makeLiveLayer())
    return runtime.runtimeEffect.pipe(
      Effect.map((rt) => rt.context),
      Effect.tapError(() =>
        Effect.sync(() => {
          if (shared === runtime) shared = undefined
          void runtime.dispose()
        })
      )
    )
  })
)
