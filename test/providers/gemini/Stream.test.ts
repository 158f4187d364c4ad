import { NodeHttpClient } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Chunk from "effect/Chunk"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import { type FatalError, type LLMError, RetryableError } from "../../../src/domain/Errors.js"
import * as Response from "../../../src/providers/gemini/Response.js"
import * as GeminiStream from "../../../src/providers/gemini/Stream.js"
import type { StreamPart } from "../../../src/providers/Provider.js"
import { failureOf as failureOfExit } from "../../support/Exits.js"
import * as Loopback from "../../support/LoopbackServer.js"
import {
  context,
  decodeReads,
  expectedFromRecording,
  fixtureText,
  googleai,
  hello,
  jsGenai,
  partsOf,
  runStream,
  setup,
  summary,
  targetOf,
  vercel,
  vertexai
} from "./Harness.js"

const millis = (
  duration: Duration.Duration | undefined
) => (duration === undefined ? undefined : Duration.toMillis(duration))
const deltas = (parts: ReadonlyArray<StreamPart>) => partsOf(parts, "TextDelta").map((part) => part.text)

/** Decodes one whole body (no HTTP) and returns its failure. */
const failureOf = (text: string) =>
  GeminiStream.decode(Stream.make(new TextEncoder().encode(text)), context).pipe(Stream.runDrain, Effect.flip)

const recorded = [
  googleai + "streaming-success-basic-reply-short.txt",
  googleai + "streaming-success-basic-reply-long.txt",
  googleai + "streaming-success-thinking-reply-thought-summary.txt",
  googleai + "streaming-success-finish-message.txt",
  googleai + "streaming-success-no-content-parts.txt",
  googleai + "streaming-success-empty-parts.txt",
  googleai + "streaming-failure-prompt-blocked-safety.txt",
  googleai + "streaming-failure-recitation-no-content.txt",
  vertexai + "streaming-failure-finish-reason-safety.txt",
  vertexai + "streaming-failure-prompt-blocked-safety-with-message.txt"
]

