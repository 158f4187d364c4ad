/**
 * A consumer that stops at the first delta of a short answer the provider sent in one network read
 * (`Stream.take(1)`, `Stream.runHead`) is settled with the provider's final usage report when that
 * report is already in the client's memory (the events after the first delta in the same read, the
 * bytes its body buffered), not with the bound of the delta it pulled (README "Streaming": the usage
 * seen so far). Nothing more is read from the network for it: a report still to come is not waited for.
 * All four protocols, over a loopback server that writes each answer whole, in one write.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import { Ledger, type LLMClient, makeLiveLayer, stream } from "../../src/index.js"
import * as Loopback from "../support/LoopbackServer.js"

const sse = { "content-type": "text/event-stream; charset=utf-8" }
const pricing = { input_per_1m: 1, output_per_1m: 10 }

const layerFor = (url: string) =>
  makeLiveLayer({
    config: {
      default_model: "flash",
      providers: {
        google: { api_key: "early-stop-google-key", endpoints: [{ name: "g", base_url: url }] },
        dashscope: { api_key: "early-stop-dashscope-key", endpoints: [{ name: "d", base_url: url }] },
        openai: { api_key: "sk-early-stop-0123456789", endpoints: [{ name: "o", base_url: `${url}/v1` }] },
        anthropic: { api_key: "sk-ant-api03-early-stop-0123", endpoints: [{ name: "a", base_url: url }] }
      },
      models: {
        flash: { provider: "google", model_id: "gemini-2.5-flash", pricing },
        qwen: { provider: "dashscope", model_id: "qwen-plus", pricing },
        gpt: { provider: "openai", model_id: "gpt-4o-mini", pricing },
        claude: { provider: "anthropic", model_id: "claude-haiku-4-5", pricing }
      },
      resilience: { max_retries: 0 },
      budget: { daily_spend_limit: 1, default_max_output_tokens: 1000 },
      ledger: { backend: "memory" }
    },
    userConfig: false
  })

/** The first delta: 40 bytes, so its bound (40 output tokens) is far from the reports below. */
const first = "The quick brown fox jumps over the dog. "
const more = "And then it rests."

const data = (json: unknown) => `data: ${JSON.stringify(json)}\n\n`
const named = (event: string, json: unknown) => `event: ${event}\n${data(json)}`

/**
 * Each protocol's answer in two halves: `head` up to the first delta (with what reports come with it),
 * `tail` the rest with the final report (input 7, output 9).
 */
