/**
 * `effect-llm doctor`'s endpoints table: a provider entry no model uses is probed and shown but fails
 * nothing.
 */
import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import * as Simulator from "../../src/simulator/Simulator.js"
import { runCli, simulatorConfig, tempDir, writeConfig } from "../support/cli-harness.js"

let sim: Simulator.Simulator

beforeAll(async () => {
  sim = await Simulator.start()
})
afterAll(() => sim.close())

describe.concurrent("effect-llm doctor", { timeout: 120_000 }, () => {
  it("an unreachable endpoint of a provider no model uses is shown with `-` and why, and fails nothing", async () => {
    const dir = tempDir()
    const config = {
      ...simulatorConfig(sim, dir),
      providers: {
        ...simulatorConfig(sim, dir).providers,
        // nothing listens on port 1
        spare: { protocol: "openai", endpoints: [{ name: "spare-dead", base_url: "http://127.0.0.1:1/v1" }] }
      }
    }
    const run = await runCli(["doctor", "--config", writeConfig(dir, config)])
    assert.strictEqual(run.code, 0, run.stdout + run.stderr)
    assert.match(
      run.stdout,
      /spare-dead\s+- unreachable\s+http:\/\/127\.0\.0\.1:1\/v1\s+tcp 127\.0\.0\.1:1: ECONNREFUSED · no model uses spare\n/
    )
    assert.include(run.stdout, "✓ all checks passed")
    assert.strictEqual(run.stderr, "")
  })
})
