/**
 * How the services are wired for real use (API.md §5, §13): `makeLiveLayer` is the documented
 * composition — config from files and environment, an `HttpClient` (Node's keep-alive undici pool
 * unless one is given), the ledger backend named in config, breakers shared by every call — and its
 * result is scoped: disposing it settles calls in flight, then closes the ledger and the HTTP pool.
 * `LiveLayer` is one such set, shared by the whole process.
 */
import type * as FileSystem from "@effect/platform/FileSystem"
import type * as HttpClient from "@effect/platform/HttpClient"
import type * as Path from "@effect/platform/Path"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as ManagedRuntime from "effect/ManagedRuntime"
import type { ConfigError, LedgerError } from "../domain/Errors.js"
import { trustAbortController } from "../providers/http/Abortable.js"
import * as CircuitBreaker from "../services/CircuitBreaker.js"
import * as Ledger from "../services/Ledger.js"
import * as LLMClient from "../services/LLMClient.js"
import * as LLMConfig from "../services/LLMConfig.js"
import * as Pricing from "../services/Pricing.js"
import * as Providers from "../services/Providers.js"
import * as Router from "../services/Router.js"

/** What the live layers provide. `CircuitBreaker` is there too, for inspecting breaker states. */
export type LiveServices = LLMClient.LLMClient | Ledger.Ledger | LLMConfig.LLMConfig | CircuitBreaker.CircuitBreaker

/** Options of `makeLiveLayer`. */
export interface LiveLayerOptions {
  /** The project file (default `$EFFECT_LLM_CONFIG`, else `./config.yaml`). */
  readonly configPath?: string | undefined
  /** The project configuration itself, an object in the YAML shape: no project file is read. */
  readonly config?: unknown
  /** `false`: read no user file; a path: that user file (default `~/.config/effect-llm/config.yaml`). */
  readonly userConfig?: false | string | undefined
  /** The HTTP client every provider uses, instead of Node's undici pool (a proxy, `FetchHttpClient`, a recorder). */
  readonly httpClient?: Layer.Layer<HttpClient.HttpClient> | undefined
}

/**
 * The client and its services over a given config, protocol clients and ledger; shared by the live
 * and test layers so both run the same pipeline.
 */
export const layerWith = <E, E2, E3>(
  config: Layer.Layer<LLMConfig.LLMConfig, E>,
  providers: Layer.Layer<Providers.Providers, E2, LLMConfig.LLMConfig>,
  ledger: Layer.Layer<Ledger.Ledger, E3, LLMConfig.LLMConfig>
): Layer.Layer<LiveServices, E | E2 | E3> => {
  const client = LLMClient.layer.pipe(
    Layer.provide(Router.layer),
    Layer.provideMerge(CircuitBreaker.layer),
    Layer.provideMerge(ledger),
    Layer.provide(Layer.mergeAll(Pricing.layer, providers))
  )
  return client.pipe(Layer.provideMerge(config))
}

/** The ledger backend `ledger:` names, with the budget's hold TTL and alert thresholds. */
export const ledgerFromConfig: Layer.Layer<Ledger.Ledger, LedgerError, LLMConfig.LLMConfig> = Layer.unwrapEffect(
  Effect.map(
    LLMConfig.LLMConfig,
    ({ config }) =>
      Ledger.layerFromConfig(config.ledger, {
        holdTtlS: config.budget.holdTtlS,
        alertThresholds: config.budget.alertThresholds,
        budgetedTags: Object.keys(config.budget.perTag)
      })
  )
)

/** Node's file system and paths (for reading config files), loaded when a live layer is built. */
export const nodeFileSystem: Layer.Layer<FileSystem.FileSystem | Path.Path> = Layer.unwrapEffect(
  Effect.map(
    Effect.promise(() =>
      Promise.all([import("@effect/platform-node/NodeFileSystem"), import("@effect/platform-node/NodePath")])
    ),
    ([NodeFileSystem, NodePath]) => Layer.merge(NodeFileSystem.layer, NodePath.layer)
  )
)

/**
 * Node's keep-alive HTTP pool (undici), loaded when a live layer is built rather than on import;
 * trusted to send each request under the controller registered for it, so an attempt's timeout aborts
 * its request without a fiber (`Abortable.ts`), at any phase of the request, the connection's making
 * included (`AbortBeforeConnect.ts`). Closed with the layer, with the connections it is still making.
 */
export const nodeHttpClient: Layer.Layer<HttpClient.HttpClient> = Layer.unwrapEffect(
  Effect.map(
    Effect.promise(() =>
      Promise.all([
        import("@effect/platform-node/NodeHttpClient"),
        import("@effect/platform-node/Undici"),
        import("@effect/platform/HttpClient"),
        import("../providers/http/AbortBeforeConnect.js")
      ])
    ),
    ([NodeHttpClient, Undici, Client, { makeLiveAgent }]) => {
      const dispatcher = Layer.scoped(
        NodeHttpClient.Dispatcher,
        Effect.map(
          Effect.acquireRelease(Effect.sync(() => makeLiveAgent(Undici)), (live) => Effect.promise(live.close)),
          (live) => live.agent
        )
      )
      // The client made over the pool as it is, not through `layerUndiciWithoutDispatcher`: that layer
      // wraps it so that every request runs with the layer's build context merged into the caller's
      // (`Effect.mapInputContext`: a `Context.merge` of the whole context and a `locally` of it around
      // each request, ~25 effect steps and two copies of the fiber's refs), and the client reads
      // nothing from that context (its pool is its own; `undiciOptions` are still read from the caller's).
      return Layer.effect(
        Client.HttpClient,
        Effect.map(NodeHttpClient.Dispatcher, (pool) => trustAbortController(NodeHttpClient.makeUndici(pool)))
      ).pipe(Layer.provide(dispatcher))
    }
  )
)

