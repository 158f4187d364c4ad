/**
 * `effect-llm/ai` parts carry no configured secret (API.md §14): a server that sets its ids (`id`,
 * `model`) to the key it was sent is scrubbed in `response-metadata`, unary and streamed.
 */
import { LanguageModel } from "@effect/ai"
import { assert, it } from "@effect/vitest"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Stream from "effect/Stream"
import * as EffectLlmAi from "../../src/ai.js"
import { makeLiveLayer } from "../../src/index.js"
import * as Loopback from "../support/LoopbackServer.js"

const key = "sk-ai-scrub-secret-0123456789"

it.scoped("response-metadata's id and modelId are scrubbed of the key a server echoed (generateText, streamText)", () =>
  Effect.gen(function*() {
    const server = yield* Loopback.make
    server.setDefault((request) => {
      const echoed = String(request.headers.authorization).replace("Bearer ", "")
      const ids = { id: `req ${echoed}`, model: `model ${echoed}` }
      return request.bodyText.includes(`"stream":true`)
        ? {
          headers: { "content-type": "text/event-stream" },
          body: `data: ${
            JSON.stringify({
              ...ids,
              object: "chat.completion.chunk",
              choices: [{ index: 0, delta: { content: "hi" }, finish_reason: "stop" }]
            })
          }\n\ndata: ${
            JSON.stringify({
              ...ids,
              object: "chat.completion.chunk",
              choices: [],
              usage: { prompt_tokens: 3, completion_tokens: 1, total_tokens: 4 }
            })
          }\n\ndata: [DONE]\n\n`
        }
        : {
          headers: { "content-type": "application/json" },
          body: JSON.stringify({
            ...ids,
            object: "chat.completion",
            choices: [{ index: 0, message: { role: "assistant", content: "hi" }, finish_reason: "stop" }],
            usage: { prompt_tokens: 3, completion_tokens: 1, total_tokens: 4 }
          })
        }
    })
    const services = makeLiveLayer({
      userConfig: false,
      config: {
        default_model: "gpt",
        providers: { openai: { api_key: key, endpoints: [{ name: "o", base_url: `${server.url}/v1` }] } },
        models: { gpt: { provider: "openai", model_id: "gpt-4o-mini" } },
        ledger: { backend: "memory" }
      }
    })
    const layer = EffectLlmAi.layer({ model: "gpt" }).pipe(Layer.provideMerge(services))
    const unary = yield* LanguageModel.generateText({ prompt: "hi" }).pipe(Effect.provide(layer))
    const streamed = yield* Stream.runCollect(LanguageModel.streamText({ prompt: "hi" })).pipe(Effect.provide(layer))
    for (const parts of [unary.content, Chunk.toReadonlyArray(streamed)]) {
      const metadata = parts.find((part) => part.type === "response-metadata")
      assert.isDefined(metadata)
      const shown = JSON.stringify(metadata)
      assert.notInclude(shown, key)
      assert.include(shown, "model <redacted>")
      assert.include(shown, "req <redacted>")
    }
  }))
