/**
 * Content parts in the native API (API.md §9): what `messages[].content` may hold, how each part
 * reaches the protocols (labelled by its position, so a refusal names it), and the clear refusal of
 * every malformed part before anything is held or sent.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import { FatalError } from "../../src/domain/Errors.js"
import type { CallRequest, FilePart } from "../../src/domain/Prompt.js"
import { type ContentPart, type GenerateRequest, validate } from "../../src/domain/Request.js"
import { makeMockProviders, makeTestLayer } from "../../src/layers/Test.js"
import { Ledger } from "../../src/services/Ledger.js"
import { generate, stream } from "../../src/services/LLMClient.js"

const png = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="

const accepted = (request: GenerateRequest): CallRequest => {
  const result = validate(request)
  if (result instanceof FatalError) assert.fail(result.message)
  return result
}

const refusedWith = (content: ReadonlyArray<unknown>, role: "user" | "system" = "user"): string => {
  const result = validate({ messages: [{ role, content: content as ReadonlyArray<ContentPart> }] })
  if (!(result instanceof FatalError)) return assert.fail("the request was accepted")
  assert.strictEqual(result.reason, "invalid_request")
  return result.message
}

describe("content parts", () => {
  it("a string content stays one text part; a list keeps its parts in order, each labelled by position", () => {
    const bytes = Buffer.from(png, "base64")
    const request = accepted({
      messages: [
        { role: "system", content: [{ type: "text", text: "Be brief." }] },
        { role: "user", content: "First turn" },
        { role: "assistant", content: "Noted." },
        {
          role: "user",
          content: [
            { type: "text", text: "What is in these?" },
            { type: "image", data: new Uint8Array(bytes), mediaType: "image/png" },
            { type: "image", data: png, mediaType: "IMAGE/PNG" },
            { type: "image", url: "https://example.com/cat.jpg" },
            { type: "image", url: `data:image/webp;base64,${png}` },
            { type: "file", data: "JVBERi0xLjQK", mediaType: "application/pdf", name: "report.pdf" }
          ]
        }
      ]
    })
    assert.strictEqual(request.system, "Be brief.")
    assert.strictEqual(request.messages.length, 3)
    const parts = request.messages[2]!.parts
    assert.deepStrictEqual(parts[0], { type: "text", text: "What is in these?" })
    const files = parts.slice(1) as ReadonlyArray<FilePart>
    assert.deepStrictEqual(files.map((part) => [part.mediaType, part.data._tag, part.source]), [
      ["image/png", "base64", "messages[3].content[1]"],
      ["image/png", "base64", "messages[3].content[2]"],
      ["image/*", "url", "messages[3].content[3]"],
      ["image/webp", "url", "messages[3].content[4]"],
      ["application/pdf", "base64", "messages[3].content[5]"]
    ])
    // Bytes are sent as the base64 of exactly those bytes.
    assert.deepStrictEqual(files[0]!.data, { _tag: "base64", base64: png })
    assert.strictEqual(files[4]!.fileName, "report.pdf")
  })

  it("an image URL takes the mediaType its path does not show", () => {
    const request = accepted({
      messages: [{
        role: "user",
        content: [
          { type: "image", url: "https://example.com/render?id=7", mediaType: "IMAGE/PNG" },
          { type: "image", url: `data:image/webp;base64,${png}`, mediaType: "image/webp" },
          // `image/*` says no more than the kind: as if not given (the protocol reads the URL's extension)
          { type: "image", url: "https://example.com/a.jpg", mediaType: "image/*" },
          { type: "image", url: `data:image/gif;base64,${png}`, mediaType: "image/*" }
        ]
      }]
    })
    const files = request.messages[0]!.parts as ReadonlyArray<FilePart>
    assert.deepStrictEqual(files.map((part) => [part.mediaType, part.data._tag]), [
      ["image/png", "url"],
      ["image/webp", "url"],
      ["image/*", "url"],
      ["image/gif", "url"]
    ])
  })

  it("wrapped base64 (line breaks) is accepted and sent compact", () => {
    const wrapped = `${png.slice(0, 40)}\n${png.slice(40)}`
    const request = accepted({
      messages: [{ role: "user", content: [{ type: "image", data: wrapped, mediaType: "image/png" }] }]
    })
    assert.deepStrictEqual((request.messages[0]!.parts[0] as FilePart).data, { _tag: "base64", base64: png })
    // the same payload in a data: URL (wrapped, or after a space) is sent as it was checked: compact
    for (const payload of [wrapped, ` ${png}`, `${png.slice(0, 40)}\r\n ${png.slice(40)}\n`]) {
      const viaUrl = accepted({
        messages: [{ role: "user", content: [{ type: "image", url: `data:image/png;base64,${payload}` }] }]
      })
      assert.deepStrictEqual((viaUrl.messages[0]!.parts[0] as FilePart).data, {
        _tag: "url",
        url: `data:image/png;base64,${png}`
      })
    }
  })

  it("a data: URL written in upper case is sent with its header in lower case (its payload unchanged)", () => {
    const request = accepted({
      messages: [{ role: "user", content: [{ type: "image", url: `DATA:IMAGE/PNG;BASE64,${png}` }] }]
    })
    const part = request.messages[0]!.parts[0] as FilePart
    assert.deepStrictEqual([part.mediaType, part.data], ["image/png", {
      _tag: "url",
      url: `data:image/png;base64,${png}`
    }])
  })

  it("refuses each malformed part as invalid_request, naming its position and what is wrong", () => {
    const cases: ReadonlyArray<[ReadonlyArray<unknown>, ReadonlyArray<string>]> = [
      [[{ type: "text", text: "ok" }, { type: "image", url: "http://example.com/a.png" }], [
        "messages[0].content[1]",
        "https: or data:"
      ]],
      [[{ type: "image", url: "ftp://example.com/a.png" }], ["messages[0].content[0]", "https: or data:"]],
      [[{ type: "image", url: "data:text/plain;base64,aGk=" }], ["messages[0].content[0] (text/plain)", "data:image/"]],
      [[{ type: "image", url: "data:image/png,rawbytes" }], ["messages[0].content[0]", "base64"]],
      // a data: URL's payload is checked as inline base64 is: empty or not base64 is refused, not sent
      [[{ type: "image", url: "data:image/png;base64," }], [
        "messages[0].content[0] (image/png)",
        "empty or not base64"
      ]],
      [[{ type: "image", url: "data:image/png;base64,@@@###" }], [
        "messages[0].content[0] (image/png)",
        "empty or not base64"
      ]],
      // an http: URL's refusal names the media type its extension says
      [[{ type: "image", url: "http://example.com/a.jpg?x=1" }], ["messages[0].content[0] (image/jpeg)", "https:"]],
      [[{ type: "image", url: "http://example.com/picture" }], ["messages[0].content[0] (image/*)"]],
      [[{ type: "image", data: "not base64!", mediaType: "image/png" }], [
        "messages[0].content[0] (image/png)",
        "data is not base64"
      ]],
      // a data: URL given as data says where it goes
      [[{ type: "image", data: `data:image/png;base64,${png}`, mediaType: "image/png" }], [
        "messages[0].content[0] (image/png)",
        "data is a data: URL: give it as `url`"
      ]],
      // a file part has no url: its payload goes in data
      [[{ type: "file", data: `data:application/pdf;base64,${png}`, mediaType: "application/pdf" }], [
        "messages[0].content[0] (application/pdf)",
        "give its base64 payload (after `base64,`) as `data`"
      ]],
      [[{ type: "image", data: "", mediaType: "image/png" }], ["messages[0].content[0]", "base64"]],
      [[{ type: "image", data: png }], ["messages[0].content[0].mediaType", "image/"]],
      [[{ type: "image", data: png, mediaType: "application/pdf" }], [
        "messages[0].content[0].mediaType",
        "application/pdf"
      ]],
      [[{ type: "file", data: "JVBERi0=", mediaType: "pdf" }], ["messages[0].content[0].mediaType", "\"pdf\""]],
      [[{ type: "file", data: 42, mediaType: "application/pdf" }], [
        "messages[0].content[0]",
        "application/pdf",
        "bytes"
      ]],
      [[{ type: "file", data: "JVBERi0=", mediaType: "application/pdf", name: 7 }], ["messages[0].content[0].name"]],
      [[{ type: "video", url: "https://example.com/a.mp4" }], ["messages[0].content[0].type", "video"]],
      // the two image shapes are exclusive: bytes beside a URL are not silently dropped
      [[{ type: "image", url: "https://example.com/a.png", data: png, mediaType: "image/png" }], [
        "messages[0].content[0]",
        "either url or data"
      ]],
      [[{ type: "image", url: "https://example.com/a", mediaType: "application/pdf" }], [
        "messages[0].content[0].mediaType",
        "application/pdf"
      ]],
      [[{ type: "image", url: `data:image/png;base64,${png}`, mediaType: "image/jpeg" }], [
        "messages[0].content[0]",
        "image/jpeg differs from its data: URL's image/png"
      ]],
      [[{ type: "text", text: 3 }], ["messages[0].content[0].text"]],
      [["just a string"], ["messages[0].content[0]"]],
      [[null], ["messages[0].content[0]"]]
    ]
    for (const [content, fragments] of cases) {
      const message = refusedWith(content)
      for (const fragment of fragments) assert.include(message, fragment, JSON.stringify(content))
    }
  })

  it.effect("empty bytes (an empty Uint8Array) are refused as an empty base64 string is, by generate and stream, before any ledger write or request", () => {
    const providers = makeMockProviders()
    return Effect.gen(function*() {
      const empty: ReadonlyArray<[ContentPart, string]> = [
        [{ type: "image", data: new Uint8Array(0), mediaType: "image/png" }, "image/png"],
        // a zero-length view of a non-empty buffer is empty too
        [{ type: "file", data: new Uint8Array(8).subarray(8), mediaType: "application/pdf" }, "application/pdf"]
      ]
      for (const [part, mediaType] of empty) {
        const request: GenerateRequest = { messages: [{ role: "user", content: [{ type: "text", text: "x" }, part] }] }
        for (const call of [generate(request), Stream.runDrain(stream(request))]) {
          const error = yield* Effect.flip(call)
          assert.instanceOf(error, FatalError)
          assert.strictEqual((error as FatalError).reason, "invalid_request")
          assert.include(error.message, `messages[0].content[1] (${mediaType}): data must be non-empty bytes`)
        }
      }
      const ledger = yield* Ledger
      assert.lengthOf(yield* ledger.events(), 0)
      assert.lengthOf(providers.calls, 0)
    }).pipe(Effect.provide(makeTestLayer({ providers })))
  })

  it("a system message holds text parts only", () => {
    const message = refusedWith(
      [{ type: "text", text: "a" }, { type: "image", data: png, mediaType: "image/png" }],
      "system"
    )
    // the part by position and media type (API.md §9)
    assert.include(message, "messages[0].content[1] (image/png)")
    assert.include(message, "system")
  })

  it("an empty text part is dropped (Gemini and Anthropic refuse one), a message left empty with it; nothing left is invalid_request", () => {
    const request = accepted({
      messages: [
        { role: "system", content: "" },
        { role: "user", content: [{ type: "text", text: "" }, { type: "image", data: png, mediaType: "image/png" }] },
        { role: "assistant", content: "" },
        { role: "user", content: [{ type: "text", text: "" }, { type: "text", text: "and this?" }] }
      ],
      system: "Be brief."
    })
    assert.strictEqual(request.system, "Be brief.")
    assert.deepStrictEqual(request.messages.map((message) => message.parts.map((part) => part.type)), [["file"], [
      "text"
    ]])
    assert.deepStrictEqual(request.messages[1]!.parts, [{ type: "text", text: "and this?" }])
    const refused = validate({ messages: [{ role: "user", content: "" }, { role: "assistant", content: [] }] })
    assert.instanceOf(refused, FatalError)
    assert.strictEqual((refused as FatalError).reason, "invalid_request")
    assert.include((refused as FatalError).message, "no user or assistant message")
  })

  it("content that is neither a string nor a list is refused", () => {
    const result = validate({ messages: [{ role: "user", content: { type: "text" } as unknown as string }] })
    assert.instanceOf(result, FatalError)
    assert.include((result as FatalError).message, "messages[0]")
  })
})
