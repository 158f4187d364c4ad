/**
 * The decoded configuration (API.md §4), camelCase. YAML `snake_case` keys map one to one
 * (`base_delay_s` → `baseDelayS`); values keep the units their YAML keys name.
 */
import type * as Redacted from "effect/Redacted"

/** The wire protocols effect-llm speaks; a provider's key in `providers` names its protocol. */
export type ProviderName = "google" | "dashscope"

/** One endpoint of a provider: `baseUrl` is the host; the provider adds the path. */
export interface EndpointConfig {
  readonly name: string
  readonly baseUrl: string
  readonly region: string | undefined
}

/**
 * An API key as configured: `Present` (already `Redacted`), or `Missing` — no value and the
 * `${VAR}` it named (if any) unset. A missing key is a `ConfigError` only when the provider is used.
 */
export type ApiKeySource =
  | { readonly _tag: "Present"; readonly value: Redacted.Redacted<string> }
  | { readonly _tag: "Missing"; readonly variable: string | undefined }

/** A provider with its key and its endpoints, already filtered by `allowed_regions`, in config order. */
export interface ProviderConfig {
  readonly name: ProviderName
  readonly apiKey: ApiKeySource
  readonly endpoints: ReadonlyArray<EndpointConfig>
}

/** USD per million tokens. */
export interface Pricing {
  readonly inputPer1m: number
  readonly outputPer1m: number
}

/** A model alias. */
export interface ModelConfig {
  readonly alias: string
  readonly provider: ProviderName
  readonly modelId: string
  readonly pricing: Pricing | undefined
  readonly fallbacks: ReadonlyArray<string>
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

export interface BudgetConfig {
  /** USD per UTC day; 0 means no limit. */
  readonly dailySpendLimit: number
  readonly defaultMaxOutputTokens: number
  readonly holdTtlS: number
}

export type LedgerConfig =
  | { readonly backend: "sqlite"; readonly path: string }
  | { readonly backend: "memory" }
  | { readonly backend: "postgres"; readonly url: Redacted.Redacted<string> | undefined }

export interface ObservabilityConfig {
  readonly recordContent: boolean
}

/** The whole, merged, validated configuration. */
export interface ResolvedConfig {
  readonly defaultModel: string
  readonly providers: Readonly<Partial<Record<ProviderName, ProviderConfig>>>
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
  budget: { dailySpendLimit: 1.0, defaultMaxOutputTokens: 1024, holdTtlS: 900 },
  ledger: { backend: "sqlite", path: ".effect-llm/ledger.db" },
  observability: { recordContent: false }
} as const satisfies {
  resilience: ResilienceConfig
  budget: BudgetConfig
  ledger: LedgerConfig
  observability: ObservabilityConfig
}