it.layer(NodeHttpClient.layerUndici)("Gemini streams", (it) => {
  describe("recorded streams", () => {
    for (const fixture of recorded) {
      const name = fixture.split("/").pop()
      for (const chunkSizes of [undefined, [7, 300]] as const) {
        it.scoped(`${name} replayed over HTTP ${chunkSizes === undefined ? "in one write" : "in writes of 7/300 bytes"}`, () =>
          Effect.gen(function*() {
            const { client, server, target } = yield* setup
            server.enqueue(Loopback.replay(fixture, chunkSizes === undefined ? {} : { chunkSizes, delayMs: 1 }))
            const { error, parts } = yield* runStream(client, target)
            assert.isUndefined(error)
            assert.deepStrictEqual(summary(parts), expectedFromRecording(fixtureText(fixture)))
            // The finish signal is the last part, once.
            assert.strictEqual(partsOf(parts, "Finish").length, 1)
            assert.strictEqual(parts.at(-1)!._tag, "Finish")
          }))
      }
      it.effect(`${name} decoded from reads of 1 and of 3/64 bytes`, () =>
        Effect.gen(function*() {
          const bytes = Loopback.readFixture(fixture)
          for (const sizes of [[1], [3, 64]]) {
            const parts = yield* decodeReads(Loopback.splitBytes(bytes, sizes))
            assert.deepStrictEqual(summary(parts), expectedFromRecording(fixtureText(fixture)))
          }
        }))
    }

    it.scoped("hard-coded values of the recordings match", () =>
      Effect.gen(function*() {
        assert.deepStrictEqual(
          expectedFromRecording(fixtureText(googleai + "streaming-success-basic-reply-short.txt")),
          {
            text: "The capital of Wyoming is **Cheyenne**.\n",
            usage: { input: 7, output: 10, total: 17 },
            finishReason: "stop"
          }
        )
        const long = expectedFromRecording(fixtureText(googleai + "streaming-success-basic-reply-long.txt"))
        assert.deepStrictEqual([long.text.length, long.usage, long.finishReason], [8845, {
          input: 10,
          output: 1996,
          total: 2006
        }, "stop"])
        const thinking = expectedFromRecording(
          fixtureText(googleai + "streaming-success-thinking-reply-thought-summary.txt")
        )
        assert.deepStrictEqual(thinking.usage, { input: 10, output: 48 + 540, total: 598 })
        assert.notInclude(thinking.text, "**Exploring Sky Color**")
        assert.deepStrictEqual(expectedFromRecording(fixtureText(googleai + "streaming-success-finish-message.txt")), {
          text: "Hello world!",
          usage: undefined,
          finishReason: "stop"
        })
        assert.deepStrictEqual(
          expectedFromRecording(fixtureText(googleai + "streaming-failure-recitation-no-content.txt")),
          {
            text: "text1text2text3text4text5text6text7text8",
            usage: { input: 9, output: 261, total: 270 },
            finishReason: "filter"
          }
        )
      }))

    it.scoped("thought parts are reasoning deltas, not text; responseId and modelVersion come as metadata", () =>
      Effect.gen(function*() {
        const { client, server, target } = yield* setup
        server.enqueue(Loopback.replay(googleai + "streaming-success-thinking-reply-thought-summary.txt"))
        const { parts } = yield* runStream(client, target)
        // The first event holds only a thought summary (and usage: 70 thought tokens).
        assert.strictEqual(parts[0]!._tag, "Metadata")
        assert.strictEqual(parts[1]!._tag, "ReasoningDelta")
        assert.isTrue((parts[1] as { text: string }).text.startsWith("**Exploring Sky Color**"))
        const firstUsage = partsOf(parts, "Usage")[0]!.usage
        assert.strictEqual(firstUsage.outputTokens, 70)
        assert.strictEqual(firstUsage.reasoningTokens, 70)
        assert.isAbove(partsOf(parts, "ReasoningDelta").length, 0)
        assert.isTrue(partsOf(parts, "ReasoningDelta").every((part) => !summary(parts).text.includes(part.text)))
        const metadata = partsOf(parts, "Metadata")
        assert.isAbove(metadata.length, 0)
        assert.isTrue(
          metadata.every((part) =>
            part.requestId === "0J-HaJetAqv0jrEPwu-tsQ0" && part.modelVersion === "gemini-2.5-flash"
          )
        )
        assert.isTrue(summary(parts).text.startsWith("The sky is blue because"))
      }))

    for (const eol of ["\r\n", "\n"] as const) {
      const name = eol === "\r\n" ? "CRLF" : "LF"
      it.scoped(`js-genai recording with system instruction, ${name} framing`, () =>
        Effect.gen(function*() {
          const { client, server, target } = yield* setup
          const recording = Loopback.readRecording(
            jsGenai +
              "Client_Tests_generateContentStream_ML_Dev_should_stream_generate_content_with_system_instruction.json"
          )
          const response = Loopback.replayRecording(recording, { eol })
          server.enqueue(response)
          const { error, parts } = yield* runStream(client, target)
          assert.isUndefined(error)
          // One usage snapshot per event.
          assert.strictEqual(partsOf(parts, "Usage").length, recording.response.bodySegments.length)
          assert.deepStrictEqual(summary(parts), expectedFromRecording(response.body as string))
          assert.strictEqual(summary(parts).finishReason, "stop")
          assert.isTrue(summary(parts).text.startsWith("low!"))
        }))

      it.scoped(`js-genai recording with maxOutputTokens (MAX_TOKENS), ${name} framing`, () =>
        Effect.gen(function*() {
          const { client, server, target } = yield* setup
          const recording = Loopback.readRecording(
            jsGenai +
              "Client_Tests_generateContentStream_ML_Dev_should_stream_generate_content_with_specified_parameters.json"
          )
          const response = Loopback.replayRecording(recording, { eol })
          server.enqueue(response)
          const { error, parts } = yield* runStream(client, target)
          assert.isUndefined(error)
          const expected = expectedFromRecording(response.body as string)
          assert.deepStrictEqual(summary(parts), expected)
          assert.strictEqual(expected.finishReason, "length")
          assert.deepStrictEqual(partsOf(parts, "Usage").map((part) => part.usage.outputTokens), [
            51 + 45,
            102 + 45,
            153 + 45
          ])
        }))
    }

    it.scoped("a usage-only final event after the finish chunk supplies the final usage, cached and reasoning counts too", () =>
      Effect.gen(function*() {
        const { client, server, target } = yield* setup
        const finish =
          `data: {"candidates": [{"content": {"parts": [{"text": "ok"}],"role": "model"},"finishReason": "STOP"}]}\r\n\r\n`
        server.enqueue(
          Loopback.replay(
            Buffer.concat([Buffer.from(finish), Loopback.readFixture(vercel + "google-usage-raw-live.chunks.txt")])
          )
        )
        const { error, parts } = yield* runStream(client, target)
        assert.isUndefined(error)
        assert.deepStrictEqual(summary(parts), {
          text: "ok",
          usage: { input: 12 + 65, output: 71 + 89, total: 237 },
          finishReason: "stop"
        })
        const usage = partsOf(parts, "Usage").at(-1)!.usage
        assert.strictEqual(usage.cachedInputTokens, 4)
        assert.strictEqual(usage.reasoningTokens, 89)
        assert.strictEqual(parts.at(-1)!._tag, "Finish")
      }))

    it.scoped("a streamed prompt block (AI SDK issue 19758, gemini-3.7-flash, PROHIBITED_CONTENT): an empty answer finished filter, with the prompt's usage", () =>
      Effect.gen(function*() {
        const { client, server, target } = yield* setup
        server.enqueue(Loopback.replay(vercel + "issue-19758-prompt-block.chunks.txt"))
        const { error, parts } = yield* runStream(client, target)
        assert.isUndefined(error)
        assert.deepStrictEqual(summary(parts), {
          text: "",
          usage: { input: 9, output: 0, total: 9 },
          finishReason: "filter"
        })
      }))

    it.effect("an empty data: event and a field SSE does not know (foo: bar) are ignored, as the spec says", () =>
      Effect.gen(function*() {
        const event = (text: string, finish = "") =>
          `data: {"candidates": [{"content": {"parts": [{"text": "${text}"}]}${
            finish && `,"finishReason": "${finish}"`
          }}]}\r\n\r\n`
        const body = event("First ") + "data:\r\n\r\n" + "foo: bar\r\n" + event("Second ") + ": ping\r\n\r\n" +
          event("", "STOP")
        const parts = yield* decodeReads([new TextEncoder().encode(body)])
        assert.deepStrictEqual(deltas(parts), ["First ", "Second "])
        assert.deepStrictEqual(partsOf(parts, "Finish").map((part) => part.reason), ["stop"])
      }))

    it.effect("a body cut right after `data: ` is a cut stream, not an empty keep-alive (old models mark every event STOP)", () =>
      Effect.gen(function*() {
        const event =
          `data: {"candidates": [{"content": {"parts": [{"text": "First "}]},"finishReason": "STOP"}]}\r\n\r\n`
        const error = yield* GeminiStream.decode(Stream.make(new TextEncoder().encode(event + "data: ")), context).pipe(
          Stream.runDrain,
          Effect.flip
        )
        assert.strictEqual(error._tag, "RetryableError")
        assert.strictEqual((error as RetryableError).reason, "stream_interrupted")
      }))

    it.effect("old models' STOP on every event: one Finish, after the last event", () =>
      Effect.gen(function*() {
        const event = (text: string) =>
          `data: {"candidates": [{"content": {"parts": [{"text": "${text}"}]},"finishReason": "STOP"}]}\r\n\r\n`
        const parts = yield* decodeReads([new TextEncoder().encode(event("First ") + event("Second "))])
        assert.deepStrictEqual(parts.map((part) => part._tag), ["Metadata", "TextDelta", "TextDelta", "Finish"])
      }))
  })

  describe("stream failures", () => {
    it.scoped("a raw error object after two chunks: both deltas first, then the classified error", () =>
      Effect.gen(function*() {
        const { client, server, target } = yield* setup
        server.enqueue(Loopback.replay(vertexai + "streaming-failure-error-mid-stream.txt"))
        const { error, parts } = yield* runStream(client, target)
        assert.deepStrictEqual(deltas(parts), ["First ", "Second "])
        assert.strictEqual(partsOf(parts, "Finish").length, 0)
        assert.strictEqual(error?._tag, "RetryableError")
        assert.strictEqual((error as any).reason, "server_error")
        assert.strictEqual((error as any).status, 499)
        assert.include(error!.message, "The operation was cancelled.")
      }))

    it.scoped("the raw error object split across reads is still recognised", () =>
      Effect.gen(function*() {
        const { client, server, target } = yield* setup
        server.enqueue(
          Loopback.replay(vertexai + "streaming-failure-error-mid-stream.txt", { chunkSizes: [40], delayMs: 1 })
        )
        const { error, parts } = yield* runStream(client, target)
        assert.strictEqual(deltas(parts).length, 2)
        assert.strictEqual((error as any).status, 499)
      }))

    it.scoped("a JSON event that is not a response is a bad_response", () =>
      Effect.gen(function*() {
        const { client, server, target } = yield* setup
        server.enqueue(Loopback.replay(vertexai + "streaming-failure-invalid-json.txt"))
        const { error } = yield* runStream(client, target)
        assert.strictEqual(error?._tag, "FatalError")
        assert.strictEqual((error as any).reason, "bad_response")
      }))

    it.scoped("an event whose data is not JSON is a bad_response", () =>
      Effect.gen(function*() {
        const { client, server, target } = yield* setup
        server.enqueue(Loopback.replay(Buffer.from("data: {not json\r\n\r\n")))
        const { error } = yield* runStream(client, target)
        assert.strictEqual((error as any).reason, "bad_response")
      }))

    it.scoped("a 200 stream that cannot be decoded is a bad_response, never stream_interrupted (API.md §14)", () =>
      Effect.gen(function*() {
        const { client, server, target } = yield* setup
        const first = fixtureText(googleai + "streaming-success-basic-reply-short.txt").split("\r\n\r\n")[0]!
        const bodies = [
          // Data that is no JSON, with the end of the body right after it (no blank line).
          "data: <html>Service Unavailable</html>",
          "data: {not json",
          `${first}\r\n\r\ndata: {"candidates": [{"content": {"parts": [{"text": 42}]}}]}\r\n\r\n`,
          // JSON of the response's fields with the wrong types.
          `data: {"candidates": "nope"}\r\n\r\n`,
          `data: {"usageMetadata": {"promptTokenCount": "7"}}\r\n\r\n`,
          // Text that is no event, and no JSON either.
          "{not json}\n",
          "<html>\n<body>Bad gateway</body>\n</html>\n",
          // JSON that is not a response at all.
          "data: [1, 2, 3]\r\n\r\n"
        ]
        for (const body of bodies) server.enqueue({ headers: { "content-type": "text/event-stream" }, body })
        for (const body of bodies) {
          const { error } = yield* runStream(client, target)
          assert.strictEqual(error?._tag, "FatalError", body)
          assert.strictEqual((error as FatalError).reason, "bad_response", body)
          assert.strictEqual((error as FatalError).provider, "google")
        }
      }))

    it.scoped("an in-band 503 error as the first event is a RetryableError before any delta", () =>
      Effect.gen(function*() {
        const { client, server, target } = yield* setup
        server.enqueue(Loopback.replay(Buffer.from(
          `data: {"error":{"code":503,"message":"The model is overloaded. Please try again later.","status":"UNAVAILABLE"}}\r\n\r\n`
        )))
        const { error, parts } = yield* runStream(client, target)
        assert.strictEqual(parts.length, 0)
        assert.strictEqual(error?._tag, "RetryableError")
        // "the model is overloaded": reason overloaded (API.md §8), retried and counted by the breaker
        assert.strictEqual((error as any).reason, "overloaded")
        assert.strictEqual((error as any).status, 503)
        // the response was a 200: the message names the error's code, not an HTTP 503 it never had
        assert.include(error!.message, "sent an error 503 UNAVAILABLE in its HTTP 200 answer: The model is overloaded")
        assert.notInclude(error!.message, "HTTP 503")
      }))

    it.scoped("an in-band 429 with RetryInfo is a RateLimitError with retryAfter", () =>
      Effect.gen(function*() {
        const { client, server, target } = yield* setup
        const body = JSON.stringify(JSON.parse(fixtureText(vercel + "google-429-retry-info.json")))
        server.enqueue(Loopback.replay(Buffer.from(`data: ${body}\n\n`)))
        const { error } = yield* runStream(client, target)
        assert.strictEqual(error?._tag, "RateLimitError")
        assert.strictEqual(millis((error as any).retryAfter), 34_400)
      }))

    it.scoped("a 404 with text/event-stream and a plain JSON body (js-genai recording) is FatalError not_found", () =>
      Effect.gen(function*() {
        const { client, server } = yield* setup
        const recording = Loopback.readRecording(
          jsGenai + "Chats_Tests_sendMessage_Send_message_stream_with_error.json"
        )
        server.enqueue(Loopback.replayRecording(recording))
        const error = yield* Effect.flip(
          Effect.scoped(client.stream(targetOf(server, "custom-gemini-2.0-flash"), hello))
        )
        assert.strictEqual(server.requests[0]!.headers["content-type"], "application/json")
        assert.strictEqual(error._tag, "FatalError")
        assert.strictEqual((error as any).reason, "not_found")
        assert.strictEqual((error as any).status, 404)
        assert.include(error.message, "models/custom-gemini-2.0-flash is not found")
      }))

    it.scoped("a 400 on a stream request (plain JSON body) is FatalError invalid_request", () =>
      Effect.gen(function*() {
        const { client, server, target } = yield* setup
        server.enqueue(Loopback.replay(googleai + "streaming-failure-image-rejected.txt", { status: 400 }))
        const error = yield* Effect.flip(Effect.scoped(client.stream(target, hello)))
        assert.strictEqual((error as any).reason, "invalid_request")
      }))

    it.scoped("a stream that ends between events without a finish reason is stream_interrupted", () =>
      Effect.gen(function*() {
        const { client, server, target } = yield* setup
        const full = fixtureText(googleai + "streaming-success-basic-reply-long.txt")
        const cut = full.split("\r\n\r\n").slice(0, 10).join("\r\n\r\n") + "\r\n\r\n"
        server.enqueue(Loopback.replay(Buffer.from(cut)))
        const { error, parts } = yield* runStream(client, target)
        // Ten events delivered, their usage snapshots counting the prompt only (no candidatesTokenCount
        // before the last event, WIRE.md §1.6): passed on as input-only, the prompt's count with no
        // report of the output (the text streamed is settled at its bound, not at 0).
        const usage = partsOf(parts, "Usage")
        assert.strictEqual(usage.length, 10)
        assert.isTrue(usage.every((part) => part.inputOnly === true))
        assert.deepStrictEqual(summary(parts).usage, { input: 10, output: 0, total: 10 })
        assert.strictEqual(partsOf(parts, "Finish").length, 0)
        assert.strictEqual(error?._tag, "RetryableError")
        assert.strictEqual((error as any).reason, "stream_interrupted")
      }))

    it.scoped("a stream that ends in the middle of an event is stream_interrupted", () =>
      Effect.gen(function*() {
        const { client, server, target } = yield* setup
        const full = Loopback.readFixture(googleai + "streaming-success-basic-reply-short.txt")
        server.enqueue(Loopback.replay(full.subarray(0, full.length - 40)))
        const { error, parts } = yield* runStream(client, target)
        // the two prompt-only snapshots before the cut (see above)
        assert.deepStrictEqual(partsOf(parts, "Usage").map((part) => part.inputOnly), [true, true])
        assert.strictEqual((error as any).reason, "stream_interrupted")
      }))

    it.scoped("a connection cut mid-body is stream_interrupted after the deltas received", () =>
      Effect.gen(function*() {
        const { client, server, target } = yield* setup
        const full = Loopback.readFixture(googleai + "streaming-success-basic-reply-short.txt")
        const firstEvent = full.indexOf("\r\n\r\n") + 4
        server.enqueue({
          status: 200,
          headers: { "content-type": "text/event-stream" },
          body: [full.subarray(0, firstEvent), { delayMs: 20 }, full.subarray(firstEvent, firstEvent + 30)],
          end: "destroy"
        })
        const { error, parts } = yield* runStream(client, target)
        assert.deepStrictEqual(deltas(parts), ["The"])
        assert.strictEqual(error?._tag, "RetryableError")
        assert.strictEqual((error as any).reason, "stream_interrupted")
      }))
  })

  describe("stream lifecycle", () => {
    /** Reads a stream up to its first text delta and stops. */
    const untilFirstDelta = (stream: Stream.Stream<StreamPart, LLMError>) =>
      Stream.runCollect(Stream.takeUntil(stream, (part) => part._tag === "TextDelta")).pipe(
        Effect.map((parts) => deltas(Chunk.toReadonlyArray(parts)))
      )

    it.scoped("stopping early closes the HTTP connection", () =>
      Effect.gen(function*() {
        const { client, server, target } = yield* setup
        const full = Loopback.readFixture(googleai + "streaming-success-basic-reply-short.txt")
        server.enqueue({
          status: 200,
          headers: { "content-type": "text/event-stream" },
          body: [full.subarray(0, full.indexOf("\r\n\r\n") + 4)],
          end: "hang"
        })
        const first = yield* Effect.scoped(Effect.flatMap(client.stream(target, hello), untilFirstDelta))
        assert.deepStrictEqual(first, ["The"])
        const [request] = yield* Effect.promise(() => server.awaitRequests(1))
        const closed = yield* Effect.promise(() =>
          Promise.race([
            request!.socketClosed.then(() => true),
            new Promise<boolean>((done) => setTimeout(() => done(false), 2000))
          ])
        )
        assert.isTrue(closed, "the server saw the client close the socket")
      }))

    it.scoped("stopping early closes the HTTP connection even while the caller's scope stays open", () =>
      Effect.gen(function*() {
        const { client, server, target } = yield* setup
        const full = Loopback.readFixture(googleai + "streaming-success-basic-reply-short.txt")
        server.enqueue({
          status: 200,
          headers: { "content-type": "text/event-stream" },
          body: [full.subarray(0, full.indexOf("\r\n\r\n") + 4)],
          end: "hang"
        })
        const stream = yield* client.stream(target, hello)
        assert.deepStrictEqual(yield* untilFirstDelta(stream), ["The"])
        const [request] = yield* Effect.promise(() => server.awaitRequests(1))
        const closed = yield* Effect.promise(() =>
          Promise.race([
            request!.socketClosed.then(() => true),
            new Promise<boolean>((done) => setTimeout(() => done(false), 2000))
          ])
        )
        assert.isTrue(closed, "the server saw the client close the socket")
      }))

    it.scoped("a finished stream leaves the keep-alive connection open for reuse", () =>
      Effect.gen(function*() {
        const { client, server, target } = yield* setup
        server.enqueue(Loopback.replay(googleai + "streaming-success-basic-reply-short.txt"))
        server.enqueue(Loopback.replay(googleai + "streaming-success-basic-reply-short.txt"))
        yield* runStream(client, target)
        // undici frees the connection in a `setImmediate` it queues when the body completes (before the
        // stream can end): one check phase later it is back in the pool. Ordering, not a timed wait.
        yield* Effect.promise(() => new Promise((resolve) => setImmediate(resolve)))
        assert.strictEqual(server.connectionsClosed(), 0)
        yield* runStream(client, target)
        assert.strictEqual(server.connectionsAccepted(), 1)
      }))

    it.effect("a body that ends cleanly at any byte before its end is stream_interrupted, never a bad response or a success", () =>
      Effect.gen(function*() {
        const bytes = Loopback.readFixture(googleai + "streaming-success-basic-reply-short.txt")
        const whole = expectedFromRecording(fixtureText(googleai + "streaming-success-basic-reply-short.txt"))
        const lastJsonEnd = bytes.lastIndexOf("}".charCodeAt(0)) + 1
        for (let cut = 1; cut < bytes.length; cut++) {
          const exit = yield* GeminiStream.decode(Stream.make(bytes.subarray(0, cut)), context).pipe(
            Stream.runCollect,
            Effect.exit
          )
          if (Exit.isSuccess(exit)) {
            // Only once the final event's JSON is whole has everything been delivered.
            assert.isAtLeast(cut, lastJsonEnd, `cut at ${cut} succeeded`)
            assert.deepStrictEqual(summary(Chunk.toReadonlyArray(exit.value)), whole)
          } else {
            const error = Cause.failureOption(exit.cause)
            assert.isTrue(Option.isSome(error), `cut at ${cut}: ${String(exit.cause)}`)
            if (Option.isSome(error)) {
              assert.strictEqual(error.value._tag, "RetryableError", `cut at ${cut}: ${error.value.message}`)
              assert.strictEqual((error.value as RetryableError).reason, "stream_interrupted", `cut at ${cut}`)
            }
          }
        }
      }))

    it.effect("a read failing after an old model's STOP chunk (no usage: it marks every chunk) is a cut; after a current model's final chunk (with usage) the stream is finished", () =>
      Effect.gen(function*() {
        const reset = new RetryableError({ reason: "stream_interrupted", message: "connection reset", ...context })
        const cutAfter = (text: string) =>
          GeminiStream.decode(Stream.concat(Stream.make(new TextEncoder().encode(text)), Stream.fail(reset)), context)
            .pipe(Stream.runCollect, Effect.exit)
        // the recorded gemini-1.0 stream: STOP on each chunk, the answer cut after the first
        const old = fixtureText(vertexai + "streaming-failure-error-mid-stream.txt").split("\n\n")[0]! + "\n\n"
        const cut = yield* cutAfter(old)
        assert.isTrue(Exit.isFailure(cut))
        assert.strictEqual(
          Option.getOrUndefined(Exit.causeOption(cut).pipe(Option.flatMap(Cause.failureOption))),
          reset
        )
        // the body's clean end after it still finishes (nothing tells it apart from a whole answer)
        const ended = yield* GeminiStream.decode(Stream.make(new TextEncoder().encode(old)), context).pipe(
          Stream.runCollect,
          Effect.exit
        )
        assert.isTrue(Exit.isSuccess(ended))
        // a current stream: usage on every chunk, the reason on the last one only
        const current = fixtureText(googleai + "streaming-success-basic-reply-short.txt")
        const whole = yield* cutAfter(current)
        assert.isTrue(Exit.isSuccess(whole))
        if (Exit.isSuccess(whole)) {
          assert.deepStrictEqual(summary(Chunk.toReadonlyArray(whole.value)), expectedFromRecording(current))
        }
      }))

    it.effect("a raw error object cut short is stream_interrupted; text that is no event at all is a bad response", () =>
      Effect.gen(function*() {
        const first = fixtureText(googleai + "streaming-success-basic-reply-short.txt").split("\r\n\r\n")[0]!
        const cutObject = yield* failureOf(`${first}\r\n\r\n{\n  "error": {\n    "code": 50`)
        assert.strictEqual(cutObject._tag, "RetryableError")
        assert.strictEqual((cutObject as RetryableError).reason, "stream_interrupted")
        const html = yield* failureOf("<html>\n<body>Service Unavailable</body>\n</html>")
        assert.strictEqual(html._tag, "FatalError")
        assert.strictEqual((html as FatalError).reason, "bad_response")
      }))

    it.effect("a body read failure is stream_interrupted, after the parts read before it", () =>
      Effect.gen(function*() {
        const first = Loopback.readFixture(googleai + "streaming-success-basic-reply-short.txt")
        const firstEvent = first.subarray(0, first.indexOf("\r\n\r\n") + 4)
        const cut = new RetryableError({
          reason: "stream_interrupted",
          message: "the response stream was cut"
        })
        const parts: Array<StreamPart> = []
        const exit = yield* GeminiStream.decode(Stream.concat(Stream.make(firstEvent), Stream.fail(cut)), context).pipe(
          Stream.runForEach((part) => Effect.sync(() => parts.push(part))),
          Effect.exit
        )
        assert.deepStrictEqual(deltas(parts), ["The"])
        assert.strictEqual(failureOfExit(exit), cut)
      }))

    it.scoped("decodes a 10,000-event stream read in 64 KiB or 256-byte pieces (speed: bench/decode.ts)", () =>
      Effect.gen(function*() {
        const event = (i: number) =>
          `data: {"candidates": [{"content": {"parts": [{"text": "token ${i} "}],"role": "model"}${
            i === 9999 ? `,"finishReason": "STOP"` : ""
          }}],"usageMetadata": {"promptTokenCount": 5,"candidatesTokenCount": ${i + 1},"totalTokenCount": ${
            i + 6
          }},"modelVersion": "gemini-2.5-flash"}\r\n\r\n`
        const body = Buffer.from(Array.from({ length: 10_000 }, (_, i) => event(i)).join(""))
        const large = yield* decodeReads(Loopback.splitBytes(body, [65536]))
        const small = yield* decodeReads(Loopback.splitBytes(body, [256]))
        assert.strictEqual(deltas(large).length, 10_000)
        assert.strictEqual(deltas(small).length, 10_000)
        assert.deepStrictEqual(summary(large).usage, { input: 5, output: 10_000, total: 10_005 })

        const { client, server, target } = yield* setup
        server.enqueue(Loopback.replay(body, { chunkSizes: [65536] }))
        const { error, parts } = yield* runStream(client, target)
        assert.isUndefined(error)
        assert.strictEqual(deltas(parts).length, 10_000)
      }))
  })
})

