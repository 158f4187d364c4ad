#!/usr/bin/env node
/**
 * The `effect-llm` executable. Signal handlers come first, before the command line and its
 * dependencies load (a few hundred milliseconds), so Ctrl-C (130), SIGTERM (143) and SIGHUP (129)
 * end it with the same code at any moment; `Main.ts` runs the program.
 */
import { setFlagsFromString } from "node:v8"
import * as Signals from "./Signals.js"

// Signals, and output errors: a closed pipe (`effect-llm ledger | head`) is not a crash (further
// output is dropped, a running stream stops at its next write, `Cli.ts`); a failed write is exit 1.
Signals.install()

// The HTTP pool (undici) parses responses with a WebAssembly module. V8 compiles it once with its
// baseline compiler, then optimises it again on background threads, and Node waits for those
// threads before the process exits: 0.2–0.4 s of CPU and wall after the answer is printed, for a
// parser that runs for microseconds per response in a command line's few calls. Baseline only.
setFlagsFromString("--liftoff-only")

await import("./Main.js")
