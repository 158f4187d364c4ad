/**
 * The refusal every protocol makes of what it cannot carry (API.md §9, §10): a part of a kind or
 * media type it does not take, tools, or structured output — a `FatalError` `invalid_request` naming
 * the part by position and media type, before any ledger write or request.
 */
import { FatalError } from "../../domain/Errors.js"
import { type CallRequest, type FilePart, type Message, type Part, partLabel } from "../../domain/Prompt.js"

/** What a protocol (or one of its endpoints) can carry. */
export interface Capabilities {
  /**
   * Whether a part can be sent in a turn of `role`; a file part is judged by its media type and data
   * (bytes or URL). A string is a refusal with its reason (a limit the service enforces).
   */
  readonly part: (part: Part, role: Message["role"]) => boolean | string
  readonly tools: boolean
  readonly structuredOutput: boolean
}

const describe = (part: Part, role: Message["role"]): string => {
  switch (part.type) {
    case "file":
      return `${part.data._tag === "url" ? "a URL" : "an inline"} ${part.mediaType} file${
        role === "user" ? "" : ` in ${role === "assistant" ? "an assistant" : "a tool"} turn`
      }`
    case "tool-call":
      return "a tool call"
    case "tool-result":
      return "a tool result"
    default:
      return `a ${part.type} part`
  }
}

/** The first thing in `request` that `capabilities` cannot carry, as an `invalid_request`; else `undefined`. */
export const refuseUnsupported = (
  request: CallRequest,
  protocol: string,
  capabilities: Capabilities
): FatalError | undefined => {
  // indexed loops: this runs before every request, and `entries()` makes an iterator and a pair per part
  for (let messageIndex = 0; messageIndex < request.messages.length; messageIndex++) {
    const message = request.messages[messageIndex]!
    for (let partIndex = 0; partIndex < message.parts.length; partIndex++) {
      const part = message.parts[partIndex]!
      const carried = capabilities.part(part, message.role)
      if (carried !== true) {
        return new FatalError({
          reason: "invalid_request",
          message: `${partLabel(part, messageIndex, partIndex)}: ${describe(part, message.role)} ${
            carried === false ? `cannot be sent over the ${protocol} protocol` : carried
          }`
        })
      }
    }
  }
  if (!capabilities.tools && ((request.tools?.length ?? 0) > 0 || request.toolChoice !== undefined)) {
    return new FatalError({ reason: "invalid_request", message: `tools cannot be sent over the ${protocol} protocol` })
  }
  if (!capabilities.structuredOutput && request.responseFormat !== undefined) {
    return new FatalError({
      reason: "invalid_request",
      message: `structured output cannot be requested over the ${protocol} protocol`
    })
  }
  return undefined
}

/** Text only: what every protocol carried before content parts, tools and structured output. */
export const textOnly: Capabilities = {
  part: (part) => part.type === "text",
  tools: false,
  structuredOutput: false
}

const base64DataUrl = /^data:[^;,]*(?:;[^,]*)?;base64,/i

/** A part's inline base64 (bytes, or a `data:` URL's payload); `undefined` for a remote URL. */
export const inlineBase64 = (part: FilePart): string | undefined => {
  if (part.data._tag === "base64") return part.data.base64
  const inline = base64DataUrl.exec(part.data.url)
  return inline === null ? undefined : part.data.url.slice(inline[0].length)
}

/** The length of a part's inline base64 (bytes or a `data:` URL's payload); 0 for a remote URL. */
export const inlineBase64Length = (part: FilePart): number => {
  if (part.data._tag === "base64") return part.data.base64.length
  const inline = base64DataUrl.exec(part.data.url)
  return inline === null ? 0 : part.data.url.length - inline[0].length
}

/** The decoded size of a part's inline base64 (its length less the `=` padding); 0 for a remote URL. */
export const inlineByteLength = (part: FilePart): number => {
  const text = part.data._tag === "base64" ? part.data.base64 : part.data.url
  const padding = text.endsWith("==") ? 2 : text.endsWith("=") ? 1 : 0
  const length = inlineBase64Length(part)
  return length === 0 ? 0 : Math.max(0, Math.floor((length * 3) / 4) - padding)
}
