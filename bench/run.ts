/**
 * `npm run bench`: what effect-llm costs on top of the network, against a hand-written baseline.
 * Builds the package, starts the simulator (zero delay, Gemini wire format) in its own process, then
 * runs every (client, workload) in a fresh process, interleaved over several rounds, and reports
 * medians and the median ratio to the same round's baseline, with the targets of issue 6.
 *
 *   npm run bench                 full run (~10 minutes), writes bench/RESULTS.md
 *   npm run bench -- --quick      one short round (~1 minute), writes bench/RESULTS.md
 *   npm run bench -- --tiny       smoke run for the test: tiny workloads, sources through tsx, no build
 * Options: --rounds N, --only W1,W3 (workloads; `CLI`: the command line's start-to-exit), --out FILE (`-` for
 * stdout only), --no-build, --no-ledger,
 * --json (stdout gets the results as one JSON `BenchReport` (bench/report.ts) instead of the markdown).
 */
import { spawn, spawnSync } from "node:child_process"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { fileURLToPath } from "node:url"
import type { ClientName, WorkloadName } from "./client.js"
import { benchConfig } from "./effect-llm.js"
import { peerOf } from "./peers.js"
import { type ProtocolName, protocolNames, wires } from "./protocols.js"
import { type BenchReport, type IssueRow, markdown, type ResultRow, type TargetRow } from "./report.js"
import type { Sizes, WorkerInput, WorkerResult } from "./worker.js"

const root = Path.resolve(Path.dirname(fileURLToPath(import.meta.url)), "..")
const benchDir = Path.join(root, "bench")

// ---------------------------------------------------------------------------------------------------------------
// Options

const argv = process.argv.slice(2)
const flag = (name: string) => argv.includes(`--${name}`)
const option = (name: string): string | undefined => {
  const at = argv.indexOf(`--${name}`)
  return at >= 0 ? argv[at + 1] : argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3)
}
const mode: "full" | "quick" | "tiny" = flag("tiny") ? "tiny" : flag("quick") ? "quick" : "full"

const sizesByMode: Record<typeof mode, Omit<Sizes, "warmScale">> = {
  full: {
    w1Calls: 1000,
    w1Warmup: 200,
    w2Batches: 5,
    w2Concurrency: 200,
    w3Events: 10_000,
    w4Streams: 100,
    w4Events: 100,
    ttftStreams: 100,
    ttftEvents: 20,
    w5Streams: 1000,
    w5Events: 20,
    answerChars: 1024,
    eventChars: 8
  },
  quick: {
    w1Calls: 300,
    w1Warmup: 100,
    w2Batches: 2,
    w2Concurrency: 200,
    w3Events: 10_000,
    w4Streams: 100,
    w4Events: 100,
    ttftStreams: 40,
    ttftEvents: 20,
    w5Streams: 1000,
    w5Events: 20,
    answerChars: 1024,
    eventChars: 8
  },
  tiny: {
    w1Calls: 30,
    w1Warmup: 5,
    w2Batches: 1,
    w2Concurrency: 10,
    w3Events: 300,
    w4Streams: 5,
    w4Events: 20,
    ttftStreams: 5,
    ttftEvents: 5,
    w5Streams: 20,
    w5Events: 5,
    answerChars: 1024,
    eventChars: 8
  }
}
// --warm K: every warm-up K times as long (the steady state of a long-running process; default 1)
const warmScale = Number(option("warm") ?? 1)
if (!Number.isInteger(warmScale) || warmScale < 1) {
  throw new Error(`--warm: a whole number of at least 1, got ${option("warm")}`)
}
const sizes: Sizes = { ...sizesByMode[mode], warmScale }
const rounds = Number(option("rounds") ?? (mode === "full" ? 5 : 1))
const importRuns = mode === "full" ? 10 : mode === "quick" ? 5 : 1
const only = option("only")?.split(",") as ReadonlyArray<WorkloadName> | undefined
const protocols = (option("protocols")?.split(",") ?? protocolNames) as ReadonlyArray<ProtocolName>
for (const protocol of protocols) {
  if (!protocolNames.includes(protocol)) throw new Error(`--protocols: unknown protocol ${protocol}`)
}
const outFile = option("out") ?? (mode === "tiny" ? "-" : Path.join(benchDir, "RESULTS.md"))
const json = flag("json")

