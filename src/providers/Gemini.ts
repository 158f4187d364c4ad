/**
 * The Gemini API (v1beta) wire protocol: encodes a `NormalizedRequest`, decodes unary answers and
 * `alt=sse` streams (WIRE.md §1), and classifies failures — HTTP statuses, google.rpc error bodies,
 * errors inside a 200 stream, cut streams — into `LLMError`s. No retry or routing here.
 */
import * as Headers from "@effect/platform/Headers"
import * as HttpClient from "@effect/platform/HttpClient"
import type * as HttpClientError from "@effect/platform/HttpClientError"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import type * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as Cause from "effect/Cause"
import * as Channel from "effect/Channel"
import * as Chunk from "effect/Chunk"
import * as Clock from "effect/Clock"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import type { LLMError } from "../domain/Errors.js"
import { type FinishReason, fromGemini } from "../domain/FinishReason.js"
import type { NormalizedRequest } from "../domain/Request.js"
import { TokenUsage } from "../domain/TokenUsage.js"
import * as HttpErrors from "../internal/HttpErrors.js"
import * as RetryAfter from "../internal/RetryAfter.js"
import * as Sse from "../internal/Sse.js"
import type { Provider, ProviderAnswer, ProviderChunk, ProviderTarget, UsageCounts } from "./Provider.js"

/** The provider name Gemini errors carry. */
export const providerName = "google"

/** The header that carries the API key (never the URL, never `Authorization`: WIRE.md §1.1). */
export const apiKeyHeader = "x-goog-api-key"

// ---------------------------------------------------------------------------------------------------------------
// Request

/** The `generateContent` request body of a normalised request; undefined settings are left out. */
export const encodeRequest = (request: NormalizedRequest): Record<string, unknown> => {
  const generationConfig: Record<string, unknown> = {}
  if (request.maxOutputTokens !== undefined) generationConfig.maxOutputTokens = request.maxOutputTokens
  if (request.temperature !== undefined) generationConfig.temperature = request.temperature
  if (request.topP !== undefined) generationConfig.topP = request.topP
  if (request.stop !== undefined && request.stop.length > 0) generationConfig.stopSequences = request.stop
  return {
    contents: request.messages.map((message) => ({
      role: message.role === "assistant" ? "model" : "user",
      parts: [{ text: message.content }]
    })),
    ...(request.system !== undefined ? { systemInstruction: { parts: [{ text: request.system }] } } : {}),
    ...(Object.keys(generationConfig).length > 0 ? { generationConfig } : {})
  }
}

/** `{baseUrl}/v1beta/models/{modelId}:{method}` (a leading `models/` in the id is tolerated). */
export const methodUrl = (baseUrl: string, modelId: string, method: "generateContent" | "streamGenerateContent"): string =>
  `${baseUrl.replace(/\/+$/, "")}/v1beta/models/${encodeURIComponent(modelId.replace(/^models\//, ""))}:${method}`

const buildRequest = (target: ProviderTarget, request: NormalizedRequest, streaming: boolean) =>
  HttpClientRequest.post(methodUrl(target.endpoint.baseUrl, target.modelId, streaming ? "streamGenerateContent" : "generateContent"), {
    ...(streaming ? { urlParams: { alt: "sse" } } : {}),
    acceptJson: !streaming
  }).pipe(
    streaming ? HttpClientRequest.setHeader("accept", "text/event-stream") : (self) => self,
    HttpClientRequest.setHeader(apiKeyHeader, Redacted.value(target.apiKey)),
    HttpClientRequest.bodyUnsafeJson(encodeRequest(request))
  )

/** Runs `effect` with `x-goog-api-key` among the header names redacted from spans and logs. */
const withRedactedKey = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.locallyWith(effect, Headers.currentRedactedNames, (names) =>
    names.includes(apiKeyHeader) ? names : [...names, apiKeyHeader]
  )

// ---------------------------------------------------------------------------------------------------------------
// Response

const Part = Schema.Struct({ text: Schema.optional(Schema.String), thought: Schema.optional(Schema.Boolean) })

const Candidate = Schema.Struct({
  content: Schema.optional(Schema.Struct({ parts: Schema.optional(Schema.Array(Part)), role: Schema.optional(Schema.String) })),
  finishReason: Schema.optional(Schema.String),
  finishMessage: Schema.optional(Schema.String)
})

const UsageMetadata = Schema.Struct({
  promptTokenCount: Schema.optional(Schema.Number),
  candidatesTokenCount: Schema.optional(Schema.Number),
  thoughtsTokenCount: Schema.optional(Schema.Number),
  toolUsePromptTokenCount: Schema.optional(Schema.Number),
  cachedContentTokenCount: Schema.optional(Schema.Number),
  totalTokenCount: Schema.optional(Schema.Number)
})

