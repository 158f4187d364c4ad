/**
 * The facts a tour step demonstrates, as plain JSON-able records: the attempts the simulator saw,
 * the waits the library decided (its Debug retry and slot lines), breaker states, who answered. The human
 * tour prints them; `--json` emits them (one line per step, see `Run.ts`).
 */
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import { CircuitBreaker, type GenerationResponse, type LedgerEvent } from "../index.js"
import type * as Simulator from "../simulator/Simulator.js"
import type { LogFact } from "./Print.js"

/** One HTTP attempt as the simulator saw it. */
export interface AttemptFact {
  readonly endpoint: string
  /** The HTTP status sent (0: no answer, e.g. a hang or a reset). */
  readonly status: number
  /** Milliseconds after the first attempt of the step (the simulator's clock). */
  readonly at: number
  /** A stream request. */
  readonly stream: boolean
}

/** The attempts the simulator saw after request number `since` (0: all it has logged). */
export const attemptsOf = (sim: Simulator.Simulator, since = 0): Array<AttemptFact> => {
  const seen = sim.log().filter((request) => request.seq > since)
  const first = seen[0]?.timestamp ?? 0
  return seen.map((request) => ({
    endpoint: request.endpoint,
    status: request.status,
    at: request.timestamp - first,
    stream: request.stream
  }))
}

/** The sequence number of the last request the simulator saw (0: none). */
export const lastSeq = (sim: Simulator.Simulator): number => sim.log().at(-1)?.seq ?? 0

/** One wait the library decided (from its Debug line): before a retry, or for a rate-limit slot. */
export interface WaitFact {
  /** The endpoint whose attempt failed, or whose slot was waited for. */
  readonly endpoint: string
  /**
   * The failure's tag and reason (`RetryableError` `server_error`, `RateLimitError` `rate_limited`, …);
   * a slot wait is `RateLimitError` `local_limit`, the error the limiter gives when it does not wait.
   */
  readonly error: string
  readonly reason: string
  /** A slot wait: the limit that was full (`rpm`, `tpm`, `rpd`, or `server` for a learned pause). */
  readonly limitKind?: string
  /** The delay slept before the next attempt. */
  readonly ms: number
}

/** The waits among a step's log lines: retries' and rate-limit slots'. */
export const waitsOf = (logs: ReadonlyArray<LogFact>): Array<WaitFact> =>
  logs.flatMap((log): Array<WaitFact> => {
    const { delayMs, endpoint, error, limitKind, reason } = log.annotations
    if (typeof delayMs !== "number") return []
    const ms = Math.round(delayMs)
    if (log.message.startsWith("retrying")) {
      return [{ endpoint: String(endpoint), error: String(error), reason: String(reason), ms }]
    }
    return log.message.startsWith("waiting") && typeof limitKind === "string"
      ? [{ endpoint: String(endpoint), error: "RateLimitError", reason: "local_limit", limitKind, ms }]
      : []
  })

/** One endpoint's breaker. */
export interface BreakerFact {
  readonly endpoint: string
  readonly state: "closed" | "open" | "half_open"
  readonly failures: number
  /** An open breaker: milliseconds until it lets a probe through. */
  readonly probeInMs?: number
}

/** Every known breaker, in the order of `order` (endpoints not in it last, by name). */
export const breakersOf = (order: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    const breakers = yield* CircuitBreaker
    const now = yield* Clock.currentTimeMillis
    const rank = (endpoint: string) => {
      const at = order.indexOf(endpoint)
      return at < 0 ? order.length : at
    }
    return [...(yield* breakers.states())]
      .sort((a, b) => rank(a.endpoint) - rank(b.endpoint) || a.endpoint.localeCompare(b.endpoint))
      .map((b): BreakerFact => ({
        endpoint: b.endpoint,
        state: b.state,
        failures: b.failures,
        ...(b.reopensAt === undefined ? {} : { probeInMs: Math.max(0, b.reopensAt - now) })
      }))
  })

/** Who answered a call and what it cost. */
export interface ResponseFact {
  readonly alias: string
  readonly model: string
  readonly provider: string
  readonly endpoint: string
  readonly attempts: number
  readonly usage: { readonly inputTokens: number; readonly outputTokens: number; readonly totalTokens: number }
  readonly cost: number
  readonly finishReason: string
  readonly totalMs: number
  readonly ttftMs?: number
  readonly traceId: string
  readonly requestId?: string
}

/** The facts of a `GenerationResponse` (its text left out: steps that show it add it). */
export const responseOf = (r: GenerationResponse): ResponseFact => ({
  alias: r.alias,
  model: r.model,
  provider: r.provider,
  endpoint: r.endpoint,
  attempts: r.attempts,
  usage: { inputTokens: r.usage.inputTokens, outputTokens: r.usage.outputTokens, totalTokens: r.usage.totalTokens },
  cost: r.cost,
  finishReason: r.finishReason,
  totalMs: r.timing.totalMs,
  ...(r.timing.ttftMs === undefined ? {} : { ttftMs: r.timing.ttftMs }),
  traceId: r.traceId,
  ...(r.requestId === undefined ? {} : { requestId: r.requestId })
})

/** One ledger event, as a fact. */
export interface LedgerEventFact {
  readonly type: "hold" | "commit" | "cancel"
  readonly status: "ok" | "error" | "cancelled"
  readonly traceId: string
  readonly alias?: string
  readonly model: string
  readonly endpoint?: string
  readonly attempts?: number
  readonly usage?: { readonly inputTokens: number; readonly outputTokens: number; readonly totalTokens: number }
  readonly cost: number
  readonly timestamp: number
}

/** The facts of a ledger event. */
export const ledgerEventOf = (e: LedgerEvent): LedgerEventFact => ({
  type: e.type,
  status: e.status,
  traceId: e.traceId,
  ...(e.alias === undefined ? {} : { alias: e.alias }),
  model: e.model,
  ...(e.endpoint === undefined ? {} : { endpoint: e.endpoint }),
  ...(e.attempts === undefined ? {} : { attempts: e.attempts }),
  ...(e.usage === undefined
    ? {}
    : {
      usage: { inputTokens: e.usage.inputTokens, outputTokens: e.usage.outputTokens, totalTokens: e.usage.totalTokens }
    }),
  cost: e.cost,
  timestamp: e.timestamp
})
