/**
 * The bench's effect-llm clients, each the way its users write it:
 * - `runtime`: one `ManagedRuntime.make(makeLiveLayer({ config }))`, `runtime.runPromise(generate(...))`
 *   per call, `Effect.forEach(..., { concurrency: "unbounded" })` for concurrent calls, and
 *   `Stream.runForEach` over `stream(...)` for streams (ledger: memory or SQLite, from the config);
 * - `percall`: `Effect.runPromise(generate(...).pipe(Effect.provide(LiveLayer)))`, the config read
 *   from the file named by `EFFECT_LLM_CONFIG`.
 * Every call runs the full path: validation, budget hold, router, breaker, retry policy, ledger
 * commit, spans and metrics.
 */
import * as Effect from "effect/Effect"
import * as ManagedRuntime from "effect/ManagedRuntime"
import * as Stream from "effect/Stream"
import { type BenchClient, type ClientOptions, packageEntry, type StreamResult } from "./client.js"
import { wires } from "./protocols.js"

type Library = typeof import("../src/index.js")

const load = async (options: ClientOptions): Promise<Library> =>
  (await import(packageEntry(options, "index"))) as Library

/** The project configuration the bench gives effect-llm (YAML shape). */
export const benchConfig = (
  options: ClientOptions,
  ledger: { readonly backend: "memory" } | { readonly backend: "sqlite"; readonly path: string }
) => {
  const wire = wires[options.protocol]
  return {
    default_model: "bench",
    providers: {
      [wire.provider]: { api_key: options.apiKey, endpoints: [{ name: "sim", base_url: wire.baseUrl(options.url) }] }
    },
    models: {
      bench: { provider: wire.provider, model_id: options.modelId, pricing: { input_per_1m: 0.3, output_per_1m: 2.5 } }
    },
    // A limit no run reaches: the budget check runs on every hold, and never refuses. The output cap
    // (sent with every call while a budget applies) is above W3's 20,000-token stream, so no answer
    // exceeds its hold (which would log a warning per call).
    budget: { daily_spend_limit: 1_000_000, default_max_output_tokens: 32_768 },
    ledger
  }
}

export const makeRuntime = async (options: ClientOptions, backend: "memory" | "sqlite"): Promise<BenchClient> => {
  const llm = await load(options)
  const ledger = backend === "memory" ? { backend } as const : { backend, path: `${options.dir}/ledger.db` } as const
  const runtime = ManagedRuntime.make(llm.makeLiveLayer({ config: benchConfig(options, ledger) }))
  await runtime.runtime()

  const consume = (prompt: string) =>
    Effect.suspend(() => {
      const started = performance.now()
      let events = 0
      let chars = 0
      let finished = false
      let ttftMs = -1
      return llm.stream({ prompt }).pipe(
        Stream.runForEach((event) =>
          Effect.sync(() => {
            if (event.isFinish) finished = true
            else if (event.delta.length > 0) {
              if (ttftMs < 0) ttftMs = performance.now() - started
              events++
              chars += event.delta.length
            }
          })
        ),
        Effect.map((): StreamResult => ({ events, chars, finished, ttftMs }))
      )
    })

  return {
    call: (prompt) => runtime.runPromise(llm.generate({ prompt })),
    calls: (prompts) =>
      runtime.runPromise(Effect.forEach(prompts, (prompt) => llm.generate({ prompt }), { concurrency: "unbounded" })),
    stream: (prompt) => runtime.runPromise(consume(prompt)),
    streams: (prompts) => runtime.runPromise(Effect.forEach(prompts, consume, { concurrency: "unbounded" })),
    close: () => runtime.dispose()
  }
}

export const makePerCall = async (options: ClientOptions): Promise<BenchClient> => {
  const llm = await load(options)
  const call = (prompt: string) => Effect.runPromise(llm.generate({ prompt }).pipe(Effect.provide(llm.LiveLayer)))
  return {
    call,
    calls: (prompts) => Promise.all(prompts.map(call)),
    stream: () => Promise.reject(new Error("the per-call client is measured on W1 only")),
    streams: () => Promise.reject(new Error("the per-call client is measured on W1 only")),
    close: async () => {}
  }
}
