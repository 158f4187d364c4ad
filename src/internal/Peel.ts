/**
 * Reads a stream up to the first element a predicate accepts and hands back that prefix and the rest.
 * `Stream.peel` would be the library's way, but in effect 3.22 it turns a failure of the rest into a
 * `ChannelException` defect (a typed `RetryableError` after the first delta would become a crash) and
 * hands every later chunk across fibers; reading the prefix with one pull keeps the rest in the caller's fiber.
 */
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"

/** The prefix (up to and including the first accepted element) and the rest of the stream. */
export interface Peeled<A, E> {
  readonly prefix: ReadonlyArray<A>
  readonly rest: Stream.Stream<A, E>
}

/**
 * Pulls `stream` until an element satisfies `found` (or the stream ends). Scoped: the rest must be
 * consumed before the scope closes.
 */
export const peelUntil = <A, E>(
  stream: Stream.Stream<A, E>,
  found: (element: A) => boolean
): Effect.Effect<Peeled<A, E>, E, Scope.Scope> =>
  Effect.flatMap(Stream.toPull(stream), (pull) => {
    const prefix: Array<A> = []
    const next: Effect.Effect<Peeled<A, E>, E> = Effect.matchEffect(pull, {
      onFailure: (error) =>
        Option.isNone(error) ? Effect.succeed({ prefix, rest: Stream.empty }) : Effect.fail(error.value),
      onSuccess: (chunk) => {
        let index = 0
        for (const element of chunk) {
          index++
          prefix.push(element)
          if (found(element)) {
            const leftover = Chunk.drop(chunk, index)
            const more = Stream.repeatEffectChunkOption(pull)
            return Effect.succeed({
              prefix,
              rest: Chunk.isEmpty(leftover) ? more : Stream.concat(Stream.fromChunk(leftover), more)
            })
          }
        }
        return next
      }
    })
    return next
  })
