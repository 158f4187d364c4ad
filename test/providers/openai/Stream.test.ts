import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import type { LLMError } from "../../../src/domain/Errors.js"
import * as Json from "../../../src/providers/http/Json.js"
import * as Response from "../../../src/providers/openai/Response.js"
import * as OpenAIStream from "../../../src/providers/openai/Stream.js"
import * as Loopback from "../../support/LoopbackServer.js"
import {
  cassette,
  collect,
  context,
  expectedFromRecording,
  expectError,
  failureOf,
  fixtureText,
  framed,
  hello,
  pai,
  partsOf,
  plainUsage,
  replayInteraction,
  replaySse,
  runStream,
  sll,
  sse,
  targetOf,
  vai,
  vao,
  withServer
} from "./Harness.js"

/** Every recorded stream body, named, with the headers it was recorded with (if any). */
const recordedStreams = (): ReadonlyArray<
  { readonly name: string; readonly body: string; readonly headers?: Readonly<Record<string, string>> }
> => [
  { name: "OpenAI include_usage stream (vercel-ai)", body: framed(vai + "openai-text.chunks.txt") },
  { name: "Azure stream with a leading filter chunk", body: framed(vao + "openai/azure-model-router.1.chunks.txt") },
  { name: "DeepSeek stream, usage on the finish chunk", body: framed(vao + "deepseek/deepseek-text.chunks.txt") },
  { name: "DeepSeek reasoner stream", body: framed(vao + "deepseek/deepseek-reasoning.chunks.txt") },
  { name: "Groq stream without stream_options", body: framed(vao + "groq/groq-tool-call.chunks.txt") },
  {
    name: "DashScope compatible mode (qwen3-max), usage chunk after the finish",
    body: framed("vercel-ai/alibaba/alibaba-text.chunks.txt")
  },
  {
    name: "DashScope compatible mode reasoning (qwen3-max), reasoning_content then content",
    body: framed("vercel-ai/alibaba/alibaba-reasoning.chunks.txt")
  },
  ...cassette(pai + "test_run_stream_sync_streams_real_model.yaml").map((interaction, index) => ({
    name: `api.openai.com wire bytes (pydantic-ai #${index})`,
    body: interaction.body,
    headers: interaction.headers
  })),
  ...cassette(sll + "test_tool_use_basic.yaml").map((interaction, index) => ({
    name: `api.openai.com with x-request-id and rate-limit headers (simonw-llm #${index})`,
    body: interaction.body,
    headers: interaction.headers
  })),
  ...cassette(sll + "test_tools_streaming_variant_a.yaml").map((interaction, index) => ({
    name: `OpenRouter (simonw-llm variant_a #${index})`,
    body: interaction.body,
    headers: interaction.headers
  })),
  ...cassette(pai + "test_tool_use_failed_error_streaming.yaml").slice(1).map((interaction, index) => ({
    name: `Groq reasoning stream (pydantic-ai #${index + 1})`,
    body: interaction.body,
    headers: interaction.headers
  }))
]

/** One `chat.completion.chunk` event of `body`'s fields. */
const completionChunk = (body: object) =>
  `data: ${JSON.stringify({ id: "c", object: "chat.completion.chunk", ...body })}\n\n`
const helloChunk = completionChunk({
  choices: [{ index: 0, delta: { role: "assistant", content: "Hello" }, finish_reason: null }]
})

