/**
 * Gemini content parts on the wire and the refusals of what it cannot carry; a tool loop through the
 * simulator, which rejects what the real service rejects (a Gemini 3 call echoed without its
 * signature, a response for no call, a malformed part).
 */
import { NodeHttpClient } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import type {
  AssistantPart,
  CallRequest,
  FilePart,
  Message,
  ToolCallPart,
  ToolDefinition
} from "../../../src/domain/Prompt.js"
import { text } from "../../../src/domain/Prompt.js"
import * as Content from "../../../src/providers/gemini/Content.js"
import * as Gemini from "../../../src/providers/gemini/Gemini.js"
import * as Request from "../../../src/providers/gemini/Request.js"
import type { ProviderTarget } from "../../../src/providers/Provider.js"
import * as Simulator from "../../../src/simulator/Simulator.js"
import { hello, partsOf, runStream } from "./Harness.js"

const png = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="

const file = (mediaType: string, data: FilePart["data"], source?: string): FilePart => ({
  type: "file",
  mediaType,
  data,
  ...(source !== undefined ? { source } : {})
})

const withUser = (...parts: Array<FilePart | ReturnType<typeof text>>): CallRequest => ({
  ...hello,
  messages: [{ role: "user", parts }]
})

describe("Gemini files", () => {
  it("bytes are inlineData, an https URL is fileData, a data: URL is inlineData with its own type", () => {
    const body = Request.encode(withUser(
      text("Describe"),
      file("image/png", { _tag: "base64", base64: png }),
      file("application/pdf", { _tag: "url", url: "https://generativelanguage.googleapis.com/v1beta/files/abc" }),
      file("image/*", { _tag: "url", url: `data:image/png;base64,${png}` }),
      file("image/*", { _tag: "url", url: "https://example.com/photos/cat.JPG?size=large" }),
      file("audio/wav", { _tag: "base64", base64: "UklGRg==" }),
      file("image/webp", { _tag: "url", url: "https://example.com/render?id=7" })
    ))
    assert.deepStrictEqual(body.contents[0]!.parts, [
      { text: "Describe" },
      { inlineData: { mimeType: "image/png", data: png } },
      {
        fileData: { mimeType: "application/pdf", fileUri: "https://generativelanguage.googleapis.com/v1beta/files/abc" }
      },
      { inlineData: { mimeType: "image/png", data: png } },
      { fileData: { mimeType: "image/jpeg", fileUri: "https://example.com/photos/cat.JPG?size=large" } },
      { inlineData: { mimeType: "audio/wav", data: "UklGRg==" } },
      { fileData: { mimeType: "image/webp", fileUri: "https://example.com/render?id=7" } }
    ])
  })

  it("refuses what Gemini does not take, naming the part and its media type, before any request", () => {
    const refused: Array<[FilePart, string]> = [
      [file("image/gif", { _tag: "base64", base64: "R0lGODlh" }), "image/gif"],
      [file("application/zip", { _tag: "url", url: "https://example.com/a.zip" }), "application/zip"],
      [file("image/png", { _tag: "url", url: "http://example.com/a.png" }), "image/png"],
      [file("image/png", { _tag: "url", url: "ftp://example.com/a.png" }), "image/png"],
      [file("image/*", { _tag: "url", url: "https://example.com/picture" }), "image/*"],
      [file("image/*", { _tag: "base64", base64: png }), "image/*"],
      [file("image/png", { _tag: "url", url: "data:image/gif;base64,R0lGODlh" }), "image/png"]
    ]
    for (const [part, mediaType] of refused) {
      const error = Gemini.protocol.check(withUser(text("look"), part), "gemini-2.5-flash")
      assert.strictEqual(error?._tag, "FatalError", mediaType)
      assert.strictEqual(error?.reason, "invalid_request")
      assert.include(error?.message, "messages[0].content[1]")
      assert.include(error?.message, mediaType)
    }
    const labelled = Gemini.protocol.check(
      withUser(file("image/gif", { _tag: "base64", base64: "R0lGODlh" }, "attachments[3]")),
      "gemini-2.5-flash"
    )
    assert.include(labelled?.message, "attachments[3]")
    assert.isUndefined(
      Gemini.protocol.check(withUser(file("image/webp", { _tag: "base64", base64: png })), "gemini-2.5-flash")
    )
  })

  it("an image URL refused says what the URL named (a type Gemini does not take), or that it named none", () => {
    const check = (url: string) =>
      Gemini.protocol.check(withUser(text("look"), file("image/*", { _tag: "url", url })), "gemini-2.5-flash")
        ?.message
    assert.include(check("https://example.com/cat.gif"), "its URL names image/gif, which Gemini does not take")
    assert.include(check("https://example.com/logo.svg?v=2"), "image/svg+xml")
    const unnamed = check("https://example.com/photo?id=3")
    assert.include(unnamed, "messages[0].content[1]")
    assert.include(unnamed, "its URL names no image type")
    assert.include(unnamed, "data: URL")
    assert.isUndefined(check("https://example.com/cat.webp"))
    assert.include(unnamed, "its mediaType")
    // the type the caller gives beside such a URL is the one sent
    const named = withUser(file("image/png", { _tag: "url", url: "https://example.com/photo?id=3" }))
    assert.isUndefined(Gemini.protocol.check(named, "gemini-2.5-flash"))
  })

  it("refuses a tool name Gemini rejects and a tool choice naming no declared tool", () => {
    const tool: ToolDefinition = { name: "get weather", description: undefined, parameters: { type: "object" } }
    assert.include(Gemini.protocol.check({ ...hello, tools: [tool] }, "gemini-2.5-flash")?.message, "get weather")
    const ok = { ...tool, name: "default_api:get_weather" }
    assert.isUndefined(Gemini.protocol.check({ ...hello, tools: [ok] }, "gemini-2.5-flash"))
    assert.include(
      Gemini.protocol.check({ ...hello, tools: [ok], toolChoice: { tool: "other" } }, "gemini-2.5-flash")?.message,
      `"other"`
    )
    assert.include(Gemini.protocol.check({ ...hello, toolChoice: "required" }, "gemini-2.5-flash")?.message, "tools")
    assert.isUndefined(Gemini.protocol.check({ ...hello, toolChoice: "none" }, "gemini-2.5-flash"))
  })
})

