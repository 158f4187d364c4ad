/**
 * The Anthropic Messages wire protocol (WIRE-openai-anthropic.md §2): its rules and its client over an
 * `HttpClient`. Encoding and request rules are in `Request.ts` (content blocks in `Content.ts`),
 * decoding in `Response.ts` (unary) and `Stream.ts` (SSE) — a JSON answer through a forced tool is told
 * by `Request.answerToolFor` —, classification in `Errors.ts`, stop reasons in `FinishReason.ts`, key
 * variables in `Keys.ts`.
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
import * as AnthropicStream from "./Stream.js"

const contextOf = (target: ProviderTarget) => ({ provider: target.provider, endpoint: target.endpoint.name })

/** The Anthropic client over the `HttpClient` in context. */
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
          return yield* Decode.decode(
            text,
            response.headers,
            { ...context, now },
            Request.answerToolFor(request, target.modelId)
          )
        }),
      stream: (target, request) =>
        Effect.gen(function*() {
          const context = contextOf(target)
          const response = yield* transport.open(Request.make(target, request, true), context, Errors.classify)
          const now = yield* Clock.currentTimeMillis
          return EventStream.fromResponse(
            response,
            context,
            AnthropicStream.makeHandler(
              response.headers,
              { ...context, now },
              Request.answerToolFor(request, target.modelId)
            )
          )
        })
    }
  }
)

/**
 * The `anthropic` protocol: a key is required, and so is an output cap (`max_tokens`, always sent);
 * `temperature` must be in [0, 1].
 */
export const protocol: Protocol = {
  name: "anthropic",
  requiresApiKey: true,
  requiresMaxOutputTokens: true,
  keyVariables,
  check: Request.check,
  make
}
