/**
 * The client (API.md §1): validates a request, holds its estimated cost in the ledger, routes each
 * attempt through the breakers, retries by the policy, and settles the ledger however the call ends.
 * `generate` returns text (or the full record); `stream` yields deltas then one finish event.
 */
import * as Cause from "effect/Cause"
import * as Chunk from "effect/Chunk"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as ExecutionStrategy from "effect/ExecutionStrategy"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import type * as Schedule from "effect/Schedule"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type { ModelConfig } from "../domain/Config.js"
import { FatalError, type LedgerError, type LLMError, RetryableError } from "../domain/Errors.js"
import type { FinishReason } from "../domain/FinishReason.js"
import { GenerationResponse } from "../domain/GenerationResponse.js"
import { checkForProvider, type GenerateRequest, type NormalizedRequest, normalize } from "../domain/Request.js"
import { StreamEvent } from "../domain/StreamEvent.js"
import { TokenUsage } from "../domain/TokenUsage.js"
import * as RetryPolicy from "../internal/RetryPolicy.js"
import * as Telemetry from "../internal/Telemetry.js"
import type { ProviderChunk, ProviderTarget, UsageCounts } from "../providers/Provider.js"
import { type AttemptOutcome, CircuitBreaker } from "./CircuitBreaker.js"
import { budgetExceeded, type Hold, Ledger } from "./Ledger.js"
import { LLMConfig } from "./LLMConfig.js"
import { price, Pricing } from "./Pricing.js"
import { Providers } from "./Providers.js"
import { type Route, Router } from "./Router.js"

/** `generate`, typed so that the result follows `fullResponse`. */
export interface Generate<R> {
  (request: GenerateRequest & { readonly fullResponse: true }): Effect.Effect<GenerationResponse, LLMError, R>
  (request: GenerateRequest & { readonly fullResponse?: false | undefined }): Effect.Effect<string, LLMError, R>
  (request: GenerateRequest): Effect.Effect<string | GenerationResponse, LLMError, R>
}

export declare namespace LLMClient {
  /** The client's operations; none has requirements. */
  export interface Service {
    readonly generate: Generate<never>
    readonly stream: (request: GenerateRequest) => Stream.Stream<StreamEvent, LLMError>
  }
}

/** The client service. */
export class LLMClient extends Context.Tag("effect-llm/LLMClient")<LLMClient, LLMClient.Service>() {}

/** One call's mutable record: what the ledger and the response report. */
interface Call {
  readonly request: NormalizedRequest
  readonly model: ModelConfig
  readonly traceId: string
  readonly startedAt: number
  readonly hold: Hold
  attempts: number
  settled: boolean
  route: Route | undefined
  /** The latest usage seen (a stream's counts; the record is built when the call settles). */
  usage: UsageCounts | undefined
  cost: number
  ttftMs: number | undefined
}

const ledgerUnavailable = (error: LedgerError) =>
  new FatalError({ reason: "ledger_unavailable", message: `the spend ledger is unavailable: ${error.message}` })

/** How an attempt's failure counts for the endpoint's breaker (API.md §7: 4xx and 429 never count). */
const outcomeOf = (error: LLMError): AttemptOutcome => error._tag === "RetryableError" ? "failure" : "neutral"

const isInterruptedOnly = (cause: Cause.Cause<unknown>) => Cause.isInterruptedOnly(cause)

const newTraceId = () => crypto.randomUUID()

const toTokenUsage = (usage: UsageCounts): TokenUsage =>
  usage instanceof TokenUsage
    ? usage
    : new TokenUsage({ inputTokens: usage.inputTokens, outputTokens: usage.outputTokens, totalTokens: usage.totalTokens }, true)

/**
 * `Telemetry.withTags`, memoised per tag set: tagging builds and hashes a new metric key each time,
 * which on the per-call path cost more than the update itself. Tag values come from config (provider,
 * model, endpoint) and fixed vocabularies (outcome, reason), so the cache stays small.
 */
const withTagsCached = <Type, In, Out>(metric: Metric.Metric<Type, In, Out>) => {
  const cache = new Map<string, Metric.Metric<Type, In, Out>>()
  return (tags: Readonly<Record<string, string>>): Metric.Metric<Type, In, Out> => {
    let key = ""
    for (const name in tags) key += `${name}\u0000${tags[name]}\u0000`
    let found = cache.get(key)
    if (found === undefined) {
      found = Telemetry.withTags(metric, tags)
      cache.set(key, found)
    }
    return found
  }
}

