/**
 * Sending a prepared request and getting a usable response, shared by the protocols: secret headers
 * redacted from the HTTP client's spans, transport failures as `RetryableError` `connection`, and a
 * non-2xx response failed with the protocol's classification of its body. Streams use a scoped
 * client, so closing the caller's scope aborts the request and closes the connection.
 */
import * as Headers from "@effect/platform/Headers"
import * as HttpClient from "@effect/platform/HttpClient"
import type * as HttpClientError from "@effect/platform/HttpClientError"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import type * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as HttpTraceContext from "@effect/platform/HttpTraceContext"
import * as UrlParams from "@effect/platform/UrlParams"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import type * as Fiber from "effect/Fiber"
import * as FiberRef from "effect/FiberRef"
import type * as Scope from "effect/Scope"
import { FatalError, type LLMError, markRetryRefused } from "../../domain/Errors.js"
import * as OnFailure from "../../internal/OnFailure.js"
import * as Scrub from "../../internal/Scrub.js"
import { isTraced } from "../../internal/Spans.js"
import * as Abortable from "./Abortable.js"
import * as Body from "./Body.js"
import * as ClientRefs from "./ClientRefs.js"
import * as Encoding from "./Encoding.js"
import * as Errors from "./Errors.js"
import type { PreparedRequest } from "./Request.js"

/** A protocol's classification of a failed answer: status, body text, response headers (names lower-case). */
export type Classify = (
  status: number,
  bodyText: string,
  headers: Readonly<Record<string, string | undefined>>,
  context: Errors.ClassifyContext
) => LLMError

/** Sends requests over one `HttpClient`. */
export interface Transport {
  /**
   * Sends a request whose body is read whole; succeeds with a 2xx response. With `abort` (only over a
   * client `Abortable.abortsRequests` says honours it), the request is sent under that `AbortController`: the
   * caller aborts it (on its timeout, or its interruption), and the client adds no controller of its own.
   */
  readonly send: (
    prepared: PreparedRequest,
    context: Errors.ErrorContext,
    classify: Classify,
    abort?: AbortController
  ) => Effect.Effect<HttpClientResponse.HttpClientResponse, LLMError>
  /**
   * Sends a request whose body is streamed; succeeds with a 2xx response that belongs to `scope`:
   * closing it before the body's end aborts the request (`Body.closeWithScope`). `abort` as for `send`.
   */
  readonly open: (
    prepared: PreparedRequest,
    context: Errors.ErrorContext,
    classify: Classify,
    scope: Scope.Scope,
    abort?: AbortController
  ) => Effect.Effect<HttpClientResponse.HttpClientResponse, LLMError>
}

/**
 * A 3xx's error says it was a redirect, and where to: redirects are never followed (the key would go
 * to another origin), and the usual cause is a `base_url` off by its scheme or a path segment.
 */
const redirectNamed = (error: LLMError, location: string | undefined): LLMError =>
  error._tag === "FatalError" && error.status !== undefined && error.status >= 300 && error.status < 400
    ? new FatalError({
      reason: error.reason,
      message: `${error.message} (a redirect${
        location === undefined ? "" : ` to ${location}`
      }, not followed: check the endpoint's base_url)`,
      provider: error.provider,
      endpoint: error.endpoint,
      status: error.status
    })
    : error

/** How long an error status's body is read before it is classified without it. */
export const errorBodyWait = Duration.seconds(2)

/** Reads a failed response's body and fails with the protocol's classification of it. */
export const failFromResponse = (
  response: HttpClientResponse.HttpClientResponse,
  context: Errors.ErrorContext,
  classify: Classify
): Effect.Effect<never, LLMError> =>
  Effect.flatMap(
    Effect.zip(
      // An error body arrives with its status; one that stalls (a proxy) is classified by its status and
      // headers alone, not left to the attempt's timeout, which would make a 401 a retried `timeout`
      Effect.timeoutTo(Encoding.readBodyText(response), {
        duration: errorBodyWait,
        onSuccess: (text) => text,
        onTimeout: () => ""
      }),
      Clock.currentTimeMillis
    ),
    ([text, now]) => {
      const headers = Body.headersOf(response)
      const error = redirectNamed(classify(response.status, text, headers, { ...context, now }), headers.location)
      // the server's own verdict (OpenAI's and Anthropic's SDKs obey it): only a "no" is taken, as it
      // never sends more requests than the status alone would
      return Effect.fail(headers["x-should-retry"]?.trim().toLowerCase() === "false" ? markRetryRefused(error) : error)
    }
  )