/**
 * A `GenerateContentResponse`, leniently: every field optional, unknown fields ignored, enums kept
 * as strings (an unknown finish reason maps to `other`, never to a decode failure).
 */
export const GenerateContentResponse = Schema.Struct({
  candidates: Schema.optional(Schema.Array(Candidate)),
  promptFeedback: Schema.optional(
    Schema.Struct({ blockReason: Schema.optional(Schema.String), blockReasonMessage: Schema.optional(Schema.String) })
  ),
  usageMetadata: Schema.optional(UsageMetadata),
  modelVersion: Schema.optional(Schema.String),
  responseId: Schema.optional(Schema.String)
})
export type GenerateContentResponse = typeof GenerateContentResponse.Type

const decodeResponseJson = Schema.decodeUnknownEither(GenerateContentResponse)

type Json = { readonly [key: string]: unknown }

const isObject = (value: unknown): value is Json => typeof value === "object" && value !== null && !Array.isArray(value)

const count = (value: unknown): number => (typeof value === "number" && Number.isFinite(value) ? value : 0)

const str = (value: unknown): string | undefined => (typeof value === "string" ? value : undefined)

/**
 * Input = prompt + tool-use prompt; output = candidates + thoughts (billed as output); total as
 * reported, else the sum. Plain counts: a stream event carries them as they are, and only the
 * answer's (or the last event's) become a `TokenUsage`.
 */
const toUsage = (usage: Json): UsageCounts => {
  const inputTokens = count(usage.promptTokenCount) + count(usage.toolUsePromptTokenCount)
  const outputTokens = count(usage.candidatesTokenCount) + count(usage.thoughtsTokenCount)
  const total = usage.totalTokenCount
  return { inputTokens, outputTokens, totalTokens: typeof total === "number" && Number.isFinite(total) ? total : inputTokens + outputTokens }
}

/**
 * What one response (or stream event) says, as the stream chunk it becomes; `finishReason` is
 * `undefined` while a stream goes on.
 */
type Interpreted = ProviderChunk

/**
 * Reads a response-shaped object defensively (it may come from the Schema decoder or, on the hot
 * stream path, straight from `JSON.parse`): text of the non-thought parts of `candidates[0]`, usage,
 * and the finish reason — a prompt block (`promptFeedback` with no candidates) is `filter`.
 */
const interpret = (response: Json): Interpreted => {
  const candidates = Array.isArray(response.candidates) ? response.candidates : undefined
  const candidate = candidates !== undefined && isObject(candidates[0]) ? candidates[0] : undefined
  let text = ""
  const parts = candidate !== undefined && isObject(candidate.content) ? candidate.content.parts : undefined
  if (Array.isArray(parts)) {
    for (const part of parts) {
      if (isObject(part) && part.thought !== true && typeof part.text === "string") text += part.text
    }
  }
  let finishReason: FinishReason | undefined
  const reason = candidate?.finishReason
  if (typeof reason === "string") finishReason = fromGemini(reason)
  else if (candidate === undefined && isObject(response.promptFeedback)) {
    const feedback = response.promptFeedback
    if (feedback.blockReason !== undefined || feedback.blockReasonMessage !== undefined) finishReason = "filter"
  }
  return {
    delta: text,
    usage: isObject(response.usageMetadata) ? toUsage(response.usageMetadata) : undefined,
    finishReason,
    requestId: str(response.responseId),
    modelVersion: str(response.modelVersion)
  }
}

/** True for an object with at least one of the fields a `GenerateContentResponse` is recognised by. */
const looksLikeResponse = (value: Json): boolean =>
  value.candidates !== undefined || value.promptFeedback !== undefined || value.usageMetadata !== undefined

/** Where an error happened and when (epoch ms, for HTTP-date `Retry-After`). */
export interface ClassifyContext extends HttpErrors.ErrorContext {
  readonly now: number
}

/**
 * Decodes a unary 200 body. Not JSON, or JSON of another shape → `FatalError` `bad_response`;
 * a `{"error":…}` body (an error sent with 200) → the classified error.
 */