/**
 * Which clients run which workload on which protocol, in the order they run within a round (the
 * baseline first). The SQLite and per-call forms are measured where their targets are (W1, W2); the
 * peer SDK wherever the protocol has one. The tiny smoke run keeps Gemini complete and runs the other
 * protocols' baseline and effect-llm only.
 */
const plan: ReadonlyArray<readonly [ProtocolName, WorkloadName, ReadonlyArray<ClientName>]> = protocols.flatMap((
  protocol
) => {
  const peer: ReadonlyArray<ClientName> = peerOf[protocol] === undefined ? [] : ["peer"]
  const others: ReadonlyArray<ClientName> = mode === "tiny" && protocol !== "gemini" ? [] : [...peer, "effect-plain"]
  const durable: ReadonlyArray<ClientName> = mode === "tiny" && protocol !== "gemini" ? [] : ["effect-sqlite"]
  const percall: ReadonlyArray<ClientName> = mode === "tiny" && protocol !== "gemini" ? [] : ["effect-percall"]
  const none: ReadonlyArray<ClientName> = []
  const rows: ReadonlyArray<readonly [WorkloadName, ReadonlyArray<ClientName>]> = [
    ["W1", ["baseline", "effect-memory", ...durable, ...percall, ...others]],
    ["W2", ["baseline", "effect-memory", ...durable, ...others]],
    ["W3", ["baseline", "effect-memory", ...others]],
    ["W4", ["baseline", "effect-memory", ...others]],
    ["TTFT", ["baseline", "effect-memory", ...others]],
    ["W5", mode === "tiny" && protocol !== "gemini" ? none : ["baseline", "effect-memory"]]
  ]
  return rows.filter(([workload, clients]) => clients.length > 0 && (only === undefined || only.includes(workload)))
    .map(([workload, clients]) => [protocol, workload, clients] as const)
})

const clientLabel: Record<ClientName, string> = {
  "baseline": "baseline (fetch + JSON.parse / hand-written SSE loop)",
  "effect-memory": "effect-llm, one ManagedRuntime, memory ledger",
  "effect-sqlite": "effect-llm, one ManagedRuntime, SQLite ledger",
  "effect-percall": "effect-llm, per-call Effect.provide(LiveLayer), memory ledger",
  "peer": "peer SDK",
  "effect-plain": "plain Effect pipeline (HttpClient + Schema + Stream)"
}
const workloadLabel: Record<WorkloadName, string> = {
  W1: `W1 ${sizes.w1Calls} sequential calls, ${sizes.answerChars / 1024} KiB answers`,
  W2: `W2 ${sizes.w2Batches} × ${sizes.w2Concurrency} concurrent calls`,
  W3: `W3 one stream, ${sizes.w3Events.toLocaleString("en")} events × ${sizes.eventChars} chars`,
  W4: `W4 ${sizes.w4Streams} concurrent streams × ${sizes.w4Events} events`,
  TTFT: `time to first delta (${sizes.ttftStreams} sequential streams of ${sizes.ttftEvents} events)`,
  W5: `W5 ${sizes.w5Streams.toLocaleString("en")} concurrent streams × ${sizes.w5Events} events (peak RSS)`
}
const labelOf = (protocol: ProtocolName, client: ClientName) =>
  client === "peer" ? `peer SDK (${peerOf[protocol]})` : clientLabel[client]

const log = (message: string) => process.stderr.write(`[bench] ${message}\n`)

// ---------------------------------------------------------------------------------------------------------------
// Processes

/**
 * How bench processes run. With the package built, the bench's own files are transpiled (no type
 * check) next to node_modules and run by plain `node`, so no loader sits in the measured processes;
 * otherwise they run through tsx and import `src/`.
 */
interface Runner {
  readonly lib: "dist" | "src"
  readonly node: ReadonlyArray<string>
  readonly script: (name: "worker" | "server") => string
}

