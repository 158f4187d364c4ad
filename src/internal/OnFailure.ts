/**
 * `Effect.mapError`, `Effect.catchAll` and `Effect.tapErrorCause` without their step on success.
 * Effect builds each as a `matchCauseEffect` whose success handler is `Effect.succeed`: every success
 * through it is one more effect step (the value re-emitted). A `catchAllCause` frame is skipped by a
 * success at no cost, and its handler runs Effect's own operator over the failure, so what a failure
 * (or an interruption, or a defect) becomes is exactly what the operator makes of it.
 */
import type * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"

/** `Effect.mapError(self, f)`, free on success. */
export const mapError = <A, E, R, E2>(self: Effect.Effect<A, E, R>, f: (error: E) => E2): Effect.Effect<A, E2, R> =>
  Effect.catchAllCause(self, (cause) => Effect.mapError(Effect.failCause(cause), f))

/** `Effect.catchAll(self, f)`, free on success. */
export const catchAll = <A, E, R, A2, E2, R2>(
  self: Effect.Effect<A, E, R>,
  f: (error: E) => Effect.Effect<A2, E2, R2>
): Effect.Effect<A | A2, E2, R | R2> =>
  Effect.catchAllCause(self, (cause) => Effect.catchAll(Effect.failCause(cause), f))

/** `Effect.tapErrorCause(self, f)`, free on success. */
export const tapErrorCause = <A, E, R, X, E2, R2>(
  self: Effect.Effect<A, E, R>,
  f: (cause: Cause.Cause<E>) => Effect.Effect<X, E2, R2>
): Effect.Effect<A, E | E2, R | R2> =>
  Effect.catchAllCause(self, (cause) => Effect.zipRight(f(cause), Effect.failCause(cause)))
