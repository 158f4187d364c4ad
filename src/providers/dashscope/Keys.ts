/**
 * The environment variable that supplies a DashScope provider entry's key (API.md §8): the entry's
 * `<NAME>_API_KEY`, so `dashscope` reads `DASHSCOPE_API_KEY`.
 */
import { entryKeyVariables } from "../Provider.js"

/** The variables for the entry `providerName`. */
export const keyVariables = entryKeyVariables
