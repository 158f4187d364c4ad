/**
 * The environment variable that supplies an Anthropic provider entry's key (API.md §8): the entry's
 * `<NAME>_API_KEY`, so `anthropic` reads `ANTHROPIC_API_KEY` and an entry `claude-eu` `CLAUDE_EU_API_KEY`.
 */
import { entryKeyVariables } from "../Provider.js"

/** The variables for the entry `providerName`. */
export const keyVariables = entryKeyVariables
