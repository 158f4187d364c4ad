/**
 * Reads a stream's pull up to the first element a predicate accepts. The caller keeps pulling the
 * same pull afterwards, in its own fiber: no second stream, executor or fiber per stream. (`Stream.peel`
 * would be the library's way, but in effect 3.22 it turns a failure of the rest into a
 * `ChannelException` defect and hands every later chunk across fibers.)
 */
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"

/** A stream's pull (`Stream.toPull`): the next chunk, or `Option.none()` at the stream's end. */
export type Pull<A, E> = Effect.Effect<Chunk.Chunk<A>, Option.Option<E>>

/** What was read: the prefix (up to and including the first accepted element), the rest of its chunk. */
export interface Peeled<A> {
  readonly prefix: ReadonlyArray<A>
  readonly leftover: Chunk.Chunk<A>
  /** The stream ended before an element was accepted. */
  readonly ended: boolean
}

/**
 * Pulls until an element satisfies `found` (or the stream ends); a failure on the way is the peel's.
 * `seen` is told of each element as it is read: what a failure then loses, the caller has heard of.
 */
export const peelUntil = <A, E>(
  pull: Pull<A, E>,
  found: (element: A) => boolean,
  seen?: (element: A) => void
): Effect.Effect<Peeled<A>, E> => {
  const prefix: Array<A> = []
  const next: Effect.Effect<Peeled<A>, E> = Effect.matchEffect(pull, {
    onFailure: (error) =>
      Option.isNone(error)
        ? Effect.succeed({ prefix, leftover: Chunk.empty(), ended: true })
        : Effect.fail(error.value),
    onSuccess: (chunk) => {
      let index = 0
      for (const element of chunk) {
        index++
        prefix.push(element)
        if (seen !== undefined) seen(element)
        if (found(element)) return Effect.succeed({ prefix, leftover: Chunk.drop(chunk, index), ended: false })
      }
      return next
    }
  })
  return next
}

/** Each pull's `unpulled` (`withUnpulled`). */
const unpulledOf = new WeakMap<object, () => ReadonlyArray<unknown>>()

/**
 * Gives `pull` an `unpulled`: what its source had already received but not yet yielded (a stream's
 * events after the first delta of a read, bytes its body had buffered), decoded from memory, never
 * from a further read. Called once the pull is no longer pulled (its consumer stopped early): a
 * stream's settlement reads the usage the provider already sent (`Streaming.ts`).
 */
export const withUnpulled = <A, E>(pull: Pull<A, E>, unpulled: () => ReadonlyArray<A>): Pull<A, E> => {
  unpulledOf.set(pull, unpulled)
  return pull
}

/** What `pull`'s source received but did not yield (`withUnpulled`); none for a pull without one. */
export const unpulled = <A, E>(pull: Pull<A, E>): ReadonlyArray<A> =>
  (unpulledOf.get(pull)?.() ?? []) as ReadonlyArray<A>
