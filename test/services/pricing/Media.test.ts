/**
 * What an image or a file is held at in the budget estimate (API.md §9): sizes read from the image
 * headers, PDF pages, WAV durations, and the fixed figures for what cannot be measured — each at
 * least what the densest service bills, so the hold stays an upper bound.
 */
import { assert, describe, it } from "@effect/vitest"
import { deflateSync } from "node:zlib"
import type { CallRequest, FilePart } from "../../../src/domain/Prompt.js"
import { inputTokenBound, perMessageTokenAllowance, toolPromptTokens } from "../../../src/services/Pricing.js"
import * as Media from "../../../src/services/pricing/Media.js"

const pngHeader = (width: number, height: number): Buffer => {
  const bytes = Buffer.alloc(33)
  Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]).copy(bytes, 0)
  bytes.writeUInt32BE(13, 8)
  bytes.write("IHDR", 12, "latin1")
  bytes.writeUInt32BE(width, 16)
  bytes.writeUInt32BE(height, 20)
  return bytes
}

const jpegHeader = (width: number, height: number): Buffer =>
  Buffer.from([
    0xff,
    0xd8, // SOI
    0xff,
    0xe0,
    0x00,
    0x06,
    0x4a,
    0x46,
    0x49,
    0x46, // APP0 (length 6)
    0xff,
    0xc0,
    0x00,
    0x11,
    0x08,
    height >> 8,
    height & 0xff,
    width >> 8,
    width & 0xff,
    0x03,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0
  ])

const gifHeader = (width: number, height: number): Buffer => {
  const bytes = Buffer.alloc(13)
  bytes.write("GIF89a", 0, "latin1")
  bytes.writeUInt16LE(width, 6)
  bytes.writeUInt16LE(height, 8)
  return bytes
}

const webpHeader = (width: number, height: number): Buffer => {
  const bytes = Buffer.alloc(30)
  bytes.write("RIFF", 0, "latin1")
  bytes.write("WEBP", 8, "latin1")
  bytes.write("VP8X", 12, "latin1")
  bytes.writeUIntLE(width - 1, 24, 3)
  bytes.writeUIntLE(height - 1, 27, 3)
  return bytes
}

/** A mono WAV of this length: `fmt ` with its sample rate, byte rate and block size (2 bytes), then the data. */
const wav = (seconds: number, byteRate: number, sampleRate = byteRate / 2): Buffer => {
  const bytes = Buffer.alloc(44 + seconds * sampleRate * 2)
  bytes.write("RIFF", 0, "latin1")
  bytes.write("WAVEfmt ", 8, "latin1")
  bytes.writeUInt32LE(sampleRate, 24)
  bytes.writeUInt32LE(byteRate, 28)
  bytes.writeUInt16LE(2, 32)
  return bytes
}

/** A PDF 1.5 whose page tree and pages sit in one Flate-compressed object stream, as pdfTeX and qpdf write them. */
const objectStreamPdf = (pages: number, options: { readonly pageObjects: boolean } = { pageObjects: true }): Buffer => {
  const kids = Array.from({ length: pages }, (_, i) => `${i + 3} 0 R`).join(" ")
  const objects = [
    "<< /Type /Catalog /Pages 2 0 R >>",
    `<< /Type /Pages /Kids [${kids}] /Count ${pages} >>`,
    ...(options.pageObjects ? Array.from({ length: pages }, () => "<< /Type /Page /Parent 2 0 R >>") : [])
  ]
  let offsets = ""
  let body = ""
  objects.forEach((object, i) => {
    offsets += `${i + 1} ${body.length} `
    body += `${object}\n`
  })
  return pdfWithObjectStream(deflateSync(Buffer.from(offsets + body, "latin1")), objects.length, offsets.length)
}

const pdfWithObjectStream = (packed: Buffer, count = 1, first = 0): Buffer =>
  Buffer.concat([
    Buffer.from(
      `%PDF-1.5\n%\xe2\xe3\xcf\xd3\n100 0 obj\n<< /Type /ObjStm /N ${count} /First ${first} /Length ${packed.length} ` +
        `/Filter /FlateDecode >>\nstream\n`,
      "latin1"
    ),
    packed,
    Buffer.from("\nendstream\nendobj\nstartxref\n0\n%%EOF\n", "latin1")
  ])

