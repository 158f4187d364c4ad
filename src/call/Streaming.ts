/**
 * The stream side of a call: an attempt opens the provider's stream (within the first-byte timeout)
 * and reads it up to its first delta (`peelUntil`), so retries happen only before anything reached
 * the caller (API.md §7); the rest is passed on as `StreamEvent`s under the idle timeout, and the
 * finish event commits the call with the usage the provider reported.
 *
 * The caller's stream is one pull over one pull of the provider's stream: every further `Stream`
 * stage, `toPull` or scope costs a stream tens of KB of allocation and fiber steps whatever its
 * length (a 100-event stream spent most of its CPU there), so the stages are plain code in `next`.
 */
import * as Chunk from "effect/Chunk"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as ExecutionStrategy from "effect/ExecutionStrategy"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as Tracer from "effect/Tracer"
import type { ResilienceConfig } from "../domain/Config.js"
import { type LLMError, RetryableError } from "../domain/Errors.js"
import type { FinishReason } from "../domain/FinishReason.js"
import type { GenerationResponse } from "../domain/GenerationResponse.js"
import type { CallRequest } from "../domain/Prompt.js"
import { StreamEvent } from "../domain/StreamEvent.js"
import type { UsageCounts } from "../domain/TokenUsage.js"
import { argumentsText } from "../internal/ArgumentsText.js"
import * as OnFailure from "../internal/OnFailure.js"
import { type Peeled, peelUntil, type Pull } from "../internal/Peel.js"
import { fromScopedPull, last } from "../internal/PullStream.js"
import { type Scrubber, scrubError } from "../internal/Scrub.js"
import { isTraced } from "../internal/Spans.js"
import * as Timeout from "../internal/Timeout.js"
import { unvalidated } from "../internal/Unvalidated.js"
import {
  type IdleTimeout,
  isDeltaPart,
  type ProviderClient,
  type ProviderTarget,
  type StreamPart
} from "../providers/Provider.js"
import type { Route } from "../services/Router.js"
import { type Attempt, type Attempts, attemptTimeout } from "./Attempts.js"
import type { CallTelemetry } from "./CallTelemetry.js"
import type { Meter } from "./Meter.js"
import type { Metering } from "./Metering.js"
import { type Plan, requestFor } from "./Plan.js"
import { CallProgress } from "./Progress.js"
import { attemptObserver, observeReport, observeUnpulledOrWarn } from "./Reports.js"
import { settledResponse } from "./Response.js"

/** An opened attempt: the parts read up to the first delta, the pull of the rest, and its scope. */
interface Opened extends Peeled<StreamPart> {
  readonly pull: Pull<StreamPart, LLMError>
  readonly scope: Scope.CloseableScope
}

/**
 * A delta event, the most frequent record: a plain constructor on `StreamEvent`'s prototype gives the
 * same fields, in the same order, as `unvalidated` (tested) in one allocation instead of a fields
 * object, an empty instance and the copy between them (~0.1 µs and ~60 bytes per event).
 */
const DeltaEvent = function(this: { delta: string; isFinish: boolean }, delta: string) {
  this.delta = delta
  this.isFinish = false
} as unknown as new(delta: string) => StreamEvent
DeltaEvent.prototype = StreamEvent.prototype

/** A delta event (built without the Schema class constructor). */
export const deltaEvent = (delta: string): StreamEvent => new DeltaEvent(delta)

/**
 * What a streamed call yields: `parts` turns decoded parts into the caller's elements (pushed onto
 * `out`), `finish` the settled response into the last one.
 */
interface Sink<A> {
  readonly part: (part: StreamPart, out: Array<A>) => void
  readonly finish: (response: GenerationResponse) => A
}

/** The public stream: text and reasoning deltas as `StreamEvent`s, then the finish event. */
const eventSink: Sink<StreamEvent> = {
  part: (part, out) => {
    if ((part._tag === "TextDelta" || part._tag === "ReasoningDelta") && part.text.length === 0) return
    if (part._tag === "TextDelta") out.push(deltaEvent(part.text))
    else if (part._tag === "ReasoningDelta") {
      out.push(unvalidated(StreamEvent, { delta: "", reasoningDelta: part.text, isFinish: false }))
    }
  },
  finish: (response) =>
    unvalidated(StreamEvent, {
      delta: "",
      isFinish: true,
      usage: response.usage,
      finishReason: response.finishReason,
      response
    })
}

