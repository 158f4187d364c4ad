/**
 * The command line's program under Node: `NodeRuntime.runMain` interrupts it on Ctrl-C / SIGTERM, so
 * a call in flight is settled (`cancelled`) and the database closed before the process exits with the
 * signal's code (`Signals.ts`); otherwise the program's result is the exit code.
 */
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import * as NodePath from "@effect/platform-node/NodePath"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as NodeTerminal from "@effect/platform-node/NodeTerminal"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import { run } from "./Cli.js"
import { ExitCode } from "./Exit.js"
import * as Signals from "./Signals.js"

/**
 * What the commands use of Node: files, paths and the terminal (@effect/cli's environment).
 * `NodeContext.layer` would also load the child-process and worker modules, which none of them use.
 */
const platform = Layer.mergeAll(NodeFileSystem.layer, NodePath.layer, NodeTerminal.layer)

Signals.running()
NodeRuntime.runMain(run(process.argv).pipe(Effect.provide(platform)), {
  disableErrorReporting: true,
  disablePrettyLogger: true,
  teardown: (exit, onExit) =>
    onExit(Signals.finish(
      Exit.isSuccess(exit)
        ? Number(exit.value)
        : Cause.isInterruptedOnly(exit.cause)
        ? ExitCode.interrupted // only a signal interrupts the program, and `finish` gives its code
        : ExitCode.runtime
    ))
})
