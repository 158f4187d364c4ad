/**
 * Runs the `effect-llm` command line as a child process (the bundle `npm run build` ships in `dist/cli`,
 * built once per test run from the current sources by `scripts/bundle-cli.ts`),
 * hermetically (no user config file, no real keys, no colour), and writes temp configs pointing at
 * the loopback simulator.
 */
import { spawn } from "node:child_process"
import { closeSync, mkdtempSync, openSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join, resolve } from "node:path"
import { pathToFileURL } from "node:url"
import { bundleCli } from "../../scripts/bundle-cli.js"
import type * as Simulator from "../../src/simulator/Simulator.js"

/** The repository root. */
export const root = resolve(import.meta.dirname, "../..")
/** Two levels under the root, like `dist/cli/bin.js`, so the CLI finds `package.json` and `config.yaml`. */
const outdir = join(root, ".test-build/cli")
/** The bundled executable (`node <bin> …` runs the CLI, e.g. under `script` for a pseudo-terminal). */
export const bin = join(outdir, "bin.mjs")
rmSync(outdir, { recursive: true, force: true })
await bundleCli(outdir, ".mjs")

/** What a run produced. */
export interface CliRun {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
  readonly stdout: string
  readonly stderr: string
  /** Wall time from spawn to exit. */
  readonly ms: number
  /** Milliseconds from the signal (when `interruptWhen` or `signalWhen` fired) to exit. */
  readonly msAfterSignal: number | undefined
  /** Milliseconds from closing the child's stdout (`closeStdoutWhen`) to exit. */
  readonly msAfterStdoutClosed: number | undefined
  /** The marks written by `marks: true`'s preload, in order (taken out of `stderr`). */
  readonly marks: ReadonlyArray<string>
}

/** What a signal is sent on: the stdout or the stderr seen so far, or a mark (`marks: true`). */
export interface SignalWhen {
  readonly signal: NodeJS.Signals
  readonly stdout?: (stdout: string) => boolean
  readonly stderr?: (stderr: string) => boolean
  readonly mark?: (mark: string) => boolean
  /** A further signal, armed once this one is sent (e.g. a second Ctrl-C). */
  readonly next?: SignalWhen
}

/**
 * A preload marking, on stderr, each SIGTERM listener the process installs: `sigterm-listeners=1`
 * is the executable's own handler (the rest of the CLI still loading), `=2` NodeRuntime's (the
 * program started); `sigterm-removed=1` NodeRuntime's removed (the program ended without a
 * signal). Test instrumentation only: it wraps `process.on` and `process.removeListener`.
 */
const marksPreload = join(root, ".test-build/marks.mjs")
writeFileSync(
  marksPreload,
  `const on = process.on
let count = 0
process.on = function(event, listener) {
  const result = on.call(this, event, listener)
  if (event === "SIGTERM") process.stderr.write("@mark sigterm-listeners=" + ++count + "\\n")
  return result
}
const removeListener = process.removeListener
process.removeListener = function(event, listener) {
  const result = removeListener.call(this, event, listener)
  if (event === "SIGTERM") process.stderr.write("@mark sigterm-removed=" + --count + "\\n")
  return result
}
`
)
const markPattern = /^@mark (.*)\n/gm

/** How to run the CLI. */
export interface CliOptions {
  /** Working directory (default: a fresh temp dir). */
  readonly cwd?: string
  /** Extra environment variables (over a scrubbed copy of this process's). */
  readonly env?: Readonly<Record<string, string>>
  /** Text written to stdin (stdin is closed either way). */
  readonly stdin?: string
  /** Sends SIGINT once the stdout seen so far satisfies this. */
  readonly interruptWhen?: (stdout: string) => boolean
  /** Sends a signal once its condition holds (`mark` needs `marks: true`). */
  readonly signalWhen?: SignalWhen
  /** Loads the preload that marks on stderr the signal listeners installed (see `SignalWhen.mark`). */
  readonly marks?: boolean
  /** Closes the read end of the child's stdout (as `| head -c N` does) once the stdout seen so far satisfies this. */
  readonly closeStdoutWhen?: (stdout: string) => boolean
  /** Kills the child after this long (default 60 s). */
  readonly timeoutMs?: number
  /** A file the child's stdout is opened on (`> /dev/full`) instead of a pipe. */
  readonly stdoutTo?: string
}

const madeDirs: Array<string> = []
// Every temp directory goes when the test file that made it is done (nothing piles up in /tmp).
// (Only under vitest, which cannot be imported outside its runner: bench/batch.ts uses this module too.)
if (process.env.VITEST !== undefined) {
  const { afterAll } = await import("vitest")
  afterAll(() => {
    for (const dir of madeDirs.splice(0)) rmSync(dir, { recursive: true, force: true })
  })
}

/** A fresh temp directory, removed after the test file's tests. */
export const tempDir = (): string => {
  const dir = mkdtempSync(join(tmpdir(), "effect-llm-cli-"))
  madeDirs.push(dir)
  return dir
}

/**
 * At most this many children at once: each start-up (Node + tsx + effect) is CPU-bound, so more
 * would only make every child, and the SIGINT timing, slower.
 */
const maxChildren = 4
let running = 0
const waiting: Array<() => void> = []
const acquire = (): Promise<void> =>
  running < maxChildren ? (running++, Promise.resolve()) : new Promise((resolve) => waiting.push(resolve))
