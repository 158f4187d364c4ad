/**
 * The library's own CPU cost per call, without a network: `generate` and `stream` through the live
 * layer with an in-process HTTP client that answers at once with a canned Gemini body. Used to find
 * and check fixes quickly (bench/run.ts measures the real thing). Run: `npx tsx bench/overhead.ts [n]`.
 */
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as ManagedRuntime from "effect/ManagedRuntime"
import * as Stream from "effect/Stream"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { MockAgent } from "undici"
import { benchConfig } from "./effect-llm.js"

// BENCH_LIB=dist measures the built package (profiles then name real lines); default: src/.
const lib = process.env.BENCH_LIB === "dist" ? "dist" : "src"
const { layerWith, ledgerFromConfig } =
  (await import(`../${lib}/layers/Live.js`)) as typeof import("../src/layers/Live.js")
const LLMClient = (await import(`../${lib}/services/LLMClient.js`)) as typeof import("../src/services/LLMClient.js")
const LLMConfig = (await import(`../${lib}/services/LLMConfig.js`)) as typeof import("../src/services/LLMConfig.js")
const Providers = (await import(`../${lib}/services/Providers.js`)) as typeof import("../src/services/Providers.js")
const Abortable =
  (await import(`../${lib}/providers/http/Abortable.js`)) as typeof import("../src/providers/http/Abortable.js")
const { abortBeforeConnect } = (await import(
  `../${lib}/providers/http/AbortBeforeConnect.js`
)) as typeof import("../src/providers/http/AbortBeforeConnect.js")

const n = Number(process.argv[2] ?? 20_000)
const text = "x".repeat(1024)
const unary = JSON.stringify(
  {
    candidates: [{ content: { parts: [{ text }], role: "model" }, finishReason: "STOP", index: 0 }],
    usageMetadata: { promptTokenCount: 10, candidatesTokenCount: 256, totalTokenCount: 266 },
    modelVersion: "gemini-2.5-flash",
    responseId: "abc"
  },
  null,
  2
)
const frame = (i: number, last: boolean) =>
  `data: {"candidates":[{"content":{"parts":[{"text":"abcdefgh"}],"role":"model"}${
    last ? `,"finishReason":"STOP"` : ""
  },"index":0}],"usageMetadata":{"promptTokenCount":10,"candidatesTokenCount":${i + 1},"totalTokenCount":${
    i + 11
  }},"modelVersion":"gemini-2.5-flash","responseId":"abc"}\r\n\r\n`
// BENCH_EVENTS: events per stream (default 10,000; 20 shows the fixed cost of a stream).
const streamEvents = Number(process.env.BENCH_EVENTS ?? 10_000)
const sseBody = new TextEncoder().encode(
  Array.from({ length: streamEvents }, (_, i) => frame(i, i === streamEvents - 1)).join("")
)

const webClient = HttpClient.make((request) =>
  Effect.sync(() => {
    const streaming = request.url.includes("streamGenerateContent")
    if (!streaming) {
      return HttpClientResponse.fromWeb(
        request,
        new Response(unary, { status: 200, headers: { "content-type": "application/json" } })
      )
    }
    const chunk = 64 * 1024
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        for (let i = 0; i < sseBody.length; i += chunk) controller.enqueue(sseBody.subarray(i, i + chunk))
        controller.close()
      }
    })
    return HttpClientResponse.fromWeb(
      request,
      new Response(body, { status: 200, headers: { "content-type": "text/event-stream" } })
    )
  })
)

/**
 * The live layer's own client (`NodeHttpClient.layerUndici`'s) over undici's in-process `MockAgent`:
 * the same response objects and Node body streams as over a socket, answered at once; its requests
 * fail when aborted before they are on a connection, as the live layer's do.
 */
const undiciClient = () => {
  const agent = new MockAgent({ connections: 1 })
  agent.disableNetConnect()
  const pool = agent.get("http://127.0.0.1:1")
  pool.intercept({ path: (path) => !path.includes("streamGenerateContent"), method: "POST" }).reply(200, unary, {
    headers: { "content-type": "application/json" }
  }).persist()
  pool.intercept({ path: (path) => path.includes("streamGenerateContent"), method: "POST" }).reply(
    200,
    Buffer.from(sseBody),
    { headers: { "content-type": "text/event-stream" } }
  ).persist()
  // trusted with the request's abort controller, as the live layer trusts its pool (the same client)
  return Abortable.trustAbortController(
    NodeHttpClient.makeUndici(process.env.BENCH_ABORT_WRAP === "off" ? agent : abortBeforeConnect(agent))
  )
}

