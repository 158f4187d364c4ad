/**
 * `internal/Spans.ts`: under Effect's native tracer (nobody exports its spans) a call makes no spans
 * and sends no trace headers; under an installed tracer it makes its spans and propagates the trace
 * to the provider (`traceparent`).
 */
import * as HttpClient from "@effect/platform/HttpClient"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { generate, makeLiveLayer } from "../../src/index.js"
import * as Spans from "../../src/internal/Spans.js"
import * as Loopback from "../support/LoopbackServer.js"
import * as RecordingTracer from "../support/RecordingTracer.js"

const answer = {
  candidates: [{ content: { role: "model", parts: [{ text: "hi" }] }, finishReason: "STOP" }],
  usageMetadata: { promptTokenCount: 1, candidatesTokenCount: 1, totalTokenCount: 2 }
}

const layerFor = (url: string) =>
  makeLiveLayer({
    config: {
      default_model: "flash",
      providers: { google: { api_key: "spans-test-key", endpoints: [{ name: "loop", base_url: url }] } },
      models: { flash: { provider: "google", model_id: "gemini-2.0-flash" } },
      ledger: { backend: "memory" }
    }
  })

describe("spans follow the tracer", () => {
  it.scoped("native tracer: no trace headers sent; installed tracer: the call's spans and a traceparent", () =>
    Effect.gen(function*() {
      const server = yield* Loopback.make
      server.setDefault(() => ({ headers: { "content-type": "application/json" }, body: JSON.stringify(answer) }))
      const layer = layerFor(server.url)

      assert.strictEqual(yield* generate({ prompt: "a" }).pipe(Effect.provide(layer)), "hi")
      assert.isUndefined(server.requests[0]!.headers["traceparent"])

      const recording = RecordingTracer.make()
      assert.strictEqual(
        yield* generate({ prompt: "b" }).pipe(Effect.provide(layer), Effect.withTracer(recording.tracer)),
        "hi"
      )
      assert.isString(server.requests[1]!.headers["traceparent"])
      const names = recording.spans.map((span) => span.name)
      for (const name of ["LLMClient.generate", "LLMClient.attempt", "Ledger.hold", "Ledger.commit"]) {
        assert.include(names, name)
      }
    }))

  it.scoped("the platform's switches turn the HTTP span and its trace headers off, as for any client: tracing disabled, currentTracerDisabledWhen", () =>
    Effect.gen(function*() {
      const server = yield* Loopback.make
      server.setDefault(() => ({ headers: { "content-type": "application/json" }, body: JSON.stringify(answer) }))
      const layer = layerFor(server.url)
      const recording = RecordingTracer.make()
      yield* generate({ prompt: "a" }).pipe(
        Effect.provide(layer),
        Effect.withTracer(recording.tracer),
        Effect.withTracerEnabled(false)
      )
      yield* generate({ prompt: "b" }).pipe(
        Effect.provide(layer),
        Effect.withTracer(recording.tracer),
        Effect.locally(HttpClient.currentTracerDisabledWhen, () => true)
      )
      for (const request of server.requests) {
        assert.isUndefined(request.headers["traceparent"])
        assert.isUndefined(request.headers["b3"])
      }
      assert.deepStrictEqual(recording.named("http.client POST"), [])
      // without them, the same call has its HTTP span and sends its trace
      yield* generate({ prompt: "c" }).pipe(Effect.provide(layer), Effect.withTracer(recording.tracer))
      assert.isString(server.requests[2]!.headers["traceparent"])
      assert.lengthOf(recording.named("http.client POST"), 1)
    }))
})

describe("span attributes are built only for a tracer that reads them", () => {
  it.effect("withSpan's options and whenTraced's annotation: not built under the native tracer, built once under another", () =>
    Effect.gen(function*() {
      let optionsBuilt = 0
      let annotationsBuilt = 0
      const program = Spans.withSpan(
        Spans.whenTraced(() => {
          annotationsBuilt++
          return Effect.annotateCurrentSpan({ "effect_llm.cost_usd": 0.5 })
        }),
        "LLMClient.attempt",
        () => {
          optionsBuilt++
          return { attributes: { "effect_llm.attempt": 1 }, captureStackTrace: false }
        }
      )
      yield* program
      assert.deepStrictEqual([optionsBuilt, annotationsBuilt], [0, 0])

      const recording = RecordingTracer.make()
      yield* program.pipe(Effect.withTracer(recording.tracer))
      assert.deepStrictEqual([optionsBuilt, annotationsBuilt], [1, 1])
      const [span] = recording.named("LLMClient.attempt")
      assert.strictEqual(span!.attributes.get("effect_llm.attempt"), 1)
      assert.strictEqual(span!.attributes.get("effect_llm.cost_usd"), 0.5)
    }))
})