describe("openai streams: recorded traffic", () => {
  for (const recording of recordedStreams()) {
    for (const chunkSizes of [undefined, [1, 7, 300]]) {
      it.scoped(
        `${recording.name}${chunkSizes === undefined ? "" : ", in tiny reads"}: text, reasoning, usage, finish`,
        () =>
          withServer((server, client) =>
            Effect.gen(function*() {
              server.enqueue(
                replaySse(recording.body, {
                  ...(recording.headers !== undefined ? { headers: recording.headers } : {}),
                  ...(chunkSizes !== undefined ? { chunkSizes } : {})
                })
              )
              const expected = expectedFromRecording(recording.body)
              const result = yield* runStream(client, targetOf(server))
              assert.isTrue(Exit.isSuccess(result.exit), String(result.exit))
              assert.strictEqual(result.text, expected.text)
              assert.strictEqual(result.reasoning, expected.reasoning)
              assert.deepStrictEqual(plainUsage(result.usages.at(-1)), expected.usage)
              assert.deepStrictEqual(result.finish, [expected.finishReason])
              assert.strictEqual(result.parts.at(-1)!._tag, "Finish")
              assert.isTrue(result.deltas.every((delta) => delta.length > 0), "no empty deltas")
            })
          )
      )
    }
  }

  it.scoped("the OpenAI stream: deltas in order, the choices:[] usage chunk with its details, ids once", () =>
    withServer((server, client) =>
      Effect.gen(function*() {
        server.enqueue(replaySse(framed(vai + "openai-text.chunks.txt")))
        const { deltas, finish, metadata, usages } = yield* runStream(client, targetOf(server))
        assert.deepStrictEqual(deltas.slice(0, 3), ["**", "Holiday", " Name"])
        assert.deepStrictEqual(finish, ["stop"])
        assert.strictEqual(usages.length, 1)
        assert.deepStrictEqual(usages[0], {
          inputTokens: 16,
          outputTokens: 300,
          totalTokens: 316,
          cachedInputTokens: 0,
          reasoningTokens: 0
        })
        assert.deepStrictEqual(metadata, [{
          _tag: "Metadata",
          requestId: "chatcmpl-D8Z5oo6uDh67AD85p73ksdT1KxhE0",
          modelVersion: "gpt-4.1-nano-2025-04-14"
        }])
      })
    ))

  it.scoped("DashScope compatible mode reasoning: reasoning tokens inside the output, no empty reasoning delta", () =>
    withServer((server, client) =>
      Effect.gen(function*() {
        server.enqueue(replaySse(framed("vercel-ai/alibaba/alibaba-reasoning.chunks.txt")))
        const { parts, reasoning, text, usages } = yield* runStream(client, targetOf(server))
        assert.isTrue(reasoning.startsWith("We"), reasoning.slice(0, 20))
        assert.isTrue(text.length > 0)
        assert.notInclude(text, reasoning.slice(0, 40))
        assert.isTrue(partsOf(parts, "ReasoningDelta").every((part) => part.text.length > 0))
        assert.deepStrictEqual(usages.at(-1), {
          inputTokens: 24,
          outputTokens: 1355,
          totalTokens: 1379,
          cachedInputTokens: 0,
          reasoningTokens: 1084
        })
      })
    ))

  it.scoped("a server that refuses stream_options (Mistral's 422): the stream is sent again without it, and so are the endpoint's later streams", () =>
    withServer((server, client) =>
      Effect.gen(function*() {
        const refusal = JSON.stringify({
          object: "error",
          message: {
            detail: [{
              type: "extra_forbidden",
              loc: ["body", "stream_options", "include_usage"],
              msg: "Extra inputs are not permitted"
            }]
          },
          type: "invalid_request_error"
        })
        const answer = `data: ${
          JSON.stringify({
            id: "m1",
            object: "chat.completion.chunk",
            model: "mistral-small",
            choices: [{ index: 0, delta: { content: "Hello" }, finish_reason: "stop" }],
            usage: { prompt_tokens: 5, completion_tokens: 1, total_tokens: 6 }
          })
        }\n\ndata: [DONE]\n\n`
        const sse = { "content-type": "text/event-stream" }
        server.enqueue(
          { status: 422, headers: { "content-type": "application/json" }, body: refusal },
          { headers: sse, body: answer },
          { headers: sse, body: answer }
        )
        const first = yield* runStream(client, targetOf(server))
        assert.strictEqual(first.text, "Hello")
        assert.deepStrictEqual(first.usages.map((usage) => usage.totalTokens), [6])
        const second = yield* runStream(client, targetOf(server))
        assert.strictEqual(second.text, "Hello")
        assert.deepStrictEqual(
          server.requests.map((request) => (request.json as { stream_options?: unknown }).stream_options !== undefined),
          [true, false, false]
        )
      })
    ))

  describe("stream_options refusals", () => {
    const eventStream = { "content-type": "text/event-stream" }
    const json = { "content-type": "application/json" }
    const answer = `data: ${
      JSON.stringify({
        id: "m1",
        object: "chat.completion.chunk",
        model: "m",
        choices: [{ index: 0, delta: { content: "Hello" }, finish_reason: "stop" }],
        usage: { prompt_tokens: 5, completion_tokens: 1, total_tokens: 6 }
      })
    }\n\ndata: [DONE]\n\n`
    const carried = (server: { readonly requests: ReadonlyArray<{ readonly json: unknown }> }) =>
      server.requests.map((request) => (request.json as { stream_options?: unknown }).stream_options !== undefined)
    const azure = JSON.stringify({
      error: {
        message: "Unrecognized request argument supplied: stream_options",
        type: "invalid_request_error",
        param: null,
        code: null
      }
    })

    it.scoped("concurrent first streams refused for it are each sent again without it", () =>
      withServer((server, client) =>
        Effect.gen(function*() {
          server.setDefault((request) =>
            (request.json as { stream_options?: unknown }).stream_options !== undefined
              ? { status: 400, headers: json, body: azure, delayMs: 50 }
              : { headers: eventStream, body: answer }
          )
          const streams = yield* Effect.all(
            [runStream(client, targetOf(server)), runStream(client, targetOf(server))],
            {
              concurrency: 2
            }
          )
          assert.deepStrictEqual(streams.map((streamed) => streamed.text), ["Hello", "Hello"])
          assert.deepStrictEqual(carried(server).sort(), [false, false, true, true])
        })
      ))

    it.scoped("a 400 about another field that quotes the request (vLLM's validation error) is no refusal of it", () =>
      withServer((server, client) =>
        Effect.gen(function*() {
          const echo = JSON.stringify({
            object: "error",
            message:
              "1 validation error for ChatCompletionRequest\n  Value error, When using `tool_choice`, `tools` must be set. [type=value_error, input_value={'model': 'm', 'stream': True, 'stream_options': {'include_usage': True}, 'tool_choice': 'auto'}, input_type=dict]",
            type: "BadRequestError",
            param: null,
            code: 400
          })
          const echoNone = echo.replace("{'include_usage': True}", "None")
          // cut by the server right after the key, the message then ending with the request id
          const echoCut = echo.slice(0, echo.indexOf("'stream_options': ") + 18) + "\"}"
          server.enqueue(
            { status: 400, headers: json, body: echo },
            { status: 400, headers: json, body: echoNone },
            { status: 400, headers: { ...json, "x-request-id": "req-7" }, body: echoCut },
            { headers: eventStream, body: answer }
          )
          for (let i = 0; i < 3; i++) {
            const refused = yield* runStream(client, targetOf(server))
            expectError(failureOf(refused.exit), "FatalError", "invalid_request", 400)
          }
          const later = yield* runStream(client, targetOf(server))
          assert.deepStrictEqual(later.usages.map((usage) => usage.totalTokens), [6])
          assert.deepStrictEqual(carried(server), [true, true, true, true])
        })
      ))

    it.scoped("refusals that put a colon after the field (Azure's validation error, Google's unknown name) are refusals of it", () =>
      withServer((server, client) =>
        Effect.gen(function*() {
          const refusals = [
            "Validation error at #/stream_options: Extra inputs are not permitted",
            "Invalid parameter 'stream_options': not supported with this model.",
            "Invalid JSON payload received. Unknown name \"stream_options\": Cannot find field."
          ]
          for (const [index, message] of refusals.entries()) {
            server.enqueue(
              {
                status: 400,
                headers: json,
                body: JSON.stringify({ error: { message, type: "invalid_request_error" } })
              },
              { headers: eventStream, body: answer }
            )
            const streamed = yield* runStream(client, { ...targetOf(server), modelId: `m${index}` })
            assert.strictEqual(streamed.text, "Hello", message)
          }
          assert.deepStrictEqual(carried(server), [true, false, true, false, true, false])
        })
      ))

    it.scoped("a refusal is remembered for that model at that endpoint: a gateway's other models keep the usage option", () =>
      withServer((server, client) =>
        Effect.gen(function*() {
          server.enqueue(
            { status: 400, headers: json, body: azure },
            { headers: eventStream, body: answer },
            { headers: eventStream, body: answer },
            { headers: eventStream, body: answer }
          )
          const target = targetOf(server)
          yield* runStream(client, { ...target, modelId: "mistral-small" })
          yield* runStream(client, { ...target, modelId: "gpt-4o" })
          yield* runStream(client, { ...target, modelId: "mistral-small" })
          assert.deepStrictEqual(carried(server), [true, false, true, false])
        })
      ))
  })

  it.scoped("x-request-id is the request id over the body's id", () =>
    withServer((server, client) =>
      Effect.gen(function*() {
        const [first] = cassette(sll + "test_tool_use_basic.yaml")
        server.enqueue(replayInteraction(first!))
        const { metadata } = yield* runStream(client, targetOf(server))
        assert.strictEqual(metadata[0]!.requestId, "req_c3e995e7a86953713a6dc1b17e399fd5")
        assert.strictEqual(metadata[0]!.modelVersion, "gpt-4o-mini-2024-07-18")
      })
    ))

  it.scoped("DeepSeek reasoner: reasoning_content as reasoning deltas first, never in the text; reasoning tokens", () =>
    withServer((server, client) =>
      Effect.gen(function*() {
        server.enqueue(replaySse(framed(vao + "deepseek/deepseek-reasoning.chunks.txt"), { chunkSizes: [5, 64] }))
        const { finish, parts, reasoning, text, usages } = yield* runStream(client, targetOf(server))
        assert.isTrue(reasoning.startsWith("We need"), reasoning.slice(0, 40))
        assert.notInclude(text, "We need")
        assert.isBelow(
          parts.findIndex((part) => part._tag === "ReasoningDelta"),
          parts.findIndex((part) => part._tag === "TextDelta")
        )
        assert.deepStrictEqual(usages.at(-1), {
          inputTokens: 18,
          outputTokens: 219,
          totalTokens: 237,
          cachedInputTokens: 0,
          reasoningTokens: 205
        })
        assert.deepStrictEqual(finish, ["stop"])
      })
    ))

  it.scoped("Azure: the leading choices:[] filter chunk with empty ids is no usage and no ids", () =>
    withServer((server, client) =>
      Effect.gen(function*() {
        server.enqueue(replaySse(framed(vao + "openai/azure-model-router.1.chunks.txt")))
        const { metadata, usages } = yield* runStream(client, targetOf(server))
        assert.strictEqual(usages.length, 1)
        assert.strictEqual(usages[0]!.reasoningTokens, 64)
        assert.strictEqual(metadata[0]!.modelVersion, "gpt-5-nano-2025-08-07")
        assert.isTrue(metadata.every((part) => part.requestId !== "" && part.modelVersion !== ""))
      })
    ))

  it.scoped("Groq without stream_options: usage from the finish chunk, finish tool_calls → other", () =>
    withServer((server, client) =>
      Effect.gen(function*() {
        server.enqueue(replaySse(framed(vao + "groq/groq-tool-call.chunks.txt")))
        const { finish, text, usages } = yield* runStream(client, targetOf(server))
        assert.strictEqual(text, "")
        assert.deepStrictEqual(plainUsage(usages.at(-1)), { input: 210, output: 15, total: 225 })
        assert.deepStrictEqual(finish, ["other"])
      })
    ))

  it.scoped("OpenRouter: 17 keep-alive comments, reasoning, finish length, then an error chunk after the finish → success with its usage", () =>
    withServer((server, client) =>
      Effect.gen(function*() {
        const [interaction] = cassette(pai + "test_openrouter_stream_error.yaml")
        assert.strictEqual(interaction!.body.match(/: OPENROUTER PROCESSING/g)?.length, 17)
        for (const chunkSizes of [undefined, [1, 7, 300]]) {
          server.enqueue(replayInteraction(interaction!, chunkSizes === undefined ? {} : { chunkSizes }))
          const result = yield* runStream(client, targetOf(server))
          assert.isTrue(Exit.isSuccess(result.exit), String(result.exit))
          assert.strictEqual(result.text, "")
          assert.strictEqual(result.reasoning, "We need to respond to a greeting. The user")
          assert.deepStrictEqual(result.finish, ["length"])
          assert.deepStrictEqual(result.usages.at(-1), {
            inputTokens: 43,
            outputTokens: 10,
            totalTokens: 53,
            cachedInputTokens: 0,
            reasoningTokens: 11
          })
        }
      })
    ))

  it.scoped("OpenRouter: no finish_reason at all, then [DONE] → a finish other; usage on a non-empty-choices chunk", () =>
    withServer((server, client) =>
      Effect.gen(function*() {
        const [first] = cassette(sll + "test_tools_streaming_variant_a.yaml")
        assert.notInclude(first!.body, "\"finish_reason\":\"")
        server.enqueue(replayInteraction(first!))
        const { exit, finish, usages } = yield* runStream(client, targetOf(server))
        assert.isTrue(Exit.isSuccess(exit))
        assert.deepStrictEqual(finish, ["other"])
        assert.deepStrictEqual(plainUsage(usages.at(-1)), { input: 57, output: 17, total: 74 })
      })
    ))

  it.scoped("Groq: event: error with status_code 400 after reasoning deltas fails with invalid_request", () =>
    withServer((server, client) =>
      Effect.gen(function*() {
        const [failed] = cassette(pai + "test_tool_use_failed_error_streaming.yaml")
        for (const chunkSizes of [undefined, [1, 7, 300]]) {
          server.enqueue(replayInteraction(failed!, chunkSizes === undefined ? {} : { chunkSizes }))
          const { exit, finish, reasoning } = yield* runStream(client, targetOf(server))
          assert.isTrue(reasoning.startsWith("We need to call"), reasoning)
          assert.deepStrictEqual(finish, [])
          const error = failureOf(exit)
          expectError(error, "FatalError", "invalid_request", 400)
          assert.include(error.message, "tool_use_failed")
          assert.include(error.message, "Tool call validation failed")
        }
      })
    ))
})

