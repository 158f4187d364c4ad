/**
 * Anthropic failures as `LLMError`s (WIRE-openai-anthropic.md §2.6–§2.7): the `{type:"error",
 * error:{type, message}}` body by its `error.type` first, then by status (a 413 from Cloudflare or a
 * 529 may carry no JSON at all); the same body as an in-band stream `error` event. The wait of a 429
 * comes from `retry-after`, `retry-after-ms`, else the exhausted `anthropic-ratelimit-*-reset` times.
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

/** `error` of an error body; `details` is kept loose (`null`, `{error_code}`, or shapes yet unseen). */
export const ErrorObject = Schema.Struct({
  type: Json.field(Schema.String),
  message: Json.field(Schema.String),
  // compatible services' own code (Zhipu's `"1113"`: a spent balance)
  code: Json.field(Schema.Union(Schema.String, Schema.Number)),
  details: Schema.optional(Schema.Unknown)
})

/** An error body: `{"type":"error","error":{…},"request_id":"req_…"}`, leniently. */
export const ErrorBody = Schema.Struct({
  type: Json.field(Schema.String),
  error: ErrorObject,
  request_id: Json.field(Schema.String)
})
export type ErrorBody = typeof ErrorBody.Type

const decodeErrorBody = Schema.decodeUnknownOption(ErrorBody)

/** True for a payload that is an error: `type: "error"`, or an `error` object. */
export const isErrorPayload = (json: unknown): boolean =>
  Json.isObject(json) && (json.type === "error" || Json.isObject(json.error))

/** What classification reads of an error. */
interface ErrorFacts {
  readonly type: string | undefined
  readonly message: string | undefined
  readonly errorCode: string | undefined
  /** A compatible service's `error.code`. */
  readonly code: string | undefined
  readonly requestId: string | undefined
}

const factsOf = (json: unknown): ErrorFacts | undefined => {
  const decoded = decodeErrorBody(json)
  if (Option.isNone(decoded)) return undefined
  const { error, request_id } = decoded.value
  const details = error.details
  const errorCode = Json.isObject(details) && typeof details.error_code === "string" ? details.error_code : undefined
  return {
    type: error.type ?? undefined,
    message: error.message ?? undefined,
    errorCode,
    code: error.code == null ? undefined : String(error.code),
    requestId: request_id ?? undefined
  }
}

/**
 * A spent balance or a spend limit, which no short wait clears: "Your credit balance is too low …"
 * (400; `Errors.spendLimitWords`, as are "spend limit" and compatible services' "insufficient balance"),
 * "You have reached your specified [workspace] API usage limits …" (400 or 429: claude-code#1047
 * quotes the workspace form; `Errors.isQuotaText`), a 429 whose `details.error_code` is
 * `enforced_spend_limit_reached`.
 */
const isQuota = (facts: ErrorFacts | undefined, text: string): boolean => {
  const words = facts?.message ?? text
  return facts?.errorCode === "enforced_spend_limit_reached" ||
    // compatible services' and gateways' spent balances and quotas (Zhipu, Moonshot; OpenAI's
    // `insufficient_quota` or Cloudflare's daily free allocation through a gateway)
    Errors.isQuotaText(words) || Errors.quotaCodes.has(facts?.code ?? "") || Errors.quotaCodes.has(facts?.type ?? "")
}

/** The class an `error.type` names; `undefined` for types this table does not know. */
const classOfType = (type: string): Errors.StatusClass | undefined => {
  switch (type) {
    case "invalid_request_error":
    case "request_too_large":
      return { _tag: "FatalError", reason: "invalid_request" }
    case "authentication_error":
      return { _tag: "FatalError", reason: "authentication" }
    case "permission_error":
      return { _tag: "FatalError", reason: "permission_denied" }
    case "not_found_error":
      return { _tag: "FatalError", reason: "not_found" }
    case "rate_limit_error":
      return { _tag: "RateLimitError", reason: "rate_limited" }
    case "billing_error":
      return { _tag: "RateLimitError", reason: "quota_exhausted" }
    case "api_error":
      return { _tag: "RetryableError", reason: "server_error" }
    case "timeout_error":
      return { _tag: "RetryableError", reason: "timeout" }
    case "overloaded_error":
      return { _tag: "RetryableError", reason: "overloaded" }
    default:
      return undefined
  }
}

