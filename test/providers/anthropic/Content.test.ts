/**
 * Anthropic content blocks: images (base64 sources from bytes and `data:` URLs, URL sources) and
 * PDFs as `document` blocks, in the WIRE notes' shapes; what the protocol refuses — named by position
 * and media type, before any request; and tool loops, thinking echoes and JSON output (native and
 * forced-tool) through the simulator, which rejects what the real service rejects.
 */
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import type {
  CallRequest,
  FilePart,
  ReasoningPart,
  ToolCallPart,
  ToolDefinition,
  UserPart
} from "../../../src/domain/Prompt.js"
import { text } from "../../../src/domain/Prompt.js"
import * as Anthropic from "../../../src/providers/anthropic/Anthropic.js"
import * as Request from "../../../src/providers/anthropic/Request.js"
import type { ProviderTarget, StreamPart } from "../../../src/providers/Provider.js"
import * as Simulator from "../../../src/simulator/Simulator.js"
import { hello, partsOf, runStream } from "./Harness.js"

const bytes = (base64: string) => ({ _tag: "base64" as const, base64 })
const url = (value: string) => ({ _tag: "url" as const, url: value })
const file = (mediaType: string, data: FilePart["data"], fileName?: string): FilePart => ({
  type: "file",
  mediaType,
  data,
  ...(fileName !== undefined ? { fileName } : {})
})
const png = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
const user = (...parts: ReadonlyArray<UserPart>): CallRequest => ({ ...hello, messages: [{ role: "user", parts }] })

