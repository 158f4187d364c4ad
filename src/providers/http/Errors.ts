/**
 * HTTP failure helpers shared by the protocols: transport failures → `RetryableError` "connection",
 * an HTTP status → its default `LLMError` class, cut streams and undecodable answers, and reading an
 * error body as text without failing. Protocol classification (codes, quota kinds, hints) stays in each protocol.
 */
import type * as HttpClientError from "@effect/platform/HttpClientError"
import type * as Duration from "effect/Duration"
import { FatalError, type LLMError, RateLimitError, RetryableError } from "../../domain/Errors.js"
import type { UsageCounts } from "../../domain/TokenUsage.js"
import { billedUsageOf, withBilledUsage } from "../../internal/BilledUsage.js"
import { headOf } from "../../internal/Cut.js"
import { escapeControls } from "../../internal/Printable.js"
import * as Scrub from "../../internal/Scrub.js"

/** Who the failing call went to, copied onto every error: the provider entry's name and the endpoint's. */
export interface ErrorContext {
  readonly provider: string
  readonly endpoint: string
}

/** An `ErrorContext` and the time (epoch ms, from `Clock`) an HTTP-date `Retry-After` is measured from. */
export interface ClassifyContext extends ErrorContext {
  readonly now: number
}

/** How messages name the target: `google (endpoint "google-us")`. */
export const describeContext = (context: ErrorContext): string => `${context.provider} (endpoint "${context.endpoint}")`

/**
 * A rejected key's message: what happened, then where the key comes from (its variables and its
 * config key). A server's sentence ending in a period is not followed by a stray `;`.
 */
export const withKeyHint = (what: string, variables: ReadonlyArray<string>, provider: string): string =>
  `${what.replace(/\.$/, "")}; check ${variables.join(" / ")} or providers.${provider}.api_key`

/** Longest piece of a server's text kept in an error message. */
export const maxMessageLength = 500

/**
 * A run of base64 (with its `data:` prefix) a server quotes back: the request's own inline image or file
 * (Gemini's "Base64 decoding failed for \"iVBORw0…\"", a validation error echoing the body). Request
 * content never reaches messages, logs or the ledger: such a run (`looksEncoded`) is named by its
 * length only. Not a run that touches `-` or `_`: a key (`sk-proj-…`) must stay whole for the secret
 * scrubbing after it. The run is taken whole through a lookahead, which never backtracks: linear over
 * a long run beside a `-`.
 */
const base64Run = /(?<![\w+/-])(?:data:[\w.+-]+\/[\w.+-]+;base64,)?(?=([A-Za-z0-9+/]{64,}))\1={0,2}(?![\w+/=-])/g
const elideBase64 = (run: string): string => looksEncoded(run) ? `<base64, ${run.length} characters>` : run

/**
 * Whether a run is encoded bytes rather than text that happens to use the same characters: a `data:`
 * URL or `=` padding, else upper case, lower case and digits mixed, 32 or more of them between slashes
 * (a hex digest, `projects/123456789012/locations/global/…` or a path of words stays as it is).
 */
const looksEncoded = (run: string): boolean =>
  run.startsWith("data:") || run.endsWith("=") ||
  (/[A-Z]/.test(run) && /[a-z]/.test(run) && /\d/.test(run) && /[^/]{32}/.test(run))

/**
 * Shortens text for a message: whitespace collapsed, other control characters escaped (a server's
 * text reaches terminals and logs), quoted base64 named by its length, at most `max` characters (with
 * an ellipsis).
 */
export const truncate = (text: string, max: number = maxMessageLength): string => {
  const flat = escapeControls(text.replace(/\s+/g, " ").trim()).replace(base64Run, elideBase64)
  return flat.length <= max ? flat : `${headOf(flat, max - 1)}${Scrub.cutMark}`
}

/** Longest server label (an error code, type or status name, a request id) kept in a message. */
const maxLabelLength = 100

/** A server's label (error code, type, status name, request id) as a message quotes it: escaped and cut as its text is. */
export const serverLabel = (label: string): string => truncate(label, maxLabelLength)

const causeMessage = (cause: unknown): string | undefined => {
  if (!(cause instanceof Error)) return undefined
  // undici wraps the socket error: "fetch failed" → cause ECONNREFUSED / UND_ERR_SOCKET.
  const inner = (cause as { cause?: unknown }).cause
  const code = (cause as { code?: unknown }).code ?? (inner as { code?: unknown } | undefined)?.code
  const text = inner instanceof Error ? `${cause.message}: ${inner.message}` : cause.message
  return typeof code === "string" && !text.includes(code) ? `${text} (${code})` : text
}

/**
 * zlib's and brotli's codes for data that is not what its `content-encoding` says (a proxy labelling
 * a plain body `gzip`): the same bytes fail again on every retry, so this is an undecodable answer
 * (API.md §14), where compressed data that stops early (`Z_BUF_ERROR`) is a cut body.
 */
const corruptCoding = (cause: unknown): boolean => {
  const code = (cause as { readonly code?: unknown } | undefined)?.code
  return typeof code === "string" &&
    (code === "Z_DATA_ERROR" || code === "Z_NEED_DICT" || code.startsWith("ERR__ERROR_FORMAT") ||
      code.startsWith("ERR__ERROR_DICTIONARY"))
}