/**
 * The HTTP status Anthropic documents for each `error.type`: the status an error inside a 200 answer (a
 * stream `error` event) reports, as an OpenAI-compatible one does, so it reads as an answer from the
 * endpoint (a half-open breaker's probe answered so is settled, not given back); unknown types 500.
 */
const typeStatus: ReadonlyMap<string, number> = new Map([
  ["invalid_request_error", 400],
  ["authentication_error", 401],
  ["billing_error", 402],
  ["permission_error", 403],
  ["not_found_error", 404],
  ["request_too_large", 413],
  ["rate_limit_error", 429],
  ["api_error", 500],
  ["timeout_error", 504],
  ["overloaded_error", 529]
])

/** The class of a status without a known `error.type`; `undefined` (an in-band error) is a server error. */
const classOfStatus = (status: number | undefined): Errors.StatusClass => {
  if (status === undefined) return { _tag: "RetryableError", reason: "server_error" }
  if (status === 529) return { _tag: "RetryableError", reason: "overloaded" }
  if (status === 402) return { _tag: "RateLimitError", reason: "quota_exhausted" }
  // 409 conflict_error: transient on Anthropic's side, retried (WIRE-openai-anthropic §2.6)
  if (status === 409) return { _tag: "RetryableError", reason: "server_error" }
  return Errors.classifyStatus(status)
}

const resetHeader = /^anthropic-ratelimit-(.+)-reset$/

/**
 * The wait until the latest `anthropic-ratelimit-*-reset` (RFC 3339) among the limits whose
 * `-remaining` is 0: `max(0, reset − now)` (a full bucket's reset may already be past). A header sent
 * twice arrives joined (`"0, 0"`, `"<date>, <date>"`): any 0 is exhausted, the latest reset counts.
 */
export const resetWait = (
  headers: Readonly<Record<string, string | undefined>>,
  now: number
): Duration.Duration | undefined => {
  let longest: Duration.Duration | undefined
  for (const [name, value] of Object.entries(headers)) {
    const match = resetHeader.exec(name)
    if (match === null || value === undefined) continue
    const remaining = headers[`anthropic-ratelimit-${match[1]}-remaining`]
    if (remaining === undefined || !remaining.split(",").some((piece) => piece.trim() === "0")) continue
    const wait = RetryAfter.longestOf(value, (text) => {
      const at = RetryAfter.parseUtcDate(text)
      return at === undefined ? undefined : Duration.millis(Math.max(0, at - now))
    })
    if (wait !== undefined && (longest === undefined || Duration.greaterThan(wait, longest))) longest = wait
  }
  return longest
}

/**
 * The server's wait hint (WIRE-openai-anthropic §2.7, as the Anthropic SDK reads it): `retry-after-ms`,
 * else `retry-after` (seconds or HTTP-date), else the exhausted limits' reset time.
 */
export const retryAfterOf = (
  headers: Readonly<Record<string, string | undefined>>,
  now: number
): Duration.Duration | undefined => RetryAfter.fromHeaders(headers, now) ?? resetWait(headers, now)

/** A body that is no JSON error (a Cloudflare page): its text without markup. */
const plainText = (text: string): string => /<\/?[a-z][^>]*>/i.test(text) ? text.replace(/<[^>]*>/g, " ") : text

/** Where the key comes from, for the "check your key" hint. */
/**
 * Classifies decoded error facts (or, without them, the raw text) under `status` (`undefined` for an
 * in-band stream error); `said` is what the message says happened.
 */