describe("openai streams: framing, finish signal and truncation", () => {
  const openaiBody = () => framed(vai + "openai-text.chunks.txt")

  it.scoped("LF, CRLF and CR framings decode to the same parts", () =>
    withServer((server, client) =>
      Effect.gen(function*() {
        const lf = openaiBody()
        const bodies = [lf, lf.replace(/\n/g, "\r\n"), lf.replace(/\n/g, "\r"), lf.replace(/data: /g, "data:")]
        for (const body of bodies) server.enqueue(replaySse(body, { chunkSizes: [3, 1, 64] }))
        const results = []
        for (const _ of bodies) results.push(yield* runStream(client, targetOf(server)))
        for (const result of results) {
          assert.isTrue(Exit.isSuccess(result.exit))
          assert.deepStrictEqual(result.parts, results[0]!.parts)
        }
      })
    ))

  it.scoped("a server that streams two choices unasked: only index 0's text, tool calls and finish are the answer", () =>
    withServer((server, client) =>
      Effect.gen(function*() {
        const chunk = (choices: ReadonlyArray<object>, extra: object = {}) =>
          `data: ${JSON.stringify({ id: "c", object: "chat.completion.chunk", model: "m", choices, ...extra })}\n\n`
        const call = (index: number, id: string, name: string, args: string) => ({
          index,
          id,
          type: "function",
          function: { name, arguments: args }
        })
        server.enqueue(replaySse(
          chunk([{ index: 0, delta: { role: "assistant", content: "first" }, finish_reason: null }]) +
            chunk([{ index: 1, delta: { role: "assistant", content: "SECOND" }, finish_reason: null }]) +
            chunk([{
              index: 0,
              delta: { tool_calls: [call(0, "call_a", "lookup", "{\"q\":")] },
              finish_reason: null
            }]) +
            chunk([{ index: 1, delta: { tool_calls: [call(0, "call_b", "other", "{\"z\":")] }, finish_reason: null }]) +
            chunk([{
              index: 0,
              delta: { tool_calls: [{ index: 0, function: { arguments: "1}" } }] },
              finish_reason: null
            }]) +
            chunk([{
              index: 1,
              delta: { tool_calls: [{ index: 0, function: { arguments: "2}" } }] },
              finish_reason: null
            }]) +
            chunk([{ index: 0, delta: {}, finish_reason: "tool_calls" }]) +
            chunk([{ index: 1, delta: {}, finish_reason: "length" }]) +
            chunk([], { usage: { prompt_tokens: 4, completion_tokens: 3, total_tokens: 7 } }) +
            "data: [DONE]\n\n"
        ))
        const { exit, finish, parts, text } = yield* runStream(client, targetOf(server))
        assert.isTrue(Exit.isSuccess(exit))
        assert.strictEqual(text, "first")
        assert.deepStrictEqual(finish, ["other"]) // index 0's tool_calls (as every protocol's), not index 1's length
        const calls = parts.flatMap((part) => part._tag === "ToolCall" ? [part.call] : [])
        assert.deepStrictEqual(calls.map((call) => [call.id, call.name, call.params]), [["call_a", "lookup", { q: 1 }]])
      })
    ))

  it.scoped("vLLM's usage with completion_tokens: null is no usage (unknown, not 0 output tokens)", () =>
    withServer((server, client) =>
      Effect.gen(function*() {
        server.enqueue(replaySse(
          helloChunk +
            completionChunk({ choices: [{ index: 0, delta: {}, finish_reason: "stop" }] }) +
            completionChunk({ choices: [], usage: { prompt_tokens: 5, completion_tokens: null, total_tokens: 5 } }) +
            "data: [DONE]\n\n"
        ))
        const { exit, finish, text, usages } = yield* runStream(client, targetOf(server))
        assert.isTrue(Exit.isSuccess(exit))
        assert.strictEqual(text, "Hello")
        assert.deepStrictEqual(finish, ["stop"])
        assert.deepStrictEqual(usages, [])
      })
    ))

  it.scoped("[DONE] with trailing blanks ends the stream (openai-node takes any data starting with it)", () =>
    withServer((server, client) =>
      Effect.gen(function*() {
        server.enqueue(replaySse(
          helloChunk +
            completionChunk({
              choices: [{ index: 0, delta: {}, finish_reason: "stop" }],
              usage: { prompt_tokens: 5, completion_tokens: 1, total_tokens: 6 }
            }) +
            "data: [DONE]  \t\n\n"
        ))
        const { exit, finish, text } = yield* runStream(client, targetOf(server))
        assert.deepStrictEqual([Exit.isSuccess(exit), text, finish], [true, "Hello", ["stop"]])
      })
    ))

  it.scoped("DeepSeek keep-alive comments before the first chunk are skipped", () =>
    withServer((server, client) =>
      Effect.gen(function*() {
        server.enqueue(replaySse(": keep-alive\n\n: keep-alive\n\n" + openaiBody(), { chunkSizes: [4, 40] }))
        const { exit, text } = yield* runStream(client, targetOf(server))
        assert.isTrue(Exit.isSuccess(exit))
        assert.strictEqual(text, expectedFromRecording(openaiBody()).text)
      })
    ))

  it.scoped("a finish_reason then the end of the body without [DONE] is a finish (DeepSeek as recorded, framing stripped)", () =>
    withServer((server, client) =>
      Effect.gen(function*() {
        server.enqueue(replaySse(framed(vao + "deepseek/deepseek-text.chunks.txt", { done: false })))
        const { exit, finish, usages } = yield* runStream(client, targetOf(server))
        assert.isTrue(Exit.isSuccess(exit))
        assert.deepStrictEqual(finish, ["length"])
        assert.deepStrictEqual(plainUsage(usages.at(-1)), { input: 13, output: 400, total: 413 })
      })
    ))

  it.scoped("a finish_reason, then the body ends before the usage chunk: a finish without usage", () =>
    withServer((server, client) =>
      Effect.gen(function*() {
        const body = openaiBody()
        const cut = body.slice(0, body.indexOf("data: {", body.indexOf("\"finish_reason\":\"stop\"")))
        server.enqueue(replaySse(cut))
        const { exit, finish, usages } = yield* runStream(client, targetOf(server))
        assert.isTrue(Exit.isSuccess(exit))
        assert.deepStrictEqual(finish, ["stop"])
        assert.strictEqual(usages.length, 0)
      })
    ))

  it.scoped("a finish_reason, then the connection is reset before the usage chunk: stream_interrupted", () =>
    withServer((server, client) =>
      Effect.gen(function*() {
        const body = openaiBody()
        const cut = body.slice(0, body.indexOf("data: {", body.indexOf("\"finish_reason\":\"stop\"")))
        server.enqueue({ headers: sse, body: [cut], end: "destroy" })
        const { exit, finish } = yield* runStream(client, targetOf(server))
        assert.deepStrictEqual(finish, [])
        expectError(failureOf(exit), "RetryableError", "stream_interrupted")
      })
    ))

  it.scoped("a body that ends before any finish_reason or [DONE] is stream_interrupted, with the usage seen", () =>
    withServer((server, client) =>
      Effect.gen(function*() {
        const body = framed(vao + "deepseek/deepseek-text.chunks.txt", { done: false })
        const withoutLast = body.split("\n\n").slice(0, -2).join("\n\n") + "\n\n"
        server.enqueue(replaySse(withoutLast))
        const { deltas, exit, finish } = yield* runStream(client, targetOf(server))
        assert.isAbove(deltas.length, 100)
        assert.deepStrictEqual(finish, [])
        expectError(failureOf(exit), "RetryableError", "stream_interrupted")
      })
    ))

  it.scoped("a socket cut mid-body is stream_interrupted after the deltas before it", () =>
    withServer((server, client) =>
      Effect.gen(function*() {
        server.enqueue({ headers: sse, body: [openaiBody().slice(0, 900)], end: "destroy" })
        const { deltas, exit } = yield* runStream(client, targetOf(server))
        assert.isAtLeast(deltas.length, 1)
        expectError(failureOf(exit), "RetryableError", "stream_interrupted")
      })
    ))

  it.effect("a body that ends cleanly at any byte before its finish is stream_interrupted, never a bad response", () =>
    Effect.gen(function*() {
      // The first chunks (role, reasoning, content phases are alike from there on): every cut point.
      const bytes = Buffer.from(framed(vao + "deepseek/deepseek-reasoning.chunks.txt").slice(0, 1_600), "utf8")
      for (let cut = 1; cut < bytes.length; cut++) {
        const exit = yield* OpenAIStream.decode(Stream.make(bytes.subarray(0, cut)), context).pipe(
          Stream.runDrain,
          Effect.exit
        )
        expectError(failureOf(exit), "RetryableError", "stream_interrupted")
      }
    }))

  it.effect("a body cut between events after its finish_reason succeeds (the [DONE] and the usage may be missing); a cut inside an event is stream_interrupted", () =>
    Effect.gen(function*() {
      const body = openaiBody()
      const bytes = Buffer.from(body, "utf8")
      const finishAt = body.indexOf("\"finish_reason\":\"stop\"")
      assert.isAbove(finishAt, 0)
      const afterFinish = Buffer.byteLength(body.slice(0, body.indexOf("\n\n", finishAt) + 2))
      for (let cut = afterFinish; cut <= bytes.length; cut++) {
        const parts = yield* OpenAIStream.decode(Stream.make(bytes.subarray(0, cut)), context).pipe(
          Stream.runCollect,
          Effect.exit
        )
        // What the cut left of the event it fell in: nothing (between events), a [DONE] cut short, a whole
        // chunk without its blank line — or an event cut short (`dat`, `data: `, half a JSON text).
        const before = bytes.subarray(0, cut).toString("utf8")
        const tail = before.slice(before.lastIndexOf("\n\n") + 2)
        const wholeJson = tail.startsWith("data: {") && Json.parse(tail.slice("data: ".length)) !== undefined
        const cutShort = tail.length > 0 && !tail.startsWith("data: [") && !wholeJson
        if (Exit.isFailure(parts)) {
          assert.isTrue(cutShort, `cut at ${cut}: ${JSON.stringify(tail)}`)
          expectError(failureOf(parts), "RetryableError", "stream_interrupted")
        } else {
          assert.isFalse(cutShort, `cut at ${cut}: ${JSON.stringify(tail)}`)
          assert.strictEqual([...parts.value].at(-1)!._tag, "Finish", `cut at ${cut}`)
        }
      }
    }))

  it.scoped("a 200 stream that cannot be decoded is a bad_response, never stream_interrupted (API.md §14); an empty one is a cut", () =>
    withServer((server, client) =>
      Effect.gen(function*() {
        const first = openaiBody().split("\n\n")[0]!
        const bodies = [
          "<html><body>upstream error</body></html>",
          `${first}\n\ndata: <html>busy</html>\n\n`,
          `${first}\n\ndata: {"choices":[{"delta":{"content":7}}]}\n\n`,
          `data: {"choices":[{"delta":{"content":"hi"}}],"usage":{"prompt_tokens":"3"}}\n\n`,
          `data: {"choices":"none"}\n\n`,
          `data: {"status":"ok"}\n\n`,
          `data: 42\n\n`
        ]
        for (const body of bodies) server.enqueue(replaySse(body))
        for (const body of bodies) {
          const { exit } = yield* runStream(client, targetOf(server))
          expectError(failureOf(exit), "FatalError", "bad_response")
          assert.notInclude(failureOf(exit).message, "stream_interrupted", body)
        }
        server.enqueue(replaySse(""))
        expectError(
          failureOf((yield* runStream(client, targetOf(server))).exit),
          "RetryableError",
          "stream_interrupted"
        )
      })
    ))

  it.scoped("a 200 whose body is one unframed JSON completion (a server ignoring stream: true) is read as one event", () =>
    withServer((server, client) =>
      Effect.gen(function*() {
        server.enqueue({
          headers: { "content-type": "application/json" },
          body: fixtureText(vao + "openai/openai-text.json")
        })
        const { exit, finish, text, usages } = yield* runStream(client, targetOf(server))
        assert.isTrue(Exit.isSuccess(exit))
        assert.isTrue(text.startsWith("**Holiday Name:**"))
        assert.deepStrictEqual(finish, ["stop"])
        assert.deepStrictEqual(plainUsage(usages.at(-1)), { input: 16, output: 363, total: 379 })
      })
    ))
})

