/**
 * An incremental Server-Sent-Events parser, linear in the bytes received: each input chunk is scanned
 * once, and only an unfinished last line is carried over (as parts, joined once it completes).
 * Unlike a spec-strict parser it keeps what the providers need: `event:` names, comment lines
 * (DashScope's `:HTTP_STATUS/400`), and lines that are not SSE fields at all (Gemini appends a raw
 * multi-line `{"error":…}` object to a broken stream). `EventStream.ts` feeds it the text of each
 * network read; STYLE.md says why not `@effect/experimental/Sse` (it rescans its buffer per line).
 */

/** One dispatched event. `data` joins the `data:` lines with `\n`; `raw` holds non-field lines. */
export interface SseEvent {
  readonly event: string | undefined
  readonly id: string | undefined
  readonly data: string | undefined
  readonly comments: ReadonlyArray<string>
  readonly raw: ReadonlyArray<string>
  /**
   * Set on the event that the end of input closed rather than a blank line: it may be whole (some
   * servers omit the last blank line) or cut short, which only its content can tell.
   */
  readonly unterminated?: true
}

/** A stateful parser: `feed` text as it arrives, `end` at end of input; both return completed events. */
export interface SseParser {
  readonly feed: (text: string) => Array<SseEvent>
  readonly end: () => Array<SseEvent>
}

/** Shared by every event without comments or non-field lines (most events): no array per event. */
const none: ReadonlyArray<string> = Object.freeze([])

/**
 * The longest event, in characters (64 Mi, the bound of a body read whole): a server that never ends
 * its event would otherwise grow it to V8's string limit (~512 MiB) before anything fails.
 */
export const maxEventChars = 64 * 1024 * 1024

/** Whether the field name of the line `source[from, fieldEnd)` is `name` (no slice for it). */
const fieldIs = (source: string, from: number, fieldEnd: number, name: string) =>
  fieldEnd - from === name.length && source.startsWith(name, from)

/**
 * The parser's state and steps as a class: its methods are one function each for every parser, so
 * code V8 optimized while one stream was read (calls inlined by their target) stays valid for the
 * next stream's parser. As closures made per parser, every call between them named another function
 * on each stream, and the second stream of a process threw the first one's optimized code away
 * ("wrong call target") and paid for optimizing it again.
 */
class Parser implements SseParser {
  private pending: Array<string> = []
  private pendingChars = 0
  // the characters of the lines of the event being read (checked once per `feed`, not per line)
  private eventChars = 0
  private skipLeadingLf = false
  private atStart = true
  private event: string | undefined = undefined
  private id: string | undefined = undefined
  // The first `data:` line, and the further ones of a multi-line event (rare).
  private data: string | undefined = undefined
  private moreData: Array<string> | undefined = undefined
  private comments: Array<string> | undefined = undefined
  private raw: Array<string> | undefined = undefined
  private out: Array<SseEvent> = []

  constructor(private readonly maxChars: number) {}

  private dispatch(unterminated = false): void {
    const data = this.data
    if (data !== undefined || this.raw !== undefined || this.event !== undefined || this.comments !== undefined) {
      const moreData = this.moreData
      const dispatched: SseEvent = {
        event: this.event,
        id: this.id,
        data: moreData === undefined ? data : `${data}\n${moreData.join("\n")}`,
        comments: this.comments ?? none,
        raw: this.raw ?? none
      }
      this.out.push(unterminated ? { ...dispatched, unterminated } : dispatched)
    }
    this.event = undefined
    this.eventChars = 0
    this.data = undefined
    this.moreData = undefined
    this.comments = undefined
    this.raw = undefined
  }

