/**
 * `${VAR}` in configuration strings: which variables a source names, and their replacement from a
 * snapshot of the environment (read once, through the `ConfigProvider`, by `Sources.readEnvironment`).
 */
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import type { ConfigError } from "../../domain/Errors.js"
import { configError, isPlainObject, type KeyPath } from "./Issues.js"
import { type ScalarKind, typedScalar } from "./Scalars.js"

/** A snapshot of the environment variables a load consulted. */
export type Env = Readonly<Record<string, string | undefined>>

/** Reads a variable from a snapshot; an empty value counts as unset. */
export const lookupEnv = (env: Env, name: string): string | undefined => {
  const value = Object.hasOwn(env, name) ? env[name] : undefined
  // (blanks alone are a mistake, a key of spaces or a URL of one: read as the empty value, unset)
  return value === undefined || value.trim() === "" ? undefined : value
}

/**
 * What an `api_key` became when its `${VAR}` is unset (or it is empty): not a load error, since a user
 * with only one provider's key must still be able to use that provider. A class, so no YAML value can
 * impersonate it.
 */
export class MissingVariable {
  constructor(readonly variable: string | undefined) {}
}

/**
 * What an HTTP header value may hold (tab, printable ASCII, Latin-1; the check Node's and undici's
 * clients make): a key or `headers` value with a line break or a character outside Latin-1 could
 * never be sent.
 */
export const isHeaderValue = (text: string): boolean => !/[^\t\x20-\x7e\x80-\xff]/.test(text)

/**
 * What an `api_key` became when its `${VAR}` gave text no header can carry (`isHeaderValue`): as an
 * unset one, not a load error but a `ConfigError` naming the variable when the provider is used.
 */
export class MalformedVariable {
  constructor(readonly variable: string, readonly value: Redacted.Redacted<string>) {}
}

/** Why a variable's value cannot be a key or header value (the value itself is never shown). */
export const malformedDetail = (variable: string): string =>
  `environment variable ${variable} holds a character no HTTP header can carry (a line break, a control ` +
  "character or one outside Latin-1)"

/** Why a key named `__proto__` is refused. */
const reservedKeyDetail = "__proto__ cannot be a key here (JavaScript reserves it); choose another name"

/** `${VAR}` in configuration text (global: use with `replace` / `matchAll`). */
export const variablePattern = /\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g

/** A value that is one `${VAR}` and nothing else. */
const wholeVariable = new RegExp(`^${variablePattern.source}$`)

/** `text` with each `${VAR}` that `env` sets replaced by its value (an unset one left as written). */
export const expandSet = (text: string, env: Env): string =>
  text.replace(variablePattern, (written, name: string) => lookupEnv(env, name) ?? written)

/** Every variable named by a `${VAR}` in any string of a raw source, in order of appearance. */
export const variablesIn = (root: unknown): ReadonlyArray<string> => {
  const names = new Set<string>()
  const visit = (value: unknown): void => {
    if (typeof value === "string") { for (const match of value.matchAll(variablePattern)) names.add(match[1]!) }
    else if (Array.isArray(value)) value.forEach(visit)
    else if (isPlainObject(value)) Object.values(value).forEach(visit)
  }
  visit(root)
  return [...names]
}

const isApiKeyPath = (path: KeyPath): boolean => path.length === 3 && path[0] === "providers" && path[2] === "api_key"

const isHeaderPath = (path: KeyPath): boolean => path.length === 4 && path[0] === "providers" && path[2] === "headers"

/**
 * Replaces every `${VAR}` in every string value with the variable's value. An unset variable is a
 * `ConfigError` (reason `missing`) naming the key path, except in `providers.<name>.api_key`, which
 * becomes a `MissingVariable` (and so does an empty key); so is a variable giving a `headers` value
 * text no header can carry (reason `invalid`), which in `api_key` becomes a `MalformedVariable`.
 * Keys whose value is `undefined` are dropped; a key named `__proto__` is an `invalid` `ConfigError`.
 */
export const interpolate = (
  root: unknown,
  env: Env,
  origin: string | undefined,
  scalarAt: (path: KeyPath) => ScalarKind | undefined = () => undefined
): Effect.Effect<unknown, ConfigError> =>
  Effect.suspend(() => {
    let failure: ConfigError | undefined
    const visit = (value: unknown, path: KeyPath): unknown => {
      if (failure !== undefined) return value
      if (typeof value === "string") {
        let unset: string | undefined
        let malformed: string | undefined
        const header = isApiKeyPath(path) || isHeaderPath(path)
        // a setting that is one `${VAR}` and expects a number or a boolean takes it as YAML reads the text
        const whole = header ? null : wholeVariable.exec(value)
        if (whole !== null) {
          const kind = scalarAt(path)
          const found = kind === undefined ? undefined : lookupEnv(env, whole[1]!)
          const typed = found === undefined ? undefined : typedScalar(found, kind!)
          if (typed !== undefined) return typed
        }
        const result = value.replace(variablePattern, (_, name: string) => {
          const found = lookupEnv(env, name)
          if (found === undefined) unset ??= name
          else if (header && !isHeaderValue(found)) malformed ??= name
          return found ?? ""
        })
        if (isApiKeyPath(path)) {
          if (unset !== undefined || result.trim() === "") return new MissingVariable(unset)
          return malformed === undefined ? result.trim() : new MalformedVariable(malformed, Redacted.make(result))
        }
        if (unset !== undefined) {
          failure = configError({
            reason: "missing",
            path,
            origin,
            detail: `environment variable ${unset} is not set (or is empty)`
          })
        } else if (malformed !== undefined) {
          // the value is a secret: never shown
          failure = configError({ reason: "invalid", path, origin, detail: malformedDetail(malformed) })
        }
        return result
      }
      if (Array.isArray(value)) return value.map((item, index) => visit(item, [...path, index]))
      if (isPlainObject(value)) {
        if (Object.hasOwn(value, "__proto__")) {
          // decoding would set the prototype instead of keeping the entry: it would vanish silently
          failure = configError({ reason: "invalid", path: [...path, "__proto__"], origin, detail: reservedKeyDetail })
          return value
        }
        // A key set to `undefined` (a `config` object built in code, e.g. with spread options) is absent.
        return Object.fromEntries(
          Object.entries(value)
            .filter(([, item]) => item !== undefined)
            .map(([key, item]) => [key, visit(item, [...path, key])])
        )
      }
      return value
    }
    const result = visit(root, [])
    return failure === undefined ? Effect.succeed(result) : Effect.fail(failure)
  })
