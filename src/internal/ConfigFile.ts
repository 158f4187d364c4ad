/**
 * One configuration source (a YAML file or the `config` option) turned into a typed, camelCase,
 * still-partial `ConfigFile`: YAML parsing, `${VAR}` interpolation, `Schema` decoding, and the
 * translation of parse issues into `ConfigError`s of the form `<path>: expected <what>, got <actual>`.
 */
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type * as ParseResult from "effect/ParseResult"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import * as AST from "effect/SchemaAST"
import { ConfigError } from "../domain/Errors.js"

/** A key path, as YAML keys (`snake_case`) and list indices. */
export type KeyPath = ReadonlyArray<PropertyKey>

/** The environment `${VAR}` references are read from. */
export type Env = Readonly<Record<string, string | undefined>>

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

const isPlainObject = (value: unknown): value is Record<string, unknown> => {
  if (typeof value !== "object" || value === null) return false
  const prototype = Object.getPrototypeOf(value)
  return prototype === Object.prototype || prototype === null
}

/** Reads an environment variable; an empty value counts as unset. */
export const lookupEnv = (env: Env, name: string): string | undefined => {
  const value = env[name]
  return value === undefined || value === "" ? undefined : value
}

// ---------------------------------------------------------------------------------------------
// YAML and interpolation
// ---------------------------------------------------------------------------------------------

/**
 * Parses YAML text; an empty document is `{}`. Syntax errors name the file, line and column, but
 * never quote the source (the offending line could hold a key).
 */
export const parseYaml = (text: string, origin: string): Effect.Effect<unknown, ConfigError> =>
  // Loaded on first use: only programs that read a config file pay for the parser.
  Effect.flatMap(Effect.promise(() => import("yaml")), (Yaml) => {
    const document = Yaml.parseDocument(text)
    const error = document.errors[0]
    if (error !== undefined) {
      const position = error.linePos?.[0]
      const where = position === undefined ? "" : ` (line ${position.line}, column ${position.col})`
      const what = error.message.split(" at line ")[0] ?? error.code
      return Effect.fail(configError({ reason: "invalid", path: [], origin, detail: `invalid YAML${where}: ${what}` }))
    }
    return Effect.succeed(document.toJS() ?? {})
  })

/**
 * What an `api_key` became when its `${VAR}` is unset (or it is empty): not a load error, since a user
 * with only one provider's key must still be able to use that provider. A class, so no YAML value can
 * impersonate it.
 */
export class MissingVariable {
  constructor(readonly variable: string | undefined) {}
}

const variablePattern = /\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g

const isApiKeyPath = (path: KeyPath): boolean =>
  path.length === 3 && path[0] === "providers" && path[2] === "api_key"

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
          failure = configError({
            reason: "missing",
            path,
            origin,
            detail: `environment variable ${unset} is not set`
          })
        }
        return result
      }
      if (Array.isArray(value)) return value.map((item, index) => visit(item, [...path, index]))
      if (isPlainObject(value)) {
        // A key set to `undefined` (a `config` object built in code, e.g. with spread options) is absent.
        return Object.fromEntries(
          Object.entries(value).filter(([, item]) => item !== undefined).map(([key, item]) => [key, visit(item, [...path, key])])
        )
      }
      return value
    }
    const result = visit(root, [])
    return failure === undefined ? Effect.succeed(result) : Effect.fail(failure)
  })

// ---------------------------------------------------------------------------------------------
// Schema (API.md §4). Every leaf carries a `description`: it is the "expected …" of error messages.
// ---------------------------------------------------------------------------------------------

const NonNegativeInt = Schema.Number.pipe(Schema.int(), Schema.nonNegative()).annotations({
  description: "a non-negative integer"
})
const PositiveInt = Schema.Number.pipe(Schema.int(), Schema.positive()).annotations({
  description: "a positive integer"
})
const NonNegativeNumber = Schema.Number.pipe(Schema.finite(), Schema.nonNegative()).annotations({
  description: "a non-negative number"
})
const PositiveNumber = Schema.Number.pipe(Schema.finite(), Schema.positive()).annotations({
  description: "a positive number"
})
const Flag = Schema.Boolean.annotations({ description: "true or false" })
const NonEmptyString = Schema.String.pipe(Schema.minLength(1)).annotations({ description: "a non-empty string" })
const HttpUrl = Schema.String.pipe(
  Schema.filter((url) => {
    try {
      const protocol = new URL(url).protocol
      return protocol === "http:" || protocol === "https:"
    } catch {
      return false
    }
  })
).annotations({ description: "an http(s) URL" })

/** An optional key; `fromKey` maps the YAML spelling to the camelCase field. */
const optional = <S extends Schema.Schema.Any, K extends string>(schema: S, key: K) =>
  Schema.optionalWith(schema, { exact: true }).pipe(Schema.fromKey(key))

