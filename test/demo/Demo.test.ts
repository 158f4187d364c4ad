/**
 * The offline tour end to end, as `npm run demo` runs it: the `--json` run's facts checked step by
 * step (what the simulator saw, what the library waited, who answered, the breakers, the ledger),
 * and the human run checked only for a clean exit that never shows the simulator's keys.
 */
import { assert, describe, it } from "@effect/vitest"
import { spawn } from "node:child_process"
import { mkdtempSync, readdirSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { beforeAll } from "vitest"
import type { AttemptFact, BreakerFact, LedgerEventFact, ResponseFact } from "../../src/demo/Facts.js"
import type { StepLine, SummaryLine } from "../../src/demo/Run.js"
import { tourSteps } from "../../src/demo/Tour.js"

const keys = ["sim-google-key", "sim-dashscope-key"]

/**
 * Runs the offline tour as `npm run demo` would (without npm); `closeAfterFirstLine`: as a reader
 * that stops early (`| head -1`), the child's stdout is closed after its first line.
 */
const runTour = (
  args: ReadonlyArray<string>,
  options: { readonly tmpdir?: string; readonly closeAfterFirstLine?: boolean } = {}
): Promise<{ code: number | null; stdout: string; stderr: string }> =>
  new Promise((resolve, reject) => {
    const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: "1" }
    delete env.GEMINI_API_KEY
    delete env.DASHSCOPE_API_KEY
    if (options.tmpdir !== undefined) env.TMPDIR = options.tmpdir
    const child = spawn(process.execPath, ["--import", "tsx", "src/demo/main.ts", ...args], {
      env,
      stdio: ["ignore", "pipe", "pipe"]
    })
    let stdout = ""
    let stderr = ""
    child.stdout.on("data", (chunk: Buffer) => {
      stdout += chunk.toString("utf8")
      if (options.closeAfterFirstLine === true && stdout.includes("\n")) child.stdout.destroy()
    })
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString("utf8")))
    child.on("error", reject)
    child.on("close", (code) => resolve({ code, stdout, stderr }))
  })

// Both runs at once: the tour mostly waits (backoffs, Retry-After, the breaker's recovery).
let human: Awaited<ReturnType<typeof runTour>>
let json: Awaited<ReturnType<typeof runTour>>
let cutShort: Awaited<ReturnType<typeof runTour>>
const cutShortTmp = mkdtempSync(join(tmpdir(), "demo-reader-gone-"))
let steps: Map<string, StepLine>
let summary: SummaryLine

beforeAll(async () => {
  ;[human, json, cutShort] = await Promise.all([
    runTour([]),
    runTour(["--json"]),
    runTour(["--json"], { tmpdir: cutShortTmp, closeAfterFirstLine: true })
  ])
  const lines = json.stdout.trim().split("\n").map((line) => JSON.parse(line) as StepLine | SummaryLine)
  steps = new Map(lines.flatMap((line) => (line.type === "step" ? [[line.step, line] as const] : [])))
  summary = lines.at(-1) as SummaryLine
  assert.strictEqual(lines.length, tourSteps.length + 1, json.stdout)
}, 120_000)

const step = (name: string): StepLine => {
  const line = steps.get(name)
  assert.isDefined(line, `no JSON line for step ${name}`)
  assert.isTrue(line!.ok, `step ${name} failed: ${JSON.stringify(line!.error)}`)
  return line!
}
const facts = <A>(name: string): A => step(name).facts as A
const seen = (line: StepLine) => (line.attempts ?? []).map((a: AttemptFact) => [a.endpoint, a.status])
const gaps = (line: StepLine) => (line.attempts ?? []).slice(1).map((a, i) => a.at - line.attempts![i]!.at)
const warnings = (line: StepLine) => line.logs.filter((log) => log.level === "WARN").map((log) => log.message)

