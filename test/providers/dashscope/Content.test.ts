/**
 * DashScope endpoints and content by model family, the refusals of what a model cannot carry, tool
 * choices, and tool loops through the simulator, which rejects what the real service rejects (a tool
 * message without `tool_call_id`, an unanswered call, arguments that are not JSON).
 */
import { NodeHttpClient } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Redacted from "effect/Redacted"
import type { CallRequest, FilePart, ToolCallPart, ToolDefinition } from "../../../src/domain/Prompt.js"
import { text } from "../../../src/domain/Prompt.js"
import * as DashScope from "../../../src/providers/dashscope/DashScope.js"
import * as Models from "../../../src/providers/dashscope/Models.js"
import * as Request from "../../../src/providers/dashscope/Request.js"
import type { ProviderTarget } from "../../../src/providers/Provider.js"
import * as Simulator from "../../../src/simulator/Simulator.js"
import { collect, minimalRequest, partsOf } from "./Harness.js"

const png = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
const file = (mediaType: string, data: FilePart["data"]): FilePart => ({ type: "file", mediaType, data })
const url = (value: string): FilePart["data"] => ({ _tag: "url", url: value })
const bytes = (base64: string): FilePart["data"] => ({ _tag: "base64", base64 })

const withUser = (...parts: Array<FilePart | ReturnType<typeof text>>): CallRequest => ({
  ...minimalRequest,
  messages: [{ role: "user", parts }]
})

const weather: ToolDefinition = {
  name: "get_weather",
  description: "The weather in a city",
  parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] }
}

