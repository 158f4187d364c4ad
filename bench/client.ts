import type { ProtocolName } from "./protocols.js"

/**
 * What every benchmarked client implements, so that the workloads (bench/worker.ts) drive the
 * hand-written baseline and each effect-llm form through the same calls and the same checks.
 */

/** Where the simulated endpoint is and how to reach it. */
export interface ClientOptions {
  /** The wire format (bench/protocols.ts). */
  readonly protocol: ProtocolName
  /** Base URL of the simulated endpoint (`http://127.0.0.1:PORT/bench`). */
  readonly url: string
  readonly apiKey: string
  readonly modelId: string
  /** `dist` (the built package) or `src` (the sources, run through tsx). */
  readonly lib: "dist" | "src"
  /** The repository root (the package is imported from `<root>/dist` or `<root>/src`). */
  readonly root: string
  /** A scratch directory of this process (SQLite ledger file, config files). */
  readonly dir: string
}

/** What one consumed stream delivered. */
export interface StreamResult {
  /** Text deltas received (the finish event is not counted). */
  readonly events: number
  /** Characters of text received. */
  readonly chars: number
  /** The provider's finish signal was seen (effect-llm: the finish event arrived). */
  readonly finished: boolean
  /** Milliseconds from the call to its first non-empty delta. */
  readonly ttftMs: number
}

/** One benchmarked client. */
export interface BenchClient {
  /** One call; resolves with the answer's text. */
  readonly call: (prompt: string) => Promise<string>
  /** Concurrent calls, all in flight at once. */
  readonly calls: (prompts: ReadonlyArray<string>) => Promise<ReadonlyArray<string>>
  /** One stream, consumed to its end. */
  readonly stream: (prompt: string) => Promise<StreamResult>
  /** Concurrent streams, all in flight at once. */
  readonly streams: (prompts: ReadonlyArray<string>) => Promise<ReadonlyArray<StreamResult>>
  readonly close: () => Promise<void>
}

/** The clients of the bench. */
export const clientNames = [
  "baseline",
  "effect-memory",
  "effect-sqlite",
  "effect-percall",
  "peer",
  "effect-plain"
] as const
export type ClientName = (typeof clientNames)[number]

/** The package root module, from the built `dist/` or from `src/`. */
export const packageEntry = (options: Pick<ClientOptions, "lib" | "root">, name: "index" | "testing"): string =>
  new URL(options.lib === "dist" ? `dist/${name}.js` : `src/${name}.ts`, `file://${options.root.replace(/\/?$/, "/")}`)
    .href

/** The workloads of the bench. */
export const workloadNames = ["W1", "W2", "W3", "W4", "TTFT", "W5"] as const
export type WorkloadName = (typeof workloadNames)[number]
