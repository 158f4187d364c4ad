/**
 * The tour as effects, shared by `npm run demo` (`main.ts`) and `effect-llm demo`: `offline` against
 * the embedded simulator, `live` against the real services; prose for humans, or with `json` one
 * JSON object per line per step and a final summary line (the formats are `StepLine` and `SummaryLine`).
 */
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as FiberRef from "effect/FiberRef"
import * as HashSet from "effect/HashSet"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { LLMConfig, makeLiveLayer } from "../index.js"
import * as Simulator from "../simulator/Simulator.js"
import { type AttemptFact, attemptsOf, type WaitFact, waitsOf } from "./Facts.js"
import { human, type LogFact, type Out, silent, style, tourLogger } from "./Print.js"
import {
  endpointOrder,
  endpoints,
  offlineConfig,
  type StepFacts,
  type TourServices,
  type TourStep,
  tourSteps
} from "./Tour.js"

/** The tour did not complete: some steps failed, or the layer could not be built. */
export class TourFailed extends Data.TaggedError("TourFailed")<{ readonly message: string }> {}

/** How to run the tour. */
export interface TourOptions {
  /** One JSON object per line (`StepLine`s, then a `SummaryLine`) instead of prose. */
  readonly json: boolean
}

/** An error, as a fact. */
export interface ErrorFact {
  readonly _tag: string
  readonly message: string
}

/** The `--json` line of one step. */
export interface StepLine {
  readonly type: "step"
  /** 1-based position in the tour. */
  readonly index: number
  readonly step: string
  readonly title: string
  readonly ok: boolean
  /** Wall time of the step. */
  readonly ms: number
  /** The HTTP attempts the simulator saw during the step (offline only), in order. */
  readonly attempts?: ReadonlyArray<AttemptFact>
  /** The waits the library decided, before its retries and for rate-limit slots (its Debug lines), in order. */
  readonly waits: ReadonlyArray<WaitFact>
  /** What the step demonstrates (its own shape per step; see `tourSteps`). Absent when it failed. */
  readonly facts?: StepFacts
  readonly error?: ErrorFact
  /** The library's log lines during the step, every level. */
  readonly logs: ReadonlyArray<LogFact>
}

/** The last `--json` line. */
export interface SummaryLine {
  readonly type: "summary"
  readonly mode: "offline" | "live"
  readonly ok: boolean
  /** Steps run, and the names of those that failed. */
  readonly steps: number
  readonly failed: ReadonlyArray<string>
  readonly ms: number
  /** Why the tour could not start (the layer failed to build). */
  readonly error?: ErrorFact
  /** Log lines outside the steps (building the layer). */
  readonly logs: ReadonlyArray<LogFact>
}

/** Collects the library's log lines; `take` hands over those since the last `take`. */
const makeLogs = () => {
  let lines: Array<LogFact> = []
  return {
    push: (fact: LogFact) => void lines.push(fact),
    take: (): ReadonlyArray<LogFact> => {
      const taken = lines
      lines = []
      return taken
    }
  }
}
type Logs = ReturnType<typeof makeLogs>

/** What the runner needs besides the steps. */
interface Runner {
  readonly out: Out
  readonly json: boolean
  readonly logs: Logs
}

const emit = (line: StepLine | SummaryLine) => Effect.sync(() => console.log(JSON.stringify(line)))

const errorOf = (cause: Cause.Cause<{ readonly _tag: string; readonly message: string }>): ErrorFact => {
  const failure = Cause.failureOption(cause)
  return failure._tag === "Some"
    ? { _tag: failure.value._tag, message: failure.value.message }
    : { _tag: Cause.isInterruptedOnly(cause) ? "Interrupted" : "Defect", message: Cause.pretty(cause).split("\n")[0]! }
}

/**
 * Runs steps in order; a failing step is reported and the tour goes on. Offline, the simulator is
 * reset before each step, and a step that leaves part of its script unconsumed fails: its story did
 * not happen as told. Returns the failed steps' names.
 */
