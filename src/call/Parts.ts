/**
 * The internal entry of the call pipeline for requests already in the protocols' shape — parts, tools,
 * tool choice, output format — used by `effect-llm/ai` (and the public stream's setup, for the
 * `stream` accessor). It runs the same life as `generate` and
 * `stream` (plan, hold, attempts, settlement, spans) but returns the decoded parts. It is not part of
 * the public `LLMClient` service: the client built by `LLMClient.make` registers it here, keyed by the
 * service object, so the public interface stays as API.md §1 has it.
 */
import type * as Effect from "effect/Effect"
import { globalValue } from "effect/GlobalValue"
import type * as Scope from "effect/Scope"
import type * as Stream from "effect/Stream"
import type { LLMError } from "../domain/Errors.js"
import type { GenerationResponse } from "../domain/GenerationResponse.js"
import type { GenerateRequest } from "../domain/Request.js"
import type { StreamEvent } from "../domain/StreamEvent.js"
import type { Pull } from "../internal/Peel.js"
import type { ProviderAnswer } from "../providers/Provider.js"
import type { PartsInput } from "./Plan.js"
import type { PartsElement } from "./Streaming.js"

export type { PartsInput } from "./Plan.js"
export type { PartsElement } from "./Streaming.js"

/** A unary call's decoded answer and its settled record (usage and cost as the ledger has them). */
export interface PartsAnswer {
  readonly answer: ProviderAnswer
  readonly response: GenerationResponse
}

/** The pipeline over full requests, and the public stream's setup. */
export interface PartsEntry {
  readonly generate: (input: PartsInput) => Effect.Effect<PartsAnswer, LLMError>
  readonly stream: (input: PartsInput) => Stream.Stream<PartsElement, LLMError>
  /**
   * `LLMClient.stream`'s setup as a pull in `scope` (no span), so that the `stream` accessor builds
   * one stream over it instead of a stream of a stream (`Stream.unwrap`).
   */
  readonly openStream: (
    request: GenerateRequest,
    scope: Scope.CloseableScope
  ) => Effect.Effect<Pull<StreamEvent, LLMError>, LLMError>
}

const entries = globalValue(Symbol.for("effect-llm/call/Parts"), () => new WeakMap<object, PartsEntry>())

/** Registers the entry of a client service (done once, by `LLMClient.make`). */
export const register = <S extends object>(service: S, entry: PartsEntry): S => {
  entries.set(service, entry)
  return service
}

/** The entry of a client service; `undefined` for a service not built by `LLMClient.make` (a user's stub). */
export const entryOf = (service: object): PartsEntry | undefined => entries.get(service)
