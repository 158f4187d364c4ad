/**
 * The simulator's OpenAI and Anthropic tool and JSON answers in their wire shapes (unary and SSE,
 * parallel calls, OpenAI index-keyed fragments, Anthropic `tool_use` blocks with `input_json_delta`s,
 * a JSON answer under a forced tool), and the 400s it gives for what the real services reject
 * (WIRE-tools-multimodal §3.7, §4.7).
 */
import { assert, describe, it } from "@effect/vitest"
import { afterAll, beforeAll, beforeEach } from "vitest"
import { checkRequest } from "../../src/simulator/AnthropicTools.js"
import * as Simulator from "../../src/simulator/Simulator.js"

let sim: Simulator.Simulator

beforeAll(async () => {
  sim = await Simulator.start({ keys: { openai: "o-key", anthropic: "a-key" } })
})
afterAll(() => sim.close())
beforeEach(() => sim.reset())

const post = (path: string, headers: Record<string, string>, body: unknown) =>
  fetch(sim.url + path, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify(body)
  })
const openai = (body: unknown) => post("/v1/chat/completions", { authorization: "Bearer o-key" }, body)
const anthropic = (body: object) =>
  post("/v1/messages", { "x-api-key": "a-key", "anthropic-version": "2023-06-01" }, { max_tokens: 256, ...body })

const calls = [{ name: "get_weather", arguments: { city: "Paris" } }, {
  name: "get_weather",
  arguments: "{\"city\": \"Oslo\"}"
}]
const dataOf = (text: string) =>
  text.split("\n").filter((line) => line.startsWith("data: ") && !line.includes("[DONE]")).map((line) =>
    JSON.parse(line.slice(6))
  )

describe("simulated OpenAI tool calls", () => {
  const ask = {
    model: "gpt-4o",
    messages: [{ role: "user", content: "Weather?" }],
    tools: [{ type: "function", function: { name: "get_weather", parameters: { type: "object" } } }]
  }

  it("unary: content null, tool_calls with compact or scripted arguments text, finish tool_calls", async () => {
    sim.script("default", { toolCalls: calls })
    const body = (await (await openai(ask)).json()) as any
    const choice = body.choices[0]
    assert.strictEqual(choice.finish_reason, "tool_calls")
    assert.isNull(choice.message.content)
    assert.deepStrictEqual(
      choice.message.tool_calls.map((call: any) => [call.type, call.function.name, call.function.arguments]),
      [["function", "get_weather", "{\"city\":\"Paris\"}"], ["function", "get_weather", "{\"city\": \"Oslo\"}"]]
    )
    assert.match(choice.message.tool_calls[0].id, /^call_[A-Za-z0-9]+$/)
    assert.notStrictEqual(choice.message.tool_calls[0].id, choice.message.tool_calls[1].id)
  })

  it("streamed: a first fragment with id, name and empty arguments, then pieces by index; finish tool_calls with an empty delta", async () => {
    sim.script("default", { toolCalls: calls })
    const chunks = dataOf(
      await (await openai({ ...ask, stream: true, stream_options: { include_usage: true } })).text()
    )
    const fragments = chunks.flatMap((chunk) => chunk.choices[0]?.delta?.tool_calls ?? [])
    assert.deepStrictEqual(fragments[0].function, { name: "get_weather", arguments: "" })
    assert.isString(fragments[0].id)
    const joined = (index: number) =>
      fragments.filter((f: any) => f.index === index).map((f: any) => f.function.arguments).join("")
    assert.strictEqual(joined(0), "{\"city\":\"Paris\"}")
    assert.strictEqual(joined(1), "{\"city\": \"Oslo\"}")
    assert.isAbove(fragments.length, 4)
    const finish = chunks.find((chunk) => chunk.choices[0]?.finish_reason != null)
    assert.deepStrictEqual(finish.choices[0].delta, {})
    assert.strictEqual(finish.choices[0].finish_reason, "tool_calls")
    assert.deepStrictEqual(chunks.at(-1).choices, [])
  })

  it("rejects a tool_choice without tools, an unknown tool, an unsupported audio format, a file that is no PDF data URL", async () => {
    const message = async (body: unknown) => {
      const response = await openai(body)
      assert.strictEqual(response.status, 400)
      return ((await response.json()) as any).error.message as string
    }
    assert.include(
      await message({ model: "gpt-4o", messages: ask.messages, tool_choice: "auto" }),
      "only allowed when 'tools' are specified"
    )
    assert.include(
      await message({ ...ask, tool_choice: { type: "function", function: { name: "nope" } } }),
      "no function named 'nope'"
    )
    const part = (content: unknown) => message({ model: "gpt-4o", messages: [{ role: "user", content: [content] }] })
    assert.include(await part({ type: "input_audio", input_audio: { data: "AAAA", format: "ogg" } }), "'wav' and 'mp3'")
    assert.include(await part({ type: "file", file: { file_data: "https://example.com/a.pdf" } }), "PDF")
    assert.include(
      await message({ model: "gpt-4o", messages: [{ role: "system", content: [{ type: "image_url" }] }] }),
      "Supported values are: 'text'"
    )
  })
})

