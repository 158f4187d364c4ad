/**
 * The tour as effects, shared by `npm run demo` (`main.ts`) and `effect-llm demo`: `offline` against
 * the embedded simulator, `live` against the real services. Both need `tourLoggerLayer` to print
 * the library's own notes (retries, breaker changes) the way the tour shows them.
 */
import * as Clock from "effect/Clock"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { LLMConfig, makeLiveLayer } from "../index.js"
import * as Simulator from "../simulator/Simulator.js"
import { line, note, style } from "./Print.js"
import { endpoints, offlineConfig, runTour, tourSteps } from "./Tour.js"

/** The tour did not complete: some steps failed, or the layer could not be built. */
export class TourFailed extends Data.TaggedError("TourFailed")<{ readonly message: string }> {}

const report = (failed: ReadonlyArray<string>, total: number, startedAt: number) =>
  Effect.gen(function*() {
    const seconds = (((yield* Clock.currentTimeMillis) - startedAt) / 1000).toFixed(1)
    line()
    if (failed.length === 0) {
      line(style.green(`✓ tour finished: ${total} steps in ${seconds} s`))
      return
    }
    line(style.red(`✗ tour finished with ${failed.length} failed step(s): ${failed.join(", ")} (${seconds} s)`))
    return yield* new TourFailed({ message: `failed steps: ${failed.join(", ")}` })
  })

const layerFailure = (error: { readonly _tag: string; readonly message: string }) =>
  Effect.zipRight(
    Effect.sync(() => line(style.red(`✗ could not start effect-llm: ${error._tag}: ${error.message}`))),
    new TourFailed({ message: error.message })
  )

/** The offline tour: simulator, a fresh SQLite ledger in a temp dir, every step. */
export const offline = Effect.gen(function*() {
  const startedAt = yield* Clock.currentTimeMillis
  // Hermetic: neither the user's config file nor their real keys can change what the tour does.
  const dir = yield* Effect.acquireRelease(
    Effect.sync(() => mkdtempSync(join(tmpdir(), "effect-llm-tour-"))),
    (path) => Effect.sync(() => rmSync(path, { recursive: true, force: true }))
  )
  for (const name of ["GEMINI_API_KEY", "GOOGLE_API_KEY", "DASHSCOPE_API_KEY", "EFFECT_LLM_CONFIG"]) {
    delete process.env[name]
  }
  process.env.XDG_CONFIG_HOME = dir
  const sim = yield* Simulator.make()
  const config = offlineConfig(sim, join(dir, "ledger.db"))

  line(style.bold("effect-llm tour (offline: no network, no keys)"))
  note(`simulator  ${sim.url}  (Gemini v1beta + DashScope native wire formats)`)
  note(`endpoints  ${endpoints.primary}, ${endpoints.secondary} (google) · ${endpoints.dashscope} (dashscope)`)
  note("models     gemini-flash → gemini-2.5-flash, fallback qwen-plus → qwen-plus")
  note("resilience 4 retries from 0.2 s doubling · breaker opens after 3 failures, probes after 3 s")
  note(`budget     $0.02 per day · ledger: SQLite in ${dir} (removed at exit)`)
  note(style.dim("config passed as makeLiveLayer({ config }) — see offlineConfig in src/demo/Tour.ts"))

  const failed = yield* runTour(tourSteps, { sim, model: undefined }).pipe(
    Effect.provide(makeLiveLayer({ config })),
    Effect.catchTags({ ConfigError: layerFailure, LedgerError: layerFailure })
  )
  yield* report(failed, tourSteps.length, startedAt)
}).pipe(Effect.scoped)

/** The live tour: default config, real services, only the steps marked `live`. */
export const live = Effect.gen(function*() {
  const startedAt = yield* Clock.currentTimeMillis
  const google = Boolean(process.env.GEMINI_API_KEY || process.env.GOOGLE_API_KEY)
  const dashscope = Boolean(process.env.DASHSCOPE_API_KEY)
  if (!google && !dashscope) {
    line(style.red("--live needs GEMINI_API_KEY (or GOOGLE_API_KEY) or DASHSCOPE_API_KEY in the environment"))
    return yield* new TourFailed({ message: "no API key" })
  }
  const steps = tourSteps.filter((step) => step.live)
  const failed = yield* Effect.gen(function*() {
    const { config } = yield* LLMConfig
    const provider = google ? "google" : "dashscope"
    const model = config.models[config.defaultModel]?.provider === provider
      ? undefined
      : Object.values(config.models).find((m) => m.provider === provider)?.alias
    line(style.bold(`effect-llm tour (live: real ${provider} calls, they cost money)`))
    note(`model ${model ?? config.defaultModel}`)
    return yield* runTour(steps, { sim: undefined, model })
  }).pipe(
    Effect.provide(makeLiveLayer()),
    Effect.catchTags({ ConfigError: layerFailure, LedgerError: layerFailure })
  )
  yield* report(failed, steps.length, startedAt)
})
