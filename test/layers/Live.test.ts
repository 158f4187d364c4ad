/**
 * The exported `LiveLayer` is process-wide: per-call `Effect.provide(LiveLayer)` reuses one HTTP
 * connection, one set of breakers and one decoded config. `makeLiveLayer` builds independent sets.
 */
import * as Headers from "@effect/platform/Headers"
import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as FiberRef from "effect/FiberRef"
import * as ManagedRuntime from "effect/ManagedRuntime"
import * as Stream from "effect/Stream"
import * as Tracer from "effect/Tracer"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { generate, Ledger, LiveLayer, makeLiveLayer, stream } from "../../src/index.js"
import { CircuitBreaker } from "../../src/services/CircuitBreaker.js"
import * as Loopback from "../support/LoopbackServer.js"

const reply = Loopback.readFixture("vertexai-sdk-test-data/googleai/unary-success-basic-reply-short.json")
const expectedText = (JSON.parse(reply.toString("utf8")) as {
  candidates: Array<{ content: { parts: Array<{ text: string }> } }>
}).candidates[0]!.content.parts.map((p) => p.text).join("")

let server: Loopback.LoopbackServer
let dir: string
const saved: Record<string, string | undefined> = {}

const configFor = (url: string) => `
default_model: flash
providers:
  google:
    api_key: \${EFFECT_LLM_TEST_KEY}
    endpoints:
      - { name: loop, base_url: "${url}", region: us }
models:
  flash: { provider: google, model_id: gemini-2.5-flash, pricing: { input_per_1m: 0.3, output_per_1m: 2.5 } }
resilience: { max_retries: 0, circuit_breaker: { failure_threshold: 2, recovery_timeout_s: 300 } }
ledger: { backend: memory }
`

beforeAll(async () => {
  server = await Loopback.start()
  dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "effect-llm-live-"))
  const file = Path.join(dir, "config.yaml")
  Fs.writeFileSync(file, configFor(server.url))
  for (
    const name of [
      "EFFECT_LLM_CONFIG",
      "EFFECT_LLM_TEST_KEY",
      "XDG_CONFIG_HOME",
      "GEMINI_API_KEY",
      "GOOGLE_API_KEY",
      "ANTHROPIC_API_KEY"
    ]
  ) {
    saved[name] = process.env[name]
  }
  process.env.EFFECT_LLM_CONFIG = file
  process.env.EFFECT_LLM_TEST_KEY = "live-test-key-123456"
  process.env.XDG_CONFIG_HOME = dir
  delete process.env.GEMINI_API_KEY
  delete process.env.GOOGLE_API_KEY
  delete process.env.ANTHROPIC_API_KEY
})

afterAll(async () => {
  for (const [name, value] of Object.entries(saved)) {
    if (value === undefined) delete process.env[name]
    else process.env[name] = value
  }
  await server.close()
})

/** A tracer over the native one that keeps every span it makes. */
const recordingTracer = async () => {
  const spans: Array<Tracer.Span> = []
  const native = await Effect.runPromise(Effect.tracer)
  const recording = Tracer.make({
    context: native.context,
    span: (...args) => {
      const span = native.span(...args)
      spans.push(span)
      return span
    }
  })
  return { recording, spans }
}

/** The attributes of the HTTP client's span, as strings. */
const httpAttributes = (spans: ReadonlyArray<Tracer.Span>): Record<string, string> => {
  const http = spans.find((span) => span.name.startsWith("http.client"))
  assert.isDefined(http)
  return Object.fromEntries([...http!.attributes].map(([name, value]) => [name, String(value)]))
}

/** A `makeLiveLayer` runtime over the one `google` entry given (model `flash`, memory ledger, no user file). */
const geminiRuntime = (google: Record<string, unknown>) =>
  ManagedRuntime.make(makeLiveLayer({
    config: {
      default_model: "flash",
      providers: { google },
      models: {
        flash: { provider: "google", model_id: "gemini-2.5-flash", pricing: { input_per_1m: 0.3, output_per_1m: 2.5 } }
      },
      ledger: { backend: "memory" }
    },
    userConfig: false
  }))

