/**
 * The contract every wire protocol implements: encode a request, decode the answer (whole or as a
 * stream of chunks), and classify failures into `LLMError`s. No retry, routing or budget logic here.
 */
import type * as Effect from "effect/Effect"
import type * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import type * as Stream from "effect/Stream"
import type { EndpointConfig, ProviderName } from "../domain/Config.js"
import type { LLMError } from "../domain/Errors.js"
import type { FinishReason } from "../domain/FinishReason.js"
import type { NormalizedRequest } from "../domain/Request.js"
import type { TokenUsage } from "../domain/TokenUsage.js"

/** Where and as whom one HTTP attempt is made. */
export interface ProviderTarget {
  readonly endpoint: EndpointConfig
  readonly modelId: string
  readonly apiKey: Redacted.Redacted<string>
}

/** A decoded unary answer. */
export interface ProviderAnswer {
  readonly content: string
  readonly usage: TokenUsage
  readonly finishReason: FinishReason
  readonly requestId: string | undefined
  /** The model version the provider reports, when it does. */
  readonly modelVersion: string | undefined
}

/**
 * Token counts as a stream event reports them. A `TokenUsage` qualifies; providers may send plain
 * counts so that no record is built per event (the client builds one from the last counts it saw).
 */
export interface UsageCounts {
  readonly inputTokens: number
  readonly outputTokens: number
  readonly totalTokens: number
}

/**
 * One decoded stream event: a text delta (possibly empty), the latest cumulative usage snapshot,
 * and the finish reason once the provider signalled it.
 */
export interface ProviderChunk {
  readonly delta: string
  readonly usage: UsageCounts | undefined
  readonly finishReason: FinishReason | undefined
  readonly requestId: string | undefined
  readonly modelVersion: string | undefined
}

/** A wire protocol bound to an `HttpClient` (resolved when the provider is built). */
export interface Provider {
  readonly name: ProviderName
  /** One HTTP attempt of a unary call. */
  readonly generate: (target: ProviderTarget, request: NormalizedRequest) => Effect.Effect<ProviderAnswer, LLMError>
  /**
   * Opens a stream: succeeds once the response status and headers arrived and were not an error;
   * the returned stream yields chunks as they arrive and fails with `RetryableError`
   * `stream_interrupted` if the body ends without the provider's finish signal. Closing the scope
   * closes the connection.
   */
  readonly stream: (
    target: ProviderTarget,
    request: NormalizedRequest
  ) => Effect.Effect<Stream.Stream<ProviderChunk, LLMError>, LLMError, Scope.Scope>
}
