/**
 * A request the planner refuses is a typed `FatalError` `invalid_request` whatever it is (`null`
 * included), writes nothing, and never quotes a configured key the caller passed in the wrong field
 * (API.md §14: every configured secret is removed from every string effect-llm produces).
 */
import { assert, describe, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Stream from "effect/Stream"
import { makeMockProviders, makeTestLayer, testConfig } from "../../src/layers/Test.js"
import { Ledger } from "../../src/services/Ledger.js"
import { generate, stream } from "../../src/services/LLMClient.js"

const key = "sk-LEAKCHECK-123456"
const config = {
  ...testConfig,
  providers: { ...testConfig.providers, google: { ...testConfig.providers.google, api_key: key } }
}

const refusal = (exit: Exit.Exit<unknown, unknown>) => {
  assert.isTrue(Exit.isFailure(exit))
  const cause = (exit as Exit.Failure<unknown, unknown>).cause
  assert.deepStrictEqual([...Cause.defects(cause)], [])
  return [...Cause.failures(cause)][0] as { _tag: string; reason: string; message: string }
}

describe("a refused request", () => {
  for (const request of [null, undefined]) {
    it.effect(`a ${request} request is FatalError invalid_request, not a defect, and writes nothing`, () =>
      Effect.gen(function*() {
        const g = refusal(yield* Effect.exit(generate(request as never)))
        assert.strictEqual(g._tag, "FatalError")
        assert.strictEqual(g.reason, "invalid_request")
        const s = refusal(yield* Effect.exit(Stream.runDrain(stream(request as never))))
        assert.strictEqual(s._tag, "FatalError")
        assert.deepStrictEqual(yield* (yield* Ledger).events(), [])
      }).pipe(Effect.provide(makeTestLayer({ config, providers: makeMockProviders({ replies: [] }) }))))
  }

  for (
    const [name, request] of [
      ["model", { prompt: "x", model: key }],
      ["temperature", { prompt: "x", temperature: key }],
      ["messages", { messages: key }],
      ["an image url", { messages: [{ role: "user", content: [{ type: "image", url: `ftp://${key}` }] }] }]
    ] as const
  ) {
    it.effect(`a configured key passed as the request's ${name} is not quoted in the refusal`, () =>
      Effect.gen(function*() {
        const g = refusal(yield* Effect.exit(generate(request as never)))
        assert.strictEqual(g.reason, "invalid_request")
        assert.notInclude(g.message, key)
        assert.include(g.message, "<redacted>")
        const s = refusal(yield* Effect.exit(Stream.runDrain(stream(request as never))))
        assert.notInclude(s.message, key)
      }).pipe(Effect.provide(makeTestLayer({ config, providers: makeMockProviders({ replies: [] }) }))))
  }
})
