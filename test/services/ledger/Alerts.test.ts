/**
 * Budget alerts (API.md §12) on every backend, with `TestClock`: a hold, a raise or a settlement
 * above its hold that takes a scope's spend in a window to a threshold publishes one `BudgetAlert`
 * (on `Ledger.alerts`, as a warning log and on the metric), once per scope, window, threshold and
 * ledger; each new day, week and month starts afresh.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as Metric from "effect/Metric"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/TestClock"
import type { BudgetAlert } from "../../../src/domain/BudgetAlert.js"
import type { LedgerError } from "../../../src/domain/Errors.js"
import * as Telemetry from "../../../src/internal/Telemetry.js"
import { makeMockProviders, makeTestLayer, testConfig } from "../../../src/layers/Test.js"
import {
  type BudgetLimit,
  type HoldRequest,
  layerMemory,
  layerPostgres,
  layerSqlite,
  Ledger
} from "../../../src/services/Ledger.js"
import { AlertTracker } from "../../../src/services/ledger/Alerts.js"
import { generate } from "../../../src/services/LLMClient.js"
import { day, freshPgSchema, pgReachable, request, tempFile } from "../../support/LedgerBackends.js"

interface Options {
  readonly holdTtlS?: number
  readonly alertThresholds?: ReadonlyArray<number>
}

const backends: ReadonlyArray<{
  readonly name: string
  readonly skip: boolean
  readonly layer: (options: Options) => Layer.Layer<Ledger, LedgerError>
}> = [
  { name: "memory", skip: false, layer: (options) => layerMemory(options) },
  { name: "sqlite", skip: false, layer: (options) => layerSqlite({ path: tempFile(), ...options }) },
  {
    name: "postgres",
    skip: !pgReachable,
    layer: (options) => Layer.unwrapScoped(Effect.map(freshPgSchema(), (url) => layerPostgres({ url, ...options })))
  }
]

/** What an alert says, for comparisons. */
const brief = (alert: BudgetAlert) => [alert.scope, alert.window, alert.threshold, round(alert.spent), alert.limit]
const round = (usd: number) => Math.round(usd * 1e9) / 1e9

/**
 * The ledger in a test: its `alerts` stream collected from the start (subscribed before the body
 * runs), and its warning logs. `seen()` returns the alerts the stream delivered, once `count` have.
 */
const withAlerts = <A, E>(
  body: (
    ledger: Ledger.Service,
    logged: () => ReadonlyArray<ReadonlyArray<unknown>>,
    seen: (count: number) => Effect.Effect<ReadonlyArray<BudgetAlert>>
  ) => Effect.Effect<A, E, Scope.Scope>
) =>
  Effect.gen(function*() {
    const ledger = yield* Ledger
    const logs: Array<ReadonlyArray<unknown>> = []
    const collected: Array<BudgetAlert> = []
    const collector = yield* Effect.forkScoped(
      Stream.runForEach(ledger.alerts, (alert) => Effect.sync(() => collected.push(alert)))
    )
    yield* subscribed(collector)
    const logger = Logger.make(({ annotations, logLevel, message }) => {
      const text = (Array.isArray(message) ? message : [message]).map(String).join(" ")
      if (logLevel._tag === "Warning") {
        logs.push([
          text,
          Object.fromEntries([...annotations].filter(([key]) => ["scope", "window", "threshold"].includes(key)))
        ])
      }
    })
    const seen = (count: number) =>
      Effect.gen(function*() {
        for (let turns = 0; collected.length < count && turns < 10_000; turns++) yield* Effect.yieldNow()
        assert.strictEqual(collected.length, count, "alerts delivered")
        return [...collected]
      })
    const result = yield* body(ledger, () => logs, seen).pipe(
      Effect.provide(Logger.replace(Logger.defaultLogger, logger))
    )
    yield* Fiber.interrupt(collector)
    return result
  })

/** Waits until a fiber reading `Ledger.alerts` is suspended: subscribed, waiting for the first alert. */
const subscribed = (fiber: Fiber.RuntimeFiber<unknown, unknown>) =>
  Effect.gen(function*() {
    for (let turns = 0; turns < 10_000; turns++) {
      if ((yield* Fiber.status(fiber))._tag === "Suspended") return
      yield* Effect.yieldNow()
    }
    assert.fail("the alerts stream never subscribed")
  })