const answers = {
  // usage on every chunk; before the last one it counts the prompt only (WIRE.md §1.6)
  flash: {
    head: data({
      candidates: [{ content: { role: "model", parts: [{ text: first }] } }],
      usageMetadata: { promptTokenCount: 7, totalTokenCount: 7 }
    }),
    tail: data({
      candidates: [{ content: { role: "model", parts: [{ text: more }] }, finishReason: "STOP" }],
      usageMetadata: { promptTokenCount: 7, candidatesTokenCount: 9, totalTokenCount: 16 }
    })
  },
  // cumulative usage on every chunk (incremental output)
  qwen: {
    head: `id:1\nevent:result\n:HTTP_STATUS/200\n${
      data({
        output: { choices: [{ message: { content: first, role: "assistant" }, finish_reason: "null" }] },
        usage: { total_tokens: 12, input_tokens: 7, output_tokens: 5 },
        request_id: "ds-early"
      })
    }`,
    tail: `id:2\nevent:result\n:HTTP_STATUS/200\n${
      data({
        output: { choices: [{ message: { content: more, role: "assistant" }, finish_reason: "stop" }] },
        usage: { total_tokens: 16, input_tokens: 7, output_tokens: 9 },
        request_id: "ds-early"
      })
    }`
  },
  // stream_options.include_usage: the usage in a last chunk of its own
  gpt: {
    head: data({
      id: "c1",
      object: "chat.completion.chunk",
      choices: [{ index: 0, delta: { role: "assistant", content: "" }, finish_reason: null }]
    }) + data({
      id: "c1",
      object: "chat.completion.chunk",
      choices: [{ index: 0, delta: { content: first }, finish_reason: null }]
    }),
    tail: data({
      id: "c1",
      object: "chat.completion.chunk",
      choices: [{ index: 0, delta: { content: more }, finish_reason: null }]
    }) +
      data({ id: "c1", object: "chat.completion.chunk", choices: [{ index: 0, delta: {}, finish_reason: "stop" }] }) +
      data({
        id: "c1",
        object: "chat.completion.chunk",
        choices: [],
        usage: { prompt_tokens: 7, completion_tokens: 9, total_tokens: 16 }
      }) + "data: [DONE]\n\n"
  },
  // message_start's output count is a placeholder; message_delta carries the output
  claude: {
    head: named("message_start", {
      type: "message_start",
      message: {
        id: "msg_early",
        type: "message",
        role: "assistant",
        model: "claude-haiku-4-5",
        content: [],
        stop_reason: null,
        stop_sequence: null,
        usage: { input_tokens: 7, output_tokens: 1 }
      }
    }) + named("content_block_start", {
      type: "content_block_start",
      index: 0,
      content_block: { type: "text", text: "" }
    }) + named("content_block_delta", {
      type: "content_block_delta",
      index: 0,
      delta: { type: "text_delta", text: first }
    }),
    tail: named("content_block_delta", {
      type: "content_block_delta",
      index: 0,
      delta: { type: "text_delta", text: more }
    }) + named("content_block_stop", { type: "content_block_stop", index: 0 }) +
      named("message_delta", {
        type: "message_delta",
        delta: { stop_reason: "end_turn", stop_sequence: null },
        usage: { output_tokens: 9 }
      }) + named("message_stop", { type: "message_stop" })
  }
} as const

type Model = keyof typeof answers
const models: ReadonlyArray<Model> = ["flash", "qwen", "gpt", "claude"]

/** The ledger's `cancel` of `traceId`. */
const cancelOf = (traceId: string) =>
  Effect.map(
    Effect.flatMap(Ledger, (ledger) => ledger.events({ traceId })),
    (events) => events.find((event) => event.type === "cancel")
  )

/** Runs `consume` over a stream of `model` answered by `response`; the first delta and the ledger's cancel. */
const stopEarly = (
  model: Model,
  response: Loopback.ScriptedResponse,
  traceId: string,
  consume: (s: ReturnType<typeof stream>) => Effect.Effect<string | undefined, unknown, LLMClient>
) =>
  Effect.gen(function*() {
    const server = yield* Loopback.make
    server.enqueue(response)
    return yield* Effect.gen(function*() {
      const delta = yield* consume(stream({ prompt: "x", model, traceId }))
      const cancel = yield* cancelOf(traceId)
      return { delta, cancel }
    }).pipe(Effect.provide(layerFor(server.url)))
  })

const takeOne = (s: ReturnType<typeof stream>) =>
  Effect.map(Stream.runCollect(Stream.take(s, 1)), (events) => Chunk.unsafeHead(events).delta)

/**
 * `stopEarly` with `take(1)`, the answer's `rest` sent once its first delta reached the consumer, which
 * then waits `waitMs` (real time, for the bytes to arrive) before it stops.
 */
const stopAfterTheRest = (
  model: Model,
  traceId: string,
  rest: ReadonlyArray<Loopback.BodyPart>,
  end: "hang" | "destroy",
  waitMs: number
) => {
  let open = () => {}
  const gate = new Promise<void>((resolve) => (open = resolve))
  return stopEarly(
    model,
    { headers: sse, body: [answers[model].head, { gate }, ...rest], end },
    traceId,
    (s) =>
      takeOne(Stream.tap(s, () =>
        Effect.zipRight(
          Effect.sync(() => open()),
          Effect.promise(() => new Promise((resolve) => setTimeout(resolve, waitMs)))
        )))
  )
}
const runHead = (s: ReturnType<typeof stream>) =>
  Effect.map(Stream.runHead(s), (event) => Option.getOrUndefined(event)?.delta)

