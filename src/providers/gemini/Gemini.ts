/**
 * The Gemini API (v1beta) wire protocol (WIRE.md §1): its rules and its client over an `HttpClient`.
 * Encoding is in `Request.ts`, decoding in `Response.ts` (unary) and `Stream.ts` (`alt=sse`),
 * classification in `Errors.ts`, finish reasons in `FinishReason.ts`, key variables in `Keys.ts`.
 */
import type * as HttpClient from "@effect/platform/HttpClient"
import * as Effect from "effect/Effect"
import type { Protocol, ProviderClient } from "../Provider.js"
import { keyVariables } from "./Keys.js"
import * as Request from "./Request.js"

/**
 * The Gemini client over the `HttpClient` in context; its modules (decoding, streams, error classification) are
 * loaded when it is built (by `Providers.layerHttp`, when a live layer is built), not with the package.
 */
export const make: Effect.Effect<ProviderClient, never, HttpClient.HttpClient> = Effect.flatMap(
  Effect.promise(() => import("./Client.js")),
  (client) => client.make
)

/**
 * The `gemini` protocol: a key is required, an output cap is not; its request rules are the parts it
 * carries (files by media type and source), tool names and tool choices (`Request.check`).
 */
export const protocol: Protocol = {
  name: "gemini",
  requiresApiKey: true,
  apiKeyHeader: Request.apiKeyHeader,
  requiresMaxOutputTokens: false,
  keyVariables,
  check: Request.check,
  make
}
