/**
 * The money side of a call, where its hold is written and settled (Plan prices the estimate; Admission
 * and Renewal use the ledger's rate limits and renewals): hold the plan's estimate before any request,
 * raise the hold atomically before a pricier fallback's request (or a retry after a billed attempt),
 * and settle exactly once — commit with the real usage and cost, or cancel (`error` / `cancelled`)
 * from the call's `Exit` with the usage seen so far — whatever ends the call.
 */
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import type { BudgetConfig, ModelConfig } from "../domain/Config.js"
import { BudgetExceededError, FatalError, type LedgerError, type RateLimitError } from "../domain/Errors.js"
import { fromCounts, maxTokenCount, plausible, type TokenUsage, type UsageCounts } from "../domain/TokenUsage.js"
import { billedReportOf } from "../internal/BilledUsage.js"
import type { Scrubber } from "../internal/Scrub.js"
import { roundUsd } from "../internal/Usd.js"
import type { Hold, Ledger } from "../services/Ledger.js"
import { formatUsd } from "../services/ledger/Spend.js"
import type { Pricing } from "../services/Pricing.js"
import type { Route } from "../services/Router.js"
import type { Admission } from "./Admission.js"
import { billedSoFar, boundedUsage } from "./Billed.js"
import type { CallTelemetry } from "./CallTelemetry.js"
import { Meter } from "./Meter.js"
import type { PendingSettlements } from "./PendingSettlements.js"
import { limitsFor, type Plan, requestFor } from "./Plan.js"
import type { CallProgress } from "./Progress.js"
import * as Renewal from "./Renewal.js"

/** What a committed call cost, and when. */
export interface Settled {
  readonly usage: TokenUsage
  readonly cost: number
  readonly timing: { readonly ttftMs?: number; readonly totalMs: number }
}

const ledgerUnavailable = (error: LedgerError) =>
  new FatalError({ reason: "ledger_unavailable", message: `the spend ledger is unavailable: ${error.message}` })

/** The tag and message a settlement records for a failed call's cause; `undefined` for an interruption. */
const describeFailure = (
  cause: Cause.Cause<unknown>
): { readonly tag: string; readonly message: string } | undefined => {
  if (Cause.isInterruptedOnly(cause)) return undefined
  return Option.match(Cause.failureOption(cause), {
    onNone: () => ({ tag: "Defect", message: Cause.pretty(cause).split("\n")[0] ?? "defect" }),
    onSome: (error) => {
      const tagged = error as { readonly _tag?: string; readonly message?: string }
      return { tag: tagged._tag ?? "Error", message: tagged.message ?? String(error) }
    }
  })
}

