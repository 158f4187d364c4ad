/**
 * Token counts of one call, normalised across providers (API.md §2, §8): `inputTokens` counts every
 * input token, cached or not; `outputTokens` every output token, reasoning included.
 */
import * as Schema from "effect/Schema"
import { unvalidated } from "../internal/Unvalidated.js"

/** Input, output and total tokens of a call, with the cache and reasoning parts where the provider reports them. */
export class TokenUsage extends Schema.Class<TokenUsage>("TokenUsage")({
  inputTokens: Schema.Number,
  outputTokens: Schema.Number,
  totalTokens: Schema.Number,
  /** Input tokens read from the provider's prompt cache (included in `inputTokens`). */
  cachedInputTokens: Schema.optional(Schema.Number),
  /** Input tokens written to the provider's prompt cache (included in `inputTokens`). */
  cacheWriteTokens: Schema.optional(Schema.Number),
  /** Output tokens spent on reasoning (included in `outputTokens`). */
  reasoningTokens: Schema.optional(Schema.Number)
}) {
  /**
   * A usage of zero tokens. (`this`, not the class's name: a class that names itself is renamed
   * `_TokenUsage` by the bundler, and Node prints instances with that name.)
   */
  static readonly zero: TokenUsage = new this({ inputTokens: 0, outputTokens: 0, totalTokens: 0 })
}

/**
 * Token counts as a provider reports them, before they become a `TokenUsage` (built once per call,
 * not per stream event). A `TokenUsage` qualifies.
 */
export interface UsageCounts {
  readonly inputTokens: number
  readonly outputTokens: number
  readonly totalTokens: number
  readonly cachedInputTokens?: number | undefined
  readonly cacheWriteTokens?: number | undefined
  readonly reasoningTokens?: number | undefined
}

/** The `TokenUsage` of plain counts (no validation: providers hand over finite numbers). */
export const fromCounts = (usage: UsageCounts): TokenUsage => {
  if (usage instanceof TokenUsage) return usage
  const fields: {
    inputTokens: number
    outputTokens: number
    totalTokens: number
    cachedInputTokens?: number
    cacheWriteTokens?: number
    reasoningTokens?: number
  } = { inputTokens: usage.inputTokens, outputTokens: usage.outputTokens, totalTokens: usage.totalTokens }
  if (usage.cachedInputTokens !== undefined) fields.cachedInputTokens = usage.cachedInputTokens
  if (usage.cacheWriteTokens !== undefined) fields.cacheWriteTokens = usage.cacheWriteTokens
  if (usage.reasoningTokens !== undefined) fields.reasoningTokens = usage.reasoningTokens
  return unvalidated(TokenUsage, fields)
}

/** The largest token count taken (a provider's report, an output cap): a 32-bit count, as every ledger column stores one. */
export const maxTokenCount = 2_147_483_647

const isCount = (n: number): boolean => n >= 0 && n <= maxTokenCount // false for NaN
const asCount = (n: number | undefined): number | undefined => n === undefined || !isCount(n) ? undefined : Math.ceil(n)

/**
 * A provider's report as counts the library can price and store, or undefined when it is none: a
 * negative, non-finite or absurd input, output or total is treated as no report (the call is priced
 * at its bound), so a misbehaving server can neither lower the day's spend nor poison it. Fractions
 * round up; an implausible cache or reasoning count is dropped, and one larger than the count that
 * includes it is cut to it (OpenRouter has reported 11 reasoning tokens in 10 output tokens): the
 * parts stay within `inputTokens` and `outputTokens` (API.md §8).
 */
export const plausible = (usage: UsageCounts): UsageCounts | undefined => {
  const { cachedInputTokens, cacheWriteTokens, inputTokens, outputTokens, reasoningTokens, totalTokens } = usage
  if (!isCount(inputTokens) || !isCount(outputTokens) || !isCount(totalTokens)) return undefined
  const whole = Number.isInteger(inputTokens) && Number.isInteger(outputTokens) && Number.isInteger(totalTokens)
  const optionalFine = (n: number | undefined) => n === undefined || (Number.isInteger(n) && isCount(n))
  if (
    whole && optionalFine(cachedInputTokens) && optionalFine(cacheWriteTokens) && optionalFine(reasoningTokens) &&
    (reasoningTokens ?? 0) <= outputTokens && (cachedInputTokens ?? 0) + (cacheWriteTokens ?? 0) <= inputTokens
  ) {
    return usage
  }
  const input = Math.ceil(inputTokens)
  const output = Math.ceil(outputTokens)
  const cached = atMost(asCount(cachedInputTokens), input)
  return {
    inputTokens: input,
    outputTokens: output,
    totalTokens: Math.ceil(totalTokens),
    cachedInputTokens: cached,
    cacheWriteTokens: atMost(asCount(cacheWriteTokens), input - (cached ?? 0)),
    reasoningTokens: atMost(asCount(reasoningTokens), output)
  }
}

const atMost = (n: number | undefined, limit: number): number | undefined =>
  n === undefined ? undefined : Math.min(n, limit)