/** An optional section: an empty YAML value (`resilience:` with every child commented out) counts as absent. */
const section = <S extends Schema.Schema.Any, K extends string>(schema: S, key: K) =>
  Schema.optionalWith(schema, { exact: true, nullable: true }).pipe(Schema.fromKey(key))

/** An API key: a string (made `Redacted` here), a `Redacted` (from the `config` option), or unset. */
const ApiKey = Schema.Union(
  Schema.Redacted(Schema.String),
  Schema.RedactedFromSelf(Schema.String),
  Schema.instanceOf(MissingVariable)
).annotations({ description: "a string" })

const Endpoint = Schema.Struct({
  name: NonEmptyString,
  baseUrl: Schema.propertySignature(HttpUrl).pipe(Schema.fromKey("base_url")),
  region: optional(NonEmptyString, "region")
}).annotations({ description: "an endpoint { name, base_url, region }" })

const Provider = Schema.Struct({
  apiKey: section(ApiKey, "api_key"),
  endpoints: optional(
    Schema.Array(Endpoint).pipe(Schema.minItems(1)).annotations({ description: "at least one endpoint" }),
    "endpoints"
  )
}).annotations({ description: "a provider { api_key, endpoints }" })

const Pricing = Schema.Struct({
  inputPer1m: Schema.propertySignature(NonNegativeNumber).pipe(Schema.fromKey("input_per_1m")),
  outputPer1m: Schema.propertySignature(NonNegativeNumber).pipe(Schema.fromKey("output_per_1m"))
}).annotations({ description: "a pricing { input_per_1m, output_per_1m }" })

const Model = Schema.Struct({
  // Checked against the configured providers once all sources are merged, for a better message.
  provider: NonEmptyString,
  modelId: Schema.propertySignature(NonEmptyString).pipe(Schema.fromKey("model_id")),
  pricing: section(Pricing, "pricing"),
  fallbacks: section(Schema.Array(NonEmptyString).annotations({ description: "a list of model aliases" }), "fallbacks")
}).annotations({ description: "a model { provider, model_id, pricing, fallbacks }" })

/** One decoded model alias, before its provider and fallbacks are checked. */
export type ConfigModel = typeof Model.Type

const CircuitBreaker = Schema.Struct({
  failureThreshold: optional(PositiveInt, "failure_threshold"),
  recoveryTimeoutS: optional(NonNegativeNumber, "recovery_timeout_s")
}).annotations({ description: "a mapping" })

const Resilience = Schema.Struct({
  maxRetries: optional(NonNegativeInt, "max_retries"),
  baseDelayS: optional(NonNegativeNumber, "base_delay_s"),
  maxDelayS: optional(NonNegativeNumber, "max_delay_s"),
  waitOnRateLimit: optional(Flag, "wait_on_rate_limit"),
  maxWaitTimeoutS: optional(NonNegativeNumber, "max_wait_timeout_s"),
  retryBudgetS: optional(NonNegativeNumber, "retry_budget_s"),
  requestTimeoutS: optional(PositiveNumber, "request_timeout_s"),
  streamIdleTimeoutS: optional(PositiveNumber, "stream_idle_timeout_s"),
  circuitBreaker: section(CircuitBreaker, "circuit_breaker")
}).annotations({ description: "a mapping" })

const Budget = Schema.Struct({
  dailySpendLimit: optional(NonNegativeNumber, "daily_spend_limit"),
  defaultMaxOutputTokens: optional(PositiveInt, "default_max_output_tokens"),
  holdTtlS: optional(PositiveNumber, "hold_ttl_s")
}).annotations({ description: "a mapping" })

const Ledger = Schema.Struct({
  backend: optional(
    Schema.Literal("sqlite", "memory", "postgres").annotations({ description: "one of sqlite, memory, postgres" }),
    "backend"
  ),
  path: optional(NonEmptyString, "path"),
  url: optional(Schema.Redacted(NonEmptyString).annotations({ description: "a connection URL" }), "url")
}).annotations({ description: "a mapping" })

const Observability = Schema.Struct({
  recordContent: optional(Flag, "record_content")
}).annotations({ description: "a mapping" })

/** The schema of one source, YAML-shaped on the encoded side, camelCase and all-optional once decoded. */
export const ConfigFile = Schema.Struct({
  defaultModel: optional(NonEmptyString.annotations({ description: "a model alias" }), "default_model"),
  providers: section(
    Schema.Struct({ google: section(Provider, "google"), dashscope: section(Provider, "dashscope") }).annotations({
      description: "a mapping of providers"
    }),
    "providers"
  ),
  models: section(
    Schema.Record({ key: Schema.String, value: Model }).annotations({ description: "a mapping of model aliases" }),
    "models"
  ),
  allowedRegions: optional(
    Schema.Array(NonEmptyString).annotations({ description: "a list of regions" }),
    "allowed_regions"
  ),
  resilience: section(Resilience, "resilience"),
  budget: section(Budget, "budget"),
  ledger: section(Ledger, "ledger"),
  observability: section(Observability, "observability")
}).annotations({ description: "a mapping of settings" })

