/**
 * `stream()` end to end over real HTTP (loopback servers replaying recorded provider streams):
 * deltas, the finish event, ledger settlement, retries before the first delta only, cuts, idle
 * timeouts and early stops that close the connection.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Chunk from "effect/Chunk"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/TestClock"
import { FatalError, Ledger, LLMClient, makeLiveLayer, stream, StreamEvent } from "../../src/index.js"
import * as Loopback from "../support/LoopbackServer.js"

const googleai = "vertexai-sdk-test-data/googleai/"
const longFixture = Loopback.readFixture(googleai + "streaming-success-basic-reply-long.txt")

/** What a recorded Gemini stream says: full text (non-thought parts), last usage, last finish reason. */
const expectedFromGemini = (bytes: Buffer) => {
  let text = ""
  let usage: {
    promptTokenCount?: number
    candidatesTokenCount?: number
    thoughtsTokenCount?: number
    totalTokenCount?: number
  } = {}
  let finish: string | undefined
  for (const line of bytes.toString("utf8").split(/\r?\n/)) {
    if (!line.startsWith("data: ")) continue
    const event = JSON.parse(line.slice(6))
    for (const part of event.candidates?.[0]?.content?.parts ?? []) if (!part.thought && part.text) text += part.text
    if (event.usageMetadata) usage = event.usageMetadata
    if (event.candidates?.[0]?.finishReason) finish = event.candidates[0].finishReason
  }
  return {
    text,
    output: (usage.candidatesTokenCount ?? 0) + (usage.thoughtsTokenCount ?? 0),
    input: usage.promptTokenCount ?? 0,
    finish
  }
}

const sse = { "content-type": "text/event-stream" }

const layerFor = (url: string, resilience: Record<string, unknown> = {}, extra: Record<string, unknown> = {}) =>
  makeLiveLayer({
    config: {
      default_model: "flash",
      providers: {
        google: { api_key: "stream-test-key", endpoints: [{ name: "loop", base_url: url }] },
        dashscope: { api_key: "stream-test-key", endpoints: [{ name: "loop-ds", base_url: url }] }
      },
      models: {
        flash: { provider: "google", model_id: "gemini-2.0-flash", pricing: { input_per_1m: 0.3, output_per_1m: 2.5 } },
        qwen: { provider: "dashscope", model_id: "qwen-plus", pricing: { input_per_1m: 0.4, output_per_1m: 1.2 } }
      },
      resilience: { max_retries: 2, base_delay_s: 1, ...resilience },
      ledger: { backend: "memory" },
      ...extra
    }
  })

const collect = <E, R>(s: Stream.Stream<StreamEvent, E, R>) => Effect.map(Stream.runCollect(s), Chunk.toReadonlyArray)

const ledgerEvents = (traceId: string) => Effect.flatMap(Ledger, (ledger) => ledger.events({ traceId }))