describe("DashScope endpoints by model", () => {
  it("VL, QVQ, Audio and Omni models are multimodal-only; Qwen 3.5+ plus/flash only with files; others text", () => {
    const image = withUser(text("look"), file("image/png", bytes(png)))
    const cases: Array<[string, string, string]> = [
      ["qwen-vl-max", "multimodal-generation", "multimodal-generation"],
      ["qwen2.5-vl-72b-instruct", "multimodal-generation", "multimodal-generation"],
      ["qwen3-vl-plus", "multimodal-generation", "multimodal-generation"],
      ["qvq-max", "multimodal-generation", "multimodal-generation"],
      ["qwen-audio-turbo", "multimodal-generation", "multimodal-generation"],
      ["qwen3-omni-flash", "multimodal-generation", "multimodal-generation"],
      ["qwen3.6-plus", "text-generation", "multimodal-generation"],
      ["qwen3.5-flash-2026-02-23", "text-generation", "multimodal-generation"],
      ["qwen-plus", "text-generation", "text-generation"],
      ["qwen3-max", "text-generation", "text-generation"],
      ["deepseek-v3.2", "text-generation", "text-generation"]
    ]
    for (const [model, textOnly, withImage] of cases) {
      assert.strictEqual(
        Models.endpointOf(model, minimalRequest),
        textOnly,
        model
      )
      assert.strictEqual(Models.endpointOf(model, image), withImage, model)
    }
  })

  it("content items: bytes as a data URL, URLs as they are, audio and video by kind; system and text as [{text}]", () => {
    const body = Request.encode("qwen3-omni-flash", {
      ...withUser(
        file("image/png", bytes(png)),
        file("image/*", url("https://example.com/a.jpg")),
        file("audio/mp3", url("oss://bucket/a.mp3")),
        file("video/mp4", url("https://example.com/a.mp4")),
        text("what is this?")
      ),
      system: "Be brief."
    }, false)
    assert.deepStrictEqual(body.input.messages, [
      { role: "system", content: [{ text: "Be brief." }] },
      {
        role: "user",
        content: [
          { image: `data:image/png;base64,${png}` },
          { image: "https://example.com/a.jpg" },
          { audio: "oss://bucket/a.mp3" },
          { video: "https://example.com/a.mp4" },
          { text: "what is this?" }
        ]
      }
    ])
  })

  it("a file named by an oss:// URL (DashScope's temporary storage) goes with X-DashScope-OssResourceResolve: enable, as the SDK sends it", () => {
    const target: ProviderTarget = {
      provider: "dashscope",
      endpoint: { name: "ds", baseUrl: "http://127.0.0.1:1", region: undefined },
      modelId: "qwen3-vl-plus",
      apiKey: Redacted.make("sk-test"),
      headers: []
    }
    const headersOf = (request: CallRequest, streaming: boolean) =>
      Request.make(target, request, streaming).request.headers
    const oss = withUser(text("look"), file("image/png", url("oss://dashscope-instant/a.png")))
    assert.strictEqual(headersOf(oss, false)["x-dashscope-ossresourceresolve"], "enable")
    const streamed = headersOf(oss, true)
    assert.strictEqual(streamed["x-dashscope-ossresourceresolve"], "enable")
    assert.strictEqual(streamed["x-dashscope-sse"], "enable")
    const https = headersOf(withUser(text("look"), file("image/png", url("https://example.com/a.png"))), false)
    assert.isUndefined(https["x-dashscope-ossresourceresolve"])
  })

  it("refuses what a model cannot carry, naming the part, its media type and what the model takes", () => {
    const refused: Array<[string, CallRequest, string]> = [
      ["qwen-plus", withUser(text("look"), file("image/png", bytes(png))), "image/png"],
      ["qwen-vl-max", withUser(text("listen"), file("audio/wav", url("https://example.com/a.wav"))), "audio/wav"],
      ["qwen-audio-turbo", withUser(text("listen"), file("audio/wav", bytes("UklGRg=="))), "audio/wav"],
      [
        "qwen-vl-max",
        withUser(text("read"), file("application/pdf", url("https://example.com/a.pdf"))),
        "application/pdf"
      ],
      ["qwen3-vl-plus", withUser(text("look"), file("image/png", url("file:///tmp/a.png"))), "image/png"],
      ["qwen3-vl-plus", withUser(text("look"), file("image/*", bytes(png))), "image/*"],
      // an image URL whose path names a format the service does not take
      ["qwen-vl-plus", withUser(text("look"), file("image/*", url("https://example.com/a.GIF?v=1"))), "image/*"],
      ["qwen-vl-plus", withUser(text("look"), file("image/*", url("https://example.com/logo.svg"))), "image/*"],
      ["qwen3-vl-plus", withUser(text("watch"), file("video/mp4", bytes("AAAA"))), "video/mp4"]
    ]
    for (const [model, request, mediaType] of refused) {
      const error = DashScope.protocol.check(request, model)
      assert.strictEqual(error?.reason, "invalid_request", `${model} ${mediaType}`)
      assert.include(error?.message, "messages[0].content[1]")
      assert.include(error?.message, mediaType)
      assert.include(error?.message, model)
    }
    // a GIF is among the contract's image types but not the service's: the refusal names those it takes
    const gif = DashScope.protocol.check(withUser(text("look"), file("image/gif", bytes("R0lGOD"))), "qwen3-vl-plus")
    assert.include(gif?.message, "images as PNG, JPEG, WebP, BMP, TIFF or HEIC (not GIF)")
    // a family that takes no images is not told their formats
    const audioOnly = DashScope.protocol.check(
      withUser(text("look"), file("image/png", bytes(png))),
      "qwen-audio-turbo"
    )
    assert.notInclude(audioOnly?.message, "images as")
    assert.include(audioOnly?.message, "audio only by URL")
    assert.notInclude(audioOnly?.message, "video")
    assert.isUndefined(DashScope.protocol.check(withUser(file("image/webp", bytes(png))), "qwen3-vl-plus"))
    assert.isUndefined(
      DashScope.protocol.check(withUser(file("image/*", url(`data:image/png;base64,${png}`))), "qvq-max")
    )
    // An assistant turn is sent as its text: a file there is refused, not dropped.
    const assistantImage: CallRequest = {
      ...minimalRequest,
      messages: [
        { role: "user", parts: [text("draw it")] },
        { role: "assistant", parts: [text("here it is"), file("image/png", url("https://example.com/a.png"))] },
        { role: "user", parts: [text("thanks")] }
      ]
    }
    const inAssistant = DashScope.protocol.check(assistantImage, "qwen-vl-plus")
    assert.strictEqual(inAssistant?.reason, "invalid_request")
    assert.include(inAssistant?.message, "messages[1].content[1]")
    assert.include(inAssistant?.message, "assistant")
  })

  it("tools are refused for the families that do not call functions (older VL, QVQ, Audio), history included", () => {
    const tools = { ...withUser(file("image/png", bytes(png))), tools: [weather] }
    assert.include(DashScope.protocol.check(tools, "qwen-vl-max")?.message, "tools")
    assert.isUndefined(DashScope.protocol.check(tools, "qwen3-vl-plus"))
    assert.isUndefined(DashScope.protocol.check(tools, "qwen3.6-plus"))
    const history: CallRequest = {
      ...minimalRequest,
      messages: [
        { role: "user", parts: [text("hi")] },
        { role: "assistant", parts: [{ type: "tool-call", id: "call_1", name: "get_weather", params: {} }] },
        {
          role: "tool",
          parts: [{ type: "tool-result", id: "call_1", name: "get_weather", result: "sunny", isFailure: false }]
        }
      ]
    }
    assert.include(DashScope.protocol.check(history, "qwen-audio-turbo")?.message, "messages[1].content[0]")
  })

  it("tool choices: auto, none and one named tool are sent; required among several tools and a choice of several are refused", () => {
    const encode = (toolChoice: CallRequest["toolChoice"]) =>
      Request.encode("qwen-plus", { ...minimalRequest, tools: [weather, { ...weather, name: "b" }], toolChoice }, false)
        .parameters
    assert.strictEqual(encode("auto").tool_choice, "auto")
    assert.strictEqual(encode("auto").parallel_tool_calls, true)
    assert.strictEqual(encode("none").tool_choice, "none")
    assert.isUndefined(encode("none").parallel_tool_calls)
    assert.deepStrictEqual(encode({ tool: "b" }).tool_choice, { type: "function", function: { name: "b" } })
    assert.deepStrictEqual(encode({ oneOf: ["b"] }).tool_choice, { type: "function", function: { name: "b" } })
    assert.isUndefined(encode(undefined).tool_choice)
    // `required` with a single tool is that tool, forced.
    assert.deepStrictEqual(
      Request.encode("qwen-plus", { ...minimalRequest, tools: [weather], toolChoice: "required" }, false).parameters
        .tool_choice,
      { type: "function", function: { name: "get_weather" } }
    )
    assert.isUndefined(
      DashScope.protocol.check({ ...minimalRequest, tools: [weather], toolChoice: "required" }, "qwen-plus")
    )
    const request = (toolChoice: CallRequest["toolChoice"]) => ({
      ...minimalRequest,
      tools: [weather, { ...weather, name: "b" }],
      toolChoice
    })
    assert.include(DashScope.protocol.check(request("required"), "qwen-plus")?.message, "cannot be expressed")
    assert.include(
      DashScope.protocol.check(request({ oneOf: ["b", "get_weather"] }), "qwen-plus")?.message,
      "cannot be expressed"
    )
    assert.include(DashScope.protocol.check(request({ tool: "c" }), "qwen-plus")?.message, "\"c\"")
    assert.isUndefined(DashScope.protocol.check(request({ tool: "b" }), "qwen-plus"))
  })
})

