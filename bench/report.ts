/**
 * The bench's results as data (`BenchReport`, what `npm run bench -- --json` prints) and their
 * rendering as the markdown of bench/RESULTS.md. bench/run.ts measures and fills the report; this
 * module only shapes and prints it.
 */
import type { ClientName, WorkloadName } from "./client.js"
import type { ProtocolName } from "./protocols.js"
import type { Sizes, WorkerResult } from "./worker.js"

/** The figures of one (workload, client) pair over every round. */
export interface ResultRow {
  readonly protocol: ProtocolName
  readonly workload: WorkloadName
  readonly workloadLabel: string
  readonly client: ClientName
  readonly clientLabel: string
  /** The workload's figure (lower is better) and its unit. */
  readonly unit: WorkerResult["unit"]
  /** The figure of each round, in round order. */
  readonly values: ReadonlyArray<number>
  readonly median: number
  /** Median over rounds of the ratio to the same round's baseline (1 for the baseline; `null` if not measured). */
  readonly ratio: number | null
  /** The client process's CPU time over the measured part, median over rounds, in `cpuUnit`. */
  readonly cpu: number | null
  readonly cpuUnit: "µs/call" | "ms/batch" | "ms/stream" | "ms"
  readonly cpuRatio: number | null
  /** Largest peak resident set size over rounds. */
  readonly peakRssMB: number
  /** What each process ran before measuring: W1 calls, W2 and W4 batches, W3 events, TTFT streams (W5: 0). */
  readonly warmup: number
}

/** One target of the bench (issue 6): a limit and what was measured. */
export interface TargetRow {
  readonly name: string
  readonly limit: number
  /** `null`: not measured in this run (e.g. `--only` left its workload out). */
  readonly value: number | null
  readonly unit: "×" | "ms" | "MB"
  /** `null` when not measured. */
  readonly met: boolean | null
}

/** Everything one bench run found. */
/** One line of the issue's table: a target on one protocol, with the peers and plain Effect beside it. */
export interface IssueRow {
  readonly workload: string
  readonly protocol: ProtocolName
  /** effect-llm's ratio to the protocol's fetch baseline. */
  readonly effectLlm: number
  /** The protocol's peer SDK (`null`: none, or not measured). */
  readonly peer: number | null
  /** The best peer SDK of the run on this workload, any protocol. */
  readonly bestPeer: { readonly ratio: number; readonly who: string } | null
  readonly plainEffect: number | null
  readonly limit: number
  readonly met: boolean
}

export interface BenchReport {
  readonly mode: "full" | "quick" | "tiny"
  readonly rounds: number
  readonly sizes: Sizes
  /** Where the measured package came from: the built `dist/`, or `src/` through tsx. */
  readonly lib: "dist" | "src"
  readonly startedAt: string
  readonly minutes: number
  readonly machine: {
    readonly node: string
    readonly cores: number
    readonly cpu: string
    /** Load average at the end of the run (1, 5, 15 minutes). */
    readonly loadAverage: ReadonlyArray<number>
  }
  readonly results: ReadonlyArray<ResultRow>
  /** Import of the package root in a fresh `node`. */
  readonly import: {
    readonly runs: number
    readonly medianMs: number
    readonly minMs: number
    readonly maxMs: number
    /** The whole process (start-up included), median. */
    readonly processMedianMs: number
    /** The floor: `effect/Schema` + `effect/Stream` + `@effect/platform/HttpClient` alone, median. */
    readonly floorMedianMs: number
  }
  readonly targets: ReadonlyArray<TargetRow>
  /** The issue's table (issue 17). */
  readonly issue: ReadonlyArray<IssueRow>
  /** bench/scale.ts's output lines (hold + settle over a 1,000,000-event ledger), when it ran. */
  readonly scale?: ReadonlyArray<string>
  /** bench/ledger.ts's output lines, when it ran. */
  readonly ledger?: ReadonlyArray<string>
  /** Effect log lines at Info or above from the measured processes (a clean run has none). */
  readonly logLines: { readonly infoOrAbove: ReadonlyArray<string>; readonly other: number }
  /** Processes that failed (a wrong answer, a crash); a clean run has none. */
  readonly failures: ReadonlyArray<string>
}

const fmt = (value: number | null, digits = 0) =>
  value !== null && Number.isFinite(value)
    ? value.toLocaleString("en", { minimumFractionDigits: digits, maximumFractionDigits: digits })
    : "—"

/** A ratio against its limit: three decimals where two would round a miss down onto the limit (1.004 > 1.00). */
const fmtAgainst = (value: number, limit: number) =>
  value > limit && Number(value.toFixed(2)) <= limit ? fmt(value, 3) : fmt(value, 2)

const unitLabel: Record<WorkerResult["unit"], string> = {
  "µs/call": "µs per call",
  "ms": "ms",
  "ms/batch": "ms per batch"
}

