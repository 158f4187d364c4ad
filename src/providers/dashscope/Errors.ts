/**
 * DashScope failures as `LLMError`s (WIRE.md §2.5): by the body's `code` (or OpenAI-style `type`)
 * first, then by status. The body is the flat native `{code,message,request_id}`, the OpenAI-shaped
 * `{error:{message,type,code}}`, SSE-framed (`event:error` with a `:HTTP_STATUS/NNN` comment), or any text.
 */
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import type { LLMError } from "../../domain/Errors.js"
import * as Errors from "../http/Errors.js"
import * as Json from "../http/Json.js"
import type { Classify } from "../http/Response.js"
import * as RetryAfter from "../http/RetryAfter.js"
import * as Sse from "../http/Sse.js"
import { keyVariables } from "./Keys.js"

/** An error body, native or OpenAI-shaped, leniently (every field optional or null). */
export const ErrorBody = Schema.Struct({
  code: Json.field(Schema.String),
  message: Json.field(Schema.String),
  type: Json.field(Schema.String),
  request_id: Json.field(Schema.String),
  error: Json.field(Schema.Struct({
    code: Json.field(Schema.String),
    message: Json.field(Schema.String),
    type: Json.field(Schema.String)
  }))
})

const decodeErrorBody = Schema.decodeUnknownOption(ErrorBody)

/** What classification reads of an error body, from either shape. */
export interface ErrorPayload {
  readonly code: string | undefined
  readonly type: string | undefined
  readonly message: string | undefined
  readonly requestId: string | undefined
}

/** The error payload of a parsed body; `undefined` when it is none (no code, type or message). */
export const errorPayloadOf = (json: unknown): ErrorPayload | undefined => {
  const decoded = decodeErrorBody(json)
  if (Option.isNone(decoded)) return undefined
  const body = decoded.value
  const nested = body.error ?? undefined
  const code = body.code ?? nested?.code ?? undefined
  const message = body.message ?? nested?.message ?? undefined
  const type = nested?.type ?? body.type ?? undefined
  if (code === undefined && message === undefined && type === undefined) return undefined
  return { code, type, message, requestId: body.request_id ?? undefined }
}

/** The error class a DashScope (or OpenAI-compatible) `code`/`type` names; `undefined` for unknown codes. */
const classOfCode = (
  code: string,
  type: string | undefined,
  message: string | undefined
): Errors.StatusClass | undefined => {
  // Quota that waiting cannot clear (API.md §3): "Free allocated quota exceeded" (the free tier is spent;
  // sent as Throttling.AllocationQuota, whose TPM variant "Allocated quota exceeded" is transient) and
  // OpenAI-style `insufficient_quota`. WIRE.md §3 notes the compatible mode's TPM throttle also says
  // `insufficient_quota` while transient; we follow API.md and fail at once, since the same words
  // also mean a spent balance, and a wrongly failed call is cheaper than minutes of futile retries.
  // `Arrearage`: the account is in arrears, a billing refusal (API.md §8: quota_exhausted).
  // A message that says a spend limit was reached or the balance is spent: the same (API.md §8).
  if (
    /free allocated quota exceeded/i.test(message ?? "") || code === "insufficient_quota" ||
    type === "insufficient_quota" || code === "Arrearage" || Errors.spendLimitWords.test(message ?? "")
  ) {
    return { _tag: "RateLimitError", reason: "quota_exhausted" }
  }
  if (code.startsWith("Throttling") || code === "rate_limit_exceeded" || type === "rate_limit_exceeded") {
    return { _tag: "RateLimitError", reason: "rate_limited" }
  }
  if (code === "DataInspectionFailed" || code === "data_inspection_failed") {
    return { _tag: "FatalError", reason: "content_filter" }
  }
  if (code === "InvalidApiKey" || code === "invalid_api_key") return { _tag: "FatalError", reason: "authentication" }
  // Before InternalError*: "InternalError.Algo.InvalidParameter" is a bad request, not a server fault.
  if (
    code.includes("InvalidParameter") || code.startsWith("BadRequest") || code === "InvalidURL" ||
    code === "UnsupportedOperation"
  ) return { _tag: "FatalError", reason: "invalid_request" }
  if (code.startsWith("AccessDenied")) return { _tag: "FatalError", reason: "permission_denied" }
  if (code === "ModelNotFound" || code === "model_not_found") return { _tag: "FatalError", reason: "not_found" }
  if (code === "RequestTimeOut") return { _tag: "RetryableError", reason: "timeout" }
  if (
    code.startsWith("InternalError") || code === "SystemError" || code === "ModelServingError" ||
    code === "ModelUnavailable"
  ) {
    return { _tag: "RetryableError", reason: "server_error" }
  }
  return undefined
}

