/**
 * Anthropic tool use, thinking signatures and structured output against recorded traffic (the
 * Anthropic Python SDK's SSE fixtures and HTTP snapshot, the AI SDK's captures): `tool_use` blocks
 * decoded unary and streamed (`input_json_delta` assembled per block index from any read size, three
 * parallel calls, a call cut by `max_tokens` never emitted), signed thinking echoed through part
 * metadata, native JSON output and the forced-tool answer; the request bodies of tools, every tool
 * choice, JSON output per model and a tool round trip in the WIRE notes' shapes.
 */
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import type { CallRequest, JsonResponseFormat, ToolCallPart, ToolDefinition } from "../../../src/domain/Prompt.js"
import { text } from "../../../src/domain/Prompt.js"
import * as Anthropic from "../../../src/providers/anthropic/Anthropic.js"
import * as Request from "../../../src/providers/anthropic/Request.js"
import type { StreamPart } from "../../../src/providers/Provider.js"
import * as Loopback from "../../support/LoopbackServer.js"
import { fixtureText, frameChunks, hello, partsOf, runStream, setup, targetOf, vercel } from "./Harness.js"

const apy = "anthropics-anthropic-sdk-python-tools/"
const vai = "vercel-ai-tools/anthropic/"
const sse = { "content-type": "text/event-stream; charset=utf-8" }
const json = { "content-type": "application/json" }

const weather: ToolDefinition = {
  name: "get_weather",
  description: "Get the weather for a location",
  parameters: { type: "object", properties: { location: { type: "string" } }, required: ["location"] }
}
const ask: CallRequest = {
  ...hello,
  messages: [{ role: "user", parts: [text("What's the weather in Paris?")] }],
  tools: [weather]
}
const calls = (parts: ReadonlyArray<StreamPart>) => partsOf(parts, "ToolCall").map((part) => part.call)
const textOf = (parts: ReadonlyArray<StreamPart>) => partsOf(parts, "TextDelta").map((part) => part.text).join("")
const finishOf = (parts: ReadonlyArray<StreamPart>) => partsOf(parts, "Finish").map((part) => part.reason)

/** Messages stream events framed as the service frames them (`event:` + `data:`), replayed from a loopback server. */
const framed = (events: ReadonlyArray<{ readonly type: string }>) =>
  Loopback.replay(
    Buffer.from(events.map((event) => `event: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`).join("")),
    { headers: sse }
  )

/** A recorded forced-tool Message streamed: its tool_use `json` block's input sent as these `input_json_delta` pieces. */
const forcedAnswerEvents = (recorded: { readonly content: ReadonlyArray<unknown> }, pieces: ReadonlyArray<string>) => [
  { type: "message_start", message: { ...recorded, content: [], stop_reason: null } },
  {
    type: "content_block_start",
    index: 0,
    content_block: { type: "tool_use", id: "toolu_1", name: "json", input: {} }
  },
  ...pieces.map((piece) => ({
    type: "content_block_delta",
    index: 0,
    delta: { type: "input_json_delta", partial_json: piece }
  })),
  { type: "content_block_stop", index: 0 },
  { type: "message_delta", delta: { stop_reason: "tool_use" }, usage: { output_tokens: 40 } },
  { type: "message_stop" }
]

