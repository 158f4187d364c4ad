/**
 * What the HTTP transport alone costs per call on this machine, under the bench's W1 call (1 KiB
 * Gemini answer from the simulator in its own process): global `fetch` (the bench baseline),
 * `undici.request`, the same wrapped in `Effect.tryPromise` (the Effect runtime alone), and a plain
 * Effect `HttpClient` on `NodeHttpClient.layerUndici` (what effect-llm uses), with and without Effect's
 * tracer. Separates effect-llm's own cost from the transport's.
 * Run: `npx tsx bench/transport.ts` (each variant in a fresh process, 3 interleaved rounds, medians).
 */
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as ManagedRuntime from "effect/ManagedRuntime"
import { spawn, spawnSync } from "node:child_process"
import * as Path from "node:path"
import { fileURLToPath } from "node:url"
import { Agent, request as undiciRequest } from "undici"

const variants = ["fetch", "undici", "effect-over-undici", "effect-http", "effect-http-no-tracer"] as const
type Variant = (typeof variants)[number]
const calls = 2000
const warmup = 300
const apiKey = "bench-google-key"

/** One variant in this process: `calls` sequential calls after a warm-up; prints `µs/call wall cpu`. */
const measure = async (variant: Variant, base: string) => {
  const url = `${base}/bench/v1beta/models/gemini-2.5-flash:generateContent`
  const headers = { "content-type": "application/json", "x-goog-api-key": apiKey }
  const body = (i: number) =>
    JSON.stringify({ contents: [{ role: "user", parts: [{ text: `[[sim tokens=256]] call ${i}` }] }] })
  let call: (i: number) => Promise<unknown>
  if (variant === "fetch") {
    call = async (i) => JSON.parse(await (await fetch(url, { method: "POST", headers, body: body(i) })).text())
  } else if (variant === "undici") {
    const agent = new Agent()
    call = async (i) =>
      JSON.parse(
        await (await undiciRequest(url, { method: "POST", headers, body: body(i), dispatcher: agent })).body.text()
      )
  } else if (variant === "effect-over-undici") {
    const agent = new Agent()
    const runtime = ManagedRuntime.make(Layer.empty)
    call = (i) =>
      runtime.runPromise(
        Effect.tryPromise(() => undiciRequest(url, { method: "POST", headers, body: body(i), dispatcher: agent })).pipe(
          Effect.flatMap((response) => Effect.tryPromise(() => response.body.text())),
          Effect.map((text) => JSON.parse(text))
        )
      )
  } else {
    const layer = variant === "effect-http"
      ? NodeHttpClient.layerUndici
      : Layer.merge(NodeHttpClient.layerUndici, Layer.setTracerEnabled(false))
    const runtime = ManagedRuntime.make(layer)
    call = (i) =>
      runtime.runPromise(
        Effect.flatMap(HttpClient.HttpClient, (client) =>
          client.execute(
            HttpClientRequest.post(url).pipe(
              HttpClientRequest.setHeaders(headers),
              HttpClientRequest.bodyText(body(i), "application/json")
            )
          ).pipe(
            Effect.flatMap((response) => response.text),
            Effect.map((text) => JSON.parse(text)),
            Effect.scoped
          ))
      )
  }
  for (let i = 0; i < warmup; i++) await call(i)
  const cpu = process.cpuUsage()
  const started = performance.now()
  for (let i = 0; i < calls; i++) await call(i)
  const wall = ((performance.now() - started) * 1000) / calls
  const used = process.cpuUsage(cpu)
  process.stdout.write(`${wall} ${(used.user + used.system) / calls}\n`)
}

const median = (values: ReadonlyArray<number>) => [...values].sort((a, b) => a - b)[values.length >> 1]!

const main = async () => {
  const root = Path.resolve(Path.dirname(fileURLToPath(import.meta.url)), "..")
  const server = spawn(process.execPath, [
    "--import",
    "tsx",
    Path.join(root, "bench/server.ts"),
    JSON.stringify({ lib: "src", root, apiKey })
  ], {
    stdio: ["pipe", "pipe", "inherit"]
  })
  const base = await new Promise<string>((resolve) => {
    let buffer = ""
    server.stdout.setEncoding("utf8").on("data", (text: string) => {
      buffer += text
      const match = /LISTENING (\S+)/.exec(buffer)
      if (match !== null) resolve(match[1]!)
    })
  })
  const results = new Map<Variant, Array<readonly [number, number]>>(variants.map((v) => [v, []]))
  try {
    for (let round = 0; round < 3; round++) {
      for (const variant of variants) {
        const run = spawnSync(process.execPath, ["--import", "tsx", fileURLToPath(import.meta.url), variant, base], {
          encoding: "utf8"
        })
        const [wall, cpu] = run.stdout.trim().split(" ").map(Number)
        if (run.status !== 0 || !Number.isFinite(wall)) throw new Error(`${variant} failed: ${run.stderr}`)
        results.get(variant)!.push([wall!, cpu!])
      }
    }
  } finally {
    server.kill("SIGTERM")
  }
  const fetchWall = median(results.get("fetch")!.map(([wall]) => wall))
  console.log(`| transport (${calls} sequential calls, 1 KiB answers) | µs per call | client CPU µs | × fetch |`)
  console.log("| --- | ---: | ---: | ---: |")
  for (const [variant, samples] of results) {
    const wall = median(samples.map(([w]) => w))
    console.log(
      `| ${variant} | ${wall.toFixed(0)} | ${median(samples.map(([, c]) => c)).toFixed(0)} | ${
        (wall / fetchWall).toFixed(2)
      } |`
    )
  }
}

const [variant, base] = process.argv.slice(2)
if (variant !== undefined && base !== undefined) await measure(variant as Variant, base)
else await main()
process.exit(0)
