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
import { type Pull, withLeftovers } from "../../internal/Peel.js"
import * as Timeout from "../../internal/Timeout.js"
import type { IdleTimeout, StreamPart } from "../Provider.js"
import * as Body from "./Body.js"
import * as Encoding from "./Encoding.js"
import * as Errors from "./Errors.js"
import { type Decoder, type EventHandler, makeDecoder, type Step } from "./EventDecoder.js"

export type { EventHandler, Step } from "./EventDecoder.js"

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
          pullParts(
            body,
            makeDecoder(context, makeHandler, true),
            timed ? idleMs : undefined,
            timed ? undefined : idle,
            context
          )
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
  idle: IdleTimeout | undefined,
  context: Errors.ErrorContext
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
  // Without an idle timeout (a unary call read as a stream) the pull after the last event is timed too.
  const afterFinish: IdleTimeout = {
    duration: Duration.millis(
      Math.min(idle === undefined ? Infinity : Duration.toMillis(idle.duration), Body.maxDrainMs)
    ),
    onIdle: idle?.onIdle ?? (() => Errors.streamInterrupted("the body stayed open after the finish", context))
  }
  const timedPull = idle === undefined && idleMs !== undefined ? pull : Effect.catchAll(
    Effect.suspend(() =>
      decoder.lastSeen()
        ? Timeout.idleTimeout(pull, afterFinish)
        : idle === undefined
        ? pull
        : Timeout.idleTimeout(pull, idle)
    ),
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
