/**
 * The OpenAI Chat Completions wire protocol (WIRE-openai-anthropic §1), spoken by OpenAI and the
 * compatible services (DeepSeek, Volcengine Ark, OpenRouter, Groq, DashScope compatible mode) and
 * local servers (Ollama, vLLM, LM Studio): its rules and its client over an `HttpClient`. Encoding and
 * request rules are in `Request.ts` (messages and content parts in `Content.ts`, the strict-schema rule
 * in `Strict.ts`), decoding in `Response.ts` (unary) and `Stream.ts` (SSE), classification in
 * `Errors.ts`, finish reasons in `FinishReason.ts`, key variables in `Keys.ts`.
 */
import * as HttpClient from "@effect/platform/HttpClient"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as EventStream from "../http/EventStream.js"
import * as Response from "../http/Response.js"
import type { Protocol, ProviderClient, ProviderTarget } from "../Provider.js"
import * as Errors from "./Errors.js"
import { keyVariables } from "./Keys.js"
import * as Request from "./Request.js"
import * as Decode from "./Response.js"
import * as OpenAIStream from "./Stream.js"

const contextOf = (target: ProviderTarget) => ({ provider: target.provider, endpoint: target.endpoint.name })

/** The Chat Completions client over the `HttpClient` in context. */
export const make: Effect.Effect<ProviderClient, never, HttpClient.HttpClient> = Effect.map(
  HttpClient.HttpClient,
  (client) => {
    const transport = Response.makeTransport(client)
    return {
      generate: (target, request) =>
        Effect.gen(function*() {
          const context = contextOf(target)
          const response = yield* transport.send(Request.make(target, request, false), context, Errors.classify)
          const text = yield* Response.readText(response, context)
          const now = yield* Clock.currentTimeMillis
          return yield* Decode.decode(text, response.status, response.headers, { ...context, now })
        }),
      stream: (target, request) =>
        Effect.gen(function*() {
          const context = contextOf(target)
          const response = yield* transport.open(Request.make(target, request, true), context, Errors.classify)
          const now = yield* Clock.currentTimeMillis
          return EventStream.fromResponse(
            response,
            context,
            OpenAIStream.makeHandler(response.headers, { ...context, now })
          )
        })
    }
  }
)

/**
 * The `openai` protocol: a key is optional (no key, no `Authorization` header: local servers), an
 * output cap is not required; `temperature` must be in [0, 2].
 */
export const protocol: Protocol = {
  name: "openai",
  requiresApiKey: false,
  requiresMaxOutputTokens: false,
  keyVariables,
  check: Request.check,
  make
}
