/**
 * The hold of one call as metering keeps it: raised in place when a fallback is used, and settled
 * exactly once (`Metering` is its only writer).
 */
import type * as Effect from "effect/Effect"
import type { UsageCounts } from "../domain/TokenUsage.js"
import type { Hold } from "../services/Ledger.js"
import type { Plan } from "./Plan.js"
import type { CallProgress } from "./Progress.js"

/** The hold of one call (raised in place when a fallback is used) and whether it was settled. */
export class Meter {
  private current: Hold
  private done = false
  private chargedCost = 0
  private lastCharged: { readonly usage: UsageCounts; readonly failure: unknown } | undefined
  /** When the hold was made or last renewed (`Renewal.keepRenewed`). */
  renewedAt: number
  /**
   * Orders a raise and a renewal of the hold once a renewer runs beside the call: a renewal restates
   * the hold's estimate, and must not restate the one a raise is replacing after the raise's row.
   */
  writes: Effect.Semaphore | undefined = undefined

  constructor(readonly plan: Plan, readonly progress: CallProgress, hold: Hold) {
    this.current = hold
    this.renewedAt = hold.timestamp
  }

  /** The hold as it stands (its estimate grows with a raise). */
  get hold(): Hold {
    return this.current
  }

  /** True once the call was committed or cancelled. */
  get settled(): boolean {
    return this.done
  }

  /**
   * USD the call's earlier attempts were billed (a stream cut after its usage report, an undecodable
   * answer that reported usage), each priced on its own model: added to the settlement.
   */
  get charged(): number {
    return this.chargedCost
  }

  /** The usage of the last attempt charged, for a settlement no later attempt reported to. */
  get lastChargedUsage(): UsageCounts | undefined {
    return this.lastCharged?.usage
  }

  /** Whether `failure` (an attempt's error) was charged already: its billed usage is not priced again. */
  wasCharged(failure: unknown): boolean {
    return failure !== undefined && this.lastCharged?.failure === failure
  }

  /** Metering's own: adds a failed attempt's billed cost, with its usage and its error. */
  charge(cost: number, usage: UsageCounts, failure: unknown): void {
    this.chargedCost += cost
    this.lastCharged = { usage, failure }
  }

  /** Metering's own: the hold after a raise. */
  raised(hold: Hold): void {
    this.current = hold
  }

  /** Metering's own: marks the call settled (returns false when it already was). */
  settle(): boolean {
    if (this.done) return false
    this.done = true
    return true
  }
}

/** What a committed call cost, and when. */
