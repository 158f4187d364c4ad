/**
 * An `@effect/ai` `Prompt` as the conversation every protocol encodes (`CallRequest`'s system text
 * and messages): system messages joined into the system text; user, assistant and tool messages part
 * for part — text, file (bytes, base64, data URL or URL), reasoning, tool call, tool result — with the
 * parts' provider options carried as their provider metadata. Metadata the prompt lost (`Chat`'s
 * history) is re-attached from the memory. Parts the pipeline cannot carry are `invalid_request`.
 */
import type * as Prompt from "@effect/ai/Prompt"
import * as Encoding from "effect/Encoding"
import { FatalError } from "../domain/Errors.js"
import type {
  AssistantPart,
  FileData,
  FilePart,
  Message,
  ProviderMetadata,
  ToolResultPart,
  UserPart
} from "../domain/Prompt.js"
import { base64Of, dataUrlProblem, invalidRequest, sentDataUrl } from "../domain/Request.js"
import { imageTypeOf } from "../internal/ImageType.js"
import { jsonText } from "../internal/JsonText.js"
import { hasMetadata, type Memory, type SignedPart, signedPartKey, textDigest } from "./Memory.js"

/** The prompt in `CallRequest`'s shape. */
export interface EncodedPrompt {
  readonly system: string | undefined
  readonly systemMetadata?: ProviderMetadata | undefined
  readonly messages: ReadonlyArray<Message>
}

const metadataOf = (options: Prompt.ProviderOptions): ProviderMetadata | undefined => {
  let out: Record<string, Readonly<Record<string, unknown>>> | undefined
  for (const [key, value] of Object.entries(options)) {
    if (value === undefined) continue
    out ??= {}
    out[key] = value
  }
  return out
}

const withMetadata = <P extends object>(part: P, metadata: ProviderMetadata | undefined): P =>
  metadata === undefined ? part : { ...part, metadata }

/** `inner` over `outer`, protocol by protocol: a part's own options win over its message's. */
const mergeMetadata = (
  outer: ProviderMetadata | undefined,
  inner: ProviderMetadata | undefined
): ProviderMetadata | undefined => {
  if (outer === undefined) return inner
  if (inner === undefined) return outer
  const out: Record<string, Readonly<Record<string, unknown>>> = { ...outer }
  for (const [key, value] of Object.entries(inner)) out[key] = { ...outer[key], ...value }
  return out
}

/**
 * A message's options go with its last part (as `@effect/ai-anthropic` reads a message's
 * `cacheControl`: a cache breakpoint at the end of the message).
 */
const withMessageOptions = <P extends { readonly metadata?: ProviderMetadata | undefined }>(
  parts: Array<P>,
  options: Prompt.ProviderOptions
): Array<P> => {
  const metadata = metadataOf(options)
  const last = parts[parts.length - 1]
  if (metadata === undefined || last === undefined) return parts
  parts[parts.length - 1] = { ...last, metadata: mergeMetadata(metadata, last.metadata) }
  return parts
}

const dataUrl = /^data:([^;,]*)(?:;[^,]*)?;base64,(.*)$/s

/**
 * A file's data: bytes and base64 strings as base64; a URL, a `data:` URL (its media type kept: it
 * resolves `image/*` and is the type the bytes really have, as the public `generate` path keeps it),
 * or a string with a scheme (`https://`, `oss://`, `gs://`: base64 never has a colon), as a URL for the
 * protocol to judge.
 */
