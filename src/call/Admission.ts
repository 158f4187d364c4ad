/**
 * The rate limiter on the call path (API.md §11): before each HTTP attempt, a slot in the alias's
 * windows (the ledger's `admit`, atomic where the ledger is shared) — waited for with `Effect.sleep`
 * when the wait fits `max_wait_timeout_s` and what is left of the retry budget, else refused with
 * `RateLimitError` `local_limit`; when the attempt ends, its slot's tokens corrected to what it used;
 * and a server's 429 with Retry-After learned as a pause of that endpoint for that alias. An alias
 * with no limits takes no slots: over a ledger shared by processes (`pausedFor`) each attempt reads
 * the pauses any of them learned (one indexed read of the rows added since the last); over one that
 * is not (memory) its pauses are kept here, and until one is learned an attempt costs one comparison.
 */
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type { ModelConfig, RateLimits, ResilienceConfig } from "../domain/Config.js"
import { FatalError, type LimitKind, type LLMError, RateLimitError } from "../domain/Errors.js"
import type { CallRequest } from "../domain/Prompt.js"
import { billedReportOf } from "../internal/BilledUsage.js"
import * as KeyedSignal from "../internal/KeyedSignal.js"
import * as RetryPolicy from "../internal/RetryPolicy.js"
import * as Spans from "../internal/Spans.js"
import * as Telemetry from "../internal/Telemetry.js"
import type { Ledger, Refusal } from "../services/Ledger.js"
import { longestPauseMs } from "../services/ledger/Windows.js"
import { inputTokenBound } from "../services/Pricing.js"
import type { Route } from "../services/Router.js"
import type { CallTelemetry } from "./CallTelemetry.js"
import type { CallProgress } from "./Progress.js"

/** A wait the limiter made an attempt take: how long, and for which limit. */
export interface LimiterWait {
  readonly ms: number
  readonly kind: LimitKind
}

/** Tokens an attempt on `model` is admitted at: the input bound plus the output cap (API.md §11). */
export const admittedTokens = (model: ModelConfig, request: CallRequest, outputCap: number): number =>
  inputTokenBound(request, model.protocol, model.modelId) + outputCap

/**
 * A request whose admitted tokens alone exceed the alias's `tpm` could never be admitted: refused at
 * once as over that limit (API.md §11: `local_limit`, `limitKind` `tpm`), with no `retryAfter` — no
 * wait frees enough (`undefined` when it fits).
 */
export const oversize = (model: ModelConfig, tokens: number, endpoint?: string): RateLimitError | undefined =>
  model.limits?.tpm !== undefined && tokens > model.limits.tpm
    ? new RateLimitError({
      reason: "local_limit",
      limitKind: "tpm",
      provider: model.provider,
      ...(endpoint !== undefined ? { endpoint } : {}),
      message:
        `model "${model.alias}": the request is admitted at ${tokens} tokens (input bound + output cap), more than its limits.tpm of ${model.limits.tpm}; it could never be sent — lower maxOutputTokens or shorten the input`
    })
    : undefined

/** A wait as people read it: `750ms`, `59.9s`, `2m` (rounded up: never shorter than the wait). */
const formatWait = (ms: number): string =>
  ms < 1_000
    ? `${Math.ceil(ms)}ms`
    : ms < 60_000
    ? `${Math.ceil(ms / 100) / 10}s`
    : Duration.format(Duration.seconds(Math.ceil(ms / 1_000)))

const limitUnits = {
  rpm: ["request", "requests", "per minute"],
  tpm: ["token", "tokens", "per minute"],
  rpd: ["request", "requests", "per day"]
} as const

const describe = (route: Route, limits: RateLimits | undefined, refusal: Refusal): string => {
  const wait = formatWait(refusal.retryAfterMs)
  const alias = route.model.alias
  if (refusal.kind === "server") {
    return `${route.model.provider} (endpoint "${route.endpoint.name}") answered 429 for model "${alias}" and asked to wait: no request goes to it for another ${wait}`
  }
  const limit = limits?.[refusal.kind]
  const [one, many, per] = limitUnits[refusal.kind]
  return `model "${alias}" is at its limit of ${limit} ${
    limit === 1 ? one : many
  } ${per} (models.${alias}.limits.${refusal.kind}): the next slot frees in ${wait}`
}

const noAfterWait = (): Effect.Effect<void> => Effect.void

