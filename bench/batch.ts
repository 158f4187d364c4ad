/**
 * `npx tsx bench/batch.ts`: `effect-llm batch` at scale against the embedded simulator — by default
 * 1,000 then 10,000 items at concurrency 64, a few of them scripted to fail — reporting wall time,
 * throughput and the child's peak RSS (Linux `VmHWM`), and checking that the SQLite ledger agrees with
 * the results file on every count and on the total cost. Not part of `npm test`.
 *
 *   npx tsx bench/batch.ts                          1,000 and 10,000 items, concurrency 64
 *   npx tsx bench/batch.ts --sizes 10000 --concurrency 32 --json
 *   npx tsx bench/batch.ts --sizes 10000 --heap-mb 64    the CLI's V8 heap capped: it must still finish
 */
import * as Effect from "effect/Effect"
import { spawn } from "node:child_process"
import { readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { layerSqlite, Ledger } from "../src/services/Ledger.js"
import * as Simulator from "../src/simulator/Simulator.js"
import { bin, simulatorConfig, tempDir, writeConfig } from "../test/support/cli-harness.js"

const argv = process.argv.slice(2)
const option = (name: string): string | undefined => {
  const at = argv.indexOf(`--${name}`)
  return at >= 0 ? argv[at + 1] : undefined
}
const sizes = (option("sizes") ?? "1000,10000").split(",").map(Number)
const concurrency = Number(option("concurrency") ?? 64)
const json = argv.includes("--json")
const heapMb = option("heap-mb")

/** Every `failEvery`-th item is scripted to fail: alternately a 400 (FatalError) and a daily-quota 429. */
const failEvery = 997

/** The peak resident set size of a running process, in bytes (Linux); `undefined` once it has exited. */
const peakRss = (pid: number): number | undefined => {
  try {
    const match = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))
    return match === null ? undefined : Number(match[1]) * 1024
  } catch {
    return undefined
  }
}

/** CPU seconds (user + system) a running process has used so far (Linux); `undefined` once it has exited. */
const cpuSeconds = (pid: number): number | undefined => {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, "utf8").replace(/^.*\) /, "").split(" ")
    // After the command: state is field 3, utime 14 and stime 15 (1-based, in clock ticks of 1/100 s).
    return (Number(fields[11]) + Number(fields[12])) / 100
  } catch {
    return undefined
  }
}

interface Figures {
  readonly items: number
  readonly concurrency: number
  readonly exitCode: number | null
  readonly wallMs: number
  readonly itemsPerS: number
  readonly peakRssMiB: number | undefined
  /** The CLI's CPU time (user + system), seconds: what the run costs whatever else shares the cores. */
  readonly cpuS: number | undefined
  /** `--max-old-space-size` given to the CLI, MiB. */
  readonly heapLimitMiB: number | undefined
  readonly results: { readonly lines: number; readonly ok: number; readonly failed: number; readonly cost: number }
  readonly ledger: {
    readonly holds: number
    readonly commits: number
    readonly errors: number
    readonly cancelled: number
    readonly cost: number
  }
  readonly agrees: boolean
  readonly problems: ReadonlyArray<string>
}

