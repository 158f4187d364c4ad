/**
 * Request building shared by the protocols: a JSON `POST` with the API key in the protocol's auth
 * header (kept `Redacted` until the header is set) and the provider entry's extra headers, and the
 * names of those secret headers, which `Response.ts` makes sure `Headers.currentRedactedNames` holds
 * while the request runs (set by the layer, `ClientRefs.ts`, or around the request).
 */
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as Redacted from "effect/Redacted"
import { jsonText } from "../../internal/JsonText.js"
import { headerSecrets, urlSecrets } from "../../internal/Scrub.js"
import type { ProviderTarget } from "../Provider.js"

/**
 * A request ready to send, the (lower-case) names of its headers that hold secrets, and the secrets
 * its URL holds (a `base_url`'s password and query values; absent when there are none).
 */
export interface PreparedRequest {
  readonly request: HttpClientRequest.HttpClientRequest
  readonly secretHeaders: ReadonlyArray<string>
  /**
   * The secret values the request carries — its key, its extra headers' values, its URL's password and
   * query values — removed from its span's attributes, whatever a server echoes them in.
   */
  readonly secrets: ReadonlyArray<string>
}

/** Where a protocol puts the API key: a header, its value the key after an optional prefix (`Bearer `). */
export interface ApiKeyHeader {
  readonly name: string
  readonly prefix?: string
}

/** What a protocol posts. */
export interface JsonPost {
  readonly url: string
  readonly urlParams?: Readonly<Record<string, string>>
  readonly body: unknown
  readonly apiKeyHeader: ApiKeyHeader
  /** `sse` asks for `text/event-stream`. */
  readonly accept: "json" | "sse"
  /** The protocol's own fixed headers (before the entry's extra headers, which may override them). */
  readonly headers?: Readonly<Record<string, string>>
}

/**
 * A JSON `POST` to `target`: the protocol's headers, then the target's extra headers, then the key in
 * its header (absent when the target has no key). Every extra header and the key header are secrets.
 */
export const jsonPost = (target: ProviderTarget, post: JsonPost): PreparedRequest => {
  let request = HttpClientRequest.post(
    post.url,
    post.urlParams === undefined ? undefined : { urlParams: post.urlParams }
  )
  request = post.accept === "json"
    ? HttpClientRequest.acceptJson(request)
    : HttpClientRequest.setHeader(request, "accept", "text/event-stream")
  if (post.headers !== undefined) request = HttpClientRequest.setHeaders(request, post.headers)
  const secretHeaders: Array<string> = []
  // (A URL without "?" or "@" holds no secret: most requests skip the parse.)
  const secrets = post.url.includes("?") || post.url.includes("@") ? [...urlSecrets(post.url)] : []
  for (const [name, value] of target.headers) {
    request = HttpClientRequest.setHeader(request, name, Redacted.value(value))
    secretHeaders.push(name.toLowerCase())
    secrets.push(...headerSecrets(Redacted.value(value)))
  }
  if (target.apiKey !== undefined) {
    const name = post.apiKeyHeader.name
    request = HttpClientRequest.setHeader(
      request,
      name,
      (post.apiKeyHeader.prefix ?? "") + Redacted.value(target.apiKey)
    )
    secretHeaders.push(name.toLowerCase())
    secrets.push(Redacted.value(target.apiKey))
  }
  // as `bodyUnsafeJson` writes it, but a history holding tool arguments nested thousands deep too
  request = HttpClientRequest.bodyText(request, jsonText(post.body) ?? "null", "application/json")
  return { request, secretHeaders, secrets }
}

/**
 * `baseUrl`'s path without trailing slashes, then `path`, then `baseUrl`'s query, kept (an Azure-style
 * `?api-version=…`, a gateway's token); a fragment is dropped (it is never sent). `versionPrefix`: the
 * protocol's version path that `path` starts with (`/v1beta`, `/api/v1`, `/v1`); a `base_url` written
 * with it already (WIRE.md writes DashScope's base as `…/api/v1`) does not get it twice.
 */
export const joinUrl = (baseUrl: string, path: string, versionPrefix?: string): string => {
  const fragment = baseUrl.indexOf("#")
  const withoutFragment = fragment < 0 ? baseUrl : baseUrl.slice(0, fragment)
  const query = withoutFragment.indexOf("?")
  const base = (query < 0 ? withoutFragment : withoutFragment.slice(0, query)).replace(/\/+$/, "")
  const joined = versionPrefix !== undefined && base.endsWith(versionPrefix) && path.startsWith(versionPrefix)
    ? base + path.slice(versionPrefix.length)
    : base + path
  return query < 0 ? joined : joined + withoutFragment.slice(query)
}