/** One decoded source. */
export type ConfigFile = typeof ConfigFile.Type

// ---------------------------------------------------------------------------------------------
// Parse issues → ConfigError
// ---------------------------------------------------------------------------------------------

interface Problem {
  readonly path: KeyPath
  readonly kind: "invalid" | "missing" | "unknown"
  readonly expected: string | undefined
  readonly actual: unknown
  readonly knownKeys: ReadonlyArray<string> | undefined
}

const describe = (ast: AST.Annotated): string | undefined =>
  Option.getOrUndefined(AST.getDescriptionAnnotation(ast))

const first = <A>(issues: A | ReadonlyArray<A>): A => (Array.isArray(issues) ? issues[0] : issues) as A

/** Walks to the first leaf issue, keeping its key path and the outermost description seen since the last key. */
const findProblem = (
  issue: ParseResult.ParseIssue,
  path: KeyPath,
  expected: string | undefined,
  knownKeys: ReadonlyArray<string> | undefined
): Problem => {
  switch (issue._tag) {
    case "Pointer": {
      const segments = Array.isArray(issue.path) ? (issue.path as KeyPath) : [issue.path as PropertyKey]
      return findProblem(issue.issue, [...path, ...segments], undefined, knownKeys)
    }
    case "Composite": {
      const keys = AST.isTypeLiteral(issue.ast)
        ? issue.ast.propertySignatures.map((signature) => String(signature.name))
        : undefined
      return findProblem(first(issue.issues), path, expected ?? describe(issue.ast), keys)
    }
    case "Refinement":
    case "Transformation":
      return findProblem(issue.issue, path, expected ?? describe(issue.ast), knownKeys)
    case "Missing":
      // The ast of a missing key is its property signature; its type carries the description.
      return {
        path,
        kind: "missing",
        expected: expected ?? describe(issue.ast instanceof AST.PropertySignature ? issue.ast.type : issue.ast),
        actual: undefined,
        knownKeys
      }
    case "Unexpected":
      return { path, kind: "unknown", expected, actual: issue.actual, knownKeys }
    case "Type":
    case "Forbidden":
      return { path, kind: "invalid", expected: expected ?? describe(issue.ast) ?? String(issue.ast), actual: issue.actual, knownKeys }
  }
}

/** Values at these paths may be secrets: errors describe their type, never their content. */
const isSensitive = (path: KeyPath): boolean => {
  const last = path[path.length - 1]
  return last === "api_key" || last === "url" || (path[0] === "providers" && path.length <= 2)
}

/** How a value is shown after "got": short, and never the content of a secret. */
export const showActual = (actual: unknown, sensitive: boolean): string => {
  if (actual === undefined) return "nothing"
  if (actual === null) return "an empty value"
  if (Array.isArray(actual)) return actual.length === 0 ? "an empty list" : "a list"
  if (Redacted.isRedacted(actual) || actual instanceof MissingVariable) return "a secret"
  if (isPlainObject(actual)) return "a mapping"
  if (sensitive) return `a ${typeof actual}`
  if (typeof actual === "string") return JSON.stringify(actual.length > 60 ? `${actual.slice(0, 57)}...` : actual)
  return String(actual)
}

/** Translates a decode failure into a `ConfigError` naming the key path. */
export const fromParseIssue = (issue: ParseResult.ParseIssue, origin: string | undefined): ConfigError => {
  const problem = findProblem(issue, [], undefined, undefined)
  switch (problem.kind) {
    case "unknown":
      return configError({
        reason: "invalid",
        path: problem.path,
        origin,
        detail: `unknown key${problem.knownKeys === undefined ? "" : ` (known: ${problem.knownKeys.join(", ")})`}`
      })
    case "missing":
      return configError({
        reason: "missing",
        path: problem.path,
        origin,
        detail: `expected ${problem.expected ?? "a value"}, got nothing`
      })
    case "invalid":
      return configError({
        reason: "invalid",
        path: problem.path,
        origin,
        detail: `expected ${problem.expected ?? "a value"}, got ${showActual(problem.actual, isSensitive(problem.path))}`
      })
  }
}

/**
 * Interpolates and decodes one source. `origin` is the file's display name (undefined for the
 * `config` option); it prefixes every error message.
 */
export const decodeSource = (
  raw: unknown,
  env: Env,
  origin: string | undefined
): Effect.Effect<ConfigFile, ConfigError> =>
  interpolate(raw ?? {}, env, origin).pipe(
    Effect.flatMap((value) =>
      Schema.decodeUnknown(ConfigFile, { onExcessProperty: "error" })(value).pipe(
        Effect.mapError((error) => fromParseIssue(error.issue, origin))
      )
    )
  )
