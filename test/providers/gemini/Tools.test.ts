/**
 * Gemini tool calls and JSON output against recorded traffic: calls decoded unary and streamed (ids,
 * signatures, parallel calls, thought parts), structured output, and the requests of a tool round
 * trip compared with the ones Google's and Vercel's SDKs sent and got 200 for.
 */
import { NodeHttpClient } from "@effect/platform-node"
import { assert, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import type { AssistantPart, CallRequest, ToolCallPart, ToolDefinition } from "../../../src/domain/Prompt.js"
import { text } from "../../../src/domain/Prompt.js"
import * as Request from "../../../src/providers/gemini/Request.js"
import type { StreamPart } from "../../../src/providers/Provider.js"
import * as Loopback from "../../support/LoopbackServer.js"
import { hello, partsOf, runStream, setup, summary, targetOf } from "./Harness.js"

const jsg = "googleapis-js-genai-tools/"
const vsd = "firebaseextended-vertexai-sdk-test-data-tools/googleai/"
const vai = "vercel-ai-tools/google/"

const functionCalling = jsg + "Chats_Tests_chats_function_calling_Google_AI_with_function_calling.json"
const functionCallingStream = jsg + "Chats_Tests_chats_function_calling_Google_AI_with_function_calling_stream.json"
const mcp = jsg +
  "MCP_related_client_Tests_generateContent_ML_Dev_Multiple_CallableTool_with_MCPClients_and_conduct_automated_function_calling.json"
const jsonSchema = jsg +
  "Client_Tests_generateContent_ML_Dev_should_generate_content_with_given_valid_json_schema_in_responseJsonSchema.json"
const responseSchema = jsg +
  "Client_Tests_generateContent_ML_Dev_should_generate_content_with_given_valid_json_schema_in_responseSchema.json"

/** Every interaction of a js-genai recording. */
const interactions = (path: string): ReadonlyArray<Loopback.Recording> =>
  (JSON.parse(Loopback.readFixture(path).toString("utf8")) as { interactions: ReadonlyArray<Loopback.Recording> })
    .interactions

/** The two request/response pairs Vercel's recorder kept for issue 16072 (gemini-3.1-flash-lite). */
const issue16072 = JSON.parse(
  Loopback.readFixture(vai + "google-issue-16072-file-tool-result-live.json").toString("utf8")
) as { calls: ReadonlyArray<{ requestBody: any; responseBody: unknown }> }

/** A `*.chunks.txt` recording (one payload per line) framed as the service sends it. */
const framed = (path: string) =>
  Loopback.readFixture(path).toString("utf8").split("\n").filter((line) => line.trim().length > 0)
    .map((line) => `data: ${line}\r\n\r\n`).join("")

const json = (body: unknown) => ({
  headers: { "content-type": "application/json; charset=UTF-8" },
  body: JSON.stringify(body)
})

const calls = (parts: ReadonlyArray<AssistantPart> | undefined) =>
  (parts ?? []).filter((part): part is ToolCallPart => part.type === "tool-call")

const signature = (part: { readonly metadata?: unknown } | undefined) =>
  (part?.metadata as { gemini?: { thoughtSignature?: string } } | undefined)?.gemini?.thoughtSignature

const localId = /^call_[0-9a-f]{24}$/

const divide: ToolDefinition = {
  name: "customDivide",
  description: "Custom divide function",
  parameters: { type: "object", properties: { numerator: { type: "number" }, denominator: { type: "number" } } }
}

it.layer(NodeHttpClient.layerUndici)("Gemini tool calls, unary", (it) => {
  it.scoped("gemini-2.0 sends no id: the call gets a local call_ id, its args as params, finish stop", () =>
    Effect.gen(function*() {
      const { client, server, target } = yield* setup
      server.enqueue(Loopback.replayRecording(interactions(functionCalling)[0]!))
      const answer = yield* client.generate(target, { ...hello, tools: [divide] })
      const [call, ...rest] = calls(answer.parts)
      assert.lengthOf(rest, 0)
      assert.strictEqual(call!.name, "customDivide")
      assert.match(call!.id, localId)
      assert.deepStrictEqual(call!.params, { denominator: 2, numerator: 100 })
      assert.isUndefined(call!.metadata)
      assert.strictEqual(answer.content, "")
      assert.strictEqual(answer.finishReason, "stop")
      assert.deepStrictEqual(answer.parts, [call])
    }))

  it.scoped("parallel calls (gemini-2.5-pro): two calls in order, the signature only on the first", () =>
    Effect.gen(function*() {
      const { client, server, target } = yield* setup
      const recording = interactions(mcp)[0]!
      server.enqueue(Loopback.replayRecording(recording))
      const answer = yield* client.generate(target, hello)
      const [print, beep] = calls(answer.parts)
      const recorded = (recording.response.bodySegments[0] as any).candidates[0].content.parts
      assert.strictEqual(print!.name, "print")
      assert.deepStrictEqual(print!.params, { color: "blue", text: "hello" })
      assert.strictEqual(signature(print), recorded[0].thoughtSignature)
      assert.strictEqual(beep!.name, "beep")
      assert.deepStrictEqual(beep!.params, {})
      assert.isUndefined(beep!.metadata)
      assert.notStrictEqual(print!.id, beep!.id)
    }))

  it.scoped("a thought summary before a signed call (gemini-2.5-pro): a reasoning part, then the call", () =>
    Effect.gen(function*() {
      const { client, server, target } = yield* setup
      const path = vsd + "unary-success-thinking-function-call-thought-summary-signature.json"
      server.enqueue(Loopback.replay(path, { headers: { "content-type": "application/json" } }))
      const answer = yield* client.generate(target, hello)
      const recorded = JSON.parse(Loopback.readFixture(path).toString("utf8")).candidates[0].content.parts
      assert.deepStrictEqual(answer.parts?.map((part) => part.type), ["reasoning", "tool-call"])
      assert.strictEqual(answer.reasoning, recorded[0].text)
      assert.strictEqual(answer.content, "")
      const [call] = calls(answer.parts)
      assert.strictEqual(call!.name, "now")
      assert.deepStrictEqual(call!.params, {})
      assert.strictEqual(signature(call), recorded[1].thoughtSignature)
      assert.deepStrictEqual(answer.usage?.reasoningTokens, 501)
    }))

  it.scoped("gemini-3.1: the server's id is kept; a signed text answer keeps its signature in the text part", () =>
    Effect.gen(function*() {
      const { client, server, target } = yield* setup
      server.enqueue(json(issue16072.calls[0]!.responseBody), json(issue16072.calls[1]!.responseBody))
      const first = yield* client.generate(target, hello)
      const [call] = calls(first.parts)
      assert.strictEqual(call!.id, "PPik6Btt")
      assert.strictEqual(call!.name, "catalogSearch")
      assert.strictEqual(signature(call), "EjQKMgERTTIPN10h3l8gol5CPOBIpGm8SNd11nFIygg8WyB4t9Ju+M8bngWZHD6D3AqRkw+0")
      assert.strictEqual(first.finishReason, "stop")
      const second = yield* client.generate(target, hello)
      assert.strictEqual(second.content, "Metadata was returned.")
      assert.deepStrictEqual(second.parts, [{
        type: "text",
        text: "Metadata was returned.",
        metadata: {
          gemini: { thoughtSignature: "EjQKMgERTTIPnYA/rAU8j6y994pGpznKtVe1nA93qKGKgItxuFgNMDlzKPH7kA7fEp8g9R+3" }
        }
      }])
    }))

  it.scoped("a plain text answer has no parts (content and reasoning say it all)", () =>
    Effect.gen(function*() {
      const { client, server, target } = yield* setup
      server.enqueue(Loopback.replayRecording(interactions(mcp)[1]!))
      const answer = yield* client.generate(target, hello)
      assert.strictEqual(answer.content, "ok, done\n")
      assert.isUndefined(answer.parts)
    }))
})

it.layer(NodeHttpClient.layerUndici)("Gemini tool calls, streamed", (it) => {
  const streamOf = (body: string | Loopback.ScriptedResponse, modelId?: string) =>
    Effect.gen(function*() {
      const { client, server } = yield* setup
      server.enqueue(typeof body === "string" ? { headers: { "content-type": "text/event-stream" }, body } : body)
      return yield* runStream(client, targetOf(server, modelId), { ...hello, tools: [divide] })
    })

  const toolCalls = (parts: ReadonlyArray<StreamPart>) => partsOf(parts, "ToolCall").map((part) => part.call)

  it.scoped("gemini-2.0: one event with the whole call and STOP is one ToolCall, then the finish", () =>
    Effect.gen(function*() {
      const { parts, error } = yield* streamOf(Loopback.replayRecording(interactions(functionCallingStream)[0]!))
      assert.isUndefined(error)
      const [call, ...rest] = toolCalls(parts)
      assert.lengthOf(rest, 0)
      assert.strictEqual(call!.name, "customDivide")
      assert.match(call!.id, localId)
      assert.deepStrictEqual(call!.params, { denominator: 2, numerator: 100 })
      assert.deepStrictEqual(summary(parts), {
        text: "",
        usage: { input: 21, output: 6, total: 27 },
        finishReason: "stop"
      })
      assert.strictEqual(parts.at(-1)?._tag, "Finish")
    }))

  it.scoped("gemini-2.5-flash (raw CRLF bytes): thought deltas, then the signed call", () =>
    Effect.gen(function*() {
      const path = vsd + "streaming-success-thinking-function-call-thought-summary-signature.txt"
      const { parts, error } = yield* streamOf(Loopback.replay(path, { chunkSizes: [7, 300] }))
      assert.isUndefined(error)
      const tags = parts.map((part) => part._tag).filter((tag) => tag !== "Usage" && tag !== "Metadata")
      assert.deepStrictEqual(tags, ["ReasoningDelta", "ReasoningDelta", "ToolCall", "Finish"])
      const [call] = toolCalls(parts)
      assert.strictEqual(call!.name, "now")
      assert.deepStrictEqual(call!.params, {})
      assert.match(signature(call)!, /^CiIBVKhc7vB\+/)
      assert.strictEqual(summary(parts).finishReason, "stop")
    }))

  it.scoped("gemini-3-pro: the signed call, then an empty STOP chunk that adds no text and no second call", () =>
    Effect.gen(function*() {
      const { parts, error } = yield* streamOf(framed(vai + "google-tool-call.chunks.txt"), "gemini-3-pro-preview")
      assert.isUndefined(error)
      const [call, ...rest] = toolCalls(parts)
      assert.lengthOf(rest, 0)
      assert.deepStrictEqual(call!.params, { location: "San Francisco" })
      assert.match(signature(call)!, /^EqUCCqICAb4/)
      assert.lengthOf(partsOf(parts, "TextDelta"), 0)
      assert.lengthOf(partsOf(parts, "PartMetadata"), 0)
      assert.deepStrictEqual(summary(parts).usage, { input: 29, output: 60, total: 89 })
      assert.strictEqual(summary(parts).finishReason, "stop")
    }))

  it.scoped("gemini-3.1-pro: text, then the call with the server's id and signature, in that order", () =>
    Effect.gen(function*() {
      const { parts, error } = yield* streamOf(framed(vai + "issue-10781.1.chunks.txt"), "gemini-3.1-pro-preview")
      assert.isUndefined(error)
      const order = parts.filter((part) => part._tag === "TextDelta" || part._tag === "ToolCall")
      assert.deepStrictEqual(order.map((part) => part._tag), ["TextDelta", "ToolCall"])
      assert.strictEqual(summary(parts).text, "Let me check.")
      const [call] = toolCalls(parts)
      assert.strictEqual(call!.id, "g1bmv6il")
      assert.strictEqual(call!.name, "get_weather")
      assert.deepStrictEqual(call!.params, { city: "San Francisco" })
      assert.match(signature(call)!, /^EqsGCqgGARFNMg/)
    }))

  it.scoped("a signature on a text part closes the text streamed before it (an empty last part included)", () =>
    Effect.gen(function*() {
      const { parts } = yield* streamOf(framed("vercel-ai/google/google-text.chunks.txt"), "gemini-3-pro-preview")
      const relevant = parts.filter((part) => part._tag === "TextDelta" || part._tag === "PartMetadata")
      assert.deepStrictEqual(relevant.map((part) => part._tag), ["TextDelta", "TextDelta", "PartMetadata"])
      const metadata = partsOf(parts, "PartMetadata")[0]!
      assert.strictEqual(metadata.part, "text")
      assert.match(String(metadata.metadata.gemini?.thoughtSignature), /^EqsFCqgFAb4/)
    }))
})

it.layer(NodeHttpClient.layerUndici)("Gemini structured output", (it) => {
  it.scoped("responseJsonSchema: the request carries the schema with the JSON mime type; the answer is the JSON text", () =>
    Effect.gen(function*() {
      for (const path of [jsonSchema, responseSchema]) {
        const { client, server, target } = yield* setup
        const recording = interactions(path)[0]!
        const recorded = recording.request.bodySegments[0] as any
        server.enqueue(Loopback.replayRecording(recording))
        const answer = yield* client.generate(target, {
          ...hello,
          messages: [{ role: "user", parts: [text("populate the following object")] }],
          responseFormat: { type: "json", name: "object", schema: recorded.generationConfig.responseJsonSchema }
        })
        assert.deepStrictEqual(server.requests[0]!.json, {
          contents: recorded.contents,
          generationConfig: recorded.generationConfig
        })
        const body = recording.response.bodySegments[0] as any
        assert.strictEqual(answer.content, body.candidates[0].content.parts[0].text)
        assert.strictEqual(JSON.parse(answer.content).inner.innerNumber, 100)
        assert.isUndefined(answer.parts)
      }
    }))
})

/** The next request of a tool loop: the model's turn as decoded, then the results (as `tool` messages). */
const followUp = (
  first: CallRequest,
  answer: ReadonlyArray<AssistantPart>,
  results: ReadonlyArray<unknown>
): CallRequest => ({
  ...first,
  messages: [
    ...first.messages,
    { role: "assistant", parts: answer },
    {
      role: "tool",
      parts: calls(answer).map((call, index) => ({
        type: "tool-result",
        id: call.id,
        name: call.name,
        result: results[index],
        isFailure: false
      }))
    }
  ]
})

it.layer(NodeHttpClient.layerUndici)("Gemini tool round trips against recorded requests", (it) => {
  it.scoped("parallel calls (gemini-2.5-pro): the model turn as received, both responses in one user turn", () =>
    Effect.gen(function*() {
      const { client, server, target } = yield* setup
      const [call, reply] = interactions(mcp)
      const recorded = call!.request.bodySegments[0] as any
      server.enqueue(Loopback.replayRecording(call!), Loopback.replayRecording(reply!))
      const declarations = recorded.tools.flatMap((tool: any) => tool.functionDeclarations)
      const first: CallRequest = {
        ...hello,
        messages: [{ role: "user", parts: [text(recorded.contents[0].parts[0].text)] }],
        tools: declarations.map((declaration: any) => ({
          name: declaration.name,
          description: undefined,
          parameters: declaration.parametersJsonSchema
        })),
        toolChoice: "auto"
      }
      const answer = yield* client.generate(target, first)
      const final = yield* client.generate(
        target,
        followUp(first, answer.parts!, [
          { content: [{ text: "\u001b[34mhello\u001b[0m", type: "text" }] },
          { content: [{ text: "beep", type: "text" }] }
        ])
      )
      assert.strictEqual(final.content, "ok, done\n")
      const [sentFirst, sentSecond] = server.requests.map((request) => request.json as any)
      assert.deepStrictEqual(sentFirst.contents, recorded.contents)
      assert.deepStrictEqual(sentFirst.toolConfig, recorded.toolConfig)
      assert.deepStrictEqual(sentFirst.tools, [{ functionDeclarations: declarations }])
      // The whole history as Google's SDK sent it (ids made here for gemini-2.5 calls are not sent).
      assert.deepStrictEqual(sentSecond.contents, (reply!.request.bodySegments[0] as any).contents)
    }))

  it.scoped("gemini-3.1 (forced tool): ANY + allowedFunctionNames, then the call echoed with id and signature and the response with its id", () =>
    Effect.gen(function*() {
      const { client, server } = yield* setup
      const target = targetOf(server, "gemini-flash-lite-latest")
      const [call, reply] = issue16072.calls
      server.enqueue(json(call!.responseBody), json(reply!.responseBody))
      const catalogSearch: ToolDefinition = {
        name: "catalogSearch",
        description: "Returns catalog metadata and a PDF page.",
        parameters: { type: "object", properties: {} }
      }
      const first: CallRequest = {
        ...hello,
        messages: [{ role: "user", parts: [text(call!.requestBody.contents[0].parts[0].text)] }],
        maxOutputTokens: 64,
        tools: [catalogSearch],
        toolChoice: { tool: "catalogSearch" }
      }
      const answer = yield* client.generate(target, first)
      const second = followUp({ ...first, toolChoice: "none" }, answer.parts!, [{
        name: "catalogSearch",
        content: "metadata"
      }])
      const final = yield* client.generate(target, second)
      assert.strictEqual(final.content, "Metadata was returned.")
      const [sentFirst, sentSecond] = server.requests.map((request) => request.json as any)
      assert.deepStrictEqual(sentFirst.toolConfig, call!.requestBody.toolConfig)
      assert.deepStrictEqual(sentFirst.generationConfig, call!.requestBody.generationConfig)
      assert.deepStrictEqual(sentFirst.tools[0].functionDeclarations[0].name, "catalogSearch")
      assert.deepStrictEqual(sentSecond.toolConfig, reply!.requestBody.toolConfig)
      // The recorded turn also carried a PDF as text after the response; the call and response are identical.
      const recorded = reply!.requestBody.contents
      assert.deepStrictEqual(sentSecond.contents.slice(0, 2), recorded.slice(0, 2))
      assert.deepStrictEqual(sentSecond.contents[2], { role: "user", parts: [recorded[2].parts[0]] })
    }))
})

it("every toolChoice form is a functionCallingConfig", () => {
  const request = (toolChoice: CallRequest["toolChoice"]) =>
    Request.encode({ ...hello, tools: [divide, { ...divide, name: "beep" }], toolChoice }).toolConfig
  assert.deepStrictEqual(request("auto"), { functionCallingConfig: { mode: "AUTO" } })
  assert.deepStrictEqual(request("none"), { functionCallingConfig: { mode: "NONE" } })
  assert.deepStrictEqual(request("required"), { functionCallingConfig: { mode: "ANY" } })
  assert.deepStrictEqual(request({ tool: "beep" }), {
    functionCallingConfig: { mode: "ANY", allowedFunctionNames: ["beep"] }
  })
  assert.deepStrictEqual(request({ oneOf: ["beep", "customDivide"] }), {
    functionCallingConfig: { mode: "ANY", allowedFunctionNames: ["beep", "customDivide"] }
  })
  assert.isUndefined(request(undefined))
  // No tools, no toolConfig: AUTO and NONE mean nothing then.
  assert.isUndefined(Request.encode({ ...hello, toolChoice: "none" }).toolConfig)
  assert.isUndefined(Request.encode({ ...hello, toolChoice: "none" }).tools)
})
