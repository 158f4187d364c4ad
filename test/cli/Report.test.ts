/**
 * `effect-llm ledger report`'s totals: the sum of its rows, its cost reported to the picodollar, an
 * endpoint report's failure rate in JSON as in the table; CSV cells a spreadsheet would run as formulas.
 */
import { assert, describe, it } from "@effect/vitest"
import { makeReport, renderReport } from "../../src/cli/Report.js"
import type { SummaryRow } from "../../src/domain/LedgerEvent.js"

const row = (key: string, cost: number): SummaryRow => ({
  key,
  calls: 1,
  inputTokens: 10,
  outputTokens: 20,
  cost,
  ok: 1,
  error: 0,
  cancelled: 0,
  expired: 0
})

describe("makeReport", () => {
  it("totals the rows, the cost without float noise (0.1 + 0.2 is 0.3 in --format json)", () => {
    const report = makeReport("model", 1, 0, 86_400_000, [row("a", 0.1), row("b", 0.2)])
    assert.deepStrictEqual(report.total, {
      calls: 2,
      ok: 2,
      error: 0,
      cancelled: 0,
      expired: 0,
      inputTokens: 20,
      outputTokens: 40,
      cost: 0.3
    })
    assert.strictEqual(JSON.stringify(report.total.cost), "0.3")
  })

  it("totals a long report without drift: 1,000 days of $3.03 are $3,030", () => {
    const rows = Array.from({ length: 1000 }, (_, i) => row(`day-${i}`, 3.03))
    assert.strictEqual(makeReport("day", 1000, 0, 86_400_000, rows).total.cost, 3030)
  })

  it("by endpoint, the JSON total carries the failure rate the table's total row shows", () => {
    const failed = { ...row("b", 0), ok: 0, error: 1 }
    const report = makeReport("endpoint", 1, 0, 86_400_000, [row("a", 0.1), row("c", 0.1), failed])
    assert.closeTo(report.total.failureRate!, 1 / 3, 1e-12)
    assert.match(renderReport(report, "table"), /total .* 33\.3%/)
    assert.notProperty(makeReport("model", 1, 0, 86_400_000, [row("a", 0.1)]).total, "failureRate")
  })

  it("CSV: a text cell a spreadsheet would run as a formula gets a ' before it; numbers stay numbers", () => {
    const report = makeReport("tag:team", 1, 0, 86_400_000, [
      row("=HYPERLINK(\"http://x\")", 0.1),
      row("+1", 0.1),
      row("-ops", 0.1),
      row("@sum", 0.1),
      row("ops", 0.1)
    ])
    const lines = renderReport(report, "csv").split("\n").slice(1)
    assert.deepStrictEqual(lines.map((line) => line.slice(0, line.indexOf(",1,"))), [
      "\"'=HYPERLINK(\"\"http://x\"\")\"",
      "'+1",
      "'-ops",
      "'@sum",
      "ops"
    ])
    assert.isTrue(lines.every((line) => line.endsWith(",0.1")))
  })
})