it.layer(NodeHttpClient.layerUndici)("DashScope tool loops against the simulator", (it) => {
  const simulated = Effect.gen(function*() {
    const sim = yield* Simulator.make({ keys: { dashscope: "d-key" } })
    const client = yield* DashScope.make
    const target = (modelId: string): ProviderTarget => ({
      provider: "dashscope",
      endpoint: { name: "qwen-sim", baseUrl: sim.baseUrl("qwen-sim"), region: "cn" },
      modelId,
      apiKey: Redacted.make("d-key"),
      headers: []
    })
    return { sim, client, target }
  })

  const ask: CallRequest = {
    ...minimalRequest,
    messages: [{ role: "user", parts: [text("Weather in Hangzhou and Shanghai?")] }],
    tools: [weather],
    toolChoice: "auto"
  }

  const reply = (calls: ReadonlyArray<ToolCallPart>, request = ask): CallRequest => ({
    ...request,
    messages: [
      ...request.messages,
      { role: "assistant", parts: calls },
      {
        role: "tool",
        parts: calls.map((call) => ({
          type: "tool-result",
          id: call.id,
          name: call.name,
          result: { forecast: "cloudy" },
          isFailure: false
        }))
      }
    ]
  })

  const script = {
    toolCalls: [{ name: "get_weather", arguments: { city: "杭州" } }, {
      name: "get_weather",
      arguments: { city: "上海" }
    }]
  }

  it.scoped("text endpoint, unary: parallel calls with their arguments text, the results accepted, a final answer", () =>
    Effect.gen(function*() {
      const { client, sim, target } = yield* simulated
      sim.script("qwen-sim", script)
      const answer = yield* client.generate(target("qwen-plus"), ask)
      const calls = answer.parts!.filter((part): part is ToolCallPart => part.type === "tool-call")
      assert.deepStrictEqual(calls.map((call) => call.params), [{ city: "杭州" }, { city: "上海" }])
      assert.deepStrictEqual(calls.map((call) => call.metadata?.dashscope?.arguments), [
        "{\"city\": \"杭州\"}",
        "{\"city\": \"上海\"}"
      ])
      assert.match(calls[0]!.id, /^call_[0-9a-f]{22}$/)
      const final = yield* client.generate(target("qwen-plus"), reply(calls))
      assert.include(final.content, "forecast")
      const sent = sim.log("qwen-sim")[1]!.body as any
      // The original arguments text goes back unchanged.
      assert.strictEqual(sent.input.messages[1].tool_calls[0].function.arguments, "{\"city\": \"杭州\"}")
      assert.deepStrictEqual(sent.input.messages.slice(2).map((m: any) => m.tool_call_id), calls.map((c) => c.id))
    }))

  it.scoped("streamed on the multimodal endpoint (qwen3.6-plus with an image): fragments assembled, then a streamed answer", () =>
    Effect.gen(function*() {
      const { client, sim, target } = yield* simulated
      sim.script("qwen-sim", script)
      const request: CallRequest = {
        ...ask,
        messages: [{
          role: "user",
          parts: [file("image/png", bytes(png)), text("Weather in the places of this picture?")]
        }]
      }
      const model = target("qwen3.6-plus")
      const first = yield* collect(yield* client.stream(model, request))
      assert.isTrue(Exit.isSuccess(first.exit))
      const calls = partsOf(first.parts, "ToolCall").map((part) => part.call)
      assert.deepStrictEqual(calls.map((call) => call.params), [{ city: "杭州" }, { city: "上海" }])
      assert.strictEqual(sim.log("qwen-sim")[0]!.path, `/qwen-sim${Request.multimodalPath}`)
      const second = yield* collect(yield* client.stream(model, reply(calls, request)))
      assert.isTrue(Exit.isSuccess(second.exit))
      assert.include(second.text, "forecast")
      const sent = sim.log("qwen-sim")[1]!.body as any
      assert.deepStrictEqual(sent.input.messages[1].content, [])
      assert.deepStrictEqual(sent.input.messages[2].content, [{ text: "{\"forecast\":\"cloudy\"}" }])
    }))

  it.scoped("the service's 400s: non-JSON arguments, a missing result, a tool message without tool_call_id", () =>
    Effect.gen(function*() {
      const { client, sim, target } = yield* simulated
      const model = target("qwen-plus")
      const broken: ToolCallPart = { type: "tool-call", id: "call_1", name: "get_weather", params: "{\"city\": 杭州" }
      const error = yield* Effect.flip(client.generate(model, reply([broken])))
      assert.strictEqual(error._tag, "FatalError")
      assert.strictEqual((error as { reason: string }).reason, "invalid_request")
      assert.include(error.message, "JSON format")
      const unanswered: CallRequest = {
        ...ask,
        messages: [...ask.messages, { role: "assistant", parts: [{ ...broken, params: { city: "杭州" } }] }]
      }
      assert.include((yield* Effect.flip(client.generate(model, unanswered))).message, "tool_call_id")
      const raw = Request.encode("qwen-plus", reply([{ ...broken, params: { city: "杭州" } }]), false)
      const withoutId = {
        ...raw,
        input: { messages: raw.input.messages.map(({ tool_call_id: _, ...message }) => message) }
      }
      const response = yield* Effect.promise(() =>
        fetch(sim.baseUrl("qwen-sim") + Request.generationPath, {
          method: "POST",
          headers: { "content-type": "application/json", authorization: "Bearer d-key" },
          body: JSON.stringify(withoutId)
        })
      )
      assert.strictEqual(response.status, 400)
      assert.include(((yield* Effect.promise(() => response.json())) as any).message, "tool_call_id")
    }))

  it.scoped("JSON mode: the json step's answer; json_object without the word json is the documented 400", () =>
    Effect.gen(function*() {
      const { client, sim, target } = yield* simulated
      sim.script("qwen-sim", { json: { city: "杭州", celsius: 18 } })
      const answer = yield* client.generate(target("qwen-plus"), {
        ...minimalRequest,
        responseFormat: { type: "json", name: "Weather", schema: { type: "object" } }
      })
      assert.deepStrictEqual(JSON.parse(answer.content), { city: "杭州", celsius: 18 })
      const response = yield* Effect.promise(() =>
        fetch(sim.baseUrl("qwen-sim") + Request.generationPath, {
          method: "POST",
          headers: { "content-type": "application/json", authorization: "Bearer d-key" },
          body: JSON.stringify({
            model: "qwen-plus",
            input: { messages: [{ role: "user", content: "1+1?" }] },
            parameters: { result_format: "message", response_format: { type: "json_object" } }
          })
        })
      )
      assert.strictEqual(response.status, 400)
      assert.include(((yield* Effect.promise(() => response.json())) as any).message, "must contain the word 'json'")
    }))
})