describe("openai streams: errors after HTTP 200", () => {
  const deltaChunks = () =>
    framed(vai + "openai-text.chunks.txt", { done: false }).split("\n\n").slice(0, 3).join("\n\n")

  const cases: ReadonlyArray<readonly [string, string, LLMError["_tag"], string, number]> = [
    [
      "OpenAI / vLLM data: {\"error\"} server_error",
      `data: {"error":{"message":"The server had an error while processing your request.","type":"server_error","param":null,"code":null}}\n\n`,
      "RetryableError",
      "server_error",
      500
    ],
    [
      "an overload object",
      `data: {"error":{"message":"The engine is currently overloaded, please try again later","type":"server_error","code":"server_is_overloaded"}}\n\n`,
      "RetryableError",
      "overloaded",
      500
    ],
    [
      "OpenRouter's documented error chunk with finish_reason error",
      `data: {"id":"cmpl-abc123","object":"chat.completion.chunk","created":1234567890,"model":"gpt-3.5-turbo","provider":"openai","error":{"code":"server_error","message":"Provider disconnected unexpectedly"},"choices":[{"index":0,"delta":{"content":""},"finish_reason":"error"}]}\n\n`,
      "RetryableError",
      "server_error",
      500
    ],
    [
      "a numeric OpenRouter code",
      `data: {"error":{"code":429,"message":"Rate limit exceeded upstream"},"choices":[{"index":0,"delta":{"content":""},"finish_reason":null}]}\n\n`,
      "RateLimitError",
      "rate_limited",
      429
    ],
    [
      "Groq's event: error with status_code 503",
      `event: error\ndata: {"error":{"message":"Service Unavailable","type":"internal_server_error","status_code":503}}\n\n`,
      "RetryableError",
      "server_error",
      503
    ],
    [
      "Ollama's string-shaped error",
      `data: {"error":"the model failed to generate a response"}\n\n`,
      "RetryableError",
      "server_error",
      500
    ],
    [
      "vLLM's flat error object with an integer code",
      `data: {"object":"error","message":"This model's maximum context length is 4096 tokens.","type":"BadRequestError","param":null,"code":400}\n\n`,
      "FatalError",
      "invalid_request",
      400
    ],
    [
      "a string code that names the request's own failure (Groq's tool_use_failed), no status, no type",
      `data: {"error":{"message":"Failed to call a function. Please adjust your prompt.","code":"tool_use_failed"}}\n\n`,
      "FatalError",
      "invalid_request",
      400
    ],
    [
      "a quota error",
      `data: {"error":{"message":"You exceeded your current quota, please check your plan and billing details.","type":"insufficient_quota","code":"insufficient_quota"}}\n\n`,
      "RateLimitError",
      "quota_exhausted",
      429
    ]
  ]

  for (const [name, event, tag, reason, status] of cases) {
    it.scoped(`${name}: before any delta and after three, classified the same`, () =>
      withServer((server, client) =>
        Effect.gen(function*() {
          server.enqueue(replaySse(event), replaySse(`${deltaChunks()}\n\n${event}`, { chunkSizes: [1, 7, 300] }))
          const before = yield* runStream(client, targetOf(server))
          assert.strictEqual(before.deltas.length, 0)
          expectError(failureOf(before.exit), tag, reason, status)
          const after = yield* runStream(client, targetOf(server))
          assert.deepStrictEqual(after.deltas, ["**", "Holiday"])
          assert.deepStrictEqual(after.finish, [])
          expectError(failureOf(after.exit), tag, reason, status)
          // one wording: what was sent, a colon, then the service's code and words
          assert.match(failureOf(after.exit).message, /\(endpoint "[^"]+"\) sent an error (event )?mid-stream: [^:]/)
        })
      ))
  }

  it.scoped("a rate-limit error inside a 200 is waited by the schedule, not by that 200's x-ratelimit-reset headers", () =>
    withServer((server, client) =>
      Effect.gen(function*() {
        // the headers of a real 200 (simonw-llm test_tool_use_basic): reset times of a quota far from spent
        const successHeaders = {
          ...sse,
          "x-ratelimit-limit-requests": "30000",
          "x-ratelimit-remaining-requests": "29999",
          "x-ratelimit-reset-requests": "2ms",
          "x-ratelimit-reset-tokens": "0s"
        }
        server.enqueue(replaySse(
          `data: {"error":{"message":"Rate limit reached for requests","type":"requests","code":"rate_limit_exceeded"}}\n\n`,
          { headers: successHeaders }
        ))
        const { exit } = yield* runStream(client, targetOf(server))
        const error = failureOf(exit)
        expectError(error, "RateLimitError", "rate_limited", 429)
        assert.isUndefined((error as { readonly retryAfter?: unknown }).retryAfter)
      })
    ))

  it.scoped("an error event's message never holds the key it quotes", () =>
    withServer((server, client) =>
      Effect.gen(function*() {
        server.enqueue(replaySse(
          `data: {"error":{"message":"Incorrect API key provided: sk-test-********************************cdef.","type":"invalid_request_error","code":"invalid_api_key"}}\n\n`
        ))
        const error = failureOf((yield* runStream(client, targetOf(server))).exit)
        expectError(error, "FatalError", "authentication")
        assert.notInclude(error.message, "sk-test-")
        assert.notInclude(error.message, "cdef")
      })
    ))

  it.scoped("a non-200 stream answer fails the open, whatever the body's framing", () =>
    withServer((server, client) =>
      Effect.gen(function*() {
        server.enqueue(
          {
            status: 429,
            headers: { "content-type": "application/json", "retry-after-ms": "1500" },
            body: `{"error":{"message":"Rate limit reached","type":"requests","code":"rate_limit_exceeded"}}`
          },
          {
            status: 400,
            headers: sse,
            body:
              `data: {"error":{"message":"bad","type":"invalid_request_error","code":"context_length_exceeded"}}\n\n`
          },
          { status: 503, headers: { "content-type": "text/html" }, body: "<html>503 Service Unavailable</html>" }
        )
        const open = () => Effect.flip(Effect.scoped(client.stream(targetOf(server), hello)))
        expectError(yield* open(), "RateLimitError", "rate_limited", 429)
        expectError(yield* open(), "FatalError", "invalid_request", 400)
        expectError(yield* open(), "RetryableError", "server_error", 503)
      })
    ))

  it.scoped(
    "a consumer that stops early closes the HTTP connection",
    () =>
      withServer((server, client) =>
        Effect.gen(function*() {
          server.enqueue({ headers: sse, body: [`${deltaChunks()}\n\n`], end: "hang" })
          const first = yield* Effect.scoped(
            Effect.flatMap(
              client.stream(targetOf(server), hello),
              (stream) =>
                Stream.runCollect(Stream.takeUntil(stream, (part) => part._tag === "TextDelta")).pipe(
                  Effect.map((parts) => partsOf([...parts], "TextDelta").map((part) => part.text))
                )
            )
          )
          assert.deepStrictEqual(first, ["**"])
          const closed = yield* Effect.promise(() => server.requests[0]!.socketClosed.then(() => true)).pipe(
            Effect.timeoutTo({ duration: "2 seconds", onSuccess: (ok) => ok, onTimeout: () => false })
          )
          assert.isTrue(closed, "the server saw the socket close")
        })
      ),
    { timeout: 10_000 }
  )

  it.scoped("a 10,000-chunk stream decodes completely", () =>
    withServer((server, client) =>
      Effect.gen(function*() {
        const chunk = (i: number) =>
          `data: {"id":"c","object":"chat.completion.chunk","model":"m","choices":[{"index":0,"delta":{"content":"t${i} "},"finish_reason":null}],"usage":null}\n\n`
        const body = Array.from({ length: 10_000 }, (_, i) => chunk(i + 1)).join("") +
          `data: {"id":"c","choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"usage":null}\n\n` +
          `data: {"id":"c","choices":[],"usage":{"prompt_tokens":8,"completion_tokens":20000,"total_tokens":20008}}\n\n` +
          `data: [DONE]\n\n`
        server.enqueue(Loopback.replay(new TextEncoder().encode(body), { chunkSizes: [16_384] }))
        const { deltas, exit, usages } = yield* runStream(client, targetOf(server))
        assert.isTrue(Exit.isSuccess(exit))
        assert.strictEqual(deltas.length, 10_000)
        assert.strictEqual(usages.at(-1)!.outputTokens, 20_000)
      })
    ))
})

describe("openai stream chunk guards", () => {
  const isSchema = Schema.is(Response.Completion)
  const decodeSchema = Schema.decodeUnknownEither(Response.Completion)

  /** Every chunk of the recordings and the unary bodies. */
  const recordedPayloads = (): Array<unknown> => {
    const out: Array<unknown> = []
    for (const { body } of recordedStreams()) {
      for (const line of body.split(/\r?\n/)) {
        if (line.startsWith("data:") && !line.includes("[DONE]")) out.push(JSON.parse(line.slice(5)))
      }
    }
    for (
      const name of [
        "openai/openai-text.json",
        "deepseek/deepseek-text.json",
        "deepseek/deepseek-reasoning.json",
        "groq/groq-text.json"
      ]
    ) out.push(JSON.parse(fixtureText(vao + name)))
    out.push(JSON.parse(fixtureText("vercel-ai/alibaba/alibaba-text.json")))
    // Tool calls (fragments, whole calls, `"id": ""` continuations) and refusals.
    for (
      const name of [
        "f82268f2fefd5cfbc7eeb59c297688be2f6ca0849a6e4f17851b517310841d9b.bin",
        "a247c49c5fcd492bfb7a02a3306ad615ed8d8f649888ebfddfbc3ee151f44d46.bin",
        "7e5ea4d12e7cc064399b6631415e65923f182256b6e6b752950a3aaa2ad2320a.bin",
        "173417d553406f034f643e5db3f8d591fb691ebac56f5ae39a22cc7d455c5353.bin"
      ]
    ) {
      for (const line of fixtureText(`openai-openai-python-tools/${name}`).split("\n")) {
        if (line.startsWith("data:") && !line.includes("[DONE]")) out.push(JSON.parse(line.slice(5)))
      }
    }
    for (const line of fixtureText("vercel-ai-tools/alibaba/alibaba-tool-call.chunks.txt").split("\n")) {
      if (line.trim().length > 0) out.push(JSON.parse(line))
    }
    for (const line of fixtureText(vao + "groq/groq-tool-call.chunks.txt").split("\n")) {
      if (line.trim().length > 0) out.push(JSON.parse(line))
    }
    out.push(JSON.parse(fixtureText("vercel-ai-tools/alibaba/alibaba-tool-call.json")))
    return out
  }

  /** Copies of `value` with one field at a time replaced by a value of another type (or null). */
  const mutations = (value: unknown): Array<unknown> => {
    const out: Array<unknown> = []
    const replacements = [null, 42, "text", true, [], {}]
    const walk = (node: unknown, rebuild: (replacement: unknown) => unknown, depth: number) => {
      for (const replacement of replacements) out.push(rebuild(replacement))
      if (depth > 6) return
      if (Array.isArray(node)) {
        node.slice(0, 2).forEach((item, index) =>
          walk(item, (r) => rebuild(node.map((x, i) => (i === index ? r : x))), depth + 1)
        )
      } else if (typeof node === "object" && node !== null) {
        for (const key of Object.keys(node)) {
          walk((node as Record<string, unknown>)[key], (r) => rebuild({ ...(node as object), [key]: r }), depth + 1)
        }
      }
    }
    walk(value, (r) => r, 0)
    return out
  }

  it("accept exactly what the Schema accepts, and the readers give the same answer on either value", () => {
    const payloads = [
      ...recordedPayloads(),
      // shapes no recording holds: Moonshot's usage in the choice (and its top-level cached_tokens),
      // Perplexity's `message` beside `delta`
      {
        id: "c1",
        model: "kimi-k2",
        choices: [{
          index: 0,
          delta: {},
          finish_reason: "stop",
          usage: { prompt_tokens: 9, completion_tokens: 2, total_tokens: 11, cached_tokens: 4 }
        }]
      },
      {
        id: "p1",
        model: "sonar",
        choices: [{
          index: 0,
          finish_reason: null,
          message: { role: "assistant", content: "Hi" },
          delta: { role: "assistant", content: "Hi" }
        }]
      }
    ]
    assert.isAbove(payloads.length, 500)
    let checked = 0
    // Every distinct payload shape once (the recordings repeat the same chunk shape hundreds of times).
    const seen = new Set<string>()
    for (const payload of payloads) {
      const shape = JSON.stringify(payload, (_, v) => (typeof v === "string" ? "" : typeof v === "number" ? 0 : v))
      if (seen.has(shape)) continue
      seen.add(shape)
      for (const candidate of [payload, ...mutations(payload)]) {
        const guard = Response.isCompletion(candidate)
        assert.strictEqual(guard, isSchema(candidate), JSON.stringify(candidate))
        const decoded = decodeSchema(candidate)
        if (guard && Either.isRight(decoded)) {
          const fixedId = () => "call_local"
          assert.deepStrictEqual(
            Response.answerOf(candidate, {}, fixedId),
            Response.answerOf(decoded.right, {}, fixedId)
          )
        }
        checked++
      }
    }
    assert.isAbove(checked, 2_000)
  })
})

describe("openai streams from DashScope's compatible mode", () => {
  it.effect("its native error frame (event:error with :HTTP_STATUS/429 and a Throttling code) is a RateLimitError with that status", () =>
    Effect.gen(function*() {
      const frame = Buffer.from(
        `event:error\n:HTTP_STATUS/429\ndata:{"code":"Throttling.RateQuota","message":"Requests rate limit exceeded, please try again later.","request_id":"r-1"}\n\n`,
        "utf8"
      )
      const exit = yield* OpenAIStream.decode(Stream.make(frame), context).pipe(Stream.runDrain, Effect.exit)
      expectError(failureOf(exit), "RateLimitError", "rate_limited", 429)
    }))

  it.effect("its native Arrearage frame (an account in arrears) is quota_exhausted, not a bad request", () =>
    Effect.gen(function*() {
      const frame = Buffer.from(
        `id:1\nevent:error\n:HTTP_STATUS/400\ndata:{"code":"Arrearage","message":"Access denied, please make sure your account is in good standing.","request_id":"r-1"}\n\n`,
        "utf8"
      )
      const exit = yield* OpenAIStream.decode(Stream.make(frame), context).pipe(Stream.runDrain, Effect.exit)
      expectError(failureOf(exit), "RateLimitError", "quota_exhausted", 400)
    }))
})

describe("openai streams: content moderation (README Streaming, WIRE.md §2.5, WIRE-openai-anthropic §1.8)", () => {
  const textChunk =
    `data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"Hel"},"finish_reason":null}],"usage":null}\n\n`
  const data = (error: Record<string, unknown>) => `data: ${JSON.stringify({ error })}\n\n`
  const moderations: ReadonlyArray<readonly [string, string]> = [
    [
      "OpenAI's in-band content_filter",
      data({ code: "content_filter", type: "invalid_request_error", message: "flagged" })
    ],
    [
      "OpenAI's in-band content_policy_violation",
      data({ code: "content_policy_violation", type: "invalid_request_error", message: "flagged" })
    ],
    [
      "Ark's OutputTextRiskDetection",
      data({ code: "OutputTextRiskDetection", type: "BadRequest", message: "risk", param: "" })
    ],
    [
      "DashScope compatible mode's data_inspection_failed",
      data({
        code: "data_inspection_failed",
        type: "data_inspection_failed",
        message: "Output data may contain inappropriate content."
      })
    ],
    [
      "DashScope's native DataInspectionFailed frame (event:error, :HTTP_STATUS/400)",
      `id:2\nevent:error\n:HTTP_STATUS/400\ndata:{"code":"DataInspectionFailed","message":"Output data may contain inappropriate content.","request_id":"r-1"}\n\n`
    ]
  ]
  const decode = (body: string) => collect(OpenAIStream.decode(Stream.make(Buffer.from(body, "utf8")), context))

  for (const [name, moderation] of moderations) {
    it.effect(`${name} after text ends the answer with finish filter, the text kept; before any text it is FatalError content_filter`, () =>
      Effect.gen(function*() {
        const after = yield* decode(textChunk + moderation)
        assert.isTrue(Exit.isSuccess(after.exit), String(after.exit))
        assert.strictEqual(after.text, "Hel")
        assert.deepStrictEqual(after.finish, ["filter"])
        const before = yield* decode(moderation)
        assert.deepStrictEqual(before.finish, [])
        expectError(failureOf(before.exit), "FatalError", "content_filter", 400)
      }))
  }

  it.effect("moderation ending the answer with usage beside it (OpenRouter's error chunk shape): the answer's usage is that", () =>
    Effect.gen(function*() {
      const filtered = yield* decode(
        textChunk +
          `data: ${
            JSON.stringify({
              error: { code: "content_filter", message: "flagged" },
              usage: { prompt_tokens: 43, completion_tokens: 10, total_tokens: 53 }
            })
          }\n\n`
      )
      assert.deepStrictEqual(filtered.finish, ["filter"])
      assert.deepStrictEqual(filtered.usages.map((usage) => [usage.inputTokens, usage.outputTokens]), [[43, 10]])
    }))

  it.effect("Mistral's Magistral deltas as content chunks: thinking chunks are reasoning deltas, text chunks the text", () =>
    Effect.gen(function*() {
      const chunk = (content: unknown, finish: string | null = null) =>
        `data: ${
          JSON.stringify({
            id: "m1",
            object: "chat.completion.chunk",
            model: "magistral-small-2509",
            choices: [{ index: 0, delta: { content }, finish_reason: finish }]
          })
        }\n\n`
      const streamed = yield* decode(
        chunk([{ type: "thinking", thinking: [{ type: "text", text: "a greeting" }] }]) +
          chunk([{ type: "text", text: "Hel" }]) + chunk("lo!") + chunk("", "stop") + "data: [DONE]\n\n"
      )
      assert.strictEqual(streamed.reasoning, "a greeting")
      assert.strictEqual(streamed.text, "Hello!")
      assert.deepStrictEqual(streamed.finish, ["stop"])
    }))

  it.effect("Moonshot's usage inside the finishing choice is the stream's usage, not left unreported", () =>
    Effect.gen(function*() {
      const chunk = (choice: Record<string, unknown>) =>
        `data: ${
          JSON.stringify({
            id: "chatcmpl-6810567267ee4600a3c3cd1d",
            object: "chat.completion.chunk",
            model: "kimi-k2-0905-preview",
            choices: [{ index: 0, ...choice }]
          })
        }\n\n`
      const streamed = yield* decode(
        chunk({ delta: { role: "assistant", content: "Hi" }, finish_reason: null }) +
          chunk({
            delta: {},
            finish_reason: "stop",
            usage: { prompt_tokens: 19, completion_tokens: 13, total_tokens: 32, cached_tokens: 16 }
          }) + "data: [DONE]\n\n"
      )
      assert.strictEqual(streamed.text, "Hi")
      assert.deepStrictEqual(
        streamed.usages.map((usage) => [usage.inputTokens, usage.outputTokens, usage.cachedInputTokens]),
        [[19, 13, 16]]
      )
    }))

  it.effect("Perplexity's chunks carry the text so far as `message` beside the new text as `delta`: the deltas are the text", () =>
    Effect.gen(function*() {
      const chunk = (soFar: string, delta: string, finish: string | null = null) =>
        `data: ${
          JSON.stringify({
            id: "b7c0e1f2",
            model: "sonar",
            object: "chat.completion.chunk",
            citations: ["https://example.com"],
            choices: [{
              index: 0,
              finish_reason: finish,
              message: { role: "assistant", content: soFar },
              delta: { role: "assistant", content: delta }
            }],
            ...(finish === null ? {} : { usage: { prompt_tokens: 5, completion_tokens: 3, total_tokens: 8 } })
          })
        }\n\n`
      const streamed = yield* decode(chunk("Hi", "Hi") + chunk("Hi there", " there") + chunk("Hi there", "", "stop"))
      assert.strictEqual(streamed.text, "Hi there")
      assert.deepStrictEqual(streamed.finish, ["stop"])
    }))

  it.effect("Zhipu's `sensitive` finish (moderation) is filter", () =>
    Effect.gen(function*() {
      const streamed = yield* decode(
        textChunk +
          `data: ${
            JSON.stringify({
              id: "z1",
              model: "glm-4.6",
              choices: [{ index: 0, delta: {}, finish_reason: "sensitive" }]
            })
          }\n\ndata: [DONE]\n\n`
      )
      assert.strictEqual(streamed.text, "Hel")
      assert.deepStrictEqual(streamed.finish, ["filter"])
    }))

  it.effect("llama.cpp's `error:` field then [DONE] (its 2025 builds) fails with the error it names, never an empty success", () =>
    Effect.gen(function*() {
      const tooLong =
        `error: {"code":400,"message":"the request exceeds the available context size","type":"invalid_request_error"}\n\ndata: [DONE]\n\n`
      const refused = yield* decode(tooLong)
      expectError(failureOf(refused.exit), "FatalError", "invalid_request", 400)
      assert.include(failureOf(refused.exit).message, "the request exceeds the available context size")
      const failed = yield* decode(
        textChunk + `error: {"code":500,"message":"Compute error.","type":"server_error"}\n\ndata: [DONE]\n\n`
      )
      assert.strictEqual(failed.text, "Hel")
      expectError(failureOf(failed.exit), "RetryableError", "server_error", 500)
    }))

  it.effect("a keep-alive comment the body ends with after the finish_reason, even unterminated, is no cut", () =>
    Effect.gen(function*() {
      const finishChunk =
        `data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"usage":{"prompt_tokens":5,"completion_tokens":2,"total_tokens":7}}\n\n`
      for (const end of [": keep-alive", ": keep-alive\n", ": OPENROUTER PROCESSING\n\n"]) {
        const result = yield* decode(textChunk + finishChunk + end)
        assert.isTrue(Exit.isSuccess(result.exit), `${JSON.stringify(end)}: ${String(result.exit)}`)
        assert.deepStrictEqual(result.finish, ["stop"])
      }
      // the first line of the next event cut short is a cut (it may have been the usage chunk)
      const cut = yield* decode(textChunk + finishChunk + "dat")
      expectError(failureOf(cut.exit), "RetryableError", "stream_interrupted")
    }))

  it.effect("an error after the finish_reason (bare data:{error}, Groq's event: error) leaves the answer whole, as a warning", () =>
    Effect.gen(function*() {
      const finishChunk =
        `data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"usage":{"prompt_tokens":5,"completion_tokens":2,"total_tokens":7}}\n\n`
      for (
        const late of [
          data({ code: 400, message: "Token limit reached" }),
          `event: error\ndata: {"error":{"message":"late failure","type":"invalid_request_error"},"status_code":400}\n\n`,
          `event: error\ndata: not json\n\n`
        ]
      ) {
        const result = yield* decode(textChunk + finishChunk + late + "data: [DONE]\n\n")
        assert.isTrue(Exit.isSuccess(result.exit), `${late}: ${String(result.exit)}`)
        assert.strictEqual(result.text, "Hel")
        assert.deepStrictEqual(result.finish, ["stop"])
        assert.strictEqual(result.usages.at(-1)?.outputTokens, 2)
        const warnings = partsOf(result.parts, "Warning")
        assert.strictEqual(warnings.length, 1, late)
        assert.include(warnings[0]!.message, "the answer stands")
      }
      // before the finish the same error fails the stream
      const early = yield* decode(textChunk + data({ code: 400, message: "Token limit reached" }))
      expectError(failureOf(early.exit), "FatalError", "invalid_request")
    }))

  it.effect("other in-band errors after text stay errors", () =>
    Effect.gen(function*() {
      const after = yield* decode(textChunk + data({ code: "invalid_api_key", message: "no" }))
      assert.deepStrictEqual(after.finish, [])
      expectError(failureOf(after.exit), "FatalError", "authentication")
    }))
})
