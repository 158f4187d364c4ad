#!/usr/bin/env node
/**
 * The `effect-llm` executable. Signal handlers come first, before the command line and its
 * dependencies load (a few hundred milliseconds), so Ctrl-C (130) and SIGTERM (143) end it with the
 * same code at any moment; `Main.ts` runs the program.
 */
import * as Signals from "./Signals.js"

Signals.install()

// A closed pipe (`effect-llm ledger | head`) is not a crash: further output is dropped, and a
// running stream sees its next write fail with EPIPE and stops (`Cli.ts`).
for (const stream of [process.stdout, process.stderr]) stream.on("error", () => {})

await import("./Main.js")
