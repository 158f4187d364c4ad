/**
 * Which `HttpClient`s send a request under the `AbortController` registered for it, so that an
 * attempt's timeout can abort the request instead of interrupting a fiber (`Timeout.timeoutAbortable`).
 * A client made by `HttpClient.make` (Node's undici pool, `node:http`, `fetch`) looks its request up in
 * `@effect/platform`'s map of scoped requests (what `HttpClient.withScope` fills) before making a
 * controller of its own; a transformation that replaces the request on the way (`HttpClient.mapRequest`)
 * defeats that lookup, so only clients known to have none are marked: the live layer's own pool.
 */
import type * as HttpClient from "@effect/platform/HttpClient"
import type * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import { globalValue } from "effect/GlobalValue"

type ScopedRequests = WeakMap<HttpClientRequest.HttpClientRequest, AbortController>

const scopedRequestsKey = "@effect/platform/HttpClient/scopedRequests"

/**
 * The platform's map, if its HttpClient module made one under the key it uses: `undefined` when the
 * first lookup had to create it (a platform that no longer keeps it there), and from then on.
 */
let platformMap: ScopedRequests | null | undefined
const platformScopedRequests = (): ScopedRequests | undefined => {
  if (platformMap === undefined) {
    let created = false
    const map = globalValue(scopedRequestsKey, (): ScopedRequests => {
      created = true
      return new WeakMap()
    })
    platformMap = created ? null : map
  }
  return platformMap ?? undefined
}

const trusted = new WeakSet<HttpClient.HttpClient>()

/**
 * Marks `client` as sending every request under the controller registered for that very request
 * (`registerRequest`); nothing is marked when `@effect/platform` keeps no such map.
 */
export const trustAbortController = <C extends HttpClient.HttpClient>(client: C): C => {
  if (platformScopedRequests() !== undefined) trusted.add(client)
  return client
}

/** Whether `client` was marked by `trustAbortController`. */
export const abortsRequests = (client: HttpClient.HttpClient): boolean => trusted.has(client)

/** Sends `request`, over a client `abortsRequests` says honours it, under `controller`. */
export const registerRequest = (request: HttpClientRequest.HttpClientRequest, controller: AbortController): void => {
  platformScopedRequests()?.set(request, controller)
}