/** The report as the markdown of bench/RESULTS.md. */
export const markdown = (report: BenchReport): string => {
  const rows = report.results.map((row) => {
    const digits = row.unit === "µs/call" ? (row.median < 100 ? 2 : 0) : 1
    const cpuDigits = row.workload === "TTFT" ? 2 : row.unit === "µs/call" ? 0 : 1
    return `| ${row.workloadLabel} | ${row.clientLabel} | ${fmt(row.median, digits)} ${unitLabel[row.unit]} | ${
      row.client === "baseline" ? "1.00" : fmt(row.ratio, 2)
    } | ${fmt(row.cpu, cpuDigits)} ${row.cpuUnit} | ${row.client === "baseline" ? "1.00" : fmt(row.cpuRatio, 2)} | ${
      fmt(row.peakRssMB)
    } MB |`
  })
  const targetRows = report.targets.map((t) =>
    `| ${t.name} | ≤ ${t.unit === "×" ? fmt(t.limit, 2) : fmt(t.limit)} ${t.unit} | ${
      t.value === null ? "—" : t.unit === "×" ? fmtAgainst(t.value, t.limit) : fmt(t.value)
    } ${t.unit} | ${t.met === null ? "not measured" : t.met ? "**met**" : "**not met**"} |`
  )
  const { machine } = report
  const imported = report.import
  const lines = [
    `# effect-llm bench results`,
    "",
    `${
      report.startedAt.slice(0, 16).replace("T", " ")
    } UTC · Node ${machine.node} · ${machine.cores} cores (${machine.cpu}) · load average at the end ${
      machine.loadAverage.map((l) => l.toFixed(1)).join(" ")
    } · mode \`${report.mode}\`, ${report.rounds} round(s)${
      report.sizes.warmScale === 1 ? "" : `, every warm-up ×${report.sizes.warmScale} (\`--warm\`)`
    }, ${report.minutes.toFixed(1)} min · package from ${
      report.lib === "dist" ? "`dist/` (built by `npm run build`)" : "`src/` through tsx (not built)"
    }`,
    "",
    "Each (client, workload) ran in a fresh process with its own warm-up, interleaved round by round (baseline first in each round); the simulator (zero delay) ran in its own process. \"× baseline\" is the median over rounds of the ratio to the same round's baseline; lower is better. Client CPU is the client process's user + system time over the measured part (it does not grow when other processes compete for the cores). Every answer was checked (text length, event count, finish signal).",
    "",
    "| workload | client | median | × baseline (wall) | client CPU | × baseline (CPU) | peak RSS |",
    "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ...rows,
    "",
    `Import of the package root (\`${
      report.lib === "dist" ? "dist/index.js" : "src/index.ts"
    }\`) in a fresh \`node\`, ${imported.runs} runs: median ${fmt(imported.medianMs)} ms (min ${
      fmt(imported.minMs)
    }, max ${fmt(imported.maxMs)}); whole process ${
      fmt(imported.processMedianMs)
    } ms. The floor under it, \`effect/Schema\` (which loads fast-check) + \`effect/Stream\` + \`@effect/platform/HttpClient\` alone, interleaved: median ${
      fmt(imported.floorMedianMs)
    } ms.`,
    "",
    "## The issue's table",
    "",
    "Ratios to the same protocol's fetch baseline in this run (wall time, median over rounds); the best peer SDK is the fastest peer on that workload over every protocol measured.",
    "",
    "| workload | protocol | effect-llm | peer SDK on this protocol | best peer SDK in the run | plain Effect pipeline | target | |",
    "| --- | --- | ---: | ---: | ---: | ---: | ---: | --- |",
    ...report.issue.map((row) =>
      `| ${row.workload} | ${row.protocol} | ${fmtAgainst(row.effectLlm, row.limit)}× | ${
        row.peer === null ? "—" : `${fmt(row.peer, 2)}×`
      } | ${row.bestPeer === null ? "—" : `${fmt(row.bestPeer.ratio, 2)}× (${row.bestPeer.who})`} | ${
        row.plainEffect === null ? "—" : `${fmt(row.plainEffect, 2)}×`
      } | ≤ ${fmt(row.limit, 2)}× | ${row.met ? "**met**" : "**not met**"} |`
    ),
    "",
    "## Targets",
    "",
    "| target | limit | measured | |",
    "| --- | ---: | ---: | --- |",
    ...targetRows,
    ""
  ]
  if (report.scale !== undefined) {
    lines.push(
      "## Scale: hold + settle over a large ledger (`bench/scale.ts`)",
      "",
      "```",
      ...report.scale,
      "```",
      ""
    )
  }
  if (report.ledger !== undefined) {
    lines.push(
      "## Ledger backends alone (`bench/ledger.ts`: hold + commit, sequential)",
      "",
      "```",
      ...report.ledger,
      "```",
      ""
    )
  }
  const logs = report.logLines.infoOrAbove
  lines.push(
    `Effect log lines at Info or above during the run: ${logs.length}${
      logs.length > 0 ? ` (first: ${logs[0]})` : ""
    }. Other unexpected output: ${report.logLines.other} line(s).`,
    ""
  )
  if (report.failures.length > 0) {
    lines.push("## Failures", "", ...report.failures.map((f) => `- ${f.split("\n")[0]}`), "")
  }
  return lines.join("\n")
}
