/**
 * The DashScope native protocol (Alibaba Qwen, `POST /api/v1/services/aigc/text-generation/generation`,
 * WIRE.md §2): encodes a `NormalizedRequest`, decodes unary and SSE answers (message or text result
 * format), and classifies every error shape DashScope sends into an `LLMError` in one function.
 */
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import type * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as Channel from "effect/Channel"
import * as Chunk from "effect/Chunk"
import * as Clock from "effect/Clock"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Stream from "effect/Stream"
import type { LLMError } from "../domain/Errors.js"
import { type FinishReason, fromOpenAIStyle } from "../domain/FinishReason.js"
import type { NormalizedRequest } from "../domain/Request.js"
import { TokenUsage } from "../domain/TokenUsage.js"
import * as HttpErrors from "../internal/HttpErrors.js"
import * as RetryAfter from "../internal/RetryAfter.js"
import * as Sse from "../internal/Sse.js"
import type { Provider, ProviderAnswer, ProviderChunk, ProviderTarget } from "./Provider.js"

/** The generation path, appended to an endpoint's `baseUrl` (the host). */
export const generationPath = "/api/v1/services/aigc/text-generation/generation"

/** Where an error happened, and when (epoch ms from `Clock`, to resolve an HTTP-date `Retry-After`). */
export interface ErrorContext extends HttpErrors.ErrorContext {
  readonly provider: "dashscope"
  readonly endpoint: string
  /** Without it only the delta forms of `Retry-After` / `retry-after-ms` are read. */
  readonly now?: number
}

/** Response headers, names lower-case (as `@effect/platform` `Headers` keeps them). */
type HeaderRecord = Readonly<Record<string, string | undefined>>

/**
 * The JSON body of a generation request: messages inside `input` (system first), `result_format:
 * "message"` always, `incremental_output: true` when streaming; unset parameters are omitted.
 */
export const encodeBody = (modelId: string, request: NormalizedRequest, stream: boolean) => {
  const messages: Array<{ role: "system" | "user" | "assistant"; content: string }> = []
  if (request.system !== undefined) messages.push({ role: "system", content: request.system })
  for (const message of request.messages) messages.push({ role: message.role, content: message.content })
  const parameters: Record<string, unknown> = { result_format: "message" }
  if (request.maxOutputTokens !== undefined) parameters.max_tokens = request.maxOutputTokens
  if (request.temperature !== undefined) parameters.temperature = request.temperature
  if (request.topP !== undefined) parameters.top_p = request.topP
  if (request.stop !== undefined && request.stop.length > 0) parameters.stop = request.stop
  if (stream) parameters.incremental_output = true
  return { model: modelId, input: { messages }, parameters }
}

/** The HTTP request of one attempt; the key stays `Redacted` until `bearerToken` sets the header. */
export const makeRequest = (
  target: ProviderTarget,
  request: NormalizedRequest,
  stream: boolean
): HttpClientRequest.HttpClientRequest => {
  const base = HttpClientRequest.post(target.endpoint.baseUrl.replace(/\/+$/, "") + generationPath).pipe(
    HttpClientRequest.bearerToken(target.apiKey),
    HttpClientRequest.bodyUnsafeJson(encodeBody(target.modelId, request, stream))
  )
  return stream
    ? HttpClientRequest.setHeaders(base, { "X-DashScope-SSE": "enable", Accept: "text/event-stream" })
    : HttpClientRequest.acceptJson(base)
}

// ---------------------------------------------------------------------------------------------------
// Decoding. Payloads are read with plain type guards rather than a Schema: a stream decodes one JSON
// payload per event, and every field is optional anyway (WIRE.md §2.3), so the guards are the
// lenient decoder and keep a 10,000-event stream at one JSON.parse per event.

type Json = Record<string, unknown>

const isObject = (u: unknown): u is Json => typeof u === "object" && u !== null && !Array.isArray(u)
const str = (u: unknown): string | undefined => (typeof u === "string" ? u : undefined)
const num = (u: unknown): number | undefined => (typeof u === "number" && Number.isFinite(u) ? u : undefined)