/** The limiter of a layer, over its ledger, resilience settings and call telemetry. */
export const make = (deps: {
  readonly ledger: Ledger.Service
  readonly resilience: ResilienceConfig
  readonly telemetry: CallTelemetry
}) => {
  const { ledger, resilience, telemetry } = deps
  const maxWaitMs = resilience.maxWaitTimeoutS * 1000
  const sharedPauses = ledger.pausedFor
  /** Pauses of aliases without limits when the ledger shares none, by `alias\0endpoint`: epoch ms they end. */
  const localPauses = new Map<string, number>()
  // A settlement that lowers a slot's tokens can let a `tpm` waiter in before its computed wait ends:
  // per alias, how many times tokens were freed (a waiter compares it across its admission try, so
  // a release during the try is not missed) and the signal its waiters race their sleep against.
  // In-process only: another process's settlements are seen when the wait ends.
  const tokensFreedCount = new Map<string, number>()
  const tokensFreedSignal = KeyedSignal.make()
  const tokensFreed = (alias: string) => {
    tokensFreedCount.set(alias, (tokensFreedCount.get(alias) ?? 0) + 1)
    tokensFreedSignal.fire(alias)
  }
  const whenTokensFreed = tokensFreedSignal.wait
  const noWait: Effect.Effect<LimiterWait | undefined> = Effect.succeed(undefined)
  const noRefusal: Effect.Effect<Refusal | undefined> = Effect.succeed(undefined)

  /** The ledger's span of a call's slot or pause names the call's trace id, as its hold and settlement do. */
  const withTraceId = <A, E>(operation: Effect.Effect<A, E>, traceId: string) =>
    Spans.annotatedWhenTraced(operation, Telemetry.attributes.traceId, traceId)

  const ledgerUnavailable = (error: { readonly message: string }) =>
    new FatalError({ reason: "ledger_unavailable", message: `the rate-limit ledger is unavailable: ${error.message}` })

  /** One admission try: a slot (set on `progress`) or a refusal. */
  const tryOnce = (
    traceId: string,
    progress: CallProgress,
    route: Route,
    limits: RateLimits | undefined,
    tokens: number
  ): Effect.Effect<Refusal | undefined, FatalError> => {
    if (limits === undefined) {
      if (sharedPauses !== undefined) {
        return Effect.mapBoth(sharedPauses(route.model.alias, route.endpoint.name), {
          onFailure: ledgerUnavailable,
          onSuccess: (paused) => paused === undefined ? undefined : { kind: "server", retryAfterMs: paused }
        })
      }
      const key = `${route.model.alias}\u0000${route.endpoint.name}`
      const until = localPauses.get(key)
      if (until === undefined) return noRefusal
      return Effect.map(Clock.currentTimeMillis, (now) => {
        if (until > now) return { kind: "server", retryAfterMs: until - now }
        localPauses.delete(key)
        return undefined
      })
    }
    // uninterruptible: an admitted slot always reaches `progress`, which releases it
    return Effect.uninterruptible(Effect.map(
      withTraceId(ledger.admit({ alias: route.model.alias, endpoint: route.endpoint.name, limits, tokens }), traceId),
      (admission) => {
        if (admission._tag === "Refused") return admission.refusal
        progress.admitted(admission.slot)
        return undefined
      }
    )).pipe(Effect.catchTag("LedgerError", (error) => Effect.fail(ledgerUnavailable(error))))
  }

  /**
   * Admits the attempt about to go to `route`, waiting its turn while the wait fits; returns the
   * wait taken (`undefined` when none). Fails with `RateLimitError` `local_limit` when it does not.
   * `afterWait(route)` runs after each wait, before the next try (the caller's check that `route` still
   * stands); its failure ends the admission with no slot taken. A function of the route, so that an
   * attempt that never waits (most) builds no effect for it.
   */
  const admit = <E = never>(
    traceId: string,
    progress: CallProgress,
    request: CallRequest,
    outputCap: number,
    route: Route,
    state: RetryPolicy.RetryState,
    afterWait: (route: Route) => Effect.Effect<void, E> = noAfterWait,
    wakeWhen?: ((route: Route) => Effect.Effect<void>) | undefined
  ): Effect.Effect<LimiterWait | undefined, RateLimitError | FatalError | E> => {
    const limits = route.model.limits
    if (limits === undefined) {
      if (sharedPauses === undefined && localPauses.size === 0) return noWait
      // an alias without limits asks once (a read of the pauses); the waiting loop only when refused
      return Effect.flatMap(
        tryOnce(traceId, progress, route, undefined, 0),
        (refusal) =>
          refusal === undefined ? noWait : waitTurn(traceId, progress, route, 0, state, afterWait, refusal, wakeWhen)
      )
    }
    const tokens = admittedTokens(route.model, request, outputCap)
    const tooBig = oversize(route.model, tokens, route.endpoint.name)
    return tooBig !== undefined
      ? Effect.zipRight(telemetry.limiterRefused(route.model.alias, "tpm"), tooBig)
      : waitTurn(traceId, progress, route, tokens, state, afterWait, undefined, wakeWhen)
  }

  /** Tries (after `refused`, a first try's refusal, if given) until admitted, waiting while the wait fits. */
  const waitTurn = <E>(
    traceId: string,
    progress: CallProgress,
    route: Route,
    tokens: number,
    state: RetryPolicy.RetryState,
    afterWait: (route: Route) => Effect.Effect<void, E>,
    refused: Refusal | undefined,
    wakeWhen: ((route: Route) => Effect.Effect<void>) | undefined
  ): Effect.Effect<LimiterWait | undefined, RateLimitError | FatalError | E> => {
    const limits = route.model.limits
    return Effect.gen(function*() {
      let waited: LimiterWait | undefined
      let first = refused
      const alias = route.model.alias
      while (true) {
        const freedBefore = tokensFreedCount.get(alias)
        const refusal = first ?? (yield* tryOnce(traceId, progress, route, limits, tokens))
        first = undefined
        if (refusal === undefined) {
          if (limits !== undefined) yield* telemetry.limiterAdmitted(route)
          return waited
        }
        // tokens freed while it was asked: ask again at once
        if (refusal.kind === "tpm" && tokensFreedCount.get(alias) !== freedBefore) continue
        const now = yield* Clock.currentTimeMillis
        // the attempt after the wait must have time left of the budget (as `RetryPolicy.decide`'s waits)
        const fits = resilience.waitOnRateLimit && refusal.retryAfterMs <= maxWaitMs &&
          refusal.retryAfterMs < RetryPolicy.remainingBudgetMs(resilience, state, now)
        if (!fits) {
          yield* telemetry.limiterRefused(route.model.alias, refusal.kind)
          return yield* new RateLimitError({
            reason: "local_limit",
            message: describe(route, limits, refusal),
            provider: route.model.provider,
            endpoint: route.endpoint.name,
            retryAfter: Duration.millis(refusal.retryAfterMs),
            limitKind: refusal.kind
          })
        }
        yield* Effect.logDebug(`waiting ${refusal.retryAfterMs} ms for a ${refusal.kind} slot of ${route.model.alias}`)
          .pipe(Effect.annotateLogs({
            traceId,
            endpoint: route.endpoint.name,
            // the attempt the wait is for
            attempt: progress.attempts + 1,
            limitKind: refusal.kind,
            delayMs: refusal.retryAfterMs
          }))
        yield* telemetry.limiterWaited(route, refusal.kind)
        const sleep = Effect.sleep(Duration.millis(refusal.retryAfterMs))
        // the time it lasted, not the time planned: tokens freed early or an interruption cut it short
        // woken early too when tokens are freed (tpm), or when what the caller waits for says so
        // (`wakeWhen`: the endpoint's breaker opened, so the attempt is routed again after the wait)
        const wakers = [
          ...(refusal.kind === "tpm" ? [whenTokensFreed(alias)] : []),
          ...(wakeWhen !== undefined ? [wakeWhen(route)] : [])
        ]
        yield* (wakers.length === 0 ? sleep : Effect.raceAll([sleep, ...wakers])).pipe(
          Effect.ensuring(
            Effect.flatMap(Clock.currentTimeMillis, (end) => telemetry.limiterWaitLasted(route, end - now))
          )
        )
        waited = { ms: (waited?.ms ?? 0) + (yield* Clock.currentTimeMillis) - now, kind: refusal.kind }
        yield* afterWait(route)
      }
    })
  }

  /**
   * Ends the attempt whose slot `progress` holds: its tokens become `tokens` (what it used). Never
   * fails the call: a ledger failure is logged.
   */
  const release = (traceId: string, progress: CallProgress, tokens: number): Effect.Effect<void> => {
    const slot = progress.takeSlot()
    if (slot === undefined || slot.tokens === tokens) return Effect.void
    const freed = tokens < slot.tokens
    return withTraceId(ledger.release(slot, tokens), traceId).pipe(
      Effect.tap(() => freed ? tokensFreed(slot.alias) : undefined),
      Effect.catchAll((error) => Effect.logWarning(`rate limiter: releasing a slot failed: ${error.message}`)),
      Effect.uninterruptible
    )
  }

  /**
   * After a failed attempt: frees its slot's tokens (a refused or failed request is not billed for
   * its output), and learns a server's 429 with Retry-After as a pause of that endpoint for that alias
   * (API.md §11: a quota's too, e.g. a Gemini per-day quota's RetryInfo; never a local refusal's own).
   */
  const failed = (traceId: string, progress: CallProgress, route: Route, error: LLMError): Effect.Effect<void> => {
    // (an undecodable answer whose usage still read was billed: its slot keeps what it reported)
    const freed = release(traceId, progress, (billedReportOf(error) ?? progress.usage)?.totalTokens ?? 0)
    if (error._tag !== "RateLimitError" || error.reason === "local_limit" || error.retryAfter === undefined) {
      return freed
    }
    // a pause past a day is no hint a service makes (rpd's window is the longest): a header in the
    // wrong unit or a broken gateway would otherwise pause the alias in every process for ever
    const retryAfterMs = Math.min(Duration.toMillis(error.retryAfter), longestPauseMs)
    return Effect.zipRight(
      freed,
      Effect.flatMap(Clock.currentTimeMillis, (now) => {
        const until = now + retryAfterMs
        if (route.model.limits === undefined && sharedPauses === undefined) {
          const key = `${route.model.alias}\u0000${route.endpoint.name}`
          localPauses.set(key, Math.max(until, localPauses.get(key) ?? 0))
          return Effect.void
        }
        return withTraceId(ledger.pause(route.model.alias, route.endpoint.name, until), traceId).pipe(
          Effect.catchAll((e) => Effect.logWarning(`rate limiter: recording a pause failed: ${e.message}`))
        )
      })
    )
  }

  return { admit, release, failed }
}

/** The limiter of a layer. */
export type Admission = ReturnType<typeof make>
