/**
 * The OpenAI Chat Completions wire protocol (WIRE-openai-anthropic §1), spoken by OpenAI and the
 * compatible services (DeepSeek, Volcengine Ark, OpenRouter, Groq, DashScope compatible mode) and
 * local servers (Ollama, vLLM, LM Studio): its rules and its client over an `HttpClient`. Encoding and
 * request rules are in `Request.ts` (messages and content parts in `Content.ts`, the strict-schema rule
 * in `Strict.ts`), decoding in `Response.ts` (unary) and `Stream.ts` (SSE), classification in
 * `Errors.ts`, finish reasons in `FinishReason.ts`, key variables in `Keys.ts`.
 */
import type * as HttpClient from "@effect/platform/HttpClient"
import * as Effect from "effect/Effect"
import type { Protocol, ProviderClient } from "../Provider.js"
import { keyVariables } from "./Keys.js"
import * as Request from "./Request.js"

/**
 * The Chat Completions client over the `HttpClient` in context; its modules (decoding, streams, error classification) are
 * loaded when it is built (by `Providers.layerHttp`, when a live layer is built), not with the package.
 */
export const make: Effect.Effect<ProviderClient, never, HttpClient.HttpClient> = Effect.flatMap(
  Effect.promise(() => import("./Client.js")),
  (client) => client.make
)

/**
 * The `openai` protocol: a key is optional (no key, no `Authorization` header: local servers), an
 * output cap is not required; `temperature` must be in [0, 2].
 */
export const protocol: Protocol = {
  name: "openai",
  requiresApiKey: false,
  apiKeyHeader: Request.apiKeyHeader,
  requiresMaxOutputTokens: false,
  keyVariables,
  check: Request.check,
  make
}
