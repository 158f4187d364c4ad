/**
 * The client (API.md §1): the life of one call composed from `call/` — plan (validate, resolve,
 * estimate), metering (hold → settle), attempts (route → breaker guard → attempt → retry) and, for
 * streams, streaming. `generate` returns text (or the full record); `stream` yields deltas then one
 * finish event.
 */
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as Admission from "../call/Admission.js"
import * as Attempts from "../call/Attempts.js"
import * as CallTelemetry from "../call/CallTelemetry.js"
import type { Meter } from "../call/Meter.js"
import * as Metering from "../call/Metering.js"
import * as Parts from "../call/Parts.js"
import * as PendingSettlements from "../call/PendingSettlements.js"
import * as Plan from "../call/Plan.js"
import { CallProgress } from "../call/Progress.js"
import * as Reports from "../call/Reports.js"
import { settledResponse } from "../call/Response.js"
import * as Streaming from "../call/Streaming.js"
import type { LLMError } from "../domain/Errors.js"
import type { GenerationResponse } from "../domain/GenerationResponse.js"
import type { GenerateRequest } from "../domain/Request.js"
import type { StreamEvent } from "../domain/StreamEvent.js"
import { argumentsText } from "../internal/ArgumentsText.js"
import * as InFlight from "../internal/InFlight.js"
import * as OnFailure from "../internal/OnFailure.js"
import { fromScopedPull } from "../internal/PullStream.js"
import * as Scrub from "../internal/Scrub.js"
import * as Spans from "../internal/Spans.js"
import * as Timeout from "../internal/Timeout.js"
import type { ProviderAnswer } from "../providers/Provider.js"
import { CircuitBreaker } from "./CircuitBreaker.js"
import { Ledger } from "./Ledger.js"
import { LLMConfig } from "./LLMConfig.js"
import { Pricing } from "./Pricing.js"
import { Providers } from "./Providers.js"
import { Router } from "./Router.js"

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

/**
 * What a unary call's ledger round trips may add to its `retry_budget_s` (a hold, slot admissions,
 * a PostgreSQL statement waiting out its 5 s lock timeout more than once): generous on purpose.
 */
const ledgerSlackS = 60

const generateSpan = {
  attributes: { "gen_ai.operation.name": "generate" },
  captureStackTrace: false
} as const

/**
 * Builds the client over the layer's config, ledger, router, breakers, pricing and protocol clients.
 * Scoped: closing the layer's scope first interrupts the calls in flight (each settles as
 * `cancelled` through its own finalizer) and waits for them, before the ledger and the HTTP pool —
 * built earlier — are closed (API.md §14).
 */
