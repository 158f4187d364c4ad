/**
 * `effect-llm demo`: the offline tour of `npm run demo` (src/demo), run in this process.
 *
 * `src/demo/main.ts` runs its program at import time and exports no entry function, so this module
 * composes the same tour from what `src/demo/Tour.ts` exports (`offlineConfig`, `tourSteps`,
 * `runTour`). When main.ts exports its entry, this file should shrink to a call of it.
 */
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import type { ConfigError, LedgerError } from "../domain/Errors.js"
import { tourLoggerLayer } from "../demo/Print.js"
import { offlineConfig, runTour, tourSteps } from "../demo/Tour.js"
import { makeLiveLayer } from "../layers/Live.js"
import * as Simulator from "../simulator/Simulator.js"
import { CliError, ExitCode } from "./Exit.js"

/**
 * The offline tour: simulator on 127.0.0.1, a SQLite ledger in a temp dir (removed after), every
 * step, with the library's own notes (retries, breaker changes) shown as `npm run demo` shows them.
 */
export const demo: Effect.Effect<void, CliError | ConfigError | LedgerError> = Effect.gen(function*() {
  const startedAt = yield* Clock.currentTimeMillis
  const dir = yield* Effect.acquireRelease(
    Effect.sync(() => mkdtempSync(join(tmpdir(), "effect-llm-tour-"))),
    (path) => Effect.sync(() => rmSync(path, { recursive: true, force: true }))
  )
  // Hermetic, like `npm run demo`: neither the user's config file nor real keys change the tour.
  for (const name of ["GEMINI_API_KEY", "GOOGLE_API_KEY", "DASHSCOPE_API_KEY", "EFFECT_LLM_CONFIG"]) delete process.env[name]
  process.env.XDG_CONFIG_HOME = dir
  const sim = yield* Simulator.make()
  console.log(`effect-llm tour (offline: no network, no keys) — simulator ${sim.url}`)
  const failed = yield* runTour(tourSteps, { sim, model: undefined }).pipe(
    Effect.provide(makeLiveLayer({ config: offlineConfig(sim, join(dir, "ledger.db")) }))
  )
  const seconds = (((yield* Clock.currentTimeMillis) - startedAt) / 1000).toFixed(1)
  console.log()
  if (failed.length > 0) {
    return yield* new CliError({ kind: "TourFailed", message: `failed steps: ${failed.join(", ")}`, exitCode: ExitCode.runtime })
  }
  console.log(`✓ tour finished: ${tourSteps.length} steps in ${seconds} s`)
}).pipe(Effect.scoped, Logger.withMinimumLogLevel(LogLevel.Info), Effect.provide(tourLoggerLayer))
