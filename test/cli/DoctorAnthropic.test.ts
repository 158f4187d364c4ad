/**
 * `effect-llm doctor` on a setup with an Anthropic provider entry: the key's presence (redacted, or
 * the variable to set), and the endpoint's reachability without a generation call (the simulator's
 * log shows no request to `/v1/messages`).
 */
import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import { join } from "node:path"
import * as Simulator from "../../src/simulator/Simulator.js"
import { runCli, tempDir, writeConfig } from "../support/cli-harness.js"

let sim: Simulator.Simulator

beforeAll(async () => {
  sim = await Simulator.start({ keys: { anthropic: "sk-ant-api03-doctor-0123456789" } })
})
afterAll(() => sim.close())

const configFor = (dir: string, apiKey: string) => ({
  default_model: "claude-haiku",
  providers: {
    anthropic: { api_key: apiKey, endpoints: [{ name: "anthropic-a", base_url: sim.baseUrl("anthropic-a") }] }
  },
  models: {
    "claude-haiku": {
      provider: "anthropic",
      model_id: "claude-haiku-4-5",
      pricing: { input_per_1m: 1, output_per_1m: 5, cached_input_per_1m: 0.1, cache_write_per_1m: 1.25 }
    }
  },
  ledger: { backend: "sqlite", path: join(dir, "ledger.db") }
})

describe.concurrent("effect-llm doctor with an anthropic entry", { timeout: 120_000 }, () => {
  it("shows the key redacted and the endpoint reachable, without a generation call", async () => {
    const dir = tempDir()
    const run = await runCli(["doctor", "--config", writeConfig(dir, configFor(dir, sim.keys.anthropic))])
    assert.strictEqual(run.code, 0, run.stdout + run.stderr)
    assert.match(run.stdout, /claude-haiku\s+anthropic claude-haiku-4-5 → anthropic-a/)
    assert.match(run.stdout, new RegExp(`anthropic\\s+✓ present \\(${sim.keys.anthropic.length} characters\\)`))
    assert.notInclude(run.stdout + run.stderr, sim.keys.anthropic.slice(-4))
    assert.notInclude(run.stdout + run.stderr, sim.keys.anthropic)
    assert.match(
      run.stdout,
      /anthropic-a\s+✓ reachable\s+http:\/\/127\.0\.0\.1:\d+\/anthropic-a\s+tcp \d+ ms · http 404/
    )
    assert.include(run.stdout, "✓ all checks passed")
    assert.isFalse(sim.log("anthropic-a").some((entry) => entry.path.endsWith("/v1/messages")), "nothing spent")
  })

  it("names ANTHROPIC_API_KEY when the key is unset, and fails", async () => {
    const dir = tempDir()
    const run = await runCli(["doctor", "--config", writeConfig(dir, configFor(dir, "${ANTHROPIC_API_KEY}"))])
    assert.strictEqual(run.code, 1)
    assert.match(run.stdout, /anthropic\s+✗ missing: .*ANTHROPIC_API_KEY is not set/)
    assert.match(run.stderr, /DoctorFailed: 1 problem\(s\): anthropic key/)
  })
})
