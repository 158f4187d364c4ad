/**
 * Every configured secret value (API.md §14): API keys from any source, header values, and the
 * password and query-parameter values of every `base_url` and of `ledger.url` — the list the
 * scrubbers of errors, logs, spans and ledger rows remove from every string.
 */
import * as Redacted from "effect/Redacted"
import type { ResolvedConfig } from "../../domain/Config.js"
import { urlSecrets } from "../../internal/Scrub.js"
import { MalformedVariable } from "./Interpolate.js"
import type { Source } from "./Sources.js"

/** Distinct non-empty values, in first-seen order. */
export const distinct = (
  values: Iterable<Redacted.Redacted<string> | string>
): ReadonlyArray<Redacted.Redacted<string>> => {
  const seen = new Map<string, Redacted.Redacted<string>>()
  for (const value of values) {
    const text = Redacted.isRedacted(value) ? Redacted.value(value) : value
    if (text !== "" && !seen.has(text)) seen.set(text, Redacted.isRedacted(value) ? value : Redacted.make(text))
  }
  return [...seen.values()]
}

/** The secrets a resolved configuration holds: keys in use, header values, endpoint and ledger URL parts. */
export const secretsOfConfig = (config: ResolvedConfig): ReadonlyArray<Redacted.Redacted<string>> =>
  distinct(function*() {
    for (const provider of Object.values(config.providers)) {
      if (provider.apiKey._tag === "Present") yield provider.apiKey.value
      for (const [, value] of provider.headers) yield value
      for (const endpoint of provider.endpoints) yield* urlSecrets(endpoint.baseUrl)
    }
    if (config.ledger.backend === "postgres") yield* urlSecrets(Redacted.value(config.ledger.url))
  }())

/**
 * The secrets every decoded source holds, including values the merge did not pick (a user file's key
 * the environment overrode, an endpoint `allowed_regions` dropped): configured is configured.
 */
export const secretsOfSources = (sources: ReadonlyArray<Source>): ReadonlyArray<Redacted.Redacted<string>> =>
  distinct(function*() {
    for (const { file } of sources) {
      for (const entry of Object.values(file.providers ?? {})) {
        if (Redacted.isRedacted(entry.apiKey)) yield entry.apiKey
        else if (entry.apiKey instanceof MalformedVariable) yield entry.apiKey.value
        yield* Object.values(entry.headers ?? {})
        for (const endpoint of entry.endpoints ?? []) yield* urlSecrets(endpoint.baseUrl)
      }
      if (file.ledger?.url !== undefined) yield* urlSecrets(Redacted.value(file.ledger.url))
    }
  }())
