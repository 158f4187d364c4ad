/**
 * Exporting effect-llm's spans and metrics to an OpenTelemetry collector (OTLP over HTTP/JSON) with
 * `@effect/opentelemetry`. Provide `OtlpTelemetry` next to `LiveLayer`:
 *
 *   program.pipe(Effect.provide(LiveLayer), Effect.provide(OtlpTelemetry("http://localhost:4318")))
 *
 * Spans (`LLMClient.generate`, `LLMClient.stream`, `LLMClient.attempt`, `Ledger.*`, `http.client …`)
 * go to `/v1/traces`, the `effect_llm_*` metrics to `/v1/metrics`, logs to `/v1/logs`.
 */
import * as Otlp from "@effect/opentelemetry/Otlp"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { generate, LiveLayer } from "../src/index.js"

/** An OTLP/HTTP exporter for traces, metrics and logs (the collector's default port is 4318). */
export const OtlpTelemetry = (
  baseUrl: string,
  options: { readonly serviceName?: string; readonly exportIntervalMs?: number } = {}
) =>
  Otlp.layerJson({
    baseUrl,
    resource: { serviceName: options.serviceName ?? "effect-llm-app" },
    tracerExportInterval: options.exportIntervalMs ?? 5_000,
    metricsExportInterval: options.exportIntervalMs ?? 10_000
  }).pipe(Layer.provide(NodeHttpClient.layerUndici))

/** Run with `npx tsx examples/otel.ts` (needs a config and a key, and a collector on :4318). */
if (process.argv[1] !== undefined && import.meta.url.endsWith(process.argv[1].split("/").pop() ?? "")) {
  const program = Effect.gen(function*() {
    const text = yield* generate({ prompt: "Say hello in five words." })
    yield* Effect.log(text)
  })
  Effect.runPromise(program.pipe(Effect.provide(LiveLayer), Effect.provide(OtlpTelemetry("http://localhost:4318"))))
    .catch(
      (error) => {
        process.exitCode = 1
        void Effect.runPromise(Effect.logError(String(error)))
      }
    )
}
