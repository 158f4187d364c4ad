/**
 * Anthropic Messages streams (WIRE-openai-anthropic.md §2.5) as `StreamPart`s, over the shared
 * skeleton: named events in `event:` + `data:` framing — `message_start` (ids, input usage),
 * `content_block_start` / `_delta` / `_stop` per block `index` (text → `TextDelta`, thinking →
 * `ReasoningDelta` and its signature as `PartMetadata` at the block's stop, a `tool_use` block's
 * `input_json_delta` fragments assembled into one `ToolCall` at its stop — or, for the forced tool of
 * a JSON answer, sent as the answer's `TextDelta`s), `message_delta` (stop
 * reason, cumulative usage), `message_stop` (the finish signal, where the stream ends); `ping` and unknown events are
 * ignored; an `error` event fails with its classification. A body that ends before `message_stop` is
 * `stream_interrupted`, even after a `message_delta` with a stop reason.
 */
import type * as Stream from "effect/Stream"
import type { LLMError } from "../../domain/Errors.js"
import type { FinishReason } from "../../domain/FinishReason.js"
import * as Errors from "../http/Errors.js"
import * as EventStream from "../http/EventStream.js"
import * as EventText from "../http/EventText.js"
import * as Json from "../http/Json.js"
import { cutCallWarning, isWholeArguments, isWholeJson, parseArguments } from "../http/Tools.js"
import type { StreamPart } from "../Provider.js"
import { redactedMetadata, signatureMetadata } from "./Content.js"
import { classifyInBand, isErrorPayload } from "./Errors.js"
import {
  billedOf,
  type ContentBlock,
  finishOf,
  isStreamEvent,
  looksLikeMessage,
  type StreamEvent,
  type Usage,
  usageOf
} from "./Response.js"

/** The event types whose data is decoded; any other (`ping`, newer ones) is skipped unread. */
const readTypes: ReadonlySet<string> = new Set([
  "message_start",
  "content_block_start",
  "content_block_delta",
  "content_block_stop",
  "message_delta",
  "message_stop"
])

/** The member each delta type carries its content in. */
const deltaMembers: Readonly<Record<string, "text" | "thinking" | "partial_json" | "signature">> = {
  text_delta: "text",
  thinking_delta: "thinking",
  input_json_delta: "partial_json",
  signature_delta: "signature"
}

/**
 * What an event of a read type must carry to mean anything, when it lacks it (every field of the
 * shape is optional, for lenient servers): an event without it is no Messages stream, so it is
 * `bad_response` (API.md §14), not skipped until the body's end looks like a cut (retried, counted).
 */
const missingMember = (type: string, event: StreamEvent): string | undefined => {
  switch (type) {
    case "message_start":
      return event.message == null ? "message" : undefined
    case "content_block_start":
      return event.content_block == null ? "content_block" : undefined
    case "content_block_delta": {
      const delta = event.delta
      if (delta == null) return "delta"
      const member = delta.type != null && Object.hasOwn(deltaMembers, delta.type)
        ? deltaMembers[delta.type]!
        : undefined
      return member !== undefined && delta[member] == null ? `delta.${member}` : undefined
    }
    case "message_delta":
      return event.delta == null && event.usage == null ? "delta" : undefined
    default:
      return undefined
  }
}

/**
 * A block being streamed whose end matters: a tool call (its `partial_json` fragments), the forced
 * answer tool's call (its fragments are the answer's text), a thinking block (its signature).
 */
type OpenBlock =
  | {
    readonly kind: "tool"
    readonly id: string
    readonly name: string
    /** The arguments a compatible server put whole in the block's start, used when no fragment came. */
    readonly whole: string
    json: string
    reported: number
  }
  | { readonly kind: "answer"; readonly whole: boolean }
  | { readonly kind: "thinking"; signature: string }

