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
import type { LLMError, RetryableError } from "../../../src/domain/Errors.js"
import * as Response from "../../../src/providers/anthropic/Response.js"
import * as AnthropicStream from "../../../src/providers/anthropic/Stream.js"
import type { StreamPart } from "../../../src/providers/Provider.js"
import * as Loopback from "../../support/LoopbackServer.js"
import {
  context,
  decodeReads,
  expectedFromRecording,
  frameChunks,
  partsOf,
  pydantic,
  readCassette,
  runStream,
  setup,
  simonw,
  summary,
  vercel
} from "./Harness.js"

const sse = { "content-type": "text/event-stream; charset=utf-8" }
const deltas = (parts: ReadonlyArray<StreamPart>) => partsOf(parts, "TextDelta").map((part) => part.text)
const fields = (error: LLMError | undefined) =>
  error as (LLMError & { reason?: string; status?: number; retryAfter?: Duration.Duration }) | undefined

/** One SSE event as Anthropic frames it. */
const event = (data: Record<string, unknown>) => `event: ${data.type}\ndata: ${JSON.stringify(data)}\n\n`

/** Decodes one whole body (no HTTP) and returns its parts and failure. */
const decodeText = (text: string, headers: Record<string, string> = {}) =>
  AnthropicStream.decode(Stream.make(new TextEncoder().encode(text)), context, headers).pipe(
    Stream.either,
    Stream.runCollect,
    Effect.map((all) => {
      const items = Chunk.toReadonlyArray(all)
      return {
        parts: items.filter(Either.isRight).map((item) => item.right),
        error: items.find(Either.isLeft)?.left
      }
    })
  )

/** A recorded stream body with the response headers it came with. */
interface Recorded {
  readonly name: string
  readonly headers: Record<string, string>
  readonly body: Buffer
}

const cassette = (path: string): Recorded => {
  const response = readCassette(path)
  return { name: path.split("/").pop()!, headers: { ...response.headers }, body: response.body }
}

const chunks = (path: string): Recorded => ({ name: path.split("/").pop()!, headers: sse, body: frameChunks(path) })

/**
 * Wire bytes of api.anthropic.com (pydantic-ai `|+` block; simonw gzip bodies, inflated), the YAML-
 * folded simonw text bodies (padding runs may be one space), and the AI SDK's payload files framed here.
 */
const recorded: ReadonlyArray<Recorded> = [
  cassette(pydantic + "test_anthropic_model_thinking_part_stream.yaml"),
  cassette(simonw + "test_stream_events_text.yaml"),
  cassette(simonw + "test_stream_events_thinking.yaml"),
  cassette(simonw + "test_prompt.yaml"),
  cassette(simonw + "test_prompt_with_prefill_and_stop_sequences.yaml"),
  chunks(vercel + "anthropic-text.chunks.txt"),
  chunks(vercel + "anthropic-clear-thinking.1.chunks.txt"),
  chunks(vercel + "anthropic-message-delta-input-tokens.chunks.txt"),
  chunks(vercel + "anthropic-refusal.chunks.txt"),
  chunks(vercel + "anthropic-tool-no-args.chunks.txt")
]
const byName = (name: string) => recorded.find((r) => r.name === name)!
const thinkingWire = byName("test_anthropic_model_thinking_part_stream.yaml")

