/**
 * One stream's decoding, read by read: bytes → UTF-8 text → SSE events (`Sse.ts`'s parser) → the
 * protocol's per-event handler → `StreamPart`s. The handler's interface (`EventHandler`) is here too;
 * `EventStream.ts` runs a decoder over a body.
 */
import type { LLMError } from "../../domain/Errors.js"
import type { FinishReason } from "../../domain/FinishReason.js"
import { isDeltaPart, type StreamPart } from "../Provider.js"
import * as Errors from "./Errors.js"
import * as Sse from "./Sse.js"
import * as Utf8 from "./Utf8.js"
/** What a handler says after an event: go on (`undefined`), fail with an error, or end as `finished`. */
export type Step = LLMError | "finished" | undefined

/** A protocol's decoder of one stream's events (stateful: one per stream). */
export interface EventHandler {
  /**
   * Decodes one SSE event, pushing its parts to `out` (they are emitted before any failure).
   * `"finished"` ends the stream there, successfully: the provider ended it in a way that is a finish.
   */
  readonly onEvent: (event: Sse.SseEvent, out: Array<StreamPart>) => Step
  /** The body ended after its last event: an error that explains the end better than a cut, if any. */
  readonly onEnd: () => LLMError | undefined
  /** The finish reason the provider signalled (the last one, when it sent several); `undefined` before it. */
  readonly finishReason: () => FinishReason | undefined
  /**
   * Whether a read failing now, after the finish reason (a reset, a body held open past the idle
   * timeout), ends the stream finished; `false`: it is still a cut, as what follows the finish reason
   * matters (OpenAI's usage chunk), or the reason may not be the last (old Gemini models mark every
   * chunk). Always, when absent.
   */
  readonly endsAtFinish?: () => boolean
  /**
   * Nothing follows the finish signal (native DashScope): a body held open after it is waited for a
   * second, not the idle time. Not Gemini's: a model may mark every chunk `STOP` with usage.
   */
  readonly lastAtFinish?: boolean
  /**
   * UTF-8 bytes of output received that no part carries yet: the fragments of tool calls emitted only
   * once whole, a refusal's text. A stream that ends before they are emitted was still billed for them.
   */
  readonly heldOutputBytes?: () => number
}

/**
 * The decoding of one stream's reads: each read is decoded as UTF-8 (as `Stream.decodeText` would),
 * the text goes through the SSE parser (a linear scan) and each event through the handler, the parts
 * pushed onto `out`. A read or the body's end returns how the stream ended, once it has.
 *
 * With `firstDeltaAlone`, the event that carries the stream's first delta ends its read's handling:
 * the events after it wait (`waiting`) until `resume`, so the caller gets its first token without
 * waiting for the rest of that read to be decoded (a fast provider's first read can hold the whole
 * answer: the bench's 20-event streams arrive in one).
 */
export interface Decoder {
  readonly read: (bytes: Uint8Array, out: Array<StreamPart>) => Step
  /** Events held back after the first delta remain. */
  readonly waiting: () => boolean
  /** Hands the held-back events to the handler. */
  readonly resume: (out: Array<StreamPart>) => Step
  readonly end: (out: Array<StreamPart>) => LLMError | "finished"
  /** The provider's finish signal has been read (a read failing after it ends the stream, not cuts it). */
  readonly finishSeen: () => boolean
  /** The finish signal has been read and nothing after it matters (`EventHandler.lastAtFinish`). */
  readonly lastSeen: () => boolean
  /** Whether events came since the last call (after every read): activity, even those that gave no part. */
  readonly quietActivity: () => boolean
  /**
   * The parts of the held-back events and of `reads` (bytes received but not read), for a stream
   * whose consumer stopped: every complete event, up to one that ends the stream. The decoder is done.
   */
  readonly unpulled: (reads: ReadonlyArray<Uint8Array>) => Array<StreamPart>
  /** The handler's `heldOutputBytes` (0 without one). */
  readonly heldOutputBytes: () => number
}

/**
 * An event with data (an Anthropic `ping` too) is activity for the idle timeout (API.md §4); keep-alives
 * are not, whatever their form — comment lines (`: keep-alive`, WIRE notes: they may come for minutes),
 * an empty `data:`, an `event:` or `id:` alone, raw lines after the first event — so a stalled server
 * sending them still times out.
 */