it.layer(NodeHttpClient.layerUndici)("Anthropic tool use, recorded", (it) => {
  for (const sizes of [undefined, [1], [5, 300]]) {
    it.scoped(`streamed (claude-sonnet-4): text, then a tool_use block assembled from input_json_delta${sizes ? ` (writes of ${sizes.join("/")} bytes)` : ""}`, () =>
      Effect.gen(function*() {
        const { client, server, target } = yield* setup
        server.enqueue(
          Loopback.replay(Loopback.readFixture(apy + "tool_use_response.txt"), {
            headers: sse,
            ...(sizes ? { chunkSizes: sizes } : {})
          })
        )
        const { error, parts } = yield* runStream(client, target, ask)
        assert.isUndefined(error)
        assert.strictEqual(textOf(parts), "I'll check the current weather in Paris for you.")
        assert.deepStrictEqual(calls(parts), [{
          type: "tool-call",
          id: "toolu_01NRLabsLyVHZPKxbKvkfSMn",
          name: "get_weather",
          params: { location: "Paris" }
        }])
        // stop_reason tool_use is `other`: a tool turn is told by its calls.
        assert.deepStrictEqual(finishOf(parts), ["other"])
      }))
  }

  it.scoped("streamed parallel calls (claude-sonnet-4-5): three tool_use blocks, index 0–2, padded lines", () =>
    Effect.gen(function*() {
      const { client, server, target } = yield* setup
      server.enqueue(Loopback.replay(frameChunks(vai + "anthropic-issue-15652-false.chunks.txt"), { headers: sse }))
      const { error, parts } = yield* runStream(client, target, ask)
      assert.isUndefined(error)
      assert.deepStrictEqual(calls(parts).map((call) => [call.id, call.name, call.params]), [
        ["toolu_01LtEf4h1QW7KCKLsYMuhTNB", "searchDocs", { query: "alpha" }],
        ["toolu_016tfZE7otAFSBjhc67wu189", "searchDocs", { query: "beta" }],
        ["toolu_01XkU35z8BVWqqc9tijDuLrA", "searchDocs", { query: "gamma" }]
      ])
    }))

  it.scoped("a call cut by max_tokens (fine-grained streaming, no content_block_stop) is never emitted, only warned of; finish length", () =>
    Effect.gen(function*() {
      const { client, server, target } = yield* setup
      server.enqueue(
        Loopback.replay(Loopback.readFixture(apy + "incomplete_partial_json_response.txt"), { headers: sse })
      )
      const { error, parts } = yield* runStream(client, target, ask)
      assert.isUndefined(error)
      assert.lengthOf(calls(parts), 0)
      assert.deepStrictEqual(finishOf(parts), ["length"])
      const warnings = parts.filter((part) => part._tag === "Warning")
      assert.lengthOf(warnings, 1)
      assert.match(warnings[0]!.message, /the output limit cut tool call ".+" \(toolu_.+\).* not run/)
    }))

  it.scoped("a gateway that leaves out content_block_stop (LiteLLM's bridge): the message's stop ends the blocks, the call is emitted", () =>
    Effect.gen(function*() {
      const { client, server, target } = yield* setup
      const events = (stopReason: string) => [
        {
          type: "message_start",
          message: {
            id: "msg_1",
            type: "message",
            role: "assistant",
            model: "claude-sonnet-4-5",
            content: [],
            usage: { input_tokens: 20, output_tokens: 1 }
          }
        },
        { type: "content_block_start", index: 0, content_block: { type: "thinking", thinking: "" } },
        { type: "content_block_delta", index: 0, delta: { type: "thinking_delta", thinking: "Paris weather." } },
        { type: "content_block_delta", index: 0, delta: { type: "signature_delta", signature: "EqQBCkYI" } },
        {
          type: "content_block_start",
          index: 1,
          content_block: { type: "tool_use", id: "toolu_9", name: "get_weather", input: {} }
        },
        { type: "content_block_delta", index: 1, delta: { type: "input_json_delta", partial_json: "{\"location\": " } },
        { type: "content_block_delta", index: 1, delta: { type: "input_json_delta", partial_json: "\"Paris\"}" } },
        { type: "message_delta", delta: { stop_reason: stopReason }, usage: { output_tokens: 30 } },
        { type: "message_stop" }
      ]
      server.enqueue(
        framed(events("tool_use")),
        framed(events("end_turn")),
        framed(events("max_tokens")),
        framed(events("refusal"))
      )
      const ended = yield* runStream(client, target, ask)
      assert.isUndefined(ended.error)
      assert.deepStrictEqual(calls(ended.parts).map((call) => [call.id, call.params]), [["toolu_9", {
        location: "Paris"
      }]])
      assert.deepStrictEqual(
        partsOf(ended.parts, "PartMetadata").map((part) => part.part),
        ["reasoning"]
      )
      assert.lengthOf(ended.parts.filter((part) => part._tag === "Warning"), 0)
      // a gateway that maps its upstream's "stop" to end_turn: whole arguments are the call all the same
      const endTurn = yield* runStream(client, target, ask)
      assert.deepStrictEqual(calls(endTurn.parts).map((call) => call.id), ["toolu_9"])
      // under max_tokens or a refusal an unclosed call stays cut, whole as its text may look, and the
      // warning names what cut it
      for (const cause of ["the output limit", "a refusal"]) {
        const cut = yield* runStream(client, target, ask)
        assert.lengthOf(calls(cut.parts), 0)
        const warnings = cut.parts.filter((part) => part._tag === "Warning")
        assert.lengthOf(warnings, 1)
        assert.match(warnings[0]!.message, new RegExp(`^${cause} cut tool call "get_weather"`))
      }
    }))

  it.scoped("a no-argument call a gateway leaves open (no content_block_stop) is emitted as {} at the message's stop — only under tool_use", () =>
    Effect.gen(function*() {
      const { client, server, target } = yield* setup
      const events = (stopReason: string) => [
        {
          type: "message_start",
          message: {
            id: "msg_2",
            type: "message",
            role: "assistant",
            model: "claude-sonnet-4-5",
            content: [],
            usage: {}
          }
        },
        {
          type: "content_block_start",
          index: 0,
          content_block: { type: "tool_use", id: "toolu_1", name: "now", input: {} }
        },
        { type: "content_block_delta", index: 0, delta: { type: "input_json_delta", partial_json: "" } },
        { type: "message_delta", delta: { stop_reason: stopReason }, usage: { input_tokens: 20, output_tokens: 9 } },
        { type: "message_stop" }
      ]
      server.enqueue(framed(events("tool_use")), framed(events("refusal")), framed(events("end_turn")))
      const { error, parts } = yield* runStream(client, target, ask)
      assert.isUndefined(error)
      assert.deepStrictEqual(calls(parts).map((call) => [call.id, call.name, call.params]), [["toolu_1", "now", {}]])
      assert.lengthOf(parts.filter((part) => part._tag === "Warning"), 0)
      // a refusal (a classifier cut the answer) or any other stop: the call may never have had its arguments
      for (let i = 0; i < 2; i++) {
        const cut = yield* runStream(client, target, ask)
        assert.lengthOf(calls(cut.parts), 0)
        assert.lengthOf(cut.parts.filter((part) => part._tag === "Warning"), 1)
      }
    }))

  it.scoped("streamed empty input (claude-3-opus): all-empty fragments are {}", () =>
    Effect.gen(function*() {
      const { client, server, target } = yield* setup
      server.enqueue(Loopback.replay(frameChunks(vercel + "anthropic-tool-no-args.chunks.txt"), { headers: sse }))
      const { parts } = yield* runStream(client, target, ask)
      assert.deepStrictEqual(calls(parts).map((call) => [call.name, call.params]), [["updateIssueList", {}]])
    }))

  it.scoped("unary (claude-3-opus): text and a tool_use with input {} as ordered parts", () =>
    Effect.gen(function*() {
      const { client, server, target } = yield* setup
      server.enqueue(Loopback.replay(Loopback.readFixture(vai + "anthropic-tool-no-args.json"), { headers: json }))
      const answer = yield* client.generate(target, ask)
      assert.strictEqual(answer.finishReason, "other")
      assert.deepStrictEqual(answer.parts?.map((part) => part.type), ["text", "tool-call"])
      assert.deepStrictEqual(answer.parts?.[1], {
        type: "tool-call",
        id: "toolu_01LRmxn9vGM1d2DZSDBowdZ1",
        name: "updateIssueList",
        params: {}
      })
      assert.include(answer.content, "Okay, I will update the current issue list:")
    }))

  it.scoped("thinking (claude-sonnet-4-5): the signature comes back in part metadata, unary and streamed", () =>
    Effect.gen(function*() {
      const { client, server, target } = yield* setup
      const unary = JSON.parse(fixtureText(vercel + "anthropic-clear-thinking.1.json"))
      server.enqueue(Loopback.replay(Buffer.from(JSON.stringify(unary)), { headers: json }))
      const answer = yield* client.generate(target, hello)
      assert.deepStrictEqual(answer.parts?.[0], {
        type: "reasoning",
        text: "925 divided by 5 = 185",
        metadata: { anthropic: { signature: unary.content[0].signature } }
      })
      assert.strictEqual(answer.content, "925 ÷ 5 = 185")
      server.enqueue(Loopback.replay(frameChunks(vercel + "anthropic-clear-thinking.1.chunks.txt"), { headers: sse }))
      const { parts } = yield* runStream(client, target, hello)
      const metadata = partsOf(parts, "PartMetadata")
      assert.lengthOf(metadata, 1)
      assert.strictEqual(metadata[0]!.part, "reasoning")
      assert.match(String(metadata[0]!.metadata.anthropic?.signature), /^EvQBCkYICxgCKkAxhD4N/)
      // The signature closes the reasoning, before the text starts.
      const tags = parts.map((part) => part._tag)
      assert.isBelow(tags.lastIndexOf("ReasoningDelta"), tags.indexOf("PartMetadata"))
      assert.isBelow(tags.indexOf("PartMetadata"), tags.indexOf("TextDelta"))
    }))

  it.scoped("redacted thinking: empty reasoning carrying its data, unary and streamed", () =>
    Effect.gen(function*() {
      const { client, server, target } = yield* setup
      const message = {
        id: "msg_1",
        type: "message",
        model: "claude-sonnet-4-5",
        content: [{ type: "redacted_thinking", data: "EmwKAhgBEgy3va" }, { type: "text", text: "Done." }],
        stop_reason: "end_turn",
        usage: { input_tokens: 5, output_tokens: 3 }
      }
      server.enqueue(Loopback.replay(Buffer.from(JSON.stringify(message)), { headers: json }))
      const answer = yield* client.generate(target, hello)
      assert.deepStrictEqual(answer.parts?.[0], {
        type: "reasoning",
        text: "",
        metadata: { anthropic: { redactedData: "EmwKAhgBEgy3va" } }
      })
      const events = [
        { type: "message_start", message: { ...message, content: [], stop_reason: null } },
        { type: "content_block_start", index: 0, content_block: { type: "redacted_thinking", data: "EmwKAhgBEgy3va" } },
        { type: "content_block_stop", index: 0 },
        { type: "message_delta", delta: { stop_reason: "end_turn" }, usage: { output_tokens: 3 } },
        { type: "message_stop" }
      ]
      server.enqueue(framed(events))
      const { parts } = yield* runStream(client, target, hello)
      assert.deepStrictEqual(partsOf(parts, "PartMetadata"), [{
        _tag: "PartMetadata",
        part: "reasoning",
        metadata: { anthropic: { redactedData: "EmwKAhgBEgy3va" } }
      }])
    }))
})

