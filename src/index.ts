/**
 * effect-llm: call LLM providers (Gemini, DashScope, OpenAI-compatible services, Anthropic) from
 * Effect programs through one typed interface, with retries, rate-limit waits, circuit breakers,
 * streaming and a spend ledger.
 */
export { BatchStoppedError, runBatch } from "./batch/Batch.js"
export type { BatchFailure, BatchItem, BatchOptions, BatchResult, BatchStopOn, BatchSuccess } from "./batch/Batch.js"
export { currentCallContext, withCallContext } from "./call/CallContext.js"
export type { CallContext } from "./call/CallContext.js"
export { BudgetAlert } from "./domain/BudgetAlert.js"
export type * from "./domain/Config.js"
export {
  BudgetExceededError,
  BudgetWindow,
  CircuitOpenError,
  ConfigError,
  FatalError,
  FatalReason,
  isRetryable,
  LedgerError,
  LimitKind,
  LLMError,
  RateLimitError,
  RateLimitReason,
  RetryableError,
  RetryableReason
} from "./domain/Errors.js"
export { FinishReason } from "./domain/FinishReason.js"
export { GenerationResponse, Timing } from "./domain/GenerationResponse.js"
export { LedgerEvent } from "./domain/LedgerEvent.js"
export type { LedgerQuery, SummaryGroupBy, SummaryRow } from "./domain/LedgerEvent.js"
export type {
  AssistantPart,
  CallRequest,
  FileData,
  FilePart,
  JsonResponseFormat,
  JsonSchema,
  Message as CallMessage,
  Part,
  ProviderMetadata,
  ReasoningPart,
  TextPart,
  ToolCallPart,
  ToolChoice,
  ToolDefinition,
  ToolResultPart,
  UserPart
} from "./domain/Prompt.js"
export type { ContentPart, GenerateRequest, Message } from "./domain/Request.js"
export { StreamEvent } from "./domain/StreamEvent.js"
export { TokenUsage } from "./domain/TokenUsage.js"
export type { UsageCounts } from "./domain/TokenUsage.js"
export * as Layers from "./layers/Layers.js"
/** effect-llm's metrics (Effect `Metric`) and span attribute names, for exporters and dashboards. */
export * as Telemetry from "./internal/Telemetry.js"
export { disposeLiveLayer, LiveLayer, makeLiveLayer } from "./layers/Live.js"
export type { LiveLayerOptions, LiveServices } from "./layers/Live.js"
export type {
  IdleTimeout,
  Protocol,
  ProviderAnswer,
  ProviderClient,
  ProviderTarget,
  StreamPart
} from "./providers/Provider.js"
export { CircuitBreaker } from "./services/CircuitBreaker.js"
export type {
  Admission as BreakerAdmission,
  AttemptOutcome,
  BreakerState,
  EndpointBreaker
} from "./services/CircuitBreaker.js"
export type { LoadOptions } from "./services/config/Sources.js"
export { Ledger } from "./services/Ledger.js"
export type {
  Admission as RateLimitAdmission,
  AdmitRequest,
  BudgetLimit,
  Hold,
  HoldRequest,
  LedgerOptions,
  LimitUse,
  MemoryLedgerOptions,
  PostgresLedgerOptions,
  RaiseRequest,
  Refusal,
  Settlement,
  Slot,
  SqliteLedgerOptions,
  SummaryQuery,
  WindowUse
} from "./services/Ledger.js"
export { generate, LLMClient, stream } from "./services/LLMClient.js"
export type { Generate } from "./services/LLMClient.js"
export { LLMConfig } from "./services/LLMConfig.js"
export { Providers } from "./services/Providers.js"
// The test helpers (API.md §5), also at `effect-llm/testing` with the embedded simulator.
export { layerMemoryLedger, makeMockProviders, makeTestLayer, testConfig } from "./layers/Test.js"
export type {
  MockAnswer,
  MockCall,
  MockProviders,
  MockReply,
  MockScript,
  MockToolCall,
  TestLayerOptions
} from "./layers/Test.js"
