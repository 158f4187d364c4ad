/**
 * The protocol clients the pipeline calls, by protocol name: every protocol of the registry bound to
 * one `HttpClient` (the live layer's Node pool, or one a user supplies). Tests swap in scripted
 * clients (`effect-llm/testing`).
 */
import type * as HttpClient from "@effect/platform/HttpClient"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type { ProviderClient } from "../providers/Provider.js"
import { type ProtocolName, protocols } from "../providers/registry.js"

/** A client for each protocol. */
export class Providers extends Context.Tag("effect-llm/Providers")<
  Providers,
  Readonly<Record<ProtocolName, ProviderClient>>
>() {}

/**
 * Every registered protocol over the `HttpClient` in context. Each protocol's `make` imports its client
 * modules (not loaded with the package); they load here, together, when the layer is built — never
 * during a call, so a call's first attempt has no extra asynchronous step (a `TestClock` test forking
 * a call and adjusting the clock at once still sees its sleeps).
 */
export const layerHttp: Layer.Layer<Providers, never, HttpClient.HttpClient> = Layer.effect(
  Providers,
  Effect.map(
    Effect.forEach(
      Object.values(protocols),
      (protocol) => Effect.map(protocol.make, (client) => [protocol.name, client] as const),
      { concurrency: "unbounded" }
    ),
    (entries) => Object.fromEntries(entries) as Record<ProtocolName, ProviderClient>
  )
)
