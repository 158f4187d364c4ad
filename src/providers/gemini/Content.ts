/**
 * The prompt's parts as Gemini `Part`s (WIRE-tools-multimodal §1.5, §1.6, §1.8): text; files as
 * `inlineData` (bytes) or `fileData` (an `https:` URL); reasoning and tool calls echoed with their
 * `thoughtSignature`; tool results as `functionResponse` parts of a user turn. Also which files Gemini
 * takes, and the tool-call ids and signatures the protocol keeps in part metadata.
 */
import type {
  AssistantPart,
  FilePart,
  Message,
  ProviderMetadata,
  ToolCallPart,
  ToolResultPart
} from "../../domain/Prompt.js"
import { resultsInCallOrder } from "../http/Tools.js"

/** The key of Gemini's data in a part's provider metadata: `{ gemini: { thoughtSignature } }`. */
export const metadataKey = "gemini"

/**
 * The value Google documents for replaying a `functionCall` whose signature is not available (a
 * conversation begun on another model or protocol): Gemini 3 then skips its signature validation.
 */
export const skipSignatureValidator = "skip_thought_signature_validator"

/** A Gemini `Part` of a request (one data field each). */
export interface PartBody {
  readonly text?: string
  readonly thought?: true
  readonly thoughtSignature?: string
  readonly inlineData?: { readonly mimeType: string; readonly data: string }
  readonly fileData?: { readonly mimeType: string; readonly fileUri: string }
  readonly functionCall?: { readonly id?: string; readonly name: string; readonly args: unknown }
  readonly functionResponse?: {
    readonly id?: string
    readonly name: string
    readonly response: Readonly<Record<string, unknown>>
  }
}

/** A Gemini `Content`. */
export interface ContentBody {
  readonly role: "user" | "model"
  readonly parts: ReadonlyArray<PartBody>
}

/** The `thoughtSignature` a part's metadata carries for Gemini, if any. */
export const signatureOf = (metadata: ProviderMetadata | undefined): string | undefined => {
  const signature = metadata?.[metadataKey]?.thoughtSignature
  return typeof signature === "string" && signature.length > 0 ? signature : undefined
}

/** Provider metadata carrying a signature (for decoded parts). */
export const signatureMetadata = (thoughtSignature: string): ProviderMetadata => ({
  [metadataKey]: { thoughtSignature }
})

/**
 * Tool-call ids made here when the service sent none (Gemini 2.x): `call_` and 24 hex digits. They
 * are never sent back (Gemini 2.x requests carry no ids); any other id — a Gemini 3 server id — is
 * echoed in `functionCall.id` and `functionResponse.id`.
 */
export { newCallId } from "../http/Tools.js"

/** Whether an id was made by `newCallId` (or another protocol's `call_…` convention): not sent to Gemini. */
export const isLocalCallId = (id: string): boolean => id.startsWith("call_")

/** The major version in a Gemini model id (`gemini-3-pro-preview` → 3), when it names one. */
export const majorVersion = (modelId: string): number | undefined => {
  const match = /(?:^|\/)gemini-(\d+)/.exec(modelId)
  return match === null ? undefined : Number(match[1])
}

/**
 * Whether a model validates thought signatures as Gemini 3 does: a Gemini 3 id, or a `-latest` alias
 * (`gemini-flash-lite-latest` is answered by `gemini-3.1-flash-lite`, WIRE-tools-multimodal §1.3; the
 * skip value is harmless to a model that does not validate).
 */
export const validatesSignatures = (modelId: string): boolean =>
  (majorVersion(modelId) ?? 0) >= 3 || /(?:^|\/)gemini-[a-z-]*latest$/.test(modelId)

// Media types Gemini documents for inline data and file URIs (WIRE-tools-multimodal §1.8): images,
// PDF, audio, video and plain text. Anything else (image/gif, application/zip, …) is refused.
const supportedMediaType =
  /^(image\/(png|jpeg|webp|heic|heif)|application\/pdf|text\/plain|audio\/(wav|x-wav|mp3|mpeg|aiff|aac|ogg|flac)|video\/(mp4|mpeg|mov|quicktime|avi|x-flv|mpg|webm|wmv|3gpp))$/

