/**
 * `--since` / `--until`: an ISO 8601 date or date-time, read as UTC when it names no zone, as the help
 * says (`Options.date` reads a date-time without a zone in the machine's local time: under
 * `TZ=America/New_York`, `2025-01-31T10:00` was 15:00 UTC).
 */
import * as HelpDoc from "@effect/cli/HelpDoc"
import * as Options from "@effect/cli/Options"
import * as ValidationError from "@effect/cli/ValidationError"
import * as Effect from "effect/Effect"

const dateTime = /^(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)(Z|[+-]\d{2}:?\d{2})?$/i
const dateOnly = /^\d{4}-\d{2}(?:-\d{2})?$/

/**
 * Whether `YYYY-MM` or `YYYY-MM-DD` names a real month or day (`new Date` rolls 2025-02-30 over to
 * 2 March instead of refusing it).
 */
const isCalendarDate = (date: string): boolean => {
  const [year, month, day] = date.split("-").map(Number) as [number, number, number | undefined]
  if (month < 1 || month > 12) return false
  if (day === undefined) return true
  const utc = new Date(Date.UTC(year, month - 1, day))
  return utc.getUTCMonth() === month - 1 && utc.getUTCDate() === day
}

/** The instant `text` names, a zone-less date-time taken as UTC; undefined when it is not ISO 8601. */
export const parseUtcDate = (text: string): Date | undefined => {
  const trimmed = text.trim()
  const match = dateTime.exec(trimmed)
  const day = match !== null ? match[1]! : dateOnly.test(trimmed) ? trimmed : undefined
  if (day === undefined || !isCalendarDate(day)) return undefined
  // a date alone is UTC midnight in ECMAScript already
  const iso = match !== null ? `${day}T${match[2]}${match[3]?.toUpperCase() ?? "Z"}` : day
  const date = new Date(iso)
  if (Number.isNaN(date.getTime())) return undefined
  // `Date` keeps milliseconds and drops finer digits; ledger timestamps are whole ms, so the instant
  // is rounded up: `--until …:59.9999` still takes a row stamped at .999, `--since` the same leaves it out
  const finer = /\.\d{3}(\d+)/.exec(match?.[2] ?? "")?.[1]
  return finer !== undefined && /[1-9]/.test(finer) ? new Date(date.getTime() + 1) : date
}

/** An option holding a `parseUtcDate` date; anything else is refused with the option's name. */
export const utcDate = (name: string): Options.Options<Date> =>
  Options.text(name).pipe(
    Options.mapEffect((text) => {
      const date = parseUtcDate(text)
      return date !== undefined ? Effect.succeed(date) : Effect.fail(ValidationError.invalidValue(HelpDoc.p(
        `--${name}: expected an ISO 8601 date or date-time (UTC unless it names a zone, e.g. 2025-01-31 or 2025-01-31T10:00), got '${text}'`
      )))
    })
  )
