/**
 * A settlement the ledger cannot write when its call ends (down between the hold and the settlement)
 * is retried in the background until written — the hold does not stay open and the billed call is
 * counted at its cost — never twice, and closing the layer makes a last attempt (API.md §6).
 */
import { assert, describe, it } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Scope from "effect/Scope"
import * as TestClock from "effect/TestClock"
import { LedgerError } from "../../src/domain/Errors.js"
import { generate, makeMockProviders, testConfig } from "../../src/index.js"
import { layerWith } from "../../src/layers/Live.js"
import * as Ledger from "../../src/services/Ledger.js"
import * as LLMConfig from "../../src/services/LLMConfig.js"

const config = { ...testConfig, budget: { daily_spend_limit: 1, default_max_output_tokens: 100 } }
const billed = { content: "answer", usage: { inputTokens: 10, outputTokens: 20 } }

/**
 * A memory ledger (outliving the client) whose settlements fail while `down`; with `loseReplies`, a
 * settlement is written but reported failed (a reply lost on the way back).
 */
const setup = Effect.gen(function*() {
  const memory = Context.get(yield* Layer.build(Ledger.layerMemory()), Ledger.Ledger)
  const state = { down: true, loseReplies: 0, attempts: 0 }
  const failing = <A>(write: Effect.Effect<A, LedgerError>) =>
    Effect.suspend(() => {
      state.attempts++
      if (state.loseReplies > 0) {
        state.loseReplies--
        return Effect.zipRight(write, Effect.fail(new LedgerError({ reason: "write_failed", message: "reply lost" })))
      }
      return state.down ? Effect.fail(new LedgerError({ reason: "unavailable", message: "database is locked" })) : write
    })
  const ledger: Ledger.Ledger.Service = {
    ...memory,
    commit: (hold, settlement) => failing(memory.commit(hold, settlement)),
    cancel: (hold, settlement) => failing(memory.cancel(hold, settlement))
  }
  const client = layerWith(
    LLMConfig.layerIsolated(config),
    makeMockProviders({ otherwise: billed }).layer,
    Layer.succeed(Ledger.Ledger, ledger)
  )
  return { memory, state, client }
})

const settlements = (memory: Ledger.Ledger.Service) =>
  Effect.map(memory.events(), (events) => events.filter((event) => event.type !== "hold"))

/** Lets the background fibers run what the clock has made due. */
const settleDown = Effect.repeatN(Effect.yieldNow(), 20)

describe("settlements the ledger could not write", () => {
  it.scoped("are retried in the background, backing off, until written: the billed call counted once at its cost", () =>
    Effect.gen(function*() {
      const { client, memory, state } = yield* setup
      const scope = yield* Scope.make()
      const context = yield* Layer.buildWithScope(client, scope)
      const error = yield* Effect.flip(Effect.provide(generate({ prompt: "hi" }), context))
      assert.strictEqual(error._tag === "FatalError" && error.reason, "ledger_unavailable")
      assert.deepStrictEqual(yield* settlements(memory), [])
      const tried = state.attempts // the commit, then the cancel
      yield* TestClock.adjust("1 second")
      yield* settleDown
      assert.strictEqual(state.attempts, tried + 1) // first retry, still down
      yield* TestClock.adjust("1 second")
      yield* settleDown
      assert.strictEqual(state.attempts, tried + 2)
      state.down = false
      yield* TestClock.adjust("2 seconds")
      yield* settleDown
      const [cancel, ...more] = yield* settlements(memory)
      assert.deepStrictEqual(more, [])
      assert.strictEqual(cancel?.status, "error")
      assert.strictEqual(cancel?.usage?.outputTokens, 20)
      assert.isTrue(cancel!.cost > 0)
      assert.strictEqual(yield* memory.spendToday(), cancel!.cost)
      // nothing more is tried once written
      yield* TestClock.adjust("5 minutes")
      yield* settleDown
      assert.strictEqual((yield* settlements(memory)).length, 1)
      yield* Scope.close(scope, Exit.void)
    }))

  it.scoped("a write whose reply was lost is not written again", () =>
    Effect.gen(function*() {
      const { client, memory, state } = yield* setup
      state.down = false
      state.loseReplies = 2 // the commit is written, and so is the cancel after it: both reported failed
      yield* Effect.flip(Effect.provide(generate({ prompt: "hi" }), Layer.fresh(client)))
      yield* TestClock.adjust("1 minute")
      yield* settleDown
      assert.strictEqual((yield* settlements(memory)).length, 2) // commit + cancel, as written at the time
      assert.strictEqual(state.attempts, 2)
    }))

  it.scoped("closing the layer makes a last attempt; what still fails is logged as lost, and the close does not hang", () =>
    Effect.gen(function*() {
      const { client, memory, state } = yield* setup
      yield* Effect.flip(Effect.provide(generate({ prompt: "hi" }), client)) // the layer closes here, still down
      assert.deepStrictEqual(yield* settlements(memory), [])
      const second = yield* setup
      const scope = yield* Scope.make()
      const context = yield* Layer.buildWithScope(second.client, scope)
      yield* Effect.flip(Effect.provide(generate({ prompt: "hi" }), context))
      second.state.down = false // back before the first retry is due
      yield* Scope.close(scope, Exit.void)
      assert.strictEqual((yield* settlements(second.memory)).length, 1)
      assert.isTrue(state.attempts >= 3) // commit, cancel, the last attempt
    }))
})
