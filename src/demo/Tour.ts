/**
 * The `npm run demo` tour as a list of named steps, each an Effect over the public API only
 * (`generate`, `stream`, `Ledger`, `CircuitBreaker`). Offline, the steps script the embedded
 * simulator to show retries, rate-limit waits, breakers, fallback, streaming and the budget; the
 * steps marked `live` also run against the real services (`--live`). Add a step by appending to
 * `tourSteps`.
 */
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Stream from "effect/Stream"
import {
  CircuitBreaker,
  generate,
  type GenerationResponse,
  Ledger,
  type LedgerError,
  type LLMClient,
  type LLMError,
  stream
} from "../index.js"
import type * as Simulator from "../simulator/Simulator.js"
import { clip, heading, keyValues, line, ms, note, style, table, tokens, usd } from "./Print.js"

/** What a step can use besides the services. */
export interface TourContext {
  /** The embedded simulator (offline tour), absent in `--live` mode. */
  readonly sim: Simulator.Simulator | undefined
  /** The model alias of the live steps (`undefined`: the config's `default_model`). */
  readonly model: string | undefined
}

/** The services every step may use (all provided by `makeLiveLayer`). */
export type TourServices = LLMClient | Ledger | CircuitBreaker

/** One named step of the tour. */
export interface TourStep {
  /** Short, stable name (shown in the heading and used by tests). */
  readonly name: string
  readonly title: string
  /** Also runs in `--live` mode (against the real services, so it must not need the simulator). */
  readonly live: boolean
  readonly run: (context: TourContext) => Effect.Effect<void, LLMError | LedgerError, TourServices>
}

/** The simulated endpoints of the offline tour. */
export const endpoints = {
  primary: "google-primary",
  secondary: "google-secondary",
  dashscope: "dashscope-intl"
} as const

/**
 * The offline tour's configuration, in the YAML shape of API.md §4, pointing every endpoint at the
 * simulator: two Gemini endpoints and one DashScope endpoint, a fallback from `gemini-flash` to
 * `qwen-plus`, short delays so resilience shows in seconds, a small daily budget.
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
    // About as long as the breaker and fallback steps take together, so the breakers stay open throughout.
    circuit_breaker: { failure_threshold: 3, recovery_timeout_s: 3 }
  },
  budget: { daily_spend_limit: 0.02, default_max_output_tokens: 1024, hold_ttl_s: 900 },
  ledger: { backend: "sqlite", path: ledgerPath },
  observability: { record_content: false }
})

const simulatorOf = (context: TourContext): Effect.Effect<Simulator.Simulator> =>
  context.sim === undefined
    ? Effect.dieMessage("this step needs the simulator (offline tour)")
    : Effect.succeed(context.sim)

/** Prints the attempts the simulator saw since request number `since`, with the gaps between them. */
const timeline = (sim: Simulator.Simulator, since: number) => {
  const seen = sim.log().filter((request) => request.seq > since)
  const first = seen[0]?.timestamp ?? 0
  table(
    ["attempt", "endpoint", "status", "at", "gap"],
    seen.map((request, index) => [
      String(index + 1),
      request.endpoint,
      String(request.status),
      `+${request.timestamp - first} ms`,
      index === 0 ? "" : `${request.timestamp - seen[index - 1]!.timestamp} ms`
    ])
  )
}

const lastSeq = (sim: Simulator.Simulator) => sim.log().at(-1)?.seq ?? 0

const breakerTable = Effect.gen(function*() {
  const breakers = yield* CircuitBreaker
  const now = yield* Clock.currentTimeMillis
  const states = yield* breakers.states()
  table(
    ["endpoint", "breaker", "failures", "probe in"],
    states.map((
      b
    ) => [b.endpoint, b.state, String(b.failures), b.reopensAt === undefined ? "" : ms(Math.max(0, b.reopensAt - now))])
  )
  return states
})

const answeredBy = (response: GenerationResponse) =>
  `${response.alias} (${response.provider} ${response.model}) on ${response.endpoint}`

/** Writes streamed text wrapped at ~76 columns, indented like the notes. */
const makeWrapper = () => {
  let column = 0
  return (text: string) => {
    let out = column === 0 ? "   " : ""
    for (const char of text) {
      if (char === "\n" || (char === " " && column >= 66)) {
        out += "\n   "
        column = 0
        if (char === " ") continue
      } else {
        out += char
        column++
      }
    }
    process.stdout.write(out)
  }
}

