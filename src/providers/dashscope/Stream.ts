/**
 * DashScope native SSE streams (WIRE.md §2.4–§2.5, WIRE-tools-multimodal §2.4) as `StreamPart`s, over
 * the shared skeleton: each `event:result` is a generation (reasoning and text deltas, tool-call
 * fragments assembled by `index` and emitted whole at the finish, a cumulative usage snapshot, the
 * request id); an `event:error` (or error payload) fails with its classification, its status from
 * the `:HTTP_STATUS/NNN` comment; content moderation after text is a `filter` finish. A 200 whose
 * body is a plain JSON payload (no SSE framing) is read as one event.
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
import { classifyPayload, errorPayloadOf } from "./Errors.js"
import { metadataKey } from "./Request.js"
import {
  contentOf,
  finishOf,
  isGeneration,
  isReport,
  looksLikeGeneration,
  reasoningOf,
  toolCallsOf,
  usageOf
} from "./Response.js"

/** The decoder of one stream's events; `headers` are the response's (`x-request-id`, `Retry-After`). */
export const makeHandler = (
  headers: Readonly<Record<string, string | undefined>>,
  context: Errors.ClassifyContext
) =>
(): EventStream.EventHandler => {
  let finish: FinishReason | undefined
  let sawText = false
  let reportedInput: number | undefined
  let sawEvent = false
  let announced = false
  let requestId = headers["x-request-id"]
  // Tool calls being assembled from their fragments, emitted whole at the finish.
  const calls = Tools.fragmentAssembler(metadataKey)
  // Lines that are no SSE field, before the first event: a 200 whose body is a plain JSON payload.
  const raw = EventText.rawJson(context)

  const failure = (error: LLMError): EventStream.Step => {
    // Moderation cutting a stream after text is its end, with finish `filter` (as Gemini's SAFETY);
    // before any text it is the `FatalError` (WIRE.md §2.5).
    if (sawText && error._tag === "FatalError" && error.reason === "content_filter") {
      finish = "filter"
      return "finished"
    }
    return error
  }

  /** How an error payload is described: an event's (its status from its comment) or a plain body's. */
  const errorSource = (comments: ReadonlyArray<string> | undefined) => {
    if (comments === undefined) return { status: undefined, said: "answered HTTP 200 with an error body" }
    const status = Sse.commentStatus(comments)
    return { status, said: `sent an error event mid-stream${status !== undefined ? ` (status ${status})` : ""}:` }
  }

  /** `comments`: the event's (its `:HTTP_STATUS/NNN`), read only for an error; none for a plain JSON body. */
  const payload = (
    json: unknown,
    text: string,
    isErrorEvent: boolean,
    comments: ReadonlyArray<string> | undefined,
    out: Array<StreamPart>
  ): EventStream.Step => {
    if (isErrorEvent || !looksLikeGeneration(json)) {
      const error = errorPayloadOf(json)
      if (!isErrorEvent && error === undefined) {
        return failure(Errors.badResponse(`a stream event is not a generation: ${text}`, { ...context, status: 200 }))
      }
      const { said, status } = errorSource(comments)
      return failure(classifyPayload(status ?? 200, error, text, headers, context, said))
    }
    if (!isGeneration(json)) {
      return Errors.badResponse(`a stream event is not a generation: ${text}`, { ...context, status: 200 })
    }
    const id = json.request_id ?? requestId
    if (!announced || id !== requestId) {
      announced = true
      requestId = id
      if (requestId !== undefined) out.push({ _tag: "Metadata", requestId, modelVersion: undefined })
    }
    const reasoning = reasoningOf(json)
    if (reasoning.length > 0) out.push({ _tag: "ReasoningDelta", text: reasoning })
    const content = contentOf(json)
    if (content.length > 0) {
      sawText = true
      out.push({ _tag: "TextDelta", text: content })
    }
    const fragments = toolCallsOf(json)
    calls.add(fragments)
    if (json.usage != null) {
      // (the input does not change within a stream: a later block that leaves it out keeps the earlier one's)
      const usage = json.usage.input_tokens == null && reportedInput !== undefined
        ? { ...json.usage, input_tokens: reportedInput }
        : json.usage
      if (isReport(usage)) {
        reportedInput = usage.input_tokens!
        out.push({ _tag: "Usage", usage: usageOf(usage) })
        calls.reported()
      }
    }
    const reason = finishOf(json)
    if (reason !== undefined) {
      finish = reason
      // The last fragment arrives with the finish reason: the calls are whole now (unless it cut them).
      calls.flush(out, reason === "length")
    }
    return undefined
  }

  return {
    onEvent: (event, out) => {
      if (!sawEvent && event.raw.length > 0) {
        const step = raw.add(
          event.raw,
          event.unterminated,
          (json, text) => payload(json, text, false, undefined, out)
        )
        if (step !== undefined) return step
      }
      const data = event.data
      // Events without data (an id alone, the empty trailing events of some captures) carry nothing;
      // nor does one after the finish, which comes on the last event (WIRE.md §2.4): a proxy's replay
      // of it, or a server's later text, would join an answer already whole (and only when it came soon).
      if (data === undefined || data.length === 0 || finish !== undefined) return undefined
      sawEvent = true
      const json = Json.parse(data)
      const isErrorEvent = event.event === "error"
      if (json === undefined && (!isErrorEvent || event.unterminated === true)) {
        return EventText.undecodable(data, event.unterminated, context)
      }
      return payload(json, data, isErrorEvent, event.comments, out)
    },
    // Raw lines after the first event are ignored (tolerated as heartbeats, as DashScope's SDK does).
    onEnd: () => (sawEvent ? undefined : raw.end()),
    finishReason: () => finish,
    // its `finish_reason` comes on the stream's last event
    lastAtFinish: true,
    heldOutputBytes: calls.heldBytes
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
