/**
 * A stream stopped early is settled from what it held back (`Reports.observeUnpulled`), which runs the
 * protocol's decoder on bytes its consumer never pulled. Should that code throw (a bug, simulated here),
 * the call is still settled and the consumer's stream still ends: the failure is logged, never a hang
 * nor a hold left open.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Logger from "effect/Logger"
import * as Stream from "effect/Stream"
import { vi } from "vitest"
import { Ledger, makeMockProviders, makeTestLayer, stream, testConfig } from "../../src/index.js"

vi.mock("../../src/internal/Peel.js", async (importOriginal) => ({
  ...(await importOriginal<typeof import("../../src/internal/Peel.js")>()),
  heldOutputBytes: () => {
    throw new Error("decoder bug")
  }
}))

describe("a stream whose held-back bytes cannot be read", () => {
  it.effect("stopped after its first delta: the call is settled (cancelled, priced) and the failure logged", () =>
    Effect.gen(function*() {
      const warnings: Array<string> = []
      const logger = Logger.make(({ logLevel, message }) => {
        if (logLevel._tag === "Warning") warnings.push(String(message))
      })
      const layer = makeTestLayer({
        config: { ...testConfig, budget: { daily_spend_limit: 1, default_max_output_tokens: 100 } },
        providers: makeMockProviders({ otherwise: { content: "one two", deltas: ["one", " two"] } })
      })
      const { events, first } = yield* Effect.gen(function*() {
        const first = yield* Stream.runCollect(Stream.take(stream({ prompt: "hi", traceId: "t-unpulled" }), 1))
        const events = yield* Effect.flatMap(Ledger, (ledger) => ledger.events({ traceId: "t-unpulled" }))
        return { events, first }
      }).pipe(Effect.provide(Logger.replace(Logger.defaultLogger, logger)), Effect.provide(layer))
      assert.strictEqual(first.length, 1)
      assert.deepStrictEqual(events.map((event) => event.type), ["hold", "cancel"])
      assert.isTrue(events[1]!.cost > 0, String(events[1]!.cost))
      assert.isTrue(warnings.some((warning) => warning.includes("held back failed")), warnings.join("\n"))
    }))
})
