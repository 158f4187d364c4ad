/**
 * Tool-call arguments nested thousands deep (which `JSON.parse` reads): the call settles as answered,
 * at the usage the provider reported, unary and streamed; such arguments (and results) in a
 * conversation's history are sent back on every protocol, and an Anthropic JSON answer that deep is
 * the object — no stack overflow in effect-llm's own writing of JSON (`JsonText`).
 */
import { LanguageModel, Prompt, Tool, Toolkit } from "@effect/ai"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import * as EffectLlmAi from "../../src/ai.js"
import type { CallRequest } from "../../src/domain/Prompt.js"
import { Ledger, makeLiveLayer, withCallContext } from "../../src/index.js"
import { argumentsText } from "../../src/internal/ArgumentsText.js"
import { jsonText } from "../../src/internal/JsonText.js"
import * as HttpTools from "../../src/providers/http/Tools.js"
import { inputTokenBound } from "../../src/services/Pricing.js"
import * as Loopback from "../support/LoopbackServer.js"

const depth = 10_000
const args = `{"x":${"[".repeat(depth)}${"]".repeat(depth)}}`
const usage = { prompt_tokens: 5, completion_tokens: 7, total_tokens: 12 }
const chunk = (body: object) =>
  `data: ${JSON.stringify({ id: "c", object: "chat.completion.chunk", model: "gpt-4o-mini", ...body })}\n\n`
const call = { id: "call_1", type: "function", function: { name: "A", arguments: args } }

const A = Tool.make("A", { parameters: { x: Schema.Unknown }, success: Schema.String })
const toolkit = Toolkit.make(A)

