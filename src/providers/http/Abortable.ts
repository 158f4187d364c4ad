/**
 * Which `HttpClient`s send a request under the `AbortController` registered for it, so that an
 * attempt's timeout can abort the request instead of interrupting a fiber (`Timeout.timeoutAbortable`).
 * A client made by `HttpClient.make` (Node's undici pool, `node:http`, `fetch`) looks its request up in
 * `@effect/platform`'s map of scoped requests (what `HttpClient.withScope` fills) before making a
 * controller of its own; a transformation that replaces the request on the way (`HttpClient.mapRequest`)
 * defeats that lookup, so only clients known to have none are marked: the live layer's own pool.
 */
import type * as HttpClient from "@effect/platform/HttpClient"

const trusted = new WeakSet<HttpClient.HttpClient>()

/** Marks `client` as sending every request under the controller registered for that very request. */
export const trustAbortController = <C extends HttpClient.HttpClient>(client: C): C => {
  trusted.add(client)
  return client
}

/** Whether `client` was marked by `trustAbortController`. */
export const abortsRequests = (client: HttpClient.HttpClient): boolean => trusted.has(client)