describe("LiveLayer", () => {
  it("two per-call Effect.provide(LiveLayer) runs reuse one HTTP connection", async () => {
    server.setDefault(() => ({ headers: { "content-type": "application/json; charset=UTF-8" }, body: reply }))
    const call = (prompt: string) => Effect.runPromise(generate({ prompt }).pipe(Effect.provide(LiveLayer)))
    const first = await call("hi")
    // undici hands a socket back to its pool on the next turn of the event loop; a program doing
    // anything between two calls sees it free.
    await new Promise((resolve) => setImmediate(resolve))
    const second = await call("again")
    assert.strictEqual(first, expectedText)
    assert.strictEqual(second, expectedText)
    const requests = server.requests.slice(-2)
    assert.strictEqual(requests[0]!.connectionId, requests[1]!.connectionId)
    assert.strictEqual(requests[0]!.headers["x-goog-api-key"], "live-test-key-123456")
    // Even back to back, ten calls share the pool instead of opening a connection each.
    const before = server.connectionsAccepted()
    for (let i = 0; i < 10; i++) await call(`call ${i}`)
    assert.isAtMost(server.connectionsAccepted() - before, 1)
  })

  it("per-call Effect.provide(LiveLayer): under an installed tracer the HTTP span carries the key redacted, for that request only", async () => {
    server.setDefault(() => ({ headers: { "content-type": "application/json" }, body: reply }))
    const { recording, spans } = await recordingTracer()
    const names = await Effect.runPromise(
      generate({ prompt: "hi" }).pipe(
        Effect.withTracer(recording),
        Effect.provide(LiveLayer),
        Effect.zipRight(FiberRef.get(Headers.currentRedactedNames))
      )
    )
    const attributes = httpAttributes(spans)
    assert.strictEqual(attributes["http.request.header.x-goog-api-key"], "<redacted>")
    assert.notInclude(JSON.stringify(attributes), "live-test-key-123456")
    // Set around the request (a per-call provide carries no fiber refs), and restored after it.
    assert.notInclude(names, "x-goog-api-key")
  })

  it("keeps the decoded config: a changed file is not re-read per call", async () => {
    Fs.writeFileSync(process.env.EFFECT_LLM_CONFIG!, "this: [is not valid")
    const text = await Effect.runPromise(generate({ prompt: "hi" }).pipe(Effect.provide(LiveLayer)))
    assert.strictEqual(text, expectedText)
    Fs.writeFileSync(process.env.EFFECT_LLM_CONFIG!, configFor(server.url))
  })

  it("shares breakers across per-call provides: they open across calls", async () => {
    server.setDefault(() => ({
      status: 503,
      body: `{"error":{"code":503,"message":"overloaded","status":"UNAVAILABLE"}}`
    }))
    const run = () => Effect.runPromise(Effect.flip(generate({ prompt: "x" })).pipe(Effect.provide(LiveLayer)))
    assert.strictEqual((await run())._tag, "RetryableError")
    assert.strictEqual((await run())._tag, "RetryableError")
    const before = server.requests.length
    assert.strictEqual((await run())._tag, "CircuitOpenError")
    assert.strictEqual(server.requests.length, before, "no request while the breaker is open")
    const states = await Effect.runPromise(
      Effect.flatMap(CircuitBreaker, (b) => b.states()).pipe(Effect.provide(LiveLayer))
    )
    assert.deepStrictEqual(states.map((s) => [s.endpoint, s.state]), [["loop", "open"]])
  })

  it("makeLiveLayer builds a fresh, independent set each time", async () => {
    server.setDefault(() => ({ headers: { "content-type": "application/json" }, body: reply }))
    const layer = makeLiveLayer({ configPath: process.env.EFFECT_LLM_CONFIG! })
    // The shared LiveLayer's breaker is open, but a fresh layer has its own.
    const text = await Effect.runPromise(generate({ prompt: "hi" }).pipe(Effect.provide(layer)))
    assert.strictEqual(text, expectedText)
  })

  it("a bad config fails the layer build with a ConfigError", async () => {
    const error = await Effect.runPromise(
      Effect.flip(
        generate({ prompt: "hi" }).pipe(
          Effect.provide(makeLiveLayer({ config: { resilience: { max_retries: "three" } } }))
        )
      )
    )
    assert.strictEqual(error._tag, "ConfigError")
    assert.include(error.message, "resilience.max_retries")
  })

  it("a makeLiveLayer runtime redacts the config's secret headers; under an installed tracer its HTTP span carries them redacted", async () => {
    server.setDefault(() => ({ headers: { "content-type": "application/json" }, body: reply }))
    const { recording, spans } = await recordingTracer()
    const runtime = geminiRuntime({
      api_key: "live-test-key-123456",
      headers: { "X-Gateway-Token": "gw-secret-42" },
      endpoints: [{ name: "loop", base_url: server.url }]
    })
    try {
      // Set once for the runtime's programs (the HTTP client's redacted names), not around each request.
      assert.includeMembers(
        [...await runtime.runPromise(FiberRef.get(Headers.currentRedactedNames))],
        ["x-goog-api-key", "x-gateway-token"]
      )
      assert.strictEqual(
        await runtime.runPromise(generate({ prompt: "hi" }).pipe(Effect.withTracer(recording))),
        expectedText
      )
    } finally {
      await runtime.dispose()
    }
    const attributes = httpAttributes(spans)
    assert.strictEqual(attributes["http.request.header.x-goog-api-key"], "<redacted>")
    assert.strictEqual(attributes["http.request.header.x-gateway-token"], "<redacted>")
    assert.notInclude(JSON.stringify(attributes), "live-test-key-123456")
    assert.notInclude(JSON.stringify(attributes), "gw-secret-42")
    assert.strictEqual(server.requests.at(-1)!.headers["x-gateway-token"], "gw-secret-42")
  })

  it("a call to a provider without its key fails with ConfigError before any ledger write or request", async () => {
    const requestsBefore = server.requests.length
    const runtime = ManagedRuntime.make(makeLiveLayer({
      config: {
        default_model: "claude",
        providers: { anthropic: { endpoints: [{ name: "loop", base_url: server.url }] } },
        models: {
          claude: {
            provider: "anthropic",
            model_id: "claude-sonnet-4-5",
            pricing: { input_per_1m: 3, output_per_1m: 15 }
          }
        },
        ledger: { backend: "memory" }
      },
      userConfig: false
    }))
    try {
      const failures = await runtime.runPromise(Effect.all([
        Effect.flip(generate({ prompt: "hi" })),
        Effect.flip(Stream.runDrain(stream({ prompt: "hi" })))
      ]))
      for (const error of failures) {
        assert.strictEqual(error._tag, "ConfigError")
        assert.include(error.message, "providers.anthropic.api_key: no API key configured (set ANTHROPIC_API_KEY)")
      }
      assert.deepStrictEqual(await runtime.runPromise(Effect.flatMap(Ledger, (ledger) => ledger.events())), [])
    } finally {
      await runtime.dispose()
    }
    assert.strictEqual(server.requests.length, requestsBefore)
  })

  it("a key from the environment no header can carry fails every call with ConfigError naming the variable, before any ledger write or request", async () => {
    const requestsBefore = server.requests.length
    process.env.EFFECT_LLM_BAD_KEY = "live-bad-key-0123\nsecond-line"
    const runtime = ManagedRuntime.make(makeLiveLayer({
      config: {
        default_model: "claude",
        providers: {
          anthropic: { api_key: "${EFFECT_LLM_BAD_KEY}", endpoints: [{ name: "loop", base_url: server.url }] }
        },
        models: {
          claude: {
            provider: "anthropic",
            model_id: "claude-sonnet-4-5",
            pricing: { input_per_1m: 3, output_per_1m: 15 }
          }
        },
        resilience: { max_retries: 2, circuit_breaker: { failure_threshold: 1 } },
        ledger: { backend: "memory" }
      },
      userConfig: false
    }))
    try {
      const failures = await runtime.runPromise(Effect.all([
        Effect.flip(generate({ prompt: "hi" })),
        Effect.flip(generate({ prompt: "again" })),
        Effect.flip(Stream.runDrain(stream({ prompt: "hi" })))
      ]))
      for (const error of failures) {
        assert.strictEqual(error._tag, "ConfigError")
        assert.strictEqual((error as { path?: string }).path, "providers.anthropic.api_key")
        assert.include(
          error.message,
          "environment variable EFFECT_LLM_BAD_KEY holds a character no HTTP header can carry"
        )
        assert.notInclude(error.message, "live-bad-key")
      }
      assert.deepStrictEqual(await runtime.runPromise(Effect.flatMap(Ledger, (ledger) => ledger.events())), [])
      const states = await runtime.runPromise(Effect.flatMap(CircuitBreaker, (breakers) => breakers.states()))
      assert.isTrue(states.every((state) => state.state === "closed"), JSON.stringify(states))
    } finally {
      await runtime.dispose()
      delete process.env.EFFECT_LLM_BAD_KEY
    }
    assert.strictEqual(server.requests.length, requestsBefore)
  })

  it("under an installed tracer a key or header value a server echoes in its response headers is removed from the HTTP span (API.md §14)", async () => {
    const sse = Loopback.readFixture("vertexai-sdk-test-data/googleai/streaming-success-basic-reply-short.txt")
    server.setDefault((request) => {
      const echoed = {
        "x-echo": `${request.url} ${JSON.stringify(request.headers)}`,
        "www-authenticate": `Bearer realm="x", key="${request.headers["x-goog-api-key"]}"`
      }
      return request.url.includes("streamGenerateContent")
        ? { headers: { ...echoed, "content-type": "text/event-stream" }, body: sse }
        : { headers: { ...echoed, "content-type": "application/json" }, body: reply }
    })
    const { recording, spans } = await recordingTracer()
    const runtime = geminiRuntime({
      api_key: "live-test-key-123456",
      headers: { "X-Tenant": "tenant-secret-5521" },
      endpoints: [{ name: "loop", base_url: `${server.url}/?key=url-secret-6634` }]
    })
    try {
      await runtime.runPromise(generate({ prompt: "hi" }).pipe(Effect.withTracer(recording)))
      await runtime.runPromise(Stream.runDrain(stream({ prompt: "hi" })).pipe(Effect.withTracer(recording)))
    } finally {
      await runtime.dispose()
    }
    const http = spans.filter((span) => span.name.startsWith("http.client"))
    assert.strictEqual(http.length, 2)
    for (const span of http) {
      const attributes = Object.fromEntries([...span.attributes].map(([name, value]) => [name, String(value)]))
      for (const secret of ["live-test-key-123456", "tenant-secret-5521", "url-secret-6634"]) {
        assert.notInclude(JSON.stringify(attributes), secret)
      }
      // the echo is kept, its secrets replaced
      assert.include(attributes["http.response.header.x-echo"]!, `"x-goog-api-key":"<redacted>"`)
      assert.include(attributes["http.response.header.x-echo"]!, `"x-tenant":"<redacted>"`)
      assert.include(attributes["http.response.header.x-echo"]!, "key=<redacted>")
      assert.strictEqual(attributes["http.response.header.www-authenticate"], `Bearer realm="x", key="<redacted>"`)
    }
  })

  it("under an installed tracer a base_url's password and query values are removed from the HTTP span, which still carries the URL and sends its trace headers (API.md §14)", async () => {
    const sse = Loopback.readFixture("vertexai-sdk-test-data/googleai/streaming-success-basic-reply-short.txt")
    server.setDefault((request) =>
      request.url.includes("streamGenerateContent")
        ? { headers: { "content-type": "text/event-stream" }, body: sse }
        : { headers: { "content-type": "application/json" }, body: reply }
    )
    const { recording, spans } = await recordingTracer()
    const base = server.url.replace("http://", "http://gw-user:pw-secret-7731@") + "/?token=qp-secret-8842&region=eu"
    const runtime = geminiRuntime({ api_key: "live-test-key-123456", endpoints: [{ name: "loop", base_url: base }] })
    try {
      assert.strictEqual(
        await runtime.runPromise(generate({ prompt: "hi" }).pipe(Effect.withTracer(recording))),
        expectedText
      )
      await runtime.runPromise(Stream.runDrain(stream({ prompt: "hi" })).pipe(Effect.withTracer(recording)))
    } finally {
      await runtime.dispose()
    }
    const http = spans.filter((span) => span.name.startsWith("http.client"))
    assert.strictEqual(http.length, 2) // one per request: the client's own span is off for them
    const sent = server.requests.slice(-2)
    for (const [i, span] of http.entries()) {
      const attributes = Object.fromEntries([...span.attributes].map(([name, value]) => [name, String(value)]))
      const text = JSON.stringify(attributes)
      for (const secret of ["pw-secret-7731", "qp-secret-8842", "live-test-key-123456"]) assert.notInclude(text, secret)
      assert.strictEqual(span.name, "http.client POST")
      assert.strictEqual(span.kind, "client")
      assert.match(
        attributes["url.full"]!,
        /^http:\/\/gw-user:<redacted>@127\.0\.0\.1:\d+\/v1beta\/models\/gemini-2\.5-flash:/
      )
      assert.include(attributes["url.query"]!, "token=<redacted>")
      assert.strictEqual(attributes["http.request.header.x-goog-api-key"], "<redacted>")
      assert.strictEqual(attributes["http.response.status_code"], "200")
      assert.strictEqual(attributes["http.request.method"], "POST")
      // the request itself went with the real URL, and the span's trace headers
      assert.include(sent[i]!.url, "token=qp-secret-8842")
      assert.strictEqual(sent[i]!.headers["traceparent"], `00-${span.traceId}-${span.spanId}-01`)
    }
  })
})
