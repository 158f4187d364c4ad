/**
 * The README's OpenTelemetry example: spans and metrics reach an OTLP/HTTP collector (a loopback
 * server here) with the GenAI attributes, and without the key.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { OtlpTelemetry } from "../../examples/otel.js"
import { generate } from "../../src/index.js"
import { makeTestLayer } from "../../src/layers/Test.js"
import * as Loopback from "../support/LoopbackServer.js"

interface Attribute {
  readonly key: string
  readonly value: unknown
}

describe("examples/otel.ts", () => {
  it.scoped("exports LLMClient spans and effect_llm metrics to the collector", () =>
    Effect.gen(function*() {
      const collector = yield* Loopback.make
      collector.setDefault(() => ({ headers: { "content-type": "application/json" }, body: "{}" }))
      yield* Effect.scoped(
        Effect.gen(function*() {
          yield* Layer.build(OtlpTelemetry(collector.url, { serviceName: "otel-test", exportIntervalMs: 60_000 }))
          yield* generate({ prompt: "hello", traceId: "otel-trace" }).pipe(Effect.provide(makeTestLayer()))
        })
      ) // closing the scope flushes the exporters
      const traces = collector.requests.filter((r) => r.url === "/v1/traces").map((r) => r.bodyText).join("\n")
      const metrics = collector.requests.filter((r) => r.url === "/v1/metrics").map((r) => r.bodyText).join("\n")
      assert.include(traces, "LLMClient.generate")
      assert.include(traces, "LLMClient.attempt")
      assert.include(traces, "Ledger.hold")
      assert.include(traces, "gen_ai.usage.output_tokens")
      assert.include(traces, "otel-trace")
      assert.include(traces, "otel-test")
      assert.include(metrics, "effect_llm_requests_total")
      assert.notInclude(traces, "test-key")
      // The GenAI convention's string array, not its printed form (issue 11 #10).
      const attributes = collector.requests.filter((r) => r.url === "/v1/traces").flatMap((r) => {
        const body = JSON.parse(r.bodyText) as {
          resourceSpans: Array<{ scopeSpans: Array<{ spans: Array<{ name: string; attributes: Array<Attribute> }> }> }>
        }
        return body.resourceSpans.flatMap((rs) => rs.scopeSpans.flatMap((ss) => ss.spans))
      }).filter((span) => span.name === "LLMClient.generate").flatMap((span) => span.attributes)
      const finishReasons = attributes.find((attribute) => attribute.key === "gen_ai.response.finish_reasons")
      assert.deepStrictEqual(finishReasons?.value, { arrayValue: { values: [{ stringValue: "stop" }] } })
    }))
})