describe("Gemini model turns", () => {
  const call = (id: string, signature?: string): ToolCallPart => ({
    type: "tool-call",
    id,
    name: "lookup",
    params: { q: id },
    ...(signature !== undefined ? { metadata: { gemini: { thoughtSignature: signature } } } : {})
  })
  const turn = (...parts: Array<AssistantPart>): Array<Message> => [
    { role: "user", parts: [text("go")] },
    { role: "assistant", parts }
  ]

  it("echoes each part with its own signature; unsigned reasoning is dropped, signed reasoning is a thought part", () => {
    const contents = Content.encodeMessages(
      turn(
        { type: "reasoning", text: "thinking…" },
        { type: "reasoning", text: "summary", metadata: { gemini: { thoughtSignature: "R1" } } },
        { type: "text", text: "Let me check.", metadata: { gemini: { thoughtSignature: "T1" } } },
        call("g1bmv6il", "S1"),
        call("call_0123456789abcdef01234567")
      ),
      "gemini-3-pro-preview"
    )
    assert.deepStrictEqual(contents[1], {
      role: "model",
      parts: [
        { text: "summary", thought: true, thoughtSignature: "R1" },
        { text: "Let me check.", thoughtSignature: "T1" },
        { functionCall: { id: "g1bmv6il", name: "lookup", args: { q: "g1bmv6il" } }, thoughtSignature: "S1" },
        { functionCall: { name: "lookup", args: { q: "call_0123456789abcdef01234567" } } }
      ]
    })
  })

  it("a model turn left with nothing to send (only unsigned reasoning) is left out; the user turns around it are one", () => {
    const contents = Content.encodeMessages([
      { role: "user", parts: [text("hi")] },
      { role: "assistant", parts: [{ type: "reasoning", text: "hmm" }] },
      { role: "user", parts: [text("well?")] }
    ], "gemini-2.5-flash")
    assert.deepStrictEqual(contents, [{ role: "user", parts: [{ text: "hi" }, { text: "well?" }] }])
  })

  it("tool results go in the order of the model turn's calls, however the prompt lists them (Gemini pairs them by position)", () => {
    const result = (id: string, value: string) =>
      ({ type: "tool-result", id, name: "lookup", result: value, isFailure: false }) as const
    const paris = "call_0123456789abcdef0123paris"
    const rome = "call_0123456789abcdef01234rome"
    const contents = Content.encodeMessages([
      { role: "user", parts: [text("weather in Paris and Rome?")] },
      { role: "assistant", parts: [call(paris)] },
      { role: "assistant", parts: [call(rome)] },
      { role: "tool", parts: [result(rome, "Rome: 30C")] },
      { role: "tool", parts: [result("call_unknown_0123456789abcdef", "stray"), result(paris, "Paris: 18C")] }
    ], "gemini-2.5-flash")
    assert.deepStrictEqual(
      contents[2]!.parts.map((part) => (part.functionResponse?.response as { output: string }).output),
      ["Paris: 18C", "Rome: 30C", "stray"]
    )
    // a turn that repeats a call id cannot be ordered by id: its results stay as the prompt gives them
    const repeated = Content.encodeMessages([
      { role: "user", parts: [text("go")] },
      {
        role: "assistant",
        parts: [
          call("call_x_0123456789abcdef012345"),
          call("call_y_0123456789abcdef012345"),
          call("call_x_0123456789abcdef012345")
        ]
      },
      {
        role: "tool",
        parts: [
          result("call_x_0123456789abcdef012345", "x1"),
          result("call_y_0123456789abcdef012345", "y"),
          result("call_x_0123456789abcdef012345", "x2")
        ]
      }
    ], "gemini-2.5-flash")
    assert.deepStrictEqual(
      repeated[2]!.parts.map((part) => (part.functionResponse?.response as { output: string }).output),
      ["x1", "y", "x2"]
    )
  })

  it("consecutive messages of one role are one content: one tool message per result and the user text after them are one user turn", () => {
    const contents = Content.encodeMessages([
      { role: "user", parts: [text("weather?")] },
      { role: "user", parts: [text("in Oslo")] },
      { role: "assistant", parts: [call("g1bmv6il", "S1")] },
      { role: "assistant", parts: [call("h2cnw7jm")] },
      { role: "tool", parts: [{ type: "tool-result", id: "g1bmv6il", name: "lookup", result: 4, isFailure: false }] },
      {
        role: "tool",
        parts: [{ type: "tool-result", id: "h2cnw7jm", name: "lookup", result: "boom", isFailure: true }]
      },
      { role: "user", parts: [text("and now?")] }
    ], "gemini-3-pro-preview")
    assert.deepStrictEqual(contents, [
      { role: "user", parts: [{ text: "weather?" }, { text: "in Oslo" }] },
      {
        role: "model",
        // The signature stays on its own call; the turn has one, so no skip value is added.
        parts: [
          { functionCall: { id: "g1bmv6il", name: "lookup", args: { q: "g1bmv6il" } }, thoughtSignature: "S1" },
          { functionCall: { id: "h2cnw7jm", name: "lookup", args: { q: "h2cnw7jm" } } }
        ]
      },
      {
        role: "user",
        parts: [
          { functionResponse: { id: "g1bmv6il", name: "lookup", response: { output: 4 } } },
          { functionResponse: { id: "h2cnw7jm", name: "lookup", response: { error: "boom" } } },
          { text: "and now?" }
        ]
      }
    ])
    // Two unsigned assistant messages are one turn: one skip value, on its first call.
    const [, lost] = Content.encodeMessages([
      { role: "user", parts: [text("go")] },
      { role: "assistant", parts: [call("call_aaaaaaaaaaaaaaaaaaaaaaaa")] },
      { role: "assistant", parts: [call("call_bbbbbbbbbbbbbbbbbbbbbbbb")] }
    ], "gemini-3-pro-preview")
    assert.deepStrictEqual(lost!.parts.map((part) => part.thoughtSignature), [
      Content.skipSignatureValidator,
      undefined
    ])
  })

  it("Gemini 3: a turn whose calls lost their signatures gets the documented skip value on its first call", () => {
    const lost = turn(call("call_aaaaaaaaaaaaaaaaaaaaaaaa"), call("call_bbbbbbbbbbbbbbbbbbbbbbbb"))
    const [, three] = Content.encodeMessages(lost, "gemini-3.1-pro-preview")
    assert.deepStrictEqual(three!.parts.map((part) => part.thoughtSignature), [
      Content.skipSignatureValidator,
      undefined
    ])
    // A -latest alias is answered by a Gemini 3 model (gemini-flash-lite-latest → gemini-3.1-flash-lite).
    const [, latest] = Content.encodeMessages(lost, "gemini-flash-lite-latest")
    assert.strictEqual(latest!.parts[0]!.thoughtSignature, Content.skipSignatureValidator)
    // Gemini 2.x does not validate signatures: nothing is invented for it.
    const [, two] = Content.encodeMessages(lost, "gemini-2.5-flash")
    assert.deepStrictEqual(two!.parts.map((part) => part.thoughtSignature), [undefined, undefined])
    // A turn that kept its signature is sent as it is.
    const [, kept] = Content.encodeMessages(turn(call("a", "S"), call("b")), "gemini-3-pro-preview")
    assert.deepStrictEqual(kept!.parts.map((part) => part.thoughtSignature), ["S", undefined])
  })

  it("tool results are functionResponse parts of one user turn: objects as they are, other values as {output}, failures as {error}", () => {
    const [content] = Content.encodeMessages([{
      role: "tool",
      parts: [
        { type: "tool-result", id: "g1bmv6il", name: "a", result: { temperature: 18 }, isFailure: false },
        { type: "tool-result", id: "call_0123456789abcdef01234567", name: "b", result: "sunny", isFailure: false },
        { type: "tool-result", id: "x", name: "c", result: [1, 2], isFailure: false },
        { type: "tool-result", id: "y", name: "d", result: "city not found", isFailure: true }
      ]
    }], "gemini-3-pro-preview")
    assert.deepStrictEqual(content, {
      role: "user",
      parts: [
        { functionResponse: { id: "g1bmv6il", name: "a", response: { temperature: 18 } } },
        { functionResponse: { name: "b", response: { output: "sunny" } } },
        { functionResponse: { id: "x", name: "c", response: { output: [1, 2] } } },
        { functionResponse: { id: "y", name: "d", response: { error: "city not found" } } }
      ]
    })
  })
})

