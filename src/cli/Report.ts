/**
 * The data and text of `effect-llm ledger report` and `effect-llm budget` (API.md §12): summary rows
 * with totals and, per endpoint, a failure rate; each scope's spend against its limits; rendered as
 * an aligned table (with bars), CSV (RFC 4180) or JSON. Pure functions: the commands are `Budget.ts`.
 */
import type { BudgetWindow } from "../domain/Errors.js"
import type { SummaryGroupBy, SummaryRow } from "../domain/LedgerEvent.js"
import { roundUsd, RunningTotal } from "../internal/Usd.js"
import { bar, percentOf, table, usd } from "./Format.js"

/** The output formats of both commands. */
export const formats = ["table", "csv", "json"] as const
export type ReportFormat = (typeof formats)[number]

/** The groupings of `ledger report --by` (and `tag:<key>`). */
export const groupings = ["day", "week", "month", "model", "provider", "endpoint"] as const

/** One row of the report: a summary row, with a failure rate when grouped by endpoint. */
export interface ReportRow extends SummaryRow {
  /** Calls that ended in error / calls settled ok or in error; null when none settled (endpoint grouping only). */
  readonly failureRate?: number | null
}

/** What `ledger report --format json` prints. */
export interface Report {
  readonly groupBy: SummaryGroupBy
  readonly days: number
  /** ISO timestamps of the range: from UTC midnight `days - 1` days ago, until now. */
  readonly since: string
  readonly until: string
  readonly rows: ReadonlyArray<ReportRow>
  readonly total: Omit<ReportRow, "key">
}

const failureRate = (row: SummaryRow): number | null =>
  row.ok + row.error === 0 ? null : row.error / (row.ok + row.error)

/** The report of summary rows (with failure rates for `endpoint`) and their totals. */
export const makeReport = (
  groupBy: SummaryGroupBy,
  days: number,
  since: number,
  until: number,
  rows: ReadonlyArray<SummaryRow>
): Report => {
  const total = { calls: 0, ok: 0, error: 0, cancelled: 0, expired: 0, inputTokens: 0, outputTokens: 0, cost: 0 }
  const cost = new RunningTotal()
  for (const row of rows) {
    for (const key of Object.keys(total) as Array<keyof typeof total>) total[key] += row[key]
    cost.add(row.cost)
  }
  // a plain sum of rounded costs picks up float noise (0.1 + 0.2): compensated, to the picodollar
  total.cost = roundUsd(cost.value)
  return {
    groupBy,
    days,
    since: new Date(since).toISOString(),
    until: new Date(until).toISOString(),
    rows: rows.map((row) => (groupBy === "endpoint" ? { ...row, failureRate: failureRate(row) } : { ...row })),
    total: groupBy === "endpoint" ? { ...total, failureRate: failureRate({ ...total, key: "" }) } : total
  }
}

/**
 * One CSV field: quoted when it holds a comma, a quote or a line break (RFC 4180). A text that a
 * spreadsheet would run as a formula (`=`, `+`, `-`, `@`, a tab or a carriage return first: a tag value
 * or a name from a call) gets a `'` before it (OWASP's CSV injection advice); numbers are left as they are.
 */
const csvField = (value: string | number | null | undefined): string => {
  const raw = value === null || value === undefined ? "" : String(value)
  const text = typeof value === "string" && /^[=+\-@\t\r]/.test(raw) ? `'${raw}` : raw
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, "\"\"")}"` : text
}

/** CSV text: a header line, then one line per row (CRLF-free: `\n`). */
export const csv = (
  header: ReadonlyArray<string>,
  rows: ReadonlyArray<ReadonlyArray<string | number | null | undefined>>
): string => [header, ...rows].map((row) => row.map(csvField).join(",")).join("\n")

const percent = (fraction: number): string => `${(fraction * 100).toFixed(1).replace(/\.0$/, "")}%`

