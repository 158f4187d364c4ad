/**
 * What a wire protocol implements (one folder per protocol under `src/providers/`, one line in
 * `registry.ts`): its static rules — key variables, whether a key or an output cap is required,
 * request checks — and a client bound to an `HttpClient` that encodes a `CallRequest`, decodes the
 * answer (whole, or as a stream of parts) and classifies every failure into an `LLMError`.
 * No retry, routing, budget or ledger logic here: `providers/` never imports `call/`.
 */
import type * as HttpClient from "@effect/platform/HttpClient"
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import type * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import type * as Stream from "effect/Stream"
import type { EndpointConfig } from "../domain/Config.js"
import type { FatalError, LLMError } from "../domain/Errors.js"
import type { FinishReason } from "../domain/FinishReason.js"
import type { AssistantPart, CallRequest, ProviderMetadata, ToolCallPart } from "../domain/Prompt.js"
import type { UsageCounts } from "../domain/TokenUsage.js"
import type { Pull } from "../internal/Peel.js"

/** Where and as whom one HTTP attempt is made. */
export interface ProviderTarget {
  /** The provider entry's name (e.g. `deepseek`): errors carry it as `provider`. */
  readonly provider: string
  readonly endpoint: EndpointConfig
  readonly modelId: string
  /** `undefined` only for a protocol whose key is optional: no auth header is sent. */
  readonly apiKey: Redacted.Redacted<string> | undefined
  /** Extra request headers from config (values are secrets). */
  readonly headers: ReadonlyArray<readonly [name: string, value: Redacted.Redacted<string>]>
}

/** A decoded unary answer. */
export interface ProviderAnswer {
  readonly content: string
  /** Text the model reported as its reasoning, never mixed into `content`. */
  readonly reasoning: string | undefined
  /**
   * The answer as ordered parts (text, reasoning, tool calls) with the provider data that must be
   * echoed back on a later turn; absent when the answer is plain text and reasoning (then the parts
   * are `content` and `reasoning`).
   */
  readonly parts?: ReadonlyArray<AssistantPart> | undefined
  /** `undefined` when the service reported no usage. */
  readonly usage: UsageCounts | undefined
  readonly finishReason: FinishReason
  readonly requestId: string | undefined
  /** The model version the provider reports, when it does. */
  readonly modelVersion: string | undefined
  /** What the answer's stream said beside it (an answer assembled from a stream): logged, scrubbed, by the caller. */
  readonly warnings?: ReadonlyArray<string> | undefined
}

/**
 * One element of a decoded stream. `Usage` is a cumulative snapshot (the last one wins); `Finish`
 * comes once the provider signalled the end; `Metadata` whenever the ids become known. A `ToolCall`
 * is emitted whole, once its streamed arguments are assembled; `PartMetadata` attaches provider data
 * (a signature) to the text or reasoning streamed since the previous one of its kind. A `Warning` is
 * something the caller should hear of that does not fail the answer (logged when the stream settles).
 */
export type StreamPart =
  | { readonly _tag: "TextDelta"; readonly text: string }
  | { readonly _tag: "ReasoningDelta"; readonly text: string }
  | { readonly _tag: "ToolCall"; readonly call: ToolCallPart }
  | { readonly _tag: "PartMetadata"; readonly part: "text" | "reasoning"; readonly metadata: ProviderMetadata }
  | {
    readonly _tag: "Usage"
    readonly usage: UsageCounts
    /** A snapshot that counts the input only: the output streamed so far is in none of its counts. */
    readonly inputOnly?: boolean
  }
  | { readonly _tag: "Finish"; readonly reason: FinishReason }
  | { readonly _tag: "Metadata"; readonly requestId: string | undefined; readonly modelVersion: string | undefined }
  | { readonly _tag: "Warning"; readonly message: string }

/**
 * A part the caller sees as it comes: non-empty text or reasoning. Not a tool call: calls are handed
 * over with the finish, so a stream cut after one (Gemini sends each whole) is still retried (API.md §7).
 */
export const isDeltaPart = (part: StreamPart): boolean =>
  (part._tag === "TextDelta" || part._tag === "ReasoningDelta") && part.text.length > 0