/**
 * A fresh, independent set of live services (own config, breakers, HTTP pool, ledger connection):
 * `LLMConfig.layer(options)` + `Providers.layerHttp` over `options.httpClient ?? nodeHttpClient` +
 * `Ledger.layerFromConfig`. Scoped: `ManagedRuntime.make(makeLiveLayer()).dispose()` settles the
 * calls still in flight, then closes the ledger connection and the HTTP pool.
 */
export const makeLiveLayer = (options: LiveLayerOptions = {}): Layer.Layer<LiveServices, ConfigError | LedgerError> =>
  liveOver(
    LLMConfig.layer({
      ...(options.configPath !== undefined ? { configPath: options.configPath } : {}),
      ...(options.config !== undefined ? { config: options.config } : {}),
      ...(options.userConfig !== undefined ? { userConfig: options.userConfig } : {})
    }).pipe(Layer.provide(nodeFileSystem)),
    options.httpClient
  )

/**
 * The live services over a given config layer (`makeLiveLayer`'s composition): the command line
 * passes the config it already loaded, so a command reads and validates its files once.
 */
export const liveOver = <E>(
  config: Layer.Layer<LLMConfig.LLMConfig, E>,
  httpClient?: Layer.Layer<HttpClient.HttpClient>
): Layer.Layer<LiveServices, E | LedgerError> =>
  layerWith(
    config,
    Providers.layerHttp.pipe(Layer.provide(httpClient === undefined ? nodeHttpClient : withoutRedirects(httpClient))),
    ledgerFromConfig
  )

/**
 * A given client built with `fetch` options that follow no redirect: fetch follows a 3xx by default
 * and sends `x-goog-api-key`, `x-api-key` and every `headers` value to wherever it points (it only
 * drops `Authorization`). The 3xx is then the answer, a `FatalError`. Options the client's own layer
 * provides (`FetchHttpClient.RequestInit`) are nearer and win; other clients ignore this one.
 */
const withoutRedirects = (httpClient: Layer.Layer<HttpClient.HttpClient>): Layer.Layer<HttpClient.HttpClient> =>
  Layer.unwrapEffect(
    // Loaded only here: the default (undici) path never reads fetch's options.
    Effect.map(
      Effect.promise(() => import("@effect/platform/FetchHttpClient")),
      ({ RequestInit }) => Layer.provide(httpClient, Layer.succeed(RequestInit, { redirect: "manual" }))
    )
  )

let shared: ManagedRuntime.ManagedRuntime<LiveServices, ConfigError | LedgerError> | undefined
/** The shared runtime whose unpriced models were warned about (in the caller's fiber). */
let warnedFor: typeof shared

/**
 * The process-wide live services: built once, on first use, and shared by every program it is
 * provided to, so `Effect.provide(LiveLayer)` per call keeps breakers, the connection pool, the
 * decoded config and the ledger connection. A build that fails is retried by the next use.
 * Release it at process shutdown with `disposeLiveLayer()`.
 */
export const LiveLayer: Layer.Layer<LiveServices, ConfigError | LedgerError> = Layer.effectContext(
  Effect.suspend(() => {
    // Built in its own runtime, whose logger is Effect's default: the build's one warning (models
    // without pricing) is made by the first program it is provided to instead, through its Logger.
    const runtime = shared ??= ManagedRuntime.make(makeLiveLayer().pipe(Layer.locally(Pricing.warnsAtBuild, false)))
    // (The context only: a scoped layer setting the HTTP client's fiber refs as well costs a per-call
    // provide more effect steps than it saves; its calls set them around each request, ClientRefs.ts.)
    const context = runtime.runtimeEffect.pipe(
      Effect.map((rt) => rt.context),
      Effect.tapError(() =>
        Effect.sync(() => {
          if (shared === runtime) shared = undefined
          void runtime.dispose()
        })
      )
    )
    return warnedFor === runtime ? context : Effect.tap(context, (services) => {
      if (warnedFor === runtime) return Effect.void
      warnedFor = runtime
      return Pricing.warnUnpriced(Object.values(Context.get(services, LLMConfig.LLMConfig).config.models))
    })
  })
)

/**
 * Disposes `LiveLayer`'s shared services (at process shutdown): calls in flight are interrupted and
 * settled as `cancelled`, then the ledger and the HTTP pool are closed. A later use builds them anew.
 */
export const disposeLiveLayer = (): Promise<void> => {
  const runtime = shared
  shared = undefined
  return runtime === undefined ? Promise.resolve() : runtime.dispose()
}
