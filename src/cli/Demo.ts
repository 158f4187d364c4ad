/**
 * `effect-llm demo`: the tour of `npm run demo` (src/demo), run in this process; `--live` runs the
 * live steps against the real services when a key is set; `--json` prints one JSON line per step.
 */
import * as Effect from "effect/Effect"
import { live, offline } from "../demo/Run.js"
import { CliError, ExitCode } from "./Exit.js"

/** The offline (or live) tour; a failed step or layer exits with the runtime error code. */
export const demo = (options: { readonly live: boolean; readonly json: boolean }) =>
  (options.live ? live : offline)({ json: options.json }).pipe(
    Effect.catchTag(
      "TourFailed",
      (error) => new CliError({ kind: "TourFailed", message: error.message, exitCode: ExitCode.runtime })
    )
  )