const parseJson = (text: string): unknown => {
  try {
    return JSON.parse(text.charCodeAt(0) === 0xfeff ? text.slice(1) : text)
  } catch {
    return undefined
  }
}

/** What one payload (unary body or stream event) says, message or text format. */
interface Generation {
  readonly content: string
  /** `undefined` while not finished (the string `"null"`, JSON null, or absent). */
  readonly finishReason: string | undefined
  readonly usage: TokenUsage | undefined
  readonly requestId: string | undefined
}

const decodeUsage = (u: unknown): TokenUsage | undefined => {
  if (!isObject(u)) return undefined
  const inputTokens = num(u.input_tokens) ?? 0
  const outputTokens = num(u.output_tokens) ?? 0
  // Validation disabled: the fields were just checked to be finite numbers (this runs once per stream event).
  return new TokenUsage({ inputTokens, outputTokens, totalTokens: num(u.total_tokens) ?? inputTokens + outputTokens }, true)
}

/** Reads a payload with an `output` object; `undefined` when it has none. `reasoning_content` is ignored. */
const decodeGeneration = (payload: unknown): Generation | undefined => {
  if (!isObject(payload) || !isObject(payload.output)) return undefined
  const output = payload.output
  let content = ""
  let finish: unknown = output.finish_reason
  const choice = Array.isArray(output.choices) ? output.choices[0] : undefined
  if (isObject(choice)) {
    if (isObject(choice.message)) content = str(choice.message.content) ?? ""
    if (choice.finish_reason !== undefined) finish = choice.finish_reason
  } else {
    content = str(output.text) ?? ""
  }
  const finishReason = typeof finish === "string" && finish !== "null" && finish !== "" ? finish : undefined
  return { content, finishReason, usage: decodeUsage(payload.usage), requestId: str(payload.request_id) }
}

// ---------------------------------------------------------------------------------------------------
// Errors

/** An error payload's fields, from the flat native shape or the OpenAI-compatible `{error:{…}}` one. */
interface ErrorPayload {
  readonly code: string | undefined
  readonly type: string | undefined
  readonly message: string | undefined
  readonly requestId: string | undefined
}

const readErrorPayload = (payload: unknown): ErrorPayload | undefined => {
  if (!isObject(payload)) return undefined
  const nested = isObject(payload.error) ? payload.error : undefined
  const code = str(payload.code) ?? str(nested?.code)
  const message = str(payload.message) ?? str(nested?.message)
  const type = str(nested?.type) ?? str(payload.type)
  if (code === undefined && message === undefined && type === undefined) return undefined
  return { code, type, message, requestId: str(payload.request_id) }
}

const httpStatusComment = /^\s*HTTP_STATUS\/(\d{3})/

/** The status a `:HTTP_STATUS/NNN` comment of an SSE event announces. */
const commentStatus = (comments: ReadonlyArray<string>): number | undefined => {
  for (const comment of comments) {
    const match = httpStatusComment.exec(comment)
    if (match !== null) return Number(match[1])
  }
  return undefined
}

const retryAfterOf = (headers: HeaderRecord, now: number | undefined): Duration.Duration | undefined => {
  if (now !== undefined) return RetryAfter.fromHeaders(headers, now)
  const seconds = headers["retry-after"]
  return RetryAfter.parseRetryAfterMs(headers["retry-after-ms"]) ??
    (seconds !== undefined && /^\s*\d+(\.\d+)?\s*$/.test(seconds) ? RetryAfter.parseRetryAfter(seconds, 0) : undefined)
}

