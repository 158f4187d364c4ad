/**
 * The one shape of a protocol's HTTP client: an attempt encodes the request, sends it through the
 * transport (`Response.ts`) and decodes the whole answer, or the stream through a fresh event handler
 * (`EventStream.ts`); a failed status is the protocol's classification. A protocol's `Client.ts`
 * supplies those parts (its `Codec`).
 */
import * as HttpClient from "@effect/platform/HttpClient"
import type * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import type * as Either from "effect/Either"
import type { LLMError } from "../../domain/Errors.js"
import type { CallRequest } from "../../domain/Prompt.js"
import type { ProviderAnswer, ProviderClient, ProviderTarget } from "../Provider.js"
import type * as Errors from "./Errors.js"
import * as EventStream from "./EventStream.js"
import type { PreparedRequest } from "./Request.js"
import * as Response from "./Response.js"

/** What a protocol supplies: its request encoding, failure classification and decoders. */
export interface Codec {
  readonly encode: (target: ProviderTarget, request: CallRequest, streaming: boolean) => PreparedRequest
  readonly classify: Response.Classify
  /** Decodes a 2xx body read whole. */
  readonly decode: (
    bodyText: string,
    response: HttpClientResponse.HttpClientResponse,
    context: Errors.ClassifyContext,
    call: { readonly target: ProviderTarget; readonly request: CallRequest }
  ) => Either.Either<ProviderAnswer, LLMError>
  /** The decoder of one 2xx stream's events. */
  readonly streamHandler: (
    response: HttpClientResponse.HttpClientResponse,
    context: Errors.ClassifyContext,
    call: { readonly target: ProviderTarget; readonly request: CallRequest }
  ) => () => EventStream.EventHandler
}

const contextOf = (target: ProviderTarget): Errors.ErrorContext => ({
  provider: target.provider,
  endpoint: target.endpoint.name
})

/** A protocol's client over the `HttpClient` in context. */
export const make = (codec: Codec): Effect.Effect<ProviderClient, never, HttpClient.HttpClient> =>
  Effect.map(HttpClient.HttpClient, (client) => {
    const transport = Response.makeTransport(client)
    /** Sends a streamed request; a 2xx response with its context and its events' decoder. */
    const openResponse = (target: ProviderTarget, request: CallRequest) =>
      Effect.gen(function*() {
        const context = contextOf(target)
        const response = yield* transport.open(codec.encode(target, request, true), context, codec.classify)
        const now = yield* Clock.currentTimeMillis
        return {
          response,
          context,
          makeHandler: codec.streamHandler(response, { ...context, now }, { target, request })
        }
      })
    return {
      generate: (target, request) =>
        Effect.gen(function*() {
          const context = contextOf(target)
          const response = yield* transport.send(codec.encode(target, request, false), context, codec.classify)
          const text = yield* Response.readText(response, context)
          const now = yield* Clock.currentTimeMillis
          return yield* codec.decode(text, response, { ...context, now }, { target, request })
        }),
      stream: (target, request) =>
        Effect.map(
          openResponse(target, request),
          ({ context, makeHandler, response }) => EventStream.fromResponse(response, context, makeHandler)
        ),
      openStream: (target, request, idle) =>
        Effect.flatMap(
          openResponse(target, request),
          ({ context, makeHandler, response }) => EventStream.openPull(response, context, makeHandler, idle)
        )
    }
  })