export const runTour = (
  steps: ReadonlyArray<TourStep>,
  context: { readonly sim: Simulator.Simulator | undefined; readonly model: string | undefined },
  runner: Runner
): Effect.Effect<ReadonlyArray<string>, never, TourServices> =>
  Effect.gen(function*() {
    const { out, sim } = { ...runner, ...context }
    const failed: Array<string> = []
    for (const [position, step] of steps.entries()) {
      const index = position + 1
      out.heading(index, step.name, step.title)
      sim?.reset()
      runner.logs.take()
      const started = yield* Clock.currentTimeMillis
      const exit = yield* Effect.exit(step.run({ ...context, out }))
      const elapsed = (yield* Clock.currentTimeMillis) - started
      const leftover = sim === undefined ? [] : endpointOrder.filter((name) => sim.pending(name) > 0)
      const error: ErrorFact | undefined = Exit.isFailure(exit)
        ? errorOf(exit.cause)
        : leftover.length > 0
        ? {
          _tag: "UnconsumedScript",
          message: `the simulator script of ${leftover.join(", ")} was not used up: the step did not go as told`
        }
        : undefined
      if (error === undefined) out.note(style.dim(`(${step.name}: ${elapsed} ms)`))
      else {
        failed.push(step.name)
        out.note(style.red(`✗ step ${step.name} failed: ${error._tag}: ${error.message}`))
      }
      if (runner.json) {
        const logs = runner.logs.take()
        yield* emit({
          type: "step",
          index,
          step: step.name,
          title: step.title,
          ok: error === undefined,
          ms: elapsed,
          ...(sim === undefined ? {} : { attempts: attemptsOf(sim) }),
          waits: waitsOf(logs),
          ...(Exit.isSuccess(exit) ? { facts: exit.value } : {}),
          ...(error === undefined ? {} : { error }),
          logs
        })
      }
    }
    return failed
  })

/** Ends the tour: the summary (a line, or a `SummaryLine`), and `TourFailed` when a step failed. */
const finish = (
  runner: Runner,
  summary: { readonly mode: SummaryLine["mode"]; readonly steps: number; readonly startedAt: number },
  outcome: { readonly failed: ReadonlyArray<string> } | { readonly error: ErrorFact }
) =>
  Effect.gen(function*() {
    const ms = (yield* Clock.currentTimeMillis) - summary.startedAt
    const failed = "failed" in outcome ? outcome.failed : []
    const error = "error" in outcome ? outcome.error : undefined
    const ok = failed.length === 0 && error === undefined
    if (runner.json) {
      yield* emit({
        type: "summary",
        mode: summary.mode,
        ok,
        steps: summary.steps,
        failed,
        ms,
        ...(error === undefined ? {} : { error }),
        logs: runner.logs.take()
      })
    }
    const seconds = (ms / 1000).toFixed(1)
    runner.out.line()
    if (error !== undefined) {
      runner.out.line(style.red(`✗ could not start effect-llm: ${error._tag}: ${error.message}`))
      return yield* new TourFailed({ message: error.message })
    }
    if (ok) return runner.out.line(style.green(`✓ tour finished: ${summary.steps} steps in ${seconds} s`))
    runner.out.line(
      style.red(`✗ tour finished with ${failed.length} failed step(s): ${failed.join(", ")} (${seconds} s)`)
    )
    return yield* new TourFailed({ message: `failed steps: ${failed.join(", ")}` })
  })

/**
 * Runs `body` with the tour's logger as the only logger, from `Debug` up: the library's retries
 * (Debug) and breaker transitions (Warning) become facts, and notes for humans.
 */
const withTourLogger = <A, E, R>(runner: Runner, body: Effect.Effect<A, E, R>) =>
  body.pipe(
    Effect.locally(FiberRef.currentLoggers, HashSet.make(tourLogger(runner.out, runner.logs.push))),
    Logger.withMinimumLogLevel(LogLevel.Debug)
  )

const runnerOf = (options: TourOptions): Runner => ({
  out: options.json ? silent : human,
  json: options.json,
  logs: makeLogs()
})

const layerError = (error: { readonly _tag: string; readonly message: string }) =>
  Effect.succeed({ error: { _tag: error._tag, message: error.message } })

