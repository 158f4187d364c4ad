/**
 * The prompt's parts as Anthropic content blocks (WIRE-tools-multimodal §4.4, §4.6): text; images as
 * `image` blocks (a base64 source from bytes or a `data:` URL, or a URL source); PDFs as `document`
 * blocks; reasoning echoed as `thinking` blocks with their `signature` (or `redacted_thinking` with its
 * data); tool calls as `tool_use` and tool results as `tool_result` blocks of a user turn. Also which
 * files Anthropic takes, and the signatures the protocol keeps in part metadata. A part whose metadata
 * holds `anthropic.cacheControl` (what `@effect/ai-anthropic`'s part options name a prompt-cache
 * breakpoint) gets it as the block's `cache_control`.
 */
import { isUtf8 } from "node:buffer"
import type {
  AssistantPart,
  CallRequest,
  FilePart,
  Message,
  Part,
  ProviderMetadata,
  ToolResultPart,
  UserPart
} from "../../domain/Prompt.js"
import { imageTypeOf } from "../../internal/ImageType.js"
import { jsonText } from "../../internal/JsonText.js"
import { inlineBase64, inlineBase64Length, inlineByteLength } from "../http/Parts.js"

/** The key of Anthropic's data in a part's provider metadata: `{ anthropic: { signature } }` or `{ redactedData }`. */
export const metadataKey = "anthropic"

/** A prompt-cache breakpoint (`{ type: "ephemeral", ttl? }`), sent as the caller gave it. */
export type CacheControl = Readonly<Record<string, unknown>>

/** A content block of a request. */
export type BlockBody =
  | { readonly type: "text"; readonly text: string; readonly cache_control?: CacheControl }
  | {
    readonly type: "image"
    readonly source:
      | { readonly type: "base64"; readonly media_type: string; readonly data: string }
      | { readonly type: "url"; readonly url: string }
    readonly cache_control?: CacheControl
  }
  | {
    readonly type: "document"
    readonly source:
      | { readonly type: "base64"; readonly media_type: "application/pdf"; readonly data: string }
      | { readonly type: "text"; readonly media_type: "text/plain"; readonly data: string }
      | { readonly type: "url"; readonly url: string }
    readonly title?: string
    readonly cache_control?: CacheControl
  }
  | { readonly type: "thinking"; readonly thinking: string; readonly signature: string }
  | { readonly type: "redacted_thinking"; readonly data: string }
  | {
    readonly type: "tool_use"
    readonly id: string
    readonly name: string
    readonly input: unknown
    readonly cache_control?: CacheControl
  }
  | {
    readonly type: "tool_result"
    readonly tool_use_id: string
    readonly content: string
    readonly is_error?: true
    readonly cache_control?: CacheControl
  }

/** One turn: a single text is sent as a string, anything else as blocks. */
export interface MessageBody {
  readonly role: "user" | "assistant"
  readonly content: string | ReadonlyArray<BlockBody>
}

const text = (metadata: ProviderMetadata | undefined, key: "signature" | "redactedData"): string | undefined => {
  const value = metadata?.[metadataKey]?.[key]
  return typeof value === "string" && value.length > 0 ? value : undefined
}

/** The thinking `signature` a part's metadata carries for Anthropic, if any. */
export const signatureOf = (metadata: ProviderMetadata | undefined): string | undefined => text(metadata, "signature")

/** The `redacted_thinking` data a part's metadata carries, if any. */
export const redactedDataOf = (metadata: ProviderMetadata | undefined): string | undefined =>
  text(metadata, "redactedData")

/** The prompt-cache breakpoint a part's metadata asks for (`{ anthropic: { cacheControl } }`), if any. */
export const cacheControlOf = (metadata: ProviderMetadata | undefined): CacheControl | undefined => {
  const value = metadata?.[metadataKey]?.cacheControl
  return isPlainObject(value) ? value : undefined
}

/** `block` with the breakpoint `metadata` asks for. */
const cached = <B extends BlockBody>(block: B, metadata: ProviderMetadata | undefined): B => {
  const cacheControl = cacheControlOf(metadata)
  return cacheControl === undefined ? block : { ...block, cache_control: cacheControl }
}

/** Provider metadata carrying a thinking signature (for decoded parts). */
export const signatureMetadata = (signature: string): ProviderMetadata => ({ [metadataKey]: { signature } })

/** Provider metadata carrying a redacted thinking block's data. */
export const redactedMetadata = (data: string): ProviderMetadata => ({ [metadataKey]: { redactedData: data } })

const isPlainObject = (value: unknown): value is Readonly<Record<string, unknown>> =>
  typeof value === "object" && value !== null && !Array.isArray(value)

// The four image types a base64 source takes (ANT `Base64ImageSource.media_type`).
const imageTypes = /^image\/(jpeg|png|gif|webp)$/

const dataUrl = /^data:([^;,]*)(?:;[^,]*)?;base64,/i

const isHttpsUrl = (url: string): boolean => {
  try {
    return new URL(url).protocol === "https:"
  } catch {
    return false
  }
}

