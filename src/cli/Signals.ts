/**
 * The process's exit code, from the executable's first line to its exit. Signals (SIGINT, SIGTERM,
 * SIGHUP — a closed terminal —, SIGQUIT): before the program runs they end the process at once
 * (nothing is in flight yet), while it runs they interrupt it (NodeRuntime's handlers) and only
 * record which came, so the exit code is the signal's once finalizers have settled. Output: a write
 * to stdout that failed (a full disk, `> /dev/full`) makes a program that succeeded exit 1, as a
 * reader gone (`| head`) does not. Kept free of Effect imports: it must load before the rest of the
 * command line does.
 */

/** The signals handled. */
export type Signal = "SIGINT" | "SIGTERM" | "SIGHUP" | "SIGQUIT"

/** 128 + the signal's number, the code a shell reports for a process a signal ended. */
const codes: Record<Signal, number> = { SIGHUP: 129, SIGQUIT: 131, SIGINT: 130, SIGTERM: 143 }

/** Write errors that mean the reader went away (`| head`): output no one reads, no failure. */
export const readerGone: ReadonlySet<string> = new Set(["EPIPE", "ERR_STREAM_DESTROYED", "ERR_STREAM_WRITE_AFTER_END"])

let phase: "loading" | "running" | "finished" = "loading"
let received: Signal | undefined
let finishedCode = 0
let outputError: Error | undefined

/** Installs the handlers (the executable's first statement). */
export const install = (): void => {
  for (const signal of Object.keys(codes) as Array<Signal>) {
    process.on(signal, () => {
      received ??= signal
      if (phase === "loading") process.exit(codes[signal])
      // NodeRuntime interrupts the program on SIGINT and SIGTERM only: the others are passed on as
      // SIGTERM (the code stays the first signal's). A second signal changes nothing, so the
      // settlement in progress is never cut short (SIGKILL still is).
      if (phase === "running" && (signal === "SIGHUP" || signal === "SIGQUIT")) process.kill(process.pid, "SIGTERM")
      // ended, its output still queued for a reader that has not taken it: not delivered
      if (phase === "finished") process.exit(process.stdout.writableLength > 0 ? codes[signal] : finishedCode)
    })
  }
  for (const stream of [process.stdout, process.stderr]) {
    stream.on("error", (error: NodeJS.ErrnoException) => {
      if (stream !== process.stdout || readerGone.has(error.code ?? "") || outputError !== undefined) return
      outputError = error
      // the error of a program's last write arrives after it ended (and `finish` ran)
      if (phase === "finished" && finishedCode === 0) process.exitCode = failedOutput()
    })
  }
}

/** Says the output was not written (once), and gives the exit code of a runtime error. */
const failedOutput = (): number => {
  process.stderr.write(`error: OutputError: stdout: ${outputError?.message}\n`)
  return 1
}

/** Marks the program as started: a signal from now on interrupts it rather than ending the process. */
export const running = (): void => {
  phase = "running"
}

/**
 * The exit code, once the program has ended with `code`: the first signal's, if one came while it
 * ran, else 1 if it succeeded but its output could not be written, else `code`. Later signals exit at
 * once with it.
 */
export const finish = (code: number): number => {
  phase = "finished"
  finishedCode = received !== undefined
    ? codes[received]
    : code === 0 && outputError !== undefined
    ? failedOutput()
    : code
  return finishedCode
}
