/**
 * The simulator's Gemini and DashScope tool and JSON answers in their wire shapes (unary and SSE,
 * parallel calls, Gemini 3 ids and signatures, DashScope fragments), and the 400s it gives for what
 * the real services reject (WIRE-tools-multimodal §1.9, §2.9).
 */
import { assert, describe, it } from "@effect/vitest"
import { afterAll, beforeAll, beforeEach } from "vitest"
import * as GeminiTools from "../../src/simulator/GeminiTools.js"
import * as Simulator from "../../src/simulator/Simulator.js"

let sim: Simulator.Simulator

beforeAll(async () => {
  sim = await Simulator.start({ keys: { google: "g-key", dashscope: "d-key" } })
})
afterAll(() => sim.close())
beforeEach(() => sim.reset())

const post = (path: string, headers: Record<string, string>, body: unknown) =>
  fetch(sim.url + path, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify(body)
  })

const gemini = (model: string, body: unknown, stream = false) =>
  post(`/v1beta/models/${model}:${stream ? "streamGenerateContent?alt=sse" : "generateContent"}`, {
    "x-goog-api-key": "g-key"
  }, body)

const qwen = (body: unknown, options: { stream?: boolean; multimodal?: boolean } = {}) =>
  post(`/api/v1/services/aigc/${options.multimodal === true ? "multimodal" : "text"}-generation/generation`, {
    authorization: "Bearer d-key",
    ...(options.stream === true ? { "x-dashscope-sse": "enable" } : {})
  }, body)

const weatherDeclaration = {
  name: "get_weather",
  parametersJsonSchema: { type: "object", properties: { city: { type: "string" } } }
}
const ask = {
  contents: [{ role: "user", parts: [{ text: "Weather?" }] }],
  tools: [{ functionDeclarations: [weatherDeclaration] }]
}
const calls = [{ name: "get_weather", arguments: { city: "Paris" } }, {
  name: "get_weather",
  arguments: { city: "Oslo" }
}]

const message = async (response: Response): Promise<string> => {
  const body = (await response.json()) as any
  return body.error?.message ?? body.message
}

