/**
 * The money side of a call, without the client: a hold before anything, exactly one settlement —
 * commit at the real usage, or cancel from the call's `Exit` with the usage seen so far — and the
 * upper-bound settlement of a provider that reports no usage.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as Admission from "../../src/call/Admission.js"
import * as CallTelemetry from "../../src/call/CallTelemetry.js"
import * as Metering from "../../src/call/Metering.js"
import * as Plan from "../../src/call/Plan.js"
import { CallProgress } from "../../src/call/Progress.js"
import { LedgerError, RetryableError } from "../../src/domain/Errors.js"
import * as Scrub from "../../src/internal/Scrub.js"
import * as CircuitBreaker from "../../src/services/CircuitBreaker.js"
import * as Ledger from "../../src/services/Ledger.js"
import * as LLMConfig from "../../src/services/LLMConfig.js"
import * as Pricing from "../../src/services/Pricing.js"
import * as Router from "../../src/services/Router.js"

const config = (dailyLimit = 1) => ({
  default_model: "m",
  providers: { google: { api_key: "metering-key-123", endpoints: [{ name: "g", base_url: "http://127.0.0.1:9" }] } },
  models: { m: { provider: "google", model_id: "gemini-x", pricing: { input_per_1m: 1, output_per_1m: 2 } } },
  budget: { daily_spend_limit: dailyLimit, default_max_output_tokens: 100 },
  ledger: { backend: "memory" }
})

/** Metering over a memory ledger, a planned call, and the route it would take. */
const setup = (dailyLimit?: number, alterLedger: (ledger: Ledger.Ledger.Service) => Ledger.Ledger.Service = (l) => l) =>
  Effect.gen(function*() {
    const llmConfig = yield* LLMConfig.LLMConfig
    const pricing = yield* Pricing.Pricing
    const router = yield* Router.Router
    const ledger = alterLedger(yield* Ledger.Ledger)
    const telemetry = CallTelemetry.make({ recordContent: false })
    const metering = Metering.make({
      ledger,
      pricing,
      budget: llmConfig.config.budget,
      telemetry,
      admission: Admission.make({ ledger, resilience: llmConfig.config.resilience, telemetry }),
      scrub: Scrub.make(["metering-secret-value"])
    })
    const plan = yield* Plan.make({ config: llmConfig, pricing, router })({ prompt: "hello" })
    const route = yield* router.route(plan.routing)
    return { metering, plan, route, ledger }
  }).pipe(
    Effect.provide(
      Layer.mergeAll(Router.layer, Pricing.layer, Ledger.layerMemory()).pipe(
        Layer.provideMerge(CircuitBreaker.layer),
        Layer.provideMerge(LLMConfig.layerIsolated(config(dailyLimit)))
      )
    )
  )