/** Builds the client over the layer's config, ledger, router, breakers, pricing and providers. */
export const make = Effect.gen(function*() {
  const { config, apiKey, model: resolveModel } = yield* LLMConfig
  const ledger = yield* Ledger
  const router = yield* Router
  const breakers = yield* CircuitBreaker
  const pricing = yield* Pricing
  const providers = yield* Providers
  const resilience = config.resilience
  const policy: Schedule.Schedule<unknown, LLMError> = RetryPolicy.schedule(resilience)
  const requestTimeoutMs = resilience.requestTimeoutS * 1000
  const idleTimeout = Duration.seconds(resilience.streamIdleTimeoutS)
  const recordContent = config.observability.recordContent
  const requestsMetric = withTagsCached(Telemetry.requests)
  const latencyMetric = withTagsCached(Telemetry.latencyMs)
  const spendMetric = withTagsCached(Telemetry.spendUsd)
  const attemptsMetric = withTagsCached(Telemetry.attempts)

  /** Counts a finished call (by outcome) and its latency and spend. */
  const observe = (call: Call, outcome: string, totalMs: number) => {
    const who = { provider: call.route?.model.provider ?? call.model.provider, model: call.route?.model.modelId ?? call.model.modelId }
    return Effect.all([
      Metric.increment(requestsMetric({ ...who, outcome })),
      Metric.update(latencyMetric(who), totalMs),
      call.cost > 0 ? Metric.incrementBy(spendMetric(who), call.cost) : Effect.void
    ], { discard: true })
  }

  /** Validation, alias resolution and the budget hold: everything before the first request. */
  const begin = (input: GenerateRequest) =>
    Effect.gen(function*() {
      const request = yield* normalize(input)
      const model = yield* resolveModel(input.model)
      yield* checkForProvider(model.provider, request)
      yield* router.candidates(model)
      const traceId = typeof input.traceId === "string" && input.traceId.length > 0 ? input.traceId : newTraceId()
      const estimate = yield* pricing.estimate(model, request)
      const startedAt = yield* Clock.currentTimeMillis
      const hold = yield* ledger.hold({
        traceId,
        provider: model.provider,
        model: model.modelId,
        alias: model.alias,
        estimate,
        limit: config.budget.dailySpendLimit
      }).pipe(Effect.catchTag("LedgerError", (e) => Effect.fail(ledgerUnavailable(e))))
      yield* Effect.annotateCurrentSpan({
        [Telemetry.attributes.system]: model.provider,
        [Telemetry.attributes.requestModel]: model.modelId,
        [Telemetry.attributes.alias]: model.alias,
        [Telemetry.attributes.traceId]: traceId,
        ...(recordContent ? { [Telemetry.attributes.prompt]: JSON.stringify(request) } : {})
      })
      const call: Call = {
        request,
        model,
        traceId,
        startedAt,
        hold,
        attempts: 0,
        settled: false,
        route: undefined,
        usage: undefined,
        cost: 0,
        ttftMs: undefined
      }
      return call
    })

  const who = (call: Call) => ({
    provider: call.route?.model.provider ?? call.model.provider,
    model: call.route?.model.modelId ?? call.model.modelId,
    alias: call.route?.model.alias ?? call.model.alias,
    endpoint: call.route?.endpoint.name
  })

  /** Settles a call that did not commit: `cancelled` when interrupted or stopped early, else `error`. */
  const settleUnfinished = (call: Call, exit: Exit.Exit<unknown, unknown>) =>
    Effect.suspend(() => {
      if (call.settled) return Effect.void
      call.settled = true
      const failure = Exit.isFailure(exit) && !isInterruptedOnly(exit.cause) ? exit.cause : undefined
      const error = failure === undefined
        ? undefined
        : Option.match(Cause.failureOption(failure), {
          onNone: () => ({ tag: "Defect", message: Cause.pretty(failure).split("\n")[0] ?? "defect" }),
          onSome: (e) => {
            const tagged = e as { readonly _tag?: string; readonly message?: string }
            return { tag: tagged._tag ?? "Error", message: tagged.message ?? String(e) }
          }
        })
      // Tokens a cut or stopped stream already used are billed by the provider: count them.
      if (call.usage !== undefined) {
        call.cost = price(call.route?.model ?? call.model, call.usage.inputTokens, call.usage.outputTokens)
      }
      return Effect.flatMap(Clock.currentTimeMillis, (now) =>
        Effect.zipRight(observe(call, error?.tag ?? "cancelled", now - call.startedAt), ledger.cancel(call.hold, {
          ...who(call),
          status: error === undefined ? "cancelled" : "error",
          cost: call.cost,
          usage: call.usage === undefined ? undefined : toTokenUsage(call.usage),
          attempts: call.attempts,
          error,
          timing: { totalMs: now - call.startedAt, ...(call.ttftMs !== undefined ? { ttftMs: call.ttftMs } : {}) }
        }))).pipe(
          Effect.catchAll((e) => Effect.logError(`ledger cancel failed for trace ${call.traceId}: ${e.message}`))
        )
    })

  /** Commits a finished call and builds its response. */
  const finish = (
    call: Call,
    route: Route,
    content: string,
    usage: TokenUsage,
    finishReason: FinishReason,
    requestId: string | undefined
  ) =>
    Effect.gen(function*() {
      const cost = yield* pricing.cost(route.model, usage)
      call.usage = usage
      call.cost = cost
      const now = yield* Clock.currentTimeMillis
      const timing = { totalMs: now - call.startedAt, ...(call.ttftMs !== undefined ? { ttftMs: call.ttftMs } : {}) }
      yield* ledger.commit(call.hold, { ...who(call), cost, usage, attempts: call.attempts, timing }).pipe(
        Effect.tap(() => {
          call.settled = true
        }),
        Effect.uninterruptible,
        Effect.catchTag("LedgerError", (e) => Effect.fail(ledgerUnavailable(e)))
      )
      yield* observe(call, "ok", timing.totalMs)
      if (call.ttftMs !== undefined) yield* Metric.update(Telemetry.ttftMs, call.ttftMs)
      yield* Effect.annotateCurrentSpan({
        [Telemetry.attributes.responseModel]: route.model.modelId,
        [Telemetry.attributes.inputTokens]: usage.inputTokens,
        [Telemetry.attributes.outputTokens]: usage.outputTokens,
        [Telemetry.attributes.finishReasons]: [finishReason],
        [Telemetry.attributes.cost]: cost,
        [Telemetry.attributes.endpoint]: route.endpoint.name,
        [Telemetry.attributes.attempts]: call.attempts,
        ...(requestId !== undefined ? { [Telemetry.attributes.responseId]: requestId } : {}),
        ...(recordContent ? { [Telemetry.attributes.completion]: content } : {})
      })
      return new GenerationResponse({
        content,
        model: route.model.modelId,
        alias: route.model.alias,
        provider: route.model.provider,
        endpoint: route.endpoint.name,
        usage,
        cost,
        finishReason,
        traceId: call.traceId,
        ...(requestId !== undefined ? { requestId } : {}),
        timing,
        attempts: call.attempts
      }, true)
    })

  /** Re-checks the budget when a fallback priced above the held estimate is about to be used. */
  const checkFallbackBudget = (call: Call, route: Route) =>
    Effect.gen(function*() {
      if (route.model.alias === call.model.alias || config.budget.dailySpendLimit <= 0) return
      const estimate = yield* pricing.estimate(route.model, call.request)
      const extra = estimate - call.hold.estimate
      if (extra <= 0) return
      const spent = yield* ledger.spendToday().pipe(Effect.catchTag("LedgerError", (e) => Effect.fail(ledgerUnavailable(e))))
      if (spent + extra > config.budget.dailySpendLimit + 1e-12) {
        return yield* Effect.fail(budgetExceeded({ ...call.hold, estimate, limit: config.budget.dailySpendLimit }, spent - call.hold.estimate))
      }
    })

  /**
   * Runs attempts until one succeeds or the policy gives up. Each attempt is routed anew (breakers
   * may have changed), bounded by `request_timeout_s` and by what remains of `retry_budget_s`.
   */
  const withRetries = <A>(
    call: Call,
    attempt: (route: Route, target: ProviderTarget, timeout: Duration.Duration) => Effect.Effect<A, LLMError>
  ): Effect.Effect<readonly [A, Route], LLMError> =>
    Effect.gen(function*() {
      let state = RetryPolicy.initial(policy, call.startedAt)
      while (true) {
        const route = yield* router.route(call.model)
        const abandon = breakers.record(route.endpoint.name, route.admission, "abandoned")
        const key = yield* Effect.zipRight(checkFallbackBudget(call, route), apiKey(route.model.provider)).pipe(
          Effect.tapError(() => abandon)
        )
        call.route = route
        call.attempts += 1
        yield* Metric.increment(attemptsMetric({ provider: route.model.provider, endpoint: route.endpoint.name }))
        const now = yield* Clock.currentTimeMillis
        const timeoutMs = Math.max(0, Math.min(requestTimeoutMs, RetryPolicy.remainingBudgetMs(resilience, state, now)))
        const target: ProviderTarget = { endpoint: route.endpoint, modelId: route.model.modelId, apiKey: key }
        const exit = yield* attempt(route, target, Duration.millis(timeoutMs)).pipe(
          Effect.onInterrupt(() => abandon),
          Effect.withSpan("LLMClient.attempt", {
            kind: "client",
            captureStackTrace: false,
            attributes: {
              [Telemetry.attributes.system]: route.model.provider,
              [Telemetry.attributes.requestModel]: route.model.modelId,
              [Telemetry.attributes.endpoint]: route.endpoint.name,
              [Telemetry.attributes.attempt]: call.attempts,
              [Telemetry.attributes.traceId]: call.traceId
            }
          }),
          Effect.exit
        )
        if (Exit.isSuccess(exit)) {
          yield* breakers.record(route.endpoint.name, route.admission, "success")
          return [exit.value, route] as const
        }
        const failure = Cause.failureOption(exit.cause)
        if (Option.isNone(failure)) {
          yield* abandon
          return yield* Effect.failCause(exit.cause as Cause.Cause<never>)
        }
        const error = failure.value
        yield* breakers.record(route.endpoint.name, route.admission, outcomeOf(error))
        const [decision, next] = yield* RetryPolicy.decide(resilience, policy, state, error, yield* Clock.currentTimeMillis)
        if (decision._tag === "fail") return yield* Effect.fail(decision.error)
        yield* Effect.logInfo(
          `retrying ${call.model.alias} after ${error._tag} (${error.reason}) from ${route.endpoint.name}: waiting ${Math.round(Duration.toMillis(decision.delay))} ms`
        ).pipe(Effect.annotateLogs({
          traceId: call.traceId,
          endpoint: route.endpoint.name,
          attempt: call.attempts,
          error: error._tag,
          reason: error.reason,
          delayMs: Duration.toMillis(decision.delay)
        }))
        yield* Metric.increment(Telemetry.withTags(Telemetry.retries, { reason: error.reason }))
        if (error._tag === "RateLimitError") {
          yield* Metric.incrementBy(
            Telemetry.withTags(Telemetry.rateLimitWaitSeconds, { provider: route.model.provider }),
            Duration.toMillis(decision.delay) / 1000
          )
        }
        yield* Effect.sleep(decision.delay)
        state = next
      }
    })

  const attemptTimeout = (route: Route, timeout: Duration.Duration) =>
    new RetryableError({
      reason: "timeout",
      message: `no response from ${route.endpoint.name} within ${Duration.format(timeout)}`,
      provider: route.model.provider,
      endpoint: route.endpoint.name
    })

  const generateResponse = (input: GenerateRequest): Effect.Effect<GenerationResponse, LLMError> =>
    Effect.acquireUseRelease(
      begin(input),
      (call) =>
        Effect.gen(function*() {
          const [answer, route] = yield* withRetries(call, (route, target, timeout) =>
            providers[route.model.provider].generate(target, call.request).pipe(
              Effect.timeoutFail({ duration: timeout, onTimeout: () => attemptTimeout(route, timeout) })
            ))
          return yield* finish(call, route, answer.content, answer.usage, answer.finishReason, answer.requestId)
        }),
      settleUnfinished
    ).pipe(Effect.withSpan("LLMClient.generate", { attributes: { [Telemetry.attributes.operation]: "generate" }, captureStackTrace: false }))

  const generate = ((input: GenerateRequest) =>
    input?.fullResponse === true
      ? generateResponse(input)
      : Effect.map(generateResponse(input), (response) => response.content)) as Generate<never>

  /** Opens one streaming attempt and reads it up to its first text delta (or its end). */
  const openStream = (call: Call, parent: Scope.Scope, route: Route, target: ProviderTarget, timeout: Duration.Duration) =>
    Effect.gen(function*() {
      const scope = yield* Scope.fork(parent, ExecutionStrategy.sequential)
      return yield* Effect.gen(function*() {
        const body = yield* providers[route.model.provider].stream(target, call.request).pipe(
          Scope.extend(scope),
          Effect.timeoutFail({ duration: timeout, onTimeout: () => attemptTimeout(route, timeout) })
        )
        const pull = yield* Scope.extend(Stream.toPull(body), scope)
        const prefix: Array<ProviderChunk> = []
        let ended = false
        while (true) {
          const next = yield* pull.pipe(
            Effect.timeoutFail({
              duration: idleTimeout,
              onTimeout: () =>
                Option.some(
                  new RetryableError({
                    reason: "timeout",
                    message: `${route.endpoint.name} sent no stream event for ${Duration.format(idleTimeout)}`,
                    provider: route.model.provider,
                    endpoint: route.endpoint.name
                  })
                )
            }),
            Effect.catchAll((e) => Option.isNone(e) ? Effect.succeed(undefined) : Effect.fail(e.value))
          )
          if (next === undefined) {
            ended = true
            break
          }
          let sawText = false
          for (const chunk of next) {
            prefix.push(chunk)
            if (chunk.delta.length > 0) sawText = true
          }
          if (sawText) break
        }
        return { prefix, pull, ended, scope }
      }).pipe(Effect.onError((cause) => Scope.close(scope, Exit.failCause(cause))))
    })

  const stream = (input: GenerateRequest): Stream.Stream<StreamEvent, LLMError> =>
    Stream.unwrapScoped(
      Effect.gen(function*() {
        const outer = yield* Effect.scope
        const call = yield* Effect.acquireRelease(begin(input), settleUnfinished)
        const [opened, route] = yield* withRetries(call, (route, target, timeout) =>
          openStream(call, outer, route, target, timeout))
        let content: Array<string> = []
        let usage: UsageCounts | undefined
        let finishReason: FinishReason | undefined
        let requestId: string | undefined
        const absorb = (chunks: Iterable<ProviderChunk>): Chunk.Chunk<StreamEvent> => {
          const events: Array<StreamEvent> = []
          for (const chunk of chunks) {
            if (chunk.usage !== undefined) usage = chunk.usage
            if (chunk.finishReason !== undefined) finishReason = chunk.finishReason
            if (chunk.requestId !== undefined) requestId = chunk.requestId
            if (chunk.delta.length > 0) {
              content.push(chunk.delta)
              events.push(new StreamEvent({ delta: chunk.delta, isFinish: false }, true))
            }
          }
          call.usage = usage
          return Chunk.unsafeFromArray(events)
        }
        if (opened.prefix.some((chunk) => chunk.delta.length > 0)) {
          call.ttftMs = (yield* Clock.currentTimeMillis) - call.startedAt
        }
        const first = absorb(opened.prefix)
        const interrupted = (error: LLMError): LLMError =>
          error._tag === "RetryableError" && error.reason === "timeout"
            ? new RetryableError({
              reason: "stream_interrupted",
              message: `stream interrupted after text was delivered: ${error.message}`,
              provider: route.model.provider,
              endpoint: route.endpoint.name
            })
            : error
        const rest = opened.ended ? Stream.empty : Stream.repeatEffectChunkOption(
          opened.pull.pipe(
            Effect.timeoutFail({
              duration: idleTimeout,
              onTimeout: () =>
                Option.some<LLMError>(
                  new RetryableError({
                    reason: "stream_interrupted",
                    message: `${route.endpoint.name} sent no stream event for ${Duration.format(idleTimeout)}`,
                    provider: route.model.provider,
                    endpoint: route.endpoint.name
                  })
                )
            }),
            Effect.mapError(Option.map(interrupted))
          )
        ).pipe(Stream.mapChunks(absorb))
        const finishEvent = Effect.suspend(() =>
          finish(
            call,
            route,
            content.join(""),
            usage === undefined ? TokenUsage.zero : toTokenUsage(usage),
            finishReason ?? "other",
            requestId
          ).pipe(
            Effect.tap(() => Scope.close(opened.scope, Exit.void)),
            Effect.map((response) => {
              content = []
              return new StreamEvent({
                delta: "",
                isFinish: true,
                usage: response.usage,
                finishReason: response.finishReason,
                response
              }, true)
            })
          )
        )
        return Stream.fromChunk(first).pipe(Stream.concat(rest), Stream.concat(Stream.fromEffect(finishEvent)))
      })
    ).pipe(Stream.withSpan("LLMClient.stream", { attributes: { [Telemetry.attributes.operation]: "stream" }, captureStackTrace: false }))

  return LLMClient.of({ generate, stream })
})

/** The client over its services. */
export const layer: Layer.Layer<
  LLMClient,
  never,
  LLMConfig | Ledger | Router | CircuitBreaker | Pricing | Providers
> = Layer.effect(LLMClient, make)

/** Calls a model through the `LLMClient` in context; the result type follows `fullResponse`. */
export const generate: Generate<LLMClient> = ((request: GenerateRequest) =>
  Effect.flatMap(LLMClient, (client) => client.generate(request))) as Generate<LLMClient>

/** Streams a model's answer through the `LLMClient` in context. */
export const stream = (request: GenerateRequest): Stream.Stream<StreamEvent, LLMError, LLMClient> =>
  Stream.unwrap(Effect.map(LLMClient, (client) => client.stream(request)))
