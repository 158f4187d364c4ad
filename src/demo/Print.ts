/**
 * Output of the tour: an `Out` that prints headings, aligned key/value blocks and tables for humans
 * (`human`) or prints nothing (`silent`, under `--json`), money and token formatting, and a logger
 * that keeps the library's own log lines (retries at Debug, breaker transitions at Warning) as facts
 * and, for humans, shows them as indented notes. Colour only on a TTY without a non-empty `NO_COLOR`.
 */
import * as Cause from "effect/Cause"
import * as HashMap from "effect/HashMap"
import * as Logger from "effect/Logger"
import type * as LogLevel from "effect/LogLevel"
import { stdoutColoured } from "../internal/Colour.js"

const colour = stdoutColoured()
const paint = (code: string) => (text: string): string => (colour ? `\x1b[${code}m${text}\x1b[0m` : text)

/** Text styles (no-ops when colour is off). */
export const style = {
  bold: paint("1"),
  dim: paint("2"),
  green: paint("32"),
  red: paint("31")
}

/** Where the tour writes its prose: the console for humans, nowhere under `--json`. */
export interface Out {
  /** Prints a line. */
  readonly line: (text?: string) => void
  /** Prints an indented note. */
  readonly note: (text: string) => void
  /** Prints a step heading: `── 3. name — title ─────`. */
  readonly heading: (index: number, name: string, title: string) => void
  /** Prints `key  value` pairs with the keys aligned. */
  readonly keyValues: (pairs: ReadonlyArray<readonly [string, string]>) => void
  /** Prints a table with a header row; numeric-looking cells are right-aligned. */
  readonly table: (header: ReadonlyArray<string>, rows: ReadonlyArray<ReadonlyArray<string>>) => void
  /** Writes text as it is (streamed deltas). */
  readonly write: (text: string) => void
}

const render = (header: ReadonlyArray<string>, rows: ReadonlyArray<ReadonlyArray<string>>): Array<string> => {
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => (row[column] ?? "").length)))
  const numeric = header.map((_, column) =>
    rows.length > 0 && rows.every((row) => /^[-+$\d.,%]*\d[\d.,%smx]*$/.test(row[column] ?? ""))
  )
  const cells = (row: ReadonlyArray<string>) =>
    row.map((cell, column) => (numeric[column] ? cell.padStart(widths[column]!) : cell.padEnd(widths[column]!)))
      .join("  ").trimEnd()
  return [`   ${style.dim(cells(header))}`, ...rows.map((row) => `   ${cells(row)}`)]
}

/** The console. */
export const human: Out = {
  line: (text = "") => console.log(text),
  note: (text) => console.log(`   ${text}`),
  heading: (index, name, title) => {
    const text = `── ${index}. ${name} — ${title} `
    console.log()
    console.log(style.bold(text + "─".repeat(Math.max(3, 78 - text.length))))
  },
  keyValues: (pairs) => {
    const width = Math.max(...pairs.map(([key]) => key.length))
    for (const [key, value] of pairs) console.log(`   ${style.dim(key.padEnd(width))}  ${value}`)
  },
  table: (header, rows) => {
    for (const text of render(header, rows)) console.log(text)
  },
  write: (text) => void process.stdout.write(text)
}

/** Prints nothing (`--json`: stdout carries only the JSON lines). */
export const silent: Out = {
  line: () => {},
  note: () => {},
  heading: () => {},
  keyValues: () => {},
  table: () => {},
  write: () => {}
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

/** One library log line, as a fact: its level label (`DEBUG`, `WARN`, …), message and plain annotations. */
export interface LogFact {
  readonly level: string
  readonly message: string
  readonly annotations: Readonly<Record<string, string | number | boolean>>
}

const marks: Partial<Record<LogLevel.LogLevel["_tag"], string>> = { Warning: "!", Error: "✗", Fatal: "✗" }

/**
 * A logger that hands every line to `sink` and prints it on `out` as `   · message` (`!` for a
 * warning, `✗` for an error), so retries and breaker transitions appear where they happen.
 */
export const tourLogger = (out: Out, sink: (fact: LogFact) => void): Logger.Logger<unknown, void> =>
  Logger.make(({ annotations, cause, logLevel, message }) => {
    const text = (Array.isArray(message) ? message : [message]).map(String).join(" ")
    // @effect/sql's migrator says each step of opening the tour's fresh ledger at Debug: not the library's story
    if (logLevel._tag === "Debug" && (text === "Running migration" || text === "Migrations complete")) return
    const plain: Record<string, string | number | boolean> = {}
    for (const [key, value] of HashMap.toEntries(annotations)) {
      if (typeof value === "string" || typeof value === "number" || typeof value === "boolean") plain[key] = value
    }
    sink({ level: logLevel.label, message: text, annotations: plain })
    const mark = marks[logLevel._tag] ?? "·"
    out.note(style.dim(`${mark} ${text}${Cause.isEmpty(cause) ? "" : ` (${Cause.pretty(cause).split("\n")[0]})`}`))
  })
