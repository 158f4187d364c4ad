/**
 * The program of `effect-llm batch <input.jsonl> --out <results.jsonl>` (the command's options are in
 * `Command.ts`, which loads this module only when `batch` runs): every line of the input through `runBatch`,
 * results appended as items finish, resumable (ids already answered are skipped), with progress on
 * stderr (a live line, plain lines or JSON events), a summary at the end, and Ctrl-C that stops
 * admitting items (once) or cancels the ones in flight (twice).
 */
import type { PlatformError } from "@effect/platform/Error"
import * as FileSystem from "@effect/platform/FileSystem"
import * as Clock from "effect/Clock"
import * as Console from "effect/Console"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import * as Stream from "effect/Stream"
import type { BatchItem, BatchResult, BatchStopOn, BatchStoppedError } from "../../batch/Batch.js"
import { maxConcurrency, runBatch } from "../../batch/Batch.js"
import { Ledger } from "../../services/Ledger.js"
import { type Generate, LLMClient } from "../../services/LLMClient.js"
import { LLMConfig } from "../../services/LLMConfig.js"
import { CliError, ExitCode, notWritable, usage } from "../Exit.js"
import * as Output from "../Output.js"
import * as Input from "./Input.js"
import * as Jsonl from "./Jsonl.js"
import { checkDistinct, checkInput, checkOutput } from "./Paths.js"
import * as Progress from "./Progress.js"
import * as Results from "./Results.js"
import { scanInput } from "./Scan.js"

/** How progress is shown: a live line (stderr is a terminal), plain lines, or JSON events (`--json`). */
export type ProgressMode = "tty" | "plain" | "json"

/** Seconds between progress renderings, by mode (`--progress-interval` overrides). */
const defaultIntervalS: Record<ProgressMode, number> = { tty: 0.25, plain: 10, json: 1 }

/** The options of `batch`. */
export interface BatchOptions {
  readonly input: string
  readonly out: string
  readonly model: Option.Option<string>
  readonly concurrency: number
  readonly retryFailed: boolean
  readonly strict: boolean
  readonly stopOn: "budget" | "error" | "never"
  readonly progressInterval: Option.Option<number>
  readonly json: boolean
}

/** The terminal's width (a pseudo-terminal without a size reports 0: then 160). */
const terminalColumns = (): number => {
  const columns = process.stderr.columns
  return typeof columns === "number" && columns > 0 ? columns : 160
}

/** Signals (SIGINT, SIGTERM) received while the scope is open, in a queue. */
const signalQueue = Effect.acquireRelease(
  Effect.gen(function*() {
    const queue = yield* Queue.unbounded<NodeJS.Signals>()
    const listener = (signal: NodeJS.Signals) => void Queue.unsafeOffer(queue, signal)
    process.on("SIGINT", listener)
    process.on("SIGTERM", listener)
    return { queue, listener }
  }),
  ({ listener }) =>
    Effect.sync(() => {
      process.off("SIGINT", listener)
      process.off("SIGTERM", listener)
    })
)