const isOk = (status: number) => status >= 200 && status < 300

/**
 * Under an installed tracer every request goes without the client's span and under one made as the
 * client makes it (name, kind, attributes, trace headers; ended when the response arrives, or with the
 * transport's failure), every attribute scrubbed of the request's secrets (API.md §14): the client's
 * span records the URL as it is (`url.full`, `url.query`: a `base_url`'s password or query value) and
 * every response header's value, which a server may set to what it was sent (a key), and it can
 * redact a header only by name.
 */
const withScrubbedSpan = <R>(
  fiber: Fiber.RuntimeFiber<unknown, unknown>,
  prepared: PreparedRequest,
  send: (
    request: HttpClientRequest.HttpClientRequest
  ) => Effect.Effect<HttpClientResponse.HttpClientResponse, LLMError, R>
): Effect.Effect<HttpClientResponse.HttpClientResponse, LLMError, R> => {
  const request = prepared.request
  const url = UrlParams.makeUrl(request.url, request.urlParams, request.hash)
  // (An invalid URL makes no span: the client fails it before any.)
  if (Either.isLeft(url)) return send(request)
  const scrub = Scrub.make(prepared.secrets)
  const redacted = [
    ...fiber.getFiberRef(Headers.currentRedactedNames),
    ...prepared.secretHeaders,
    ...ClientRefs.echoedHeaderNames
  ]
  const name = Context.get(fiber.currentContext, HttpClient.SpanNameGenerator)(request)
  return Effect.useSpan(name, { kind: "client", captureStackTrace: false }, (span) => {
    span.attribute("http.request.method", request.method)
    span.attribute("server.address", url.right.origin)
    if (url.right.port !== "") span.attribute("server.port", +url.right.port)
    span.attribute("url.full", scrub(url.right.toString()))
    span.attribute("url.path", scrub(url.right.pathname))
    span.attribute("url.scheme", url.right.protocol.slice(0, -1))
    const query = url.right.search.slice(1)
    if (query !== "") span.attribute("url.query", scrub(query))
    for (const [header, value] of Object.entries(Headers.redact(request.headers, redacted))) {
      span.attribute(`http.request.header.${header}`, scrub(String(value)))
    }
    const sent = fiber.getFiberRef(HttpClient.currentTracerPropagation)
      ? HttpClientRequest.setHeaders(request, HttpTraceContext.toHeaders(span))
      : request
    return Effect.withParentSpan(send(sent), span).pipe(
      Effect.tap((response) => {
        span.attribute("http.response.status_code", response.status)
        for (const [header, value] of Object.entries(Headers.redact(response.headers, redacted))) {
          span.attribute(`http.response.header.${header}`, scrub(String(value)))
        }
      }),
      // The span records the error it ends with (an exporter sends it): never the request's secrets.
      Effect.mapError((error) => Scrub.scrubError(scrub, error))
    )
  })
}

/**
 * Whether the request gets effect-llm's HTTP span (and trace headers): as the client decides for its
 * own, an installed tracer, tracing enabled (`Effect.withTracerEnabled`), and the caller's
 * `HttpClient.currentTracerDisabledWhen` not turning it off for this request.
 */
const spanned = (fiber: Fiber.RuntimeFiber<unknown, unknown>, request: HttpClientRequest.HttpClientRequest) =>
  isTraced(fiber) && fiber.getFiberRef(FiberRef.currentTracerEnabled) &&
  !fiber.getFiberRef(HttpClient.currentTracerDisabledWhen)(request)

