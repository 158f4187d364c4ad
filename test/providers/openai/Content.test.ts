/**
 * Chat Completions content parts: images (bytes as a `data:` URL, `https:` and `data:` URLs),
 * wav/mp3 audio as `input_audio`, PDFs as `file_data`, encoded in the WIRE notes' shapes; what the
 * protocol refuses — named by position and media type, before any request; and tool loops, JSON
 * output and content parts through the simulator, which rejects what the real service rejects.
 */
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Redacted from "effect/Redacted"
import type { CallRequest, FilePart, Part, ToolCallPart, ToolDefinition } from "../../../src/domain/Prompt.js"
import { text } from "../../../src/domain/Prompt.js"
import * as OpenAI from "../../../src/providers/openai/OpenAI.js"
import * as Request from "../../../src/providers/openai/Request.js"
import type { ProviderTarget } from "../../../src/providers/Provider.js"
import * as Simulator from "../../../src/simulator/Simulator.js"
import { collect, hello, partsOf } from "./Harness.js"

const bytes = (base64: string) => ({ _tag: "base64" as const, base64 })
const url = (value: string) => ({ _tag: "url" as const, url: value })
const file = (mediaType: string, data: FilePart["data"], fileName?: string): FilePart => ({
  type: "file",
  mediaType,
  data,
  ...(fileName !== undefined ? { fileName } : {})
})
const png = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="

const user = (
  ...parts: ReadonlyArray<Exclude<Part, { type: "tool-result" | "tool-call" | "reasoning" }>>
): CallRequest => ({
  ...hello,
  messages: [{ role: "user", parts }]
})
const encodeUser = (request: CallRequest) => (Request.encode("gpt-4o", request, false) as any).messages[0].content