const imageExtensions: ReadonlyMap<string, string> = new Map([
  ["png", "image/png"],
  ["jpg", "image/jpeg"],
  ["jpeg", "image/jpeg"],
  ["webp", "image/webp"],
  ["heic", "image/heic"],
  ["heif", "image/heif"],
  // named in a refusal: Gemini takes none of these
  ["gif", "image/gif"],
  ["svg", "image/svg+xml"],
  ["bmp", "image/bmp"],
  ["tif", "image/tiff"],
  ["tiff", "image/tiff"],
  ["avif", "image/avif"]
])

const dataUrl = /^data:([^;,]*)(?:;[^,]*)?;base64,/i

/** The concrete media type of a part: `image/*` is resolved from a data URL's type or a URL's file extension. */
const mediaTypeOf = (part: FilePart): string | undefined => {
  const declared = part.mediaType.toLowerCase()
  if (declared !== "image/*") return declared
  if (part.data._tag !== "url") return undefined
  const inline = dataUrl.exec(part.data.url)
  if (inline !== null) return inline[1]!.toLowerCase() || undefined
  let path: string
  try {
    path = new URL(part.data.url).pathname
  } catch {
    return undefined
  }
  const extension = /\.([a-z0-9]+)$/i.exec(path)?.[1]?.toLowerCase()
  return extension === undefined ? undefined : imageExtensions.get(extension)
}

const isHttpsUrl = (url: string): boolean => {
  try {
    return new URL(url).protocol === "https:"
  } catch {
    return false
  }
}

/**
 * Whether Gemini can carry a file part: a documented media type (`image/*` only when a data URL or
 * the URL's extension names the type), as bytes, a base64 `data:` URL, or an `https:` URL (Files API
 * URIs, YouTube links; other URLs are fetched by the service, unverified).
 */
export const canCarryFile = (part: FilePart): boolean | string => {
  const mediaType = mediaTypeOf(part)
  // an `image/*` URL: the refusal says what its URL named, or that it named nothing Gemini can tell
  if (mediaType === undefined) {
    return part.mediaType === "image/*" && part.data._tag === "url"
      ? "cannot be sent over the gemini protocol: its URL names no image type (a .png, .jpg, .webp, .heic or .heif path); give the part its mediaType, or send its bytes or a data: URL"
      : false
  }
  if (!supportedMediaType.test(mediaType)) {
    return mediaType !== part.mediaType.toLowerCase()
      ? `cannot be sent over the gemini protocol: its URL names ${mediaType}, which Gemini does not take (image/png, image/jpeg, image/webp, image/heic, image/heif)`
      : false
  }
  if (part.data._tag === "base64") return true
  const inline = dataUrl.exec(part.data.url)
  if (inline !== null) return inline[1] === "" || supportedMediaType.test(inline[1]!.toLowerCase())
  return isHttpsUrl(part.data.url)
}

const encodeFile = (part: FilePart): PartBody => {
  const mediaType = mediaTypeOf(part) ?? part.mediaType
  if (part.data._tag === "base64") return { inlineData: { mimeType: mediaType, data: part.data.base64 } }
  const inline = dataUrl.exec(part.data.url)
  if (inline !== null) {
    return {
      inlineData: { mimeType: inline[1] || mediaType, data: part.data.url.slice(inline[0].length) }
    }
  }
  return { fileData: { mimeType: mediaType, fileUri: part.data.url } }
}

const isPlainObject = (value: unknown): value is Readonly<Record<string, unknown>> =>
  typeof value === "object" && value !== null && !Array.isArray(value)

/**
 * A tool result as `functionResponse.response`, which must be an object: a failure is `{error}`, an
 * object result is sent as it is, anything else is `{output}` (the keys Google's SDK documents).
 */
