/**
 * The two fiber refs `@effect/platform`'s HTTP client reads on every request — the header names it
 * redacts (`Headers.currentRedactedNames`) and whether it makes its span
 * (`HttpClient.currentTracerDisabledWhen`) — set once by a layer (`layer`) instead of around each
 * request. Each `Effect.locally` around a request is an acquire/use/release of ~24 effect steps: the
 * two were ~23% of a unary call's steps (bench/overhead.ts `forks`). A fiber the layer did not set up
 * (a layer built elsewhere, the caller's own predicate installed after it) gets the per-request form
 * (`Response.ts`), so the guarantees never depend on it.
 */
import * as Headers from "@effect/platform/Headers"
import * as HttpClient from "@effect/platform/HttpClient"
import type * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as Effect from "effect/Effect"
import type * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"

type Predicate = (request: HttpClientRequest.HttpClientRequest) => boolean

/** The library's requests to send without the client's span (added just before each is sent). */
const untracedRequests = new WeakSet<HttpClientRequest.HttpClientRequest>()

/** The predicates `layer` installed: the caller's own, or none, then "one of ours, sent untraced". */
const installed = new WeakSet<Predicate>()

const untracedOver = (previous: Predicate): Predicate => {
  const predicate: Predicate = (request) => untracedRequests.has(request) || previous(request)
  installed.add(predicate)
  return predicate
}

const withNames = (names: ReadonlyArray<string>) => (current: ReadonlyArray<string | RegExp>) => {
  const missing = names.filter((name) => !current.includes(name))
  return missing.length === 0 ? current : [...current, ...missing]
}

/**
 * For the layer's lifetime (or the `Effect.provide` it is given to): `secretHeaderNames` (lower case)
 * join the redacted header names, and the requests `sendsUntraced` accepts skip the client's span.
 * The caller's own values are kept: the names are added to theirs, their predicate still applies.
 */
export const install = (secretHeaderNames: ReadonlyArray<string>): Effect.Effect<void, never, Scope.Scope> =>
  Effect.zipRight(
    Effect.locallyScopedWith(Headers.currentRedactedNames, withNames(secretHeaderNames)),
    Effect.locallyScopedWith(HttpClient.currentTracerDisabledWhen, untracedOver)
  )

/** `install` as a layer. */
export const layer = (secretHeaderNames: ReadonlyArray<string>): Layer.Layer<never> =>
  Layer.scopedDiscard(install(secretHeaderNames))

/** Whether `fiber` already redacts every one of `names` (then no per-request `Effect.locally` is needed). */
export const redacts = (fiber: Fiber.RuntimeFiber<unknown, unknown>, names: ReadonlyArray<string>): boolean => {
  const current = fiber.getFiberRef(Headers.currentRedactedNames)
  for (let i = 0; i < names.length; i++) if (!current.includes(names[i]!)) return false
  return true
}

/** Adds `names` to the redacted header names for `effect`'s duration (the per-request form). */
export const withRedacted = <A, E, R>(
  effect: Effect.Effect<A, E, R>,
  names: ReadonlyArray<string>
): Effect.Effect<A, E, R> => Effect.locallyWith(effect, Headers.currentRedactedNames, withNames(names))

/**
 * Marks `request` to go without the client's span when `fiber` runs under `install`'s predicate, and
 * says so; `false`: the caller sends it through `HttpClient.withTracerDisabledWhen` instead.
 */
export const sendsUntraced = (
  fiber: Fiber.RuntimeFiber<unknown, unknown>,
  request: HttpClientRequest.HttpClientRequest
): boolean => {
  if (!installed.has(fiber.getFiberRef(HttpClient.currentTracerDisabledWhen))) return false
  untracedRequests.add(request)
  return true
}
