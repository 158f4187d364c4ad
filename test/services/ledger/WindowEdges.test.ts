/**
 * Alert and rate windows at their edges (API.md §11, §12): a weekly alert is sent once per ISO week,
 * and the tpm wait lasts until enough tokens have left the minute. (Cases found by mutation testing.)
 */
import { assert, describe, it } from "vitest"
import { AlertTracker } from "../../../src/services/ledger/Alerts.js"
import { RateWindows, type SlotRecord } from "../../../src/services/ledger/Windows.js"

const dayMs = 86_400_000
describe("alert and rate windows at their edges", () => {
  it("a weekly alert is not sent again on the Sunday of the same ISO week", () => {
    const tracker = new AlertTracker([0.8, 1])
    const limits = [{ scope: "global", window: "weekly" as const, limit: 10 }]
    const monday = Date.UTC(2026, 0, 5, 12) // Monday 2026-01-05
    const sunday = monday + 6 * dayMs // Sunday 2026-01-11, same ISO week
    assert.strictEqual(tracker.take(limits, [0], 8.5, monday)?.length, 1)
    assert.isUndefined(tracker.take(limits, [8.5], 0.1, sunday))
  })
  it("the tpm wait lasts until enough tokens have left the minute, not until the oldest slot leaves", () => {
    const windows = new RateWindows()
    const limits = { tpm: 100 }
    const slot = (id: string, timestamp: number, tokens: number) => ({
      id,
      alias: "a",
      endpoint: "e",
      timestamp,
      tokens,
      keepUntil: timestamp + 60_000
    })
    windows.add(slot("s1", 0, 40))
    windows.add(slot("s2", 10_000, 40))
    // 90 tokens at t = 20 s fit only once both slots have left the minute: at t = 70 s
    const refusal = windows.check("a", "e", limits, 90, 20_000)
    assert.deepStrictEqual(refusal, { kind: "tpm", retryAfterMs: 50_000 })
  })

  it("a learned pause up to a day holds; one past a day (a row written before the cap) is no pause", () => {
    const windows = new RateWindows()
    const day = 24 * 60 * 60 * 1000
    windows.pause("a", "e", day, 0)
    assert.deepStrictEqual(windows.check("a", "e", {}, 1, 0), { kind: "server", retryAfterMs: day })
    windows.pause("b", "e", 1000 * day, 0)
    assert.isUndefined(windows.check("b", "e", {}, 1, 0))
    assert.isUndefined(windows.pausedUntil("b", "e", 0))
    assert.deepStrictEqual(windows.use("b", 0).pauses, [])
  })

  it("an old row past the cap does not hide a real pause learned after it", () => {
    const windows = new RateWindows()
    const day = 24 * 60 * 60 * 1000
    windows.pause("a", "e", 1000 * day, 0)
    windows.pause("a", "e", 3_600_000 + 60_000, 3_600_000)
    assert.strictEqual(windows.pausedUntil("a", "e", 3_600_000), 3_660_000)
  })

  it("a day's pause written by a process whose clock is ahead holds in one whose clock is behind", () => {
    const windows = new RateWindows()
    const day = 24 * 60 * 60 * 1000
    const writerNow = 10_000
    const readerNow = writerNow - 1_000
    windows.pause("a", "e", writerNow + day, readerNow)
    assert.strictEqual(windows.pausedUntil("a", "e", readerNow), writerNow + day)
    assert.strictEqual(windows.pausedUntil("a", "e", readerNow + 60_000), writerNow + day)
  })

  it("an rpd alias counts the same after days of admissions as windows rebuilt from the live slots", () => {
    // the oldest slots are dropped by moving a head index and compacting now and then: the counts and
    // waits must equal those of windows holding only the live slots (none dropped, nothing compacted)
    const windows = new RateWindows()
    const limits = { rpm: 40, tpm: 5_000, rpd: 3_000 }
    let seed = 7
    const random = () => (seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648) / 2_147_483_648
    const live: Array<SlotRecord> = []
    let now = 0
    for (let n = 0; n < 12_000; n++) {
      now += Math.floor(random() * 90_000)
      if (n % 997 === 0) now -= 30_000 // a clock stepped back
      const timestamp = n % 13 === 0 ? now - 2_000 : now // another process's, slightly older
      const slot = {
        id: `s${n}`,
        alias: "a",
        endpoint: "e",
        timestamp,
        tokens: 1 + Math.floor(random() * 200),
        keepUntil: timestamp + dayMs
      }
      windows.add(slot)
      live.push(slot)
      if (n % 50 !== 0) continue
      const fresh = new RateWindows()
      for (const kept of live) if (2 * kept.keepUntil - kept.timestamp > now) fresh.add(kept)
      const tokens = 1 + Math.floor(random() * 300)
      assert.deepStrictEqual(
        windows.check("a", "e", limits, tokens, now),
        fresh.check("a", "e", limits, tokens, now),
        `at ${n}`
      )
      assert.deepStrictEqual(windows.use("a", now), fresh.use("a", now), `at ${n}`)
    }
    assert.isAbove(windows.use("a", now).requestsDay, 500)
  })
})