/** The kind a file is sent as and its concrete media type, or `undefined` when Anthropic cannot carry it. */
const kindOf = (
  part: FilePart
): { readonly kind: "image" | "pdf" | "text"; readonly mediaType: string } | undefined => {
  const declared = part.mediaType.toLowerCase()
  const inline = part.data._tag === "url" ? dataUrl.exec(part.data.url) : null
  const mediaType = inline !== null && inline[1]!.length > 0 ? inline[1]!.toLowerCase() : declared
  if (declared === "image/*" || imageTypes.test(declared)) {
    if (part.data._tag === "url" && inline === null) {
      return isHttpsUrl(part.data.url)
        ? { kind: "image", mediaType }
        : undefined
    }
    // inline: the type the bytes say (Anthropic refuses bytes that are not the type sent), else the one given
    const sent = imageTypeOf(inlineBase64(part)!) ?? mediaType
    return imageTypes.test(sent) ? { kind: "image", mediaType: sent } : undefined
  }
  if (declared === "application/pdf") {
    if (part.data._tag === "url" && inline === null) {
      return isHttpsUrl(part.data.url)
        ? { kind: "pdf", mediaType }
        : undefined
    }
    return mediaType === declared ? { kind: "pdf", mediaType } : undefined
  }
  // a plain-text document has a text source only: inline (no URL source takes text)
  if (declared === "text/plain" && (part.data._tag === "base64" || inline !== null)) {
    return mediaType === declared ? { kind: "text", mediaType } : undefined
  }
  return undefined
}

/**
 * Whether Anthropic carries a part in a turn of `role`: files only in user turns (an assistant turn
 * holds text, thinking and tool use), as an image (JPEG, PNG, GIF, WebP — bytes, a `data:` URL, or an
 * `https:` URL; inline with the type its bytes say, at most 5 MB of base64), a PDF (bytes, a `data:` URL
 * or an `https:` URL) or a plain-text document (`text/plain` bytes or `data:` URL, sent as its text).
 * Audio, video and other documents are refused.
 */
export const canCarry = (part: Part, role: Message["role"]): boolean | string => {
  if (part.type !== "file") return true
  const kind = role === "user" ? kindOf(part)?.kind : undefined
  if (kind === undefined) return false
  if (kind === "text") {
    // a text source is sent as its text: bytes that are no UTF-8 would go garbled
    return isUtf8(Buffer.from(inlineBase64(part)!, "base64")) ||
      "is not UTF-8 text (a plain-text document is sent as its text)"
  }
  const size = kind === "image" ? inlineBase64Length(part) : 0
  return size > maxImageBase64Length
    ? `exceeds Anthropic's 5 MB image limit: ${size} base64 bytes > ${maxImageBase64Length}`
    : true
}

/** Anthropic's per-image cap, on the base64 text (WIRE-tools-multimodal §4.6: "image exceeds 5 MB maximum"). */
const maxImageBase64Length = 5_242_880

/** The Messages API's per-request cap (WIRE-openai-anthropic: "32 MB → 413 `request_too_large`"). */
const maxRequestBytes = 32 * 1024 * 1024

/**
 * Why a request's body (`bodyBytes`: its encoded size) passes Anthropic's 32 MB, or `undefined`. The
 * service's 413 comes from Cloudflare after the whole upload, as a page naming neither the cap nor the
 * part. The body is measured as sent — JSON escapes and all — only when what it surely carries passes
 * 1 MB: below, even text escaped six bytes a character stays far under the cap, and small requests
 * are not encoded twice.
 */
export const exceedsRequestSize = (request: CallRequest, bodyBytes: () => number): string | undefined => {
  if (carriedBytes(request) <= 1024 * 1024) return undefined
  const bytes = bodyBytes()
  return bytes > maxRequestBytes
    ? `the request's body is ${bytes} bytes (inline files, text and tool data), over Anthropic's 32 MB per request (${maxRequestBytes}); send large files as URLs`
    : undefined
}

/**
 * What a request's body surely carries, in bytes: the UTF-8 of texts (not blank ones), of reasoning
 * sent back (signed, or its redacted data), of tool calls' arguments and tool results, and inline
 * files (their base64; a text document its text) — a lower bound of the body, before its JSON.
 */
const carriedBytes = (request: CallRequest): number => {
  let bytes = request.system === undefined ? 0 : Buffer.byteLength(request.system)
  for (const message of request.messages) {
    for (const part of message.parts) bytes += sentBytes(part)
  }
  return bytes
}

const sentBytes = (part: Part): number => {
  switch (part.type) {
    case "text":
      return isBlank(part.text) ? 0 : Buffer.byteLength(part.text)
    case "reasoning": {
      const redacted = redactedDataOf(part.metadata)
      if (redacted !== undefined) return redacted.length
      return signatureOf(part.metadata) === undefined ? 0 : Buffer.byteLength(part.text)
    }
    case "tool-call":
      return Buffer.byteLength(jsonText(part.params) ?? "")
    case "tool-result":
      return Buffer.byteLength(resultText(part))
    case "file":
      // a text document goes as its decoded text, anything else as base64
      return kindOf(part)?.kind === "text" ? inlineByteLength(part) : inlineBase64Length(part)
  }
}