/** The error class a DashScope (or OpenAI-compatible) `code`/`type` names; `undefined` for unknown codes. */
const classOfCode = (code: string, type: string | undefined, message: string | undefined): HttpErrors.StatusClass | undefined => {
  // Quota that waiting cannot clear (API.md §3): "Free allocated quota exceeded" (the free tier is spent;
  // sent as Throttling.AllocationQuota, whose TPM variant "Allocated quota exceeded" is transient) and
  // OpenAI-style `insufficient_quota`. WIRE.md §3 notes the compatible mode's TPM throttle also says
  // `insufficient_quota` while transient; we follow API.md and fail at once, since the same words
  // also mean a spent balance, and a wrongly failed call is cheaper than minutes of futile retries.
  if (/free allocated quota exceeded/i.test(message ?? "") || code === "insufficient_quota" || type === "insufficient_quota") {
    return { _tag: "RateLimitError", reason: "quota_exhausted" }
  }
  if (code.startsWith("Throttling") || code === "rate_limit_exceeded" || type === "rate_limit_exceeded") {
    return { _tag: "RateLimitError", reason: "rate_limited" }
  }
  if (code === "DataInspectionFailed" || code === "data_inspection_failed") return { _tag: "FatalError", reason: "content_filter" }
  if (code === "InvalidApiKey" || code === "invalid_api_key") return { _tag: "FatalError", reason: "authentication" }
  // Before InternalError*: "InternalError.Algo.InvalidParameter" is a bad request, not a server fault.
  if (
    code.includes("InvalidParameter") || code.startsWith("BadRequest") || code === "InvalidURL" ||
    code === "UnsupportedOperation" || code === "Arrearage"
  ) return { _tag: "FatalError", reason: "invalid_request" }
  if (code.startsWith("AccessDenied")) return { _tag: "FatalError", reason: "permission_denied" }
  if (code === "ModelNotFound" || code === "model_not_found") return { _tag: "FatalError", reason: "not_found" }
  if (code === "RequestTimeOut") return { _tag: "RetryableError", reason: "timeout" }
  if (code.startsWith("InternalError") || code === "SystemError" || code === "ModelServingError" || code === "ModelUnavailable") {
    return { _tag: "RetryableError", reason: "server_error" }
  }
  return undefined
}

const classifyPayload = (
  status: number,
  payload: ErrorPayload | undefined,
  rawText: string,
  headers: HeaderRecord,
  context: ErrorContext,
  said = `answered HTTP ${status}`
): LLMError => {
  const serverMessage = payload?.message ?? rawText
  const label = [payload?.code, payload?.type !== payload?.code ? payload?.type : undefined].filter((s) => s !== undefined).join(" / ")
  const requestId = payload?.requestId ?? headers["x-request-id"]
  const text = HttpErrors.truncate(serverMessage)
  const what = `${context.provider} (${context.endpoint}) ${said}${label ? ` ${label}` : ""}${text ? `: ${text}` : ""}` +
    (requestId !== undefined ? ` (request_id ${requestId})` : "")
  const statusClass: HttpErrors.StatusClass =
    (payload !== undefined ? classOfCode(payload.code ?? "", payload.type, payload.message) : undefined) ??
      (status < 400 ? { _tag: "FatalError", reason: "bad_response" } : HttpErrors.classifyStatus(status))
  const message = statusClass._tag === "FatalError" && statusClass.reason === "authentication"
    ? `DashScope rejected the API key: ${what}. DashScope keys are region-bound: check that the key was ` +
      `issued for the region of endpoint "${context.endpoint}" (a key from another region is refused).`
    : what
  return HttpErrors.makeError(statusClass, message, {
    provider: context.provider,
    endpoint: context.endpoint,
    status,
    retryAfter: statusClass._tag === "RateLimitError" ? retryAfterOf(headers, context.now) : undefined
  })
}

/**
 * Classifies a failed DashScope answer into an `LLMError`: by the body's `code` (or OpenAI-style
 * `type`) first, then by status (WIRE.md §2.5). The body may be the flat native
 * `{code,message,request_id}`, OpenAI-shaped `{error:{message,type,code}}`, SSE-framed
 * (`event:error … data:{…}`: the first `data:` line is read, and its `:HTTP_STATUS/NNN` comment
 * replaces a 2xx `status`), raw JSON under any content type, or not JSON at all. `retryAfter` comes
 * from `retry-after-ms` / `Retry-After` (DashScope sends neither today, so it is usually undefined).
 */
