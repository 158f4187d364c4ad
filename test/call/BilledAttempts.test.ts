/**
 * An attempt the provider billed but that did not give the answer — an Anthropic stream cut after its
 * `message_start` counted the input — is the call's cost too (API.md §6 "the usage seen so far", §14
 * "the hold bounds the call"): charged on its own model, held before the retry, settled with the call.
 * (Live clock: the retries' 1 ms backoff is incidental here; their timing is tested elsewhere on TestClock.)
 */
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Stream from "effect/Stream"
import { generate, Ledger, makeLiveLayer, stream } from "../../src/index.js"
import * as Loopback from "../support/LoopbackServer.js"
import * as RecordingTracer from "../support/RecordingTracer.js"

const pricing = { input_per_1m: 1, output_per_1m: 10 }
const layerFor = (url: string, budget: Record<string, unknown> = {}) =>
  makeLiveLayer({
    config: {
      default_model: "claude",
      providers: { anthropic: { api_key: "sk-ant-api03-billed-0123", endpoints: [{ name: "a", base_url: url }] } },
      models: { claude: { provider: "anthropic", model_id: "claude-haiku-4-5", pricing } },
      resilience: { max_retries: 2, base_delay_s: 0.001, max_delay_s: 0.001 },
      budget: { daily_spend_limit: 1, default_max_output_tokens: 100, ...budget },
      ledger: { backend: "memory" }
    },
    userConfig: false
  })

const sse = { "content-type": "text/event-stream; charset=utf-8" }
const named = (event: string, json: unknown) => `event: ${event}\ndata: ${JSON.stringify(json)}\n\n`
const start = (inputTokens: number) =>
  named("message_start", {
    type: "message_start",
    message: {
      id: "msg_1",
      type: "message",
      role: "assistant",
      model: "claude-haiku-4-5",
      content: [],
      usage: { input_tokens: inputTokens, output_tokens: 1 }
    }
  })
const whole = start(7) +
  named("content_block_start", { type: "content_block_start", index: 0, content_block: { type: "text", text: "" } }) +
  named("content_block_delta", { type: "content_block_delta", index: 0, delta: { type: "text_delta", text: "ok" } }) +
  named("content_block_stop", { type: "content_block_stop", index: 0 }) +
  named("message_delta", { type: "message_delta", delta: { stop_reason: "end_turn" }, usage: { output_tokens: 9 } }) +
  named("message_stop", { type: "message_stop" })
/** Cut after message_start: the service counted the input (7 in, 1 out: $0.000017), before any delta. */
const cut = (inputTokens = 7): Loopback.ScriptedResponse => ({
  headers: sse,
  body: [start(inputTokens)],
  end: "destroy"
})
const ok: Loopback.ScriptedResponse = { headers: sse, body: whole }

/** A whole answer of `text` whose message_delta brings no usage (a compatible server's): only message_start's placeholder. */
const withoutFinalCount = (text: string, ending: "whole" | "cut"): Loopback.ScriptedResponse => ({
  headers: sse,
  body: start(7) +
    named("content_block_start", { type: "content_block_start", index: 0, content_block: { type: "text", text: "" } }) +
    named("content_block_delta", { type: "content_block_delta", index: 0, delta: { type: "text_delta", text } }) +
    named("content_block_stop", { type: "content_block_stop", index: 0 }) +
    named("message_delta", { type: "message_delta", delta: { stop_reason: "end_turn" } }) +
    (ending === "whole" ? named("message_stop", { type: "message_stop" }) : ""),
  end: "destroy"
})

/** An OpenAI-compatible layer at $1,000 per 1M tokens either way (13 in + 100 out is $0.113). */
const openaiLayerFor = (url: string, apiKey: string, resilience: Record<string, unknown>) =>
  makeLiveLayer({
    config: {
      default_model: "gpt",
      providers: { openai: { api_key: apiKey, endpoints: [{ name: "o", base_url: `${url}/v1` }] } },
      models: { gpt: { provider: "openai", model_id: "gpt-4o", pricing: { input_per_1m: 1000, output_per_1m: 1000 } } },
      resilience,
      budget: { daily_spend_limit: 1000, default_max_output_tokens: 100 },
      ledger: { backend: "memory" }
    },
    userConfig: false
  })

