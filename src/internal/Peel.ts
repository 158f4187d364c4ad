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
 * `seen` is told of each element as it is read: what a failure then loses, the caller has heard of;
 * `failed` is told of the failure, before it is the peel's.
 */
export const peelUntil = <A, E>(
  pull: Pull<A, E>,
  found: (element: A) => boolean,
  seen?: (element: A) => void,
  failed?: () => void
): Effect.Effect<Peeled<A>, E> => {
  const prefix: Array<A> = []
  const next: Effect.Effect<Peeled<A>, E> = Effect.matchEffect(pull, {
    onFailure: (error) => {
      if (Option.isNone(error)) return Effect.succeed({ prefix, leftover: Chunk.empty(), ended: true })
      if (failed !== undefined) failed()
      return Effect.fail(error.value)
    },
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

/** What a pull's source can still tell once it is no longer pulled (`withLeftovers`). */
export interface Leftovers<A> {
  /**
   * What it had already received but not yet yielded (a stream's events after the first delta of a
   * read, bytes its body had buffered), decoded from memory, never from a further read; once, and
   * none once the stream ended.
   */
  readonly unpulled: () => ReadonlyArray<A>
  /**
   * UTF-8 bytes of output it received that no element carries yet (a tool call's argument fragments,
   * gathered until the call is whole; a refusal's text): output the provider generated, which a stream
   * cut or stopped before them still cost.
   */
  readonly heldOutputBytes: () => number
}

/** Each pull's leftovers (`withLeftovers`). */
const leftoversOf = new WeakMap<object, Leftovers<unknown>>()

/**
 * Gives `pull` its leftovers, read once the pull is no longer pulled (its consumer stopped early, or it
 * failed): a stream's settlement reads the usage and the output the provider already sent (`Streaming.ts`).
 */
export const withLeftovers = <A, E>(pull: Pull<A, E>, leftovers: Leftovers<A>): Pull<A, E> => {
  leftoversOf.set(pull, leftovers)
  return pull
}

/** What `pull`'s source received but did not yield (`withLeftovers`); none for a pull without leftovers. */
export const unpulled = <A, E>(pull: Pull<A, E>): ReadonlyArray<A> =>
  (leftoversOf.get(pull)?.unpulled() ?? []) as ReadonlyArray<A>

/** The output bytes `pull`'s source holds that no element carries (`withLeftovers`); 0 without leftovers. */
export const heldOutputBytes = <A, E>(pull: Pull<A, E>): number => leftoversOf.get(pull)?.heldOutputBytes() ?? 0
