/**
 * Sending a prepared request and getting a usable response, shared by the protocols: secret headers
 * redacted from the HTTP client's spans, transport failures as `RetryableError` `connection`, and a
 * non-2xx response failed with the protocol's classification of its body. Streams use a scoped
 * client, so closing the caller's scope aborts the request and closes the connection.
 */
import type * as HttpClient from "@effect/platform/HttpClient"
import type * as HttpClientError from "@effect/platform/HttpClientError"
import type * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import type * as Fiber from "effect/Fiber"
import type * as Scope from "effect/Scope"
import type { LLMError } from "../../domain/Errors.js"
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

/** Reads a failed response's body and fails with the protocol's classification of it. */
export const failFromResponse = (
  response: HttpClientResponse.HttpClientResponse,
  context: Errors.ErrorContext,
  classify: Classify
): Effect.Effect<never, LLMError> =>
  Effect.flatMap(
    Effect.zip(Encoding.readBodyText(response), Clock.currentTimeMillis),
    ([text, now]) => Effect.fail(classify(response.status, text, response.headers, { ...context, now }))
  )

const isOk = (status: number) => status >= 200 && status < 300

/** The transport over `client` (use `NodeHttpClient.layerUndici` for its keep-alive pool). */
export const makeTransport = (client: HttpClient.HttpClient): Transport => {
  // Under Effect's native tracer no one reads the client's request span: sent without it (no span,
  // no URL and header attributes, no request copy to add trace headers). The fiber refs that say so,
  // and which headers to redact, are set once by the layer where it can (`ClientRefs.ts`), else around
  // the request.
  const run = <R>(
    fiber: Fiber.RuntimeFiber<unknown, unknown>,
    execute: Effect.Effect<HttpClientResponse.HttpClientResponse, HttpClientError.HttpClientError, R>,
    prepared: PreparedRequest,
    context: Errors.ErrorContext,
    classify: Classify
  ): Effect.Effect<HttpClientResponse.HttpClientResponse, LLMError, R> => {
    const checked = Effect.flatMap(
      Effect.mapError(execute, (error) => Errors.fromHttpClientError(error, context)),
      (response) => isOk(response.status) ? Effect.succeed(response) : failFromResponse(response, context, classify)
    )
    const untraced = !isTraced(fiber) && !ClientRefs.sendsUntraced(fiber, prepared.request)
    return untraced || !ClientRefs.redacts(fiber, prepared.secretHeaders)
      ? ClientRefs.locally(checked, prepared.secretHeaders, untraced)
      : checked
  }
  const register = (prepared: PreparedRequest, abort: AbortController | undefined) => {
    if (abort !== undefined) Abortable.registerRequest(prepared.request, abort)
  }
  return {
    send: (prepared, context, classify, abort) =>
      Effect.withFiberRuntime((fiber) => {
        register(prepared, abort)
        return run(fiber, client.execute(prepared.request), prepared, context, classify)
      }),
    open: (prepared, context, classify, scope, abort) =>
      Effect.withFiberRuntime((fiber) => {
        register(prepared, abort)
        return run(
          fiber,
          // uninterruptible from the response to its finalizer, so no response escapes the scope
          Effect.uninterruptibleMask((restore) =>
            Effect.tap(
              restore(client.execute(prepared.request)),
              (response) => Body.closeWithScope(response, scope, abort)
            )
          ),
          prepared,
          context,
          classify
        )
      })
  }
}

/** A 2xx body as text; a body cut mid-way is a broken connection (`RetryableError` `connection`), not a bad answer. */
export const readText = (
  response: HttpClientResponse.HttpClientResponse,
  context: Errors.ErrorContext
): Effect.Effect<string, LLMError> =>
  Effect.mapError(Encoding.text(response), (error) => Errors.fromHttpClientError(error, context))
