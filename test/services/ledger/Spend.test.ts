/**
 * The spend rule every backend shares: the windows (UTC day, ISO week from Monday, calendar month)
 * and their keys, the scopes an event counts toward, amounts in messages, and the fold's bookkeeping.
 */
import { assert, describe, it } from "@effect/vitest"
import { holdEvent, settlementEvent } from "../../../src/services/ledger/Events.js"
import {
  dayKey,
  formatUsd,
  monthKey,
  scopesOf,
  SpendFold,
  weekKey,
  windowStart
} from "../../../src/services/ledger/Spend.js"
import { request } from "../../support/LedgerBackends.js"
import { computeSpend } from "../../support/Spend.js"

const at = (iso: string) => Date.parse(iso)

describe("windows", () => {
  it("start at UTC midnight, on Monday, and on the 1st", () => {
    const thursday = at("2026-01-15T12:34:56Z")
    assert.strictEqual(windowStart("daily", thursday), at("2026-01-15T00:00:00Z"))
    assert.strictEqual(windowStart("weekly", thursday), at("2026-01-12T00:00:00Z"))
    assert.strictEqual(windowStart("monthly", thursday), at("2026-01-01T00:00:00Z"))
    // a Sunday belongs to the week that began the Monday before; a Monday starts its own
    assert.strictEqual(windowStart("weekly", at("2026-01-18T23:59:59Z")), at("2026-01-12T00:00:00Z"))
    assert.strictEqual(windowStart("weekly", at("2026-01-19T00:00:00Z")), at("2026-01-19T00:00:00Z"))
    // weeks cross months and years
    assert.strictEqual(windowStart("weekly", at("2027-01-01T08:00:00Z")), at("2026-12-28T00:00:00Z"))
    assert.strictEqual(windowStart("monthly", at("2024-02-29T23:59:59.999Z")), at("2024-02-01T00:00:00Z"))
    assert.strictEqual(windowStart("monthly", at("2024-03-01T00:00:00Z")), at("2024-03-01T00:00:00Z"))
  })

  it("are keyed YYYY-MM-DD, YYYY-Www (the ISO year) and YYYY-MM", () => {
    assert.strictEqual(dayKey(at("2026-01-15T23:59:59Z")), "2026-01-15")
    assert.strictEqual(monthKey(at("2026-01-15T23:59:59Z")), "2026-01")
    assert.strictEqual(weekKey(at("2026-01-01T00:00:00Z")), "2026-W01") // a Thursday
    assert.strictEqual(weekKey(at("2026-03-01T10:00:00Z")), "2026-W09")
    assert.strictEqual(weekKey(at("2026-03-02T10:00:00Z")), "2026-W10")
    assert.strictEqual(weekKey(at("2027-01-01T00:00:00Z")), "2026-W53") // a Friday of the last week of 2026
    assert.strictEqual(weekKey(at("2024-12-30T00:00:00Z")), "2025-W01") // a Monday of the first week of 2025
    assert.strictEqual(weekKey(at("2021-01-03T00:00:00Z")), "2020-W53")
  })
})

describe("scopesOf", () => {
  it("is global, the alias, and one scope per tag (a tag named model makes none)", () => {
    assert.deepStrictEqual(scopesOf("flash", { user: "u-42", team: "acme", model: "x" }), [
      "global",
      "model:flash",
      "user:u-42",
      "team:acme"
    ])
    assert.deepStrictEqual(scopesOf("flash", undefined), ["global", "model:flash"])
  })
})

describe("formatUsd", () => {
  it("prints cents, and small amounts with four significant digits", () => {
    assert.strictEqual(formatUsd(0), "$0.00")
    assert.strictEqual(formatUsd(1), "$1.00")
    assert.strictEqual(formatUsd(0.75), "$0.75")
    assert.strictEqual(formatUsd(12.5), "$12.50")
    assert.strictEqual(formatUsd(1234.5678), "$1234.57")
    assert.strictEqual(formatUsd(0.123456), "$0.1235")
    assert.strictEqual(formatUsd(0.0000123), "$0.0000123")
    assert.strictEqual(formatUsd(0.000012346), "$0.00001235")
    assert.strictEqual(formatUsd(1.23e-7), "$0.000000123")
    assert.strictEqual(formatUsd(-0.5), "-$0.50")
  })
})

describe("SpendFold", () => {
  it("counts a settlement in its windows only, and a hold by age until it expires", () => {
    const fold = new SpendFold(60)
    const sunday = at("2026-01-18T23:59:00Z")
    fold.add({ type: "commit", holdId: "a", cost: 1, timestamp: sunday, alias: "flash", tags: { user: "u1" } })
    fold.add({ type: "hold", holdId: "b", cost: 0.5, timestamp: sunday, alias: "flash", tags: undefined })
    const spent = (now: number) =>
      (["daily", "weekly", "monthly"] as const).map((window) => fold.spent("user:u1", window, now))
    assert.deepStrictEqual(spent(sunday), [1, 1, 1])
    assert.strictEqual(fold.spent("global", "daily", sunday + 59_999), 1.5)
    assert.strictEqual(fold.spent("global", "daily", sunday + 60_000), 0) // Monday, and the hold expired
    assert.deepStrictEqual(spent(sunday + 60_000), [0, 0, 1])
    assert.isFalse(fold.counts("b", sunday + 60_000))
  })

  it("checks limits in order, the hold being raised left out", () => {
    const fold = new SpendFold(900)
    const now = at("2026-01-15T12:00:00Z")
    fold.add({ type: "hold", holdId: "a", cost: 0.5, timestamp: now, alias: "flash", tags: { user: "u1" } })
    const limits = [
      { scope: "global", window: "daily", limit: 1 },
      { scope: "user:u1", window: "monthly", limit: 0.75 }
    ] as const
    assert.deepStrictEqual(fold.check(limits, 0.75, now), { limit: limits[0], spent: 0.5 })
    assert.deepStrictEqual(fold.check(limits, 0.5, now), { limit: limits[1], spent: 0.5 })
    assert.strictEqual(fold.check(limits, 0.75, now, "a"), undefined)
    assert.strictEqual(fold.check([], 1000, now), undefined)
  })

  it("computeSpend folds events as events() lists them", () => {
    const now = at("2026-01-15T12:00:00Z")
    const hold = holdEvent(request({ tags: { user: "u1" } }), "h", now)
    const commit = settlementEvent(
      {
        id: "h",
        traceId: "t",
        provider: "gemini",
        model: "m",
        alias: "flash",
        tags: { user: "u1" },
        estimate: 0.25,
        timestamp: now
      },
      { cost: 0.125 },
      "commit",
      "ok",
      "c",
      now + 1
    )
    assert.strictEqual(computeSpend([hold], now, 900), 0.25)
    assert.strictEqual(computeSpend([hold, commit], now, 900, "user:u1", "monthly"), 0.125)
    assert.strictEqual(computeSpend([hold, commit], now, 900, "user:u2", "monthly"), 0)
  })
})
