/**
 * Parsing of the servers' "wait this long" hints: the `Retry-After` header (delta-seconds or an
 * HTTP-date), the non-standard `retry-after-ms`, Gemini's `google.rpc.RetryInfo.retryDelay`, and the
 * OpenAI-style `x-ratelimit-reset-requests` / `-tokens` durations (`"6m0s"`, `"20ms"`).
 * Pure functions: the caller passes `now` (epoch ms, read from `Clock`).
 */
import * as Duration from "effect/Duration"

const seconds = /^\d+(?:\.\d+)?$/

/**
 * `Retry-After`: delta-seconds (`"120"`, also `"1.5"`) or an HTTP-date relative to `now`
 * (a date in the past is a zero wait). Anything else, or absent, is `undefined`.
 */
export const parseRetryAfter = (value: string | undefined, now: number): Duration.Duration | undefined =>
  value === undefined ? undefined : longestOf(value, (text) => {
    if (text.length === 0) return undefined
    if (seconds.test(text)) return Duration.millis(Math.round(Number(text) * 1000))
    // An HTTP-date names a month and a time ("Wed, 21 Oct 2015 07:28:00 GMT"); `Date.parse` alone
    // would accept numbers such as "-5" as years, and "soon, 5" or "Dec 2026" as some date.
    if (!httpDateShape.test(text)) return undefined
    const at = parseUtcDate(text)
    return at === undefined ? undefined : Duration.millis(Math.max(0, at - now))
  })

const httpDateShape = /[a-z]{3}.*\b\d{1,2}:\d{2}:\d{2}\b/i
const zoned = /(?:\b(?:GMT|UTC|UT|[ECMP][SD]T)|\dZ|[+-]\d{2}:?\d{2})$/i
const isoDateTime = /^\d{4}-\d{2}-\d{2}T[\d:.]+$/

/**
 * Epoch ms of a date a server sends, which is always UTC: an HTTP-date's asctime form
 * (`Sun Nov  6 08:49:37 1994`) and an ISO date-time without an offset carry no zone, and
 * `Date.parse` would read them in the process's local time (hours off, or a zero wait).
 */
export const parseUtcDate = (text: string): number | undefined => {
  const at = Date.parse(zoned.test(text) ? text : isoDateTime.test(text) ? `${text}Z` : `${text} GMT`)
  return Number.isNaN(at) ? undefined : at
}

/**
 * A header the server sent twice reaches us as one value joined with ", " (`@effect/platform`'s
 * `Headers`, as HTTP allows): the longest wait its values give. An HTTP-date holds a comma
 * itself, so a piece that does not parse alone is tried with the next.
 */
export const longestOf = (
  value: string,
  parse: (text: string) => Duration.Duration | undefined
): Duration.Duration | undefined => {
  const text = value.trim()
  const whole = parse(text)
  if (!text.includes(",")) return whole
  // `Date.parse` reads "<date>, 3600" as the date alone: the pieces are read too, the longest wins
  const pieces = text.split(",")
  let longest = whole
  for (let index = 0; index < pieces.length; index++) {
    let wait = parse(pieces[index]!.trim())
    if (wait === undefined && index + 1 < pieces.length) {
      wait = parse(`${pieces[index]},${pieces[index + 1]}`.trim())
      if (wait !== undefined) index++
    }
    if (wait !== undefined && (longest === undefined || Duration.greaterThan(wait, longest))) longest = wait
  }
  return longest
}

/** `retry-after-ms`: a non-negative number of milliseconds, else `undefined`. */
export const parseRetryAfterMs = (value: string | undefined): Duration.Duration | undefined =>
  value === undefined
    ? undefined
    : longestOf(value, (text) => seconds.test(text) ? Duration.millis(Number(text)) : undefined)

const protobufDuration = /^(\d+(?:\.\d+)?)s$/

/** Gemini `RetryInfo.retryDelay`, a protobuf Duration string: `"26s"`, `"34.4s"`, `"57.238747106s"`. */
export const parseRetryDelay = (value: unknown): Duration.Duration | undefined => {
  if (typeof value !== "string") return undefined
  const match = protobufDuration.exec(value.trim())
  return match === null ? undefined : Duration.millis(Math.round(Number(match[1]) * 1000))
}

/**
 * The hint in response headers (names lower-case, as `@effect/platform` `Headers` keeps them):
 * `retry-after-ms` first (the more precise), else `retry-after`.
 */
export const fromHeaders = (
  headers: Readonly<Record<string, string | undefined>>,
  now: number
): Duration.Duration | undefined =>
  // (Azure's services name it `x-ms-retry-after-ms`)
  parseRetryAfterMs(headers["retry-after-ms"] ?? headers["x-ms-retry-after-ms"]) ??
    parseRetryAfter(headers["retry-after"], now)