/** A protocol bound to an `HttpClient` (resolved once, when the provider layer is built). */
export interface ProviderClient {
  /**
   * One HTTP attempt of a unary call. `abort` (passed only when `abortsRequests`): the request is
   * sent under that controller, and aborting it ends the attempt with a failure at whatever await it
   * is in (the response, its body). `observe` sees each part of an answer read as a stream (a model
   * the service answers only so): the call prices what it reported if the attempt ends unfinished.
   */
  readonly generate: (
    target: ProviderTarget,
    request: CallRequest,
    abort?: AbortController,
    observe?: (part: StreamPart) => void
  ) => Effect.Effect<ProviderAnswer, LLMError>
  /**
   * True when `generate` and `openStream` honour their `abort` controller (over a client the live
   * layer trusts: `Abortable.trustAbortController`): an attempt's timeout then aborts the request
   * instead of interrupting a child fiber (`Timeout.timeoutAbortable`).
   */
  readonly abortsRequests?: boolean
  /**
   * Opens a stream: succeeds once the response status and headers arrived and were not an error.
   * The stream yields parts as they arrive; it ends only after the provider's finish signal, and
   * fails with `RetryableError` `stream_interrupted` when the body ends (or is cut) before it, with
   * `FatalError` `bad_response` when a 200 body cannot be decoded. Closing the scope closes the connection.
   */
  readonly stream: (
    target: ProviderTarget,
    request: CallRequest
  ) => Effect.Effect<Stream.Stream<StreamPart, LLMError>, LLMError, Scope.Scope>
  /**
   * `stream`, opened in `scope` as the pull of its parts (what `Stream.toPull` of it gives), with a
   * pull that waits longer than `idle.duration` failed with `idle.onIdle()`; `abort` as for `generate`
   * (until the response arrived: the body is the stream's, closed with `scope`). Optional: the call
   * pipeline reads `stream` through `Stream.toPull` when a client (a test's stub) has no `openStream`.
   */
  readonly openStream?: (
    target: ProviderTarget,
    request: CallRequest,
    idle: IdleTimeout,
    scope: Scope.Scope,
    abort?: AbortController
  ) => Effect.Effect<Pull<StreamPart, LLMError>, LLMError>
}

/** The longest silence between two chunks of a stream's parts, and the error it is. */
export interface IdleTimeout {
  readonly duration: Duration.Duration
  readonly onIdle: () => LLMError
}

/** A wire protocol: its rules, and how to build its client. */
export interface Protocol {
  /** The name a provider entry's `protocol` uses (its key in `registry.ts`). */
  readonly name: string
  /** Whether a provider of this protocol must have an API key (`openai` does not: local servers). */
  readonly requiresApiKey: boolean
  /** The (lower-case) name of the header that carries the API key: a secret, redacted from spans and logs. */
  readonly apiKeyHeader: string
  /** Whether every request must carry an output cap (Anthropic's `max_tokens`). */
  readonly requiresMaxOutputTokens: boolean
  /**
   * The environment variables that supply the key of the provider entry `providerName`, first set
   * wins (API.md §8: `<NAME>_API_KEY`, plus `GEMINI_API_KEY` / `GOOGLE_API_KEY` for `google`).
   */
  readonly keyVariables: (providerName: string) => ReadonlyArray<string>
  /**
   * The protocol's request rules for a model, checked before any ledger write or request: a
   * `FatalError` `invalid_request` naming what is refused (a parameter out of the protocol's range, a
   * part it cannot carry), else `undefined`.
   */
  readonly check: (request: CallRequest, modelId: string) => FatalError | undefined
  /** The client over the `HttpClient` in context. */
  readonly make: Effect.Effect<ProviderClient, never, HttpClient.HttpClient>
}

/** `<NAME>_API_KEY`: the entry name upper-cased, every character outside `A-Z0-9` as `_`. */
export const defaultKeyVariable = (providerName: string): string =>
  `${providerName.toUpperCase().replace(/[^A-Z0-9]/g, "_")}_API_KEY`

/**
 * The variables that supply an entry's key, first set wins (API.md §8): its `<NAME>_API_KEY`, and for
 * `google` `GEMINI_API_KEY` first — whatever protocol the entry speaks (Google's OpenAI-compatible
 * endpoint takes the same key).
 */
export const entryKeyVariables = (providerName: string): ReadonlyArray<string> =>
  providerName === "google" ? ["GEMINI_API_KEY", "GOOGLE_API_KEY"] : [defaultKeyVariable(providerName)]
