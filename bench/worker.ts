/**
 * One measurement: one client on one workload, in a fresh process, with its own warm-up. Checks
 * every answer (text length, event count, finish signal) so that a fast wrong client cannot win, then
 * prints one `RESULT {json}` line. Started by bench/run.ts:
 * `node --import tsx bench/worker.ts '<WorkerInput json>'`.
 */
import { PerformanceObserver } from "node:perf_hooks"
import type { BenchClient, ClientName, ClientOptions, StreamResult, WorkloadName } from "./client.js"

/** Sizes of the workloads (full, quick and tiny runs differ only here). */
export interface Sizes {
  /** W1: sequential calls measured (and warm-up calls before them). */
  readonly w1Calls: number
  readonly w1Warmup: number
  /** W2: batches of concurrent calls, and calls per batch. */
  readonly w2Batches: number
  readonly w2Concurrency: number
  /** W3: events of the one long stream, characters per event. */
  readonly w3Events: number
  /** W4: concurrent streams, events per stream. */
  readonly w4Streams: number
  readonly w4Events: number
  /** TTFT: sequential streams measured, events per stream. */
  readonly ttftStreams: number
  readonly ttftEvents: number
  /** W5 (scale): concurrent streams, events per stream; its figure is the peak RSS. */
  readonly w5Streams: number
  readonly w5Events: number
  /** W1/W2 answer size (characters; the simulator answers `tokens × 4` characters). */
  readonly answerChars: number
  /** Characters per stream event. */
  readonly eventChars: number
  /**
   * Multiplies every warm-up (W1's calls, W2's and W4's batches, W3's events, TTFT's streams): 1 by
   * default; more measures the steady state a long-running process reaches (`--warm`).
   */
  readonly warmScale: number
}

export interface WorkerInput extends ClientOptions {
  readonly client: ClientName
  /** Normally one workload (a fresh process each); the tiny smoke run puts all of a client's in one. */
  readonly workloads: ReadonlyArray<WorkloadName>
  readonly sizes: Sizes
}

/** What a worker reports. `value` is the workload's figure (see `unit`); lower is better. */
export interface WorkerResult {
  readonly protocol: ClientOptions["protocol"]
  readonly client: ClientName
  readonly workload: WorkloadName
  readonly value: number
  readonly unit: "µs/call" | "ms" | "ms/batch"
  /** Peak resident set size of the process, MB. */
  readonly rssMB: number
  /** Extra figures (p50/p99 per-call latency, …). */
  readonly detail: Record<string, number>
}

const median = (values: ReadonlyArray<number>): number => {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

const percentile = (values: ReadonlyArray<number>, p: number): number => {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!
}

const check = (condition: boolean, message: string) => {
  if (!condition) throw new Error(`wrong answer: ${message}`)
}

const checkText = (text: unknown, chars: number) =>
  check(
    typeof text === "string" && text.length === chars,
    `expected ${chars} characters, got ${typeof text === "string" ? text.length : typeof text}`
  )

const checkStream = (result: StreamResult, events: number, chars: number) => {
  check(result.finished, "the stream did not finish")
  check(result.events === events, `expected ${events} events, got ${result.events}`)
  check(result.chars === events * chars, `expected ${events * chars} characters, got ${result.chars}`)
}

/**
 * BENCH_PROFILE_DIR=dir: a CPU profile of the measured part only (warm-ups and start-up left out, unlike
 * `node --cpu-prof`), written as `dir/<protocol>-<client>-<workload>-<pid>.cpuprofile`.
 */
const profiler = (() => {
  const dir = process.env.BENCH_PROFILE_DIR
  if (dir === undefined || dir === "") return { start: async () => {}, stop: async (_name: string) => {} }
  let session: import("node:inspector/promises").Session | undefined
  return {
    start: async () => {
      const { Session } = await import("node:inspector/promises")
      session = new Session()
      session.connect()
      await session.post("Profiler.enable")
      await session.post("Profiler.setSamplingInterval", {
        interval: Number(process.env.BENCH_PROFILE_INTERVAL ?? 500)
      })
      await session.post("Profiler.start")
    },
    stop: async (name: string) => {
      if (session === undefined) return
      const { profile } = await session.post("Profiler.stop")
      session.disconnect()
      session = undefined
      const Fs = await import("node:fs")
      Fs.mkdirSync(dir, { recursive: true })
      Fs.writeFileSync(`${dir}/${name}-${process.pid}.cpuprofile`, JSON.stringify(profile))
    }
  }
})()

/** GC pauses (ms) since the measured part started: where the GC falls moves W3 most (bench/README.md). */
const gcPauses: Array<number> = []
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) gcPauses.push(entry.duration)
}).observe({ entryTypes: ["gc"] })

