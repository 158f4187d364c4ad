/**
 * effect-llm's metrics (Effect `Metric`) and span attribute names (OpenTelemetry GenAI conventions
 * plus `effect_llm.*`). Export them with `@effect/opentelemetry` (see the README); they never hold
 * a key, and hold prompt or answer text only with `observability.record_content: true`.
 */
import * as Metric from "effect/Metric"
import * as MetricBoundaries from "effect/MetricBoundaries"
import * as MetricLabel from "effect/MetricLabel"

const milliseconds = MetricBoundaries.exponential({ start: 5, factor: 2, count: 16 })

/** Calls, tagged `provider`, `model`, `outcome` (`ok`, an error tag, or `cancelled`). */
export const requests = Metric.counter("effect_llm_requests_total", {
  description: "calls by provider, model and outcome",
  incremental: true
})

/** HTTP attempts, tagged `provider`, `endpoint`. */
export const attempts = Metric.counter("effect_llm_attempts_total", {
  description: "HTTP attempts by provider and endpoint",
  incremental: true
})

/** Retries, tagged `reason` (the failed attempt's error reason). */
export const retries = Metric.counter("effect_llm_retries_total", {
  description: "retries by the reason of the failed attempt",
  incremental: true
})

/** Seconds slept waiting out rate limits, tagged `provider`. */
export const rateLimitWaitSeconds = Metric.counter("effect_llm_rate_limit_wait_seconds_total", {
  description: "seconds slept waiting out rate limits",
  incremental: true
})

/** Attempts the rate limiter admitted, tagged `model` (the alias; aliases with limits only). */
export const limiterAdmitted = Metric.counter("effect_llm_limiter_admitted_total", {
  description: "attempts admitted by the rate limiter, by model alias",
  incremental: true
})

/** Waits the rate limiter imposed, tagged `model`, `limit` (`rpm`, `tpm`, `rpd`, `server`). */
export const limiterWaited = Metric.counter("effect_llm_limiter_waited_total", {
  description: "rate limiter waits by model alias and limit",
  incremental: true
})

/** Attempts the rate limiter refused (`local_limit`), tagged `model`, `limit`. */
export const limiterRefused = Metric.counter("effect_llm_limiter_refused_total", {
  description: "attempts refused by the rate limiter by model alias and limit",
  incremental: true
})

/** Each rate-limiter wait, ms, tagged `model`. */
export const limiterWaitMs = Metric.histogram(
  "effect_llm_limiter_wait_ms",
  milliseconds,
  "time an attempt waited for a rate-limit slot, ms"
)

/** Breaker transitions, tagged `endpoint`, `from`, `to`. */
export const breakerTransitions = Metric.counter("effect_llm_breaker_transitions_total", {
  description: "circuit breaker state changes by endpoint",
  incremental: true
})

/** USD spent (committed and cancelled cost), tagged `provider`, `model`. */
export const spendUsd = Metric.counter("effect_llm_spend_usd_total", { description: "USD spent", incremental: true })

/**
 * Budget alerts, tagged `scope` (`global`, `model:<alias>`, or `tag:<key>` — a tag's values are left
 * out so the label set stays bounded), `window` and `threshold`.
 */
export const budgetAlerts = Metric.counter("effect_llm_budget_alerts_total", {
  description: "budget alerts by scope, window and threshold",
  incremental: true
})

/** Time to the first streamed delta, ms. */
export const ttftMs = Metric.histogram("effect_llm_ttft_ms", milliseconds, "time to first token of streams, ms")

/** Whole-call latency, ms, tagged `provider`, `model`. */
export const latencyMs = Metric.histogram("effect_llm_latency_ms", milliseconds, "call latency, ms")

/** Span attribute names. */
export const attributes = {
  system: "gen_ai.system",
  operation: "gen_ai.operation.name",
  requestModel: "gen_ai.request.model",
  responseModel: "gen_ai.response.model",
  inputTokens: "gen_ai.usage.input_tokens",
  outputTokens: "gen_ai.usage.output_tokens",
  finishReasons: "gen_ai.response.finish_reasons",
  responseId: "gen_ai.response.id",
  prompt: "gen_ai.prompt",
  completion: "gen_ai.completion",
  cost: "effect_llm.cost_usd",
  endpoint: "effect_llm.endpoint",
  attempt: "effect_llm.attempt",
  attempts: "effect_llm.attempts",
  traceId: "effect_llm.trace_id",
  alias: "effect_llm.alias",
  limiterWaitMs: "effect_llm.limiter.wait_ms",
  limiterLimit: "effect_llm.limiter.limit"
} as const

/** A metric with the given tags. */
export const withTags = <Type, In, Out>(
  metric: Metric.Metric<Type, In, Out>,
  tags: Readonly<Record<string, string>>
): Metric.Metric<Type, In, Out> =>
  Metric.taggedWithLabels(metric, Object.entries(tags).map(([key, value]) => MetricLabel.make(key, value)))