describe("stream() over HTTP", () => {
  it.scoped("replays a recorded Gemini stream: deltas as they come, then one finish with the recording's text, usage and reason", () =>
    Effect.gen(function*() {
      const server = yield* Loopback.make
      server.enqueue(Loopback.replay(longFixture, { headers: sse, chunkSizes: [700] }))
      const expected = expectedFromGemini(longFixture)
      const events = yield* collect(stream({ prompt: "write", traceId: "replay-1" })).pipe(
        Effect.provide(layerFor(server.url))
      )
      const deltas = events.filter((e) => !e.isFinish)
      assert.isAbove(deltas.length, 10)
      assert.isTrue(deltas.every((e) => e.delta.length > 0), "no empty deltas")
      const finish = events[events.length - 1]!
      assert.isTrue(finish.isFinish)
      assert.strictEqual(deltas.map((e) => e.delta).join(""), expected.text)
      assert.strictEqual(finish.response!.content, expected.text)
      assert.strictEqual(finish.usage!.outputTokens, expected.output)
      assert.strictEqual(finish.usage!.inputTokens, expected.input)
      assert.strictEqual(finish.finishReason, "stop")
      assert.isNumber(finish.response!.timing.ttftMs)
      assert.strictEqual(finish.response!.attempts, 1)
      assert.strictEqual(finish.response!.endpoint, "loop")
      assert.include(server.requests[0]!.url, ":streamGenerateContent?alt=sse")
    }))

  it.scoped("replays a recorded DashScope stream through the client", () =>
    Effect.gen(function*() {
      const server = yield* Loopback.make
      const body = Loopback.readFixture("cnblogs-dashscope-sdk/single-generation-message-sse.response.body.txt")
      server.enqueue(Loopback.replay(body, { headers: { "content-type": "text/event-stream;charset=UTF-8" } }))
      const text = body.toString("utf8").split("\n").filter((l) => l.startsWith("data:")).map((l) =>
        JSON.parse(l.slice(5)).output.choices[0].message.content as string
      ).join("")
      const events = yield* collect(stream({ prompt: "1+1?", model: "qwen" })).pipe(
        Effect.provide(layerFor(server.url))
      )
      const finish = events[events.length - 1]!
      assert.strictEqual(finish.response!.content, text)
      assert.strictEqual(finish.finishReason, "stop")
      assert.strictEqual(finish.response!.provider, "dashscope")
      assert.strictEqual(server.requests[0]!.headers["x-dashscope-sse"], "enable")
    }))

  it.scoped("a consumer that stops early: ledger cancelled with the usage seen so far, and the socket closed", () =>
    Effect.gen(function*() {
      const server = yield* Loopback.make
      // Send the first events, then keep the response open: only the consumer can end it.
      const text = longFixture.toString("utf8")
      const cut = text.split("\r\n\r\n").slice(0, 6).join("\r\n\r\n") + "\r\n\r\n"
      server.enqueue({ headers: sse, body: [cut], end: "hang" })
      yield* Effect.gen(function*() {
        const events = yield* collect(Stream.take(stream({ prompt: "write", traceId: "early" }), 2))
        assert.strictEqual(events.length, 2)
        const ledger = yield* ledgerEvents("early")
        assert.deepStrictEqual(ledger.map((e) => [e.type, e.status]), [["hold", "ok"], ["cancel", "cancelled"]])
        assert.isAbove(ledger[1]!.usage!.inputTokens, 0, "usage seen so far is recorded")
        const usage = ledger[1]!.usage!
        assert.closeTo(ledger[1]!.cost, (usage.inputTokens * 0.3 + usage.outputTokens * 2.5) / 1e6, 1e-12, "and priced")
      }).pipe(Effect.provide(layerFor(server.url)))
      yield* Effect.promise(() => server.requests[0]!.socketClosed)
      assert.strictEqual(server.connectionsClosed(), 1)
    }))

  it.scoped("a Gemini stream stopped early is cancelled with the prompt count it reported, the text streamed at its bound", () =>
    Effect.gen(function*() {
      const server = yield* Loopback.make
      // Events whose usage snapshots count the prompt only (10 tokens), then an open response.
      const text = longFixture.toString("utf8")
      const sent = text.split("\r\n\r\n").slice(0, 6).join("\r\n\r\n") + "\r\n\r\n"
      server.enqueue({ headers: sse, body: [sent], end: "hang" })
      yield* Effect.gen(function*() {
        const events = yield* collect(Stream.take(stream({ prompt: "write", traceId: "early-usage" }), 2))
        const cancel = (yield* ledgerEvents("early-usage"))[1]!
        assert.strictEqual(cancel.status, "cancelled")
        assert.strictEqual(cancel.usage!.inputTokens, 10, "the prompt count reported, not the input bound")
        const delivered = Buffer.byteLength(events.map((e) => e.delta).join(""), "utf8")
        assert.isAtLeast(cancel.usage!.outputTokens, delivered, "the output no snapshot counted, at its bound")
        assert.strictEqual(cancel.usage!.totalTokens, 10 + cancel.usage!.outputTokens)
      }).pipe(Effect.provide(layerFor(server.url)))
    }))

  it.scoped("a consumer whose own later stage fails or dies stopped the stream early: cancelled, without its error", () =>
    Effect.gen(function*() {
      const server = yield* Loopback.make
      server.enqueue(Loopback.replay(longFixture, { headers: sse }), Loopback.replay(longFixture, { headers: sse }))
      yield* Effect.gen(function*() {
        let seen = 0
        const failed = yield* Effect.flip(Stream.runDrain(
          Stream.mapEffect(
            stream({ prompt: "write", traceId: "consumer-fail" }),
            (e) => ++seen === 2 ? Effect.fail("consumer's own error" as const) : Effect.succeed(e)
          )
        ))
        assert.strictEqual(failed, "consumer's own error")
        const died = yield* Effect.exit(
          Stream.runForEach(stream({ prompt: "write", traceId: "consumer-die" }), () => Effect.die("consumer bug"))
        )
        assert.isTrue(Exit.isFailure(died))
        for (const traceId of ["consumer-fail", "consumer-die"]) {
          const ledger = yield* ledgerEvents(traceId)
          assert.deepStrictEqual(ledger.map((e) => [e.type, e.status, e.error]), [
            ["hold", "ok", undefined],
            ["cancel", "cancelled", undefined]
          ])
        }
      }).pipe(Effect.provide(layerFor(server.url)))
    }))

  it.scoped("a 503 before the first byte is retried", () =>
    Effect.gen(function*() {
      const server = yield* Loopback.make
      server.enqueue(
        {
          status: 503,
          headers: { "content-type": "application/json" },
          body:
            `{"error":{"code":503,"message":"The model is overloaded. Please try again later.","status":"UNAVAILABLE"}}`
        },
        Loopback.replay(longFixture, { headers: sse })
      )
      const fiber = yield* Effect.fork(collect(stream({ prompt: "write" })).pipe(Effect.provide(layerFor(server.url))))
      yield* Effect.promise(() => server.awaitRequests(1))
      yield* TestClock.adjust("2 seconds")
      const events = yield* Fiber.join(fiber)
      assert.strictEqual(events[events.length - 1]!.response!.attempts, 2)
      assert.strictEqual(server.requests.length, 2)
    }))

  it.scoped("an in-band error before any text is retried like a failed request", () =>
    Effect.gen(function*() {
      const server = yield* Loopback.make
      server.enqueue(
        { headers: sse, body: `data: {"error":{"code":503,"message":"overloaded","status":"UNAVAILABLE"}}\r\n\r\n` },
        Loopback.replay(longFixture, { headers: sse })
      )
      const fiber = yield* Effect.fork(collect(stream({ prompt: "write" })).pipe(Effect.provide(layerFor(server.url))))
      yield* Effect.promise(() => server.awaitRequests(1))
      yield* TestClock.adjust("2 seconds")
      const events = yield* Fiber.join(fiber)
      assert.strictEqual(events[events.length - 1]!.response!.attempts, 2)
    }))

  it.scoped("a cut after 3 deltas fails with stream_interrupted, is not replayed, and the ledger records error with partial usage", () =>
    Effect.gen(function*() {
      const server = yield* Loopback.make
      const text = longFixture.toString("utf8")
      const firstThree = text.split("\r\n\r\n").slice(0, 3).join("\r\n\r\n") + "\r\n\r\n"
      server.enqueue({
        headers: sse,
        body: [firstThree, "data: {\"candidates\": [{\"content\": {\"pa"],
        end: "destroy"
      })
      const seen: Array<string> = []
      const error = yield* Stream.runForEach(stream({ prompt: "write", traceId: "cut" }), (e) =>
        Effect.sync(() => {
          if (!e.isFinish) seen.push(e.delta)
        })).pipe(Effect.flip, Effect.provide(layerFor(server.url)))
      assert.strictEqual(seen.length, 3)
      assert.strictEqual(error._tag, "RetryableError")
      assert.strictEqual((error as { reason?: string }).reason, "stream_interrupted")
      assert.strictEqual(server.requests.length, 1, "never replayed")
    }))

  it.scoped("a body that ends without a finish signal is stream_interrupted, never a success", () =>
    Effect.gen(function*() {
      const server = yield* Loopback.make
      const text = longFixture.toString("utf8")
      const withoutLast = text.split("\r\n\r\n").slice(0, 5).join("\r\n\r\n") + "\r\n\r\n"
      server.enqueue({ headers: sse, body: withoutLast })
      const layer = layerFor(server.url)
      yield* Effect.gen(function*() {
        const error = yield* Effect.flip(collect(stream({ prompt: "write", traceId: "trunc" })))
        assert.strictEqual((error as { reason?: string }).reason, "stream_interrupted")
        const ledger = yield* ledgerEvents("trunc")
        assert.deepStrictEqual(ledger.map((e) => [e.type, e.status]), [["hold", "ok"], ["cancel", "error"]])
        assert.strictEqual(ledger[1]!.error?.tag, "RetryableError")
        assert.isDefined(ledger[1]!.usage, "partial usage recorded")
        // The snapshots so far counted the prompt only: the streamed text is priced at its bound
        // (one token per byte), not at 0 output tokens.
        const streamed = Buffer.byteLength(expectedFromGemini(Buffer.from(withoutLast)).text, "utf8")
        assert.isAbove(streamed, 0)
        assert.isAtLeast(ledger[1]!.usage!.outputTokens, streamed)
      }).pipe(Effect.provide(layer))
    }))

  it.scoped("an in-band error after text surfaces the classified error, not replayed", () =>
    Effect.gen(function*() {
      const server = yield* Loopback.make
      const body = Loopback.readFixture("vertexai-sdk-test-data/vertexai/streaming-failure-error-mid-stream.txt")
      server.enqueue(Loopback.replay(body, { headers: sse }))
      const deltas: Array<string> = []
      const error = yield* Stream.runForEach(stream({ prompt: "x" }), (e) =>
        Effect.sync(() => {
          if (!e.isFinish) deltas.push(e.delta)
        })).pipe(Effect.flip, Effect.provide(layerFor(server.url)))
      assert.deepStrictEqual(deltas, ["First ", "Second "])
      assert.strictEqual(error._tag, "RetryableError")
      assert.strictEqual(server.requests.length, 1)
    }))

  it.scoped("stream_idle_timeout_s: silence after text ends the stream with stream_interrupted", () =>
    Effect.gen(function*() {
      const server = yield* Loopback.make
      const text = longFixture.toString("utf8")
      server.enqueue({
        headers: sse,
        body: [text.split("\r\n\r\n").slice(0, 2).join("\r\n\r\n") + "\r\n\r\n"],
        end: "hang"
      })
      const first = yield* Deferred.make<void>()
      const fiber = yield* Effect.fork(
        Stream.runDrain(stream({ prompt: "x" }).pipe(Stream.tap(() => Deferred.succeed(first, undefined)))).pipe(
          Effect.flip,
          Effect.provide(layerFor(server.url, { stream_idle_timeout_s: 30 }))
        )
      )
      yield* Deferred.await(first)
      yield* TestClock.adjust("29 seconds")
      assert.isTrue((yield* Fiber.poll(fiber))._tag === "None", "still waiting before the idle timeout")
      yield* TestClock.adjust("1 second")
      const error = yield* Fiber.join(fiber)
      assert.strictEqual((error as { reason?: string }).reason, "stream_interrupted")
      assert.match(error.message, /^google \(endpoint "[\w-]+"\) sent no stream event for 30s$/)
      yield* Effect.promise(() => server.requests[0]!.socketClosed)
    }))

  it.scoped("after the finish signal, a connection reset or a body held open past the idle timeout is a finished answer", () =>
    Effect.gen(function*() {
      const server = yield* Loopback.make
      const expected = expectedFromGemini(longFixture)
      const layer = layerFor(server.url, { stream_idle_timeout_s: 30, circuit_breaker: { failure_threshold: 1 } })
      yield* Effect.gen(function*() {
        for (const end of ["destroy", "hang"] as const) {
          server.enqueue({ headers: sse, body: [longFixture, { delayMs: 20 }], end })
          const traceId = `after-finish-${end}`
          const fiber = yield* Effect.fork(collect(stream({ prompt: "x", traceId })))
          if (end === "hang") {
            yield* Effect.promise(() => server.awaitRequests(2))
            yield* TestClock.adjust("30 seconds")
          }
          const events = yield* Fiber.join(fiber)
          const last = events.at(-1)!
          assert.isTrue(last.isFinish, end)
          assert.strictEqual(last.response?.content, expected.text, end)
          assert.strictEqual(last.usage?.outputTokens, expected.output, end)
          const settled = (yield* ledgerEvents(traceId)).filter((e) => e.type !== "hold")
          assert.deepStrictEqual(settled.map((e) => [e.type, e.status]), [["commit", "ok"]], end)
        }
        // neither counted for the breaker (threshold 1): a third call goes out
        server.enqueue(Loopback.replay(longFixture, { headers: sse }))
        yield* collect(stream({ prompt: "x" }))
        assert.strictEqual(server.requests.length, 3)
      }).pipe(Effect.provide(layer))
    }))

  it.scoped("request_timeout_s bounds the wait for the response to start", () =>
    Effect.gen(function*() {
      const server = yield* Loopback.make
      server.enqueue({ hang: true })
      const fiber = yield* Effect.fork(
        Effect.flip(collect(stream({ prompt: "x" }))).pipe(
          Effect.provide(layerFor(server.url, { request_timeout_s: 10, max_retries: 0 }))
        )
      )
      yield* Effect.promise(() => server.awaitRequests(1))
      yield* TestClock.adjust("10 seconds")
      const error = yield* Fiber.join(fiber)
      assert.strictEqual((error as { reason?: string }).reason, "timeout")
      yield* Effect.promise(() => server.requests[0]!.socketClosed)
    }))

  it.scoped("budget refusal: no request is made", () =>
    Effect.gen(function*() {
      const server = yield* Loopback.make
      const error = yield* Effect.flip(collect(stream({ prompt: "x", maxOutputTokens: 100_000 }))).pipe(
        Effect.provide(layerFor(server.url, {}, { budget: { daily_spend_limit: 0.01 } }))
      )
      assert.strictEqual(error._tag, "BudgetExceededError")
      assert.strictEqual(server.requests.length, 0)
    }))

  it.effect("a user's own LLMClient (a stub layer) is streamed by the stream accessor as it is", () =>
    Effect.gen(function*() {
      const events = [
        new StreamEvent({ delta: "a", isFinish: false }),
        new StreamEvent({ delta: "b", isFinish: false })
      ]
      const stub = Layer.succeed(
        LLMClient,
        LLMClient.of({
          generate: (() => Effect.die("unused")) as LLMClient.Service["generate"],
          stream: (request) =>
            request.prompt === "fail"
              ? Stream.fail(new FatalError({ reason: "invalid_request", message: "stub refused" }))
              : Stream.fromIterable(events)
        })
      )
      const got = yield* collect(stream({ prompt: "x" })).pipe(Effect.provide(stub))
      assert.deepStrictEqual(got.map((event) => event.delta), ["a", "b"])
      const error = yield* Effect.flip(collect(stream({ prompt: "fail" }))).pipe(Effect.provide(stub))
      assert.strictEqual(error._tag, "FatalError")
      assert.strictEqual(error.message, "stub refused")
    }))
})
