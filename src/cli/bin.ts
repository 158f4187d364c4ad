#!/usr/bin/env node
/**
 * The `effect-llm` executable. `NodeRuntime.runMain` interrupts the program on Ctrl-C / SIGTERM, so
 * a running stream's finalizers (the ledger's `cancelled` entry, closing the database) complete
 * before the process exits; the teardown turns the program's result into the exit code.
 */
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import { run } from "./Cli.js"
import { ExitCode } from "./Exit.js"

// A closed pipe (`effect-llm ledger | head`) is not a crash: further output is dropped, and a
// running stream fails its next write (`OutputClosed`), so its ledger entry is still settled.
for (const stream of [process.stdout, process.stderr]) stream.on("error", () => {})

NodeRuntime.runMain(run(process.argv).pipe(Effect.provide(NodeContext.layer)), {
  disableErrorReporting: true,
  disablePrettyLogger: true,
  teardown: (exit, onExit) =>
    onExit(
      Exit.isSuccess(exit)
        ? Number(exit.value)
        : Cause.isInterruptedOnly(exit.cause)
        ? ExitCode.interrupted
        : ExitCode.runtime
    )
})