  /**
   * One line, `source[from, to)`, its first colon at `colon` (-1: none): taken by indices, so a
   * `data:` line costs one string (its value), not the line, its field name and its value.
   */
  private line(source: string, from: number, to: number, colon: number): void {
    if (to === from) return this.dispatch()
    this.eventChars += to - from
    if (colon === from) {
      ;(this.comments ??= []).push(source.slice(from + 1, to))
      return
    }
    const fieldEnd = colon < 0 ? to : colon
    // (past a line's end is its line break or nothing: never a space)
    const valueStart = colon < 0 ? to : source.charCodeAt(colon + 1) === 32 ? colon + 2 : colon + 1
    if (fieldIs(source, from, fieldEnd, "data")) {
      const value = source.slice(valueStart, to)
      if (this.data === undefined) this.data = value
      else (this.moreData ??= []).push(value)
    } else if (fieldIs(source, from, fieldEnd, "event")) {
      // Some captures omit the blank line between events: a new header after data starts a new event.
      if (this.data !== undefined) this.dispatch()
      this.event = source.slice(valueStart, to)
    } else if (fieldIs(source, from, fieldEnd, "id")) {
      if (this.data !== undefined) this.dispatch()
      this.id = source.slice(valueStart, to)
    } else if (!fieldIs(source, from, fieldEnd, "retry")) {
      ;(this.raw ??= []).push(source.slice(from, to))
    }
  }

  /** A whole line given as its own string (one that spanned reads, or the end's). */
  private wholeLine(text: string): void {
    this.line(text, 0, text.length, text.indexOf(":"))
  }

  feed(input: string): Array<SseEvent> {
    let text = input
    if (this.atStart && text.length > 0) {
      this.atStart = false
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1)
    }
    let start = 0
    if (this.skipLeadingLf && text.length > 0) {
      this.skipLeadingLf = false
      if (text.charCodeAt(0) === 10) start = 1
    }
    const length = text.length
    // Line ends and colons are found with indexOf (native scanning), each position remembered until
    // it is passed: -2 not searched yet, -1 none left in this input. Linear in the input.
    let cr = -2
    let lf = -2
    let colonAt = -2
    while (start < length) {
      if (cr !== -1 && cr < start) cr = text.indexOf("\r", start)
      if (lf !== -1 && lf < start) lf = text.indexOf("\n", start)
      const end = cr === -1 ? lf : lf === -1 ? cr : cr < lf ? cr : lf
      if (end === -1) break
      if (this.pending.length > 0) {
        this.pending.push(text.slice(start, end))
        const joined = this.pending.join("")
        this.pending = []
        this.pendingChars = 0
        this.wholeLine(joined)
      } else {
        if (colonAt !== -1 && colonAt < start) colonAt = text.indexOf(":", start)
        this.line(text, start, end, colonAt !== -1 && colonAt < end ? colonAt : -1)
      }
      start = end + 1
      if (end === cr) {
        if (start < length) {
          if (text.charCodeAt(start) === 10) start++
        } else {
          this.skipLeadingLf = true
        }
      }
    }
    if (start < length) {
      this.pending.push(text.slice(start))
      this.pendingChars += length - start
    }
    if (this.eventChars + this.pendingChars > this.maxChars) {
      throw new RangeError(`an event longer than ${this.maxChars} characters (its end not yet received)`)
    }
    const events = this.out
    this.out = []
    return events
  }

  end(): Array<SseEvent> {
    if (this.pending.length > 0) {
      this.wholeLine(this.pending.join(""))
      this.pending = []
      this.pendingChars = 0
    }
    this.dispatch(true)
    const events = this.out
    this.out = []
    return events
  }
}

/**
 * Creates a parser accepting `\r\n`, `\n` and `\r` line ends (and so `\r\n\r\n`, `\n\n`, `\r\r` event
 * ends). `feed` throws a `RangeError` once the event it is in passes `maxChars`.
 */
export const makeParser = (maxChars: number = maxEventChars): SseParser => new Parser(maxChars)

/** Parses a whole body at once (an error body). */
export const parseAll = (text: string): Array<SseEvent> => {
  const parser = makeParser()
  return [...parser.feed(text), ...parser.end()]
}

const httpStatusComment = /^\s*HTTP_STATUS\/(\d{3})/

/**
 * The status a `:HTTP_STATUS/NNN` comment of an SSE event announces (DashScope's error frames, also
 * through its OpenAI-compatible mode).
 */
export const commentStatus = (comments: ReadonlyArray<string>): number | undefined => {
  for (const comment of comments) {
    const match = httpStatusComment.exec(comment)
    if (match !== null) return Number(match[1])
  }
  return undefined
}
