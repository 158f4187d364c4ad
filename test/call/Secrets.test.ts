/**
 * No secret in any output (API.md §14): a server that echoes the API key and a secret header back in
 * every error body — each HTTP error status, an undecodable 200, an in-band stream error before and
 * after text — never gets them into an error message, a log record (at level All), a span (its
 * attributes, events and exit) or the raw SQLite ledger file; nor the password and `?token=` of a
 * `base_url`, whose request goes under an HTTP span effect-llm makes.
 */
import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as Stream from "effect/Stream"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { generate, makeLiveLayer, stream } from "../../src/index.js"
import * as Loopback from "../support/LoopbackServer.js"
import * as RecordingTracer from "../support/RecordingTracer.js"

const apiKey = "AIzaEchoedSecretKey0123456789abcdef"
const tenant = "tenant-secret-9f8e7d6c"
const password = "url-password-5d4c3b2a"
const token = "url-token-1a2b3c4d"
const secrets = [apiKey, tenant, encodeURIComponent(apiKey), password, token]

let server: Loopback.LoopbackServer
let dir: string

beforeAll(async () => {
  server = await Loopback.start()
  dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "effect-llm-secrets-"))
})
afterAll(async () => {
  await server.close()
  Fs.rmSync(dir, { recursive: true, force: true })
})

/** What the server echoes: everything secret it received (a URL's token, and then its password). */
const echoOf = (request: Loopback.CapturedRequest) => {
  const urlToken = new URL(request.url, "http://x").searchParams.get("token")
  return `you sent key ${String(request.headers["x-goog-api-key"])} and tenant ${String(request.headers["x-tenant"])}` +
    (urlToken === null ? "" : ` and token ${urlToken} as user gw with password ${password}`)
}

const errorBody = (status: number, request: Loopback.CapturedRequest) =>
  JSON.stringify({
    error: {
      code: status,
      message: `Invalid request: ${echoOf(request)}`,
      status: "INVALID_ARGUMENT",
      details: [{ "@type": "type.googleapis.com/google.rpc.DebugInfo", detail: echoOf(request) }]
    }
  })

/** Every way a server can fail, each echoing the secrets. */
const failures: ReadonlyArray<{
  readonly name: string
  readonly streaming: boolean
  readonly respond: (request: Loopback.CapturedRequest) => Loopback.ScriptedResponse
}> = [
  ...[400, 401, 403, 404, 429, 500, 503].map((status) => ({
    name: `HTTP ${status}`,
    streaming: false,
    respond: (request: Loopback.CapturedRequest) => ({
      status,
      headers: { "content-type": "application/json" },
      body: errorBody(status, request)
    })
  })),
  {
    name: "an undecodable 200",
    streaming: false,
    respond: (request) => ({ headers: { "content-type": "application/json" }, body: `<html>${echoOf(request)}</html>` })
  },
  {
    name: "a stream refused with 400",
    streaming: true,
    respond: (request) => ({
      status: 400,
      headers: { "content-type": "application/json" },
      body: errorBody(400, request)
    })
  },
  {
    name: "an in-band stream error before any text",
    streaming: true,
    respond: (request) => ({ body: `data: ${errorBody(500, request)}\n\n` })
  },
  {
    name: "an in-band stream error after text",
    streaming: true,
    respond: (request) => ({
      body: `data: {"candidates":[{"content":{"parts":[{"text":"Hello"}]}}]}\n\ndata: ${errorBody(500, request)}\n\n`
    })
  },
  {
    name: "an undecodable stream event",
    streaming: true,
    respond: (request) => ({
      body: `data: {"candidates":[{"content":{"parts":[{"text":"Hi"}]}}]}\n\n${echoOf(request)}\n\n`
    })
  }
]

