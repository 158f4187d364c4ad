/**
 * The schema of one configuration source (API.md §4, §8, §14): YAML-shaped (`snake_case`) on the
 * encoded side, camelCase and all-optional once decoded, and the translation of its parse issues into
 * `ConfigError`s of the form `<path>: expected <what>, got <actual>`.
 */
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import * as AST from "effect/SchemaAST"
import type { ConfigError } from "../../domain/Errors.js"
import { maxTokenCount } from "../../domain/TokenUsage.js"
import { type Env, interpolate, isHeaderValue, MalformedVariable, MissingVariable } from "./Interpolate.js"
import { configError, type KeyPath, sensitivityOf, showActual } from "./Issues.js"
import { scalarAt } from "./Scalars.js"

// Every leaf carries a `description`: it is the "expected …" of error messages.

const NonNegativeInt = Schema.Number.pipe(Schema.int(), Schema.nonNegative()).annotations({
  description: "a non-negative integer"
})
const PositiveInt = Schema.Number.pipe(Schema.int(), Schema.positive()).annotations({
  description: "a positive integer"
})
/** An output cap: a positive 32-bit count, as a request's `maxOutputTokens` (`maxTokenCount`). */
const OutputCap = Schema.Number.pipe(Schema.int(), Schema.between(1, maxTokenCount)).annotations({
  description: `a positive integer up to ${maxTokenCount}`
})
const NonNegativeNumber = Schema.Number.pipe(Schema.finite(), Schema.nonNegative()).annotations({
  description: "a non-negative number"
})
const PositiveNumber = Schema.Number.pipe(Schema.finite(), Schema.positive()).annotations({
  description: "a positive number"
})
const Flag = Schema.Boolean.annotations({ description: "true or false" })
// blanks alone are empty too: a model id of spaces would be sent, a name of spaces is no name
const NonEmptyString = Schema.String.pipe(Schema.filter((text) => text.trim() !== "")).annotations({
  description: "a non-empty string"
})
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

/**
 * An API key: a string (made `Redacted` here), a `Redacted` (from the `config` option), or from an
 * unset or unusable `${VAR}`. A key no header can carry is refused once the sources are merged
 * (`Providers.ts`), with a message of its own.
 */
const ApiKey = Schema.Union(
  Schema.Redacted(Schema.String),
  Schema.RedactedFromSelf(Schema.String),
  Schema.instanceOf(MissingVariable),
  Schema.instanceOf(MalformedVariable)
).annotations({ description: "a string" })

/**
 * A header value: what a header can carry (`isHeaderValue`: a CR, LF or NUL would split or end the
 * header, and the HTTP client refuses any other control character or one outside Latin-1).
 */
const HeaderValueText = Schema.String.pipe(Schema.filter(isHeaderValue)).annotations({
  description: "a header value (one line of Latin-1 text)"
})

/** A header value, made `Redacted` (every header value is treated as a secret). */
const HeaderValue = Schema.Union(
  Schema.Redacted(HeaderValueText),
  Schema.RedactedFromSelf(HeaderValueText)
).annotations({ description: "a header value (one line of Latin-1 text)" })

const Endpoint = Schema.Struct({
  name: NonEmptyString,
  baseUrl: Schema.propertySignature(HttpUrl).pipe(Schema.fromKey("base_url")),
  region: optional(NonEmptyString, "region"),
  // `openai` endpoints only (checked once the entry's protocol is known).
  maxTokensField: optional(
    Schema.Literal("max_tokens", "max_completion_tokens").annotations({
      description: "one of max_tokens, max_completion_tokens"
    }),
    "max_tokens_field"
  ),
  jsonMode: optional(
    Schema.Literal("json_schema", "json_object").annotations({ description: "one of json_schema, json_object" }),
    "json_mode"
  )
}).annotations({ description: "an endpoint { name, base_url, region, max_tokens_field, json_mode }" })

const Provider = Schema.Struct({
  // Checked against the protocol registry once all sources are merged (its names are not fixed here).
  protocol: optional(NonEmptyString.annotations({ description: "a protocol name" }), "protocol"),
  apiKey: section(ApiKey, "api_key"),
  // Header names are checked with the merged entry, for a message naming the header.
  headers: section(
    Schema.Record({ key: Schema.String, value: HeaderValue }).annotations({
      description: "a mapping of header names to values"
    }),
    "headers"
  ),
  endpoints: optional(
    Schema.Array(Endpoint).pipe(Schema.minItems(1)).annotations({ description: "at least one endpoint" }),
    "endpoints"
  )
}).annotations({ description: "a provider { protocol, api_key, headers, endpoints }" })

