/**
 * The `npm run demo` tour as a list of named steps, each an Effect over the public API only
 * (`generate`, `stream`, `Ledger`, `CircuitBreaker`) that tells its story on `Out` and returns the
 * facts it demonstrates (emitted by `--json`). Offline, the steps script the embedded simulator —
 * each step's script is its own: the runner resets the simulator before every step and fails a step
 * that leaves a script unconsumed. The steps marked `live` also run against the real services.
 */
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Fiber from "effect/Fiber"
import * as Stream from "effect/Stream"
import type { BudgetAlert, CircuitBreaker } from "../index.js"
import {
  type BatchItem,
  type BatchResult,
  type BatchStoppedError,
  generate,
  type GenerationResponse,
  Ledger,
  type LedgerError,
  type LLMClient,
  type LLMError,
  makeLiveLayer,
  runBatch,
  stream,
  withCallContext
} from "../index.js"
import type * as Simulator from "../simulator/Simulator.js"
import { aiSteps } from "./AiSteps.js"
import {
  type AttemptFact,
  attemptsOf,
  type BreakerFact,
  breakersOf,
  lastSeq,
  ledgerEventOf,
  responseOf
} from "./Facts.js"
import { clip, ms, type Out, style, tokens, usd } from "./Print.js"
import * as ScaledClock from "./ScaledClock.js"

/** What a step can use besides the services. */
export interface TourContext {
  /** The embedded simulator (offline tour), absent in `--live` mode. */
  readonly sim: Simulator.Simulator | undefined
  /** The model alias of the live steps (`undefined`: the config's `default_model`). */
  readonly model: string | undefined
  /** Where the step tells its story (nowhere under `--json`). */
  readonly out: Out
}

/** The services every step may use (all provided by `makeLiveLayer`). */
export type TourServices = LLMClient | Ledger | CircuitBreaker

/** What a step demonstrates, as JSON-able data (`--json` prints it as the step line's `facts`). */
export type StepFacts = Readonly<Record<string, unknown>>

/** One named step of the tour. */
export interface TourStep {
  /** Short, stable name (shown in the heading, the `step` of its JSON line, used by tests). */
  readonly name: string
  readonly title: string
  /** Also runs in `--live` mode (against the real services, so it must not need the simulator). */
  readonly live: boolean
  readonly run: (context: TourContext) => Effect.Effect<StepFacts, LLMError | LedgerError, TourServices>
}

/** The simulated endpoints of the offline tour. */
export const endpoints = {
  primary: "google-primary",
  secondary: "google-secondary",
  dashscope: "dashscope-intl"
} as const

/** The endpoints in config order (the order breakers are shown in). */
export const endpointOrder: ReadonlyArray<string> = [endpoints.primary, endpoints.secondary, endpoints.dashscope]

/** The daily cap of each user in the offline tour (`budget.per_tag.user.daily`): about one call's hold. */
export const userDailyCap = 0.003

/**
 * The offline tour's configuration, in the YAML shape of API.md §4, pointing every endpoint at the
 * simulator: two Gemini endpoints and one DashScope endpoint (so `qwen-plus` is a one-endpoint model),
 * a fallback from `gemini-flash` to `qwen-plus`, short delays so resilience shows in seconds, a small
 * daily budget.
 */