/** An MP4: `ftyp`, then `moov` holding an `mvhd` (version 0 or 1) of time scale 1000 and this duration. */
const mp4 = (seconds: number, version: 0 | 1): Buffer => {
  const ftyp = Buffer.alloc(16)
  ftyp.writeUInt32BE(16, 0)
  ftyp.write("ftypisom", 4, "latin1")
  const mvhd = Buffer.alloc(version === 0 ? 8 + 20 : 8 + 32)
  mvhd.writeUInt32BE(mvhd.length, 0)
  mvhd.write("mvhd", 4, "latin1")
  mvhd[8] = version
  const scaleAt = version === 0 ? 20 : 28
  mvhd.writeUInt32BE(1000, scaleAt)
  if (version === 0) mvhd.writeUInt32BE(seconds * 1000, scaleAt + 4)
  else mvhd.writeBigUInt64BE(BigInt(seconds * 1000), scaleAt + 4)
  const moov = Buffer.alloc(8)
  moov.writeUInt32BE(8 + mvhd.length, 0)
  moov.write("moov", 4, "latin1")
  return Buffer.concat([ftyp, moov, mvhd])
}

const inline = (mediaType: string, bytes: Buffer): FilePart => ({
  type: "file",
  mediaType,
  data: { _tag: "base64", base64: bytes.toString("base64") }
})
const remote = (mediaType: string): FilePart => ({
  type: "file",
  mediaType,
  data: { _tag: "url", url: "https://example.com/x" }
})

