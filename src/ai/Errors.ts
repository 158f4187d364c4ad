/**
 * `LLMError` → `AiError` (API.md §10): an `UnknownError` of module `effect-llm` naming the
 * `LanguageModel` method, with the `LLMError` as `cause` (so `BudgetExceededError`,
 * `CircuitOpenError`, `RateLimitError` stay recognisable through `cause._tag`) and its message as
 * `description`.
 */
import * as AiError from "@effect/ai/AiError"
import type { LLMError } from "../domain/Errors.js"

/** The module every mapped error names. */
export const moduleName = "effect-llm"

/** The `AiError` of a failed call of `method` (`generateText`, `streamText`). */
export const toAiError = (method: string) => (error: LLMError): AiError.AiError =>
  new AiError.UnknownError({ module: moduleName, method, description: error.message, cause: error })