describe("a stream stopped at its first delta, the whole answer in one read", () => {
  for (const model of models) {
    const { head, tail } = answers[model]
    it.scoped(`${model}: Stream.take(1) settles with the final usage report already received`, () =>
      Effect.gen(function*() {
        const { cancel, delta } = yield* stopEarly(model, { headers: sse, body: head + tail }, `take-${model}`, takeOne)
        assert.strictEqual(delta, first)
        assert.strictEqual(cancel?.status, "cancelled")
        assert.deepStrictEqual(
          { input: cancel?.usage?.inputTokens, output: cancel?.usage?.outputTokens },
          { input: 7, output: 9 }
        )
        // priced by the report: 7 input and 9 output tokens at 1 / 10 per 1M
        assert.closeTo(cancel?.cost ?? 0, (7 * 1 + 9 * 10) / 1e6, 1e-12)
      }))
    it.scoped(`${model}: Stream.runHead settles with the final usage report already received`, () =>
      Effect.gen(function*() {
        const { cancel, delta } = yield* stopEarly(model, { headers: sse, body: head + tail }, `head-${model}`, runHead)
        assert.strictEqual(delta, first)
        assert.strictEqual(cancel?.status, "cancelled")
        assert.strictEqual(cancel?.usage?.outputTokens, 9)
      }))
  }
})

describe("a stream stopped at its first delta reads nothing more for its usage", () => {
  for (const model of models) {
    const { head, tail } = answers[model]
    it.scoped(`${model}: a final report not yet sent is not waited for (the bound of what was pulled stands)`, () =>
      Effect.gen(function*() {
        // the rest is sent only once the test opens the gate: after the stream was stopped
        let open = () => {}
        const gate = new Promise<void>((resolve) => (open = resolve))
        const { cancel, delta } = yield* stopEarly(
          model,
          { headers: sse, body: [head, { gate }, tail] },
          `gated-${model}`,
          takeOne
        )
        open()
        assert.strictEqual(delta, first)
        assert.strictEqual(cancel?.status, "cancelled")
        // the 40 bytes pulled count at their bound (DashScope's first chunk reports 5 tokens for them)
        assert.strictEqual(cancel?.usage?.outputTokens, model === "qwen" ? 5 : model === "claude" ? 41 : 40)
      }))
  }
})

describe("a stream stopped at its first delta, the rest buffered by its body", () => {
  for (const model of models) {
    const { tail } = answers[model]
    it.scoped(`${model}: the final report in the body's buffer when the stream stops counts`, () =>
      Effect.gen(function*() {
        // the rest is sent once the first delta reached the consumer, which then waits for it to arrive
        // (into the body's buffer: nothing pulls it) before it stops
        const { cancel, delta } = yield* stopAfterTheRest(model, `buffered-${model}`, [tail], "hang", 100)
        assert.strictEqual(delta, first)
        assert.strictEqual(cancel?.status, "cancelled")
        assert.strictEqual(cancel?.usage?.outputTokens, 9)
      }))
  }
})

describe("a stream stopped at its first delta after the connection closed", () => {
  for (const model of models) {
    const { tail } = answers[model]
    it.scoped(`${model}: the final report the body had buffered before the server closed the connection counts`, () =>
      Effect.gen(function*() {
        // the rest arrives, then the server resets the connection (no terminating chunk), all before the
        // consumer, still at its first delta, stops: the body was destroyed by the close, its buffer kept
        const { cancel, delta } = yield* stopAfterTheRest(
          model,
          `closed-${model}`,
          [tail, { delayMs: 20 }],
          "destroy",
          150
        )
        assert.strictEqual(delta, first)
        assert.strictEqual(cancel?.status, "cancelled")
        assert.strictEqual(cancel?.usage?.outputTokens, 9)
      }))
  }
})
