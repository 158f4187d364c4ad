/**
 * The Gemini API (v1beta) wire protocol (WIRE.md §1): its rules and its client over an `HttpClient`.
 * Encoding is in `Request.ts`, decoding in `Response.ts` (unary) and `Stream.ts` (`alt=sse`),
 * classification in `Errors.ts`, finish reasons in `FinishReason.ts`, key variables in `Keys.ts`.
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
import * as GeminiStream from "./Stream.js"

const contextOf = (target: ProviderTarget) => ({ provider: target.provider, endpoint: target.endpoint.name })

/** The Gemini client over the `HttpClient` in context. */
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
          return yield* Decode.decode(text, response.headers, { ...context, now })
        }),
      stream: (target, request) =>
        Effect.gen(function*() {
          const context = contextOf(target)
          const response = yield* transport.open(Request.make(target, request, true), context, Errors.classify)
          const now = yield* Clock.currentTimeMillis
          return EventStream.fromResponse(
            response,
            context,
            GeminiStream.makeHandler(response.headers, { ...context, now })
          )
        })
    }
  }
)

/**
 * The `gemini` protocol: a key is required, an output cap is not; its request rules are the parts it
 * carries (files by media type and source), tool names and tool choices (`Request.check`).
 */
export const protocol: Protocol = {
  name: "gemini",
  requiresApiKey: true,
  requiresMaxOutputTokens: false,
  keyVariables,
  check: Request.check,
  make
}
