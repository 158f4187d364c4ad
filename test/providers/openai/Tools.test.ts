/**
 * Chat Completions tool calls and structured output against recorded traffic (openai-python's
 * gpt-4o SSE bodies, the AI SDK's DashScope-compatible and Groq captures): calls decoded unary and
 * streamed (fragments by index from any read size, parallel calls, `"id": ""` continuations, a whole
 * call in one chunk), a strict json_schema answer streamed as text, a refusal as `filter`; and the
 * request bodies of tools, every tool choice and JSON output, in the WIRE notes' shapes.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type { CallRequest, JsonSchema, ToolCallPart, ToolDefinition } from "../../../src/domain/Prompt.js"
import { text } from "../../../src/domain/Prompt.js"
import * as OpenAI from "../../../src/providers/openai/OpenAI.js"
import * as Request from "../../../src/providers/openai/Request.js"
import { isStrict } from "../../../src/providers/openai/Strict.js"
import * as Loopback from "../../support/LoopbackServer.js"
import { framed, hello, json, partsOf, plainUsage, replaySse, runStream, targetOf, vao, withServer } from "./Harness.js"

const opy = "openai-openai-python-tools/"
const bin = (prefix: string) => {
  const names: Record<string, string> = {
    parallel: "f82268f2fefd5cfbc7eeb59c297688be2f6ca0849a6e4f17851b517310841d9b.bin",
    strictTool: "a247c49c5fcd492bfb7a02a3306ad615ed8d8f649888ebfddfbc3ee151f44d46.bin",
    jsonSchema: "7e5ea4d12e7cc064399b6631415e65923f182256b6e6b752950a3aaa2ad2320a.bin",
    refusal: "173417d553406f034f643e5db3f8d591fb691ebac56f5ae39a22cc7d455c5353.bin"
  }
  return Loopback.readFixture(opy + names[prefix]!).toString("utf8")
}
const vai = "vercel-ai-tools/"

const weatherArgs: ToolDefinition = {
  name: "GetWeatherArgs",
  description: undefined,
  parameters: {
    type: "object",
    properties: { city: { type: "string" }, country: { type: "string" }, units: { type: "string", enum: ["c", "f"] } },
    required: ["city", "country", "units"],
    additionalProperties: false
  }
}
const stock: ToolDefinition = {
  name: "get_stock_price",
  description: "Fetch the latest price for a given ticker",
  parameters: {
    type: "object",
    properties: { ticker: { type: "string" }, exchange: { type: "string" } },
    required: ["ticker", "exchange"],
    additionalProperties: false
  }
}
const ask: CallRequest = {
  ...hello,
  messages: [{ role: "user", parts: [text("What's the weather like in Edinburgh? and what's the price of AAPL?")] }],
  tools: [weatherArgs, stock]
}

const callsOf = (parts: ReadonlyArray<{ readonly _tag: string }>) =>
  partsOf(parts as any, "ToolCall").map((part) => part.call)

describe("OpenAI tool calls, recorded", () => {
  for (const sizes of [undefined, [1], [3, 64]]) {
    it.scoped(`streamed parallel calls (gpt-4o): assembled by index, whole at the finish${sizes ? ` (reads of ${sizes.join("/")} bytes)` : ""}`, () =>
      withServer((server, client) =>
        Effect.gen(function*() {
          server.enqueue(replaySse(bin("parallel"), sizes ? { chunkSizes: sizes } : {}))
          const result = yield* runStream(client, targetOf(server), ask)
          assert.isTrue(Exit.isSuccess(result.exit))
          const calls = callsOf(result.parts)
          assert.deepStrictEqual(calls.map((call) => [call.id, call.name, call.params]), [
            ["call_JMW1whyEaYG438VE1OIflxA2", "GetWeatherArgs", { city: "Edinburgh", country: "GB", units: "c" }],
            ["call_DNYTawLBoN8fj3KN6qU9N1Ou", "get_stock_price", { ticker: "AAPL", exchange: "NASDAQ" }]
          ])
          // The original arguments text is kept for the replay.
          assert.deepStrictEqual(calls.map((call) => call.metadata?.openai?.arguments), [
            "{\"city\": \"Edinburgh\", \"country\": \"GB\", \"units\": \"c\"}",
            "{\"ticker\": \"AAPL\", \"exchange\": \"NASDAQ\"}"
          ])
          assert.strictEqual(result.text, "")
          // finish_reason tool_calls is `other`; the calls come right before the usage chunk and the finish.
          assert.deepStrictEqual(result.finish, ["other"])
          assert.deepStrictEqual(result.parts.slice(-4).map((part) => part._tag), [
            "ToolCall",
            "ToolCall",
            "Usage",
            "Finish"
          ])
          assert.deepStrictEqual(plainUsage(result.usages.at(-1)), { input: 149, output: 60, total: 209 })
        })
      ))
  }

  it.scoped("streamed strict function tool (gpt-4o): one call", () =>
    withServer((server, client) =>
      Effect.gen(function*() {
        server.enqueue(replaySse(bin("strictTool")))
        const result = yield* runStream(client, targetOf(server), ask)
        assert.deepStrictEqual(callsOf(result.parts).map((call) => [call.id, call.name, call.params]), [
          ["call_CTf1nWJLqSeRgDqaCG27xZ74", "get_weather", { city: "San Francisco", state: "CA" }]
        ])
      })
    ))

  it.scoped("unary (DashScope compatible mode, qwen3-max): content \"\", a call with its index, finish tool_calls", () =>
    withServer((server, client) =>
      Effect.gen(function*() {
        server.enqueue(Loopback.replay(Loopback.readFixture(vai + "alibaba/alibaba-tool-call.json"), { headers: json }))
        const answer = yield* client.generate(targetOf(server), ask)
        assert.strictEqual(answer.content, "")
        assert.strictEqual(answer.finishReason, "other")
        assert.deepStrictEqual(answer.parts, [{
          type: "tool-call",
          id: "call_962bfd2ab8f54b89a1161356",
          name: "weather",
          params: { location: "San Francisco" },
          metadata: { openai: { arguments: "{\"location\": \"San Francisco\"}" } }
        }])
        assert.deepStrictEqual(plainUsage(answer.usage), { input: 295, output: 22, total: 317 })
      })
    ))

  it.scoped("streamed (DashScope compatible mode): `\"id\": \"\"` continuations keep the first id; an empty fragment without finish_reason", () =>
    withServer((server, client) =>
      Effect.gen(function*() {
        server.enqueue(replaySse(framed(vai + "alibaba/alibaba-tool-call.chunks.txt")))
        const result = yield* runStream(client, targetOf(server), ask)
        assert.isTrue(Exit.isSuccess(result.exit))
        assert.deepStrictEqual(callsOf(result.parts).map((call) => [call.id, call.name, call.params]), [
          ["call_eee11723464a4b9eb8cee71d", "weather", { location: "San Francisco" }]
        ])
      })
    ))

  it.scoped("streamed (Groq): a whole call in one chunk, usage in x_groq", () =>
    withServer((server, client) =>
      Effect.gen(function*() {
        server.enqueue(replaySse(framed(vao + "groq/groq-tool-call.chunks.txt")))
        const result = yield* runStream(client, targetOf(server), ask)
        assert.deepStrictEqual(callsOf(result.parts).map((call) => [call.id, call.name, call.params]), [
          ["tk85n1k4m", "weather", {}]
        ])
        assert.deepStrictEqual(result.finish, ["other"])
      })
    ))

  it.scoped("a finish_reason length that cut a call's arguments leaves that call out (a whole one before it stays), streamed and unary; the usage after it is read", () =>
    withServer((server, client) =>
      Effect.gen(function*() {
        const chunk = (body: Record<string, unknown>) =>
          `data: ${JSON.stringify({ id: "chatcmpl-1", object: "chat.completion.chunk", model: "gpt-4o", ...body })}\n\n`
        const fragment = (index: number, first: boolean, args: string) => ({
          index,
          ...(first ? { id: `call_${index}`, type: "function" } : {}),
          function: { ...(first ? { name: "GetWeatherArgs" } : {}), arguments: args }
        })
        server.enqueue(replaySse(
          chunk({
            choices: [{ index: 0, delta: { role: "assistant", tool_calls: [fragment(0, true, "{\"city\":")] } }]
          }) +
            chunk({ choices: [{ index: 0, delta: { tool_calls: [fragment(0, false, "\"Oslo\"}")] } }] }) +
            chunk({ choices: [{ index: 0, delta: { tool_calls: [fragment(1, true, "{\"city\":\"Os")] } }] }) +
            chunk({ choices: [{ index: 0, delta: {}, finish_reason: "length" }] }) +
            chunk({ choices: [], usage: { prompt_tokens: 3, completion_tokens: 512, total_tokens: 515 } }) +
            "data: [DONE]\n\n"
        ))
        const streamed = yield* runStream(client, targetOf(server), ask)
        assert.isTrue(Exit.isSuccess(streamed.exit))
        assert.deepStrictEqual(callsOf(streamed.parts).map((call) => [call.id, call.params]), [["call_0", {
          city: "Oslo"
        }]])
        assert.deepStrictEqual(streamed.finish, ["length"])
        assert.strictEqual(partsOf(streamed.parts, "Usage").at(-1)?.usage.outputTokens, 512)
        // the cut one is said, never run
        assert.deepStrictEqual(partsOf(streamed.parts, "Warning").map((part) => part.message), [
          `the output limit cut tool call "GetWeatherArgs" (call_1) before its arguments ended: it is left out of the answer and not run`
        ])

        const call = (id: string, args: string) => ({
          id,
          type: "function",
          function: { name: "GetWeatherArgs", arguments: args }
        })
        server.enqueue(Loopback.replay(
          Buffer.from(JSON.stringify({
            id: "chatcmpl-2",
            object: "chat.completion",
            model: "gpt-4o",
            choices: [{
              index: 0,
              message: {
                role: "assistant",
                content: null,
                tool_calls: [call("call_a", "{}"), call("call_b", "{\"ci")]
              },
              finish_reason: "length"
            }],
            usage: { prompt_tokens: 3, completion_tokens: 512, total_tokens: 515 }
          })),
          { headers: json }
        ))
        const answer = yield* client.generate(targetOf(server), ask)
        assert.strictEqual(answer.finishReason, "length")
        assert.deepStrictEqual(
          (answer.parts ?? []).filter((part) => part.type === "tool-call").map((part) => (part as ToolCallPart).id),
          ["call_a"]
        )
      })
    ))

  it.scoped("calls streamed without an index (a server that leaves it out): a new id starts a new call, continuations join the last", () =>
    withServer((server, client) =>
      Effect.gen(function*() {
        const chunk = (toolCalls: ReadonlyArray<Record<string, unknown>>, finish?: string) =>
          `data: ${
            JSON.stringify({
              id: "chatcmpl-3",
              object: "chat.completion.chunk",
              model: "gpt-4o",
              choices: [{ index: 0, delta: { tool_calls: toolCalls }, finish_reason: finish ?? null }]
            })
          }\n\n`
        const whole = (id: string, city: string) => ({
          id,
          type: "function",
          function: { name: "GetWeatherArgs", arguments: `{"city":"${city}"}` }
        })
        server.enqueue(replaySse(
          chunk([whole("call_sf", "SF")]) +
            chunk([whole("call_la", "LA")]) +
            // a call in pieces: its id and name first, then its arguments with no id
            chunk([{
              id: "call_ny",
              type: "function",
              function: { name: "GetWeatherArgs", arguments: "{\"city\":" }
            }]) +
            chunk([{ function: { arguments: "\"NY\"}" } }]) +
            chunk([], "tool_calls") +
            "data: [DONE]\n\n"
        ))
        const streamed = yield* runStream(client, targetOf(server), ask)
        assert.isTrue(Exit.isSuccess(streamed.exit))
        assert.deepStrictEqual(callsOf(streamed.parts).map((call) => [call.id, call.params]), [
          ["call_sf", { city: "SF" }],
          ["call_la", { city: "LA" }],
          ["call_ny", { city: "NY" }]
        ])
      })
    ))

  it.scoped("parallel calls all at index 0, each with its own id (Ollama's /v1): one call per id, in arrival order", () =>
    withServer((server, client) =>
      Effect.gen(function*() {
        const chunk = (toolCalls: ReadonlyArray<Record<string, unknown>>, finish?: string) =>
          `data: ${
            JSON.stringify({
              id: "chatcmpl-4",
              object: "chat.completion.chunk",
              model: "qwen3",
              choices: [{ index: 0, delta: { tool_calls: toolCalls }, finish_reason: finish ?? null }]
            })
          }\n\n`
        const call = (id: string | undefined, args: string) => ({
          index: 0,
          ...(id === undefined ? {} : { id, type: "function", function: { name: "GetWeatherArgs", arguments: args } }),
          ...(id === undefined ? { function: { arguments: args } } : {})
        })
        server.enqueue(replaySse(
          chunk([call("call_abc123", "{\"city\":\"SF\"}")]) +
            chunk([call("call_def456", "{\"city\":")]) +
            // a continuation repeating its call's id, then one with none: both join call_def456
            chunk([{ index: 0, id: "call_def456", function: { arguments: "\"L" } }]) +
            chunk([call(undefined, "A\"}")]) +
            chunk([], "tool_calls") +
            "data: [DONE]\n\n",
          { chunkSizes: [5] }
        ))
        const streamed = yield* runStream(client, targetOf(server), ask)
        assert.isTrue(Exit.isSuccess(streamed.exit))
        assert.deepStrictEqual(callsOf(streamed.parts).map((call) => [call.id, call.params]), [
          ["call_abc123", { city: "SF" }],
          ["call_def456", { city: "LA" }]
        ])
      })
    ))

  it.scoped("parallel calls whole at index 0 whose first has no arguments (\"\"): still one call per id", () =>
    withServer((server, client) =>
      Effect.gen(function*() {
        const chunk = (id: string | undefined, name: string | undefined, args: string | undefined) =>
          `data: ${
            JSON.stringify({
              id: "chatcmpl-6",
              object: "chat.completion.chunk",
              model: "qwen3",
              choices: [{
                index: 0,
                delta: { tool_calls: [{ index: 0, id, type: "function", function: { name, arguments: args } }] },
                finish_reason: null
              }]
            })
          }\n\n`
        const finished = `data: ${
          JSON.stringify({ id: "chatcmpl-6", choices: [{ index: 0, delta: {}, finish_reason: "tool_calls" }] })
        }\n\ndata: [DONE]\n\n`
        server.enqueue(
          replaySse(
            chunk("call_1", "now", "") + chunk("call_2", "later", "") + chunk("call_3", "b", "{\"x\":1}") + finished
          ),
          // the next call's name first, its arguments in later fragments: its own call, not the first's arguments
          replaySse(
            chunk("call_1", "now", "") + chunk("call_2", "get_weather", undefined) +
              chunk(undefined, undefined, "{\"city\":") + chunk(undefined, undefined, "\"SF\"}") + finished
          )
        )
        const streamed = yield* runStream(client, targetOf(server), ask)
        assert.isTrue(Exit.isSuccess(streamed.exit))
        assert.deepStrictEqual(callsOf(streamed.parts).map((call) => [call.id, call.name, call.params]), [
          ["call_1", "now", {}],
          ["call_2", "later", {}],
          ["call_3", "b", { x: 1 }]
        ])
        const nameFirst = yield* runStream(client, targetOf(server), ask)
        assert.deepStrictEqual(callsOf(nameFirst.parts).map((call) => [call.id, call.name, call.params]), [
          ["call_1", "now", {}],
          ["call_2", "get_weather", { city: "SF" }]
        ])
      })
    ))

  it.scoped("a call whose continuations carry another id (Poolside, older mlx-openai-server) stays one call", () =>
    withServer((server, client) =>
      Effect.gen(function*() {
        const chunk = (toolCalls: ReadonlyArray<Record<string, unknown>>, finish?: string) =>
          `data: ${
            JSON.stringify({
              id: "chatcmpl-5",
              object: "chat.completion.chunk",
              model: "malibu",
              choices: [{ index: 0, delta: { tool_calls: toolCalls }, finish_reason: finish ?? null }]
            })
          }\n\n`
        server.enqueue(replaySse(
          chunk([{ index: 0, id: "call_A", type: "function", function: { name: "GetWeatherArgs", arguments: "" } }]) +
            chunk([{ index: 0, id: "call_B", type: "function", function: { arguments: "{\"city\":" } }]) +
            // a server repeating the name under yet another id before the arguments are whole
            chunk([{
              index: 0,
              id: "call_C",
              type: "function",
              function: { name: "GetWeatherArgs", arguments: "\"SF\"}" }
            }]) +
            chunk([], "tool_calls") +
            "data: [DONE]\n\n"
        ))
        const streamed = yield* runStream(client, targetOf(server), ask)
        assert.isTrue(Exit.isSuccess(streamed.exit))
        assert.deepStrictEqual(callsOf(streamed.parts).map((call) => [call.id, call.name, call.params]), [
          ["call_A", "GetWeatherArgs", { city: "SF" }]
        ])
      })
    ))

  it.scoped("a changing-id server that repeats the name and sends the arguments whole: still one call", () =>
    withServer((server, client) =>
      Effect.gen(function*() {
        const chunk = (call: Record<string, unknown>) =>
          `data: ${
            JSON.stringify({
              id: "chatcmpl-7",
              object: "chat.completion.chunk",
              model: "malibu",
              choices: [{
                index: 0,
                delta: { tool_calls: [{ index: 0, type: "function", ...call }] },
                finish_reason: null
              }]
            })
          }\n\n`
        for (const header of [{ name: "get_weather", arguments: "" }, { name: "get_weather" }]) {
          server.enqueue(replaySse(
            chunk({ id: "call_A", function: header }) +
              chunk({ id: "call_B", function: { name: "get_weather", arguments: "{\"city\":\"SF\"}" } }) +
              `data: ${
                JSON.stringify({ id: "chatcmpl-7", choices: [{ index: 0, delta: {}, finish_reason: "tool_calls" }] })
              }\n\ndata: [DONE]\n\n`
          ))
          const streamed = yield* runStream(client, targetOf(server), ask)
          assert.deepStrictEqual(callsOf(streamed.parts).map((call) => [call.id, call.name, call.params]), [
            ["call_A", "get_weather", { city: "SF" }]
          ])
        }
      })
    ))

  it.scoped("structured output (gpt-4o, json_schema strict): the JSON streamed as text, finish stop", () =>
    withServer((server, client) =>
      Effect.gen(function*() {
        server.enqueue(replaySse(bin("jsonSchema"), { chunkSizes: [7] }))
        const result = yield* runStream(client, targetOf(server), {
          ...hello,
          responseFormat: { type: "json", name: "Location", schema: weatherArgs.parameters }
        })
        assert.deepStrictEqual(JSON.parse(result.text), { city: "San Francisco", temperature: 61, units: "f" })
        assert.deepStrictEqual(result.finish, ["stop"])
        assert.lengthOf(callsOf(result.parts), 0)
      })
    ))

  it.scoped("a refusal (delta.refusal pieces, finish stop) is a `filter` finish with no text", () =>
    withServer((server, client) =>
      Effect.gen(function*() {
        server.enqueue(replaySse(bin("refusal")))
        const result = yield* runStream(client, targetOf(server), hello)
        assert.strictEqual(result.text, "")
        assert.deepStrictEqual(result.finish, ["filter"])
        server.enqueue(Loopback.replay(
          Buffer.from(JSON.stringify({
            choices: [{
              message: { role: "assistant", content: null, refusal: "I'm very sorry, but I can't assist with that." },
              finish_reason: "stop"
            }]
          })),
          { headers: json }
        ))
        const answer = yield* client.generate(targetOf(server), hello)
        assert.strictEqual(answer.finishReason, "filter")
        assert.strictEqual(answer.content, "")
      })
    ))
})

describe("OpenAI tool requests", () => {
  const body = (request: CallRequest, baseUrl = "https://api.openai.com/v1") =>
    Request.encode(
      "gpt-4o",
      request,
      false,
      "max_completion_tokens",
      Request.jsonMode({ name: "e", baseUrl, region: undefined })
    ) as any

  it("tools as function tools (WIRE §3.1): name, description when given, parameters; no strict", () => {
    assert.deepStrictEqual(body(ask).tools, [
      { type: "function", function: { name: "GetWeatherArgs", parameters: weatherArgs.parameters } },
      {
        type: "function",
        function: {
          name: "get_stock_price",
          description: "Fetch the latest price for a given ticker",
          parameters: stock.parameters
        }
      }
    ])
    assert.isUndefined(body(hello).tools)
    assert.isUndefined(body(hello).tool_choice)
  })

  it("every tool choice: auto, none, required, one function; a choice of several is required over those only", () => {
    const choice = (toolChoice: CallRequest["toolChoice"]) => body({ ...ask, toolChoice })
    assert.strictEqual(choice("auto").tool_choice, "auto")
    assert.strictEqual(choice("none").tool_choice, "none")
    assert.strictEqual(choice("required").tool_choice, "required")
    assert.deepStrictEqual(choice({ tool: "get_stock_price" }).tool_choice, {
      type: "function",
      function: { name: "get_stock_price" }
    })
    assert.deepStrictEqual(choice({ oneOf: ["GetWeatherArgs"] }).tool_choice, {
      type: "function",
      function: { name: "GetWeatherArgs" }
    })
    const several = choice({ oneOf: ["GetWeatherArgs", "get_stock_price"] })
    assert.strictEqual(several.tool_choice, "required")
    assert.lengthOf(several.tools, 2)
    const third: ToolDefinition = { name: "third", description: undefined, parameters: { type: "object" } }
    const narrowed = body({ ...ask, tools: [...ask.tools!, third], toolChoice: { oneOf: ["third", "GetWeatherArgs"] } })
    assert.strictEqual(narrowed.tool_choice, "required")
    assert.deepStrictEqual(narrowed.tools.map((tool: any) => tool.function.name), ["GetWeatherArgs", "third"])
  })

  it("tool rules refused before any request: bad or repeated names, a choice naming no declared tool, an empty oneOf", () => {
    const check = (request: CallRequest) => OpenAI.protocol.check(request, "gpt-4o")
    assert.include(check({ ...ask, tools: [{ ...stock, name: "get.price" }] })?.message, "tools[0].name \"get.price\"")
    assert.include(check({ ...ask, tools: [stock, stock] })?.message, "declared twice")
    assert.include(check({ ...ask, toolChoice: { tool: "nope" } })?.message, "\"nope\", which is not a declared tool")
    assert.include(check({ ...ask, toolChoice: { oneOf: [] } })?.message, "names no tool")
    assert.include(check({ ...hello, toolChoice: "required" })?.message, "needs tools")
    assert.isUndefined(check({ ...ask, toolChoice: { oneOf: ["GetWeatherArgs", "get_stock_price"] } }))
  })

  it("json_schema: strict true for a schema that qualifies, false otherwise (an optional field, open objects, unsupported keywords)", () => {
    const format = (schema: JsonSchema) =>
      body({ ...hello, responseFormat: { type: "json", name: "Location", description: "a place", schema } })
        .response_format
    assert.deepStrictEqual(format(weatherArgs.parameters), {
      type: "json_schema",
      json_schema: { name: "Location", description: "a place", schema: weatherArgs.parameters, strict: true }
    })
    const optional = { ...weatherArgs.parameters, required: ["city"] }
    assert.strictEqual(format(optional).json_schema.strict, false)
    assert.strictEqual(
      format({ type: "object", properties: { a: { type: "string" } }, required: ["a"] }).json_schema.strict,
      false
    )
    const nested = {
      type: "object",
      properties: { place: { type: "object", properties: { name: { type: "string" } }, required: ["name"] } },
      required: ["place"],
      additionalProperties: false
    }
    assert.isFalse(isStrict(nested))
    assert.isTrue(
      isStrict({ ...nested, properties: { place: { ...nested.properties.place, additionalProperties: false } } })
    )
    assert.isFalse(
      isStrict({
        ...weatherArgs.parameters,
        properties: { city: { type: "string", minLength: 1 } },
        required: ["city"]
      })
    )
    assert.isFalse(isStrict({ type: "array", items: { type: "string" } }))
    // $schema is dropped (a draft marker), and does not stop a schema from qualifying.
    const marked = format({ $schema: "http://json-schema.org/draft-07/schema#", ...weatherArgs.parameters })
    assert.isTrue(marked.json_schema.strict)
    assert.isUndefined(marked.json_schema.schema.$schema)
    // A name OpenAI's rule refuses becomes `response`.
    assert.strictEqual(
      body({ ...hello, responseFormat: { type: "json", name: "a name", schema: weatherArgs.parameters } })
        .response_format.json_schema.name,
      "response"
    )
  })

  it("DeepSeek: JSON mode (json_object) with the word json and the schema in the system text", () => {
    const sent = body(
      {
        ...hello,
        system: "Be brief.",
        responseFormat: { type: "json", name: "Location", schema: weatherArgs.parameters }
      },
      "https://api.deepseek.com"
    )
    assert.deepStrictEqual(sent.response_format, { type: "json_object" })
    assert.strictEqual(sent.messages[0].role, "system")
    assert.match(sent.messages[0].content, /^Be brief\.\n\nAnswer with one JSON object/)
    assert.include(sent.messages[0].content, JSON.stringify(weatherArgs.parameters))
  })

  it("DashScope compatible mode: JSON mode, and for a model that thinks only its instruction (it refuses json_object); other hosts' JSON mode stays", () => {
    const ask = {
      ...hello,
      responseFormat: { type: "json" as const, name: "Location", schema: weatherArgs.parameters }
    }
    const sent = (modelId: string, endpoint: { readonly baseUrl: string; readonly jsonMode?: "json_object" }) => {
      const prepared = Request.make(
        {
          provider: "p",
          endpoint: { name: "e", region: undefined, ...endpoint },
          modelId,
          apiKey: undefined,
          headers: []
        },
        ask,
        false
      )
      return JSON.parse(new TextDecoder().decode((prepared.request.body as { body: Uint8Array }).body))
    }
    const dashScope = { baseUrl: "https://dashscope-intl.aliyuncs.com/compatible-mode/v1" }
    assert.deepStrictEqual(sent("qwen-max", dashScope).response_format, { type: "json_object" })
    for (const thinking of ["qwq-plus", "qwen3-32b", "qwen-plus-thinking-2025-07-28"]) {
      assert.isUndefined(sent(thinking, dashScope).response_format, thinking)
      assert.match(sent(thinking, dashScope).messages[0].content, /Answer with one JSON object/)
    }
    // JSON mode asked for elsewhere is sent, whatever the model's name says of its thinking
    for (
      const [model, baseUrl] of [
        ["kimi-k2-thinking", "https://api.moonshot.ai/v1"],
        ["qwen3-8b", "http://127.0.0.1:8000/v1"]
      ] as const
    ) {
      assert.deepStrictEqual(sent(model, { baseUrl, jsonMode: "json_object" }).response_format, { type: "json_object" })
    }
  })

  it("JSON mode goes by the provider entry named deepseek too, wherever it points; other names by the host", () => {
    const local = { name: "e", baseUrl: "http://127.0.0.1:8080", region: undefined }
    assert.strictEqual(Request.jsonMode(local, "deepseek"), "json_object")
    assert.strictEqual(Request.jsonMode(local, "openai"), "json_schema")
    assert.strictEqual(Request.jsonMode({ ...local, baseUrl: "https://api.deepseek.com" }, "ds"), "json_object")
    // DashScope's compatible mode takes JSON Schema on a few qwen-plus models only: JSON mode there
    for (const host of ["dashscope.aliyuncs.com", "dashscope-intl.aliyuncs.com"]) {
      assert.strictEqual(
        Request.jsonMode({ ...local, baseUrl: `https://${host}/compatible-mode/v1` }, "qwen"),
        "json_object"
      )
    }
    assert.strictEqual(Request.jsonMode({ ...local, baseUrl: "https://dashscope.example.com/v1" }, "q"), "json_schema")
    // an endpoint's json_mode decides over both
    assert.strictEqual(Request.jsonMode({ ...local, jsonMode: "json_object" }, "openai"), "json_object")
    assert.strictEqual(
      Request.jsonMode({ ...local, baseUrl: "https://api.deepseek.com", jsonMode: "json_schema" }, "deepseek"),
      "json_schema"
    )
  })

  it("DeepSeek JSON mode names the schema's root: an array, a named ($ref) object, a union", () => {
    const systemFor = (schema: Record<string, unknown>) =>
      body({ ...hello, responseFormat: { type: "json", name: "Answer", schema } }, "https://api.deepseek.com")
        .messages[0].content as string
    assert.match(
      systemFor({ type: "array", items: { type: "string" } }),
      /^Answer with one JSON array and nothing else/
    )
    assert.match(
      systemFor({
        $ref: "#/$defs/Person",
        $defs: { Person: { type: "object", properties: { name: { type: "string" } } } }
      }),
      /^Answer with one JSON object and nothing else/
    )
    assert.match(
      systemFor({ anyOf: [{ type: "string" }, { type: "number" }] }),
      /^Answer with one JSON value and nothing else/
    )
  })

  it("a tool round trip as WIRE §3.4: assistant content null with tool_calls (original arguments), one tool message per result", () => {
    const call: ToolCallPart = {
      type: "tool-call",
      id: "call_Y6qJ7ofLgOrBnMD5WbVAeiRV",
      name: "GetWeatherArgs",
      params: { city: "Edinburgh", country: "UK", units: "c" },
      metadata: { openai: { arguments: "{\"city\":\"Edinburgh\",\"country\":\"UK\",\"units\":\"c\"}" } }
    }
    const edited: ToolCallPart = { ...call, id: "call_2", params: { city: "Oslo" } }
    const sent = body({
      ...ask,
      messages: [
        ...ask.messages,
        { role: "assistant", parts: [{ type: "reasoning", text: "thinking" }, call, edited] },
        {
          role: "tool",
          parts: [
            { type: "tool-result", id: call.id, name: call.name, result: { temp: 12 }, isFailure: false },
            { type: "tool-result", id: "call_2", name: call.name, result: "no data", isFailure: true }
          ]
        },
        { role: "assistant", parts: [text("12 degrees in Edinburgh.")] }
      ]
    })
    assert.deepStrictEqual(sent.messages.slice(1), [
      {
        role: "assistant",
        content: null,
        tool_calls: [
          {
            id: "call_Y6qJ7ofLgOrBnMD5WbVAeiRV",
            type: "function",
            function: {
              name: "GetWeatherArgs",
              arguments: "{\"city\":\"Edinburgh\",\"country\":\"UK\",\"units\":\"c\"}"
            }
          },
          // Params that no longer match the kept text are sent as JSON.
          { id: "call_2", type: "function", function: { name: "GetWeatherArgs", arguments: "{\"city\":\"Oslo\"}" } }
        ]
      },
      { role: "tool", tool_call_id: "call_Y6qJ7ofLgOrBnMD5WbVAeiRV", content: "{\"temp\":12}" },
      { role: "tool", tool_call_id: "call_2", content: "{\"error\":\"no data\"}" },
      { role: "assistant", content: "12 degrees in Edinburgh." }
    ])
  })
})
