/**
 * SIGINT and SIGTERM from the executable's first line to its exit: before the program runs they end
 * the process at once (nothing is in flight yet), while it runs they interrupt it (NodeRuntime's
 * handlers) and only record which came, so the exit code is the signal's once finalizers have settled.
 * Kept free of Effect imports: it must load before the rest of the command line does.
 */

/** The signals handled. */
export type Signal = "SIGINT" | "SIGTERM"

/** 128 + the signal's number, the code a shell reports for a process a signal ended. */
const codes: Record<Signal, number> = { SIGINT: 130, SIGTERM: 143 }

let phase: "loading" | "running" | "finished" = "loading"
let received: Signal | undefined
let finishedCode = 0

/** Installs the handlers (the executable's first statement). */
export const install = (): void => {
  for (const signal of Object.keys(codes) as Array<Signal>) {
    process.on(signal, () => {
      received ??= signal
      // While running, NodeRuntime's own handler interrupts the program; a second signal changes
      // nothing, so the settlement in progress is never cut short (SIGKILL still is).
      if (phase === "loading") process.exit(codes[signal])
      if (phase === "finished") process.exit(finishedCode)
    })
  }
}

/** Marks the program as started: a signal from now on interrupts it rather than ending the process. */
export const running = (): void => {
  phase = "running"
}

/**
 * The exit code, once the program has ended with `code`: the first signal's, if one came while it
 * ran, else `code`. Later signals exit at once with it.
 */
export const finish = (code: number): number => {
  phase = "finished"
  finishedCode = received === undefined ? code : codes[received]
  return finishedCode
}