describe("simulated Gemini tool calls", () => {
  it("unary: gemini-2.0 calls carry no id and no signature; 2.5 signs the first; 3 adds 8-character ids", async () => {
    const parts = async (model: string) => {
      sim.script("default", { toolCalls: calls })
      const body = (await (await gemini(model, ask)).json()) as any
      assert.strictEqual(body.candidates[0].finishReason, "STOP")
      assert.strictEqual(body.candidates[0].finishMessage, "Model generated function call(s).")
      return body.candidates[0].content.parts
    }
    const old = await parts("gemini-2.0-flash")
    assert.deepStrictEqual(old, [
      { functionCall: { name: "get_weather", args: { city: "Paris" } } },
      { functionCall: { name: "get_weather", args: { city: "Oslo" } } }
    ])
    const thinking = await parts("gemini-2.5-flash")
    assert.isString(thinking[0].thoughtSignature)
    assert.isUndefined(thinking[1].thoughtSignature)
    const three = await parts("gemini-3-pro-preview")
    assert.match(three[0].functionCall.id, /^[A-Za-z0-9]{8}$/)
    assert.notStrictEqual(three[0].functionCall.id, three[1].functionCall.id)
    assert.strictEqual(three[0].thoughtSignature, GeminiTools.signatureOf(three[0].functionCall))
  })

  it("streamed: one CRLF-framed chunk per whole call, then an empty text part with STOP", async () => {
    sim.script("default", { toolCalls: calls })
    const text = await (await gemini("gemini-3-pro-preview", ask, true)).text()
    const events = text.split("\r\n\r\n").filter((event) => event.length > 0).map((event) => JSON.parse(event.slice(6)))
    assert.lengthOf(events, 3)
    assert.deepStrictEqual(events[0].candidates[0].content.parts[0].functionCall.args, { city: "Paris" })
    assert.isUndefined(events[0].candidates[0].finishReason)
    assert.deepStrictEqual(events[2].candidates[0].content.parts, [{ text: "" }])
    assert.strictEqual(events[2].candidates[0].finishReason, "STOP")
  })

  it("a step's text comes before its calls (\"Let me check.\" then the call), unary and streamed", async () => {
    sim.script("default", { text: "Let me check.", toolCalls: calls.slice(0, 1) })
    const body = (await (await gemini("gemini-3-pro-preview", ask)).json()) as any
    const parts = body.candidates[0].content.parts
    assert.deepStrictEqual(parts[0], { text: "Let me check." })
    assert.strictEqual(parts[1].functionCall.name, "get_weather")
    sim.script("default", { text: "Let me check.", toolCalls: calls.slice(0, 1) })
    const text = await (await gemini("gemini-3-pro-preview", ask, true)).text()
    const events = text.split("\r\n\r\n").filter((event) => event.length > 0).map((event) => JSON.parse(event.slice(6)))
    assert.deepStrictEqual(events.map((event) => Object.keys(event.candidates[0].content.parts[0])[0]), [
      "text",
      "functionCall",
      "text"
    ])
  })

  it("json: the value's JSON text is the answer", async () => {
    sim.script("default", { json: { ok: true } })
    const body = (await (await gemini("gemini-2.5-flash", {
      contents: ask.contents,
      generationConfig: { responseMimeType: "application/json", responseJsonSchema: { type: "object" } }
    })).json()) as any
    assert.strictEqual(body.candidates[0].content.parts[0].text, "{\"ok\":true}")
  })

  it("rejects what Gemini rejects, with its messages", async () => {
    const rejected: Array<[string, unknown, string]> = [
      ["a function name with a space", {
        ...ask,
        tools: [{ functionDeclarations: [{ ...weatherDeclaration, name: "get weather" }] }]
      }, "Invalid function name"],
      ["JSON Schema keys in parameters", {
        ...ask,
        tools: [{ functionDeclarations: [{ name: "f", parameters: { $schema: "x", type: "object" } }] }]
      }, "Unknown name \"$schema\" at 'tools[0].function_declarations[0].parameters'"],
      ["both parameter forms", {
        ...ask,
        tools: [{ functionDeclarations: [{ ...weatherDeclaration, parameters: { type: "OBJECT" } }] }]
      }, "mutually exclusive"],
      ["an unknown mode", { ...ask, toolConfig: { functionCallingConfig: { mode: "REQUIRED" } } }, "mode"],
      ["a schema without the JSON mime type", {
        contents: ask.contents,
        generationConfig: { responseJsonSchema: { type: "object" } }
      }, "response_mime_type"],
      ["invalid inline base64", {
        contents: [{ role: "user", parts: [{ inlineData: { mimeType: "image/png", data: "not base64!" } }] }]
      }, "invalid argument"],
      ["an unsupported inline type", {
        contents: [{ role: "user", parts: [{ inlineData: { mimeType: "image/gif", data: "R0lGODlh" } }] }]
      }, "invalid argument"],
      ["a part with two data fields", {
        contents: [{ role: "user", parts: [{ text: "a", inlineData: { mimeType: "image/png", data: "AAAA" } }] }]
      }, "Oneof field 'data' is already set"],
      ["an unknown part key", { contents: [{ role: "user", parts: [{ txt: "a" }] }] }, "Unknown name \"txt\""],
      ["a response for no call", {
        contents: [...ask.contents, {
          role: "user",
          parts: [{ functionResponse: { name: "get_weather", response: { ok: 1 } } }]
        }]
      }, "comes immediately after a function call turn"],
      ["fewer responses than calls", {
        contents: [
          ...ask.contents,
          {
            role: "model",
            parts: [{ functionCall: { name: "get_weather", args: {} } }, {
              functionCall: { name: "get_weather", args: {} }
            }]
          },
          { role: "user", parts: [{ functionResponse: { name: "get_weather", response: { ok: 1 } } }] }
        ]
      }, "number of function response parts is equal to the number of function call parts"],
      ["a response that is not an object", {
        contents: [
          ...ask.contents,
          { role: "model", parts: [{ functionCall: { name: "get_weather", args: {} } }] },
          { role: "user", parts: [{ functionResponse: { name: "get_weather", response: "sunny" } }] }
        ]
      }, "function_response"]
    ]
    for (const [what, body, expected] of rejected) {
      const response = await gemini("gemini-2.5-flash", body)
      assert.strictEqual(response.status, 400, what)
      assert.include(await message(response), expected, what)
    }
  })

  it("Gemini 3: the current turn's first call must carry its signature (or the skip value); older turns are not checked", async () => {
    const call = { id: "AbCdEf12", name: "get_weather", args: { city: "Paris" } }
    const history = (signature: string | undefined, after: Array<unknown> = []) => ({
      ...ask,
      contents: [
        ...ask.contents,
        {
          role: "model",
          parts: [{ functionCall: call, ...(signature !== undefined ? { thoughtSignature: signature } : {}) }]
        },
        { role: "user", parts: [{ functionResponse: { id: call.id, name: call.name, response: { ok: 1 } } }] },
        ...after
      ]
    })
    const missing = await gemini("gemini-3-pro-preview", history(undefined))
    assert.strictEqual(missing.status, 400)
    assert.include(await message(missing), "missing a thought_signature")
    const forged = await gemini("gemini-3-pro-preview", history("Zm9yZ2Vk"))
    assert.include(await message(forged), "Corrupted thought signature")
    assert.strictEqual((await gemini("gemini-3-pro-preview", history(GeminiTools.signatureOf(call)))).status, 200)
    assert.strictEqual((await gemini("gemini-3-pro-preview", history(GeminiTools.skipSignatureValidator))).status, 200)
    // A new user question starts a new turn: the earlier unsigned call is history.
    const later = history(undefined, [
      { role: "model", parts: [{ text: "Sunny." }] },
      { role: "user", parts: [{ text: "And tomorrow?" }] }
    ])
    assert.strictEqual((await gemini("gemini-3-pro-preview", later)).status, 200)
    // Gemini 2.x does not check.
    assert.strictEqual((await gemini("gemini-2.5-flash", history(undefined))).status, 200)
  })
})

