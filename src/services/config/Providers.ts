/**
 * Provider entries (API.md §4, §8): each name's sources merged, its protocol resolved against the
 * protocol table, its key chosen (option > environment > files), its headers and endpoints merged and
 * checked, and its endpoints filtered by `allowed_regions`.
 */
import * as Effect from "effect/Effect"
import * as Predicate from "effect/Predicate"
import * as Redacted from "effect/Redacted"
import type { ApiKeySource, EndpointConfig, ProtocolName, ProviderConfig } from "../../domain/Config.js"
import type { ConfigError } from "../../domain/Errors.js"
import type { Protocol } from "../../providers/Provider.js"
import { type Env, isHeaderValue, lookupEnv, MalformedVariable, MissingVariable } from "./Interpolate.js"
import { configError, formatPath, invalid, type KeyPath, quote } from "./Issues.js"
import type { ProviderEntry } from "./Schema.js"
import type { Source } from "./Sources.js"

/**
 * What configuration needs from the protocol registry (`providers/registry.ts` in production; a
 * small table in tests, so configuration is testable without any HTTP code).
 */
export interface ProtocolTable {
  /** The supported protocols by name: a name is supported exactly when it is a key here. */
  readonly protocols: Readonly<Record<string, Pick<Protocol, "requiresApiKey" | "keyVariables">>>
  /** The entry names whose protocol may be omitted, and the protocol each implies. */
  readonly implied: Readonly<Record<string, string>>
}

/** The environment variables that may supply the key of entry `name`, under any protocol of the table. */
export const candidateKeyVariables = (table: ProtocolTable, name: string): ReadonlyArray<string> =>
  Object.values(table.protocols).flatMap((protocol) => protocol.keyVariables(name))

/** The merged provider entries. */
export interface Providers {
  /** By entry name: the project's entries first, then the user's other ones. */
  readonly providers: Readonly<Record<string, ProviderConfig>>
  /** Per entry, how many endpoints it had before `allowed_regions` filtered them. */
  readonly unfilteredCount: Readonly<Record<string, number>>
  readonly allowedRegions: ReadonlyArray<string> | undefined
  /** The key values the environment supplied (set variables of each entry's protocol), for `secrets`. */
  readonly environmentKeys: ReadonlyArray<Redacted.Redacted<string>>
}

interface Entry {
  readonly source: Source
  readonly entry: ProviderEntry
}

/** RFC 9110 `token`: what a header name may be made of. */
const headerName = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/

const firstDefined = <A>(values: ReadonlyArray<A | undefined>): A | undefined => values.find(Predicate.isNotUndefined)

/**
 * The protocol of entry `name`: the first source that says, else the one the name implies. The
 * strongest source having the entry decides: when it says nothing, a name's implied protocol is its
 * word. A weaker source (the user file) saying another one is an error: its endpoints, or the
 * stronger source's, would be spoken to in the wrong protocol.
 */
const resolveProtocol = (
  name: string,
  entries: ReadonlyArray<Entry>,
  table: ProtocolTable
): Effect.Effect<ProtocolName, ConfigError> => {
  const path: KeyPath = ["providers", name, "protocol"]
  const declared = entries.filter(({ entry }) => entry.protocol !== undefined)
  const first = declared[0]
  const supported = Object.keys(table.protocols).join(", ")
  const implied = Object.hasOwn(table.implied, name) ? table.implied[name] : undefined
  const strongest = entries[0]
  const impliedByStrongest = strongest !== undefined && strongest.entry.protocol === undefined ? implied : undefined
  const expected = impliedByStrongest ?? first?.entry.protocol
  const conflict = declared.find(({ entry }) => entry.protocol !== expected)
  if (expected !== undefined && conflict !== undefined) {
    const says = impliedByStrongest !== undefined
      ? `implied by the name ${name} in ${strongest!.source.origin ?? "the config option"}`
      : `as ${first!.source.origin ?? "the config option"} says`
    return Effect.fail(
      invalid(
        path,
        `expected ${quote(expected)} (${says}), got ${quote(conflict.entry.protocol!)}`,
        conflict.source.origin
      )
    )
  }
  const protocol = expected ?? implied
  if (protocol === undefined) {
    const implying = Object.keys(table.implied).join(", ")
    return Effect.fail(
      configError({
        reason: "missing",
        path,
        origin: entries[0]?.source.origin,
        detail: `expected one of ${supported} (only the names ${implying} imply theirs), got nothing`
      })
    )
  }
  if (!Object.hasOwn(table.protocols, protocol)) {
    const byName = first === undefined ? ` (implied by the name ${name})` : ""
    return Effect.fail(
      invalid(
        path,
        `protocol ${quote(protocol)}${byName} is not supported (supported: ${supported})`,
        first?.source.origin ?? entries[0]?.source.origin
      )
    )
  }
  // The table is the registry's in production, whose keys are exactly the `ProtocolName`s.
  return Effect.succeed(protocol as ProtocolName)
}