// BENCH_HTTP=web: answers as web `Response`s (bodies read through `response.stream`); default: undici's.
const client = process.env.BENCH_HTTP === "web" ? webClient : undiciClient()

const options = {
  protocol: "gemini",
  url: "http://127.0.0.1:1/bench",
  apiKey: "k",
  modelId: "gemini-2.5-flash",
  lib: "src",
  root: ".",
  dir: "."
} as const
// BENCH_LEDGER=sqlite: the same over a SQLite ledger in a fresh temp file (default durability).
const sqlite = process.env.BENCH_LEDGER === "sqlite"
const ledgerDir = sqlite ? Fs.mkdtempSync(Path.join(Os.tmpdir(), "effect-llm-overhead-")) : undefined
const ledger = ledgerDir !== undefined ?
  { backend: "sqlite", path: `${ledgerDir}/ledger.db` } as const :
  { backend: "memory" } as const
const layer = layerWith(
  LLMConfig.layerIsolated(benchConfig(options, ledger)),
  Providers.layerHttp.pipe(Layer.provide(Layer.succeed(HttpClient.HttpClient, client))),
  ledgerFromConfig
)
// BENCH_ABLATE=timeout,... : (scratch copies only) parts switched off to see what they cost.
// BENCH_TRACER=off: the same with Effect's tracer disabled (what spans cost).
const runtime = ManagedRuntime.make(
  process.env.BENCH_TRACER === "off" ? Layer.merge(layer, Layer.setTracerEnabled(false)) : layer
)

// BENCH_ALLOC=1: also the bytes allocated per call (V8's sampling heap profiler, collected objects included).
const allocated = async (count: number, run: () => Promise<unknown>): Promise<number> => {
  const { Session } = await import("node:inspector/promises")
  const session = new Session()
  session.connect()
  await session.post("HeapProfiler.enable")
  await session.post("HeapProfiler.startSampling", {
    samplingInterval: 4096,
    includeObjectsCollectedByMinorGC: true,
    includeObjectsCollectedByMajorGC: true
  })
  for (let i = 0; i < count; i++) await run()
  const { profile } = await session.post("HeapProfiler.stopSampling")
  session.disconnect()
  interface Sample {
    readonly selfSize: number
    readonly children: ReadonlyArray<Sample>
  }
  const sum = (node: Sample): number => node.children.reduce((total, child) => total + sum(child), node.selfSize)
  if (process.env.BENCH_ALLOC_BY !== undefined) {
    // BENCH_ALLOC_BY=src: bytes charged to the nearest frame under that path (what each of our functions costs)
    interface Frame extends Sample {
      readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number }
      readonly children: ReadonlyArray<Frame>
    }
    const by = new Map<string, number>()
    const walk = (node: Frame, label: string) => {
      const here = node.callFrame.url.includes(`/${process.env.BENCH_ALLOC_BY}/`)
        ? `${node.callFrame.functionName || "(anon)"} ${node.callFrame.url.replace(/.*\/(src|dist)\//, "")}:${
          node.callFrame.lineNumber + 1
        }`
        : label
      by.set(here, (by.get(here) ?? 0) + node.selfSize)
      for (const child of node.children) walk(child, here)
    }
    walk(profile.head as unknown as Frame, "(outside)")
    for (const [key, bytes] of [...by].sort((a, b) => b[1] - a[1]).slice(0, 30)) {
      console.log(`${(bytes / count / 1024).toFixed(1).padStart(8)} KB  ${key}`)
    }
  }
  return sum(profile.head as unknown as Sample) / count
}

