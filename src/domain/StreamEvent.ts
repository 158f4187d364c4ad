/**
 * One element of `stream()`: a text delta, or the single finish event that closes the stream.
 */
import * as Schema from "effect/Schema"
import { FinishReason } from "./FinishReason.js"
import { GenerationResponse } from "./GenerationResponse.js"
import { TokenUsage } from "./TokenUsage.js"

/**
 * A delta (`isFinish: false`) or the finish event carrying usage, finish reason and the full response.
 * Reasoning text comes as `reasoningDelta` (with an empty `delta`), never inside `delta` (API.md §8).
 */
export class StreamEvent extends Schema.Class<StreamEvent>("StreamEvent")({
  delta: Schema.String,
  reasoningDelta: Schema.optional(Schema.String),
  isFinish: Schema.Boolean,
  usage: Schema.optional(TokenUsage),
  finishReason: Schema.optional(FinishReason),
  response: Schema.optional(GenerationResponse)
}) {}