export const responseOf = (part: ToolResultPart): Readonly<Record<string, unknown>> =>
  part.isFailure ? { error: part.result } : isPlainObject(part.result) ? part.result : { output: part.result }

const withSignature = (body: PartBody, signature: string | undefined): PartBody =>
  signature === undefined ? body : { ...body, thoughtSignature: signature }

const encodeCall = (part: ToolCallPart, signature: string | undefined): PartBody =>
  withSignature({
    functionCall: {
      ...(isLocalCallId(part.id) ? {} : { id: part.id }),
      name: part.name,
      args: isPlainObject(part.params) ? part.params : {}
    }
  }, signature)

/**
 * An assistant message's parts as `model` parts, part for part and in order, each with its signature
 * (never moved to a neighbour). Reasoning goes back only when it carries a signature (then as a
 * `thought` part); unsigned reasoning is dropped.
 */
const encodeAssistantParts = (parts: ReadonlyArray<AssistantPart>): Array<PartBody> => {
  const out: Array<PartBody> = []
  for (const part of parts) {
    switch (part.type) {
      case "text":
        out.push(withSignature({ text: part.text }, signatureOf(part.metadata)))
        break
      case "reasoning": {
        const signature = signatureOf(part.metadata)
        if (signature !== undefined) out.push({ text: part.text, thought: true, thoughtSignature: signature })
        break
      }
      case "file":
        out.push(encodeFile(part))
        break
      case "tool-call":
        out.push(encodeCall(part, signatureOf(part.metadata)))
        break
    }
  }
  return out
}

/** A message as a content's role and parts: user and tool messages are `user`, assistant ones `model`. */
const encodeMessage = (message: Message): { readonly role: ContentBody["role"]; readonly parts: Array<PartBody> } => {
  switch (message.role) {
    case "user":
      return {
        role: "user",
        parts: message.parts.map((part) => (part.type === "text" ? { text: part.text } : encodeFile(part)))
      }
    case "assistant":
      return { role: "model", parts: encodeAssistantParts(message.parts) }
    case "tool":
      return {
        role: "user",
        parts: message.parts.map((part) => ({
          functionResponse: {
            ...(isLocalCallId(part.id) ? {} : { id: part.id }),
            name: part.name,
            response: responseOf(part)
          }
        }))
      }
  }
}

/**
 * A Gemini 3 `model` turn whose calls all lost their signatures, with `skipSignatureValidator` on its
 * first call: Gemini 3 would otherwise answer 400. A turn with one signed call is sent as it is (only
 * the first call of a parallel set is ever signed).
 */
const withSkipSentinel = (content: ContentBody): ContentBody => {
  const calls = content.parts.filter((part) => part.functionCall !== undefined)
  if (calls.length === 0 || calls.some((part) => part.thoughtSignature !== undefined)) return content
  return {
    ...content,
    parts: content.parts.map((part) => part === calls[0] ? withSignature(part, skipSignatureValidator) : part)
  }
}

/**
 * The conversation as Gemini `contents`: user and tool messages are `user` contents, assistant ones
 * `model` contents, and consecutive messages of one role are one content, their parts in order: a
 * turn's tool results (one tool message each, in a hand-built prompt) and the user text after them are
 * one `user` turn (WIRE-tools-multimodal §1.5, as in the VAI 16072 recording). A message left with no
 * part (only unsigned reasoning) is left out: Gemini refuses empty parts.
 */
export const encodeMessages = (messages: ReadonlyArray<Message>, modelId: string): Array<ContentBody> => {
  const contents: Array<{ readonly role: ContentBody["role"]; readonly parts: Array<PartBody> }> = []
  for (const message of resultsInCallOrder(messages)) {
    const { parts, role } = encodeMessage(message)
    if (parts.length === 0) continue
    const last = contents[contents.length - 1]
    if (last?.role === role) last.parts.push(...parts)
    else contents.push({ role, parts })
  }
  return validatesSignatures(modelId) ? contents.map(withSkipSentinel) : contents
}