describe("demo tour", () => {
  it("lists its steps by name, the live ones first-class", () => {
    assert.deepStrictEqual(tourSteps.map((step) => step.name), [
      "generate",
      "full-response",
      "dashscope",
      "retries",
      "failover",
      "rate-limit",
      "circuit-breaker",
      "fallback",
      "recovery",
      "stream",
      "stream-stop",
      "budget",
      "ledger",
      "user-budgets",
      "batch",
      "tools",
      "structured-output",
      "rate-limits",
      "server-pause"
    ])
    assert.deepStrictEqual(tourSteps.filter((step) => step.live).map((step) => step.name), [
      "generate",
      "full-response",
      "stream"
    ])
  })

  it("runs for humans: exits 0, finishes every step, never shows the simulator's keys", () => {
    assert.strictEqual(human.code, 0, `${human.stdout}\n${human.stderr}`)
    assert.include(human.stdout, `✓ tour finished: ${tourSteps.length} steps`)
    assert.notInclude(human.stdout, "✗")
    for (const key of keys) assert.notInclude(human.stdout + human.stderr, key)
    // the first screen is the tour's: no line from opening its fresh ledger
    assert.notInclude(human.stdout, "Running migration")
  })

  it("a reader that stops early (`| head -1`): exits 0, no stack trace, its temporary ledger removed", () => {
    assert.strictEqual(cutShort.code, 0, cutShort.stderr)
    assert.notInclude(cutShort.stderr, "EPIPE")
    assert.notMatch(cutShort.stderr, /\n\s+at /)
    assert.deepStrictEqual(readdirSync(cutShortTmp).filter((name) => name.startsWith("effect-llm-tour-")), [])
    rmSync(cutShortTmp, { recursive: true, force: true })
  })

  it("--json: one line per step in order, every step ok, then the summary", () => {
    assert.strictEqual(json.code, 0, `${json.stdout}\n${json.stderr}`)
    assert.deepStrictEqual([...steps.keys()], tourSteps.map((s) => s.name))
    assert.deepStrictEqual([...steps.values()].map((line) => line.index), tourSteps.map((_, i) => i + 1))
    for (const name of steps.keys()) step(name)
    assert.deepInclude(summary, { type: "summary", mode: "offline", ok: true, steps: tourSteps.length, failed: [] })
    for (const key of keys) assert.notInclude(json.stdout + json.stderr, key)
    // API.md §14: retries at Debug, breaker transitions and budget alerts at Warning, nothing at Info or above otherwise.
    const levels = new Set([...steps.values()].flatMap((line) => line.logs.map((log) => log.level)))
    assert.deepStrictEqual([...levels].sort(), ["DEBUG", "WARN"])
    for (const line of steps.values()) {
      for (const log of line.logs) {
        if (log.level === "WARN") {
          assert.match(log.message, line.step === "user-budgets" ? /^budget alert: / : /^circuit breaker /)
        }
      }
    }
  })

  it("generate, full-response, dashscope: one attempt each, the record names who answered", () => {
    assert.match(facts<{ text: string }>("generate").text, /^Echo: Say hello/)
    assert.deepStrictEqual(seen(step("generate")), [["google-primary", 200]])
    const { response } = facts<{ response: ResponseFact }>("full-response")
    assert.deepInclude(response, {
      alias: "gemini-flash",
      model: "gemini-2.5-flash",
      provider: "google",
      endpoint: "google-primary",
      attempts: 1,
      finishReason: "stop"
    })
    assert.strictEqual(response.usage.totalTokens, response.usage.inputTokens + response.usage.outputTokens)
    assert.isAbove(response.cost, 0)
    const qwen = facts<{ response: ResponseFact }>("dashscope").response
    assert.deepInclude(qwen, { alias: "qwen-plus", provider: "dashscope", endpoint: "dashscope-intl", attempts: 1 })
    assert.deepStrictEqual(seen(step("dashscope")), [["dashscope-intl", 200]])
  })

  it("retries: a one-endpoint model retries the same endpoint, each wait about twice the last", () => {
    const line = step("retries")
    assert.deepStrictEqual(seen(line), [["dashscope-intl", 503], ["dashscope-intl", 503], ["dashscope-intl", 200]])
    assert.deepStrictEqual(line.waits.map((w) => [w.endpoint, w.error, w.reason]), [
      ["dashscope-intl", "RetryableError", "server_error"],
      ["dashscope-intl", "RetryableError", "server_error"]
    ])
    // base_delay_s 0.2 doubling, jittered ±20%: 160–240 ms, then 320–480 ms.
    const [first, second] = line.waits.map((w) => w.ms)
    assert.isTrue(first! >= 160 && first! <= 240 && second! >= 320 && second! <= 480, `${first}, ${second}`)
    gaps(line).forEach((gap, i) => assert.isAtLeast(gap, line.waits[i]!.ms - 2))
    assert.deepInclude(facts<{ response: ResponseFact }>("retries").response, {
      alias: "qwen-plus",
      endpoint: "dashscope-intl",
      attempts: 3
    })
  })

  it("failover: after a 503 the retry goes to the next endpoint, not the same one", () => {
    const line = step("failover")
    assert.deepStrictEqual(seen(line), [["google-primary", 503], ["google-secondary", 200]])
    // Gemini's 503 says "The model is overloaded": reason overloaded (API.md §8)
    assert.deepStrictEqual(line.waits.map((w) => [w.endpoint, w.reason]), [["google-primary", "overloaded"]])
    assert.deepInclude(facts<{ response: ResponseFact }>("failover").response, {
      alias: "gemini-flash",
      endpoint: "google-secondary",
      attempts: 2
    })
  })

  it("rate-limit: a 429 with Retry-After: 1 is waited out on the same endpoint", () => {
    const line = step("rate-limit")
    assert.deepStrictEqual(seen(line), [["google-primary", 429], ["google-primary", 200]])
    assert.deepStrictEqual(line.waits, [
      { endpoint: "google-primary", error: "RateLimitError", reason: "rate_limited", ms: 1000 }
    ])
    assert.isAtLeast(gaps(line)[0]!, 998)
    assert.deepInclude(facts<{ response: ResponseFact }>("rate-limit").response, {
      endpoint: "google-primary",
      attempts: 2
    })
    assert.deepStrictEqual(warnings(line), [])
  })

  it("circuit-breaker: three calls fail over from the primary, its breaker opens, the next call skips it", () => {
    const line = step("circuit-breaker")
    const { breakers, calls, openedAfterCall } = facts<{
      calls: ReadonlyArray<
        { attempts: ReadonlyArray<AttemptFact>; response: ResponseFact; primaryBreaker: BreakerFact }
      >
      openedAfterCall: number
      breakers: ReadonlyArray<BreakerFact>
    }>("circuit-breaker")
    assert.strictEqual(openedAfterCall, 3)
    assert.deepStrictEqual(
      calls.map((call) => call.attempts.map((a) => `${a.endpoint} ${a.status}`)),
      [
        ["google-primary 503", "google-secondary 200"],
        ["google-primary 503", "google-secondary 200"],
        ["google-primary 503", "google-secondary 200"],
        ["google-secondary 200"]
      ]
    )
    assert.deepStrictEqual(calls.map((call) => [call.primaryBreaker.state, call.primaryBreaker.failures]), [
      ["closed", 1],
      ["closed", 2],
      ["open", 3],
      ["open", 3]
    ])
    assert.isTrue(calls.every((call) => call.response.endpoint === "google-secondary"))
    assert.deepStrictEqual(warnings(line), ["circuit breaker google-primary: closed -> open"])
    assert.deepInclude(breakers.find((b) => b.endpoint === "google-primary"), { state: "open", failures: 3 })
    assert.deepInclude(breakers.find((b) => b.endpoint === "google-secondary"), { state: "closed" })
  })

  it("fallback: with no usable endpoint of gemini-flash, qwen-plus answers", () => {
    const line = step("fallback")
    const attempts = seen(line)
    assert.deepStrictEqual(attempts.at(-1), ["dashscope-intl", 200])
    assert.isTrue(attempts.slice(0, -1).every(([endpoint, status]) => endpoint !== "dashscope-intl" && status === 503))
    assert.isAtLeast(attempts.filter(([endpoint]) => endpoint === "google-secondary").length, 3)
    const { breakers, response } = facts<{ response: ResponseFact; breakers: ReadonlyArray<BreakerFact> }>("fallback")
    assert.deepInclude(response, { alias: "qwen-plus", provider: "dashscope", endpoint: "dashscope-intl" })
    assert.strictEqual(response.attempts, attempts.length)
    for (const endpoint of ["google-primary", "google-secondary"]) {
      assert.strictEqual(breakers.find((b) => b.endpoint === endpoint)?.state, "open", endpoint)
    }
    assert.include(warnings(line), "circuit breaker google-secondary: closed -> open")
  })

  it("recovery: after recovery_timeout_s one probe closes the primary's breaker", () => {
    const line = step("recovery")
    assert.deepStrictEqual(seen(line), [["google-primary", 200]])
    const { breakers, response } = facts<{ response: ResponseFact; breakers: ReadonlyArray<BreakerFact> }>("recovery")
    assert.deepInclude(response, { endpoint: "google-primary", attempts: 1 })
    assert.deepInclude(breakers.find((b) => b.endpoint === "google-primary"), { state: "closed", failures: 0 })
    assert.deepStrictEqual(warnings(line), [
      "circuit breaker google-primary: open -> half_open",
      "circuit breaker google-primary: half_open -> closed"
    ])
  })

  it("stream and stream-stop: a whole stream with usage; a stopped one settled as cancelled", () => {
    const whole = step("stream")
    assert.deepStrictEqual(whole.attempts?.map((a) => [a.endpoint, a.status, a.stream]), [[
      "google-primary",
      200,
      true
    ]])
    const streamed = facts<{ deltas: number; chars: number; finished: boolean; response: ResponseFact }>("stream")
    assert.isTrue(streamed.finished)
    assert.isAbove(streamed.deltas, 1)
    assert.strictEqual(streamed.chars, 640)
    assert.strictEqual(streamed.response.usage.outputTokens, 160)
    assert.strictEqual(streamed.response.finishReason, "stop")
    assert.isDefined(streamed.response.ttftMs)

    const stopped = facts<{ taken: number; ledger: ReadonlyArray<LedgerEventFact> }>("stream-stop")
    assert.strictEqual(stopped.taken, 5)
    assert.deepStrictEqual(stopped.ledger.map((e) => [e.type, e.status]), [["hold", "ok"], ["cancel", "cancelled"]])
    assert.isAbove(stopped.ledger[1]!.usage!.outputTokens, 0)
  })

  it("budget: the over-budget call is refused with its figures, and no request is made", () => {
    const line = step("budget")
    assert.deepStrictEqual(line.attempts, [])
    const { refusal, requests } = facts<{
      refusal: { _tag: string; reason: string; spent: number; limit: number; estimate: number }
      requests: number
    }>("budget")
    assert.strictEqual(requests, 0)
    assert.deepInclude(refusal, { _tag: "BudgetExceededError", reason: "daily_limit", limit: 0.02 })
    assert.isTrue(refusal.spent > 0 && refusal.spent < refusal.limit, String(refusal.spent))
    assert.isAbove(refusal.spent + refusal.estimate, refusal.limit)
  })

  it("ledger: every hold settled once; the summary counts the tour's calls", () => {
    const { events, spendToday, summary: rows } = facts<{
      events: ReadonlyArray<LedgerEventFact>
      spendToday: number
      summary: ReadonlyArray<{ key: string; calls: number; ok: number; error: number; cancelled: number }>
    }>("ledger")
    const holds = events.filter((e) => e.type === "hold")
    const settled = events.filter((e) => e.type !== "hold")
    assert.deepStrictEqual(settled.map((e) => e.traceId).sort(), holds.map((e) => e.traceId).sort())
    assert.deepStrictEqual(settled.filter((e) => e.type === "cancel").map((e) => e.status), ["cancelled"])
    // Every successful call of the tour before the budget step (the refused one made no hold; the
    // user-budgets and batch steps come after the ledger step).
    const answered = [...steps.values()].slice(0, [...steps.keys()].indexOf("budget")).flatMap((line) =>
      line.step === "circuit-breaker" ? (line.facts!.calls as ReadonlyArray<unknown>) : [line]
    )
    assert.strictEqual(holds.length, answered.length)
    assert.strictEqual(rows.reduce((sum, row) => sum + row.calls, 0), holds.length)
    assert.deepInclude(rows.find((row) => row.key === "gemini-2.5-flash"), { error: 0, cancelled: 1 })
    assert.deepInclude(rows.find((row) => row.key === "qwen-plus"), { calls: 3, ok: 3, error: 0 })
    const cost = settled.reduce((sum, e) => sum + e.cost, 0)
    assert.closeTo(spendToday, cost, 1e-9)
  })

  it("user-budgets: each user has a cap of their own; one is refused, the other served; an alert; the report", () => {
    const line = step("user-budgets")
    const facts_ = facts<{
      cap: number
      alice: { response: ResponseFact; spend: number }
      refusal: { _tag: string; scope: string; window: string; spent: number; limit: number; estimate: number }
      requestsForRefusal: number
      bob: { response: ResponseFact; spend: number }
      alerts: ReadonlyArray<{ scope: string; window: string; threshold: number; spent: number; limit: number }>
      report: ReadonlyArray<{ key: string; calls: number; ok: number; cost: number }>
    }>("user-budgets")
    const { alerts, alice, bob, cap, refusal, report, requestsForRefusal } = facts_
    assert.strictEqual(cap, 0.003)
    assert.strictEqual(alice.response.usage.outputTokens, 1000)
    assert.deepInclude(refusal, { _tag: "BudgetExceededError", scope: "user:alice", window: "daily", limit: cap })
    assert.closeTo(refusal.spent, alice.response.cost, 1e-12)
    assert.isAbove(refusal.spent + refusal.estimate, cap)
    assert.strictEqual(requestsForRefusal, 0)
    assert.deepInclude(bob.response, { alias: "gemini-flash", attempts: 1 })
    assert.closeTo(bob.spend, bob.response.cost, 1e-12)
    assert.closeTo(alice.spend, alice.response.cost, 1e-12)
    // alice's hold reached 80% of her cap: one alert, for her scope only
    assert.deepStrictEqual(alerts.map((a) => [a.scope, a.window, a.threshold, a.limit]), [[
      "user:alice",
      "daily",
      0.8,
      cap
    ]])
    assert.isAtLeast(alerts[0]!.spent, 0.8 * cap)
    assert.deepStrictEqual(warnings(line), [
      "budget alert: user:alice reached 80% of its daily limit ($0.00257 of $0.003)"
    ])
    // the report by user: the untagged calls of the other steps, then one call each (the refusal held nothing)
    assert.deepStrictEqual(report.map((row) => [row.key, row.calls, row.ok]), [["", report[0]!.calls, report[0]!.ok], [
      "alice",
      1,
      1
    ], ["bob", 1, 1]])
    assert.closeTo(report[1]!.cost, alice.response.cost, 1e-12)
    assert.deepStrictEqual(seen(line), [["google-primary", 200], ["google-primary", 200]])
  })

  it("batch: failures are results and the batch goes on, the 503 fails over, the budget refusal stops it", () => {
    const line = step("batch")
    const batch = facts<{
      concurrency: number
      items: number
      results: ReadonlyArray<
        { id: string; ok: boolean; endpoint?: string; attempts?: number; error?: string; reason?: string }
      >
      stopped: { id: string; error: string }
      notRun: ReadonlyArray<string>
      ledger: ReadonlyArray<LedgerEventFact>
    }>("batch")
    const byId = new Map(batch.results.map((r) => [r.id, r]))
    // Everything before the refused item was admitted before the stop, so it has a result.
    for (const id of ["q1", "q2", "q3", "q4", "q7"]) assert.deepInclude(byId.get(id), { ok: true }, id)
    assert.deepInclude(byId.get("q5"), { ok: false, error: "FatalError" })
    assert.deepInclude(byId.get("q6"), { ok: false, error: "RateLimitError", reason: "quota_exhausted" })
    assert.deepInclude(byId.get("q8"), { ok: false, error: "BudgetExceededError" })
    assert.deepStrictEqual(batch.stopped, { id: "q8", error: "BudgetExceededError" })
    // Three slots, one of them q8's: at most two items can start beside its refusal.
    assert.isAtLeast(batch.notRun.length, 1)
    for (const id of batch.notRun) assert.include(["q9", "q10", "q11"], id)
    assert.strictEqual(batch.results.length + batch.notRun.length, batch.items)
    const ok = batch.results.filter((r) => r.ok)
    // The 503 was retried (on the secondary, or on the primary again if the secondary's breaker, opened
    // by the fallback step, still refuses): one answer took two attempts, every other one.
    assert.deepStrictEqual(ok.map((r) => r.attempts).sort(), [...ok.map(() => 1).slice(1), 2])
    assert.deepStrictEqual(seen(line).filter(([, status]) => status !== 200).sort(), [
      ["google-primary", 400],
      ["google-primary", 429],
      ["google-primary", 503]
    ])
    // The ledger: a commit per answer, an error cancel per failed call, nothing for the refusal.
    const settled = batch.ledger.filter((e) => e.type !== "hold").map((e) => `${e.type}/${e.status}`)
    assert.deepStrictEqual(settled.filter((s) => s === "commit/ok").length, ok.length)
    assert.deepStrictEqual(settled.filter((s) => s === "cancel/error").length, 2)
    assert.strictEqual(batch.ledger.filter((e) => e.type === "hold").length, ok.length + 2)
  })

  it("tools: the weather call, its result, the final answer; two settled calls under one trace with its tags", () => {
    const tools = facts<{
      traceId: string
      toolCalls: ReadonlyArray<unknown>
      toolResults: ReadonlyArray<unknown>
      finishReasons: ReadonlyArray<string>
      answer: string
      ledger: ReadonlyArray<LedgerEventFact>
      tags: ReadonlyArray<unknown>
    }>("tools")
    assert.deepStrictEqual(tools.toolCalls, [{ name: "get_weather", params: { city: "Lisbon" } }])
    assert.deepStrictEqual(tools.toolResults, [{
      name: "get_weather",
      result: { city: "Lisbon", celsius: 18, sky: "clear" }
    }])
    assert.deepStrictEqual(tools.finishReasons, ["tool-calls", "stop"])
    assert.strictEqual(tools.answer, "It is 18 °C and clear in Lisbon.")
    assert.deepStrictEqual(seen(step("tools")), [["google-primary", 200], ["google-primary", 200]])
    assert.deepStrictEqual(tools.ledger.map((e) => [e.type, e.status, e.traceId]), [
      ["commit", "ok", tools.traceId],
      ["commit", "ok", tools.traceId]
    ])
    assert.deepStrictEqual(tools.tags, [{ feature: "weather" }, { feature: "weather" }])
  })

  it("structured-output: Gemini's JSON mode with the Schema's JSON Schema; the value decoded", () => {
    const object = facts<{ value: unknown; responseMimeType: string; responseJsonSchema: { required: unknown } }>(
      "structured-output"
    )
    assert.deepStrictEqual(object.value, { name: "Lisbon", country: "Portugal", population: 545_000 })
    assert.strictEqual(object.responseMimeType, "application/json")
    assert.deepStrictEqual(object.responseJsonSchema.required, ["name", "country", "population"])
  })

  it("rate-limits: a burst against rpm: 5 waits its turn: five requests at once, the rest a window later, no 429", () => {
    const burst = facts<{
      rpm: number
      calls: number
      answered: number
      attempts: Array<number>
      statuses: Array<number>
      arrivalsMs: Array<number>
      waited: number
    }>("rate-limits")
    assert.strictEqual(burst.answered, burst.calls)
    assert.deepStrictEqual(burst.attempts, Array.from({ length: burst.calls }, () => 1))
    assert.notInclude(burst.statuses, 429)
    // on the step's clock: the first five well inside the first minute, the other three once a slot left it
    assert.isTrue(burst.arrivalsMs.slice(0, 5).every((at) => at < 45_000), JSON.stringify(burst.arrivalsMs))
    assert.isTrue(burst.arrivalsMs.slice(5).every((at) => at >= 55_000), JSON.stringify(burst.arrivalsMs))
    assert.strictEqual(burst.waited, 3)
    // the waits the library decided: three for an rpm slot, no retry
    const line = step("rate-limits")
    assert.deepStrictEqual(line.waits.map((w) => [w.reason, w.limitKind]), [
      ["local_limit", "rpm"],
      ["local_limit", "rpm"],
      ["local_limit", "rpm"]
    ])
  })

  it("server-pause: one 429 with Retry-After pauses the endpoint for the callers behind it", () => {
    const line = step("server-pause")
    const pause = facts<{ attempts: Array<{ endpoint: string; status: number; at: number }> }>("server-pause")
    assert.deepStrictEqual(pause.attempts.map((a) => a.status), [429, 200, 200, 200, 200])
    assert.isTrue(pause.attempts.every((a) => a.endpoint === "google-primary"))
    // nothing reached the endpoint during the second it asked for
    assert.isTrue(pause.attempts.slice(1).every((a) => a.at >= 990), JSON.stringify(pause.attempts))
    // the 429's retry, then the callers behind it waiting out the pause it taught
    assert.deepStrictEqual(line.waits.filter((w) => w.limitKind === undefined).map((w) => [w.error, w.reason, w.ms]), [[
      "RateLimitError",
      "rate_limited",
      1000
    ]])
    assert.deepStrictEqual(line.waits.filter((w) => w.limitKind !== undefined).map((w) => w.limitKind), [
      "server",
      "server",
      "server"
    ])
  })
})
