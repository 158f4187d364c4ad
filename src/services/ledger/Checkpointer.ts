/**
 * WAL checkpoints of a SQLite ledger, off the thread that makes calls. A checkpoint copies the WAL into
 * the database file and, with `synchronous=NORMAL`, holds the only fsyncs there are (the WAL's, then
 * the database's): run by SQLite's auto-checkpoint, every 1,000 pages, it lands inside some call's
 * INSERT and stalls that call for the fsyncs (0.1–30 ms on this machine's disk). Here a worker thread
 * with its own connection checkpoints instead, from a second after the ledger opened: every
 * `intervalMs` when another connection committed since it last looked (`PRAGMA data_version`),
 * PASSIVE (it never waits for, or blocks, a writer or a reader). The ledger's own connection keeps an
 * auto-checkpoint of its own, raised to `fallbackPages`, for when the worker is gone or outpaced.
 */
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import { Worker } from "node:worker_threads"
import { driverPath } from "./SqliteDriver.js"

/** How often the worker looks for new commits, and the main connection's own auto-checkpoint meanwhile. */
export const intervalMs = 200
export const fallbackPages = 10_000
/** How long after the ledger opens the worker starts. */
export const startDelayMs = 1000
/**
 * The longest closing the ledger waits for the worker's connection to close: a real timer, as the
 * worker's exit is (a ledger closed under TestClock must not wait for the test to move its clock).
 */
const closeWaitMs = 1000

// CommonJS, run as the worker's script (`eval`): no file to locate next to the compiled module.
const script = `
const { parentPort, workerData } = require("node:worker_threads")
const Database = require(workerData.driver)
const db = new Database(workerData.path, { fileMustExist: true, timeout: 0 })
let seen
const timer = setInterval(() => {
  try {
    const version = db.pragma("data_version", { simple: true })
    if (version === seen) return
    seen = version
    const [result] = db.pragma("wal_checkpoint(PASSIVE)")
    if (workerData.report) parentPort.postMessage(result)
  } catch {
    // busy or gone: the next round, or the ledger connection's own auto-checkpoint, does it
  }
}, workerData.intervalMs)
parentPort.once("message", () => {
  clearInterval(timer)
  db.close()
  parentPort.close()
})
`

/** What a checkpoint did: the WAL's frames, and how many of them are now in the database file. */
export interface Checkpointed {
  readonly busy: number
  readonly log: number
  readonly checkpointed: number
}

/**
 * Starts the checkpointing worker for the ledger file at `path`, `delayMs` from now (a short-lived
 * process — a CLI call — never pays a thread's start and stop for it: its WAL is checkpointed when its
 * connection closes), for the scope's life; true when it can start (the caller then raises its
 * connection's auto-checkpoint to `fallbackPages`). Closing the scope tells the worker to close its
 * connection, without waiting for it. `report` (tests) hears of every checkpoint.
 */
export const start = (
  path: string,
  options: { readonly delayMs?: number; readonly report?: (result: Checkpointed) => void } = {}
): Effect.Effect<boolean, never, Scope.Scope> =>
  Effect.suspend(() => {
    const driver = driverPath()
    if (driver === undefined) return Effect.succeed(false)
    const report = options.report
    let worker: Worker | undefined
    let exited = false
    let closed = false
    const launch = () => {
      if (closed) return
      try {
        worker = new Worker(script, {
          eval: true,
          workerData: { driver, path, intervalMs, report: report !== undefined }
        })
        worker.unref() // never keeps the process alive
        worker.once("exit", () => (exited = true))
        worker.on("error", () => {}) // a worker that failed is gone: the connection's own auto-checkpoint remains
        if (report !== undefined) worker.on("message", report)
      } catch {
        // no worker: the connection's own auto-checkpoint remains
      }
    }
    return Effect.as(
      Effect.acquireRelease(
        Effect.sync(() => setTimeout(launch, options.delayMs ?? startDelayMs).unref()),
        (timer) =>
          // Waits (at most closeWaitMs) for the worker's connection to close: the ledger's own connection
          // must close last, alone, to checkpoint the WAL and delete it; two connections closing at once
          // (two threads) each see the other's and neither does, leaving the -wal beside the file.
          Effect.async<void>((resume) => {
            closed = true
            clearTimeout(timer)
            const running = worker
            if (running === undefined || exited) return resume(Effect.void)
            const limit = setTimeout(() => resume(Effect.void), closeWaitMs)
            running.once("exit", () => {
              clearTimeout(limit)
              resume(Effect.void)
            })
            running.postMessage("close")
          })
      ),
      true
    )
  })
