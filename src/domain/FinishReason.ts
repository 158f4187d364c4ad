/**
 * Why a generation stopped, mapped from each provider's own vocabulary (API.md §2).
 */
import * as Schema from "effect/Schema"

/** `stop` | `length` | `filter` | `other`. */
export const FinishReason = Schema.Literal("stop", "length", "filter", "other")
export type FinishReason = typeof FinishReason.Type

const geminiFilterReasons = new Set(["SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII"])

/** Maps a Gemini `finishReason` (or a prompt `blockReason`, which is always `filter`). */
export const fromGemini = (reason: string | undefined): FinishReason => {
  if (reason === "STOP") return "stop"
  if (reason === "MAX_TOKENS") return "length"
  if (reason !== undefined && geminiFilterReasons.has(reason)) return "filter"
  return "other"
}

/** Maps a DashScope / OpenAI-style `finish_reason`. */
export const fromOpenAIStyle = (reason: string | null | undefined): FinishReason => {
  switch (reason) {
    case "stop":
      return "stop"
    case "length":
      return "length"
    case "content_filter":
      return "filter"
    default:
      return "other"
  }
}
