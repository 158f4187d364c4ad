/**
 * Provider data remembered by tool-call id. `@effect/ai` 0.37's `Prompt.fromResponseParts` (which
 * `Chat` uses to extend its history) drops part metadata, so a Gemini `thoughtSignature` or an
 * Anthropic thinking `signature` would not come back on the next turn — and Gemini 3 refuses a
 * replayed call without its signature. Each answer that made tool calls is remembered under its call
 * ids (the calls' metadata, and the signed text and reasoning beside them); an answer without calls,
 * under its signed parts' own text's digest (`signedPartKey`: WIRE.md §1.6 sends every part back as received);
 * when a later prompt replays the call or the part without metadata, the layer re-attaches it.
 * Bounded: least recently used first out.
 */
import { createHash } from "node:crypto"
import type { ProviderMetadata } from "../domain/Prompt.js"

/** A signed text or reasoning part of a remembered answer, known by its text's digest. */
export interface SignedPart {
  readonly type: "text" | "reasoning"
  /** `textDigest` of the part's text. */
  readonly digest: string
  readonly metadata: ProviderMetadata
}

/**
 * What stands for a part's text in the memory: the text itself when short, else its SHA-256. Long
 * answers were kept whole, as key and value: 20,000-character thoughts grew a layer's memory by
 * ~42 KB a call, ~170 MB at its 4,096 entries. Hashing 20,000 characters costs ~30 µs.
 */
export const textDigest = (text: string): string =>
  text.length <= 64 ? `=${text}` : `#${createHash("sha256").update(text).digest("base64")}`

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

/**
 * The key a signed text or reasoning part of an answer without tool calls is remembered under (no call
 * id to key it; a NUL cannot start a provider's call id).
 */
export const signedPartKey = (type: "text" | "reasoning", digest: string): string => `\u0000${type}\u0000${digest}`

/** Default capacity: a few thousand calls, each a handful of short strings. */
export const defaultCapacity = 4096

/** Whether metadata carries anything. */
export const hasMetadata = (metadata: ProviderMetadata | undefined): metadata is ProviderMetadata =>
  metadata !== undefined && Object.keys(metadata).length > 0

/** An entry in use order (a doubly linked list: least recently used at the head). */
interface Node {
  readonly id: string
  value: Remembered
  older: Node | undefined
  newer: Node | undefined
}

/**
 * A memory of at most `capacity` calls, least recently used out first. The use order is a linked list
 * beside the `Map`: dropping the oldest through `Map.keys().next()` would walk every entry deleted
 * before it until the Map is rehashed (~6 µs per drop at 10,000 entries, growing with the capacity).
 */
export const make = (capacity: number = defaultCapacity): Memory => {
  const entries = new Map<string, Node>()
  let oldest: Node | undefined
  let newest: Node | undefined
  const unlink = (node: Node) => {
    if (node.older === undefined) oldest = node.newer
    else node.older.newer = node.newer
    if (node.newer === undefined) newest = node.older
    else node.newer.older = node.older
    node.older = undefined
    node.newer = undefined
  }
  const append = (node: Node) => {
    node.older = newest
    if (newest === undefined) oldest = node
    else newest.newer = node
    newest = node
  }
  return {
    remember: (calls, turn) => {
      for (const call of calls) {
        if (!hasMetadata(call.metadata) && turn.length === 0) continue
        const value = { call: hasMetadata(call.metadata) ? call.metadata : undefined, turn }
        const known = entries.get(call.id)
        if (known !== undefined) {
          known.value = value
          unlink(known)
          append(known)
          continue
        }
        const node: Node = { id: call.id, value, older: undefined, newer: undefined }
        entries.set(call.id, node)
        append(node)
        if (entries.size > capacity && oldest !== undefined) {
          const dropped = oldest
          unlink(dropped)
          entries.delete(dropped.id)
        }
      }
    },
    recall: (id) => {
      const found = entries.get(id)
      if (found === undefined) return undefined
      unlink(found)
      append(found)
      return found.value
    },
    size: () => entries.size
  }
}
