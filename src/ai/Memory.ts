/**
 * Provider data remembered by tool-call id. `@effect/ai` 0.37's `Prompt.fromResponseParts` (which
 * `Chat` uses to extend its history) drops part metadata, so a Gemini `thoughtSignature` or an
 * Anthropic thinking `signature` would not come back on the next turn — and Gemini 3 refuses a
 * replayed call without its signature. Each answer that made tool calls is remembered under its call
 * ids (the calls' metadata, and the signed text and reasoning beside them); when a later prompt
 * replays the call without metadata, the layer re-attaches it. Bounded: least recently used first out.
 */
import type { ProviderMetadata } from "../domain/Prompt.js"

/** A signed text or reasoning part of a remembered answer. */
export interface SignedPart {
  readonly type: "text" | "reasoning"
  readonly text: string
  readonly metadata: ProviderMetadata
}

/** What is remembered of one tool call: its metadata and the signed parts of its turn. */
export interface Remembered {
  readonly call: ProviderMetadata | undefined
  readonly turn: ReadonlyArray<SignedPart>
}

/** The memory of a layer's lifetime. */
export interface Memory {
  /** Remembers an answer's calls (those without any metadata around are not stored). */
  readonly remember: (
    calls: ReadonlyArray<{ readonly id: string; readonly metadata?: ProviderMetadata | undefined }>,
    turn: ReadonlyArray<SignedPart>
  ) => void
  readonly recall: (id: string) => Remembered | undefined
  /** Entries held now. */
  readonly size: () => number
}

/** Default capacity: a few thousand calls, each a handful of short strings. */
export const defaultCapacity = 4096

/** Whether metadata carries anything. */
export const hasMetadata = (metadata: ProviderMetadata | undefined): metadata is ProviderMetadata =>
  metadata !== undefined && Object.keys(metadata).length > 0

/** A memory of at most `capacity` calls (a `Map` in use order: a hit moves the entry to the end). */
export const make = (capacity: number = defaultCapacity): Memory => {
  const entries = new Map<string, Remembered>()
  return {
    remember: (calls, turn) => {
      for (const call of calls) {
        if (!hasMetadata(call.metadata) && turn.length === 0) continue
        entries.delete(call.id)
        entries.set(call.id, { call: hasMetadata(call.metadata) ? call.metadata : undefined, turn })
        if (entries.size > capacity) entries.delete(entries.keys().next().value!)
      }
    },
    recall: (id) => {
      const found = entries.get(id)
      if (found !== undefined) {
        entries.delete(id)
        entries.set(id, found)
      }
      return found
    },
    size: () => entries.size
  }
}
