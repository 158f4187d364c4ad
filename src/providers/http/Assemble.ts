/**
 * A unary answer assembled from a stream's parts, for models a service answers only as a stream (a
 * non-streaming call to them is refused, as DashScope refuses thinking models: WIRE.md §2.2). The
 * answer is the one a unary decode would give: the text and the reasoning joined, the last usage
 * snapshot, the finish reason and ids, and the ordered parts when there are tool calls or provider
 * metadata to echo back.
 */
import * as Effect from "effect/Effect"
import type { LLMError } from "../../domain/Errors.js"
import type { AssistantPart, ProviderMetadata } from "../../domain/Prompt.js"
import { peelUntil, type Pull } from "../../internal/Peel.js"
import type { ProviderAnswer, StreamPart } from "../Provider.js"

/** Every part of a stream's pull, up to its end (a peel that accepts none); a failure on the way is the result's. */
export const drain = (
  pull: Pull<StreamPart, LLMError>,
  observe?: (part: StreamPart) => void
): Effect.Effect<ReadonlyArray<StreamPart>, LLMError> =>
  Effect.map(peelUntil(pull, () => false, observe), (read) => read.prefix)

/** What the parts of a whole stream say, as a unary answer, and the warnings they carried. */
export const answerOf = (
  parts: ReadonlyArray<StreamPart>
): { readonly answer: ProviderAnswer; readonly warnings: ReadonlyArray<string> } => {
  let content = ""
  let reasoning = ""
  let usage: ProviderAnswer["usage"]
  let finishReason: ProviderAnswer["finishReason"] = "other"
  let requestId: string | undefined
  let modelVersion: string | undefined
  let echoed = false
  const ordered: Array<AssistantPart> = []
  const warnings: Array<string> = []
  // The text or reasoning block being streamed (consecutive deltas of one kind are one part).
  let open: { type: "text" | "reasoning"; text: string } | undefined
  const close = (metadata?: ProviderMetadata) => {
    if (open !== undefined) ordered.push(metadata === undefined ? open : { ...open, metadata })
    open = undefined
  }
  for (const part of parts) {
    switch (part._tag) {
      case "TextDelta":
      case "ReasoningDelta": {
        if (part.text.length === 0) break
        const type = part._tag === "TextDelta" ? "text" : "reasoning"
        if (type === "text") content += part.text
        else reasoning += part.text
        if (open !== undefined && open.type !== type) close()
        if (open === undefined) open = { type, text: "" }
        open.text += part.text
        break
      }
      case "PartMetadata":
        echoed = true
        if (open !== undefined && open.type === part.part) close(part.metadata)
        else {
          close()
          ordered.push({ type: part.part, text: "", metadata: part.metadata })
        }
        break
      case "ToolCall":
        echoed = true
        close()
        ordered.push(part.call)
        break
      case "Usage":
        // A snapshot of the input alone says nothing of the output: without a whole one the answer
        // reports no usage, and the call is settled at its bound (as a stream's would be).
        if (part.inputOnly !== true) usage = part.usage
        break
      case "Finish":
        finishReason = part.reason
        break
      case "Metadata":
        if (part.requestId !== undefined) requestId = part.requestId
        if (part.modelVersion !== undefined) modelVersion = part.modelVersion
        break
      case "Warning":
        warnings.push(part.message)
        break
    }
  }
  close()
  return {
    answer: {
      content,
      reasoning: reasoning.length > 0 ? reasoning : undefined,
      ...(echoed ? { parts: ordered } : {}),
      usage,
      finishReason,
      requestId,
      modelVersion
    },
    warnings
  }
}