it.layer(NodeHttpClient.layerUndici)("Anthropic structured output, recorded", (it) => {
  const orderItem: JsonResponseFormat = {
    type: "json",
    name: "OrderItem",
    schema: {
      type: "object",
      title: "OrderItem",
      properties: {
        product_name: { type: "string", title: "Product Name" },
        price: { type: "number", title: "Price" },
        quantity: { type: "integer", title: "Quantity" }
      },
      additionalProperties: false,
      required: ["product_name", "price", "quantity"]
    }
  }

  it.scoped("native (claude-sonnet-4-5): the request's output_config as recorded, the JSON text answer", () =>
    Effect.gen(function*() {
      const { client, server } = yield* setup
      const [snapshot] = JSON.parse(fixtureText(apy + "c11eefc7-fff0-4466-8453-42eef73b8876.json"))
      server.enqueue(Loopback.replay(Buffer.from(JSON.stringify(snapshot.response.body)), { headers: json }))
      const answer = yield* client.generate(targetOf(server, "claude-sonnet-4-5"), {
        ...hello,
        messages: [{ role: "user", parts: [text("Extract: I want to order 2 Green Tea at $5.50 each")] }],
        responseFormat: orderItem
      })
      assert.deepStrictEqual(JSON.parse(answer.content), { product_name: "Green Tea", price: 5.5, quantity: 2 })
      assert.strictEqual(answer.finishReason, "stop")
      const sent = server.requests[0]!.json as any
      assert.deepStrictEqual(sent.output_config, snapshot.request.body.output_config)
      assert.deepStrictEqual(sent.messages, snapshot.request.body.messages)
      assert.isUndefined(sent.tools)
    }))

  it.scoped("native, streamed (claude-sonnet-4-5): the JSON as text deltas, end_turn", () =>
    Effect.gen(function*() {
      const { client, server } = yield* setup
      server.enqueue(Loopback.replay(frameChunks(vai + "anthropic-json-output-format.1.chunks.txt"), { headers: sse }))
      const { parts } = yield* runStream(client, targetOf(server, "claude-sonnet-4-5"), {
        ...hello,
        responseFormat: { type: "json", name: "characters", schema: { type: "object", additionalProperties: false } }
      })
      assert.isArray(JSON.parse(textOf(parts)).characters)
      assert.deepStrictEqual(finishOf(parts), ["stop"])
    }))

  it.scoped("forced tool (claude-haiku-4-5 answering through `json`): the tool's input is the answer text, finish stop", () =>
    Effect.gen(function*() {
      const { client, server } = yield* setup
      const recorded = JSON.parse(fixtureText(vai + "anthropic-json-tool.1.json"))
      server.enqueue(Loopback.replay(Buffer.from(JSON.stringify(recorded)), { headers: json }))
      const target = targetOf(server, "claude-3-5-haiku-20241022")
      const format: JsonResponseFormat = { type: "json", name: "json", schema: { type: "object" } }
      const answer = yield* client.generate(target, { ...hello, responseFormat: format })
      assert.deepStrictEqual(JSON.parse(answer.content), recorded.content[0].input)
      assert.strictEqual(answer.finishReason, "stop")
      assert.isUndefined(answer.parts)
      const sent = server.requests[0]!.json as any
      assert.deepStrictEqual(sent.tool_choice, { type: "tool", name: "json" })
      assert.deepStrictEqual(sent.tools, [
        { name: "json", description: "Respond with a JSON object.", input_schema: { type: "object" } }
      ])
      assert.isUndefined(sent.output_config)
      // A text block beside the answer's tool_use (a preamble) is not part of the JSON answer.
      const withPreamble = { ...recorded, content: [{ type: "text", text: "Here it is:" }, ...recorded.content] }
      server.enqueue(Loopback.replay(Buffer.from(JSON.stringify(withPreamble)), { headers: json }))
      const preambled = yield* client.generate(target, { ...hello, responseFormat: format })
      assert.deepStrictEqual(JSON.parse(preambled.content), recorded.content[0].input)
    }))

  it.scoped("a Claude 4.5 model asked natively (output_config) that answers through a forced tool anyway (its recording, a gateway): with no tools of its own, the tool_use is the answer, unary and streamed", () =>
    Effect.gen(function*() {
      const { client, server } = yield* setup
      const recorded = JSON.parse(fixtureText(vai + "anthropic-json-tool.1.json"))
      const target = targetOf(server, "claude-haiku-4-5-20251001")
      const format: JsonResponseFormat = {
        type: "json",
        name: "json",
        schema: { type: "object", properties: {}, additionalProperties: false }
      }
      server.enqueue(Loopback.replay(Buffer.from(JSON.stringify(recorded)), { headers: json }))
      const answer = yield* client.generate(target, { ...hello, responseFormat: format })
      assert.isDefined((server.requests[0]!.json as any).output_config)
      assert.deepStrictEqual(JSON.parse(answer.content), recorded.content[0].input)
      assert.strictEqual(answer.finishReason, "stop")
      server.enqueue(framed(forcedAnswerEvents(recorded, [JSON.stringify(recorded.content[0].input)])))
      const { parts } = yield* runStream(client, target, { ...hello, responseFormat: format })
      assert.deepStrictEqual(JSON.parse(textOf(parts)), recorded.content[0].input)
      assert.deepStrictEqual(finishOf(parts), ["stop"])
      // with tools of its own, a tool_use stays a call to run
      server.enqueue(Loopback.replay(Buffer.from(JSON.stringify(recorded)), { headers: json }))
      const withTools = yield* client.generate(target, { ...ask, responseFormat: format })
      assert.deepStrictEqual(withTools.parts?.map((part) => part.type), ["tool-call"])
    }))

  it.scoped("forced tool under another name (@effect/ai's default generateObject): the recorded `json` call is still the answer, unary and streamed", () =>
    Effect.gen(function*() {
      const { client, server } = yield* setup
      const recorded = JSON.parse(fixtureText(vai + "anthropic-json-tool.1.json"))
      server.enqueue(Loopback.replay(Buffer.from(JSON.stringify(recorded)), { headers: json }))
      const target = targetOf(server, "claude-3-opus-20240229")
      const format: JsonResponseFormat = { type: "json", name: "generateObject", schema: { type: "object" } }
      const answer = yield* client.generate(target, { ...hello, responseFormat: format })
      assert.deepStrictEqual((server.requests[0]!.json as any).tool_choice, { type: "tool", name: "generateObject" })
      assert.deepStrictEqual(JSON.parse(answer.content), recorded.content[0].input)
      assert.strictEqual(answer.finishReason, "stop")
      assert.isUndefined(answer.parts)
      // streamed: the same answer as text deltas of the call's input
      const input = JSON.stringify(recorded.content[0].input)
      server.enqueue(framed(forcedAnswerEvents(recorded, [input.slice(0, 10), input.slice(10)])))
      const { parts } = yield* runStream(client, target, { ...hello, responseFormat: format })
      assert.deepStrictEqual(JSON.parse(textOf(parts)), recorded.content[0].input)
      assert.deepStrictEqual(finishOf(parts), ["stop"])
    }))

  it.scoped("a compatible server that puts a streamed tool_use block's input whole in its start (no input_json_delta): the call and the forced answer keep it", () =>
    Effect.gen(function*() {
      const { client, server, target } = yield* setup
      const toolTurn = (input: unknown, deltas: ReadonlyArray<string>) => [
        { type: "message_start", message: { id: "msg_1", type: "message", model: "glm-4.6", content: [], usage: {} } },
        {
          type: "content_block_start",
          index: 0,
          content_block: { type: "tool_use", id: "call_1", name: "get_weather", input }
        },
        ...deltas.map((piece) => ({
          type: "content_block_delta",
          index: 0,
          delta: { type: "input_json_delta", partial_json: piece }
        })),
        { type: "content_block_stop", index: 0 },
        { type: "message_delta", delta: { stop_reason: "tool_use" }, usage: { input_tokens: 12, output_tokens: 9 } },
        { type: "message_stop" }
      ]
      server.enqueue(framed(toolTurn({ location: "Paris" }, [])))
      const whole = yield* runStream(client, target, ask)
      assert.isUndefined(whole.error)
      assert.deepStrictEqual(calls(whole.parts), [
        { type: "tool-call", id: "call_1", name: "get_weather", params: { location: "Paris" } }
      ])
      // Anthropic's own shape (`{}` then fragments) is read as before, and fragments win over a start's input.
      server.enqueue(framed(toolTurn({}, ["{\"location\":", "\"Lyon\"}"])))
      server.enqueue(framed(toolTurn({ location: "Paris" }, ["{\"location\":\"Nice\"}"])))
      const [streamed, both] = [yield* runStream(client, target, ask), yield* runStream(client, target, ask)]
      assert.deepStrictEqual(calls(streamed.parts).map((call) => call.params), [{ location: "Lyon" }])
      assert.deepStrictEqual(calls(both.parts).map((call) => call.params), [{ location: "Nice" }])
      // the forced answer tool: the start's input is the answer's text
      const format: JsonResponseFormat = { type: "json", name: "json", schema: { type: "object" } }
      server.enqueue(framed(toolTurn({ city: "Paris", temperature: 21 }, [])))
      const answer = yield* runStream(client, targetOf(server, "claude-3-5-haiku-20241022"), {
        ...hello,
        responseFormat: format
      })
      assert.deepStrictEqual(JSON.parse(textOf(answer.parts)), { city: "Paris", temperature: 21 })
      assert.deepStrictEqual(finishOf(answer.parts), ["stop"])
    }))
})

