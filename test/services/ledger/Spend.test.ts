/**
 * The spend rule every backend shares: the windows (UTC day, ISO week from Monday, calendar month)
 * and their keys, the scopes an event counts toward, amounts in messages, and the fold's bookkeeping.
 */
import { assert, describe, it } from "@effect/vitest"
import { holdEvent, settlementEvent } from "../../../src/services/ledger/Events.js"
import {
  budgetExceeded,
  dayKey,
  formatUsd,
  monthKey,
  scopesOf,
  SpendFold,
  type SpendRow,
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

  it("keeps totals to the picodollar: 9,999 settlements of $0.10 are $999.90, and a $0.10 call then fits $1,000 exactly", () => {
    const fold = new SpendFold(900)
    const now = at("2026-01-15T12:00:00Z")
    for (let i = 0; i < 9_999; i++) {
      fold.add({ type: "hold", holdId: `h${i}`, cost: 0.1, timestamp: now, alias: "flash", tags: undefined })
      fold.add({ type: "commit", holdId: `h${i}`, cost: 0.1, timestamp: now, alias: "flash", tags: undefined })
    }
    assert.strictEqual(fold.spent("global", "daily", now), 999.9)
    const limit = { scope: "global", window: "daily", limit: 1000 } as const
    assert.isUndefined(fold.check([limit], 0.1, now))
    // and open holds' running totals, opened and closed many times over
    for (let i = 0; i < 9_999; i++) {
      fold.add({ type: "hold", holdId: `o${i}`, cost: 0.1, timestamp: now, alias: "flash", tags: undefined })
    }
    for (let i = 0; i < 9_000; i++) {
      fold.add({ type: "cancel", holdId: `o${i}`, cost: 0, timestamp: now, alias: "flash", tags: undefined })
    }
    assert.strictEqual(fold.spent("global", "daily", now), 999.9 + 99.9)
  })

  it("a refusal carries the spend as spend() reads it: $0.60 + $0.30 is $0.90, not 0.8999999999999999", () => {
    const limit = { scope: "global", window: "monthly", limit: 1 } as const
    const refusal = budgetExceeded(limit, 0.6 + 0.3, 0.3, undefined)
    assert.strictEqual(refusal.spent, 0.9)
    assert.include(refusal.message, "spent $0.90 of $1.00")
  })

  it("keeps large totals exact too: 99,999 settlements of $0.03 leave room for exactly one more under $3,000", () => {
    const fold = new SpendFold(900)
    const now = at("2026-01-15T12:00:00Z")
    for (let i = 0; i < 99_999; i++) {
      fold.add({ type: "commit", holdId: `h${i}`, cost: 0.03, timestamp: now, alias: "flash", tags: undefined })
    }
    assert.closeTo(fold.spent("global", "monthly", now), 2999.97, 1e-9)
    const limit = { scope: "global", window: "monthly", limit: 3000 } as const
    assert.isUndefined(fold.check([limit], 0.03, now))
    assert.isDefined(fold.check([limit], 0.0300001, now), "a tenth of a microdollar over is over")
  })

  it("lists the scopes with spend now: a settlement in a current window, an open hold renewed long after it was made", () => {
    const fold = new SpendFold(900)
    const now = at("2026-01-15T00:30:00Z")
    const row = (type: SpendRow["type"], holdId: string, timestamp: number, user: string): SpendRow => ({
      type,
      holdId,
      cost: 0.25,
      timestamp,
      alias: "flash",
      tags: { user }
    })
    fold.add(row("commit", "a", at("2026-01-01T10:00:00Z"), "settled-this-month"))
    fold.add(row("commit", "b", at("2025-12-31T10:00:00Z"), "settled-last-month"))
    fold.add(row("hold", "c", at("2026-01-14T22:00:00Z"), "renewed")) // a stream open since yesterday
    fold.add(row("raise", "c", now - 60_000, "renewed")) // its renewal a minute ago
    fold.add(row("hold", "d", at("2026-01-14T22:00:00Z"), "expired")) // its process died
    assert.deepStrictEqual(fold.scopes(now).filter((scope) => scope.startsWith("user:")).sort(), [
      "user:renewed",
      "user:settled-this-month"
    ])
    assert.strictEqual(fold.spent("user:renewed", "daily", now), 0.25)
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

/**
 * The open holds as they were summed before `OpenHolds`: every open hold visited per check. The fold
 * must give what this gives, to rounding, whatever the rows.
 */
class SummedHolds {
  readonly open = new Map<string, { timestamp: number; cost: number; scopes: ReadonlyArray<string> }>()
  constructor(readonly ttlMs: number) {}
  add(row: SpendRow): void {
    if (row.type === "hold") {
      this.open.set(row.holdId, { timestamp: row.timestamp, cost: row.cost, scopes: scopesOf(row.alias, row.tags) })
    } else if (row.type === "raise") {
      // a raise (or renewal) restarts the hold's age
      this.open.set(row.holdId, { timestamp: row.timestamp, cost: row.cost, scopes: scopesOf(row.alias, row.tags) })
    } else this.open.delete(row.holdId)
  }
  reserved(scopes: ReadonlyArray<string>, now: number, exclude?: string): Array<number> {
    const totals = scopes.map(() => 0)
    for (const [holdId, hold] of this.open) {
      // an expired hold is not forgotten: a clock stepped back finds it young again
      if (!this.counts(holdId, now) || holdId === exclude) continue
      scopes.forEach((scope, i) => {
        if (hold.scopes.includes(scope)) totals[i]! += hold.cost
      })
    }
    return totals
  }
  counts(holdId: string, now: number): boolean {
    const hold = this.open.get(holdId)
    return hold !== undefined && now - hold.timestamp < this.ttlMs
  }
}

describe("SpendFold's open holds", () => {
  /** A small seeded generator, so that a failure replays. */
  const random = (seed: number) => () => {
    seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648
    return seed / 2_147_483_648
  }

  it("reserve what summing every open hold gives: holds, raises, settlements, expiry and a clock stepped back, times out of order", () => {
    for (let run = 0; run < 20; run++) {
      const next = random(run + 1)
      const ttlMs = 60_000
      const fold = new SpendFold(ttlMs / 1000)
      const summed = new SummedHolds(ttlMs)
      // one settlement-free window: the clock stays within one UTC day, settled totals stay zero
      let now = at("2026-01-15T01:00:00Z")
      let latest = now
      const ids: Array<string> = []
      const scopes = ["global", "model:a", "model:b", "user:u1", "user:u2"]
      for (let step = 0; step < 600; step++) {
        const pick = next()
        const id = pick < 0.45 || ids.length === 0 ? `h${step}` : ids[Math.floor(next() * ids.length)]!
        // another process's clock: up to 20 s behind or ahead of this one
        const timestamp = now + Math.floor((next() - 0.5) * 40_000)
        const alias = next() < 0.5 ? "a" : "b"
        const tags = next() < 0.5 ? { user: next() < 0.5 ? "u1" : "u2" } : undefined
        const type = pick < 0.45 ? "hold" : pick < 0.6 ? "raise" : pick < 0.8 ? "commit" : "cancel"
        // settlements cost nothing here: this test is about what open holds reserve
        const cost = type === "hold" || type === "raise" ? Math.round(next() * 1000) / 997 : 0
        const row: SpendRow = { type, holdId: id, cost, timestamp, alias, tags }
        if (type === "hold") ids.push(id)
        fold.add(row)
        summed.add(row)
        // now and then the clock steps back, to less than the TTL before the latest time it showed (an
        // expired hold can count again)
        latest = Math.max(latest, now)
        now = next() < 0.05
          ? Math.max(now - Math.floor(next() * 50_000), latest - 50_000)
          : now + Math.floor(next() * 2_000)
        const exclude = next() < 0.3 && ids.length > 0 ? ids[Math.floor(next() * ids.length)] : undefined
        const limits = scopes.map((scope) => ({ scope, window: "daily" as const, limit: 0 }))
        const expected = summed.reserved(scopes, now, exclude)
        const actual = fold.spentIn(limits, now, exclude)
        actual.forEach((value, i) =>
          assert.approximately(value, expected[i]!, 1e-9, `run ${run}, step ${step}, ${scopes[i]}`)
        )
        for (const held of ids.slice(-5)) {
          assert.strictEqual(fold.counts(held, now), summed.counts(held, now), `run ${run}, step ${step}, ${held}`)
        }
      }
    }
  })

  it("count a hold once in a scope that two of its tags name", () => {
    const fold = new SpendFold(900)
    const now = at("2026-01-15T12:00:00Z")
    const tags = { "a:b": "c", a: "b:c" }
    fold.add({ type: "hold", holdId: "h", cost: 0.25, timestamp: now, alias: "flash", tags })
    assert.strictEqual(fold.spent("a:b:c", "daily", now), 0.25)
    fold.add({ type: "commit", holdId: "h", cost: 0.5, timestamp: now, alias: "flash", tags })
    assert.strictEqual(fold.spent("a:b:c", "daily", now), 0.5)
  })

  it("keep no more than twice the open holds' entries once settled holds are many", () => {
    const fold = new SpendFold(900)
    const now = at("2026-01-15T12:00:00Z")
    for (let i = 0; i < 50_000; i++) {
      fold.add({ type: "hold", holdId: `h${i}`, cost: 0.001, timestamp: now + i, alias: "flash", tags: undefined })
      fold.add({ type: "commit", holdId: `h${i}`, cost: 0.001, timestamp: now + i, alias: "flash", tags: undefined })
    }
    fold.add({ type: "hold", holdId: "open", cost: 0.5, timestamp: now, alias: "flash", tags: undefined })
    const open = fold["open"]
    assert.isAtMost(open["ages"].length, 1025)
    assert.approximately(fold.spent("global", "daily", now + 50_000), 50 + 0.5, 1e-9)
  })
})
