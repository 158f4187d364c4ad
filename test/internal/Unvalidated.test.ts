import { assert, describe, it } from "@effect/vitest"
import * as Equal from "effect/Equal"
import * as Schema from "effect/Schema"
import type { Plan } from "../../src/call/Plan.js"
import { settledResponse } from "../../src/call/Response.js"
import { deltaEvent } from "../../src/call/Streaming.js"
import { GenerationResponse } from "../../src/domain/GenerationResponse.js"
import { LedgerEvent } from "../../src/domain/LedgerEvent.js"
import { StreamEvent } from "../../src/domain/StreamEvent.js"
import { TokenUsage } from "../../src/domain/TokenUsage.js"
import { unvalidated } from "../../src/internal/Unvalidated.js"
import type { Hold } from "../../src/services/Ledger.js"
import { settlementEvent } from "../../src/services/ledger/Events.js"
import type { Route } from "../../src/services/Router.js"

const usage = { inputTokens: 10, outputTokens: 256, totalTokens: 266, reasoningTokens: 4 }
const response = {
  content: "hello",
  model: "gemini-2.5-flash",
  alias: "fast",
  provider: "google",
  endpoint: "primary",
  usage: new TokenUsage(usage),
  cost: 0.00064,
  finishReason: "stop" as const,
  traceId: "t-1",
  timing: { totalMs: 12 },
  attempts: 1
}
const event = {
  id: "e-2",
  type: "commit" as const,
  holdId: "e-1",
  traceId: "t-1",
  provider: "google",
  model: "gemini-2.5-flash",
  alias: undefined,
  tags: { user: "u-42" },
  usage: new TokenUsage(usage),
  cost: 0.00064,
  status: "ok" as const,
  attempts: 1,
  timing: { totalMs: 12 },
  timestamp: 1_764_633_600_000
}

/** What the records on the call path must keep: built without the constructor, they are what it builds. */
const sameAsConstructed = <C extends new(fields: any, options?: any) => any>(
  Class: C & Schema.Schema<InstanceType<C>, any>,
  fields: ConstructorParameters<C>[0],
  built: InstanceType<C> = unvalidated(Class, fields)
) => {
  // what the call path built before (`new Class(fields, true)`): equal, nested values shared
  assert.isTrue(Equal.equals(built, new Class(fields, true)))
  // and what validation builds (its nested structs are copies): same fields, so no default was missed
  const validated = new Class(fields)
  assert.instanceOf(built, Class)
  assert.deepStrictEqual(Object.keys(built), Object.keys(validated))
  assert.deepStrictEqual(Schema.encodeSync(Class)(built), Schema.encodeSync(Class)(validated))
  assert.strictEqual(String(built), String(validated))
}

describe("unvalidated", () => {
  it("builds the call path's records as their constructors do (same fields, prototype, equality, encoding)", () => {
    sameAsConstructed(TokenUsage, usage)
    sameAsConstructed(GenerationResponse, response)
    sameAsConstructed(LedgerEvent, event)
    sameAsConstructed(StreamEvent, { delta: "hi", isFinish: false })
    sameAsConstructed(StreamEvent, {
      delta: "",
      isFinish: true,
      usage: response.usage,
      finishReason: "stop",
      response: new GenerationResponse(response)
    })
  })

  it("builds a stream's delta events as the constructor does", () => {
    sameAsConstructed(StreamEvent, { delta: "hi", isFinish: false }, deltaEvent("hi"))
    sameAsConstructed(StreamEvent, { delta: "", isFinish: false }, deltaEvent(""))
    assert.isFalse(Equal.equals(deltaEvent("hi"), new StreamEvent({ delta: "ho", isFinish: false })))
  })

  it("is not equal to a record with other fields (the check above can fail)", () => {
    assert.isFalse(Equal.equals(unvalidated(TokenUsage, usage), new TokenUsage({ ...usage, outputTokens: 257 })))
  })
  it("builds a settled call's record and its ledger settlement as their constructors do, optional fields or not", () => {
    const route = {
      model: { modelId: "gemini-2.5-flash", alias: "fast", provider: "google" },
      endpoint: { name: "primary" }
    } as unknown as Route
    const plan = { traceId: "t-1" } as Plan
    const settled = { usage: response.usage, cost: response.cost, timing: response.timing }
    const plain = { content: "hello", reasoning: undefined, finishReason: "stop" as const, requestId: undefined }
    sameAsConstructed(GenerationResponse, response, settledResponse(plan, route, settled, 1, plain))
    sameAsConstructed(
      GenerationResponse,
      { ...response, reasoning: "think", requestId: "req-9" },
      settledResponse(plan, route, settled, 1, { ...plain, reasoning: "think", requestId: "req-9" })
    )

    const hold = {
      id: "e-1",
      traceId: "t-1",
      provider: "google",
      model: "gemini-2.5-flash",
      alias: undefined,
      tags: { user: "u-42" },
      estimate: 0.01,
      timestamp: 1
    } as unknown as Hold
    const committed = settlementEvent(
      hold,
      { cost: event.cost, usage: event.usage, attempts: 1, timing: event.timing },
      "commit",
      "ok",
      "e-2",
      event.timestamp
    )
    // the hold's tags are copied into the record (equal, not shared), so compare with the record's own
    sameAsConstructed(LedgerEvent, { ...event, tags: committed.tags }, committed)
    assert.deepStrictEqual(committed.tags, { user: "u-42" })
    assert.notStrictEqual(committed.tags, hold.tags)
    const cancelled = settlementEvent(
      { ...hold, tags: undefined },
      { cost: 0, endpoint: "primary", error: { tag: "RetryableError", message: "POST /v1?key=AIzaSecret123 refused" } },
      "cancel",
      "error",
      "e-3",
      event.timestamp
    )
    sameAsConstructed(LedgerEvent, {
      id: "e-3",
      type: "cancel",
      holdId: "e-1",
      traceId: "t-1",
      provider: "google",
      model: "gemini-2.5-flash",
      alias: undefined,
      endpoint: "primary",
      cost: 0,
      status: "error",
      error: cancelled.error,
      timestamp: event.timestamp
    }, cancelled)
    assert.deepStrictEqual(cancelled.error, { tag: "RetryableError", message: "POST /v1?key=<redacted> refused" })
  })
})