const classifyFacts = (
  status: number | undefined,
  facts: ErrorFacts | undefined,
  rawText: string,
  headers: Readonly<Record<string, string | undefined>>,
  context: Errors.ClassifyContext,
  said: string,
  inBandStatus?: number
): LLMError => {
  const text = Errors.truncate(facts?.message ?? plainText(rawText))
  const requestId = facts?.requestId ?? headers["request-id"]
  const what = `${Errors.describeContext(context)} ${said}${
    facts?.type !== undefined ? ` ${Errors.serverLabel(facts.type)}` : ""
  }${text ? `: ${text}` : ""}${requestId !== undefined ? ` (request_id ${Errors.serverLabel(requestId)})` : ""}`
  const typeClass = facts?.type !== undefined ? classOfType(facts.type) : undefined
  // A 5xx (or a 408) is the server's failure whatever type its body names (a proxy's or gateway's
  // wrapper): retried, as API.md §3 says of every 500-504 and 408; a 529 is overloaded whatever the
  // type (API.md §8).
  let statusClass = typeClass === undefined || status === 529 ||
      (status !== undefined && (status >= 500 || status === 408) && typeClass._tag !== "RetryableError")
    ? classOfStatus(status)
    : typeClass
  if (statusClass._tag !== "RetryableError" && isQuota(facts, rawText)) {
    statusClass = { _tag: "RateLimitError", reason: "quota_exhausted" }
  } else if (
    statusClass._tag !== "RetryableError" &&
    (Errors.lockedAccountCodes.has(facts?.type ?? "") || Errors.lockedAccountCodes.has(facts?.code ?? ""))
  ) {
    // a compatible service's locked account (Zhipu's 429 `1112`): no wait unlocks it
    statusClass = { _tag: "FatalError", reason: "permission_denied" }
  }
  const message = statusClass._tag === "FatalError" && statusClass.reason === "authentication"
    ? Errors.withKeyHint(what, keyVariables(context.provider), context.provider)
    : statusClass._tag === "RateLimitError" && statusClass.reason === "quota_exhausted"
    ? `${what} (a balance or spend limit: waiting will not clear it)`
    : what
  return Errors.makeError(statusClass, message, {
    provider: context.provider,
    endpoint: context.endpoint,
    status: status ?? inBandStatus,
    // An error inside a 200 waits by the schedule: that answer's headers are a success's (Anthropic has
    // sent retry-after on a 200, WIRE-openai-anthropic §2.1), not a wait for this error.
    retryAfter: status === undefined || (status >= 200 && status < 300)
      ? undefined
      : statusClass._tag === "RateLimitError"
      ? retryAfterOf(headers, context.now)
      : statusClass._tag === "RetryableError"
      ? RetryAfter.fromHeaders(headers, context.now)
      : undefined
  })
}

/** An error body as JSON: plain (whatever the Content-Type says), else the first `data:` line of an SSE-framed body. */
const parseErrorBody = (bodyText: string): unknown => {
  const body = Json.parse(bodyText.trim())
  if (body !== undefined) return body
  const data = /^data:[ ]?(.*)$/m.exec(bodyText)
  return data === null ? undefined : Json.parse(data[1]!)
}

/**
 * Classifies a failed Anthropic answer: by `error.type` — `invalid_request_error` and
 * `request_too_large` → `FatalError` invalid_request (a spent balance or spend limit in the message →
 * `RateLimitError` quota_exhausted), `authentication_error` → authentication, `permission_error` →
 * permission_denied, `not_found_error` → not_found, `rate_limit_error` → `RateLimitError`
 * rate_limited (quota_exhausted for `enforced_spend_limit_reached`), `billing_error` → quota_exhausted,
 * `api_error` → `RetryableError` server_error, `timeout_error` → timeout, `overloaded_error` →
 * overloaded; else by status (529 overloaded, 402 quota_exhausted, the rest as every protocol).
 */
export const classify: Classify = (status, bodyText, headers, context) =>
  classifyFacts(status, factsOf(parseErrorBody(bodyText)), bodyText, headers, context, `answered HTTP ${status}`)

/** Classifies an `error` payload found in a 200 answer (a stream `error` event, an error body sent with 200). */
export const classifyInBand = (
  json: unknown,
  text: string,
  headers: Readonly<Record<string, string | undefined>>,
  context: Errors.ClassifyContext,
  said = "sent an error event mid-stream:"
): LLMError => {
  const facts = factsOf(json)
  return classifyFacts(undefined, facts, text, headers, context, said, typeStatus.get(facts?.type ?? "") ?? 500)
}
