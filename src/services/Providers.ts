/**
 * The protocol clients the pipeline calls, by protocol name: every protocol of the registry bound to
 * one `HttpClient` (the live layer's Node pool, or one a user supplies). Tests swap in scripted
 * clients (`effect-llm/testing`).
 */
import type * as HttpClient from "@effect/platform/HttpClient"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
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

/**
 * Every registered protocol over the `HttpClient` in context. Each protocol's `make` imports its client
 * modules (not loaded with the package); they load here, together, when the layer is built — never
 * during a call, so a call's first attempt has no extra asynchronous step (a `TestClock` test forking
 * a call and adjusting the clock at once still sees its sleeps). With them, the HTTP client's fiber
 * refs are set for the layer's lifetime from the config's provider entries (`ClientRefs.install`).
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
      Effect.promise(() => import("../providers/http/ClientRefs.js")),
      LLMConfig
    ], { concurrency: "unbounded" }),
    ([entries, ClientRefs, { config }]) =>
      Effect.as(
        ClientRefs.install(secretHeaderNames(config.providers)),
        Object.fromEntries(entries) as Record<ProtocolName, ProviderClient>
      )
  )
)
