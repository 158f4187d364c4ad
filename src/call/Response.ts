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
): GenerationResponse => {
  // Field by field, in the record's order (one per call: conditional spreads copy an object each).
  const fields: { -readonly [K in keyof ResponseFields]: ResponseFields[K] } = {
    content: answer.content
  } as ResponseFields
  if (answer.reasoning !== undefined) fields.reasoning = answer.reasoning
  fields.model = route.model.modelId
  fields.alias = route.model.alias
  fields.provider = route.model.provider
  fields.endpoint = route.endpoint.name
  fields.usage = settled.usage
  fields.cost = settled.cost
  fields.finishReason = answer.finishReason
  fields.traceId = plan.traceId
  if (answer.requestId !== undefined) fields.requestId = answer.requestId
  fields.timing = settled.timing
  fields.attempts = attempts
  return unvalidated(GenerationResponse, fields)
}

/** The fields a `GenerationResponse` is made of. */
type ResponseFields = ConstructorParameters<typeof GenerationResponse>[0]
