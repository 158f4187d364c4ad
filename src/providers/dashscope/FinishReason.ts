/**
 * DashScope's finish reasons (WIRE.md §2.3, OpenAI-style) as effect-llm's (API.md §2): `stop` →
 * stop, `length` → length, `content_filter` → filter, anything else → other. The string `"null"`
 * (every event but the last) means "not finished" and never reaches this table.
 */
import type { FinishReason } from "../../domain/FinishReason.js"

const table: ReadonlyMap<string, FinishReason> = new Map([
  ["stop", "stop"],
  ["length", "length"],
  ["content_filter", "filter"]
])

/** Maps a `finish_reason` that says the generation ended. */
export const fromDashScope = (reason: string): FinishReason => table.get(reason) ?? "other"