const time = async (label: string, count: number, run: () => Promise<unknown>, callsPerRun = 1) => {
  // BENCH_WARMUP: runs before measuring (default: up to 2,000); 0 with BENCH_SERIES=1 shows the warm-up.
  const warmup = process.env.BENCH_WARMUP === undefined ? Math.min(2000, count) : Number(process.env.BENCH_WARMUP)
  for (let i = 0; i < warmup; i++) await run()
  if (process.env.BENCH_ALLOC === "1") {
    console.log(
      `${label.padEnd(28)} ${
        (await allocated(Math.min(count, 1000), run) / 1024 / callsPerRun).toFixed(1)
      } KB allocated per call`
    )
  }
  // Blocks of calls, reported by their minimum and median: on a loaded machine the minimum block is
  // the steadiest figure of what the code itself costs.
  const series = process.env.BENCH_SERIES === "1"
  const blocks = Math.max(1, Math.min(series ? Infinity : 10, Math.floor(count / 100)))
  const per = Math.max(1, Math.floor(count / blocks))
  const walls: Array<number> = []
  const cpus: Array<number> = []
  for (let b = 0; b < blocks; b++) {
    const cpu = process.cpuUsage()
    const started = performance.now()
    for (let i = 0; i < per; i++) await run()
    walls.push(((performance.now() - started) * 1000) / per / callsPerRun)
    const used = process.cpuUsage(cpu)
    cpus.push((used.user + used.system) / per / callsPerRun)
  }
  if (series) {
    console.log(`${label}: µs of CPU per call, block by block (${per} runs each): ${cpus.map(Math.round).join(" ")}`)
  }
  const sorted = (values: Array<number>) => [...values].sort((a, b) => a - b)
  const f = (value: number) => value.toFixed(1).padStart(8)
  console.log(
    `${label.padEnd(28)} ${f(sorted(walls)[0]!)} µs wall (min block) ${f(sorted(walls)[blocks >> 1]!)} (median)  ${
      f(sorted(cpus)[0]!)
    } µs cpu (min block) ${f(sorted(cpus)[blocks >> 1]!)} (median)`
  )
}

/** The floor: a hand-written SSE loop over the same bytes (what the baseline client does after fetch). */
const handWritten = async () => {
  const decoder = new TextDecoder()
  let buffer = ""
  let events = 0
  for (let i = 0; i < sseBody.length; i += 64 * 1024) {
    buffer += decoder.decode(sseBody.subarray(i, i + 64 * 1024), { stream: true })
    let start = 0
    let end: number
    while ((end = buffer.indexOf("\r\n\r\n", start)) >= 0) {
      const event = JSON.parse(buffer.slice(start + 6, end))
      start = end + 4
      const text = event.candidates?.[0]?.content?.parts?.[0]?.text
      if (typeof text === "string" && text.length > 0) events++
    }
    buffer = buffer.slice(start)
    await Promise.resolve()
  }
  if (events !== streamEvents) throw new Error(`got ${events} events`)
}

const what = process.argv[3] ?? "generate,stream"
// BENCH_STREAMS: streams measured (default 20).
const streams = Number(process.env.BENCH_STREAMS ?? 20)
// BENCH_CONCURRENCY: calls or streams run together per measured run (W2 runs 200 calls, W4 100
// streams), figures per call.
const together = Number(process.env.BENCH_CONCURRENCY ?? 1)
const concurrently = <A, E, R>(one: Effect.Effect<A, E, R>): Effect.Effect<unknown, E, R> =>
  together === 1 ? one : Effect.all(Array.from({ length: together }, () => one), {
    concurrency: "unbounded",
    discard: true
  })