export const make = Effect.gen(function*() {
  const config = yield* LLMConfig
  const ledger = yield* Ledger
  const router = yield* Router
  const breakers = yield* CircuitBreaker
  const pricing = yield* Pricing
  const providers = yield* Providers
  const { resilience, budget, observability } = config.config

  const scrub = Scrub.make(config.secrets)
  const telemetry = CallTelemetry.make({ recordContent: observability.recordContent, scrub })
  const plan = Plan.make({ config, pricing, router, scrub })
  const planParts = Plan.makeForParts({ config, pricing, router, scrub })
  // A call its planner refuses is counted and its span named by what is known of it, as a refused
  // hold's. (Handled beside the plan's success, `matchEffect` in place of `flatMap`: no step added.)
  // The refusal may quote what the caller passed (an alias, a value out of range), which may be a
  // configured key pasted into the wrong field: scrubbed as every error is (API.md §14).
  const refused =
    (input: { readonly model?: unknown; readonly traceId?: unknown } | undefined) =>
    <E extends LLMError>(error: E): Effect.Effect<never, E> =>
      Effect.zipRight(
        Effect.flatMap(Plan.knownOf(config, input), (known) =>
          telemetry.refusedUnplanned(
            known.traceId === undefined ? known : { ...known, traceId: scrub(known.traceId) },
            error._tag
          )),
        Effect.fail(Scrub.scrubError(scrub, error))
      )
  /** `planner(input)`, a refusal counted (the stream paths: one step more than the plan alone). */
  const counted = <I extends { readonly model?: unknown; readonly traceId?: unknown }, E extends LLMError>(
    planner: (input: I) => Effect.Effect<Plan.Plan, E>,
    input: I
  ): Effect.Effect<Plan.Plan, E> => OnFailure.catchAll(planner(input), refused(input))
  const admission = Admission.make({ ledger, resilience, telemetry })
  // made before the in-flight calls' tracker: closing, calls settle first, then unwritten settlements get a last try
  const pending = yield* PendingSettlements.make(ledger)
  const metering = Metering.make({ ledger, pricing, budget, telemetry, admission, scrub, pending })
  const attempts = Attempts.make({
    resilience,
    router,
    breakers,
    config,
    providers,
    metering,
    admission,
    telemetry,
    scrub
  })
  const streaming = Streaming.make({ resilience, metering, attempts, telemetry, scrub })
  // A unary call's attempts end within `retry_budget_s` (each attempt's timeout, backoff and rate-limit
  // wait must fit what is left of it), give or take its ledger round trips: when a renewal could not
  // fall due before then (the defaults: 90 s against a third of 900 s), no renewer is started at all.
  const unaryRenews = (resilience.retryBudgetS + ledgerSlackS) * 3 >= budget.holdTtlS
  const inFlight = yield* InFlight.make

  /**
   * A held call's attempts, commit and record. One generator function per client, not one per call:
   * V8 gives every `function*` object its own prototype and generator map, made again for each call
   * that creates one (~3 µs, old-space garbage that only a full GC frees).
   */
  function* attemptAndCommit<A>(
    planned: Plan.Plan,
    meter: Meter,
    clock: Clock.Clock,
    traced: boolean,
    select: (answer: ProviderAnswer, response: GenerationResponse) => A
  ) {
    // the hold kept counting while the attempts run (an answer may outlast `hold_ttl_s`), not past them
    const attempted = attempts.run(meter, (client, target, route, timeout) =>
      Effect.tap(
        Timeout.timeoutAbortable(
          (abort) =>
            client.generate(
              target,
              Plan.requestFor(planned, route.model),
              abort,
              (part) => Reports.observePart(meter.progress, part)
            ),
          client.abortsRequests === true,
          timeout,
          () => Attempts.attemptTimeout(route, timeout)
        ),
        (answer) => metering.answered(meter, route, answer.usage, answer)
      ))
    const [decoded, route] = yield* (unaryRenews ? metering.keepRenewedWhile(meter, clock, attempted) : attempted)
    // A server may set its ids to text it was sent (a key): scrubbed here, for every
    // consumer — the response, the call span, the `@effect/ai` layer (API.md §14).
    const answer = decoded.requestId === undefined && decoded.modelVersion === undefined
      ? decoded
      : {
        ...decoded,
        requestId: decoded.requestId === undefined ? undefined : scrub(decoded.requestId),
        modelVersion: decoded.modelVersion === undefined ? undefined : scrub(decoded.modelVersion)
      }
    // (an answer assembled from a stream: what the stream said beside it)
    if (decoded.warnings !== undefined) {
      for (const warning of decoded.warnings) yield* Effect.logWarning((scrub.cut ?? scrub)(warning))
    }
    const settled = yield* metering.commit(meter, route, answer.usage, {
      content: answer.content + callsText(answer),
      reasoning: answer.reasoning
    })
    if (traced) {
      yield* telemetry.finished({
        route,
        usage: settled.usage,
        finishReason: answer.finishReason,
        cost: settled.cost,
        attempts: meter.progress.attempts,
        requestId: answer.requestId,
        modelVersion: answer.modelVersion,
        content: answer.content,
        ttftMs: undefined
      })
    }
    return select(answer, settledResponse(planned, route, settled, meter.progress.attempts, answer))
  }

  /**
   * A planned unary call, held, attempted and settled: what `select` takes of the decoded answer and
   * its record (taken in the call's last step: an `Effect.map` after it costs two more).
   */
  const generatePlanned = <A>(
    planned: Plan.Plan,
    select: (answer: ProviderAnswer, response: GenerationResponse) => A
  ): Effect.Effect<A, LLMError> =>
    // The clock and the tracer read in one step: under the native tracer (no span to annotate) the
    // call span's annotations are not built, nor is the tracer asked again for each.
    Effect.withFiberRuntime((fiber) => {
      const clock = Context.get(fiber.currentDefaultServices, Clock.Clock)
      const startedAt = clock.unsafeCurrentTimeMillis()
      const traced = Spans.isTraced(fiber)
      return Effect.acquireUseRelease(
        // Tracked from before its hold until it is settled (closing the client interrupts it and waits
        // for its settlement; a call made once closing is refused with an interruption): counted in and
        // out in the acquire and the release, both uninterruptible, rather than by an `ensuring` more.
        // The hold's effect is built in the acquire, not beside it: the release's closure shares this
        // scope, and would keep it alive for the whole call.
        Effect.suspend(() => {
          if (!inFlight.enter(fiber)) return Effect.interrupt
          const hold = metering.hold(planned, new CallProgress(startedAt))
          // the call span's attributes first: a call the hold refuses carries them too
          return Effect.catchAllCause(traced ? Effect.zipRight(telemetry.started(planned), hold) : hold, (cause) => {
            inFlight.leave(fiber)
            return Effect.failCause(cause)
          })
        }),
        (meter) => Effect.gen(() => attemptAndCommit(planned, meter, clock, traced, select)),
        (meter, exit) =>
          Effect.matchCauseEffect(metering.settleUnfinished(meter, exit), {
            onFailure: (cause) => {
              inFlight.leave(fiber)
              return Effect.failCause(cause)
            },
            onSuccess: () => {
              inFlight.leave(fiber)
              return Effect.void
            }
          })
      )
    })

  // Tracked in flight by `generatePlanned` (a call its planner refuses has nothing to settle).
  // A call made once the client is closing is refused with an interruption before it is planned
  // (no span, nothing counted), as a stream is.
  const generate = ((input: GenerateRequest) =>
    inFlight.whileOpen(Spans.withSpan(
      Effect.matchEffect(plan(input), {
        onFailure: refused(input),
        onSuccess: (planned) =>
          generatePlanned<string | GenerationResponse>(planned, input?.fullResponse === true ? theResponse : itsContent)
      }),
      "LLMClient.generate",
      generateSpan
    ))) as Generate<never>

  // Tracked and planned in the stream's own scope, at its first pull (no `Stream.unwrapScoped` stage).
  const stream = (input: GenerateRequest): Stream.Stream<StreamEvent, LLMError> =>
    streaming.stream((scope) => Effect.zipRight(inFlight.trackIn(scope), counted(plan, input)))

  const service = LLMClient.of({ generate, stream })
  return Parts.register(service, {
    generate: (input) =>
      Effect.matchEffect(planParts(input), {
        onFailure: refused(input),
        onSuccess: (planned) => generatePlanned(planned, partsAnswer)
      }).pipe((effect) => Spans.withSpan(effect, "LLMClient.generate", generateSpan), inFlight.whileOpen),
    stream: (input) =>
      streaming.streamParts((scope) => Effect.zipRight(inFlight.trackIn(scope), counted(planParts, input))),
    openStream: (input, scope) =>
      streaming.openStream((scope) => Effect.zipRight(inFlight.trackIn(scope), counted(plan, input)), scope)
  })
})

