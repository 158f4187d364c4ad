import * as HttpHeaders from "@effect/platform/Headers"
import { NodeHttpClient } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Chunk from "effect/Chunk"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as FiberRef from "effect/FiberRef"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Stream from "effect/Stream"
import * as Tracer from "effect/Tracer"
import type { FatalError, LLMError, RetryableError } from "../../src/domain/Errors.js"
import type { NormalizedRequest } from "../../src/domain/Request.js"
import * as Gemini from "../../src/providers/Gemini.js"
import type { Provider, ProviderChunk, ProviderTarget } from "../../src/providers/Provider.js"
import * as Loopback from "../support/LoopbackServer.js"

const apiKey = "AIza-test-key-0123456789"
const googleai = "vertexai-sdk-test-data/googleai/"
const vertexai = "vertexai-sdk-test-data/vertexai/"
const jsGenai = "js-genai/"
const vercel = "vercel-ai/google/"

const targetOf = (server: Loopback.LoopbackServer, modelId = "gemini-2.5-flash"): ProviderTarget => ({
  endpoint: { name: "google-test", baseUrl: server.url, region: "us" },
  modelId,
  apiKey: Redacted.make(apiKey)
})

const hello: NormalizedRequest = {
  system: undefined,
  messages: [{ role: "user", content: "hi" }],
  maxOutputTokens: undefined,
  temperature: undefined,
  topP: undefined,
  stop: undefined
}

const context = { provider: "google", endpoint: "google-test", now: Date.parse("2025-08-16T00:45:32Z") }
const fixtureText = (path: string) => Loopback.readFixture(path).toString("utf8")
const millis = (duration: Duration.Duration | undefined) => (duration === undefined ? undefined : Duration.toMillis(duration))

/** A provider over the undici client talking to a fresh loopback server. */
const setup = Effect.gen(function*() {
  const server = yield* Loopback.make
  const provider = yield* Gemini.make
  return { server, provider, target: targetOf(server) }
})

/** Runs a stream to its end; the failure, if any, comes last as a `Left`. */
const runStream = (provider: Provider, target: ProviderTarget, request: NormalizedRequest = hello) =>
  Effect.scoped(
    Effect.flatMap(Effect.either(provider.stream(target, request)), (opened) =>
      Either.isLeft(opened)
        ? Effect.succeed({ chunks: [] as Array<ProviderChunk>, error: opened.left as LLMError | undefined })
        : opened.right.pipe(
          Stream.either,
          Stream.runCollect,
          Effect.map((all) => {
            const items = Chunk.toReadonlyArray(all)
            const chunks = items.filter(Either.isRight).map((item) => item.right)
            const failure = items.find(Either.isLeft)
            return { chunks, error: failure?.left }
          })
        )
    )
  )

const summary = (chunks: ReadonlyArray<ProviderChunk>) => {
  const usage = [...chunks].reverse().find((chunk) => chunk.usage !== undefined)?.usage
  return {
    text: chunks.map((chunk) => chunk.delta).join(""),
    usage: usage === undefined ? undefined : { input: usage.inputTokens, output: usage.outputTokens, total: usage.totalTokens },
    finishReason: [...chunks].reverse().find((chunk) => chunk.finishReason !== undefined)?.finishReason
  }
}

/**
 * What a recorded SSE body holds, computed independently of the provider: every `data: ` line is
 * one JSON event; text is the non-thought parts; usage is the last snapshot; the finish reason the last one.
 */
const expectedFromRecording = (body: string) => {
  let text = ""
  let usage: { input: number; output: number; total: number } | undefined
  let finish: string | undefined
  for (const line of body.split(/\r\n|\n|\r/)) {
    if (!line.startsWith("data: ")) continue
    const event = JSON.parse(line.slice(6))
    const candidate = event.candidates?.[0]
    for (const part of candidate?.content?.parts ?? []) if (!part.thought && part.text) text += part.text
    if (candidate?.finishReason) finish = candidate.finishReason
    if (event.promptFeedback?.blockReason) finish = "BLOCKED"
    const u = event.usageMetadata
    if (u) {
      const input = (u.promptTokenCount ?? 0) + (u.toolUsePromptTokenCount ?? 0)
      const output = (u.candidatesTokenCount ?? 0) + (u.thoughtsTokenCount ?? 0)
      usage = { input, output, total: u.totalTokenCount ?? input + output }
    }
  }
  const finishReason = finish === undefined
    ? undefined
    : ({ STOP: "stop", MAX_TOKENS: "length", SAFETY: "filter", RECITATION: "filter", BLOCKED: "filter" } as Record<string, string>)[
      finish
    ] ?? "other"
  return { text, usage, finishReason }
}

