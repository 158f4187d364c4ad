/**
 * `effect-llm ledger report` and `effect-llm budget` end to end: the CLI runs as a child process over
 * a SQLite ledger seeded here (tagged calls on two endpoints, one failed, one cancelled), and its
 * `--format json` / `csv` output is parsed and checked field by field.
 */
import { assert, beforeAll, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as TestClock from "effect/TestClock"
import * as TestContext from "effect/TestContext"
import { join } from "node:path"
import type { LedgerError } from "../../src/domain/Errors.js"
import { TokenUsage } from "../../src/domain/TokenUsage.js"
import { type BudgetLimit, layerPostgres, layerSqlite, Ledger } from "../../src/services/Ledger.js"
import { runCli, tempDir, writeConfig } from "../support/cli-harness.js"
import { freshPgSchema, pgReachable } from "../support/LedgerBackends.js"

const dir = tempDir()
const configSource = {
  default_model: "flash",
  providers: {
    google: {
      api_key: "cli-budget-test-key-0001",
      endpoints: [
        { name: "g-a", base_url: "http://127.0.0.1:9" },
        { name: "g-b", base_url: "http://127.0.0.1:9" }
      ]
    }
  },
  models: {
    flash: { provider: "google", model_id: "gemini-flash-x", pricing: { input_per_1m: 1, output_per_1m: 4 } },
    pro: { provider: "google", model_id: "gemini-pro-x", pricing: { input_per_1m: 2, output_per_1m: 8 } }
  },
  budget: {
    daily_spend_limit: 2,
    monthly_spend_limit: 10,
    per_model: { pro: { daily: 1 } },
    per_tag: { user: { daily: 0.5, weekly: 1 }, team: { monthly: 5 } }
  },
  ledger: { backend: "sqlite", path: join(dir, "ledger.db") }
}
const config = writeConfig(dir, configSource)
const args = ["--config", config]

interface Call {
  readonly alias: "flash" | "pro"
  readonly user?: string
  readonly endpoint: string
  readonly cost: number
  readonly outcome: "ok" | "error" | "cancelled" | "open"
}

const calls: ReadonlyArray<Call> = [
  { alias: "flash", user: "alice", endpoint: "g-a", cost: 0.25, outcome: "ok" },
  { alias: "flash", user: "alice", endpoint: "g-a", cost: 0.125, outcome: "ok" },
  { alias: "pro", user: "bob", endpoint: "g-b", cost: 0.5, outcome: "ok" },
  { alias: "pro", user: "bob", endpoint: "g-b", cost: 0, outcome: "error" },
  { alias: "flash", endpoint: "g-b", cost: 0.0625, outcome: "cancelled" },
  { alias: "flash", user: "carol", endpoint: "g-a", cost: 0.1, outcome: "open" } // a call in flight
]

beforeAll(async () => {
  await Effect.runPromise(
    Effect.gen(function*() {
      const ledger = yield* Ledger
      for (const call of calls) {
        const limits: ReadonlyArray<BudgetLimit> = []
        const hold = yield* ledger.hold({
          traceId: `t-${call.alias}-${call.outcome}`,
          provider: "google",
          model: call.alias === "flash" ? "gemini-flash-x" : "gemini-pro-x",
          alias: call.alias,
          ...(call.user === undefined ? {} : { tags: { user: call.user } }),
          estimate: call.cost,
          limits
        })
        const settled = {
          cost: call.cost,
          endpoint: call.endpoint,
          usage: new TokenUsage({ inputTokens: 10, outputTokens: 20, totalTokens: 30 })
        }
        if (call.outcome === "ok") yield* ledger.commit(hold, settled)
        else if (call.outcome !== "open") {
          yield* ledger.cancel(hold, {
            ...settled,
            status: call.outcome,
            ...(call.outcome === "error" ? { error: { tag: "RetryableError", message: "503" } } : {})
          })
        }
      }
    }).pipe(Effect.provide(layerSqlite({ path: join(dir, "ledger.db") })))
  )
})

/** Parses CSV without quoted fields (every value here is plain). */
const parseCsv = (text: string) => {
  const [header, ...lines] = text.trim().split("\n").map((line) => line.split(","))
  return lines.map((cells) => Object.fromEntries(header!.map((name, i) => [name, cells[i]])))
}

describe.concurrent("ledger report and budget", { timeout: 120_000 }, () => {
  it("ledger report --by endpoint --format json: calls, outcomes, tokens, cost and a failure rate", async () => {
    const run = await runCli(["ledger", "report", ...args, "--by", "endpoint", "--format", "json"])
    assert.strictEqual(run.code, 0, run.stderr)
    const report = JSON.parse(run.stdout)
    assert.strictEqual(report.groupBy, "endpoint")
    assert.strictEqual(report.days, 7)
    assert.isTrue(Date.parse(report.until) - Date.parse(report.since) >= 6 * 86_400_000)
    assert.deepStrictEqual(report.rows, [
      // the call in flight has no endpoint yet
      {
        key: "",
        calls: 1,
        ok: 0,
        error: 0,
        cancelled: 0,
        expired: 0,
        inputTokens: 0,
        outputTokens: 0,
        cost: 0,
        failureRate: null
      },
      {
        key: "g-a",
        calls: 2,
        ok: 2,
        error: 0,
        cancelled: 0,
        expired: 0,
        inputTokens: 20,
        outputTokens: 40,
        cost: 0.375,
        failureRate: 0
      },
      {
        key: "g-b",
        calls: 3,
        ok: 1,
        error: 1,
        cancelled: 1,
        expired: 0,
        inputTokens: 30,
        outputTokens: 60,
        cost: 0.5625,
        failureRate: 0.5
      }
    ])
    assert.deepInclude(report.total, { calls: 6, ok: 3, error: 1, cancelled: 1, cost: 0.9375 })
  })

  it("ledger --config X report: the --config given before the subcommand is the one it reads", async () => {
    // the CLI runs in an empty folder: without the option it would find no config.yaml
    const run = await runCli(["ledger", ...args, "report", "--format", "json"])
    assert.strictEqual(run.code, 0, run.stderr)
    assert.deepInclude(JSON.parse(run.stdout).total, { calls: 6, cost: 0.9375 })
  })

  it("ledger's own summary options before a subcommand are a usage error naming where they go, not dropped", async () => {
    const run = await runCli(["ledger", "--json", "--since", "2030-01-01", "limits", ...args])
    assert.strictEqual(run.code, 2, run.stderr)
    assert.include(run.stderr, "--since, --json before `limits` are `ledger`'s own")
    assert.strictEqual(run.stdout, "")
    // `--by day` too, though it is the summary's default: it was given, so it is not dropped silently
    const byDay = await runCli(["ledger", "--by", "day", "report", ...args])
    assert.strictEqual(byDay.code, 2, byDay.stderr)
    assert.include(byDay.stderr, "--by before `report` is `ledger`'s own")
  })

  it("ledger report --by tag:user --format csv: one line per user, calls without the tag keyed empty", async () => {
    const run = await runCli(["ledger", "report", ...args, "--by", "tag:user", "--format", "csv", "--days", "1"])
    assert.strictEqual(run.code, 0, run.stderr)
    const rows = parseCsv(run.stdout)
    assert.deepStrictEqual(Object.keys(rows[0]!), [
      "tag:user",
      "calls",
      "ok",
      "error",
      "cancelled",
      "expired",
      "input_tokens",
      "output_tokens",
      "cost"
    ])
    assert.deepStrictEqual(rows.map((row) => [row["tag:user"], row.calls, row.ok, row.error, row.cost]), [
      ["", "1", "0", "0", "0.0625"],
      ["alice", "2", "2", "0", "0.375"],
      ["bob", "2", "1", "1", "0.5"],
      ["carol", "1", "0", "0", "0"]
    ])
  })

  it("a tag key a plain object inherits (constructor, toString) groups and budgets like any other key", async () => {
    const inherited = writeConfig(dir, {
      ...configSource,
      budget: { daily_spend_limit: 2, per_tag: { constructor: { daily: 1 }, toString: { daily: 1 } } }
    }, "inherited.yaml")
    const [table, csv, budget] = await Promise.all([
      runCli(["ledger", "report", "--config", inherited, "--by", "tag:constructor"]),
      runCli(["ledger", "report", "--config", inherited, "--by", "tag:toString", "--format", "csv"]),
      runCli(["budget", "--config", inherited, "--format", "json"])
    ])
    assert.strictEqual(table.code, 0, table.stderr)
    // no call has the tag: one row keyed "" (shown as `(none)`), then the total
    assert.deepStrictEqual(table.stdout.trim().split("\n").slice(1).map((line) => line.trim().split(/\s+/)[1]), [
      "6",
      "6"
    ])
    assert.deepStrictEqual(parseCsv(csv.stdout).map((row) => [row["tag:toString"], row.calls]), [["", "6"]])
    const report = JSON.parse(budget.stdout)
    assert.deepStrictEqual([...new Set(report.rows.map((row: { scope: string }) => row.scope))], ["global"])
    assert.deepStrictEqual(report.unseenTags.map((tag: { key: string }) => tag.key), ["constructor", "toString"])
  })

  it("ledger report --by model (table): a header, a line per model and a total", async () => {
    const run = await runCli(["ledger", "report", ...args, "--by", "model"])
    assert.strictEqual(run.code, 0, run.stderr)
    const lines = run.stdout.trim().split("\n").map((line) => line.trim().split(/\s+/))
    assert.deepStrictEqual(lines[0], [
      "model",
      "calls",
      "ok",
      "error",
      "cancelled",
      "expired",
      "input",
      "output",
      "cost"
    ])
    assert.deepStrictEqual(lines.slice(1).map((cells) => [cells[0], cells[1]]), [
      ["gemini-flash-x", "4"],
      ["gemini-pro-x", "2"],
      ["total", "6"]
    ])
  })

  it("ledger report refuses an unknown grouping or a bad --days with a usage error", async () => {
    const [by, tag, days, centuries] = await Promise.all([
      runCli(["ledger", "report", ...args, "--by", "user"]),
      runCli(["ledger", "report", ...args, "--by", "tag:bad key"]),
      runCli(["ledger", "report", ...args, "--days", "0"]),
      runCli(["ledger", "report", ...args, "--days", "120000000"])
    ])
    for (const run of [by, tag, days, centuries]) {
      assert.strictEqual(run.code, 2, run.stdout + run.stderr)
      assert.strictEqual(run.stderr.trim().split("\n").length, 1)
      assert.match(run.stderr, /^error: InvalidValue: /)
    }
    assert.include(by.stderr, "expected one of day, week, month, model, provider, endpoint or tag:<key>, got 'user'")
  })

  it("budget --format json: every scope's spend against each of its limits", async () => {
    const run = await runCli(["budget", ...args, "--format", "json"])
    assert.strictEqual(run.code, 0, run.stderr)
    const report = JSON.parse(run.stdout)
    const spend = report.rows.map((row: Record<string, unknown>) => [row.scope, row.window, row.spent, row.limit])
    assert.deepStrictEqual(spend, [
      ["global", "daily", 1.0375, 2],
      ["global", "weekly", 1.0375, 0],
      ["global", "monthly", 1.0375, 10],
      ["model:pro", "daily", 0.5, 1],
      // team has a budget but no call was tagged with it; users in name order, daily then weekly
      ["user:alice", "daily", 0.375, 0.5],
      ["user:alice", "weekly", 0.375, 1],
      ["user:bob", "daily", 0.5, 0.5],
      ["user:bob", "weekly", 0.5, 1],
      ["user:carol", "daily", 0.1, 0.5],
      ["user:carol", "weekly", 0.1, 1]
    ])
    const fractions = report.rows.map((row: { fraction: number | null }) => row.fraction).slice(0, 4)
    assert.strictEqual(fractions[1], null, "no weekly limit")
    // to 12 places, as costs are: 1.0375 / 10 is 0.10375, not 0.10375000000000001
    assert.deepStrictEqual([fractions[0], fractions[2], fractions[3]], [0.51875, 0.10375, 0.5])
    assert.deepStrictEqual(report.unseenTags, [{ key: "team", limits: { monthly: 5 } }])
    const daily = report.rows.find((row: { scope: string; window: string }) => row.window === "daily")
    assert.strictEqual(new Date(daily.windowStart).getUTCHours(), 0)
  })

  it("budget (table): a bar per limited scope and window, the unseen tag keys noted", async () => {
    const [table, csv] = await Promise.all([
      runCli(["budget", ...args]),
      runCli(["budget", ...args, "--format", "csv"])
    ])
    assert.strictEqual(table.code, 0, table.stderr)
    const lines = table.stdout.trim().split("\n")
    assert.deepStrictEqual(lines[0]!.split(/\s+/), ["scope", "window", "spend"])
    const userBob = lines.find((line) => line.startsWith("user:bob") && line.includes("daily"))!
    assert.include(userBob, "[####################] $0.50 / $0.50 (100%)")
    assert.include(lines.find((line) => line.startsWith("global") && line.includes("weekly"))!, "(no limit)")
    assert.match(lines.at(-1)!, /^team: no calls tagged team/)
    assert.strictEqual(csv.code, 0, csv.stderr)
    assert.deepStrictEqual(parseCsv(csv.stdout).map((row) => row.scope), [
      "global",
      "global",
      "global",
      "model:pro",
      "user:alice",
      "user:alice",
      "user:bob",
      "user:bob",
      "user:carol",
      "user:carol"
    ])
  })

  it("the ledger command without a subcommand still prints its summary", async () => {
    const run = await runCli(["ledger", ...args, "--json"])
    assert.strictEqual(run.code, 0, run.stderr)
    assert.strictEqual(JSON.parse(run.stdout).rows[0].calls, 6)
  })
})

/** A hold of `estimate` for `user` on the alias of `perUserConfig`. */
const userHold = (traceId: string, user: string, estimate: number, limits: ReadonlyArray<BudgetLimit> = []) => ({
  traceId,
  provider: "google",
  model: "gemini-flash-x",
  alias: "flash",
  tags: { user },
  estimate,
  limits
})

/** One alias with a daily $0.50 limit per `user` tag (and $2 in all), over `ledger`. */
const perUserConfig = (apiKey: string, ledger: Record<string, unknown>) => ({
  default_model: "flash",
  providers: { google: { api_key: apiKey, endpoints: [{ name: "g-a", base_url: "http://127.0.0.1:9" }] } },
  models: {
    flash: { provider: "google", model_id: "gemini-flash-x", pricing: { input_per_1m: 1, output_per_1m: 4 } }
  },
  budget: { daily_spend_limit: 2, per_tag: { user: { daily: 0.5 } } },
  ledger
})

describe("budget: a call held before its window", { timeout: 120_000 }, () => {
  const lateDir = tempDir()
  const lateConfig = writeConfig(
    lateDir,
    perUserConfig("cli-budget-test-key-0002", {
      backend: "sqlite",
      path: join(lateDir, "ledger.db")
    })
  )

  beforeAll(async () => {
    // Held a minute before today's UTC midnight, committed a minute after it: its cost is today's.
    const midnight = Math.floor(Date.now() / 86_400_000) * 86_400_000
    await Effect.runPromise(
      Effect.gen(function*() {
        const ledger = yield* Ledger
        yield* TestClock.setTime(midnight - 60_000)
        const hold = yield* ledger.hold(userHold("t-dave", "dave", 0.4))
        // Held two hours before midnight (longer ago than a hold lives), committed after it.
        yield* TestClock.setTime(midnight - 7_200_000)
        const long = yield* ledger.hold(userHold("t-erin", "erin", 0.3))
        yield* TestClock.setTime(midnight + 60_000)
        yield* ledger.commit(hold, { cost: 0.4, endpoint: "g-a" })
        yield* ledger.commit(long, { cost: 0.3, endpoint: "g-a" })
      }).pipe(
        Effect.provide(layerSqlite({ path: join(lateDir, "ledger.db") })),
        Effect.provide(TestContext.TestContext)
      )
    )
  })

  it("budget shows the tag values whose spend in the window comes from calls held before it began, even longer ago than a hold lives", async () => {
    const run = await runCli(["budget", "--config", lateConfig, "--format", "json"])
    assert.strictEqual(run.code, 0, run.stderr)
    const report = JSON.parse(run.stdout)
    const users = report.rows.filter((row: { scope: string }) => row.scope.startsWith("user:"))
      .map((row: { scope: string; window: string; spent: number; limit: number }) => [
        row.scope,
        row.window,
        row.spent,
        row.limit
      ])
    assert.deepStrictEqual(users, [["user:dave", "daily", 0.4, 0.5], ["user:erin", "daily", 0.3, 0.5]])
    assert.deepStrictEqual(report.unseenTags, [])
  })
})

describe("budget: a call in flight held long ago, its hold renewed since", { timeout: 120_000 }, () => {
  /**
   * A stream opened two hours before today's UTC midnight (longer ago than a hold lives) and still
   * open: its hold renewed a moment ago, so admission counts it in `user:frank` today. The budget view
   * counts what admission counts.
   */
  const renewedInFlight = (ledger: Record<string, unknown>, layer: Layer.Layer<Ledger, LedgerError>) =>
    Effect.gen(function*() {
      const runDir = tempDir()
      const runConfig = writeConfig(runDir, perUserConfig("cli-budget-test-key-0003", ledger))
      const midnight = Math.floor(Date.now() / 86_400_000) * 86_400_000
      const refused = yield* Effect.gen(function*() {
        const store = yield* Ledger
        yield* TestClock.setTime(midnight - 7_200_000)
        const hold = yield* store.hold(userHold("t-frank", "frank", 0.4))
        yield* TestClock.setTime(Date.now())
        yield* store.renew!(hold)
        // admission: the renewed hold counts in frank's daily window
        return yield* Effect.flip(
          store.hold(userHold("t-frank-2", "frank", 0.2, [{ scope: "user:frank", window: "daily", limit: 0.5 }]))
        )
      }).pipe(Effect.provide(layer))
      assert.deepStrictEqual(refused._tag === "BudgetExceededError" && [refused.scope, refused.spent], [
        "user:frank",
        0.4
      ])
      const run = yield* Effect.promise(() => runCli(["budget", "--config", runConfig, "--format", "json"]))
      assert.strictEqual(run.code, 0, run.stderr)
      const report = JSON.parse(run.stdout)
      assert.deepStrictEqual(
        report.rows.map((row: { scope: string; window: string; spent: number }) => [row.scope, row.window, row.spent]),
        [["global", "daily", 0.4], ["global", "weekly", 0.4], ["global", "monthly", 0.4], ["user:frank", "daily", 0.4]]
      )
      assert.deepStrictEqual(report.unseenTags, [])
    })

  it.effect("sqlite: the renewed hold's tag value is shown with the spend admission counts", () => {
    const path = join(tempDir(), "ledger.db")
    return renewedInFlight({ backend: "sqlite", path }, layerSqlite({ path }))
  })

  it.effect.skipIf(!pgReachable)(
    "postgres: the renewed hold's tag value is shown with the spend admission counts",
    () =>
      Effect.gen(function*() {
        const url = yield* freshPgSchema()
        yield* renewedInFlight({ backend: "postgres", url: Redacted.value(url) }, layerPostgres({ url }))
      }).pipe(Effect.scoped)
  )
})
