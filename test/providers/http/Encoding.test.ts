/**
 * Compressed bodies over `@effect/platform-node`'s undici client, which hands them over as sent: the
 * two simonw-llm-anthropic cassettes recorded with `Content-Encoding: gzip` replayed as recorded (not
 * inflated first, as the Anthropic tests replay them), Gemini's recorded unary answer and 429 body
 * compressed here (gzip, deflate, br), corrupt and cut compressed bodies, and a client (`fetch`-like)
 * that has already decompressed the body it hands over.
 */
import { NodeHttpClient } from "@effect/platform-node"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import { assert, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Zlib from "node:zlib"
import type { LLMError } from "../../../src/domain/Errors.js"
import * as Gemini from "../../../src/providers/gemini/Gemini.js"
import * as Sse from "../../../src/providers/http/Sse.js"
import { failureOf } from "../../support/Exits.js"
import * as Loopback from "../../support/LoopbackServer.js"
import * as Anthropic from "../anthropic/Harness.js"
import * as GeminiHarness from "../gemini/Harness.js"

const compress: Record<"gzip" | "deflate" | "br", (bytes: Uint8Array) => Buffer> = {
  gzip: (bytes) => Zlib.gzipSync(bytes),
  deflate: (bytes) => Zlib.deflateSync(bytes),
  br: (bytes) => Zlib.brotliCompressSync(bytes)
}

const geminiAnswer = Loopback.readFixture(GeminiHarness.googleai + "unary-success-basic-reply-short.json")
const json = { "content-type": "application/json; charset=UTF-8" }
const eventStream = { "content-type": "text/event-stream" }

it.layer(NodeHttpClient.layerUndici)("compressed bodies", (it) => {
  for (const name of ["test_stream_events_thinking.yaml", "test_prompt_with_prefill_and_stop_sequences.yaml"]) {
    it.scoped(`an Anthropic stream recorded gzip-compressed (${name}) reads as its inflated replay, whole and in small writes`, () =>
      Effect.gen(function*() {
        const { client, server, target } = yield* Anthropic.setup
        const recorded = Anthropic.readCassette(Anthropic.simonw + name, { compressed: true })
        assert.strictEqual(recorded.headers["content-encoding"], "gzip")
        const inflated = Anthropic.readCassette(Anthropic.simonw + name)
        server.enqueue(Anthropic.replayCassette(inflated))
        const expected = yield* Anthropic.runStream(client, target)
        assert.isUndefined(expected.error)
        assert.isAbove(Anthropic.summary(expected.parts).text.length, 0)
        for (const chunkSizes of [undefined, [7, 13, 29, 3, 61]]) {
          server.enqueue(Anthropic.replayCassette(recorded, chunkSizes === undefined ? {} : { chunkSizes }))
          const { error, parts } = yield* Anthropic.runStream(client, target)
          assert.isUndefined(error)
          assert.deepStrictEqual(Anthropic.summary(parts), Anthropic.summary(expected.parts))
        }
      }))
  }

  it.scoped("a unary answer sent gzip, deflate, br or gzip-then-br reads as the plain one", () =>
    Effect.gen(function*() {
      const { client, server, target } = yield* GeminiHarness.setup
      server.enqueue(Loopback.replay(geminiAnswer, { headers: json }))
      const plain = yield* client.generate(target, GeminiHarness.hello)
      assert.include(plain.content, "Mountain View")
      for (const coding of ["gzip", "deflate", "br"] as const) {
        server.enqueue(
          Loopback.replay(compress[coding](geminiAnswer), { headers: { ...json, "content-encoding": coding } })
        )
        assert.deepStrictEqual(yield* client.generate(target, GeminiHarness.hello), plain)
      }
      server.enqueue(
        Loopback.replay(compress.br(compress.gzip(geminiAnswer)), {
          headers: { ...json, "content-encoding": "gzip, br" }
        })
      )
      assert.deepStrictEqual(yield* client.generate(target, GeminiHarness.hello), plain)
    }))

  it.scoped("a compressed error body is classified as the plain one (a 429 stays a RateLimitError)", () =>
    Effect.gen(function*() {
      const { client, server, target } = yield* GeminiHarness.setup
      const body = Loopback.readFixture(GeminiHarness.vertexai + "unary-failure-quota-exceeded.json")
      server.enqueue(Loopback.replay(body, { status: 429, headers: json }))
      const plain = failureOf(yield* Effect.exit(client.generate(target, GeminiHarness.hello)))
      server.enqueue(
        Loopback.replay(compress.gzip(body), { status: 429, headers: { ...json, "content-encoding": "gzip" } })
      )
      const compressed = failureOf(yield* Effect.exit(client.generate(target, GeminiHarness.hello)))
      assert.strictEqual(compressed._tag, "RateLimitError")
      assert.strictEqual(compressed.reason, plain.reason)
      assert.strictEqual(compressed.message, plain.message)
      // a recording replayed with its headers: the plain body under `content-encoding: gzip` reads the same
      for (const coding of ["gzip", "deflate"] as const) {
        server.enqueue(Loopback.replay(body, { status: 429, headers: { ...json, "content-encoding": coding } }))
        const replayed = failureOf(yield* Effect.exit(client.generate(target, GeminiHarness.hello)))
        assert.strictEqual(replayed._tag, "RateLimitError")
        assert.strictEqual(replayed.message, plain.message)
      }
    }))

  it.scoped("data that is not what its content-encoding says is an undecodable answer (FatalError bad_response, one attempt's worth: the same bytes fail again); compressed data cut short is a cut body (retryable)", () =>
    Effect.gen(function*() {
      const { client, server, target } = yield* GeminiHarness.setup
      const gzipped = compress.gzip(geminiAnswer)
      const garbage = Buffer.from("this is not gzip at all")
      for (const coding of ["gzip", "deflate", "br"] as const) {
        server.enqueue(Loopback.replay(garbage, { headers: { ...json, "content-encoding": coding } }))
        const error: LLMError = failureOf(yield* Effect.exit(client.generate(target, GeminiHarness.hello)))
        assert.strictEqual(error._tag, "FatalError")
        assert.strictEqual(error.reason, "bad_response")
        // gzip and deflate have a magic: bytes without it are read as they are (here: not JSON either)
        if (coding === "br") assert.include(error.message, "content-encoding")
      }
      for (const coding of ["gzip", "deflate"] as const) {
        // a recording replayed with its headers: `content-encoding` kept beside the decompressed body
        server.enqueue(Loopback.replay(geminiAnswer, { headers: { ...json, "content-encoding": coding } }))
        const answer = yield* client.generate(target, GeminiHarness.hello)
        assert.include(answer.content, "Mountain View")
      }
      // bytes after a whole deflate stream (a server's padding) end the stream with it, whole or in pieces
      const events = Loopback.readFixture(GeminiHarness.googleai + "streaming-success-basic-reply-short.txt")
      server.enqueue(Loopback.replay(events, { headers: { "content-type": "text/event-stream" } }))
      const plainStream = yield* GeminiHarness.runStream(client, target)
      const padded = Buffer.concat([compress.deflate(events), Buffer.from("\r\n\r\n")])
      for (const chunkSizes of [undefined, [64, 4096]]) {
        server.enqueue(
          Loopback.replay(padded, {
            headers: { "content-type": "text/event-stream", "content-encoding": "deflate" },
            ...(chunkSizes === undefined ? {} : { chunkSizes })
          })
        )
        const { error, parts } = yield* GeminiHarness.runStream(client, target)
        assert.isUndefined(error)
        assert.deepStrictEqual(parts, plainStream.parts)
      }
      server.enqueue(
        Loopback.replay(gzipped.subarray(0, gzipped.length >> 1), { headers: { ...json, "content-encoding": "gzip" } })
      )
      const cut: LLMError = failureOf(yield* Effect.exit(client.generate(target, GeminiHarness.hello)))
      assert.strictEqual(cut._tag, "RetryableError")
      assert.strictEqual(cut.reason, "connection")
      const stream = compress.gzip(
        Loopback.readFixture(GeminiHarness.googleai + "streaming-success-basic-reply-short.txt")
      )
      const sse = { "content-type": "text/event-stream", "content-encoding": "gzip" }
      // a stream recording replayed with its headers, in small writes: read as it is
      const recordedStream = Loopback.readFixture(GeminiHarness.googleai + "streaming-success-basic-reply-short.txt")
      server.enqueue(Loopback.replay(recordedStream, { headers: { "content-type": "text/event-stream" } }))
      const expected = yield* GeminiHarness.runStream(client, target)
      server.enqueue(Loopback.replay(recordedStream, { headers: sse, chunkSizes: [1, 1, 5] }))
      const replayed = yield* GeminiHarness.runStream(client, target)
      assert.isUndefined(replayed.error)
      assert.isAbove(replayed.parts.length, 1)
      assert.deepStrictEqual(replayed.parts, expected.parts)
      server.enqueue(Loopback.replay(garbage, { headers: sse }))
      const corrupt = yield* GeminiHarness.runStream(client, target)
      assert.strictEqual(corrupt.error?._tag, "FatalError")
      assert.strictEqual(corrupt.error?.reason, "bad_response")
      server.enqueue(Loopback.replay(stream.subarray(0, stream.length >> 1), { headers: sse }))
      const { error } = yield* GeminiHarness.runStream(client, target)
      assert.strictEqual(error?._tag, "RetryableError")
      assert.strictEqual(error?.reason, "stream_interrupted")
    }))

  it.scoped(
    "a body past 64 MiB (plain, or a small gzip that inflates past it), a streamed event past it, or headers past 16 KiB, is an undecodable answer (FatalError bad_response, the same bytes fail again), not a crash of the process nor a retried connection failure",
    () =>
      Effect.gen(function*() {
        const { client, server, target } = yield* GeminiHarness.setup
        const huge = Buffer.alloc(64 * 1024 * 1024 + 1024, 0x20) // JSON whitespace
        const bomb = compress.gzip(huge)
        assert.isBelow(bomb.length, 1024 * 1024)
        for (const [body, headers] of [[huge, json], [bomb, { ...json, "content-encoding": "gzip" }]] as const) {
          server.enqueue(Loopback.replay(body, { headers }))
          const error: LLMError = failureOf(yield* Effect.exit(client.generate(target, GeminiHarness.hello)))
          assert.strictEqual(error._tag, "FatalError")
          assert.strictEqual(error.reason, "bad_response")
          assert.include(error.message, "too large")
        }
        // a streamed event that never ends: refused at the same bound, not grown to V8's string limit
        server.enqueue(Loopback.replay(Buffer.concat([Buffer.from("data: "), huge]), { headers: eventStream }))
        const { error: endless } = yield* GeminiHarness.runStream(client, target)
        assert.deepStrictEqual([endless?._tag, endless?.reason], ["FatalError", "bad_response"])
        assert.include(endless?.message, "too large")
        // one exactly at the bound, cut inside a character: the end's U+FFFD passes it, bad_response too
        const atBound = Buffer.alloc(Sse.maxEventChars + 2, 0x78)
        atBound.write("data: ")
        atBound.set([0xe2, 0x82], Sse.maxEventChars)
        server.enqueue(Loopback.replay(atBound, { headers: eventStream }))
        const { error: cutAtBound } = yield* GeminiHarness.runStream(client, target)
        assert.deepStrictEqual([cutAtBound?._tag, cutAtBound?.reason], ["FatalError", "bad_response"])
        // headers past undici's 16 KiB: the same answer overflows on every retry
        const padding = Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`x-pad-${i}`, "p".repeat(1024)]))
        server.enqueue(Loopback.replay(geminiAnswer, { headers: { ...json, ...padding } }))
        const overflow: LLMError = failureOf(yield* Effect.exit(client.generate(target, GeminiHarness.hello)))
        assert.deepStrictEqual([overflow._tag, overflow.reason], ["FatalError", "bad_response"])
        // the client still works
        server.enqueue(Loopback.replay(geminiAnswer, { headers: json }))
        assert.include((yield* client.generate(target, GeminiHarness.hello)).content, "Mountain View")
      }),
    { timeout: 60_000 }
  )
})

it.effect("a body another client has already decompressed (header kept, as fetch does) is read as it is", () =>
  Effect.gen(function*() {
    const decompressed = HttpClient.make((request) =>
      Effect.succeed(HttpClientResponse.fromWeb(
        request,
        new Response(new Uint8Array(geminiAnswer), { headers: { ...json, "content-encoding": "gzip" } })
      ))
    )
    const client = yield* Gemini.make.pipe(Effect.provideService(HttpClient.HttpClient, decompressed))
    const answer = yield* client.generate(
      GeminiHarness.targetOf({ url: "http://127.0.0.1:9", port: 9 } as Loopback.LoopbackServer),
      GeminiHarness.hello
    )
    assert.include(answer.content, "Mountain View")
  }))
