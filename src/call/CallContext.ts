/**
 * The call context (API.md §10, §12): a trace id and tags that every call made inside an effect (or
 * stream) gets unless its request sets its own — `withCallContext` sets them in a `FiberRef`, which
 * the plan reads. Nested contexts merge: the inner trace id wins, inner tags over outer ones.
 */
import * as Effect from "effect/Effect"
import * as FiberRef from "effect/FiberRef"
import { dual } from "effect/Function"
import { globalValue } from "effect/GlobalValue"
import * as Stream from "effect/Stream"

/** What `withCallContext` gives the calls inside it. */
export interface CallContext {
  /** The trace id of every call that names none. */
  readonly traceId?: string | undefined
  /** Tags of every call; a request's own tags win key by key. */
  readonly tags?: Readonly<Record<string, string>> | undefined
}

/** The context of the current fiber (empty outside any `withCallContext`). */
export const currentCallContext: FiberRef.FiberRef<CallContext> = globalValue(
  Symbol.for("effect-llm/CallContext"),
  () => FiberRef.unsafeMake<CallContext>({})
)

/** `inner` over `outer`: its trace id when it has one, its tags over the outer ones. */
const merge = (inner: CallContext) => (outer: CallContext): CallContext => ({
  traceId: inner.traceId ?? outer.traceId,
  tags: outer.tags === undefined ? inner.tags : inner.tags === undefined ? outer.tags : { ...outer.tags, ...inner.tags }
})

/**
 * Runs an effect (or a stream) so that every call made inside it — `generate`, `stream`, or through
 * another layer over `LLMClient` — that does not set its own gets `context.traceId` and
 * `context.tags` (the request's tags merged over them). Invalid tags fail each call with `FatalError`
 * `invalid_request` before any ledger write.
 *
 * @example
 * generate({ prompt: "hi" }).pipe(withCallContext({ traceId: "job-7", tags: { user: "u-42" } }))
 */
export const withCallContext: {
  (context: CallContext): <Self extends Effect.Effect<any, any, any> | Stream.Stream<any, any, any>>(self: Self) => Self
  <A, E, R>(self: Effect.Effect<A, E, R>, context: CallContext): Effect.Effect<A, E, R>
  <A, E, R>(self: Stream.Stream<A, E, R>, context: CallContext): Stream.Stream<A, E, R>
} = dual(
  2,
  (self: Effect.Effect<unknown, unknown, unknown> | Stream.Stream<unknown, unknown, unknown>, context: CallContext) =>
    Effect.isEffect(self)
      ? Effect.locallyWith(self, currentCallContext, merge(context))
      // only the stream's own pulls run under the context: a later stage of the consumer (a
      // `Stream.mapEffect` that calls `generate`) runs in the same fiber and must not inherit it
      : Stream.unwrapScoped(Effect.map(
        Effect.locallyWith(Stream.toPull(self), currentCallContext, merge(context)),
        (pull) => Stream.repeatEffectChunkOption(Effect.locallyWith(pull, currentCallContext, merge(context)))
      ))
)
