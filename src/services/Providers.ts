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
 * A client built on first use: the first call runs `make` (a protocol's `make` loads its modules), later
 * calls go straight to the built client. Concurrent first calls share one build.
 */
const onFirstUse = (make: Effect.Effect<ProviderClient>): Effect.Effect<ProviderClient> =>
  Effect.map(Effect.cached(make), (build) => {
    let built: ProviderClient | undefined
    const client = Effect.tap(build, (ready) => {
      built = ready
    })
    return {
      generate: (target, request) =>
        built !== undefined
          ? built.generate(target, request)
          : Effect.flatMap(client, (c) => c.generate(target, request)),
      stream: (target, request) =>
        built !== undefined ? built.stream(target, request) : Effect.flatMap(client, (c) => c.stream(target, request))
    }
  })

/**
 * Every registered protocol over the `HttpClient` in context, each built when a call first uses it:
 * a program calling one protocol never loads the others' decoders.
 */
export const layerHttp: Layer.Layer<Providers, never, HttpClient.HttpClient> = Layer.effect(
  Providers,
  Effect.flatMap(Effect.context<HttpClient.HttpClient>(), (context) =>
    Effect.map(
      Effect.forEach(
        Object.values(protocols),
        (protocol) =>
          Effect.map(onFirstUse(Effect.provide(protocol.make, context)), (client) => [protocol.name, client] as const)
      ),
      (entries) => Object.fromEntries(entries) as Record<ProtocolName, ProviderClient>
    ))
)
