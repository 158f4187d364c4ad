/**
 * Answers as `@effect/ai` response parts: a unary answer as its parts in order (text, reasoning, tool
 * calls with their params and provider metadata) between a `response-metadata` part and the `finish`
 * part; a stream as `text-start`/`-delta`/`-end` and `reasoning-start`/`-delta`/`-end` blocks and whole
 * `tool-call` parts, then the same two. The finish part carries the usage the ledger settled and, under
 * `effect-llm` in its metadata, the call's trace id, route and cost.
 */
import type * as Response from "@effect/ai/Response"
import * as Chunk from "effect/Chunk"
import type { PartsElement } from "../call/Parts.js"
import type { FinishReason } from "../domain/FinishReason.js"
import type { GenerationResponse } from "../domain/GenerationResponse.js"
import type { AssistantPart, ProviderMetadata, ToolCallPart } from "../domain/Prompt.js"
import type { ProviderAnswer } from "../providers/Provider.js"
import { hasMetadata, type Memory, type SignedPart, signedPartKey, textDigest } from "./Memory.js"

/** The key of effect-llm's own data in a finish part's metadata. */
export const metadataKey = "effect-llm"

/** A finish reason in @effect/ai's words; a stop after tool calls is `tool-calls`. */
export const finishReasonOf = (reason: FinishReason, calledTools: boolean): Response.FinishReason => {
  switch (reason) {
    case "stop":
      return calledTools ? "tool-calls" : "stop"
    case "length":
      return "length"
    case "filter":
      return "content-filter"
    case "other":
      return calledTools ? "tool-calls" : "other"
  }
}

/** The response-metadata part: the provider's request id and the model that answered. */
const responseMetadata = (
  response: GenerationResponse,
  modelVersion: string | undefined,
  at: Date
): Response.ResponseMetadataPartEncoded => ({
  type: "response-metadata",
  ...(response.requestId !== undefined ? { id: response.requestId } : {}),
  modelId: modelVersion ?? response.model,
  timestamp: at.toISOString()
})

/** The finish part: settled usage, and the call's record under `effect-llm`. */
const finish = (response: GenerationResponse, calledTools: boolean): Response.FinishPartEncoded => ({
  type: "finish",
  reason: finishReasonOf(response.finishReason, calledTools),
  usage: {
    inputTokens: response.usage.inputTokens,
    outputTokens: response.usage.outputTokens,
    totalTokens: response.usage.totalTokens,
    ...(response.usage.reasoningTokens !== undefined ? { reasoningTokens: response.usage.reasoningTokens } : {}),
    ...(response.usage.cachedInputTokens !== undefined ? { cachedInputTokens: response.usage.cachedInputTokens } : {})
  },
  metadata: {
    [metadataKey]: {
      traceId: response.traceId,
      alias: response.alias,
      provider: response.provider,
      model: response.model,
      endpoint: response.endpoint,
      cost: response.cost,
      attempts: response.attempts
    }
  }
})

const withMetadata = (metadata: ProviderMetadata | undefined) => hasMetadata(metadata) ? { metadata } : {}

const toolCall = (call: ToolCallPart): Response.ToolCallPartEncoded => ({
  type: "tool-call",
  id: call.id,
  name: call.name,
  params: call.params,
  providerExecuted: false,
  ...withMetadata(call.metadata)
})

/** The answer's parts in order (its text and reasoning when the protocol gave no parts). */
const partsOf = (answer: ProviderAnswer): ReadonlyArray<AssistantPart> =>
  answer.parts ?? [
    ...(answer.reasoning !== undefined && answer.reasoning.length > 0
      ? [{ type: "reasoning" as const, text: answer.reasoning }]
      : []),
    ...(answer.content.length > 0 ? [{ type: "text" as const, text: answer.content }] : [])
  ]

/**
 * Remembers the tool calls of an answer with their signed neighbours, or, in an answer without calls,
 * each signed part by its own text (see `Memory`).
 */
const rememberTurn = (memory: Memory | undefined, parts: ReadonlyArray<AssistantPart>): void => {
  if (memory === undefined) return
  const calls = parts.filter((part): part is ToolCallPart => part.type === "tool-call")
  const turn: Array<SignedPart> = []
  for (const part of parts) {
    if ((part.type === "text" || part.type === "reasoning") && hasMetadata(part.metadata)) {
      turn.push({ type: part.type, digest: textDigest(part.text), metadata: part.metadata })
    }
  }
  if (calls.length > 0) memory.remember(calls, turn)
  else for (const part of turn) memory.remember([{ id: signedPartKey(part.type, part.digest) }], [part])
}

/** A unary answer as @effect/ai parts. */
export const decodeAnswer = (
  answer: ProviderAnswer,
  response: GenerationResponse,
  memory: Memory | undefined,
  at: Date
): Array<Response.PartEncoded> => {
  const parts = partsOf(answer)
  rememberTurn(memory, parts)
  const out: Array<Response.PartEncoded> = [responseMetadata(response, answer.modelVersion, at)]
  for (const part of parts) {
    switch (part.type) {
      case "text":
      case "reasoning":
        out.push({ type: part.type, text: part.text, ...withMetadata(part.metadata) })
        break
      case "tool-call":
        out.push(toolCall(part))
        break
      case "file":
        // Protocols decode no file answers (generated images are not supported).
        break
    }
  }
  out.push(finish(response, parts.some((part) => part.type === "tool-call")))
  return out
}