describe("Anthropic content blocks", () => {
  it("encoded as WIRE §4.6: image base64 and URL sources, a data: URL as base64, PDFs as documents with a title", () => {
    const sent = Request.encode(
      "claude-haiku-4-5",
      user(
        file("image/png", bytes(png)),
        file("image/*", url("https://example.com/ant.jpg")),
        file("image/*", url("data:image/webp;base64,UklGRg==")),
        file("application/pdf", bytes("JVBERi0xLjQ="), "a.pdf"),
        file("application/pdf", url("https://example.com/a.pdf")),
        text("Describe these.")
      ),
      false
    ) as any
    assert.deepStrictEqual(sent.messages[0].content, [
      { type: "image", source: { type: "base64", media_type: "image/png", data: png } },
      { type: "image", source: { type: "url", url: "https://example.com/ant.jpg" } },
      { type: "image", source: { type: "base64", media_type: "image/webp", data: "UklGRg==" } },
      {
        type: "document",
        source: { type: "base64", media_type: "application/pdf", data: "JVBERi0xLjQ=" },
        title: "a.pdf"
      },
      { type: "document", source: { type: "url", url: "https://example.com/a.pdf" } },
      { type: "text", text: "Describe these." }
    ])
  })

  it("a plain-text file, bytes or a data: URL, is a document with a text source (WIRE §4.6 PlainTextSource)", () => {
    const notes = Buffer.from("Meeting notes: ship on Friday. Café ☕", "utf8").toString("base64")
    for (const data of [bytes(notes), url(`data:text/plain;base64,${notes}`)]) {
      const request = user(file("text/plain", data, "notes.txt"), text("Summarise."))
      assert.isUndefined(Anthropic.protocol.check(request, "claude-haiku-4-5"))
      const sent = Request.encode("claude-haiku-4-5", request, false) as any
      assert.deepStrictEqual(sent.messages[0].content[0], {
        type: "document",
        source: { type: "text", media_type: "text/plain", data: "Meeting notes: ship on Friday. Café ☕" },
        title: "notes.txt"
      })
    }
  })

  it("an inline image goes with the type its bytes say, whatever the part declares (the service refuses a mismatch)", () => {
    for (const data of [bytes(png), url(`data:image/jpeg;base64,${png}`)]) {
      const sent = Request.encode("claude-haiku-4-5", user(file("image/jpeg", data)), false) as any
      assert.strictEqual(sent.messages[0].content[0].source.media_type, "image/png")
    }
    // bytes with no known signature keep the declared type
    const unknown = Request.encode("claude-haiku-4-5", user(file("image/webp", bytes("AAAAAAAA"))), false) as any
    assert.strictEqual(unknown.messages[0].content[0].source.media_type, "image/webp")
  })

  it("a plain-text file that is not UTF-8 is refused before any request, not sent garbled", () => {
    const latin1 = Buffer.from("Caf\xe9 cr\xe8me", "latin1").toString("base64")
    const error = Anthropic.protocol.check(user(file("text/plain", bytes(latin1))), "claude-haiku-4-5")
    assert.strictEqual(error?.reason, "invalid_request")
    assert.include(error?.message, "messages[0].content[0]")
    assert.include(error?.message, "is not UTF-8 text")
  })

  it("refused before any request, naming the part by position and media type", () => {
    const refusal = (part: FilePart, role: "user" | "assistant" = "user") =>
      Anthropic.protocol.check(
        { ...hello, messages: [{ role: "user", parts: [text("first")] }, { role, parts: [text("look"), part] }] },
        "claude-haiku-4-5"
      )
    const cases: ReadonlyArray<readonly [FilePart, string]> = [
      [file("audio/wav", bytes("UklGRg==")), "messages[1].content[1]: an inline audio/wav file"],
      [file("audio/mpeg", url("https://example.com/a.mp3")), "a URL audio/mpeg file"],
      // (bytes whose signature says no image type)
      [file("image/*", bytes("AAAAAAAA")), "an inline image/* file"],
      [file("image/bmp", bytes(png)), "an inline image/bmp file"],
      [file("image/png", url("http://example.com/a.png")), "a URL image/png file"],
      [file("image/*", url("data:image/tiff;base64,AAAA")), "a URL image/* file"],
      [file("application/pdf", url("ftp://example.com/a.pdf")), "a URL application/pdf file"],
      [file("text/plain", url("https://example.com/a.txt")), "a URL text/plain file"],
      [file("text/markdown", bytes("aGk=")), "an inline text/markdown file"],
      [file("video/mp4", url("https://example.com/a.mp4")), "a URL video/mp4 file"]
    ]
    for (const [part, expected] of cases) {
      const error = refusal(part)
      assert.strictEqual(error?._tag, "FatalError", expected)
      assert.strictEqual(error?.reason, "invalid_request")
      assert.include(error?.message, expected)
      assert.include(error?.message, "cannot be sent over the anthropic protocol")
    }
    assert.include(
      refusal(file("image/png", bytes(png)), "assistant")?.message,
      "messages[1].content[1]: an inline image/png file in an assistant turn"
    )
    assert.isUndefined(
      Anthropic.protocol.check(user(file("image/gif", bytes("R0lGOD")), text("x")), "claude-haiku-4-5")
    )
  })

  it("an inline image over the service's 5 MB base64 cap is refused before any request (bytes or data: URL); at the cap it goes", () => {
    const atCap = "A".repeat(5_242_880)
    const over = atCap + "AAAA"
    for (const data of [bytes(over), url(`data:image/png;base64,${over}`)]) {
      const error = Anthropic.protocol.check(user(text("look"), file("image/png", data)), "claude-haiku-4-5")
      assert.strictEqual(error?.reason, "invalid_request")
      assert.include(error?.message, "messages[0].content[1]")
      assert.include(error?.message, "image/png")
      assert.include(error?.message, "5 MB image limit: 5242884 base64 bytes > 5242880")
    }
    for (const data of [bytes(atCap), url(`data:image/png;base64,${atCap}`)]) {
      assert.isUndefined(Anthropic.protocol.check(user(file("image/png", data)), "claude-haiku-4-5"))
    }
    // a PDF is not held to the image cap
    assert.isUndefined(Anthropic.protocol.check(user(file("application/pdf", bytes(over))), "claude-haiku-4-5"))
  })

  it("a request whose body passes the Messages API's 32 MB is refused before any request, not sent for Cloudflare's 413", () => {
    const cap = 32 * 1024 * 1024
    const model = "claude-haiku-4-5"
    // the body as sent: JSON escapes and the envelope count, as the service counts them
    const bodyBytes = (request: CallRequest) => Buffer.byteLength(JSON.stringify(Request.encode(model, request, true)))
    const image = file("image/png", bytes("A".repeat(5_000_000)))
    const sixImages = Array.from({ length: 6 }, () => image)
    const withText = (length: number) => user(...sixImages, text("x".repeat(length)))
    const fits = cap - bodyBytes(withText(1)) + 1
    assert.strictEqual(bodyBytes(withText(fits)), cap)
    assert.isUndefined(Anthropic.protocol.check(withText(fits), model))
    const over = Anthropic.protocol.check(withText(fits + 1), model)
    assert.strictEqual(over?._tag, "FatalError")
    assert.strictEqual(over?.reason, "invalid_request")
    assert.include(over?.message, `the request's body is ${cap + 1} bytes`)
    assert.include(over?.message, "over Anthropic's 32 MB per request (33554432); send large files as URLs")
    // text JSON escapes: 20 MB of quotes are 40 MB sent
    assert.strictEqual(
      Anthropic.protocol.check(user(text("\"".repeat(20 * 1024 * 1024))), model)?.reason,
      "invalid_request"
    )
    assert.isUndefined(Anthropic.protocol.check(user(text("x".repeat(20 * 1024 * 1024))), model))
    // the system text counts too; URLs do not (the service fetches them)
    assert.strictEqual(
      Anthropic.protocol.check({ ...user(...sixImages), system: "x".repeat(3_554_433) }, model)?.reason,
      "invalid_request"
    )
    assert.isUndefined(
      Anthropic.protocol.check(
        user(...sixImages, ...Array.from({ length: 20 }, () => file("image/*", url("https://example.com/a.png")))),
        model
      )
    )
    // a tool result is sent as its text: a 33 MiB one is over; unsigned reasoning and blank text are not sent
    const loop = (result: string, reasoning: ReadonlyArray<ReasoningPart> = []): CallRequest => ({
      ...hello,
      messages: [
        { role: "user", parts: [text("look it up")] },
        { role: "assistant", parts: [...reasoning, { type: "tool-call", id: "t1", name: "lookup", params: {} }] },
        { role: "tool", parts: [{ type: "tool-result", id: "t1", name: "lookup", result, isFailure: false }] }
      ]
    })
    assert.strictEqual(Anthropic.protocol.check(loop("r".repeat(33 * 1024 * 1024)), model)?.reason, "invalid_request")
    const unsigned: ReasoningPart = { type: "reasoning", text: "t".repeat(40 * 1024 * 1024) }
    assert.isUndefined(Anthropic.protocol.check(loop("ok", [unsigned]), model))
    assert.isUndefined(Anthropic.protocol.check(user(text(" ".repeat(40 * 1024 * 1024)), text("hi")), model))
    // a text document goes as its decoded text, not its base64
    const document = (size: number) => file("text/plain", bytes(Buffer.alloc(size, "a").toString("base64")))
    const documentFits = cap - bodyBytes(user(document(1))) + 1
    assert.isUndefined(Anthropic.protocol.check(user(document(documentFits)), model))
    assert.strictEqual(Anthropic.protocol.check(user(document(documentFits + 1)), model)?.reason, "invalid_request")
  })
})

