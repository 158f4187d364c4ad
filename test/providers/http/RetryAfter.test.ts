import { assert, describe, it } from "@effect/vitest"
import * as Duration from "effect/Duration"
import {
  fromHeaders,
  fromRateLimitReset,
  parseResetDuration,
  parseRetryAfter,
  parseRetryAfterMs,
  parseRetryDelay,
  parseUtcDate
} from "../../../src/providers/http/RetryAfter.js"

const now = Date.parse("2025-08-16T00:45:32Z")
const millis = (
  duration: Duration.Duration | undefined
) => (duration === undefined ? undefined : Duration.toMillis(duration))

describe("RetryAfter", () => {
  it("parses Retry-After delta-seconds", () => {
    assert.strictEqual(millis(parseRetryAfter("120", now)), 120_000)
    assert.strictEqual(millis(parseRetryAfter(" 0 ", now)), 0)
    assert.strictEqual(millis(parseRetryAfter("1.5", now)), 1500)
  })

  it("parses Retry-After HTTP-dates relative to now, past dates as zero", () => {
    assert.strictEqual(millis(parseRetryAfter("Sat, 16 Aug 2025 00:46:02 GMT", now)), 30_000)
    assert.strictEqual(millis(parseRetryAfter("Sat, 16 Aug 2025 00:45:00 GMT", now)), 0)
  })

  it("reads a zone-less date as UTC whatever the process's time zone: asctime HTTP-dates, ISO date-times", () => {
    const zone = process.env.TZ
    try {
      for (const tz of ["America/New_York", "Asia/Kolkata", "UTC"]) {
        process.env.TZ = tz
        assert.strictEqual(millis(parseRetryAfter("Sat Aug 16 00:46:32 2025", now)), 60_000, tz)
        assert.strictEqual(millis(parseRetryAfter("Saturday, 16-Aug-25 00:46:32 GMT", now)), 60_000, tz)
        assert.strictEqual(parseUtcDate("2025-08-16T00:46:32"), now + 60_000)
        assert.strictEqual(parseUtcDate("2025-08-16T01:46:32+01:00"), now + 60_000)
        // a date that names its zone keeps it (RFC 822's US zones)
        assert.strictEqual(parseUtcDate("Fri, 15 Aug 2025 20:46:32 EDT"), now + 60_000)
      }
    } finally {
      if (zone === undefined) delete process.env.TZ
      else process.env.TZ = zone
    }
  })

  it("a header sent twice (joined with \", \") gives the longest of its waits: seconds, dates, ms, reset durations", () => {
    assert.strictEqual(millis(parseRetryAfter("1, 1", now)), 1000)
    assert.strictEqual(millis(parseRetryAfter("2, 30", now)), 30_000)
    assert.strictEqual(
      millis(parseRetryAfter("Sat, 16 Aug 2025 00:46:02 GMT, Sat, 16 Aug 2025 00:46:32 GMT", now)),
      60_000
    )
    assert.strictEqual(millis(parseRetryAfter("soon, 5", now)), 5000)
    assert.strictEqual(millis(parseRetryAfterMs("250, 400")), 400)
    assert.strictEqual(millis(parseResetDuration("1s, 6m0s")), 360_000)
    assert.strictEqual(millis(fromHeaders({ "retry-after": "1, 1" }, now)), 1000)
    assert.isUndefined(parseRetryAfter("soon, later", now))
    assert.isUndefined(parseRetryAfter("Dec 2026", now)) // no time: not an HTTP-date
    assert.strictEqual(millis(parseRetryAfter("Sat, 16 Aug 2025 00:46:02 GMT, 3600", now)), 3_600_000)
  })

  it("ignores absent, empty, negative and garbage Retry-After values", () => {
    assert.isUndefined(parseRetryAfter(undefined, now))
    assert.isUndefined(parseRetryAfter("", now))
    assert.isUndefined(parseRetryAfter("-5", now))
    assert.isUndefined(parseRetryAfter("soon", now))
  })

  it("parses retry-after-ms", () => {
    assert.strictEqual(millis(parseRetryAfterMs("250")), 250)
    assert.strictEqual(millis(parseRetryAfterMs("12.5")), 12.5)
    assert.isUndefined(parseRetryAfterMs("abc"))
    assert.isUndefined(parseRetryAfterMs(undefined))
  })

  it("parses Gemini RetryInfo retryDelay protobuf durations", () => {
    assert.strictEqual(millis(parseRetryDelay("26s")), 26_000)
    assert.strictEqual(millis(parseRetryDelay("34.4s")), 34_400)
    assert.strictEqual(millis(parseRetryDelay("57.238747106s")), 57_239)
    assert.strictEqual(millis(parseRetryDelay("0s")), 0)
    assert.isUndefined(parseRetryDelay("26"))
    assert.isUndefined(parseRetryDelay("1m"))
    assert.isUndefined(parseRetryDelay("-1s"))
    assert.isUndefined(parseRetryDelay(26))
    assert.isUndefined(parseRetryDelay(undefined))
  })

  it("prefers retry-after-ms over retry-after in headers", () => {
    assert.strictEqual(millis(fromHeaders({ "retry-after-ms": "1500", "retry-after": "9" }, now)), 1500)
    // Azure's name for it
    assert.strictEqual(millis(fromHeaders({ "x-ms-retry-after-ms": "2500", "retry-after": "9" }, now)), 2500)
    assert.strictEqual(millis(fromHeaders({ "retry-after": "9" }, now)), 9000)
    assert.strictEqual(millis(fromHeaders({ "retry-after-ms": "x", "retry-after": "9" }, now)), 9000)
    assert.isUndefined(fromHeaders({}, now))
  })

  it("parses x-ratelimit-reset-* Go-style durations: 6m0s, 1s, 20ms, 2m59.56s, 0s, hours and sub-ms, rounded up", () => {
    assert.strictEqual(millis(parseResetDuration("6m0s")), 360_000)
    assert.strictEqual(millis(parseResetDuration("1s")), 1000)
    assert.strictEqual(millis(parseResetDuration("20ms")), 20)
    assert.strictEqual(millis(parseResetDuration("2ms")), 2)
    assert.strictEqual(millis(parseResetDuration("2m59.56s")), 179_560)
    assert.strictEqual(millis(parseResetDuration("7.66s")), 7660)
    assert.strictEqual(millis(parseResetDuration("1m26.4s")), 86_400)
    assert.strictEqual(millis(parseResetDuration("547ms")), 547)
    assert.strictEqual(millis(parseResetDuration("0s")), 0)
    assert.strictEqual(millis(parseResetDuration("1h2m3s")), 3_723_000)
    assert.strictEqual(millis(parseResetDuration("1500us")), 2)
    assert.strictEqual(millis(parseResetDuration(" 1s ")), 1000)
  })

  it("ignores reset values that are no duration", () => {
    for (const value of [undefined, "", "-1", "1.5", "s", "1x", "soon", "1s later", "1 s"]) {
      assert.isUndefined(parseResetDuration(value), String(value))
    }
  })

  it("the reset hint: the named dimension, else the spent one, else the sooner of the two", () => {
    const headers = { "x-ratelimit-reset-requests": "6m0s", "x-ratelimit-reset-tokens": "1s" }
    assert.strictEqual(millis(fromRateLimitReset(headers, "requests")), 360_000)
    assert.strictEqual(millis(fromRateLimitReset(headers, "tokens")), 1000)
    assert.strictEqual(millis(fromRateLimitReset({ ...headers, "x-ratelimit-remaining-requests": "0" })), 360_000)
    assert.strictEqual(millis(fromRateLimitReset({ ...headers, "x-ratelimit-remaining-tokens": "0" })), 1000)
    assert.strictEqual(
      millis(fromRateLimitReset({
        ...headers,
        "x-ratelimit-remaining-tokens": "0",
        "x-ratelimit-remaining-requests": "0"
      })),
      360_000
    )
    assert.strictEqual(millis(fromRateLimitReset(headers)), 1000)
    assert.strictEqual(millis(fromRateLimitReset({ "x-ratelimit-reset-tokens": "20ms" }, "requests")), 20)
    assert.isUndefined(fromRateLimitReset({}))
    assert.isUndefined(fromRateLimitReset({ "x-ratelimit-reset-requests": "-1" }))
  })

  it("reads Cerebras' per-window resets in seconds: the spent window's, else the soonest", () => {
    const cerebras = {
      "x-ratelimit-remaining-requests-day": "14399",
      "x-ratelimit-reset-requests-day": "33011.382867097855",
      "x-ratelimit-remaining-tokens-minute": "0",
      "x-ratelimit-reset-tokens-minute": "11.382867097854614"
    }
    assert.strictEqual(millis(fromRateLimitReset(cerebras)), 11_383)
    assert.strictEqual(millis(fromRateLimitReset(cerebras, "requests")), 33_011_383)
    assert.strictEqual(
      millis(fromRateLimitReset({ ...cerebras, "x-ratelimit-remaining-tokens-minute": "59000" })),
      11_383
    )
    assert.strictEqual(
      millis(fromRateLimitReset({ ...cerebras, "x-ratelimit-remaining-requests-day": "0" })),
      33_011_383
    )
    // OpenAI's two headers, when present, are the hint; a window name without a number is none
    assert.strictEqual(
      millis(fromRateLimitReset({ ...cerebras, "x-ratelimit-reset-requests": "2s" })),
      2000
    )
    assert.isUndefined(fromRateLimitReset({ "x-ratelimit-reset-tokens-minute": "soon" }))
    // sent twice (joined): the longest, and a joined remaining "0, 0" is spent
    assert.strictEqual(millis(fromRateLimitReset({ "x-ratelimit-reset-tokens-minute": "3.38, 4" })), 4000)
    assert.strictEqual(
      millis(
        fromRateLimitReset({
          ...cerebras,
          "x-ratelimit-remaining-tokens-minute": "1",
          "x-ratelimit-remaining-requests-day": "0, 0"
        })
      ),
      33_011_383
    )
    assert.strictEqual(
      millis(fromRateLimitReset({
        "x-ratelimit-reset-requests": "6m0s",
        "x-ratelimit-reset-tokens": "20ms",
        "x-ratelimit-remaining-requests": "0, 0"
      })),
      360_000
    )
    assert.isUndefined(fromRateLimitReset({ "x-ratelimit-reset-tokens-week": "5" }))
  })
})