describe("tool-call arguments nested 10,000 deep", () => {
  it("are written as JSON without recursion, to the text JSON.stringify writes", () => {
    const text = `{"k":${"[".repeat(depth)}"é"${"]".repeat(depth)}}`
    const nested = JSON.parse(text)
    assert.throws(() => JSON.stringify(nested), RangeError)
    assert.strictEqual(argumentsText(nested), text)
    assert.strictEqual(jsonText(nested), text)
    assert.strictEqual(argumentsText({ a: [1, null, "x"], b: undefined }), `{"a":[1,null,"x"]}`)
  })

  it("jsonText: JSON.stringify's text for what it writes shallow (left-out values, toJSON, non-finite numbers); its errors for a cycle and a BigInt, however deep", () => {
    const deep = (inner: unknown) => {
      let value: unknown = inner
      for (let level = 0; level < depth; level++) value = [value]
      return value
    }
    const samples: ReadonlyArray<unknown> = [
      { a: 1, b: "two\n\"quoted\"", c: [true, false, null], d: { e: [] }, f: {} },
      [undefined, () => 1, Symbol("s"), NaN, Infinity, -0, 1e21, "é\u2028"],
      {
        skipped: undefined,
        fn: () => 1,
        sym: Symbol("s"),
        date: new Date(0),
        nested: { toJSON: (key: string) => `key:${key}` }
      },
      "text",
      42,
      null,
      // eslint-disable-next-line no-sparse-arrays
      [, 1, , "x"]
    ]
    for (const sample of samples) {
      assert.strictEqual(jsonText(sample), JSON.stringify(sample))
      // the same values under 10,000 levels of arrays: the iterative writer's text, JSON.stringify's inside
      const text = jsonText(deep(sample))!
      assert.strictEqual(
        text,
        "[".repeat(depth) + JSON.stringify(sample === undefined ? null : sample) + "]".repeat(depth)
      )
    }
    assert.strictEqual(jsonText(undefined), undefined)
    const cycle: Record<string, unknown> = {}
    cycle.self = deep(cycle)
    assert.throws(() => jsonText(cycle), TypeError)
    assert.throws(() => jsonText(deep(1n)), TypeError)
  })

  it("are priced into the next request's input bound and sent back as the service wrote them, without recursion", () => {
    const params = JSON.parse(args) as unknown
    const request: CallRequest = {
      system: undefined,
      messages: [
        { role: "user", parts: [{ type: "text", text: "x" }] },
        { role: "assistant", parts: [{ type: "tool-call", id: "call_1", name: "A", params }] },
        { role: "tool", parts: [{ type: "tool-result", id: "call_1", name: "A", result: "done", isFailure: false }] }
      ],
      maxOutputTokens: undefined,
      temperature: undefined,
      topP: undefined,
      stop: undefined
    }
    assert.isAbove(inputTokenBound(request, "openai"), args.length)
    const part = {
      type: "tool-call",
      id: "call_1",
      name: "A",
      params,
      metadata: { openai: { arguments: args } }
    } as const
    assert.strictEqual(HttpTools.argumentsText(part, "openai"), args)
  })

  it.scoped("settle the call as answered, at the reported usage, unary and streamed", () =>
    Effect.gen(function*() {
      const server = yield* Loopback.make
      server.setDefault((request) =>
        request.bodyText.includes(`"stream":true`)
          ? {
            headers: { "content-type": "text/event-stream" },
            body:
              chunk({ choices: [{ index: 0, delta: { role: "assistant", tool_calls: [{ index: 0, ...call }] } }] }) +
              chunk({ choices: [{ index: 0, delta: {}, finish_reason: "tool_calls" }] }) +
              chunk({ choices: [], usage }) + "data: [DONE]\n\n"
          }
          : {
            headers: { "content-type": "application/json" },
            body: JSON.stringify({
              id: "c",
              object: "chat.completion",
              model: "gpt-4o-mini",
              choices: [{
                index: 0,
                message: { role: "assistant", content: null, tool_calls: [call] },
                finish_reason: "tool_calls"
              }],
              usage
            })
          }
      )
      const live = makeLiveLayer({
        userConfig: false,
        config: {
          default_model: "gpt",
          providers: { openai: { api_key: "sk-test-0123456789", endpoints: [{ name: "o", base_url: server.url }] } },
          models: {
            gpt: { provider: "openai", model_id: "gpt-4o-mini", pricing: { input_per_1m: 1, output_per_1m: 1 } }
          },
          ledger: { backend: "memory" }
        }
      })
      const calls = [
        LanguageModel.generateText({ prompt: "x", toolkit }),
        Stream.runDrain(LanguageModel.streamText({ prompt: "x", toolkit }))
      ]
      for (const [index, program] of calls.entries()) {
        const events = yield* Effect.gen(function*() {
          yield* withCallContext({ traceId: `deep-${index}` })(program)
          return yield* Effect.flatMap(Ledger, (ledger) => ledger.events({ traceId: `deep-${index}` }))
        }).pipe(
          Effect.provide(toolkit.toLayer({ A: () => Effect.succeed("done") })),
          Effect.provide(EffectLlmAi.layer({ model: "gpt" })),
          Effect.provide(live)
        )
        assert.deepStrictEqual(events.map((event) => [event.type, event.status, event.usage?.totalTokens]), [
          ["hold", "ok", undefined],
          ["commit", "ok", 12]
        ])
      }
    }), 30_000)

  it.scoped(
    "in a conversation's history: sent back to Gemini and Anthropic (arguments as objects) and answered, not a defect",
    () =>
      Effect.gen(function*() {
        const server = yield* Loopback.make
        server.setDefault((request) =>
          request.url.includes("/v1/messages")
            ? {
              headers: { "content-type": "application/json" },
              body: JSON.stringify({
                id: "msg_1",
                type: "message",
                role: "assistant",
                model: "claude-haiku-4-5",
                content: [{ type: "text", text: "ok" }],
                stop_reason: "end_turn",
                usage: { input_tokens: 5, output_tokens: 1 }
              })
            }
            : {
              headers: { "content-type": "application/json" },
              body: JSON.stringify({
                candidates: [{ content: { role: "model", parts: [{ text: "ok" }] }, finishReason: "STOP" }],
                usageMetadata: { promptTokenCount: 5, candidatesTokenCount: 1, totalTokenCount: 6 }
              })
            }
        )
        const live = makeLiveLayer({
          userConfig: false,
          config: {
            default_model: "gem",
            providers: {
              google: { api_key: "AIza-test-0123456789", endpoints: [{ name: "g", base_url: server.url }] },
              anthropic: { api_key: "sk-ant-test-0123456789", endpoints: [{ name: "a", base_url: server.url }] }
            },
            models: {
              gem: { provider: "google", model_id: "gemini-2.5-flash", pricing: { input_per_1m: 1, output_per_1m: 1 } },
              claude: {
                provider: "anthropic",
                model_id: "claude-haiku-4-5",
                pricing: { input_per_1m: 1, output_per_1m: 1 }
              }
            },
            ledger: { backend: "memory" }
          }
        })
        const params = JSON.parse(args) as unknown
        const prompt = Prompt.make([
          { role: "user", content: "x" },
          {
            role: "assistant",
            content: [{ type: "tool-call", id: "call_1", name: "A", params, providerExecuted: false }]
          },
          {
            role: "tool",
            content: [{
              type: "tool-result",
              id: "call_1",
              name: "A",
              result: params,
              isFailure: false,
              providerExecuted: false
            }]
          }
        ])
        for (const model of ["gem", "claude"]) {
          const before = server.requests.length
          const response = yield* LanguageModel.generateText({ prompt }).pipe(
            Effect.provide(EffectLlmAi.layer({ model })),
            Effect.provide(live)
          )
          assert.strictEqual(response.text, "ok", model)
          assert.strictEqual(server.requests.length, before + 1, model)
          // the arguments (and the result) went as the service wrote them, 10,000 deep
          const body = server.requests.at(-1)!.bodyText
          assert.include(body, "[".repeat(depth), model)
          assert.doesNotThrow(() => JSON.parse(body), model)
        }
      }),
    30_000
  )

  it.scoped(
    "an Anthropic generateObject answer (a forced tool's input) nested 10,000 deep is the object, not a defect",
    () =>
      Effect.gen(function*() {
        const server = yield* Loopback.make
        server.setDefault((request) => ({
          headers: { "content-type": "application/json" },
          body: JSON.stringify({
            id: "msg_1",
            type: "message",
            role: "assistant",
            model: "claude-3-5-haiku-20241022",
            content: [{
              type: "tool_use",
              id: "toolu_1",
              name: (request.json as { tool_choice: { name: string } }).tool_choice.name,
              input: "INPUT"
            }],
            stop_reason: "tool_use",
            usage: { input_tokens: 5, output_tokens: 3 }
          }).replace(`"INPUT"`, args)
        }))
        const object = yield* LanguageModel.generateObject({
          prompt: "x",
          schema: Schema.Struct({ x: Schema.Unknown })
        })
          .pipe(
            Effect.map((response) => response.value),
            Effect.provide(EffectLlmAi.layer({ model: "claude" })),
            Effect.provide(makeLiveLayer({
              userConfig: false,
              config: {
                default_model: "claude",
                providers: {
                  anthropic: { api_key: "sk-ant-test-0123456789", endpoints: [{ name: "a", base_url: server.url }] }
                },
                models: {
                  claude: {
                    provider: "anthropic",
                    model_id: "claude-3-5-haiku-20241022",
                    pricing: { input_per_1m: 1, output_per_1m: 1 }
                  }
                },
                ledger: { backend: "memory" }
              }
            }))
          )
        assert.strictEqual(jsonText(object), args)
      }),
    30_000
  )
})