type ToolBlock = Extract<OpenBlock, { readonly kind: "tool" }>
/** A tool call's arguments: its fragments, or the input its start carried when none came. */
const argumentsOf = (block: ToolBlock): string => block.json.length > 0 ? block.json : block.whole
/** Whether an open block's arguments are whole: one JSON text, or blank when the model stopped for its tools. */
const hasWholeArguments = (block: ToolBlock, stoppedForTools: boolean): boolean =>
  stoppedForTools ? isWholeArguments(argumentsOf(block)) : isWholeJson(argumentsOf(block))
/** What a tool call has sent so far (its name and arguments), the output it is billed for. */
const piecesOf = (block: ToolBlock): string => block.name + argumentsOf(block)

/** A block's end: a tool call emitted whole, a thinking block's signature kept for the next turn. */
const closeBlock = (block: OpenBlock, out: Array<StreamPart>): void => {
  if (block.kind === "tool") {
    out.push({
      _tag: "ToolCall",
      call: { type: "tool-call", id: block.id, name: block.name, params: parseArguments(argumentsOf(block)) }
    })
  } else if (block.kind === "thinking" && block.signature.length > 0) {
    out.push({ _tag: "PartMetadata", part: "reasoning", metadata: signatureMetadata(block.signature) })
  }
}

/**
 * The usage reported so far: each field from the latest event that has it (`message_delta` counts
 * are cumulative; compatible servers send the real `input_tokens` only there).
 */
const mergeUsage = (current: Usage | undefined, next: Usage): Usage => {
  if (current === undefined) return next
  return {
    input_tokens: next.input_tokens ?? current.input_tokens,
    output_tokens: next.output_tokens ?? current.output_tokens,
    cache_creation_input_tokens: next.cache_creation_input_tokens ?? current.cache_creation_input_tokens,
    cache_read_input_tokens: next.cache_read_input_tokens ?? current.cache_read_input_tokens,
    output_tokens_details: next.output_tokens_details ?? current.output_tokens_details
  }
}

/**
 * `message_start`'s usage, an input of nothing (0, no cache read or write: GLM's placeholder zeros)
 * left unknown: no request has no input, so only a later count (`message_delta`'s) is a report of it.
 */
const withoutZeroInput = (counts: Usage): Usage =>
  counts.input_tokens === 0 && (counts.cache_read_input_tokens ?? 0) === 0 &&
    (counts.cache_creation_input_tokens ?? 0) === 0
    ? { ...counts, input_tokens: undefined }
    : counts

/**
 * A `tool_use` block start's `input` as JSON text when it holds anything: Anthropic sends `{}` and
 * streams the arguments as `input_json_delta`s, while some compatible servers put them whole here.
 */
const wholeInput = (input: unknown): string =>
  Json.isObject(input) && Object.keys(input).length > 0 ? JSON.stringify(input) : ""

/** The text a block start already carries (usually empty), as a part. */
const blockStartPart = (block: ContentBlock): StreamPart | undefined => {
  if (block.type === "text" && block.text != null && block.text.length > 0) {
    return { _tag: "TextDelta", text: block.text }
  }
  if (block.type === "thinking" && block.thinking != null && block.thinking.length > 0) {
    return { _tag: "ReasoningDelta", text: block.thinking }
  }
  return undefined
}

/**
 * The decoder of one stream's events; `headers` are the response's (`request-id`, rate-limit
 * headers); `answerTool` the forced tool a JSON answer comes back through, if any.
 */
