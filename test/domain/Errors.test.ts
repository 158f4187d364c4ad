/**
 * The error records (API.md §3): every member of `LLMError` carries `provider` and `endpoint` where
 * known — readable on the union itself, as a user's error handler reads them.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Schema from "effect/Schema"
import {
  BudgetExceededError,
  CircuitOpenError,
  ConfigError,
  FatalError,
  FatalReason,
  LedgerEvent,
  type LLMError,
  RateLimitError,
  RateLimitReason,
  RetryableError,
  RetryableReason
} from "../../src/index.js"

/** What a handler logs about any error: typed on the union (a member without the fields would not compile). */
const where = (error: LLMError): [string | undefined, string | undefined] => [error.provider, error.endpoint]

describe("LLMError", () => {
  it("every member has provider and endpoint, set where known", () => {
    const known = { provider: "google", endpoint: "g1" }
    const errors: ReadonlyArray<LLMError> = [
      new RetryableError({ reason: "server_error", message: "503", ...known }),
      new RateLimitError({ reason: "rate_limited", message: "429", ...known }),
      new FatalError({ reason: "invalid_request", message: "400", ...known }),
      new CircuitOpenError({ reason: "all_endpoints_open", message: "open", ...known }),
      new BudgetExceededError({
        reason: "daily_limit",
        message: "over",
        scope: "global",
        window: "daily",
        spent: 1,
        limit: 1,
        estimate: 0.1,
        ...known
      }),
      new ConfigError({ reason: "invalid", message: "bad", path: "providers.google.endpoints[0]", ...known })
    ]
    for (const error of errors) assert.deepStrictEqual(where(error), ["google", "g1"], error._tag)
    assert.deepStrictEqual(where(new ConfigError({ reason: "missing", message: "no file", path: "" })), [
      undefined,
      undefined
    ])
  })
})

describe("the reasons, exported as schemas and types", () => {
  it("name every reason each error class takes, and decode a reason a handler reads from elsewhere", () => {
    const retryable: ReadonlyArray<RetryableReason> = RetryableReason.literals
    const rateLimit: ReadonlyArray<RateLimitReason> = RateLimitReason.literals
    const fatal: ReadonlyArray<FatalReason> = FatalReason.literals
    assert.includeMembers([...retryable], ["server_error", "timeout", "overloaded", "stream_interrupted"])
    assert.deepStrictEqual([...rateLimit], ["rate_limited", "quota_exhausted", "local_limit"])
    assert.includeMembers([...fatal], ["invalid_request", "content_filter", "ledger_unavailable"])
    assert.strictEqual(Schema.decodeUnknownSync(FatalReason)("not_found"), "not_found")
    assert.throws(() => Schema.decodeUnknownSync(RateLimitReason)("slow_down"))
  })
})

describe("records built from the contract's fields alone", () => {
  it("a CircuitOpenError and a ConfigError need no reason (API.md §3 names none); a LedgerEvent no holdId (§6)", () => {
    assert.strictEqual(new CircuitOpenError({ message: "every breaker is open" }).reason, "all_endpoints_open")
    assert.strictEqual(new ConfigError({ message: "bad", path: "resilience.max_retries" }).reason, "invalid")
    const decoded = Schema.decodeUnknownSync(LedgerEvent)({
      id: "e1",
      type: "commit",
      traceId: "t1",
      provider: "google",
      model: "gemini-2.5-flash",
      cost: 0.001,
      status: "ok",
      timestamp: 1
    })
    assert.strictEqual(decoded.holdId, "")
    const { holdId: _, ...fields } = decoded
    assert.strictEqual(new LedgerEvent(fields).holdId, "")
  })
})