/** One decoded provider entry of one source, before its protocol, key and headers are resolved. */
export type ProviderEntry = typeof Provider.Type

/**
 * A price in USD per million tokens, up to $1,000,000 (the dearest real rates are in the hundreds): a
 * rate past any price (a typo's exponent) would make costs `Infinity` in the ledger.
 */
const PricePer1m = Schema.Number.pipe(Schema.finite(), Schema.nonNegative(), Schema.lessThanOrEqualTo(1_000_000))
  .annotations({ description: "a non-negative number of USD per million tokens, at most 1000000" })

const Pricing = Schema.Struct({
  inputPer1m: Schema.propertySignature(PricePer1m).pipe(Schema.fromKey("input_per_1m")),
  outputPer1m: Schema.propertySignature(PricePer1m).pipe(Schema.fromKey("output_per_1m")),
  cachedInputPer1m: optional(PricePer1m, "cached_input_per_1m"),
  cacheWritePer1m: optional(PricePer1m, "cache_write_per_1m")
}).annotations({ description: "a pricing { input_per_1m, output_per_1m, cached_input_per_1m, cache_write_per_1m }" })

/** `models.<alias>.limits` (API.md §11). */
const Limits = Schema.Struct({
  rpm: optional(PositiveInt, "rpm"),
  tpm: optional(PositiveInt, "tpm"),
  rpd: optional(PositiveInt, "rpd")
}).annotations({ description: "a mapping { rpm, tpm, rpd }" })

const Model = Schema.Struct({
  // Checked against the configured providers once all sources are merged, for a better message.
  provider: NonEmptyString,
  modelId: Schema.propertySignature(NonEmptyString).pipe(Schema.fromKey("model_id")),
  pricing: section(Pricing, "pricing"),
  fallbacks: section(Schema.Array(NonEmptyString).annotations({ description: "a list of model aliases" }), "fallbacks"),
  limits: section(Limits, "limits")
}).annotations({ description: "a model { provider, model_id, pricing, fallbacks, limits }" })

/** One decoded model alias, before its provider and fallbacks are checked. */
export type ConfigModel = typeof Model.Type

const CircuitBreaker = Schema.Struct({
  failureThreshold: optional(PositiveInt, "failure_threshold"),
  // bounded: the time a breaker reopens at must be a date its message can name
  recoveryTimeoutS: optional(
    NonNegativeNumber.pipe(Schema.lessThanOrEqualTo(1_000_000_000)).annotations({
      description: "a non-negative number of seconds, at most 1,000,000,000"
    }),
    "recovery_timeout_s"
  )
}).annotations({ description: "a mapping" })

const Resilience = Schema.Struct({
  maxRetries: optional(NonNegativeInt, "max_retries"),
  baseDelayS: optional(NonNegativeNumber, "base_delay_s"),
  maxDelayS: optional(NonNegativeNumber, "max_delay_s"),
  waitOnRateLimit: optional(Flag, "wait_on_rate_limit"),
  maxWaitTimeoutS: optional(NonNegativeNumber, "max_wait_timeout_s"),
  // A zero budget or timeout would fail every call (API.md §14): they must be > 0.
  retryBudgetS: optional(PositiveNumber, "retry_budget_s"),
  requestTimeoutS: optional(PositiveNumber, "request_timeout_s"),
  streamIdleTimeoutS: optional(PositiveNumber, "stream_idle_timeout_s"),
  circuitBreaker: section(CircuitBreaker, "circuit_breaker")
}).annotations({ description: "a mapping" })

/** A fraction of a limit at which an alert is published. */
const Fraction = Schema.Number.pipe(Schema.finite(), Schema.positive(), Schema.lessThanOrEqualTo(1)).annotations({
  description: "a fraction in (0, 1]"
})

