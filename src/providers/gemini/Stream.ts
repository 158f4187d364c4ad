/**
 * Gemini `alt=sse` streams (WIRE.md §1.6–§1.7, WIRE-tools-multimodal §1.4) as `StreamPart`s, over the
 * shared skeleton: each `data:` event is a response (thought and text deltas in part order, the
 * signature closing a part as `PartMetadata`, whole function calls as `ToolCall`s, a cumulative
 * usage snapshot, ids); an
 * `{"error":…}` — as an event, or as raw lines after the last event — fails with its classification;
 * anything else is `bad_response`. The finish reason is the last one sent (old models send STOP on every event).
 */
import type * as Stream from "effect/Stream"
import type { LLMError } from "../../domain/Errors.js"
import type { FinishReason } from "../../domain/FinishReason.js"
import * as Errors from "../http/Errors.js"
import * as EventStream from "../http/EventStream.js"
import * as EventText from "../http/EventText.js"
import * as Json from "../http/Json.js"
import type { StreamPart } from "../Provider.js"
import { newCallId, signatureMetadata } from "./Content.js"
import { classifyInBand, isErrorPayload } from "./Errors.js"
import {
  finishOf,
  type GenerateContentResponse,
  isReport,
  isResponse,
  looksLikeResponse,
  promptOf,
  toolCallOf,
  type UsageMetadata,
  usageOf
} from "./Response.js"

/**
 * The parts of one event in order: consecutive text (or thought) parts merged into one delta; a
 * signature ends the text or reasoning it closes (`PartMetadata`, even after an empty text part, as
 * Gemini 3 sends at the end of an answer); each function call a `ToolCall` (never split on the Gemini
 * API). Inline data in a stream is ignored.
 */
const pushParts = (response: GenerateContentResponse, newId: () => string, out: Array<StreamPart>): void => {
  const parts = response.candidates?.[0]?.content?.parts
  if (parts == null) return
  // The text gathered for one delta and its kind (no closure per event: this runs for every event).
  let kind: "text" | "reasoning" = "text"
  let pending = ""
  for (const part of parts) {
    const call = toolCallOf(part, newId)
    if (call !== undefined) {
      pushDelta(kind, pending, out)
      pending = ""
      out.push({ _tag: "ToolCall", call })
      continue
    }
    if (part.text == null) continue
    const partKind = part.thought === true ? "reasoning" : "text"
    if (partKind !== kind) {
      pushDelta(kind, pending, out)
      pending = ""
    }
    kind = partKind
    pending += part.text
    if (part.thoughtSignature != null) {
      pushDelta(kind, pending, out)
      pending = ""
      out.push({ _tag: "PartMetadata", part: kind, metadata: signatureMetadata(part.thoughtSignature) })
    }
  }
  pushDelta(kind, pending, out)
}

/** A text or reasoning delta, unless it is empty. */
const pushDelta = (kind: "text" | "reasoning", text: string, out: Array<StreamPart>): void => {
  if (text.length > 0) out.push({ _tag: kind === "text" ? "TextDelta" : "ReasoningDelta", text })
}

