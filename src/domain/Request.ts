/**
 * What a caller asks for (API.md §1), and its validation into the `CallRequest` every protocol
 * encodes. Provider-specific rules live with each protocol (`Protocol.check`).
 */
import { FatalError } from "./Errors.js"
import { type CallRequest, type Message as CallMessage, text, type UserPart } from "./Prompt.js"
import { tagsProblem } from "./Tags.js"
import { maxTokenCount } from "./TokenUsage.js"

/**
 * A piece of a message's content (API.md §9): text, an image (bytes or base64 with its media type, or
 * an `https:`/`data:` URL) or a file (a PDF, audio: bytes or base64 with its media type).
 */
export type ContentPart =
  | { readonly type: "text"; readonly text: string }
  | { readonly type: "image"; readonly data: Uint8Array | string; readonly mediaType: string; readonly url?: never }
  // `mediaType` names the type an https: URL's path does not show (a data: URL names its own).
  | { readonly type: "image"; readonly url: string; readonly mediaType?: string; readonly data?: never }
  | { readonly type: "file"; readonly data: Uint8Array | string; readonly mediaType: string; readonly name?: string }

/** A message of a conversation. */
export interface Message {
  readonly role: "system" | "user" | "assistant"
  readonly content: string | ReadonlyArray<ContentPart>
}

/** The request accepted by `generate` and `stream`. */
export interface GenerateRequest {
  /** An alias from config `models`; `default_model` when absent. */
  readonly model?: string | undefined
  /** A single user turn ... */
  readonly prompt?: string | undefined
  /** ... or a conversation. */
  readonly messages?: ReadonlyArray<Message> | undefined
  readonly system?: string | undefined
  readonly maxOutputTokens?: number | undefined
  readonly temperature?: number | undefined
  readonly topP?: number | undefined
  readonly stop?: ReadonlyArray<string> | undefined
  /** Generated (UUID) when absent (or taken from `withCallContext`). */
  readonly traceId?: string | undefined
  /**
   * Tags of the call (`{ user: "u-42", team: "acme" }`): stored with its ledger events, and each key
   * with a `budget.per_tag` entry puts the call in that scope (`user:u-42`). Merged over the tags of
   * `withCallContext`. Keys: a letter then up to 63 letters, digits, `_ . -` (not `model`); values:
   * 1–128 letters, digits or `_ . : @ + / = # -`; at most 16.
   */
  readonly tags?: Readonly<Record<string, string>> | undefined
  readonly fullResponse?: boolean | undefined
}

/** A `FatalError` `invalid_request`. */
export const invalidRequest = (message: string): FatalError => new FatalError({ reason: "invalid_request", message })

/** How a rejected value is shown: its type, and the value itself when it is short. */
export const describe = (value: unknown): string => {
  if (value === null) return "null"
  if (typeof value === "string") {
    return `a string (${JSON.stringify(value.length > 40 ? `${value.slice(0, 37)}...` : value)})`
  }
  if (typeof value === "number") return String(value)
  if (Array.isArray(value)) return "an array"
  if (value === undefined) return "nothing"
  if (typeof value === "boolean") return `a boolean (${value})`
  return typeof value === "object" ? "an object" : `a ${typeof value}`
}

const checkNumber = (
  name: string,
  value: unknown,
  valid: (n: number) => boolean,
  range: string
): FatalError | undefined =>
  value === undefined || (typeof value === "number" && valid(value))
    ? undefined
    : invalidRequest(`${name} must be a number within ${range}, got ${describe(value)}`)

/**
 * Checks a request against API.md §1 and turns it into a `CallRequest` (system text apart, then
 * user/assistant turns as text parts); returns a `FatalError` `invalid_request` naming what is wrong.
 * The output limit is decided later, by the plan (API.md §14).
 */
