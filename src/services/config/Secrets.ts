/**
 * Every configured secret value (API.md §14): API keys from any source, header values, and the
 * password and query-parameter values of every `base_url` and of `ledger.url` — the list the
 * scrubbers of errors, logs, spans and ledger rows remove from every string.
 */
import * as Redacted from "effect/Redacted"
import type { ResolvedConfig } from "../../domain/Config.js"
import { headerSecrets, urlSecrets } from "../../internal/Scrub.js"
import { type Env, expandSet, lookupEnv, MalformedVariable, variablePattern } from "./Interpolate.js"
import { isPlainObject } from "./Issues.js"
import type { RawSource, Source } from "./Sources.js"

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
      for (const [, value] of provider.headers) yield* headerSecrets(Redacted.value(value))
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
        for (const value of Object.values(entry.headers ?? {})) yield* headerSecrets(Redacted.value(value))
        for (const endpoint of entry.endpoints ?? []) yield* urlSecrets(endpoint.baseUrl)
      }
      if (file.ledger?.url !== undefined) yield* urlSecrets(Redacted.value(file.ledger.url))
    }
  }())

/**
 * The values of the `${VAR}`s an `api_key` or a `headers` value is written with: a server may echo the
 * token of `Authorization: Bearer ${TOKEN}` alone, without the text around it (API.md §14).
 */
export const secretVariables = (
  sources: ReadonlyArray<RawSource | undefined>,
  env: Env
): ReadonlyArray<Redacted.Redacted<string>> =>
  distinct(function*() {
    const valuesIn = function*(template: unknown) {
      if (typeof template !== "string") return
      for (const match of template.matchAll(variablePattern)) yield lookupEnv(env, match[1]!) ?? ""
    }
    for (const source of sources) {
      const raw = source?.raw
      if (!isPlainObject(raw) || !isPlainObject(raw.providers)) continue
      for (const entry of Object.values(raw.providers)) {
        if (!isPlainObject(entry)) continue
        yield* valuesIn(entry.api_key)
        for (const value of isPlainObject(entry.headers) ? Object.values(entry.headers) : []) yield* valuesIn(value)
      }
    }
  }())

/**
 * The secrets of sources as read, before decoding (for a load that fails: its `ConfigError` may quote
 * a value, such as a key pasted into the wrong field): the values of `keyVariables`, and the keys,
 * `headers` values and URL parts the raw sources write, each `${VAR}` replaced from `env`.
 */
export const secretsOfRaw = (
  sources: ReadonlyArray<RawSource | undefined>,
  env: Env,
  keyVariables: ReadonlyArray<string>
): ReadonlyArray<Redacted.Redacted<string>> =>
  distinct(function*() {
    const expand = (value: unknown): string | undefined => typeof value === "string" ? expandSet(value, env) : undefined
    for (const name of keyVariables) yield lookupEnv(env, name) ?? ""
    for (const source of sources) {
      const raw = source?.raw
      if (!isPlainObject(raw)) continue
      for (const entry of isPlainObject(raw.providers) ? Object.values(raw.providers) : []) {
        if (!isPlainObject(entry)) continue
        yield expand(entry.api_key) ?? ""
        for (const value of isPlainObject(entry.headers) ? Object.values(entry.headers) : []) {
          yield* headerSecrets(expand(value) ?? "")
        }
        for (const endpoint of Array.isArray(entry.endpoints) ? entry.endpoints : []) {
          if (isPlainObject(endpoint)) yield* urlSecrets(expand(endpoint.base_url) ?? "")
        }
      }
      if (isPlainObject(raw.ledger)) yield* urlSecrets(expand(raw.ledger.url) ?? "")
    }
    yield* secretVariables(sources, env)
  }())