/** The decoder of one stream's events (`newId` names calls that came without an id: Gemini 2.x). */
export const makeHandler = (
  headers: Readonly<Record<string, string | undefined>>,
  context: Errors.ClassifyContext,
  newId: () => string = newCallId
) =>
(): EventStream.EventHandler => {
  let finish: FinishReason | undefined
  // Whether the chunk that gave the finish reason carried usage, as a current model's last chunk does:
  // old models put STOP on every chunk, without usage (WIRE.md §1.6), so such a reason may not be the
  // last, and a reset after it is a cut (the body's clean end still finishes the stream).
  let finalFinish = false
  // The ids last emitted as `Metadata` (every event repeats them: one part when they change).
  let announced = false
  let requestId: string | undefined
  let modelVersion: string | undefined
  const raw = EventText.rawJson(context)
  // The last usage block that counted the prompt.
  let prompt: UsageMetadata | undefined

  const payload = (json: unknown, text: string, out: Array<StreamPart>): LLMError | undefined => {
    if (isErrorPayload(json)) return classifyInBand(json, text, headers, context)
    if (!looksLikeResponse(json) || !isResponse(json)) {
      return Errors.badResponse(`a stream event is not a GenerateContentResponse: ${text}`, { ...context, status: 200 })
    }
    const id = json.responseId ?? undefined
    const version = json.modelVersion ?? undefined
    if (!announced || id !== requestId || version !== modelVersion) {
      announced = true
      requestId = id
      modelVersion = version
      out.push({ _tag: "Metadata", requestId, modelVersion })
    }
    pushParts(json, newId, out)
    const reason = finishOf(json)
    // A snapshot that counts no output yet (gemini-2.0-flash's non-final chunks carry only prompt and
    // total, WIRE.md §1.6) is no report of the output: taken as one, it would price the text streamed
    // so far at 0 if the stream were cut. Output counts, or the finish, make it a report; without them
    // it is `inputOnly` (its input counts stand, the output stays at its bound).
    let metadata = json.usageMetadata
    if (metadata != null && isReport(metadata)) {
      // A block without the prompt's count takes the one its own total says, never below the earlier
      // block's (counts are cumulative; not 0, which would price the input at nothing), and that block's
      // cached and tool-use counts; a copy only then (every chunk has usage).
      if (metadata.promptTokenCount != null) prompt = metadata
      else {
        const carried = prompt === undefined ? metadata : {
          ...metadata,
          toolUsePromptTokenCount: metadata.toolUsePromptTokenCount ?? prompt.toolUsePromptTokenCount,
          cachedContentTokenCount: metadata.cachedContentTokenCount ?? prompt.cachedContentTokenCount
        }
        const own = promptOf(carried)
        if (own !== undefined || prompt !== undefined) {
          prompt = metadata = { ...carried, promptTokenCount: Math.max(own ?? 0, prompt?.promptTokenCount ?? 0) }
        }
      }
      const inputOnly = metadata.candidatesTokenCount == null && metadata.thoughtsTokenCount == null &&
        reason === undefined
      out.push(
        inputOnly
          ? { _tag: "Usage", usage: usageOf(metadata), inputOnly: true }
          : { _tag: "Usage", usage: usageOf(metadata) }
      )
    }
    if (reason !== undefined) {
      finish = reason
      finalFinish = metadata != null
    }
    return undefined
  }

  return {
    onEvent: (event, out) => {
      const data = event.data
      if (data !== undefined && data !== "[DONE]") {
        const json = Json.parse(data)
        // (an empty `data:` dispatches nothing, the SSE spec says: a keep-alive, as on the other protocols)
        const error = json !== undefined
          ? payload(json, data, out)
          : data.trim().length > 0 || event.unterminated === true
          ? EventText.undecodable(data, event.unterminated, context)
          : undefined
        if (error !== undefined) return error
      }
      // Raw lines are kept for the error object Gemini writes unframed; a field of no meaning to SSE
      // (`foo: bar`) is ignored, as the spec says (no line of that object starts with a bare name).
      const lines = event.raw.length > 0 ? event.raw.filter((line) => !unknownField.test(line)) : event.raw
      return lines.length > 0
        ? raw.add(lines, event.unterminated, (json, text) => payload(json, text, out))
        : undefined
    },
    onEnd: raw.end,
    finishReason: () => finish,
    endsAtFinish: () => finalFinish
  }
}

/** An SSE field line: a bare name, then a colon. */
const unknownField = /^[A-Za-z_][\w-]*\s*:/

/**
 * Decodes the bytes of a 200 `alt=sse` body (a body read failure already mapped to an `LLMError`).
 * `headers` are the response's, for in-band errors (`Retry-After`).
 */
export const decode = <R>(
  bytes: Stream.Stream<Uint8Array, LLMError, R>,
  context: Errors.ClassifyContext,
  headers: Readonly<Record<string, string | undefined>> = {}
): Stream.Stream<StreamPart, LLMError, R> => EventStream.decode(bytes, context, makeHandler(headers, context))
