/**
 * `npm run demo`: a guided tour of effect-llm. By default it runs offline with no keys, against
 * the embedded simulator (real Gemini and DashScope wire formats on 127.0.0.1). With `--live` and
 * `GEMINI_API_KEY` or `DASHSCOPE_API_KEY` set, the plain, full-response and stream steps run
 * against the real services with the default configuration (`./config.yaml` and friends).
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as Effect from "effect/Effect"
import { tourLoggerLayer } from "./Print.js"
import { live, offline } from "./Run.js"

const program = process.argv.includes("--live") ? live : offline

NodeRuntime.runMain(program.pipe(Effect.provide(tourLoggerLayer)), {
  disableErrorReporting: true,
  disablePrettyLogger: true
})