export const decodeAnswer = (bodyText: string, context: ClassifyContext): Either.Either<ProviderAnswer, LLMError> => {
  let json: unknown
  try {
    json = JSON.parse(bodyText)
  } catch {
    return Either.left(HttpErrors.badResponse(`the body is not JSON: ${bodyText}`, { ...context, status: 200 }))
  }
  if (isObject(json) && isObject(json.error)) return Either.left(classifyParsed(errorStatus(json.error), json, bodyText, {}, context))
  if (!isObject(json) || !looksLikeResponse(json)) {
    return Either.left(HttpErrors.badResponse(`not a GenerateContentResponse: ${bodyText}`, { ...context, status: 200 }))
  }
  const decoded = decodeResponseJson(json)
  if (Either.isLeft(decoded)) {
    return Either.left(HttpErrors.badResponse(`not a GenerateContentResponse: ${decoded.left.message}`, { ...context, status: 200 }))
  }
  const answer = interpret(decoded.right as Json)
  return Either.right({
    content: answer.delta,
    // Validation skipped: every count is already a finite number.
    usage: answer.usage === undefined ? TokenUsage.zero : new TokenUsage(answer.usage, true),
    finishReason: answer.finishReason ?? "other",
    requestId: answer.requestId,
    modelVersion: answer.modelVersion
  })
}

// ---------------------------------------------------------------------------------------------------------------
// Errors

const errorStatus = (error: Json): number => {
  const code = error.code
  return typeof code === "number" && Number.isInteger(code) && code >= 400 && code <= 599 ? code : 500
}

const detailsOf = (error: Json, type: string): Array<Json> =>
  Array.isArray(error.details)
    ? error.details.filter((detail): detail is Json => isObject(detail) && typeof detail["@type"] === "string" && detail["@type"].endsWith(type))
    : []

/** A per-day quota (QuotaFailure `quotaId`, or an old-style ErrorInfo `quota_limit`) that no short wait clears. */
const isPerDayQuota = (error: Json): boolean =>
  detailsOf(error, "google.rpc.QuotaFailure").some(
    (failure) =>
      Array.isArray(failure.violations) &&
      failure.violations.some((violation) => isObject(violation) && str(violation.quotaId)?.includes("PerDay") === true)
  ) ||
  detailsOf(error, "google.rpc.ErrorInfo").some(
    (info) => isObject(info.metadata) && str(info.metadata.quota_limit)?.includes("PerDay") === true
  )

const retryDelayOf = (error: Json): Duration.Duration | undefined => {
  for (const info of detailsOf(error, "google.rpc.RetryInfo")) {
    const delay = RetryAfter.parseRetryDelay(info.retryDelay)
    if (delay !== undefined) return delay
  }
  return undefined
}

const isApiKeyInvalid = (error: Json): boolean =>
  detailsOf(error, "google.rpc.ErrorInfo").some((info) => info.reason === "API_KEY_INVALID") ||
  /API key not valid/i.test(str(error.message) ?? "")

const classifyParsed = (
  status: number,
  body: unknown,
  bodyText: string,
  headers: Readonly<Record<string, string | undefined>>,
  context: ClassifyContext
): LLMError => {
  const error = isObject(body) && isObject(body.error) ? body.error : undefined
  // Only `error.message` is quoted: DebugInfo details may echo the key ("Invalid API key: …").
  const serverMessage = HttpErrors.truncate(str(error?.message) ?? bodyText)
  const statusName = str(error?.status)
  const label = `HTTP ${status}${statusName !== undefined ? ` ${statusName}` : ""}`
  const what = `Gemini (endpoint "${context.endpoint}") answered ${label}${serverMessage.length > 0 ? `: ${serverMessage}` : ""}`
  const fields = { provider: context.provider, endpoint: context.endpoint, status }
  if (status === 400 && error !== undefined && isApiKeyInvalid(error)) {
    return HttpErrors.makeError(
      { _tag: "FatalError", reason: "authentication" },
      `Gemini rejected the API key (${label}: ${serverMessage}); check GEMINI_API_KEY or providers.google.api_key`,
      fields
    )
  }
  if (status === 429) {
    const perDay = error !== undefined && isPerDayQuota(error)
    return HttpErrors.makeError(
      { _tag: "RateLimitError", reason: perDay ? "quota_exhausted" : "rate_limited" },
      perDay ? `${what} (a per-day quota: waiting will not clear it today)` : what,
      { ...fields, retryAfter: (error !== undefined ? retryDelayOf(error) : undefined) ?? RetryAfter.fromHeaders(headers, context.now) }
    )
  }
  return HttpErrors.makeError(HttpErrors.classifyStatus(status), what, fields)
}

const parseJson = (text: string): unknown => {
  try {
    return JSON.parse(text)
  } catch {
    return undefined
  }
}