describe("simulated Anthropic tool use", () => {
  const ask = {
    model: "claude-haiku-4-5",
    messages: [{ role: "user", content: "Weather?" }],
    tools: [{ name: "get_weather", input_schema: { type: "object" } }]
  }

  it("unary: tool_use blocks with their input objects, no empty text block, stop_reason tool_use", async () => {
    sim.script("default", { toolCalls: calls })
    const body = (await (await anthropic(ask)).json()) as any
    assert.strictEqual(body.stop_reason, "tool_use")
    assert.deepStrictEqual(body.content.map((block: any) => [block.type, block.name, block.input]), [
      ["tool_use", "get_weather", { city: "Paris" }],
      ["tool_use", "get_weather", { city: "Oslo" }]
    ])
    assert.match(body.content[0].id, /^toolu_/)
  })

  it("streamed: per block a start with input {}, an empty first partial_json, fragments, a stop; message_delta tool_use", async () => {
    sim.script("default", { toolCalls: calls, text: "Checking." })
    const events = dataOf(await (await anthropic({ ...ask, stream: true })).text())
    const starts = events.filter((event) => event.type === "content_block_start")
    assert.deepStrictEqual(starts.map((event) => [event.index, event.content_block.type]), [
      [0, "text"],
      [1, "tool_use"],
      [2, "tool_use"]
    ])
    assert.deepStrictEqual(starts[1].content_block.input, {})
    const json = (index: number) =>
      events.filter((event) => event.index === index && event.delta?.type === "input_json_delta")
    assert.strictEqual(json(1)[0].delta.partial_json, "")
    assert.strictEqual(json(1).map((event) => event.delta.partial_json).join(""), "{\"city\":\"Paris\"}")
    assert.strictEqual(json(2).map((event) => event.delta.partial_json).join(""), "{\"city\": \"Oslo\"}")
    assert.strictEqual(events.filter((event) => event.type === "content_block_stop").length, 3)
    assert.strictEqual(events.find((event) => event.type === "message_delta").delta.stop_reason, "tool_use")
  })

  it("a JSON answer under a forced tool is that tool's input", async () => {
    sim.script("default", { json: { city: "Paris" } })
    const body = (await (await anthropic({ ...ask, tool_choice: { type: "tool", name: "get_weather" } })).json()) as any
    assert.deepStrictEqual(body.content, [{
      type: "tool_use",
      id: body.content[0].id,
      name: "get_weather",
      input: { city: "Paris" }
    }])
    assert.strictEqual(body.stop_reason, "tool_use")
  })

  it("rejects bad tool names, a non-object input_schema, an unknown tool_choice, a bad image type, an output_config that is no json_schema", async () => {
    const message = async (body: object) => {
      const response = await anthropic(body)
      assert.strictEqual(response.status, 400)
      const error = ((await response.json()) as any).error
      assert.strictEqual(error.type, "invalid_request_error")
      return error.message as string
    }
    assert.include(
      await message({ ...ask, tools: [{ name: "get.weather", input_schema: { type: "object" } }] }),
      "tools.0.custom.name: String should match pattern"
    )
    assert.include(
      await message({ ...ask, tools: [{ name: "w", input_schema: { type: "string" } }] }),
      "input_schema.type: Input should be 'object'"
    )
    assert.include(await message({ ...ask, tool_choice: { type: "tool", name: "nope" } }), "'nope'")
    assert.include(await message({ ...ask, tool_choice: { type: "required" } }), "'auto', 'any', 'tool', 'none'")
    assert.include(
      await message({
        model: "claude-haiku-4-5",
        messages: [{
          role: "user",
          content: [{ type: "image", source: { type: "base64", media_type: "image/bmp", data: "AAAA" } }]
        }]
      }),
      "media_type"
    )
    assert.include(
      await message({ ...ask, output_config: { format: { type: "json_object" } } }),
      "output_config.format.type"
    )
    assert.include(
      await message({
        ...ask,
        output_config: { format: { type: "json_schema", schema: { type: "object", properties: {} } } }
      }),
      "'additionalProperties' must be explicitly set to false"
    )
  })
})

describe("simulated Anthropic document sources", () => {
  it("takes a plain-text document and refuses one whose text source names another type, as the service does", () => {
    const document = (source: Record<string, unknown>) => [{
      role: "user",
      content: [{ type: "document", source }, { type: "text", text: "Summarise." }]
    }]
    assert.notStrictEqual(
      typeof checkRequest(document({ type: "text", media_type: "text/plain", data: "notes" }), {}),
      "string"
    )
    assert.strictEqual(
      checkRequest(document({ type: "text", media_type: "text/markdown", data: "notes" }), {}),
      "messages.0.content.0.document.source.text.media_type: Input should be 'text/plain'"
    )
  })
})
