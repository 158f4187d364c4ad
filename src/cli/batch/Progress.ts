/**
 * What a batch run has done, shown three ways — a live line on a terminal, plain `key=value` lines
 * in a log, JSON events for tools — and its closing summary (counts by outcome, tokens, cost, wall
 * time, latency percentiles) as text or JSON. Pure: the command decides when to render.
 */
import { roundUsd } from "../../internal/Usd.js"
import { bar, keyValues, ms, usd } from "../Format.js"

/** The run's counters, updated as items are admitted and settle. */
export class Tally {
  ok = 0
  failed = 0
  /** Refused by the budget (no request made; not written, a re-run does them). */
  refused = 0
  /** In flight when a second Ctrl-C cancelled them (not written, a re-run does them). */
  cancelled = 0
  inFlight = 0
  cost = 0
  inputTokens = 0
  outputTokens = 0
  readonly latencies: Array<number> = []
  /** Failures by error tag. */
  readonly failures = new Map<string, number>()

  constructor(
    /** Items this run is to do. */
    readonly total: number,
    /** Epoch ms the run started. */
    readonly startedAt: number
  ) {}

  /** Items finished (answered or failed). */
  get done(): number {
    return this.ok + this.failed
  }
}

/** The progress at one moment. */
export interface Snapshot {
  readonly done: number
  readonly ok: number
  readonly failed: number
  readonly refused: number
  readonly running: number
  readonly total: number
  readonly elapsedMs: number
  /** Items finished per second so far. */
  readonly rate: number
  /** USD this run has cost so far. */
  readonly spent: number
  /** USD spent today (the ledger's global daily spend, this run included), when known. */
  readonly today: number | undefined
  /** USD, the daily limit (0: none). */
  readonly limit: number
  /** Seconds until every item is done at the current rate, when it can be told. */
  readonly etaS: number | undefined
}

/** The snapshot of a tally at `now`. */
export const snapshot = (tally: Tally, now: number, today: number | undefined, limit: number): Snapshot => {
  const elapsedMs = Math.max(0, now - tally.startedAt)
  const rate = elapsedMs > 0 ? tally.done / (elapsedMs / 1000) : 0
  const remaining = Math.max(0, tally.total - tally.done - tally.refused)
  return {
    done: tally.done,
    ok: tally.ok,
    failed: tally.failed,
    refused: tally.refused,
    running: tally.inFlight,
    total: tally.total,
    elapsedMs,
    rate,
    spent: tally.cost,
    today,
    limit,
    etaS: remaining === 0 ? 0 : rate > 0 ? remaining / rate : undefined
  }
}

/** Seconds as `42s`, `3m05s` or `1h02m`; `?` when unknown. */
export const duration = (seconds: number | undefined): string => {
  if (seconds === undefined || !Number.isFinite(seconds)) return "?"
  const s = Math.round(seconds)
  if (s < 60) return `${s}s`
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`
}

/** The progress as `[key, value]` pairs, in display order (shared by the terminal and plain renderings). */
export const fields = (s: Snapshot): ReadonlyArray<readonly [string, string]> => [
  ["done", `${s.done}/${s.total}`],
  ["ok", String(s.ok)],
  ["failed", String(s.failed)],
  ...(s.refused > 0 ? [["refused", String(s.refused)] as const] : []),
  ["running", String(s.running)],
  ["rate", `${s.rate.toFixed(1)}/s`],
  ["spent", usd(s.spent)],
  ["today", s.today === undefined ? "?" : s.limit > 0 ? `${usd(s.today)}/${usd(s.limit)}` : usd(s.today)],
  ["eta", duration(s.etaS)]
]

/** A plain progress line for logs: `progress done=42/100 ok=40 failed=2 … eta=12s`. */
export const plainLine = (s: Snapshot): string =>
  `progress ${fields(s).map(([key, value]) => `${key}=${value}`).join(" ")}`

/**
 * The live terminal line: `[####......] done 42/100 · ok 40 · failed 2 · … · eta 12s`, cut to
 * `columns` so that it never wraps (a wrapped line cannot be redrawn in place).
 */
export const ttyLine = (s: Snapshot, columns: number): string => {
  const line = `${bar(s.total === 0 ? 1 : s.done / s.total, 10)} ${
    fields(s).map(([key, value]) => `${key} ${value}`).join(" · ")
  }`
  return line.length < columns ? line : line.slice(0, Math.max(0, columns - 1))
}

/** The progress as a JSON event. */
export const progressEvent = (s: Snapshot) => ({
  type: "progress" as const,
  done: s.done,
  ok: s.ok,
  failed: s.failed,
  refused: s.refused,
  running: s.running,
  total: s.total,
  elapsedMs: s.elapsedMs,
  rate: s.rate,
  spent: s.spent,
  ...(s.today !== undefined ? { today: s.today } : {}),
  limit: s.limit,
  ...(s.etaS !== undefined ? { etaS: s.etaS } : {})
})

/** The `p`-th percentile (0–1) of `values`, nearest rank; `undefined` for none. */
export const percentile = (values: ReadonlyArray<number>, p: number): number | undefined => {
  if (values.length === 0) return undefined
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))]
}

/** How the run ended. */
export type Outcome = "completed" | "stopped" | "interrupted" | "cancelled"