const weather: ToolDefinition = {
  name: "get_weather",
  description: "The weather in a city",
  parameters: {
    $schema: "http://json-schema.org/draft-07/schema#",
    type: "object",
    properties: { city: { type: "string" } },
    required: ["city"],
    additionalProperties: false
  }
}

it.layer(NodeHttpClient.layerUndici)("Gemini tool loops against the simulator", (it) => {
  const simulated = Effect.gen(function*() {
    const sim = yield* Simulator.make({ keys: { google: "g-key" } })
    const client = yield* Gemini.make
    const target = (modelId: string): ProviderTarget => ({
      provider: "google",
      endpoint: { name: "google-sim", baseUrl: sim.baseUrl("google-sim"), region: "us" },
      modelId,
      apiKey: Redacted.make("g-key"),
      headers: []
    })
    return { sim, client, target }
  })

  const ask: CallRequest = {
    ...hello,
    messages: [{ role: "user", parts: [text("Weather in Paris and Oslo?")] }],
    tools: [weather],
    toolChoice: "auto"
  }

  const reply = (answer: ReadonlyArray<AssistantPart>, strip = false): CallRequest => {
    const calls = answer.filter((part): part is ToolCallPart => part.type === "tool-call")
    return {
      ...ask,
      messages: [
        ...ask.messages,
        { role: "assistant", parts: strip ? calls.map(({ metadata: _, ...call }) => call) : answer },
        {
          role: "tool",
          parts: calls.map((call) => ({
            type: "tool-result",
            id: call.id,
            name: call.name,
            result: { forecast: "sunny" },
            isFailure: false
          }))
        }
      ]
    }
  }

  it.scoped("Gemini 3: parallel calls with ids and a signed first call; the echo is accepted, the final answer text", () =>
    Effect.gen(function*() {
      const { client, sim, target } = yield* simulated
      sim.script("google-sim", {
        toolCalls: [{ name: "get_weather", arguments: { city: "Paris" } }, {
          name: "get_weather",
          arguments: { city: "Oslo" }
        }]
      })
      const answer = yield* client.generate(target("gemini-3-pro-preview"), ask)
      const calls = answer.parts!.filter((part): part is ToolCallPart => part.type === "tool-call")
      assert.deepStrictEqual(calls.map((call) => call.params), [{ city: "Paris" }, { city: "Oslo" }])
      assert.match(calls[0]!.id, /^[A-Za-z0-9]{8}$/)
      assert.isDefined(calls[0]!.metadata?.gemini?.thoughtSignature)
      assert.isUndefined(calls[1]!.metadata)
      const final = yield* client.generate(target("gemini-3-pro-preview"), reply(answer.parts!))
      assert.include(final.content, "get_weather")
      const sent = sim.log("google-sim")[1]!.body as any
      assert.deepStrictEqual(sent.contents[1].parts[0].functionCall.id, calls[0]!.id)
      assert.deepStrictEqual(
        sent.contents[2].parts.map((part: any) => part.functionResponse.id),
        calls.map((c) => c.id)
      )
    }))

  it.scoped("Gemini 3: an echo without the signature is the service's 400 (invalid_request); the skip value is accepted", () =>
    Effect.gen(function*() {
      const { client, sim, target } = yield* simulated
      sim.script("google-sim", { toolCalls: [{ name: "get_weather", arguments: { city: "Paris" } }] })
      const model = target("gemini-3-pro-preview")
      const answer = yield* client.generate(model, ask)
      // Stripped of its metadata and encoded as for a Gemini 2.x model (nothing invented): the real
      // service's 400 for the missing signature.
      const stripped = reply(answer.parts!, true)
      const raw = Request.encode(stripped, "gemini-2.5-flash")
      const response = yield* Effect.promise(() =>
        fetch(`${sim.baseUrl("google-sim")}/v1beta/models/gemini-3-pro-preview:generateContent`, {
          method: "POST",
          headers: { "content-type": "application/json", "x-goog-api-key": "g-key" },
          body: JSON.stringify(raw)
        })
      )
      assert.strictEqual(response.status, 400)
      assert.include(((yield* Effect.promise(() => response.json())) as any).error.message, "thought_signature")
      // Through the client on a Gemini 3 model the lost signature becomes the skip value: accepted.
      const final = yield* client.generate(model, stripped)
      assert.include(final.content, "Echo")
      const sent = sim.log("google-sim").at(-1)!.body as any
      assert.strictEqual(sent.contents[1].parts[0].thoughtSignature, Content.skipSignatureValidator)
      // A signature that is not the one issued is refused too.
      const [call] = answer.parts!.filter((part): part is ToolCallPart => part.type === "tool-call")
      const forged = reply([{ ...call!, metadata: { gemini: { thoughtSignature: "Zm9yZ2Vk" } } }])
      const error = yield* Effect.flip(client.generate(model, forged))
      assert.strictEqual(error._tag, "FatalError")
      assert.strictEqual((error as { reason: string }).reason, "invalid_request")
    }))

  it.scoped("streamed: a ToolCall per call, the echo accepted, then a streamed text answer", () =>
    Effect.gen(function*() {
      const { client, sim, target } = yield* simulated
      sim.script("google-sim", { toolCalls: [{ name: "get_weather", arguments: { city: "Paris" } }] })
      const model = target("gemini-3-flash-preview")
      const { parts, error } = yield* runStream(client, model, ask)
      assert.isUndefined(error)
      const calls = partsOf(parts, "ToolCall").map((part) => part.call)
      assert.lengthOf(calls, 1)
      assert.lengthOf(partsOf(parts, "TextDelta"), 0)
      const next = yield* runStream(client, model, reply(calls))
      assert.isUndefined(next.error)
      assert.isAbove(partsOf(next.parts, "TextDelta").length, 0)
    }))

  it.scoped("structured output: the json step answers the JSON text; a schema without the mime type is a 400", () =>
    Effect.gen(function*() {
      const { client, sim, target } = yield* simulated
      sim.script("google-sim", { json: { name: "Ada", age: 36 } })
      const answer = yield* client.generate(target("gemini-2.5-flash"), {
        ...hello,
        responseFormat: {
          type: "json",
          name: "Person",
          schema: { type: "object", properties: { name: { type: "string" }, age: { type: "number" } } }
        }
      })
      assert.deepStrictEqual(JSON.parse(answer.content), { name: "Ada", age: 36 })
      const sent = sim.log("google-sim")[0]!.body as any
      assert.strictEqual(sent.generationConfig.responseMimeType, "application/json")
      const response = yield* Effect.promise(() =>
        fetch(`${sim.baseUrl("google-sim")}/v1beta/models/gemini-2.5-flash:generateContent`, {
          method: "POST",
          headers: { "content-type": "application/json", "x-goog-api-key": "g-key" },
          body: JSON.stringify({ ...sent, generationConfig: { responseJsonSchema: { type: "object" } } })
        })
      )
      assert.strictEqual(response.status, 400)
    }))

  it.scoped("files reach the simulator as valid inline data and file URIs", () =>
    Effect.gen(function*() {
      const { client, sim, target } = yield* simulated
      yield* client.generate(
        target("gemini-2.5-flash"),
        withUser(
          text("What is in these?"),
          file("image/png", { _tag: "base64", base64: png }),
          file("application/pdf", { _tag: "url", url: "https://generativelanguage.googleapis.com/v1beta/files/abc" })
        )
      )
      assert.strictEqual(sim.log("google-sim")[0]!.status, 200)
    }))
})
