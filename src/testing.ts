/**
 * `effect-llm/testing`: the helpers this package tests itself with, for testing your own programs.
 */
export { layerMemoryLedger, makeMockProviders, makeTestLayer, testConfig } from "./layers/Test.js"
export type { MockCall, MockProviders, MockReply, MockScript, TestLayerOptions } from "./layers/Test.js"
export { layerMemory, makeMemory } from "./services/Ledger.js"
export * as Simulator from "./simulator/Simulator.js"
export type { SimulatorStep } from "./simulator/Simulator.js"
