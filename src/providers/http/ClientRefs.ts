/**
 * The two fiber refs `@effect/platform`'s HTTP client reads on every request — the header names it
 * redacts (`Headers.currentRedactedNames`) and whether it makes its span
 * (`HttpClient.currentTracerDisabledWhen`) — set once for a layer's lifetime (`install`, run by
 * `Providers.layerHttp`) instead of around each request: two `Effect.locally` around a request were
 * ~48 effect steps, ~23% of a unary call's (bench/overhead.ts `forks`). A fiber the layer did not set
 * up (per-call `Effect.provide(LiveLayer)`, whose context carries no fiber refs; the caller's own
 * predicate set after it) gets the per-request form (`locally`), so no guarantee depends on it.
 */
import * as Headers from "@effect/platform/Headers"
import * as HttpClient from "@effect/platform/HttpClient"
import type * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as Effect from "effect/Effect"
import type * as Fiber from "effect/Fiber"
import * as FiberRefs from "effect/FiberRefs"
import type * as Scope from "effect/Scope"

type Predicate = (request: HttpClientRequest.HttpClientRequest) => boolean

/** The library's requests to send without the client's span (added just before each is sent). */
const untracedRequests = new WeakSet<HttpClientRequest.HttpClientRequest>()

/** The predicates `install` set: the caller's own, or none, then "one of ours, sent untraced". */
const installed = new WeakSet<Predicate>()

const untracedOver = (previous: Predicate): Predicate => {
  const predicate: Predicate = (request) => untracedRequests.has(request) || previous(request)
  installed.add(predicate)
  return predicate
}

/**
 * Response headers redacted whole with the secret ones: the request id, which a server may set to text
 * it was sent (a key, API.md §14); the HTTP span scrubs every other value (`Response.ts`), and the id
 * stays on the call span (`gen_ai.response.id`), scrubbed.
 */
export const echoedHeaderNames: ReadonlyArray<string> = ["x-request-id", "request-id"]

const withNames = (names: ReadonlyArray<string>) => (current: ReadonlyArray<string | RegExp>) => {
  const missing = [...names, ...echoedHeaderNames].filter((name) => !current.includes(name))
  return missing.length === 0 ? current : [...current, ...missing]
}

/**
 * For the current scope (a layer's lifetime): `secretHeaderNames` (lower case) and
 * `echoedHeaderNames` join the redacted header names, and the requests `sendsUntraced` accepts skip
 * the client's span.
 * The caller's own values are kept: the names are added to theirs, their predicate still applies.
 */
export const install = (secretHeaderNames: ReadonlyArray<string>): Effect.Effect<void, never, Scope.Scope> =>
  Effect.zipRight(
    Effect.locallyScopedWith(Headers.currentRedactedNames, withNames(secretHeaderNames)),
    Effect.locallyScopedWith(HttpClient.currentTracerDisabledWhen, untracedOver)
  )

/**
 * Whether `fiber` already redacts every one of `names` and `echoedHeaderNames` (then the request needs
 * no `locally` for them).
 */
export const redacts = (fiber: Fiber.RuntimeFiber<unknown, unknown>, names: ReadonlyArray<string>): boolean => {
  const current = fiber.getFiberRef(Headers.currentRedactedNames)
  for (let i = 0; i < names.length; i++) if (!current.includes(names[i]!)) return false
  for (let i = 0; i < echoedHeaderNames.length; i++) if (!current.includes(echoedHeaderNames[i]!)) return false
  return true
}

const always: Predicate = () => true

/**
 * The per-request form: runs `effect` with `names` (and `echoedHeaderNames`) among the redacted
 * header names and, when `untraced`, the client's span off — both set on entry and restored when
 * `effect` ends however it ends, in one uninterruptible region (two `Effect.locally` cost ~48 effect
 * steps, this ~12).
 */
export const locally = <A, E, R>(
  effect: Effect.Effect<A, E, R>,
  names: ReadonlyArray<string>,
  untraced: boolean
): Effect.Effect<A, E, R> =>
  Effect.uninterruptibleMask((restore) =>
    Effect.withFiberRuntime<A, E, R>((fiber) => {
      const redacted = fiber.getFiberRef(Headers.currentRedactedNames)
      const predicate = fiber.getFiberRef(HttpClient.currentTracerDisabledWhen)
      const set = (names: ReadonlyArray<string | RegExp>, predicate: Predicate) =>
        Effect.updateFiberRefs((fiberId, refs) =>
          FiberRefs.updateAs(
            FiberRefs.updateAs(refs, { fiberId, fiberRef: Headers.currentRedactedNames, value: names }),
            {
              fiberId,
              fiberRef: HttpClient.currentTracerDisabledWhen,
              value: predicate
            }
          )
        )
      return Effect.zipRight(
        set(withNames(names)(redacted), untraced ? always : predicate),
        Effect.ensuring(restore(effect), set(redacted, predicate))
      )
    })
  )

/**
 * Marks `request` to go without the client's span when `fiber` runs under `install`'s predicate, and
 * says so; `false`: the caller turns the span off around the request instead (`locally`).
 */
export const sendsUntraced = (
  fiber: Fiber.RuntimeFiber<unknown, unknown>,
  request: HttpClientRequest.HttpClientRequest
): boolean => {
  if (!installed.has(fiber.getFiberRef(HttpClient.currentTracerDisabledWhen))) return false
  untracedRequests.add(request)
  return true
}