/** An element of `streamParts`: a decoded part (usage, finish and warnings left out), then the settled response. */
export type PartsElement =
  | Exclude<StreamPart, { readonly _tag: "Usage" } | { readonly _tag: "Finish" } | { readonly _tag: "Warning" }>
  | { readonly _tag: "Settled"; readonly response: GenerationResponse }

const partsSink: Sink<PartsElement> = {
  part: (part, out) => {
    if (part._tag === "Usage" || part._tag === "Finish" || part._tag === "Warning") return
    if ((part._tag === "TextDelta" || part._tag === "ReasoningDelta") && part.text.length === 0) return
    out.push(part)
  },
  finish: (response) => ({ _tag: "Settled", response })
}

/** A stream's plan, made in the stream's scope (which it may add finalizers to). */
export type Planned = (scope: Scope.CloseableScope) => Effect.Effect<Plan, LLMError>

/** The streaming operations over the layer's resilience settings, metering, attempts and telemetry. */
export const make = (deps: {
  readonly resilience: ResilienceConfig
  readonly metering: Metering
  readonly attempts: Attempts
  readonly telemetry: CallTelemetry
  readonly scrub: Scrubber
}) => {
  const { metering, telemetry } = deps
  const idleTimeout = Duration.seconds(deps.resilience.streamIdleTimeoutS)

  /** A silence longer than the idle timeout: retryable before the first delta, a cut after it. */
  const idle = (route: Route, afterFirstDelta: () => boolean): IdleTimeout => ({
    duration: idleTimeout,
    onIdle: () =>
      new RetryableError({
        reason: afterFirstDelta() ? "stream_interrupted" : "timeout",
        message: `${route.model.provider} (endpoint "${route.endpoint.name}") sent no stream event for ${
          Duration.format(idleTimeout)
        }`,
        provider: route.model.provider,
        endpoint: route.endpoint.name
      })
  })

  /**
   * The pull of a client's stream in `scope`; one without `openStream` (a stub) is read through
   * `Stream.toPull`.
   */
  const openPull = (
    client: ProviderClient,
    target: ProviderTarget,
    request: CallRequest,
    idle: IdleTimeout,
    scope: Scope.Scope,
    abort: AbortController | undefined
  ): Effect.Effect<Pull<StreamPart, LLMError>, LLMError> =>
    client.openStream !== undefined
      ? client.openStream(target, request, idle, scope, abort)
      : Effect.map(
        Scope.extend(Effect.flatMap(client.stream(target, request), Stream.toPull), scope),
        (pull) => Timeout.idleTimeout(pull, idle)
      )

  /** One attempt: opens the stream in a scope of its own (closed if the attempt fails) and peels its prefix. */
  function* attemptSteps(
    client: ProviderClient,
    target: ProviderTarget,
    route: Route,
    timeout: Duration.Duration,
    plan: Plan,
    progress: CallProgress,
    scope: Scope.CloseableScope
  ) {
    let peeled = false
    const pull = yield* Timeout.timeoutAbortable(
      (abort) => openPull(client, target, requestFor(plan, route.model), idle(route, () => peeled), scope, abort),
      client.abortsRequests === true && client.openStream !== undefined,
      timeout,
      () => attemptTimeout(route, timeout),
      { resultReadsRequest: true }
    )
    // a usage report before a cut is billed (and the output received: tool calls, before any delta)
    const observer = attemptObserver(progress, pull)
    const read = yield* peelUntil(pull, isDeltaPart, observer.seen, observer.failed)
    peeled = true
    return { prefix: read.prefix, leftover: read.leftover, ended: read.ended, pull, scope }
  }
  const openAttempt =
    (outer: Scope.Scope, plan: Plan, progress: CallProgress): Attempt<Opened> => (client, target, route, timeout) =>
      Effect.flatMap(
        Scope.fork(outer, ExecutionStrategy.sequential),
        (scope) =>
          Effect.gen(() => attemptSteps(client, target, route, timeout, plan, progress, scope)).pipe(
            Effect.onError((cause) => Scope.close(scope, Exit.failCause(cause)))
          )
      )

  /**
   * Opens a call's stream in `outer`: plans it (`planned`, which may also add to that scope), holds,
   * attempts up to the first delta; the pull yields the rest and one finish element. Closing the
   * scope settles a call that did not finish.
   */
  // One generator function for every stream of the layer: V8 makes a prototype and maps for each
  // `function*` object, ~3 µs a stream were it written inline (`Effect.gen(function*() {…})`).
  function* openSteps<A>(planned: Planned, sink: Sink<A>, outer: Scope.CloseableScope) {
    const plan = yield* planned(outer)
    // Read twice (start, first delta): one clock lookup; the tracer with it (native: no annotations).
    let traced = false
    // The scope closes in the consumer's fiber, outside the call span: the settlement (its
    // `Ledger.cancel` span, the call span's outcome attributes) goes under the span it was opened in.
    let span: Option.Option<Tracer.AnySpan> = Option.none()
    const clock = yield* Effect.withFiberRuntime<Clock.Clock>((fiber) => {
      const clock = Context.get(fiber.currentDefaultServices, Clock.Clock)
      traced = isTraced(fiber)
      if (traced) span = Context.getOption(fiber.currentContext, Tracer.ParentSpan)
      // the call span's attributes first: a call the hold refuses carries them too
      return traced ? Effect.as(telemetry.started(plan), clock) : Effect.succeed(clock)
    })
    const progress = new CallProgress(clock.unsafeCurrentTimeMillis())
    // The hold and its settling finalizer in one uninterruptible step, on the scope itself
    // (`Effect.acquireRelease` would also diff and restore the fiber's refs around the finalizer);
    // the meter kept aside rather than passed on (`Effect.tap`/`Effect.as`: three steps more).
    let held: Meter | undefined
    // The answering attempt's pull, once it answered: its scope closes before this finalizer runs.
    let answering: Pull<StreamPart, LLMError> | undefined = undefined
    // Set once `outer` closes (a runtime disposed between two pulls of a stream its program pulls):
    // a later pull is interrupted, as its tracked fiber was, rather than reading a closed body.
    let closed = false
    yield* Effect.uninterruptible(
      Effect.flatMap(metering.hold(plan, progress), (meter) => {
        held = meter
        return Scope.addFinalizerExit(outer, (exit) => {
          closed = true
          const settle = Effect.uninterruptible(
            Effect.zipRight(observeUnpulledOrWarn(progress, answering), metering.settleUnfinished(meter, exit))
          )
          return Option.isSome(span) ? Effect.withParentSpan(settle, span.value) : settle
        })
      })
    )
    const meter = held as Meter
    // Kept renewed in the scope after the settling finalizer: closing the scope stops it first.
    const stopRenewing = yield* metering.keepRenewedIn(meter, clock, outer)
    // The breaker counts the answering attempt by how the stream ends (a cut after the first delta is a failure).
    const [opened, route] = yield* deps.attempts.run(meter, openAttempt(outer, plan, progress), outer)
    answering = opened.pull

    const content: Array<string> = []
    const reasoning: Array<string> = []
    // Tool calls' arguments count as output when the provider reports no usage.
    const calls: Array<string> = []
    let usage: UsageCounts | undefined
    let finishReason: FinishReason | undefined
    let requestId: string | undefined
    let modelVersion: string | undefined
    const warnings: Array<string> = []
    const absorb = (parts: Iterable<StreamPart>): Chunk.Chunk<A> => {
      const out: Array<A> = []
      for (const part of parts) {
        switch (part._tag) {
          case "TextDelta":
            if (part.text.length === 0) break
            content.push(part.text)
            progress.observeOutput(part.text)
            break
          case "ReasoningDelta":
            if (part.text.length === 0) break
            reasoning.push(part.text)
            progress.observeOutput(part.text)
            break
          case "ToolCall": {
            const json = argumentsText(part.call.params)
            calls.push(part.call.name, json)
            progress.observeOutput(part.call.name + json)
            break
          }
          case "Usage": {
            observeReport(progress, part)
            // the last whole report decides; the commit judges it (an impossible one is none: settled at
            // the bound, not earlier, and warned of as a unary answer's is)
            if (part.inputOnly !== true) usage = part.usage
            break
          }
          case "Finish":
            finishReason = part.reason
            break
          case "Metadata": {
            // a server may set its ids to text it was sent (a key): API.md §14
            if (part.requestId !== undefined) requestId = deps.scrub(part.requestId)
            if (part.modelVersion !== undefined) {
              modelVersion = deps.scrub(part.modelVersion)
              sink.part({ ...part, modelVersion }, out)
              continue
            }
            break
          }
          case "Warning":
            warnings.push((deps.scrub.cut ?? deps.scrub)(part.message))
            break
        }
        sink.part(part, out)
      }
      return Chunk.unsafeFromArray(out)
    }

    // The prefix ends with the first delta (if any): its arrival is the TTFT (tool calls only: the end).
    const first = absorb(Chunk.appendAll(Chunk.unsafeFromArray(opened.prefix), opened.leftover))
    if (opened.prefix.some((part) => isDeltaPart(part) || part._tag === "ToolCall")) {
      progress.firstToken(clock.unsafeCurrentTimeMillis())
    }
    const finish = Effect.gen(function*() {
      for (const warning of warnings) yield* Effect.logWarning(warning)
      const text = content.join("")
      const reasoningText = reasoning.length > 0 ? reasoning.join("") : undefined
      // no renewal after the commit (one under way is waited for)
      if (stopRenewing !== undefined) yield* stopRenewing
      const settled = yield* metering.commit(meter, route, usage, {
        content: text + calls.join(""),
        reasoning: reasoningText
      })
      yield* Scope.close(opened.scope, Exit.void)
      const response = settledResponse(plan, route, settled, progress.attempts, {
        content: text,
        reasoning: reasoningText,
        finishReason: finishReason ?? "other",
        requestId
      })
      yield* telemetry.finished({
        route,
        usage: settled.usage,
        finishReason: response.finishReason,
        cost: settled.cost,
        attempts: progress.attempts,
        requestId,
        modelVersion,
        content: text,
        ttftMs: progress.ttftMs
      }, traced)
      // the last element: the caller's stream ends with it (no pull more for the end)
      return last(Chunk.of(sink.finish(response)))
    })

    // The prefix, then the provider's chunks (a failure scrubbed of secrets), then the finish element.
    let stage: "first" | "body" | "finish" | "done" = "first"
    const rest: Effect.Effect<Chunk.Chunk<A>, Option.Option<LLMError>> = Effect.matchEffect(opened.pull, {
      onFailure: (error) => {
        if (Option.isSome(error)) return Effect.fail(Option.some(scrubError(deps.scrub, error.value)))
        stage = "finish"
        return next
      },
      onSuccess: (chunk) => {
        const out = absorb(chunk)
        return Chunk.isEmpty(out) ? rest : Effect.succeed(out)
      }
    })
    const next: Effect.Effect<Chunk.Chunk<A>, Option.Option<LLMError>> = Effect.suspend(() => {
      if (closed) return Effect.interrupt
      switch (stage) {
        case "first":
          stage = opened.ended ? "finish" : "body"
          return Chunk.isEmpty(first) ? next : Effect.succeed(first)
        case "body":
          return rest
        case "finish":
          stage = "done"
          return OnFailure.mapError(finish, Option.some)
        case "done":
          return Effect.fail(Option.none())
      }
    })
    return next
  }
  const open = <A>(
    planned: Planned,
    sink: Sink<A>,
    outer: Scope.CloseableScope
  ): Effect.Effect<Pull<A, LLMError>, LLMError> => Effect.gen(() => openSteps(planned, sink, outer))

  /** The public stream's setup in `scope` (no span: the stream built over it names its own). */
  const openStream = (planned: Planned, scope: Scope.CloseableScope) => open(planned, eventSink, scope)

  /** The public stream: text and reasoning deltas, then one finish event. */
  const stream = (planned: Planned): Stream.Stream<StreamEvent, LLMError> =>
    fromScopedPull((scope) => open(planned, eventSink, scope), streamSpan)

  /** Every decoded part (tool calls and provider metadata too), then the settled response. */
  const streamParts = (planned: Planned): Stream.Stream<PartsElement, LLMError> =>
    fromScopedPull((scope) => open(planned, partsSink, scope), streamSpan)

  return { openStream, stream, streamParts }
}

/** The span of a streamed call. */
export const streamSpan = {
  name: "LLMClient.stream",
  options: { attributes: { "gen_ai.operation.name": "stream" }, captureStackTrace: false }
} as const
