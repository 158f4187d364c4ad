/**
 * A stream cut while the provider streams output that no part carries yet is priced with that output
 * (README "Streaming": one output token per byte streamed, at most the cap sent). Chat Completions sends
 * a tool call's name and arguments piece by piece and its usage only after the last piece; a refusal's
 * text is never a delta; Anthropic's `input_json_delta` pieces are gathered until the block's stop.
 * Recorded streams (test/support/fixtures), cut before their calls were whole. A stream cut before any
 * of its answer arrived stays at cost 0 (nothing it cost is known).
 */
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import { Ledger, makeLiveLayer, stream } from "../../src/index.js"
import * as Loopback from "../support/LoopbackServer.js"

const pricing = { input_per_1m: 1, output_per_1m: 10 }
const layerFor = (url: string) =>
  makeLiveLayer({
    config: {
      default_model: "gpt",
      providers: {
        openai: { api_key: "sk-held-output-0123456789", endpoints: [{ name: "o", base_url: `${url}/v1` }] },
        anthropic: { api_key: "sk-ant-api03-held-output-0123", endpoints: [{ name: "a", base_url: url }] },
        dashscope: { api_key: "sk-held-output-dashscope", endpoints: [{ name: "d", base_url: url }] }
      },
      models: {
        gpt: { provider: "openai", model_id: "gpt-4o", pricing },
        claude: { provider: "anthropic", model_id: "claude-sonnet-4-20250514", pricing },
        qwen: { provider: "dashscope", model_id: "qwen-plus", pricing }
      },
      resilience: { max_retries: 0 },
      budget: { daily_spend_limit: 1, default_max_output_tokens: 4000 },
      ledger: { backend: "memory" }
    },
    userConfig: false
  })

const parallelCalls = Loopback.readFixture(
  "openai-openai-python-tools/f82268f2fefd5cfbc7eeb59c297688be2f6ca0849a6e4f17851b517310841d9b.bin"
).toString("utf8")
const refusal = Loopback.readFixture(
  "openai-openai-python-tools/173417d553406f034f643e5db3f8d591fb691ebac56f5ae39a22cc7d455c5353.bin"
).toString("utf8")
const anthropicTool = Loopback.readFixture("anthropics-anthropic-sdk-python-tools/tool_use_response.txt")
  .toString("utf8")
const dashScopeCalls = Loopback.readFixture(
  "cnblogs-dashscope-sdk-tools/single-generation-message-with-parallel-tools-sse.response.body.txt"
).toString("utf8")

/** The body up to (not including) the event holding `marker`: every event before it, whole. */
const before = (body: string, marker: string): string => {
  const at = body.indexOf(marker)
  assert.isAbove(at, 0, marker)
  return body.slice(0, body.lastIndexOf("\n\n", at) + 2)
}

/** The `data:` payloads of a (cut) SSE body. */
const payloads = (body: string): Array<any> =>
  body.split("\n").map((line) => line.startsWith("data:") ? line.slice(5).trim() : "[DONE]").filter((data) =>
    data !== "[DONE]"
  ).map((data) => JSON.parse(data))

const bytes = (text: string) => Buffer.byteLength(text, "utf8")

/** The cancel row of a stream over `body` that ends (cleanly or by a reset) without its finish. */
const cancelOf = (model: string, body: string, traceId: string, end?: "destroy") =>
  Effect.gen(function*() {
    const server = yield* Loopback.make
    server.enqueue(
      Loopback.replay(Buffer.from(body), {
        headers: { "content-type": "text/event-stream; charset=utf-8" },
        ...(end === undefined ? {} : { end })
      })
    )
    return yield* Effect.gen(function*() {
      const error = yield* Stream.runDrain(stream({ prompt: "What is the weather?", model, traceId })).pipe(Effect.flip)
      assert.strictEqual((error as { reason?: string }).reason, "stream_interrupted")
      const events = yield* (yield* Ledger).events({ traceId })
      return events.find((event) => event.type === "cancel")!
    }).pipe(Effect.provide(layerFor(server.url)))
  })