export const offlineConfig = (sim: Simulator.Simulator, ledgerPath: string) => ({
  default_model: "gemini-flash",
  providers: {
    google: {
      api_key: sim.keys.google,
      endpoints: [
        { name: endpoints.primary, base_url: sim.baseUrl(endpoints.primary), region: "us" },
        { name: endpoints.secondary, base_url: sim.baseUrl(endpoints.secondary), region: "us" }
      ]
    },
    dashscope: {
      api_key: sim.keys.dashscope,
      endpoints: [{ name: endpoints.dashscope, base_url: sim.baseUrl(endpoints.dashscope), region: "sg" }]
    }
  },
  models: {
    "gemini-flash": {
      provider: "google",
      model_id: "gemini-2.5-flash",
      pricing: { input_per_1m: 0.3, output_per_1m: 2.5 },
      fallbacks: ["qwen-plus"]
    },
    "qwen-plus": { provider: "dashscope", model_id: "qwen-plus", pricing: { input_per_1m: 0.4, output_per_1m: 1.2 } }
  },
  allowed_regions: ["us", "sg"],
  resilience: {
    // One more than the fallback step needs: should a slow machine stretch that step past the
    // primary's recovery timeout, the failed half-open probe costs an attempt, not the answer.
    max_retries: 4,
    base_delay_s: 0.2,
    max_delay_s: 2,
    wait_on_rate_limit: true,
    max_wait_timeout_s: 5,
    retry_budget_s: 15,
    request_timeout_s: 10,
    stream_idle_timeout_s: 10,
    // Longer than the breaker and fallback steps take together, so the breakers stay open throughout.
    circuit_breaker: { failure_threshold: 3, recovery_timeout_s: 3 }
  },
  // per_tag: each user has a daily cap of their own (the user-budgets step)
  budget: {
    daily_spend_limit: 0.02,
    default_max_output_tokens: 1024,
    hold_ttl_s: 900,
    per_tag: { user: { daily: userDailyCap } }
  },
  ledger: { backend: "sqlite", path: ledgerPath },
  observability: { record_content: false }
})

/** How much faster than real time the rate-limit burst runs: its 60 s window passes in 3 s. */
export const burstClockFactor = 20

/**
 * The rate-limit steps' own client: the offline config with `gemini-flash` limited to `rpm: 5`, on
 * an in-memory ledger of its own (its slots and pauses stay out of the tour's ledger), timeouts long
 * enough to hold under the burst's fast clock.
 */
const limitedLayer = (sim: Simulator.Simulator) => {
  const base = offlineConfig(sim, ":memory:")
  return makeLiveLayer({
    userConfig: false,
    config: {
      ...base,
      models: { ...base.models, "gemini-flash": { ...base.models["gemini-flash"], limits: { rpm: 5 } } },
      resilience: {
        ...base.resilience,
        max_wait_timeout_s: 90,
        retry_budget_s: 600,
        request_timeout_s: 600,
        stream_idle_timeout_s: 600
      },
      ledger: { backend: "memory" }
    }
  })
}

const simulatorOf = (context: TourContext): Effect.Effect<Simulator.Simulator> =>
  context.sim === undefined
    ? Effect.dieMessage("this step needs the simulator (offline tour)")
    : Effect.succeed(context.sim)

/** Prints attempts with the gaps between them. */
const printAttempts = (out: Out, attempts: ReadonlyArray<AttemptFact>): void =>
  out.table(
    ["attempt", "endpoint", "status", "at", "gap"],
    attempts.map((a, index) => [
      String(index + 1),
      a.endpoint,
      String(a.status),
      `+${a.at} ms`,
      index === 0 ? "" : `${a.at - attempts[index - 1]!.at} ms`
    ])
  )

/** Reads the breakers, prints them, returns them. */
const showBreakers = (out: Out) =>
  Effect.tap(breakersOf(endpointOrder), (breakers) =>
    out.table(
      ["endpoint", "breaker", "failures", "probe in"],
      breakers.map((b) => [b.endpoint, b.state, String(b.failures), b.probeInMs === undefined ? "" : ms(b.probeInMs)])
    ))

const breakerOf = (breakers: ReadonlyArray<BreakerFact>, endpoint: string) =>
  breakers.find((b) => b.endpoint === endpoint)

const answeredBy = (response: GenerationResponse) =>
  `${response.alias} (${response.provider} ${response.model}) on ${response.endpoint}`

/** Writes streamed text wrapped at ~76 columns, indented like the notes. */
const makeWrapper = (out: Out) => {
  let column = 0
  return (text: string) => {
    let written = column === 0 ? "   " : ""
    for (const char of text) {
      if (char === "\n" || (char === " " && column >= 66)) {
        written += "\n   "
        column = 0
        if (char === " ") continue
      } else {
        written += char
        column++
      }
    }
    out.write(written)
  }
}