const release = () => {
  const next = waiting.shift()
  if (next !== undefined) next()
  else running--
}

/** Runs `effect-llm <args>` to completion (queued behind other runs beyond `maxChildren`). */
export const runCli = async (args: ReadonlyArray<string>, options: CliOptions = {}): Promise<CliRun> => {
  await acquire()
  try {
    return await spawnCli(args, options)
  } finally {
    release()
  }
}

const spawnCli = (args: ReadonlyArray<string>, options: CliOptions): Promise<CliRun> =>
  new Promise((resolvePromise, reject) => {
    const started = Date.now()
    const cwd = options.cwd ?? tempDir()
    const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: "1", XDG_CONFIG_HOME: cwd, ...options.env }
    for (
      const name of ["GEMINI_API_KEY", "GOOGLE_API_KEY", "DASHSCOPE_API_KEY", "ANTHROPIC_API_KEY", "EFFECT_LLM_CONFIG"]
    ) {
      if (options.env?.[name] === undefined) delete env[name]
    }
    const preload = options.marks === true ? ["--import", pathToFileURL(marksPreload).href] : []
    const stdoutFile = options.stdoutTo === undefined ? undefined : openSync(options.stdoutTo, "w")
    const child = spawn(process.execPath, [...preload, bin, ...args], {
      cwd,
      env,
      stdio: ["pipe", stdoutFile ?? "pipe", "pipe"]
    })
    if (stdoutFile !== undefined) closeSync(stdoutFile) // the child has its own copy
    let stdout = ""
    let stderr = ""
    let signalledAt: number | undefined
    let stdoutClosedAt: number | undefined
    const marks: Array<string> = []
    const timer = setTimeout(() => child.kill("SIGKILL"), options.timeoutMs ?? 60_000)
    const signal = (name: NodeJS.Signals) => {
      if (signalledAt !== undefined) return
      signalledAt = Date.now()
      child.kill(name)
    }
    // `signalWhen` and its `next` signals, one armed at a time.
    let armed = options.signalWhen
    const fire = (when: SignalWhen) => {
      armed = when.next
      if (signalledAt === undefined) signal(when.signal)
      else child.kill(when.signal)
    }
    child.stdout?.on("data", (chunk: Buffer) => {
      stdout += chunk.toString("utf8")
      if (options.interruptWhen?.(stdout) === true) signal("SIGINT")
      if (armed?.stdout?.(stdout) === true) fire(armed)
      if (stdoutClosedAt === undefined && options.closeStdoutWhen?.(stdout) === true) {
        stdoutClosedAt = Date.now()
        child.stdout?.destroy()
      }
    })
    child.stderr!.on("data", (chunk: Buffer) => {
      stderr += chunk.toString("utf8")
      stderr = stderr.replace(markPattern, (_, mark: string) => {
        marks.push(mark)
        if (armed?.mark?.(mark) === true) fire(armed)
        return ""
      })
      if (armed?.stderr?.(stderr) === true) fire(armed)
    })
    child.on("error", reject)
    child.on("close", (code, signal) => {
      clearTimeout(timer)
      const now = Date.now()
      resolvePromise({
        code,
        signal,
        stdout,
        stderr,
        ms: now - started,
        msAfterSignal: signalledAt && now - signalledAt,
        msAfterStdoutClosed: stdoutClosedAt && now - stdoutClosedAt,
        marks
      })
    })
    child.stdin!.end(options.stdin ?? "")
  })

/** Writes `config.yaml` (YAML is a superset of JSON, so the object is written as JSON) and returns its path. */
export const writeConfig = (dir: string, config: unknown, name = "config.yaml"): string => {
  const path = join(dir, name)
  writeFileSync(path, JSON.stringify(config, null, 2))
  return path
}

/** A config for the simulator: one Gemini endpoint, one DashScope endpoint, a SQLite ledger in `dir`. */
export const simulatorConfig = (
  sim: Simulator.Simulator,
  dir: string,
  overrides: { readonly budget?: unknown; readonly googleKey?: string; readonly googleUrl?: string } = {}
) => ({
  default_model: "gemini-flash",
  providers: {
    google: {
      api_key: overrides.googleKey ?? sim.keys.google,
      endpoints: [{ name: "google-a", base_url: overrides.googleUrl ?? sim.baseUrl("google-a"), region: "us" }]
    },
    dashscope: {
      api_key: sim.keys.dashscope,
      endpoints: [{ name: "dashscope-a", base_url: sim.baseUrl("dashscope-a"), region: "sg" }]
    }
  },
  models: {
    "gemini-flash": {
      provider: "google",
      model_id: "gemini-2.5-flash",
      pricing: { input_per_1m: 0.3, output_per_1m: 2.5 }
    },
    "qwen-plus": { provider: "dashscope", model_id: "qwen-plus", pricing: { input_per_1m: 0.4, output_per_1m: 1.2 } }
  },
  resilience: { max_retries: 1, base_delay_s: 0.1, max_delay_s: 0.2, request_timeout_s: 5, stream_idle_timeout_s: 5 },
  budget: overrides.budget ?? { daily_spend_limit: 1.0 },
  ledger: { backend: "sqlite", path: join(dir, "ledger.db") }
})
