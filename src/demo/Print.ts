/**
 * Console output of the tour: headings, aligned key/value blocks and tables, money and token
 * formatting, and a logger that shows the library's own log lines (retries, breaker transitions)
 * as indented notes. Colour only on a TTY without `NO_COLOR`.
 */
import * as Cause from "effect/Cause"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"

const colour = process.stdout.isTTY === true && process.env.NO_COLOR === undefined
const paint = (code: string) => (text: string): string => (colour ? `\x1b[${code}m${text}\x1b[0m` : text)

/** Text styles (no-ops when colour is off). */
export const style = {
  bold: paint("1"),
  dim: paint("2"),
  green: paint("32"),
  red: paint("31"),
  yellow: paint("33"),
  cyan: paint("36")
}

/** Prints a line. */
export const line = (text = ""): void => console.log(text)

/** Prints an indented note. */
export const note = (text: string): void => console.log(`   ${text}`)

/** Prints a step heading: `── 3. name — title ─────`. */
export const heading = (index: number, name: string, title: string): void => {
  const text = `── ${index}. ${name} — ${title} `
  console.log()
  console.log(style.bold(text + "─".repeat(Math.max(3, 78 - text.length))))
}

/** Prints `key  value` pairs with the keys aligned. */
export const keyValues = (pairs: ReadonlyArray<readonly [string, string]>): void => {
  const width = Math.max(...pairs.map(([key]) => key.length))
  for (const [key, value] of pairs) console.log(`   ${style.dim(key.padEnd(width))}  ${value}`)
}

/** Prints a table with a header row; numeric-looking cells are right-aligned. */
export const table = (header: ReadonlyArray<string>, rows: ReadonlyArray<ReadonlyArray<string>>): void => {
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => (row[column] ?? "").length)))
  const numeric = header.map((_, column) =>
    rows.length > 0 && rows.every((row) => /^[-+$\d.,%]*\d[\d.,%smx]*$/.test(row[column] ?? ""))
  )
  const render = (cells: ReadonlyArray<string>) =>
    cells.map((cell, column) => (numeric[column] ? cell.padStart(widths[column]!) : cell.padEnd(widths[column]!))).join(
      "  "
    ).trimEnd()
  console.log(`   ${style.dim(render(header))}`)
  for (const row of rows) console.log(`   ${render(row)}`)
}

/** USD with 6 decimals (the demo's calls cost fractions of a cent). */
export const usd = (value: number): string => `$${value.toFixed(6)}`

/** `in/out/total` token counts. */
export const tokens = (
  usage: { readonly inputTokens: number; readonly outputTokens: number; readonly totalTokens: number } | undefined
): string =>
  usage === undefined ? "-" : `${usage.inputTokens} in / ${usage.outputTokens} out / ${usage.totalTokens} total`

/** Milliseconds, rounded. */
export const ms = (value: number | undefined): string => (value === undefined ? "-" : `${Math.round(value)} ms`)

/** Shortens long text to one line. */
export const clip = (text: string, max = 100): string => {
  const flat = text.replace(/\s+/g, " ")
  return flat.length > max ? `${flat.slice(0, max - 3)}...` : flat
}

/**
 * A logger printing the library's INFO-and-above messages as `   · message`, so retries and
 * breaker transitions appear in the tour where they happen.
 */
export const tourLogger = Logger.make(({ cause, logLevel, message }) => {
  if (LogLevel.lessThan(logLevel, LogLevel.Info)) return
  const text = (Array.isArray(message) ? message : [message]).map(String).join(" ")
  const mark = logLevel._tag === "Info" ? "·" : logLevel._tag === "Warning" ? "!" : "✗"
  console.log(style.dim(`   ${mark} ${text}${Cause.isEmpty(cause) ? "" : ` (${Cause.pretty(cause).split("\n")[0]})`}`))
})

/** Replaces the default logger with `tourLogger`. */
export const tourLoggerLayer = Logger.replace(Logger.defaultLogger, tourLogger)
