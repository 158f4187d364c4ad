/**
 * The decoded configuration (API.md §4, §8), camelCase. YAML `snake_case` keys map one to one
 * (`base_delay_s` → `baseDelayS`); values keep the units their YAML keys name.
 */
import type * as Redacted from "effect/Redacted"
import type { ProtocolName } from "../providers/registry.js"

export type { ProtocolName }

/** Which field an `openai` endpoint carries the output cap in (WIRE-openai-anthropic §1.2). */
export type MaxTokensField = "max_tokens" | "max_completion_tokens"

/** How an `openai` endpoint takes structured output: a JSON Schema, or JSON mode with the schema in the system text. */
export type JsonMode = "json_schema" | "json_object"

/** One endpoint of a provider: `baseUrl` is what the protocol appends its path to. */
export interface EndpointConfig {
  readonly name: string
  readonly baseUrl: string
  readonly region: string | undefined
  /**
   * `openai` endpoints only (YAML `max_tokens_field`): the request field of the output cap. Absent:
   * `max_completion_tokens` for api.openai.com and Azure OpenAI, `max_tokens` for every other host.
   */
  readonly maxTokensField?: MaxTokensField | undefined
  /**
   * `openai` endpoints only (YAML `json_mode`): how structured output is asked for. Absent: `json_object`
   * for DeepSeek and DashScope's compatible mode (JSON Schema on a few qwen-plus models only), else `json_schema`.
   */
  readonly jsonMode?: JsonMode | undefined
}

/**
 * An API key as configured: `Present` (already `Redacted`), `Missing` — no value and the `${VAR}` it
 * named (if any) unset —, `Malformed` — the environment variable that gave it holds text no HTTP
 * header can carry (a line break, a character outside Latin-1) — or `None` for a protocol whose key
 * is optional (a local OpenAI-compatible server). A missing or malformed key is a `ConfigError` only
 * when the provider is used.
 */
export type ApiKeySource =
  | { readonly _tag: "Present"; readonly value: Redacted.Redacted<string> }
  | { readonly _tag: "Missing"; readonly variable: string | undefined }
  | { readonly _tag: "Malformed"; readonly variable: string }
  | { readonly _tag: "None" }

/**
 * A provider entry (any name) with its protocol, key, extra headers (secrets) and endpoints, already
 * filtered by `allowed_regions`, in config order.
 */
export interface ProviderConfig {
  readonly name: string
  readonly protocol: ProtocolName
  readonly apiKey: ApiKeySource
  /** Extra request headers; every value is treated as a secret. */
  readonly headers: ReadonlyArray<readonly [name: string, value: Redacted.Redacted<string>]>
  readonly endpoints: ReadonlyArray<EndpointConfig>
}

/** USD per million tokens. Cache prices default to `inputPer1m`. */
export interface Pricing {
  readonly inputPer1m: number
  readonly outputPer1m: number
  readonly cachedInputPer1m?: number | undefined
  readonly cacheWritePer1m?: number | undefined
}

/**
 * Rate limits of one alias (API.md §11), each a positive integer: HTTP requests in any 60 s (`rpm`),
 * tokens in any 60 s (`tpm`), requests in any 24 h (`rpd`).
 */
export interface RateLimits {
  readonly rpm?: number | undefined
  readonly tpm?: number | undefined
  readonly rpd?: number | undefined
}

/** A model alias. `provider` names a provider entry; `protocol` is that entry's. */
export interface ModelConfig {
  readonly alias: string
  readonly provider: string
  readonly protocol: ProtocolName
  readonly modelId: string
  readonly pricing: Pricing | undefined
  readonly fallbacks: ReadonlyArray<string>
  /** Its rate limits; absent when it sets none (its calls never touch the limiter's windows). */
  readonly limits?: RateLimits | undefined
}

export interface CircuitBreakerConfig {
  readonly failureThreshold: number
  readonly recoveryTimeoutS: number
}

export interface ResilienceConfig {
  readonly maxRetries: number
  readonly baseDelayS: number
  readonly maxDelayS: number
  readonly waitOnRateLimit: boolean
  readonly maxWaitTimeoutS: number
  readonly retryBudgetS: number
  readonly requestTimeoutS: number
  readonly streamIdleTimeoutS: number
  readonly circuitBreaker: CircuitBreakerConfig
}

/** The USD limits of one scope (a model alias, a tag's values), per window; absent or 0 means no limit. */
export interface ScopeLimits {
  readonly daily?: number | undefined
  readonly weekly?: number | undefined
  readonly monthly?: number | undefined
}

export interface BudgetConfig {
  /** USD per UTC day; 0 means no limit. */
  readonly dailySpendLimit: number
  /** USD per ISO week (UTC, Monday start); 0 means no limit. */
  readonly weeklySpendLimit: number
  /** USD per calendar month (UTC); 0 means no limit. */
  readonly monthlySpendLimit: number
  /** Limits per model alias (every key a configured alias). */
  readonly perModel: Readonly<Record<string, ScopeLimits>>
  /** Limits per tag key: each value of the tag is its own scope (`user: { daily: 0.1 }` caps every user). */
  readonly perTag: Readonly<Record<string, ScopeLimits>>
  /** Fractions of each limit at which a `BudgetAlert` is published, ascending, each in (0, 1]. */
  readonly alertThresholds: ReadonlyArray<number>
  readonly defaultMaxOutputTokens: number
  readonly holdTtlS: number
}

export type LedgerConfig =
  | {
    readonly backend: "sqlite"
    readonly path: string
    /** `normal` (default): a returned commit survives a process crash; `full`: also a power loss (an fsync per call). */
    readonly durability: "full" | "normal"
  }
  | { readonly backend: "memory"; readonly maxEvents: number }
  | { readonly backend: "postgres"; readonly url: Redacted.Redacted<string> }

export interface ObservabilityConfig {
  readonly recordContent: boolean
}

/** The whole, merged, validated configuration. */
export interface ResolvedConfig {
  readonly defaultModel: string
  /** By entry name, in config order. */
  readonly providers: Readonly<Record<string, ProviderConfig>>
  readonly models: Readonly<Record<string, ModelConfig>>
  readonly allowedRegions: ReadonlyArray<string> | undefined
  readonly resilience: ResilienceConfig
  readonly budget: BudgetConfig
  readonly ledger: LedgerConfig
  readonly observability: ObservabilityConfig
}

/** The defaults of API.md §4 for everything but providers and models. */
export const defaults = {
  resilience: {
    maxRetries: 3,
    baseDelayS: 1.0,
    maxDelayS: 60.0,
    waitOnRateLimit: true,
    maxWaitTimeoutS: 60,
    retryBudgetS: 90,
    requestTimeoutS: 60,
    streamIdleTimeoutS: 60,
    circuitBreaker: { failureThreshold: 5, recoveryTimeoutS: 300 }
  },
  budget: {
    dailySpendLimit: 1.0,
    weeklySpendLimit: 0,
    monthlySpendLimit: 0,
    perModel: {},
    perTag: {},
    alertThresholds: [0.8, 1.0],
    defaultMaxOutputTokens: 1024,
    holdTtlS: 900
  },
  ledger: { backend: "sqlite", path: ".effect-llm/ledger.db", durability: "normal", maxEvents: 10_000 },
  observability: { recordContent: false }
} as const