/** The report in a format. */
export const renderReport = (report: Report, format: ReportFormat, scrub?: (text: string) => string): string => {
  const withRate = report.groupBy === "endpoint"
  const keys = [
    "calls",
    "ok",
    "error",
    "cancelled",
    "expired",
    "inputTokens",
    "outputTokens",
    "cost"
  ] as const
  switch (format) {
    case "json":
      return JSON.stringify(report, null, 2)
    case "csv":
      return csv(
        [
          report.groupBy,
          ...keys.map((key) => key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`)),
          ...(withRate ? ["failure_rate"] : [])
        ],
        report.rows.map((row) => [row.key, ...keys.map((key) => row[key]), ...(withRate ? [row.failureRate] : [])])
      )
    case "table": {
      if (report.rows.length === 0) return `no calls recorded since ${report.since.slice(0, 10)}`
      const cells = (key: string, row: Omit<SummaryRow, "key">, rate: number | null | undefined) => [
        key,
        String(row.calls),
        String(row.ok),
        String(row.error),
        String(row.cancelled),
        String(row.expired),
        String(row.inputTokens),
        String(row.outputTokens),
        usd(row.cost),
        ...(withRate ? [rate === null || rate === undefined ? "-" : percent(rate)] : [])
      ]
      return table(
        [
          report.groupBy,
          "calls",
          "ok",
          "error",
          "cancelled",
          "expired",
          "input",
          "output",
          "cost",
          ...(withRate
            ? ["failure rate"]
            : [])
        ],
        [
          ...report.rows.map((row) => cells(row.key === "" ? "(none)" : row.key, row, row.failureRate)),
          cells("total", report.total, withRate ? failureRate({ key: "", ...report.total }) : undefined)
        ],
        scrub
      )
    }
  }
}

/** One scope's spend in one window against its limit. */
export interface BudgetRow {
  readonly scope: string
  readonly window: BudgetWindow
  /** ISO timestamp of the window's start (UTC midnight, Monday, the 1st). */
  readonly windowStart: string
  /** USD: settled cost plus open holds in the window. */
  readonly spent: number
  /** USD; 0 means no limit. */
  readonly limit: number
  /** spent / limit; null without a limit. */
  readonly fraction: number | null
}

/** What `effect-llm budget --format json` prints. */
export interface BudgetReport {
  readonly at: string
  readonly rows: ReadonlyArray<BudgetRow>
  /** `per_tag` keys with no tagged call in their current windows, with their limits per window. */
  readonly unseenTags: ReadonlyArray<{ readonly key: string; readonly limits: Partial<Record<BudgetWindow, number>> }>
}

/** `[####................] $0.25 / $1.25 (20%)`, or `$0.25 (no limit)`. */
const usage = (row: BudgetRow): string =>
  row.fraction === null
    ? `${usd(row.spent)} (no limit)`
    : `${bar(row.fraction)} ${usd(row.spent)} / ${usd(row.limit)} (${percentOf(row.spent, row.limit)}%)`

/** The budget report in a format. */
export const renderBudget = (report: BudgetReport, format: ReportFormat, scrub?: (text: string) => string): string => {
  switch (format) {
    case "json":
      return JSON.stringify(report, null, 2)
    case "csv":
      return csv(
        ["scope", "window", "window_start", "spent", "limit", "fraction"],
        report.rows.map((row) => [row.scope, row.window, row.windowStart, row.spent, row.limit, row.fraction])
      )
    case "table":
      return [
        table(["scope", "window", "spend"], report.rows.map((row) => [row.scope, row.window, usage(row)]), scrub),
        ...report.unseenTags.map(({ key, limits }) =>
          `${key}: no calls tagged ${key} in the current windows (each value capped at ${
            Object.entries(limits).map(([window, limit]) => `${usd(limit)} ${window}`).join(", ")
          })`
        )
      ].join("\n")
  }
}
