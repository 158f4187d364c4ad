/**
 * The bench's server process: the embedded simulator (all four wire formats, zero delay) on a loopback
 * port, in its own process so that it never shares the measured client's event loop. Prints one
 * `LISTENING <url>` line, then serves until its stdin closes or it gets SIGTERM.
 * Started by bench/run.ts with `'{"lib":"dist"|"src","root":"<repo>","apiKey":"…"}'`.
 */
import { type ClientOptions, packageEntry } from "./client.js"

const input = JSON.parse(process.argv[2] ?? "{}") as Pick<ClientOptions, "lib" | "root" | "apiKey">
const { Simulator } = (await import(packageEntry(input, "testing"))) as typeof import("../src/testing.js")

// A short request log: the bench sends tens of thousands of requests and reads none of them back.
const key = input.apiKey
const simulator = await Simulator.start({
  keys: { google: key, dashscope: key, openai: key, anthropic: key },
  maxLog: 10
})
process.stdout.write(`LISTENING ${simulator.url}\n`)

const stop = () => {
  void simulator.close().then(() => process.exit(0))
}
process.on("SIGTERM", stop)
process.on("SIGINT", stop)
process.stdin.on("end", stop)
process.stdin.resume()
