/**
 * `LiveLayer` is built once, in a runtime of its own; its one build-time warning (a model without
 * pricing) is made in the program that first provides it, so that program's `Logger` gets it (and
 * `Logger.minimumLogLevel` silences it) — Effect's default logger never prints it behind the user's back.
 */
import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { disposeLiveLayer, generate, LiveLayer } from "../../src/index.js"
import * as Loopback from "../support/LoopbackServer.js"

const reply = Loopback.readFixture("vertexai-sdk-test-data/googleai/unary-success-basic-reply-short.json")
let server: Loopback.LoopbackServer
const saved: Record<string, string | undefined> = {}

beforeAll(async () => {
  server = await Loopback.start()
  const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "effect-llm-live-warning-"))
  const file = Path.join(dir, "config.yaml")
  Fs.writeFileSync(
    file,
    `
default_model: flash
providers:
  google:
    api_key: live-warning-key-123456
    endpoints: [{ name: loop, base_url: "${server.url}" }]
models:
  flash: { provider: google, model_id: gemini-2.5-flash }
ledger: { backend: memory }
`
  )
  for (const name of ["EFFECT_LLM_CONFIG", "XDG_CONFIG_HOME", "GEMINI_API_KEY", "GOOGLE_API_KEY"]) {
    saved[name] = process.env[name]
  }
  process.env.EFFECT_LLM_CONFIG = file
  process.env.XDG_CONFIG_HOME = dir
  delete process.env.GEMINI_API_KEY
  delete process.env.GOOGLE_API_KEY
})

afterAll(async () => {
  await disposeLiveLayer()
  for (const [name, value] of Object.entries(saved)) {
    if (value === undefined) delete process.env[name]
    else process.env[name] = value
  }
  await server.close()
})

describe("LiveLayer's build-time warning", () => {
  it("reaches the Logger of the program that first provides it, once; minimumLogLevel silences it", async () => {
    const records: Array<string> = []
    const capturing = Logger.make(({ logLevel, message }) => records.push(`${logLevel.label} ${String(message)}`))
    const call = (level: LogLevel.LogLevel) =>
      Effect.runPromise(
        generate({ prompt: "hi" }).pipe(
          Effect.provide(LiveLayer),
          Effect.provide(Logger.replace(Logger.defaultLogger, capturing)),
          Logger.withMinimumLogLevel(level)
        )
      )
    server.enqueue(Loopback.replay(reply), Loopback.replay(reply))
    // silenced: the first program asks for errors only
    await call(LogLevel.Error)
    assert.deepStrictEqual(records, [])
    await disposeLiveLayer()
    // rebuilt: its first program gets the warning through its own logger, and the next does not again
    server.enqueue(Loopback.replay(reply), Loopback.replay(reply))
    await call(LogLevel.Info)
    assert.deepStrictEqual(records, [
      `WARN model "flash" has no pricing in config: its calls are counted as costing $0`
    ])
    await call(LogLevel.Info)
    assert.lengthOf(records, 1)
  })
})
