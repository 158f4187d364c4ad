/**
 * A settlement the ledger cannot write when its call ends (down between the hold and the settlement)
 * is kept and written before the next call's hold — the hold does not stay open and the billed call
 * is counted at its cost — never twice, and closing the layer makes a last attempt (API.md §6).
 */
import { assert, describe, it } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as Scope from "effect/Scope"
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
  const state = { down: true, holdsDown: false, loseReplies: 0, attempts: 0 }
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
    hold: (request) =>
      state.holdsDown
        ? Effect.fail(new LedgerError({ reason: "unavailable", message: "database is locked" }))
        : memory.hold(request),
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

describe("settlements the ledger could not write", () => {
  it.scoped("are written before the next call's hold: the billed call counted once at its cost, the hold not left open", () =>
    Effect.gen(function*() {
      const { client, memory, state } = yield* setup
      const context = yield* Layer.build(client)
      const error = yield* Effect.flip(Effect.provide(generate({ prompt: "hi" }), context))
      assert.strictEqual(error._tag === "FatalError" && error.reason, "ledger_unavailable")
      assert.deepStrictEqual(yield* settlements(memory), [])
      // still down: the next call's attempt keeps it (and the call fails on its own settlement)
      state.holdsDown = true
      yield* Effect.flip(Effect.provide(generate({ prompt: "hi" }), context))
      assert.deepStrictEqual(yield* settlements(memory), [])
      // back: the next call writes it first, then runs
      state.down = false
      state.holdsDown = false
      yield* Effect.provide(generate({ prompt: "hi" }), context)
      const [first, second] = yield* settlements(memory)
      assert.strictEqual(first?.type, "cancel")
      assert.strictEqual(first?.status, "error")
      assert.strictEqual(first?.usage?.outputTokens, 20)
      assert.isTrue(first!.cost > 0)
      assert.strictEqual(second?.type, "commit")
      assert.strictEqual(yield* memory.spendToday(), first!.cost + second!.cost)
      // nothing is written twice by later calls
      yield* Effect.provide(generate({ prompt: "hi" }), context)
      assert.strictEqual((yield* settlements(memory)).filter((event) => event.type === "cancel").length, 1)
    }))

  it.scoped("the next call that writes a kept settlement logs nothing at Info or above (its success path)", () =>
    Effect.gen(function*() {
      const { client, state } = yield* setup
      const context = yield* Layer.build(client)
      yield* Effect.flip(Effect.provide(generate({ prompt: "hi" }), context))
      state.down = false
      const logged: Array<[string, string]> = []
      const logger = Logger.make(({ logLevel, message }) => {
        logged.push([logLevel.label, String(message)])
      })
      yield* Effect.provide(generate({ prompt: "hi" }), context).pipe(
        Effect.provide(Logger.replace(Logger.defaultLogger, logger)),
        Logger.withMinimumLogLevel(LogLevel.All)
      )
      assert.deepStrictEqual(
        logged.filter(([level]) => ["INFO", "WARN", "ERROR", "FATAL"].includes(level)),
        []
      )
      assert.isTrue(
        logged.some(([level, message]) => level === "DEBUG" && /settlement of hold .* is written/.test(message))
      )
    }))

  it.scoped("a write whose reply was lost is not written again", () =>
    Effect.gen(function*() {
      const { client, memory, state } = yield* setup
      state.down = false
      state.loseReplies = 2 // the commit is written, and so is the cancel after it: both reported failed
      const context = yield* Layer.build(client)
      yield* Effect.flip(Effect.provide(generate({ prompt: "hi" }), context))
      yield* Effect.provide(generate({ prompt: "hi" }), context)
      // commit + cancel as written at the time, then the next call's commit: no second cancel
      assert.deepStrictEqual((yield* settlements(memory)).map((event) => event.type), ["commit", "cancel", "commit"])
    }))

  it.scoped("closing the layer makes a last attempt; what still fails is logged as lost, and the close does not hang", () =>
    Effect.gen(function*() {
      const { client, memory } = yield* setup
      yield* Effect.flip(Effect.provide(generate({ prompt: "hi" }), client)) // the layer closes here, still down
      assert.deepStrictEqual(yield* settlements(memory), [])
      const second = yield* setup
      const scope = yield* Scope.make()
      const context = yield* Layer.buildWithScope(second.client, scope)
      yield* Effect.flip(Effect.provide(generate({ prompt: "hi" }), context))
      second.state.down = false // back before the layer closes
      yield* Scope.close(scope, Exit.void)
      assert.strictEqual((yield* settlements(second.memory)).length, 1)
    }))
})
