/**
 * The OpenAI client over an `HttpClient`: one attempt encodes the request (`Request.ts`), sends it and
 * decodes the answer (`Response.ts`, `Stream.ts`) or classifies the failure (`Errors.ts`). Loaded when
 * `Providers.layerHttp` is built, not with the package (`OpenAI.ts` holds the rules a call checks first).
 */
import * as HttpClient from "@effect/platform/HttpClient"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as EventStream from "../http/EventStream.js"
import * as Response from "../http/Response.js"
import type { ProviderClient, ProviderTarget } from "../Provider.js"
import * as Errors from "./Errors.js"
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
