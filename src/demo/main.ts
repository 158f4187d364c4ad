/**
 * `npm run demo`: a guided tour of effect-llm. By default it runs offline with no keys, against
 * the embedded simulator (real Gemini and DashScope wire formats on 127.0.0.1). With `--live` and
 * `GEMINI_API_KEY` or `DASHSCOPE_API_KEY` set, the plain, full-response and stream steps run
 * against the real services with the default configuration (`./config.yaml` and friends).
 * With `--json` it prints one JSON object per line per step, then a summary line (see `Run.ts`).
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { readerGone } from "../cli/Signals.js"
import { live, offline } from "./Run.js"

// A reader that stops early (`npm run demo | head`, a `| jq` that gave up) closes stdout: the tour goes
// on unprinted, as `effect-llm demo` does, so it still removes its temporary ledger at the end.
for (const stream of [process.stdout, process.stderr]) {
  stream.on("error", (error: NodeJS.ErrnoException) => {
    if (!readerGone.has(error.code ?? "")) throw error
  })
}

const options = { json: process.argv.includes("--json") }

NodeRuntime.runMain(process.argv.includes("--live") ? live(options) : offline(options), {
  disableErrorReporting: true,
  disablePrettyLogger: true
})
