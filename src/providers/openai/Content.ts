/**
 * The prompt's parts as Chat Completions messages (WIRE-tools-multimodal §3.4, §3.6): user content
 * parts — text, `image_url` (an `https:` URL or a `data:` URL made from bytes), `input_audio` (wav or
 * mp3 bytes), `file` (a PDF's bytes as `file_data`) —; assistant turns as text plus `tool_calls` with
 * the original `arguments` string; each tool result as its own `tool` message. Also which files Chat
 * Completions takes, and the arguments text the protocol keeps in part metadata.
 */
import type { AssistantPart, CallRequest, FilePart, Message, Part, ToolCallPart } from "../../domain/Prompt.js"
import { inlineByteLength } from "../http/Parts.js"
import { argumentsText, resultText } from "../http/Tools.js"

/** The key of the protocol's data in a part's provider metadata: `{ openai: { arguments } }`. */
export const metadataKey = "openai"

/** A user content part. */
export type ContentPartBody =
  | { readonly type: "text"; readonly text: string }
  | { readonly type: "image_url"; readonly image_url: { readonly url: string } }
  | { readonly type: "input_audio"; readonly input_audio: { readonly data: string; readonly format: "wav" | "mp3" } }
  | { readonly type: "file"; readonly file: { readonly filename: string; readonly file_data: string } }

/** A tool call of an assistant message (WIRE-tools-multimodal §3.4). */
export interface ToolCallBody {
  readonly id: string
  readonly type: "function"
  readonly function: { readonly name: string; readonly arguments: string }
}

/** One message: text content, or (user) content parts; assistant tool calls; a tool result's call id. */
export type MessageBody =
  | { readonly role: "system"; readonly content: string }
  | { readonly role: "user"; readonly content: string | ReadonlyArray<ContentPartBody> }
  | {
    readonly role: "assistant"
    readonly content: string | null
    readonly tool_calls?: ReadonlyArray<ToolCallBody>
  }
  | { readonly role: "tool"; readonly tool_call_id: string; readonly content: string }

const imageTypes = /^image\/(png|jpeg|webp|gif)$/
const audioFormats: ReadonlyMap<string, "wav" | "mp3"> = new Map([
  ["audio/wav", "wav"],
  ["audio/x-wav", "wav"],
  ["audio/wave", "wav"],
  ["audio/mpeg", "mp3"],
  ["audio/mp3", "mp3"]
])

const dataUrl = /^data:([^;,]*)(?:;[^,]*)?;base64,/i

const isHttpsUrl = (url: string): boolean => {
  try {
    return new URL(url).protocol === "https:"
  } catch {
    return false
  }
}

/** The kind a file part is sent as, or `undefined` when Chat Completions cannot carry it. */
const kindOf = (part: FilePart): "image" | "audio" | "pdf" | undefined => {
  const mediaType = part.mediaType.toLowerCase()
  const inline = part.data._tag === "url" ? dataUrl.exec(part.data.url) : null
  const inlineType = inline?.[1]?.toLowerCase() ?? ""
  if (mediaType === "image/*" || imageTypes.test(mediaType)) {
    if (part.data._tag === "base64") return mediaType === "image/*" ? undefined : "image"
    if (inline !== null) {
      return imageTypes.test(inlineType) || (inlineType === "" && mediaType !== "image/*")
        ? "image"
        : undefined
    }
    return isHttpsUrl(part.data.url) ? "image" : undefined
  }
  // Audio and PDFs go as bytes only (`input_audio.data`, `file.file_data`): a remote URL is refused.
  if (audioFormats.has(mediaType)) {
    return part.data._tag === "base64" || (inline !== null && (inlineType === "" || audioFormats.has(inlineType)))
      ? "audio"
      : undefined
  }
  if (mediaType === "application/pdf") {
    return part.data._tag === "base64" || (inline !== null && (inlineType === "" || inlineType === mediaType))
      ? "pdf"
      : undefined
  }
  return undefined
}

/**
 * Whether Chat Completions carries a part in a turn of `role`: files only in user turns (assistant
 * and tool messages take text), as an image (PNG, JPEG, WebP, GIF — bytes, a `data:` URL, or an
 * `https:` URL; `image/*` only as a URL; inline, at most 20 MB), wav or mp3 audio and PDFs as bytes
 * or a `data:` URL. A string says why a part that could go is refused.
 */
export const canCarry = (part: Part, role: Message["role"]): boolean | string => {
  if (part.type !== "file") return true
  const kind = role === "user" ? kindOf(part) : undefined
  if (kind === undefined) return false
  const size = kind === "image" ? inlineByteLength(part) : 0
  return size > maxImageBytes ? `exceeds OpenAI's 20 MB image limit: ${size} bytes > ${maxImageBytes}` : true
}

