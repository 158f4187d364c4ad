/**
 * A child Node process running a bundled test script with JSON arguments, for the cross-process
 * ledger tests: its stdout lines as they come, a way to wait for some, and its exit.
 */
import * as Esbuild from "esbuild"
import * as ChildProcess from "node:child_process"
import * as Path from "node:path"

export interface RunningChild {
  readonly child: ChildProcess.ChildProcessWithoutNullStreams
  /** Complete stdout lines so far. */
  readonly lines: ReadonlyArray<string>
  /** Resolves once `done(lines)` holds; rejects after `timeoutMs`, or when the child exits without it. */
  readonly waitFor: (done: (lines: ReadonlyArray<string>) => boolean, what: string, timeoutMs?: number) => Promise<void>
  readonly exited: Promise<number | null>
  readonly stderr: () => string
}

/** Starts `node script '<args as JSON>'` in `root` (NODE_PATH set for the native better-sqlite3). */
export const spawnChild = (root: string, script: string, args: unknown, label = ""): RunningChild => {
  const child = ChildProcess.spawn(process.execPath, [script, JSON.stringify(args)], {
    cwd: root,
    env: { ...process.env, NODE_PATH: Path.join(root, "node_modules") },
    stdio: ["pipe", "pipe", "pipe"]
  })
  const lines: Array<string> = []
  let partial = ""
  let stderr = ""
  const waiters = new Set<() => void>()
  child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
    const parts = (partial + chunk).split("\n")
    partial = parts.pop() ?? ""
    lines.push(...parts)
    for (const waiter of waiters) waiter()
  })
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk))
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)))
  const waitFor = (done: (lines: ReadonlyArray<string>) => boolean, what: string, timeoutMs = 30_000) =>
    new Promise<void>((resolve, reject) => {
      const check = () => {
        if (done(lines)) {
          waiters.delete(check)
          clearTimeout(timer)
          resolve()
        }
      }
      const timer = setTimeout(() => {
        waiters.delete(check)
        reject(
          new Error(
            `child ${child.pid}${label} never printed ${what}; stdout: ${
              lines.slice(-5).join(" | ")
            }; stderr: ${stderr}`
          )
        )
      }, timeoutMs)
      waiters.add(check)
      void exited.then(() => setTimeout(check, 0))
      check()
    })
  return { child, lines, waitFor, exited, stderr: () => stderr }
}

/**
 * Bundles `test/support/<name>.ts` (the current sources) into `<dir>/<name>.cjs` with esbuild (it comes
 * with tsx): a child then starts in about 0.3 s of CPU, where `node --import tsx` spends 2-3 s
 * resolving and transforming every module. Returns the bundle's path.
 */
export const bundleChildScript = async (root: string, name: string, dir: string): Promise<string> => {
  const outfile = Path.join(dir, `${name}.cjs`)
  await Esbuild.build({
    entryPoints: [Path.join(root, `test/support/${name}.ts`)],
    bundle: true,
    platform: "node",
    format: "cjs",
    outfile,
    external: ["better-sqlite3", "pg-native"],
    logLevel: "error"
  })
  return outfile
}
