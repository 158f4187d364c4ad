/**
 * Why a generation stopped (API.md §2). Each protocol maps its own vocabulary onto it, in its folder
 * under `src/providers/`.
 */
import * as Schema from "effect/Schema"

/** `stop` | `length` | `filter` | `other`. */
export const FinishReason = Schema.Literal("stop", "length", "filter", "other")
export type FinishReason = typeof FinishReason.Type