it.layer(NodeHttpClient.layerUndici)("Anthropic tool loops against the simulator", (it) => {
  const simulated = Effect.gen(function*() {
    const sim = yield* Simulator.make({ keys: { anthropic: "a-key" } })
    const client = yield* Anthropic.make
    const target = (modelId = "claude-haiku-4-5"): ProviderTarget => ({
      provider: "anthropic",
      endpoint: { name: "ant-sim", baseUrl: sim.baseUrl("ant-sim"), region: undefined },
      modelId,
      apiKey: Redacted.make("a-key"),
      headers: []
    })
    return { sim, client, target }
  })

  const weather: ToolDefinition = {
    name: "get_weather",
    description: "The weather in a city",
    parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] }
  }
  const ask: CallRequest = {
    ...hello,
    messages: [{ role: "user", parts: [text("Weather in Paris and Oslo?"), file("image/png", bytes(png))] }],
    tools: [weather]
  }
  const reply = (assistant: ReadonlyArray<ToolCallPart | { type: "reasoning"; text: string; metadata?: any }>) => {
    const calls = assistant.filter((part): part is ToolCallPart => part.type === "tool-call")
    return {
      ...ask,
      messages: [
        ...ask.messages,
        { role: "assistant" as const, parts: assistant },
        {
          role: "tool" as const,
          parts: calls.map((call) => ({
            type: "tool-result" as const,
            id: call.id,
            name: call.name,
            result: { forecast: "cloudy" },
            isFailure: false
          }))
        }
      ]
    }
  }
  const script = {
    toolCalls: [{ name: "get_weather", arguments: { city: "Paris" } }, {
      name: "get_weather",
      arguments: { city: "Oslo" }
    }]
  }

  it.scoped("unary, with thinking: parallel tool_use blocks, the signed thinking echoed, results accepted, a final answer", () =>
    Effect.gen(function*() {
      const { client, sim, target } = yield* simulated
      sim.script("ant-sim", { ...script, reasoning: "Two cities to check." })
      const answer = yield* client.generate(target(), ask)
      const parts = answer.parts!
      assert.deepStrictEqual(parts.map((part) => part.type), ["reasoning", "tool-call", "tool-call"])
      const calls = parts.filter((part): part is ToolCallPart => part.type === "tool-call")
      assert.deepStrictEqual(calls.map((call) => call.params), [{ city: "Paris" }, { city: "Oslo" }])
      assert.match(calls[0]!.id, /^toolu_/)
      assert.strictEqual(answer.finishReason, "other")
      const final = yield* client.generate(target(), reply(parts as any))
      assert.include(final.content, "Echo:")
      const sent = sim.log("ant-sim")[1]!.body as any
      assert.strictEqual(sent.messages[1].content[0].type, "thinking")
      assert.deepStrictEqual(sent.messages[2].content.map((block: any) => block.type), ["tool_result", "tool_result"])
    }))

  it.scoped("a turn after a tool loop sent without the tools (a summary, a JSON answer) declares the history's tools, none callable: no \"must define tools\" 400", () =>
    Effect.gen(function*() {
      const { client, sim, target } = yield* simulated
      sim.script("ant-sim", script)
      const calls = (yield* client.generate(target(), ask)).parts!
      const { tools: _, ...loop } = reply(calls as any)
      const summary = yield* client.generate(target(), loop)
      assert.include(summary.content, "Echo:")
      const sent = sim.log("ant-sim")[1]!.body as any
      assert.deepStrictEqual(sent.tools, [{ name: "get_weather", input_schema: { type: "object" } }])
      assert.deepStrictEqual(sent.tool_choice, { type: "none" })
      // a forced-tool JSON answer after the loop declares them beside its answer tool
      sim.script("ant-sim", { json: { city: "Paris" } })
      const format = { type: "json" as const, name: "Weather", schema: { type: "object" } }
      const answer = yield* client.generate(target("claude-3-7-sonnet-latest"), { ...loop, responseFormat: format })
      assert.deepStrictEqual(JSON.parse(answer.content), { city: "Paris" })
      const forced = sim.log("ant-sim")[2]!.body as any
      assert.deepStrictEqual(forced.tools.map((tool: any) => tool.name), ["get_weather", "Weather"])
      // a history that called a tool named as the answer tool declares that name once (names are unique)
      const named = { ...loop, responseFormat: { ...format, name: "get_weather" } }
      const encoded = Request.encode("claude-3-7-sonnet-latest", named, false)
      assert.deepStrictEqual(encoded.tools?.map((tool) => tool.name), ["get_weather"])
      // a name the service refuses to declare (a call made over another protocol) is left undeclared
      const dotted: ToolCallPart = { type: "tool-call", id: "toolu_9", name: "weather.get", params: {} }
      const foreign = Request.encode("claude-3-7-sonnet-latest", {
        ...named,
        messages: [...named.messages, { role: "assistant", parts: [dotted] }, {
          role: "tool",
          parts: [{ type: "tool-result", id: "toolu_9", name: "weather.get", result: 1, isFailure: false }]
        }]
      }, false)
      assert.deepStrictEqual(foreign.tools?.map((tool) => tool.name), ["get_weather"])
      assert.deepStrictEqual(forced.tool_choice, { type: "tool", name: "Weather" })
      // with its tools sent, the request is as before
      yield* client.generate(target(), reply(calls as any))
      assert.deepStrictEqual((sim.log("ant-sim")[3]!.body as any).tools.map((tool: any) => tool.description), [
        "The weather in a city"
      ])
    }))

  it.scoped("streamed: tool_use blocks assembled from input_json_delta, the signature as part metadata, then a streamed answer", () =>
    Effect.gen(function*() {
      const { client, sim, target } = yield* simulated
      sim.script("ant-sim", { ...script, reasoning: "Two cities." })
      const first = yield* runStream(client, target(), ask)
      assert.isUndefined(first.error)
      const calls = partsOf(first.parts, "ToolCall").map((part) => part.call)
      assert.deepStrictEqual(calls.map((call) => call.params), [{ city: "Paris" }, { city: "Oslo" }])
      const signature = partsOf(first.parts, "PartMetadata")[0]!.metadata
      const second = yield* runStream(
        client,
        target(),
        reply([{ type: "reasoning", text: "Two cities.", metadata: signature }, ...calls])
      )
      assert.isUndefined(second.error)
      assert.include(partsOf(second.parts, "TextDelta").map((part) => part.text).join(""), "Echo:")
    }))

  it.scoped("JSON output: native on claude-sonnet-4-5 (text), a forced tool on older models (the tool's input), streamed too", () =>
    Effect.gen(function*() {
      const { client, sim, target } = yield* simulated
      const format = {
        type: "json" as const,
        name: "Weather",
        schema: { ...weather.parameters, additionalProperties: false }
      }
      sim.script("ant-sim", { json: { city: "Paris" } })
      const native = yield* client.generate(target("claude-sonnet-4-5"), { ...hello, responseFormat: format })
      assert.deepStrictEqual(JSON.parse(native.content), { city: "Paris" })
      assert.isDefined((sim.log("ant-sim")[0]!.body as any).output_config)
      sim.script("ant-sim", { json: { city: "Oslo" } })
      const forced = yield* client.generate(target("claude-3-7-sonnet-latest"), { ...hello, responseFormat: format })
      assert.deepStrictEqual(JSON.parse(forced.content), { city: "Oslo" })
      assert.strictEqual(forced.finishReason, "stop")
      assert.deepStrictEqual((sim.log("ant-sim")[1]!.body as any).tool_choice, { type: "tool", name: "Weather" })
      sim.script("ant-sim", { json: { city: "Rome" } })
      const streamed = yield* runStream(client, target("claude-3-7-sonnet-latest"), {
        ...hello,
        responseFormat: format
      })
      const parts: ReadonlyArray<StreamPart> = streamed.parts
      assert.deepStrictEqual(JSON.parse(partsOf(parts, "TextDelta").map((part) => part.text).join("")), {
        city: "Rome"
      })
      assert.deepStrictEqual(partsOf(parts, "Finish").map((part) => part.reason), ["stop"])
      assert.lengthOf(partsOf(parts, "ToolCall"), 0)
    }))

  it.scoped("the service's 400s as invalid_request: an unanswered tool_use, an orphaned tool_result, a forged signature, an image over 5 MB", () =>
    Effect.gen(function*() {
      const { client, target } = yield* simulated
      const call: ToolCallPart = { type: "tool-call", id: "toolu_1", name: "get_weather", params: { city: "Paris" } }
      const expectInvalid = (request: CallRequest, words: string) =>
        Effect.gen(function*() {
          const error = yield* Effect.flip(client.generate(target(), request))
          assert.strictEqual(error._tag, "FatalError")
          assert.strictEqual((error as { reason: string }).reason, "invalid_request")
          assert.include(error.message, words)
        })
      yield* expectInvalid(
        {
          ...ask,
          messages: [...ask.messages, { role: "assistant", parts: [call] }, { role: "user", parts: [text("?")] }]
        },
        "`tool_use` ids were found without `tool_result` blocks immediately after: toolu_1"
      )
      const orphan = reply([call])
      yield* expectInvalid(
        { ...orphan, messages: [orphan.messages[0]!, { role: "assistant", parts: [text("ok")] }, orphan.messages[2]!] },
        "unexpected `tool_use_id` found in `tool_result` blocks: toolu_1"
      )
      yield* expectInvalid(
        reply([{ type: "reasoning", text: "x", metadata: { anthropic: { signature: "forged" } } }, call]),
        "Invalid `signature` in `thinking` block"
      )
      yield* expectInvalid(
        user(file("image/png", bytes("A".repeat(5_242_881))), text("big")),
        "image exceeds 5 MB maximum: 5242881 bytes > 5242880 bytes"
      )
    }))
})
