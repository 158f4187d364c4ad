/**
 * A stream made from a pull that a scoped effect builds (which may read services from the stream's
 * context), under a span when a tracer reads it. It is
 * what `Stream.unwrapScoped(Effect.map(setup, Stream.repeatEffectChunkOption))` inside `Stream.withSpan`
 * does, for a quarter of the fixed cost: a stream's setup runs in its first pull, its scope is closed by
 * `Stream.ensuringWith` with the stream's exit (measured: ~230 KB allocated to run a one-chunk stream
 * this way, ~310 KB through `unwrapScoped`, ~340 KB more with `Stream.unwrap` for the span).
 */
import * as Cause from "effect/Cause"
import * as Channel from "effect/Channel"
import type * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as Tracer from "effect/Tracer"
import * as OnFailure from "./OnFailure.js"
import type { Pull } from "./Peel.js"
import { isTraced } from "./Spans.js"

/** Chunks marked by `last`. */
const lastChunks = new WeakSet<Chunk.Chunk<unknown>>()

/**
 * Marks `chunk` as the last one a pull yields: a stream of `fromScopedPull` ends after it without
 * pulling again (a pull read another way, `Stream.toPull`'s, is pulled again and must then end).
 */
export const last = <A>(chunk: Chunk.Chunk<A>): Chunk.Chunk<A> => {
  lastChunks.add(chunk)
  return chunk
}

/**
 * Runs `setup` with a fresh scope at the stream's first pull, then pulls what it returned until it
 * ends. The scope (and the span named `span`, under an installed tracer) closes with the stream's
 * exit: at its end, its own failure, or when its consumer stops or is interrupted (a consumer whose
 * own later stage failed has stopped it: a success, as with `Stream.take`). The scope is handed to
 * `setup` rather than provided (`Scope.extend` is an `Effect.locally` of the context: ~27 steps).
 */
export const fromScopedPull = <A, E, R = never>(
  setup: (scope: Scope.CloseableScope) => Effect.Effect<Pull<A, E>, E, R>,
  span: { readonly name: string; readonly options: Tracer.SpanOptions }
): Stream.Stream<A, E, R> =>
  Stream.suspend(() => {
    let scope: Scope.CloseableScope | undefined
    let pull: Pull<A, E> | undefined
    const start = Effect.withFiberRuntime<Pull<A, E>, E, R>((fiber) => {
      const traced = isTraced(fiber)
      return Effect.flatMap(Scope.make(), (made) => {
        scope = made
        return traced ?
          Effect.flatMap(Scope.extend(Effect.makeSpanScoped(span.name, span.options), made), (parent) =>
            Effect.map(
              Effect.provideService(setup(made), Tracer.ParentSpan, parent),
              (pull) => Effect.provideService(pull, Tracer.ParentSpan, parent)
            )) :
          setup(made)
      })
    })
    const first: Effect.Effect<Chunk.Chunk<A>, Option.Option<E>, R> = Effect.flatMap(
      OnFailure.mapError(start, Option.some),
      (built) => {
        pull = built
        return built
      }
    )
    // How the stream's own pull failed (its end, `Option.none()`, and interruptions aside). The exit
    // `ensuringWith` sees is the consumer's: a later stage of the consumer failing would read as this
    // stream's failure (it stopped pulling, like `Stream.take`), and a stream that failed reads as
    // interrupted when an operator ran it in a fiber it then interrupts (`Stream.zip`, `groupedWithin`,
    // a sliding `buffer`) or as the `Option` of its error through `Stream.toPull`. The scope closes
    // with the stream's own failure whatever the consumer's exit says.
    let failure: Cause.Cause<E> | undefined
    // The channel written by hand rather than `Stream.repeatEffectChunkOption` over a `tapErrorCause`:
    // one `matchCause` per pull in place of a map, a catchAll and the tap (steps fewer per pull), and a
    // chunk marked `last` ends the stream without one more pull for its end.
    type Loop = Channel.Channel<Chunk.Chunk<A>, unknown, E, unknown, unknown, unknown, R>
    const loop: Loop = Channel.unwrap(
      Effect.matchCause(Effect.suspend(() => pull ?? first), {
        onFailure: (cause): Loop => {
          if (!Cause.isInterruptedOnly(cause) && !Option.exists(Cause.failureOption(cause), Option.isNone)) {
            // a failure here is `Option.some(error)` (or a defect, which holds none)
            failure = Cause.map(cause, (error) => (error as Option.Some<E>).value)
          }
          // what `Effect.catchAll` made of it: the first failure alone; `none` is the stream's end
          const either = Cause.failureOrCause(cause)
          if (Either.isRight(either)) return Channel.failCause(either.right as Cause.Cause<never>)
          return Option.isNone(either.left) ? Channel.void : Channel.fail(either.left.value)
        },
        onSuccess: (chunk): Loop =>
          lastChunks.has(chunk) ? Channel.write(chunk) : Channel.flatMap(Channel.write(chunk), () => loop)
      })
    )
    return Stream.fromChannel(loop).pipe(
      Stream.ensuringWith((exit) =>
        scope === undefined ? Effect.void : Scope.close(
          scope,
          failure !== undefined
            ? Exit.failCause(failure)
            : Exit.isSuccess(exit) || Cause.isInterruptedOnly(exit.cause)
            ? exit
            : Exit.void
        )
      )
    )
  })