const build = (): boolean => {
  if (mode === "tiny" || flag("no-build")) return Fs.existsSync(Path.join(root, "dist/index.js")) && flag("no-build")
  log("npm run build …")
  const result = spawnSync("npm", ["run", "build"], { cwd: root, stdio: ["ignore", "pipe", "pipe"], encoding: "utf8" })
  if (result.status !== 0) {
    log(`build failed, measuring src/ through tsx instead:\n${result.stdout}${result.stderr}`)
    return false
  }
  return true
}

const prepare = async (built: boolean): Promise<Runner> => {
  if (!built) {
    return { lib: "src", node: ["--import", "tsx"], script: (name) => Path.join(benchDir, `${name}.ts`) }
  }
  const ts = (await import("typescript")).default
  const out = Path.join(root, "node_modules/.cache/effect-llm-bench")
  Fs.mkdirSync(out, { recursive: true })
  for (const name of ["worker", "server", "client", "baseline", "effect-llm", "protocols", "peers", "plain-effect"]) {
    const source = Fs.readFileSync(Path.join(benchDir, `${name}.ts`), "utf8")
    const { outputText } = ts.transpileModule(source, {
      compilerOptions: { module: ts.ModuleKind.ES2022, target: ts.ScriptTarget.ES2022, verbatimModuleSyntax: false }
    })
    Fs.writeFileSync(Path.join(out, `${name}.js`), outputText)
  }
  Fs.writeFileSync(Path.join(out, "package.json"), `{ "type": "module" }\n`)
  return { lib: "dist", node: [], script: (name) => Path.join(out, `${name}.js`) }
}

/** The environment of bench processes: no provider keys or config from the caller's shell. */
const cleanEnv = (extra: Record<string, string>): NodeJS.ProcessEnv => {
  const env = { ...process.env }
  for (const name of ["GEMINI_API_KEY", "GOOGLE_API_KEY", "DASHSCOPE_API_KEY", "EFFECT_LLM_CONFIG", "NODE_OPTIONS"]) {
    delete env[name]
  }
  return { ...env, ...extra }
}

const startServer = (runner: Runner, apiKey: string) =>
  new Promise<{ readonly url: string; readonly stop: () => void }>((resolve, reject) => {
    const child = spawn(process.execPath, [
      ...runner.node,
      runner.script("server"),
      JSON.stringify({ lib: runner.lib, root, apiKey })
    ], {
      cwd: root,
      env: cleanEnv({}),
      stdio: ["pipe", "pipe", "inherit"]
    })
    let buffer = ""
    const timer = setTimeout(() => reject(new Error("the simulator did not start within 60 s")), 60_000)
    child.on("exit", (code) => reject(new Error(`the simulator exited (${code})`)))
    child.stdout.setEncoding("utf8").on("data", (text: string) => {
      buffer += text
      const match = /LISTENING (\S+)/.exec(buffer)
      if (match !== null) {
        clearTimeout(timer)
        resolve({ url: match[1]!, stop: () => child.kill("SIGTERM") })
      }
    })
  })

interface WorkerOutcome {
  readonly results: ReadonlyArray<WorkerResult>
  /** Log lines (Effect logs: retries, breaker changes) and other unexpected output. */
  readonly noise: ReadonlyArray<string>
  readonly error: string | undefined
}

const runWorker = (runner: Runner, input: WorkerInput, env: NodeJS.ProcessEnv, timeoutMs: number) =>
  new Promise<WorkerOutcome>((resolve) => {
    // BENCH_WORKER_NODE_ARGS: extra node flags for the workers, e.g. `--cpu-prof --cpu-prof-dir=/tmp/p` to profile one
    const extra = (process.env.BENCH_WORKER_NODE_ARGS ?? "").split(" ").filter((flag) => flag.length > 0)
    const child = spawn(process.execPath, [...extra, ...runner.node, runner.script("worker"), JSON.stringify(input)], {
      cwd: root,
      env,
      stdio: ["ignore", "pipe", "pipe"]
    })
    let stdout = ""
    let stderr = ""
    child.stdout.setEncoding("utf8").on("data", (text: string) => (stdout += text))
    child.stderr.setEncoding("utf8").on("data", (text: string) => (stderr += text))
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs)
    child.on("close", (code, signal) => {
      clearTimeout(timer)
      const results: Array<WorkerResult> = []
      const noise: Array<string> = []
      for (const line of stdout.split("\n")) {
        if (line.startsWith("RESULT ")) results.push(JSON.parse(line.slice(7)) as WorkerResult)
        else if (line.trim().length > 0) noise.push(line)
      }
      for (const line of stderr.split("\n")) if (line.trim().length > 0 && code === 0) noise.push(line)
      const error = code === 0
        ? undefined
        : `${input.client} ${input.workloads.join(",")} exited ${code ?? signal}: ${stderr.trim().slice(0, 2000)}`
      resolve({ results, noise, error })
    })
  })

