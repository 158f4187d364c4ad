/** `effect-llm ledger report`'s totals: the sum of its rows, its cost reported to the picodollar. */
import { assert, describe, it } from "@effect/vitest"
import { makeReport } from "../../src/cli/Report.js"
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
})
