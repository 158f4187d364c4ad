import { assert, describe, it } from "@effect/vitest"
import { spawn } from "node:child_process"

/** Runs `npm run bench -- --tiny` (without npm): every client on every workload, tiny sizes, sources through tsx. */
const runTinyBench = (): Promise<{ code: number | null; stdout: string; stderr: string }> =>
  new Promise((resolve, reject) => {
    const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: "1" }
    const child = spawn(process.execPath, ["--import", "tsx", "bench/run.ts", "--tiny"], {
      env,
      stdio: ["ignore", "pipe", "pipe"]
    })
    let stdout = ""
    let stderr = ""
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString("utf8")))
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString("utf8")))
    child.on("error", reject)
    child.on("close", (code) => resolve({ code, stdout, stderr }))
  })

describe("npm run bench", () => {
  // The bench is not part of the suite (it measures); this checks that it still runs and still checks
  // every answer, with every client on every workload.
  it("runs in tiny mode: every client measured on every workload, answers checked, the targets table printed", {
    timeout: 180_000
  }, async () => {
    const { code, stdout, stderr } = await runTinyBench()
    assert.strictEqual(code, 0, `${stdout}\n${stderr}`)
    assert.notInclude(stdout, "## Failures")
    const rows = stdout.split("\n").filter((line) => line.startsWith("| W") || line.startsWith("| time to first delta"))
    const measured = (workload: string, client: string) =>
      rows.some((row) =>
        row.startsWith(`| ${workload}`) && row.includes(client) &&
        /\| [\d,.]+ (µs per call|ms per batch|ms) \|/.test(row)
      )
    for (const workload of ["W1", "W2"]) {
      assert.isTrue(measured(workload, "baseline (fetch"), `${workload} baseline`)
      assert.isTrue(measured(workload, "memory ledger"), `${workload} effect-llm memory`)
      assert.isTrue(measured(workload, "SQLite ledger"), `${workload} effect-llm SQLite`)
    }
    assert.isTrue(measured("W1", "per-call Effect.provide(LiveLayer)"), "W1 per-call")
    for (const workload of ["W3", "W4", "time to first delta"]) {
      assert.isTrue(measured(workload, "baseline (fetch"), `${workload} baseline`)
      assert.isTrue(measured(workload, "memory ledger"), `${workload} effect-llm`)
    }
    assert.include(stdout, "## Targets")
    for (
      const target of [
        "W1 in-memory ledger",
        "W1 SQLite ledger",
        "W4 100 concurrent streams",
        "import of the package root",
        "peak RSS in W1"
      ]
    ) {
      assert.match(
        stdout,
        new RegExp(
          `\\| ${target}[^|]*\\| ≤ [\\d.,]+ [×A-Za-z]+ \\| [\\d.,]+ [×A-Za-z]+ \\| \\*\\*(met|not met)\\*\\* \\|`
        ),
        target
      )
    }
    // No Effect log lines leaked from the measured processes (a retry would mean the run was not clean).
    assert.include(stdout, "Effect log lines at Info or above during the run: 0.")
  })
})