/** The batch program (inside `withLive`). */
export const program = (options: BatchOptions) =>
  Effect.gen(function*() {
    const output = yield* Output.CliOutput
    const fs = yield* FileSystem.FileSystem
    const { config } = yield* LLMConfig
    const ledger = yield* Ledger
    const client = yield* LLMClient
    const mode: ProgressMode = options.json ? "json" : process.stderr.isTTY === true ? "tty" : "plain"
    const event = (value: object) => output.stderr(JSON.stringify(value))
    const warn = (message: string, json: object) =>
      mode === "json" ? event({ type: "warning", message, ...json }) : output.stderr(`warn: ${message}`)

    if (options.concurrency < 1 || options.concurrency > maxConcurrency) {
      return yield* usage(
        "InvalidValue",
        `--concurrency must be from 1 to ${maxConcurrency}, got ${options.concurrency}`
      )
    }
    const aliases = new Set(Object.keys(config.models))
    const model = Option.getOrUndefined(options.model)
    if (model !== undefined && !aliases.has(model)) {
      return yield* usage(
        "InvalidValue",
        `--model: unknown model alias ${JSON.stringify(model)} (config models: ${[...aliases].join(", ")})`
      )
    }
    yield* checkInput(fs, options.input)
    yield* checkOutput(fs, options.out)
    yield* checkDistinct(fs, options.input, options.out)
    const context: Input.ParseContext = { model, defaultModel: config.defaultModel, aliases }

    // What an earlier run left in the results file.
    const previous = yield* Results.readPrevious(options.out)
    if (previous.cutBytes > 0) {
      yield* warn(
        `${options.out}: cut an unfinished last line (${previous.cutBytes} bytes) left by an interrupted run`,
        { out: options.out, cutBytes: previous.cutBytes }
      )
    }
    if (previous.unreadable.length > 0) {
      yield* warn(
        `${options.out}: line(s) ${previous.unreadable.slice(0, 10).join(", ")} are not result lines; ignored`,
        { out: options.out, lines: previous.unreadable.slice(0, 100) }
      )
    }
    // The file's ids were written scrubbed (an id holding a configured secret): compared the same way,
    // or such an item would be run, and paid for, again on every resume
    const filed = (id: string) => output.scrub(id)
    const toRun = (id: string) =>
      !previous.succeeded.has(filed(id)) && (options.retryFailed || !previous.failed.has(filed(id)))

    // First pass (malformed lines reported, items counted); the second streams the items to run.
    const scan = yield* scanInput(options.input, context, {
      done: (id) => previous.succeeded.has(filed(id)),
      kept: (id) => !toRun(id),
      malformed: (line, reason, id) =>
        warn(`${options.input}:${line}: ${reason}`, {
          type: "malformed",
          line,
          ...(id !== undefined ? { id } : {}),
          reason
        })
    })
    const counts = scan.counts
    if (options.strict && counts.malformed > 0) {
      return yield* usage(
        "MalformedInput",
        `${counts.malformed} malformed line(s) in ${options.input} (line ${
          counts.malformedLines.slice(0, 10).join(", ")
        }); --strict: nothing was run`
      )
    }
    const total = counts.items - counts.alreadyDone - counts.keptFailed
    const startedAt = yield* Clock.currentTimeMillis
    const tally = new Progress.Tally(total, startedAt)
    if (mode === "json") {
      yield* event({
        type: "start",
        input: options.input,
        out: options.out,
        total,
        items: counts.items,
        alreadyDone: counts.alreadyDone,
        keptFailed: counts.keptFailed,
        malformed: counts.malformed,
        concurrency: options.concurrency
      })
    } else {
      yield* output.stderr(
        `batch: ${total} item(s) to run from ${options.input} → ${options.out} (concurrency ${options.concurrency}; ` +
          `${counts.alreadyDone} already done` +
          (counts.keptFailed > 0 ? `, ${counts.keptFailed} failed earlier kept (--retry-failed retries them)` : "") +
          (counts.malformed > 0 ? `, ${counts.malformed} malformed line(s) skipped` : "") +
          ")"
      )
    }

    // Second pass: the items to run, streamed to the batch as it admits them.
    const aliasOf = new Map<string, string>()
    const items: Stream.Stream<BatchItem, PlatformError, FileSystem.FileSystem> = Jsonl.lines(options.input).pipe(
      Stream.filterMap((line) => {
        const parsed = Input.parseLine(line.text, context)
        if (parsed._tag !== "Item") return Option.none()
        const { item } = parsed
        if (scan.firstLine.get(item.id) !== line.number || !toRun(item.id)) return Option.none()
        aliasOf.set(item.id, parsed.alias)
        return Option.some(item)
      })
    )

    // A results file that cannot be made or opened (a read-only directory, a path under a file) is a
    // usage mistake named by its path, as an unreadable input is: exit 2, before any call.
    const writer = yield* Results.openWriter(options.out, { scrub: output.scrub, needsNewline: previous.needsNewline })
      .pipe(
        Effect.catchTag("SystemError", (error) => Effect.fail(notWritable(options.out, error.reason)))
      )
    const settlementOf = (traceId: string) =>
      ledger.events({ traceId }).pipe(
        Effect.map((events) => events.find((e) => e.type === "cancel")),
        Effect.orElseSucceed(() => undefined)
      )

    /** An item's id as its input line gave it (`42`, not `"42"`). */
    const givenId = (id: string): string | number => scan.integerIds.has(id) ? Number(id) : id

    /** Writes a settled item and counts it. A budget refusal is not written (no request was made): a re-run does it. */
    const record = (result: BatchResult) =>
      Effect.gen(function*() {
        const now = yield* Clock.currentTimeMillis
        const alias = aliasOf.get(result.id) ?? config.defaultModel
        aliasOf.delete(result.id)
        // A budget refusal is "refused" (not written, a re-run does it) only when no request was made: a
        // fallback's raise refused after the primary's attempts is a failure the ledger settled with them.
        const settlement = result.ok ? undefined : yield* settlementOf(result.traceId)
        if (!result.ok && result.error._tag === "BudgetExceededError" && (settlement?.attempts ?? 0) === 0) {
          tally.refused++
          if (mode === "json") {
            yield* event({ type: "item", id: givenId(result.id), ok: false, refused: true, error: result.error._tag })
          }
          return
        }
        const settled = result.ok
          ? Results.successLine(result, alias, now)
          : Results.failureLine(result, alias, settlement, now)
        const line = scan.integerIds.has(result.id) ? { ...settled, id: givenId(result.id) } : settled
        yield* writer.write(line)
        if (line.ok) tally.ok++
        else {
          tally.failed++
          tally.failures.set(line.error!.tag, (tally.failures.get(line.error!.tag) ?? 0) + 1)
        }
        tally.cost += line.cost
        tally.inputTokens += line.usage?.inputTokens ?? 0
        tally.outputTokens += line.usage?.outputTokens ?? 0
        tally.latencies.push(line.latencyMs)
        if (mode === "json") {
          yield* event({
            type: "item",
            id: line.id,
            ok: line.ok,
            ...(line.error !== undefined ? { error: line.error.tag } : {}),
            attempts: line.attempts,
            cost: line.cost,
            latencyMs: line.latencyMs
          })
        }
      })

    // The client, counting calls in flight and those a second Ctrl-C cancels.
    const counted = LLMClient.of({
      generate: ((request: Parameters<typeof client.generate>[0]) =>
        Effect.suspend(() => {
          tally.inFlight++
          return client.generate(request).pipe(
            Effect.onInterrupt(() => Effect.sync(() => tally.cancelled++)),
            Effect.ensuring(Effect.sync(() => tally.inFlight--))
          )
        })) as Generate<never>,
      stream: client.stream
    })

    const halt = yield* Deferred.make<void>()
    const cancel = yield* Deferred.make<void>()
    const stopOn: BatchStopOn = options.stopOn
    const stop: { error?: BatchStoppedError } = {}
    const batch = runBatch(items, {
      concurrency: options.concurrency,
      stopOn,
      haltWhen: Deferred.await(halt),
      cancelWhen: Deferred.await(cancel)
    }).pipe(
      // The stop is an outcome of the run (reported in the summary), caught before it fails the stream.
      Stream.catchTag("BatchStoppedError", (error) => Stream.execute(Effect.sync(() => (stop.error = error)))),
      Stream.runForEach(record),
      Effect.provideService(LLMClient, counted)
    )

    const limit = config.budget.dailySpendLimit
    const render = (final: boolean) =>
      Effect.gen(function*() {
        const today = yield* ledger.spendToday().pipe(Effect.option, Effect.map(Option.getOrUndefined))
        const now = yield* Clock.currentTimeMillis
        const snapshot = Progress.snapshot(tally, now, today, limit)
        switch (mode) {
          case "tty":
            return yield* output.stderrText(
              `\r\x1b[2K${Progress.ttyLine(snapshot, terminalColumns())}${final ? "\n" : ""}`
            )
          case "plain":
            return yield* output.stderr(Progress.plainLine(snapshot))
          case "json":
            return yield* event(Progress.progressEvent(snapshot))
        }
      })
    const intervalMs = Option.getOrElse(options.progressInterval, () => defaultIntervalS[mode]) * 1000
    const ticker = Effect.forever(Effect.zipRight(render(false), Effect.sleep(intervalMs))).pipe(
      // Plain lines are periodic: the first comes after one interval, not at once.
      mode === "plain" ? Effect.delay(intervalMs) : (effect) => effect
    )
    const notice = (type: "stopping" | "cancelling", message: string) =>
      mode === "json"
        ? event({ type, running: tally.inFlight })
        : Effect.zipRight(mode === "tty" ? output.stderrText("\r\x1b[2K") : Effect.void, output.stderr(message))

    const { queue: signals } = yield* signalQueue
    const scope = yield* Effect.scope
    // While the batch runs in its own fiber, this one waits uninterruptibly: NodeRuntime's interruption
    // on a signal takes effect only once the summary is written. The batch, the watcher and the ticker
    // are forked into the command's scope, not as children of this fiber, which an interruption would
    // reach at once. The watcher turns the first signal into a halt (no new item; those in flight
    // settle and are written) and the second into a cancellation (those in flight are interrupted and
    // settled `cancelled` in the ledger; everything that settled before is written).
    const { cancelled, halted, stopped, summary } = yield* Effect.uninterruptibleMask((restore) =>
      Effect.gen(function*() {
        const fiber = yield* Effect.forkIn(restore(batch), scope)
        const watcher = yield* Effect.forkIn(
          restore(Effect.gen(function*() {
            yield* Queue.take(signals)
            yield* Deferred.succeed(halt, undefined)
            yield* notice(
              "stopping",
              `stopping: no new item is started; waiting for ${tally.inFlight} in flight (Ctrl-C again cancels them)`
            )
            yield* Queue.take(signals)
            yield* notice("cancelling", `cancelling ${tally.inFlight} item(s) in flight`)
            yield* Deferred.succeed(cancel, undefined)
          })),
          scope
        )
        const progress = yield* Effect.forkIn(restore(ticker), scope)
        const exit = yield* Fiber.await(fiber)
        yield* Fiber.interrupt(progress)
        yield* Fiber.interrupt(watcher)
        yield* render(true)

        if (Exit.isFailure(exit)) return yield* Effect.failCause(exit.cause)
        const halted = yield* Deferred.isDone(halt)
        const cancelled = yield* Deferred.isDone(cancel)
        const stopped = stop.error
        const summary = Progress.summaryOf({
          tally,
          input: counts,
          outcome: stopped !== undefined ? "stopped" : cancelled ? "cancelled" : halted ? "interrupted" : "completed",
          ...(stopped !== undefined
            ? { stoppedBy: { id: givenId(stopped.id), tag: stopped.error._tag, message: stopped.error.message } }
            : {}),
          now: yield* Clock.currentTimeMillis,
          out: options.out
        })
        yield* Console.log(mode === "json" ? JSON.stringify(summary) : Progress.summaryText(summary))
        return { cancelled, halted, stopped, summary }
      })
    )

    // Only a signal halts or cancels the batch: its interruption now ends the command (130 / 143).
    if (halted || cancelled) return yield* Effect.interrupt
    if (stopped !== undefined) {
      return yield* new CliError({
        kind: "BatchStopped",
        message: `${stopped.message}; ${
          summary.counts.notRun + summary.counts.refused
        } item(s) not run (run again to continue)`,
        exitCode: stopped.error._tag === "BudgetExceededError" ? ExitCode.budget : ExitCode.runtime
      })
    }
    const c = summary.counts
    if (c.refused > 0) {
      return yield* new CliError({
        kind: "BatchIncomplete",
        message: `${c.refused} item(s) refused by the budget (no request made; run again to do them)`,
        exitCode: ExitCode.budget
      })
    }
    if (c.failed + c.keptFailed + c.malformed > 0) {
      return yield* new CliError({
        kind: "BatchIncomplete",
        message: [
          ...(c.failed > 0 ? [`${c.failed} item(s) failed`] : []),
          ...(c.keptFailed > 0 ? [`${c.keptFailed} failed in an earlier run (--retry-failed retries them)`] : [])
        ].join(", ").concat(c.failed + c.keptFailed > 0 ? ` (see ${options.out})` : "").concat(
          // malformed lines are not in the results file: their numbers are in the summary and the warnings
          c.malformed === 0
            ? ""
            : `${c.failed + c.keptFailed > 0 ? "; " : ""}${c.malformed} malformed line(s) skipped (see the summary)`
        ),
        exitCode: ExitCode.runtime
      })
    }
  }).pipe(Effect.scoped)