const makeClient = async (input: WorkerInput): Promise<BenchClient> => {
  switch (input.client) {
    case "baseline":
      return (await import("./baseline.js")).make(input)
    case "effect-memory":
      return (await import("./effect-llm.js")).makeRuntime(input, "memory")
    case "effect-sqlite":
      return (await import("./effect-llm.js")).makeRuntime(input, "sqlite")
    case "effect-percall":
      return (await import("./effect-llm.js")).makePerCall(input)
    case "peer":
      return (await import("./peers.js")).make(input)
    case "effect-plain":
      return (await import("./plain-effect.js")).make(input)
  }
}

const measure = async (input: WorkerInput, client: BenchClient, workload: WorkloadName): Promise<WorkerResult> => {
  const s = input.sizes
  const callPrompt = (i: number) => `[[sim tokens=${s.answerChars / 4}]] bench call ${i}`
  const streamPrompt = (events: number, i: number) => `[[sim events=${events} chars=${s.eventChars}]] bench stream ${i}`
  const detail: Record<string, number> = {}
  // CPU time of this process over the measured part (user + system, ms): unlike wall time it does not
  // grow when other processes compete for the cores.
  let cpuStart = process.cpuUsage()
  // Starts the measured part: resets the CPU clock, and starts the profiler when BENCH_PROFILE_DIR asks.
  const startMeasuring = async () => {
    await profiler.start()
    gcPauses.length = 0
    cpuStart = process.cpuUsage()
  }
  const cpuMs = () => {
    const used = process.cpuUsage(cpuStart)
    return (used.user + used.system) / 1000
  }
  let value: number
  let unit: WorkerResult["unit"]

  switch (workload) {
    case "W1": {
      detail.warmup = s.w1Warmup * s.warmScale
      for (let i = 0; i < detail.warmup; i++) checkText(await client.call(callPrompt(i)), s.answerChars)
      const latencies: Array<number> = []
      await startMeasuring()
      const started = performance.now()
      for (let i = 0; i < s.w1Calls; i++) {
        const t = performance.now()
        const text = await client.call(callPrompt(i))
        latencies.push(performance.now() - t)
        checkText(text, s.answerChars)
      }
      value = ((performance.now() - started) * 1000) / s.w1Calls
      unit = "µs/call"
      detail.cpuUs = (cpuMs() * 1000) / s.w1Calls
      detail.p50Us = median(latencies) * 1000
      detail.p99Us = percentile(latencies, 99) * 1000
      break
    }
    case "W2": {
      const batch = (b: number) =>
        Array.from({ length: s.w2Concurrency }, (_, i) => callPrompt(b * s.w2Concurrency + i))
      detail.warmup = s.warmScale
      for (let w = 0; w < detail.warmup; w++) {
        for (const text of await client.calls(batch(-w))) checkText(text, s.answerChars)
      }
      const times: Array<number> = []
      await startMeasuring()
      for (let b = 0; b < s.w2Batches; b++) {
        const started = performance.now()
        const texts = await client.calls(batch(b + 1))
        times.push(performance.now() - started)
        check(texts.length === s.w2Concurrency, `expected ${s.w2Concurrency} answers, got ${texts.length}`)
        for (const text of texts) checkText(text, s.answerChars)
      }
      value = median(times)
      unit = "ms/batch"
      detail.cpuMs = cpuMs() / s.w2Batches
      detail.totalMs = times.reduce((a, b) => a + b, 0)
      break
    }
    case "W3": {
      // Warm-up on a tenth of the stream (times the warm-up scale), then the one long stream.
      const warm = Math.max(1, Math.floor(s.w3Events / 10)) * s.warmScale
      detail.warmup = warm
      checkStream(await client.stream(streamPrompt(warm, 0)), warm, s.eventChars)
      await startMeasuring()
      const started = performance.now()
      const result = await client.stream(streamPrompt(s.w3Events, 1))
      value = performance.now() - started
      unit = "ms"
      detail.cpuMs = cpuMs()
      checkStream(result, s.w3Events, s.eventChars)
      detail.ttftMs = result.ttftMs
      break
    }
    case "W4": {
      const batch = (b: number) =>
        Array.from({ length: s.w4Streams }, (_, i) => streamPrompt(s.w4Events, b * s.w4Streams + i))
      detail.warmup = s.warmScale
      for (let w = 0; w < detail.warmup; w++) {
        for (const result of await client.streams(batch(-w))) checkStream(result, s.w4Events, s.eventChars)
      }
      await startMeasuring()
      const started = performance.now()
      const results = await client.streams(batch(1))
      value = performance.now() - started
      unit = "ms"
      detail.cpuMs = cpuMs()
      check(results.length === s.w4Streams, `expected ${s.w4Streams} streams, got ${results.length}`)
      for (const result of results) checkStream(result, s.w4Events, s.eventChars)
      break
    }
    case "W5": {
      const batch = (b: number) =>
        Array.from({ length: s.w5Streams }, (_, i) => streamPrompt(s.w5Events, b * s.w5Streams + i))
      await startMeasuring()
      const started = performance.now()
      const results = await client.streams(batch(1))
      value = performance.now() - started
      unit = "ms"
      detail.cpuMs = cpuMs()
      check(results.length === s.w5Streams, `expected ${s.w5Streams} streams, got ${results.length}`)
      for (const result of results) checkStream(result, s.w5Events, s.eventChars)
      break
    }
    case "TTFT": {
      const warm = Math.max(5, Math.floor(s.ttftStreams / 4)) * s.warmScale
      detail.warmup = warm
      for (let i = 0; i < warm; i++) {
        checkStream(await client.stream(streamPrompt(s.ttftEvents, i)), s.ttftEvents, s.eventChars)
      }
      const ttfts: Array<number> = []
      const totals: Array<number> = []
      await startMeasuring()
      for (let i = 0; i < s.ttftStreams; i++) {
        const started = performance.now()
        const result = await client.stream(streamPrompt(s.ttftEvents, i))
        totals.push(performance.now() - started)
        checkStream(result, s.ttftEvents, s.eventChars)
        ttfts.push(result.ttftMs)
      }
      value = median(ttfts)
      unit = "ms"
      detail.cpuMsPerStream = cpuMs() / s.ttftStreams
      detail.streamMs = median(totals)
      break
    }
  }
  await profiler.stop(`${input.protocol}-${input.client}-${workload}`)
  // V8's GC pauses on the main thread over the measured part (delivered after it: read them now).
  await new Promise((resolve) => setImmediate(resolve))
  detail.gcMs = gcPauses.reduce((sum, pause) => sum + pause, 0)
  return {
    protocol: input.protocol,
    client: input.client,
    workload,
    value,
    unit,
    rssMB: process.resourceUsage().maxRSS / 1024,
    detail
  }
}

const run = async (input: WorkerInput) => {
  const client = await makeClient(input)
  for (const workload of input.workloads) {
    const result = await measure(input, client, workload)
    process.stdout.write(`RESULT ${JSON.stringify(result)}\n`)
  }
  await client.close()
}

const input = JSON.parse(process.argv[2] ?? "{}") as WorkerInput
run(input).then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(
      `FAILED ${input.client} ${input.workloads.join(",")}: ${
        error instanceof Error ? error.stack ?? error.message : String(error)
      }\n`
    )
    process.exit(1)
  }
)
