/**
 * The protocol clients the pipeline calls, by protocol name: every protocol of the registry bound to
 * one `HttpClient` (the live layer's Node pool, or one a user supplies). Tests swap in scripted
 * clients (`effect-llm/testing`).
 */
import type * as HttpClient from "@effect/platform/HttpClient"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import type { ProviderConfig } from "../domain/Config.js"
import type { ProviderClient } from "../providers/Provider.js"
import { type ProtocolName, protocols } from "../providers/registry.js"
import { LLMConfig } from "./LLMConfig.js"

/** A client for each protocol. */
export class Providers extends Context.Tag("effect-llm/Providers")<
  Providers,
  Readonly<Record<ProtocolName, ProviderClient>>
>() {}

/**
 * The (lower-case) names of the headers that carry secrets in these provider entries: each entry's
 * protocol's key header and every extra header (API.md §8: all secrets).
 */
export const secretHeaderNames = (providers: Readonly<Record<string, ProviderConfig>>): ReadonlyArray<string> => {
  const names = new Set<string>()
  for (const provider of Object.values(providers)) {
    names.add(protocols[provider.protocol].apiKeyHeader)
    for (const [name] of provider.headers) names.add(name.toLowerCase())
  }
  return [...names]
}

let loadedRefs: typeof import("../providers/http/ClientRefs.js") | undefined
const namesByProviders = new WeakMap<object, ReadonlyArray<string>>()

/** Loads `ClientRefs.ts` (with the protocol clients: `layerHttp`), not with the package. */
const loadClientRefs: Effect.Effect<typeof import("../providers/http/ClientRefs.js")> = Effect.suspend(() =>
  loadedRefs !== undefined
    ? Effect.succeed(loadedRefs)
    : Effect.map(Effect.promise(() => import("../providers/http/ClientRefs.js")), (module) => (loadedRefs = module))
)

/**
 * Sets, for the current scope, what the HTTP client reads on every request: the config's secret
 * header names redacted, and the library's own requests sent without the client's span under the
 * native tracer (`ClientRefs.ts`: once per layer rather than around every request). Its module is
 * loaded by `layerHttp`; a use before that loads it (one asynchronous step), later ones take none.
 */
export const clientRefs = (
  providers: Readonly<Record<string, ProviderConfig>>
): Effect.Effect<void, never, Scope.Scope> =>
  Effect.suspend(() => {
    let names = namesByProviders.get(providers)
    if (names === undefined) {
      names = secretHeaderNames(providers)
      namesByProviders.set(providers, names)
    }
    const install = names
    return loadedRefs !== undefined
      ? loadedRefs.install(install)
      : Effect.flatMap(loadClientRefs, (ClientRefs) => ClientRefs.install(install))
  })

/**
 * Every registered protocol over the `HttpClient` in context. Each protocol's `make` imports its client
 * modules (not loaded with the package); they load here, together, when the layer is built — never
 * during a call, so a call's first attempt has no extra asynchronous step (a `TestClock` test forking
 * a call and adjusting the clock at once still sees its sleeps). With them, the HTTP client's fiber
 * refs are set for the layer's lifetime from the config's provider entries (`clientRefs`).
 */
export const layerHttp: Layer.Layer<Providers, never, HttpClient.HttpClient | LLMConfig> = Layer.scoped(
  Providers,
  Effect.flatMap(
    Effect.all([
      Effect.forEach(
        Object.values(protocols),
        (protocol) => Effect.map(protocol.make, (client) => [protocol.name, client] as const),
        { concurrency: "unbounded" }
      ),
      loadClientRefs
    ], { concurrency: "unbounded" }),
    ([entries]) =>
      Effect.flatMap(LLMConfig, ({ config }) =>
        Effect.as(
          clientRefs(config.providers),
          Object.fromEntries(entries) as Record<ProtocolName, ProviderClient>
        ))
  )
)