export const classifyError = (
  status: number,
  bodyText: string,
  headers: HeaderRecord,
  context: ErrorContext
): LLMError => {
  let payload = readErrorPayload(parseJson(bodyText.trim()))
  let effectiveStatus = status
  if (payload === undefined) {
    for (const event of Sse.parseAll(bodyText)) {
      const announced = commentStatus(event.comments)
      if (announced !== undefined && status >= 200 && status < 300) effectiveStatus = announced
      if (event.data !== undefined) {
        payload = readErrorPayload(parseJson(event.data))
        break
      }
    }
  }
  return classifyPayload(effectiveStatus, payload, payload === undefined ? bodyText : "", headers, context)
}

// ---------------------------------------------------------------------------------------------------
// HTTP

const badResponse = (detail: string, context: ErrorContext, status?: number) =>
  HttpErrors.badResponse(detail, { provider: context.provider, endpoint: context.endpoint, ...(status !== undefined ? { status } : {}) })

/**
 * Decodes a 2xx unary body. A body with `output` is the answer; one carrying an error payload (a
 * `code`, an `error` object, or an `event:error` frame) is classified; anything else is `bad_response`.
 */
export const decodeAnswer = (
  bodyText: string,
  status: number,
  headers: HeaderRecord,
  context: ErrorContext
): Either.Either<ProviderAnswer, LLMError> => {
  const payload = parseJson(bodyText.trim())
  const generation = decodeGeneration(payload)
  if (generation !== undefined) {
    return Either.right({
      content: generation.content,
      usage: generation.usage ?? TokenUsage.zero,
      finishReason: fromOpenAIStyle(generation.finishReason),
      requestId: generation.requestId ?? headers["x-request-id"],
      modelVersion: undefined
    })
  }
  if ((isObject(payload) && (payload.code !== undefined || isObject(payload.error))) || /^\s*event:\s*error/m.test(bodyText)) {
    return Either.left(classifyError(status, bodyText, headers, context))
  }
  const detail = payload === undefined ? `the body is not JSON: ${bodyText}` : `no \`output\` in the body: ${bodyText}`
  return Either.left(badResponse(detail, context, status))
}

type EventChannel = Channel.Channel<Chunk.Chunk<ProviderChunk>, Chunk.Chunk<Sse.SseEvent>, LLMError, LLMError, void, unknown>

/** Raw (non-SSE) text kept from a stream with no event yet: a 200 whose body is a plain JSON error. */
const maxRawText = 64 * 1024

/**
 * Turns SSE events into chunks, one output chunk per network read: fails on an `event:error` (after
 * emitting the deltas before it), and at the end of the body when no finish_reason was seen (a cut).
 * Content moderation (`DataInspectionFailed`) that cuts a stream after text is its end, with finish
 * reason `filter` (WIRE.md §2.5), as Gemini's SAFETY is; before any text it is the `FatalError`.
 */
