/**
 * Tool-call arguments nested thousands deep (which `JSON.parse` reads): the call settles as answered,
 * at the usage the provider reported, unary and streamed — no stack overflow in effect-llm's own
 * counting of them (`argumentsText`).
 */
import { LanguageModel, Tool, Toolkit } from "@effect/ai"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import * as EffectLlmAi from "../../src/ai.js"
import type { CallRequest } from "../../src/domain/Prompt.js"
import { Ledger, makeLiveLayer, withCallContext } from "../../src/index.js"
import { argumentsText } from "../../src/internal/ArgumentsText.js"
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
  it("are counted at their JSON length without recursion", () => {
    const nested = JSON.parse(`{"k":${"[".repeat(depth)}"é"${"]".repeat(depth)}}`)
    assert.throws(() => JSON.stringify(nested), RangeError)
    assert.strictEqual(argumentsText(nested).length, `{"k":${"[".repeat(depth)}"é"${"]".repeat(depth)}}`.length + 1)
    assert.strictEqual(argumentsText({ a: [1, null, "x"], b: undefined }), `{"a":[1,null,"x"]}`)
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
})
