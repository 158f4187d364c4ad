/**
 * Chat Completions failures as `LLMError`s (WIRE-openai-anthropic §1.6–§1.9), one table for every
 * compatible service: by the error body's code, type and words first (a quota that waiting cannot
 * clear, an overloaded service, Ark's PascalCase codes), then by status. The body is OpenAI's
 * `{"error":{message,type,param,code}}` (`code` a string, or a number at OpenRouter and vLLM; Groq adds
 * `status_code`), Ollama's native `{"error":"…"}`, vLLM's older flat `{"object":"error",…}`, or any text.
 * The same table classifies an error object arriving inside a 200 answer (a stream event, a unary body).
 */
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import type { LLMError } from "../../domain/Errors.js"
import * as GeminiErrors from "../gemini/Errors.js"
import * as Errors from "../http/Errors.js"
import * as Json from "../http/Json.js"
import type { Classify } from "../http/Response.js"
import * as RetryAfter from "../http/RetryAfter.js"
import * as Sse from "../http/Sse.js"
import * as Codes from "./ErrorCodes.js"
import { keyVariables } from "./Keys.js"

const Code = Schema.Union(Schema.String, Schema.Number)

/** An error object, leniently: every field optional or null, unknown fields (`param`, `failed_generation`) ignored. */
export const ErrorObject = Schema.Struct({
  message: Json.field(Schema.String),
  type: Json.field(Schema.String),
  code: Json.field(Code),
  status_code: Json.field(Schema.Number),
  metadata: Json.field(Schema.Unknown)
})

/** An error body: `error` an object or (Ollama native) a string; or vLLM's older flat shape. */
export const ErrorBody = Schema.Struct({
  error: Json.field(Schema.Union(Schema.String, ErrorObject)),
  // text-generation-inference's kind of a string `error` (`validation`, `overloaded`, `generation`)
  error_type: Json.field(Schema.String),
  message: Json.field(Schema.String),
  type: Json.field(Schema.String),
  code: Json.field(Code),
  request_id: Json.field(Schema.String)
})

const decodeErrorBody = Schema.decodeUnknownOption(ErrorBody)

/** What classification reads of an error body, from any of its shapes. */
export interface ErrorPayload {
  readonly message: string | undefined
  readonly type: string | undefined
  /** A string `code` (`insufficient_quota`, `RateLimitExceeded.EndpointRPMExceeded`). */
  readonly code: string | undefined
  /** The HTTP status the body names: Groq's `status_code`, or a numeric `code` (OpenRouter, vLLM). */
  readonly status: number | undefined
  /** OpenRouter's `metadata.raw`: the upstream provider's own words. */
  readonly detail: string | undefined
  /** The body's `request_id` (DashScope's compatible mode, WIRE.md §3). */
  readonly requestId?: string | undefined
}

/** True for a payload carrying an error: an `error` value, or vLLM's flat `"object": "error"`. */
export const isErrorPayload = (json: unknown): boolean =>
  Json.isObject(json) && ((json.error !== undefined && json.error !== null) || json.object === "error")

// a number, or its digits as a string (LiteLLM's `"code": "429"`)
const httpStatus = (value: unknown): number | undefined => {
  const status = typeof value === "string" && /^\d{3}$/.test(value) ? Number(value) : value
  return typeof status === "number" && Number.isInteger(status) && status >= 400 && status <= 599 ? status : undefined
}

const nonEmpty = (value: string | null | undefined): string | undefined =>
  value === undefined || value === null || value.length === 0 ? undefined : value

/** The error payload of a parsed body; `undefined` when it holds none (no message, type or code). */
export const errorPayloadOf = (json: unknown): ErrorPayload | undefined => {
  const decoded = decodeErrorBody(json)
  if (Option.isNone(decoded)) return undefined
  const body = decoded.value
  const error = body.error
  const requestId = nonEmpty(body.request_id)
  if (typeof error === "string") {
    return {
      message: nonEmpty(error),
      type: nonEmpty(body.error_type),
      code: undefined,
      status: undefined,
      detail: undefined,
      requestId
    }
  }
  const source = error ?? body
  const code = source.code ?? undefined
  const metadata = error?.metadata
  const raw = Json.isObject(metadata) ? metadata.raw : undefined
  const payload: ErrorPayload = {
    message: nonEmpty(source.message),
    type: nonEmpty(source.type),
    code: typeof code === "string" ? nonEmpty(code) : undefined,
    status: httpStatus(error?.status_code) ?? httpStatus(code),
    detail: typeof raw === "string"
      ? nonEmpty(raw)
      : raw !== undefined && raw !== null
      ? JSON.stringify(raw)
      : undefined,
    requestId
  }
  return payload.message === undefined && payload.type === undefined && payload.code === undefined &&
      payload.status === undefined
    ? undefined
    : payload
}