const held = (ledger: Ledger.Service, overrides: Partial<HoldRequest>, cost?: number) =>
  Effect.flatMap(
    ledger.hold(request({ limit: 0, ...overrides })),
    (hold) => cost === undefined ? Effect.succeed(hold) : Effect.as(ledger.commit(hold, { cost }), hold)
  )

describe.each(backends)("budget alerts ($name)", (backend) => {
  const test = <A, E>(
    name: string,
    options: Options,
    body: Parameters<typeof withAlerts<A, E>>[0]
  ) =>
    it.scoped.skipIf(backend.skip)(name, () =>
      Effect.gen(function*() {
        yield* TestClock.setTime(day)
        return yield* withAlerts(body)
      }).pipe(Effect.provide(backend.layer(options))), 30_000)

  const userDaily: ReadonlyArray<BudgetLimit> = [{ scope: "user:a", window: "daily", limit: 1 }]
  const forA = { tags: { user: "a" }, limits: userDaily }

  test(
    "fires once at 80% and once at 100% of a limit, never again in that window, and afresh the next day",
    {},
    (ledger, logged, seen) =>
      Effect.gen(function*() {
        yield* held(ledger, { ...forA, estimate: 0.5 }, 0.5) // 50%: nothing
        assert.deepStrictEqual(logged(), [])
        yield* held(ledger, { ...forA, estimate: 0.3 }, 0.3) // 80%
        yield* held(ledger, { ...forA, estimate: 0.1 }, 0.1) // 90%: 80% already fired
        const full = yield* held(ledger, { ...forA, estimate: 0.1 }) // 100% (the hold counts)
        yield* ledger.cancel(full, { cost: 0, status: "cancelled" }) // back to 90%
        yield* held(ledger, { ...forA, estimate: 0.1 }, 0.05) // 100% again: already fired today
        assert.strictEqual((yield* Effect.flip(held(ledger, { ...forA, estimate: 0.1 })))._tag, "BudgetExceededError")
        yield* TestClock.setTime(Date.UTC(2026, 0, 16, 0, 0, 1)) // a new UTC day
        yield* held(ledger, { ...forA, estimate: 0.85 }, 0.85)
        // The first check of the new day forgets the ended windows: this 90% must not alert again.
        yield* held(ledger, { ...forA, estimate: 0.05 }, 0.05)
        const alerts = yield* seen(3)
        assert.deepStrictEqual(alerts.map(brief), [
          ["user:a", "daily", 0.8, 0.8, 1],
          ["user:a", "daily", 1, 1, 1],
          ["user:a", "daily", 0.8, 0.85, 1]
        ])
        assert.deepStrictEqual(alerts.map((alert) => alert.timestamp), [day, day, Date.UTC(2026, 0, 16, 0, 0, 1)])
        assert.deepStrictEqual(logged(), [
          [
            "budget alert: user:a reached 80% of its daily limit ($0.80 of $1.00)",
            { scope: "user:a", window: "daily", threshold: 0.8 }
          ],
          [
            "budget alert: user:a reached 100% of its daily limit ($1.00 of $1.00)",
            { scope: "user:a", window: "daily", threshold: 1 }
          ],
          [
            "budget alert: user:a reached 80% of its daily limit ($0.85 of $1.00)",
            { scope: "user:a", window: "daily", threshold: 0.8 }
          ]
        ])
      })
  )

  test(
    "a call held before midnight and settled after it alerts the new day at its settlement, once",
    {},
    (ledger, _logged, seen) =>
      Effect.gen(function*() {
        yield* TestClock.setTime(Date.UTC(2026, 0, 15, 23, 59, 0))
        const late = yield* held(ledger, { ...forA, estimate: 0.85 }) // 85% of the 15th
        yield* TestClock.setTime(Date.UTC(2026, 0, 16, 0, 1, 0))
        // The open hold counts in the 16th too (its commit will be stamped there) - unannounced until:
        yield* ledger.commit(late, { cost: 0.85 })
        yield* held(ledger, { ...forA, estimate: 0.05 }, 0.05) // 90%: the 16th's 80% already fired
        const alerts = yield* seen(2)
        assert.deepStrictEqual(alerts.map(brief), [
          ["user:a", "daily", 0.8, 0.85, 1],
          ["user:a", "daily", 0.8, 0.85, 1]
        ])
        assert.deepStrictEqual(alerts.map((alert) => alert.timestamp), [
          Date.UTC(2026, 0, 15, 23, 59, 0),
          Date.UTC(2026, 0, 16, 0, 1, 0)
        ])
        assert.closeTo(yield* ledger.spendToday(), 0.9, 1e-9)
      })
  )

  test(
    "weekly and monthly windows start afresh on Monday and on the 1st",
    {},
    (ledger, logged, seen) =>
      Effect.gen(function*() {
        const limits: ReadonlyArray<BudgetLimit> = [
          { scope: "user:a", window: "weekly", limit: 1 },
          { scope: "user:a", window: "monthly", limit: 2 }
        ]
        const spend = (at: number) =>
          Effect.zipRight(TestClock.setTime(at), held(ledger, { tags: { user: "a" }, limits, estimate: 0.8 }, 0.8))
        yield* spend(Date.UTC(2026, 0, 18, 23, 0)) // Sunday: week 3 at 80%, January at 40%
        yield* spend(Date.UTC(2026, 0, 19, 1, 0)) // Monday: week 4 at 80%, January at 80%
        yield* spend(Date.UTC(2026, 1, 2, 10, 0)) // Monday 2 February: week 6 at 80%, February at 40%
        yield* spend(Date.UTC(2026, 1, 9, 10, 0)) // Monday 9 February: week 7 at 80%, February at 80%
        const alerts = yield* seen(6)
        assert.deepStrictEqual(alerts.map(brief), [
          ["user:a", "weekly", 0.8, 0.8, 1],
          ["user:a", "weekly", 0.8, 0.8, 1],
          ["user:a", "monthly", 0.8, 1.6, 2],
          ["user:a", "weekly", 0.8, 0.8, 1],
          ["user:a", "weekly", 0.8, 0.8, 1],
          ["user:a", "monthly", 0.8, 1.6, 2]
        ])
        assert.strictEqual(logged().length, 6)
      })
  )

  test(
    "per scope: each user, the alias and the global scope have their own alerts",
    {},
    (ledger, _logged, seen) =>
      Effect.gen(function*() {
        const limitsOf = (user: string): ReadonlyArray<BudgetLimit> => [
          { scope: "global", window: "daily", limit: 10 },
          { scope: "model:flash", window: "daily", limit: 2 },
          { scope: `user:${user}`, window: "daily", limit: 1 }
        ]
        yield* held(ledger, { tags: { user: "a" }, limits: limitsOf("a"), estimate: 0.9 }, 0.9)
        yield* held(ledger, { tags: { user: "b" }, limits: limitsOf("b"), estimate: 0.9 }, 0.9) // flash: 90%
        yield* held(ledger, { tags: { user: "c" }, limits: limitsOf("c"), estimate: 0.2 }, 0.2) // flash: 100%
        const alerts = yield* seen(4)
        assert.deepStrictEqual(alerts.map(brief), [
          ["user:a", "daily", 0.8, 0.9, 1],
          ["model:flash", "daily", 0.8, 1.8, 2],
          ["user:b", "daily", 0.8, 0.9, 1],
          ["model:flash", "daily", 1, 2, 2]
        ])
      })
  )

  test(
    "a raise that reaches a threshold of the fallback's scopes alerts",
    {},
    (ledger, _logged, seen) =>
      Effect.gen(function*() {
        const hold = yield* held(ledger, { ...forA, estimate: 0.5 })
        yield* ledger.raise(hold, {
          provider: "dashscope",
          model: "qwen-max",
          alias: "max",
          estimate: 0.9,
          limits: [...userDaily, { scope: "model:max", window: "daily", limit: 4 }]
        })
        assert.deepStrictEqual((yield* seen(1)).map(brief), [["user:a", "daily", 0.8, 0.9, 1]])
      })
  )

  test(
    "a settlement above its hold (or of a hold that expired) alerts; one below it never does",
    { holdTtlS: 60 },
    (ledger, logged, seen) =>
      Effect.gen(function*() {
        const below = yield* held(ledger, { ...forA, estimate: 0.5 })
        yield* ledger.commit(below, { cost: 0.25 })
        const above = yield* held(ledger, { ...forA, estimate: 0.25 }) // 50%
        yield* ledger.commit(above, { cost: 0.6 }) // 85%: a service that ignored the output cap
        assert.deepStrictEqual((yield* seen(1)).map(brief), [["user:a", "daily", 0.8, 0.85, 1]])
        const late = yield* held(ledger, { ...forA, estimate: 0.1 }) // 95%
        yield* TestClock.adjust("2 minutes") // the hold expires: 85%
        yield* ledger.commit(late, { cost: 0.15 }) // 100%
        assert.deepStrictEqual((yield* seen(2)).map(brief).at(-1), ["user:a", "daily", 1, 1, 1])
        assert.strictEqual(logged().length, 2)
      })
  )

  test(
    "thresholds come from the options: [0.5] fires at half, [] never",
    { alertThresholds: [0.5] },
    (ledger, _logged, seen) =>
      Effect.gen(function*() {
        yield* held(ledger, { ...forA, estimate: 0.5 }, 0.5)
        yield* held(ledger, { ...forA, estimate: 0.5 }, 0.5)
        assert.deepStrictEqual((yield* seen(1)).map(brief), [["user:a", "daily", 0.5, 0.5, 1]])
      })
  )

  test(
    "thresholds given unsorted in the options behave as sorted: [0.9, 0.5] alerts at 50% then at 90%, once each",
    { alertThresholds: [0.9, 0.5] },
    (ledger, _logged, seen) =>
      Effect.gen(function*() {
        yield* held(ledger, { ...forA, estimate: 0.6 }, 0.6) // 60%: the 50% alert
        yield* held(ledger, { ...forA, estimate: 0.35 }, 0.35) // 95%: the 90% alert
        yield* held(ledger, { ...forA, estimate: 0.03 }, 0.03) // 98%: nothing more
        // one step past both: the two alerts, the lower first
        const forB = { tags: { user: "b" }, limits: [{ scope: "user:b", window: "daily" as const, limit: 1 }] }
        yield* held(ledger, { ...forB, estimate: 0.95 }, 0.95)
        yield* held(ledger, { ...forB, estimate: 0.01 }, 0.01)
        assert.deepStrictEqual((yield* seen(4)).map(brief), [
          ["user:a", "daily", 0.5, 0.6, 1],
          ["user:a", "daily", 0.9, 0.95, 1],
          ["user:b", "daily", 0.5, 0.95, 1],
          ["user:b", "daily", 0.9, 0.95, 1]
        ])
      })
  )

  test(
    "the warning names a fractional threshold as it is: 0.1%, 7%, not 0% or 7.000000000000001%",
    { alertThresholds: [0.001, 0.07] },
    (ledger, logged) =>
      Effect.gen(function*() {
        yield* held(ledger, { ...forA, estimate: 0.002 }, 0.002)
        yield* held(ledger, { ...forA, estimate: 0.07 }, 0.07)
        assert.deepStrictEqual(logged().map(([message]) => message), [
          "budget alert: user:a reached 0.1% of its daily limit ($0.002 of $1.00)",
          "budget alert: user:a reached 7% of its daily limit ($0.072 of $1.00)"
        ])
      })
  )

  for (
    const [name, alertThresholds] of [
      ["a threshold given twice in the options alerts once", [0.5, 0.5]],
      ["a threshold in the options that is not a positive number is dropped, and the others still fire", [
        Number.NaN,
        0.5,
        -1
      ]]
    ] as const
  ) {
    test(name, { alertThresholds }, (ledger, logged) =>
      Effect.gen(function*() {
        yield* held(ledger, { ...forA, estimate: 0.6 }, 0.6)
        assert.deepStrictEqual(logged().map(([message]) => message), [
          "budget alert: user:a reached 50% of its daily limit ($0.60 of $1.00)"
        ])
      }))
  }

  test(
    "no thresholds, no alerts",
    { alertThresholds: [] },
    (ledger, logged) =>
      Effect.gen(function*() {
        yield* held(ledger, { ...forA, estimate: 1 }, 1)
        assert.deepStrictEqual(logged(), [])
      })
  )
})

