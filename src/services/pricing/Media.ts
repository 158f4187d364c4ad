/**
 * The input tokens a budget holds for an image or a file (API.md §9): a conservative figure, so that
 * the hold stays an upper bound of what the services bill (API.md §14) — the largest of the services'
 * documented rules. By what the part is:
 *
 * - an image whose size its header gives (PNG, JPEG, GIF, WebP): the largest of
 *   - 2,700: OpenAI bills at most about that for one image;
 *   - a token per 750 pixels or per 28×28 patch (rounded up on each side), at most 16,384: Anthropic's
 *     rules (the area one the densest) and Qwen-VL's patches; both cap a large image — Anthropic
 *     resizes it to its native resolution first, Qwen-VL bills at most 16,384;
 *   - 258 tokens per 768×768 tile, Gemini's rule, uncapped: it documents no pixel limit, so a known size
 *     is held by the rule as written (8000×8000 is 121 tiles, 31,218; 1×20000 is 27 tiles, 6,966);
 *   and on the `openai` protocol, OpenAI's own multiplied rules: `gpt-4o-mini` bills 2,833 plus 5,667
 *   a 512-pixel tile (the image fitted into 2048×2048, then its shortest side to 768: at most 8 tiles,
 *   48,169; by URL that worst case), and the patch-billed minis and nanos (gpt-4.1, o4, gpt-5) at most
 *   1,536 patches × 2.46, 3,779;
 * - an image of unknown size (a URL, an unreadable header): 16,384 — no less than any service bills
 *   for the largest image it takes: Qwen-VL's cap; Anthropic and OpenAI resize first; Gemini scales an
 *   image to fit 3072×3072 first (Vertex AI input-file requirements), at most 16 tiles, 4,128. (The tile
 *   rule as written has no bound for a size not known, which is why only a known size is held by it.)
 * - a PDF: 3,000 tokens a page (Anthropic bills a page's text plus its picture, 1,500–3,000); on the
 *   `openai` protocol, where OpenAI puts "an image of each page" beside its text, 1,500 for the text plus
 *   OpenAI's figure for an image of unknown size (5,279 a page; 49,669 on `gpt-4o-mini`), pages
 *   counted from the document's `/Type /Page` objects and its page tree's `/Count`, in the file and in
 *   its compressed object streams (PDF 1.5 `/ObjStm`, where pdfTeX and qpdf put them; inflated up to
 *   16 MiB in all, against zip bombs); else, or when a stream cannot be inflated, at least one page
 *   per 50 KB; a PDF by URL: 100 pages;
 * - audio: 32 tokens a second (Gemini's rate, the highest), the duration taken from a WAV header whose
 *   `fmt ` chunk comes first (over the lower of its byte rate and sample rate × block size), else
 *   assumed from the size at 4 kbit/s — below the speech codecs' lowest rates (Opus 6, AMR-NB 4.75
 *   kbit/s): a voice note is never held short; music (≥ 64 kbit/s) is over-counted ≥ 16×;
 *   audio by URL: one hour;
 * - video: 297 tokens a second — Gemini, the one service billing video by time, takes a frame a second
 *   at 258 tokens, 32 for its second of sound and 7 for the timestamp (the 263 a second often quoted
 *   leaves the sound out); by URL one hour. Inline: a token per byte, or the duration in an MP4 /
 *   QuickTime header if that gives more. A token per byte is ≥ 297 a second for any video above
 *   2.4 kbit/s, and a video with sound always is (its sound alone takes ≥ 4.75 kbit/s); only a silent,
 *   nearly still video falls below, and its MP4 header then gives the larger figure;
 * - any other file: a token per byte (as text is counted), or 16,384 by URL.
 */
import { inflateSync } from "node:zlib"
import type { FilePart } from "../../domain/Prompt.js"

