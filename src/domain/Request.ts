/**
 * What a caller asks for (API.md §1), and its validation into the normalised form providers encode.
 */
import * as Effect from "effect/Effect"
import { FatalError } from "./Errors.js"

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
  /** Generated (UUID) when absent. */
  readonly traceId?: string
  readonly fullResponse?: boolean
}

/** A validated request in the shape every provider encodes: system text apart, then user/assistant turns. */
export interface NormalizedRequest {
  readonly system: string | undefined
  readonly messages: ReadonlyArray<{ readonly role: "user" | "assistant"; readonly content: string }>
  readonly maxOutputTokens: number | undefined
  readonly temperature: number | undefined
  readonly topP: number | undefined
  readonly stop: ReadonlyArray<string> | undefined
}

const invalid = (message: string) => new FatalError({ reason: "invalid_request", message })

/** Checks a request against API.md §1 and normalises it; fails with `FatalError` `invalid_request`. */
export const normalize = (req: GenerateRequest): Effect.Effect<NormalizedRequest, FatalError> =>
  Effect.suspend(() => {
    if (typeof req !== "object" || req === null) return Effect.fail(invalid("the request must be an object"))
    const hasPrompt = typeof req.prompt === "string" && req.prompt.length > 0
    const hasMessages = Array.isArray(req.messages) && req.messages.length > 0
    if (!hasPrompt && !hasMessages) {
      return Effect.fail(invalid("the request needs a non-empty `prompt` or `messages`"))
    }
    if (req.maxOutputTokens !== undefined && !(Number.isInteger(req.maxOutputTokens) && req.maxOutputTokens > 0)) {
      return Effect.fail(invalid(`maxOutputTokens must be a positive integer, got ${String(req.maxOutputTokens)}`))
    }
    if (req.temperature !== undefined && !(typeof req.temperature === "number" && req.temperature >= 0 && req.temperature <= 2)) {
      return Effect.fail(invalid(`temperature must be within [0, 2], got ${String(req.temperature)}`))
    }
    if (req.topP !== undefined && !(typeof req.topP === "number" && req.topP > 0 && req.topP <= 1)) {
      return Effect.fail(invalid(`topP must be within (0, 1], got ${String(req.topP)}`))
    }
    if (req.stop !== undefined && !(Array.isArray(req.stop) && req.stop.every((s) => typeof s === "string"))) {
      return Effect.fail(invalid("stop must be an array of strings"))
    }
    const systemParts: Array<string> = []
    if (typeof req.system === "string" && req.system.length > 0) systemParts.push(req.system)
    const messages: Array<{ role: "user" | "assistant"; content: string }> = []
    for (const [index, message] of (req.messages ?? []).entries()) {
      if (typeof message !== "object" || message === null || typeof message.content !== "string") {
        return Effect.fail(invalid(`messages[${index}] must be { role, content: string }`))
      }
      if (message.role === "system") systemParts.push(message.content)
      else if (message.role === "user" || message.role === "assistant") {
        messages.push({ role: message.role, content: message.content })
      } else return Effect.fail(invalid(`messages[${index}].role must be system, user or assistant`))
    }
    if (hasPrompt) messages.push({ role: "user", content: req.prompt as string })
    if (messages.length === 0) return Effect.fail(invalid("the request has no user or assistant message"))
    return Effect.succeed({
      system: systemParts.length > 0 ? systemParts.join("\n\n") : undefined,
      messages,
      maxOutputTokens: req.maxOutputTokens,
      temperature: req.temperature,
      topP: req.topP,
      stop: req.stop
    })
  })

/**
 * Checks the limits that depend on the provider, once the model is known: DashScope takes
 * `temperature` in [0, 2) (WIRE.md §2.2), so 2 fails here rather than as the provider's 400.
 */
export const checkForProvider = (provider: string, request: NormalizedRequest): Effect.Effect<void, FatalError> =>
  provider === "dashscope" && request.temperature !== undefined && request.temperature >= 2
    ? Effect.fail(invalid(`temperature must be within [0, 2) for DashScope models, got ${request.temperature}`))
    : Effect.void

/** Characters of all the text a request sends (for the token estimate). */
export const promptCharacters = (req: NormalizedRequest): number =>
  req.messages.reduce((sum, m) => sum + m.content.length, req.system?.length ?? 0)