// ---------------------------------------------------------------------------------------------------------------
// Figures

const median = (values: ReadonlyArray<number>): number => {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length === 0
    ? Number.NaN
    : sorted.length % 2 === 1
    ? sorted[mid]!
    : (sorted[mid - 1]! + sorted[mid]!) / 2
}

const fmt = (value: number, digits = 0) =>
  Number.isFinite(value)
    ? value.toLocaleString("en", { minimumFractionDigits: digits, maximumFractionDigits: digits })
    : "—"

/** A figure, or `null` when it could not be measured (JSON has no NaN). */
const finite = (value: number): number | null => (Number.isFinite(value) ? value : null)

/**
 * Import time of the package root in a fresh `node`, ms (the import alone, and the whole process),
 * and, interleaved with it, the floor under it: the Effect modules any Effect client of an HTTP API
 * loads (`effect/Schema` — which loads fast-check for its arbitraries —, `effect/Stream`, and
 * `@effect/platform`'s `HttpClient`).
 */
const measureImport = (
  runner: Runner
): {
  readonly importMs: ReadonlyArray<number>
  readonly processMs: ReadonlyArray<number>
  readonly floorMs: ReadonlyArray<number>
} => {
  const entry = runner.lib === "dist" ? Path.join(root, "dist/index.js") : Path.join(root, "src/index.ts")
  const timed = (imports: ReadonlyArray<string>) =>
    `const t = performance.now(); ${
      imports.map((name) => `await import(${JSON.stringify(name)});`).join(" ")
    } console.log(performance.now() - t)`
  const code = timed([new URL(`file://${entry}`).href])
  const floor = timed(["effect/Schema", "effect/Stream", "@effect/platform/HttpClient"])
  const importMs: Array<number> = []
  const processMs: Array<number> = []
  const floorMs: Array<number> = []
  for (let i = 0; i < importRuns; i++) {
    const floorRun = spawnSync(process.execPath, ["--input-type=module", "-e", floor], {
      cwd: root,
      env: cleanEnv({}),
      encoding: "utf8"
    })
    floorMs.push(Number(floorRun.stdout.trim()))
    const started = performance.now()
    const result = spawnSync(process.execPath, [...runner.node, "--input-type=module", "-e", code], {
      cwd: root,
      env: cleanEnv({}),
      encoding: "utf8"
    })
    processMs.push(performance.now() - started)
    const value = Number(result.stdout.trim())
    if (result.status !== 0 || !Number.isFinite(value)) {
      throw new Error(`importing the package failed: ${result.stderr}`)
    }
    importMs.push(value)
  }
  return { importMs, processMs, floorMs }
}

/**
 * `effect-llm generate` (the built CLI, `dist/cli/bin.js`) against the simulator, wall time from
 * start to exit, median of `importRuns` runs (memory ledger, config from EFFECT_LLM_CONFIG).
 */
const measureCli = (config: string): number | undefined => {
  const bin = Path.join(root, "dist/cli/bin.js")
  if (!Fs.existsSync(bin)) return undefined
  log("effect-llm generate …")
  const times: Array<number> = []
  for (let i = 0; i < importRuns; i++) {
    const started = performance.now()
    const result = spawnSync(process.execPath, [bin, "generate", "[[sim tokens=16]] hello"], {
      cwd: root,
      env: cleanEnv({ EFFECT_LLM_CONFIG: config }),
      encoding: "utf8"
    })
    const ms = performance.now() - started
    if (result.status !== 0) {
      log(`effect-llm generate failed (${result.status}): ${result.stderr.trim().slice(0, 500)}`)
      return undefined
    }
    times.push(ms)
  }
  return median(times)
}