/**
 * A stream decoder: call it with each element of the pipeline's parts stream, in order; it returns the
 * @effect/ai parts to emit. Text and reasoning open a block at their first delta and close it when
 * another kind of part arrives, when their provider metadata arrives (on the `-end` part) or at the end.
 * What the answer signed is remembered as it is handed over (each tool call, each signed block) and
 * again, whole, at the finish.
 *
 * Tool calls, and what follows them, are handed over with the settlement: the provider's usage comes
 * after the call is complete (OpenAI's usage chunk, Anthropic's `message_delta`), and a consumer that
 * stops at a `tool-call` part (@effect/ai failing a call whose params do not decode, a `takeUntil`)
 * would otherwise cancel the call at its estimate, where the answer was billed in full.
 */
export const streamDecoder = (memory: Memory | undefined, now: () => Date) => {
  let open: { readonly kind: "text" | "reasoning"; readonly id: string; text: string } | undefined
  let blocks = 0
  let modelVersion: string | undefined
  const seen: Array<AssistantPart> = []
  // the parts held from the first tool call until the settlement, in order
  let held: Array<Response.StreamPartEncoded> | undefined

  const close = (out: Array<Response.StreamPartEncoded>, metadata?: ProviderMetadata): void => {
    if (open === undefined) return
    out.push({ type: `${open.kind}-end`, id: open.id, ...withMetadata(metadata) })
    seen.push({ type: open.kind, text: open.text, ...(hasMetadata(metadata) ? { metadata } : {}) })
    open = undefined
    if (hasMetadata(metadata)) rememberTurn(memory, seen)
  }

  const delta = (out: Array<Response.StreamPartEncoded>, kind: "text" | "reasoning", text: string): void => {
    if (open !== undefined && open.kind !== kind) close(out)
    if (open === undefined) {
      open = { kind, id: `${kind}-${blocks++}`, text: "" }
      out.push({ type: `${kind}-start`, id: open.id })
    }
    open.text += text
    out.push({ type: `${kind}-delta`, id: open.id, delta: text })
  }

  return (element: PartsElement): Array<Response.StreamPartEncoded> => {
    const out: Array<Response.StreamPartEncoded> = held ?? []
    switch (element._tag) {
      case "TextDelta":
        delta(out, "text", element.text)
        break
      case "ReasoningDelta":
        delta(out, "reasoning", element.text)
        break
      case "PartMetadata":
        if (open !== undefined && open.kind === element.part) close(out, element.metadata)
        else {
          // Metadata for a block already closed (or never opened): an empty block carries it.
          const id = `${element.part}-${blocks++}`
          out.push({ type: `${element.part}-start`, id }, {
            type: `${element.part}-end`,
            id,
            ...withMetadata(element.metadata)
          })
          seen.push({ type: element.part, text: "", metadata: element.metadata })
        }
        break
      case "ToolCall":
        close(out)
        seen.push(element.call)
        // remembered as it is handed over, not only at the finish: a consumer (a `Chat`) that stops
        // after the call has it in its history, and its signature must go back on the next turn
        rememberTurn(memory, seen)
        out.push(toolCall(element.call))
        held = out
        return []
      case "Metadata":
        if (element.modelVersion !== undefined) modelVersion = element.modelVersion
        break
      case "Settled": {
        close(out)
        rememberTurn(memory, seen)
        out.push(
          responseMetadata(element.response, modelVersion, now()),
          finish(element.response, seen.some((part) => part.type === "tool-call"))
        )
        held = undefined
        return out
      }
    }
    return held === undefined ? out : []
  }
}

/**
 * The stream decoder over a chunk of pipeline elements, as a chunk of part chunks. @effect/ai resolves
 * a chunk's tool calls after offering the whole chunk, so the held tool calls go in a chunk of their
 * own, before the settlement's `response-metadata` and `finish`: their results come before the finish,
 * as when a provider's finish arrives after its calls.
 */
export const streamChunkDecoder = (memory: Memory | undefined, now: () => Date) => {
  const decode = streamDecoder(memory, now)
  return (elements: Chunk.Chunk<PartsElement>): Chunk.Chunk<Chunk.Chunk<Response.StreamPartEncoded>> => {
    const batches: Array<Chunk.Chunk<Response.StreamPartEncoded>> = []
    let batch: Array<Response.StreamPartEncoded> = []
    let calls = false
    for (const element of elements) {
      for (const part of decode(element)) {
        if (part.type === "response-metadata" && calls) {
          batches.push(Chunk.unsafeFromArray(batch))
          batch = []
        }
        if (part.type === "tool-call") calls = true
        batch.push(part)
      }
    }
    if (batch.length > 0) batches.push(Chunk.unsafeFromArray(batch))
    return Chunk.unsafeFromArray(batches)
  }
}