/**
 * Classifies an error payload (or, without one, the raw text) under `status`; `said` is what the
 * message says happened ("answered HTTP 429", "sent an error event mid-stream").
 */
export const classifyPayload = (
  status: number,
  payload: ErrorPayload | undefined,
  rawText: string,
  headers: Readonly<Record<string, string | undefined>>,
  context: Errors.ClassifyContext,
  said = `answered HTTP ${status}`
): LLMError => {
  const serverMessage = payload?.message ?? rawText
  const label = Errors.serverLabel(
    [payload?.code, payload?.type !== payload?.code ? payload?.type : undefined]
      .filter((part) => part !== undefined)
      .join(" / ")
  )
  const requestId = payload?.requestId ?? headers["x-request-id"]
  const text = Errors.truncate(serverMessage)
  // `said` may end with a colon before the service's code ("sent an error mid-stream: server_error: …")
  const head = label ? `${said} ${label}` : said.replace(/:$/, "")
  const what = `${Errors.describeContext(context)} ${head}${text ? `: ${text}` : ""}` +
    (requestId !== undefined ? ` (request_id ${Errors.serverLabel(requestId)})` : "")
  const codeClass = payload !== undefined ? classOfCode(payload.code ?? "", payload.type, payload.message) : undefined
  const statusClass: Errors.StatusClass =
    // A 529 is overloaded on every protocol (API.md §8), also when its code names a generic server fault
    // (InternalError…); a code that says quota, throttling or a bad request stays more specific.
    (status === 529 && (codeClass === undefined || codeClass._tag === "RetryableError")
      ? { _tag: "RetryableError", reason: "overloaded" }
      // A 408 is a request timeout (API.md §3: retried) whatever client fault its code names.
      : status === 408 && codeClass?._tag === "FatalError"
      ? { _tag: "RetryableError", reason: "timeout" }
      : codeClass) ??
      // A 429 that says a spend limit was reached means the same on every protocol (API.md §8).
      (status === 429 && Errors.spendLimitWords.test(rawText)
        ? { _tag: "RateLimitError", reason: "quota_exhausted" }
        : status < 300
        ? { _tag: "FatalError", reason: "bad_response" }
        : Errors.classifyStatus(status))
  const message = statusClass._tag === "FatalError" && statusClass.reason === "authentication"
    ? `${Errors.withKeyHint(what, keyVariables(context.provider), context.provider)}; DashScope keys are ` +
      `region-bound: the key must be issued for the region of endpoint "${context.endpoint}"`
    : statusClass._tag === "RateLimitError" && statusClass.reason === "quota_exhausted"
    ? `${what} (a spent quota or balance: waiting will not clear it)`
    : what
  return Errors.makeError(statusClass, message, {
    provider: context.provider,
    endpoint: context.endpoint,
    status,
    retryAfter: statusClass._tag === "FatalError" ? undefined : RetryAfter.fromHeaders(headers, context.now)
  })
}

/**
 * Classifies a failed DashScope answer: the body's payload read as JSON (plain, under any content
 * type), else from the first `data:` line of an SSE-framed body, whose `:HTTP_STATUS/NNN` comment
 * replaces a 2xx `status`. `retryAfter` comes from `retry-after-ms` / `Retry-After` (DashScope sends
 * neither today, so it is usually undefined).
 */
export const classify: Classify = (status, bodyText, headers, context) => {
  let payload = errorPayloadOf(Json.parse(bodyText.trim()))
  let effectiveStatus = status
  if (payload === undefined) {
    for (const event of Sse.parseAll(bodyText)) {
      const announced = Sse.commentStatus(event.comments)
      if (announced !== undefined && status >= 200 && status < 300) effectiveStatus = announced
      if (event.data !== undefined) {
        payload = errorPayloadOf(Json.parse(event.data))
        break
      }
    }
  }
  return classifyPayload(effectiveStatus, payload, payload === undefined ? bodyText : "", headers, context)
}