/** The HTTP status an in-band error means when it names none: from its `type`, else a server error. */
const typeStatus: Readonly<Record<string, number>> = {
  invalid_request_error: 400,
  BadRequestError: 400,
  authentication_error: 401,
  permission_error: 403,
  not_found_error: 404,
  NotFoundError: 404,
  rate_limit_error: 429,
  rate_limit_exceeded: 429,
  requests: 429,
  tokens: 429,
  insufficient_quota: 429,
  server_error: 500,
  api_error: 500,
  InternalServerError: 500,
  overloaded_error: 529,
  // text-generation-inference's `error_type`s: the request's own, else its server's
  validation: 400,
  template_error: 400,
  missing_template_variable: 400,
  tool_error: 400,
  generation: 500,
  overloaded: 529
}

/** String codes of an in-band error that name a failure of the server (another attempt may pass). */
const serverCodes = new Set([
  "server_error",
  "internal_error",
  "internal_server_error",
  "api_error",
  "service_unavailable"
])

/**
 * The status an error found inside a 200 answer stands for: the one it names, else the one its
 * `type` implies; else a string `code` that names neither a server failure nor an overload
 * (`tool_use_failed`) is the request's own (400: retrying sends the same request to the same
 * failure, WIRE-openai-anthropic §1.9); else a server error.
 */
export const inBandStatus = (payload: ErrorPayload | undefined): number => {
  if (payload === undefined) return 500
  if (payload.status !== undefined) return payload.status
  // FastAPI's HTTPException as text (Bedrock Access Gateway's stream errors): "400: An error occurred …"
  const named = /^([45]\d\d): /.exec(payload.message ?? "")
  if (named !== null) return Number(named[1])
  const byType = payload.type !== undefined ? typeStatus[payload.type] : undefined
  if (byType !== undefined) return byType
  const code = payload.code
  const serverSide = code === undefined || code.length === 0 || serverCodes.has(code) ||
    Codes.overloadCodes.has(code) ||
    /overload/i.test(code)
  return serverSide ? 500 : 400
}

/**
 * The class of an error under `status` (the HTTP status, or `inBandStatus` for an error inside a
 * 200 answer; `rawText` stands for the words of a body that is no error object): quota →
 * `RateLimitError` quota_exhausted; overload (529, Groq 498, an overload code or
 * body) → `RetryableError` overloaded; rate-limit codes and 429 → rate_limited; then the codes that
 * name a fatal reason; then the status (402 quota, 408 timeout, 409/499/5xx server_error).
 */
