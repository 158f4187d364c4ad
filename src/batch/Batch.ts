/**
 * Batch runs: a stream of requests with caller ids through the client's normal pipeline (budget,
 * rate limits, retries, breakers, fallbacks, ledger), a bounded number at a time, results in
 * completion order, and a policy saying which failure stops the batch.
 */
import * as Clock from "effect/Clock"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import { identity } from "effect/Function"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import { LLMError } from "../domain/Errors.js"
import type { GenerationResponse } from "../domain/GenerationResponse.js"
import type { GenerateRequest } from "../domain/Request.js"
import { LLMClient } from "../services/LLMClient.js"

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
  readonly stopOn?: BatchStopOn
  /**
   * Stops admitting items once this effect completes (a shutdown, Ctrl-C): the items in flight settle
   * and are emitted, and the stream ends normally (like `Stream.haltWhen`).
   */
  readonly haltWhen?: Effect.Effect<unknown>
  /**
   * Cancels the batch once this effect completes (a second Ctrl-C): nothing more is admitted, the
   * calls in flight are interrupted — each settled `cancelled` in the ledger, its item not emitted —
   * and the stream ends normally with the results that had settled.
   */
  readonly cancelWhen?: Effect.Effect<unknown>
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
 * Runs a stream of items through `LLMClient.generate` (`fullResponse: true`), at most `concurrency` at
 * a time, and emits each item's result as it settles (completion order, not input order). The input
 * is read only as fast as items are admitted, so memory stays bounded whatever its length.
 *
 * A failure is that item's result (`ok: false`) and the batch goes on — unless `stopOn` matches it
 * (by default a `BudgetExceededError`): then no further item is admitted (the input is not read any
 * further), the items in flight settle and are emitted, and the stream fails with
 * `BatchStoppedError`. `haltWhen` stops admitting the same way from outside, and the stream then ends
 * normally; `cancelWhen` also cancels the calls in flight. Interrupting the stream interrupts the calls
 * in flight too (each is settled `cancelled` in the ledger), but results settling at that moment may be
 * lost with it: `cancelWhen` emits every result that settled. An item without a `traceId` gets a fresh
 * UUID, reported in its result.
 */
export const runBatch = <E, R>(
  items: Stream.Stream<BatchItem, E, R>,
  options: BatchOptions
): Stream.Stream<BatchResult, E | BatchStoppedError, R | LLMClient> =>
  Stream.unwrapScoped(Effect.gen(function*() {
    if (!Number.isInteger(options.concurrency) || options.concurrency < 1) {
      return yield* Effect.dieMessage(`runBatch: concurrency must be a positive integer, got ${options.concurrency}`)
    }
    const client = yield* LLMClient
    const stops = stopPredicate(options.stopOn ?? "budget")
    // Closed by the stop policy or by `haltWhen`: from then on nothing is read or admitted.
    const closed = yield* Deferred.make<void>()
    const stopped = yield* Deferred.make<BatchStoppedError>()
    const cancelled = yield* Deferred.make<void>()
    if (options.haltWhen !== undefined) {
      yield* Effect.forkScoped(Effect.zipRight(options.haltWhen, Deferred.succeed(closed, undefined)))
    }
    if (options.cancelWhen !== undefined) {
      yield* Effect.forkScoped(
        Effect.zipRight(
          options.cancelWhen,
          Effect.zipRight(Deferred.succeed(closed, undefined), Deferred.succeed(cancelled, undefined))
        )
      )
    }

    const run = (item: BatchItem): Effect.Effect<Option.Option<BatchResult>> =>
      Effect.gen(function*() {
        // Items already read (the rest of a chunk, one waiting for a slot) are not admitted after a stop.
        if (yield* Deferred.isDone(closed)) return Option.none()
        const traceId = typeof item.request.traceId === "string" && item.request.traceId.length > 0
          ? item.request.traceId
          : crypto.randomUUID()
        const startedAt = yield* Clock.currentTimeMillis
        // A cancellation interrupts the call (the ledger settles it `cancelled`) and emits nothing for it.
        const settled = yield* Effect.raceFirst(
          Effect.asSome(Effect.either(client.generate({ ...item.request, traceId, fullResponse: true }))),
          Effect.as(Deferred.await(cancelled), Option.none())
        )
        if (Option.isNone(settled)) return Option.none()
        const outcome = settled.value
        const latencyMs = (yield* Clock.currentTimeMillis) - startedAt
        if (outcome._tag === "Right") {
          return Option.some<BatchResult>({ id: item.id, ok: true, response: outcome.right, traceId, latencyMs })
        }
        const error = outcome.left
        if (stops(error)) {
          const stop = new BatchStoppedError({
            id: item.id,
            error,
            message: `the batch stopped at item ${JSON.stringify(item.id)}: ${error._tag}: ${error.message}`
          })
          if (yield* Deferred.succeed(stopped, stop)) yield* Deferred.succeed(closed, undefined)
        }
        return Option.some<BatchResult>({ id: item.id, ok: false, error, traceId, latencyMs })
      })

    // After the last result: the stop policy's failure, if it stopped the batch.
    const stopError = Stream.unwrap(Effect.map(
      Deferred.poll(stopped),
      Option.match({
        onNone: () => Stream.empty,
        onSome: (error) => Stream.flatMap(Stream.fromEffect(error), Stream.fail)
      })
    ))

    return items.pipe(
      Stream.interruptWhen(Deferred.await(closed)),
      Stream.mapEffect(run, { concurrency: options.concurrency, unordered: true }),
      Stream.filterMap(identity),
      Stream.concat(stopError)
    )
  }))