/** What the input held before the run, besides the items it runs. */
export interface InputCounts {
  /** Valid items with a distinct id. */
  readonly items: number
  /** Items already answered in the results file (skipped). */
  readonly alreadyDone: number
  /** Items that failed in an earlier run and are not retried (no `--retry-failed`). */
  readonly keptFailed: number
  /** Malformed lines (bad JSON, no id, a duplicate id, an invalid request), skipped. */
  readonly malformed: number
  /** Their line numbers (the first 100). */
  readonly malformedLines: ReadonlyArray<number>
}

/** The closing summary (printed as text, or as this JSON with `--json`). */
export interface Summary {
  readonly type: "summary"
  readonly outcome: Outcome
  /** The item whose failure stopped the batch (`outcome: "stopped"`). */
  readonly stoppedBy?: { readonly id: string | number; readonly tag: string; readonly message: string }
  readonly counts: {
    readonly items: number
    readonly toRun: number
    readonly ok: number
    readonly failed: number
    readonly refused: number
    readonly cancelled: number
    /** Items of this run never started (stopped, interrupted). */
    readonly notRun: number
    readonly alreadyDone: number
    readonly keptFailed: number
    readonly malformed: number
  }
  readonly failures: Readonly<Record<string, number>>
  readonly malformedLines: ReadonlyArray<number>
  readonly tokens: { readonly input: number; readonly output: number }
  /** USD this run cost. */
  readonly cost: number
  readonly wallMs: number
  readonly latencyMs: { readonly p50?: number; readonly p95?: number }
  /** The results file. */
  readonly out: string
}

/** The summary of a run. */
export const summaryOf = (options: {
  readonly tally: Tally
  readonly input: InputCounts
  readonly outcome: Outcome
  readonly stoppedBy?: Summary["stoppedBy"]
  readonly now: number
  readonly out: string
}): Summary => {
  const { input, tally } = options
  const p50 = percentile(tally.latencies, 0.5)
  const p95 = percentile(tally.latencies, 0.95)
  return {
    type: "summary",
    outcome: options.outcome,
    ...(options.stoppedBy !== undefined ? { stoppedBy: options.stoppedBy } : {}),
    counts: {
      items: input.items,
      toRun: tally.total,
      ok: tally.ok,
      failed: tally.failed,
      refused: tally.refused,
      cancelled: tally.cancelled,
      notRun: Math.max(0, tally.total - tally.done - tally.refused - tally.cancelled),
      alreadyDone: input.alreadyDone,
      keptFailed: input.keptFailed,
      malformed: input.malformed
    },
    failures: Object.fromEntries(tally.failures),
    malformedLines: input.malformedLines,
    tokens: { input: tally.inputTokens, output: tally.outputTokens },
    cost: roundUsd(tally.cost),
    wallMs: Math.max(0, options.now - tally.startedAt),
    latencyMs: { ...(p50 !== undefined ? { p50 } : {}), ...(p95 !== undefined ? { p95 } : {}) },
    out: options.out
  }
}

const headline = (summary: Summary): string => {
  switch (summary.outcome) {
    case "completed":
      return "batch complete"
    case "stopped":
      return `batch stopped by ${summary.stoppedBy?.tag ?? "a failure"} at item ${
        JSON.stringify(summary.stoppedBy?.id ?? "?")
      }: no further item was started, the ones in flight settled`
    case "interrupted":
      return "batch interrupted: no further item was started, the ones in flight settled"
    case "cancelled":
      return `batch cancelled: ${summary.counts.cancelled} item(s) in flight were cancelled`
  }
}

/** The summary as text. */
export const summaryText = (summary: Summary): string => {
  const c = summary.counts
  const failures = Object.entries(summary.failures).map(([tag, count]) => `${tag} ${count}`).join(", ")
  const items = [
    `${c.ok} ok`,
    `${c.failed} failed${failures === "" ? "" : ` (${failures})`}`,
    ...(c.refused > 0 ? [`${c.refused} refused by the budget`] : []),
    ...(c.cancelled > 0 ? [`${c.cancelled} cancelled`] : []),
    ...(c.notRun > 0 ? [`${c.notRun} not run`] : [])
  ].join(", ")
  const earlier = [
    `${c.alreadyDone} already done`,
    ...(c.keptFailed > 0 ? [`${c.keptFailed} failed earlier (kept; --retry-failed retries them)`] : []),
    ...(c.malformed > 0
      ? [
        `${c.malformed} malformed line(s) skipped (line ${summary.malformedLines.slice(0, 10).join(", ")}${
          c.malformed > 10 ? ", …" : ""
        })`
      ]
      : [])
  ].join(", ")
  const seconds = summary.wallMs / 1000
  const finished = c.ok + c.failed
  return [
    headline(summary),
    keyValues([
      ["this run", `${items} of ${c.toRun}`],
      ["input", `${c.items} item(s): ${earlier}`],
      ["tokens", `${summary.tokens.input} in / ${summary.tokens.output} out`],
      ["cost", usd(summary.cost)],
      ["wall time", `${seconds.toFixed(1)} s${seconds > 0 ? ` (${(finished / seconds).toFixed(1)} items/s)` : ""}`],
      ["latency", `p50 ${ms(summary.latencyMs.p50)} · p95 ${ms(summary.latencyMs.p95)}`],
      ["results", summary.out]
    ])
  ].join("\n")
}
