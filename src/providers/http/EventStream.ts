/**
 * The one stream skeleton every protocol uses: response bytes → UTF-8 text → SSE events (`Sse.ts`'s
 * parser) → the protocol's per-event handler → `StreamPart`s, one chunk per network read.
 * It owns the end-of-body rule: the stream succeeds only after the provider's finish signal (the
 * `Finish` part comes last); a body that ends before it, or cannot be read to its end, is
 * `RetryableError` `stream_interrupted`. (`EventText.ts` tells a cut event from an undecodable one.)
 */
import type * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as Cause from "effect/Cause"
import * as Channel from "effect/Channel"
import * as Chunk from "effect/Chunk"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type { LLMError } from "../../domain/Errors.js"
import type { FinishReason } from "../../domain/FinishReason.js"
import { type Pull, withLeftovers } from "../../internal/Peel.js"
import * as Timeout from "../../internal/Timeout.js"
import { type IdleTimeout, isDeltaPart, type StreamPart } from "../Provider.js"
import * as Body from "./Body.js"
import * as Encoding from "./Encoding.js"
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
interface Decoder {
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

const makeDecoder = (
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

/**
 * Decodes a 200 SSE body with a fresh handler. `bytes` fails with an `LLMError` already (a body read
 * failure mapped to `stream_interrupted` by `readErrors`). One channel step per network read, the
 * parts of the read gathered in one array (separate decodeText / mapError / events stages cost a
 * short stream ~10% of its allocation).
 */
export const decode = <R>(
  bytes: Stream.Stream<Uint8Array, LLMError, R>,
  context: Errors.ErrorContext,
  makeHandler: () => EventHandler
): Stream.Stream<StreamPart, LLMError, R> =>
  Stream.suspend(() => {
    const decoder = makeDecoder(context, makeHandler, false)
    type Decoding = Channel.Channel<
      Chunk.Chunk<StreamPart>,
      Chunk.Chunk<Uint8Array>,
      LLMError,
      LLMError,
      unknown,
      unknown
    >
    /** The parts of a read (an empty chunk for quiet activity: the next pull's idle time starts afresh), then the end it reached. */
    const emit = (out: Array<StreamPart>, next: Decoding): Decoding =>
      !decoder.quietActivity() && out.length === 0
        ? next
        : Channel.zipRight(Channel.write(Chunk.unsafeFromArray(out)), next)
    const ending = (step: LLMError | "finished"): Decoding => step === "finished" ? Channel.void : Channel.fail(step)
    const loop: Decoding = Channel.readWithCause({
      onInput: (input: Chunk.Chunk<Uint8Array>) => {
        const out: Array<StreamPart> = []
        for (const read of input) {
          const step = decoder.read(read, out)
          if (step !== undefined) return emit(out, ending(step))
        }
        return emit(out, loop)
      },
      // a read failing after the finish signal (a reset) ends the stream there; this path's idle timeout
      // times the whole pull from outside (`openPull`), so a body held open after it still fails
      onFailure: (cause) => {
        if (!decoder.finishSeen() || Option.isNone(Cause.failureOption(cause))) return Channel.failCause(cause)
        const out: Array<StreamPart> = []
        return emit(out, ending(decoder.end(out)))
      },
      onDone: () => {
        const out: Array<StreamPart> = []
        return emit(out, ending(decoder.end(out)))
      }
    })
    return Stream.pipeThroughChannel(bytes, loop)
  })

/**
 * Opens a 200 response's body in `scope` as the pull of its parts (`Stream.toPull` of
 * `decode` over the body), each pull failed with `idle.onIdle()` when it waits longer than
 * `idle.duration`; a body read failure (socket reset, "terminated") is `stream_interrupted`. A Node
 * stream body (`@effect/platform-node`'s clients) is read without a Stream (`Body.ts`); any other goes
 * through `decode`'s channel, whose one executor decodes every read (a pull per read over
 * `response.stream` measured 15–40% slower on 256-byte reads: bench/decode.ts).
 */
export const openPull = (
  response: HttpClientResponse.HttpClientResponse,
  context: Errors.ErrorContext,
  makeHandler: () => EventHandler,
  idle: IdleTimeout | undefined,
  scope: Scope.Scope
): Effect.Effect<Pull<StreamPart, LLMError>> =>
  Effect.withFiberRuntime((fiber) => {
    const idleMs = idle === undefined ? Number.POSITIVE_INFINITY : Duration.toMillis(idle.duration)
    // Under the live clock a Node body's reads keep the idle time themselves; under another clock
    // (TestClock), or over another body, the pull is timed by `Timeout.idleTimeout`, driven by the clock.
    const timed = idle !== undefined && Timeout.isLiveClock(fiber) && idleMs <= Timeout.maxTimerMs
    const readable = Encoding.decodedNodeStream(response)
    const opened: Effect.Effect<Pull<StreamPart, LLMError>> = readable === undefined
      ? Scope.extend(Stream.toPull(decode(readErrors(response, context), context, makeHandler)), scope)
      : Effect.map(
        Body.fromNodeStream(
          response,
          readable,
          context,
          timed ? { ms: idleMs, onIdle: idle.onIdle } : undefined,
          scope
        ),
        (body) =>
          pullParts(body, makeDecoder(context, makeHandler, true), timed ? idleMs : undefined, timed ? undefined : idle)
      )
    return readable !== undefined || idle === undefined
      ? opened
      : Effect.map(opened, (pull) => Timeout.idleTimeout(pull, idle))
  })

/** A 200 response's body as a stream of parts (read in the stream's own scope: a run that stops early closes it). */
export const fromResponse = (
  response: HttpClientResponse.HttpClientResponse,
  context: Errors.ErrorContext,
  makeHandler: () => EventHandler
): Stream.Stream<StreamPart, LLMError> =>
  Body.nodeStreamOf(response) === undefined
    ? decode(readErrors(response, context), context, makeHandler)
    : Stream.unwrapScoped(
      Effect.flatMap(
        Effect.scope,
        (scope) =>
          Effect.map(openPull(response, context, makeHandler, undefined, scope), Stream.repeatEffectChunkOption)
      )
    )

/** The body's bytes, a read failure `stream_interrupted`. */
const readErrors = (response: HttpClientResponse.HttpClientResponse, context: Errors.ErrorContext) =>
  Stream.mapError(response.stream, (error) => Errors.fromHttpClientError(error, context, "stream_interrupted"))

/** How long a read may wait: the idle time, after a last finish signal (`lastSeen`) `Body.maxDrainMs` at most. */
const idleAt = (decoder: Decoder, idleMs: number): number =>
  decoder.lastSeen() ? Math.min(idleMs, Body.maxDrainMs) : idleMs

/**
 * The pull of a body's parts, decoded read by read: a chunk holds the parts of one or more reads
 * (the first delta's chunk ends with it: the events after it come with the next pull); the pull
 * after the last one fails with how the stream ended (`Option.none()`: finished). With `idleMs`,
 * each pull's reads wait until `idleMs` after the pull began.
 */
const pullParts = (
  body: Body.Body,
  decoder: Decoder,
  idleMs: number | undefined,
  idle: IdleTimeout | undefined
): Pull<StreamPart, LLMError> => {
  let ended: LLMError | "finished" | undefined
  let deadline = Number.POSITIVE_INFINITY
  const end = (step: LLMError | "finished"): Pull<StreamPart, LLMError> =>
    Effect.fail(step === "finished" ? Option.none() : Option.some(step))
  /** The parts decoded, or (none) how the stream ended, or (neither) the next read. */
  const emit = (out: Array<StreamPart>, step: Step): Pull<StreamPart, LLMError> => {
    if (step !== undefined) ended = step
    if (ended === "finished") body.finished()
    const quiet = decoder.quietActivity()
    if (out.length > 0) return Effect.succeed(Chunk.unsafeFromArray(out))
    if (ended !== undefined) return end(ended)
    // Quiet activity ends the pull (an empty chunk): the next pull's idle time starts afresh.
    return quiet ? Effect.succeed(Chunk.empty()) : next
  }
  const decodeRead = (reads: Body.Read): Pull<StreamPart, LLMError> => {
    const out: Array<StreamPart> = []
    if (reads === undefined) return emit(out, decoder.end(out))
    for (const read of reads) {
      const step = decoder.read(read, out)
      if (step !== undefined) return emit(out, step)
    }
    return emit(out, undefined)
  }
  // After the provider's finish signal the stream has succeeded: a read that fails then (a reset, a
  // body held open past the idle timeout) ends it as the body's end would.
  const endAfterFinish: Pull<StreamPart, LLMError> = Effect.suspend(() => decodeRead(undefined))
  const next: Pull<StreamPart, LLMError> = Effect.matchEffect(Effect.suspend(() => body.read(deadline)), {
    onFailure: (error) => decoder.finishSeen() ? endAfterFinish : Effect.fail(Option.some(error)),
    onSuccess: decodeRead
  })
  const pull: Pull<StreamPart, LLMError> = Effect.suspend(() => {
    if (ended !== undefined) return end(ended)
    if (idleMs !== undefined) deadline = Timeout.liveNow() + idleAt(decoder, idleMs)
    if (decoder.waiting()) {
      const out: Array<StreamPart> = []
      return emit(out, decoder.resume(out))
    }
    return next
  })
  // Under another clock (TestClock) the pull is timed by it: its idle failure is a read's, as above.
  const afterFinish = idle === undefined
    ? undefined
    : { ...idle, duration: Duration.millis(Math.min(Duration.toMillis(idle.duration), Body.maxDrainMs)) }
  const timedPull = idle === undefined ? pull : Effect.catchAll(
    Effect.suspend(() => Timeout.idleTimeout(pull, decoder.lastSeen() ? afterFinish! : idle)),
    (error) => Option.isSome(error) && ended === undefined && decoder.finishSeen() ? endAfterFinish : Effect.fail(error)
  )
  // A stream that had not ended when its consumer stopped: what was received but not pulled (the rest
  // of the read its last pull stopped in, the body's buffer when its scope closed), once.
  let unpulledTaken = false
  return withLeftovers(timedPull, {
    unpulled: () => {
      if (ended !== undefined || unpulledTaken) return []
      unpulledTaken = true
      return decoder.unpulled(body.unread())
    },
    heldOutputBytes: decoder.heldOutputBytes
  })
}