/** An error body as JSON: plain (whatever the Content-Type says), else the first `data:` line of an SSE-framed body. */
const parseErrorBody = (bodyText: string): unknown => {
  const body = parseJson(bodyText)
  if (body !== undefined) return body
  const data = /^data:[ ]?(.*)$/m.exec(bodyText)
  return data === null ? undefined : parseJson(data[1]!)
}

/**
 * Classifies a Gemini failure: an HTTP status with its body (google.rpc.Status JSON, or any text),
 * or an error found inside a 200 stream (pass `error.code` as `status`).
 * 400 `API_KEY_INVALID` → `FatalError` authentication; other 400 → invalid_request; 401
 * authentication; 403 permission_denied; 404 not_found; 408 → `RetryableError` timeout; 499/5xx →
 * server_error; 429 → `RateLimitError` (`quota_exhausted` for a per-day quota, else `rate_limited`)
 * with `retryAfter` from RetryInfo, else `retry-after-ms` / `Retry-After`.
 */
export const classifyError = (
  status: number,
  bodyText: string,
  headers: Readonly<Record<string, string | undefined>>,
  context: ClassifyContext
): LLMError => classifyParsed(status, parseErrorBody(bodyText), bodyText, headers, context)

// ---------------------------------------------------------------------------------------------------------------
// Stream

/** Raw (non-field) text kept while waiting for it to form a JSON object; more is not a Gemini error object. */
const maxRawText = 64 * 1024

const fieldNames = ["data", "event", "id", "retry"]

/**
 * Whether raw lines closed by the end of the body are a cut rather than text that is no event: the
 * start of a JSON error object, or a field name cut before its colon (`da`). Other text is a bad response.
 */
const looksCut = (before: string, lines: ReadonlyArray<string>): boolean => {
  const last = lines[lines.length - 1]!
  return (before + lines.join("\n")).trimStart().startsWith("{") ||
    (lines.length === 1 && before.length === 0 && fieldNames.some((name) => name.startsWith(last)))
}

/**
 * Decodes the bytes of a 200 `alt=sse` body into chunks: one per event, in order (text deltas,
 * the latest cumulative usage, the finish reason once sent). Reads to the end (old models put STOP
 * on every event). Fails with the classified error for an in-band `{"error":…}` (as a `data:` event
 * or raw lines), `bad_response` for an event that is not a response, and `stream_interrupted` when
 * the body is cut or ends with no finish reason. Work is linear: each read is scanned once, each
 * event parsed once with `JSON.parse` and light structural checks.
 */
export const decodeStreamBody = <E, R>(
  bytes: Stream.Stream<Uint8Array, E, R>,
  context: ClassifyContext,
  onBodyError: (error: E) => LLMError
): Stream.Stream<ProviderChunk, LLMError, R> =>
  Stream.suspend(() => {
    const decoder = new TextDecoder()
    const parser = Sse.makeParser()
    let finished = false
    // Non-field lines (a raw JSON error object) collected until they parse.
    let rawText = ""
    // Whether what is left in `rawText` at the end was cut short by the end of the body.
    let rawCut = false

    /** Handles one payload; returns an error to fail with. */
    const payload = (json: unknown, text: string, out: Array<ProviderChunk>): LLMError | undefined => {
      if (!isObject(json)) return HttpErrors.badResponse(`a stream event is not a JSON object: ${text}`, context)
      if (isObject(json.error)) return classifyParsed(errorStatus(json.error), json, text, {}, context)
      if (!looksLikeResponse(json)) return HttpErrors.badResponse(`a stream event is not a GenerateContentResponse: ${text}`, context)
      const chunk = interpret(json)
      if (chunk.finishReason !== undefined) finished = true
      out.push(chunk)
      return undefined
    }

    const events = (list: Array<Sse.SseEvent>, out: Array<ProviderChunk>): LLMError | undefined => {
      for (const event of list) {
        const data = event.data
        if (data !== undefined && data !== "[DONE]") {
          let json: unknown
          try {
            json = JSON.parse(data)
          } catch {
            return event.unterminated
              ? HttpErrors.streamInterrupted("the stream ended in the middle of an event", context)
              : HttpErrors.badResponse(`a stream event is not JSON: ${data}`, context)
          }
          const error = payload(json, data, out)
          if (error !== undefined) return error
        }
        if (event.raw.length > 0) {
          rawCut = event.unterminated === true && looksCut(rawText, event.raw)
          rawText += (rawText.length > 0 ? "\n" : "") + event.raw.join("\n")
          if (rawText.length > maxRawText) return HttpErrors.badResponse(`the stream holds text that is not an event: ${rawText}`, context)
          let json: unknown
          try {
            json = JSON.parse(rawText)
          } catch {
            continue
          }
          const text = rawText
          rawText = ""
          const error = payload(json, text, out)
          if (error !== undefined) return error
        }
      }
      return undefined
    }

    type Decoder = Channel.Channel<Chunk.Chunk<ProviderChunk>, Chunk.Chunk<Uint8Array>, LLMError, E, unknown, unknown>
    const emit = (out: Array<ProviderChunk>, next: Decoder): Decoder =>
      out.length === 0 ? next : Channel.zipRight(Channel.write(Chunk.unsafeFromArray(out)), next)

    const loop: Decoder =
      Channel.readWithCause({
        onInput: (input: Chunk.Chunk<Uint8Array>) => {
          const out: Array<ProviderChunk> = []
          for (const bytes of input) {
            const error = events(parser.feed(decoder.decode(bytes, { stream: true })), out)
            if (error !== undefined) return emit(out, Channel.fail(error))
          }
          return emit(out, loop)
        },
        // A body read failure (socket reset, "terminated") is a cut stream; defects and interruptions pass.
        onFailure: (cause) =>
          Either.match(Cause.failureOrCause(cause), {
            onLeft: (error) => Channel.fail(onBodyError(error)),
            onRight: (other) => Channel.failCause(other)
          }),
        onDone: () => {
          const out: Array<ProviderChunk> = []
          const error =
            events(parser.feed(decoder.decode()), out) ??
            events(parser.end(), out) ??
            (rawText.trim().length > 0
              ? rawCut
                ? HttpErrors.streamInterrupted("the stream ended in the middle of an event", context)
                : HttpErrors.badResponse(`the stream ended with text that is not an event: ${rawText}`, context)
              : undefined) ??
            (finished ? undefined : HttpErrors.streamInterrupted("the stream ended without a finish reason (truncated)", context))
          return emit(out, error === undefined ? Channel.void : Channel.fail(error))
        }
      })
    return Stream.pipeThroughChannel(bytes, loop)
  })