/**
 * The key: the `config` option's explicit key, else the environment's (the protocol's variables,
 * first set wins), else the first file that has a value (project, then user). A value from the
 * environment (a variable, or a file's `${VAR}`) that no header can carry is `Malformed`, as an
 * unset one is `Missing`: the calls fail, not the load. Without a value: `None` when the protocol
 * needs no key and no source named one; otherwise `Missing`, naming the first unset `${VAR}` (so
 * `api_key: ${OPENAI_API_KEY}` unset fails the calls even where a key is optional: the configuration
 * asked for one).
 */
const resolveApiKey = (
  name: string,
  entries: ReadonlyArray<Entry>,
  protocol: Pick<Protocol, "requiresApiKey" | "keyVariables">,
  env: Env
): { readonly apiKey: ApiKeySource; readonly environmentKeys: ReadonlyArray<Redacted.Redacted<string>> } => {
  const declared = entries.map(({ entry }) => entry.apiKey).filter(Predicate.isNotUndefined)
  const explicit = entries[0]?.source.fromOptions ? entries[0].entry.apiKey : undefined
  const environment = protocol.keyVariables(name).flatMap((variable) => {
    const value = lookupEnv(env, variable)
    // (blanks around a key, from a .env line, are no part of it: ` sk-…` sent so is refused)
    return value === undefined ? [] : [{ variable, value: Redacted.make(value.trim()) }]
  })
  const environmentKeys = environment.map((key) => key.value)
  if (Redacted.isRedacted(explicit)) return { apiKey: { _tag: "Present", value: explicit }, environmentKeys }
  const fromEnvironment = environment[0]
  if (fromEnvironment !== undefined) {
    const apiKey: ApiKeySource = isHeaderValue(Redacted.value(fromEnvironment.value))
      ? { _tag: "Present", value: fromEnvironment.value }
      : { _tag: "Malformed", variable: fromEnvironment.variable }
    return { apiKey, environmentKeys }
  }
  const fromFile = declared.find((key): key is Redacted.Redacted<string> | MalformedVariable =>
    Redacted.isRedacted(key) || key instanceof MalformedVariable
  )
  if (fromFile instanceof MalformedVariable) {
    return { apiKey: { _tag: "Malformed", variable: fromFile.variable }, environmentKeys }
  }
  if (fromFile !== undefined) return { apiKey: { _tag: "Present", value: fromFile }, environmentKeys }
  const variable = declared.find((key): key is MissingVariable =>
    key instanceof MissingVariable && key.variable !== undefined
  )
    ?.variable
  const apiKey: ApiKeySource = !protocol.requiresApiKey && variable === undefined
    ? { _tag: "None" }
    : { _tag: "Missing", variable }
  return { apiKey, environmentKeys }
}

/** Headers: per name (case-insensitive), the first source's value; names must be HTTP tokens. */
const resolveHeaders = (
  name: string,
  entries: ReadonlyArray<Entry>
): Effect.Effect<ProviderConfig["headers"], ConfigError> =>
  Effect.gen(function*() {
    const headers: Array<readonly [string, Redacted.Redacted<string>]> = []
    const seen = new Set<string>()
    for (const { entry, source } of entries) {
      const inSource = new Set<string>()
      for (const [header, value] of Object.entries(entry.headers ?? {})) {
        const path: KeyPath = ["providers", name, "headers", header]
        if (!headerName.test(header)) {
          return yield* invalid(
            path,
            "expected a header name (letters, digits and !#$%&'*+-.^_`|~), got " + quote(header),
            source.origin
          )
        }
        const key = header.toLowerCase()
        if (inSource.has(key)) {
          return yield* invalid(
            path,
            `expected a unique header name (case-insensitive), got ${quote(header)} again`,
            source.origin
          )
        }
        inSource.add(key)
        if (seen.has(key)) continue
        seen.add(key)
        headers.push([header, value])
      }
    }
    return headers
  })

