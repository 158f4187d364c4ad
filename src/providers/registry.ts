/**
 * The wire protocols effect-llm speaks, by the name a provider entry's `protocol` uses. Adding a
 * protocol is one folder under `src/providers/` and one line here.
 */
import * as Anthropic from "./anthropic/Anthropic.js"
import * as DashScope from "./dashscope/DashScope.js"
import * as Gemini from "./gemini/Gemini.js"
import * as OpenAI from "./openai/OpenAI.js"
import type { Protocol } from "./Provider.js"

/** Every protocol, by name. */
export const protocols = {
  gemini: Gemini.protocol,
  dashscope: DashScope.protocol,
  openai: OpenAI.protocol,
  anthropic: Anthropic.protocol
} as const satisfies Record<string, Protocol>

/** A protocol's name (`providers.<name>.protocol`). */
export type ProtocolName = keyof typeof protocols

/**
 * The provider entry names whose protocol may be omitted (API.md §8), and the protocol they imply.
 * An implied protocol not (yet) in `protocols` makes such an entry a `ConfigError`: `isProtocolName`
 * is the judge.
 */
export const impliedProtocols: Readonly<Record<string, string>> = {
  google: "gemini",
  gemini: "gemini",
  dashscope: "dashscope",
  openai: "openai",
  anthropic: "anthropic"
}

/** True for a known protocol name. */
export const isProtocolName = (name: string): name is ProtocolName => Object.hasOwn(protocols, name)
