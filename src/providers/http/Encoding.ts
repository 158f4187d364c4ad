/**
 * Compressed bodies. `@effect/platform-node`'s clients (undici's `request`, `node:http`) hand over a
 * body as the server sent it, so a `content-encoding: gzip` answer (recorded traffic carries them:
 * DashScope often compresses, and proxies do) reached the decoders as gzip bytes. Bodies from these
 * clients are decompressed here by their `content-encoding` (gzip, deflate, br; several in order);
 * any other client's body is left as it is (`fetch` has already decompressed it, header kept).
 */
import * as HttpClientError from "@effect/platform/HttpClientError"
import type * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as Effect from "effect/Effect"
import { pipeline, type Readable } from "node:stream"
import * as Zlib from "node:zlib"
import { headersOf, nodeStreamOf, readAllText } from "./Body.js"

type Coding = "gzip" | "deflate" | "br"

const codings: Record<string, Coding> = { gzip: "gzip", "x-gzip": "gzip", deflate: "deflate", br: "br" }

/**
 * Whether `response` came from one of `@effect/platform-node`'s clients, which do not decompress: its
 * body is a Node stream, directly or under the wrapper an unscoped request's response comes in
 * (`nodeStreamOf` sees through it).
 */
const isRaw = (response: HttpClientResponse.HttpClientResponse): boolean => nodeStreamOf(response) !== undefined

/**
 * The codings to undo, the last one applied first; `undefined` for a body sent as it is (no header,
 * `identity`) or one this client did not receive raw (not a Node stream). An unknown coding is left
 * in place: the decoder then reports the body as undecodable.
 */
export const codingsOf = (response: HttpClientResponse.HttpClientResponse): ReadonlyArray<Coding> | undefined => {
  const header = headersOf(response)["content-encoding"]
  if (header === undefined || !isRaw(response)) return undefined
  const found: Array<Coding> = []
  for (const name of header.split(",")) {
    const coding = codings[name.trim().toLowerCase()]
    if (coding !== undefined) found.unshift(coding)
  }
  return found.length === 0 ? undefined : found
}

const decompressor = (coding: Coding): Zlib.Gunzip | Zlib.Inflate | Zlib.BrotliDecompress =>
  coding === "gzip" ? Zlib.createGunzip() : coding === "deflate" ? Zlib.createInflate() : Zlib.createBrotliDecompress()

const decompressSync = (coding: Coding, bytes: Uint8Array): Uint8Array =>
  coding === "gzip"
    ? Zlib.gunzipSync(bytes)
    : coding === "deflate"
    ? Zlib.inflateSync(bytes)
    : Zlib.brotliDecompressSync(bytes)

/**
 * The response's Node stream, decompressed: the stream itself when it is not compressed, else the
 * last decompressor of a pipeline from it (destroying that one destroys the response's stream; a
 * failure of either — a cut socket, corrupt data — is its `error`).
 */
export const decodedNodeStream = (response: HttpClientResponse.HttpClientResponse): Readable | undefined => {
  const readable = nodeStreamOf(response)
  const found = codingsOf(response)
  if (readable === undefined || found === undefined) return readable
  const stages = found.map(decompressor)
  // the callback keeps `pipeline` from throwing on a failure the last stage already reports
  pipeline([readable, ...stages], () => {})
  return stages[stages.length - 1]
}

/**
 * The body as text, decompressed by its `content-encoding`; corrupt or cut compressed data fails as a
 * body that could not be read (`ResponseError` `Decode`), as a cut uncompressed body does.
 */
export const text = (
  response: HttpClientResponse.HttpClientResponse
): Effect.Effect<string, HttpClientError.ResponseError> => {
  const found = codingsOf(response)
  if (found === undefined) return readAllText(response) ?? response.text
  return Effect.flatMap(response.arrayBuffer, (buffer) =>
    Effect.try({
      try: () => {
        let bytes: Uint8Array = new Uint8Array(buffer)
        for (const coding of found) bytes = decompressSync(coding, bytes)
        return new TextDecoder().decode(bytes)
      },
      catch: (cause) =>
        new HttpClientError.ResponseError({ request: response.request, response, reason: "Decode", cause })
    }))
}

/** A failed response's body as text (decompressed), for its classification; `""` when it cannot be read. */
export const readBodyText = (response: HttpClientResponse.HttpClientResponse): Effect.Effect<string> =>
  text(response).pipe(Effect.orElseSucceed(() => ""))