/** bench/scale.ts (hold + settle over a ledger of 1,000,000 events), when not tiny: its output lines. */
const runScaleBench = (): ReadonlyArray<string> | undefined => {
  const script = Path.join(benchDir, "scale.ts")
  if (!Fs.existsSync(script) || mode === "tiny" || flag("no-ledger")) return undefined
  log("bench/scale.ts …")
  const result = spawnSync(process.execPath, ["--import", "tsx", script, mode], {
    cwd: root,
    env: cleanEnv({}),
    encoding: "utf8",
    timeout: 600_000
  })
  const lines = `${result.stdout}`.split("\n").filter((line) => line.trim().length > 0)
  if (result.status !== 0) {
    lines.push(`(exited ${result.status ?? result.signal}: ${result.stderr.trim().split("\n")[0] ?? ""})`)
  }
  return lines
}

/** bench/ledger.ts (the ledger backends' own micro-benchmark), when it exists: its output lines. */
const runLedgerBench = (): ReadonlyArray<string> | undefined => {
  const script = Path.join(benchDir, "ledger.ts")
  if (!Fs.existsSync(script) || mode === "tiny" || flag("no-ledger")) return undefined
  log("bench/ledger.ts …")
  const result = spawnSync(process.execPath, ["--import", "tsx", script], {
    cwd: root,
    env: cleanEnv({}),
    encoding: "utf8",
    timeout: 180_000
  })
  const lines = `${result.stdout}`.split("\n").filter((line) => line.trim().length > 0)
  if (result.status !== 0) {
    lines.push(`(exited ${result.status ?? result.signal}: ${result.stderr.trim().split("\n")[0] ?? ""})`)
  }
  return lines
}

// ---------------------------------------------------------------------------------------------------------------
// Main