/**
 * OpenAI's per-image cap (WIRE-tools-multimodal §3.6: "up to 20 MB per image"), on the decoded bytes;
 * compatible services that take images cap them at or below it.
 */
const maxImageBytes = 20 * 1024 * 1024

/** OpenAI's per-request image caps (WIRE-tools-multimodal §3.6: "500 images and 50 MB of image bytes per request"). */
const maxImagesPerRequest = 500
const maxImageBytesPerRequest = 50 * 1024 * 1024

/**
 * Why a request's images together pass OpenAI's per-request caps — more than 500 images (remote ones
 * count), or more than 50 MB of inline image bytes — or `undefined`. Runs after `canCarry`, so every
 * file part of a user turn here is one Chat Completions carries.
 */
export const exceedsImageTotals = (request: CallRequest): string | undefined => {
  let images = 0
  let bytes = 0
  for (const message of request.messages) {
    if (message.role !== "user") continue
    for (const part of message.parts) {
      if (part.type !== "file" || kindOf(part) !== "image") continue
      images++
      bytes += inlineByteLength(part)
    }
  }
  return images > maxImagesPerRequest
    ? `the request carries ${images} images, over OpenAI's ${maxImagesPerRequest} per request`
    : bytes > maxImageBytesPerRequest
    ? `the request's inline images are ${bytes} bytes, over OpenAI's 50 MB per request (${maxImageBytesPerRequest})`
    : undefined
}

const base64Of = (part: FilePart): string =>
  part.data._tag === "base64" ? part.data.base64 : part.data.url.slice(dataUrl.exec(part.data.url)![0].length)

const asDataUrl = (part: FilePart): string =>
  part.data._tag === "base64" ? `data:${part.mediaType.toLowerCase()};base64,${part.data.base64}` : part.data.url

const encodeFile = (part: FilePart): ContentPartBody => {
  switch (kindOf(part)) {
    case "audio": {
      // A data: URL's own media type names its bytes (as for images), over the declared one.
      const inline = part.data._tag === "url" ? dataUrl.exec(part.data.url)?.[1]?.toLowerCase() : undefined
      const mediaType = inline !== undefined && audioFormats.has(inline) ? inline : part.mediaType.toLowerCase()
      return { type: "input_audio", input_audio: { data: base64Of(part), format: audioFormats.get(mediaType)! } }
    }
    case "pdf":
      return {
        type: "file",
        file: { filename: part.fileName ?? "document.pdf", file_data: `data:application/pdf;base64,${base64Of(part)}` }
      }
    default:
      return { type: "image_url", image_url: { url: asDataUrl(part) } }
  }
}

const textOfParts = (parts: ReadonlyArray<Part>): string => {
  let out = ""
  for (const part of parts) if (part.type === "text") out += part.text
  return out
}

const toolCallsOf = (parts: ReadonlyArray<AssistantPart>): Array<ToolCallBody> =>
  parts.filter((part): part is ToolCallPart => part.type === "tool-call").map((part) => ({
    id: part.id,
    type: "function",
    function: { name: part.name, arguments: argumentsText(part, metadataKey) }
  }))

/**
 * The conversation as Chat Completions messages (the system message apart). A user turn of text only
 * is one string (its texts joined), else a list of content parts; an assistant turn is its text
 * (`null` beside tool calls when it has none) and its calls — reasoning is never sent back (DeepSeek
 * answers 400 to `reasoning_content` in a request); each tool result is its own `tool` message.
 */
export const encodeMessages = (messages: ReadonlyArray<Message>): Array<MessageBody> => {
  const out: Array<MessageBody> = []
  for (const message of messages) {
    switch (message.role) {
      case "user":
        out.push({
          role: "user",
          content: message.parts.every((part) => part.type === "text")
            ? textOfParts(message.parts)
            : message.parts.map((part) => (part.type === "text" ? { type: "text", text: part.text } : encodeFile(part)))
        })
        break
      case "assistant": {
        const calls = toolCallsOf(message.parts)
        const content = textOfParts(message.parts)
        out.push(
          calls.length > 0
            ? { role: "assistant", content: content.length > 0 ? content : null, tool_calls: calls }
            : { role: "assistant", content }
        )
        break
      }
      case "tool":
        for (const part of message.parts) out.push({ role: "tool", tool_call_id: part.id, content: resultText(part) })
        break
    }
  }
  return out
}