export const imageTokenFloor = 2_700
export const imageTokenCeiling = 16_384
export const pixelsPerImageToken = 750
export const imagePatchSide = 28
export const geminiTileSide = 768
export const geminiTileTokens = 258
export const pdfPageTokens = 3_000
export const pdfPageTextTokens = 1_500
export const pdfBytesPerPageGuess = 50_000
export const pdfUrlPages = 100
export const pdfInflatedBytesLimit = 16 * 1024 * 1024
export const audioTokensPerSecond = 32
export const audioBytesPerSecondGuess = 500
export const audioUrlSeconds = 3_600
export const videoTokensPerSecond = 258 + 32 + 7
export const videoUrlSeconds = 3_600
export const unknownFileTokens = 16_384
export const gpt4oMiniImageBase = 2_833
export const gpt4oMiniImageTile = 5_667
export const openaiPatchImageCeiling = 3_779

/**
 * The tokens `part` is held at; `openaiModel`: the model id of a request over the `openai` protocol,
 * whose images OpenAI bills by rules of their own.
 */
export const fileTokenBound = (part: FilePart, openaiModel?: string): number => {
  const mediaType = part.mediaType.toLowerCase()
  const bytes = bytesOf(part)
  if (mediaType.startsWith("image/")) {
    const size = bytes === undefined ? undefined : imageSize(bytes)
    const held = size === undefined ? imageTokenCeiling : imageTokens(size)
    return openaiModel === undefined ? held : Math.max(held, openaiImageTokens(openaiModel, size))
  }
  if (mediaType === "application/pdf") {
    const perPage = openaiModel === undefined
      ? pdfPageTokens
      : Math.max(pdfPageTokens, pdfPageTextTokens + openaiImageTokens(openaiModel, undefined))
    return perPage * (bytes === undefined ? pdfUrlPages : pdfPages(bytes))
  }
  if (mediaType.startsWith("audio/")) {
    const seconds = bytes === undefined ? audioUrlSeconds : wavSeconds(bytes) ?? bytes.length / audioBytesPerSecondGuess
    return Math.ceil(Math.max(1, seconds) * audioTokensPerSecond)
  }
  if (mediaType.startsWith("video/")) {
    if (bytes === undefined) return videoUrlSeconds * videoTokensPerSecond
    return Math.max(bytes.length, Math.ceil((mp4Seconds(bytes) ?? 0) * videoTokensPerSecond))
  }
  return bytes === undefined ? unknownFileTokens : bytes.length
}

/** The largest of the services' rules for an image of this size (see the module comment). */
const imageTokens = ({ height, width }: Size): number => {
  const pixelRules = Math.max(
    Math.ceil(width * height / pixelsPerImageToken),
    Math.ceil(width / imagePatchSide) * Math.ceil(height / imagePatchSide)
  )
  const geminiTiles = Math.ceil(width / geminiTileSide) * Math.ceil(height / geminiTileSide) * geminiTileTokens
  return Math.max(imageTokenFloor, Math.min(imageTokenCeiling, pixelRules), geminiTiles)
}

/** OpenAI's rules (see the module comment): `gpt-4o-mini`'s tiles, else the patch-billed models' ceiling. */
const openaiImageTokens = (modelId: string, size: Size | undefined): number =>
  /gpt-4o-mini/i.test(modelId)
    ? gpt4oMiniImageBase + gpt4oMiniImageTile * (size === undefined ? 8 : openaiTiles(size))
    : openaiPatchImageCeiling

/** OpenAI's high-detail tiles: fitted into 2048×2048, the shortest side brought down to 768, 512-pixel tiles. */
const openaiTiles = ({ height, width }: Size): number => {
  const fit = Math.min(1, 2048 / Math.max(width, height))
  const shortest = Math.min(width, height) * fit
  const scale = fit * (shortest > 768 ? 768 / shortest : 1)
  return Math.ceil(width * scale / 512) * Math.ceil(height * scale / 512)
}

