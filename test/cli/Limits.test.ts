/**
 * The CLI's view of rate limits (API.md §11): `doctor` lists each model's limits, and
 * `ledger limits` shows their current window use after a few calls (table and JSON), against the
 * simulator with a SQLite ledger in a temp dir.
 */
import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import { limitsRows, renderLimits } from "../../src/cli/Limits.js"
import * as Simulator from "../../src/simulator/Simulator.js"
import { runCli, simulatorConfig, tempDir, writeConfig } from "../support/cli-harness.js"

let sim: Simulator.Simulator
beforeAll(async () => {
  sim = await Simulator.start()
})
afterAll(() => sim.close())

const setup = () => {
  const dir = tempDir()
  const config = simulatorConfig(sim, dir)
  const models = config.models as Record<string, Record<string, unknown>>
  models["gemini-flash"] = { ...models["gemini-flash"], limits: { rpm: 5, tpm: 100000, rpd: 1000 } }
  return ["--config", writeConfig(dir, config)]
}

describe("CLI: rate limits", () => {
  it("doctor lists each model's limits", async () => {
    const run = await runCli(["doctor", ...setup()])
    assert.strictEqual(run.code, 0, run.stdout + run.stderr)
    assert.match(
      run.stdout,
      /gemini-flash\s+google gemini-2\.5-flash → google-a \(us\).* · limits: rpm 5, tpm 100000, rpd 1000/
    )
    assert.match(run.stdout, /qwen-plus\s+.* · no rate limits/)
  })

  it("ledger limits shows each limited model's current window use", async () => {
    const args = setup()
    const empty = await runCli(["ledger", "limits", ...args])
    assert.strictEqual(empty.code, 0, empty.stderr)
    assert.match(empty.stdout, /gemini-flash\s+0\/5\s+0\/100000\s+0\/1000\s+-/)
    for (let i = 0; i < 2; i++) {
      const call = await runCli(["generate", "hello", ...args])
      assert.strictEqual(call.code, 0, call.stderr)
    }
    const [table, json] = await Promise.all([
      runCli(["ledger", "limits", ...args]),
      runCli(["ledger", "limits", "--json", ...args])
    ])
    assert.strictEqual(table.code, 0, table.stderr)
    assert.match(table.stdout, /model\s+requests\/60s\s+tokens\/60s\s+requests\/24h\s+paused/)
    assert.match(table.stdout, /gemini-flash\s+2\/5\s+\d+\/100000\s+2\/1000\s+-/)
    const parsed = JSON.parse(json.stdout)
    const row = parsed.rows.find((r: { alias: string }) => r.alias === "gemini-flash")
    assert.deepStrictEqual([row.requestsMinute, row.requestsDay, row.limits], [2, 2, {
      rpm: 5,
      tpm: 100000,
      rpd: 1000
    }])
    // corrected to the reported usage: far below the admitted estimate (input bound + 1024 output cap)
    assert.isAbove(row.tokensMinute, 0)
    assert.isBelow(row.tokensMinute, 2 * 1024)
  })
  it("an alias without rpd shows no 24-hour count (its requests are kept 60 s): '-' in the table, null in --json", () => {
    const rows = limitsRows(
      { perMinute: { limits: { rpm: 50 } }, perDay: { limits: { rpm: 50, rpd: 100 } } },
      [
        { alias: "perMinute", requestsMinute: 3, tokensMinute: 90, requestsDay: 3, pauses: [] },
        { alias: "perDay", requestsMinute: 1, tokensMinute: 30, requestsDay: 7, pauses: [] }
      ]
    )
    assert.deepStrictEqual(rows.map((row) => [row.alias, row.requestsMinute, row.requestsDay]), [
      ["perMinute", 3, null],
      ["perDay", 1, 7]
    ])
    const table = renderLimits(rows)
    assert.match(table, /perMinute\s+3\/50\s+90\s+-\s+-/)
    assert.match(table, /perDay\s+1\/50\s+30\s+7\/100\s+-/)
  })

  it("an alias without limits is listed while it has use or a pause, not once its pause has ended and its use gone", () => {
    const pause = { endpoint: "g1", until: Date.UTC(2026, 11, 7, 12) }
    const rows = limitsRows({ flash: {}, pro: {}, idle: {} }, [
      { alias: "flash", requestsMinute: 0, tokensMinute: 0, requestsDay: 0, pauses: [pause] },
      { alias: "pro", requestsMinute: 2, tokensMinute: 40, requestsDay: 2, pauses: [] },
      // the ledger still holds its ended pause's row: nothing to show
      { alias: "idle", requestsMinute: 0, tokensMinute: 0, requestsDay: 0, pauses: [] }
    ])
    assert.deepStrictEqual(rows.map((row) => row.alias), ["flash", "pro"])
  })
})
