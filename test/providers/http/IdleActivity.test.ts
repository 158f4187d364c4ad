/**
 * `stream_idle_timeout_s` bounds the silence between events that carry something (README, Streaming):
 * an event that gives no part of its own — a tool call's fragment gathered until the call is whole,
 * OpenAI's finish chunk, Anthropic's block starts and stops — is activity, so a recorded stream whose
 * events come 20 s apart finishes under a 30 s idle timeout. So is Anthropic's `ping`: every event with data
 * is (API.md §4, "the longest silence between two stream events"); a keep-alive is not, in any form
 * (a comment, an empty `data:`, a raw line, an `event:` alone). Driven by `TestClock`; each event waits for a gate the test opens.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/TestClock"
import { makeLiveLayer } from "../../../src/layers/Live.js"
import { Ledger } from "../../../src/services/Ledger.js"
import { generate, stream } from "../../../src/services/LLMClient.js"
import * as Loopback from "../../support/LoopbackServer.js"

const sse = { "content-type": "text/event-stream; charset=utf-8" }
const pricing = { input_per_1m: 1, output_per_1m: 2 }

/** A config of one `openai` or `anthropic` model over the server, a 30 s idle timeout. */
const layerOf = (protocol: "openai" | "anthropic", url: string) =>
  makeLiveLayer({
    config: {
      default_model: "m",
      providers: {
        [protocol]: {
          api_key: "sk-idle-test-0123456789",
          endpoints: [{ name: "a", base_url: protocol === "openai" ? `${url}/v1` : url }]
        }
      },
      models: { m: { provider: protocol, model_id: "model", pricing } },
      resilience: { max_retries: 0, stream_idle_timeout_s: 30 },
      ledger: { backend: "memory" }
    },
    userConfig: false
  })

/** Lets the server's write reach the client (real I/O, not a clock wait). */
const io = Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 100)))

/**
 * Streams `segments` (each written when its gate opens, 20 s of `TestClock` after the one before) and
 * returns the stream's outcome: its finish reason, or the error's reason.
 */
const streamSlowly = (
  protocol: "openai" | "anthropic",
  segments: ReadonlyArray<string>,
  end: "end" | "hang" = "end"
) =>
  Effect.gen(function*() {
    const server = yield* Loopback.make
    const gates = yield* Effect.forEach(segments.slice(1), () => Deferred.make<void>())
    const body: Array<Loopback.BodyPart> = [segments[0]!]
    segments.slice(1).forEach((segment, i) =>
      body.push({ gate: Effect.runPromise(Deferred.await(gates[i]!)) }, segment)
    )
    server.enqueue({ headers: sse, body, end })
    const fiber = yield* Effect.fork(
      Stream.runCollect(stream({ prompt: "x", traceId: "slow" })).pipe(
        Effect.either,
        Effect.zip(Effect.flatMap(Ledger, (ledger) => ledger.events({ traceId: "slow" }))),
        Effect.provide(layerOf(protocol, server.url))
      )
    )
    yield* Effect.promise(() => server.awaitRequests(1))
    yield* io
    for (const gate of gates) {
      yield* TestClock.adjust("20 seconds")
      yield* Deferred.succeed(gate, undefined)
      yield* io
    }
    // a body held open after its last segment: past the idle timeout
    if (end === "hang") yield* TestClock.adjust("31 seconds")
    const [outcome, ledger] = yield* Fiber.join(fiber)
    return {
      ended: outcome._tag === "Right"
        ? [...outcome.right].at(-1)?.finishReason
        : (outcome.left as { reason?: string }).reason,
      settled: ledger.filter((event) => event.type !== "hold").map((event) => `${event.type} ${event.status}`),
      requests: server.requests.length
    }
  })

/** A config of one model over the server for any protocol, a 30 s idle timeout. */
const layerFor = (provider: "google" | "dashscope", modelId: string, url: string) =>
  makeLiveLayer({
    config: {
      default_model: "m",
      providers: { [provider]: { api_key: "idle-test-key-0123456789", endpoints: [{ name: "a", base_url: url }] } },
      models: { m: { provider, model_id: modelId, pricing } },
      resilience: { max_retries: 0, stream_idle_timeout_s: 30 },
      ledger: { backend: "memory" }
    },
    userConfig: false
  })

/** A recorded chunks file (one JSON event per line) as its SSE events, one segment per event. */
const openaiEvents = (path: string) =>
  Loopback.readFixture(path).toString("utf8").split("\n").filter((line) => line.trim().length > 0)
    .map((line) => `data: ${line}\n\n`)