export const makeHandler = (
  headers: Readonly<Record<string, string | undefined>>,
  context: Errors.ClassifyContext,
  answerTool?: string
) =>
(): EventStream.EventHandler => {
  let stopReason: FinishReason | undefined
  // why the model stopped short, when it did: a tool block it left open is then no call
  let cutBy: "the output limit" | "a refusal" | undefined
  // whether `stop_reason` was `tool_use` (the model stopped to have its calls run)
  let stoppedForTools = false
  let stopped = false
  let usage: Usage | undefined
  let answered = false
  // Blocks by `index` until their `content_block_stop` (a call cut before it is never emitted).
  const blocks = new Map<number, OpenBlock>()
  /** A usage report (cumulative) as a part: it counts the open tool calls' pieces received so far. */
  const reported = (counts: Usage, out: Array<StreamPart>) => {
    out.push({ _tag: "Usage", usage: usageOf(counts) })
    for (const block of blocks.values()) {
      if (block.kind === "tool") block.reported = piecesOf(block).length
    }
  }
  // Lines that are no SSE field: an error object sent unframed, or a body that is no event stream.
  const raw = EventText.rawJson(context)

  const payload = (json: unknown, text: string, name: string | undefined, out: Array<StreamPart>) => {
    if (stopped) return undefined
    if (!Json.isObject(json)) {
      return Errors.badResponse(`a stream event is not an object: ${text}`, { ...context, status: 200 })
    }
    const type = typeof json.type === "string" ? json.type : name
    if (type === "error" || name === "error" || (type === undefined && isErrorPayload(json))) {
      return classifyInBand(json, text, headers, context)
    }
    // An event of a type not read here (`ping`, a newer one) is skipped; one naming no type at all is
    // no Messages stream (API.md §14: an undecodable 200 is `bad_response`, never retried).
    if (type === undefined) {
      return Errors.badResponse(`a stream event names no type: ${text}`, { ...context, status: 200 })
    }
    if (!readTypes.has(type)) return undefined
    if (!isStreamEvent(json)) {
      return Errors.badResponse(`a ${type} event is not in its documented shape: ${text}`, {
        ...context,
        status: 200
      })
    }
    const missing = missingMember(type, json)
    if (missing !== undefined) {
      return Errors.badResponse(`a ${type} event without its ${missing}: ${text}`, { ...context, status: 200 })
    }
    switch (type) {
      case "message_start": {
        const message = json.message
        out.push({
          _tag: "Metadata",
          requestId: headers["request-id"] ?? message?.id ?? undefined,
          modelVersion: message?.model ?? undefined
        })
        if (message?.usage != null) {
          usage = mergeUsage(usage, withoutZeroInput(message.usage))
          // its output count is a placeholder (WIRE-openai-anthropic §2): the input only, until message_delta's
          if (usage.input_tokens != null) out.push({ _tag: "Usage", usage: usageOf(usage), inputOnly: true })
        }
        return undefined
      }
      case "content_block_start": {
        const block = json.content_block
        if (block == null) return undefined
        const index = json.index ?? 0
        if (block.type === "tool_use") {
          const whole = wholeInput(block.input)
          // Under a forced answer tool no other tool can be called: the first call is the answer
          // whatever its name (a server keeping the name it was recorded with, `json`).
          if (answerTool !== undefined && !answered) {
            answered = true
            blocks.set(index, { kind: "answer", whole: whole.length > 0 })
            if (whole.length > 0) out.push({ _tag: "TextDelta", text: whole })
          } else {
            blocks.set(index, {
              kind: "tool",
              id: block.id ?? "",
              name: block.name ?? "",
              whole,
              json: "",
              reported: 0
            })
          }
        } else if (block.type === "thinking") {
          blocks.set(index, { kind: "thinking", signature: block.signature ?? "" })
        } else if (block.type === "redacted_thinking" && block.data != null) {
          // Encrypted reasoning comes whole: provider data for an empty reasoning part.
          out.push({ _tag: "PartMetadata", part: "reasoning", metadata: redactedMetadata(block.data) })
        }
        const part = blockStartPart(block)
        if (part !== undefined) out.push(part)
        return undefined
      }
      case "content_block_delta": {
        const delta = json.delta
        const block = blocks.get(json.index ?? 0)
        if (delta?.type === "text_delta" && delta.text != null && delta.text.length > 0) {
          out.push({ _tag: "TextDelta", text: delta.text })
        } else if (delta?.type === "thinking_delta" && delta.thinking != null && delta.thinking.length > 0) {
          out.push({ _tag: "ReasoningDelta", text: delta.thinking })
        } else if (delta?.type === "signature_delta" && block?.kind === "thinking") {
          block.signature += delta.signature ?? ""
        } else if (delta?.type === "input_json_delta" && delta.partial_json != null) {
          if (block?.kind === "tool") block.json += delta.partial_json
          else if (block?.kind === "answer" && !block.whole && delta.partial_json.length > 0) {
            out.push({ _tag: "TextDelta", text: delta.partial_json })
          }
        }
        return undefined
      }
      case "content_block_stop": {
        const index = json.index ?? 0
        const block = blocks.get(index)
        blocks.delete(index)
        if (block !== undefined) closeBlock(block, out)
        return undefined
      }
      case "message_delta": {
        const reason = json.delta?.stop_reason
        if (reason != null) {
          stopReason = finishOf(reason, answered)
          stoppedForTools = reason === "tool_use"
          cutBy = reason === "refusal"
            ? "a refusal"
            : reason === "max_tokens" || reason === "model_context_window_exceeded"
            ? "the output limit"
            : undefined
        }
        if (json.usage != null) {
          usage = mergeUsage(usage, json.usage)
          // (without the input anywhere it is no report, as for a whole Message: never an input of 0)
          if (usage.input_tokens != null) reported(usage, out)
        }
        return undefined
      }
      case "message_stop":
        // The finish signal: the stream has succeeded whatever the connection does next (a reset, a
        // body held open); what is left of the body drains so the connection goes back to the pool.
        stopped = true
        // Blocks left open: a tool_use block the output limit cut never reached its stop (reported, never
        // run); a gateway that leaves out `content_block_stop` (LiteLLM's bridge) ends them with the
        // message — a call when neither a refusal nor the limit cut the message and its arguments are one
        // whole JSON text (blank ones, a no-argument call's, only when the model stopped for its tools).
        for (const block of blocks.values()) {
          if (block.kind === "tool" && (cutBy !== undefined || !hasWholeArguments(block, stoppedForTools))) {
            out.push(cutCallWarning(block.name, block.id, cutBy ?? "the end of the message"))
          } else closeBlock(block, out)
        }
        return "finished" as const
    }
    return undefined
  }

  return {
    onEvent: (event, out) => {
      const data = event.data
      if (data !== undefined && data.length > 0) {
        const json = Json.parse(data)
        const error = json === undefined
          ? EventText.undecodable(data, event.unterminated, context)
          : payload(json, data, event.event, out)
        if (error !== undefined) return error
      }
      return event.raw.length > 0 && !stopped
        ? raw.add(event.raw, event.unterminated, (json, text) =>
          isErrorPayload(json)
            ? classifyInBand(json, text, headers, context, "answered HTTP 200 with an error body:")
            : Errors.badResponse(
              `the stream holds text that is not an event: ${text}`,
              { ...context, status: 200 },
              // a whole Message sent unframed (a proxy ignoring `stream: true`) was billed: its cancel is priced
              looksLikeMessage(json) ? billedOf(json) : undefined
            ))
        : undefined
    },
    onEnd: raw.end,
    finishReason: () => (stopped ? stopReason ?? "other" : undefined),
    // the tool calls' pieces no usage report counted yet
    heldOutputBytes: () => {
      let bytes = 0
      for (const block of blocks.values()) {
        if (block.kind === "tool") bytes += Buffer.byteLength(piecesOf(block).slice(block.reported), "utf8")
      }
      return bytes
    }
  }
}

/**
 * Decodes the bytes of a 200 SSE body (a body read failure already mapped to an `LLMError`).
 * `headers` are the response's (`request-id`, rate-limit headers for an in-band error's wait).
 */
export const decode = <R>(
  bytes: Stream.Stream<Uint8Array, LLMError, R>,
  context: Errors.ClassifyContext,
  headers: Readonly<Record<string, string | undefined>> = {}
): Stream.Stream<StreamPart, LLMError, R> => EventStream.decode(bytes, context, makeHandler(headers, context))
