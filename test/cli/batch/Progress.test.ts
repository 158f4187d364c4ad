/**
 * The progress renderings and the summary, from one snapshot: the same fields in the same order on a
 * terminal and in a log, a terminal line never wider than the terminal, the JSON event, the rate and
 * ETA, and nearest-rank percentiles.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Progress from "../../../src/cli/batch/Progress.js"

const tally = () => {
  const t = new Progress.Tally(100, 0)
  t.ok = 38
  t.failed = 2
  t.inFlight = 8
  t.cost = 0.0012
  return t
}

describe("batch progress", () => {
  it("a snapshot: rate over the elapsed time, ETA for what remains", () => {
    const s = Progress.snapshot(tally(), 10_000, 0.25, 1)
    assert.deepInclude(s, { done: 40, total: 100, running: 8, rate: 4, etaS: 15, today: 0.25, limit: 1 })
    assert.strictEqual(Progress.snapshot(new Progress.Tally(5, 0), 0, undefined, 0).etaS, undefined)
    assert.strictEqual(Progress.duration(15), "15s")
    assert.strictEqual(Progress.duration(185), "3m05s")
    assert.strictEqual(Progress.duration(3720), "1h02m")
  })

  it("the plain line and the terminal line carry the same fields in the same order", () => {
    const s = Progress.snapshot(tally(), 10_000, 0.25, 1)
    const plain = Object.fromEntries(
      Progress.plainLine(s).replace(/^progress /, "").split(" ").map((pair) => pair.split("="))
    )
    assert.deepStrictEqual(plain, {
      done: "40/100",
      ok: "38",
      failed: "2",
      running: "8",
      rate: "4.0/s",
      spent: "$0.001200",
      today: "$0.25/$1.00",
      eta: "15s"
    })
    const tty = Progress.ttyLine(s, 200)
    const [bar, ...rest] = tty.split(" · ")
    assert.isTrue(bar!.startsWith("[####......] done 40/100"))
    assert.deepStrictEqual(
      [bar!.slice(bar!.indexOf("done")), ...rest].map((field) => field.split(" ")[0]),
      Object.keys(plain)
    )
    assert.isBelow(Progress.ttyLine(s, 40).length, 40)
    assert.deepInclude(Progress.progressEvent(s), { type: "progress", done: 40, ok: 38, running: 8, etaS: 15 })
  })

  it("the summary: counts by outcome, nearest-rank percentiles, text and JSON", () => {
    const t = tally()
    t.latencies.push(...Array.from({ length: 20 }, (_, i) => (i + 1) * 10))
    t.failures.set("FatalError", 2)
    const summary = Progress.summaryOf({
      tally: t,
      input: { items: 110, alreadyDone: 7, keptFailed: 3, malformed: 1, malformedLines: [4] },
      outcome: "interrupted",
      now: 12_000,
      out: "results.jsonl"
    })
    assert.deepInclude(summary.counts, { items: 110, toRun: 100, ok: 38, failed: 2, notRun: 60, alreadyDone: 7 })
    assert.deepStrictEqual(summary.latencyMs, { p50: 100, p95: 190 })
    assert.deepStrictEqual(summary.failures, { FatalError: 2 })
    assert.strictEqual(summary.wallMs, 12_000)
    const text = Progress.summaryText(summary)
    assert.isTrue(text.startsWith("batch interrupted"))
    const rows = Object.fromEntries(text.split("\n").slice(1).map((row) => [row.trim().split(/\s{2,}/)[0], row]))
    assert.deepStrictEqual(Object.keys(rows), [
      "this run",
      "input",
      "tokens",
      "cost",
      "wall time",
      "latency",
      "results"
    ])
    assert.strictEqual(Progress.percentile([], 0.5), undefined)
    assert.strictEqual(Progress.percentile([3, 1, 2], 0.5), 2)
  })

  it("the summary's cost is the sum to the picodollar, without float noise", () => {
    const t = new Progress.Tally(10, 0)
    for (let i = 0; i < 10; i++) t.cost += 0.1
    const summary = Progress.summaryOf({
      tally: t,
      input: { items: 10, alreadyDone: 0, keptFailed: 0, malformed: 0, malformedLines: [] },
      outcome: "completed",
      now: 1_000,
      out: "results.jsonl"
    })
    assert.notStrictEqual(t.cost, 1) // the float sum itself is 0.9999999999999999
    assert.strictEqual(summary.cost, 1)
  })
})
