/**
 * `${VAR}` in configuration strings: which variables a source names, and their replacement from a
 * snapshot of the environment (read once, through the `ConfigProvider`, by `Sources.readEnvironment`).
 */
import * as Effect from "effect/Effect"
import type { ConfigError } from "../../domain/Errors.js"
import { configError, isPlainObject, type KeyPath } from "./Issues.js"

/** A snapshot of the environment variables a load consulted. */
export type Env = Readonly<Record<string, string | undefined>>

/** Reads a variable from a snapshot; an empty value counts as unset. */
export const lookupEnv = (env: Env, name: string): string | undefined => {
  const value = Object.hasOwn(env, name) ? env[name] : undefined
  return value === undefined || value === "" ? undefined : value
}

/**
 * What an `api_key` became when its `${VAR}` is unset (or it is empty): not a load error, since a user
 * with only one provider's key must still be able to use that provider. A class, so no YAML value can
 * impersonate it.
 */
export class MissingVariable {
  constructor(readonly variable: string | undefined) {}
}

const variablePattern = /\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g

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

/**
 * Replaces every `${VAR}` in every string value with the variable's value. An unset variable is a
 * `ConfigError` (reason `missing`) naming the key path, except in `providers.<name>.api_key`, which
 * becomes a `MissingVariable` (and so does an empty key). Keys whose value is `undefined` are dropped.
 */
export const interpolate = (root: unknown, env: Env, origin: string | undefined): Effect.Effect<unknown, ConfigError> =>
  Effect.suspend(() => {
    let failure: ConfigError | undefined
    const visit = (value: unknown, path: KeyPath): unknown => {
      if (failure !== undefined) return value
      if (typeof value === "string") {
        let unset: string | undefined
        const result = value.replace(variablePattern, (_, name: string) => {
          const found = lookupEnv(env, name)
          if (found === undefined) unset ??= name
          return found ?? ""
        })
        if (isApiKeyPath(path)) return unset !== undefined || result === "" ? new MissingVariable(unset) : result
        if (unset !== undefined) {
          failure = configError({ reason: "missing", path, origin, detail: `environment variable ${unset} is not set` })
        }
        return result
      }
      if (Array.isArray(value)) return value.map((item, index) => visit(item, [...path, index]))
      if (isPlainObject(value)) {
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