/** The limits of one scope (`per_model.<alias>`, `per_tag.<key>`), USD per window; 0 means none. */
const ScopeLimits = Schema.Struct({
  daily: optional(NonNegativeNumber, "daily"),
  weekly: optional(NonNegativeNumber, "weekly"),
  monthly: optional(NonNegativeNumber, "monthly")
}).annotations({ description: "a mapping { daily, weekly, monthly }" })

/** `per_model` / `per_tag`: its keys are checked once models are known (aliases) or by the tag rules. */
const ScopeTable = (what: string) =>
  Schema.Record({ key: Schema.String, value: ScopeLimits }).annotations({ description: `a mapping of ${what}` })

const Budget = Schema.Struct({
  dailySpendLimit: optional(NonNegativeNumber, "daily_spend_limit"),
  weeklySpendLimit: optional(NonNegativeNumber, "weekly_spend_limit"),
  monthlySpendLimit: optional(NonNegativeNumber, "monthly_spend_limit"),
  perModel: section(ScopeTable("model aliases to limits"), "per_model"),
  perTag: section(ScopeTable("tag keys to limits"), "per_tag"),
  alertThresholds: optional(
    Schema.Array(Fraction).annotations({ description: "a list of fractions in (0, 1]" }),
    "alert_thresholds"
  ),
  defaultMaxOutputTokens: optional(OutputCap, "default_max_output_tokens"),
  // bounded so that the ledger's arithmetic on it (twice the TTL, in ms) fits PostgreSQL's bigint
  holdTtlS: optional(
    Schema.Number.pipe(Schema.finite(), Schema.positive(), Schema.lessThanOrEqualTo(1_000_000_000)).annotations({
      description: "a positive number of seconds, at most 1,000,000,000"
    }),
    "hold_ttl_s"
  )
}).annotations({ description: "a mapping" })

const Ledger = Schema.Struct({
  backend: optional(
    Schema.Literal("sqlite", "memory", "postgres").annotations({ description: "one of sqlite, memory, postgres" }),
    "backend"
  ),
  path: optional(NonEmptyString, "path"),
  // Parsed as a PostgreSQL URL once the backend is known (it is only read for postgres).
  // A string (from a file, or the `config` object), or a `Redacted` the program already holds (`Config.redacted`).
  url: optional(
    Schema.Union(Schema.Redacted(NonEmptyString), Schema.RedactedFromSelf(NonEmptyString)).annotations({
      description: "a connection URL"
    }),
    "url"
  ),
  maxEvents: optional(PositiveInt, "max_events"),
  durability: optional(
    Schema.Literal("full", "normal").annotations({ description: "one of full, normal" }),
    "durability"
  )
}).annotations({ description: "a mapping" })

const Observability = Schema.Struct({
  recordContent: optional(Flag, "record_content")
}).annotations({ description: "a mapping" })

/** The schema of one source. */
export const ConfigFile = Schema.Struct({
  defaultModel: optional(NonEmptyString.annotations({ description: "a model alias" }), "default_model"),
  providers: section(
    Schema.Record({ key: Schema.String, value: Provider }).annotations({ description: "a mapping of providers" }),
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

const describe = (ast: AST.Annotated): string | undefined => Option.getOrUndefined(AST.getDescriptionAnnotation(ast))

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
      return {
        path,
        kind: "invalid",
        expected: expected ?? describe(issue.ast) ?? String(issue.ast),
        actual: issue.actual,
        knownKeys
      }
  }
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
        detail: `expected ${problem.expected ?? "a value"}, got ${
          showActual(problem.actual, sensitivityOf(problem.path))
        }`
      })
  }
}

const decodeFile = Schema.decodeUnknown(ConfigFile, { onExcessProperty: "error" })

/** The file's shape under its YAML keys: where a `${VAR}` setting expects a number or a boolean. */
const encodedAst = ConfigFile.ast

/**
 * Interpolates and decodes one source. `origin` is the file's display name (undefined for the
 * `config` option); it prefixes every error message.
 */
export const decodeSource = (
  raw: unknown,
  env: Env,
  origin: string | undefined
): Effect.Effect<ConfigFile, ConfigError> =>
  interpolate(raw ?? {}, env, origin, (path) => scalarAt(encodedAst, path)).pipe(
    Effect.flatMap((value) => decodeFile(value).pipe(Effect.mapError((error) => fromParseIssue(error.issue, origin))))
  )