export const classOf = (status: number, payload: ErrorPayload | undefined, rawText = ""): Errors.StatusClass => {
  const code = payload?.code ?? ""
  const type = payload?.type ?? ""
  const words = payload === undefined ? rawText : `${payload.message ?? ""} ${payload.detail ?? ""}`
  // OpenRouter's moderation (a 403, in-band too): "… requires moderation on <provider>. Your input was flagged for …"
  if (status === 403 && Codes.moderationWords.test(words)) return { _tag: "FatalError", reason: "content_filter" }
  // Together's context overflow is a 403 ("Input token count + max_tokens parameter must be less than
  // the context length of the model"): the request's own fault, as a 400 would say
  if (status === 403 && Codes.contextWords.test(words)) return { _tag: "FatalError", reason: "invalid_request" }
  if (
    status === 402 || Errors.quotaCodes.has(code) || Errors.quotaCodes.has(type) ||
    ((status === 429 || status === 403) && Errors.isQuotaText(words)) ||
    // a spend limit refused as a bad request (Anthropic's OpenAI-compatible endpoint: "credit balance is
    // too low" at 400) or OpenRouter's key limit (403)
    ((status === 400 || status === 422) && code !== "context_length_exceeded" &&
      Errors.spendLimitWords.test(Codes.beforeRequestEcho(words))) ||
    (status === 403 && /key limit exceeded/i.test(words))
  ) return { _tag: "RateLimitError", reason: "quota_exhausted" }
  // one request over a per-minute limit (Groq's 413; OpenAI's 429 "Request too large … Limit 30000,
  // Requested 49335"): no wait lets it through, however the body names it a rate limit
  if (status === 413 || Codes.requestsMoreThanLimit(words)) return { _tag: "FatalError", reason: "invalid_request" }
  if (
    status === 529 || status === 498 || Codes.overloadCodes.has(code) || Codes.overloadCodes.has(type) ||
    ((status >= 500 || status === 429) && /overload/i.test(words))
  ) return { _tag: "RetryableError", reason: "overloaded" }
  // before the rate limits: Zhipu's locked account comes as a 429
  if (Codes.permissionCodes.has(code)) return { _tag: "FatalError", reason: "permission_denied" }
  if (
    status === 429 || Codes.isRateLimitCode(code) || type === "rate_limit_exceeded" ||
    (code !== "context_length_exceeded" && Codes.saysRateLimited(words))
  ) {
    return { _tag: "RateLimitError", reason: "rate_limited" }
  }
  if (Codes.authenticationCodes.has(code) || Codes.authenticationCodes.has(type)) {
    return { _tag: "FatalError", reason: "authentication" }
  }
  // Ark's moderation: `InputTextRiskDetection`, `OutputTextSensitiveContentDetected`, …
  if (Codes.contentFilterCodes.has(code) || /(?:RiskDetection|SensitiveContentDetected)\b/.test(code)) {
    return { _tag: "FatalError", reason: "content_filter" }
  }
  if (Codes.notFoundCodes.has(code)) return { _tag: "FatalError", reason: "not_found" }
  if (code === "context_length_exceeded") return { _tag: "FatalError", reason: "invalid_request" }
  // 409, and text-generation-inference's 424 for a failure while generating (a CUDA out-of-memory):
  // the server's, and another attempt may pass
  if (status === 409 || (status === 424 && type === "generation")) {
    return { _tag: "RetryableError", reason: "server_error" }
  }
  return Errors.classifyStatus(status)
}

/**
 * Key-like tokens a server quotes back (OpenAI's "Incorrect API key provided: sk-proj-****abcd") are
 * shortened, whole up to the next space or quote: a key with a `+` or `/` must not keep its tail.
 */