const anthropicEvents = (path: string) =>
  Loopback.readFixture(path).toString("utf8").split("\n").filter((line) => line.trim().length > 0)
    .map((line) => `event: ${JSON.parse(line).type}\ndata: ${line}\n\n`)

/** A native DashScope answer whose body stays open after its last (`finish_reason`) event. */
const dashScopeHeldOpen: Loopback.ScriptedResponse = {
  headers: sse,
  body: [
    `id:1\nevent:result\n:HTTP_STATUS/200\ndata:{"output":{"choices":[{"message":{"content":"Hi","role":"assistant"},"finish_reason":"stop"}]},"usage":{"input_tokens":3,"output_tokens":1,"total_tokens":4},"request_id":"r1"}\n\n`
  ],
  end: "hang"
}

describe("stream_idle_timeout_s: events without a part of their own are activity", () => {
  it.scoped("OpenAI-compatible: a streamed tool call's fragments and finish chunk, 20 s apart, finish under a 30 s idle timeout", () =>
    Effect.gen(function*() {
      // Alibaba's recorded tool call: the call's start, two argument fragments, an empty fragment,
      // the finish chunk and the usage chunk; then [DONE].
      const events = openaiEvents("vercel-ai-tools/alibaba/alibaba-tool-call.chunks.txt")
      assert.strictEqual(events.length, 6)
      const result = yield* streamSlowly("openai", [...events.slice(0, -1), events.at(-1)! + "data: [DONE]\n\n"])
      assert.deepStrictEqual(result, { ended: "other", settled: ["commit ok"], requests: 1 })
    }))

  it.scoped("OpenAI-compatible: the finish chunk alone, 20 s after the text and 20 s before the usage, is activity", () =>
    Effect.gen(function*() {
      const chunk = (fields: string) =>
        `data: {"id":"c1","object":"chat.completion.chunk","model":"model",${fields}}\n\n`
      const result = yield* streamSlowly("openai", [
        chunk(`"choices":[{"index":0,"delta":{"role":"assistant","content":"Hello"},"finish_reason":null}]`),
        chunk(`"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]`),
        chunk(`"choices":[],"usage":{"prompt_tokens":5,"completion_tokens":1,"total_tokens":6}`) + "data: [DONE]\n\n"
      ])
      assert.deepStrictEqual(result, { ended: "stop", settled: ["commit ok"], requests: 1 })
    }))

  it.scoped("OpenAI-compatible: keep-alive comments after an event with an id are still no activity: timed out 30 s after the text", () =>
    Effect.gen(function*() {
      const chunk = (fields: string) =>
        `data: {"id":"c1","object":"chat.completion.chunk","model":"model",${fields}}\n\n`
      // the SSE parser carries the last `id:` onto every later event, the keep-alives' too
      const result = yield* streamSlowly("openai", [
        `id: 1\n${
          chunk(`"choices":[{"index":0,"delta":{"role":"assistant","content":"Hello"},"finish_reason":null}]`)
        }`,
        ": keep-alive\n\n",
        ": keep-alive\n\n",
        chunk(`"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]`) + "data: [DONE]\n\n"
      ])
      assert.deepStrictEqual(result, { ended: "stream_interrupted", settled: ["cancel error"], requests: 1 })
    }))

  for (
    const [form, heartbeat] of [
      ["an empty data: line", "data:\n\n"],
      ["a raw line", "heartbeat\n\n"],
      ["an event: line alone", "event: heartbeat\n\n"]
    ] as const
  ) {
    it.scoped(`OpenAI-compatible: heartbeats as ${form} are no activity either: timed out 30 s after the text`, () =>
      Effect.gen(function*() {
        const chunk = (fields: string) =>
          `data: {"id":"c1","object":"chat.completion.chunk","model":"model",${fields}}\n\n`
        const result = yield* streamSlowly("openai", [
          chunk(`"choices":[{"index":0,"delta":{"role":"assistant","content":"Hello"},"finish_reason":null}]`),
          heartbeat,
          heartbeat,
          chunk(`"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]`) + "data: [DONE]\n\n"
        ])
        assert.deepStrictEqual(result, { ended: "stream_interrupted", settled: ["cancel error"], requests: 1 })
      }))
  }

  it.scoped("Anthropic: block starts and stops and a tool's input fragment, 20 s apart, are activity", () =>
    Effect.gen(function*() {
      const events = anthropicEvents("vercel-ai-openai-anthropic/anthropic/anthropic-tool-no-args.chunks.txt")
        .filter((event) => !event.includes(`"type":"ping"`))
      assert.strictEqual(events.length, 10)
      const result = yield* streamSlowly("anthropic", events)
      assert.deepStrictEqual(result, { ended: "other", settled: ["commit ok"], requests: 1 })
    }))

  it.scoped("Anthropic: a ping is a stream event: text, two pings 20 s apart, then the rest, finish under a 30 s idle timeout", () =>
    Effect.gen(function*() {
      const events = anthropicEvents("vercel-ai-openai-anthropic/anthropic/anthropic-tool-no-args.chunks.txt")
      const ping = `event: ping\ndata: {"type":"ping"}\n\n`
      // message_start, the text block's start and its first delta; pings 20 s and 40 s later; the rest at 60 s
      const result = yield* streamSlowly("anthropic", [
        events.slice(0, 3).join(""),
        ping,
        ping,
        events.slice(3).join("")
      ])
      assert.deepStrictEqual(result, { ended: "other", settled: ["commit ok"], requests: 1 })
    }))

  it.scoped("Anthropic: silence after the last ping still times out", () =>
    Effect.gen(function*() {
      const events = anthropicEvents("vercel-ai-openai-anthropic/anthropic/anthropic-tool-no-args.chunks.txt")
      const ping = `event: ping\ndata: {"type":"ping"}\n\n`
      const result = yield* streamSlowly("anthropic", [events.slice(0, 3).join(""), ping, ping], "hang")
      assert.deepStrictEqual(result, { ended: "stream_interrupted", settled: ["cancel error"], requests: 1 })
    }))

  it.scoped("DashScope (finish_reason stop): a body held open after the finish signal ends the stream 1 s later, not at the idle timeout", () =>
    Effect.gen(function*() {
      const server = yield* Loopback.make
      server.enqueue(dashScopeHeldOpen)
      const fiber = yield* Effect.fork(
        Stream.runCollect(stream({ prompt: "x", traceId: "held" })).pipe(
          Effect.zip(Effect.flatMap(Ledger, (ledger) => ledger.events({ traceId: "held" }))),
          Effect.provide(layerFor("dashscope", "qwen-plus", server.url))
        )
      )
      yield* Effect.promise(() => server.awaitRequests(1))
      yield* io
      yield* TestClock.adjust("1 second")
      yield* io
      const [events, ledger] = yield* Fiber.join(fiber)
      assert.deepStrictEqual([...events].map((event) => event.finishReason ?? event.delta), ["Hi", "stop"])
      assert.deepStrictEqual(ledger.map((event) => event.type), ["hold", "commit"])
    }))

  it.scoped("DashScope generate on an always-thinking model (read as a stream, no idle timeout): a body held open after the finish ends 1 s later", () =>
    Effect.gen(function*() {
      const server = yield* Loopback.make
      server.enqueue(dashScopeHeldOpen)
      const fiber = yield* Effect.fork(
        generate({ prompt: "x" }).pipe(Effect.provide(layerFor("dashscope", "qwq-plus", server.url)))
      )
      yield* Effect.promise(() => server.awaitRequests(1))
      yield* io
      yield* TestClock.adjust("1 second")
      yield* io
      const done = yield* Fiber.poll(fiber)
      assert.isTrue(Option.isSome(done), "still waiting 1 s after the finish")
      assert.strictEqual(yield* Fiber.join(fiber), "Hi")
    }))

  it.scoped("Gemini: a chunk with STOP and usage may not be the last (a model marking every chunk so): the next one 20 s later is still the answer's", () =>
    Effect.gen(function*() {
      const chunk = (text: string, output: number) =>
        `data: {"candidates":[{"content":{"role":"model","parts":[{"text":"${text}"}]},"finishReason":"STOP"}],"usageMetadata":{"promptTokenCount":3,"candidatesTokenCount":${output},"totalTokenCount":${
          3 + output
        }}}\r\n\r\n`
      const server = yield* Loopback.make
      const gate = yield* Deferred.make<void>()
      server.enqueue({
        headers: sse,
        body: [chunk("Hel", 1), { gate: Effect.runPromise(Deferred.await(gate)) }, chunk("lo", 2)]
      })
      const fiber = yield* Effect.fork(
        Stream.runCollect(stream({ prompt: "x" })).pipe(
          Effect.provide(layerFor("google", "gemini-1.5-flash", server.url))
        )
      )
      yield* Effect.promise(() => server.awaitRequests(1))
      yield* io
      yield* TestClock.adjust("20 seconds")
      yield* Deferred.succeed(gate, undefined)
      yield* io
      const events = yield* Fiber.join(fiber)
      assert.deepStrictEqual([...events].map((event) => event.finishReason ?? event.delta), ["Hel", "lo", "stop"])
    }))
})
