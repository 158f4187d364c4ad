/**
 * @effect/ai's request as a `CallRequest`: every prompt part kind, file data forms, provider options
 * as metadata, tools as JSON Schema, the five tool-choice forms, `generateObject`'s schema as a JSON
 * response format, and what is refused.
 */
import { Prompt, Tool } from "@effect/ai"
import type { LanguageModel } from "@effect/ai"
import { assert, describe, it } from "@effect/vitest"
import * as Schema from "effect/Schema"
import { callRequestOf } from "../../src/ai/Layer.js"
import { encodePrompt, fileDataOf } from "../../src/ai/Prompt.js"
import { responseFormatOf, toolChoiceOf, toolDefinitionsOf } from "../../src/ai/Tools.js"
import { FatalError } from "../../src/domain/Errors.js"
import type { CallRequest } from "../../src/domain/Prompt.js"
import { GetWeather } from "./Support.js"

const conversation = Prompt.make([
  { role: "system", content: "Be brief." },
  {
    role: "user",
    content: [
      { type: "text", text: "What is in this picture, and the weather there?" },
      { type: "file", mediaType: "image/png", data: new Uint8Array([1, 2, 3]) },
      { type: "file", mediaType: "application/pdf", data: new URL("https://example.com/a.pdf"), fileName: "a.pdf" }
    ]
  },
  {
    role: "assistant",
    content: [
      { type: "reasoning", text: "A harbour; Oslo.", options: { anthropic: { signature: "sig-r" } } },
      { type: "text", text: "Let me check." },
      {
        type: "tool-call",
        id: "call-1",
        name: "get_weather",
        params: { city: "Oslo" },
        providerExecuted: false,
        options: { gemini: { thoughtSignature: "sig-c" } }
      }
    ]
  },
  {
    role: "tool",
    content: [{
      type: "tool-result",
      id: "call-1",
      name: "get_weather",
      result: { celsius: 4 },
      isFailure: false,
      providerExecuted: false
    }]
  },
  { role: "system", content: "Answer in English." }
])

