/**
 * Gemini's finish reasons (WIRE.md §1.4) as effect-llm's (API.md §2): `STOP` → stop, `MAX_TOKENS` →
 * length, the safety family → filter, anything else (including values newer than this table) → other.
 */
import type { FinishReason } from "../../domain/FinishReason.js"

const table: ReadonlyMap<string, FinishReason> = new Map([
  ["STOP", "stop"],
  ["MAX_TOKENS", "length"],
  ["SAFETY", "filter"],
  ["RECITATION", "filter"],
  ["BLOCKLIST", "filter"],
  ["PROHIBITED_CONTENT", "filter"],
  ["SPII", "filter"]
])

/** Maps a candidate's `finishReason`. (A prompt block, `promptFeedback`, is `filter`: see `Response.finishOf`.) */
export const fromGemini = (reason: string): FinishReason => table.get(reason) ?? "other"
