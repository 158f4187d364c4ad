/**
 * The one stream skeleton both protocols use: response bytes → `Stream.decodeText` → SSE events
 * (`Sse.ts`'s parser) → the protocol's per-event handler → `StreamPart`s, one chunk per network read.
 * It owns the end-of-body rule: the stream succeeds only after the provider's finish signal (the
 * `Finish` part comes last); a body that ends before it, or cannot be read to its end, is
 * `RetryableError` `stream_interrupted`. Helpers tell a cut event from an undecodable one.
 */
import type * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as Cause from "effect/Cause"
import * as Channel from "effect/Channel"
import * as Chunk from "effect/Chunk"
import { identity } from "effect/Function"
import * as Stream from "effect/Stream"
import type { LLMError } from "../../domain/Errors.js"
import type { FinishReason } from "../../domain/FinishReason.js"
import type { StreamPart } from "../Provider.js"
import * as Errors from "./Errors.js"
import * as Json from "./Json.js"
import * as Sse from "./Sse.js"

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
}

/**
 * Decodes a 200 SSE body with a fresh handler. `bytes` fails with an `LLMError` already (a body read
 * failure mapped to `stream_interrupted` by `fromResponse`). One channel step per network read: its
 * bytes are decoded as UTF-8 (as `Stream.decodeText` would), the text goes through the parser (a
 * linear scan) and each event through the handler, the parts of the read gathered in one array.
 * (Separate decodeText / mapError / events stages cost a short stream ~10% of its allocation.)
 */
export const decode = <R>(
  bytes: Stream.Stream<Uint8Array, LLMError, R>,
  context: Errors.ErrorContext,
  makeHandler: () => EventHandler
): Stream.Stream<StreamPart, LLMError, R> => decodeReading(bytes, context, makeHandler, identity)

/** `decode` over bytes whose read failures `onReadError` maps to an `LLMError`. */
const decodeReading = <E, R>(
  bytes: Stream.Stream<Uint8Array, E, R>,
  context: Errors.ErrorContext,
  makeHandler: () => EventHandler,
  onReadError: (error: E) => LLMError
): Stream.Stream<StreamPart, LLMError, R> =>
  Stream.suspend(() => {
    const handler = makeHandler()
    const parser = Sse.makeParser()
    const utf8 = new TextDecoder()
    type Decoder = Channel.Channel<Chunk.Chunk<StreamPart>, Chunk.Chunk<Uint8Array>, LLMError, E, unknown, unknown>
    const emit = (out: Array<StreamPart>, next: Decoder): Decoder =>
      out.length === 0 ? next : Channel.zipRight(Channel.write(Chunk.unsafeFromArray(out)), next)
    const finish = (reason: FinishReason): StreamPart => ({ _tag: "Finish", reason })
    /** Hands events to the handler; a channel to end with when one ends the stream. */
    const handle = (events: Array<Sse.SseEvent>, out: Array<StreamPart>): Decoder | undefined => {
      for (const event of events) {
        const step = handler.onEvent(event, out)
        if (step === undefined) continue
        if (step !== "finished") return emit(out, Channel.fail(step))
        out.push(finish(handler.finishReason() ?? "other"))
        return emit(out, Channel.void)
      }
      return undefined
    }
    const loop: Decoder = Channel.readWithCause({
      onInput: (input: Chunk.Chunk<Uint8Array>) => {
        const out: Array<StreamPart> = []
        for (const read of input) {
          const step = handle(parser.feed(utf8.decode(read, { stream: true })), out)
          if (step !== undefined) return step
        }
        return emit(out, loop)
      },
      onFailure: (cause) => Channel.failCause(Cause.map(cause, onReadError)),
      onDone: () => {
        const out: Array<StreamPart> = []
        const step = handle(parser.end(), out)
        if (step !== undefined) return step
        const error = handler.onEnd()
        if (error !== undefined) return emit(out, Channel.fail(error))
        const reason = handler.finishReason()
        if (reason === undefined) {
          return emit(
            out,
            Channel.fail(
              Errors.streamInterrupted("the stream ended before the provider's finish signal (truncated)", context)
            )
          )
        }
        out.push(finish(reason))
        return emit(out, Channel.void)
      }
    })
    return Stream.pipeThroughChannel(bytes, loop)
  })

/** Decodes a 200 response's body; a failure to read it (socket reset, "terminated") is `stream_interrupted`. */
export const fromResponse = (
  response: HttpClientResponse.HttpClientResponse,
  context: Errors.ErrorContext,
  makeHandler: () => EventHandler
): Stream.Stream<StreamPart, LLMError> =>
  decodeReading(
    response.stream,
    context,
    makeHandler,
    (error) => Errors.fromHttpClientError(error, context, "stream_interrupted")
  )

const fieldNames = ["data", "event", "id", "retry"]

/**
 * Whether text the end of the body closed was cut short rather than undecodable: the beginning of a
 * JSON text, or (one line, `unterminated`) an SSE field name cut before its colon (`da`).
 */
export const looksCut = (text: string, unterminated: boolean): boolean =>
  Json.isJsonPrefix(text) ||
  (unterminated && text.length > 0 && !text.includes("\n") && fieldNames.some((name) => name.startsWith(text)))

/**
 * An event whose data is not JSON: `stream_interrupted` when the end of the body cut it short
 * (a JSON beginning in an unterminated event), else `FatalError` `bad_response`.
 */
export const undecodable = (
  data: string,
  unterminated: boolean | undefined,
  context: Errors.ErrorContext
): LLMError =>
  unterminated === true && Json.isJsonPrefix(data)
    ? Errors.streamInterrupted("the stream ended in the middle of an event", context)
    : Errors.badResponse(`a stream event is not JSON: ${data}`, { ...context, status: 200 })

/** Raw text kept while waiting for it to form a JSON value; more is no JSON a server sends unframed. */
export const maxRawText = 64 * 1024

/**
 * Collects lines that are no SSE field (a JSON object a server sent without `data:` framing: Gemini's
 * error after the last event, a DashScope error body under a 200) until they parse as JSON.
 */
export interface RawJson {
  /**
   * Adds an event's raw lines; once the collected text parses, hands the value to `onJson` and
   * starts over. Fails with `bad_response` once the text passes `maxRawText`.
   */
  readonly add: (
    lines: ReadonlyArray<string>,
    unterminated: boolean | undefined,
    onJson: (json: unknown, text: string) => Step
  ) => Step
  /** At the end of the body: leftover text cut short is `stream_interrupted`, other text `bad_response`. */
  readonly end: () => LLMError | undefined
}

/** A fresh `RawJson` collector. */
export const rawJson = (context: Errors.ErrorContext): RawJson => {
  let text = ""
  let unterminated = false
  return {
    add: (lines, lastUnterminated, onJson) => {
      text += (text.length > 0 ? "\n" : "") + lines.join("\n")
      unterminated = lastUnterminated === true
      if (text.length > maxRawText) {
        return Errors.badResponse(`the stream holds text that is not an event: ${text}`, { ...context, status: 200 })
      }
      const json = Json.parse(text)
      if (json === undefined) return undefined
      const whole = text
      text = ""
      return onJson(json, whole)
    },
    end: () => {
      const left = text.trim()
      if (left.length === 0) return undefined
      return looksCut(left, unterminated)
        ? Errors.streamInterrupted("the stream ended in the middle of an event", context)
        : Errors.badResponse(`the stream ended with text that is not an event: ${left}`, { ...context, status: 200 })
    }
  }
}