/** The bytes of an inline part or a `data:` URL; `undefined` for a remote URL. */
const bytesOf = (part: FilePart): Buffer | undefined => {
  if (part.data._tag === "base64") return Buffer.from(part.data.base64, "base64")
  const inline = /^data:[^,]*;base64,/i.exec(part.data.url)
  return inline === null ? undefined : Buffer.from(part.data.url.slice(inline[0].length), "base64")
}

interface Size {
  readonly width: number
  readonly height: number
}

/** Width and height from a PNG, GIF, WebP or JPEG header. */
export const imageSize = (bytes: Buffer): Size | undefined => {
  if (bytes.length >= 24 && bytes.readUInt32BE(0) === 0x89504e47 && bytes.toString("latin1", 12, 16) === "IHDR") {
    return { width: bytes.readUInt32BE(16), height: bytes.readUInt32BE(20) }
  }
  if (bytes.length >= 10 && bytes.toString("latin1", 0, 3) === "GIF") {
    return { width: bytes.readUInt16LE(6), height: bytes.readUInt16LE(8) }
  }
  if (bytes.length >= 30 && bytes.toString("latin1", 0, 4) === "RIFF" && bytes.toString("latin1", 8, 12) === "WEBP") {
    return webpSize(bytes)
  }
  if (bytes.length >= 4 && bytes[0] === 0xff && bytes[1] === 0xd8) return jpegSize(bytes)
  return undefined
}

const webpSize = (bytes: Buffer): Size | undefined => {
  const chunk = bytes.toString("latin1", 12, 16)
  if (chunk === "VP8X") return { width: 1 + bytes.readUIntLE(24, 3), height: 1 + bytes.readUIntLE(27, 3) }
  if (chunk === "VP8L") {
    const bits = bytes.readUInt32LE(21)
    return { width: 1 + (bits & 0x3fff), height: 1 + ((bits >> 14) & 0x3fff) }
  }
  if (chunk === "VP8 ") return { width: bytes.readUInt16LE(26) & 0x3fff, height: bytes.readUInt16LE(28) & 0x3fff }
  return undefined
}

/** The size in the first start-of-frame marker (SOF0–SOF15 but DHT, JPG and DAC). */
const jpegSize = (bytes: Buffer): Size | undefined => {
  let at = 2
  while (at + 9 < bytes.length) {
    if (bytes[at] !== 0xff) return undefined
    const marker = bytes[at + 1]!
    if (marker === 0xff) {
      at += 1
      continue
    }
    if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
      return { width: bytes.readUInt16BE(at + 7), height: bytes.readUInt16BE(at + 5) }
    }
    at += 2 + bytes.readUInt16BE(at + 2)
  }
  return undefined
}

/**
 * Pages of a PDF: its `/Type /Page` objects, else the largest `/Count` of a page tree — in the file or in
 * its object streams — else, or when an object stream cannot be read, a guess from the size.
 */
export const pdfPages = (bytes: Buffer): number => {
  const raw = bytes.toString("latin1")
  const streams = objectStreams(raw, bytes)
  const text = raw + streams.text
  const objects = text.match(/\/Type\s*\/Page(?![a-zA-Z])/g)?.length ?? 0
  let counted = 0
  for (const match of text.matchAll(/\/Count\s+(\d+)/g)) counted = Math.max(counted, Number(match[1]))
  const guess = streams.unread || (objects === 0 && counted === 0)
  return Math.max(objects, counted, guess ? Math.ceil(bytes.length / pdfBytesPerPageGuess) : 1)
}

/**
 * The inflated text of a PDF's Flate-compressed object streams (`/Type /ObjStm`, PDF 1.5), where the page
 * objects and the page tree of many files sit out of sight. At most `pdfInflatedBytesLimit` in all, so a
 * zip bomb costs no more than that; `unread` when a stream was broken or over the limit.
 */