/** What `generate` returns: the record (`fullResponse: true`) or its text; `effect-llm/ai`'s both. */
const theResponse = (_: ProviderAnswer, response: GenerationResponse): GenerationResponse => response
const itsContent = (_: ProviderAnswer, response: GenerationResponse): string => response.content
const partsAnswer = (answer: ProviderAnswer, response: GenerationResponse): Parts.PartsAnswer => ({ answer, response })

/** A unary answer's tool calls as text, counted as output when the provider reports no usage. */
const callsText = (answer: ProviderAnswer): string => {
  let text = ""
  for (const part of answer.parts ?? []) {
    if (part.type === "tool-call") text += part.name + argumentsText(part.params)
  }
  return text
}

/** The client over its services. */
export const layer: Layer.Layer<
  LLMClient,
  never,
  LLMConfig | Ledger | Router | CircuitBreaker | Pricing | Providers
> = Layer.scoped(LLMClient, make)

/**
 * The `LLMClient` in the fiber's context, read in one step (`Effect.flatMap(LLMClient, f)` takes three:
 * the tag's lookup is a step of its own and a continuation).
 */
const withClient = <A, E, R>(
  f: (client: LLMClient.Service) => Effect.Effect<A, E, R>
): Effect.Effect<A, E, R | LLMClient> =>
  Effect.withFiberRuntime((fiber) => f(Context.unsafeGet(fiber.currentContext, LLMClient)))

/** Calls a model through the `LLMClient` in context; the result type follows `fullResponse`. */
export const generate: Generate<LLMClient> =
  ((request: GenerateRequest) => withClient((client) => client.generate(request))) as Generate<LLMClient>

/**
 * Streams a model's answer through the `LLMClient` in context, as one stream over the client's own
 * setup rather than a stream of its stream (`Stream.unwrap` costs a short stream ~15% more); a client
 * that `LLMClient.make` did not build (a test stub) is pulled as it is, under the same span.
 */
export const stream = (request: GenerateRequest): Stream.Stream<StreamEvent, LLMError, LLMClient> =>
  fromScopedPull(
    (scope) =>
      withClient((client) => {
        const entry = Parts.entryOf(client)
        return entry === undefined
          ? Scope.extend(Stream.toPull(client.stream(request)), scope)
          : entry.openStream(request, scope)
      }),
    Streaming.streamSpan
  )