it.layer(NodeHttpClient.layerUndici)("Anthropic streams", (it) => {
  describe("recorded streams", () => {
    for (const recording of recorded) {
      for (const chunkSizes of [undefined, [7, 300]] as const) {
        it.scoped(
          `${recording.name} replayed over HTTP ${
            chunkSizes === undefined ? "in one write" : "in writes of 7/300 bytes"
          }`,
          () =>
            Effect.gen(function*() {
              const { client, server, target } = yield* setup
              server.enqueue(
                Loopback.replay(recording.body, {
                  headers: recording.headers,
                  ...(chunkSizes === undefined ? {} : { chunkSizes, delayMs: 1 })
                })
              )
              const { error, parts } = yield* runStream(client, target)
              assert.isUndefined(error)
              assert.deepStrictEqual(summary(parts), expectedFromRecording(recording.body.toString("utf8")))
              // The finish signal is the last part, once.
              assert.strictEqual(partsOf(parts, "Finish").length, 1)
              assert.strictEqual(parts.at(-1)!._tag, "Finish")
            })
        )
      }
      it.effect(`${recording.name} decoded from reads of 1 and of 3/64 bytes`, () =>
        Effect.gen(function*() {
          for (const sizes of [[1], [3, 64]]) {
            const parts = yield* decodeReads(Loopback.splitBytes(recording.body, sizes))
            assert.deepStrictEqual(summary(parts), expectedFromRecording(recording.body.toString("utf8")))
          }
        }))
    }

    it("hard-coded values of the recordings match", () => {
      const of = (name: string) => expectedFromRecording(byName(name).body.toString("utf8"))
      const thinking = of("test_anthropic_model_thinking_part_stream.yaml")
      assert.deepStrictEqual(thinking.usage, { input: 43, output: 282, total: 325, cacheRead: 0, cacheWrite: 0 })
      assert.strictEqual(thinking.finishReason, "stop")
      assert.isTrue(thinking.reasoning.startsWith("This is a straightforward question about pedestrian safety."))
      assert.isTrue(thinking.text.endsWith("Always prioritize safety over speed when crossing streets."))
      assert.deepStrictEqual(of("test_stream_events_text.yaml"), {
        text: "Hello",
        reasoning: "",
        usage: { input: 10, output: 4, total: 14, cacheRead: 0, cacheWrite: 0 },
        finishReason: "stop"
      })
      const haikuThinking = of("test_stream_events_thinking.yaml")
      assert.deepStrictEqual(haikuThinking.usage, { input: 46, output: 133, total: 179, cacheRead: 0, cacheWrite: 0 })
      assert.isTrue(haikuThinking.reasoning.startsWith("The user wants two names for a pet pelican"))
      assert.strictEqual(
        haikuThinking.text,
        "1. **Pouch** - references their iconic bill pouch\n2. **Pelé** - playful take on \"pelican\""
      )
      const prefill = of("test_prompt_with_prefill_and_stop_sequences.yaml")
      assert.strictEqual(prefill.finishReason, "stop") // stop_reason "stop_sequence"
      assert.isTrue(prefill.text.startsWith("\ndef pelican():"))
      // A compatible provider: the real input_tokens only in message_delta (43 → 61), no cache fields.
      assert.deepStrictEqual(of("anthropic-message-delta-input-tokens.chunks.txt"), {
        text: "pong",
        reasoning: "",
        usage: { input: 61, output: 2, total: 63, cacheRead: undefined, cacheWrite: undefined },
        finishReason: "stop"
      })
      assert.deepStrictEqual(of("anthropic-refusal.chunks.txt"), {
        text: "",
        reasoning: "",
        usage: { input: 18, output: 5, total: 23, cacheRead: 0, cacheWrite: 0 },
        finishReason: "filter"
      })
      assert.strictEqual(of("anthropic-tool-no-args.chunks.txt").finishReason, "other")
      assert.strictEqual(of("anthropic-tool-no-args.chunks.txt").text, "I'll update the issue list for you.")
    })

    it.scoped("the wire recording keeps its padding and pings; thinking is reasoning, the signature is not text", () =>
      Effect.gen(function*() {
        const wire = thinkingWire.body.toString("utf8")
        assert.match(wire, /"index":0 {5,}}\n/, "JSON padded with spaces before the last brace")
        assert.include(wire, `event: ping\ndata: {"type": "ping"}\n\n`)
        assert.include(wire, "signature_delta")
        const { client, server, target } = yield* setup
        server.enqueue(Loopback.replay(thinkingWire.body, { headers: thinkingWire.headers }))
        const { parts } = yield* runStream(client, target)
        const reasoning = partsOf(parts, "ReasoningDelta").map((part) => part.text)
        assert.strictEqual(reasoning[0], "This")
        const firstText = parts.findIndex((part) => part._tag === "TextDelta")
        const lastReasoning = parts.map((part) => part._tag).lastIndexOf("ReasoningDelta")
        assert.isBelow(lastReasoning, firstText, "the thinking block comes before the text block")
        assert.notInclude(deltas(parts).join(""), "pedestrian safety. I should")
        assert.notInclude(JSON.stringify(parts), "EqQB")
      }))

    it.scoped("message_start gives the ids (request-id header, else the message id) and the model", () =>
      Effect.gen(function*() {
        const { client, server, target } = yield* setup
        const text = byName("test_stream_events_text.yaml")
        server.enqueue(Loopback.replay(text.body, { headers: text.headers }))
        server.enqueue(Loopback.replay(frameChunks(vercel + "anthropic-text.chunks.txt"), { headers: sse }))
        const first = partsOf((yield* runStream(client, target)).parts, "Metadata")
        assert.deepStrictEqual(first, [{
          _tag: "Metadata",
          requestId: "req_011CZknL2bUdgvrtea9HYSrj",
          modelVersion: "claude-haiku-4-5-20251001"
        }])
        const second = partsOf((yield* runStream(client, target)).parts, "Metadata")
        assert.deepStrictEqual(second, [{
          _tag: "Metadata",
          requestId: "msg_01QC4g3HwBThD4BaNtBckFDJ",
          modelVersion: "claude-sonnet-4-5-20250929"
        }])
      }))

    it.effect("usage: message_start's input (with cache reads and writes) and placeholder output, then message_delta's cumulative counts", () =>
      Effect.gen(function*() {
        const body = event({
          type: "message_start",
          message: {
            id: "msg_1",
            type: "message",
            role: "assistant",
            model: "claude-haiku-4-5",
            content: [],
            stop_reason: null,
            usage: { input_tokens: 10, cache_read_input_tokens: 100, cache_creation_input_tokens: 50, output_tokens: 1 }
          }
        }) +
          event({ type: "content_block_start", index: 0, content_block: { type: "text", text: "" } }) +
          event({ type: "content_block_delta", index: 0, delta: { type: "text_delta", text: "Hi" } }) +
          event({ type: "content_block_stop", index: 0 }) +
          // The documented form: only output_tokens in message_delta; the rest stays from message_start.
          event({
            type: "message_delta",
            delta: { stop_reason: "max_tokens", stop_sequence: null },
            usage: { output_tokens: 9 }
          }) +
          event({ type: "message_stop" })
        const { error, parts } = yield* decodeText(body)
        assert.isUndefined(error)
        const usages = partsOf(parts, "Usage").map((part) => part.usage)
        assert.deepStrictEqual(usages, [
          { inputTokens: 160, outputTokens: 1, totalTokens: 161, cachedInputTokens: 100, cacheWriteTokens: 50 },
          { inputTokens: 160, outputTokens: 9, totalTokens: 169, cachedInputTokens: 100, cacheWriteTokens: 50 }
        ])
        // message_start's output is a placeholder: its report counts the input only
        assert.deepStrictEqual(partsOf(parts, "Usage").map((part) => part.inputOnly === true), [true, false])
        assert.strictEqual(summary(parts).finishReason, "length")
      }))

    it.effect("a compatible server's real input_tokens in message_delta replace message_start's", () =>
      Effect.gen(function*() {
        const parts = yield* decodeReads([frameChunks(vercel + "anthropic-message-delta-input-tokens.chunks.txt")])
        const inputs = partsOf(parts, "Usage").map((part) => part.usage.inputTokens)
        assert.deepStrictEqual(inputs, [43, 61])
        assert.deepStrictEqual(deltas(parts), ["p", "ong"])
      }))

    it.effect("pings anywhere, unknown events, unknown block and delta types are ignored; events after message_stop too", () =>
      Effect.gen(function*() {
        const body = `event: ping\ndata: {"type": "ping"}\n\n` +
          event({
            type: "message_start",
            message: { id: "m", model: "x", content: [], usage: { input_tokens: 3, output_tokens: 1 } }
          }) +
          `event: ping\ndata: {"type": "ping"}\n\n` +
          event({ type: "a_new_event", payload: { anything: [1, 2] }, delta: 42 }) +
          event({ type: "content_block_start", index: 0, content_block: { type: "fallback", reason: "x" } }) +
          event({
            type: "content_block_delta",
            index: 0,
            delta: { type: "citations_delta", citation: { cited_text: "c" } }
          }) +
          event({ type: "content_block_stop", index: 0 }) +
          event({ type: "content_block_start", index: 1, content_block: { type: "text", text: "" } }) +
          event({ type: "content_block_delta", index: 1, delta: { type: "text_delta", text: "ok" } }) +
          `event: ping\ndata: {"type": "ping"}\n\n` +
          event({ type: "content_block_delta", index: 1, delta: { type: "signature_delta", signature: "sig" } }) +
          event({
            type: "content_block_delta",
            index: 1,
            delta: { type: "input_json_delta", partial_json: "{\"a\"" }
          }) +
          event({ type: "content_block_stop", index: 1 }) +
          event({ type: "message_delta", delta: { stop_reason: "end_turn" }, usage: { output_tokens: 2 } }) +
          event({ type: "message_stop" }) +
          event({ type: "content_block_delta", index: 1, delta: { type: "text_delta", text: "late" } }) +
          event({ type: "error", error: { type: "overloaded_error", message: "late" } })
        const { error, parts } = yield* decodeText(body)
        assert.isUndefined(error)
        assert.deepStrictEqual(deltas(parts), ["ok"])
        assert.strictEqual(summary(parts).finishReason, "stop")
      }))

    it.effect("message_start's zero input (GLM's placeholder) is no report of it: the count message_delta gives is, else none", () =>
      Effect.gen(function*() {
        const start = event({
          type: "message_start",
          message: {
            id: "msg_1",
            type: "message",
            role: "assistant",
            model: "glm-4.6",
            content: [],
            usage: { input_tokens: 0, output_tokens: 0 }
          }
        })
        const text = event({ type: "content_block_start", index: 0, content_block: { type: "text", text: "" } }) +
          event({ type: "content_block_delta", index: 0, delta: { type: "text_delta", text: "ok" } }) +
          event({ type: "content_block_stop", index: 0 })
        const end = (usage: Record<string, number>) =>
          event({ type: "message_delta", delta: { stop_reason: "end_turn" }, usage }) + event({ type: "message_stop" })
        const usages = (parts: ReadonlyArray<StreamPart>) =>
          partsOf(parts, "Usage").map((part) => [part.usage.inputTokens, part.usage.outputTokens])
        const counted = yield* decodeText(start + text + end({ input_tokens: 14, output_tokens: 2 }))
        assert.deepStrictEqual(usages(counted.parts), [[14, 2]])
        // with no input anywhere the answer reports no usage (settled at its bound), never an input of 0
        const uncounted = yield* decodeText(start + text + end({ output_tokens: 2 }))
        assert.deepStrictEqual(usages(uncounted.parts), [])
      }))

    it.effect("events without event: lines (the type in the data) and with CRLF framing decode the same", () =>
      Effect.gen(function*() {
        const framed = frameChunks(vercel + "anthropic-text.chunks.txt").toString("utf8")
        const expected = summary(yield* decodeReads([Buffer.from(framed)]))
        const bare = framed.replace(/^event: .*\n/gm, "")
        assert.deepStrictEqual(summary((yield* decodeText(bare)).parts), expected)
        assert.deepStrictEqual(summary((yield* decodeText(framed.replace(/\n/g, "\r\n"))).parts), expected)
      }))
  })

  describe("failures", () => {
    const overloaded =
      `event: error\ndata: {"type":"error","error":{"details":null,"type":"overloaded_error","message":"Overloaded"},"request_id":"req_011CecahOverload"}\n\n`
    const beforeText = (body: string) => body.slice(0, body.indexOf("event: content_block_delta"))
    const textWire = byName("test_stream_events_text.yaml")

    it.scoped("an overloaded_error event before any block is RetryableError overloaded, with no delta", () =>
      Effect.gen(function*() {
        const { client, server, target } = yield* setup
        const start = beforeText(thinkingWire.body.toString("utf8")).split("event: content_block_start")[0]!
        server.enqueue(Loopback.replay(Buffer.from(start + overloaded), { headers: sse }))
        const { error, parts } = yield* runStream(client, target)
        assert.deepStrictEqual(deltas(parts), [])
        assert.strictEqual(partsOf(parts, "Finish").length, 0)
        assert.strictEqual(error?._tag, "RetryableError")
        assert.strictEqual(fields(error)?.reason, "overloaded")
        assert.include(error!.message, "Overloaded")
        assert.include(error!.message, "req_011CecahOverload")
      }))

    it.scoped("an overloaded_error event right after the 200 (no message_start) fails the same way", () =>
      Effect.gen(function*() {
        const { client, server, target } = yield* setup
        server.enqueue(Loopback.replay(Buffer.from(overloaded), { headers: sse, chunkSizes: [5] }))
        const { error, parts } = yield* runStream(client, target)
        assert.strictEqual(parts.length, 0)
        assert.strictEqual(fields(error)?.reason, "overloaded")
      }))

    it.scoped("an error event after text deltas fails after delivering them", () =>
      Effect.gen(function*() {
        const { client, server, target } = yield* setup
        const body = thinkingWire.body.toString("utf8")
        const firstTexts = body.indexOf(`"text":" blind"`)
        const cut = body.slice(0, body.lastIndexOf("event: content_block_delta", firstTexts))
        server.enqueue(
          Loopback.replay(Buffer.from(cut + overloaded), { headers: sse, chunkSizes: [7, 300], delayMs: 1 })
        )
        const { error, parts } = yield* runStream(client, target)
        assert.isAbove(deltas(parts).length, 10)
        assert.isTrue(deltas(parts).join("").startsWith("Here are the basic"))
        assert.strictEqual(fields(error)?.reason, "overloaded")
      }))

    it.scoped("a rate_limit_error event is a RateLimitError waited by the schedule, not by the 200's retry-after", () =>
      Effect.gen(function*() {
        const { client, server, target } = yield* setup
        server.enqueue(
          Loopback.replay(
            Buffer.from(
              `event: error\ndata: {"type":"error","error":{"type":"rate_limit_error","message":"Rate limited"}}\n\n`
            ),
            { headers: { ...sse, "retry-after": "3" } }
          )
        )
        const { error } = yield* runStream(client, target)
        assert.strictEqual(error?._tag, "RateLimitError")
        assert.isUndefined(fields(error)!.retryAfter)
      }))

    it.scoped("a 529 before the stream starts is RetryableError overloaded; a 429 carries its wait", () =>
      Effect.gen(function*() {
        const { client, server, target } = yield* setup
        server.enqueue({
          status: 529,
          headers: { "content-type": "application/json", "request-id": "req_529" },
          body: `{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"},"request_id":"req_529"}`
        }, {
          status: 429,
          headers: { "content-type": "application/json", "retry-after": "7" },
          body:
            `{"type":"error","error":{"type":"rate_limit_error","message":"Number of request tokens has exceeded your per-minute rate limit"}}`
        })
        const overload = yield* Effect.flip(Effect.scoped(client.stream(target, { ...summaryRequest })))
        assert.strictEqual(overload._tag, "RetryableError")
        assert.strictEqual(fields(overload)?.reason, "overloaded")
        assert.strictEqual(fields(overload)?.status, 529)
        const limited = yield* Effect.flip(Effect.scoped(client.stream(target, { ...summaryRequest })))
        assert.strictEqual(limited._tag, "RateLimitError")
        assert.strictEqual(Duration.toMillis(fields(limited)!.retryAfter!), 7000)
      }))

    it.scoped("a connection cut after a text delta is stream_interrupted, after the deltas received", () =>
      Effect.gen(function*() {
        const { client, server, target } = yield* setup
        const body = textWire.body
        const afterDelta = body.indexOf("event: content_block_stop")
        server.enqueue({
          status: 200,
          headers: textWire.headers,
          body: [body.subarray(0, afterDelta), { delayMs: 20 }, body.subarray(afterDelta, afterDelta + 30)],
          end: "destroy"
        })
        const { error, parts } = yield* runStream(client, target)
        assert.deepStrictEqual(deltas(parts), ["Hello"])
        assert.strictEqual(error?._tag, "RetryableError")
        assert.strictEqual(fields(error)?.reason, "stream_interrupted")
        // The usage seen so far (message_start's) was delivered before the cut.
        assert.strictEqual(partsOf(parts, "Usage").at(-1)?.usage.inputTokens, 10)
      }))

    it.scoped("message_stop ends the stream: a connection reset or held open after it is still a finished answer", () =>
      Effect.gen(function*() {
        const { client, server, target } = yield* setup
        const body = textWire.body
        // the body up to message_stop's event, without the end of the HTTP body
        const stopped = body.subarray(0, body.indexOf("\n\n", body.indexOf("event: message_stop")) + 2)
        const whole = expectedFromRecording(body.toString("utf8"))
        for (const end of ["destroy", "hang"] as const) {
          server.enqueue({ status: 200, headers: textWire.headers, body: [stopped, { delayMs: 20 }], end })
          const { error, parts } = yield* runStream(client, target)
          assert.strictEqual(error, undefined, end)
          assert.deepStrictEqual(summary(parts), whole, end)
        }
      }))

    it.scoped("a body that ends after message_delta without message_stop is stream_interrupted, with its usage", () =>
      Effect.gen(function*() {
        const { client, server, target } = yield* setup
        const body = textWire.body.toString("utf8")
        server.enqueue(
          Loopback.replay(Buffer.from(body.slice(0, body.indexOf("event: message_stop"))), { headers: sse })
        )
        const { error, parts } = yield* runStream(client, target)
        assert.strictEqual(fields(error)?.reason, "stream_interrupted")
        assert.strictEqual(partsOf(parts, "Finish").length, 0)
        assert.strictEqual(partsOf(parts, "Usage").at(-1)?.usage.outputTokens, 4)
      }))

    it.effect("a body that ends cleanly at any byte before message_stop is stream_interrupted, never a success or a bad response", () =>
      Effect.gen(function*() {
        const bytes = textWire.body
        const whole = expectedFromRecording(bytes.toString("utf8"))
        const stopEnd = bytes.indexOf(`"message_stop"`) + `"message_stop"`.length
        for (let cut = 1; cut < bytes.length; cut++) {
          const exit = yield* AnthropicStream.decode(Stream.make(bytes.subarray(0, cut)), context).pipe(
            Stream.runCollect,
            Effect.exit
          )
          if (Exit.isSuccess(exit)) {
            // Only once message_stop's JSON is whole has the stream finished.
            assert.isAbove(cut, stopEnd, `cut at ${cut} succeeded`)
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

    it.effect("error events and early ends decode the same from reads of 1 and of 3/64 bytes", () =>
      Effect.gen(function*() {
        const wire = thinkingWire.body.toString("utf8")
        const firstText = wire.lastIndexOf("event: content_block_delta", wire.indexOf(`"text":" blind"`))
        const text = textWire.body.toString("utf8")
        const cases: ReadonlyArray<readonly [string, string, string]> = [
          ["error before any block", wire.split("event: content_block_start")[0]! + overloaded, "overloaded"],
          ["error after text deltas", wire.slice(0, firstText) + overloaded, "overloaded"],
          ["end before message_stop", text.slice(0, text.indexOf("event: message_stop")), "stream_interrupted"],
          ["end inside an event", text.slice(0, text.indexOf(`"text":"Hello"`) + 5), "stream_interrupted"]
        ]
        for (const [name, body, reason] of cases) {
          const whole = yield* decodeText(body)
          assert.strictEqual(fields(whole.error)?.reason, reason, name)
          for (const sizes of [[1], [3, 64]]) {
            const reads = Loopback.splitBytes(Buffer.from(body), sizes)
            const exit = yield* AnthropicStream.decode(Stream.fromIterable(reads), context).pipe(
              Stream.either,
              Stream.runCollect,
              Effect.map(Chunk.toReadonlyArray)
            )
            const parts = exit.filter(Either.isRight).map((item) => item.right)
            const error = exit.find(Either.isLeft)?.left
            assert.strictEqual(fields(error)?.reason, reason, `${name}, reads of ${sizes}`)
            assert.deepStrictEqual(summary(parts), summary(whole.parts), `${name}, reads of ${sizes}`)
          }
        }
      }))

    it.effect("an undecodable 200 is bad_response: HTML, data that is not JSON, a known event of the wrong shape or without its content, an event of no type, a Message unframed", () =>
      Effect.gen(function*() {
        const bodies = [
          "<html>\n<body>Service Unavailable</body>\n</html>\n",
          `event: message_start\ndata: not json at all\n\n`,
          `event: message_start\ndata: 42\n\n`,
          event({ type: "message_start", message: 42 }),
          event({ type: "message_start", message: { usage: { input_tokens: "10" } } }),
          event({ type: "content_block_delta", index: 0, delta: { type: "text_delta", text: 5 } }),
          event({ type: "message_delta", delta: { stop_reason: 1 } }),
          // a known event without what its type carries (the event name standing in for the type)
          `event: message_start\ndata: {"foo":1}\n\n`,
          event({ type: "message_start" }),
          event({ type: "content_block_start", index: 0 }),
          event({ type: "content_block_delta", index: 0 }),
          event({ type: "content_block_delta", index: 0, delta: { type: "text_delta" } }),
          event({ type: "content_block_delta", index: 0, delta: { type: "input_json_delta" } }),
          event({ type: "message_delta" }),
          // JSON of no known shape, no SSE event name: no type at all (a newer named type is skipped)
          `data: {"unexpected":true}\n\n`,
          JSON.stringify(JSON.parse(Loopback.readFixture(vercel + "anthropic-text.json").toString("utf8")))
        ]
        for (const body of bodies) {
          const { error } = yield* decodeText(body)
          assert.strictEqual(error?._tag, "FatalError", body)
          assert.strictEqual(fields(error)?.reason, "bad_response", body)
          assert.strictEqual(fields(error)?.status, 200, body)
        }
      }))

    it.effect("an error object sent unframed under a 200 is classified; an empty body is a cut", () =>
      Effect.gen(function*() {
        const unframed = yield* decodeText(
          `{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`
        )
        assert.strictEqual(fields(unframed.error)?.reason, "overloaded")
        const empty = yield* decodeText("")
        assert.strictEqual(fields(empty.error)?.reason, "stream_interrupted")
      }))
  })

  describe("stream lifecycle", () => {
    it.scoped("stopping early closes the HTTP connection", () =>
      Effect.gen(function*() {
        const { client, server, target } = yield* setup
        const body = thinkingWire.body
        server.enqueue({
          status: 200,
          headers: sse,
          body: [body.subarray(0, body.indexOf("event: content_block_stop"))],
          end: "hang"
        })
        const first = yield* Effect.scoped(
          Effect.flatMap(client.stream(target, summaryRequest), (stream) =>
            Stream.runCollect(Stream.takeUntil(stream, (part) => part._tag === "ReasoningDelta")))
        )
        assert.strictEqual(Chunk.toReadonlyArray(first).at(-1)?._tag, "ReasoningDelta")
        const [request] = yield* Effect.promise(() =>
          server.awaitRequests(1)
        )
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
        const text = byName("test_stream_events_text.yaml")
        server.enqueue(Loopback.replay(text.body, { headers: text.headers }))
        server.enqueue(Loopback.replay(text.body, { headers: text.headers }))
        yield* runStream(client, target)
        // undici frees the connection in a `setImmediate` it queues when the body completes (before the
        // stream can end): one check phase later it is back in the pool. Ordering, not a timed wait.
        yield* Effect.promise(() => new Promise((resolve) => setImmediate(resolve)))
        assert.strictEqual(server.connectionsClosed(), 0)
        yield* runStream(client, target)
        assert.strictEqual(server.connectionsAccepted(), 1)
      }))

    it.scoped("decodes a 10,000-event stream read in 64 KiB or 256-byte pieces", () =>
      Effect.gen(function*() {
        const delta = (i: number) =>
          `event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"token ${i} "}}     \n\n`
        const body = Buffer.from(
          event({
            type: "message_start",
            message: { id: "m", model: "claude", content: [], usage: { input_tokens: 5, output_tokens: 1 } }
          }) +
            event({ type: "content_block_start", index: 0, content_block: { type: "text", text: "" } }) +
            Array.from({ length: 10_000 }, (_, i) => delta(i)).join("") +
            event({ type: "content_block_stop", index: 0 }) +
            event({ type: "message_delta", delta: { stop_reason: "end_turn" }, usage: { output_tokens: 20_000 } }) +
            event({ type: "message_stop" })
        )
        const large = yield* decodeReads(Loopback.splitBytes(body, [65536]))
        const small = yield* decodeReads(Loopback.splitBytes(body, [256]))
        assert.strictEqual(deltas(large).length, 10_000)
        assert.strictEqual(deltas(small).length, 10_000)
        assert.deepStrictEqual(summary(large).usage, {
          input: 5,
          output: 20_000,
          total: 20_005,
          cacheRead: undefined,
          cacheWrite: undefined
        })
        const { client, server, target } = yield* setup
        server.enqueue(Loopback.replay(body, { headers: sse, chunkSizes: [65536] }))
        const { error, parts } = yield* runStream(client, target)
        assert.isUndefined(error)
        assert.strictEqual(deltas(parts).length, 10_000)
      }))
  })
})

const summaryRequest = {
  system: undefined,
  messages: [{ role: "user" as const, parts: [{ type: "text" as const, text: "hi" }] }],
  maxOutputTokens: 64,
  temperature: undefined,
  topP: undefined,
  stop: undefined
}

describe("Anthropic stream event guards", () => {
  const isSchema = Schema.is(Response.StreamEvent)

  /** Every `data:` payload of the recordings. */
  const recordedEvents = (): Array<unknown> => {
    const events: Array<unknown> = []
    // Tool use, JSON output and fine-grained tool streaming too (their replays are in Tools.test.ts).
    const tools: ReadonlyArray<Recorded> = [
      {
        name: "tool_use",
        headers: sse,
        body: Loopback.readFixture("anthropics-anthropic-sdk-python-tools/tool_use_response.txt")
      },
      {
        name: "incomplete",
        headers: sse,
        body: Loopback.readFixture("anthropics-anthropic-sdk-python-tools/incomplete_partial_json_response.txt")
      },
      chunks("vercel-ai-tools/anthropic/anthropic-issue-15652-false.chunks.txt"),
      chunks("vercel-ai-tools/anthropic/anthropic-json-output-format.1.chunks.txt")
    ]
    for (const recording of [...recorded, ...tools]) {
      for (const line of recording.body.toString("utf8").split(/\r\n|\n|\r/)) {
        if (line.startsWith("data:")) events.push(JSON.parse(line.slice(5)))
      }
    }
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

  it("accept exactly what the Schema accepts", () => {
    const events = recordedEvents()
    assert.isAbove(events.length, 100)
    let checked = 0
    for (const event of events) {
      for (const candidate of [event, ...mutations(event)]) {
        assert.strictEqual(Response.isStreamEvent(candidate), isSchema(candidate), JSON.stringify(candidate))
        checked++
      }
    }
    assert.isAbove(checked, 5_000)
  })

  it("the Message guard accepts exactly what the Schema accepts, on recorded unary bodies and message_start's messages", () => {
    const isMessageSchema = Schema.is(Response.Message)
    const decodeMessage = Schema.decodeUnknownEither(Response.Message)
    const messages: Array<unknown> = [
      ...[
        "vercel-ai-openai-anthropic/anthropic/anthropic-text.json",
        "vercel-ai-openai-anthropic/anthropic/anthropic-clear-thinking.1.json",
        "vercel-ai-tools/anthropic/anthropic-json-tool.1.json",
        "anthropics-anthropic-sdk-python-tools/c11eefc7-fff0-4466-8453-42eef73b8876.json"
      ].map((path) => JSON.parse(Loopback.readFixture(path).toString("utf8")) as unknown),
      ...recordedEvents().flatMap((event) =>
        typeof event === "object" && event !== null && "message" in event ? [event.message] : []
      )
    ]
    let accepted = 0
    for (const message of messages) {
      for (const candidate of [message, ...mutations(message)]) {
        const guard = Response.isMessage(candidate)
        assert.strictEqual(guard, isMessageSchema(candidate), JSON.stringify(candidate))
        const decoded = decodeMessage(candidate)
        if (guard && Either.isRight(decoded)) {
          assert.deepStrictEqual(Response.answerOf(candidate, {}), Response.answerOf(decoded.right, {}))
          accepted++
        }
      }
    }
    assert.isAbove(accepted, 100)
  })
})
