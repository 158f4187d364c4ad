/**
 * The wire protocols available to the client, by provider name. The live layer binds Gemini and
 * DashScope to one `HttpClient`; tests swap in scripted providers (`effect-llm/testing`).
 */
import * as HttpClient from "@effect/platform/HttpClient"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type { ProviderName } from "../domain/Config.js"
import * as DashScope from "../providers/DashScope.js"
import * as Gemini from "../providers/Gemini.js"
import type { Provider } from "../providers/Provider.js"

/** The provider for each protocol name. */
export class Providers extends Context.Tag("effect-llm/Providers")<Providers, Readonly<Record<ProviderName, Provider>>>() {}

/** Gemini and DashScope over the `HttpClient` in context. */
export const layerHttp: Layer.Layer<Providers, never, HttpClient.HttpClient> = Layer.effect(
  Providers,
  Effect.all({ google: Gemini.make, dashscope: DashScope.make })
)
