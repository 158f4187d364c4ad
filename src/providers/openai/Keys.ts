/**
 * The environment variable that supplies an OpenAI-compatible provider entry's key (API.md §8): the
 * entry's `<NAME>_API_KEY`, so `openai` reads `OPENAI_API_KEY`, `deepseek` `DEEPSEEK_API_KEY`, and an
 * entry named `ark` `ARK_API_KEY` (an entry named `doubao` reads `DOUBAO_API_KEY`; its `api_key` may name any variable).
 */
import { entryKeyVariables } from "../Provider.js"

/** The variables for the entry `providerName`. */
export const keyVariables = entryKeyVariables