export const validate = (req: GenerateRequest): CallRequest | FatalError => {
  if (typeof req !== "object" || req === null) return invalidRequest("the request must be an object")
  // (Checked as values, not only as types: a request may come from JSON, a batch file.)
  if (req.prompt !== undefined && typeof req.prompt !== "string") {
    return invalidRequest(`prompt must be a string, got ${describe(req.prompt)}`)
  }
  if (req.messages !== undefined && !Array.isArray(req.messages)) {
    return invalidRequest(`messages must be an array of { role, content }, got ${describe(req.messages)}`)
  }
  if (req.fullResponse !== undefined && typeof req.fullResponse !== "boolean") {
    return invalidRequest(`fullResponse must be a boolean, got ${describe(req.fullResponse)}`)
  }
  const hasPrompt = typeof req.prompt === "string" && req.prompt.length > 0
  const hasMessages = Array.isArray(req.messages) && req.messages.length > 0
  if (!hasPrompt && !hasMessages) return invalidRequest("the request needs a non-empty `prompt` or `messages`")
  if (
    req.maxOutputTokens !== undefined &&
    !(typeof req.maxOutputTokens === "number" && Number.isInteger(req.maxOutputTokens) && req.maxOutputTokens > 0 &&
      req.maxOutputTokens <= maxTokenCount)
  ) {
    return invalidRequest(
      `maxOutputTokens must be a positive integer up to ${maxTokenCount}, got ${describe(req.maxOutputTokens)}`
    )
  }
  const rangeError = checkNumber("temperature", req.temperature, (n) => n >= 0 && n <= 2, "[0, 2]") ??
    checkNumber("topP", req.topP, (n) => n > 0 && n <= 1, "(0, 1]")
  if (rangeError !== undefined) return rangeError
  // (An empty stop sequence would end every answer before it starts: no service takes one.)
  if (req.stop !== undefined) {
    if (!Array.isArray(req.stop)) {
      return invalidRequest(`stop must be an array of non-empty strings, got ${describe(req.stop)}`)
    }
    const bad = req.stop.findIndex((s) => typeof s !== "string" || s.length === 0)
    if (bad >= 0) return invalidRequest(`stop[${bad}] must be a non-empty string, got ${describe(req.stop[bad])}`)
  }
  if (req.tags !== undefined) {
    const problem = tagsProblem(req.tags)
    if (problem !== undefined) return invalidRequest(problem)
  }
  if (req.system !== undefined && typeof req.system !== "string") {
    return invalidRequest(`system must be a string, got ${describe(req.system)}`)
  }
  const systemParts: Array<string> = []
  if (typeof req.system === "string" && req.system.length > 0) systemParts.push(req.system)
  const messages: Array<CallMessage> = []
  for (const [index, message] of (req.messages ?? []).entries()) {
    if (
      typeof message !== "object" || message === null ||
      !(typeof message.content === "string" || Array.isArray(message.content))
    ) {
      return invalidRequest(`messages[${index}] must be { role, content: string | ContentPart[] }`)
    }
    if (message.role !== "system" && message.role !== "user" && message.role !== "assistant") {
      return invalidRequest(`messages[${index}].role must be system, user or assistant`)
    }
    const parts = typeof message.content === "string" ? [text(message.content)] : contentParts(message.content, index)
    if (parts instanceof FatalError) return parts
    if (message.role === "system") {
      const nonText = parts.find((part) => part.type !== "text")
      if (nonText !== undefined) {
        return invalidRequest(`${nonText.source} (${nonText.mediaType}): a system message holds text parts only`)
      }
      const system = parts.map((part) => part.type === "text" ? part.text : "").join("")
      if (system.length > 0) systemParts.push(system)
    } else {
      // An empty text part is dropped (Gemini and Anthropic refuse one), and a message left empty with it.
      const kept = parts.filter((part) => part.type !== "text" || part.text.length > 0)
      if (kept.length > 0) messages.push({ role: message.role, parts: kept })
    }
  }
  if (hasPrompt) messages.push({ role: "user", parts: [text(req.prompt as string)] })
  if (messages.length === 0) return invalidRequest("the request has no user or assistant message")
  return {
    system: systemParts.length > 0 ? systemParts.join("\n\n") : undefined,
    messages,
    maxOutputTokens: req.maxOutputTokens,
    temperature: req.temperature,
    topP: req.topP,
    stop: req.stop !== undefined && req.stop.length > 0 ? req.stop : undefined
  }
}

