/**
 * The pipeline's own allocation per call, without HTTP or SSE: `generate` and `stream` over the
 * scripted clients of `effect-llm/testing` (bench/overhead.ts adds the transport and decoding).
 * Run: `npx tsx bench/pipeline.ts [calls]`.
 */
import * as ManagedRuntime from "effect/ManagedRuntime"
import * as Stream from "effect/Stream"
import { Session } from "node:inspector/promises"
import { makeTestLayer } from "../src/layers/Test.js"
import * as LLMClient from "../src/services/LLMClient.js"

const calls = Number(process.argv[2] ?? 2000)
const runtime = ManagedRuntime.make(makeTestLayer())
await runtime.runtime()

const session = new Session()
session.connect()
await session.post("HeapProfiler.enable")
interface Sample {
  readonly selfSize: number
  readonly children: ReadonlyArray<Sample>
}
const sum = (node: Sample): number => node.children.reduce((total, child) => total + sum(child), node.selfSize)

const measure = async (label: string, run: () => Promise<unknown>) => {
  for (let i = 0; i < calls; i++) await run()
  await session.post("HeapProfiler.startSampling", {
    samplingInterval: 4096,
    includeObjectsCollectedByMinorGC: true,
    includeObjectsCollectedByMajorGC: true
  })
  const cpu = process.cpuUsage()
  for (let i = 0; i < calls; i++) await run()
  const used = process.cpuUsage(cpu)
  const { profile } = await session.post("HeapProfiler.stopSampling")
  console.log(
    `${label.padEnd(36)} ${(sum(profile.head as unknown as Sample) / calls / 1024).toFixed(1).padStart(7)} KB  ${
      ((used.user + used.system) / calls).toFixed(0).padStart(6)
    } µs cpu (sampling on)`
  )
}

await measure("generate (scripted client)", () => runtime.runPromise(LLMClient.generate({ prompt: "one two" })))
await measure(
  "stream, 2 deltas (scripted client)",
  () => runtime.runPromise(Stream.runDrain(LLMClient.stream({ prompt: "one two" })))
)
await runtime.dispose()