const main = async () => {
  const startedAt = Date.now()
  const runner = await prepare(build())
  log(`mode ${mode}, ${rounds} round(s), package from ${runner.lib === "dist" ? "dist/ (built)" : "src/ through tsx"}`)
  const apiKey = "bench-google-key"
  const scratch = Fs.mkdtempSync(Path.join(Os.tmpdir(), "effect-llm-bench-"))
  const xdg = Path.join(scratch, "xdg")
  Fs.mkdirSync(xdg)
  const server = await startServer(runner, apiKey)
  const url = `${server.url}/bench`
  const optionsOf = (protocol: ProtocolName) => ({
    protocol,
    url,
    apiKey,
    modelId: wires[protocol].modelId,
    lib: runner.lib,
    root
  })
  // The per-call form reads its configuration the way users' programs do: from EFFECT_LLM_CONFIG.
  const perCallConfig = (protocol: ProtocolName) => {
    const file = Path.join(scratch, `percall-${protocol}.yaml`)
    if (!Fs.existsSync(file)) {
      Fs.writeFileSync(
        file,
        JSON.stringify(benchConfig({ ...optionsOf(protocol), dir: scratch }, { backend: "memory" }), null, 2)
      )
    }
    return file
  }

  const results: Array<WorkerResult & { readonly round: number }> = []
  const noise: Array<string> = []
  const failures: Array<string> = []
  let serial = 0
  let cli: number | undefined
  const runOne = async (
    protocol: ProtocolName,
    client: ClientName,
    workloads: ReadonlyArray<WorkloadName>,
    round: number
  ) => {
    const dir = Path.join(scratch, `w${++serial}`)
    Fs.mkdirSync(dir)
    const env = cleanEnv({
      XDG_CONFIG_HOME: xdg,
      ...(client === "effect-percall" ? { EFFECT_LLM_CONFIG: perCallConfig(protocol) } : {})
    })
    const outcome = await runWorker(
      runner,
      { ...optionsOf(protocol), dir, client, workloads, sizes },
      env,
      mode === "tiny" ? 60_000 : 300_000
    )
    for (const result of outcome.results) results.push({ ...result, round })
    noise.push(...outcome.noise.map((line) => `${protocol} ${client} ${workloads.join(",")}: ${line}`))
    if (outcome.error !== undefined) {
      failures.push(outcome.error)
      log(`FAILED ${outcome.error}`)
    }
    for (const result of outcome.results) {
      log(
        `round ${round} ${protocol.padEnd(9)} ${result.workload.padEnd(4)} ${client.padEnd(15)} ${
          fmt(result.value, 2)
        } ${result.unit}  cpu ${JSON.stringify(result.detail)}  rss ${fmt(result.rssMB)} MB`
      )
    }
  }

  try {
    for (let round = 1; round <= rounds; round++) {
      if (mode === "tiny") {
        // One process per (protocol, client), all its workloads in it: the smoke test checks every path quickly.
        for (const protocol of protocols) {
          const mine = plan.filter(([p]) => p === protocol)
          const clients = [...new Set(mine.flatMap(([, , list]) => list))]
          for (const client of clients) {
            await runOne(protocol, client, mine.filter(([, , list]) => list.includes(client)).map(([, w]) => w), round)
          }
        }
      } else {
        for (const [protocol, workload, clients] of plan) {
          for (const client of clients) await runOne(protocol, client, [workload], round)
        }
      }
    }
    // `--only CLI` (alone or beside workloads) measures the command line; a run of only some workloads skips it.
    if (runner.lib === "dist" && (only === undefined || (only as ReadonlyArray<string>).includes("CLI"))) {
      cli = measureCli(perCallConfig("gemini"))
    }
  } finally {
    server.stop()
  }
  log("import time …")
  const imports = measureImport(runner)
  const ledgerLines = runLedgerBench()
  const scaleLines = runScaleBench()
  Fs.rmSync(scratch, { recursive: true, force: true })

  // ---- figures
  const ratiosOf = (
    protocol: ProtocolName,
    workload: WorkloadName,
    client: ClientName,
    figure: (result: WorkerResult) => number
  ) => {
    const ratios: Array<number> = []
    const at = (round: number, c: ClientName) =>
      results.find((r) => r.round === round && r.protocol === protocol && r.workload === workload && r.client === c)
    for (let round = 1; round <= rounds; round++) {
      const base = at(round, "baseline")
      const mine = at(round, client)
      if (base !== undefined && mine !== undefined) ratios.push(figure(mine) / figure(base))
    }
    return finite(median(ratios))
  }
  const cpuOf = (result: WorkerResult) =>
    result.detail.cpuUs ?? result.detail.cpuMs ?? result.detail.cpuMsPerStream ?? Number.NaN
  const rows: Array<ResultRow> = []
  for (const [protocol, workload, clients] of plan) {
    for (const client of clients) {
      const mine = results.filter((r) => r.protocol === protocol && r.workload === workload && r.client === client)
      if (mine.length === 0) continue
      rows.push({
        protocol,
        workload,
        workloadLabel: `${workloadLabel[workload]} · ${protocol}`,
        client,
        clientLabel: labelOf(protocol, client),
        unit: mine[0]!.unit,
        values: mine.map((r) => r.value),
        median: median(mine.map((r) => r.value)),
        ratio: client === "baseline" ? 1 : ratiosOf(protocol, workload, client, (r) => r.value),
        cpu: finite(median(mine.map(cpuOf))),
        cpuUnit: workload === "W1"
          ? "µs/call"
          : workload === "W2"
          ? "ms/batch"
          : workload === "TTFT"
          ? "ms/stream"
          : "ms",
        cpuRatio: client === "baseline" ? 1 : ratiosOf(protocol, workload, client, cpuOf),
        peakRssMB: Math.max(...mine.map((r) => r.rssMB)),
        warmup: mine[0]!.detail.warmup ?? 0
      })
    }
  }

  // ---- targets (each per protocol)
  const importMedian = median(imports.importMs)
  const target = (name: string, limit: number, value: number | null, unit: TargetRow["unit"]): TargetRow => ({
    name,
    limit,
    value,
    unit,
    met: value === null ? null : value <= limit
  })
  const ratioTargets: ReadonlyArray<readonly [string, WorkloadName, ClientName, number]> = [
    ["W1 in-memory ledger, full resilience path", "W1", "effect-memory", 1.1],
    ["W1 SQLite ledger", "W1", "effect-sqlite", 1.5],
    ["W1 per-call Effect.provide(LiveLayer)", "W1", "effect-percall", 1.3],
    ["W2 concurrent calls (memory ledger)", "W2", "effect-memory", 1.0],
    ["W3 10,000-event stream", "W3", "effect-memory", 1.5],
    ["W4 100 concurrent streams", "W4", "effect-memory", 1.8],
    ["time to first delta", "TTFT", "effect-memory", 1.2]
  ]
  const measuredProtocols = protocols.filter((protocol) => results.some((r) => r.protocol === protocol))
  const targets: Array<TargetRow> = []
  for (const protocol of measuredProtocols) {
    for (const [name, workload, client, limit] of ratioTargets) {
      if (!plan.some(([p, w, clients]) => p === protocol && w === workload && clients.includes(client))) continue
      targets.push(target(`${name} · ${protocol}`, limit, ratiosOf(protocol, workload, client, (r) => r.value), "×"))
    }
    const rss = results.filter((r) => r.protocol === protocol && r.workload === "W5" && r.client === "effect-memory")
    if (rss.length > 0) {
      targets.push(
        target(`${workloadLabel.W5} · ${protocol}`, 400, finite(Math.max(...rss.map((r) => r.rssMB))), "MB")
      )
    }
  }
  targets.push(target("import of the package root", 350, finite(importMedian), "ms"))
  if (cli !== undefined) {
    targets.push(target("`effect-llm generate` against the simulator, start to exit", 800, cli, "ms"))
  }
  const w1Rss = results.filter((r) =>
    r.workload === "W1" && r.client.startsWith("effect-") && r.client !== "effect-plain"
  )
  targets.push(
    target("peak RSS in W1 (effect-llm processes)", 200, finite(Math.max(...w1Rss.map((r) => r.rssMB))), "MB")
  )

  // ---- the issue's table: per workload and protocol, effect-llm, the best peer SDK in the run, plain Effect
  const issueRows: Array<IssueRow> = []
  for (const [name, workload, client, limit] of ratioTargets) {
    const peers = measuredProtocols.flatMap((protocol) => {
      const ratio = ratiosOf(protocol, workload, "peer", (r) => r.value)
      return ratio === null ? [] : [{ ratio, who: `${peerOf[protocol]}, ${protocol} wire` }]
    }).sort((a, b) => a.ratio - b.ratio)
    for (const protocol of measuredProtocols) {
      const ratio = ratiosOf(protocol, workload, client, (r) => r.value)
      if (ratio === null) continue
      issueRows.push({
        workload: name,
        protocol,
        effectLlm: ratio,
        peer: ratiosOf(protocol, workload, "peer", (r) => r.value),
        bestPeer: peers[0] === undefined ? null : peers[0],
        plainEffect: ratiosOf(protocol, workload, "effect-plain", (r) => r.value),
        limit,
        met: ratio <= limit
      })
    }
  }

  const infoOrAbove = noise.filter((line) => /level=(INFO|WARN|ERROR|FATAL)/.test(line))
  const cpus = Os.cpus()
  const report: BenchReport = {
    mode,
    rounds,
    sizes,
    lib: runner.lib,
    startedAt: new Date(startedAt).toISOString(),
    minutes: (Date.now() - startedAt) / 60_000,
    machine: {
      node: process.version,
      cores: cpus.length,
      cpu: cpus[0]?.model.trim() ?? "?",
      loadAverage: Os.loadavg()
    },
    results: rows,
    import: {
      runs: importRuns,
      medianMs: importMedian,
      minMs: Math.min(...imports.importMs),
      maxMs: Math.max(...imports.importMs),
      processMedianMs: median(imports.processMs),
      floorMedianMs: median(imports.floorMs)
    },
    targets,
    issue: issueRows,
    ...(scaleLines === undefined ? {} : { scale: scaleLines }),
    ...(ledgerLines === undefined ? {} : { ledger: ledgerLines }),
    logLines: { infoOrAbove, other: noise.length - infoOrAbove.length },
    failures
  }
  const text = markdown(report)
  process.stdout.write(json ? `${JSON.stringify(report, null, 2)}\n` : `${text}\n`)
  if (outFile !== "-") {
    Fs.writeFileSync(outFile, text)
    log(`written to ${Path.relative(root, outFile)}`)
  }
  if (failures.length > 0) process.exitCode = 1
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? error.stack ?? error.message : String(error)}\n`)
  process.exit(1)
})