const objectStreams = (raw: string, bytes: Buffer): { readonly text: string; readonly unread: boolean } => {
  let text = ""
  let unread = false
  for (const match of raw.matchAll(/\/Type\s*\/ObjStm(?![a-zA-Z])/g)) {
    const keyword = raw.indexOf("stream", match.index)
    const end = raw.indexOf("endstream", keyword)
    const dictionary = raw.slice(raw.lastIndexOf("obj", match.index), keyword)
    if (!dictionary.includes("/Filter")) continue // not compressed: its objects are in plain sight
    if (
      keyword === -1 || end === -1 || !/\/FlateDecode(?![a-zA-Z])/.test(dictionary) ||
      dictionary.includes("/DecodeParms")
    ) {
      unread = true // another filter, or a predictor on top of Flate: not worth decoding for a bound
      continue
    }
    const start = keyword + 6 + (raw.startsWith("\r\n", keyword + 6) ? 2 : raw[keyword + 6] === "\n" ? 1 : 0)
    try {
      // zlib stops at the stream's end, so the end-of-line before `endstream` does no harm; past the
      // limit inflateSync throws, and once it is spent every further stream does at once.
      const room = Math.max(1, pdfInflatedBytesLimit - text.length)
      text += inflateSync(bytes.subarray(start, end), { maxOutputLength: room }).toString("latin1")
    } catch {
      unread = true
    }
  }
  return { text, unread }
}

/**
 * Seconds of a WAV whose `fmt ` chunk comes first: its data size over its byte rate, taken as the lower of
 * the header's byte rate and sample rate × block size, so a header claiming more bytes a second than its
 * samples take does not shorten the hold (ADPCM's many-sample blocks make the second the higher there).
 */
const wavSeconds = (bytes: Buffer): number | undefined => {
  if (
    bytes.length < 44 || bytes.toString("latin1", 0, 4) !== "RIFF" || bytes.toString("latin1", 8, 16) !== "WAVEfmt "
  ) {
    return undefined
  }
  const rates = [bytes.readUInt32LE(28), bytes.readUInt32LE(24) * bytes.readUInt16LE(32)].filter((rate) => rate > 0)
  return rates.length === 0 ? undefined : (bytes.length - 44) / Math.min(...rates)
}

/**
 * Seconds of an MP4 / QuickTime video (ISO base media: `moov` holds `mvhd`, its time scale and duration);
 * `undefined` for another container or an unknown duration (all ones); 0 for a fragmented file.
 */
const mp4Seconds = (bytes: Buffer): number | undefined => {
  const moov = box(bytes, "moov", 0, bytes.length)
  const mvhd = moov === undefined ? undefined : box(bytes, "mvhd", moov.start, moov.end)
  if (mvhd === undefined) return undefined
  const wide = bytes[mvhd.start] === 1 // version 1: 64-bit times and duration
  const scaleAt = mvhd.start + (wide ? 20 : 12)
  const durationEnd = scaleAt + (wide ? 12 : 8)
  if (durationEnd > mvhd.end) return undefined
  const timescale = bytes.readUInt32BE(scaleAt)
  if (timescale === 0 || bytes.subarray(scaleAt + 4, durationEnd).every((byte) => byte === 0xff)) return undefined
  return (wide ? Number(bytes.readBigUInt64BE(scaleAt + 4)) : bytes.readUInt32BE(scaleAt + 4)) / timescale
}

/** The contents of the first `type` box between `from` and `to` (a 32-bit size, or 1 and a 64-bit size; 0: to the end). */
const box = (bytes: Buffer, type: string, from: number, to: number): { start: number; end: number } | undefined => {
  let at = from
  while (at + 8 <= to) {
    const short = bytes.readUInt32BE(at)
    const header = short === 1 ? 16 : 8
    if (at + header > to) return undefined
    const size = short === 1 ? Number(bytes.readBigUInt64BE(at + 8)) : short === 0 ? to - at : short
    if (size < header) return undefined
    if (bytes.toString("latin1", at + 4, at + 8) === type) return { start: at + header, end: Math.min(to, at + size) }
    at += size
  }
  return undefined
}
