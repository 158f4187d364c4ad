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
  contentOfMessage,
  finishOfChoice,
  firstOf,
  isCompletion,
  looksLikeCompletion,
  modelVersionOf,
  reasoningOfMessage,
  reportedUsage,
  requestIdOf,
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

/**
 * The decoder of one stream's events, as a class: its methods are one function each for every stream,
 * so code V8 optimized while one stream was read (calls inlined by their target, `EventDecoder`'s call
 * of `onEvent` among them) stays valid for the next stream's handler; as closures made per stream the
 * second stream of a process threw it away ("wrong call target") and paid for optimizing it again.
 */
class Handler implements EventStream.EventHandler {
  private finish: FinishReason | undefined = undefined
  private sawEvent = false
  // The ids last emitted as `Metadata` (every chunk repeats them: one part when they change).
  private announced = false
  private requestId: string | undefined = undefined
  private modelVersion: string | undefined = undefined
  // A refusal streamed (`delta.refusal`): a `stop` finish is then `filter`. Its text is output no
  // part carries: its bytes since the last usage report are `heldOutputBytes`.
  private refused = false
  private refusalBytes = 0
  // A text delta streamed: moderation after it ends the answer rather than failing it.
  private sawText = false
  // Tool calls being assembled from their fragments, emitted whole at the finish.
  private readonly calls = Tools.fragmentAssembler(metadataKey)
  // Lines that are no SSE field, before the first event: a 200 whose body is one unframed JSON value.
  private readonly raw: ReturnType<typeof EventText.rawJson>

  constructor(
    private readonly headers: Readonly<Record<string, string | undefined>>,
    private readonly context: Errors.ClassifyContext
  ) {
    this.raw = EventText.rawJson(context)
  }

  /**
   * An error object in the stream, classified. Moderation cutting the answer after text is its end, as
   * in DashScope's native streams and Gemini's SAFETY: the text so far, finished `filter`; before any
   * text it stays the `FatalError` (WIRE.md §2.5, WIRE-openai-anthropic §1.8). After a `finish_reason`
   * the answer is complete: the error is only a `Warning` (WIRE-openai-anthropic §1.8; OpenAI, vLLM and
   * OpenRouter send "Token limit reached" after a real finish) and the stream reads on to `[DONE]`.
   */
  private inBandError(
    json: unknown,
    text: string,
    said: string,
    out: Array<StreamPart>,
    statusComment?: number
  ): EventStream.Step {
    const error = classifyInBand(json, text, this.headers, this.context, said, statusComment)
    if (this.sawText && error._tag === "FatalError" && error.reason === "content_filter") {
      this.finish = "filter"
      return "finished"
    }
    if (this.finish === undefined) return error
    out.push({ _tag: "Warning", message: `${error.message} (after the answer's finish_reason: the answer stands)` })
    return undefined
  }

  private chunk(
    json: unknown,
    text: string,
    said: string,
    out: Array<StreamPart>,
    statusComment?: number
  ): EventStream.Step {
    if (isErrorPayload(json)) {
      // OpenRouter's error chunk after a real finish also carries the usage: read on when it is a chunk.
      const step = this.inBandError(json, text, said, out, statusComment)
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
      return Errors.badResponse(`a stream event is not a chat completion chunk: ${text}`, {
        ...this.context,
        status: 200
      })
    }
    const id = requestIdOf(json, this.headers)
    const version = modelVersionOf(json)
    // Azure's leading filter chunk has `"id": ""` and `"model": ""`: no ids to announce yet.
    if (
      (id !== undefined || version !== undefined) &&
      (!this.announced || id !== this.requestId || version !== this.modelVersion)
    ) {
      this.announced = true
      this.requestId = id
      this.modelVersion = version
      out.push({ _tag: "Metadata", requestId: this.requestId, modelVersion: this.modelVersion })
    }
    // the first choice and its message, once per event
    const { choice, message } = firstOf(json)
    const reasoning = reasoningOfMessage(message)
    if (reasoning.length > 0) out.push({ _tag: "ReasoningDelta", text: reasoning })
    const content = contentOfMessage(message)
    if (content.length > 0) {
      this.sawText = true
      out.push({ _tag: "TextDelta", text: content })
    }
    const refusalText = message?.refusal ?? ""
    const refusal = refusalText.length > 0
    if (refusal) {
      this.refused = true
      this.refusalBytes += Buffer.byteLength(refusalText, "utf8")
    }
    const fragments = message?.tool_calls
    if (fragments != null && fragments.length > 0) this.calls.add(fragments)
    const usage = reportedUsage(json, choice)
    if (usage !== undefined) {
      out.push({ _tag: "Usage", usage: usageOf(usage) })
      // (a server reporting on every chunk counts what it streamed so far)
      this.calls.reported()
      this.refusalBytes = 0
    }
    const reason = finishOfChoice(choice)
    if (reason !== undefined) {
      this.finish = this.refused && reason === "stop" ? "filter" : reason
      this.calls.flush(out, reason === "length")
    }
    return undefined
  }

