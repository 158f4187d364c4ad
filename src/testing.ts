/**
 * `effect-llm/testing`: the helpers this package tests itself with, for testing your own programs,
 * and the error classes a scripted reply fails with (the same classes as the package root's).
 */
export {
  BudgetExceededError,
  CircuitOpenError,
  ConfigError,
  FatalError,
  LedgerError,
  LLMError,
  RateLimitError,
  RetryableError
} from "./domain/Errors.js"
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
export { layerMemory, makeMemory } from "./services/Ledger.js"
export * as Simulator from "./simulator/Simulator.js"
export type { ScriptedToolCall, SimulatorStep } from "./simulator/Simulator.js"