describe("Gemini response guards (stream events and unary bodies)", () => {
  const isSchema = Schema.is(Response.GenerateContentResponse)
  const decodeSchema = Schema.decodeUnknownEither(Response.GenerateContentResponse)

  /** Every `data:` payload of the recordings. */
  const recordedEvents = (): Array<unknown> => {
    const events: Array<unknown> = []
    for (
      const fixture of [
        ...recorded,
        vercel + "google-usage-raw-live.chunks.txt",
        vercel + "google-text.chunks.txt",
        "vercel-ai-tools/google/google-tool-call.chunks.txt",
        "vercel-ai-tools/google/issue-10781.1.chunks.txt",
        "firebaseextended-vertexai-sdk-test-data-tools/googleai/streaming-success-thinking-function-call-thought-summary-signature.txt"
      ]
    ) {
      for (const line of fixtureText(fixture).split(/\r\n|\n|\r/)) {
        const data = line.startsWith("data:") ? line.slice(5).trim() : line.trim()
        if (data.startsWith("{")) events.push(JSON.parse(data))
      }
    }
    // unary bodies too: the unary path reads a body the guards accept without the Schema
    for (
      const unary of [
        googleai + "unary-success-basic-reply-short.json",
        googleai + "unary-failure-finish-reason-safety.json",
        googleai + "unary-failure-with-message-no-content.json",
        googleai + "unary-failure-only-prompt-feedback.json",
        "vertexai-sdk-test-data/vertexai/unary-success-implicit-caching.json",
        "vertexai-sdk-test-data/vertexai/unary-failure-unknown-enum-finish-reason.json",
        "vertexai-sdk-test-data/vertexai/unary-failure-prompt-blocked-safety.json",
        "firebaseextended-vertexai-sdk-test-data-tools/googleai/unary-success-thinking-function-call-thought-summary-signature.json",
        "vercel-ai-tools/google/google-issue-16072-file-tool-result-live.json"
      ]
    ) events.push(JSON.parse(fixtureText(unary)))
    return events
  }

  /** Copies of `value` with one field at a time replaced by a value of another type (or null). */
  const mutations = (value: unknown): Array<unknown> => {
    const out: Array<unknown> = []
    const replacements = [null, 42, "text", true, [], {}]
    const walk = (node: unknown, rebuild: (replacement: unknown) => unknown) => {
      for (const replacement of replacements) out.push(rebuild(replacement))
      if (Array.isArray(node)) {
        node.forEach((item, index) => walk(item, (r) => rebuild(node.map((x, i) => (i === index ? r : x)))))
      } else if (typeof node === "object" && node !== null) {
        for (const key of Object.keys(node)) {
          walk((node as Record<string, unknown>)[key], (r) => rebuild({ ...(node as object), [key]: r }))
        }
      }
    }
    walk(value, (r) => r)
    return out
  }

  it("accept exactly what the Schema accepts, and the readers give the same answer on either value", () => {
    const events = recordedEvents()
    assert.isAbove(events.length, 50)
    let checked = 0
    for (const event of events) {
      for (const candidate of [event, ...mutations(event)]) {
        const guard = Response.isResponse(candidate)
        assert.strictEqual(guard, isSchema(candidate), JSON.stringify(candidate))
        const decoded = decodeSchema(candidate)
        if (guard && Either.isRight(decoded)) {
          const newId = () => "call_fixed"
          assert.deepStrictEqual(Response.answerOf(candidate, newId), Response.answerOf(decoded.right, newId))
        }
        checked++
      }
    }
    assert.isAbove(checked, 5_000)
  })
})
