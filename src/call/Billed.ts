/**
 * What an attempt that ended without its answer settled was billed (API.md §6 "the usage seen so
 * far"): the provider's latest report, the text generated after it at its bound, or with no report the
 * input bound and the text's bound. Never above the output cap the request sent, so never above its hold.
 */
import type { ModelConfig } from "../domain/Config.js"
import type { UsageCounts } from "../domain/TokenUsage.js"
import { inputTokenBound } from "../services/Pricing.js"
import type { Meter } from "./Meter.js"
import { requestFor } from "./Plan.js"

/**
 * The output tokens of `bytes` of generated text no usage report counted: a token per byte at most
 * (every tokenizer's bound) and, when the request sent an output cap, at most the cap — the provider
 * stops there, so the call is never priced above its hold (`reported`: output already counted).
 */
export const unreportedOutput = (meter: Meter, model: ModelConfig, reported: number, bytes: number): number => {
  const cap = requestFor(meter.plan, model).maxOutputTokens
  return cap === undefined ? reported + bytes : Math.min(reported + bytes, Math.max(reported, cap))
}

const withOutput = (usage: UsageCounts, outputTokens: number): UsageCounts => ({
  ...usage,
  outputTokens,
  totalTokens: usage.totalTokens - usage.outputTokens + outputTokens
})

/**
 * Usage for a provider that reported none (an OpenAI-compatible server ignoring `include_usage`):
 * the input bound of the hold and the output bound of the answer's UTF-8 bytes, so the call is priced
 * at no less than it can have cost, and never above its hold.
 */
export const boundedUsage = (meter: Meter, model: ModelConfig, bytes: number): UsageCounts => {
  const inputTokens = inputTokenBound(meter.plan.request, model.protocol, model.modelId)
  const outputTokens = unreportedOutput(meter, model, 0, bytes)
  return { inputTokens, outputTokens, totalTokens: inputTokens + outputTokens }
}

/**
 * The usage the call's current attempt was billed for, from `usage` (its latest report, or the one an
 * undecodable answer carried) and the text it received after it; undefined when nothing says it was
 * billed. Text streamed after the latest report (Chat Completions reports at the end only; Anthropic's
 * message_start holds a placeholder output count) was generated: it is priced at its bound.
 */
export const billedSoFar = (
  meter: Meter,
  model: ModelConfig,
  usage: UsageCounts | undefined
): UsageCounts | undefined => {
  const progress = meter.progress
  if (usage === undefined) {
    return progress.streamedBytes > 0 ? boundedUsage(meter, model, progress.streamedBytes) : undefined
  }
  return progress.unreportedBytes > 0
    ? withOutput(usage, unreportedOutput(meter, model, usage.outputTokens, progress.unreportedBytes))
    : usage
}