describe("encodePrompt", () => {
  it("system messages joined apart; user, assistant and tool turns part for part, options as metadata", () => {
    const encoded = encodePrompt(conversation)
    assert.notInstanceOf(encoded, FatalError)
    if (encoded instanceof FatalError) return
    assert.strictEqual(encoded.system, "Be brief.\n\nAnswer in English.")
    assert.deepStrictEqual(encoded.messages, [
      {
        role: "user",
        parts: [
          { type: "text", text: "What is in this picture, and the weather there?" },
          {
            type: "file",
            mediaType: "image/png",
            data: { _tag: "base64", base64: "AQID" },
            source: "messages[1].content[1]"
          },
          {
            type: "file",
            mediaType: "application/pdf",
            data: { _tag: "url", url: "https://example.com/a.pdf" },
            fileName: "a.pdf",
            source: "messages[1].content[2]"
          }
        ]
      },
      {
        role: "assistant",
        parts: [
          { type: "reasoning", text: "A harbour; Oslo.", metadata: { anthropic: { signature: "sig-r" } } },
          { type: "text", text: "Let me check." },
          {
            type: "tool-call",
            id: "call-1",
            name: "get_weather",
            params: { city: "Oslo" },
            metadata: { gemini: { thoughtSignature: "sig-c" } }
          }
        ]
      },
      {
        role: "tool",
        parts: [{ type: "tool-result", id: "call-1", name: "get_weather", result: { celsius: 4 }, isFailure: false }]
      }
    ])
  })

  it("file data: bytes and bare base64 as base64; data URLs (with their type), URL objects and strings with a scheme as URLs", () => {
    assert.deepStrictEqual(fileDataOf(new Uint8Array([255])), { _tag: "base64", base64: "/w==" })
    assert.deepStrictEqual(fileDataOf("AQID"), { _tag: "base64", base64: "AQID" })
    assert.deepStrictEqual(fileDataOf("data:image/png;base64,AQID"), { _tag: "url", url: "data:image/png;base64,AQID" })
    assert.deepStrictEqual(fileDataOf("https://x.test/a.png"), { _tag: "url", url: "https://x.test/a.png" })
    assert.deepStrictEqual(fileDataOf("oss://bucket/a.mp4"), { _tag: "url", url: "oss://bucket/a.mp4" })
    assert.deepStrictEqual(fileDataOf(new URL("https://x.test/b.png")), { _tag: "url", url: "https://x.test/b.png" })
  })

  it("an inline image given as image/* goes out with the type its bytes say (PNG, GIF, WebP), else image/jpeg", () => {
    const typeOf = (data: Uint8Array | string) => {
      const encoded = encodePrompt(
        Prompt.make([{ role: "user", content: [{ type: "file", mediaType: "image/*", data }] }])
      )
      if (encoded instanceof FatalError) return assert.fail(encoded.message)
      return (encoded.messages[0]!.parts[0] as { readonly mediaType: string }).mediaType
    }
    const bytes = (text: string) => new Uint8Array(Buffer.from(text, "latin1"))
    assert.strictEqual(typeOf(bytes("\x89PNG\r\n\x1a\n\0\0\0\rIHDR")), "image/png")
    assert.strictEqual(typeOf(Buffer.from("\x89PNG\r\n\x1a\n", "latin1").toString("base64")), "image/png")
    assert.strictEqual(typeOf(bytes("GIF89a\x01\0\x01\0")), "image/gif")
    assert.strictEqual(typeOf(bytes("RIFF\x24\0\0\0WEBPVP8 ")), "image/webp")
    assert.strictEqual(typeOf(bytes("\xff\xd8\xff\xe0\0\x10JFIF")), "image/jpeg")
    assert.strictEqual(typeOf(bytes("no known signature")), "image/jpeg")
  })

  it("base64 wrapped in lines (a 76-column encoder's) goes out compact, and the media type in lower case, as generate sends them", () => {
    const wrapped = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAA\r\n" +
      "AABJRU5ErkJggg==\n"
    const encoded = encodePrompt(Prompt.make([{
      role: "user",
      content: [{ type: "text", text: "What is this?" }, { type: "file", mediaType: "IMAGE/PNG", data: wrapped }]
    }]))
    assert.notInstanceOf(encoded, FatalError)
    if (encoded instanceof FatalError) return
    const part = encoded.messages[0]!.parts[1] as { readonly mediaType: string; readonly data: unknown }
    assert.strictEqual(part.mediaType, "image/png")
    assert.deepStrictEqual(part.data, { _tag: "base64", base64: wrapped.replace(/\s+/g, "") })
    // the same payload in a data: URL is sent as it was checked: compact
    const viaUrl = encodePrompt(Prompt.make([{
      role: "user",
      content: [{ type: "file", mediaType: "image/png", data: `data:image/png;base64,${wrapped}` }]
    }]))
    if (viaUrl instanceof FatalError) return assert.fail(viaUrl.message)
    assert.deepStrictEqual((viaUrl.messages[0]!.parts[0] as { readonly data: unknown }).data, {
      _tag: "url",
      url: `data:image/png;base64,${wrapped.replace(/\s+/g, "")}`
    })
  })

  it("file data a service could not take is invalid_request naming the part and its media type: a string neither base64 nor a URL, a data: URL whose payload is empty or not base64", () => {
    const cases: ReadonlyArray<[string, string]> = [
      ["@@@###", "neither base64 nor a URL"],
      ["data:image/png;base64,", "empty or not base64"],
      ["data:image/png;base64,@@@###", "empty or not base64"]
    ]
    for (const [data, problem] of cases) {
      const encoded = encodePrompt(Prompt.make([{
        role: "user",
        content: [{ type: "text", text: "What is this?" }, { type: "file", mediaType: "image/png", data }]
      }]))
      assert.instanceOf(encoded, FatalError, data)
      assert.strictEqual((encoded as FatalError).reason, "invalid_request")
      assert.include((encoded as FatalError).message, "messages[0].content[1] (image/png)", data)
      assert.include((encoded as FatalError).message, problem, data)
    }
  })

  it("a prompt with only system text is invalid_request", () => {
    const encoded = encodePrompt(Prompt.make([{ role: "system", content: "Be brief." }]))
    assert.instanceOf(encoded, FatalError)
    assert.include((encoded as FatalError).message, "no user, assistant or tool message")
  })

  it("an empty text part without metadata is dropped (Gemini and Anthropic refuse one), a message left empty with it; a signed one is kept", () => {
    const encoded = encodePrompt(Prompt.make([
      { role: "user", content: [{ type: "text", text: "" }, { type: "file", mediaType: "image/png", data: "AAAA" }] },
      { role: "user", content: "" },
      {
        role: "assistant",
        content: [{ type: "text", text: "" }, {
          type: "tool-call",
          id: "call-1",
          name: "get_weather",
          params: {},
          providerExecuted: false
        }, { type: "text", text: "", options: { gemini: { thoughtSignature: "sig-t" } } }]
      }
    ]))
    assert.notInstanceOf(encoded, FatalError)
    const messages = (encoded as Exclude<typeof encoded, FatalError>).messages
    assert.deepStrictEqual(messages.map((message) => message.parts.map((part) => part.type)), [["file"], [
      "tool-call",
      "text"
    ]])
    assert.deepStrictEqual(
      messages[1]!.parts[1],
      { type: "text", text: "", metadata: { gemini: { thoughtSignature: "sig-t" } } } as any
    )
    const empty = encodePrompt(Prompt.make(""))
    assert.instanceOf(empty, FatalError)
    assert.strictEqual((empty as FatalError).reason, "invalid_request")
  })

  it("a provider-executed tool result in an assistant turn is left out (it has no request form)", () => {
    const encoded = encodePrompt(Prompt.make([{ role: "user", content: "hi" }, {
      role: "assistant",
      content: [{
        type: "tool-result",
        id: "ws-1",
        name: "web_search",
        result: {},
        isFailure: false,
        providerExecuted: true
      }, { type: "text", text: "Done." }]
    }]))
    assert.deepStrictEqual((encoded as any).messages[1].parts, [{ type: "text", text: "Done." }])
  })
})