  onEvent(event: Sse.SseEvent, out: Array<StreamPart>): EventStream.Step {
    if (event.raw.length > 0) {
      // llama.cpp's builds of 2025 send a failure after the 200 as an `error:` field, then `[DONE]`
      const failure = errorFieldOf(event.raw)
      if (failure !== undefined) {
        return this.inBandError(
          isErrorPayload(failure.json) ? failure.json : { error: failure.json },
          failure.text,
          "sent an error mid-stream:",
          out
        )
      }
    }
    if (!this.sawEvent && event.raw.length > 0) {
      const step = this.raw.add(
        event.raw,
        event.unterminated,
        (json, text) => this.chunk(json, text, "answered HTTP 200 with an error body:", out)
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
        (this.sawEvent && event.raw.length > 0 && EventText.looksCut(event.raw.join("\n"), true))
      if (event.unterminated === true && cutShort) {
        return Errors.streamInterrupted("the stream ended in the middle of an event", this.context)
      }
      // Comment-only events (keep-alives) and events without data carry nothing.
      return undefined
    }
    this.sawEvent = true
    // (trailing blanks too: openai-node takes any data that starts with it)
    if (data === "[DONE]" || (data.startsWith("[DONE]") && data.trimEnd() === "[DONE]")) {
      this.calls.flush(out, this.finish === "length")
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
        ? this.inBandError(undefined, data, "sent an error event mid-stream:", out, statusComment)
        : EventText.undecodable(data, event.unterminated, this.context)
    }
    if (isErrorEvent && !isErrorPayload(json)) {
      return this.inBandError(json, data, "sent an error event mid-stream:", out, statusComment)
    }
    return this.chunk(
      json,
      data,
      isErrorEvent ? "sent an error event mid-stream:" : "sent an error mid-stream:",
      out,
      statusComment
    )
  }

  // Raw lines after the first event are ignored (tolerated as heartbeats).
  onEnd(): LLMError | undefined {
    return this.sawEvent ? undefined : this.raw.end()
  }

  finishReason(): FinishReason | undefined {
    return this.finish
  }

  heldOutputBytes(): number {
    return this.calls.heldBytes() + this.refusalBytes
  }

  // the usage chunk comes after the finish_reason: only [DONE] or the body's clean end finish it
  endsAtFinish(): boolean {
    return false
  }
}

/** The decoder of one stream's events; `headers` are the response's (`x-request-id`, the rate-limit headers). */
export const makeHandler = (
  headers: Readonly<Record<string, string | undefined>>,
  context: Errors.ClassifyContext
) =>
(): EventStream.EventHandler => new Handler(headers, context)

/**
 * Decodes the bytes of a 200 SSE body (a body read failure already mapped to an `LLMError`).
 * `headers` are the response's.
 */
export const decode = <R>(
  bytes: Stream.Stream<Uint8Array, LLMError, R>,
  context: Errors.ClassifyContext,
  headers: Readonly<Record<string, string | undefined>> = {}
): Stream.Stream<StreamPart, LLMError, R> => EventStream.decode(bytes, context, makeHandler(headers, context))
