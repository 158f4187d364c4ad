import { assert, describe, it } from "@effect/vitest"
import * as Duration from "effect/Duration"
import {
  fromHeaders,
  parseRetryAfter,
  parseRetryAfterMs,
  parseRetryDelay
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
    assert.strictEqual(millis(fromHeaders({ "retry-after": "9" }, now)), 9000)
    assert.strictEqual(millis(fromHeaders({ "retry-after-ms": "x", "retry-after": "9" }, now)), 9000)
    assert.isUndefined(fromHeaders({}, now))
  })
})
