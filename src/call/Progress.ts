/**
 * What one call has done so far, as its settlement and its response report it: the attempts made and
 * where the last one went (written by `Attempts`), the usage and first-token time a stream has seen
 * and text bytes a stream has seen (written by `Streaming`). Read by `Metering` when it settles the call, however the call ends.
 */
import type { UsageCounts } from "../domain/TokenUsage.js"
import type { Slot } from "../services/Ledger.js"
import type { Route } from "../services/Router.js"

/** The progress of one call. */
export class CallProgress {
  private attemptCount = 0
  private lastRoute: Route | undefined
  private seenUsage: UsageCounts | undefined
  private outputReported = false
  private firstTokenMs: number | undefined
  private outputBytes = 0
  private bytesSinceUsage = 0
  private openSlot: Slot | undefined
  /** Whether a rate-limit wait was cut by its endpoint's breaker opening (the call routed again after it). */
  private rerouteAfterWait = false

  constructor(
    /** Epoch ms the call started (from `Clock`). */
    readonly startedAt: number
  ) {}

  /**
   * Records an attempt about to be sent to `route`. What an earlier attempt reported (a stream's usage
   * before it was cut) is its own, charged on its own model when it failed; this one is priced by what
   * it reports.
   */
  attempt(route: Route): void {
    this.attemptCount += 1
    this.lastRoute = route
    this.charged()
  }

  /**
   * Forgets what the current attempt reported and received: it failed and was charged to the call
   * (`Metering.chargeFailed`), so the settlement does not price it again.
   */
  charged(): void {
    this.seenUsage = undefined
    this.outputReported = false
    this.outputBytes = 0
    this.bytesSinceUsage = 0
  }

  /** Records that the call waited for a rate-limit slot and was routed again (that endpoint's breaker opened). */
  reroutedAfterWait(): void {
    this.rerouteAfterWait = true
  }

  /** Whether a rate-limit wait of this call ended in a reroute (time of its retry budget spent unsent). */
  get wasReroutedAfterWait(): boolean {
    return this.rerouteAfterWait
  }

  /** Records the rate-limit slot of the attempt about to be sent (written by `Admission`). */
  admitted(slot: Slot): void {
    this.openSlot = slot
  }

  /** The open attempt's slot, once: whoever takes it releases it. */
  takeSlot(): Slot | undefined {
    const slot = this.openSlot
    this.openSlot = undefined
    return slot
  }

  /** Records the latest cumulative usage a stream reported. */
  observeUsage(usage: UsageCounts): void {
    this.seenUsage = usage
    this.outputReported = true
    this.bytesSinceUsage = 0
  }

  /**
   * Records a snapshot that counts the input only (a `Usage` part's `inputOnly`), until the output is
   * reported: every byte streamed stays unreported, so the output is still settled at its bound.
   */
  observeInput(usage: UsageCounts): void {
    if (!this.outputReported) this.seenUsage = usage
  }

  /** Records a streamed delta's text (its UTF-8 bytes bound the output tokens a provider can bill for it). */
  observeOutput(text: string): void {
    this.observeOutputBytes(Buffer.byteLength(text, "utf8"))
  }

  /** Records output received that no delta carries (a tool call's fragments when its stream ended before the call was whole). */
  observeOutputBytes(bytes: number): void {
    this.outputBytes += bytes
    this.bytesSinceUsage += bytes
  }

  /** UTF-8 bytes of the text and reasoning deltas streamed so far. */
  get streamedBytes(): number {
    return this.outputBytes
  }

  /** UTF-8 bytes streamed after the latest usage report (text the provider has not counted yet). */
  get unreportedBytes(): number {
    return this.bytesSinceUsage
  }

  /** Records the time of the first streamed delta (once). */
  firstToken(now: number): void {
    if (this.firstTokenMs === undefined) this.firstTokenMs = now - this.startedAt
  }

  get attempts(): number {
    return this.attemptCount
  }

  /** Where the last attempt went (the answering candidate once the call succeeded). */
  get route(): Route | undefined {
    return this.lastRoute
  }

  get usage(): UsageCounts | undefined {
    return this.seenUsage
  }

  /** Whether the stream's only report counts its input (`observeInput`), none its output. */
  get inputOnly(): boolean {
    return this.seenUsage !== undefined && !this.outputReported
  }

  get ttftMs(): number | undefined {
    return this.firstTokenMs
  }

  /** `{ ttftMs?, totalMs }` at `now`. */
  timing(now: number): { readonly ttftMs?: number; readonly totalMs: number } {
    return this.firstTokenMs === undefined
      ? { totalMs: now - this.startedAt }
      : { ttftMs: this.firstTokenMs, totalMs: now - this.startedAt }
  }
}