describe("budget alerts across ledgers (once per process)", () => {
  it.scoped("two SQLite ledgers over one file each alert once", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(day)
      const path = tempFile()
      const open = Effect.map(Layer.build(layerSqlite({ path })), (context) => context.unsafeMap.get(Ledger.key))
      const first: Ledger.Service = yield* open
      const second: Ledger.Service = yield* open
      const limits: ReadonlyArray<BudgetLimit> = [{ scope: "global", window: "daily", limit: 1 }]
      const collect = (ledger: Ledger.Service) => Effect.forkScoped(Stream.runCollect(Stream.take(ledger.alerts, 1)))
      const fromFirst = yield* collect(first)
      const fromSecond = yield* collect(second)
      yield* subscribed(fromFirst)
      yield* subscribed(fromSecond)
      yield* held(first, { limits, estimate: 0.8 }, 0.8)
      yield* held(second, { limits, estimate: 0.05 }, 0.05) // 85%: the second ledger's first look
      yield* held(first, { limits, estimate: 0.05 }, 0.05) // 90%: the first ledger fired already
      assert.deepStrictEqual(Chunk.toReadonlyArray(yield* Fiber.join(fromFirst)).map(brief), [
        ["global", "daily", 0.8, 0.8, 1]
      ])
      assert.deepStrictEqual(Chunk.toReadonlyArray(yield* Fiber.join(fromSecond)).map(brief), [
        ["global", "daily", 0.8, 0.85, 1]
      ])
    }))
})

