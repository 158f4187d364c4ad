/**
 * Where the command line writes, with every configured secret removed (API.md §14): one `Output` per
 * run, told the secrets once a command has loaded its config; stdout and stderr lines, log records and
 * streamed deltas (whose secret may be split across two deltas) all pass through it.
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import type * as Redacted from "effect/Redacted"
import * as Scrub from "../internal/Scrub.js"
import { LLMConfig } from "../services/LLMConfig.js"

/** Incremental scrubbing of a text that arrives in pieces (a streamed answer). */
export interface StreamScrubber {
  /**
   * The piece's text safe to print now: a tail that may be the start of a secret, or the first half
   * of a character whose second half is in the next piece, is kept back.
   */
  readonly push: (text: string) => string
  /** What was kept back, at the end of the text. */
  readonly flush: () => string
}

/** The run's output: the scrubber of the secrets known so far and the writers that apply it. */
export interface Output {
  /** Adds secrets (from a loaded config) to remove from everything printed from now on. */
  readonly addSecrets: (secrets: Iterable<Redacted.Redacted<string> | string>) => void
  /** Removes every known secret from a text. */
  readonly scrub: (text: string) => string
  /** A scrubber for one streamed text. */
  readonly streamScrubber: () => StreamScrubber
  /** Writes one line to stderr, scrubbed. */
  readonly stderr: (line: string) => Effect.Effect<void>
  /** Writes text to stderr as it is (no line break added: a live progress line), scrubbed. */
  readonly stderrText: (text: string) => Effect.Effect<void>
}

/** The run's `Output`. */
export class CliOutput extends Context.Tag("effect-llm/cli/CliOutput")<CliOutput, Output>() {}

/** The length of the longest suffix of `text` that is a proper prefix of one of `forms`. */
const partialTail = (text: string, forms: ReadonlyArray<string>): number => {
  let longest = 0
  for (const form of forms) {
    for (let length = Math.min(form.length - 1, text.length); length > longest; length--) {
      if (text.endsWith(form.slice(0, length))) {
        longest = length
        break
      }
    }
  }
  return longest
}

const endsInHighSurrogate = (text: string): boolean => {
  const last = text.charCodeAt(text.length - 1)
  return last >= 0xd800 && last <= 0xdbff
}

/** A fresh `Output` knowing no secret yet. */
export const make = (): Output => {
  const secrets: Array<Redacted.Redacted<string> | string> = []
  let forms: ReadonlyArray<string> = []
  let scrubber: Scrub.Scrubber = (text) => text
  const scrub = (text: string) => scrubber(text)
  return {
    addSecrets: (more) => {
      secrets.push(...more)
      forms = Scrub.formsOf(secrets)
      scrubber = Scrub.make(secrets)
    },
    scrub,
    streamScrubber: () => {
      let kept = ""
      return {
        push: (text) => {
          const scrubbed = scrub(kept + text)
          let tail = partialTail(scrubbed, forms)
          // a character split across two deltas (the high half of a surrogate pair) waits for its
          // other half: written alone, each half would print as U+FFFD
          if (tail === 0 && endsInHighSurrogate(scrubbed)) tail = 1
          kept = scrubbed.slice(scrubbed.length - tail)
          return scrubbed.slice(0, scrubbed.length - tail)
        },
        flush: () => {
          const rest = kept
          kept = ""
          return rest
        }
      }
    },
    stderr: (line) => Effect.sync(() => void process.stderr.write(`${scrub(line)}\n`)),
    stderrText: (text) => Effect.sync(() => void process.stderr.write(scrub(text)))
  }
}

/** Writes one line to stderr through the run's `Output`. */
export const printError = (line: string): Effect.Effect<void, never, CliOutput> =>
  Effect.flatMap(CliOutput, (output) => output.stderr(line))

/**
 * A note that a memory ledger (`ledger.backend: memory`) holds this process's calls only: every run of
 * the command line starts with an empty one, so a reading command shows nothing the runs before it did.
 */
export const noteMemoryLedger: Effect.Effect<void, never, CliOutput | LLMConfig> = Effect.flatMap(
  LLMConfig,
  ({ config }) =>
    config.ledger.backend === "memory"
      ? printError(
        "note: ledger.backend is memory: this run's ledger is its own and starts empty (use sqlite or postgres to keep calls across runs)"
      )
      : Effect.void
)
