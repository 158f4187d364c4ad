/**
 * `effect-llm doctor`'s endpoints table: a provider entry no model uses is probed and shown but fails
 * nothing, and a base URL carrying a password or a query value stays aligned and tells nothing of the
 * secret (its length included).
 */
import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import * as Simulator from "../../src/simulator/Simulator.js"
import { runCli, simulatorConfig, tempDir, writeConfig } from "../support/cli-harness.js"

let sim: Simulator.Simulator

beforeAll(async () => {
  sim = await Simulator.start()
})
afterAll(() => sim.close())

/** The lines of the endpoints table (header first), without their indent. */
const endpointsTable = (stdout: string): Array<string> => {
  const lines = stdout.split("\n")
  const start = lines.indexOf("endpoints") + 1
  const end = lines.indexOf("", start)
  return lines.slice(start, end).map((line) => line.slice(2))
}

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

  it("a blank $EFFECT_LLM_CONFIG is unset, as for the loader: doctor names ./config.yaml, the file it read", async () => {
    const dir = tempDir()
    writeConfig(dir, simulatorConfig(sim, dir))
    const run = await runCli(["doctor"], { cwd: dir, env: { EFFECT_LLM_CONFIG: " " } })
    assert.strictEqual(run.code, 0, run.stdout + run.stderr)
    assert.include(run.stdout, "✓ config.yaml loaded and valid")
  })

  it("a model allowed_regions leaves without an endpoint (its own or a fallback's) is a failed check, exit 1", async () => {
    const dir = tempDir()
    const base = simulatorConfig(sim, dir)
    const config = {
      ...base,
      models: {
        ...base.models,
        // its own endpoint is dropped, its fallback's kept: served, fine
        covered: { provider: "google", model_id: "gemini-2.5-flash", fallbacks: ["qwen-plus"] }
      },
      allowed_regions: ["sg"]
    }
    const run = await runCli(["doctor", "--config", writeConfig(dir, config)])
    assert.strictEqual(run.code, 1, run.stdout + run.stderr)
    assert.match(run.stdout, /gemini-flash .*✗ no endpoint left for it or its fallbacks: every call to it fails/)
    assert.notMatch(run.stdout, /covered .*✗/)
    assert.include(run.stderr, "model gemini-flash")
    assert.notInclude(run.stderr, "model covered")
  })

  it("a base URL's password and query value are redacted without shifting the columns or telling their length", async () => {
    const tableWith = async (secret: string) => {
      const dir = tempDir()
      const config = simulatorConfig(sim, dir, {
        googleUrl: sim.baseUrl("google-a").replace("http://", `http://user:${secret}@`) + `?token=${secret}-q`
      })
      const run = await runCli(["doctor", "--config", writeConfig(dir, config)])
      assert.strictEqual(run.code, 0, run.stdout + run.stderr)
      assert.notInclude(run.stdout, secret)
      return endpointsTable(run.stdout)
    }
    const [short, long] = await Promise.all([
      tableWith("pw-short"),
      tableWith("pw-a-much-longer-secret-value-0123456789")
    ])

    const [header, ...rows] = long
    assert.strictEqual(rows.length, 2)
    assert.match(rows[0]!, /^google-a .*http:\/\/user:<redacted>@127\.0\.0\.1:\d+\/google-a\?token=<redacted>/)
    // every column starts where its title does
    for (const title of ["status", "base url", "detail"]) {
      const column = header!.indexOf(title)
      for (const row of rows) {
        assert.strictEqual(row[column - 1], " ", row)
        assert.notStrictEqual(row[column], " ", row)
      }
    }
    // the same table whatever the secrets' lengths (timings aside)
    const timingsAside = (lines: ReadonlyArray<string>) => lines.map((line) => line.replace(/\d+ ms/g, "N ms"))
    assert.deepStrictEqual(timingsAside(short), timingsAside(long))
  })
})
