/**
 * The full record of one answered call: text, who answered, usage, cost and timing.
 */
import * as Schema from "effect/Schema"
import { structural } from "../internal/Structural.js"
import { FinishReason } from "./FinishReason.js"
import { TokenUsage } from "./TokenUsage.js"

/** Time to first token (streams) and total wall time, in milliseconds, read from `Clock`. */
export const Timing = Schema.Struct({
  ttftMs: Schema.optional(Schema.Number),
  totalMs: Schema.Number
})
export type Timing = typeof Timing.Type

/** What `generate({ ..., fullResponse: true })` returns; `toString()` is the content. */
export class GenerationResponse extends Schema.Class<GenerationResponse>("GenerationResponse")({
  content: Schema.String,
  /** Text the model reported as its reasoning (never part of `content`). */
  reasoning: Schema.optional(Schema.String),
  /** The provider's model id (e.g. `gemini-2.5-flash`). */
  model: Schema.String,
  /** The config alias that answered (a fallback's alias when a fallback answered). */
  alias: Schema.String,
  provider: Schema.String,
  /** The name of the endpoint that answered. */
  endpoint: Schema.String,
  usage: TokenUsage,
  /** USD. */
  cost: Schema.Number,
  finishReason: FinishReason,
  traceId: Schema.String,
  /** The provider's request id, if it sent one. */
  requestId: Schema.optional(Schema.String),
  timing: Timing,
  /** HTTP attempts made for this call. */
  attempts: Schema.Number
}) {
  override toString(): string {
    return this.content
  }
}
structural(GenerationResponse)