const isKeepAlive = (event: Sse.SseEvent): boolean => event.data === undefined || event.data.length === 0

/** Whether a part from `from` on in `out` is a delta. */
const hasDelta = (out: Array<StreamPart>, from: number): boolean => {
  for (let i = from; i < out.length; i++) if (isDeltaPart(out[i]!)) return true
  return false
}

export const makeDecoder = (
  context: Errors.ErrorContext,
  makeHandler: () => EventHandler,
  firstDeltaAlone: boolean
): Decoder => {
  const handler = makeHandler()
  const parser = Sse.makeParser()
  const utf8 = Utf8.makeReader()
  // Events (not keep-alives) handed to the handler, and how many the last `quietActivity` saw.
  let eventsHandled = 0
  let eventsSeen = 0
  // Until the first delta: held-back events, from `heldFrom` on.
  let delivered = !firstDeltaAlone
  let held: Array<Sse.SseEvent> | undefined
  let heldFrom = 0
  /**
   * The parser's events, or the failure of an event too large to read (past its bound, or V8's string
   * limit: a `RangeError`): the answer cannot be decoded, never a defect.
   */
  const parsed = (parse: () => Array<Sse.SseEvent>): Array<Sse.SseEvent> | LLMError => {
    try {
      return parse()
    } catch (cause) {
      if (!(cause instanceof RangeError)) throw cause
      return Errors.badResponse(`an event too large to read: ${String(cause)}`, context)
    }
  }
  /** Hands events to the handler, up to one that ends the stream (or, before any, the first delta). */
  const handle = (events: Array<Sse.SseEvent>, from: number, out: Array<StreamPart>): Step => {
    for (let i = from; i < events.length; i++) {
      const before = out.length
      const event = events[i]!
      if (!isKeepAlive(event)) eventsHandled++
      const step = handler.onEvent(event, out)
      if (step !== undefined) {
        if (step === "finished") out.push({ _tag: "Finish", reason: handler.finishReason() ?? "other" })
        return step
      }
      if (!delivered && hasDelta(out, before)) {
        delivered = true
        if (i + 1 < events.length) {
          held = events
          heldFrom = i + 1
        }
        return undefined
      }
    }
    return undefined
  }
  const resume = (out: Array<StreamPart>): Step => {
    const events = held
    if (events === undefined) return undefined
    held = undefined
    return handle(events, heldFrom, out)
  }
  return {
    read: (bytes, out) => {
      const events = parsed(() => parser.feed(utf8.read(bytes)))
      if (!Array.isArray(events)) return events
      if (held === undefined) return handle(events, 0, out)
      // (A later read of the same batch, after the first delta: behind the held-back events.)
      for (const event of events) held.push(event)
      return undefined
    },
    waiting: () => held !== undefined,
    resume,
    finishSeen: () => handler.finishReason() !== undefined && (handler.endsAtFinish?.() ?? true),
    lastSeen: () => handler.lastAtFinish === true && handler.finishReason() !== undefined,
    quietActivity: () => {
      if (eventsHandled === eventsSeen) return false
      eventsSeen = eventsHandled
      return true
    },
    end: (out) => {
      // (The end's events may hold the first delta, and hold back what follows it.)
      // (A character the body's end cut short is U+FFFD, before the parser's last event.)
      const cut = utf8.end()
      let step = resume(out)
      if (step === undefined) {
        const events = parsed(() => cut.length > 0 ? [...parser.feed(cut), ...parser.end()] : parser.end())
        step = Array.isArray(events) ? handle(events, 0, out) ?? resume(out) : events
      }
      if (step !== undefined) return step
      const error = handler.onEnd()
      if (error !== undefined) return error
      const reason = handler.finishReason()
      if (reason === undefined) {
        return Errors.streamInterrupted("the stream ended before the provider's finish signal (truncated)", context)
      }
      out.push({ _tag: "Finish", reason })
      return "finished"
    },
    heldOutputBytes: () => handler.heldOutputBytes?.() ?? 0,
    unpulled: (reads) => {
      const out: Array<StreamPart> = []
      // (no first delta held back any more: every event is decoded)
      delivered = true
      if (resume(out) !== undefined) return out
      for (const bytes of reads) {
        const events = parsed(() => parser.feed(utf8.read(bytes)))
        if (!Array.isArray(events) || handle(events, 0, out) !== undefined) return out
      }
      return out
    }
  }
}
