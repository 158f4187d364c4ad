/**
 * Batch runs: a stream of requests with caller ids through the client's normal pipeline (budget,
 * rate limits, retries, breakers, fallbacks, ledger), a bounded number at a time, results in
 * completion order, and a policy saying which failure stops the batch.
 */
import * as Cause from "effect/Cause"
import * as Chunk from "effect/Chunk"
import * as Clock from "effect/Clock"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as FiberRef from "effect/FiberRef"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import * as Take from "effect/Take"
import { currentCallContext } from "../call/CallContext.js"
import { LLMError } from "../domain/Errors.js"
import type { GenerationResponse } from "../domain/GenerationResponse.js"
import type { GenerateRequest } from "../domain/Request.js"
import * as Scrub from "../internal/Scrub.js"
import { LLMClient } from "../services/LLMClient.js"
import { LLMConfig } from "../services/LLMConfig.js"

/** One request of a batch, with the caller's id for it. */
export interface BatchItem {
  readonly id: string
  readonly request: GenerateRequest
}

/** An item that was answered. */
export interface BatchSuccess {
  readonly id: string
  readonly ok: true
  readonly response: GenerationResponse
  /** The call's trace id (the request's, else one generated for it): the key of its ledger events. */
  readonly traceId: string
  /** Milliseconds from the item's admission to its settlement (from `Clock`). */
  readonly latencyMs: number
}

/** An item whose call failed; the batch goes on unless the stop policy says otherwise. */
export interface BatchFailure {
  readonly id: string
  readonly ok: false
  readonly error: LLMError
  readonly traceId: string
  readonly latencyMs: number
}

/** The settlement of one item. */
export type BatchResult = BatchSuccess | BatchFailure

/**
 * Which failure stops the batch: `"budget"` (the default) a `BudgetExceededError`, `"error"` any
 * failure, `"never"` none (every item is tried), or a predicate of the error.
 */
export type BatchStopOn = "budget" | "error" | "never" | ((error: LLMError) => boolean)

/** Options of `runBatch`. */
export interface BatchOptions {
  /** Items in flight at most (a positive integer). */
  readonly concurrency: number
  /** Which failure stops the batch (default `"budget"`). */
  readonly stopOn?: BatchStopOn | undefined
  /**
   * Stops admitting items once this effect completes (a shutdown, Ctrl-C): the items in flight settle
   * and are emitted, and the stream ends normally (like `Stream.haltWhen`).
   */
  readonly haltWhen?: Effect.Effect<unknown> | undefined
  /**
   * Cancels the batch once this effect completes (a second Ctrl-C): nothing more is admitted, the
   * calls in flight are interrupted — each settled `cancelled` in the ledger, its item not emitted —
   * and the stream ends normally with the results that had settled.
   */
  readonly cancelWhen?: Effect.Effect<unknown> | undefined
}

/**
 * The batch stopped on an item's failure (per `stopOn`): no item was admitted after it, the items in
 * flight settled and their results were emitted, then the stream failed with this error.
 */
export class BatchStoppedError extends Schema.TaggedError<BatchStoppedError>()("BatchStoppedError", {
  message: Schema.String,
  /** The item whose failure stopped the batch. */
  id: Schema.String,
  /** Its failure. */
  error: LLMError
}) {}

const stopPredicate = (stopOn: BatchStopOn): (error: LLMError) => boolean => {
  switch (stopOn) {
    case "budget":
      return (error) => error._tag === "BudgetExceededError"
    case "error":
      return () => true
    case "never":
      return () => false
    default:
      return stopOn
  }
}

/**
 * The most items a batch runs at once: each slot is a worker fiber set up before any item is read, and
 * far past any provider's concurrency they only cost memory (100,000 took 1.45 GB before one call).
 */
export const maxConcurrency = 1000

/** A take on its way to the stream, with the latch of the worker that made it (none for the end). */
interface Offered<E> {
  readonly take: Take.Take<BatchResult, E | BatchStoppedError>
  readonly passed: Deferred.Deferred<void> | undefined
}