// ---------------------------------------------------------------------------------------------------------------
// Provider

const contextOf = (target: ProviderTarget): HttpErrors.ErrorContext => ({ provider: providerName, endpoint: target.endpoint.name })

const transportError = (context: HttpErrors.ErrorContext) => (error: HttpClientError.HttpClientError) =>
  HttpErrors.fromHttpClientError(error, context)

const failFromResponse = (response: HttpClientResponse.HttpClientResponse, context: HttpErrors.ErrorContext) =>
  Effect.flatMap(Effect.zip(HttpErrors.readBodyText(response), Clock.currentTimeMillis), ([text, now]) =>
    Effect.fail(classifyError(response.status, text, response.headers, { ...context, now }))
  )

const isOk = (status: number) => status >= 200 && status < 300

// Spans without a creation stack trace: `Effect.fn` and a default `withSpan` build an `Error` per call
// to point `code.stacktrace` at this file, which costs more than the rest of the span.
const spanOptions = { captureStackTrace: false } as const

/** The Gemini provider over the given `HttpClient` (use `NodeHttpClient.layerUndici` for its keep-alive pool). */
export const make: Effect.Effect<Provider, never, HttpClient.HttpClient> = Effect.map(HttpClient.HttpClient, (client) => {
  const generate = (target: ProviderTarget, request: NormalizedRequest) =>
    Effect.gen(function*() {
      const context = contextOf(target)
      const response = yield* client.execute(buildRequest(target, request, false)).pipe(Effect.mapError(transportError(context)))
      if (!isOk(response.status)) return yield* failFromResponse(response, context)
      const text = yield* response.text.pipe(Effect.mapError(transportError(context)))
      const now = yield* Clock.currentTimeMillis
      return yield* decodeAnswer(text, { ...context, now })
    }).pipe(withRedactedKey, Effect.withSpan("Gemini.generate", spanOptions))

  // Scoped: closing the caller's scope aborts the request and closes the connection.
  const scopedClient = HttpClient.withScope(client)

  const stream = (target: ProviderTarget, request: NormalizedRequest) =>
    Effect.gen(function*() {
      const context = contextOf(target)
      const response = yield* scopedClient.execute(buildRequest(target, request, true)).pipe(Effect.mapError(transportError(context)))
      if (!isOk(response.status)) return yield* failFromResponse(response, context)
      const now = yield* Clock.currentTimeMillis
      return decodeStreamBody(response.stream, { ...context, now }, (error) =>
        HttpErrors.fromHttpClientError(error, context, "stream_interrupted")
      )
    }).pipe(withRedactedKey, Effect.withSpan("Gemini.stream", spanOptions))

  return { name: providerName, generate, stream } satisfies Provider
})