describe("OpenAI content parts", () => {
  it("encoded as WIRE §3.6: text, image_url (bytes as a data: URL, https and data: URLs kept), input_audio, file_data", () => {
    assert.deepStrictEqual(
      encodeUser(user(
        text("What's in this image?"),
        file("image/png", bytes(png)),
        file("image/*", url("https://example.com/cat.jpg")),
        file("image/webp", url("data:image/webp;base64,UklGRg==")),
        file("audio/wav", bytes("UklGRiQAAABXQVZF")),
        file("audio/mpeg", url("data:audio/mpeg;base64,SUQzBA==")),
        file("application/pdf", bytes("JVBERi0xLjQ="), "a.pdf"),
        file("application/pdf", url("data:application/pdf;base64,JVBERi0xLjc="))
      )),
      [
        { type: "text", text: "What's in this image?" },
        { type: "image_url", image_url: { url: `data:image/png;base64,${png}` } },
        { type: "image_url", image_url: { url: "https://example.com/cat.jpg" } },
        { type: "image_url", image_url: { url: "data:image/webp;base64,UklGRg==" } },
        { type: "input_audio", input_audio: { data: "UklGRiQAAABXQVZF", format: "wav" } },
        { type: "input_audio", input_audio: { data: "SUQzBA==", format: "mp3" } },
        { type: "file", file: { filename: "a.pdf", file_data: "data:application/pdf;base64,JVBERi0xLjQ=" } },
        { type: "file", file: { filename: "document.pdf", file_data: "data:application/pdf;base64,JVBERi0xLjc=" } }
      ]
    )
    // A data: URL names its own audio type: MP3 bytes declared as wav go as mp3.
    assert.deepStrictEqual(encodeUser(user(file("audio/wav", url("data:audio/mpeg;base64,SUQzBA==")))), [
      { type: "input_audio", input_audio: { data: "SUQzBA==", format: "mp3" } }
    ])
    // A user turn of text alone stays one string.
    assert.strictEqual(encodeUser(user(text("a"), text("b"))), "ab")
  })

  it("an inline image over OpenAI's 20 MB is refused before any request (bytes or data: URL); at the cap it goes", () => {
    // 27,962,028 base64 characters with one "=" are 20,971,520 bytes (20 MiB); four more are 3 bytes over
    const atCap = "A".repeat(27_962_024) + "AAA="
    const over = "A".repeat(27_962_028) + "AAA="
    const check = (part: FilePart) =>
      OpenAI.protocol.check({ ...hello, messages: [{ role: "user", parts: [text("look"), part] }] }, "gpt-4o")
    for (const data of [bytes(over), url(`data:image/png;base64,${over}`)]) {
      const error = check(file("image/png", data))
      assert.strictEqual(error?.reason, "invalid_request")
      assert.include(error?.message, "messages[0].content[1]")
      assert.include(error?.message, "image/png")
      assert.include(error?.message, "20 MB image limit: 20971523 bytes > 20971520")
    }
    for (const data of [bytes(atCap), url(`data:image/png;base64,${atCap}`)]) {
      assert.isUndefined(check(file("image/png", data)))
    }
    // a remote image and a PDF are not held to it
    assert.isUndefined(check(file("image/png", url("https://example.com/big.png"))))
    assert.isUndefined(check(file("application/pdf", bytes(over))))
  })

  it("a request over OpenAI's 500 images or 50 MB of inline image bytes is refused; at the caps it goes", () => {
    // base64 of n zero bytes, its "=" padding included
    const ofBytes = (n: number) => "A".repeat(4 * Math.floor(n / 3)) + ["", "AA==", "AAA="][n % 3]!
    const check = (...parts: ReadonlyArray<FilePart>) =>
      OpenAI.protocol.check({ ...hello, messages: [{ role: "user", parts: [text("look"), ...parts] }] }, "gpt-4o")
    const remote = file("image/png", url("https://example.com/a.png"))
    assert.isUndefined(check(...Array.from({ length: 500 }, () => remote)))
    const tooMany = check(...Array.from({ length: 500 }, () => remote), file("image/png", bytes(png)))
    assert.strictEqual(tooMany?.reason, "invalid_request")
    assert.include(tooMany?.message, "501 images, over OpenAI's 500 per request")

    // two 20 MiB images and one of 10 MiB are 52,428,800 bytes, the cap; 3 bytes more are over it
    const twenty = file("image/png", bytes(ofBytes(20 * 1024 * 1024)))
    assert.isUndefined(check(twenty, twenty, file("image/jpeg", bytes(ofBytes(10 * 1024 * 1024)))))
    const over = check(
      twenty,
      file("image/jpeg", url(`data:image/jpeg;base64,${ofBytes(10 * 1024 * 1024 + 3)}`)),
      twenty
    )
    assert.strictEqual(over?.reason, "invalid_request")
    assert.include(over?.message, "52428803 bytes, over OpenAI's 50 MB per request (52428800)")
    // PDFs and audio are not image bytes
    assert.isUndefined(check(twenty, twenty, file("application/pdf", bytes(ofBytes(20 * 1024 * 1024)))))
  })

  it("refused before any request, naming the part by position and media type", () => {
    const refusal = (part: FilePart, role: "user" | "assistant" = "user") =>
      OpenAI.protocol.check(
        { ...hello, messages: [{ role: "user", parts: [text("first")] }, { role, parts: [text("look"), part] }] },
        "gpt-4o"
      )
    const cases: ReadonlyArray<readonly [FilePart, string]> = [
      [file("image/png", url("http://example.com/a.png")), "messages[1].content[1]: a URL image/png file"],
      [file("image/*", bytes(png)), "messages[1].content[1]: an inline image/* file"],
      [file("image/bmp", bytes(png)), "an inline image/bmp file"],
      [file("image/png", url("data:image/tiff;base64,AAAA")), "a URL image/png file"],
      [file("audio/wav", url("https://example.com/a.wav")), "a URL audio/wav file"],
      [file("audio/ogg", bytes("AAAA")), "an inline audio/ogg file"],
      [file("application/pdf", url("https://example.com/a.pdf")), "a URL application/pdf file"],
      [file("video/mp4", bytes("AAAA")), "an inline video/mp4 file"],
      [file("text/plain", bytes("aGk=")), "an inline text/plain file"]
    ]
    for (const [part, expected] of cases) {
      const error = refusal(part)
      assert.strictEqual(error?._tag, "FatalError", expected)
      assert.strictEqual(error?.reason, "invalid_request")
      assert.include(error?.message, expected)
      assert.include(error?.message, "cannot be sent over the openai protocol")
    }
    // A file in an assistant turn: Chat Completions' assistant messages take text only.
    assert.include(
      refusal(file("image/png", bytes(png)), "assistant")?.message,
      "messages[1].content[1]: an inline image/png file in an assistant turn"
    )
    // A part's own `source` names it.
    assert.include(
      OpenAI.protocol.check(user({ ...file("audio/ogg", bytes("AAAA")), source: "messages[4].content[0]" }), "gpt-4o")
        ?.message,
      "messages[4].content[0]"
    )
    assert.isUndefined(OpenAI.protocol.check(user(text("x"), file("image/gif", bytes("R0lGOD"))), "gpt-4o"))
  })
})

