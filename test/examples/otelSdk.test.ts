/**
 * Through the OpenTelemetry SDK bridge (`@effect/opentelemetry`'s Tracer over an SDK tracer
 * provider), the GenAI attributes keep their types: `gen_ai.response.finish_reasons` is a string
 * array, not its printed form (issue 11 #10), and no attribute holds the key.
 */
import * as OtelResource from "@effect/opentelemetry/Resource"
import * as OtelTracer from "@effect/opentelemetry/Tracer"
import { assert, describe, it } from "@effect/vitest"
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { generate } from "../../src/index.js"
import { makeTestLayer } from "../../src/layers/Test.js"

describe("OpenTelemetry SDK bridge", () => {
  it.effect("exports gen_ai.response.finish_reasons as a string array", () =>
    Effect.gen(function*() {
      const exporter = new InMemorySpanExporter()
      const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] })
      const tracing = OtelTracer.layer.pipe(
        Layer.provide(Layer.succeed(OtelTracer.OtelTracerProvider, provider)),
        Layer.provide(OtelResource.layer({ serviceName: "effect-llm-test" }))
      )
      yield* generate({ prompt: "hello" }).pipe(Effect.provide(makeTestLayer()), Effect.provide(tracing))
      const span = exporter.getFinishedSpans().find((s) => s.name === "LLMClient.generate")
      assert.isDefined(span)
      assert.deepStrictEqual(span!.attributes["gen_ai.response.finish_reasons"], ["stop"])
      assert.strictEqual(span!.attributes["gen_ai.request.model"], "test-model-1")
      for (const s of exporter.getFinishedSpans()) assert.notInclude(JSON.stringify(s.attributes), "test-key")
    }))
})