/** The transport over `client` (use `NodeHttpClient.layerUndici` for its keep-alive pool). */
export const makeTransport = (client: HttpClient.HttpClient): Transport => {
  // Every request goes without the client's own span: under Effect's native tracer no one reads it (no
  // span, no URL and header attributes, no request copy to add trace headers), under any other
  // `withScrubbedSpan` stands in for it. The fiber refs that say so, and which headers to redact (in
  // logs), are set once by the layer where it can (`ClientRefs.ts`), else around the request. A client
  // of the user's may replace the request on the way (`HttpClient.mapRequest`), so the mark
  // `sendsUntraced` puts on this request would not reach the one the platform's span sees: over any
  // client but the live pool, the span is turned off around the request instead.
  const ownPool = Abortable.abortsRequests(client)
  const run = <R>(
    fiber: Fiber.RuntimeFiber<unknown, unknown>,
    execute: Effect.Effect<HttpClientResponse.HttpClientResponse, HttpClientError.HttpClientError, R>,
    request: HttpClientRequest.HttpClientRequest,
    secretHeaders: ReadonlyArray<string>,
    context: Errors.ErrorContext
  ): Effect.Effect<HttpClientResponse.HttpClientResponse, LLMError, R> => {
    // A client of the user's may turn a non-2xx answer into an error (`HttpClient.filterStatusOk`):
    // that answer is still the server's, classified by its status like any other.
    const answered = ownPool ? execute : Effect.catchIf(
      execute,
      (error): error is HttpClientError.ResponseError =>
        error._tag === "ResponseError" && error.reason === "StatusCode",
      (error) => Effect.succeed(error.response)
    )
    const sent = OnFailure.mapError(answered, (error) => Errors.fromHttpClientError(error, context))
    const untraced = !ownPool || !ClientRefs.sendsUntraced(fiber, request)
    return untraced || !ClientRefs.redacts(fiber, secretHeaders)
      ? ClientRefs.locally(sent, secretHeaders, untraced)
      : sent
  }
  /**
   * Sends `prepared` with `execute`, under the span its URL calls for; a non-2xx answer is classified
   * after that span ended, as after the client's own: the error made from the body quotes what the
   * server echoed (a key, the URL's token), which only the attempt's scrubbing removes, and a span
   * records the error it ends with.
   */
  const sendWith = <R>(
    fiber: Fiber.RuntimeFiber<unknown, unknown>,
    prepared: PreparedRequest,
    abort: AbortController | undefined,
    execute: (
      request: HttpClientRequest.HttpClientRequest
    ) => Effect.Effect<HttpClientResponse.HttpClientResponse, HttpClientError.HttpClientError, R>,
    context: Errors.ErrorContext,
    classify: Classify
  ): Effect.Effect<HttpClientResponse.HttpClientResponse, LLMError, R> => {
    const send = (request: HttpClientRequest.HttpClientRequest) => {
      if (abort !== undefined) Abortable.registerRequest(request, abort)
      return run(fiber, execute(request), request, prepared.secretHeaders, context)
    }
    return Effect.flatMap(
      spanned(fiber, prepared.request) ? withScrubbedSpan(fiber, prepared, send) : send(prepared.request),
      (response) => isOk(response.status) ? Effect.succeed(response) : failFromResponse(response, context, classify)
    )
  }
  return {
    send: (prepared, context, classify, abort) =>
      Effect.withFiberRuntime((fiber) => sendWith(fiber, prepared, abort, client.execute, context, classify)),
    open: (prepared, context, classify, scope, abort) =>
      Effect.withFiberRuntime((fiber) =>
        sendWith(
          fiber,
          prepared,
          abort,
          // uninterruptible from the response to its finalizer, so no response escapes the scope
          (request) =>
            Effect.uninterruptibleMask((restore) =>
              Effect.tap(
                restore(client.execute(request)),
                (response) => Body.closeWithScope(response, scope, abort)
              )
            ),
          context,
          classify
        )
      )
  }
}

/** A 2xx body as text; a body cut mid-way is a broken connection (`RetryableError` `connection`), not a bad answer. */
export const readText = (
  response: HttpClientResponse.HttpClientResponse,
  context: Errors.ErrorContext
): Effect.Effect<string, LLMError> =>
  OnFailure.mapError(Encoding.text(response), (error) => Errors.fromHttpClientError(error, context))
