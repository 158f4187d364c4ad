/**
 * Plain-text formatting for the `effect-llm` command line: aligned tables, the spend bar, money,
 * durations, redacted keys and the one-line stream summary. Pure functions, no colour, so output
 * is the same on a TTY, in a pipe and in tests.
 */
import type { GenerationResponse } from "../domain/GenerationResponse.js"
import { escapeControls } from "../internal/Printable.js"

/**
 * USD: six decimals below a cent (simulated and small calls cost fractions of one), `<$0.000001` below
 * that; from a cent, two for whole cents, else as many as it takes up to six (a limit of $0.105 is not
 * shown as $0.10).
 */
export const usd = (value: number): string => {
  // (what rounds to a whole cent at six decimals is that cent: $0.0099999996 is $0.01, not $0.010000)
  if (value !== 0 && Math.abs(value) < 0.0099995) {
    const shown = value.toFixed(6)
    // a cost too small for six decimals is not shown as none
    return /^-?0\.0+$/.test(shown) ? "<$0.000001" : `$${shown}`
  }
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

/** Code points a terminal draws two columns wide: East Asian wide and fullwidth forms, emoji. */
const wide =
  /[\u1100-\u115F\u2E80-\u303E\u3041-\u33FF\u3400-\u4DBF\u4E00-\u9FFF\uA000-\uA4CF\uAC00-\uD7A3\uF900-\uFAFF\uFE30-\uFE4F\uFF00-\uFF60\uFFE0-\uFFE6\u{1F300}-\u{1F64F}\u{1F900}-\u{1FAFF}\u{20000}-\u{3FFFD}]/u

/** Code points a terminal draws in no column: combining marks (variation selectors too), zero-width format characters. */
const zeroWidth = /[\p{M}\p{Cf}]/u

/** The columns `text` takes on a terminal (what `padEnd` would count as UTF-16 units). */
export const displayWidth = (text: string): number => {
  let width = 0
  for (const char of text) width += zeroWidth.test(char) ? 0 : wide.test(char) ? 2 : 1
  return width
}

/**
 * An aligned table (by display width: CJK and emoji take two columns, combining marks none); a column
 * whose every cell looks numeric (`12`, `$0.50`, `3 ms`) is right-aligned.
 */
export const table = (
  header: ReadonlyArray<string>,
  rows: ReadonlyArray<ReadonlyArray<string>>,
  /** The output's scrubbing, applied to each cell before the layout (a cell that becomes `<redacted>` stays aligned). */
  scrub: (text: string) => string = (text) => text
): string => {
  const cells = rows.map((row) => header.map((_, column) => scrub(escapeControls(row[column] ?? ""))))
  const widths = header.map((title, column) =>
    Math.max(displayWidth(title), ...cells.map((row) => displayWidth(row[column]!)))
  )
  const numeric = header.map((_, column) =>
    cells.length > 0 && cells.every((row) => /^[$-]?\d[\d.,]*( ms)?$/.test(row[column]!))
  )
  const render = (line: ReadonlyArray<string>, isHeader: boolean) =>
    line
      .map((cell, column) => {
        const padding = " ".repeat(Math.max(0, widths[column]! - displayWidth(cell)))
        return numeric[column] && !isHeader ? padding + cell : cell + padding
      })
      .join("  ")
      .trimEnd()
  return [render(header, true), ...cells.map((row) => render(row, false))].join("\n")
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