const resetDuration = /^(?:\d+(?:\.\d+)?(?:h|m|s|ms|us|µs|ns))+$/
const resetPart = /(\d+(?:\.\d+)?)(h|ms|m|s|us|µs|ns)/g
const unitMillis: Readonly<Record<string, number>> = {
  h: 3_600_000,
  m: 60_000,
  s: 1000,
  ms: 1,
  us: 0.001,
  "µs": 0.001,
  ns: 0.000001
}

/**
 * A Go-style duration as OpenAI and Groq send in `x-ratelimit-reset-*` (WIRE-openai-anthropic §1.7):
 * a sequence of `<number><unit>` with units `h`, `m`, `s`, `ms`, `us`/`µs`, `ns`, fractions allowed
 * (`"6m0s"`, `"1s"`, `"20ms"`, `"2m59.56s"`, `"0s"`), rounded up to whole milliseconds (a wait never
 * ends before the reset). Anything else (`"-1"`, `"1.5"` without a unit, `"soon"`) is `undefined`.
 */
export const parseResetDuration = (value: string | undefined): Duration.Duration | undefined =>
  value === undefined ? undefined : longestOf(value, (text) => {
    if (!resetDuration.test(text)) return undefined
    let total = 0
    for (const match of text.matchAll(resetPart)) total += Number(match[1]) * unitMillis[match[2]!]!
    return Duration.millis(Math.ceil(Math.round(total * 1e6) / 1e6))
  })

/** Which rate limit a 429 names: OpenAI's error `type` is the exhausted dimension (`requests` / `tokens`). */
export type RateLimitDimension = "requests" | "tokens"

/** One window's reset hint: which dimension, when it refills, and whether the response says it is spent. */
interface ResetWindow {
  readonly dimension: RateLimitDimension
  readonly reset: Duration.Duration
  readonly spent: boolean
}

/** Cerebras' per-window names (`-tokens-minute`, `-requests-day`; its docs: "Time (in seconds) until …"). */
const windowedReset = /^x-ratelimit-reset-(requests|tokens)-(minute|hour|day)$/

const plainSeconds = /^\d+(?:\.\d+)?$/

/** A windowed reset: plain seconds (Cerebras), or a Go-style duration. */
const parseWindowedReset = (value: string | undefined): Duration.Duration | undefined =>
  value === undefined ?
    undefined :
    longestOf(value, (text) =>
      plainSeconds.test(text) ? Duration.millis(Math.ceil(Number(text) * 1000)) : parseResetDuration(text))

/** Every reset window the headers give: OpenAI's and Groq's two, else Cerebras' per-window ones. */
const resetWindows = (headers: Readonly<Record<string, string | undefined>>): ReadonlyArray<ResetWindow> => {
  const windows: Array<ResetWindow> = []
  // (a header sent twice arrives joined: "0, 0")
  const spent = (name: string) =>
    headers[name.replace("-reset-", "-remaining-")]?.split(",").some((value) => value.trim() === "0") === true
  for (const dimension of ["requests", "tokens"] as const) {
    const name = `x-ratelimit-reset-${dimension}`
    const reset = parseResetDuration(headers[name])
    if (reset !== undefined) windows.push({ dimension, reset, spent: spent(name) })
  }
  if (windows.length > 0) return windows
  for (const name of Object.keys(headers)) {
    const match = windowedReset.exec(name)
    const reset = match === null ? undefined : parseWindowedReset(headers[name])
    if (reset !== undefined) windows.push({ dimension: match![1] as RateLimitDimension, reset, spent: spent(name) })
  }
  return windows
}

const longest = (windows: ReadonlyArray<ResetWindow>): Duration.Duration =>
  windows.map((window) => window.reset).reduce((a, b) => Duration.max(a, b))
const soonest = (windows: ReadonlyArray<ResetWindow>): Duration.Duration =>
  windows.map((window) => window.reset).reduce((a, b) => Duration.min(a, b))

/**
 * The reset hint of `x-ratelimit-reset-requests` / `-tokens` (Cerebras: `-requests-day`,
 * `-tokens-minute`, in seconds), a fallback for a 429 without `retry-after(-ms)`: the dimension the
 * error names, else the windows whose `x-ratelimit-remaining-*` is 0 (the longest of them), else the
 * soonest (the others may be far off and not the one that refused). These are times until the window
 * is full again, so the hint errs long, never short.
 */
export const fromRateLimitReset = (
  headers: Readonly<Record<string, string | undefined>>,
  dimension?: RateLimitDimension | undefined
): Duration.Duration | undefined => {
  const windows = resetWindows(headers)
  if (windows.length === 0) return undefined
  const named = windows.filter((window) => window.dimension === dimension)
  const candidates = named.length > 0 ? named : windows
  const spent = candidates.filter((window) => window.spent)
  return spent.length > 0 ? longest(spent) : named.length > 0 ? longest(named) : soonest(windows)
}