/**
 * An answer too large to read (a body over `Body.maxBodyBytes`, a decompression past it, V8's string
 * limit, headers past undici's limit):
 * the same answer fails the same way on every retry, so it is undecodable, never a connection failure.
 */
const tooLarge = (cause: unknown): boolean => {
  const code = (cause as { readonly code?: unknown } | undefined)?.code
  return code === "EFFECT_LLM_BODY_TOO_LARGE" || code === "ERR_STRING_TOO_LONG" || code === "ERR_BUFFER_TOO_LARGE" ||
    code === "UND_ERR_HEADERS_OVERFLOW" // undici's 16 KiB of headers: the same answer overflows again
}

/** Codes of a request the HTTP client refused to send: undici's invalid argument, Node's invalid header. */
const refusedCodes = new Set(["UND_ERR_INVALID_ARG", "ERR_INVALID_CHAR", "ERR_HTTP_INVALID_HEADER_VALUE"])

/**
 * A request the client would not send (a header value no header can carry, an invalid URL) failed
 * here, on this machine: no network involved, and retrying cannot help.
 */
const refusedLocally = (error: HttpClientError.HttpClientError): boolean => {
  if (error._tag !== "RequestError") return false
  // (`Encode`: the request's body stream failed, in the program, before the endpoint saw a byte)
  if (error.reason === "InvalidUrl" || error.reason === "Encode") return true
  const cause: unknown = error.cause
  const code = (cause as { readonly code?: unknown } | undefined)?.code
  if (typeof code === "string") return refusedCodes.has(code)
  // `fetch` rejects a request it cannot build with a bare TypeError; its network failures have a cause.
  return cause instanceof TypeError && (cause as { readonly cause?: unknown }).cause === undefined
}

/**
 * A transport-level failure (connection refused/reset, body read cut) as a `RetryableError`.
 * `reason` defaults to `"connection"`; a stream body cut mid-way passes `"stream_interrupted"`.
 * A request the HTTP client refused to send is a `FatalError` `invalid_request` instead (never
 * retried, not the endpoint's failure), named by its code only: the client's text may quote the value.
 * The message names the host and the cause, never headers.
 */
export const fromHttpClientError = (
  error: HttpClientError.HttpClientError,
  context: ErrorContext,
  reason: "connection" | "stream_interrupted" | "timeout" = "connection"
): RetryableError | FatalError => {
  if (refusedLocally(error)) {
    const code = (error.cause as { readonly code?: unknown } | undefined)?.code
    return new FatalError({
      reason: "invalid_request",
      message: `${describeContext(context)}: the HTTP client refused to send the request${
        typeof code === "string" ? ` (${code})` : ""
      }: ${
        error._tag === "RequestError" && error.reason === "Encode"
          ? "its body could not be written"
          : "a header value (the key, `headers`) or the URL it cannot carry"
      }`,
      provider: context.provider,
      endpoint: context.endpoint
    })
  }
  const detail = causeMessage(error.cause) ?? error.description ?? error.reason
  if (tooLarge(error.cause)) {
    return badResponse(`the answer is too large to read: ${detail}`, {
      ...context,
      ...(error._tag === "ResponseError" ? { status: error.response.status } : {})
    })
  }
  if (corruptCoding(error.cause)) {
    return badResponse(`its body does not decode as its content-encoding says: ${detail}`, {
      ...context,
      ...(error._tag === "ResponseError" ? { status: error.response.status } : {})
    })
  }
  const what = reason === "stream_interrupted" ? "the response stream was cut" : "the connection failed"
  return new RetryableError({
    reason,
    message: `${describeContext(context)}: ${what}: ${truncate(detail, 200)}`,
    provider: context.provider,
    endpoint: context.endpoint
  })
}

/** The default class of an HTTP status, before any provider-specific refinement. */
export type StatusClass =
  | { readonly _tag: "FatalError"; readonly reason: FatalError["reason"] }
  | { readonly _tag: "RetryableError"; readonly reason: RetryableError["reason"] }
  | { readonly _tag: "RateLimitError"; readonly reason: RateLimitError["reason"] }

/**
 * 400 invalid_request, 401 authentication, 403 permission_denied, 404 not_found, 408 timeout,
 * 429 rate_limited, 529 overloaded (API.md §8, on every protocol), 499 and other 5xx server_error;
 * any other status is a fatal invalid_request.
 */
export const classifyStatus = (status: number): StatusClass => {
  if (status === 401) return { _tag: "FatalError", reason: "authentication" }
  if (status === 403) return { _tag: "FatalError", reason: "permission_denied" }
  if (status === 404) return { _tag: "FatalError", reason: "not_found" }
  if (status === 408) return { _tag: "RetryableError", reason: "timeout" }
  if (status === 429) return { _tag: "RateLimitError", reason: "rate_limited" }
  if (status === 529) return { _tag: "RetryableError", reason: "overloaded" }
  // 409 (a conflict, Google's ABORTED: "typically due to a concurrency issue") passes: retried, as the
  // OpenAI and Anthropic SDKs retry it; 499 is the service cancelling the work, not the caller
  if (status === 409 || status === 499 || status >= 500) return { _tag: "RetryableError", reason: "server_error" }
  return { _tag: "FatalError", reason: "invalid_request" }
}

