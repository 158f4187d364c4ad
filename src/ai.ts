/**
 * `effect-llm/ai`: any configured alias as an `@effect/ai` `LanguageModel` (API.md §10), so that
 * `LanguageModel.generateText` with a `Toolkit`, `generateObject`, `streamText` and `Chat` run on
 * effect-llm's pipeline — budgets, ledger, breakers, retries, fallbacks — one call per model request.
 */
export { moduleName, toAiError } from "./ai/Errors.js"
export { layer, make } from "./ai/Layer.js"
export type { Options } from "./ai/Layer.js"