const tools = [{
  type: "function",
  function: { name: "get_weather", parameters: { type: "object", properties: { city: { type: "string" } } } }
}]
const qwenAsk = {
  model: "qwen-plus",
  input: { messages: [{ role: "user", content: "Weather?" }] },
  parameters: { result_format: "message", tools, incremental_output: true }
}

describe("simulated DashScope tool calls", () => {
  it("unary: tool_calls with ids, index and Qwen-style arguments text; content \"\" (text) or [] (multimodal)", async () => {
    sim.script("default", { toolCalls: calls })
    const body = (await (await qwen(qwenAsk)).json()) as any
    const choice = body.output.choices[0]
    assert.strictEqual(choice.finish_reason, "tool_calls")
    assert.strictEqual(choice.message.content, "")
    assert.deepStrictEqual(choice.message.tool_calls.map((call: any) => [call.index, call.type, call.function]), [
      [0, "function", { name: "get_weather", arguments: "{\"city\": \"Paris\"}" }],
      [1, "function", { name: "get_weather", arguments: "{\"city\": \"Oslo\"}" }]
    ])
    assert.match(choice.message.tool_calls[0].id, /^call_[0-9a-f]{22}$/)
    sim.script("default", { toolCalls: calls })
    const multimodal = (await (await qwen({
      ...qwenAsk,
      model: "qwen3-vl-plus",
      input: { messages: [{ role: "user", content: [{ text: "Weather?" }] }] }
    }, { multimodal: true })).json()) as any
    assert.deepStrictEqual(multimodal.output.choices[0].message.content, [])
  })

  it("a scripted arguments string is sent as it is (malformed JSON included), after the step's text", async () => {
    sim.script("default", { text: "好的", toolCalls: [{ name: "get_weather", arguments: "{\"city\": 杭州" }] })
    const choice = ((await (await qwen(qwenAsk)).json()) as any).output.choices[0]
    assert.strictEqual(choice.message.content, "好的")
    assert.strictEqual(choice.message.tool_calls[0].function.arguments, "{\"city\": 杭州")
  })

  it("streamed: fragments keyed by index, continuations with id \"\", finish_reason tool_calls on the last", async () => {
    sim.script("default", { toolCalls: calls })
    const text = await (await qwen(qwenAsk, { stream: true })).text()
    const events = text.split("\n\n").filter((event) => event.includes("data:"))
      .map((event) => JSON.parse(event.slice(event.indexOf("data:") + 5)))
    const fragments = events.map((event) => event.output.choices[0].message.tool_calls[0])
    assert.deepStrictEqual(fragments.map((fragment) => fragment.index), [0, 0, 1, 1])
    assert.deepStrictEqual(fragments.map((fragment) => fragment.id === ""), [false, true, false, true])
    assert.deepStrictEqual(
      [
        fragments[0].function.arguments + fragments[1].function.arguments,
        fragments[2].function.arguments + fragments[3].function.arguments
      ],
      ["{\"city\": \"Paris\"}", "{\"city\": \"Oslo\"}"]
    )
    assert.deepStrictEqual(events.map((event) => event.output.choices[0].finish_reason), [
      "null",
      "null",
      "null",
      "tool_calls"
    ])
  })

  it("rejects what DashScope rejects", async () => {
    const withCall = (argumentsText: string) => [
      { role: "user", content: "Weather?" },
      {
        role: "assistant",
        content: "",
        tool_calls: [{ id: "call_1", type: "function", function: { name: "get_weather", arguments: argumentsText } }]
      }
    ]
    const rejected: Array<[string, unknown, { multimodal?: boolean }, string]> = [
      [
        "non-JSON arguments",
        {
          ...qwenAsk,
          input: { messages: [...withCall("{city:"), { role: "tool", content: "sunny", tool_call_id: "call_1" }] }
        },
        {},
        "must be in JSON format"
      ],
      [
        "a call without a result",
        { ...qwenAsk, input: { messages: withCall("{}") } },
        {},
        "must be followed by tool messages"
      ],
      [
        "a tool message without tool_call_id",
        {
          ...qwenAsk,
          input: { messages: [...withCall("{}"), { role: "tool", content: "sunny" }] }
        },
        {},
        "tool_call_id"
      ],
      [
        "a tool message for no call",
        {
          ...qwenAsk,
          input: { messages: [{ role: "user", content: "hi" }, { role: "tool", content: "x", tool_call_id: "call_9" }] }
        },
        {},
        "must be a response to a preceding message"
      ],
      [
        "a tool_choice naming no tool",
        {
          ...qwenAsk,
          parameters: { ...qwenAsk.parameters, tool_choice: { type: "function", function: { name: "other" } } }
        },
        {},
        "not in tools"
      ],
      [
        "tools without the message format",
        {
          ...qwenAsk,
          parameters: { tools, result_format: "text" }
        },
        {},
        "result_format"
      ],
      [
        "json_object without the word json",
        {
          ...qwenAsk,
          parameters: { result_format: "message", response_format: { type: "json_object" } }
        },
        {},
        "must contain the word 'json'"
      ],
      [
        "string content on the multimodal endpoint",
        { ...qwenAsk, model: "qwen-vl-max" },
        { multimodal: true },
        "must be a list"
      ],
      [
        "an image that cannot be fetched",
        {
          ...qwenAsk,
          model: "qwen-vl-max",
          input: { messages: [{ role: "user", content: [{ image: "file:///tmp/a.png" }, { text: "?" }] }] }
        },
        { multimodal: true },
        "Failed to download multimodal content"
      ],
      [
        "a content item with two keys",
        {
          ...qwenAsk,
          model: "qwen-vl-max",
          input: { messages: [{ role: "user", content: [{ image: "https://x/a.png", text: "?" }] }] }
        },
        { multimodal: true },
        "must be a list"
      ]
    ]
    for (const [what, body, options, expected] of rejected) {
      const response = await qwen(body, options)
      assert.strictEqual(response.status, 400, what)
      assert.include(await message(response), expected, what)
    }
    // A JSON request that says so is accepted; so is a data: image on the multimodal endpoint.
    assert.strictEqual(
      (await qwen({
        ...qwenAsk,
        input: { messages: [{ role: "user", content: "Answer in JSON." }] },
        parameters: { result_format: "message", response_format: { type: "json_object" } }
      })).status,
      200
    )
    assert.strictEqual(
      (await qwen({
        ...qwenAsk,
        model: "qwen-vl-max",
        input: { messages: [{ role: "user", content: [{ image: "data:image/png;base64,AAAA" }, { text: "?" }] }] },
        parameters: { result_format: "message" }
      }, { multimodal: true })).status,
      200
    )
  })
})