describe("media token figures", () => {
  it("reads the size of PNG, JPEG, GIF and WebP images from their headers", () => {
    assert.deepStrictEqual(Media.imageSize(pngHeader(4000, 3000)), { width: 4000, height: 3000 })
    assert.deepStrictEqual(Media.imageSize(jpegHeader(1920, 1080)), { width: 1920, height: 1080 })
    assert.deepStrictEqual(Media.imageSize(gifHeader(320, 200)), { width: 320, height: 200 })
    assert.deepStrictEqual(Media.imageSize(webpHeader(1024, 768)), { width: 1024, height: 768 })
    assert.isUndefined(Media.imageSize(Buffer.from("not an image")))
  })

  it("an image is held at 750 pixels a token, at least the floor and at most the ceiling", () => {
    assert.strictEqual(Media.fileTokenBound(inline("image/png", pngHeader(64, 64))), Media.imageTokenFloor)
    assert.strictEqual(Media.fileTokenBound(inline("image/jpeg", jpegHeader(1920, 1080))), Math.ceil(1920 * 1080 / 750))
    // The pixel rules stop at the ceiling; Gemini's tiles (below) do not.
    assert.strictEqual(Media.fileTokenBound(inline("image/png", pngHeader(4000, 4000))), Media.imageTokenCeiling)
    // Size unknown: a remote image, an unreadable header, a data: URL of one.
    assert.strictEqual(Media.fileTokenBound(remote("image/*")), Media.imageTokenCeiling)
    assert.strictEqual(Media.fileTokenBound(inline("image/png", Buffer.from("garbage"))), Media.imageTokenCeiling)
    const dataUrl: FilePart = {
      type: "file",
      mediaType: "image/png",
      data: { _tag: "url", url: `data:image/png;base64,${pngHeader(1500, 1500).toString("base64")}` }
    }
    assert.strictEqual(Media.fileTokenBound(dataUrl), 3000)
  })

  it("over the openai protocol, at OpenAI's own rules: gpt-4o-mini's 5,667-token tiles, the patch-billed models' 3,779", () => {
    const png = (width: number, height: number) => inline("image/png", pngHeader(width, height))
    // 1024×1024 → 768×768 → 2×2 tiles; 2048×4096 → 1024×2048 → 768×1536 → 2×3 tiles; by URL the most, 8 tiles
    assert.strictEqual(Media.fileTokenBound(png(1024, 1024), "gpt-4o-mini"), 2_833 + 4 * 5_667)
    assert.strictEqual(Media.fileTokenBound(png(2048, 4096), "gpt-4o-mini-2024-07-18"), 2_833 + 6 * 5_667)
    assert.strictEqual(Media.fileTokenBound(png(64, 64), "gpt-4o-mini"), 2_833 + 5_667)
    assert.strictEqual(Media.fileTokenBound(remote("image/*"), "gpt-4o-mini"), 48_169)
    // other models on the wire: at least the patch-billed nanos' ceiling (1,536 patches × 2.46)
    assert.strictEqual(Media.fileTokenBound(png(1024, 1024), "gpt-4.1-nano"), 3_779)
    assert.strictEqual(Media.fileTokenBound(png(64, 64), "deepseek-chat"), 3_779)
    assert.strictEqual(Media.fileTokenBound(png(4000, 4000), "gpt-4.1-nano"), Media.imageTokenCeiling)
    // other protocols keep their rules
    assert.strictEqual(Media.fileTokenBound(png(1024, 1024)), Media.imageTokenFloor)
    const request: CallRequest = {
      system: undefined,
      messages: [{ role: "user", parts: [png(1024, 1024)] }],
      maxOutputTokens: undefined,
      temperature: undefined,
      topP: undefined,
      stop: undefined
    }
    assert.strictEqual(
      inputTokenBound(request, "openai", "gpt-4o-mini") - inputTokenBound(request, "gemini", "gpt-4o-mini"),
      2_833 + 4 * 5_667 - Media.imageTokenFloor
    )
  })

  it("an image is held at no less than Gemini's 258 tokens per 768×768 tile, however large or elongated", () => {
    const tiles = (width: number, height: number) => Math.ceil(width / 768) * Math.ceil(height / 768) * 258
    assert.strictEqual(Media.fileTokenBound(inline("image/png", pngHeader(8000, 8000))), tiles(8000, 8000)) // 31,218
    assert.strictEqual(Media.fileTokenBound(inline("image/png", pngHeader(1, 20000))), tiles(1, 20000)) // 6,966
    assert.strictEqual(Media.fileTokenBound(inline("image/gif", gifHeader(20000, 3))), tiles(20000, 3))
    // Nor below a token per 28×28 patch, each side rounded up (Anthropic's current rule, Qwen-VL's):
    // 266×7680 is 10 × 275 patches, more than 266 × 7680 / 750 = 2,724 and than its 10 tiles, 2,580.
    assert.strictEqual(Media.fileTokenBound(inline("image/png", pngHeader(266, 7680))), 2750)
  })

  it("a PDF is held per page: page objects, else the page tree's count, else a guess from its size", () => {
    const pages = Buffer.from(
      "%PDF-1.4\n1 0 obj << /Type /Pages /Count 3 >>\n2 0 obj << /Type /Page >>\n3 0 obj <</Type/Page>>\n"
    )
    assert.strictEqual(Media.pdfPages(pages), 3)
    assert.strictEqual(Media.fileTokenBound(inline("application/pdf", pages)), 3 * Media.pdfPageTokens)
    const compressed = Buffer.concat([Buffer.from("%PDF-1.7\n"), Buffer.alloc(120_000)])
    assert.strictEqual(Media.pdfPages(compressed), 3)
    assert.strictEqual(Media.fileTokenBound(remote("application/pdf")), Media.pdfUrlPages * Media.pdfPageTokens)
    // OpenAI adds an image of every page to its text: the page's text allowance plus the model's figure
    // for an image of unknown size (gpt-4o-mini bills images at 33× the tokens)
    assert.strictEqual(Media.fileTokenBound(inline("application/pdf", pages), "gpt-4o-mini"), 3 * (1_500 + 48_169))
    assert.strictEqual(Media.fileTokenBound(inline("application/pdf", pages), "gpt-4.1-nano"), 3 * (1_500 + 3_779))
  })

  it("a PDF whose pages sit in compressed object streams is held for every page, and a broken stream for its size", () => {
    const pdf = objectStreamPdf(20)
    assert.strictEqual(Media.pdfPages(pdf), 20)
    assert.strictEqual(Media.fileTokenBound(inline("application/pdf", pdf)), 20 * Media.pdfPageTokens)
    // The page tree's /Count alone (page objects elsewhere) is counted too.
    assert.strictEqual(Media.pdfPages(objectStreamPdf(20, { pageObjects: false })), 20)
    // A stream that does not inflate, or inflates past the limit (a zip bomb), counts what it can and
    // at least a page per 50 KB, without throwing.
    const broken = Buffer.concat([objectStreamPdf(20).subarray(0, 200), Buffer.alloc(160_000)])
    assert.strictEqual(Media.pdfPages(broken), 4)
    const bomb = pdfWithObjectStream(deflateSync(Buffer.alloc(Media.pdfInflatedBytesLimit + 1, " ")))
    assert.strictEqual(Media.pdfPages(bomb), Math.ceil(bomb.length / Media.pdfBytesPerPageGuess))
  })

  it("audio is held at 32 tokens a second: a WAV by its header, other formats by size at 4 kbit/s", () => {
    assert.strictEqual(Media.fileTokenBound(inline("audio/wav", wav(10, 16_000))), 10 * Media.audioTokensPerSecond)
    // A header whose byte rate claims 1,000× what its 16 kHz samples take is held by its samples.
    assert.strictEqual(
      Media.fileTokenBound(inline("audio/wav", wav(60, 32_000_000, 16_000))),
      60 * Media.audioTokensPerSecond
    )
    const mp3 = Buffer.alloc(20_000)
    assert.strictEqual(Media.fileTokenBound(inline("audio/mpeg", mp3)), 40 * Media.audioTokensPerSecond)
    // a 60 s voice note in Opus at 6 kbit/s (45,000 bytes) is held for at least its 60 s
    assert.isAtLeast(Media.fileTokenBound(inline("audio/ogg", Buffer.alloc(45_000))), 60 * Media.audioTokensPerSecond)
    assert.strictEqual(Media.fileTokenBound(remote("audio/mpeg")), Media.audioUrlSeconds * Media.audioTokensPerSecond)
  })

  it("video is held at 297 tokens a second: an hour by URL, inline a token per byte or its MP4 duration", () => {
    assert.strictEqual(Media.videoTokensPerSecond, 258 + 32 + 7) // Gemini: a frame, a second of sound, a timestamp
    assert.strictEqual(Media.fileTokenBound(remote("video/mp4")), 3_600 * 297)
    // A minute at 300 kbit/s (2.25 MB): a token per byte is far above 60 × 297.
    assert.strictEqual(Media.fileTokenBound(inline("video/webm", Buffer.alloc(2_250_000))), 2_250_000)
    // A silent, still hour compresses to a few KB; its header's duration holds it for the hour.
    assert.strictEqual(Media.fileTokenBound(inline("video/mp4", mp4(3_600, 0))), 3_600 * 297)
    assert.strictEqual(Media.fileTokenBound(inline("video/quicktime", mp4(90.5, 1))), Math.ceil(90.5 * 297))
    const unknownDuration = mp4(1, 0)
    unknownDuration.fill(0xff, unknownDuration.length - 4) // mvhd duration: unknown
    assert.strictEqual(Media.fileTokenBound(inline("video/mp4", unknownDuration)), unknownDuration.length)
  })

  it("the input bound adds every file's figure to the text bytes, and counts tool calls and results", () => {
    const image = inline("image/png", pngHeader(3000, 2000))
    const request: CallRequest = {
      system: undefined,
      messages: [
        { role: "user", parts: [{ type: "text", text: "describe" }, image] },
        { role: "assistant", parts: [{ type: "tool-call", id: "c1", name: "lookup", params: { q: "x" } }] },
        {
          role: "tool",
          parts: [{ type: "tool-result", id: "c1", name: "lookup", result: { ok: true }, isFailure: false }]
        }
      ],
      maxOutputTokens: undefined,
      temperature: undefined,
      topP: undefined,
      stop: undefined,
      tools: [{ name: "lookup", description: undefined, parameters: { type: "object" } }]
    }
    const expected = perMessageTokenAllowance * 4 + 8 + Math.ceil(3000 * 2000 / 750) +
      (6 + 9 + perMessageTokenAllowance) + (6 + 11 + perMessageTokenAllowance) +
      Buffer.byteLength(JSON.stringify([{ name: "lookup", parameters: { type: "object" } }]))
    assert.strictEqual(inputTokenBound(request, "gemini"), expected)
    assert.strictEqual(inputTokenBound(request, "openai"), expected)
  })

  it("a request with tools to Anthropic also counts its tool-use system prompt (530 tokens at most); without tools nothing", () => {
    const request: CallRequest = {
      system: undefined,
      messages: [{ role: "user", parts: [{ type: "text", text: "hi" }] }],
      maxOutputTokens: undefined,
      temperature: undefined,
      topP: undefined,
      stop: undefined,
      tools: [{ name: "f", description: undefined, parameters: { type: "object" } }]
    }
    const withoutPrompt = 2 * perMessageTokenAllowance + 2 +
      Buffer.byteLength(JSON.stringify([{ name: "f", parameters: { type: "object" } }]))
    assert.strictEqual(inputTokenBound(request, "gemini"), withoutPrompt)
    assert.strictEqual(inputTokenBound(request, "anthropic"), withoutPrompt + 530)
    assert.strictEqual(toolPromptTokens.anthropic, 530)
    const { tools: _, ...noTools } = request
    assert.strictEqual(inputTokenBound(noTools, "anthropic"), 2 * perMessageTokenAllowance + 2)
  })
})
