/**
 * Parsing of the servers' "wait this long" hints: the `Retry-After` header (delta-seconds or an
 * HTTP-date), the non-standard `retry-after-ms`, and Gemini's `google.rpc.RetryInfo.retryDelay`.
 * Pure functions: the caller passes `now` (epoch ms, read from `Clock`).
 */
import * as Duration from "effect/Duration"

const seconds = /^\d+(?:\.\d+)?$/

/**
 * `Retry-After`: delta-seconds (`"120"`, also `"1.5"`) or an HTTP-date relative to `now`
 * (a date in the past is a zero wait). Anything else, or absent, is `undefined`.
 */
export const parseRetryAfter = (value: string | undefined, now: number): Duration.Duration | undefined => {
  if (value === undefined) return undefined
  const text = value.trim()
  if (text.length === 0) return undefined
  if (seconds.test(text)) return Duration.millis(Math.round(Number(text) * 1000))
  // An HTTP-date names a month ("Wed, 21 Oct 2015 07:28:00 GMT"); without letters `Date.parse`
  // would accept numbers such as "-5" as years.
  if (!/[a-z]/i.test(text)) return undefined
  const at = Date.parse(text)
  if (Number.isNaN(at)) return undefined
  return Duration.millis(Math.max(0, at - now))
}

/** `retry-after-ms`: a non-negative number of milliseconds, else `undefined`. */
export const parseRetryAfterMs = (value: string | undefined): Duration.Duration | undefined => {
  if (value === undefined) return undefined
  const text = value.trim()
  return seconds.test(text) ? Duration.millis(Number(text)) : undefined
}

const protobufDuration = /^(\d+(?:\.\d+)?)s$/

/** Gemini `RetryInfo.retryDelay`, a protobuf Duration string: `"26s"`, `"34.4s"`, `"57.238747106s"`. */
export const parseRetryDelay = (value: unknown): Duration.Duration | undefined => {
  if (typeof value !== "string") return undefined
  const match = protobufDuration.exec(value.trim())
  return match === null ? undefined : Duration.millis(Math.round(Number(match[1]) * 1000))
}

/**
 * The hint in response headers (names lower-case, as `@effect/platform` `Headers` keeps them):
 * `retry-after-ms` first (the more precise), else `retry-after`.
 */
export const fromHeaders = (
  headers: Readonly<Record<string, string | undefined>>,
  now: number
): Duration.Duration | undefined =>
  parseRetryAfterMs(headers["retry-after-ms"]) ?? parseRetryAfter(headers["retry-after"], now)
