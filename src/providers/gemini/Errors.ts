/**
 * Gemini failures as `LLMError`s (WIRE.md §1.7): an HTTP status with its google.rpc.Status body (plain
 * or SSE-framed JSON, or any text), or an error object inside a 200 answer. The body is decoded with
 * a lenient Schema; quota kind and retry delay come from its `details`.
 */
import * as Duration from "effect/Duration"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import type { LLMError } from "../../domain/Errors.js"
import * as Errors from "../http/Errors.js"
import * as Json from "../http/Json.js"
import type { Classify } from "../http/Response.js"
import * as RetryAfter from "../http/RetryAfter.js"
import { keyVariables } from "./Keys.js"

/** A `google.rpc.Status`: the fields classification reads. */
export const Status = Schema.Struct({
  code: Json.field(Schema.Number),
  message: Json.field(Schema.String),
  status: Json.field(Schema.String),
  details: Json.field(Schema.Array(Schema.Unknown))
})

/** An error body: `{"error": Status}`. */
export const ErrorBody = Schema.Struct({ error: Status })
export type ErrorBody = typeof ErrorBody.Type

/** One entry of `details`, by `@type`: ErrorInfo (`reason`, `metadata`), RetryInfo, QuotaFailure. */
const Detail = Schema.Struct({
  "@type": Schema.String,
  reason: Json.field(Schema.String),
  metadata: Json.field(Schema.Record({ key: Schema.String, value: Schema.Unknown })),
  retryDelay: Json.field(Schema.String),
  violations: Json.field(
    Schema.Array(Schema.Struct({ quotaId: Json.field(Schema.String), quotaValue: Json.field(Schema.String) }))
  )
})
type Detail = typeof Detail.Type

const decodeErrorBody = Schema.decodeUnknownOption(ErrorBody)
const decodeDetail = Schema.decodeUnknownOption(Detail)

/** True for a payload holding an `error` object: an error, whatever else it holds. */
export const isErrorPayload = (json: unknown): boolean => Json.isObject(json) && Json.isObject(json.error)

const detailsOf = (body: ErrorBody, type: string): Array<Detail> => {
  const out: Array<Detail> = []
  for (const raw of body.error.details ?? []) {
    const detail = decodeDetail(raw)
    if (Option.isSome(detail) && detail.value["@type"].endsWith(type)) out.push(detail.value)
  }
  return out
}

/** A per-day quota (QuotaFailure `quotaId`, or an old-style ErrorInfo `quota_limit`) that no short wait clears. */
const isPerDayQuota = (body: ErrorBody): boolean =>
  detailsOf(body, "google.rpc.QuotaFailure").some((failure) =>
    (failure.violations ?? []).some((violation) => violation.quotaId?.includes("PerDay") === true)
  ) ||
  detailsOf(body, "google.rpc.ErrorInfo").some((info) => {
    const limit = info.metadata?.quota_limit
    return typeof limit === "string" && limit.includes("PerDay")
  })

const retryDelayOf = (body: ErrorBody): Duration.Duration | undefined => {
  for (const info of detailsOf(body, "google.rpc.RetryInfo")) {
    const delay = RetryAfter.parseRetryDelay(info.retryDelay)
    if (delay !== undefined) return delay
  }
  return undefined
}

/**
 * A quota of zero: the model has no free tier on this project ("…, limit: 0, model: …" in the message,
 * `quotaValue: "0"` in QuotaFailure; WIRE.md §1.7). Its short retryDelay notwithstanding, no wait clears it.
 */
const isZeroQuota = (body: ErrorBody): boolean =>
  /\blimit: 0\b/.test(body.error.message ?? "") ||
  detailsOf(body, "google.rpc.QuotaFailure").some((failure) =>
    (failure.violations ?? []).some((violation) => violation.quotaValue === "0")
  )

/** The "Please retry in 26.5s." of a 429's message: the wait when no RetryInfo says it (WIRE.md §1.7). */
const messageDelayOf = (body: ErrorBody): Duration.Duration | undefined => {
  const match = /Please retry in (\d+(?:\.\d+)?s)\b/i.exec(body.error.message ?? "")
  return match === null ? undefined : RetryAfter.parseRetryDelay(match[1])
}

/**
 * RetryInfo's wait, or the message's when that is longer: a whole-second `retryDelay` may be the
 * message's "Please retry in 1.68…s" truncated (WIRE.md §1.7), and waiting less gets another 429.
 */
const retryInfoWait = (body: ErrorBody | undefined): Duration.Duration | undefined => {
  const info = body === undefined ? undefined : retryDelayOf(body)
  if (body === undefined || info === undefined) return undefined
  const said = messageDelayOf(body)
  return said === undefined ? info : Duration.max(info, said)
}

const isApiKeyInvalid = (body: ErrorBody): boolean =>
  detailsOf(body, "google.rpc.ErrorInfo").some((info) => info.reason === "API_KEY_INVALID") ||
  /API key not valid/i.test(body.error.message ?? "")

/** Where the key comes from, for the "check your key" hint. */
const keyHint = (provider: string): string => `${keyVariables(provider).join(" / ")} or providers.${provider}.api_key`

