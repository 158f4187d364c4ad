/**
 * Chat Completions SSE streams (WIRE-openai-anthropic §1.5, §1.8) as `StreamPart`s, over the shared
 * skeleton: each `data:` event is a chunk (reasoning and text deltas, tool-call fragments assembled by
 * `index` and emitted whole at the `finish_reason`, a refusal that makes a `stop` a `filter`, the ids,
 * a usage snapshot from whichever chunk carries one — the `choices: []` chunk, DeepSeek's and Groq's
 * finish chunk, OpenRouter's trailing one — and the last `finish_reason`); comments (`: keep-alive`, `:
 * OPENROUTER PROCESSING`) are skipped; an error object (`data: {"error":…}`, `event: error`, an
 * OpenRouter chunk with `error`) fails with its classification, except content moderation after text
 * (OpenAI's `content_filter`, Ark's `OutputTextRiskDetection`, DashScope's `DataInspectionFailed`):
 * that is the answer's end, a `filter` finish. The finish signal is `data: [DONE]`,
 * or the body's clean end after a `finish_reason` (services that omit `[DONE]`; the usage chunk may
 * then be missing); a body that ends before either, inside an event, or by a connection reset (even
 * after a `finish_reason`) is `stream_interrupted`. A 200 whose body is one unframed JSON value is
 * read as one event.
 */
import type * as Stream from "effect/Stream"
import type { LLMError } from "../../domain/Errors.js"
import type { FinishReason } from "../../domain/FinishReason.js"
import * as Errors from "../http/Errors.js"
import * as EventStream from "../http/EventStream.js"
import * as EventText from "../http/EventText.js"
import * as Json from "../http/Json.js"
import * as Sse from "../http/Sse.js"
import * as Tools from "../http/Tools.js"
import type { StreamPart } from "../Provider.js"
import { metadataKey } from "./Content.js"
import { classifyInBand, isErrorPayload } from "./Errors.js"
import {
  billedOf,
  contentOf,
  finishOf,
  isCompletion,
  looksLikeCompletion,
  modelVersionOf,
  reasoningOf,
  refusalOf,
  reportedUsage,
  requestIdOf,
  toolCallsOf,
  usageOf
} from "./Response.js"

/** The JSON object of an `error: {…}` line among an event's lines that are no SSE field, if any. */
const errorFieldOf = (lines: ReadonlyArray<string>): { readonly json: unknown; readonly text: string } | undefined => {
  for (const line of lines) {
    const text = /^error:[ ]?(.*)$/.exec(line)?.[1]
    const json = text === undefined ? undefined : Json.parse(text)
    if (Json.isObject(json)) return { json, text: text! }
  }
  return undefined
}

