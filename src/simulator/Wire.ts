/**
 * The contract between the simulator's HTTP server and a provider's wire format: authenticate,
 * decode the request, and render answers, stream frames and error bodies byte-for-byte as the real
 * service does.
 */
import type { Completion, ParsedRequest, SimulatorStep } from "./Script.js"

/**
 * A request's headers as Node's server hands them over (lower-case names). Declared here rather than
 * taken from `node:http` so that `effect-llm/testing`'s declarations need no `@types/node`.
 */
export type RequestHeaders = Readonly<Record<string, string | ReadonlyArray<string> | undefined>>

/** A header's (first) value. */
export const headerOf = (headers: RequestHeaders, name: string): string | undefined => {
  const value = headers[name]
  return typeof value === "string" || value === undefined ? value : value[0]
}

/** A complete HTTP response to send. */
export interface Reply {
  readonly status: number
  readonly headers: Readonly<Record<string, string>>
  readonly body: string
}

/** The simulated providers (named as in the config's `providers`). */
export type SimulatedProvider = "google" | "dashscope" | "openai" | "anthropic"

/** One wire format. */
export interface Wire {
  readonly provider: SimulatedProvider
  /** `undefined` when the request carries an accepted key, else the rejection. */
  readonly authenticate: (
    headers: RequestHeaders,
    url: URL,
    keys: ReadonlySet<string>,
    requestId: string
  ) => Reply | undefined
  /** Decodes the body, or rejects it as the service would (400). */
  readonly parse: (body: unknown, model: string | undefined, requestId: string) => ParsedRequest | Reply
  /**
   * Whether the request asks for a stream (beyond what the route says; OpenAI and Anthropic say so in
   * the body).
   */
  readonly wantsStream: (headers: RequestHeaders, url: URL, body: unknown) => boolean
  /** A whole unary answer. */
  readonly unary: (completion: Completion) => Reply
  /** Status and headers of a successful stream. */
  readonly streamHeaders: (completion: Completion) => Readonly<Record<string, string>>
  /** Every frame of a successful stream, the finish signal included. */
  readonly frames: (completion: Completion) => Array<string>
  /** A non-200 error reply (`stream`: the request was a stream request). */
  readonly error: (status: number, step: SimulatorStep, requestId: string, stream: boolean) => Reply
  /** The error as an in-band stream event, sent after `index` events. */
  readonly streamError: (status: number, step: SimulatorStep, requestId: string, index: number) => string
  /** A blocked prompt (Gemini: 200 with `promptFeedback`; DashScope: 400 `DataInspectionFailed`; OpenAI: 400 `content_filter`). */
  readonly blocked: (request: ParsedRequest, reason: string, requestId: string, stream: boolean) => Reply
}

/** `Retry-After` / `retry-after-ms` headers a step asks for. */
export const retryHeaders = (step: SimulatorStep): Record<string, string> => ({
  ...(step.retryAfter !== undefined ? { "retry-after": String(step.retryAfter) } : {}),
  ...(step.retryAfterMs !== undefined ? { "retry-after-ms": String(step.retryAfterMs) } : {})
})
