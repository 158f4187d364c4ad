/**
 * Chat Completions finish reasons (WIRE-openai-anthropic §1.3) as effect-llm's (API.md §2): `stop` →
 * stop, `length` → length, `content_filter` (and Zhipu's `sensitive`) → filter; `tool_calls`,
 * `function_call`, DeepSeek's `insufficient_system_resource`, Zhipu's `network_error`, OpenRouter's
 * `error` and anything newer → other.
 */
import type { FinishReason } from "../../domain/FinishReason.js"

const table: ReadonlyMap<string, FinishReason> = new Map([
  ["stop", "stop"],
  ["length", "length"],
  ["content_filter", "filter"],
  ["sensitive", "filter"]
])

/** Maps a `finish_reason` that says the generation ended (never `null`, which means "not yet"). */
export const fromOpenAI = (reason: string): FinishReason => table.get(reason) ?? "other"
