/**
 * Token counts of one call, normalised across providers (thinking tokens count as output).
 */
import * as Schema from "effect/Schema"

/** Input, output and total tokens of a call. */
export class TokenUsage extends Schema.Class<TokenUsage>("TokenUsage")({
  inputTokens: Schema.Number,
  outputTokens: Schema.Number,
  totalTokens: Schema.Number
}) {
  /** A usage of zero tokens (what a provider that reports none is taken to have used). */
  static readonly zero = new TokenUsage({ inputTokens: 0, outputTokens: 0, totalTokens: 0 })
}