const config = (ledgerPath: string, baseUrl: string) => ({
  default_model: "flash",
  providers: {
    google: {
      api_key: apiKey,
      headers: { "X-Tenant": tenant },
      endpoints: [{ name: "echo", base_url: baseUrl }]
    }
  },
  models: {
    flash: { provider: "google", model_id: "gemini-2.5-flash", pricing: { input_per_1m: 1, output_per_1m: 2 } }
  },
  resilience: {
    max_retries: 1,
    base_delay_s: 0.001,
    max_delay_s: 0.002,
    wait_on_rate_limit: false,
    circuit_breaker: { failure_threshold: 100 }
  },
  ledger: { backend: "sqlite", path: ledgerPath }
})

const containsSecret = (text: string) => secrets.some((secret) => text.includes(secret))

describe("a server that echoes the key", () => {
  const echoedNowhere = (baseUrl: string, ledgerFile: string) =>
    Effect.gen(function*() {
      const ledgerPath = Path.join(dir, ledgerFile)
      const logs: Array<string> = []
      const logger = Logger.make(({ annotations, cause, message }) => {
        logs.push(JSON.stringify({ message, annotations: [...annotations], cause: Cause.pretty(cause) }))
      })
      const recording = RecordingTracer.make()
      const layer = Layer.mergeAll(
        makeLiveLayer({ config: config(ledgerPath, baseUrl), userConfig: false }),
        Logger.replace(Logger.defaultLogger, logger),
        Logger.minimumLogLevel(LogLevel.All)
      )
      const messages: Array<string> = []
      yield* Effect.gen(function*() {
        for (const failure of failures) {
          server.setDefault(failure.respond)
          const exit = yield* Effect.exit(
            failure.streaming ? Stream.runDrain(stream({ prompt: "hello" })) : generate({ prompt: "hello" })
          )
          assert.isTrue(Exit.isFailure(exit), failure.name)
          if (Exit.isFailure(exit)) {
            const error = Cause.squash(exit.cause) as { readonly message?: string }
            messages.push(`${failure.name}: ${String(error.message)}`)
          }
        }
      }).pipe(Effect.provide(layer), Effect.withTracer(recording.tracer))

      assert.strictEqual(messages.length, failures.length)
      for (const message of messages) {
        assert.isFalse(containsSecret(message), message)
        assert.include(message, "<redacted>", `the echo is visible, its secret removed: ${message}`)
      }
      assert.isAbove(server.requests.length, failures.length, "the failures went out over HTTP")
      assert.isTrue(server.requests.every((r) => r.headers["x-goog-api-key"] === apiKey), "the key was sent")
      assert.isAbove(logs.length, 0)
      for (const log of logs) assert.isFalse(containsSecret(log), log)
      assert.isTrue(recording.spans.some((span) => span.name.startsWith("http.client")), "the HTTP spans were recorded")
      for (const span of recording.spans) {
        const exit = span.status._tag === "Ended" ? span.status.exit : undefined
        const recorded = JSON.stringify({
          name: span.name,
          attributes: [...span.attributes].map(([key, value]) => [key, String(value)]),
          events: span.events,
          exit: exit === undefined || Exit.isSuccess(exit) ? "" : Cause.pretty(exit.cause)
        })
        assert.isFalse(containsSecret(recorded), recorded)
      }
      const raw = Buffer.concat(
        [ledgerPath, `${ledgerPath}-wal`].filter((file) => Fs.existsSync(file)).map((file) => Fs.readFileSync(file))
      ).toString("latin1")
      assert.include(raw, "RetryableError", "the ledger recorded the failures")
      assert.isFalse(containsSecret(raw), "the raw ledger file holds no secret")
    })

  it.live(
    "never gets a secret into errors, logs, spans or the ledger file",
    () => echoedNowhere(server.url, "ledger.db"),
    { timeout: 60_000 }
  )

  it.live(
    "nor the password and ?token= of a base_url: the HTTP span made for it ends with no error body",
    () => echoedNowhere(`${server.url.replace("http://", `http://gw:${password}@`)}/?token=${token}`, "ledger-url.db"),
    {
      timeout: 60_000
    }
  )
})
