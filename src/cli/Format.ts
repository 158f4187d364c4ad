/**
 * Plain-text formatting for the `effect-llm` command line: aligned tables, the spend bar, money,
 * durations, redacted keys and the one-line stream summary. Pure functions, no colour, so output
 * is the same on a TTY, in a pipe and in tests.
 */
import type { GenerationResponse } from "../domain/GenerationResponse.js"

/**
 * USD: six decimals below a cent (simulated and small calls cost fractions of one); from a cent, two
 * for whole cents, else as many as it takes up to six (a limit of $0.105 is not shown as $0.10).
 */
export const usd = (value: number): string => {
  if (value !== 0 && Math.abs(value) < 0.01) return `$${value.toFixed(6)}`
  const cents = value * 100
  if (Math.abs(cents - Math.round(cents)) < 1e-6) return `$${value.toFixed(2)}`
  // trailing zeros dropped down to two decimals ($2.0000004 is $2.00, not "$2.")
  return `$${value.toFixed(6).replace(/(\.\d\d\d*?)0+$/, "$1")}`
}

/** Milliseconds, rounded; `-` when unknown. */
export const ms = (value: number | undefined): string => (value === undefined ? "-" : `${Math.round(value)} ms`)

/**
 * An API key for display: its length only (`(39 characters)`). No part of a configured secret is
 * printed (API.md §14): a fragment would still be part of the secret.
 */
export const redactKey = (key: string): string => `(${key.length} characters)`

/** A text bar of `width` cells: `[#####.....]`; only full (or more) shows full. */
export const bar = (fraction: number, width = 20): string => {
  const filled = fraction >= 1 ? width : Math.max(0, Math.min(width - 1, Math.round(fraction * width)))
  return `[${"#".repeat(filled)}${".".repeat(width - filled)}]`
}

/** A share of a limit in whole percent; 100 only once it is reached (99.5% of the way is 99). */
export const percentOf = (spent: number, limit: number): number => {
  const percent = (spent / limit) * 100
  return spent >= limit ? Math.round(percent) : Math.min(99, Math.round(percent))
}

/** Today's spend against the daily limit: `[#####...............] $0.25 / $1.00 (25%)`, or `$0.25 (no limit)`. */
export const spendLine = (spent: number, limit: number): string =>
  limit > 0
    ? `${bar(spent / limit)} ${usd(spent)} / ${usd(limit)} (${percentOf(spent, limit)}%)`
    : `${usd(spent)} (no daily limit)`

/** An aligned table; a column whose every cell looks numeric (`12`, `$0.50`, `3 ms`) is right-aligned. */
export const table = (header: ReadonlyArray<string>, rows: ReadonlyArray<ReadonlyArray<string>>): string => {
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => (row[column] ?? "").length)))
  const numeric = header.map((_, column) =>
    rows.length > 0 && rows.every((row) => /^[$-]?\d[\d.,]*( ms)?$/.test(row[column] ?? ""))
  )
  const render = (cells: ReadonlyArray<string>, isHeader: boolean) =>
    cells
      .map((
        cell,
        column
      ) => (numeric[column] && !isHeader ? cell.padStart(widths[column]!) : cell.padEnd(widths[column]!)))
      .join("  ")
      .trimEnd()
  return [render(header, true), ...rows.map((row) => render(row, false))].join("\n")
}

/** `key  value` lines with the keys aligned, indented by two spaces. */
export const keyValues = (pairs: ReadonlyArray<readonly [string, string]>): string => {
  const width = Math.max(0, ...pairs.map(([key]) => key.length))
  return pairs.map(([key, value]) => `  ${key.padEnd(width)}  ${value}`.trimEnd()).join("\n")
}

/** The stream's closing line (stderr): who answered, TTFT, total time, tokens and cost. */
export const streamSummary = (response: GenerationResponse): string =>
  [
    `${response.alias} (${response.provider} ${response.model}) via ${response.endpoint}`,
    `ttft ${ms(response.timing.ttftMs)}`,
    `total ${ms(response.timing.totalMs)}`,
    `tokens ${response.usage.inputTokens} in / ${response.usage.outputTokens} out`,
    `cost ${usd(response.cost)}`
  ].join(" · ")