/** The offline tour: simulator, a fresh SQLite ledger in a temp dir, every step. */
export const offline = (options: TourOptions = { json: false }) => {
  const runner = runnerOf(options)
  const { out } = runner
  return withTourLogger(
    runner,
    Effect.gen(function*() {
      const startedAt = yield* Clock.currentTimeMillis
      // Hermetic: neither the user's config file nor their real keys can change what the tour does.
      const dir = yield* Effect.acquireRelease(
        Effect.sync(() => mkdtempSync(join(tmpdir(), "effect-llm-tour-"))),
        (path) => Effect.sync(() => rmSync(path, { recursive: true, force: true }))
      )
      for (const name of ["GEMINI_API_KEY", "GOOGLE_API_KEY", "DASHSCOPE_API_KEY", "EFFECT_LLM_CONFIG"]) {
        delete process.env[name]
      }
      process.env.XDG_CONFIG_HOME = dir
      const sim = yield* Simulator.make()
      const config = offlineConfig(sim, join(dir, "ledger.db"))

      out.line(style.bold("effect-llm tour (offline: no network, no keys)"))
      out.note(`simulator  ${sim.url}  (Gemini v1beta + DashScope native wire formats)`)
      out.note(
        `endpoints  ${endpoints.primary}, ${endpoints.secondary} (google) · ${endpoints.dashscope} (dashscope)`
      )
      out.note("models     gemini-flash → gemini-2.5-flash, fallback qwen-plus → qwen-plus (one endpoint)")
      out.note("resilience 4 retries from 0.2 s doubling, a failed attempt's retry goes to the next endpoint")
      out.note("           breaker opens after 3 failures, probes after 3 s")
      out.note(`budget     $0.02 per day · ledger: SQLite in ${dir} (removed at exit)`)
      out.note(style.dim("config passed as makeLiveLayer({ config }) — see offlineConfig in src/demo/Tour.ts"))

      const outcome = yield* runTour(tourSteps, { sim, model: undefined }, runner).pipe(
        Effect.map((failed) => ({ failed })),
        Effect.provide(makeLiveLayer({ config })),
        Effect.catchTags({ ConfigError: layerError, LedgerError: layerError })
      )
      yield* finish(runner, { mode: "offline", steps: tourSteps.length, startedAt }, outcome)
    }).pipe(Effect.scoped)
  )
}

/** The live tour: default config, real services, only the steps marked `live`. */
export const live = (options: TourOptions = { json: false }) => {
  const runner = runnerOf(options)
  const { out } = runner
  return withTourLogger(
    runner,
    Effect.gen(function*() {
      const startedAt = yield* Clock.currentTimeMillis
      const google = Boolean(process.env.GEMINI_API_KEY || process.env.GOOGLE_API_KEY)
      const dashscope = Boolean(process.env.DASHSCOPE_API_KEY)
      const steps = tourSteps.filter((step) => step.live)
      if (!google && !dashscope) {
        const message = "--live needs GEMINI_API_KEY (or GOOGLE_API_KEY) or DASHSCOPE_API_KEY in the environment"
        return yield* finish(runner, { mode: "live", steps: 0, startedAt }, { error: { _tag: "NoApiKey", message } })
      }
      const outcome = yield* Effect.gen(function*() {
        const { config } = yield* LLMConfig
        const provider = google ? "google" : "dashscope"
        const model = config.models[config.defaultModel]?.provider === provider
          ? undefined
          : Object.values(config.models).find((m) => m.provider === provider)?.alias
        out.line(style.bold(`effect-llm tour (live: real ${provider} calls, they cost money)`))
        out.note(`model ${model ?? config.defaultModel}`)
        return { failed: yield* runTour(steps, { sim: undefined, model }, runner) }
      }).pipe(
        Effect.provide(makeLiveLayer()),
        Effect.catchTags({ ConfigError: layerError, LedgerError: layerError })
      )
      yield* finish(runner, { mode: "live", steps: steps.length, startedAt }, outcome)
    })
  )
}
