/**
 * The conversation every protocol encodes: a system text apart, then messages whose content is a
 * list of parts — text, files (images, PDFs, audio), reasoning, tool calls and tool results — plus
 * the tools a model may call and the output format it must follow. Shaped like `@effect/ai`'s Prompt
 * so that its requests map onto it one to one; a protocol encodes each part in its own form and
 * refuses (before any ledger write) what it cannot carry.
 */

/**
 * Data a provider needs echoed back on a later turn (a Gemini `thoughtSignature`, an Anthropic thinking
 * `signature`), or a caller's per-part provider option (an Anthropic `cacheControl`), by protocol name:
 * `{ gemini: { thoughtSignature: "…" } }`.
 */
export type ProviderMetadata = Readonly<Record<string, Readonly<Record<string, unknown>>>>

/** A piece of text. */
export interface TextPart {
  readonly type: "text"
  readonly text: string
  readonly metadata?: ProviderMetadata | undefined
}

/** A file's bytes (base64) or where to fetch it (an `https:` URL). */
export type FileData =
  | { readonly _tag: "base64"; readonly base64: string }
  | { readonly _tag: "url"; readonly url: string }

/** An image (`image/*`), a PDF, audio or another file. */
export interface FilePart {
  readonly type: "file"
  /** `image/png`, `application/pdf`, `audio/wav`, …; `image/*` for an image URL of unknown type. */
  readonly mediaType: string
  readonly data: FileData
  readonly fileName?: string | undefined
  /** Where the part came from, for error messages (`messages[2].content[1]`). */
  readonly source?: string | undefined
  readonly metadata?: ProviderMetadata | undefined
}

/** Text the model reported as its reasoning. */
export interface ReasoningPart {
  readonly type: "reasoning"
  readonly text: string
  readonly metadata?: ProviderMetadata | undefined
}

/** A tool call the model made: `params` is the decoded JSON object of its arguments. */
export interface ToolCallPart {
  readonly type: "tool-call"
  readonly id: string
  readonly name: string
  readonly params: unknown
  readonly metadata?: ProviderMetadata | undefined
}

/** The result of a tool call, sent back to the model. */
export interface ToolResultPart {
  readonly type: "tool-result"
  readonly id: string
  readonly name: string
  readonly result: unknown
  readonly isFailure: boolean
  readonly metadata?: ProviderMetadata | undefined
}

/** What a user turn holds. */
export type UserPart = TextPart | FilePart

/** What an assistant turn holds. */
export type AssistantPart = TextPart | FilePart | ReasoningPart | ToolCallPart

/** One part of a message's content. */
export type Part = UserPart | AssistantPart | ToolResultPart

/** A user, assistant or tool turn. */
export type Message =
  | { readonly role: "user"; readonly parts: ReadonlyArray<UserPart> }
  | { readonly role: "assistant"; readonly parts: ReadonlyArray<AssistantPart> }
  | { readonly role: "tool"; readonly parts: ReadonlyArray<ToolResultPart> }

/** A JSON Schema object (draft 2020-12 / OpenAPI subset, as `JSONSchema.make` produces). */
export type JsonSchema = Readonly<Record<string, unknown>>

/** A tool the model may call. */
export interface ToolDefinition {
  readonly name: string
  readonly description: string | undefined
  /** The JSON Schema of its parameters (an object schema). */
  readonly parameters: JsonSchema
}

/** Whether and which tools the model must call (API.md §10). */
export type ToolChoice =
  | "auto"
  | "none"
  | "required"
  | { readonly tool: string }
  | { readonly oneOf: ReadonlyArray<string> }

/** An answer constrained to a JSON Schema (structured output). */
export interface JsonResponseFormat {
  readonly type: "json"
  readonly name: string
  readonly description?: string | undefined
  readonly schema: JsonSchema
}

/** A validated request in the shape every protocol encodes. */
export interface CallRequest {
  readonly system: string | undefined
  /** Provider data for the system text as a whole (an Anthropic prompt-cache breakpoint). */
  readonly systemMetadata?: ProviderMetadata | undefined
  readonly messages: ReadonlyArray<Message>
  /**
   * The output limit sent to the provider: the request's `maxOutputTokens`, else — whenever a budget
   * applies, or the protocol always needs one — `budget.default_max_output_tokens` (API.md §14).
   */
  readonly maxOutputTokens: number | undefined
  readonly temperature: number | undefined
  readonly topP: number | undefined
  readonly stop: ReadonlyArray<string> | undefined
  /** Tools the model may call (none: no tools are sent). */
  readonly tools?: ReadonlyArray<ToolDefinition> | undefined
  readonly toolChoice?: ToolChoice | undefined
  /** Structured output (absent: text). */
  readonly responseFormat?: JsonResponseFormat | undefined
}

/** A text part. */
export const text = (value: string): TextPart => ({ type: "text", text: value })

/** The text of a message's text parts, joined. */
export const textOf = (message: Message): string => {
  let out = ""
  for (const part of message.parts) if (part.type === "text") out += part.text
  return out
}

/** Where a part sits, for messages: its `source`, else `messages[i].content[j]` by position in the request. */
export const partLabel = (part: Part, messageIndex: number, partIndex: number): string =>
  (part.type === "file" ? part.source : undefined) ?? `messages[${messageIndex}].content[${partIndex}]`