export const fileDataOf = (data: string | Uint8Array | URL): FileData => {
  if (data instanceof URL) return { _tag: "url", url: data.href }
  if (typeof data !== "string") return { _tag: "base64", base64: Encoding.encodeBase64(data) }
  if (dataUrl.test(data) || /^[a-z][a-z0-9+.-]*:\/\//i.test(data)) return { _tag: "url", url: data }
  return { _tag: "base64", base64: data }
}

/**
 * A part's position as API.md §9 names it, as `generate` does: `i` is the message's index in the
 * prompt's content (system messages counted), `j` the part's in that message.
 */
const positionOf = (index: number, j: number): string => `messages[${index}].content[${j}]`

/**
 * A refusal for a tool call's params or a tool result that no request can carry (a BigInt, a cycle:
 * `@effect/ai`'s `Prompt` takes any value there): said before the call is held, not a defect while
 * its request is written.
 */
const notJson = (value: unknown, where: string): FatalError | undefined => {
  try {
    jsonText(value)
    return undefined
  } catch (error) {
    return invalidRequest(`${where} must be JSON data: ${error instanceof Error ? error.message : String(error)}`)
  }
}

/**
 * A file part, or `invalid_request` for data a service could not take, as `generate` refuses it:
 * empty bytes, a string that is neither base64 nor a URL, a `data:` URL whose payload is not base64.
 */
const fileOf = (part: Prompt.FilePart, label: string): FilePart | FatalError => {
  const given = fileDataOf(part.data)
  // base64 as `generate` sends it: the line breaks and spaces of a wrapped encoding taken out
  const compact = given._tag === "base64" && typeof part.data === "string" ? base64Of(part.data) : undefined
  const problem = part.data instanceof URL
    ? undefined
    : part.data.length === 0
    ? "data must be non-empty bytes (Uint8Array), a non-empty base64 string or a URL"
    : given._tag === "base64" && typeof part.data === "string" && compact === undefined
    ? "data is a string that is neither base64 nor a URL"
    : given._tag === "url" && /^data:/i.test(given.url)
    ? dataUrlProblem(given.url)
    : undefined
  if (problem !== undefined) return invalidRequest(`${label} (${part.mediaType}): ${problem}`)
  const data: FileData = compact !== undefined
    ? { _tag: "base64", base64: compact }
    : given._tag === "url"
    ? { _tag: "url", url: sentDataUrl(given.url) }
    : given
  // media types are case-insensitive; the protocols match and send them in lower case, as `generate` does
  const mediaType = part.mediaType.toLowerCase()
  return {
    type: "file",
    // `image/*` inline: the type its bytes say, else `image/jpeg`, as @effect/ai's own providers send it
    mediaType: mediaType === "image/*" && data._tag === "base64" ? imageTypeOf(data.base64) ?? "image/jpeg" : mediaType,
    data,
    ...(part.fileName !== undefined ? { fileName: part.fileName } : {}),
    source: label,
    ...withMetadata({}, metadataOf(part.options))
  }
}

/**
 * The metadata of a text or reasoning part lost by the prompt, from the signed parts of its turn's
 * calls, else (an answer without calls) remembered by its own text.
 */
const recalledFor = (
  turn: ReadonlyArray<SignedPart>,
  memory: Memory | undefined,
  type: "text" | "reasoning",
  text: string
) => {
  if (memory === undefined) return undefined
  const digest = textDigest(text)
  return turn.find((signed) => signed.type === type && signed.digest === digest)?.metadata ??
    memory.recall(signedPartKey(type, digest))?.turn[0]?.metadata
}

/** An assistant message's parts, lost metadata re-attached from the memory by the ids of its tool calls. */
const assistantParts = (
  message: Prompt.AssistantMessage,
  index: number,
  memory: Memory | undefined
): ReadonlyArray<AssistantPart> | FatalError => {
  const turn: Array<SignedPart> = []
  if (memory !== undefined) {
    for (const part of message.content) {
      if (part.type === "tool-call") turn.push(...(memory.recall(part.id)?.turn ?? []))
    }
  }
  const out: Array<AssistantPart> = []
  for (const [j, part] of message.content.entries()) {
    const metadata = metadataOf(part.options)
    switch (part.type) {
      case "text":
      case "reasoning": {
        const recalled = hasMetadata(metadata) ? metadata : recalledFor(turn, memory, part.type, part.text)
        if (isBlank(part.type, part.text, recalled)) break
        out.push(withMetadata({ type: part.type, text: part.text }, recalled))
        break
      }
      case "file": {
        const file = fileOf(part, positionOf(index, j))
        if (file instanceof FatalError) return file
        out.push(file)
        break
      }
      case "tool-call": {
        const refused = notJson(part.params, `${positionOf(index, j)}: a tool call's params`)
        if (refused !== undefined) return refused
        const recalled = hasMetadata(metadata) ? metadata : memory?.recall(part.id)?.call
        out.push(withMetadata({ type: "tool-call", id: part.id, name: part.name, params: part.params }, recalled))
        break
      }
      case "tool-result":
        // A result the provider produced itself (provider-executed tools) has no request form here.
        if (part.providerExecuted) break
        return invalidRequest(
          `${positionOf(index, j)}: a tool result belongs in a tool message, not an assistant one`
        )
    }
  }
  return out
}

/**
 * An empty text part that carries nothing else (no provider metadata, such as a signature): dropped,
 * as Gemini ("required oneof field 'data'") and Anthropic ("text content blocks must be non-empty")
 * refuse one; a message left without parts is dropped with it.
 */
const isBlank = (type: "text" | "reasoning", text: string, metadata: ProviderMetadata | undefined) =>
  type === "text" && text.length === 0 && !hasMetadata(metadata)

/** Encodes a prompt; `memory` re-attaches lost provider metadata to replayed tool calls and their turn. */
export const encodePrompt = (prompt: Prompt.Prompt, memory?: Memory): EncodedPrompt | FatalError => {
  const system: Array<string> = []
  // the system messages are sent as one text: their options (a cache breakpoint) apply to all of it
  let systemMetadata: ProviderMetadata | undefined
  const messages: Array<Message> = []
  for (const [index, message] of prompt.content.entries()) {
    switch (message.role) {
      case "system":
        if (message.content.length > 0) system.push(message.content)
        systemMetadata = mergeMetadata(systemMetadata, metadataOf(message.options))
        break
      case "user": {
        const parts: Array<UserPart> = []
        for (const [j, part] of message.content.entries()) {
          if (part.type === "text") {
            const metadata = metadataOf(part.options)
            if (!isBlank(part.type, part.text, metadata)) {
              parts.push(withMetadata({ type: "text", text: part.text }, metadata))
            }
            continue
          }
          const file = fileOf(part, positionOf(index, j))
          if (file instanceof FatalError) return file
          parts.push(file)
        }
        if (parts.length > 0) messages.push({ role: "user", parts: withMessageOptions(parts, message.options) })
        break
      }
      case "assistant": {
        const parts = assistantParts(message, index, memory)
        if (!Array.isArray(parts)) return parts as FatalError
        if (parts.length > 0) {
          messages.push({ role: "assistant", parts: withMessageOptions([...parts], message.options) })
        }
        break
      }
      case "tool": {
        const parts: Array<ToolResultPart> = []
        for (const [j, part] of message.content.entries()) {
          const refused = notJson(part.result, `${positionOf(index, j)}: a tool result`)
          if (refused !== undefined) return refused
          parts.push(withMetadata({
            type: "tool-result",
            id: part.id,
            name: part.name,
            result: part.result,
            isFailure: part.isFailure
          }, metadataOf(part.options)))
        }
        if (parts.length > 0) messages.push({ role: "tool", parts: withMessageOptions(parts, message.options) })
        break
      }
    }
  }
  if (messages.length === 0) return invalidRequest("the prompt has no user, assistant or tool message")
  return {
    system: system.length > 0 ? system.join("\n\n") : undefined,
    ...(systemMetadata !== undefined && system.length > 0 ? { systemMetadata } : {}),
    messages
  }
}