const classifyDecoded = (
  status: number,
  body: ErrorBody | undefined,
  bodyText: string,
  headers: Readonly<Record<string, string | undefined>>,
  context: Errors.ClassifyContext,
  inBand = false
): LLMError => {
  // Only `error.message` is quoted from a decoded body: DebugInfo details may echo the key.
  const serverMessage = Errors.truncate(body !== undefined ? body.error.message ?? "" : bodyText)
  const statusName = body?.error.status ?? undefined
  const code = `${status}${statusName !== undefined ? ` ${Errors.serverLabel(statusName)}` : ""}`
  // an error inside a 200 answer names its code, never an HTTP status the response did not have
  const label = inBand ? `an error ${code} in its HTTP 200 answer` : `HTTP ${code}`
  const what = `${Errors.describeContext(context)} ${inBand ? "sent" : "answered"} ${label}${
    serverMessage.length > 0 ? `: ${serverMessage}` : ""
  }`
  const fields = { provider: context.provider, endpoint: context.endpoint, status }
  if (status === 400 && body !== undefined && isApiKeyInvalid(body)) {
    return Errors.makeError(
      { _tag: "FatalError", reason: "authentication" },
      `${Errors.describeContext(context)} rejected the API key (${label}: ${serverMessage}); check ${
        keyHint(context.provider)
      }`,
      fields
    )
  }
  if (status === 429) {
    const perDay = body !== undefined && isPerDayQuota(body)
    const zero = !perDay && body !== undefined && isZeroQuota(body)
    // A reached spend limit (API.md §8): as final as a per-day quota.
    const spent = !perDay && !zero && Errors.spendLimitWords.test(serverMessage)
    return Errors.makeError(
      { _tag: "RateLimitError", reason: perDay || zero || spent ? "quota_exhausted" : "rate_limited" },
      perDay
        ? `${what} (a per-day quota: waiting will not clear it today)`
        : zero
        ? `${what} (a quota of 0 for this model on this project: waiting will not clear it)`
        : what,
      {
        ...fields,
        retryAfter: retryInfoWait(body) ??
          RetryAfter.fromHeaders(headers, context.now) ??
          (body !== undefined ? messageDelayOf(body) : undefined)
      }
    )
  }
  // "The model is overloaded" / "… experiencing high demand" (503 UNAVAILABLE, WIRE.md §1.7): the
  // service is overloaded (API.md §8)
  const statusClass = status >= 500 && /overloaded|high demand/i.test(serverMessage)
    ? { _tag: "RetryableError" as const, reason: "overloaded" as const }
    : status === 409 && statusName === "ALREADY_EXISTS"
    // a 409 is retried as a passing conflict (ABORTED); a resource that already exists will not pass
    ? { _tag: "FatalError" as const, reason: "invalid_request" as const }
    : Errors.classifyStatus(status)
  return Errors.makeError(statusClass, what, {
    ...fields,
    // a proxy's Retry-After on a 503 (Google sends none); an in-band error's headers are a 200's
    retryAfter: statusClass._tag === "RetryableError" && !inBand
      ? RetryAfter.fromHeaders(headers, context.now)
      : undefined
  })
}

/**
 * An error body as JSON: plain (whatever the Content-Type says), else the first `data:` line of an
 * SSE-framed body; an array of one error (Vertex AI, Code Assist) as that error.
 */
const parseErrorBody = (bodyText: string): unknown => {
  const body = Json.parse(bodyText)
  if (body !== undefined) return Json.unwrapOne(body)
  const data = /^data:[ ]?(.*)$/m.exec(bodyText)
  return data === null ? undefined : Json.unwrapOne(Json.parse(data[1]!))
}

/**
 * Classifies a failed Gemini answer by its status and body: 400 `API_KEY_INVALID` → `FatalError`
 * authentication; other 400 → invalid_request; 401 authentication; 403 permission_denied; 404
 * not_found; 408 → `RetryableError` timeout; 409/499/5xx → server_error; 429 → `RateLimitError`
 * (`quota_exhausted` for a per-day quota, else `rate_limited`) with `retryAfter` from RetryInfo,
 * else `retry-after-ms` / `Retry-After`.
 */
export const classify: Classify = (status, bodyText, headers, context) =>
  classifyDecoded(status, Option.getOrUndefined(decodeErrorBody(parseErrorBody(bodyText))), bodyText, headers, context)

/**
 * Classifies an error object found in a 200 answer (a unary body, a stream event, raw lines after
 * the last event) by its `error.code` (500 when it names no 4xx/5xx status).
 */
export const classifyInBand = (
  json: unknown,
  text: string,
  headers: Readonly<Record<string, string | undefined>>,
  context: Errors.ClassifyContext
): LLMError => {
  const body = Option.getOrUndefined(decodeErrorBody(json))
  const code = body?.error.code
  const status = typeof code === "number" && Number.isInteger(code) && code >= 400 && code <= 599 ? code : 500
  return classifyDecoded(status, body, text, headers, context, true)
}