describe("AlertTracker", () => {
  it("counts effect_llm_budget_alerts_total by scope kind: a tag's values are left out of the labels", () =>
    Effect.runPromise(
      Effect.gen(function*() {
        const counter = Telemetry.withTags(Telemetry.budgetAlerts, {
          scope: "tag:team",
          window: "daily",
          threshold: "0.8"
        })
        const before = (yield* Metric.value(counter)).count
        const ledger = yield* Ledger
        yield* Effect.forEach(["x", "y"], (team) =>
          held(ledger, {
            tags: { team },
            limits: [{ scope: `team:${team}`, window: "daily", limit: 1 }],
            estimate: 0.8
          }, 0.8))
        assert.strictEqual((yield* Metric.value(counter)).count - before, 2)
      }).pipe(Effect.provide(layerMemory()))
    ))

  it("below the lowest threshold nothing is allocated or remembered", () => {
    const tracker = new AlertTracker([0.8, 1])
    const limits: ReadonlyArray<BudgetLimit> = [{ scope: "global", window: "daily", limit: 1 }]
    assert.isUndefined(tracker.take(limits, [0.5], 0.29, day))
    assert.strictEqual(tracker.take(limits, [0.5], 0.3, day)?.length, 1)
    assert.isUndefined(new AlertTracker([]).take(limits, [1], 0, day))
  })

  it("a limit of 0 (no limit, as admission reads it) alerts nothing, and leaves the window's alerts to a real limit", () => {
    const tracker = new AlertTracker([0.8, 1])
    assert.isUndefined(tracker.take([{ scope: "global", window: "daily", limit: 0 }], [1], 0, day))
    assert.strictEqual(tracker.take([{ scope: "global", window: "daily", limit: 1 }], [1], 0, day)?.length, 2)
  })

  it("a clock stepped back into the previous day, and forward again, alerts nothing twice", () => {
    const tracker = new AlertTracker([0.8, 1])
    const limits: ReadonlyArray<BudgetLimit> = [
      { scope: "global", window: "daily", limit: 1 },
      { scope: "global", window: "weekly", limit: 10 }
    ]
    const thresholds = (alerts: ReadonlyArray<BudgetAlert> | undefined) =>
      (alerts ?? []).map((alert) => `${alert.window} ${alert.threshold}`)
    const midnight = Date.UTC(2026, 0, 16) // a Friday: the week goes on
    assert.deepStrictEqual(thresholds(tracker.take(limits, [0.85, 0.85], 0, midnight - 500)), ["daily 0.8"])
    // the new day alerts afresh
    assert.deepStrictEqual(thresholds(tracker.take(limits, [0.9, 8.5], 0, midnight + 200)), [
      "daily 0.8",
      "weekly 0.8"
    ])
    // back 300 ms into yesterday, which has alerted 0.8 already: only its 1.0 is new
    assert.deepStrictEqual(thresholds(tracker.take(limits, [1, 8.6], 0, midnight - 100)), ["daily 1"])
    // and forward again into today, which has alerted 0.8
    assert.deepStrictEqual(thresholds(tracker.take(limits, [0.95, 8.7], 0, midnight + 300)), [])
    assert.deepStrictEqual(thresholds(tracker.take(limits, [1, 10], 0, midnight + 400)), ["daily 1", "weekly 1"])
    // a day later the prune keeps yesterday's record (today's previous day) and drops the one before
    assert.deepStrictEqual(thresholds(tracker.take(limits, [0.9, 10], 0, midnight + 86_400_000)), ["daily 0.8"])
    assert.deepStrictEqual(thresholds(tracker.take(limits, [1, 10], 0, midnight + 1000)), [])
  })
})

