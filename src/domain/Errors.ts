/**
 * The typed failures of effect-llm (API.md §3). `LLMError` is what `generate` and `stream` fail with;
 * `LedgerError` is the ledger's own failure, seen at layer build and from `Ledger` methods.
 * No error ever holds an API key: keys stay `Redacted` and messages are built from bodies the
 * provider sent back, which never echo the key header.
 */
import * as Schema from "effect/Schema"

/** Why a `RetryableError` happened. */
export const RetryableReason = Schema.Literal(
  "server_error",
  "timeout",
  "connection",
  "stream_interrupted",
  "overloaded"
)
export type RetryableReason = typeof RetryableReason.Type

/**
 * A transient failure: 5xx, 408, connection refused/reset, timeout, a cut stream, or a service saying
 * it is overloaded (HTTP 529, an overload body such as Anthropic's `overloaded_error`). Retried by the
 * schedule; counted by the breaker. `retryAfter` is the server's `Retry-After` (`retry-after-ms`) on
 * such an answer (a 503 or 529 may send one): a retry to the same endpoint waits at least that long.
 */
export class RetryableError extends Schema.TaggedError<RetryableError>()("RetryableError", {
  reason: RetryableReason,
  message: Schema.String,
  provider: Schema.optional(Schema.String),
  endpoint: Schema.optional(Schema.String),
  status: Schema.optional(Schema.Number),
  retryAfter: Schema.optional(Schema.DurationFromMillis)
}) {}

/**
 * Why a `RateLimitError` happened: a wait can clear `rate_limited`, never `quota_exhausted`;
 * `local_limit` is effect-llm's own limiter refusing before any request (API.md §11).
 */
export const RateLimitReason = Schema.Literal("rate_limited", "quota_exhausted", "local_limit")
export type RateLimitReason = typeof RateLimitReason.Type

/** Which limit a `local_limit` refusal hit: a configured window, or a pause learned from the server's 429. */
export const LimitKind = Schema.Literal("rpm", "tpm", "rpd", "server")
export type LimitKind = typeof LimitKind.Type

/**
 * A 429 (or DashScope `Throttling*`), or the local limiter's refusal (`local_limit`, with `limitKind`
 * and no `status`: no request was made). `retryAfter` is the server's hint, or the time until a
 * local slot frees.
 */
export class RateLimitError extends Schema.TaggedError<RateLimitError>()("RateLimitError", {
  reason: RateLimitReason,
  message: Schema.String,
  provider: Schema.optional(Schema.String),
  endpoint: Schema.optional(Schema.String),
  status: Schema.optional(Schema.Number),
  retryAfter: Schema.optional(Schema.DurationFromMillis),
  limitKind: Schema.optional(LimitKind)
}) {}

/** Why a `FatalError` happened. */
export const FatalReason = Schema.Literal(
  "invalid_request",
  "authentication",
  "permission_denied",
  "not_found",
  "bad_response",
  "content_filter",
  "ledger_unavailable"
)
export type FatalReason = typeof FatalReason.Type

/** A failure no retry can fix: 400/401/403/404, an invalid request, or an undecodable response. */
export class FatalError extends Schema.TaggedError<FatalError>()("FatalError", {
  reason: FatalReason,
  message: Schema.String,
  provider: Schema.optional(Schema.String),
  endpoint: Schema.optional(Schema.String),
  status: Schema.optional(Schema.Number)
}) {}

/** A budget window: the UTC day, the ISO week (Monday start, UTC) or the calendar month (UTC). */
export const BudgetWindow = Schema.Literal("daily", "weekly", "monthly")
export type BudgetWindow = typeof BudgetWindow.Type

/**
 * The call's estimate would take a scope's spend in a window over its limit; no request was made.
 * `scope` is `global`, `model:<alias>` or `<tag>:<value>` (API.md §12).
 */
export class BudgetExceededError extends Schema.TaggedError<BudgetExceededError>()("BudgetExceededError", {
  reason: Schema.Literal("daily_limit", "weekly_limit", "monthly_limit"),
  message: Schema.String,
  /** The first scope that refused. */
  scope: Schema.String,
  /** The window of that scope that refused. */
  window: BudgetWindow,
  /** USD already spent (committed + held) in that scope and window. */
  spent: Schema.Number,
  /** USD, the limit of that scope and window. */
  limit: Schema.Number,
  /** USD, this call's estimated cost. */
  estimate: Schema.Number,
  provider: Schema.optional(Schema.String),
  /** The endpoint a raised hold was for (a fallback's), when the refusal came mid-call. */
  endpoint: Schema.optional(Schema.String)
}) {}

/** Every endpoint of the model and of its fallbacks has an open breaker; no request was made. */
export class CircuitOpenError extends Schema.TaggedError<CircuitOpenError>()("CircuitOpenError", {
  /** Its only reason: given by default (API.md §3 names none), so `new CircuitOpenError({ message })` builds one. */
  reason: Schema.optionalWith(Schema.Literal("all_endpoints_open"), { default: () => "all_endpoints_open" as const }),
  message: Schema.String,
  provider: Schema.optional(Schema.String),
  endpoint: Schema.optional(Schema.String),
  /** Epoch ms at which the first breaker will let a probe through. */
  reopensAt: Schema.optional(Schema.Number)
}) {}

/** Bad or missing configuration. `path` is the offending key path, e.g. `resilience.max_retries`. */
export class ConfigError extends Schema.TaggedError<ConfigError>()("ConfigError", {
  /** `invalid` when not given (API.md §3 names no reason): `new ConfigError({ message, path })` builds one. */
  reason: Schema.optionalWith(Schema.Literal("invalid", "missing", "unreadable"), {
    default: () => "invalid" as const
  }),
  message: Schema.String,
  path: Schema.String,
  provider: Schema.optional(Schema.String),
  /** The endpoint the offending key belongs to, when it is one's (API.md §3: every error carries it where known). */
  endpoint: Schema.optional(Schema.String)
}) {}

/** The ledger could not be opened, read or written. */
export class LedgerError extends Schema.TaggedError<LedgerError>()("LedgerError", {
  reason: Schema.Literal("unavailable", "corrupt", "incompatible_schema", "write_failed", "read_failed"),
  message: Schema.String
}) {}

/** Everything `generate` and `stream` can fail with. */
export const LLMError = Schema.Union(
  RetryableError,
  RateLimitError,
  FatalError,
  BudgetExceededError,
  CircuitOpenError,
  ConfigError
)
export type LLMError = typeof LLMError.Type

/**
 * Errors whose response said `x-should-retry: false` (OpenAI, Anthropic and services on their wire):
 * the server's verdict, which the retry policy obeys. Beside the error, not on it: its fields are the contract's.
 */
const refusedRetry = new WeakSet<object>()

/** Marks `error` as one its server said not to retry. */
export const markRetryRefused = <E extends object>(error: E): E => {
  refusedRetry.add(error)
  return error
}

/** Whether the server said not to retry `error` (`x-should-retry: false`). */
export const isRetryRefused = (error: LLMError): boolean => refusedRetry.has(error)

/** True for the errors the retry schedule may retry (before any rate-limit wait rules apply). */
export const isRetryable = (error: LLMError): error is RetryableError | RateLimitError =>
  error._tag === "RetryableError" || (error._tag === "RateLimitError" && error.reason === "rate_limited")