/** Metering over the layer's ledger, pricing, budget settings and the call telemetry. */
export const make = (deps: {
  readonly ledger: Ledger.Service
  readonly pricing: Pricing.Service
  readonly budget: BudgetConfig
  readonly telemetry: CallTelemetry
  /** Corrects the last attempt's rate-limit slot to the tokens it used when the call settles. */
  readonly admission: Admission
  /** Removes configured secrets from what a settlement records. */
  readonly scrub: Scrubber
  /** Where a settlement the ledger could not write is kept, to be written before the next hold. */
  readonly pending?: PendingSettlements | undefined
}) => {
  const { ledger, pricing, telemetry } = deps

  /**
   * Holds the plan's estimate (atomically with every limit); fails with `BudgetExceededError` before
   * any request, or with the plan's `oversize` refusal before any ledger write.
   */
  const hold = (
    plan: Plan,
    progress: CallProgress
  ): Effect.Effect<Meter, BudgetExceededError | FatalError | RateLimitError> =>
    plan.oversize !== undefined
      ? Effect.zipRight(telemetry.limiterRefused(plan.model.alias, "tpm"), refused(plan, plan.oversize))
      : deps.pending?.any() === true
      ? Effect.zipRight(deps.pending.flush, holdNow(plan, progress))
      : holdNow(plan, progress)

  const holdNow = (plan: Plan, progress: CallProgress): Effect.Effect<Meter, BudgetExceededError | FatalError> =>
    ledger.hold({
      traceId: plan.traceId,
      provider: plan.model.provider,
      model: plan.model.modelId,
      alias: plan.model.alias,
      tags: plan.tags,
      estimate: plan.estimate,
      limits: plan.limits
    }).pipe(
      // one frame for both outcomes (a `catchAll` and a `map` cost a success three steps more)
      Effect.matchEffect({
        onFailure: (error) => refused(plan, error._tag === "LedgerError" ? ledgerUnavailable(error) : error),
        onSuccess: (held) => Effect.succeed(new Meter(plan, progress, held))
      })
    )

  /**
   * A call the hold refused (or the rate limiter, for a request no wait could admit) ends there:
   * counted by its outcome as a settled call is, at no cost, its span saying so (no attempt, $0) as a
   * call that ended unanswered.
   */
  const refused = <E extends BudgetExceededError | FatalError | RateLimitError>(plan: Plan, error: E) =>
    Effect.zipRight(
      // (no request was sent: no latency sample)
      telemetry.settled({ provider: plan.model.provider, model: plan.model.modelId }, error._tag, 0, 0, false),
      Effect.zipRight(
        telemetry.unfinished({ route: undefined, attempts: 0, usage: undefined, cost: 0 }),
        Effect.fail(error)
      )
    )

  /**
   * Before a fallback's request, or a retry after an attempt that was billed: raises the hold to the
   * attempt's estimate plus what earlier attempts were charged, in one atomic ledger step (or refuses
   * with `BudgetExceededError` naming the attempt's `endpoint`), so concurrent calls cannot jointly pass
   * a limit.
   */
  const raiseFor = (
    meter: Meter,
    model: ModelConfig,
    endpoint: string
  ): Effect.Effect<void, BudgetExceededError | FatalError> => {
    const current = meter.hold
    if (model.alias === current.alias && meter.charged === 0) return Effect.void
    return Effect.flatMap(
      pricing.estimate(model, meter.plan.request, meter.plan.outputCap),
      // what earlier attempts were billed stays held too: the hold bounds the whole call (API.md §14)
      (estimate) =>
        model.alias === current.alias && meter.charged + estimate <= current.estimate
          ? Effect.void
          : ledger.raise(current, {
            provider: model.provider,
            model: model.modelId,
            alias: model.alias,
            estimate: roundUsd(meter.charged + estimate),
            // every scope of the fallback alias, with the call's tags (API.md §12)
            limits: limitsFor(deps.budget, model, meter.plan.tags)
          }).pipe(
            Effect.catchTags({
              LedgerError: (error) => Effect.fail(ledgerUnavailable(error)),
              BudgetExceededError: (error) =>
                Effect.fail(
                  new BudgetExceededError({
                    reason: error.reason,
                    message: error.message,
                    scope: error.scope,
                    window: error.window,
                    spent: error.spent,
                    limit: error.limit,
                    estimate: error.estimate,
                    provider: error.provider ?? model.provider,
                    endpoint
                  })
                )
            }),
            Effect.map((raised) => meter.raised(raised)),
            // not beside a renewal of the hold it replaces
            (raise) => meter.writes === undefined ? raise : meter.writes.withPermits(1)(raise)
          )
    )
  }

  const warnedUnreported = new Set<string>()
  const warnUnreported = (route: Route) => {
    if (warnedUnreported.has(route.model.alias)) return Effect.void
    warnedUnreported.add(route.model.alias)
    // Debug, not Warning: nothing at Info or above on a call's success path (API.md §14)
    return Effect.logDebug(
      `model "${route.model.alias}" (${route.model.provider}) reported no token usage: its calls are settled at an upper-bound estimate (input bound + answer bytes)`
    ).pipe(Effect.annotateLogs({ alias: route.model.alias }))
  }

  const warnImplausible = (route: Route) =>
    Effect.logWarning(
      `model "${route.model.alias}" (${route.model.provider}) reported an impossible token usage (negative, non-finite or over ${maxTokenCount}): settled at an upper-bound estimate`
    ).pipe(Effect.annotateLogs({ alias: route.model.alias }))

  const who = (meter: Meter, route: Route | undefined) => {
    const model = route?.model ?? meter.plan.model
    return { provider: model.provider, model: model.modelId, alias: model.alias, endpoint: route?.endpoint.name }
  }

  /**
   * After a failed attempt that is to be retried: what it was billed (its usage so far, or the usage
   * an undecodable answer still reported) is priced on its own model and charged to the call, and its
   * progress is forgotten — the next attempt's `raiseFor` holds the charge too. The last attempt is
   * priced by `settleUnfinished` instead.
   */
  const chargeFailed = (meter: Meter, error: unknown): Effect.Effect<void> =>
    Effect.suspend(() => {
      const progress = meter.progress
      const route = progress.route
      if (route === undefined) return Effect.void
      // the report a failed answer carried is its last word (cumulative: it counts the text streamed before it)
      const billed = billedReportOf(error) ?? billedSoFar(meter, route.model, progress.usage)
      // the attempt is forgotten and charged in one step: an interruption cannot come between them
      return billed === undefined
        ? Effect.sync(() => progress.charged())
        : Effect.map(pricing.cost(route.model, billed), (cost) => {
          progress.charged()
          meter.charge(cost, billed, error)
        })
    })

  /**
   * The hold bounds the call (API.md §14): a service that ignored the output cap is still billed at its
   * real cost, on commit and cancel alike, and a warning names the model. Without a cap (no budget in
   * force) an answer longer than the estimate is no fault: nothing is logged on that success path.
   */
  const warnOvershoot = (meter: Meter, model: ModelConfig, cost: number, held: Hold): Effect.Effect<void> =>
    cost > held.estimate + 1e-12 && requestFor(meter.plan, model).maxOutputTokens !== undefined
      ? Effect.logWarning(
        `model "${model.alias}" (${model.modelId}) reported usage costing ${formatUsd(cost)}, more than its hold of ${
          formatUsd(held.estimate)
        }: settled at the real cost (the service billed more than the output cap it was sent and the input bound allow)`
      ).pipe(Effect.annotateLogs({ traceId: meter.plan.traceId, alias: model.alias }))
      : Effect.void

  /** The usage a successful answer is settled at: its report when plausible, else its bound. */
  const answerUsage = (
    meter: Meter,
    route: Route,
    reported: UsageCounts | undefined,
    answer: { readonly content: string; readonly reasoning: string | undefined }
  ) =>
    fromCounts(
      reported ??
        // a stream that reported its input only (Anthropic's message_start): that input, the output at its bound
        (meter.progress.inputOnly ? billedSoFar(meter, route.model, meter.progress.usage) : undefined) ??
        boundedUsage(
          meter,
          route.model,
          Buffer.byteLength(answer.content, "utf8") + Buffer.byteLength(answer.reasoning ?? "", "utf8")
        )
    )

  /**
   * Notes a unary answer's usage in the call's progress the moment it arrives: a call interrupted
   * between its answer and its commit (a caller's timeout during the rate-limit release or the
   * commit's round trip) was billed, and its cancel is priced by it, not at $0.
   */
  const answered = (
    meter: Meter,
    route: Route,
    claimed: UsageCounts | undefined,
    answer: { readonly content: string; readonly reasoning: string | undefined }
  ): void => {
    meter.progress.observeUsage(
      answerUsage(meter, route, claimed === undefined ? undefined : plausible(claimed), answer)
    )
  }

  /** `commit`'s steps: one generator function per layer, not per call (see `Attempts.onceSteps`). */
  function* commitSteps(
    fiber: Fiber.RuntimeFiber<unknown, unknown>,
    meter: Meter,
    route: Route,
    claimed: UsageCounts | undefined,
    answer: { readonly content: string; readonly reasoning: string | undefined }
  ) {
    const clock = Context.get(fiber.currentDefaultServices, Clock.Clock)
    const reported = claimed === undefined ? undefined : plausible(claimed)
    const usage = answerUsage(meter, route, reported, answer)
    meter.progress.observeUsage(usage)
    if (claimed !== undefined && reported === undefined) yield* warnImplausible(route)
    const answerCost = yield* pricing.cost(route.model, usage)
    // with what earlier attempts were billed
    const cost = meter.charged === 0 ? answerCost : roundUsd(answerCost + meter.charged)
    const now = clock.unsafeCurrentTimeMillis()
    const timing = meter.progress.timing(now)
    const held = meter.hold
    if (reported === undefined) yield* warnUnreported(route)
    yield* deps.admission.release(meter.plan.traceId, meter.progress, usage.totalTokens)
    const called = who(meter, route)
    yield* ledger.commit(held, {
      provider: called.provider,
      model: called.model,
      alias: called.alias,
      endpoint: called.endpoint,
      cost,
      // A ledger row with no usage says the provider reported none (its cost is the bound below).
      usage: reported === undefined ? undefined : usage,
      attempts: meter.progress.attempts,
      timing
    }).pipe(
      Effect.tap(() => meter.settle()),
      Effect.uninterruptible,
      Effect.catchTag("LedgerError", (error) => {
        // The answer was billed: the cancel that follows (`settleUnfinished`) records its usage
        // (noted in the progress above).
        return Effect.zipRight(
          Effect.logError(`ledger commit failed for trace ${meter.plan.traceId}: ${error.message}`),
          Effect.fail(ledgerUnavailable(error))
        )
      })
    )
    yield* warnOvershoot(meter, route.model, cost, held)
    telemetry.settledIn(fiber, called, "ok", timing.totalMs, cost)
    return { usage, cost, timing }
  }

  /** Commits a successful call at its real usage and cost (uninterruptibly) and returns them. */
  const commit = (
    meter: Meter,
    route: Route,
    claimed: UsageCounts | undefined,
    answer: { readonly content: string; readonly reasoning: string | undefined }
  ): Effect.Effect<Settled, FatalError> =>
    Effect.withFiberRuntime((fiber) => Effect.gen(() => commitSteps(fiber, meter, route, claimed, answer)))

  /**
   * Settles a call that did not commit, from its `Exit`: `cancelled` when interrupted or stopped
   * early, else `error` with the failure's tag and message; priced by the usage seen so far.
   */
  const settleUnfinished = (meter: Meter, exit: Exit.Exit<unknown, unknown>): Effect.Effect<void> =>
    Effect.suspend(() => {
      if (!meter.settle()) return Effect.void
      const failure = Exit.isFailure(exit) ? describeFailure(exit.cause) : undefined
      const error = failure === undefined ? undefined : { tag: failure.tag, message: deps.scrub(failure.message) }
      const progress = meter.progress
      const route = progress.route
      // An undecodable answer whose usage still read was billed: priced by it, as a commit would be
      // (unless it is an earlier attempt's failure, charged when that attempt was retried).
      const failed = Exit.isFailure(exit) ? Option.getOrUndefined(Cause.failureOption(exit.cause)) : undefined
      // (that report is the attempt's last word: it counts the text streamed before it)
      const report = meter.wasCharged(failed) ? undefined : billedReportOf(failed)
      const model = route?.model ?? meter.plan.model
      const priced = report ?? billedSoFar(meter, model, progress.usage)
      // the usage seen so far (API.md §7); without any report, its bound (input bound + bytes streamed);
      // when the last attempt sent was charged already, that attempt's
      const seen = priced ?? meter.lastChargedUsage
      return Effect.gen(function*() {
        const cost = roundUsd((priced === undefined ? 0 : yield* pricing.cost(model, priced)) + meter.charged)
        const now = yield* Clock.currentTimeMillis
        const timing = progress.timing(now)
        yield* deps.admission.release(meter.plan.traceId, progress, priced?.totalTokens ?? 0)
        yield* telemetry.settled(
          who(meter, route),
          error?.tag ?? "cancelled",
          timing.totalMs,
          cost,
          progress.attempts > 0
        )
        yield* telemetry.unfinished({
          route,
          attempts: progress.attempts,
          usage: seen,
          cost,
          ttftMs: progress.ttftMs
        })
        const held = meter.hold
        const write = ledger.cancel(held, {
          ...who(meter, route),
          status: error === undefined ? "cancelled" : "error",
          cost,
          usage: seen === undefined ? undefined : fromCounts(seen),
          attempts: progress.attempts,
          error,
          timing
        })
        yield* write.pipe(
          Effect.catchAll((e) => {
            // kept: written before the next call's hold, or when the layer closes
            deps.pending?.keep(held, write)
            return Effect.logError(
              `ledger cancel failed for trace ${meter.plan.traceId}: ${e.message}${
                deps.pending === undefined ? "" : " (kept: written before the next call, or at close)"
              }`
            )
          })
        )
        yield* warnOvershoot(meter, route?.model ?? meter.plan.model, cost, held)
      })
    })

  return {
    hold,
    raiseFor,
    chargeFailed,
    answered,
    commit,
    settleUnfinished,
    ...Renewal.make(ledger, deps.budget)
  }
}

/** The metering operations of a layer. */
export type Metering = ReturnType<typeof make>
