/**
 * Anthropic's `stop_reason` values (WIRE-openai-anthropic.md §2.3) as effect-llm's (API.md §8):
 * `end_turn` and `stop_sequence` → stop, `max_tokens` → length, `refusal` → filter, anything else
 * (`tool_use`, `pause_turn`, values newer than this table) → other. `model_context_window_exceeded`
 * is an answer cut by a limit too (the context window): length, as the wire note maps it.
 */
import type { FinishReason } from "../../domain/FinishReason.js"

const table: ReadonlyMap<string, FinishReason> = new Map([
  ["end_turn", "stop"],
  ["stop_sequence", "stop"],
  ["max_tokens", "length"],
  ["model_context_window_exceeded", "length"],
  ["refusal", "filter"]
])

/** Maps a `stop_reason`. */
export const fromAnthropic = (reason: string): FinishReason => table.get(reason) ?? "other"