/**
 * Runs a stream of items through `LLMClient.generate` (`fullResponse: true`), at most `concurrency` at
 * a time, and emits each item's result as it settles (completion order, not input order). An item is
 * read from the input only when a slot is free for it, so memory stays bounded whatever the input's
 * length, and nothing is read ahead that a stop would then have to skip. A slot is free again once the
 * stream has been pulled past its last result, so a sequential consumer (a file writer) is never more
 * than `concurrency` settled results behind.
 *
 * A failure is that item's result (`ok: false`) and the batch goes on — unless `stopOn` matches it
 * (by default a `BudgetExceededError`): then no further item is admitted (the input is not read any
 * further), the items in flight settle and are emitted, and the stream fails with
 * `BatchStoppedError`. `haltWhen` stops admitting the same way from outside, and the stream then ends
 * normally; `cancelWhen` also interrupts the calls in flight (each settled `cancelled` in the ledger,
 * its item not emitted) and emits every result that had settled. A failure of the input stops
 * admitting too; the stream fails with it once the items in flight have settled. Interrupting the
 * stream interrupts the calls in flight. An item without a `traceId` gets a fresh UUID, reported in
 * its result.
 */
export const runBatch = <E, R>(
  items: Stream.Stream<BatchItem, E, R>,
  options: BatchOptions
): Stream.Stream<BatchResult, E | BatchStoppedError, R | LLMClient> =>
  Stream.unwrapScoped(Effect.gen(function*() {
    const concurrency = options.concurrency
    if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > maxConcurrency) {
      return yield* Effect.dieMessage(
        `runBatch: concurrency must be an integer from 1 to ${maxConcurrency}, got ${concurrency}`
      )
    }
    // (checked before any item runs: a policy found unknown at the first failure would have paid for calls)
    const stopOn = options.stopOn ?? "budget"
    if (typeof stopOn !== "function" && !["budget", "error", "never"].includes(stopOn)) {
      return yield* Effect.dieMessage(
        `runBatch: stopOn must be "budget", "error", "never" or a predicate, got ${JSON.stringify(stopOn)}`
      )
    }
    const client = yield* LLMClient
    // A result's trace id is its ledger events' key, which `generate` stores scrubbed of the configured
    // secrets (API.md §14): the same scrub here, when the config is in context (it is under every layer).
    const scrubTraceId = Option.match(yield* Effect.serviceOption(LLMConfig), {
      onNone: () => (traceId: string) => traceId,
      onSome: (config) => Scrub.make(config.secrets)
    })
    const stops = stopPredicate(stopOn)
    // Closed by the stop policy, `haltWhen`, `cancelWhen` or a failed input: nothing more is read or admitted.
    const closed = yield* Deferred.make<void>()
    let stopError: BatchStoppedError | undefined
    let inputError: Cause.Cause<E> | undefined
    let cancelled = false
    // an item's call interrupted by something other than `cancelWhen` (a disposed runtime)
    let interruption: Cause.Cause<never> | undefined
    const calls = new Set<Fiber.RuntimeFiber<Either.Either<GenerationResponse, LLMError>>>()

    // A result goes out with a latch its worker waits on before it takes another item: the latch opens
    // when the stream is pulled past that result (a sequential consumer has written it), so at most
    // `concurrency` settled results are ever unwritten — what a `kill -9` can catch.
    const results = yield* Queue.bounded<Offered<E>>(concurrency)
    yield* Effect.addFinalizer(() => Queue.shutdown(results))
    const pull = yield* Stream.toPull(items)

    // The next item to admit, or none once the batch is closed or the input has ended; one worker reads at a time.
    const lock = yield* Effect.makeSemaphore(1)
    let buffer: ReadonlyArray<BatchItem> = []
    let index = 0
    let ended = false
    const next: Effect.Effect<Option.Option<BatchItem>, never, R> = lock.withPermits(1)(Effect.gen(function*() {
      while (true) {
        if (ended || (yield* Deferred.isDone(closed))) return Option.none()
        if (index < buffer.length) return Option.some(buffer[index++]!)
        const pulled = yield* Effect.raceFirst(
          Effect.asSome(Effect.exit(pull)),
          Effect.as(Deferred.await(closed), Option.none())
        )
        if (Option.isNone(pulled)) return Option.none()
        const exit = pulled.value
        if (Exit.isSuccess(exit)) {
          buffer = Chunk.toReadonlyArray(exit.value)
          index = 0
          continue
        }
        // The input ended (a `None` failure) or failed.
        ended = true
        const failure = Cause.flipCauseOption(exit.cause)
        if (Option.isSome(failure)) {
          inputError = failure.value
          yield* Deferred.succeed(closed, undefined)
        }
        return Option.none()
      }
    }))

    /**
     * Runs one item; its result, or none when an interruption stopped its call. A defect in the call
     * stops taking items and fails the worker, an interruption `cancelWhen` did not make stops taking
     * items too; the stream then fails with it: an item is never left out silently.
     */
    const run = (item: BatchItem) =>
      Effect.uninterruptibleMask((restore) =>
        Effect.gen(function*() {
          // the request's trace id, else the enclosing `withCallContext`'s (API.md §10), else a fresh one
          const context = yield* FiberRef.get(currentCallContext)
          // (an item read from the caller's stream may lack its request: `generate` then refuses it)
          const given: unknown = (item.request as Partial<typeof item.request> | null | undefined)?.traceId
          const traceId = typeof given === "string" && given.length > 0
            ? given
            : context.traceId !== undefined && context.traceId.length > 0
            ? context.traceId
            : crypto.randomUUID()
          const startedAt = yield* Clock.currentTimeMillis
          // The call runs in its own fiber, so that `cancelWhen` can interrupt it (the ledger settles it
          // `cancelled`) while a result that has settled is always emitted.
          const call = yield* Effect.fork(restore(Effect.either(
            client.generate({ ...item.request, traceId, fullResponse: true })
          )))
          calls.add(call)
          if (cancelled) yield* Fiber.interrupt(call)
          const exit = yield* Fiber.await(call)
          calls.delete(call)
          if (Exit.isFailure(exit)) {
            if (Cause.isInterruptedOnly(exit.cause)) {
              // cancelled by `cancelWhen`: left out, as documented; interrupted from elsewhere (the
              // runtime disposed under it), the batch ends with that interruption, never as a success
              if (!cancelled && interruption === undefined) {
                interruption = exit.cause
                yield* Deferred.succeed(closed, undefined)
              }
              return Option.none<BatchResult>()
            }
            yield* Deferred.succeed(closed, undefined)
            return yield* Effect.failCause(exit.cause)
          }
          const outcome = exit.value
          const latencyMs = (yield* Clock.currentTimeMillis) - startedAt
          if (Either.isRight(outcome)) {
            return Option.some<BatchResult>({
              id: item.id,
              ok: true,
              response: outcome.right,
              traceId: outcome.right.traceId,
              latencyMs
            })
          }
          const error = outcome.left
          if (stopError === undefined && stops(error)) {
            stopError = new BatchStoppedError({
              id: item.id,
              error,
              message: `the batch stopped at item ${JSON.stringify(item.id)}: ${error._tag}: ${error.message}`
            })
            yield* Deferred.succeed(closed, undefined)
          }
          return Option.some<BatchResult>({ id: item.id, ok: false, error, traceId: scrubTraceId(traceId), latencyMs })
        })
      )

    const worker = Effect.gen(function*() {
      while (true) {
        const item = yield* next
        if (Option.isNone(item)) return
        const result = yield* run(item.value)
        if (Option.isSome(result)) {
          const passed = yield* Deferred.make<void>()
          yield* Queue.offer(results, { take: Take.of(result.value), passed })
          yield* Deferred.await(passed)
        }
      }
    })

    if (options.haltWhen !== undefined) {
      yield* Effect.forkScoped(Effect.zipRight(options.haltWhen, Deferred.succeed(closed, undefined)))
    }
    if (options.cancelWhen !== undefined) {
      yield* Effect.forkScoped(Effect.gen(function*() {
        yield* options.cancelWhen!
        cancelled = true
        yield* Deferred.succeed(closed, undefined)
        yield* Fiber.interruptAll(calls)
      }))
    }
    const workers = yield* Effect.forEach(Array.from({ length: concurrency }), () => Effect.forkScoped(worker))
    // Once every worker is done: the end, the stop policy's failure, or the input's.
    yield* Effect.forkScoped(Effect.gen(function*() {
      const exits = yield* Effect.forEach(workers, Fiber.await)
      const defect = exits.find((exit) => Exit.isFailure(exit) && !Cause.isInterruptedOnly(exit.cause))
      yield* Queue.offer(results, {
        take: defect !== undefined && Exit.isFailure(defect)
          ? Take.failCause(defect.cause)
          : interruption !== undefined
          ? Take.failCause(interruption)
          : inputError !== undefined
          ? Take.failCause(inputError)
          : stopError !== undefined
          ? Take.fail(stopError)
          : Take.end,
        passed: undefined
      })
    }))
    let pulledPast: Deferred.Deferred<void> | undefined
    const takeNext = Effect.gen(function*() {
      if (pulledPast !== undefined) yield* Deferred.succeed(pulledPast, undefined)
      const offered = yield* Queue.take(results)
      pulledPast = offered.passed
      return offered.take
    })
    return Stream.flattenTake(Stream.repeatEffect(takeNext))
  }))
