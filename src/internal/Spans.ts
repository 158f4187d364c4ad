/**
 * Spans that cost nothing when nobody reads them. Under Effect's default (native) tracer a span is
 * kept by no exporter, so the library's own spans — and the HTTP client's span and trace headers —
 * are skipped (`providers/http/Response.ts` turns the HTTP client's off); with any installed tracer (`@effect/opentelemetry`, a test's recorder) they are made
 * as before. The check reads the calling fiber's tracer, so it follows `Effect.withTracer` too.
 */
import * as Context from "effect/Context"
import * as DefaultServices from "effect/DefaultServices"
import * as Effect from "effect/Effect"
import type * as Fiber from "effect/Fiber"
import * as Tracer from "effect/Tracer"

const nativeTracer = Context.get(DefaultServices.liveServices, Tracer.Tracer)

/** True when `fiber` runs under an installed tracer (not Effect's native one), with tracing enabled. */
export const isTraced = (fiber: Fiber.RuntimeFiber<unknown, unknown>): boolean => fiber.currentTracer !== nativeTracer

/**
 * `Effect.withSpan`, skipped under the native tracer. Options that take building (attributes made per
 * call) can be given as a function, called only when the span is made.
 */
export const withSpan = <A, E, R>(
  self: Effect.Effect<A, E, R>,
  name: string,
  options: Tracer.SpanOptions | (() => Tracer.SpanOptions)
): Effect.Effect<A, E, R> =>
  Effect.withFiberRuntime<A, E, R>((fiber) =>
    isTraced(fiber) ? Effect.withSpan(self, name, typeof options === "function" ? options() : options) : self
  )

/** The effect `make` builds, run only under an installed tracer (span annotations: built only then). */
export const whenTraced = <E, R>(make: () => Effect.Effect<void, E, R>): Effect.Effect<void, E, R> =>
  Effect.withFiberRuntime<void, E, R>((fiber) => isTraced(fiber) ? make() : Effect.void)

/**
 * `self` with `key` set on every span made inside it (as `Effect.annotateSpans`), only under an
 * installed tracer: the ledger's spans of a call's rate-limit slot carry the call's trace id.
 */
export const annotatedWhenTraced = <A, E, R>(
  self: Effect.Effect<A, E, R>,
  key: string,
  value: unknown
): Effect.Effect<A, E, R> =>
  Effect.withFiberRuntime<A, E, R>((fiber) => isTraced(fiber) ? Effect.annotateSpans(self, key, value) : self)
