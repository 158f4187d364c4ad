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
import { pipeline, type Readable, Transform } from "node:stream"
import * as Zlib from "node:zlib"
import { headersOf, maxBodyBytes, nodeStreamOf, readAllText } from "./Body.js"

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

/**
 * Whether `head` (the body's first bytes, at least 2) starts as `coding` says: gzip's magic
 * `1f 8b`, a zlib header for deflate. brotli has no magic: always true. A body labelled gzip or
 * deflate that does not start so is not compressed at all — a recording replayed with its headers
 * (WIRE.md's captures keep `content-encoding: gzip` beside the decompressed body), a proxy that
 * decompressed and kept the header — and is read as it is, as a `fetch` client's body is; if it is
 * not a valid answer either, the decoder reports it undecodable (`bad_response`).
 */
const looksLike = (coding: Coding, head: Uint8Array): boolean =>
  coding === "gzip"
    ? head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b
    : coding === "deflate"
    ? head.length >= 2 && (head[0]! & 0x0f) === 8 && ((head[0]! << 8) | head[1]!) % 31 === 0
    : true

/**
 * A stage that undoes `coding` when the stream starts as `coding` says, else passes the bytes through.
 * The decoder's output respects the stage's backpressure (paused while the stage's buffer is full);
 * a decoder that ends before its input does (trailing bytes after a deflate stream) ends the stage's
 * output there; destroying the stage destroys the decoder.
 */
const sniffing = (coding: Coding): Transform => {
  let head: Buffer | undefined = Buffer.alloc(0)
  let inner: Zlib.Gunzip | Zlib.Inflate | Zlib.BrotliDecompress | undefined
  let ended = false
  let finish: ((error?: Error | null) => void) | undefined
  const stage: Transform = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      if (ended) return done()
      if (head !== undefined) {
        head = Buffer.concat([head, chunk])
        if (head.length < 2) return done()
        chunk = head
        head = undefined
        if (looksLike(coding, chunk)) {
          const decoder = decompressor(coding)
          decoder.on("data", (data: Buffer) => {
            if (!stage.push(data)) decoder.pause()
          })
          decoder.on("error", (error) => finish !== undefined ? finish(error) : stage.destroy(error))
          decoder.on("end", () => {
            ended = true
            finish?.()
          })
          inner = decoder
        }
      }
      if (inner === undefined) return done(null, chunk)
      inner.write(chunk, () => done())
    },
    flush(done) {
      if (head !== undefined && head.length > 0) stage.push(head)
      if (inner === undefined || ended) return done()
      finish = done
      inner.end()
    },
    read(size) {
      inner?.resume()
      Transform.prototype._read.call(this, size)
    },
    destroy(error, callback) {
      inner?.destroy()
      callback(error)
    }
  })
  return stage
}

const decompressSync = (coding: Coding, bytes: Uint8Array): Uint8Array =>
  !looksLike(coding, bytes)
    ? bytes
    : coding === "gzip"
    ? Zlib.gunzipSync(bytes, { maxOutputLength: maxBodyBytes })
    : coding === "deflate"
    ? Zlib.inflateSync(bytes, { maxOutputLength: maxBodyBytes })
    : Zlib.brotliDecompressSync(bytes, { maxOutputLength: maxBodyBytes })

/**
 * The response's Node stream, decompressed: the stream itself when it is not compressed, else the
 * last decompressor of a pipeline from it (destroying that one destroys the response's stream; a
 * failure of either — a cut socket, corrupt data — is its `error`).
 */
export const decodedNodeStream = (response: HttpClientResponse.HttpClientResponse): Readable | undefined => {
  const readable = nodeStreamOf(response)
  const found = codingsOf(response)
  if (readable === undefined || found === undefined) return readable
  const stages = found.map((coding, index) => index === 0 && coding !== "br" ? sniffing(coding) : decompressor(coding))
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
