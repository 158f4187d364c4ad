/**
 * The Anthropic Messages wire protocol (WIRE-openai-anthropic.md §2): its rules and its client over an
 * `HttpClient`. Encoding and request rules are in `Request.ts` (content blocks in `Content.ts`),
 * decoding in `Response.ts` (unary) and `Stream.ts` (SSE) — a JSON answer through a forced tool is told
 * by `Request.answerToolFor` —, classification in `Errors.ts`, stop reasons in `FinishReason.ts`, key
 * variables in `Keys.ts`.
 */
import type * as HttpClient from "@effect/platform/HttpClient"
import * as Effect from "effect/Effect"
import type { Protocol, ProviderClient } from "../Provider.js"
import { keyVariables } from "./Keys.js"
import * as Request from "./Request.js"

/**
 * The Anthropic client over the `HttpClient` in context; its modules (decoding, streams, error classification) are
 * loaded when it is built (by `Providers.layerHttp`, when a live layer is built), not with the package.
 */
export const make: Effect.Effect<ProviderClient, never, HttpClient.HttpClient> = Effect.flatMap(
  Effect.promise(() => import("./Client.js")),
  (client) => client.make
)

/**
 * The `anthropic` protocol: a key is required, and so is an output cap (`max_tokens`, always sent);
 * `temperature` must be in [0, 1].
 */
export const protocol: Protocol = {
  name: "anthropic",
  requiresApiKey: true,
  apiKeyHeader: Request.apiKeyHeader,
  requiresMaxOutputTokens: true,
  keyVariables,
  check: Request.check,
  make
}