const runOnce = async (sim: Simulator.Simulator, items: number): Promise<Figures> => {
  const dir = tempDir()
  const config = writeConfig(dir, simulatorConfig(sim, dir, { budget: { daily_spend_limit: 1000 } }))
  const input = join(dir, "input.jsonl")
  const out = join(dir, "results.jsonl")
  const lines: Array<string> = []
  for (let i = 0; i < items; i++) {
    const fault = i % failEvery === failEvery - 1
      ? (i / failEvery) % 2 < 1 ? " [[sim status=400]]" : " [[sim status=429 quota=day]]"
      : ""
    lines.push(JSON.stringify({ id: `item-${i}`, prompt: `Summarise document ${i}.${fault}`, maxOutputTokens: 64 }))
  }
  writeFileSync(input, lines.join("\n") + "\n")

  const started = Date.now()
  const child = spawn(
    process.execPath,
    [
      ...(heapMb !== undefined ? [`--max-old-space-size=${heapMb}`] : []),
      bin,
      "batch",
      input,
      "--out",
      out,
      "--config",
      config,
      "--concurrency",
      String(concurrency)
    ],
    { cwd: dir, env: { ...process.env, NO_COLOR: "1", XDG_CONFIG_HOME: dir }, stdio: ["ignore", "pipe", "pipe"] }
  )
  let peak: number | undefined
  let cpu: number | undefined
  const poll = setInterval(() => {
    peak = peakRss(child.pid!) ?? peak
    cpu = cpuSeconds(child.pid!) ?? cpu
  }, 50)
  let stderr = ""
  child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString("utf8")))
  child.stdout.resume()
  const exitCode = await new Promise<number | null>((resolve) => child.on("close", resolve))
  clearInterval(poll)
  const wallMs = Date.now() - started

  const results = readFileSync(out, "utf8").split("\n").filter((line) => line !== "").map((line) =>
    JSON.parse(line) as { id: string; ok: boolean; traceId: string; cost: number; attempts: number }
  )
  const events = await Effect.runPromise(
    Effect.flatMap(Ledger, (ledger) => ledger.events()).pipe(
      Effect.provide(layerSqlite({ path: join(dir, "ledger.db") }))
    )
  )
  const holds = events.filter((e) => e.type === "hold")
  const commits = events.filter((e) => e.type === "commit")
  const errors = events.filter((e) => e.type === "cancel" && e.status === "error")
  const cancelled = events.filter((e) => e.type === "cancel" && e.status === "cancelled")
  const ok = results.filter((r) => r.ok)
  const failed = results.filter((r) => !r.ok)
  const resultsCost = results.reduce((sum, r) => sum + r.cost, 0)
  const ledgerCost = [...commits, ...errors, ...cancelled].reduce((sum, e) => sum + e.cost, 0)

  const problems: Array<string> = []
  const same = (what: string, a: ReadonlyArray<string>, b: ReadonlyArray<string>) => {
    const left = [...a].sort().join("\n")
    if (left !== [...b].sort().join("\n")) problems.push(`${what} differ`)
  }
  if (new Set(results.map((r) => r.id)).size !== results.length) problems.push("an id appears twice")
  if (results.length !== items) problems.push(`${results.length} result lines for ${items} items`)
  same("success lines and ledger commits", ok.map((r) => r.traceId), commits.map((e) => e.traceId))
  same("failure lines and ledger error cancels", failed.map((r) => r.traceId), errors.map((e) => e.traceId))
  same(
    "holds and settlements",
    holds.map((e) => e.traceId),
    [...commits, ...errors, ...cancelled].map((e) => e.traceId)
  )
  if (cancelled.length > 0) problems.push(`${cancelled.length} calls cancelled`)
  if (Math.abs(resultsCost - ledgerCost) > 1e-9) problems.push(`cost: results ${resultsCost}, ledger ${ledgerCost}`)
  if (exitCode !== 1) {
    problems.push(`exit code ${exitCode} (expected 1: some items fail), stderr: ${stderr.slice(-500)}`)
  }

  return {
    items,
    concurrency,
    exitCode,
    wallMs,
    itemsPerS: Math.round((items / wallMs) * 1000 * 10) / 10,
    peakRssMiB: peak === undefined ? undefined : Math.round((peak / 1024 / 1024) * 10) / 10,
    cpuS: cpu,
    heapLimitMiB: heapMb === undefined ? undefined : Number(heapMb),
    results: { lines: results.length, ok: ok.length, failed: failed.length, cost: resultsCost },
    ledger: {
      holds: holds.length,
      commits: commits.length,
      errors: errors.length,
      cancelled: cancelled.length,
      cost: ledgerCost
    },
    agrees: problems.length === 0,
    problems
  }
}

const sim = await Simulator.start()
const figures: Array<Figures> = []
try {
  for (const items of sizes) figures.push(await runOnce(sim, items))
} finally {
  await sim.close()
}

if (json) console.log(JSON.stringify(figures))
else {
  for (const f of figures) {
    console.log(
      `${f.items} items, concurrency ${f.concurrency}: ${(f.wallMs / 1000).toFixed(1)} s (${f.itemsPerS} items/s), ` +
        `CPU ${f.cpuS?.toFixed(1) ?? "?"} s, peak RSS ${f.peakRssMiB ?? "?"} MiB` +
        (f.heapLimitMiB === undefined ? "" : ` (heap capped at ${f.heapLimitMiB} MiB)`) +
        `; results ${f.results.ok} ok + ${f.results.failed} failed, ` +
        `ledger ${f.ledger.commits} commits + ${f.ledger.errors} errors (${f.ledger.holds} holds); ` +
        `cost $${f.results.cost.toFixed(6)} vs ledger $${f.ledger.cost.toFixed(6)}: ` +
        (f.agrees ? "agree" : `DISAGREE: ${f.problems.join("; ")}`)
    )
  }
}
process.exitCode = figures.every((f) => f.agrees) ? 0 : 1