/**
 * Merges the provider entries of every source by name (API.md §4 per entry): endpoints are the
 * project's, then the user's; a user endpoint repeating a name the project already gives the same
 * entry is skipped (a user file is often a copy of the project's), any other repeated name is an
 * error (breakers are keyed by endpoint name). `allowed_regions` (project's, else user's) drops every
 * endpoint whose region is outside it; one without a region declares no residency and is kept.
 */
export const resolveProviders = (
  sources: ReadonlyArray<Source>,
  env: Env,
  table: ProtocolTable
): Effect.Effect<Providers, ConfigError> =>
  Effect.gen(function*() {
    const allowedRegions = firstDefined(sources.map((source) => source.file.allowedRegions))
    const names = [...new Set(sources.flatMap((source) => Object.keys(source.file.providers ?? {})))]
    const providers: Record<string, ProviderConfig> = {}
    const unfilteredCount: Record<string, number> = {}
    const environmentKeys: Array<Redacted.Redacted<string>> = []
    const endpointOwners = new Map<
      string,
      { readonly provider: string; readonly source: Source; readonly path: string }
    >()

    for (const name of names) {
      const entries = sources.flatMap((source) => {
        const entry = source.file.providers?.[name]
        return entry === undefined ? [] : [{ source, entry }]
      })
      const protocol = yield* resolveProtocol(name, entries, table)

      const endpoints: Array<EndpointConfig> = []
      for (const { entry, source } of entries) {
        for (const [index, endpoint] of (entry.endpoints ?? []).entries()) {
          const path: KeyPath = ["providers", name, "endpoints", index, "name"]
          const owner = endpointOwners.get(endpoint.name)
          if (owner !== undefined) {
            if (owner.provider === name && owner.source !== source) continue
            return yield* invalid(
              path,
              `expected a unique endpoint name, got ${quote(endpoint.name)}, already used by ${owner.path}`,
              source.origin
            )
          }
          const openaiOnly = endpoint.maxTokensField !== undefined
            ? "max_tokens_field"
            : endpoint.jsonMode !== undefined
            ? "json_mode"
            : undefined
          if (openaiOnly !== undefined && protocol !== "openai") {
            return yield* invalid(
              ["providers", name, "endpoints", index, openaiOnly],
              `expected nothing: only protocol "openai" endpoints take it, and this entry's protocol is ${
                quote(protocol)
              }`,
              source.origin
            )
          }
          endpointOwners.set(endpoint.name, { provider: name, source, path: formatPath(path.slice(0, 4)) })
          endpoints.push({
            name: endpoint.name,
            // the URL check reads past surrounding blanks (a `${VAR}` from a .env line), the path joins would not
            baseUrl: endpoint.baseUrl.trim(),
            region: endpoint.region,
            ...(endpoint.maxTokensField !== undefined ? { maxTokensField: endpoint.maxTokensField } : {}),
            ...(endpoint.jsonMode !== undefined ? { jsonMode: endpoint.jsonMode } : {})
          })
        }
      }
      unfilteredCount[name] = endpoints.length

      // A key written in a file or the `config` option that no header can carry is bad configuration
      // (never shown); one from the environment fails the calls instead (`resolveApiKey`).
      for (const { entry, source } of entries) {
        if (Redacted.isRedacted(entry.apiKey) && !isHeaderValue(Redacted.value(entry.apiKey))) {
          return yield* invalid(
            ["providers", name, "api_key"],
            "expected a key on one line of Latin-1 text, got a string no HTTP header can carry",
            source.origin
          )
        }
      }
      const key = resolveApiKey(name, entries, table.protocols[protocol]!, env)
      environmentKeys.push(...key.environmentKeys)
      providers[name] = {
        name,
        protocol,
        apiKey: key.apiKey,
        headers: yield* resolveHeaders(name, entries),
        endpoints: endpoints.filter((endpoint) =>
          allowedRegions === undefined || endpoint.region === undefined ||
          allowedRegions.some((region) => region.toLowerCase() === endpoint.region!.toLowerCase())
        )
      }
    }
    return { providers, unfilteredCount, allowedRegions, environmentKeys }
  })
