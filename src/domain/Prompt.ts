/**
 * The conversation every protocol encodes: a system text apart, then messages whose content is a
 * list of parts. Shaped like `@effect/ai`'s Prompt so that its requests map onto it one to one; a
 * protocol encodes each part in its own form and refuses (before any ledger write) what it cannot carry.
 */

/** A piece of text. */
export interface TextPart {
  readonly type: "text"
  readonly text: string
}

/** One part of a message's content. */
export type Part = TextPart

/** A user or assistant turn. */
export interface Message {
  readonly role: "user" | "assistant"
  readonly parts: ReadonlyArray<Part>
}

/** A validated request in the shape every protocol encodes. */
export interface CallRequest {
  readonly system: string | undefined
  readonly messages: ReadonlyArray<Message>
  /**
   * The output limit sent to the provider: the request's `maxOutputTokens`, else — whenever a budget
   * applies, or the protocol always needs one — `budget.default_max_output_tokens` (API.md §14).
   */
  readonly maxOutputTokens: number | undefined
  readonly temperature: number | undefined
  readonly topP: number | undefined
  readonly stop: ReadonlyArray<string> | undefined
}

/** A text part. */
export const text = (value: string): TextPart => ({ type: "text", text: value })

/** The text of a message's parts, joined. */
export const textOf = (message: Message): string => {
  let out = ""
  for (const part of message.parts) if (part.type === "text") out += part.text
  return out
}
