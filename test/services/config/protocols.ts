/**
 * Protocol tables for configuration tests: the rules the registry's protocols declare (key variables,
 * whether a key is required), without any HTTP code, so config tests run whatever `providers/` holds.
 */
import * as Effect from "effect/Effect"
import { defaultKeyVariable, type Protocol } from "../../../src/providers/Provider.js"
import type { ProtocolTable } from "../../../src/services/config/Providers.js"

/** A protocol with only the rules configuration reads; its client is never built. */
export const stubProtocol = (
  name: string,
  options: { readonly requiresApiKey: boolean; readonly keyVariables?: (provider: string) => ReadonlyArray<string> }
): Protocol => ({
  name,
  requiresApiKey: options.requiresApiKey,
  apiKeyHeader: "authorization",
  requiresMaxOutputTokens: false,
  keyVariables: options.keyVariables ?? ((provider) => [defaultKeyVariable(provider)]),
  check: () => undefined,
  make: Effect.dieMessage(`stub protocol ${name} has no client`)
})

/** `gemini`: `google` also reads GEMINI_API_KEY first, then GOOGLE_API_KEY (API.md §8). */
export const gemini = stubProtocol("gemini", {
  requiresApiKey: true,
  keyVariables: (provider) =>
    provider === "google" ? ["GEMINI_API_KEY", "GOOGLE_API_KEY"] : [defaultKeyVariable(provider)]
})
export const dashscope = stubProtocol("dashscope", { requiresApiKey: true })
/** `openai`: a key is optional (local servers). */
export const openai = stubProtocol("openai", { requiresApiKey: false })

/** The registry's implied names (registry.ts). */
export const implied: Readonly<Record<string, string>> = {
  google: "gemini",
  gemini: "gemini",
  dashscope: "dashscope",
  openai: "openai",
  anthropic: "anthropic"
}

/** The registry as it stands before the openai protocol lands: gemini and dashscope. */
export const current: ProtocolTable = { protocols: { gemini, dashscope }, implied }

/** With an `openai` protocol whose key is optional. */
export const withOpenAI: ProtocolTable = { protocols: { gemini, dashscope, openai }, implied }

/** A stand-in for `src/providers/registry.ts` (vi.mock) while the protocol modules it imports are absent. */
export const registryModule = {
  protocols: current.protocols,
  impliedProtocols: implied,
  isProtocolName: (name: string) => Object.hasOwn(current.protocols, name)
}