await runtime.runtime()
if (what.includes("transport")) {
  // The floor under `generate`: the same HTTP client call, body text and JSON.parse, nothing else.
  const plain = HttpClient.execute(
    HttpClientRequest.bodyUnsafeJson(
      HttpClientRequest.post("http://127.0.0.1:1/bench/v1beta/models/m:generateContent"),
      { contents: [] }
    )
  ).pipe(
    Effect.flatMap((response) => response.text),
    Effect.map((body) => JSON.parse(body)),
    Effect.provideService(HttpClient.HttpClient, client)
  )
  await time(
    `transport only (mock HTTP)${together === 1 ? "" : ` ×${together}`}`,
    Math.ceil(n / together),
    () => Effect.runPromise(concurrently(plain)),
    together
  )
  // The floor under `stream`: the same HTTP call read as an Effect Stream (text, lines, `data:` JSON), nothing else.
  const plainStream = HttpClient.execute(
    HttpClientRequest.bodyUnsafeJson(
      HttpClientRequest.post("http://127.0.0.1:1/bench/v1beta/models/m:streamGenerateContent?alt=sse"),
      { contents: [] }
    )
  ).pipe(
    Effect.flatMap((response) =>
      response.stream.pipe(
        Stream.decodeText(),
        Stream.splitLines,
        Stream.filter((line) => line.startsWith("data:")),
        Stream.map((line) => JSON.parse(line.slice(5))),
        Stream.runForEach(() => Effect.void)
      )
    ),
    Effect.scoped,
    Effect.provideService(HttpClient.HttpClient, client)
  )
  await time(`transport only, ${streamEvents}-event stream (mock HTTP)`, streams, () => Effect.runPromise(plainStream))
  // Effect's own floor for any consumer of any Stream: running a one-element stream, no HTTP at all.
  await time(
    "Stream.runForEach, 1 element",
    n,
    () => Effect.runPromise(Stream.runForEach(Stream.make(1), () => Effect.void))
  )
}
if (what.includes("generate")) {
  await time(
    `generate (${ledger.backend} ledger)${together === 1 ? "" : ` ×${together}`}`,
    Math.ceil(n / together),
    () =>
      runtime.runPromise(concurrently(Effect.suspend(() => LLMClient.generate({ prompt: `hello ${Math.random()}` })))),
    together
  )
}
if (what.includes("provide")) {
  // "provide": the per-call form, `Effect.runPromise(generate(...).pipe(Effect.provide(layer)))`, over a
  // layer shaped as `LiveLayer` (the context of one shared runtime: Live.ts)
  const shared = Layer.effectContext(Effect.map(runtime.runtimeEffect, (built) => built.context))
  await time(
    `generate, per-call provide (${ledger.backend} ledger)`,
    n,
    () => Effect.runPromise(Effect.provide(LLMClient.generate({ prompt: `hello ${Math.random()}` }), shared))
  )
}
if (what.includes("stream")) {
  // "stream-only" skips the floor (a profile of the stream path alone)
  if (!what.includes("stream-only")) await time(`hand-written SSE loop, ${streamEvents} events`, streams, handWritten)
  const batch = concurrently(Stream.runForEach(LLMClient.stream({ prompt: "hello" }), () => Effect.void))
  await time(
    `stream ${streamEvents} events${together === 1 ? "" : ` ×${together}`}`,
    streams,
    () => runtime.runPromise(batch),
    together
  )
}
if (what.includes("forks")) {
  // BENCH "forks": the fibers one call starts (each costs a fiber's setup and its scheduling) and the
  // effect steps its fibers run (each primitive the run loop evaluates: the fixed cost of a call's
  // structure; a whole Stream run is ~500 whatever it carries)
  const Supervisor = await import("effect/Supervisor")
  const RuntimeFlags = await import("effect/RuntimeFlags")
  const RuntimeFlagsPatch = await import("effect/RuntimeFlagsPatch")
  let started = 0
  let steps = 0
  const counting = new (class extends Supervisor.AbstractSupervisor<void> {
    value = Effect.void
    override onStart() {
      started++
    }
    override onEffect() {
      steps++
    }
  })()
  const count = async (label: string, effect: Effect.Effect<unknown, unknown, any>) => {
    await runtime.runPromise(effect) // warm: first-call setup is not the call's structure
    started = 0
    steps = 0
    await runtime.runPromise(
      Effect.supervised(effect, counting).pipe(
        Effect.withRuntimeFlagsPatch(RuntimeFlagsPatch.enable(RuntimeFlags.OpSupervision))
      )
    )
    console.log(`${label}: ${started} fibers started, ${steps} effect steps`)
  }
  await count("generate", LLMClient.generate({ prompt: "hello" }))
  await count("stream", Stream.runForEach(LLMClient.stream({ prompt: "hello" }), () => Effect.void))
  // The steps run before the caller's first element: the call's latency to its first delta.
  let beforeFirst = -1
  await count(
    "stream (to the first delta)",
    Effect.suspend(() => {
      beforeFirst = -1
      return Stream.runForEach(
        LLMClient.stream({ prompt: "hello" }),
        () => Effect.sync(() => (beforeFirst = beforeFirst < 0 ? steps : beforeFirst))
      )
    })
  )
  console.log(`  of which before the first delta reached the caller: ${beforeFirst}`)
}
await runtime.dispose()
if (ledgerDir !== undefined) Fs.rmSync(ledgerDir, { recursive: true, force: true })