it.layer(NodeHttpClient.layerUndici)("Gemini", (it) => {
  describe("request", () => {
    it.scoped("posts generateContent with the key only in x-goog-api-key and maps the request body", () =>
      Effect.gen(function*() {
        const { provider, server, target } = yield* setup
        server.enqueue(Loopback.replay(googleai + "unary-success-basic-reply-short.json", { headers: { "content-type": "application/json" } }))
        yield* provider.generate(target, {
          system: "Answer briefly.",
          messages: [
            { role: "user", content: "Hello" },
            { role: "assistant", content: "Hi!" },
            { role: "user", content: "Where is Google?" }
          ],
          maxOutputTokens: 200,
          temperature: 0.7,
          topP: 0.95,
          stop: ["\n\n"]
        })
        const [request] = server.requests
        assert.strictEqual(request!.method, "POST")
        assert.strictEqual(request!.url, "/v1beta/models/gemini-2.5-flash:generateContent")
        assert.strictEqual(request!.headers["x-goog-api-key"], apiKey)
        assert.isUndefined(request!.headers["authorization"])
        assert.notInclude(request!.url, apiKey)
        assert.notInclude(request!.url, "key=")
        assert.match(String(request!.headers["content-type"]), /^application\/json/)
        assert.deepStrictEqual(request!.json, {
          contents: [
            { role: "user", parts: [{ text: "Hello" }] },
            { role: "model", parts: [{ text: "Hi!" }] },
            { role: "user", parts: [{ text: "Where is Google?" }] }
          ],
          systemInstruction: { parts: [{ text: "Answer briefly." }] },
          generationConfig: { maxOutputTokens: 200, temperature: 0.7, topP: 0.95, stopSequences: ["\n\n"] }
        })
      }))

    it.scoped("leaves out systemInstruction and generationConfig when nothing sets them", () =>
      Effect.gen(function*() {
        const { provider, server, target } = yield* setup
        server.enqueue(Loopback.replay(googleai + "unary-success-basic-reply-short.json"))
        yield* provider.generate(target, { ...hello, temperature: 0 })
        assert.deepStrictEqual(server.requests[0]!.json, {
          contents: [{ role: "user", parts: [{ text: "hi" }] }],
          generationConfig: { temperature: 0 }
        })
        server.enqueue(Loopback.replay(googleai + "unary-success-basic-reply-short.json"))
        yield* provider.generate(target, hello)
        assert.deepStrictEqual(server.requests[1]!.json, { contents: [{ role: "user", parts: [{ text: "hi" }] }] })
      }))

    it.scoped("streams from streamGenerateContent?alt=sse with the same header auth", () =>
      Effect.gen(function*() {
        const { provider, server, target } = yield* setup
        server.enqueue(Loopback.replay(googleai + "streaming-success-basic-reply-short.txt"))
        yield* runStream(provider, target)
        const [request] = server.requests
        assert.strictEqual(request!.url, "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse")
        assert.strictEqual(request!.headers["x-goog-api-key"], apiKey)
        assert.isUndefined(request!.headers["authorization"])
      }))

    it.scoped("redacts x-goog-api-key from the HTTP client span", () =>
      Effect.gen(function*() {
        const { provider, server, target } = yield* setup
        server.enqueue(Loopback.replay(googleai + "unary-success-basic-reply-short.json"))
        const base = yield* Effect.tracer
        const spans: Array<Tracer.Span> = []
        const tracer = Tracer.make({
          context: base.context,
          span: (...args) => {
            const span = base.span(...args)
            spans.push(span)
            return span
          }
        })
        yield* provider.generate(target, hello).pipe(Effect.withTracer(tracer))
        const attributes = spans.flatMap((span) => [...span.attributes.entries()])
        const keyHeader = attributes.find(([name]) => name === "http.request.header.x-goog-api-key")
        assert.isDefined(keyHeader)
        assert.strictEqual(String(keyHeader![1]), "<redacted>")
        assert.notInclude(JSON.stringify(attributes.map(([name, value]) => [name, String(value)])), apiKey)
        // Scoped to the provider's calls: the caller's redacted names are left as they were.
        assert.notInclude(yield* FiberRef.get(HttpHeaders.currentRedactedNames), "x-goog-api-key")
      }))
  })

  describe("unary decode", () => {
    const answer = (fixture: string) =>
      Effect.gen(function*() {
        const { provider, server, target } = yield* setup
        server.enqueue(Loopback.replay(fixture, { headers: { "content-type": "application/json; charset=UTF-8" } }))
        return yield* provider.generate(target, hello)
      })

    it.scoped("a plain success", () =>
      Effect.gen(function*() {
        const result = yield* answer(googleai + "unary-success-basic-reply-short.json")
        assert.strictEqual(
          result.content,
          "Google's headquarters, also known as the Googleplex, is located in **Mountain View, California**.\n"
        )
        assert.deepStrictEqual([result.usage.inputTokens, result.usage.outputTokens, result.usage.totalTokens], [7, 22, 29])
        assert.strictEqual(result.finishReason, "stop")
        assert.strictEqual(result.modelVersion, "gemini-2.0-flash")
        assert.isUndefined(result.requestId)
      }))

    it.scoped("SAFETY keeps the partial text and maps to filter", () =>
      Effect.gen(function*() {
        const result = yield* answer(googleai + "unary-failure-finish-reason-safety.json")
        assert.strictEqual(result.content, "Safety error incoming in 5, 4, 3, 2...")
        assert.strictEqual(result.finishReason, "filter")
        assert.deepStrictEqual([result.usage.inputTokens, result.usage.outputTokens, result.usage.totalTokens], [7, 20, 27])
      }))

    it.scoped("candidates: [] with only a prompt-feedback message is a filtered empty answer", () =>
      Effect.gen(function*() {
        const result = yield* answer(googleai + "unary-failure-only-prompt-feedback.json")
        assert.strictEqual(result.content, "")
        assert.strictEqual(result.finishReason, "filter")
        assert.deepStrictEqual([result.usage.inputTokens, result.usage.outputTokens, result.usage.totalTokens], [0, 0, 0])
        assert.strictEqual(result.modelVersion, "gemini-2.0-flash")
      }))

    it.scoped("a candidate without content (OTHER + finishMessage) is an empty answer", () =>
      Effect.gen(function*() {
        const result = yield* answer(googleai + "unary-failure-with-message-no-content.json")
        assert.strictEqual(result.content, "")
        assert.strictEqual(result.finishReason, "other")
        assert.deepStrictEqual([result.usage.inputTokens, result.usage.outputTokens, result.usage.totalTokens], [0, 0, 0])
      }))

    it.scoped("an unknown finish reason enum maps to other", () =>
      Effect.gen(function*() {
        const result = yield* answer(vertexai + "unary-failure-unknown-enum-finish-reason.json")
        assert.strictEqual(result.content, "Some text")
        assert.strictEqual(result.finishReason, "other")
      }))

    it.scoped("implicit caching: input is the prompt count, thoughts count as output", () =>
      Effect.gen(function*() {
        const result = yield* answer(vertexai + "unary-success-implicit-caching.json")
        const raw = JSON.parse(fixtureText(vertexai + "unary-success-implicit-caching.json")).usageMetadata
        assert.deepStrictEqual([raw.promptTokenCount, raw.cachedContentTokenCount, raw.totalTokenCount], [12013, 11243, 12101])
        assert.deepStrictEqual(
          [result.usage.inputTokens, result.usage.outputTokens, result.usage.totalTokens],
          [12013, raw.candidatesTokenCount + raw.thoughtsTokenCount, 12101]
        )
      }))

    it.scoped("a blocked prompt (no candidates key) is filter with empty content", () =>
      Effect.gen(function*() {
        const result = yield* answer(vertexai + "unary-failure-prompt-blocked-safety.json")
        assert.strictEqual(result.content, "")
        assert.strictEqual(result.finishReason, "filter")
        const blocked = yield* answer(vercel + "issue-19758-prompt-block.json")
        assert.strictEqual(blocked.finishReason, "filter")
        assert.strictEqual(blocked.requestId, "EXCPaojyHaDUjMcP656rqAk")
        assert.deepStrictEqual([blocked.usage.inputTokens, blocked.usage.outputTokens, blocked.usage.totalTokens], [9, 0, 9])
      }))

    it.scoped("a js-genai recording: MAX_TOKENS after thinking, responseId as request id", () =>
      Effect.gen(function*() {
        const { provider, server, target } = yield* setup
        const recording = Loopback.readRecording(jsGenai + "Client_Tests_ML_Dev_should_generate_content_with_per-request_retry_options.json")
        server.enqueue(Loopback.replayRecording(recording))
        const result = yield* provider.generate(target, hello)
        const body = recording.response.bodySegments[0] as any
        assert.strictEqual(result.content, body.candidates[0].content.parts[0].text)
        assert.strictEqual(result.finishReason, "length")
        assert.strictEqual(result.requestId, "ojQWad2SFf-gz7IPnpHRgAk")
        assert.strictEqual(result.modelVersion, "gemini-2.5-flash")
        assert.deepStrictEqual([result.usage.inputTokens, result.usage.outputTokens, result.usage.totalTokens], [7, 147 + 51, 205])
      }))

    it.scoped("a 200 body that is not JSON is a bad_response", () =>
      Effect.gen(function*() {
        const { provider, server, target } = yield* setup
        server.enqueue({ status: 200, headers: { "content-type": "text/html" }, body: "<html>proxy login</html>" })
        const error = yield* Effect.flip(provider.generate(target, hello))
        assert.strictEqual(error._tag, "FatalError")
        assert.strictEqual((error as any).reason, "bad_response")
      }))

    it.scoped("a 200 JSON body of another shape is a bad_response", () =>
      Effect.gen(function*() {
        const { provider, server, target } = yield* setup
        server.enqueue({ status: 200, body: JSON.stringify({ this: [{ is: { not: [{ a: "valid" }] }, response: {} }] }) })
        server.enqueue({ status: 200, body: "[1,2,3]" })
        server.enqueue({ status: 200, body: JSON.stringify({ candidates: "nope" }) })
        for (let i = 0; i < 3; i++) {
          const error = yield* Effect.flip(provider.generate(target, hello))
          assert.strictEqual(error._tag, "FatalError")
          assert.strictEqual((error as any).reason, "bad_response")
        }
      }))

    it.scoped("HTTP errors are classified from their body", () =>
      Effect.gen(function*() {
        const { provider, server, target } = yield* setup
        server.enqueue(Loopback.replay(googleai + "unary-failure-api-key.json", { status: 400, headers: { "content-type": "application/json" } }))
        const error = yield* Effect.flip(provider.generate(target, hello))
        assert.strictEqual(error._tag, "FatalError")
        assert.strictEqual((error as any).reason, "authentication")
        assert.strictEqual((error as any).status, 400)
        assert.strictEqual((error as any).endpoint, "google-test")
        assert.notInclude(error.message, apiKey)
      }))

    it.scoped("a 429 takes Retry-After from the response headers when the body has no RetryInfo", () =>
      Effect.gen(function*() {
        const { provider, server, target } = yield* setup
        server.enqueue(Loopback.replay(vertexai + "unary-failure-quota-exceeded.json", { status: 429, headers: { "retry-after": "7" } }))
        const error = yield* Effect.flip(provider.generate(target, hello))
        assert.strictEqual(error._tag, "RateLimitError")
        assert.strictEqual(millis((error as any).retryAfter), 7000)
      }))

    it.scoped("connection refused is a RetryableError connection", () =>
      Effect.gen(function*() {
        const provider = yield* Gemini.make
        const closed = yield* Effect.promise(() => Loopback.start())
        const target = targetOf(closed)
        yield* Effect.promise(() => closed.close())
        const error = yield* Effect.flip(provider.generate(target, hello))
        assert.strictEqual(error._tag, "RetryableError")
        assert.strictEqual((error as any).reason, "connection")
        assert.notInclude(error.message, apiKey)
        const streamError = yield* Effect.flip(Effect.scoped(provider.stream(target, hello)))
        assert.strictEqual((streamError as any).reason, "connection")
      }))

    it.scoped("a unary body cut mid-way is a RetryableError", () =>
      Effect.gen(function*() {
        const { provider, server, target } = yield* setup
        server.enqueue({ status: 200, body: ['{"candidates": [{"content": ', { delayMs: 20 }], end: "destroy" })
        const error = yield* Effect.flip(provider.generate(target, hello))
        assert.strictEqual(error._tag, "RetryableError")
      }))
  })

  describe("stream decode of recorded streams", () => {
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
    for (const fixture of recorded) {
      const name = fixture.split("/").pop()
      for (const chunkSizes of [undefined, [7, 300]] as const) {
        it.scoped(`${name} replayed over HTTP ${chunkSizes === undefined ? "in one write" : "in writes of 7/300 bytes"}`, () =>
          Effect.gen(function*() {
            const { provider, server, target } = yield* setup
            server.enqueue(Loopback.replay(fixture, chunkSizes === undefined ? {} : { chunkSizes, delayMs: 1 }))
            const { chunks, error } = yield* runStream(provider, target)
            assert.isUndefined(error)
            assert.deepStrictEqual(summary(chunks), expectedFromRecording(fixtureText(fixture)))
          }))
      }
      it.effect(`${name} decoded from reads of 1 and of 3/64 bytes`, () =>
        Effect.gen(function*() {
          const bytes = Loopback.readFixture(fixture)
          for (const sizes of [[1], [3, 64]]) {
            const chunks = yield* Gemini.decodeStreamBody(Stream.fromIterable(Loopback.splitBytes(bytes, sizes)), context, () => {
              throw new Error("unexpected body failure")
            }).pipe(Stream.runCollect)
            assert.deepStrictEqual(summary(Chunk.toReadonlyArray(chunks)), expectedFromRecording(fixtureText(fixture)))
          }
        }))
    }

    it.scoped("hard-coded values of the recordings match", () =>
      Effect.gen(function*() {
        assert.deepStrictEqual(expectedFromRecording(fixtureText(googleai + "streaming-success-basic-reply-short.txt")), {
          text: "The capital of Wyoming is **Cheyenne**.\n",
          usage: { input: 7, output: 10, total: 17 },
          finishReason: "stop"
        })
        const long = expectedFromRecording(fixtureText(googleai + "streaming-success-basic-reply-long.txt"))
        assert.deepStrictEqual([long.text.length, long.usage, long.finishReason], [8845, { input: 10, output: 1996, total: 2006 }, "stop"])
        const thinking = expectedFromRecording(fixtureText(googleai + "streaming-success-thinking-reply-thought-summary.txt"))
        assert.deepStrictEqual(thinking.usage, { input: 10, output: 48 + 540, total: 598 })
        assert.notInclude(thinking.text, "**Exploring Sky Color**")
        assert.deepStrictEqual(expectedFromRecording(fixtureText(googleai + "streaming-success-finish-message.txt")), {
          text: "Hello world!",
          usage: undefined,
          finishReason: "stop"
        })
        assert.deepStrictEqual(expectedFromRecording(fixtureText(googleai + "streaming-failure-recitation-no-content.txt")), {
          text: "text1text2text3text4text5text6text7text8",
          usage: { input: 9, output: 261, total: 270 },
          finishReason: "filter"
        })
      }))

    it.scoped("thought parts are not part of the text; responseId and modelVersion ride on every chunk", () =>
      Effect.gen(function*() {
        const { provider, server, target } = yield* setup
        server.enqueue(Loopback.replay(googleai + "streaming-success-thinking-reply-thought-summary.txt"))
        const { chunks } = yield* runStream(provider, target)
        assert.strictEqual(chunks[0]!.delta, "")
        assert.strictEqual(chunks[0]!.usage?.outputTokens, 70)
        assert.isTrue(chunks.every((chunk) => chunk.requestId === "0J-HaJetAqv0jrEPwu-tsQ0" && chunk.modelVersion === "gemini-2.5-flash"))
        assert.isTrue(summary(chunks).text.startsWith("The sky is blue because"))
      }))

    for (const eol of ["\r\n", "\n"] as const) {
      const name = eol === "\r\n" ? "CRLF" : "LF"
      it.scoped(`js-genai recording with system instruction, ${name} framing`, () =>
        Effect.gen(function*() {
          const { provider, server, target } = yield* setup
          const recording = Loopback.readRecording(
            jsGenai + "Client_Tests_generateContentStream_ML_Dev_should_stream_generate_content_with_system_instruction.json"
          )
          const response = Loopback.replayRecording(recording, { eol })
          server.enqueue(response)
          const { chunks, error } = yield* runStream(provider, target)
          assert.isUndefined(error)
          assert.strictEqual(chunks.length, recording.response.bodySegments.length)
          assert.deepStrictEqual(summary(chunks), expectedFromRecording(response.body as string))
          assert.strictEqual(summary(chunks).finishReason, "stop")
          assert.isTrue(summary(chunks).text.startsWith("low!"))
        }))

      it.scoped(`js-genai recording with maxOutputTokens (MAX_TOKENS), ${name} framing`, () =>
        Effect.gen(function*() {
          const { provider, server, target } = yield* setup
          const recording = Loopback.readRecording(
            jsGenai + "Client_Tests_generateContentStream_ML_Dev_should_stream_generate_content_with_specified_parameters.json"
          )
          const response = Loopback.replayRecording(recording, { eol })
          server.enqueue(response)
          const { chunks, error } = yield* runStream(provider, target)
          assert.isUndefined(error)
          const expected = expectedFromRecording(response.body as string)
          assert.deepStrictEqual(summary(chunks), expected)
          assert.strictEqual(expected.finishReason, "length")
          assert.deepStrictEqual(chunks.map((chunk) => chunk.usage?.outputTokens), [51 + 45, 102 + 45, 153 + 45])
        }))
    }

    it.scoped("a usage-only final event after the finish chunk supplies the final usage", () =>
      Effect.gen(function*() {
        const { provider, server, target } = yield* setup
        const finish = `data: {"candidates": [{"content": {"parts": [{"text": "ok"}],"role": "model"},"finishReason": "STOP"}]}\r\n\r\n`
        server.enqueue(Loopback.replay(Buffer.concat([Buffer.from(finish), Loopback.readFixture(vercel + "google-usage-raw-live.chunks.txt")])))
        const { chunks, error } = yield* runStream(provider, target)
        assert.isUndefined(error)
        assert.deepStrictEqual(summary(chunks), { text: "ok", usage: { input: 12 + 65, output: 71 + 89, total: 237 }, finishReason: "stop" })
      }))
  })

  describe("stream failures", () => {
    it.scoped("a raw error object after two chunks: both deltas first, then the classified error", () =>
      Effect.gen(function*() {
        const { provider, server, target } = yield* setup
        server.enqueue(Loopback.replay(vertexai + "streaming-failure-error-mid-stream.txt"))
        const { chunks, error } = yield* runStream(provider, target)
        assert.deepStrictEqual(chunks.map((chunk) => chunk.delta), ["First ", "Second "])
        assert.strictEqual(error?._tag, "RetryableError")
        assert.strictEqual((error as any).reason, "server_error")
        assert.strictEqual((error as any).status, 499)
        assert.include(error!.message, "The operation was cancelled.")
      }))

    it.scoped("the raw error object split across reads is still recognised", () =>
      Effect.gen(function*() {
        const { provider, server, target } = yield* setup
        server.enqueue(Loopback.replay(vertexai + "streaming-failure-error-mid-stream.txt", { chunkSizes: [40], delayMs: 1 }))
        const { chunks, error } = yield* runStream(provider, target)
        assert.strictEqual(chunks.length, 2)
        assert.strictEqual((error as any).status, 499)
      }))

    it.scoped("a JSON event that is not a response is a bad_response", () =>
      Effect.gen(function*() {
        const { provider, server, target } = yield* setup
        server.enqueue(Loopback.replay(vertexai + "streaming-failure-invalid-json.txt"))
        const { error } = yield* runStream(provider, target)
        assert.strictEqual(error?._tag, "FatalError")
        assert.strictEqual((error as any).reason, "bad_response")
      }))

    it.scoped("an event whose data is not JSON is a bad_response", () =>
      Effect.gen(function*() {
        const { provider, server, target } = yield* setup
        server.enqueue(Loopback.replay(Buffer.from("data: {not json\r\n\r\n")))
        const { error } = yield* runStream(provider, target)
        assert.strictEqual((error as any).reason, "bad_response")
      }))

    it.scoped("an in-band 503 error as the first event is a RetryableError before any delta", () =>
      Effect.gen(function*() {
        const { provider, server, target } = yield* setup
        server.enqueue(Loopback.replay(Buffer.from(
          `data: {"error":{"code":503,"message":"The model is overloaded. Please try again later.","status":"UNAVAILABLE"}}\r\n\r\n`
        )))
        const { chunks, error } = yield* runStream(provider, target)
        assert.strictEqual(chunks.length, 0)
        assert.strictEqual(error?._tag, "RetryableError")
        assert.strictEqual((error as any).reason, "server_error")
        assert.strictEqual((error as any).status, 503)
        assert.include(error!.message, "overloaded")
      }))

    it.scoped("an in-band 429 with RetryInfo is a RateLimitError with retryAfter", () =>
      Effect.gen(function*() {
        const { provider, server, target } = yield* setup
        const body = JSON.stringify(JSON.parse(fixtureText(vercel + "google-429-retry-info.json")))
        server.enqueue(Loopback.replay(Buffer.from(`data: ${body}\n\n`)))
        const { error } = yield* runStream(provider, target)
        assert.strictEqual(error?._tag, "RateLimitError")
        assert.strictEqual(millis((error as any).retryAfter), 34_400)
      }))

    it.scoped("a 404 with text/event-stream and a plain JSON body (js-genai recording) is FatalError not_found", () =>
      Effect.gen(function*() {
        const { provider, server, target } = yield* setup
        const recording = Loopback.readRecording(jsGenai + "Chats_Tests_sendMessage_Send_message_stream_with_error.json")
        server.enqueue(Loopback.replayRecording(recording))
        const error = yield* Effect.flip(Effect.scoped(provider.stream(targetOf(server, "custom-gemini-2.0-flash"), hello)))
        assert.strictEqual(server.requests[0]!.headers["content-type"], "application/json")
        assert.strictEqual(error._tag, "FatalError")
        assert.strictEqual((error as any).reason, "not_found")
        assert.strictEqual((error as any).status, 404)
        assert.include(error.message, "models/custom-gemini-2.0-flash is not found")
        void target
      }))

    it.scoped("a 400 on a stream request (plain JSON body) is FatalError invalid_request", () =>
      Effect.gen(function*() {
        const { provider, server, target } = yield* setup
        server.enqueue(Loopback.replay(googleai + "streaming-failure-image-rejected.txt", { status: 400 }))
        const error = yield* Effect.flip(Effect.scoped(provider.stream(target, hello)))
        assert.strictEqual((error as any).reason, "invalid_request")
      }))

    it.scoped("a stream that ends between events without a finish reason is stream_interrupted", () =>
      Effect.gen(function*() {
        const { provider, server, target } = yield* setup
        const full = fixtureText(googleai + "streaming-success-basic-reply-long.txt")
        const cut = full.split("\r\n\r\n").slice(0, 10).join("\r\n\r\n") + "\r\n\r\n"
        server.enqueue(Loopback.replay(Buffer.from(cut)))
        const { chunks, error } = yield* runStream(provider, target)
        assert.strictEqual(chunks.length, 10)
        assert.strictEqual(error?._tag, "RetryableError")
        assert.strictEqual((error as any).reason, "stream_interrupted")
      }))

    it.scoped("a stream that ends in the middle of an event is stream_interrupted", () =>
      Effect.gen(function*() {
        const { provider, server, target } = yield* setup
        const full = Loopback.readFixture(googleai + "streaming-success-basic-reply-short.txt")
        server.enqueue(Loopback.replay(full.subarray(0, full.length - 40)))
        const { chunks, error } = yield* runStream(provider, target)
        assert.strictEqual(chunks.length, 2)
        assert.strictEqual((error as any).reason, "stream_interrupted")
      }))

    it.scoped("a connection cut mid-body is stream_interrupted after the deltas received", () =>
      Effect.gen(function*() {
        const { provider, server, target } = yield* setup
        const full = Loopback.readFixture(googleai + "streaming-success-basic-reply-short.txt")
        const firstEvent = full.indexOf("\r\n\r\n") + 4
        server.enqueue({
          status: 200,
          headers: { "content-type": "text/event-stream" },
          body: [full.subarray(0, firstEvent), { delayMs: 20 }, full.subarray(firstEvent, firstEvent + 30)],
          end: "destroy"
        })
        const { chunks, error } = yield* runStream(provider, target)
        assert.deepStrictEqual(chunks.map((chunk) => chunk.delta), ["The"])
        assert.strictEqual(error?._tag, "RetryableError")
        assert.strictEqual((error as any).reason, "stream_interrupted")
      }))
  })

  describe("stream lifecycle", () => {
    it.scoped("stopping early closes the HTTP connection", () =>
      Effect.gen(function*() {
        const { provider, server, target } = yield* setup
        const full = Loopback.readFixture(googleai + "streaming-success-basic-reply-short.txt")
        server.enqueue({
          status: 200,
          headers: { "content-type": "text/event-stream" },
          body: [full.subarray(0, full.indexOf("\r\n\r\n") + 4)],
          end: "hang"
        })
        const first = yield* Effect.scoped(
          Effect.flatMap(provider.stream(target, hello), (stream) => Stream.runCollect(Stream.take(stream, 1)))
        )
        assert.strictEqual(Chunk.unsafeHead(first).delta, "The")
        const [request] = yield* Effect.promise(() => server.awaitRequests(1))
        const closed = yield* Effect.promise(() =>
          Promise.race([request!.socketClosed.then(() => true), new Promise<boolean>((done) => setTimeout(() => done(false), 2000))])
        )
        assert.isTrue(closed, "the server saw the client close the socket")
      }))

    it.scoped("stopping early closes the HTTP connection even while the caller's scope stays open", () =>
      Effect.gen(function*() {
        const { provider, server, target } = yield* setup
        const full = Loopback.readFixture(googleai + "streaming-success-basic-reply-short.txt")
        server.enqueue({
          status: 200,
          headers: { "content-type": "text/event-stream" },
          body: [full.subarray(0, full.indexOf("\r\n\r\n") + 4)],
          end: "hang"
        })
        const stream = yield* provider.stream(target, hello)
        const first = yield* Stream.runCollect(Stream.take(stream, 1))
        assert.strictEqual(Chunk.unsafeHead(first).delta, "The")
        const [request] = yield* Effect.promise(() => server.awaitRequests(1))
        const closed = yield* Effect.promise(() =>
          Promise.race([request!.socketClosed.then(() => true), new Promise<boolean>((done) => setTimeout(() => done(false), 2000))])
        )
        assert.isTrue(closed, "the server saw the client close the socket")
      }))

    it.scoped("a finished stream leaves the keep-alive connection open for reuse", () =>
      Effect.gen(function*() {
        const { provider, server, target } = yield* setup
        server.enqueue(Loopback.replay(googleai + "streaming-success-basic-reply-short.txt"))
        server.enqueue(Loopback.replay(googleai + "streaming-success-basic-reply-short.txt"))
        yield* runStream(provider, target)
        // undici returns the socket to its pool a tick after the body ends.
        yield* Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 20)))
        assert.strictEqual(server.connectionsClosed(), 0)
        yield* runStream(provider, target)
        assert.strictEqual(server.connectionsAccepted(), 1)
      }))

    it.effect("a body that ends cleanly at any byte before its end is stream_interrupted, never a bad response or a success", () =>
      Effect.gen(function*() {
        const bytes = Loopback.readFixture(googleai + "streaming-success-basic-reply-short.txt")
        const whole = expectedFromRecording(fixtureText(googleai + "streaming-success-basic-reply-short.txt"))
        const lastJsonEnd = bytes.lastIndexOf("}".charCodeAt(0)) + 1
        for (let cut = 1; cut < bytes.length; cut++) {
          const exit = yield* Gemini.decodeStreamBody(Stream.make(bytes.subarray(0, cut)), context, () => {
            throw new Error("unexpected body failure")
          }).pipe(Stream.runCollect, Effect.exit)
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

    it.effect("a raw error object cut short is stream_interrupted; text that is no event at all is a bad response", () =>
      Effect.gen(function*() {
        const decode = (text: string) =>
          Gemini.decodeStreamBody(Stream.make(new TextEncoder().encode(text)), context, () => {
            throw new Error("unexpected body failure")
          }).pipe(Stream.runDrain, Effect.flip)
        const first = fixtureText(googleai + "streaming-success-basic-reply-short.txt").split("\r\n\r\n")[0]!
        const cutObject = yield* decode(`${first}\r\n\r\n{\n  "error": {\n    "code": 50`)
        assert.strictEqual(cutObject._tag, "RetryableError")
        assert.strictEqual((cutObject as RetryableError).reason, "stream_interrupted")
        const html = yield* decode("<html>\n<body>Service Unavailable</body>\n</html>")
        assert.strictEqual(html._tag, "FatalError")
        assert.strictEqual((html as FatalError).reason, "bad_response")
      }))

    it.scoped("decodes a 10,000-event stream read in 64 KiB or 256-byte pieces (speed: npm run bench)", () =>
      Effect.gen(function*() {
        const event = (i: number) =>
          `data: {"candidates": [{"content": {"parts": [{"text": "token ${i} "}],"role": "model"}${
            i === 9999 ? `,"finishReason": "STOP"` : ""
          }}],"usageMetadata": {"promptTokenCount": 5,"candidatesTokenCount": ${i + 1},"totalTokenCount": ${i + 6}},"modelVersion": "gemini-2.5-flash"}\r\n\r\n`
        const body = Buffer.from(Array.from({ length: 10_000 }, (_, i) => event(i)).join(""))
        const decode = (sizes: ReadonlyArray<number>) =>
          Effect.gen(function*() {
            const chunks = yield* Gemini.decodeStreamBody(Stream.fromIterable(Loopback.splitBytes(body, sizes)), context, () => {
              throw new Error("unexpected")
            }).pipe(Stream.runCollect)
            return { chunks: Chunk.toReadonlyArray(chunks) }
          })
        const large = yield* decode([65536])
        const small = yield* decode([256])
        assert.strictEqual(large.chunks.length, 10_000)
        assert.strictEqual(small.chunks.length, 10_000)
        assert.deepStrictEqual(summary(large.chunks).usage, { input: 5, output: 10_000, total: 10_005 })

        const { provider, server, target } = yield* setup
        server.enqueue(Loopback.replay(body, { chunkSizes: [65536] }))
        const { chunks, error } = yield* runStream(provider, target)
        assert.isUndefined(error)
        assert.strictEqual(chunks.length, 10_000)
      }))
  })
})

describe("Gemini.classifyError", () => {
  const classify = (status: number, body: string, headers: Record<string, string> = {}) =>
    Gemini.classifyError(status, body, headers, context)

  it("400 API_KEY_INVALID is an authentication error that says the key was rejected, without echoing it", () => {
    const error = classify(400, fixtureText(googleai + "unary-failure-api-key.json"))
    assert.strictEqual(error._tag, "FatalError")
    assert.strictEqual((error as any).reason, "authentication")
    assert.strictEqual((error as any).status, 400)
    assert.strictEqual((error as any).provider, "google")
    assert.strictEqual((error as any).endpoint, "google-test")
    assert.match(error.message, /API key/)
    assert.match(error.message, /rejected/)
    assert.include(error.message, "400")
    assert.notInclude(error.message, "key1234") // the DebugInfo detail echoes the key
  })

  it("403 API not enabled is permission_denied with the server's message", () => {
    const error = classify(403, fixtureText(googleai + "unary-failure-generativelanguage-api-not-enabled.json"))
    assert.strictEqual((error as any).reason, "permission_denied")
    assert.include(error.message, "403")
    assert.include(error.message, "Generative Language API has not been used in project 12345678")
  })

  it("404 unknown model is not_found", () => {
    const error = classify(404, fixtureText(googleai + "unary-failure-unknown-model.json"))
    assert.strictEqual(error._tag, "FatalError")
    assert.strictEqual((error as any).reason, "not_found")
    assert.include(error.message, "models/gemini-5.0-flash is not found")
  })

  it("429 with RetryInfo 34.4s (per-minute quota) is rate_limited with retryAfter 34.4s", () => {
    const error = classify(429, fixtureText(vercel + "google-429-retry-info.json"))
    assert.strictEqual(error._tag, "RateLimitError")
    assert.strictEqual((error as any).reason, "rate_limited")
    assert.strictEqual(millis((error as any).retryAfter), 34_400)
    assert.include(error.message, "You exceeded your current quota")
  })

  it("RetryInfo wins over Retry-After headers", () => {
    const error = classify(429, fixtureText(vercel + "google-429-retry-info.json"), { "retry-after": "3" })
    assert.strictEqual(millis((error as any).retryAfter), 34_400)
  })

  it("old-style 429 without RetryInfo is rate_limited with no retryAfter, or the header's", () => {
    const body = fixtureText(vertexai + "unary-failure-quota-exceeded.json")
    const error = classify(429, body)
    assert.strictEqual(error._tag, "RateLimitError")
    assert.strictEqual((error as any).reason, "rate_limited")
    assert.isUndefined((error as any).retryAfter)
    assert.strictEqual(millis((classify(429, body, { "retry-after": "12" }) as any).retryAfter), 12_000)
    assert.strictEqual(millis((classify(429, body, { "retry-after-ms": "1500" }) as any).retryAfter), 1500)
    assert.strictEqual(
      millis((classify(429, body, { "retry-after": "Sat, 16 Aug 2025 00:46:02 GMT" }) as any).retryAfter),
      30_000
    )
  })

  it("429 on a per-day quota is quota_exhausted even with a short RetryInfo", () => {
    const body = JSON.stringify({
      error: {
        code: 429,
        message:
          "You exceeded your current quota, please check your plan and billing details.\n* Quota exceeded for metric: generativelanguage.googleapis.com/generate_content_free_tier_requests, limit: 250\nPlease retry in 1.68122827s.",
        status: "RESOURCE_EXHAUSTED",
        details: [
          { "@type": "type.googleapis.com/google.rpc.Help", links: [{ description: "Learn more", url: "https://ai.google.dev/gemini-api/docs/rate-limits" }] },
          {
            "@type": "type.googleapis.com/google.rpc.QuotaFailure",
            violations: [{
              quotaMetric: "generativelanguage.googleapis.com/generate_content_free_tier_requests",
              quotaId: "GenerateRequestsPerDayPerProjectPerModel-FreeTier",
              quotaDimensions: { location: "global", model: "gemini-2.5-flash" },
              quotaValue: "250"
            }]
          },
          { "@type": "type.googleapis.com/google.rpc.RetryInfo", retryDelay: "1s" }
        ]
      }
    })
    const error = classify(429, body)
    assert.strictEqual(error._tag, "RateLimitError")
    assert.strictEqual((error as any).reason, "quota_exhausted")
    assert.strictEqual(millis((error as any).retryAfter), 1000)
  })

  it("other 400s are invalid_request with the server's message", () => {
    const live = JSON.parse(fixtureText(vercel + "issue-22372-live-errors.json"))
    for (const body of [live.reasoningNoneResponse, live.thinkingLevelAndBudgetResponse]) {
      const error = classify(400, JSON.stringify(body))
      assert.strictEqual(error._tag, "FatalError")
      assert.strictEqual((error as any).reason, "invalid_request")
      assert.include(error.message, body.error.message)
    }
    const penalty = classify(400, fixtureText(vercel + "issue-8943-gemini-2.5-flash-error.json"))
    assert.strictEqual((penalty as any).reason, "invalid_request")
    assert.include(penalty.message, "Penalty is not enabled for models/gemini-2.5-flash")
    assert.include(penalty.message, "INVALID_ARGUMENT")
    assert.strictEqual((classify(400, fixtureText(googleai + "streaming-failure-image-rejected.txt")) as any).reason, "invalid_request")
  })

  it("401 is authentication", () => {
    const error = classify(401, JSON.stringify({ error: { code: 401, message: "Request had invalid authentication credentials.", status: "UNAUTHENTICATED" } }))
    assert.strictEqual((error as any).reason, "authentication")
  })

  it("500, 502, 503, 504 and 499 are retryable server errors; 408 is a retryable timeout", () => {
    const rpc = (code: number, status: string, message: string) => JSON.stringify({ error: { code, message, status } })
    const cases: Array<[number, string, string]> = [
      [500, rpc(500, "INTERNAL", "An internal error has occurred. Please retry or report in https://developers.generativeai.google/guide/troubleshooting"), "server_error"],
      [503, rpc(503, "UNAVAILABLE", "The model is overloaded. Please try again later."), "server_error"],
      [504, rpc(504, "DEADLINE_EXCEEDED", "Deadline expired before operation could complete."), "server_error"],
      [502, "<html><body>502 Bad Gateway</body></html>", "server_error"],
      [499, rpc(499, "CANCELLED", "The operation was cancelled."), "server_error"],
      [408, "", "timeout"]
    ]
    for (const [status, body, reason] of cases) {
      const error = classify(status, body)
      assert.strictEqual(error._tag, "RetryableError", `HTTP ${status}`)
      assert.strictEqual((error as any).reason, reason)
      assert.strictEqual((error as any).status, status)
      assert.include(error.message, String(status))
    }
    assert.include(classify(502, "<html><body>502 Bad Gateway</body></html>").message, "502 Bad Gateway")
  })

  it("an SSE-framed error body is read from its data line", () => {
    const error = classify(503, `data: {"error":{"code":503,"message":"The model is overloaded.","status":"UNAVAILABLE"}}\r\n\r\n`)
    assert.strictEqual((error as any).reason, "server_error")
    assert.include(error.message, "503 UNAVAILABLE: The model is overloaded.")
  })

  it("a long non-JSON body is truncated in the message", () => {
    const error = classify(500, "x".repeat(10_000))
    assert.isBelow(error.message.length, 700)
  })
})