/** The decoder of one stream's events; `headers` are the response's (`x-request-id`, the rate-limit headers). */
export const makeHandler = (
  headers: Readonly<Record<string, string | undefined>>,
  context: Errors.ClassifyContext
) =>
(): EventStream.EventHandler => {
  let finish: FinishReason | undefined
  let sawEvent = false
  // The ids last emitted as `Metadata` (every chunk repeats them: one part when they change).
  let announced = false
  let requestId: string | undefined
  let modelVersion: string | undefined
  // A refusal streamed (`delta.refusal`): a `stop` finish is then `filter`. Its text is output no
  // part carries: its bytes since the last usage report are `heldOutputBytes`.
  let refused = false
  let refusalBytes = 0
  // A text delta streamed: moderation after it ends the answer rather than failing it.
  let sawText = false
  // Tool calls being assembled from their fragments, emitted whole at the finish.
  const calls = Tools.fragmentAssembler(metadataKey)

  // Lines that are no SSE field, before the first event: a 200 whose body is one unframed JSON value.
  const raw = EventText.rawJson(context)

  /**
   * An error object in the stream, classified. Moderation cutting the answer after text is its end, as
   * in DashScope's native streams and Gemini's SAFETY: the text so far, finished `filter`; before any
   * text it stays the `FatalError` (WIRE.md §2.5, WIRE-openai-anthropic §1.8). After a `finish_reason`
   * the answer is complete: the error is only a `Warning` (WIRE-openai-anthropic §1.8; OpenAI, vLLM and
   * OpenRouter send "Token limit reached" after a real finish) and the stream reads on to `[DONE]`.
   */
  const inBandError = (
    json: unknown,
    text: string,
    said: string,
    out: Array<StreamPart>,
    statusComment?: number
  ): EventStream.Step => {
    const error = classifyInBand(json, text, headers, context, said, statusComment)
    if (sawText && error._tag === "FatalError" && error.reason === "content_filter") {
      finish = "filter"
      return "finished"
    }
    if (finish === undefined) return error
    out.push({ _tag: "Warning", message: `${error.message} (after the answer's finish_reason: the answer stands)` })
    return undefined
  }

  const chunk = (
    json: unknown,
    text: string,
    said: string,
    out: Array<StreamPart>,
    statusComment?: number
  ): EventStream.Step => {
    if (isErrorPayload(json)) {
      // OpenRouter's error chunk after a real finish also carries the usage: read on when it is a chunk.
      const step = inBandError(json, text, said, out, statusComment)
      // one that ends the attempt with usage beside it was billed (OpenRouter's shape): so is the call
      if (step !== undefined) {
        const billed = Json.isObject(json) ? billedOf(json) : undefined
        if (step !== "finished") return Errors.withBilledUsage(step, billed)
        // (moderation ending the answer: its usage is the answer's)
        if (billed !== undefined) out.push({ _tag: "Usage", usage: billed })
        return step
      }
      if (!looksLikeCompletion(json) || !isCompletion(json)) return undefined
    } else if (!looksLikeCompletion(json) || !isCompletion(json)) {
      return Errors.badResponse(`a stream event is not a chat completion chunk: ${text}`, { ...context, status: 200 })
    }
    const id = requestIdOf(json, headers)
    const version = modelVersionOf(json)
    // Azure's leading filter chunk has `"id": ""` and `"model": ""`: no ids to announce yet.
    if ((id !== undefined || version !== undefined) && (!announced || id !== requestId || version !== modelVersion)) {
      announced = true
      requestId = id
      modelVersion = version
      out.push({ _tag: "Metadata", requestId, modelVersion })
    }
    const reasoning = reasoningOf(json, true)
    if (reasoning.length > 0) out.push({ _tag: "ReasoningDelta", text: reasoning })
    const content = contentOf(json, true)
    if (content.length > 0) {
      sawText = true
      out.push({ _tag: "TextDelta", text: content })
    }
    const refusalText = refusalOf(json, true)
    const refusal = refusalText.length > 0
    if (refusal) {
      refused = true
      refusalBytes += Buffer.byteLength(refusalText, "utf8")
    }
    const fragments = toolCallsOf(json, true)
    calls.add(fragments)
    const usage = reportedUsage(json)
    if (usage !== undefined) {
      out.push({ _tag: "Usage", usage: usageOf(usage) })
      // (a server reporting on every chunk counts what it streamed so far)
      calls.reported()
      refusalBytes = 0
    }
    const reason = finishOf(json)
    if (reason !== undefined) {
      finish = refused && reason === "stop" ? "filter" : reason
      calls.flush(out, reason === "length")
    }
    return undefined
  }

  return {
    onEvent: (event, out) => {
      if (event.raw.length > 0) {
        // llama.cpp's builds of 2025 send a failure after the 200 as an `error:` field, then `[DONE]`
        const failure = errorFieldOf(event.raw)
        if (failure !== undefined) {
          return inBandError(
            isErrorPayload(failure.json) ? failure.json : { error: failure.json },
            failure.text,
            "sent an error mid-stream:",
            out
          )
        }
      }
      if (!sawEvent && event.raw.length > 0) {
        const step = raw.add(
          event.raw,
          event.unterminated,
          (json, text) => chunk(json, text, "answered HTTP 200 with an error body:", out)
        )
        if (step !== undefined) return step
      }
      const data = event.data
      if (data === undefined || data.length === 0) {
        // The body's end inside an event's first line (`dat`, `data: `) is a cut, even after a
        // finish_reason: that event may have been the usage chunk.
        // (Raw text before the first event is the unframed-JSON collector's, which judges it at the end.)
        // (A comment line left unterminated is a keep-alive, not a cut: only a field's text is judged.)
        const cutShort = data !== undefined ||
          (sawEvent && event.raw.length > 0 && EventText.looksCut(event.raw.join("\n"), true))
        if (event.unterminated === true && cutShort) {
          return Errors.streamInterrupted("the stream ended in the middle of an event", context)
        }
        // Comment-only events (keep-alives) and events without data carry nothing.
        return undefined
      }
      sawEvent = true
      if (data === "[DONE]") {
        calls.flush(out, finish === "length")
        return "finished"
      }
      // A `[DONE]` the end of the body cut short: the end-of-body rule decides (a finish if one came).
      if (event.unterminated === true && "[DONE]".startsWith(data)) return undefined
      const json = Json.parse(data)
      const isErrorEvent = event.event === "error"
      // DashScope's compatible mode may send its native error frame: `event:error` with `:HTTP_STATUS/NNN`
      const statusComment = isErrorEvent ? Sse.commentStatus(event.comments) : undefined
      if (json === undefined) {
        // Groq's `event: error` names the failure even when its data is not JSON.
        return isErrorEvent && event.unterminated !== true
          ? inBandError(undefined, data, "sent an error event mid-stream:", out, statusComment)
          : EventText.undecodable(data, event.unterminated, context)
      }
      if (isErrorEvent && !isErrorPayload(json)) {
        return inBandError(json, data, "sent an error event mid-stream:", out, statusComment)
      }
      return chunk(
        json,
        data,
        isErrorEvent ? "sent an error event mid-stream:" : "sent an error mid-stream:",
        out,
        statusComment
      )
    },
    // Raw lines after the first event are ignored (tolerated as heartbeats).
    onEnd: () => (sawEvent ? undefined : raw.end()),
    finishReason: () => finish,
    heldOutputBytes: () => calls.heldBytes() + refusalBytes,
    // the usage chunk comes after the finish_reason: only [DONE] or the body's clean end finish it
    endsAtFinish: () => false
  }
}

/**
 * Decodes the bytes of a 200 SSE body (a body read failure already mapped to an `LLMError`).
 * `headers` are the response's.
 */
export const decode = <R>(
  bytes: Stream.Stream<Uint8Array, LLMError, R>,
  context: Errors.ClassifyContext,
  headers: Readonly<Record<string, string | undefined>> = {}
): Stream.Stream<StreamPart, LLMError, R> => EventStream.decode(bytes, context, makeHandler(headers, context))