/** OpenRouter's error beside usage (by default a retryable 502 that was billed: 13 in, 100 out). */
const billedErrorBody = (message: string, code = 502) =>
  JSON.stringify({
    id: "gen-1",
    object: "chat.completion",
    model: "gpt-4o",
    choices: [{ index: 0, message: { role: "assistant", content: "" }, finish_reason: "error" }],
    error: { code, message },
    usage: { prompt_tokens: 13, completion_tokens: 100, total_tokens: 113 }
  })

const settlementOf = Effect.map(
  Effect.flatMap(Ledger, (ledger) => ledger.events()),
  (events) => events.filter((event) => event.type !== "hold")
)

/** A `generate` that fails, and the settlements it left. */
const failedGenerate = Effect.gen(function*() {
  const error = yield* Effect.flip(generate({ prompt: "x" }))
  return { error, settlements: yield* settlementOf }
})

describe("an attempt billed before it failed", () => {
  it.live("a stream cut after message_start and retried: the call costs both attempts", () =>
    Effect.gen(function*() {
      const server = yield* Loopback.make
      server.enqueue(cut(), ok)
      const { finish, settlements } = yield* Effect.gen(function*() {
        const events = yield* Stream.runCollect(stream({ prompt: "x" }))
        return { finish: [...events].at(-1), settlements: yield* settlementOf }
      }).pipe(Effect.provide(layerFor(server.url)))
      assert.strictEqual(server.requests.length, 2)
      // $0.000017 for the cut attempt, $0.000097 for the answer (7 in, 9 out)
      assert.deepStrictEqual(settlements.map((event) => [event.type, event.cost]), [["commit", 0.000114]])
      assert.strictEqual(finish?.response?.cost, 0.000114)
      // the row's usage is the answer's
      assert.strictEqual(settlements[0]?.usage?.outputTokens, 9)
    }).pipe(Effect.scoped))

  it.live("an answer whose only usage is message_start's (placeholder output) is settled at its input and its output's bound, not at 1 output token", () =>
    Effect.gen(function*() {
      const server = yield* Loopback.make
      const text = "word ".repeat(400)
      server.enqueue(withoutFinalCount(text, "whole"), withoutFinalCount(text, "cut"))
      const events = yield* Effect.gen(function*() {
        const streamed = yield* Stream.runCollect(stream({ prompt: "x", traceId: "whole" }))
        assert.strictEqual([...streamed].at(-1)?.finishReason, "stop")
        yield* Effect.either(Stream.runDrain(stream({ prompt: "x", traceId: "cut" })))
        return yield* Effect.flatMap(Ledger, (ledger) => ledger.events())
      }).pipe(Effect.provide(layerFor(server.url)))
      const of = (traceId: string, type: string) =>
        events.find((event) => event.traceId === traceId && event.type === type)!.cost
      // not 7 in + 1 out ($0.000017): the input it reported and the output's bound (2,000 bytes of
      // text, capped at 100 tokens), as the same answer cut before its end
      assert.strictEqual(of("whole", "commit"), 0.001007)
      assert.strictEqual(of("cut", "cancel"), 0.001007)
    }).pipe(Effect.scoped))

  it.live("a stream whose every attempt was cut after message_start: its cancel costs every attempt", () =>
    Effect.gen(function*() {
      const server = yield* Loopback.make
      server.enqueue(cut(), cut(), cut())
      const { error, settlements } = yield* Effect.gen(function*() {
        const error = yield* Effect.flip(stream({ prompt: "x" }).pipe(Stream.runDrain))
        return { error, settlements: yield* settlementOf }
      }).pipe(Effect.provide(layerFor(server.url)))
      assert.strictEqual(error._tag, "RetryableError")
      assert.strictEqual(server.requests.length, 3)
      assert.deepStrictEqual(settlements.map((event) => [event.type, event.status, event.cost]), [
        ["cancel", "error", 0.000051]
      ])
    }).pipe(Effect.scoped))

  it.live("a retry the budget cannot hold beside what was billed is refused: no second request", () =>
    Effect.gen(function*() {
      const server = yield* Loopback.make
      // 100,000 input tokens and one output counted ($0.10001) by a call held at about $0.001, under a $0.05 limit
      server.enqueue(cut(100_000), ok)
      const recording = RecordingTracer.make()
      const { error, settlements } = yield* Effect.gen(function*() {
        const error = yield* Effect.flip(Stream.runDrain(stream({ prompt: "x" })))
        return { error, settlements: yield* settlementOf }
      }).pipe(Effect.provide(layerFor(server.url, { daily_spend_limit: 0.05 })), Effect.withTracer(recording.tracer))
      assert.strictEqual(error._tag, "BudgetExceededError")
      assert.strictEqual(server.requests.length, 1)
      assert.deepStrictEqual(settlements.map((event) => [event.type, event.cost]), [["cancel", 0.10001]])
      // the call's span tells the usage it was priced at, as its row does
      const span = recording.named("LLMClient.stream")[0]!.attributes
      assert.deepStrictEqual(
        [
          span.get("gen_ai.usage.input_tokens"),
          span.get("gen_ai.usage.output_tokens"),
          span.get("effect_llm.cost_usd")
        ],
        [settlements[0]?.usage?.inputTokens, settlements[0]?.usage?.outputTokens, 0.10001]
      )
      assert.strictEqual(settlements[0]?.usage?.inputTokens, 100_000)
    }).pipe(Effect.scoped))

  it.live("an attempt charged when retried is not priced again when the call then fails with its error", () =>
    Effect.gen(function*() {
      const server = yield* Loopback.make
      const json = { "content-type": "application/json" }
      server.setDefault((request) =>
        request.bodyText.includes("first")
          ? { headers: json, body: billedErrorBody("Provider returned error") }
          : { status: 500, headers: json, body: `{"error":{"message":"boom","type":"server_error"}}` }
      )
      const layer = openaiLayerFor(server.url, "sk-billed-openai-0001", {
        max_retries: 2,
        base_delay_s: 0.5,
        max_delay_s: 0.5,
        circuit_breaker: { failure_threshold: 2, recovery_timeout_s: 60 }
      })
      const settlement = yield* Effect.gen(function*() {
        const first = yield* Effect.fork(Effect.either(generate({ prompt: "first", traceId: "A" })))
        yield* Effect.promise(() => Loopback.waitFor(() => server.requests.length === 1))
        // another call's failure opens the breaker while the first waits to retry: it ends with its own error
        yield* Effect.either(generate({ prompt: "second", traceId: "B" }))
        yield* Fiber.join(first)
        return (yield* (yield* Ledger).events({ traceId: "A" })).find((event) => event.type === "cancel")
      }).pipe(Effect.provide(layer))
      assert.strictEqual(server.requests.length, 2)
      assert.strictEqual(settlement?.cost, 0.113)
      assert.strictEqual(settlement?.usage?.outputTokens, 100)
    }).pipe(Effect.scoped))

  it.live("a billed in-band 429 whose wait is refused keeps its usage: priced, not $0", () =>
    Effect.gen(function*() {
      const server = yield* Loopback.make
      server.enqueue({ headers: { "content-type": "application/json" }, body: billedErrorBody("slow down", 429) })
      // the refused wait rewrites the error's message (a copy of the error)
      const layer = openaiLayerFor(server.url, "sk-billed-openai-0002", { max_retries: 2, wait_on_rate_limit: false })
      const { error, settlements } = yield* failedGenerate.pipe(Effect.provide(layer))
      assert.strictEqual(error._tag, "RateLimitError")
      assert.include(error.message, "not waited")
      assert.strictEqual(server.requests.length, 1)
      assert.deepStrictEqual(settlements.map((event) => [event.type, event.cost]), [["cancel", 0.113]])
    }).pipe(Effect.scoped))

  it.live("a billed error whose message echoes the key keeps its usage through the scrub: priced, not $0", () =>
    Effect.gen(function*() {
      const server = yield* Loopback.make
      server.enqueue({
        headers: { "content-type": "application/json" },
        body: billedErrorBody("plainkey0123456789 is not allowed upstream")
      })
      const layer = openaiLayerFor(server.url, "plainkey0123456789", { max_retries: 0 })
      const { error, settlements } = yield* failedGenerate.pipe(Effect.provide(layer))
      assert.notInclude(error.message, "plainkey0123456789")
      assert.include(error.message, "<redacted> is not allowed upstream")
      assert.deepStrictEqual(settlements.map((event) => [event.type, event.cost]), [["cancel", 0.113]])
    }).pipe(Effect.scoped))

  it.live("a stream's in-band error chunk beside usage (OpenRouter's), retried: the call costs both attempts", () =>
    Effect.gen(function*() {
      const server = yield* Loopback.make
      const sse = { "content-type": "text/event-stream" }
      const errorChunk = JSON.stringify({
        ...JSON.parse(billedErrorBody("Provider returned error")),
        object: "chat.completion.chunk"
      })
      const answer = JSON.stringify({
        id: "gen-2",
        object: "chat.completion.chunk",
        model: "gpt-4o",
        choices: [{ index: 0, delta: { content: "fine" }, finish_reason: "stop" }],
        usage: { prompt_tokens: 13, completion_tokens: 1, total_tokens: 14 }
      })
      server.enqueue(
        { headers: sse, body: `data: ${errorChunk}\n\ndata: [DONE]\n\n` },
        { headers: sse, body: `data: ${answer}\n\ndata: [DONE]\n\n` }
      )
      const layer = openaiLayerFor(server.url, "sk-billed-openai-0003", { max_retries: 1, base_delay_s: 0.01 })
      const settlements = yield* Stream.runDrain(stream({ prompt: "x" })).pipe(
        Effect.zipRight(settlementOf),
        Effect.provide(layer)
      )
      assert.strictEqual(server.requests.length, 2)
      // $0.113 for the failed attempt (13 in, 100 out), $0.014 for the answer
      assert.deepStrictEqual(settlements.map((event) => [event.type, event.cost]), [["commit", 0.127]])
    }).pipe(Effect.scoped))

  it.live("a stream's in-band error chunk beside usage after text: the report counts that text, priced once", () =>
    Effect.gen(function*() {
      const server = yield* Loopback.make
      const text = JSON.stringify({
        id: "gen-1",
        object: "chat.completion.chunk",
        model: "gpt-4o",
        choices: [{ index: 0, delta: { content: "abcdefghij".repeat(4) }, finish_reason: null }]
      })
      const errorChunk = JSON.stringify({
        ...JSON.parse(billedErrorBody("Provider returned error")),
        object: "chat.completion.chunk",
        usage: { prompt_tokens: 13, completion_tokens: 10, total_tokens: 23 }
      })
      server.enqueue({
        headers: { "content-type": "text/event-stream" },
        body: `data: ${text}\n\ndata: ${errorChunk}\n\n`
      })
      const layer = openaiLayerFor(server.url, "sk-billed-openai-0005", { max_retries: 1 })
      const { error, settlements } = yield* Effect.flip(Stream.runDrain(stream({ prompt: "x" }))).pipe(
        Effect.flatMap((error) => Effect.map(settlementOf, (settlements) => ({ error, settlements }))),
        Effect.provide(layer)
      )
      assert.strictEqual(error._tag, "RetryableError")
      // 13 in + 10 out ($0.023): the 40 bytes streamed before the chunk are in its 10 output tokens
      assert.deepStrictEqual(settlements.map((event) => [event.type, event.cost, event.usage?.outputTokens]), [[
        "cancel",
        0.023,
        10
      ]])
    }).pipe(Effect.scoped))

  it.live("a stream's in-band 429 chunk beside usage whose wait is refused: its cancel is priced, not $0", () =>
    Effect.gen(function*() {
      const server = yield* Loopback.make
      const errorChunk = JSON.stringify({
        ...JSON.parse(billedErrorBody("slow down", 429)),
        object: "chat.completion.chunk"
      })
      server.enqueue({ headers: { "content-type": "text/event-stream" }, body: `data: ${errorChunk}\n\n` })
      const layer = openaiLayerFor(server.url, "sk-billed-openai-0004", { max_retries: 2, wait_on_rate_limit: false })
      const { error, settlements } = yield* Effect.flip(Stream.runDrain(stream({ prompt: "x" }))).pipe(
        Effect.flatMap((error) => Effect.map(settlementOf, (settlements) => ({ error, settlements }))),
        Effect.provide(layer)
      )
      assert.strictEqual(error._tag, "RateLimitError")
      assert.strictEqual(server.requests.length, 1)
      assert.deepStrictEqual(settlements.map((event) => [event.type, event.cost]), [["cancel", 0.113]])
    }).pipe(Effect.scoped))
})