it.layer(NodeHttpClient.layerUndici)("OpenAI tool loops against the simulator", (it) => {
  const simulated = Effect.gen(function*() {
    const sim = yield* Simulator.make({ keys: { openai: "o-key" } })
    const client = yield* OpenAI.make
    const target: ProviderTarget = {
      provider: "openai",
      endpoint: { name: "oai-sim", baseUrl: sim.baseUrl("oai-sim") + "/v1", region: undefined },
      modelId: "gpt-4o-mini",
      apiKey: Redacted.make("o-key"),
      headers: []
    }
    return { sim, client, target }
  })

  const weather: ToolDefinition = {
    name: "get_weather",
    description: "The weather in a city",
    parameters: {
      type: "object",
      properties: { city: { type: "string" } },
      required: ["city"],
      additionalProperties: false
    }
  }
  const ask: CallRequest = {
    ...hello,
    messages: [{ role: "user", parts: [text("Weather in Paris and Oslo?"), file("image/png", bytes(png))] }],
    tools: [weather],
    toolChoice: "auto"
  }
  const reply = (calls: ReadonlyArray<ToolCallPart>): CallRequest => ({
    ...ask,
    messages: [
      ...ask.messages,
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
    toolCalls: [{ name: "get_weather", arguments: { city: "Paris" } }, {
      name: "get_weather",
      arguments: { city: "Oslo" }
    }]
  }

  it.scoped("unary: parallel calls, the results accepted, a final answer", () =>
    Effect.gen(function*() {
      const { client, sim, target } = yield* simulated
      sim.script("oai-sim", script)
      const answer = yield* client.generate(target, ask)
      const calls = answer.parts!.filter((part): part is ToolCallPart => part.type === "tool-call")
      assert.deepStrictEqual(calls.map((call) => call.params), [{ city: "Paris" }, { city: "Oslo" }])
      assert.match(calls[0]!.id, /^call_[A-Za-z0-9]{1,24}$/)
      const final = yield* client.generate(target, reply(calls))
      assert.include(final.content, "Echo:")
      assert.strictEqual(final.finishReason, "stop")
      const sent = sim.log("oai-sim")[1]!.body as any
      assert.strictEqual(sent.messages[1].content, null)
      assert.deepStrictEqual(sent.messages.slice(2).map((m: any) => [m.role, m.tool_call_id]), [
        ["tool", calls[0]!.id],
        ["tool", calls[1]!.id]
      ])
    }))

  it.scoped("streamed: fragments assembled by index, then a streamed answer", () =>
    Effect.gen(function*() {
      const { client, sim, target } = yield* simulated
      sim.script("oai-sim", script)
      const first = yield* collect(yield* client.stream(target, ask))
      assert.isTrue(Exit.isSuccess(first.exit))
      assert.deepStrictEqual(first.finish, ["other"])
      const calls = partsOf(first.parts, "ToolCall").map((part) => part.call)
      assert.deepStrictEqual(calls.map((call) => [call.name, call.params]), [
        ["get_weather", { city: "Paris" }],
        ["get_weather", { city: "Oslo" }]
      ])
      const second = yield* collect(yield* client.stream(target, reply(calls)))
      assert.isTrue(Exit.isSuccess(second.exit))
      assert.include(second.text, "Echo:")
    }))

  it.scoped("JSON output: a strict json_schema the simulator accepts, the json step's answer as text", () =>
    Effect.gen(function*() {
      const { client, sim, target } = yield* simulated
      sim.script("oai-sim", { json: { city: "Paris", celsius: 18 } })
      const answer = yield* client.generate(target, {
        ...hello,
        responseFormat: { type: "json", name: "Weather", schema: weather.parameters }
      })
      assert.deepStrictEqual(JSON.parse(answer.content), { city: "Paris", celsius: 18 })
      assert.isTrue((sim.log("oai-sim")[0]!.body as any).response_format.json_schema.strict)
    }))

  it.scoped("the service's 400s as invalid_request: an unanswered call, a tool message without a call, a strict schema breaking the rules, json_object without json", () =>
    Effect.gen(function*() {
      const { client, target } = yield* simulated
      const call: ToolCallPart = { type: "tool-call", id: "call_1", name: "get_weather", params: { city: "Paris" } }
      const expectInvalid = (request: CallRequest, words: string) =>
        Effect.gen(function*() {
          const error = yield* Effect.flip(client.generate(target, request))
          assert.strictEqual(error._tag, "FatalError")
          assert.strictEqual((error as { reason: string }).reason, "invalid_request")
          assert.include(error.message, words)
        })
      yield* expectInvalid(
        {
          ...ask,
          messages: [...ask.messages, { role: "assistant", parts: [call] }, { role: "user", parts: [text("?")] }]
        },
        "did not have response messages: call_1"
      )
      const orphan = reply([call])
      yield* expectInvalid(
        { ...orphan, messages: [orphan.messages[0]!, orphan.messages[2]!] },
        "must be a response to a preceeding message"
      )
      // Raw bodies for what the encoder never sends.
      const post = (body: unknown) =>
        Effect.promise(async () => {
          const response = await fetch(target.endpoint.baseUrl + "/chat/completions", {
            method: "POST",
            headers: { "content-type": "application/json", authorization: "Bearer o-key" },
            body: JSON.stringify(body)
          })
          return { status: response.status, body: (await response.json()) as any }
        })
      const strict = yield* post({
        model: "gpt-4o",
        messages: [{ role: "user", content: "hi" }],
        response_format: {
          type: "json_schema",
          json_schema: { name: "W", strict: true, schema: { type: "object", properties: { a: { type: "string" } } } }
        }
      })
      assert.strictEqual(strict.status, 400)
      assert.include(strict.body.error.message, "'additionalProperties' is required to be supplied and to be false")
      const mode = yield* post({
        model: "gpt-4o",
        messages: [{ role: "user", content: "hi" }],
        response_format: { type: "json_object" }
      })
      assert.strictEqual(mode.status, 400)
      assert.include(mode.body.error.message, "must contain the word 'json'")
      const image = yield* post({
        model: "gpt-4o",
        messages: [{ role: "user", content: [{ type: "image_url", image_url: { url: "http://example.com/a.png" } }] }]
      })
      assert.strictEqual(image.status, 400)
      assert.strictEqual(image.body.error.message, "Invalid image.")
      const name = yield* post({
        model: "gpt-4o",
        messages: [{ role: "user", content: "hi" }],
        tools: [{ type: "function", function: { name: "get.weather" } }],
        tool_choice: { type: "function", function: { name: "other" } }
      })
      assert.include(name.body.error.message, "Invalid 'tools[0].function.name': string does not match pattern")
    }))
})