const decodeEvents = (headers: HeaderRecord, context: ErrorContext): EventChannel =>
  Channel.suspend(() => {
    let finished = false
    let sawText = false
    let sawEvent = false
    let rawText = ""
    let requestId: string | undefined = headers["x-request-id"]
    const loop: EventChannel = Channel.readWithCause({
      onInput: (events: Chunk.Chunk<Sse.SseEvent>) => {
        const out: Array<ProviderChunk> = []
        let failure: LLMError | undefined
        for (const event of events) {
          if (!sawEvent && event.raw.length > 0 && rawText.length < maxRawText) rawText += `${event.raw.join("\n")}\n`
          if (event.data === undefined || event.data.length === 0) continue // id-only or empty trailing events
          sawEvent = true
          const payload = parseJson(event.data)
          const generation = event.event === "error" ? undefined : decodeGeneration(payload)
          if (generation === undefined) {
            const errorPayload = readErrorPayload(payload)
            const status = commentStatus(event.comments)
            failure = event.event === "error" || errorPayload !== undefined
              ? classifyPayload(status ?? 200, errorPayload, event.data, headers, context,
                `sent an error event mid-stream${status !== undefined ? ` (HTTP_STATUS/${status})` : ""}`)
              : payload === undefined && event.unterminated === true
              ? HttpErrors.streamInterrupted("the stream ended in the middle of an event", context)
              : badResponse(`a stream event is not ${payload === undefined ? "JSON" : "a generation"}: ${event.data}`, context, 200)
            if (sawText && failure._tag === "FatalError" && failure.reason === "content_filter") {
              out.push({ delta: "", usage: undefined, finishReason: "filter", requestId, modelVersion: undefined })
              return Channel.zipRight(Channel.write(Chunk.unsafeFromArray(out)), Channel.void)
            }
            break
          }
          if (generation.requestId !== undefined) requestId = generation.requestId
          if (generation.content.length > 0) sawText = true
          let finishReason: FinishReason | undefined
          if (generation.finishReason !== undefined) {
            finishReason = fromOpenAIStyle(generation.finishReason)
            finished = true
          }
          out.push({ delta: generation.content, usage: generation.usage, finishReason, requestId, modelVersion: undefined })
        }
        const next: EventChannel = failure === undefined ? loop : Channel.fail(failure)
        return out.length === 0 ? next : Channel.zipRight(Channel.write(Chunk.unsafeFromArray(out)), next)
      },
      onFailure: (cause) => Channel.failCause(cause),
      onDone: () => {
        if (finished) return Channel.void
        // A 200 whose body is a plain JSON error rather than SSE events: classified by its code.
        const errorPayload = sawEvent ? undefined : readErrorPayload(parseJson(rawText.trim()))
        return Channel.fail(
          errorPayload !== undefined
            ? classifyPayload(200, errorPayload, rawText, headers, context, "answered HTTP 200 with an error body")
            : HttpErrors.streamInterrupted("the stream ended without a finish_reason", context)
        )
      }
    })
    return loop
  })

/** Reads a non-2xx (or error-carrying) response body and classifies it. */
const failFromResponse = (response: HttpClientResponse.HttpClientResponse, context: ErrorContext) =>
  Effect.flatMap(Effect.zip(HttpErrors.readBodyText(response), Clock.currentTimeMillis), ([text, now]) =>
    Effect.fail(classifyError(response.status, text, response.headers, { ...context, now })))

// Spans without a creation stack trace (see Gemini.ts): building an `Error` per call costs more than the span.
const spanOptions = { captureStackTrace: false } as const

/** Builds the DashScope provider on the `HttpClient` in context (`authorization` is redacted by default). */
export const make: Effect.Effect<Provider, never, HttpClient.HttpClient> = Effect.map(HttpClient.HttpClient, (client) => {
  const scopedClient = HttpClient.withScope(client)
  const contextOf = (target: ProviderTarget): ErrorContext => ({ provider: "dashscope", endpoint: target.endpoint.name })

  const generate = (target: ProviderTarget, request: NormalizedRequest) =>
    Effect.gen(function*() {
      const context = contextOf(target)
      const response = yield* client.execute(makeRequest(target, request, false)).pipe(
        Effect.mapError((error) => HttpErrors.fromHttpClientError(error, context))
      )
      if (response.status < 200 || response.status >= 300) return yield* failFromResponse(response, context)
      // A 2xx body cut mid-way is a broken connection, not an undecodable answer.
      const text = yield* Effect.mapError(response.text, (error) => HttpErrors.fromHttpClientError(error, context))
      const now = yield* Clock.currentTimeMillis
      return yield* decodeAnswer(text, response.status, response.headers, { ...context, now })
    }).pipe(Effect.withSpan("DashScope.generate", spanOptions))

  const stream = (target: ProviderTarget, request: NormalizedRequest) =>
    Effect.gen(function*() {
      const context = contextOf(target)
      // Scoped: closing the caller's scope aborts the request and closes the connection.
      const response = yield* scopedClient.execute(makeRequest(target, request, true)).pipe(
        Effect.mapError((error) => HttpErrors.fromHttpClientError(error, context))
      )
      if (response.status !== 200) return yield* failFromResponse(response, context)
      const bytes = Stream.mapError(response.stream, (error) => HttpErrors.fromHttpClientError(error, context, "stream_interrupted"))
      return Stream.pipeThroughChannel(Sse.decodeBytes(bytes), decodeEvents(response.headers, context))
    }).pipe(Effect.withSpan("DashScope.stream", spanOptions))

  return { name: "dashscope", generate, stream } satisfies Provider
})