const encodeFile = (part: FilePart): BlockBody => {
  const { kind, mediaType } = kindOf(part)!
  const data = inlineBase64(part)
  if (kind === "image") {
    return {
      type: "image",
      source: data !== undefined
        ? { type: "base64", media_type: mediaType, data }
        : { type: "url", url: (part.data as { url: string }).url }
    }
  }
  return {
    type: "document",
    source: kind === "text"
      ? { type: "text", media_type: "text/plain", data: Buffer.from(data!, "base64").toString("utf8") }
      : data !== undefined
      ? { type: "base64", media_type: "application/pdf", data }
      : { type: "url", url: (part.data as { url: string }).url },
    ...(part.fileName !== undefined ? { title: part.fileName } : {})
  }
}

/** A tool result block: the result as text (a string as it is, anything else as JSON), `is_error` on a failure. */
export const resultBlock = (part: ToolResultPart): BlockBody =>
  cached({
    type: "tool_result",
    tool_use_id: part.id,
    content: resultText(part),
    ...(part.isFailure ? { is_error: true as const } : {})
  }, part.metadata)

/** A tool result as the block's text: a string as it is, anything else as JSON. */
const resultText = (part: ToolResultPart): string =>
  typeof part.result === "string" ? part.result : jsonText(part.result ?? null) ?? "null"

/** Text of whitespace only: the Messages API refuses such a block ("text content blocks must contain non-whitespace text"). */
export const isBlank = (text: string): boolean => text.trim().length === 0

const userBlock = (part: UserPart): BlockBody | undefined =>
  part.type === "text"
    ? (isBlank(part.text) ? undefined : cached({ type: "text", text: part.text }, part.metadata))
    : cached(encodeFile(part), part.metadata)

/**
 * An assistant part as a block: reasoning goes back only with what Anthropic signed (a `thinking`
 * block with its signature, or a `redacted_thinking` block); unsigned reasoning is dropped, as the
 * API refuses a thinking block without its signature. A call's `input` must be an object.
 */
const assistantBlock = (part: AssistantPart): BlockBody | undefined => {
  switch (part.type) {
    case "text":
      return isBlank(part.text) ? undefined : cached({ type: "text", text: part.text }, part.metadata)
    case "reasoning": {
      const redacted = redactedDataOf(part.metadata)
      if (redacted !== undefined) return { type: "redacted_thinking", data: redacted }
      const signature = signatureOf(part.metadata)
      return signature !== undefined ? { type: "thinking", thinking: part.text, signature } : undefined
    }
    case "tool-call":
      return cached(
        { type: "tool_use", id: part.id, name: part.name, input: isPlainObject(part.params) ? part.params : {} },
        part.metadata
      )
    case "file":
      // Refused by `canCarry` before a request is built: an assistant turn takes no files.
      return undefined
  }
}

const blocksOf = (message: Message): Array<BlockBody> => {
  switch (message.role) {
    case "user":
      return message.parts.flatMap((part) => userBlock(part) ?? [])
    case "assistant":
      return message.parts.flatMap((part) => assistantBlock(part) ?? [])
    case "tool":
      return message.parts.map(resultBlock)
  }
}

/**
 * The turns: tool results are user turns; consecutive messages of one role become one turn whose
 * content is their blocks in order — what the API does itself ("consecutive user or assistant turns
 * … will be combined"), done here so every Anthropic-compatible server sees alternating roles, and so
 * that all the results of one assistant turn arrive in the next user message. A turn left with no
 * block (only unsigned reasoning) is left out; a single text without a cache breakpoint stays a string.
 */
export const encodeMessages = (messages: ReadonlyArray<Message>): Array<MessageBody> => {
  const turns: Array<{ role: "user" | "assistant"; blocks: Array<BlockBody> }> = []
  for (const message of messages) {
    const blocks = blocksOf(message)
    if (blocks.length === 0) continue
    const role = message.role === "assistant" ? "assistant" : "user"
    const last = turns[turns.length - 1]
    if (last !== undefined && last.role === role) last.blocks.push(...blocks)
    else turns.push({ role, blocks })
  }
  // A final assistant turn (a prefill) must not end with whitespace ("final assistant content cannot
  // end with trailing whitespace"): its last text is sent trimmed at the end.
  const final = turns[turns.length - 1]
  const lastBlock = final?.role === "assistant" ? final.blocks[final.blocks.length - 1] : undefined
  if (lastBlock?.type === "text") {
    final!.blocks[final!.blocks.length - 1] = { ...lastBlock, text: lastBlock.text.trimEnd() }
  }
  return turns.map(({ blocks, role }) => ({
    role,
    content: blocks.length === 1 && blocks[0]!.type === "text" && blocks[0]!.cache_control === undefined
      ? blocks[0]!.text
      : blocks
  }))
}