/** The tour, in order. */
export const tourSteps: ReadonlyArray<TourStep> = [
  {
    name: "generate",
    title: "a plain call returns the text",
    live: true,
    run: ({ model }) =>
      Effect.gen(function*() {
        const text = yield* generate({
          prompt: "Say hello to effect-llm in one sentence.",
          ...(model ? { model } : {})
        })
        note(`generate({ prompt }) → ${style.green(JSON.stringify(clip(text)))}`)
      })
  },
  {
    name: "full-response",
    title: "fullResponse: true returns the whole record",
    live: true,
    run: ({ model }) =>
      Effect.gen(function*() {
        const r = yield* generate({
          prompt: "Name three primary colours.",
          fullResponse: true,
          ...(model ? { model } : {})
        })
        keyValues([
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
      })
  },
  {
    name: "dashscope",
    title: "the same call to Qwen over DashScope's native API",
    live: false,
    run: () =>
      Effect.gen(function*() {
        const r = yield* generate({ model: "qwen-plus", prompt: "1+1 等于几？", fullResponse: true })
        note(`→ ${style.green(JSON.stringify(clip(r.content, 70)))}`)
        note(`answered by ${answeredBy(r)}, request id ${r.requestId ?? "-"}, ${tokens(r.usage)}, ${usd(r.cost)}`)
      })
  },
  {
    name: "retries",
    title: "503, 503, 200: retried with exponential backoff",
    live: false,
    run: (context) =>
      Effect.gen(function*() {
        const sim = yield* simulatorOf(context)
        const since = lastSeq(sim)
        sim.script(endpoints.primary, { status: 503 }, { status: 503 })
        note(`simulator: ${endpoints.primary} answers 503, 503, then 200`)
        const r = yield* generate({ prompt: "Are you there?", fullResponse: true })
        timeline(sim, since)
        note(`→ attempts: ${style.bold(String(r.attempts))}, answered by ${answeredBy(r)} in ${ms(r.timing.totalMs)}`)
      })
  },
  {
    name: "rate-limit",
    title: "a 429 with Retry-After: 1 is waited out",
    live: false,
    run: (context) =>
      Effect.gen(function*() {
        const sim = yield* simulatorOf(context)
        const since = lastSeq(sim)
        sim.script(endpoints.primary, { status: 429, retryAfter: 1 })
        note(`simulator: ${endpoints.primary} answers 429 with Retry-After: 1, then 200`)
        const r = yield* generate({ prompt: "Rate limited?", fullResponse: true })
        timeline(sim, since)
        const waited = sim.log().filter((e) => e.seq > since).map((e) => e.timestamp)
        note(
          `→ waited ${
            ((waited[1]! - waited[0]!) / 1000).toFixed(2)
          } s as the server asked; attempts: ${r.attempts}, answered by ${r.endpoint}`
        )
      })
  },
  {
    name: "circuit-breaker",
    title: "an endpoint that keeps failing is cut off",
    live: false,
    run: (context) =>
      Effect.gen(function*() {
        const sim = yield* simulatorOf(context)
        const since = lastSeq(sim)
        sim.always(endpoints.primary, { status: 503 })
        note(`simulator: ${endpoints.primary} now always answers 503 (failure_threshold: 3)`)
        const r = yield* generate({ prompt: "Anyone?", fullResponse: true })
        timeline(sim, since)
        const states = yield* breakerTable
        const primary = states.find((b) => b.endpoint === endpoints.primary)
        note(
          `→ breaker ${endpoints.primary} ${
            primary?.state === "open" ? style.bold("opened") : primary?.state
          }; traffic moved to ${style.bold(r.endpoint)} (attempts: ${r.attempts})`
        )
      })
  },
  {
    name: "fallback",
    title: "every endpoint down: the fallback model answers",
    live: false,
    run: (context) =>
      Effect.gen(function*() {
        const sim = yield* simulatorOf(context)
        const since = lastSeq(sim)
        sim.always(endpoints.secondary, { status: 503 })
        note(`simulator: ${endpoints.secondary} now always answers 503 too`)
        const r = yield* generate({ prompt: "Is anybody out there?", fullResponse: true })
        timeline(sim, since)
        yield* breakerTable
        note(
          `→ gemini-flash has no usable endpoint: answered by fallback model ${
            style.bold(r.alias)
          } (${r.provider} ${r.model} on ${r.endpoint}), attempts: ${r.attempts}`
        )
      })
  },
  {
    name: "recovery",
    title: "after recovery_timeout_s one probe closes the breaker",
    live: false,
    run: (context) =>
      Effect.gen(function*() {
        const sim = yield* simulatorOf(context)
        sim.always(endpoints.primary, undefined)
        sim.always(endpoints.secondary, undefined)
        note("simulator: both Gemini endpoints healthy again")
        const breakers = yield* CircuitBreaker
        const primary = (yield* breakers.states()).find((b) => b.endpoint === endpoints.primary)
        const wait = Math.max(0, (primary?.reopensAt ?? 0) - (yield* Clock.currentTimeMillis)) + 50
        note(`waiting ${ms(wait)} until ${endpoints.primary}'s breaker lets a probe through...`)
        yield* Effect.sleep(wait)
        const r = yield* generate({ prompt: "Back?", fullResponse: true })
        yield* breakerTable
        note(`→ the probe to ${r.endpoint} succeeded (attempts: ${r.attempts}); its breaker is closed again`)
      })
  },
  {
    name: "stream",
    title: "a long answer streamed as it arrives",
    live: true,
    run: (context) =>
      Effect.gen(function*() {
        context.sim?.script(endpoints.primary, { tokens: 160, chars: 10, eventDelayMs: 12 })
        const write = makeWrapper()
        let finish: GenerationResponse | undefined
        let deltas = 0
        yield* stream({
          prompt: "Tell me a long story about a patient retry loop.",
          ...(context.model ? { model: context.model } : {})
        }).pipe(
          Stream.runForEach((event) =>
            Effect.sync(() => {
              if (event.isFinish) finish = event.response
              else {
                deltas++
                write(event.delta)
              }
            })
          )
        )
        line()
        if (finish !== undefined) {
          note(
            `→ ${deltas} deltas, ttft ${ms(finish.timing.ttftMs)}, total ${ms(finish.timing.totalMs)}, usage ${
              tokens(finish.usage)
            }, finish ${finish.finishReason}, ${usd(finish.cost)}`
          )
        }
      })
  },
  {
    name: "stream-stop",
    title: "a stream stopped early (Stream.take) is recorded as cancelled",
    live: false,
    run: (context) =>
      Effect.gen(function*() {
        const sim = yield* simulatorOf(context)
        sim.script(endpoints.primary, { events: 50, chars: 8, eventDelayMs: 10 })
        const traceId = `tour-stop-${crypto.randomUUID().slice(0, 8)}`
        const taken = yield* stream({ prompt: "Count to fifty slowly.", traceId }).pipe(
          Stream.take(5),
          Stream.runCollect
        )
        note(
          `took ${taken.length} of 50 events (${
            JSON.stringify([...taken].map((e) => e.delta).join(""))
          }), then stopped reading`
        )
        const ledger = yield* Ledger
        const events = yield* ledger.events({ traceId })
        table(
          ["event", "status", "usage", "cost"],
          events.map((e) => [e.type, e.status, tokens(e.usage), usd(e.cost)])
        )
        const cancel = events.find((e) => e.type === "cancel")
        note(`→ ledger: ${
          cancel
            ? `${style.bold(`cancel/${cancel.status}`)} entry with the usage seen so far`
            : style.red("no cancel entry")
        } (trace ${traceId})`)
      })
  },
  {
    name: "budget",
    title: "a call over the daily budget is refused before any request",
    live: false,
    run: (context) =>
      Effect.gen(function*() {
        const sim = yield* simulatorOf(context)
        const before = sim.requests()
        note("budget.daily_spend_limit is $0.02; this call asks for up to 10,000 output tokens")
        yield* generate({ prompt: "Write me a novel.", maxOutputTokens: 10_000 }).pipe(
          Effect.flatMap(() => Effect.dieMessage("the over-budget call was answered")),
          Effect.catchTag("BudgetExceededError", (error) =>
            Effect.sync(() => {
              note(`${style.bold("BudgetExceededError")} caught with Effect.catchTag: budget refusal`)
              keyValues([
                ["spent today", usd(error.spent)],
                ["daily limit", usd(error.limit)],
                ["this call's estimate", usd(error.estimate)]
              ])
              note(`→ no HTTP request was made (simulator requests: ${before} before, ${sim.requests()} after)`)
            }))
        )
      })
  },
  {
    name: "ledger",
    title: "the spend ledger: summary and events",
    live: false,
    run: () =>
      Effect.gen(function*() {
        const ledger = yield* Ledger
        const rows = yield* ledger.summary({ groupBy: "model" })
        note("Ledger.summary({ groupBy: \"model\" })")
        table(
          ["model", "calls", "ok", "error", "cancelled", "in", "out", "cost"],
          rows.map((
            r
          ) => [
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
        const events = yield* ledger.events()
        const start = events[0]?.timestamp ?? 0
        line()
        note(`Ledger.events(): ${events.length} events (every call holds its estimate first, then commits or cancels)`)
        table(
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
        note(`spend today: ${usd(yield* ledger.spendToday())}`)
      })
  }
]

/** Runs steps in order; a failing step is reported and the tour goes on. Returns the failed steps' names. */
export const runTour = (
  steps: ReadonlyArray<TourStep>,
  context: TourContext
): Effect.Effect<ReadonlyArray<string>, never, TourServices> =>
  Effect.gen(function*() {
    const failed: Array<string> = []
    for (const [index, step] of steps.entries()) {
      heading(index + 1, step.name, step.title)
      const started = yield* Clock.currentTimeMillis
      const exit = yield* Effect.exit(step.run(context))
      const elapsed = (yield* Clock.currentTimeMillis) - started
      if (Exit.isSuccess(exit)) note(style.dim(`(${step.name}: ${elapsed} ms)`))
      else {
        failed.push(step.name)
        const error = Cause.failureOption(exit.cause)
        note(
          style.red(
            `✗ step ${step.name} failed: ${
              error._tag === "Some" ? `${error.value._tag}: ${error.value.message}` : Cause.pretty(exit.cause)
            }`
          )
        )
      }
    }
    return failed
  })
