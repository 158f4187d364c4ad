/**
 * The environment variables that supply a Gemini provider entry's key (API.md §8): `google` also
 * reads `GEMINI_API_KEY` and `GOOGLE_API_KEY`; any other entry name its `<NAME>_API_KEY`.
 */
import { entryKeyVariables } from "../Provider.js"

/** The variables for the entry `providerName`, first set wins. */
export const keyVariables = entryKeyVariables
