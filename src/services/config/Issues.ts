/**
 * How configuration problems are reported: key paths as YAML spells them, `ConfigError`s of the form
 * `<origin>: <path>: <detail>`, and the rendering of offending values, which never shows a secret.
 */
import * as Redacted from "effect/Redacted"
import { ConfigError } from "../../domain/Errors.js"

/** A key path, as YAML keys (`snake_case`) and list indices. */
export type KeyPath = ReadonlyArray<PropertyKey>

/** Renders a key path: `providers.google.endpoints[0].base_url`. */
export const formatPath = (path: KeyPath): string =>
  path.reduce<string>(
    (out, segment) =>
      typeof segment === "number" ? `${out}[${segment}]` : out === "" ? String(segment) : `${out}.${String(segment)}`,
    ""
  )

/**
 * Builds a `ConfigError`. `origin` (the file's display name) prefixes the message, never the path;
 * a path under `providers.<name>` also fills `provider`.
 */
export const configError = (options: {
  readonly reason: ConfigError["reason"]
  readonly path: KeyPath
  readonly detail: string
  readonly origin?: string | undefined
}): ConfigError => {
  const path = formatPath(options.path)
  const prefix = (options.origin === undefined ? "" : `${options.origin}: `) + (path === "" ? "" : `${path}: `)
  const provider = options.path[0] === "providers" && typeof options.path[1] === "string" ? options.path[1] : undefined
  return new ConfigError({
    reason: options.reason,
    path,
    message: prefix + options.detail,
    ...(provider === undefined ? {} : { provider })
  })
}

/** An `invalid` `ConfigError`. */
export const invalid = (path: KeyPath, detail: string, origin: string | undefined): ConfigError =>
  configError({ reason: "invalid", path, detail, origin })

/** A value quoted for a message (only values that cannot be secrets). */
export const quote = (value: string): string => JSON.stringify(value)

/** True for a mapping written as an object literal or decoded from YAML (not a class instance). */
export const isPlainObject = (value: unknown): value is Record<string, unknown> => {
  if (typeof value !== "object" || value === null) return false
  const prototype = Object.getPrototypeOf(value)
  return prototype === Object.prototype || prototype === null
}

/**
 * Where a value contains itself (a YAML alias inside the node it names, `a: &x { b: *x }`, or a
 * cyclic `config` object): the path of the first key that leads back to one of its ancestors, else
 * `undefined`. Every reader of a configuration walks it as a tree, and would never end on a cycle.
 */
export const cyclePath = (root: unknown): KeyPath | undefined => {
  const ancestors = new Set<unknown>()
  const visit = (value: unknown, path: KeyPath): KeyPath | undefined => {
    const entries = Array.isArray(value)
      ? Array.from(value, (item, index) => [index, item] as const) // holes read as undefined, never skipped
      : isPlainObject(value)
      ? Object.entries(value)
      : undefined
    if (entries === undefined) return undefined
    ancestors.add(value)
    for (const [key, item] of entries) {
      if (ancestors.has(item)) return [...path, key]
      const found = visit(item, [...path, key])
      if (found !== undefined) return found
    }
    ancestors.delete(value)
    return undefined
  }
  return visit(root, [])
}

/** The `ConfigError` of a configuration that contains itself at `path`. */
export const cycleError = (path: KeyPath, origin: string | undefined): ConfigError =>
  configError({
    reason: "invalid",
    path,
    origin,
    detail:
      "refers to a mapping or list that contains it (a YAML alias inside the node it names): a configuration is a tree"
  })

/**
 * How much of the value at a path an error may show: `secret` (keys, header values, `ledger.url`,
 * whole provider entries, a whole source that is not a mapping: only its type), `url` (a `base_url`,
 * and the values a URL may be written in place of — `ledger`, `endpoints`, an endpoint: without its
 * password and query values), else `plain`.
 */
export type Sensitivity = "secret" | "url" | "plain"

/** The sensitivity of the value at a key path. */
export const sensitivityOf = (path: KeyPath): Sensitivity => {
  const last = path[path.length - 1]
  if (
    // a whole source that is not a mapping: a file named by mistake (a key file, `.env`) holds secrets
    path.length === 0 ||
    last === "api_key" ||
    last === "url" ||
    (path[0] === "providers" && (path.length <= 2 || path[2] === "headers"))
  ) return "secret"
  // `ledger: postgres://…` or `endpoints: [https://…]` (a URL where a mapping or a list belongs)
  // is shown as a `base_url` is.
  if (
    last === "base_url" ||
    (path.length === 1 && last === "ledger") ||
    (path[0] === "providers" && path[2] === "endpoints" && path.length <= 4)
  ) return "url"
  return "plain"
}

/** A URL without its password and query values; `undefined` when the text may hide one we cannot find. */
const withoutSecrets = (text: string): string | undefined => {
  try {
    const url = new URL(text)
    // "u:pass@host" parses with scheme "u:" and no authority: its "password" is in the path
    if (url.host === "" && text.includes("@")) return undefined
    if (url.password !== "") url.password = "***"
    for (const key of [...url.searchParams.keys()]) url.searchParams.set(key, "***")
    return url.href
  } catch {
    return /[@?=#]/.test(text) ? undefined : text
  }
}

const shorten = (text: string): string => quote(text.length > 60 ? `${text.slice(0, 57)}...` : text)

/** How a value is shown after "got": short, and never the content of a secret. */
export const showActual = (actual: unknown, sensitivity: Sensitivity): string => {
  if (actual === undefined) return "nothing"
  if (actual === null) return "an empty value"
  if (Array.isArray(actual)) return actual.length === 0 ? "an empty list" : "a list"
  if (Redacted.isRedacted(actual)) return "a secret"
  // what YAML can write besides JSON's values (`!!timestamp`, `!!binary`, `!!set`, `!!omap`)
  if (actual instanceof Date) return "a date"
  if (actual instanceof Uint8Array) return "binary data"
  if (actual instanceof Set) return "a set"
  if (actual instanceof Map) return "a mapping"
  if (typeof actual === "object" && !isPlainObject(actual)) return "a value of another kind"
  if (isPlainObject(actual)) return "a mapping"
  if (sensitivity === "secret") return `a ${typeof actual}`
  if (typeof actual === "string") {
    if (sensitivity === "plain") return shorten(actual)
    const shown = withoutSecrets(actual)
    return shown === undefined ? "a string" : shorten(shown)
  }
  return String(actual)
}