const base64Pattern = /^[A-Za-z0-9+/]*={0,2}$/
const mediaTypePattern = /^[a-z0-9][a-z0-9!#$&^_.+-]*\/[a-z0-9][a-z0-9!#$&^_.+-]*$/i

/**
 * Bytes as base64, or a base64 string checked (whitespace allowed, as in wrapped base64); `undefined` if
 * neither, or empty (no provider takes an empty file: refused here as the empty string is).
 */
export const base64Of = (data: unknown): string | undefined => {
  if (data instanceof Uint8Array) {
    return data.byteLength > 0
      ? Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString("base64")
      : undefined
  }
  if (typeof data !== "string") return undefined
  const compact = data.replace(/\s+/g, "")
  return compact.length > 0 && compact.length % 4 === 0 && base64Pattern.test(compact) ? compact : undefined
}

/** A `data:` URL: its media type, whether it says `;base64`, its payload. */
const dataUrlPattern = /^data:([^;,]*)((?:;[^;,]*)*?)(;base64)?,(.*)$/is

/**
 * What is wrong with a `data:` URL's payload (empty, or not base64), `undefined` when it is whole:
 * sent as it is, it would be refused by the service after a hold, or read as other bytes.
 */
export const dataUrlProblem = (url: string): string | undefined => {
  const parts = dataUrlPattern.exec(url)
  if (parts === null || parts[3] === undefined) return "a data: URL must be data:<media type>;base64,<data>"
  return base64Of(parts[4]) === undefined ? "the data: URL's base64 payload is empty or not base64" : undefined
}

/**
 * A `data:` URL as it is sent: its header in lower case (`DATA:IMAGE/PNG;BASE64,` is the same URL, but
 * services match `data:image/png;base64,`) and its base64 payload without the whitespace
 * `dataUrlProblem` allows (wrapped base64), so a service that decodes strictly takes what was checked.
 * Any other URL unchanged.
 */
export const sentDataUrl = (url: string): string => {
  const parts = dataUrlPattern.exec(url)
  const payload = parts?.[3] !== undefined ? base64Of(parts[4]) : undefined
  return payload === undefined ? url : url.slice(0, url.length - parts![4]!.length).toLowerCase() + payload
}

const urlMediaTypes: Readonly<Record<string, string>> = {
  png: "image/png",
  jpg: "image/jpeg",
  jpeg: "image/jpeg",
  webp: "image/webp",
  gif: "image/gif"
}

/** The media type an image URL names by its extension, else `image/*` (for a refusal's message). */
const imageUrlMediaType = (url: string): string =>
  urlMediaTypes[/\.([a-z0-9]+)(?:[?#].*)?$/i.exec(url)?.[1]?.toLowerCase() ?? ""] ?? "image/*"

/**
 * A message's content parts (API.md §9) as call parts, each labelled with its position in the request
 * (`messages[i].content[j]`) so that a protocol's refusal names it; an `invalid_request` for a part
 * that is not one of the documented shapes.
 */
const contentParts = (content: ReadonlyArray<unknown>, index: number): Array<UserPart> | FatalError => {
  const parts: Array<UserPart> = []
  for (const [at, raw] of content.entries()) {
    const label = `messages[${index}].content[${at}]`
    if (typeof raw !== "object" || raw === null) return invalidRequest(`${label} must be a content part object`)
    const part = raw as Record<string, unknown>
    switch (part.type) {
      case "text": {
        if (typeof part.text !== "string") return invalidRequest(`${label}.text must be a string`)
        parts.push(text(part.text))
        break
      }
      case "image": {
        if (part.url !== undefined && part.data !== undefined) {
          return invalidRequest(`${label}: an image has either url or data, not both`)
        }
        if (part.url !== undefined) {
          if (typeof part.url !== "string" || !/^(https:|data:)/i.test(part.url)) {
            const named = typeof part.url === "string" ? ` (${imageUrlMediaType(part.url)})` : ""
            return invalidRequest(
              `${label}${named}: an image url must be an https: or data: URL, got ${describe(part.url)}`
            )
          }
          const dataUrl = /^data:([^;,]*)(;base64)?,/i.exec(part.url)
          if (
            /^data:/i.test(part.url) && (dataUrl === null || dataUrl[2] === undefined || !/^image\//i.test(dataUrl[1]!))
          ) {
            const named = dataUrl !== null && dataUrl[1]!.length > 0 ? ` (${dataUrl[1]!.toLowerCase()})` : ""
            return invalidRequest(`${label}${named}: a data: URL image must be data:image/<type>;base64,<data>`)
          }
          const payload = dataUrl !== null ? dataUrlProblem(part.url) : undefined
          if (payload !== undefined) return invalidRequest(`${label} (${dataUrl![1]!.toLowerCase()}): ${payload}`)
          const declared = urlImageMediaType(part.mediaType, dataUrl?.[1]?.toLowerCase(), label)
          if (declared instanceof FatalError) return declared
          parts.push({
            type: "file",
            mediaType: declared ?? (dataUrl !== null ? dataUrl[1]!.toLowerCase() : "image/*"),
            data: { _tag: "url", url: sentDataUrl(part.url) },
            source: label
          })
          break
        }
        const inline = fileData(
          part,
          label,
          /^image\//i,
          "an image/* media type (image/png, image/jpeg, image/webp, image/gif)"
        )
        if (typeof inline === "string") return invalidRequest(inline)
        parts.push({
          type: "file",
          mediaType: inline.mediaType,
          data: { _tag: "base64", base64: inline.base64 },
          source: label
        })
        break
      }
      case "file": {
        const inline = fileData(part, label, mediaTypePattern, "a media type (application/pdf, audio/wav, ...)")
        if (typeof inline === "string") return invalidRequest(inline)
        if (part.name !== undefined && typeof part.name !== "string") {
          return invalidRequest(`${label}.name must be a string`)
        }
        parts.push({
          type: "file",
          mediaType: inline.mediaType,
          data: { _tag: "base64", base64: inline.base64 },
          source: label,
          ...(typeof part.name === "string" ? { fileName: part.name } : {})
        })
        break
      }
      default:
        return invalidRequest(`${label}.type must be text, image or file, got ${describe(part.type)}`)
    }
  }
  return parts
}

/** The `mediaType` given beside an image URL (an image type, and a data: URL's own if it has one). */
const urlImageMediaType = (
  given: unknown,
  inline: string | undefined,
  label: string
): string | undefined | FatalError => {
  // `image/*` says no more than the part's kind: the type comes from the data: URL or the URL's path
  if (given === undefined || (typeof given === "string" && given.toLowerCase() === "image/*")) return undefined
  if (typeof given !== "string" || !mediaTypePattern.test(given) || !/^image\//i.test(given)) {
    return invalidRequest(`${label}.mediaType must be an image/* media type, got ${describe(given)}`)
  }
  const mediaType = given.toLowerCase()
  if (inline !== undefined && mediaType !== inline) {
    return invalidRequest(`${label}: mediaType ${mediaType} differs from its data: URL's ${inline}`)
  }
  return mediaType
}

/** What is wrong with an inline part's `data` that is not base64 (a `file` part has no `url`). */
const dataProblem = (data: unknown, type: "image" | "file"): string => {
  const text = typeof data === "string" ? data.trim() : ""
  if (/^data:/i.test(text)) {
    return type === "image"
      ? "data is a data: URL: give it as `url`"
      : "data is a data: URL: give its base64 payload (after `base64,`) as `data`"
  }
  if (text.length > 0) return "data is not base64 (the standard alphabet, padded to a multiple of 4 characters)"
  return "data must be non-empty bytes (Uint8Array) or a non-empty base64 string"
}

/** The media type and base64 data of an inline image or file part, or what is wrong with it. */
const fileData = (
  part: Record<string, unknown>,
  label: string,
  accepted: RegExp,
  expected: string
): { readonly mediaType: string; readonly base64: string } | string => {
  if (typeof part.mediaType !== "string" || !mediaTypePattern.test(part.mediaType) || !accepted.test(part.mediaType)) {
    return `${label}.mediaType must be ${expected}, got ${describe(part.mediaType)}`
  }
  const base64 = base64Of(part.data)
  if (base64 === undefined) {
    return `${label} (${part.mediaType}): ${dataProblem(part.data, part.type === "file" ? "file" : "image")}`
  }
  return { mediaType: part.mediaType.toLowerCase(), base64 }
}