describe("a stream cut while output no part carries is streaming", () => {
  it.scoped("Chat Completions: parallel tool calls cut before their finish are priced with every name and argument piece received", () =>
    Effect.gen(function*() {
      const cut = before(parallelCalls, `"finish_reason":"tool_calls"`)
      let expected = 0
      for (const chunk of payloads(cut)) {
        for (const call of chunk.choices?.[0]?.delta?.tool_calls ?? []) {
          expected += bytes(call.function?.name ?? "") + bytes(call.function?.arguments ?? "")
        }
      }
      assert.isAbove(expected, 50)
      for (const end of [undefined, "destroy"] as const) {
        const cancel = yield* cancelOf("gpt", cut, `held-calls-${end ?? "end"}`, end)
        assert.strictEqual(cancel.status, "error")
        assert.strictEqual(cancel.usage?.outputTokens, expected, JSON.stringify(cancel.usage))
        assert.isAbove(cancel.usage?.inputTokens ?? 0, 0)
        assert.isAbove(cancel.cost, 0)
      }
    }))

  it.scoped("Chat Completions: a refusal cut before its finish is priced with the refusal's text", () =>
    Effect.gen(function*() {
      const cut = before(refusal, `"finish_reason":"stop"`)
      let expected = 0
      for (const chunk of payloads(cut)) expected += bytes(chunk.choices?.[0]?.delta?.refusal ?? "")
      assert.isAbove(expected, 10)
      const cancel = yield* cancelOf("gpt", cut, "held-refusal")
      assert.strictEqual(cancel.usage?.outputTokens, expected, JSON.stringify(cancel.usage))
      assert.isAbove(cancel.cost, 0)
    }))

  it.scoped("Anthropic: a tool call cut among its input_json_delta pieces adds them to the output streamed after the last report", () =>
    Effect.gen(function*() {
      const cut = before(anthropicTool, `"type":"content_block_stop","index":1`)
      const events = payloads(cut)
      const reported = events.find((event) => event.type === "message_start").message.usage.output_tokens as number
      let text = 0
      let held = 0
      for (const event of events) {
        if (event.type === "content_block_delta" && event.delta.type === "text_delta") text += bytes(event.delta.text)
        if (event.type === "content_block_delta" && event.delta.type === "input_json_delta") {
          held += bytes(event.delta.partial_json)
        }
        if (event.type === "content_block_start" && event.content_block.type === "tool_use") {
          held += bytes(event.content_block.name)
        }
      }
      assert.isAbove(held, 10)
      const cancel = yield* cancelOf("claude", cut, "held-anthropic")
      assert.strictEqual(cancel.usage?.outputTokens, reported + text + held, JSON.stringify(cancel.usage))
    }))

  it.scoped("DashScope: tool calls cut among pieces that every event's usage counted are priced at the last report", () =>
    Effect.gen(function*() {
      // three events, each with a piece of the first call and the cumulative usage
      const cut = dashScopeCalls.split("\n\n").slice(0, 3).join("\n\n") + "\n\n"
      const events = payloads(cut)
      assert.strictEqual(events.length, 3)
      assert.isDefined(events[2].output.choices[0].message.tool_calls)
      const cancel = yield* cancelOf("qwen", cut, "held-dashscope")
      assert.strictEqual(cancel.usage?.outputTokens, events[2].usage.output_tokens, JSON.stringify(cancel.usage))
    }))

  it.scoped("Chat Completions from a server reporting usage on every chunk: only the pieces after the last report are added", () =>
    Effect.gen(function*() {
      const chunk = (delta: Record<string, unknown>, usage?: Record<string, number>) =>
        `data: ${
          JSON.stringify({
            id: "chatcmpl-1",
            object: "chat.completion.chunk",
            model: "gpt-4o",
            choices: [{ index: 0, delta, finish_reason: null }],
            ...(usage === undefined ? {} : { usage })
          })
        }\n\n`
      const call = (name: string | undefined, args: string) => ({
        tool_calls: [{
          index: 0,
          ...(name === undefined ? {} : { id: "call_1", type: "function" }),
          function: { ...(name === undefined ? {} : { name }), arguments: args }
        }]
      })
      const body = chunk(call("lookup", `{"ci`), { prompt_tokens: 12, completion_tokens: 5, total_tokens: 17 }) +
        chunk(call(undefined, `ty":"Paris`)) + chunk(call(undefined, `, France"}`))
      const cancel = yield* cancelOf("gpt", body, "held-continuous")
      assert.strictEqual(cancel.usage?.inputTokens, 12)
      assert.strictEqual(cancel.usage?.outputTokens, 5 + bytes(`ty":"Paris`) + bytes(`, France"}`))
    }))

  it.scoped("a stream cut before any of its answer arrived stays at cost 0", () =>
    Effect.gen(function*() {
      const cut = parallelCalls.slice(0, parallelCalls.indexOf("\n\n") + 2) // the first chunk: role only
      assert.deepStrictEqual(payloads(cut)[0].choices[0].delta.tool_calls, undefined)
      const cancel = yield* cancelOf("gpt", cut, "held-nothing")
      assert.strictEqual(cancel.cost, 0)
      assert.strictEqual(cancel.usage, undefined)
    }))
})