describe("Anthropic tool requests", () => {
  const body = (request: CallRequest, model = "claude-haiku-4-5") => Request.encode(model, request, false) as any

  it("tools with input_schema (WIRE §4.1), description only when given", () => {
    assert.deepStrictEqual(
      body({ ...ask, tools: [weather, { ...weather, name: "b", description: undefined }] }).tools,
      [
        { name: "get_weather", description: "Get the weather for a location", input_schema: weather.parameters },
        { name: "b", input_schema: weather.parameters }
      ]
    )
    assert.isUndefined(body(hello).tools)
  })

  it("every tool choice: auto, none, required → any, one tool; several → any over those only", () => {
    const second: ToolDefinition = { ...weather, name: "get_time" }
    const third: ToolDefinition = { ...weather, name: "get_date" }
    const choice = (toolChoice: CallRequest["toolChoice"]) =>
      body({ ...ask, tools: [weather, second, third], toolChoice })
    assert.deepStrictEqual(choice("auto").tool_choice, { type: "auto" })
    assert.deepStrictEqual(choice("none").tool_choice, { type: "none" })
    assert.deepStrictEqual(choice("required").tool_choice, { type: "any" })
    assert.deepStrictEqual(choice({ tool: "get_time" }).tool_choice, { type: "tool", name: "get_time" })
    assert.deepStrictEqual(choice({ oneOf: ["get_date"] }).tool_choice, { type: "tool", name: "get_date" })
    const several = choice({ oneOf: ["get_date", "get_weather"] })
    assert.deepStrictEqual(several.tool_choice, { type: "any" })
    assert.deepStrictEqual(several.tools.map((tool: any) => tool.name), ["get_weather", "get_date"])
  })

  it("JSON output: output_config on Claude 4.5 and later for a schema it takes, a forced tool otherwise", () => {
    const closed = { ...weather.parameters, additionalProperties: false }
    const format: JsonResponseFormat = { type: "json", name: "Weather", description: "The weather", schema: closed }
    for (
      const model of ["claude-sonnet-4-5", "claude-opus-4-6-20260101", "claude-haiku-4-5-20251001", "claude-opus-5"]
    ) {
      assert.isTrue(Request.nativeStructuredOutput(model), model)
      assert.deepStrictEqual(body({ ...hello, responseFormat: format }, model).output_config, {
        format: { type: "json_schema", schema: closed }
      })
    }
    for (const model of ["claude-sonnet-4-20250514", "claude-opus-4-1", "claude-3-5-haiku-latest", "glm-4.6"]) {
      assert.isFalse(Request.nativeStructuredOutput(model), model)
      const sent = body({ ...ask, responseFormat: format }, model)
      assert.isUndefined(sent.output_config)
      assert.deepStrictEqual(sent.tool_choice, { type: "tool", name: "Weather" })
      assert.deepStrictEqual(sent.tools.at(-1), {
        name: "Weather",
        description: "The weather",
        input_schema: closed
      })
      assert.lengthOf(sent.tools, 2)
    }
    // A schema output_config does not take (an open object, a keyword it rejects, at any depth): a forced tool.
    for (
      const schema of [
        weather.parameters,
        { ...closed, properties: { location: { type: "string", minLength: 1 } } },
        { ...closed, properties: { place: { type: "object", properties: {} } } },
        { ...closed, $defs: { Place: { type: "object", properties: { n: { type: "integer", maximum: 3 } } } } },
        // a string format outside the ones it keeps (WIRE-tools-multimodal §4.5)
        { ...closed, properties: { blob: { type: "string", format: "byte" } }, required: ["blob"] }
      ]
    ) {
      assert.isFalse(Request.nativeSchema(schema), JSON.stringify(schema))
      const sent = body({ ...hello, responseFormat: { ...format, schema } }, "claude-sonnet-4-5")
      assert.isUndefined(sent.output_config)
      assert.deepStrictEqual(sent.tool_choice, { type: "tool", name: "Weather" })
    }
    // The formats it keeps are taken natively.
    assert.isTrue(
      Request.nativeSchema({ ...closed, properties: { at: { type: "string", format: "date-time" } }, required: ["at"] })
    )
    // Property names are no keywords: a field called `pattern` is fine.
    assert.isTrue(
      Request.nativeSchema({ ...closed, properties: { pattern: { type: "string" } }, required: ["pattern"] })
    )
    // A name Anthropic's rule refuses: the tool is `json`.
    assert.strictEqual(Request.answerToolOf({ ...format, name: "a weather" }), "json")
  })

  it("JSON output: a recursive schema (a $ref cycle) takes the forced tool on Claude 4.5; a shared $defs entry stays native", () => {
    const format: JsonResponseFormat = { type: "json", name: "Cat", schema: {} }
    const closed = (properties: Record<string, unknown>) => ({
      type: "object",
      required: Object.keys(properties),
      properties,
      additionalProperties: false
    })
    // `Cat = Struct({ name, subs: Array(suspend(() => Cat)) })` as @effect/ai's JSON Schema has it.
    const cat = closed({ name: { type: "string" }, subs: { type: "array", items: { $ref: "#/$defs/Cat" } } })
    const recursive = [
      { ...cat, $defs: { Cat: cat } },
      // a cycle through two definitions, reached from the root's `$ref`
      {
        $ref: "#/$defs/A",
        $defs: {
          A: closed({ b: { $ref: "#/$defs/B" } }),
          B: closed({ a: { anyOf: [{ $ref: "#/$defs/A" }, { type: "null" }] } })
        }
      },
      // the root itself, and a name that is escaped in the pointer (`~1` is `/`)
      closed({ child: { anyOf: [{ $ref: "#" }, { type: "null" }] } }),
      { $ref: "#/$defs/a~1b", $defs: { "a/b": closed({ next: { type: "array", items: { $ref: "#/$defs/a~1b" } } }) } }
    ]
    for (const schema of recursive) {
      assert.isFalse(Request.nativeSchema(schema), JSON.stringify(schema))
      const sent = body({ ...hello, responseFormat: { ...format, schema } }, "claude-sonnet-4-5")
      assert.isUndefined(sent.output_config)
      assert.deepStrictEqual(sent.tool_choice, { type: "tool", name: "Cat" })
      assert.deepStrictEqual(sent.tools.at(-1).input_schema, schema)
    }
    // `$ref`s that come back to nothing are no recursion: a definition used twice, a pointer to a sibling.
    const point = closed({ x: { type: "number" } })
    for (
      const schema of [
        { ...closed({ from: { $ref: "#/$defs/Point" }, to: { $ref: "#/$defs/Point" } }), $defs: { Point: point } },
        closed({ from: point, to: { $ref: "#/properties/from" } })
      ]
    ) {
      assert.isTrue(Request.nativeSchema(schema), JSON.stringify(schema))
      assert.deepStrictEqual(
        body({ ...hello, responseFormat: { ...format, schema } }, "claude-sonnet-4-5").output_config,
        {
          format: { type: "json_schema", schema }
        }
      )
    }
  })

  it("refused before any request: tool names, unknown choices, a forced-tool JSON answer with another choice or a clashing tool", () => {
    const check = (request: CallRequest, model = "claude-haiku-4-5") => Anthropic.protocol.check(request, model)
    assert.include(check({ ...ask, tools: [{ ...weather, name: "get.weather" }] })?.message, "tools[0].name")
    assert.include(check({ ...ask, toolChoice: { tool: "nope" } })?.message, "not a declared tool")
    const format: JsonResponseFormat = { type: "json", name: "get_weather", schema: { type: "object" } }
    const old = "claude-3-7-sonnet-latest"
    assert.include(check({ ...ask, responseFormat: format }, old)?.message, "tools declare \"get_weather\"")
    assert.include(
      check({ ...ask, responseFormat: { ...format, name: "out" }, toolChoice: "required" }, old)?.message,
      "cannot be combined with JSON output"
    )
    assert.isUndefined(check({ ...ask, responseFormat: { ...format, name: "out" }, toolChoice: "auto" }, old))
    // A forced tool's input_schema must be an object: an array or a union answer is refused before any write
    // (the service answered 400 "input_schema.type: Input should be 'object'" after the hold).
    const arrayAnswer = check({ ...hello, responseFormat: { ...format, schema: { type: "array", items: {} } } }, old)
    assert.strictEqual(arrayAnswer?.reason, "invalid_request")
    assert.include(arrayAnswer?.message, "must be an object schema")
    assert.include(arrayAnswer?.message, "type \"array\"")
    assert.include(
      check({ ...hello, responseFormat: { ...format, schema: { anyOf: [] } } }, old)?.message,
      "object schema"
    )
    // Natively, JSON output and any tool choice go together.
    assert.isUndefined(
      check({
        ...ask,
        responseFormat: { ...format, schema: { type: "object", additionalProperties: false } },
        toolChoice: "required"
      }, "claude-sonnet-4-5")
    )
  })

  it("a tool round trip as WIRE §4.4: signed thinking and tool_use echoed, results (one failed) grouped in the next user turn", () => {
    const call = (id: string, location: string): ToolCallPart => ({
      type: "tool-call",
      id,
      name: "get_weather",
      params: { location }
    })
    const sent = body({
      ...ask,
      messages: [
        ...ask.messages,
        {
          role: "assistant",
          parts: [
            { type: "reasoning", text: "Two cities.", metadata: { anthropic: { signature: "EqQBCkgI" } } },
            { type: "reasoning", text: "", metadata: { anthropic: { redactedData: "EmwKAhgB" } } },
            { type: "reasoning", text: "unsigned, from another provider" },
            text("Checking both."),
            call("toolu_01", "Paris"),
            call("toolu_02", "Oslo")
          ]
        },
        {
          role: "tool",
          parts: [{
            type: "tool-result",
            id: "toolu_01",
            name: "get_weather",
            result: "15°C, cloudy",
            isFailure: false
          }]
        },
        {
          role: "tool",
          parts: [{ type: "tool-result", id: "toolu_02", name: "get_weather", result: { code: 503 }, isFailure: true }]
        },
        { role: "assistant", parts: [text("Paris is 15°C.")] }
      ]
    })
    assert.deepStrictEqual(sent.messages.slice(1), [
      {
        role: "assistant",
        content: [
          { type: "thinking", thinking: "Two cities.", signature: "EqQBCkgI" },
          { type: "redacted_thinking", data: "EmwKAhgB" },
          { type: "text", text: "Checking both." },
          { type: "tool_use", id: "toolu_01", name: "get_weather", input: { location: "Paris" } },
          { type: "tool_use", id: "toolu_02", name: "get_weather", input: { location: "Oslo" } }
        ]
      },
      {
        role: "user",
        content: [
          { type: "tool_result", tool_use_id: "toolu_01", content: "15°C, cloudy" },
          { type: "tool_result", tool_use_id: "toolu_02", content: "{\"code\":503}", is_error: true }
        ]
      },
      { role: "assistant", content: "Paris is 15°C." }
    ])
  })
})