/** The tour, in order. */
export const tourSteps: ReadonlyArray<TourStep> = [
  {
    name: "generate",
    title: "a plain call returns the text",
    live: true,
    run: ({ model, out }) =>
      Effect.gen(function*() {
        const text = yield* generate({
          prompt: "Say hello to effect-llm in one sentence.",
          ...(model ? { model } : {})
        })
        out.note(`generate({ prompt }) → ${style.green(JSON.stringify(clip(text)))}`)
        return { text }
      })
  },
  {
    name: "full-response",
    title: "fullResponse: true returns the whole record",
    live: true,
    run: ({ model, out }) =>
      Effect.gen(function*() {
        const r = yield* generate({
          prompt: "Name three primary colours.",
          fullResponse: true,
          ...(model ? { model } : {})
        })
        out.keyValues([
          ["content", JSON.stringify(clip(r.content, 60))],
          ["model", r.model],
          ["alias", r.alias],
          ["provider", r.provider],
          ["endpoint", r.endpoint],
          ["usage", tokens(r.usage)],
          ["cost", usd(r.cost)],
          ["finish reason", r.finishReason],
          [
            "timing",
            `total ${ms(r.timing.totalMs)}${r.timing.ttftMs === undefined ? "" : `, ttft ${ms(r.timing.ttftMs)}`}`
          ],
          ["trace id", r.traceId],
          ["request id", r.requestId ?? "-"],
          ["attempts", String(r.attempts)]
        ])
        return { content: r.content, response: responseOf(r) }
      })
  },
  {
    name: "dashscope",
    title: "the same call to Qwen over DashScope's native API",
    live: false,
    run: ({ out }) =>
      Effect.gen(function*() {
        const r = yield* generate({ model: "qwen-plus", prompt: "1+1 等于几？", fullResponse: true })
        out.note(`→ ${style.green(JSON.stringify(clip(r.content, 70)))}`)
        out.note(`answered by ${answeredBy(r)}, request id ${r.requestId ?? "-"}, ${tokens(r.usage)}, ${usd(r.cost)}`)
        return { content: r.content, response: responseOf(r) }
      })
  },
  {
    name: "retries",
    title: "503, 503, 200 on a one-endpoint model: retried with exponential backoff",
    live: false,
    run: (context) =>
      Effect.gen(function*() {
        const { out } = context
        const sim = yield* simulatorOf(context)
        sim.script(endpoints.dashscope, { status: 503 }, { status: 503 })
        out.note(`simulator: ${endpoints.dashscope} (qwen-plus's only endpoint) answers 503, 503, then 200`)
        const r = yield* generate({ model: "qwen-plus", prompt: "Are you there?", fullResponse: true })
        const attempts = attemptsOf(sim)
        printAttempts(out, attempts)
        out.note(
          `→ attempts: ${style.bold(String(r.attempts))}, all on ${r.endpoint} (nowhere else to go), each gap about ` +
            `twice the last; answered in ${ms(r.timing.totalMs)}`
        )
        return { model: "qwen-plus", script: { [endpoints.dashscope]: [503, 503] }, response: responseOf(r) }
      })
  },
  {
    name: "failover",
    title: "a 503 from one endpoint: the retry goes to the next endpoint",
    live: false,
    run: (context) =>
      Effect.gen(function*() {
        const { out } = context
        const sim = yield* simulatorOf(context)
        sim.script(endpoints.primary, { status: 503 })
        out.note(`simulator: ${endpoints.primary} answers 503 once; ${endpoints.secondary} is healthy`)
        const r = yield* generate({ prompt: "Who is up?", fullResponse: true })
        printAttempts(out, attemptsOf(sim))
        out.note(
          `→ the retry went to the next endpoint of gemini-flash, ${style.bold(r.endpoint)}, after one backoff ` +
            `delay (attempts: ${r.attempts}); no second request to ${endpoints.primary}`
        )
        return { script: { [endpoints.primary]: [503] }, response: responseOf(r) }
      })
  },
  {
    name: "rate-limit",
    title: "a 429 with Retry-After: 1 is waited out on the same endpoint",
    live: false,
    run: (context) =>
      Effect.gen(function*() {
        const { out } = context
        const sim = yield* simulatorOf(context)
        sim.script(endpoints.primary, { status: 429, retryAfter: 1 })
        out.note(`simulator: ${endpoints.primary} answers 429 with Retry-After: 1, then 200`)
        const r = yield* generate({ prompt: "Rate limited?", fullResponse: true })
        const attempts = attemptsOf(sim)
        printAttempts(out, attempts)
        const waitedMs = (attempts[1]?.at ?? 0) - (attempts[0]?.at ?? 0)
        out.note(
          `→ waited ${(waitedMs / 1000).toFixed(2)} s as the server asked, then asked ${
            style.bold(r.endpoint)
          } again (a 429 is not the endpoint's fault: no failover, no breaker count); attempts: ${r.attempts}`
        )
        return { script: { [endpoints.primary]: [429] }, retryAfterS: 1, waitedMs, response: responseOf(r) }
      })
  },
  {
    name: "circuit-breaker",
    title: "an endpoint that keeps failing is cut off",
    live: false,
    run: (context) =>
      Effect.gen(function*() {
        const { out } = context
        const sim = yield* simulatorOf(context)
        sim.always(endpoints.primary, { status: 503 })
        out.note(`simulator: ${endpoints.primary} always answers 503 (failure_threshold: 3)`)
        const calls: Array<StepFacts> = []
        let openedAfterCall: number | undefined
        // Each call tries the primary first and fails over; once its breaker is open, one more call
        // shows the primary skipped without a request. (A bound, in case the breaker never opens.)
        for (let call = 1; call <= 6 && (openedAfterCall === undefined || call === openedAfterCall + 1); call++) {
          const since = lastSeq(sim)
          const r = yield* generate({ prompt: `Anyone there? (call ${call})`, fullResponse: true })
          const attempts = attemptsOf(sim, since)
          const primary = breakerOf(yield* breakersOf(endpointOrder), endpoints.primary)
          if (openedAfterCall === undefined && primary?.state === "open") openedAfterCall = call
          out.note(
            `call ${call}: ${attempts.map((a) => `${a.endpoint} ${a.status}`).join(" → ")}   ` +
              style.dim(`(breaker ${endpoints.primary}: ${primary?.state}, ${primary?.failures} failures)`)
          )
          calls.push({ call, attempts, response: responseOf(r), primaryBreaker: primary })
        }
        const breakers = yield* showBreakers(out)
        out.note(
          `→ breaker ${endpoints.primary} ${
            openedAfterCall === undefined
              ? style.red("never opened")
              : style.bold(`opened after call ${openedAfterCall}`)
          }; the next call went straight to ${endpoints.secondary}, no request to ${endpoints.primary}`
        )
        return { calls, openedAfterCall, breakers }
      })
  },
  {
    name: "fallback",
    title: "every endpoint down: the fallback model answers",
    live: false,
    run: (context) =>
      Effect.gen(function*() {
        const { out } = context
        const sim = yield* simulatorOf(context)
        sim.always(endpoints.primary, { status: 503 })
        sim.always(endpoints.secondary, { status: 503 })
        out.note(`simulator: ${endpoints.primary} (breaker open) and ${endpoints.secondary} always answer 503`)
        const r = yield* generate({ prompt: "Is anybody out there?", fullResponse: true })
        printAttempts(out, attemptsOf(sim))
        const breakers = yield* showBreakers(out)
        out.note(
          `→ no endpoint of gemini-flash is usable: answered by fallback model ${
            style.bold(r.alias)
          } (${r.provider} ${r.model} on ${r.endpoint}), attempts: ${r.attempts}`
        )
        return { response: responseOf(r), breakers }
      })
  },
  {
    name: "recovery",
    title: "after recovery_timeout_s one probe closes the breaker",
    live: false,
    run: (context) =>
      Effect.gen(function*() {
        const { out } = context
        yield* simulatorOf(context)
        out.note("simulator: both Gemini endpoints healthy again")
        const before = breakerOf(yield* breakersOf(endpointOrder), endpoints.primary)
        const waitedMs = (before?.probeInMs ?? 0) + 50
        out.note(`waiting ${ms(waitedMs)} until ${endpoints.primary}'s breaker lets a probe through...`)
        yield* Effect.sleep(waitedMs)
        const r = yield* generate({ prompt: "Back?", fullResponse: true })
        const breakers = yield* showBreakers(out)
        out.note(`→ the probe to ${r.endpoint} succeeded (attempts: ${r.attempts}); its breaker is closed again`)
        return { before, waitedMs, response: responseOf(r), breakers }
      })
  },
  {
    name: "stream",
    title: "a long answer streamed as it arrives",
    live: true,
    run: (context) =>
      Effect.gen(function*() {
        const { out } = context
        context.sim?.script(endpoints.primary, { tokens: 160, chars: 10, eventDelayMs: 8 })
        const write = makeWrapper(out)
        let finish: GenerationResponse | undefined
        let deltas = 0
        let text = ""
        yield* stream({
          prompt: "Tell me a long story about a patient retry loop.",
          ...(context.model ? { model: context.model } : {})
        }).pipe(
          Stream.runForEach((event) =>
            Effect.sync(() => {
              if (event.isFinish) finish = event.response
              else {
                deltas++
                text += event.delta
                write(event.delta)
              }
            })
          )
        )
        out.line()
        if (finish !== undefined) {
          out.note(
            `→ ${deltas} deltas, ttft ${ms(finish.timing.ttftMs)}, total ${ms(finish.timing.totalMs)}, usage ${
              tokens(finish.usage)
            }, finish ${finish.finishReason}, ${usd(finish.cost)}`
          )
        }
        return {
          deltas,
          chars: text.length,
          finished: finish !== undefined,
          ...(finish === undefined ? {} : { response: responseOf(finish) })
        }
      })
  },
  {
    name: "stream-stop",
    title: "a stream stopped early (Stream.take) is recorded as cancelled",
    live: false,
    run: (context) =>
      Effect.gen(function*() {
        const { out } = context
        const sim = yield* simulatorOf(context)
        sim.script(endpoints.primary, { events: 50, chars: 8, eventDelayMs: 10 })
        const traceId = `tour-stop-${crypto.randomUUID().slice(0, 8)}`
        const taken = yield* stream({ prompt: "Count to fifty slowly.", traceId }).pipe(
          Stream.take(5),
          Stream.runCollect
        )
        const text = [...taken].map((e) => e.delta).join("")
        out.note(`took ${taken.length} of 50 events (${JSON.stringify(text)}), then stopped reading`)
        const ledger = yield* Ledger
        const events = (yield* ledger.events({ traceId })).map(ledgerEventOf)
        out.table(
          ["event", "status", "usage", "cost"],
          events.map((e) => [e.type, e.status, tokens(e.usage), usd(e.cost)])
        )
        const cancel = events.find((e) => e.type === "cancel")
        out.note(`→ ledger: ${
          cancel
            ? `${style.bold(`cancel/${cancel.status}`)} entry with the usage seen so far`
            : style.red("no cancel entry")
        } (trace ${traceId})`)
        return { traceId, offered: 50, taken: taken.length, text, ledger: events }
      })
  },
  {
    name: "budget",
    title: "a call over the daily budget is refused before any request",
    live: false,
    run: (context) =>
      Effect.gen(function*() {
        const { out } = context
        const sim = yield* simulatorOf(context)
        out.note("budget.daily_spend_limit is $0.02; this call asks for up to 10,000 output tokens")
        const error = yield* generate({ prompt: "Write me a novel.", maxOutputTokens: 10_000 }).pipe(
          Effect.flatMap(() => Effect.dieMessage("the over-budget call was answered")),
          Effect.catchTag("BudgetExceededError", Effect.succeed)
        )
        out.note(`${style.bold("BudgetExceededError")} caught with Effect.catchTag: budget refusal`)
        out.keyValues([
          ["spent today", usd(error.spent)],
          ["daily limit", usd(error.limit)],
          ["this call's estimate", usd(error.estimate)]
        ])
        out.note(`→ no HTTP request was made (simulator requests during this step: ${sim.requests()})`)
        return {
          refusal: {
            _tag: error._tag,
            reason: error.reason,
            scope: error.scope,
            window: error.window,
            spent: error.spent,
            limit: error.limit,
            estimate: error.estimate
          },
          requests: sim.requests()
        }
      })
  },
  {
    name: "ledger",
    title: "the spend ledger: summary and events",
    live: false,
    run: ({ out }) =>
      Effect.gen(function*() {
        const ledger = yield* Ledger
        const summary = yield* ledger.summary({ groupBy: "model" })
        out.note("Ledger.summary({ groupBy: \"model\" })")
        out.table(
          ["model", "calls", "ok", "error", "cancelled", "in", "out", "cost"],
          summary.map((r) => [
            r.key,
            String(r.calls),
            String(r.ok),
            String(r.error),
            String(r.cancelled),
            String(r.inputTokens),
            String(r.outputTokens),
            usd(r.cost)
          ])
        )
        const events = (yield* ledger.events()).map(ledgerEventOf)
        const start = events[0]?.timestamp ?? 0
        out.line()
        out.note(
          `Ledger.events(): ${events.length} events (every call holds its estimate first, then commits or cancels)`
        )
        out.table(
          ["at", "event", "status", "alias", "endpoint", "attempts", "in/out", "cost", "trace"],
          events.map((e) => [
            `+${((e.timestamp - start) / 1000).toFixed(2)}s`,
            e.type,
            e.status,
            e.alias ?? e.model,
            e.endpoint ?? "",
            e.attempts === undefined ? "" : String(e.attempts),
            e.usage === undefined ? "" : `${e.usage.inputTokens}/${e.usage.outputTokens}`,
            usd(e.cost),
            e.traceId.slice(0, 13)
          ])
        )
        const spendToday = yield* ledger.spendToday()
        out.note(`spend today: ${usd(spendToday)}`)
        return { summary: summary.map((row) => ({ ...row })), events, spendToday }
      })
  },
  {
    name: "user-budgets",
    title: "a cap per user (per_tag): one user refused, another served, an alert, the report by user",
    live: false,
    run: (context) =>
      Effect.gen(function*() {
        const { out } = context
        const sim = yield* simulatorOf(context)
        const ledger = yield* Ledger
        out.note(`budget.per_tag.user.daily is ${usd(userDailyCap)}: every value of the user tag is its own scope`)
        // Subscribe to the alerts before the calls (Ledger.alerts is a hot stream).
        const alerts: Array<BudgetAlert> = []
        const collector = yield* Effect.fork(
          Stream.runForEach(ledger.alerts, (alert) => Effect.sync(() => alerts.push(alert)))
        )
        while ((yield* Fiber.status(collector))._tag !== "Suspended") yield* Effect.yieldNow()

        sim.script(endpoints.primary, { tokens: 1000 })
        const asAlice = withCallContext({ tags: { user: "alice" } })
        const first = yield* generate({ prompt: "Draft a long memo.", fullResponse: true }).pipe(asAlice)
        out.note(`alice: answered (${tokens(first.usage)}, ${usd(first.cost)})`)
        for (let turns = 0; alerts.length === 0 && turns < 1000; turns++) yield* Effect.yieldNow()
        yield* Fiber.interrupt(collector)
        for (const alert of alerts) {
          out.note(
            `her hold fired a ${style.bold("BudgetAlert")} on Ledger.alerts: ${alert.scope} ${alert.window} reached ${
              Math.round(alert.threshold * 100)
            }% (${usd(alert.spent)} of ${usd(alert.limit)})`
          )
        }
        const requestsBefore = sim.requests()
        const refusal = yield* generate({ prompt: "And another one." }).pipe(
          asAlice,
          Effect.flatMap(() => Effect.dieMessage("alice's call over her cap was answered")),
          Effect.catchTag("BudgetExceededError", Effect.succeed)
        )
        const requestsForRefusal = sim.requests() - requestsBefore
        out.note(
          `alice again: ${style.bold("BudgetExceededError")} scope ${refusal.scope}, window ${refusal.window}: ` +
            `spent ${usd(refusal.spent)} + this call's ${usd(refusal.estimate)} > ${usd(refusal.limit)}; no request`
        )
        const bob = yield* generate({ prompt: "A short question.", maxOutputTokens: 200, fullResponse: true }).pipe(
          withCallContext({ tags: { user: "bob" } })
        )
        out.note(`bob: answered (${tokens(bob.usage)}, ${usd(bob.cost)}) — his cap is his own`)

        const report = yield* ledger.summary({ groupBy: "tag:user" })
        out.note("Ledger.summary({ groupBy: \"tag:user\" })")
        out.table(
          ["user", "calls", "ok", "error", "cancelled", "cost"],
          report.map((r) => [
            r.key === "" ? "(untagged)" : r.key,
            String(r.calls),
            String(r.ok),
            String(r.error),
            String(r.cancelled),
            usd(r.cost)
          ])
        )
        return {
          cap: userDailyCap,
          alice: { response: responseOf(first), spend: yield* ledger.spend("user:alice", "daily") },
          refusal: {
            _tag: refusal._tag,
            scope: refusal.scope,
            window: refusal.window,
            spent: refusal.spent,
            limit: refusal.limit,
            estimate: refusal.estimate
          },
          requestsForRefusal,
          bob: { response: responseOf(bob), spend: yield* ledger.spend("user:bob", "daily") },
          alerts: alerts.map((alert) => ({ ...alert })),
          report: report.map((row) => ({ ...row }))
        }
      })
  },
  {
    name: "batch",
    title: "a batch of prompts: bounded concurrency, failures recorded, a budget refusal stops it",
    live: false,
    run: (context) =>
      Effect.gen(function*() {
        const { out } = context
        const sim = yield* simulatorOf(context)
        const concurrency = 3
        // q5 and q6 fail by their prompts' directives; q8 asks for more than the daily budget allows.
        sim.script(endpoints.primary, { status: 503 })
        const prompts: ReadonlyArray<readonly [string, string, number?]> = [
          ["q1", "Label: 'great product, fast delivery'"],
          ["q2", "Label: 'arrived broken'"],
          ["q3", "Label: 'it is fine I guess'"],
          ["q4", "Label: 'would buy again'"],
          ["q5", "Label: 'refund please' [[sim status=400]]"],
          ["q6", "Label: 'meh' [[sim status=429 quota=day]]"],
          ["q7", "Label: 'five stars'"],
          ["q8", "Write a novel about every review.", 10_000],
          ["q9", "Label: 'never again'"],
          ["q10", "Label: 'okay'"],
          ["q11", "Label: 'superb'"]
        ]
        const items = prompts.map(([id, prompt, maxOutputTokens]): BatchItem => ({
          id,
          request: { prompt, maxOutputTokens: maxOutputTokens ?? 64 }
        }))
        out.note(
          `${items.length} prompts, concurrency ${concurrency}; simulator: ${endpoints.primary} answers 503 once, ` +
            "q5 gets a 400, q6 a daily-quota 429, q8 asks for 10,000 output tokens (over the budget)"
        )
        const results: Array<BatchResult> = []
        const stop: { error?: BatchStoppedError } = {}
        yield* runBatch(Stream.fromIterable(items), { concurrency }).pipe(
          // Caught in the stream (rather than after running it): the stop is an outcome here, not a failure.
          Stream.catchTag("BatchStoppedError", (error) => Stream.execute(Effect.sync(() => (stop.error = error)))),
          Stream.runForEach((result) => Effect.sync(() => results.push(result)))
        )
        out.table(
          ["item", "outcome", "endpoint", "attempts", "latency"],
          results.map((r) => [
            r.id,
            r.ok ? style.green("ok") : style.red(r.error._tag),
            r.ok ? r.response.endpoint : "",
            r.ok ? String(r.response.attempts) : "",
            ms(r.latencyMs)
          ])
        )
        const stopped = stop.error
        const settled = new Set(results.map((r) => r.id))
        const notRun = items.map((item) => item.id).filter((id) => !settled.has(id))
        const traceIds = new Set(results.map((r) => r.traceId))
        const ledgerEvents = (yield* (yield* Ledger).events()).filter((e) => traceIds.has(e.traceId))
        out.note(
          `→ results in completion order; failures are results and the batch went on; ${
            stopped === undefined ? "it was never stopped" : style.bold(`${stopped.error._tag} at ${stopped.id}`)
          } stopped it: ${notRun.length} item(s) never started (${notRun.join(", ")})`
        )
        return {
          concurrency,
          items: items.length,
          results: results.map((r) =>
            r.ok
              ? {
                id: r.id,
                ok: true,
                endpoint: r.response.endpoint,
                attempts: r.response.attempts,
                cost: r.response.cost
              }
              : {
                id: r.id,
                ok: false,
                error: r.error._tag,
                ...("reason" in r.error ? { reason: r.error.reason } : {})
              }
          ),
          stopped: stopped === undefined ? undefined : { id: stopped.id, error: stopped.error._tag },
          notRun,
          ledger: ledgerEvents.map(ledgerEventOf)
        }
      })
  },
  ...aiSteps(endpoints.primary),
  {
    name: "rate-limits",
    title: "a burst of 8 calls against rpm: 5 waits its turn instead of collecting 429s",
    live: false,
    run: (context) =>
      Effect.gen(function*() {
        const { out } = context
        const sim = yield* simulatorOf(context)
        const calls = 8
        out.note(
          `gemini-flash with limits: { rpm: 5 }; ${calls} calls at once. This step's clock runs ${burstClockFactor}× ` +
            "faster (a 60 s window passes in 3 s): the limiter reads only Effect's Clock, so this is its real behaviour, compressed"
        )
        const results = yield* Effect.all(
          Array.from({ length: calls }, (_, i) =>
            Effect.either(generate({ prompt: `Burst call ${i + 1}`, maxOutputTokens: 32, fullResponse: true }))),
          { concurrency: "unbounded" }
        ).pipe(Effect.provide(limitedLayer(sim)), Effect.withClock(ScaledClock.make(burstClockFactor)))
        const arrivals = attemptsOf(sim).map((a) => ({ ...a, at: Math.round(a.at * burstClockFactor) }))
        out.table(
          ["request", "endpoint", "status", "at (scaled)"],
          arrivals.map((a, i) => [String(i + 1), a.endpoint, String(a.status), `+${(a.at / 1000).toFixed(1)} s`])
        )
        const answered = results.filter(Either.isRight).length
        const waited = arrivals.filter((a) =>
          a.at >= 30_000
        ).length
        out.note(
          `→ ${style.bold(`${answered} of ${calls}`)} answered, ${
            arrivals.filter((a) => a.status === 429).length
          } 429s: 5 requests went at once, the other ${waited} waited (Effect.sleep) until the first slots left the 60 s window`
        )
        return {
          rpm: 5,
          calls,
          clockFactor: burstClockFactor,
          answered,
          attempts: results.map((r) => Either.isRight(r) ? r.right.attempts : 0),
          statuses: arrivals.map((a) => a.status),
          arrivalsMs: arrivals.map((a) => a.at),
          waited
        }
      })
  },
  {
    name: "server-pause",
    title: "one 429 with Retry-After: 1 pauses the endpoint for every concurrent caller",
    live: false,
    run: (context) =>
      Effect.gen(function*() {
        const { out } = context
        const sim = yield* simulatorOf(context)
        sim.script(endpoints.primary, { status: 429, retryAfter: 1 })
        out.note(
          `simulator: ${endpoints.primary} answers 429 with Retry-After: 1 once; three more callers start right after it`
        )
        const responses = yield* Effect.gen(function*() {
          const first = yield* Effect.fork(
            generate({ prompt: "First in line", maxOutputTokens: 32, fullResponse: true })
          )
          // the 429 has been answered (and learned) before the others start
          while (!sim.log().some((request) => request.status === 429)) yield* Effect.sleep("5 millis")
          yield* Effect.sleep("20 millis")
          const others = yield* Effect.all(
            Array.from(
              { length: 3 },
              (_, i) => generate({ prompt: `Caller ${i + 2}`, maxOutputTokens: 32, fullResponse: true })
            ),
            { concurrency: "unbounded" }
          )
          return [yield* Fiber.join(first), ...others]
        }).pipe(Effect.provide(limitedLayer(sim)))
        const attempts = attemptsOf(sim)
        printAttempts(out, attempts)
        out.note(
          `→ after the 429 nothing went to ${endpoints.primary} for 1 s: the other callers waited out the pause it ` +
            `taught (limitKind "server") instead of collecting 429s; every call answered, from ${
              [...new Set(responses.map((r) => r.endpoint))].join(", ")
            }`
        )
        return {
          retryAfterS: 1,
          responses: responses.map(responseOf),
          attempts: attempts.map((a) => ({ endpoint: a.endpoint, status: a.status, at: a.at }))
        }
      })
  }
]
