import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { defaults } from "../../../src/domain/Config.js"
import { loadFiles, loadObject, scratchFile } from "./support.js"

const minimal = {
  providers: { google: { endpoints: [{ name: "g", base_url: "https://g.example" }] } },
  models: {
    flash: { provider: "google", model_id: "gemini-2.5-flash" },
    pro: { provider: "google", model_id: "gemini-2.5-pro" }
  }
}

const budgetOf = (budget: unknown) => Effect.map(loadObject({ ...minimal, budget }), ({ config }) => config.budget)
const budgetError = (budget: unknown) => Effect.flip(loadObject({ ...minimal, budget }))

describe("budget scopes and windows (API.md §12)", () => {
  it.effect("defaults: the daily limit only, no scoped limits, alerts at 80% and 100%", () =>
    Effect.gen(function*() {
      const budget = yield* budgetOf(undefined)
      assert.deepStrictEqual(budget, defaults.budget)
      assert.deepStrictEqual(
        [budget.weeklySpendLimit, budget.monthlySpendLimit, budget.perModel, budget.perTag, budget.alertThresholds],
        [0, 0, {}, {}, [0.8, 1]]
      )
    }))

  it.effect("reads weekly and monthly limits, per_model and per_tag", () =>
    Effect.gen(function*() {
      const budget = yield* budgetOf({
        daily_spend_limit: 5,
        weekly_spend_limit: 20,
        monthly_spend_limit: 60,
        per_model: { pro: { daily: 1 } },
        per_tag: { user: { daily: 0.1, monthly: 2 }, team: { monthly: 50 } },
        alert_thresholds: [0.5, 0.9]
      })
      assert.deepStrictEqual(budget, {
        ...defaults.budget,
        dailySpendLimit: 5,
        weeklySpendLimit: 20,
        monthlySpendLimit: 60,
        perModel: { pro: { daily: 1 } },
        perTag: { user: { daily: 0.1, monthly: 2 }, team: { monthly: 50 } },
        alertThresholds: [0.5, 0.9]
      })
    }))

  it.effect("weekly, monthly and every scoped limit must be non-negative numbers", () =>
    Effect.gen(function*() {
      const cases: ReadonlyArray<readonly [unknown, string, string]> = [
        [{ weekly_spend_limit: -1 }, "budget.weekly_spend_limit", "expected a non-negative number, got -1"],
        [{ monthly_spend_limit: "lots" }, "budget.monthly_spend_limit", `expected a non-negative number, got "lots"`],
        [{ per_model: { pro: { daily: -2 } } }, "budget.per_model.pro.daily", "expected a non-negative number, got -2"],
        [
          { per_tag: { user: { weekly: "x" } } },
          "budget.per_tag.user.weekly",
          `expected a non-negative number, got "x"`
        ],
        [{ per_tag: { user: 5 } }, "budget.per_tag.user", "expected a mapping { daily, weekly, monthly }, got 5"],
        [{ per_model: [1] }, "budget.per_model", "expected a mapping of model aliases to limits, got a list"],
        // one PostgreSQL's bigint cannot hold twice of, in ms, would fail every call on that ledger
        [
          { hold_ttl_s: 5e15 },
          "budget.hold_ttl_s",
          "expected a positive number of seconds, at most 1,000,000,000, got 5000000000000000"
        ]
      ]
      for (const [budget, path, detail] of cases) {
        const error = yield* budgetError(budget)
        assert.strictEqual(error._tag, "ConfigError")
        assert.strictEqual(error.reason, "invalid")
        assert.strictEqual(error.path, path)
        assert.strictEqual(error.message, `${path}: ${detail}`)
      }
    }))

  it.effect("an unknown window in a scope is refused, naming it and the known ones", () =>
    Effect.gen(function*() {
      const error = yield* budgetError({ per_tag: { user: { hourly: 1 } } })
      assert.strictEqual(error.path, "budget.per_tag.user.hourly")
      assert.strictEqual(error.message, "budget.per_tag.user.hourly: unknown key (known: daily, weekly, monthly)")
    }))

  it.effect("per_model keys must be configured model aliases", () =>
    Effect.gen(function*() {
      const error = yield* budgetError({ per_model: { flash: { daily: 1 }, "gpt-4o": { daily: 1 } } })
      assert.strictEqual(error.path, "budget.per_model.gpt-4o")
      assert.strictEqual(
        error.message,
        `budget.per_model.gpt-4o: expected one of the model aliases (flash, pro), got "gpt-4o"`
      )
    }))

  it.effect("per_tag keys follow the tag rules; model is reserved", () =>
    Effect.gen(function*() {
      const reserved = yield* budgetError({ per_tag: { model: { daily: 1 } } })
      assert.strictEqual(reserved.path, "budget.per_tag.model")
      assert.include(reserved.message, `"model" is reserved`)
      const bad = yield* budgetError({ per_tag: { "user id": { daily: 1 } } })
      assert.strictEqual(bad.path, "budget.per_tag.user id")
      assert.include(bad.message, `expected a tag key, got "user id"`)
    }))

  it.effect("alert_thresholds: fractions in (0, 1], sorted and de-duplicated; [] turns alerts off", () =>
    Effect.gen(function*() {
      assert.deepStrictEqual((yield* budgetOf({ alert_thresholds: [1, 0.5, 0.8, 0.5] })).alertThresholds, [
        0.5,
        0.8,
        1
      ])
      assert.deepStrictEqual((yield* budgetOf({ alert_thresholds: [] })).alertThresholds, [])
      for (const [value, shown] of [[0, "0"], [1.5, "1.5"], [-0.2, "-0.2"], ["half", `"half"`]] as const) {
        const error = yield* budgetError({ alert_thresholds: [0.5, value] })
        assert.strictEqual(error.path, "budget.alert_thresholds[1]")
        assert.strictEqual(error.message, `budget.alert_thresholds[1]: expected a fraction in (0, 1], got ${shown}`)
      }
    }))

  it.effect("an empty per_model or per_tag section counts as absent", () =>
    Effect.gen(function*() {
      const budget = yield* budgetOf({ per_model: null, per_tag: null })
      assert.deepStrictEqual([budget.perModel, budget.perTag], [{}, {}])
    }))

  it.effect("project and user files: scalars per key; per_model and per_tag per entry, the project's winning", () =>
    Effect.gen(function*() {
      const user = scratchFile(
        "user.yaml",
        [
          "budget:",
          "  weekly_spend_limit: 7",
          "  monthly_spend_limit: 30",
          "  per_model: { flash: { daily: 9 }, pro: { daily: 2 } }",
          "  per_tag: { team: { monthly: 40 } }",
          ""
        ].join("\n")
      )
      const { config } = yield* loadFiles({
        config: {
          ...minimal,
          budget: { weekly_spend_limit: 10, per_model: { flash: { daily: 1 } }, per_tag: { user: { daily: 0.5 } } }
        },
        userConfig: user.file
      })
      assert.deepStrictEqual(config.budget, {
        ...defaults.budget,
        weeklySpendLimit: 10,
        monthlySpendLimit: 30,
        perModel: { flash: { daily: 1 }, pro: { daily: 2 } },
        perTag: { user: { daily: 0.5 }, team: { monthly: 40 } }
      })
    }))

  it.effect("a per_model alias unknown in the user file names that file", () =>
    Effect.gen(function*() {
      const user = scratchFile("user.yaml", "budget: { per_model: { nope: { daily: 1 } } }\n")
      const error = yield* Effect.flip(loadFiles({ config: minimal, userConfig: user.file }))
      assert.strictEqual(error.path, "budget.per_model.nope")
      assert.isTrue(error.message.startsWith(`${user.file}: budget.per_model.nope: expected one of`), error.message)
    }))
})
