/**
 * `effect-llm demo`: the tour of `npm run demo` (src/demo), run in this process; `--live` runs the
 * live steps against the real services when a key is set.
 */
import * as Effect from "effect/Effect"
import { tourLoggerLayer } from "../demo/Print.js"
import { live, offline } from "../demo/Run.js"
import { CliError, ExitCode } from "./Exit.js"

/** The offline (or live) tour; a failed step or layer exits with the runtime error code. */
export const demo = (options: { readonly live: boolean }) =>
  (options.live ? live : offline).pipe(
    Effect.provide(tourLoggerLayer),
    Effect.catchTag("TourFailed", (error) =>
      new CliError({ kind: "TourFailed", message: error.message, exitCode: ExitCode.runtime }))
  )
