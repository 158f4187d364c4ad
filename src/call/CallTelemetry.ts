/**
 * A call's telemetry: the GenAI span attributes of the call span, the attempt span, and the metrics
 * counted when a call settles, an attempt is sent or a retry waits (metric definitions in
 * `internal/Telemetry.ts`). Tagged metrics are memoised: tagging builds and hashes a key each time.
 */
import * as Effect from "effect/Effect"
import type * as Fiber from "effect/Fiber"
import * as FiberRef from "effect/FiberRef"
import * as Metric from "effect/Metric"
import type * as MetricLabel from "effect/MetricLabel"
import type { FinishReason } from "../domain/FinishReason.js"
import type { TokenUsage, UsageCounts } from "../domain/TokenUsage.js"
import type { Scrubber } from "../internal/Scrub.js"
import { whenTraced } from "../internal/Spans.js"
import * as Telemetry from "../internal/Telemetry.js"
import type { Route } from "../services/Router.js"
import type { Plan } from "./Plan.js"

/** Who a call went to, as metrics tag it. */
export interface Who {
  readonly provider: string
  readonly model: string
}

/**
 * `Telemetry.withTags` with the tags `names` names, memoised by their values (from config and fixed
 * vocabularies): a nested map walked value by value, so an update builds no key string or tag object.
 */
const taggedBy = <Type, In, Out>(metric: Metric.Metric<Type, In, Out>, ...names: ReadonlyArray<string>) => {
  const root = new Map<string, unknown>()
  return (...values: ReadonlyArray<string>): Metric.Metric<Type, In, Out> => {
    let node = root
    const last = values.length - 1
    for (let i = 0; i < last; i++) {
      let next = node.get(values[i]!) as Map<string, unknown> | undefined
      if (next === undefined) node.set(values[i]!, next = new Map())
      node = next
    }
    let found = node.get(values[last]!) as Metric.Metric<Type, In, Out> | undefined
    if (found === undefined) {
      found = Telemetry.withTags(metric, Object.fromEntries(names.map((name, i) => [name, values[i]!])))
      node.set(values[last]!, found)
    }
    return found
  }
}

/**
 * Runs `update` with the fiber's metric labels (`Effect.tagMetrics`): several metric updates in one
 * step instead of an effect each.
 */
const updateMetrics = (update: (labels: ReadonlyArray<MetricLabel.MetricLabel>) => void): Effect.Effect<void> =>
  Effect.withFiberRuntime((fiber) => {
    update(fiber.getFiberRef(FiberRef.currentMetricLabels))
    return Effect.void
  })

/**
 * Builds the call telemetry; `recordContent` puts prompt and answer text on spans, through `scrub`
 * (a prompt or an answer may quote a configured secret: API.md §14).
 */