/**
 * Words of a spent balance or a reached spend limit, which no short wait clears (API.md §8: "a 429
 * whose body says a spend limit was reached" is `quota_exhausted`), or of a free tier spent or absent
 * (DashScope's 403 `AllocationQuota.FreeTierOnly`: "The free tier of the model has been exhausted";
 * Gemini's 429 "… doesn't have a free quota tier"). Never quota words alone: Gemini says "You exceeded
 * your current quota" on every 429, per-minute ones included.
 */
export const spendLimitWords =
  /spend(?:ing)? (?:limit|cap)|budget (?:limit )?(?:has been |is |was )?(?:exceeded|reached)|insufficient (?:account )?(?:balance|credits?|funds)|(?:balance|credits?|funds) (?:is|are) insufficient|credit balance|out of (?:balance|credits)|no credits(?! (?:were|was|have been|will be) (?:charged|deducted|billed))|free tier (?:of (?:the|this) model )?(?:has been |is )?exhausted|(?:doesn't|does not) have a free (?:quota )?tier|欠费|余额不足/i

/**
 * Codes (and types) compatible services name a spent balance by, over either wire: Zhipu's `1113`
 * ("Insufficient balance or no resource package", or in Chinese), Moonshot's `exceeded_current_quota_error`.
 */
export const balanceCodes: ReadonlySet<string> = new Set(["1113", "exceeded_current_quota_error"])

/**
 * Codes a compatible service names a locked account by, over either wire: Zhipu's `1112` and `1121`,
 * which come as 429s — no wait unlocks it.
 */
export const lockedAccountCodes: ReadonlySet<string> = new Set(["1112", "1121"])

/**
 * Codes (and types) of a quota no wait clears, over either wire (a gateway passes OpenAI's through the
 * Messages API too). Ark's are dotted PascalCase; DashScope's compatible mode sends its native codes.
 */
export const quotaCodes: ReadonlySet<string> = new Set([
  "insufficient_quota",
  "credit_balance_exhausted",
  "billing_hard_limit_reached",
  "insufficient_balance",
  "AccountOverdueError",
  "QuotaExceeded",
  "SetLimitExceeded",
  // DashScope: the account is in arrears, a billing refusal (API.md §8)
  "Arrearage",
  // LiteLLM's proxy: a key's, user's or team's max budget spent (422 by default)
  "budget_exceeded",
  ...balanceCodes
])

/**
 * Words of a refusal no wait clears: a spent balance or spend limit (`spendLimitWords`), OpenAI's,
 * Moonshot's and DashScope's spent quota (never "rate limit reached"), OpenRouter's daily free requests,
 * Cloudflare Workers AI's daily free allocation.
 */
const quotaWords =
  /exceeded (?:your )?current quota|insufficient (?:account )?quota|free allocated quota exceeded|specified (?:workspace )?api usage limits?|free-models-per-day|daily free allocation/i
export const isQuotaText = (words: string): boolean => quotaWords.test(words) || spendLimitWords.test(words)

/** Builds the error of a class with its context; `retryAfter` is kept on a `RateLimitError` or `RetryableError`. */
export const makeError = (
  statusClass: StatusClass,
  message: string,
  context: ErrorContext & { readonly status?: number | undefined; readonly retryAfter?: Duration.Duration | undefined }
): LLMError => {
  const base = {
    message,
    provider: context.provider,
    endpoint: context.endpoint,
    ...(context.status !== undefined ? { status: context.status } : {})
  }
  const hint = context.retryAfter !== undefined ? { retryAfter: context.retryAfter } : {}
  switch (statusClass._tag) {
    case "FatalError":
      return new FatalError({ ...base, reason: statusClass.reason })
    case "RetryableError":
      return new RetryableError({ ...base, reason: statusClass.reason, ...hint })
    case "RateLimitError":
      return new RateLimitError({ ...base, reason: statusClass.reason, ...hint })
  }
}

/** A `RetryableError` `stream_interrupted`: a stream body that ended (or was cut) before the provider finished. */
export const streamInterrupted = (detail: string, context: ErrorContext): RetryableError =>
  new RetryableError({
    reason: "stream_interrupted",
    message: `${describeContext(context)}: ${detail}`,
    provider: context.provider,
    endpoint: context.endpoint
  })

/** A `FatalError` `bad_response`: the provider answered something that is not its documented shape. */
export const badResponse = (
  detail: string,
  context: ErrorContext & { readonly status?: number },
  billed?: UsageCounts
): FatalError => {
  const error = new FatalError({
    reason: "bad_response",
    message: `${describeContext(context)} sent an undecodable response: ${truncate(detail, 200)}`,
    provider: context.provider,
    endpoint: context.endpoint,
    ...(context.status !== undefined ? { status: context.status } : {})
  })
  return withBilledUsage(error, billed)
}

export { billedUsageOf, withBilledUsage }