describe("Metering", () => {
  it.effect("holds the plan's estimate, then commits once at the real usage and cost", () =>
    Effect.gen(function*() {
      const { ledger, metering, plan, route } = yield* setup()
      const progress = new CallProgress(0)
      const meter = yield* metering.hold(plan, progress)
      progress.attempt(route)
      const settled = yield* metering.commit(meter, route, { inputTokens: 3, outputTokens: 7, totalTokens: 10 }, {
        content: "hi",
        reasoning: undefined
      })
      assert.closeTo(settled.cost, (3 + 14) / 1e6, 1e-15)
      yield* metering.settleUnfinished(meter, Exit.void)
      const events = yield* ledger.events()
      assert.deepStrictEqual(events.map((event) => event.type), ["hold", "commit"], "settled exactly once")
      assert.closeTo(events[0]!.cost, plan.estimate, 1e-15)
      assert.strictEqual(events[1]!.usage?.outputTokens, 7)
      assert.strictEqual(events[1]!.attempts, 1)
    }))

  it.effect("a failed call is cancelled with status error, its message scrubbed, priced by the usage seen", () =>
    Effect.gen(function*() {
      const { ledger, metering, plan, route } = yield* setup()
      const progress = new CallProgress(0)
      const meter = yield* metering.hold(plan, progress)
      progress.attempt(route)
      progress.observeUsage({ inputTokens: 3, outputTokens: 5, totalTokens: 8 })
      const error = new RetryableError({
        reason: "stream_interrupted",
        message: "cut; server said metering-secret-value"
      })
      yield* metering.settleUnfinished(meter, Exit.fail(error))
      const cancel = (yield* ledger.events()).find((event) => event.type === "cancel")!
      assert.strictEqual(cancel.status, "error")
      assert.strictEqual(cancel.error?.tag, "RetryableError")
      assert.notInclude(cancel.error!.message, "metering-secret-value")
      assert.include(cancel.error!.message, "<redacted>")
      assert.closeTo(cancel.cost, (3 + 10) / 1e6, 1e-15)
    }))

  it.effect("an interrupted call is cancelled with status cancelled", () =>
    Effect.gen(function*() {
      const { ledger, metering, plan } = yield* setup()
      const meter = yield* metering.hold(plan, new CallProgress(0))
      yield* metering.settleUnfinished(meter, Exit.interrupt(0 as never))
      const cancel = (yield* ledger.events()).find((event) => event.type === "cancel")!
      assert.strictEqual(cancel.status, "cancelled")
      assert.isUndefined(cancel.error)
    }))

  it.effect("a call cancelled after reporting usage above its hold is settled at the real cost, with a warning naming the model", () =>
    Effect.gen(function*() {
      const warnings: Array<string> = []
      const logger = Logger.make(({ logLevel, message }) => {
        if (logLevel._tag === "Warning") warnings.push(String(message))
      })
      const { ledger, metering, plan, route } = yield* setup()
      const progress = new CallProgress(0)
      const meter = yield* metering.hold(plan, progress)
      progress.attempt(route)
      // a service that ignored the output cap of 100
      progress.observeUsage({ inputTokens: 3, outputTokens: 1000, totalTokens: 1003 })
      yield* metering.settleUnfinished(meter, Exit.void).pipe(
        Effect.provide(Logger.replace(Logger.defaultLogger, logger))
      )
      const cancel = (yield* ledger.events()).find((event) => event.type === "cancel")!
      assert.strictEqual(cancel.status, "cancelled")
      assert.closeTo(cancel.cost, (3 + 2000) / 1e6, 1e-15)
      assert.isAbove(cancel.cost, plan.estimate)
      assert.strictEqual(warnings.length, 1)
      assert.include(warnings[0], "gemini-x")
    }))

  it.effect("a stream cut after a report above the output cap is settled at that report: not lowered to the cap, and the text after it adds nothing", () =>
    Effect.gen(function*() {
      const { ledger, metering, plan, route } = yield* setup()
      const progress = new CallProgress(0)
      const meter = yield* metering.hold(plan, progress)
      progress.attempt(route)
      // the service ignored the output cap of 100 and said so; then streamed 50 more bytes and was cut
      progress.observeUsage({ inputTokens: 3, outputTokens: 1000, totalTokens: 1003 })
      progress.observeOutput("x".repeat(50))
      yield* metering.settleUnfinished(
        meter,
        Exit.fail(new RetryableError({ reason: "stream_interrupted", message: "cut" }))
      ).pipe(Effect.provide(Logger.replace(Logger.defaultLogger, Logger.none)))
      const cancel = (yield* ledger.events()).find((event) => event.type === "cancel")!
      assert.strictEqual(cancel.status, "error")
      // the report stands (billed by the provider): neither the cap (100) nor report + bytes (1,050)
      assert.deepStrictEqual(
        [cancel.usage?.inputTokens, cancel.usage?.outputTokens, cancel.usage?.totalTokens],
        [3, 1000, 1003]
      )
      assert.closeTo(cancel.cost, (3 + 2000) / 1e6, 1e-15)
    }))

  it.effect("a hold over the limit is refused with BudgetExceededError and writes nothing", () =>
    Effect.gen(function*() {
      const { ledger, metering, plan } = yield* setup(0.00001)
      const error = yield* Effect.flip(metering.hold(plan, new CallProgress(0)))
      assert.strictEqual(error._tag, "BudgetExceededError")
      assert.deepStrictEqual(yield* ledger.events(), [])
    }))

  it.effect("a provider that reports no usage is settled at an upper bound, the ledger row without usage", () =>
    Effect.gen(function*() {
      const { ledger, metering, plan, route } = yield* setup()
      const meter = yield* metering.hold(plan, new CallProgress(0))
      const settled = yield* metering.commit(meter, route, undefined, { content: "héllo", reasoning: undefined })
      // The input bound of the hold, and one token per UTF-8 byte of the answer (6 bytes).
      assert.strictEqual(settled.usage.inputTokens, Pricing.inputTokenBound(plan.request, route.model.protocol))
      assert.strictEqual(settled.usage.outputTokens, 6)
      assert.isAtMost(settled.cost, plan.estimate)
      const commit = (yield* ledger.events()).find((event) => event.type === "commit")!
      assert.isUndefined(commit.usage, "the row says the provider reported no usage")
      assert.closeTo(commit.cost, settled.cost, 1e-15)
    }))

  describe("text no usage report counted is priced a token per byte, at most the output cap sent (never above the hold)", () => {
    // The plan carries the budget's output cap of 100; each answer below is 1,000 bytes.
    const longAnswer = "x".repeat(1000)

    it.effect("a unary answer with no usage reported", () =>
      Effect.gen(function*() {
        const { metering, plan, route } = yield* setup()
        const meter = yield* metering.hold(plan, new CallProgress(0))
        const settled = yield* metering.commit(meter, route, undefined, { content: longAnswer, reasoning: undefined })
        assert.strictEqual(settled.usage.outputTokens, 100)
        assert.isAtMost(settled.cost, plan.estimate)
      }))

    it.effect("a stream cut with no usage reported, and one whose only report was a placeholder count", () =>
      Effect.gen(function*() {
        const { ledger, metering, plan, route } = yield* setup()
        const unreported = new CallProgress(0)
        const first = yield* metering.hold(plan, unreported)
        unreported.attempt(route)
        unreported.observeOutput(longAnswer)
        yield* metering.settleUnfinished(first, Exit.void)
        const placeholder = new CallProgress(0)
        const second = yield* metering.hold(plan, placeholder)
        placeholder.attempt(route)
        placeholder.observeUsage({ inputTokens: 3, outputTokens: 1, totalTokens: 4 })
        placeholder.observeOutput(longAnswer)
        yield* metering.settleUnfinished(second, Exit.void)
        const cancels = (yield* ledger.events()).filter((event) => event.type === "cancel")
        assert.deepStrictEqual(cancels.map((cancel) => cancel.usage?.outputTokens), [100, 100])
        for (const cancel of cancels) assert.isAtMost(cancel.cost, plan.estimate)
      }))
  })

  it.effect("a commit the ledger could not write: FatalError ledger_unavailable, an Error log, and the cancel after it carries the billed usage", () =>
    Effect.gen(function*() {
      const errors: Array<string> = []
      const logger = Logger.make(({ logLevel, message }) => {
        if (logLevel._tag === "Error") errors.push(String(message))
      })
      const { ledger, metering, plan, route } = yield* setup(undefined, (ledger) => ({
        ...ledger,
        commit: () => Effect.fail(new LedgerError({ reason: "write_failed", message: "disk full" }))
      }))
      const progress = new CallProgress(0)
      const meter = yield* metering.hold(plan, progress)
      progress.attempt(route)
      const usage = { inputTokens: 3, outputTokens: 7, totalTokens: 10 }
      const exit = yield* metering.commit(meter, route, usage, { content: "hi", reasoning: undefined }).pipe(
        Effect.exit,
        Effect.provide(Logger.replace(Logger.defaultLogger, logger))
      )
      yield* metering.settleUnfinished(meter, exit)
      assert.isTrue(Exit.isFailure(exit))
      assert.deepStrictEqual(errors.length, 1)
      assert.include(errors[0], "disk full")
      const cancel = (yield* ledger.events()).find((event) => event.type === "cancel")!
      assert.strictEqual(cancel.status, "error")
      assert.strictEqual(cancel.usage?.outputTokens, 7)
      assert.closeTo(cancel.cost, (3 + 14) / 1e6, 1e-15)
    }))
})
