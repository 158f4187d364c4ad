/**
 * The record of a settled call (API.md §1's `GenerationResponse`), shared by `generate` and the
 * finish event of `stream`: what the answer said, which model and endpoint gave it, and what the
 * ledger settled it at.
 */
import type { FinishReason } from "../domain/FinishReason.js"
import { GenerationResponse } from "../domain/GenerationResponse.js"
import { unvalidated } from "../internal/Unvalidated.js"
import type { Route } from "../services/Router.js"
import type { Settled } from "./Metering.js"
import type { Plan } from "./Plan.js"

/** The answer's side of the record. */
export interface Answered {
  readonly content: string
  readonly reasoning: string | undefined
  readonly finishReason: FinishReason
  readonly requestId: string | undefined
}

/** The record of a call the ledger committed (built without validation: every field is the library's own). */
export const settledResponse = (
  plan: Plan,
  route: Route,
  settled: Settled,
  attempts: number,
  answer: Answered
): GenerationResponse =>
  unvalidated(GenerationResponse, {
    content: answer.content,
    ...(answer.reasoning !== undefined ? { reasoning: answer.reasoning } : {}),
    model: route.model.modelId,
    alias: route.model.alias,
    provider: route.model.provider,
    endpoint: route.endpoint.name,
    usage: settled.usage,
    cost: settled.cost,
    finishReason: answer.finishReason,
    traceId: plan.traceId,
    ...(answer.requestId !== undefined ? { requestId: answer.requestId } : {}),
    timing: settled.timing,
    attempts
  })
