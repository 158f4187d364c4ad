/**
 * What a caller asks for (API.md §1), and its validation into the `CallRequest` every protocol
 * encodes. Provider-specific rules live with each protocol (`Protocol.check`).
 */
import { FatalError } from "./Errors.js"
import { type CallRequest, type Message as CallMessage, text } from "./Prompt.js"
import { tagsProblem } from "./Tags.js"

/** A message of a conversation. */
export interface Message {
  readonly role: "system" | "user" | "assistant"
  readonly content: string
}

/** The request accepted by `generate` and `stream`. */
export interface GenerateRequest {
  /** An alias from config `models`; `default_model` when absent. */
  readonly model?: string
  /** A single user turn ... */
  readonly prompt?: string
  /** ... or a conversation. */
  readonly messages?: ReadonlyArray<Message>
  readonly system?: string
  readonly maxOutputTokens?: number
  readonly temperature?: number
  readonly topP?: number
  readonly stop?: ReadonlyArray<string>
  /** Generated (UUID) when absent (or taken from `withCallContext`). */
  readonly traceId?: string
  /**
   * Tags of the call (`{ user: "u-42", team: "acme" }`): stored with its ledger events, and each key
   * with a `budget.per_tag` entry puts the call in that scope (`user:u-42`). Merged over the tags of
   * `withCallContext`. Keys: a letter then up to 63 letters, digits, `_ . -` (not `model`); values:
   * 1–128 letters, digits or `_ . : @ + / = # -`; at most 16.
   */
  readonly tags?: Readonly<Record<string, string>>
  readonly fullResponse?: boolean
}

/** A `FatalError` `invalid_request`. */
export const invalidRequest = (message: string): FatalError => new FatalError({ reason: "invalid_request", message })

/** How a rejected value is shown: its type, and the value itself when it is short. */
const describe = (value: unknown): string => {
  if (value === null) return "null"
  if (typeof value === "string") {
    return `a string (${JSON.stringify(value.length > 40 ? `${value.slice(0, 37)}...` : value)})`
  }
  if (typeof value === "number") return String(value)
  if (Array.isArray(value)) return "an array"
  return `a ${typeof value}`
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
  const hasPrompt = typeof req.prompt === "string" && req.prompt.length > 0
  const hasMessages = Array.isArray(req.messages) && req.messages.length > 0
  if (!hasPrompt && !hasMessages) return invalidRequest("the request needs a non-empty `prompt` or `messages`")
  if (req.prompt !== undefined && typeof req.prompt !== "string") {
    return invalidRequest(`prompt must be a string, got ${describe(req.prompt)}`)
  }
  if (
    req.maxOutputTokens !== undefined &&
    !(typeof req.maxOutputTokens === "number" && Number.isInteger(req.maxOutputTokens) && req.maxOutputTokens > 0)
  ) {
    return invalidRequest(`maxOutputTokens must be a positive integer, got ${describe(req.maxOutputTokens)}`)
  }
  const rangeError = checkNumber("temperature", req.temperature, (n) => n >= 0 && n <= 2, "[0, 2]") ??
    checkNumber("topP", req.topP, (n) => n > 0 && n <= 1, "(0, 1]")
  if (rangeError !== undefined) return rangeError
  if (req.stop !== undefined && !(Array.isArray(req.stop) && req.stop.every((s) => typeof s === "string"))) {
    return invalidRequest("stop must be an array of strings")
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
    if (typeof message !== "object" || message === null || typeof message.content !== "string") {
      return invalidRequest(`messages[${index}] must be { role, content: string }`)
    }
    if (message.role === "system") systemParts.push(message.content)
    else if (message.role === "user" || message.role === "assistant") {
      messages.push({ role: message.role, parts: [text(message.content)] })
    } else return invalidRequest(`messages[${index}].role must be system, user or assistant`)
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
