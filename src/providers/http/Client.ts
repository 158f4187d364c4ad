/**
 * The one shape of a protocol's HTTP client: an attempt encodes the request, sends it through the
 * transport (`Response.ts`) and decodes the whole answer, or the stream through a fresh event handler
 * (`EventStream.ts`); a failed status is the protocol's classification. A protocol's `Client.ts`
 * supplies those parts (its `Codec`).
 */
import * as HttpClient from "@effect/platform/HttpClient"
import type * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type { LLMError } from "../../domain/Errors.js"
import type { CallRequest } from "../../domain/Prompt.js"
import type { ProviderAnswer, ProviderClient, ProviderTarget, StreamPart } from "../Provider.js"
import * as Abortable from "./Abortable.js"
import * as Assemble from "./Assemble.js"
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
  /**
   * Models the service answers only as a stream (it refuses a unary call to them): their unary calls
   * are sent as streams and the parts assembled into the answer (`Assemble.ts`).
   */
  readonly streamsOnly?: (modelId: string) => boolean
  /**
   * A stream request the server refused for an option it need not carry (OpenAI's `stream_options`
   * at Mistral, older Azure API versions): that request without it, sent once more; else `undefined`.
   */
  readonly streamWithout?: (
    error: LLMError,
    target: ProviderTarget,
    request: CallRequest
  ) => PreparedRequest | undefined
  /**
   * Whether a unary request answered with SSE events (a proxy that streamed it) is read through
   * `streamHandler`; not for DashScope, whose events without `incremental_output` (a unary request
   * sends none) each hold the whole text so far.
   */
  readonly unaryEvents?: false
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

/** The context with the time a `Retry-After` date is measured from (a literal: a spread copies per call). */
const classifyContext = (context: Errors.ErrorContext, now: number): Errors.ClassifyContext => ({
  provider: context.provider,
  endpoint: context.endpoint,
  now
})

/** A stream's parts as the unary answer, with the warnings they carried (logged by the call, scrubbed: API.md §14). */
const assembled = (parts: ReadonlyArray<StreamPart>): ProviderAnswer => {
  const { answer, warnings } = Assemble.answerOf(parts)
  return warnings.length === 0 ? answer : { ...answer, warnings }
}

const isBadResponse = (error: LLMError): boolean => error._tag === "FatalError" && error.reason === "bad_response"

/** A body that reads as SSE events: a field (`event:`, `data:`, `id:`, `retry:`) or a comment (`: …`) first. */
const looksLikeEvents = (text: string): boolean => /^\s*(?:event|data|id|retry)?:/.test(text)

/** A protocol's client over the `HttpClient` in context. */
export const make = (codec: Codec): Effect.Effect<ProviderClient, never, HttpClient.HttpClient> =>
  Effect.map(HttpClient.HttpClient, (client) => {
    const transport = Response.makeTransport(client)
    /** Sends a streamed request; a 2xx response with its context and its events' decoder. */
    const openResponse = (
      target: ProviderTarget,
      request: CallRequest,
      scope: Scope.Scope,
      abort: AbortController | undefined
    ) =>
      Effect.clockWith((clock) => {
        const context = contextOf(target)
        const opened = transport.open(codec.encode(target, request, true), context, codec.classify, scope, abort)
        const resend = codec.streamWithout
        return Effect.map(
          resend === undefined ? opened : Effect.catchAll(opened, (error) => {
            const again = resend(error, target, request)
            return again === undefined
              ? Effect.fail(error)
              : transport.open(again, context, codec.classify, scope, abort)
          }),
          (response) => ({
            response,
            context,
            makeHandler: codec.streamHandler(response, classifyContext(context, clock.unsafeCurrentTimeMillis()), {
              target,
              request
            })
          })
        )
      })
    /** A unary call sent as a stream: every part read (no idle limit: the attempt's timeout bounds it), then assembled. */
    const generateOverStream = (
      target: ProviderTarget,
      request: CallRequest,
      abort: AbortController | undefined,
      observe: ((part: StreamPart) => void) | undefined
    ) =>
      Effect.scopeWith((scope) =>
        Effect.flatMap(
          openResponse(target, request, scope, abort),
          ({ context, makeHandler, response }) =>
            Effect.flatMap(
              Effect.flatMap(
                EventStream.openPull(response, context, makeHandler, undefined, scope),
                (pull) => Assemble.drain(pull, observe)
              ),
              (parts) => Effect.succeed(assembled(parts))
            )
        )
      ).pipe(Effect.scoped)
    return {
      abortsRequests: Abortable.abortsRequests(client),
      generate: (target, request, abort, observe) =>
        codec.streamsOnly?.(target.modelId) === true ?
          generateOverStream(target, request, abort, observe) :
          Effect.clockWith((clock) => {
            const context = contextOf(target)
            return Effect.flatMap(
              transport.send(codec.encode(target, request, false), context, codec.classify, abort),
              (response) =>
                Effect.flatMap(
                  Response.readText(response, context),
                  (text): Effect.Effect<ProviderAnswer, LLMError> => {
                    const classifying = classifyContext(context, clock.unsafeCurrentTimeMillis())
                    const call = { target, request }
                    const decoded = codec.decode(text, response, classifying, call)
                    // a proxy that answered the unary request with its stream (claude-code#87842):
                    // the events, read whole, are the answer (and its usage what was billed)
                    return Either.isLeft(decoded) && codec.unaryEvents !== false && isBadResponse(decoded.left) &&
                        looksLikeEvents(text)
                      ? Effect.map(
                        Stream.runCollect(
                          EventStream.decode(
                            Stream.succeed(new TextEncoder().encode(text)),
                            context,
                            codec.streamHandler(response, classifying, call)
                          )
                        ),
                        (parts) => assembled(Chunk.toReadonlyArray(parts))
                      )
                      : decoded
                  }
                )
            )
          }),
      stream: (target, request) =>
        Effect.flatMap(Effect.scope, (scope) =>
          Effect.map(
            openResponse(target, request, scope, undefined),
            ({ context, makeHandler, response }) => EventStream.fromResponse(response, context, makeHandler)
          )),
      openStream: (target, request, idle, scope, abort) =>
        Effect.flatMap(
          openResponse(target, request, scope, abort),
          ({ context, makeHandler, response }) => EventStream.openPull(response, context, makeHandler, idle, scope)
        )
    }
  })
