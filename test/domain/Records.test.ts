/**
 * The records are `Schema.Class`es: an Effect user compares them with `Equal.equals` and keeps them in
 * a `HashSet`, so a record equals its JSON round trip and an equal copy, nested structs (`timing`,
 * `tags`, `error`) included, and their hashes agree.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Equal from "effect/Equal"
import * as Hash from "effect/Hash"
import * as HashSet from "effect/HashSet"
import * as Schema from "effect/Schema"
import { GenerationResponse, LedgerEvent, TokenUsage } from "../../src/index.js"

const response = (totalMs: number) =>
  new GenerationResponse(
    {
      content: "hi",
      model: "gemini-2.5-flash",
      alias: "gemini-flash",
      provider: "google",
      endpoint: "g",
      traceId: "t",
      usage: new TokenUsage({ inputTokens: 1, outputTokens: 2, totalTokens: 3 }),
      cost: 0.001,
      finishReason: "stop",
      attempts: 1,
      timing: { totalMs }
    }
  )

const roundTrip = <A, I>(schema: Schema.Schema<A, I>, value: A) =>
  Effect.flatMap(Schema.encode(schema)(value), (json) => Schema.decodeUnknown(schema)(JSON.parse(JSON.stringify(json))))

describe("records compare by value", () => {
  it.effect("a GenerationResponse equals its JSON round trip and an equal copy; a different timing does not", () =>
    Effect.gen(function*() {
      const first = response(5)
      const decoded = yield* roundTrip(GenerationResponse, first)
      assert.isTrue(Equal.equals(first, decoded))
      assert.strictEqual(Hash.hash(first), Hash.hash(decoded))
      assert.isTrue(Equal.equals(first, response(5)))
      assert.isFalse(Equal.equals(first, response(6)))
      assert.strictEqual(HashSet.size(HashSet.make(first, decoded, response(5), response(6))), 2)
    }))

  it.effect("a LedgerEvent with tags and an error equals its JSON round trip", () =>
    Effect.gen(function*() {
      const event = new LedgerEvent(
        {
          id: "e1",
          type: "cancel",
          traceId: "t",
          holdId: "h",
          provider: "google",
          model: "gemini-flash",
          tags: { user: "u1" },
          cost: 0,
          status: "error",
          error: { tag: "FatalError", message: "no" },
          timestamp: 1
        } as ConstructorParameters<typeof LedgerEvent>[0]
      )
      const decoded = yield* roundTrip(LedgerEvent, event)
      assert.isTrue(Equal.equals(event, decoded))
      assert.strictEqual(Hash.hash(event), Hash.hash(decoded))
      assert.isFalse(Equal.equals(event, new LedgerEvent({ ...event, tags: { user: "u2" } })))
    }))
})
