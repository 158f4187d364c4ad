/**
 * DashScope tool calls, JSON mode and multimodal input against recorded native traffic (cnblogs
 * dashscope-sdk captures): calls decoded unary and streamed (fragments by index, parallel calls, two
 * calls in one event, reasoning first), content arrays and usage of the multimodal endpoint, and the
 * request bodies of a tool round trip and of image and audio input compared with the recorded ones.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type { CallRequest, FilePart, Message, ToolCallPart, ToolDefinition } from "../../../src/domain/Prompt.js"
import { text } from "../../../src/domain/Prompt.js"
import * as Request from "../../../src/providers/dashscope/Request.js"
import type { ProviderTarget } from "../../../src/providers/Provider.js"
import * as Loopback from "../../support/LoopbackServer.js"
import { collect, minimalRequest, partsOf, plainUsage, targetOf, usage, withServer } from "./Harness.js"

const tools = "cnblogs-dashscope-sdk-tools/"
const raw = (name: string) => Loopback.readFixture(tools + name).toString("utf8").replace(/^\uFEFF/, "")
const recordedRequest = (name: string) => JSON.parse(raw(`${name}.request.body.json`))
const replay = (name: string, options: Loopback.ReplayOptions = {}) =>
  Loopback.replay(Buffer.from(raw(`${name}.response.body.txt`)), {
    headers: { "content-type": name.includes("nosse") ? "application/json" : "text/event-stream;charset=UTF-8" },
    ...options
  })

const target = (server: Loopback.LoopbackServer, modelId: string): ProviderTarget => ({
  ...targetOf(server),
  modelId
})

const image = (url: string): FilePart => ({ type: "file", mediaType: "image/*", data: { _tag: "url", url } })

const weather: ToolDefinition = {
  name: "get_current_weather",
  description: "获取现在的天气",
  parameters: {
    type: "object",
    properties: { location: { type: "string", description: "要获取天气的省市名称，例如浙江省杭州市" } },
    required: ["location"]
  }
}

const ask = (content: string): CallRequest => ({
  ...minimalRequest,
  messages: [{ role: "user", parts: [text(content)] }],
  tools: [weather]
})

describe("DashScope tool calls", () => {
  it.scoped("unary (qwen-max, forced): a call with its id, parsed params and the original arguments text, though finish_reason is stop", () =>
    withServer((server, client) =>
      Effect.gen(function*() {
        server.enqueue(replay("single-generation-message-with-tools-nosse"))
        const answer = yield* client.generate(target(server, "qwen-max"), {
          ...ask("杭州现在的天气如何？"),
          toolChoice: { tool: "get_current_weather" }
        })
        assert.strictEqual(answer.content, "")
        assert.strictEqual(answer.finishReason, "stop")
        assert.deepStrictEqual(answer.parts, [{
          type: "tool-call",
          id: "call_cec4c19d27624537b583af",
          name: "get_current_weather",
          params: { location: "浙江省杭州市" },
          metadata: { dashscope: { arguments: "{\"location\": \"浙江省杭州市\"}" } }
        }])
        assert.deepStrictEqual(plainUsage(answer.usage), usage(211, 8, 219))
        // The request as the .NET SDK sent it: tools in parameters, the forced tool as a function object.
        const sent = server.requests[0]!.json as any
        const recorded = recordedRequest("single-generation-message-with-tools-nosse")
        assert.deepStrictEqual(sent.parameters.tools, recorded.parameters.tools)
        assert.deepStrictEqual(sent.parameters.tool_choice, recorded.parameters.tool_choice)
        assert.strictEqual(sent.parameters.result_format, "message")
        assert.deepStrictEqual(sent.input, recorded.input)
      })
    ))

  for (const sizes of [undefined, [1], [3, 64]]) {
    it.scoped(`streamed parallel calls (qwen-max): assembled by index, emitted whole at the finish${sizes ? ` (reads of ${sizes.join("/")} bytes)` : ""}`, () =>
      withServer((server, client) =>
        Effect.gen(function*() {
          server.enqueue(
            replay("single-generation-message-with-parallel-tools-sse", { ...(sizes ? { chunkSizes: sizes } : {}) })
          )
          const result = yield* collect(
            yield* client.stream(target(server, "qwen-max"), ask("杭州和上海现在的天气如何？"))
          )
          assert.isTrue(Exit.isSuccess(result.exit))
          const toolCalls = partsOf(result.parts, "ToolCall").map((part) => part.call)
          assert.deepStrictEqual(toolCalls.map((call) => [call.id, call.name, call.params]), [
            ["call_29a870e7106f45deb8add3", "get_current_weather", { location: "浙江省杭州市" }],
            ["call_026e44bb31a74266949a20", "get_current_weather", { location: "上海市" }]
          ])
          assert.deepStrictEqual(toolCalls.map((call) => call.metadata?.dashscope?.arguments), [
            "{\"location\": \"浙江省杭州市\"}",
            "{\"location\": \"上海市\"}"
          ])
          assert.strictEqual(result.text, "")
          assert.deepStrictEqual(result.finish, ["other"])
          // The calls come with the last event (after its usage snapshot), before the finish.
          assert.deepStrictEqual(result.parts.slice(-4).map((part) => part._tag), [
            "Usage",
            "ToolCall",
            "ToolCall",
            "Finish"
          ])
          assert.deepStrictEqual(plainUsage(result.usages.at(-1)), usage(250, 37, 287))
        })
      ))
  }

  it.scoped("a finish_reason length that cut the second call's arguments leaves it out: the whole first call stays", () =>
    withServer((server, client) =>
      Effect.gen(function*() {
        const body = raw("single-generation-message-with-parallel-tools-sse.response.body.txt")
          .replace(`"arguments":" \\"上海市\\"}"`, `"arguments":" \\"上海"`)
          .replace(`"finish_reason":"tool_calls"`, `"finish_reason":"length"`)
        assert.include(body, `"finish_reason":"length"`)
        assert.notInclude(body, "上海市")
        server.enqueue(
          Loopback.replay(Buffer.from(body), { headers: { "content-type": "text/event-stream;charset=UTF-8" } })
        )
        const result = yield* collect(
          yield* client.stream(target(server, "qwen-max"), ask("杭州和上海现在的天气如何？"))
        )
        assert.isTrue(Exit.isSuccess(result.exit))
        assert.deepStrictEqual(partsOf(result.parts, "ToolCall").map((part) => part.call.params), [{
          location: "浙江省杭州市"
        }])
        assert.deepStrictEqual(result.finish, ["length"])
      })
    ))

  it.scoped("multimodal (qwen3.6-plus, thinking): reasoning deltas, then two calls — one event carried fragments of both", () =>
    withServer((server, client) =>
      Effect.gen(function*() {
        server.enqueue(replay("multimodal-generation-message-with-parallel-function-call-sse"))
        const request: CallRequest = {
          ...ask("根据杭州和上海现在的天气，以这张图片为参考，编一个 100 字以内的小故事"),
          messages: [{
            role: "user",
            parts: [
              image("https://dashscope.oss-cn-beijing.aliyuncs.com/images/dog_and_girl.jpeg"),
              text("根据杭州和上海现在的天气，以这张图片为参考，编一个 100 字以内的小故事")
            ]
          }]
        }
        const result = yield* collect(yield* client.stream(target(server, "qwen3.6-plus"), request))
        assert.isTrue(Exit.isSuccess(result.exit))
        assert.isAbove(result.reasoning.length, 10)
        assert.strictEqual(result.text, "")
        const toolCalls = partsOf(result.parts, "ToolCall").map((part) => part.call)
        assert.deepStrictEqual(toolCalls.map((call) => [call.id, call.params]), [
          ["call_aa99ad078f294a3d81da41d7", { location: "浙江省杭州市" }],
          ["call_aa8b6311567847e197e6ca7f", { location: "上海市" }]
        ])
        assert.deepStrictEqual(plainUsage(result.usages.at(-1)), usage(2807, 103, 2910))
        assert.strictEqual(result.usages.at(-1)!.reasoningTokens, 38)
        // Sent to the multimodal endpoint with the recorded request's messages and tools.
        const sent = server.requests[0]!
        assert.strictEqual(sent.url, Request.multimodalPath)
        const recorded = recordedRequest("multimodal-generation-message-with-parallel-function-call-sse")
        assert.deepStrictEqual((sent.json as any).input, recorded.input)
        assert.deepStrictEqual((sent.json as any).parameters.tools, recorded.parameters.tools)
        assert.strictEqual((sent.json as any).parameters.parallel_tool_calls, true)
      })
    ))
})

describe("DashScope tool round trips against recorded requests", () => {
  const history = (multimodal: boolean): Array<Message> => {
    const name = multimodal
      ? "multimodal-generation-message-with-tools-sse"
      : "single-generation-message-with-tools-sse"
    const recorded = recordedRequest(name).input.messages
    const assistant = recorded[1]
    const call = (body: any): ToolCallPart => ({
      type: "tool-call",
      id: body.id,
      name: body.function.name,
      params: JSON.parse(body.function.arguments),
      metadata: { dashscope: { arguments: body.function.arguments } }
    })
    const resultOf = (message: any) => typeof message.content === "string" ? message.content : message.content[0].text
    return [
      {
        role: "user",
        parts: multimodal
          ? [image(recorded[0].content[0].image), text(recorded[0].content[1].text)]
          : [text(recorded[0].content)]
      },
      { role: "assistant", parts: assistant.tool_calls.map(call) },
      {
        role: "tool",
        parts: recorded.slice(2).map((message: any, index: number) => ({
          type: "tool-result" as const,
          id: message.tool_call_id,
          name: assistant.tool_calls[index].function.name,
          result: resultOf(message),
          isFailure: false
        }))
      }
    ]
  }

  it("text endpoint (qwen-plus): assistant content \"\" with the calls as sent, one tool message per result", () => {
    const recorded = recordedRequest("single-generation-message-with-tools-sse")
    const body = Request.encode("qwen-plus", { ...minimalRequest, messages: history(false), tools: [weather] }, true)
    assert.deepStrictEqual(body.input, recorded.input)
    assert.deepStrictEqual(body.parameters.tools, recorded.parameters.tools)
    assert.deepStrictEqual(
      [body.parameters.parallel_tool_calls, body.parameters.incremental_output, body.parameters.result_format],
      [
        recorded.parameters.parallel_tool_calls,
        recorded.parameters.incremental_output,
        recorded.parameters.result_format
      ]
    )
  })

  it("results given out of call order (a loop appending them as they finished) are sent in call order, one tool message each", () => {
    const recorded = recordedRequest("single-generation-message-with-tools-sse")
    const [user, assistant, tools] = history(false)
    const reversed = { ...tools!, parts: [...(tools as { parts: ReadonlyArray<unknown> }).parts].reverse() }
    const split = (reversed.parts as ReadonlyArray<any>).map((part) => ({ role: "tool", parts: [part] }))
    for (const messages of [[user, assistant, reversed], [user, assistant, ...split]]) {
      const body = Request.encode("qwen-plus", { ...minimalRequest, messages: messages as any, tools: [weather] }, true)
      assert.deepStrictEqual(body.input, recorded.input)
    }
  })

  it.scoped("multimodal endpoint (qwen3.6-plus): content items, assistant [] with the calls, tool [{text}]; the answer's content arrays decode to text", () =>
    withServer((server, client) =>
      Effect.gen(function*() {
        server.enqueue(replay("multimodal-generation-message-with-tools-sse", { chunkSizes: [7, 300] }))
        const result = yield* collect(
          yield* client.stream(target(server, "qwen3.6-plus"), {
            ...minimalRequest,
            messages: history(true),
            tools: [weather]
          })
        )
        const recorded = recordedRequest("multimodal-generation-message-with-tools-sse")
        const sent = server.requests[0]!
        assert.strictEqual(sent.url, Request.multimodalPath)
        assert.deepStrictEqual((sent.json as any).input, recorded.input)
        assert.isTrue(Exit.isSuccess(result.exit))
        assert.isTrue(result.text.endsWith("完美的周末。"))
        assert.isAbove(result.reasoning.length, 100)
        assert.lengthOf(partsOf(result.parts, "ToolCall"), 0)
        assert.deepStrictEqual(result.finish, ["stop"])
        assert.deepStrictEqual(plainUsage(result.usages.at(-1)), usage(2891, 620, 3511))
      })
    ))

  it("a call whose params changed since it was decoded is sent as its params; without metadata as JSON", () => {
    const call = (params: unknown, original?: string): ToolCallPart => ({
      type: "tool-call",
      id: "call_1",
      name: "f",
      params,
      ...(original !== undefined ? { metadata: { dashscope: { arguments: original } } } : {})
    })
    assert.strictEqual(Request.argumentsOf(call({ a: 1 }, "{\"a\": 1}")), "{\"a\": 1}")
    assert.strictEqual(Request.argumentsOf(call({ a: 2 }, "{\"a\": 1}")), "{\"a\":2}")
    assert.strictEqual(Request.argumentsOf(call({ a: 1 })), "{\"a\":1}")
    assert.strictEqual(Request.argumentsOf(call({})), "{}")
  })
})

describe("DashScope structured output and multimodal input", () => {
  it.scoped("JSON mode (qwen-max): response_format json_object, the schema and the word JSON in the system text; the answer is the JSON text", () =>
    withServer((server, client) =>
      Effect.gen(function*() {
        server.enqueue(replay("single-generation-message-json-nosse"))
        const answer = yield* client.generate(target(server, "qwen-max"), {
          ...minimalRequest,
          messages: [{ role: "user", parts: [text("请问 1+1 是多少？用 JSON 格式输出。")] }],
          responseFormat: {
            type: "json",
            name: "Sum",
            schema: { type: "object", properties: { result: { type: "number" } }, required: ["result"] }
          }
        })
        assert.deepStrictEqual(JSON.parse(answer.content), { result: 2 })
        assert.isUndefined(answer.parts)
        const sent = server.requests[0]!.json as any
        const recorded = recordedRequest("single-generation-message-json-nosse")
        assert.deepStrictEqual(sent.parameters.response_format, recorded.parameters.response_format)
        assert.strictEqual(sent.input.messages[0].role, "system")
        assert.include(sent.input.messages[0].content, "JSON")
        assert.include(sent.input.messages[0].content, "\"required\":[\"result\"]")
        assert.deepStrictEqual(sent.input.messages.slice(1), recorded.input.messages)
      })
    ))

  it("JSON mode asks for the schema's root: an array schema is asked for as one JSON array, not an object", () => {
    const encoded = Request.encode("qwen-plus", {
      ...minimalRequest,
      responseFormat: { type: "json", name: "Names", schema: { type: "array", items: { type: "string" } } }
    }, false)
    assert.deepStrictEqual(encoded.parameters.response_format, { type: "json_object" })
    const system = encoded.input.messages[0]!.content as string
    assert.match(system, /^Answer with one JSON array and nothing else\. It must follow this JSON Schema: /)
    assert.notInclude(system, "JSON object")
  })

  it("a model that always thinks (QwQ, -thinking) gets the JSON instruction without response_format, which it refuses", () => {
    const request: CallRequest = {
      ...minimalRequest,
      responseFormat: { type: "json", name: "Sum", schema: { type: "object", properties: { n: { type: "number" } } } }
    }
    for (const modelId of ["qwq-plus", "qwen3-235b-a22b-thinking-2507", "QwQ-32B"]) {
      const encoded = Request.encode(modelId, request, false)
      assert.isUndefined(encoded.parameters.response_format, modelId)
      assert.match(encoded.input.messages[0]!.content as string, /^Answer with one JSON object/, modelId)
    }
    assert.deepStrictEqual(Request.encode("qwen-plus", request, false).parameters.response_format, {
      type: "json_object"
    })
  })

  it.scoped("an image URL to qwen-vl-plus: the recorded content items; the [{text}] answer and image usage (no total_tokens) decode", () =>
    withServer((server, client) =>
      Effect.gen(function*() {
        server.enqueue(replay("multimodal-generation-vl-nosse"))
        const recorded = recordedRequest("multimodal-generation-vl-nosse")
        const answer = yield* client.generate(target(server, "qwen-vl-plus"), {
          ...minimalRequest,
          system: "You are a helpful assistant.",
          messages: [{
            role: "user",
            parts: [
              image(recorded.input.messages[1].content[0].image),
              text(recorded.input.messages[1].content[1].text)
            ]
          }]
        })
        assert.strictEqual(answer.content, "海滩。")
        assert.deepStrictEqual(plainUsage(answer.usage), usage(3613, 3, 3616))
        assert.strictEqual(server.requests[0]!.url, Request.multimodalPath)
        assert.deepStrictEqual((server.requests[0]!.json as any).input, recorded.input)
      })
    ))

  it.scoped("an audio URL to qwen-audio-turbo: the recorded content items; audio tokens are part of the input", () =>
    withServer((server, client) =>
      Effect.gen(function*() {
        server.enqueue(replay("multimodal-generation-audio-nosse"))
        const recorded = recordedRequest("multimodal-generation-audio-nosse")
        const audio: FilePart = {
          type: "file",
          mediaType: "audio/wav",
          data: { _tag: "url", url: recorded.input.messages[1].content[0].audio }
        }
        const answer = yield* client.generate(target(server, "qwen-audio-turbo"), {
          ...minimalRequest,
          system: "You are a helpful assistant.",
          messages: [{ role: "user", parts: [audio, text(recorded.input.messages[1].content[1].text)] }]
        })
        assert.match(answer.content, /^这段音频在说中文/)
        assert.deepStrictEqual(plainUsage(answer.usage), usage(786, 38, 824))
        assert.deepStrictEqual((server.requests[0]!.json as any).input, recorded.input)
      })
    ))
})