export const make = (options: { readonly recordContent: boolean; readonly scrub?: Scrubber | undefined }) => {
  const scrub = options.scrub ?? ((text: string) => text)
  const requests = taggedBy(Telemetry.requests, "provider", "model", "outcome")
  const latency = taggedBy(Telemetry.latencyMs, "provider", "model")
  const spend = taggedBy(Telemetry.spendUsd, "provider", "model")
  const attempts = taggedBy(Telemetry.attempts, "provider", "endpoint")
  const retries = taggedBy(Telemetry.retries, "reason")
  const waits = taggedBy(Telemetry.rateLimitWaitSeconds, "provider")
  const admitted = taggedBy(Telemetry.limiterAdmitted, "model")
  const waited = taggedBy(Telemetry.limiterWaited, "model", "limit")
  const refused = taggedBy(Telemetry.limiterRefused, "model", "limit")
  const waitMs = taggedBy(Telemetry.limiterWaitMs, "model")

  const countSettled = (
    labels: ReadonlyArray<MetricLabel.MetricLabel>,
    who: Who,
    outcome: string,
    totalMs: number,
    cost: number,
    sent: boolean
  ) => {
    requests(who.provider, who.model, outcome).unsafeUpdate(1, labels)
    // (a call refused before any request — its budget, a breaker, the limiter — has no latency to show)
    if (sent) latency(who.provider, who.model).unsafeUpdate(totalMs, labels)
    if (cost > 0) spend(who.provider, who.model).unsafeUpdate(cost, labels)
  }

  /**
   * Counts a settled call by outcome (`ok`, an error tag, `cancelled`), its latency when it sent a
   * request (`sent`), and its spend.
   */
  const settled = (who: Who, outcome: string, totalMs: number, cost: number, sent: boolean) =>
    updateMetrics((labels) => countSettled(labels, who, outcome, totalMs, cost, sent))

  /**
   * `settled`, at once, by code running in `fiber` (its metric labels read now, as the effect would
   * read them): no effect step.
   */
  const settledIn = (
    fiber: Fiber.RuntimeFiber<unknown, unknown>,
    who: Who,
    outcome: string,
    totalMs: number,
    cost: number
  ) => countSettled(fiber.getFiberRef(FiberRef.currentMetricLabels), who, outcome, totalMs, cost, true)

  /** Annotates the call span with what the plan decided. */
  const started = (plan: Plan) =>
    whenTraced(() =>
      Effect.annotateCurrentSpan({
        [Telemetry.attributes.system]: plan.model.provider,
        [Telemetry.attributes.requestModel]: plan.model.modelId,
        [Telemetry.attributes.alias]: plan.model.alias,
        [Telemetry.attributes.traceId]: plan.traceId,
        ...(options.recordContent ? { [Telemetry.attributes.prompt]: scrub(JSON.stringify(plan.request)) } : {})
      })
    )

  /**
   * `gen_ai.response.finish_reasons` is a string array in the GenAI conventions, but the
   * OpenTelemetry SDK bridge of `@effect/opentelemetry` exports any non-primitive attribute as its
   * printed string; its span keeps the OpenTelemetry span as `span`, so the array is set there too
   * (other tracers see the attribute as annotated).
   */
  const setFinishReasons = (reasons: ReadonlyArray<string>) =>
    Effect.flatMap(Effect.option(Effect.currentSpan), (span) =>
      Effect.sync(() => {
        const otel = span._tag === "Some" ? (span.value as { readonly span?: unknown }).span : undefined
        const setAttribute = (otel as { readonly setAttribute?: unknown } | undefined)?.setAttribute
        if (typeof setAttribute === "function") setAttribute.call(otel, Telemetry.attributes.finishReasons, reasons)
      }))

  /** Records a stream's time to its first delta (`Metric.update`, in one step instead of four). */
  const recordTtft = (ttftMs: number): Effect.Effect<void> =>
    updateMetrics((labels) => Telemetry.ttftMs.unsafeUpdate(ttftMs, labels))

  /** `annotated`, after recording a stream's time to its first delta (a unary call has none). */
  const withTtft = (ttftMs: number | undefined, annotated: Effect.Effect<void>): Effect.Effect<void> =>
    ttftMs === undefined ? annotated : Effect.zipRight(recordTtft(ttftMs), annotated)

  /**
   * Annotates the call span with the answer, and records the TTFT of a stream. `traced: false` (the
   * caller read its fiber's tracer: the native one) skips the annotation and its check of the tracer.
   */
  const finished = (answer: {
    readonly route: Route
    readonly usage: TokenUsage
    readonly finishReason: FinishReason
    readonly cost: number
    readonly attempts: number
    readonly requestId: string | undefined
    /** The model version the provider reported answering with (scrubbed), if it reported one. */
    readonly modelVersion?: string | undefined
    readonly content: string
    readonly ttftMs: number | undefined
  }, traced = true) => {
    if (!traced) return answer.ttftMs === undefined ? Effect.void : recordTtft(answer.ttftMs)
    const annotated = whenTraced(() =>
      Effect.annotateCurrentSpan({
        // the provider that answered: a fallback's, when one did (its endpoint and model are named too)
        [Telemetry.attributes.system]: answer.route.model.provider,
        // the version the provider reported (`gpt-4o-mini-2024-07-18`), else the id it was asked for
        [Telemetry.attributes.responseModel]: answer.modelVersion ?? answer.route.model.modelId,
        [Telemetry.attributes.inputTokens]: answer.usage.inputTokens,
        [Telemetry.attributes.outputTokens]: answer.usage.outputTokens,
        [Telemetry.attributes.finishReasons]: [answer.finishReason],
        [Telemetry.attributes.cost]: answer.cost,
        [Telemetry.attributes.endpoint]: answer.route.endpoint.name,
        [Telemetry.attributes.attempts]: answer.attempts,
        ...(answer.requestId !== undefined ? { [Telemetry.attributes.responseId]: answer.requestId } : {}),
        ...(options.recordContent ? { [Telemetry.attributes.completion]: scrub(answer.content) } : {})
      }).pipe(Effect.zipRight(setFinishReasons([answer.finishReason])))
    )
    return withTtft(answer.ttftMs, annotated)
  }

  /**
   * Annotates the call span of a call that ended without an answer (failed, interrupted, stopped
   * early) with what it came to: the last endpoint tried, the attempts, the usage seen and its cost;
   * a stream that had its first delta records its time to it (the delta came, whatever came after).
   */
  const unfinished = (ended: {
    readonly route: Route | undefined
    readonly attempts: number
    readonly usage: UsageCounts | undefined
    readonly cost: number
    readonly ttftMs?: number | undefined
  }) => {
    const annotated = whenTraced(() =>
      Effect.annotateCurrentSpan({
        ...(ended.route !== undefined ? { [Telemetry.attributes.endpoint]: ended.route.endpoint.name } : {}),
        ...(ended.usage !== undefined ?
          {
            [Telemetry.attributes.inputTokens]: ended.usage.inputTokens,
            [Telemetry.attributes.outputTokens]: ended.usage.outputTokens
          } :
          {}),
        [Telemetry.attributes.attempts]: ended.attempts,
        [Telemetry.attributes.cost]: ended.cost
      })
    )
    return withTtft(ended.ttftMs, annotated)
  }

  /** Counts an attempt about to be sent. */
  const attempted = (route: Route) =>
    updateMetrics((labels) => attempts(route.model.provider, route.endpoint.name).unsafeUpdate(1, labels))

  /** `attempted`, at once, by code running in `fiber` (no effect step). */
  const attemptedIn = (fiber: Fiber.RuntimeFiber<unknown, unknown>, route: Route) =>
    attempts(route.model.provider, route.endpoint.name).unsafeUpdate(1, fiber.getFiberRef(FiberRef.currentMetricLabels))

  /** The options of an attempt's span; a rate-limiter wait before it is recorded on it. */
  const attemptSpan = (
    plan: Plan,
    route: Route,
    attempt: number,
    wait?: { readonly ms: number; readonly kind: string } | undefined
  ) => {
    const attributes: Record<string, unknown> = {
      [Telemetry.attributes.system]: route.model.provider,
      [Telemetry.attributes.requestModel]: route.model.modelId,
      // the model this attempt asks (a fallback's after a failover): the one that answers if it succeeds
      [Telemetry.attributes.responseModel]: route.model.modelId,
      [Telemetry.attributes.alias]: route.model.alias,
      [Telemetry.attributes.endpoint]: route.endpoint.name,
      [Telemetry.attributes.attempt]: attempt,
      [Telemetry.attributes.traceId]: plan.traceId
    }
    if (wait !== undefined) {
      attributes[Telemetry.attributes.limiterWaitMs] = wait.ms
      attributes[Telemetry.attributes.limiterLimit] = wait.kind
    }
    return { kind: "client" as const, captureStackTrace: false, attributes }
  }

  /**
   * A call refused before it was planned (a malformed request or trace id, bad tags, an unknown alias,
   * a provider without its key): counted by its outcome as a refused hold is, and its span named by what
   * is known of it — the trace id it was given, the alias when it resolves ("" labels when not).
   */
  const refusedUnplanned = (
    known: {
      readonly traceId: string | undefined
      readonly model: { readonly provider: string; readonly modelId: string; readonly alias: string } | undefined
    },
    outcome: string
  ) =>
    Effect.zipRight(
      settled({ provider: known.model?.provider ?? "", model: known.model?.modelId ?? "" }, outcome, 0, 0, false),
      whenTraced(() =>
        Effect.annotateCurrentSpan({
          ...(known.model !== undefined ?
            {
              [Telemetry.attributes.system]: known.model.provider,
              [Telemetry.attributes.requestModel]: known.model.modelId,
              [Telemetry.attributes.alias]: known.model.alias
            } :
            {}),
          ...(known.traceId !== undefined ? { [Telemetry.attributes.traceId]: known.traceId } : {}),
          [Telemetry.attributes.attempts]: 0,
          [Telemetry.attributes.cost]: 0
        })
      )
    )

  /** Counts an attempt the rate limiter admitted. */
  const limiterAdmitted = (route: Route) => Metric.increment(admitted(route.model.alias))

  /** Counts a rate-limiter wait about to begin. */
  const limiterWaited = (route: Route, limit: string) => Metric.increment(waited(route.model.alias, limit))

  /** Records how long a rate-limiter wait lasted (cut short, when a slot freed early or the caller left). */
  const limiterWaitLasted = (route: Route, ms: number) => Metric.update(waitMs(route.model.alias), ms)

  /** Counts a rate-limiter refusal. */
  const limiterRefused = (alias: string, limit: string) => Metric.increment(refused(alias, limit))

  /** Counts a retry, once its wait is over, by the failed attempt's reason. */
  const retried = (reason: string) => Metric.increment(retries(reason))

  /** Adds the seconds a wait before retrying a provider's 429 slept (all of it, or until the caller left). */
  const rateLimitWaited = (provider: string, ms: number) =>
    ms > 0 ? Metric.incrementBy(waits(provider), ms / 1000) : Effect.void

  return {
    settled,
    settledIn,
    refusedUnplanned,
    started,
    finished,
    unfinished,
    attempted,
    attemptedIn,
    attemptSpan,
    retried,
    rateLimitWaited,
    limiterAdmitted,
    limiterWaited,
    limiterWaitLasted,
    limiterRefused
  }
}

/** The call telemetry of a layer. */
export type CallTelemetry = ReturnType<typeof make>
