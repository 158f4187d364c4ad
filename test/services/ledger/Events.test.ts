/**
 * The records every backend stores: credentials scrubbed from error messages, and raises folded into
 * their hold when events are listed.
 */
import { assert, describe, it } from "@effect/vitest"
import { LedgerEvent } from "../../../src/domain/LedgerEvent.js"
import {
  foldRaises,
  holdEvent,
  raiseRecord,
  scrubSecrets,
  settlementEvent
} from "../../../src/services/ledger/Events.js"
import { request } from "../../support/LedgerBackends.js"

describe("scrubSecrets", () => {
  it("removes credentials from error messages before they are stored", () => {
    const gemini = "AIzaSyA1b2C3d4E5f6G7h8I9j0KlMnOpQrStUvW"
    assert.strictEqual(
      scrubSecrets(`GET https://generativelanguage.googleapis.com/v1beta/models/x?key=${gemini}&alt=sse failed`),
      "GET https://generativelanguage.googleapis.com/v1beta/models/x?key=<redacted>&alt=sse failed"
    )
    assert.strictEqual(
      scrubSecrets(`headers: x-goog-api-key: ${gemini}, accept: */*`),
      "headers: x-goog-api-key: <redacted>, accept: */*"
    )
    assert.strictEqual(scrubSecrets("Authorization: Bearer sk-0123456789abcdef0123"), "Authorization: <redacted>")
    assert.strictEqual(
      scrubSecrets("Incorrect API key provided: sk-0123456789abcdef0123."),
      "Incorrect API key provided: <redacted>."
    )
    assert.strictEqual(
      scrubSecrets("dashscope (intl) answered HTTP 503: overloaded"),
      "dashscope (intl) answered HTTP 503: overloaded"
    )
  })

  it("keeps at most 2,000 characters of a message, never half of an emoji (stored as U+FFFD by SQLite and PostgreSQL)", () => {
    assert.strictEqual(scrubSecrets("x".repeat(2_500)), "x".repeat(2_000))
    assert.strictEqual(scrubSecrets(`x${"😀".repeat(1_500)}`), `x${"😀".repeat(999)}`)
  })
})

describe("foldRaises", () => {
  it("shows each hold with its last raise (cost, provider, model, alias) and lists no raise", () => {
    const hold = holdEvent(request({ tags: { user: "u1" } }), "h1", 1000)
    const asHold = {
      id: "h1",
      traceId: "trace-1",
      provider: "gemini",
      model: "gemini-2.5-flash",
      alias: "flash",
      tags: { user: "u1" },
      estimate: 0.25,
      timestamp: 1000
    }
    const first = raiseRecord(
      asHold,
      { provider: "gemini", model: "gemini-2.5-pro", alias: "pro", estimate: 0.5, limits: [] },
      "r1",
      2000
    )
    const second = raiseRecord(
      asHold,
      { provider: "dashscope", model: "qwen-max", alias: "max", estimate: 0.75, limits: [] },
      "r2",
      3000
    )
    const commit = settlementEvent(asHold, { cost: 0.5, alias: "max" }, "commit", "ok", "c1", 4000)
    const other = holdEvent(request({ traceId: "other" }), "h2", 1500)
    const listed = foldRaises([hold, other, first, second, commit])
    assert.deepStrictEqual(listed.map((event) => event.id), ["h1", "h2", "c1"])
    assert.instanceOf(listed[0], LedgerEvent)
    assert.deepStrictEqual(
      [listed[0]!.cost, listed[0]!.provider, listed[0]!.model, listed[0]!.alias, listed[0]!.timestamp, listed[0]!.tags],
      [0.75, "dashscope", "qwen-max", "max", 1000, { user: "u1" }]
    )
    assert.strictEqual(listed[1], other)
    assert.deepStrictEqual(commit.tags, { user: "u1" })
    // a raise whose hold is not in the list is dropped
    assert.deepStrictEqual(foldRaises([first, commit]).map((event) => event.id), ["c1"])
  })
})
