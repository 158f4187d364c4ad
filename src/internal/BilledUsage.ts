/**
 * The usage a failed answer still reported (an undecodable 200 whose `usage` reads, an OpenAI-compatible
 * error body beside usage): the provider billed it, so the call is priced by it. Kept beside the error,
 * not on it — an `LLMError`'s fields are the contract's — and carried onto a scrubbed copy (`Scrub`).
 */
import { plausible, type UsageCounts } from "../domain/TokenUsage.js"

const billedUsage = new WeakMap<object, UsageCounts>()

/** `error`, with the usage the failed answer still reported (it was billed) kept beside it. */
export const withBilledUsage = <E extends object>(error: E, billed: UsageCounts | undefined): E => {
  if (billed !== undefined) billedUsage.set(error, billed)
  return error
}

/** The usage `error` (a failed answer) reported, if any. */
export const billedUsageOf = (error: unknown): UsageCounts | undefined =>
  typeof error === "object" && error !== null ? billedUsage.get(error) : undefined

/** What `error` (a failed answer) reported when it is a report a service could make (`plausible`). */
export const billedReportOf = (error: unknown): UsageCounts | undefined => {
  const reported = billedUsageOf(error)
  return reported === undefined ? undefined : plausible(reported)
}