const maskKeys = (text: string): string =>
  text.replace(
    /\b(sk|ak|rk|pk)-[^\s"'`,;()<>[\]{}]{6,}/g,
    (token, kind: string) => token.endsWith(".") ? `${kind}-….` : `${kind}-…`
  )

/** Where the key comes from, for the "check your key" hint. */
const dimensionOf = (payload: ErrorPayload | undefined): RetryAfter.RateLimitDimension | undefined =>
  payload?.type === "requests" || payload?.type === "tokens" ? payload.type : undefined

/**
 * Classifies an error payload (or, without one, the raw text) under `status`; `said` is what the
 * message says happened ("answered HTTP 429", "sent an error event mid-stream"). A `RateLimitError`
 * carries the wait from `retry-after-ms`, `retry-after` (seconds or HTTP-date), else the
 * `x-ratelimit-reset-*` headers, a `RetryableError` (a 503) the first two — unless it came inside a 200
 * (`inBand`): that answer's headers are a success's (its reset times say when the quota refills, not how
 * long to wait), so the schedule waits.
 */
export const classifyPayload = (
  status: number,
  payload: ErrorPayload | undefined,
  rawText: string,
  headers: Readonly<Record<string, string | undefined>>,
  context: Errors.ClassifyContext,
  said = `answered HTTP ${status}`,
  inBand = false
): LLMError => {
  const statusClass = classOf(status, payload, rawText)
  // a code that only repeats the status (LiteLLM's, Azure's "429") or a Python None says nothing
  const telling = (part: string | undefined) =>
    part !== undefined && part !== String(status) && part !== "None" && part !== "null" ? part : undefined
  const code = telling(payload?.code)
  const type = telling(payload?.type)
  const label = Errors.serverLabel(
    [code, type !== code ? type : undefined].filter((part) => part !== undefined).join(" / ")
  )
  const serverText = payload === undefined ? rawText : [payload.message, payload.detail].filter(Boolean).join(" — ")
  const text = Errors.truncate(maskKeys(serverText))
  const requestId = headers["x-request-id"] ?? payload?.requestId
  // `said` may end with a colon before the service's code ("sent an error mid-stream: server_error: …")
  const head = label ? `${said} ${label}` : said.replace(/:$/, "")
  const what = `${Errors.describeContext(context)} ${head}${text ? `: ${text}` : ""}` +
    (requestId !== undefined ? ` (request_id ${Errors.serverLabel(requestId)})` : "")
  const message = statusClass._tag === "FatalError" && statusClass.reason === "authentication"
    ? Errors.withKeyHint(what, keyVariables(context.provider), context.provider)
    : statusClass._tag === "RateLimitError" && statusClass.reason === "quota_exhausted"
    ? `${what} (a spent quota or balance: waiting will not clear it)`
    : what
  return Errors.makeError(statusClass, message, {
    provider: context.provider,
    endpoint: context.endpoint,
    status,
    retryAfter: inBand
      ? undefined
      : statusClass._tag === "RateLimitError"
      ? RetryAfter.fromHeaders(headers, context.now) ?? RetryAfter.fromRateLimitReset(headers, dimensionOf(payload))
      : statusClass._tag === "RetryableError"
      ? RetryAfter.fromHeaders(headers, context.now)
      : undefined
  })
}

/**
 * A body that wraps its one error, as that error: Gemini's OpenAI-compatible endpoint's
 * `[{"error":{…}}]`, Cloudflare's `{"success":false,"errors":[{"code":3036,"message":…}]}`.
 */
const unwrapped = (body: unknown): unknown => {
  if (Array.isArray(body)) return Json.unwrapOne(body)
  return Json.isObject(body) && body.error == null && Array.isArray(body.errors) && Json.isObject(body.errors[0])
    ? { error: body.errors[0] }
    : body
}

/** A Google API error: a canonical `status` name (`RESOURCE_EXHAUSTED`) beside `details`. */
const isGoogleStatus = (body: unknown): boolean =>
  Json.isObject(body) && Json.isObject(body.error) && typeof body.error.status === "string" &&
  /^[A-Z][A-Z_]+$/.test(body.error.status) && Array.isArray(body.error.details)

/** An error body as JSON: plain (after leading blank lines), else the first `data:` line of an SSE-framed body. */
const parseErrorBody = (bodyText: string): unknown => {
  const body = Json.parse(bodyText.trim())
  if (body !== undefined) return body
  for (const event of Sse.parseAll(bodyText)) {
    if (event.data !== undefined) return Json.parse(event.data)
  }
  return undefined
}

/**
 * Classifies a failed answer by its status and body: 400/413/422 → `FatalError` invalid_request
 * (`context_length_exceeded` too), 401 authentication, 403 permission_denied, 404 not_found; 402, and a
 * quota code or words → `RateLimitError` quota_exhausted; 429 → rate_limited with its wait; 408 →
 * `RetryableError` timeout; 409/499/5xx → server_error; 529, Groq 498 or an overload body → overloaded.
 */
export const classify: Classify = (status, bodyText, headers, context) => {
  const body = unwrapped(parseErrorBody(bodyText))
  // Gemini's OpenAI-compatible endpoint answers in Gemini's own error shape (a per-minute quota's
  // "exceeded your current quota" with its RetryInfo): classified by Gemini's rules
  if (!(status >= 200 && status < 300) && isGoogleStatus(body)) {
    return GeminiErrors.classify(status, JSON.stringify(body), headers, context)
  }
  const payload = errorPayloadOf(body)
  // A 2xx here is an error answer sent with a success status: classified as an in-band error.
  const inBand = status >= 200 && status < 300
  const effective = inBand ? inBandStatus(payload) : status
  return classifyPayload(
    effective,
    payload,
    payload === undefined ? bodyText : "",
    headers,
    context,
    `answered HTTP ${status}`,
    inBand
  )
}

/**
 * Classifies an error object found in a 200 answer (a stream event, a unary body): by the status it
 * names (`status_code`, a numeric `code`), else the one its `type` implies, else as a server error.
 */
export const classifyInBand = (
  json: unknown,
  text: string,
  headers: Readonly<Record<string, string | undefined>>,
  context: Errors.ClassifyContext,
  said: string,
  announcedStatus?: number
): LLMError => {
  const payload = errorPayloadOf(json)
  const status = announcedStatus ?? inBandStatus(payload)
  return classifyPayload(status, payload, payload === undefined ? text : "", headers, context, said, true)
}