describe("a subscriber forked just before a call", () => {
  it.effect("sees that call's alerts (publishing gives a forked Stream.runForEach(ledger.alerts) time to subscribe)", () =>
    Effect.gen(function*() {
      const ledger = yield* Ledger
      const got: Array<BudgetAlert> = []
      // No yield between the fork and the call: the call's hold publishes at once.
      const fiber = yield* Effect.fork(Stream.runForEach(ledger.alerts, (alert) => Effect.sync(() => got.push(alert))))
      yield* generate({ prompt: "hi", maxOutputTokens: 100 })
      for (let turns = 0; got.length === 0 && turns < 100; turns++) yield* Effect.yieldNow()
      yield* Fiber.interrupt(fiber)
      assert.deepStrictEqual(got.map((alert) => [alert.scope, alert.window, alert.threshold]), [
        ["global", "daily", 0.5]
      ])
    }).pipe(Effect.provide(makeTestLayer({
      config: { ...testConfig, budget: { daily_spend_limit: 0.0004, alert_thresholds: [0.5] } },
      providers: makeMockProviders({ otherwise: { content: "ok", usage: { inputTokens: 18, outputTokens: 100 } } })
    }))))
})

describe("a logger that throws on the alert's warning (a failing sink)", () => {
  const throwing = Logger.make(({ logLevel }) => {
    if (logLevel._tag === "Warning") throw new Error("alert webhook down")
  })
  const providers = makeMockProviders({ otherwise: { content: "ok", usage: { inputTokens: 10, outputTokens: 500 } } })
  const config = { ...testConfig, budget: { daily_spend_limit: 0.003, alert_thresholds: [0.5] } }
  for (
    const [name, ledger] of [
      ["memory", undefined],
      ["sqlite", layerSqlite({ path: tempFile(), alertThresholds: [0.5] })]
    ] as const
  ) {
    it.effect(`fails nothing (${name}): the call answers and settles, the alert reaches the stream and the metric`, () =>
      Effect.gen(function*() {
        const ledger = yield* Ledger
        const alerts = Telemetry.withTags(Telemetry.budgetAlerts, {
          scope: "global",
          window: "daily",
          threshold: "0.5"
        })
        const before = (yield* Metric.value(alerts)).count
        const got: Array<BudgetAlert> = []
        const fiber = yield* Effect.fork(
          Stream.runForEach(ledger.alerts, (alert) => Effect.sync(() => got.push(alert)))
        )
        // the hold ($0.002018) crosses half the $0.003 limit
        assert.strictEqual(yield* generate({ prompt: "hi", maxOutputTokens: 1000 }), "ok")
        for (let turns = 0; got.length === 0 && turns < 100; turns++) yield* Effect.yieldNow()
        yield* Fiber.interrupt(fiber)
        assert.deepStrictEqual(got.map((alert) => alert.threshold), [0.5])
        assert.strictEqual((yield* Metric.value(alerts)).count, before + 1)
        const events = yield* ledger.events()
        assert.deepStrictEqual(events.map((event) => event.type), ["hold", "commit"])
        assert.closeTo(yield* ledger.spendToday(), 0.00101, 1e-9)
      }).pipe(
        Effect.provide(makeTestLayer({ config, providers, ...(ledger === undefined ? {} : { ledger }) })),
        Effect.provide(Logger.replace(Logger.defaultLogger, throwing))
      ))
  }
})
