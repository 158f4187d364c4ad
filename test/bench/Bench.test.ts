/**
 * The bench still runs and still checks every answer: `npm run bench -- --tiny --warm 2 --json` (every
 * client on every workload, tiny sizes, each warm-up twice, sources through tsx), its `BenchReport`
 * checked as data; a bad option is refused before anything runs.
 */
import { assert, describe, it } from "@effect/vitest"
import { spawn } from "node:child_process"
import type { BenchReport } from "../../bench/report.js"

/** Runs `npm run bench -- --tiny --json …` (without npm). */
const runTinyBench = (
  ...options: ReadonlyArray<string>
): Promise<{ code: number | null; stdout: string; stderr: string }> =>
  new Promise((resolve, reject) => {
    const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: "1" }
    const child = spawn(process.execPath, ["--import", "tsx", "bench/run.ts", "--tiny", "--json", ...options], {
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
  it("runs in tiny mode: every client measured on every workload, answers checked, every target evaluated", {
    timeout: 180_000
  }, async () => {
    const { code, stderr, stdout } = await runTinyBench("--warm", "2")
    assert.strictEqual(code, 0, `${stdout}\n${stderr}`)
    const report = JSON.parse(stdout) as BenchReport
    assert.strictEqual(report.mode, "tiny")
    assert.strictEqual(report.sizes.warmScale, 2)
    // each warm-up ran twice: W1 5 calls, W2 and W4 one batch, W3 a tenth of the stream, TTFT 5 streams
    const warmups = { W1: 10, W2: 2, W3: 60, W4: 2, TTFT: 10, W5: 0 } as const
    for (const row of report.results) {
      assert.strictEqual(row.warmup, warmups[row.workload], `${row.protocol} ${row.workload}`)
    }
    assert.strictEqual(report.lib, "src")
    assert.deepStrictEqual(report.failures, [])

    const measured = report.results.map((row) => `${row.protocol} ${row.workload} ${row.client}`)
    const gemini = (workload: string, clients: ReadonlyArray<string>) => clients.map((c) => `gemini ${workload} ${c}`)
    const streams = ["baseline", "effect-memory", "peer", "effect-plain"]
    assert.deepStrictEqual(measured, [
      ...gemini("W1", ["baseline", "effect-memory", "effect-sqlite", "effect-percall", "peer", "effect-plain"]),
      ...gemini("W2", ["baseline", "effect-memory", "effect-sqlite", "peer", "effect-plain"]),
      ...gemini("W3", streams),
      ...gemini("W4", streams),
      ...gemini("TTFT", streams),
      ...gemini("W5", ["baseline", "effect-memory"]),
      // The other protocols: the fetch baseline and effect-llm on every workload but the scale one.
      ...["openai", "anthropic", "dashscope"].flatMap((protocol) =>
        ["W1", "W2", "W3", "W4", "TTFT"].flatMap((w) => [`${protocol} ${w} baseline`, `${protocol} ${w} effect-memory`])
      )
    ])
    const units = { W1: "µs/call", W2: "ms/batch", W3: "ms", W4: "ms", TTFT: "ms", W5: "ms" } as const
    for (const row of report.results) {
      const name = `${row.protocol} ${row.workload} ${row.client}`
      assert.strictEqual(row.unit, units[row.workload], name)
      assert.strictEqual(row.values.length, report.rounds, name)
      assert.isTrue(row.median > 0 && Number.isFinite(row.median), name)
      assert.isTrue(row.ratio !== null && row.ratio > 0, name)
      assert.isTrue(row.cpu !== null && row.cpu > 0, name)
      assert.isAbove(row.peakRssMB, 0, name)
      if (row.client === "baseline") assert.strictEqual(row.ratio, 1, name)
    }

    const perProtocol = (protocol: string, all: boolean) => [
      [`W1 in-memory ledger, full resilience path · ${protocol}`, 1.1, "×"],
      ...(all
        ? [
          [`W1 SQLite ledger · ${protocol}`, 1.5, "×"],
          [`W1 per-call Effect.provide(LiveLayer) · ${protocol}`, 1.3, "×"]
        ]
        : []),
      [`W2 concurrent calls (memory ledger) · ${protocol}`, 1, "×"],
      [`W3 10,000-event stream · ${protocol}`, 1.5, "×"],
      [`W4 100 concurrent streams · ${protocol}`, 1.8, "×"],
      [`time to first delta · ${protocol}`, 1.2, "×"],
      ...(all ? [[`W5 20 concurrent streams × 5 events (peak RSS) · ${protocol}`, 400, "MB"]] : [])
    ]
    assert.deepStrictEqual(report.targets.map((target) => [target.name, target.limit, target.unit]), [
      ...perProtocol("gemini", true),
      ...perProtocol("openai", false),
      ...perProtocol("anthropic", false),
      ...perProtocol("dashscope", false),
      ["import of the package root", 350, "ms"],
      ["peak RSS in W1 (effect-llm processes)", 200, "MB"]
    ])
    // The issue's table: one line per ratio target and protocol measured, the peers beside effect-llm.
    assert.strictEqual(report.issue.length, report.targets.filter((t) => t.unit === "×").length)
    const w1Issue = report.issue.find((row) => row.protocol === "gemini" && row.workload.startsWith("W1 in-memory"))!
    assert.isTrue(w1Issue.peer !== null && w1Issue.plainEffect !== null && w1Issue.bestPeer !== null)
    for (const target of report.targets) {
      assert.isTrue(target.value !== null && target.value > 0, target.name)
      assert.strictEqual(target.met, target.value! <= target.limit, target.name)
    }
    // A target's ratio is the same figure as its table row's.
    const w1 = report.results.find((row) => row.workload === "W1" && row.client === "effect-memory")!
    assert.strictEqual(report.targets[0]!.value, w1.ratio)
    // No Effect log lines leaked from the measured processes (a retry would mean the run was not clean).
    assert.deepStrictEqual(report.logLines, { infoOrAbove: [], other: 0 })
  })

  it("refuses a warm-up scale that is not a whole number of at least 1, before measuring anything", {
    timeout: 60_000
  }, async () => {
    for (const bad of ["0", "1.5", "x"]) {
      const { code, stderr, stdout } = await runTinyBench("--warm", bad)
      assert.notStrictEqual(code, 0, bad)
      assert.include(stderr, "--warm: a whole number of at least 1", bad)
      assert.strictEqual(stdout, "", bad)
    }
  })
})