describe("tools, tool choice and response format", () => {
  it("a toolkit tool as a definition whose parameters are its Schema's JSON Schema", () => {
    const [definition] = toolDefinitionsOf([GetWeather]) as ReadonlyArray<any>
    assert.strictEqual(definition.name, "get_weather")
    assert.strictEqual(definition.description, "The current weather in a city")
    assert.deepStrictEqual(definition.parameters, {
      type: "object",
      properties: { city: { type: "string" } },
      required: ["city"],
      additionalProperties: false
    })
  })

  it("a tool made with `parameters: {}` and an empty Struct as generateObject's schema go as an object with no properties (not Effect's `anyOf: [object, array]`, which the services refuse)", () => {
    const empty = { type: "object", properties: {}, required: [], additionalProperties: false }
    const [definition] = toolDefinitionsOf([Tool.make("ping", { parameters: {} })]) as ReadonlyArray<any>
    assert.deepStrictEqual(definition.parameters, empty)
    // the same as a tool declared without parameters
    const [bare] = toolDefinitionsOf([Tool.make("ping")]) as ReadonlyArray<any>
    assert.deepStrictEqual(bare.parameters, empty)
    const format = responseFormatOf({
      type: "json",
      objectName: "Ack",
      schema: Schema.Struct({}).annotations({ description: "An acknowledgement" })
    }) as any
    assert.deepStrictEqual(format.schema, { ...empty, description: "An acknowledgement" })
  })

  it("a tuple goes in JSON Schema 2020-12's form (prefixItems), not draft-07's array `items` that Anthropic and OpenAI refuse", () => {
    const [definition] = toolDefinitionsOf([
      Tool.make("move", {
        parameters: { to: Schema.Tuple(Schema.Number, Schema.Number), tags: Schema.Array(Schema.String) }
      })
    ]) as ReadonlyArray<any>
    const to = definition.parameters.properties.to
    assert.deepStrictEqual(to.prefixItems, [{ type: "number" }, { type: "number" }])
    assert.strictEqual(to.items, false)
    assert.notProperty(to, "additionalItems")
    // an array of one schema is untouched
    assert.deepStrictEqual(definition.parameters.properties.tags.items, { type: "string" })
    const format = responseFormatOf({
      type: "json",
      objectName: "Point",
      schema: Schema.Struct({ p: Schema.Tuple([Schema.String], Schema.Number) })
    }) as any
    assert.deepStrictEqual(format.schema.properties.p.prefixItems, [{ type: "string" }])
    assert.deepStrictEqual(format.schema.properties.p.items, { type: "number" })
    // a default or example value holding an `items` array is data, left as it is
    const [annotated] = toolDefinitionsOf([
      Tool.make("pick", {
        parameters: {
          box: Schema.Struct({ items: Schema.Array(Schema.String) }).annotations({
            default: { items: ["a", "b"] },
            examples: [{ items: ["c"] }]
          })
        }
      })
    ]) as ReadonlyArray<any>
    assert.deepStrictEqual(annotated.parameters.properties.box.default, { items: ["a", "b"] })
    assert.deepStrictEqual(annotated.parameters.properties.box.examples, [{ items: ["c"] }])
    // a property merely named like one of those keywords is a schema like any other
    const [named] = toolDefinitionsOf([
      Tool.make("range", {
        parameters: {
          default: Schema.Tuple(Schema.String, Schema.Number),
          enum: Schema.Tuple(Schema.Number),
          examples: Schema.Tuple(Schema.Boolean),
          const: Schema.Tuple(Schema.String)
        }
      })
    ]) as ReadonlyArray<any>
    for (const name of ["default", "enum", "examples", "const"]) {
      assert.isArray(named.parameters.properties[name].prefixItems, name)
      assert.notProperty(named.parameters.properties[name], "additionalItems", name)
    }
    if (format.schema.$schema !== undefined) {
      assert.strictEqual(format.schema.$schema, "https://json-schema.org/draft/2020-12/schema")
    }
  })

  it("a provider-defined tool is refused", () => {
    const search = Tool.providerDefined({
      id: "google.search",
      toolkitName: "GoogleSearch",
      providerName: "google_search",
      args: {}
    })({})
    const refused = toolDefinitionsOf([search as any])
    assert.instanceOf(refused, FatalError)
    assert.include((refused as FatalError).message, "provider-defined")
  })

  it("the five choice forms; { oneOf } is required among them only with mode required; nothing without tools; a { oneOf } naming a tool not sent is refused", () => {
    const ab = ["a", "b"]
    assert.strictEqual(toolChoiceOf("auto", ab), "auto")
    assert.strictEqual(toolChoiceOf("none", ab), "none")
    assert.strictEqual(toolChoiceOf("required", ab), "required")
    assert.deepStrictEqual(toolChoiceOf({ tool: "a" }, ab), { tool: "a" })
    assert.deepStrictEqual(toolChoiceOf({ oneOf: ["a", "b"], mode: "required" }, ab), { oneOf: ["a", "b"] })
    assert.strictEqual(toolChoiceOf({ oneOf: ["a"] }, ["a"]), "auto")
    assert.isUndefined(toolChoiceOf("none", []))
    // LanguageModel sends only the tools a { oneOf } names: a name left out is no tool of the toolkit
    for (const [oneOf, sent] of [[["nope"], []], [[], []], [["a", "nope"], ["a"]]] as const) {
      for (const mode of ["auto", "required"] as const) {
        const refused = toolChoiceOf({ oneOf, mode }, sent)
        assert.instanceOf(refused, FatalError)
        assert.strictEqual((refused as FatalError).reason, "invalid_request")
        assert.include(
          (refused as FatalError).message,
          `toolChoice { oneOf: ${JSON.stringify(oneOf)} } names no declared tool`
        )
      }
    }
    assert.include((toolChoiceOf({ oneOf: ["a", "nope"] }, ["a"]) as FatalError).message, `("nope")`)
  })

  it("generateObject's schema as a JSON response format named by the object, described by its annotation", () => {
    const Person = Schema.Struct({ name: Schema.String }).annotations({ description: "A person" })
    const format = responseFormatOf({ type: "json", objectName: "Person", schema: Person })
    assert.deepStrictEqual(format, {
      type: "json",
      name: "Person",
      description: "A person",
      schema: {
        type: "object",
        properties: { name: { type: "string" } },
        required: ["name"],
        additionalProperties: false,
        description: "A person"
      }
    })
    assert.isUndefined(responseFormatOf({ type: "text" }))
  })
})

describe("callRequestOf", () => {
  const options = (extra: Partial<LanguageModel.ProviderOptions> = {}): LanguageModel.ProviderOptions => ({
    prompt: Prompt.make("Weather in Oslo?"),
    tools: [],
    toolChoice: "none",
    responseFormat: { type: "text" },
    span: undefined as any,
    ...extra
  })

  it("the layer's settings, tools and choice in one request; no tools, no choice", () => {
    const request = callRequestOf(options({ tools: [GetWeather], toolChoice: { tool: "get_weather" } }), {
      maxOutputTokens: 300,
      temperature: 0.2
    }) as CallRequest
    assert.strictEqual(request.maxOutputTokens, 300)
    assert.strictEqual(request.temperature, 0.2)
    assert.deepStrictEqual(request.tools?.map((tool) => tool.name), ["get_weather"])
    assert.deepStrictEqual(request.toolChoice, { tool: "get_weather" })
    const plain = callRequestOf(options(), {}) as CallRequest
    assert.isUndefined(plain.tools)
    assert.isUndefined(plain.toolChoice)
    assert.isUndefined(plain.responseFormat)
  })
})
