/**
 * Rate limits through the client (API.md §11), with `TestClock` on every ledger backend: a burst
 * waits its turn, waits versus refusals by `max_wait_timeout_s`, the retry budget and
 * `wait_on_rate_limit`, retries taking slots, tokens corrected at settlement, the pause a 429 with
 * Retry-After teaches, the config keys, and what the limiter reports (span, metrics).
 */
import { assert, describe, it } from "@effect/vitest"
import * as Chunk from "effect/Chunk"
import * as Clock from "effect/Clock"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Fiber from "effect/Fiber"
import * as HashMap from "effect/HashMap"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/TestClock"
import { FatalError, RateLimitError, RetryableError } from "../../src/domain/Errors.js"
import type { GenerateRequest } from "../../src/domain/Request.js"
import * as Telemetry from "../../src/internal/Telemetry.js"
import { layerWith } from "../../src/layers/Live.js"
import { makeMockProviders, type MockCall } from "../../src/layers/Test.js"
import { withBilledUsage } from "../../src/providers/http/Errors.js"
import type { ProviderAnswer } from "../../src/providers/Provider.js"
import { CircuitBreaker } from "../../src/services/CircuitBreaker.js"
import { layerMemory, Ledger } from "../../src/services/Ledger.js"
import { LLMClient } from "../../src/services/LLMClient.js"
import * as LLMConfig from "../../src/services/LLMConfig.js"
import { perMessageTokenAllowance } from "../../src/services/Pricing.js"
import { backends, day } from "../support/LedgerBackends.js"
import * as RecordingTracer from "../support/RecordingTracer.js"
import { joinAdvancing } from "../support/TestClockRun.js"

/** `flash` (with `limits`, falling back to `qwen`) and `pro` share the google endpoint `g1`. */
const configWith = (
  limits: Record<string, number> | undefined,
  resilience: Record<string, unknown> = {},
  proLimits?: Record<string, number>
) => ({
  default_model: "flash",
  providers: {
    google: { api_key: "limits-key", endpoints: [{ name: "g1", base_url: "http://127.0.0.1:9" }] },
    dashscope: { api_key: "limits-key", endpoints: [{ name: "d1", base_url: "http://127.0.0.1:9" }] }
  },
  models: {
    flash: {
      provider: "google",
      model_id: "gemini-x",
      fallbacks: ["qwen"],
      ...(limits === undefined ? {} : { limits })
    },
    pro: { provider: "google", model_id: "gemini-pro", ...(proLimits === undefined ? {} : { limits: proLimits }) },
    qwen: { provider: "dashscope", model_id: "qwen-x" }
  },
  resilience: { base_delay_s: 1, max_delay_s: 1, max_retries: 3, ...resilience },
  budget: { daily_spend_limit: 0 },
  ledger: { backend: "memory" }
})

/** An answer with fixed usage (10 in, 5 out). */
const answer = (call: MockCall): ProviderAnswer => ({
  content: `answer from ${call.endpoint}`,
  reasoning: undefined,
  usage: { inputTokens: 10, outputTokens: 5, totalTokens: 15 },
  finishReason: "stop",
  requestId: undefined,
  modelVersion: call.modelId
})

const serverSays429 = (call: MockCall, seconds: number, reason: "rate_limited" | "quota_exhausted" = "rate_limited") =>
  new RateLimitError({
    reason,
    message: "429 Too Many Requests",
    provider: call.provider,
    endpoint: call.endpoint,
    status: 429,
    retryAfter: Duration.millis(seconds * 1000)
  })

/** A 503 from the endpoint called. */
const unavailable = (call: MockCall) =>
  Effect.fail(new RetryableError({ reason: "server_error", message: "503", status: 503, endpoint: call.endpoint }))

/** A mock's reply: the first arrival gets a 503, every later one the answer. */
const firstUnavailable = (call: MockCall, index: number) =>
  index === 0 ? unavailable(call) : Effect.succeed(answer(call))

/** A request's arrival at the mock: when, where, for which model. */
interface Arrival {
  readonly at: number
  readonly endpoint: string
  readonly modelId: string
}

/**
 * The client over mock providers answering with `reply` (by the arrival's index), recording each
 * arrival's time on the `TestClock` relative to `day`.
 */
const harness = (
  config: unknown,
  ledger: Layer.Layer<Ledger, unknown>,
  reply: (
    call: MockCall,
    index: number
  ) => Effect.Effect<ProviderAnswer, RateLimitError | RetryableError | FatalError> = (call) =>
    Effect.succeed(answer(call))
) => {
  const arrivals: Array<Arrival> = []
  const providers = makeMockProviders({
    otherwise: (call) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) => {
        arrivals.push({ at: now - day, endpoint: call.endpoint, modelId: call.modelId })
        return reply(call, arrivals.length - 1)
      })
  })
  const layer = layerWith(LLMConfig.layerIsolated(config), providers.layer, ledger as Layer.Layer<Ledger>)
  return { arrivals, layer }
}

const generate = (request: GenerateRequest = {}) =>
  Effect.flatMap(LLMClient, (client) => client.generate({ prompt: "hello", ...request, fullResponse: true }))

/** Runs `calls` concurrently to completion under the moving test clock. */
const all = <A, E, R>(calls: ReadonlyArray<Effect.Effect<A, E, R>>) =>
  Effect.flatMap(
    Effect.fork(Effect.all(calls.map(Effect.either), { concurrency: "unbounded" })),
    joinAdvancing
  )

/** The most arrivals in any 60 s window. */
const busiestMinute = (times: ReadonlyArray<number>) =>
  Math.max(0, ...times.map((start) => times.filter((t) => t >= start && t < start + 60_000).length))

const localLimit = (error: unknown) => {
  assert.instanceOf(error, RateLimitError)
  const refused = error as RateLimitError
  assert.strictEqual(refused.reason, "local_limit")
  assert.strictEqual(refused.status, undefined)
  return refused
}

describe.each(backends)("rate limits through the client ($name)", (backend) => {
  const test = (name: string, body: () => Effect.Effect<void, unknown, never>) =>
    it.effect.skipIf(backend.skip)(name, () =>
      Effect.gen(function*() {
        yield* TestClock.setTime(day)
        yield* body()
      }))
  const ledger = () => backend.layer(900)
  // The PostgreSQL client's own timers sleep on the test clock too, and `joinAdvancing` moves the
  // clock to them while a query is in flight: on it, times are checked as bounds, not exactly.
  const postgres = backend.name === "postgres"

  test("a burst against rpm: 2 waits its turn: every call answers, never more than 2 requests in any 60 s", () =>
    Effect.gen(function*() {
      // each wait is within max_wait_timeout_s (60 s); the last call waits 120 s in all, within its retry budget
      const { arrivals, layer } = harness(configWith({ rpm: 2 }, { retry_budget_s: postgres ? 3600 : 150 }), ledger())
      // On PostgreSQL the calls go one after another: concurrent ones would let the clock jump past a
      // sleeping caller's wake-up while another's admission query is in flight, so its request would be
      // recorded a minute after the limiter admitted it (an artefact of the moving test clock).
      const calls = Array.from({ length: 5 }, () => generate())
      const results = yield* (postgres
        ? Effect.flatMap(Effect.fork(Effect.all(calls.map(Effect.either))), joinAdvancing)
        : all(calls)).pipe(Effect.provide(layer))
      assert.deepStrictEqual(results.map(Either.isRight), [true, true, true, true, true])
      const times = arrivals.map((a) => a.at).sort((a, b) => a - b)
      if (postgres) assert.isAtMost(busiestMinute(times), 2)
      else assert.deepStrictEqual(times, [0, 0, 60_000, 60_000, 120_000])
    }))

  test("over max_wait_timeout_s: local_limit at once, with no request, no fallback and no breaker count", () =>
    Effect.gen(function*() {
      const config = configWith({ rpm: 1 }, { max_wait_timeout_s: 30, circuit_breaker: { failure_threshold: 1 } })
      const { arrivals, layer } = harness(config, ledger())
      yield* Effect.gen(function*() {
        yield* generate()
        yield* TestClock.adjust("15 seconds")
        const refused = localLimit(yield* Effect.flip(generate()))
        assert.strictEqual(refused.limitKind, "rpm")
        assert.strictEqual(Duration.toMillis(refused.retryAfter!), 45_000)
        assert.strictEqual(refused.endpoint, "g1")
        assert.include(
          refused.message,
          "limit of 1 request per minute (models.flash.limits.rpm): the next slot frees in 45s"
        )
        assert.strictEqual(arrivals.length, 1) // the fallback qwen was not tried
        const breakers = yield* (yield* CircuitBreaker).states()
        assert.deepStrictEqual(
          breakers.filter((b) => b.endpoint === "g1").map((b) => [b.endpoint, b.state, b.failures]),
          [["g1", "closed", 0]]
        )
        // the refused call settled as an error in the ledger, and took no slot
        const use = yield* (yield* Ledger).limitUse()
        assert.strictEqual(use[0]?.requestsMinute, 1)
        // once the wait fits (45 s left > 30 s… 20 s later 25 s left) the next call waits and goes
        yield* TestClock.adjust("20 seconds")
        const fiber = yield* Effect.fork(generate())
        // (on PostgreSQL a query in flight lands before the clock moves: the call's hold renewer sleeps too)
        yield* joinAdvancing(fiber, { settleMs: postgres ? 200 : 0 })
        // (on PostgreSQL the moving clock can pass the wake-up while a query is in flight: a bound there)
        if (postgres) assert.isAtLeast(arrivals[1]!.at, 60_000)
        else assert.deepStrictEqual(arrivals.map((a) => a.at), [0, 60_000])
        assert.strictEqual(arrivals.length, 2)
      }).pipe(Effect.provide(layer))
    }))

  test("a wait must fit the call's retry budget; wait_on_rate_limit: false refuses at once", () =>
    Effect.gen(function*() {
      const tight = harness(configWith({ rpm: 1 }, { max_wait_timeout_s: 120, retry_budget_s: 45 }), ledger())
      yield* Effect.gen(function*() {
        yield* generate()
        const refused = localLimit(yield* Effect.flip(generate()))
        assert.strictEqual(Duration.toMillis(refused.retryAfter!), 60_000)
      }).pipe(Effect.provide(tight.layer))

      const off = harness(configWith({ rpm: 1 }, { wait_on_rate_limit: false }), ledger())
      yield* Effect.gen(function*() {
        yield* generate()
        yield* TestClock.adjust("59 seconds")
        const refused = localLimit(yield* Effect.flip(generate()))
        assert.strictEqual(Duration.toMillis(refused.retryAfter!), 1_000)
      }).pipe(Effect.provide(off.layer))
      assert.strictEqual(off.arrivals.length, 1)
    }))

  test("every attempt takes a slot: a retry counts, and the next call waits for it", () =>
    Effect.gen(function*() {
      const { arrivals, layer } = harness(
        // on PostgreSQL the moving clock can spend the call's retry budget while a query is in flight
        configWith({ rpm: 2 }, postgres ? { retry_budget_s: 3600 } : {}),
        ledger(),
        firstUnavailable
      )
      const [first, second] = yield* Effect.gen(function*() {
        const first = yield* joinAdvancing(yield* Effect.fork(generate()))
        const second = yield* joinAdvancing(yield* Effect.fork(generate()))
        return [first, second] as const
      }).pipe(Effect.provide(layer))
      assert.strictEqual(first.attempts, 2)
      assert.strictEqual(second.attempts, 1)
      assert.strictEqual(arrivals.length, 3)
      // the second call's only attempt waited until the first call's first attempt left the window
      assert.isAtLeast(arrivals[2]!.at, 60_000)
      if (!postgres) assert.strictEqual(arrivals[2]!.at, 60_000)
    }))

  test("tokens: admitted at input bound + output cap, corrected to the reported usage at settlement", () =>
    Effect.gen(function*() {
      let duringAttempt = -1
      let ledgerService: Ledger.Service | undefined
      const { layer } = harness(
        configWith({ tpm: 5000 }),
        ledger(),
        (call) =>
          Effect.map(Effect.orDie(ledgerService!.limitUse()), (use) => {
            duringAttempt = use[0]?.tokensMinute ?? -1
            return answer(call)
          })
      )
      yield* Effect.gen(function*() {
        ledgerService = yield* Ledger
        const response = yield* generate({ maxOutputTokens: 1000 })
        // the input bound: the per-request and per-message allowances and 5 bytes of "hello"
        const bound = 2 * perMessageTokenAllowance + 5
        assert.strictEqual(duringAttempt, bound + 1000)
        assert.strictEqual(response.usage.totalTokens, 15)
        assert.strictEqual((yield* ledgerService.limitUse())[0]?.tokensMinute, 15)
        // a stream settles the same way
        yield* Effect.flatMap(LLMClient, (client) => Stream.runDrain(client.stream({ prompt: "hello" })))
        assert.strictEqual((yield* ledgerService.limitUse())[0]?.tokensMinute, 30)
        // a request that could never fit the tpm is refused as over it (no wait frees enough: no
        // retryAfter), before any ledger write or request
        const tooBig = localLimit(yield* Effect.flip(generate({ maxOutputTokens: 6000 })))
        assert.strictEqual(tooBig.limitKind, "tpm")
        assert.strictEqual(tooBig.retryAfter, undefined)
        assert.include(tooBig.message, "limits.tpm of 5000")
        // the alias's only endpoint, as on every other local-limit refusal
        assert.strictEqual(tooBig.endpoint, "g1")
        assert.strictEqual((yield* ledgerService.events()).filter((e) => e.type === "hold").length, 2)
      }).pipe(Effect.provide(layer))
    }))

  test("a failed attempt whose answer still reported usage (it was billed) keeps those tokens counted", () =>
    Effect.gen(function*() {
      const { layer } = harness(
        configWith({ tpm: 5000 }),
        ledger(),
        (call) =>
          Effect.fail(withBilledUsage(
            new FatalError({
              reason: "bad_response",
              message: "undecodable",
              status: 200,
              provider: call.provider,
              endpoint: call.endpoint
            }),
            { inputTokens: 13, outputTokens: 400, totalTokens: 413 }
          ))
      )
      yield* Effect.gen(function*() {
        yield* Effect.flip(generate({ maxOutputTokens: 1000 }))
        const [use] = yield* (yield* Ledger).limitUse()
        assert.deepStrictEqual([use?.requestsMinute, use?.tokensMinute], [1, 413])
      }).pipe(Effect.provide(layer))
    }))

  test("a failed attempt frees its tokens: only its request stays counted", () =>
    Effect.gen(function*() {
      const { layer } = harness(
        configWith({ tpm: 5000 }),
        ledger(),
        (call) =>
          Effect.fail(
            new FatalError({ reason: "invalid_request", message: "400", status: 400, endpoint: call.endpoint })
          )
      )
      yield* Effect.gen(function*() {
        yield* Effect.flip(generate({ maxOutputTokens: 1000 }))
        const [use] = yield* (yield* Ledger).limitUse()
        assert.deepStrictEqual([use?.requestsMinute, use?.tokensMinute], [1, 0])
      }).pipe(Effect.provide(layer))
    }))

  test("an interrupted attempt frees its tokens when the call settles as cancelled", () =>
    Effect.gen(function*() {
      const { arrivals, layer } = harness(configWith({ tpm: 5000 }), ledger(), () => Effect.never)
      yield* Effect.gen(function*() {
        const call = yield* Effect.fork(generate({ maxOutputTokens: 1000 }))
        while (arrivals.length === 0) yield* Effect.yieldNow()
        const ledgerService = yield* Ledger
        assert.strictEqual((yield* ledgerService.limitUse())[0]?.tokensMinute, 2 * perMessageTokenAllowance + 5 + 1000)
        yield* Fiber.interrupt(call)
        const [use] = yield* ledgerService.limitUse()
        assert.deepStrictEqual([use?.requestsMinute, use?.tokensMinute], [1, 0])
        assert.deepStrictEqual(
          (yield* ledgerService.events()).filter((e) => e.type === "cancel").map((e) => e.status),
          ["cancelled"]
        )
      }).pipe(Effect.provide(layer))
    }))

  test("a tpm waiter goes as soon as a settlement frees the tokens it needs, not when the estimate's minute ends", () =>
    Effect.gen(function*() {
      // each call is admitted at ~2,000 tokens against tpm 3,000; the first answer takes 10 s and uses 15
      const { arrivals, layer } = harness(
        configWith({ tpm: 3000 }, postgres ? { retry_budget_s: 3600 } : {}),
        ledger(),
        (call, index) =>
          index === 0 ? Effect.as(Effect.sleep("10 seconds"), answer(call)) : Effect.succeed(answer(call))
      )
      // On PostgreSQL the first call's settlement is real I/O while the waiter's sleep is the only one
      // pending: the clock is moved to it only after the I/O had time to land (else it jumps to 60 s).
      const calls = [generate({ maxOutputTokens: 2000 }), generate({ maxOutputTokens: 2000 })]
      const results = yield* Effect.fork(Effect.all(calls.map(Effect.either), { concurrency: "unbounded" })).pipe(
        Effect.flatMap((fiber) => joinAdvancing(fiber, { settleMs: postgres ? 200 : 0 })),
        Effect.provide(layer)
      )
      assert.deepStrictEqual(results.map(Either.isRight), [true, true])
      const times = arrivals.map((a) => a.at)
      // (before, the second slept until the first's estimate left the window: 60 s)
      if (postgres) assert.isBelow(times[1]!, 60_000)
      else assert.deepStrictEqual(times, [0, 10_000])
    }))

  for (const limited of [true, false]) {
    test(
      `a 429 with Retry-After pauses that endpoint for every caller of the alias (${
        limited ? "with" : "without"
      } limits); other aliases go on`,
      () =>
        Effect.gen(function*() {
          const { arrivals, layer } = harness(
            configWith(limited ? { rpm: 100 } : undefined),
            ledger(),
            (call, index) => index === 0 ? Effect.fail(serverSays429(call, 5)) : Effect.succeed(answer(call))
          )
          const results = yield* Effect.gen(function*() {
            const first = yield* Effect.fork(Effect.either(generate()))
            // until the first call got its 429 and sleeps on its Retry-After
            while (arrivals.length === 0 || (yield* TestClock.sleeps()).length === 0) yield* Effect.yieldNow()
            // another alias on the same endpoint is not paused: it answers now, with no clock move
            const pro = yield* Effect.either(generate({ model: "pro" }))
            const others = yield* all([generate(), generate()])
            return [yield* joinAdvancing(first), pro, ...others]
          }).pipe(Effect.provide(layer))
          assert.deepStrictEqual(results.map(Either.isRight), [true, true, true, true])
          const flash = arrivals.filter((a) => a.modelId === "gemini-x").map((a) => a.at)
          const pro = arrivals.filter((a) => a.modelId === "gemini-pro").map((a) => a.at)
          assert.deepStrictEqual(pro, [0])
          // after the 429 at 0 s, nothing went to g1 for flash before 5 s
          assert.strictEqual(flash.length, 4)
          assert.strictEqual(flash[0], 0)
          assert.isTrue(flash.slice(1).every((at) => at >= 5_000), `flash arrivals ${flash}`)
          if (!postgres) assert.deepStrictEqual(flash, [0, 5_000, 5_000, 5_000])
        })
    )
  }

  test("a caller that cannot wait out a learned pause fails with limitKind server", () =>
    Effect.gen(function*() {
      const { arrivals, layer } = harness(
        configWith({ rpm: 100 }, { max_wait_timeout_s: 10, max_retries: 0 }),
        ledger(),
        (call, index) => index === 0 ? Effect.fail(serverSays429(call, 30)) : Effect.succeed(answer(call))
      )
      yield* Effect.gen(function*() {
        const first = yield* Effect.flip(generate())
        assert.strictEqual((first as RateLimitError).reason, "rate_limited")
        yield* TestClock.adjust("10 seconds")
        const refused = localLimit(yield* Effect.flip(generate()))
        assert.strictEqual(refused.limitKind, "server")
        assert.strictEqual(Duration.toMillis(refused.retryAfter!), 20_000)
        assert.match(
          refused.message,
          /^google \(endpoint "g1"\) answered 429 for model "flash" and asked to wait: no request goes to it for another 20s$/
        )
        assert.strictEqual(arrivals.length, 1)
      }).pipe(Effect.provide(layer))
    }))

  test("a learned pause and a full window: the wait is the later of the two, refused at once past max_wait_timeout_s", () =>
    Effect.gen(function*() {
      const { arrivals, layer } = harness(
        configWith({ rpm: 2 }, { max_wait_timeout_s: 30, max_retries: 0 }),
        ledger(),
        (call, index) => index === 1 ? Effect.fail(serverSays429(call, 20)) : Effect.succeed(answer(call))
      )
      yield* Effect.gen(function*() {
        yield* generate() // t = 0
        yield* TestClock.adjust("25 seconds")
        yield* Effect.flip(generate()) // t = 25: a 429 pauses the endpoint until t = 45; its attempt took a slot
        yield* TestClock.adjust("1 second")
        // t = 26: the pause ends in 19 s, but the minute's first slot leaves only in 34 s: past 30 s, so
        // refused at once (before, it slept out the pause and then waited for the window)
        const refused = localLimit(yield* Effect.flip(generate()))
        assert.strictEqual(refused.limitKind, "rpm")
        assert.strictEqual(Duration.toMillis(refused.retryAfter!), 34_000)
        assert.strictEqual(arrivals.length, 2)
      }).pipe(Effect.provide(layer))
    }))

  test("a learned pause that would use up the whole retry budget is refused, not waited (no 0 ms attempt after it)", () =>
    Effect.gen(function*() {
      const { arrivals, layer } = harness(
        configWith({ rpm: 100 }, { max_wait_timeout_s: 60, retry_budget_s: 30, max_retries: 0 }),
        ledger(),
        (call, index) => index === 0 ? Effect.fail(serverSays429(call, 30)) : Effect.succeed(answer(call))
      )
      yield* Effect.gen(function*() {
        yield* Effect.flip(generate())
        const refused = localLimit(yield* Effect.flip(generate()))
        assert.strictEqual(refused.limitKind, "server")
        assert.strictEqual(arrivals.length, 1)
      }).pipe(Effect.provide(layer))
    }))

  test("a quota 429 with a Retry-After pauses the endpoint too (a per-day quota's RetryInfo)", () =>
    Effect.gen(function*() {
      const { arrivals, layer } = harness(
        configWith({ rpm: 100 }, { max_wait_timeout_s: 10, max_retries: 0 }),
        ledger(),
        (call, index) =>
          index === 0 ? Effect.fail(serverSays429(call, 30, "quota_exhausted")) : Effect.succeed(answer(call))
      )
      yield* Effect.gen(function*() {
        const first = yield* Effect.flip(generate())
        assert.strictEqual((first as RateLimitError).reason, "quota_exhausted")
        const refused = localLimit(yield* Effect.flip(generate()))
        assert.strictEqual(refused.limitKind, "server")
        assert.strictEqual(Duration.toMillis(refused.retryAfter!), 30_000)
        assert.strictEqual(arrivals.length, 1)
        // once the Retry-After has passed the endpoint admits again
        yield* TestClock.adjust("30 seconds")
        yield* generate()
        assert.strictEqual(arrivals.length, 2)
      }).pipe(Effect.provide(layer))
    }))

  // Cases found by mutation testing (audit 21): behaviours no test pinned.

  test("a retried call's failed attempt keeps only its request in the tpm window: its tokens are corrected to 0, so the retry fits at once", () =>
    Effect.gen(function*() {
      // each attempt is admitted at 2 × 8 + 5 + 2,000 = 2,021 tokens against tpm 3,000: the retry fits
      // only if the failed attempt's estimate left the window when it failed (not when its call settled)
      const { arrivals, layer } = harness(
        configWith({ tpm: 3000 }, postgres ? { retry_budget_s: 3600 } : {}),
        ledger(),
        firstUnavailable
      )
      yield* Effect.gen(function*() {
        const call = yield* Effect.fork(generate({ maxOutputTokens: 2000 }))
        // the clock is moved to the retry's wake-up only (within 1 s), so the minute of the first
        // attempt's slot is still the one the windows count when the call has settled
        // (real 1 ms ticks meanwhile, at most 5 s of them: a database ledger's I/O lands in real time)
        for (let ticks = 0; arrivals.length < 2 && ticks < 5_000; ticks++) {
          const now = yield* Clock.currentTimeMillis
          const next = Math.min(...Chunk.toReadonlyArray(yield* TestClock.sleeps()))
          if (next <= now + 1_000) yield* TestClock.adjust(next - now)
          else yield* Effect.promise(() => new Promise<void>((resolve) => setTimeout(resolve, 1)))
        }
        assert.strictEqual(arrivals.length, 2, "the retry was sent within the policy's delay")
        const response = yield* Fiber.join(call)
        assert.strictEqual(response.attempts, 2)
        // the retry went after the policy's delay (at most 1 s, jittered), not after the failed attempt's
        // estimate left the minute (60 s); (a loaded machine's slow database I/O may let the loop above
        // step past another short timer first: a few seconds, never the minute)
        assert.strictEqual(arrivals[0]!.at, 0)
        assert.isBelow(arrivals[1]!.at, 10_000)
        // both requests count; the failed one's tokens are 0, the retry's its reported 15
        const [use] = yield* (yield* Ledger).limitUse()
        assert.deepStrictEqual([use?.requestsMinute, use?.tokensMinute], [2, 15])
      }).pipe(Effect.provide(layer))
    }))

  test("a local refusal teaches no pause: a smaller request that fits goes at once, and no pause is listed", () =>
    Effect.gen(function*() {
      const { arrivals, layer } = harness(
        configWith({ tpm: 3000 }, { max_wait_timeout_s: 10, max_retries: 0 }),
        ledger(),
        (call, index) => index === 0 ? Effect.never : Effect.succeed(answer(call))
      )
      yield* Effect.gen(function*() {
        // an attempt in flight holds 2,021 tokens of the minute's 3,000
        const hanging = yield* Effect.fork(generate({ maxOutputTokens: 2000 }))
        while (arrivals.length === 0) yield* Effect.yieldNow()
        // another 2,021 would wait 60 s (past max_wait_timeout_s): refused locally, retryAfter 60 s
        const refused = localLimit(yield* Effect.flip(generate({ maxOutputTokens: 2000 })))
        assert.strictEqual(refused.limitKind, "tpm")
        assert.strictEqual(Duration.toMillis(refused.retryAfter!), 60_000)
        // that refusal is not the server's 429: the endpoint is not paused, a request that fits goes now
        const small = yield* generate({ maxOutputTokens: 500 })
        assert.strictEqual(small.attempts, 1)
        assert.deepStrictEqual(arrivals.map((a) => a.at), [0, 0])
        const [use] = yield* (yield* Ledger).limitUse()
        assert.deepStrictEqual(use?.pauses, [])
        yield* Fiber.interrupt(hanging)
      }).pipe(Effect.provide(layer))
    }))

  for (const limited of [true, false]) {
    test(
      `a sub-second Retry-After (300 ms) is learned as 300 ms, not rounded to 0 or to a second (${
        limited ? "with" : "without"
      } limits)`,
      () =>
        Effect.gen(function*() {
          const { arrivals, layer } = harness(
            configWith(limited ? { rpm: 100 } : undefined, { max_retries: 0 }),
            ledger(),
            (call, index) => index === 0 ? Effect.fail(serverSays429(call, 0.3)) : Effect.succeed(answer(call))
          )
          yield* Effect.gen(function*() {
            yield* Effect.flip(generate()) // the 429 at t = 0 pauses g1 for flash until t = 300 ms
            if (limited) {
              const [use] = yield* (yield* Ledger).limitUse()
              assert.deepStrictEqual(use?.pauses, [{ endpoint: "g1", until: day + 300 }])
            }
            yield* joinAdvancing(yield* Effect.fork(generate()), { settleMs: postgres ? 200 : 0 })
          }).pipe(Effect.provide(layer))
          assert.deepStrictEqual(arrivals.map((a) => a.at), [0, 300])
        })
    )
  }

  test("a request admitted at exactly tpm tokens fits an empty window: sent at once, not refused as over it", () =>
    Effect.gen(function*() {
      // the input bound of "hello" (2 × 8 + 5) + the output cap of 1,000 is the whole tpm
      const tpm = 2 * perMessageTokenAllowance + 5 + 1000
      const { arrivals, layer } = harness(configWith({ tpm }, { max_wait_timeout_s: 1 }), ledger())
      yield* Effect.gen(function*() {
        const response = yield* generate({ maxOutputTokens: 1000 })
        assert.strictEqual(response.attempts, 1)
        // one token more could never fit: refused as over tpm, with no retryAfter
        const over = localLimit(yield* Effect.flip(generate({ maxOutputTokens: 1001 })))
        assert.strictEqual(over.limitKind, "tpm")
        assert.strictEqual(over.retryAfter, undefined)
      }).pipe(Effect.provide(layer))
      assert.deepStrictEqual(arrivals.map((a) => a.at), [0])
    }))

  for (const limited of [true, false]) {
    test(
      `a shorter 429 pause learned later does not shorten a longer one in force (${
        limited ? "with" : "without"
      } limits)`,
      () =>
        Effect.gen(function*() {
          // two requests in flight at t = 0: the first is answered 429 Retry-After 30 s at t = 1.25 s, the
          // second 429 Retry-After 5 s at t = 2.5 s; the endpoint stays paused until t = 31.25 s
          let asleep = 0
          const answerAfter = (ms: number, error: RateLimitError) =>
            Effect.zipRight(
              Effect.sync(() => asleep++),
              Effect.zipRight(Effect.sleep(Duration.millis(ms)), Effect.fail(error))
            )
          const { arrivals, layer } = harness(
            configWith(limited ? { rpm: 100 } : undefined, { max_wait_timeout_s: 1, max_retries: 0 }),
            ledger(),
            (call, index) =>
              index === 0
                ? answerAfter(1_250, serverSays429(call, 30))
                : index === 1
                ? answerAfter(2_500, serverSays429(call, 5))
                : Effect.succeed(answer(call))
          )
          yield* Effect.gen(function*() {
            // (which of the two sends the first request is a race on a database ledger)
            const calls = [yield* Effect.fork(Effect.flip(generate())), yield* Effect.fork(Effect.flip(generate()))]
            // until both answers sleep on the test clock (on PostgreSQL its client's timers sleep there too)
            const bothSleep = Effect.map(
              TestClock.sleeps(),
              (sleeps) =>
                asleep === 2 && Chunk.some(sleeps, (at) => at === day + 1_250) &&
                Chunk.some(sleeps, (at) => at === day + 2_500)
            )
            while (!(yield* bothSleep)) yield* Effect.yieldNow()
            yield* TestClock.adjust("1250 millis")
            // the call answered at 1.25 s has ended (its pause recorded) before the other is answered
            const ended = Effect.map(Effect.forEach(calls, Fiber.poll), (polls) => polls.filter(Option.isSome).length)
            while ((yield* ended) === 0) {
              yield* Effect.promise(() => new Promise<void>((resolve) => setTimeout(resolve, 1)))
            }
            yield* TestClock.adjust("1250 millis")
            const errors = yield* Fiber.join(Fiber.all(calls))
            assert.deepStrictEqual(errors.map((error) => (error as RateLimitError).status), [429, 429])
            // t = 2.5 s: 28.75 s left of the longer pause (not the 5 s of the later one)
            const refused = localLimit(yield* Effect.flip(generate()))
            assert.strictEqual(refused.limitKind, "server")
            assert.strictEqual(Duration.toMillis(refused.retryAfter!), 28_750)
          }).pipe(Effect.provide(layer))
          assert.strictEqual(arrivals.length, 2)
        })
    )
  }
})

describe("rate limits: a fallback's tpm", () => {
  it.effect("a fallback with tpm gets the output cap it was admitted at, though the alias has no limits", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(day)
      const base = configWith(undefined, { max_retries: 1, circuit_breaker: { failure_threshold: 1 } })
      const config = {
        ...base,
        models: { ...base.models, qwen: { provider: "dashscope", model_id: "qwen-x", limits: { tpm: 3000 } } }
      }
      const sent: Array<MockCall> = []
      const { arrivals, layer } = harness(config, layerMemory(), (call, index) => {
        sent.push(call)
        return firstUnavailable(call, index)
      })
      // g1 fails and its breaker opens: the retry goes to the fallback qwen on d1
      yield* Effect.flatMap(Effect.fork(generate()), joinAdvancing).pipe(Effect.provide(layer))
      assert.deepStrictEqual(arrivals.map((a) => a.endpoint), ["g1", "d1"])
      // admitted at input bound + 1024 (the default output cap): the request carries that cap
      assert.strictEqual(sent[1]!.request.maxOutputTokens, 1024)
    }))

  it.effect("a fallback whose tpm the request can never fit refuses it at that attempt: local_limit tpm naming it, nothing sent there", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(day)
      const base = configWith(undefined, { max_retries: 1, circuit_breaker: { failure_threshold: 1 } })
      const config = {
        ...base,
        models: { ...base.models, qwen: { provider: "dashscope", model_id: "qwen-x", limits: { tpm: 500 } } }
      }
      const { arrivals, layer } = harness(
        config,
        layerMemory(),
        unavailable
      )
      const refused = localLimit(
        yield* Effect.flatMap(Effect.fork(Effect.flip(generate())), joinAdvancing).pipe(Effect.provide(layer))
      )
      assert.strictEqual(refused.limitKind, "tpm")
      assert.strictEqual(refused.endpoint, "d1")
      assert.include(refused.message, "model \"qwen\"")
      assert.deepStrictEqual(arrivals.map((a) => a.endpoint), ["g1"])
    }))
})

describe("rate limits and breakers", () => {
  /** `configWith`, `pro` failing on g1 with a breaker that opens at its first failure. */
  const opening = (endpoints: ReadonlyArray<string>, ledger: Layer.Layer<Ledger, unknown> = layerMemoryLedger()) => {
    const base = configWith({ rpm: 1 }, { max_retries: 0, circuit_breaker: { failure_threshold: 1 } })
    const google = {
      ...base.providers.google,
      endpoints: endpoints.map((name) => ({ name, base_url: "http://127.0.0.1:9" }))
    }
    return harness(
      { ...base, providers: { ...base.providers, google } },
      ledger,
      (call) => call.modelId === "gemini-pro" ? unavailable(call) : Effect.succeed(answer(call))
    )
  }
  /** flash takes its one slot a minute; a second flash call (routed to g1) waits for the next, and g1 opens meanwhile. */
  const waitWhileG1Opens = Effect.gen(function*() {
    yield* generate()
    const waiting = yield* Effect.fork(generate())
    while ((yield* TestClock.sleeps()).length === 0) yield* Effect.yieldNow()
    yield* TestClock.adjust("10 seconds")
    yield* Effect.flip(generate({ model: "pro" }))
    const response = yield* joinAdvancing(waiting)
    const g1 = (yield* (yield* CircuitBreaker).states()).find((b) => b.endpoint === "g1")
    assert.deepStrictEqual([g1?.state, g1?.failures], ["open", 1], "the waiting call did not touch g1's breaker")
    return response
  })

  it.effect("a call waiting for a slot whose endpoint's breaker opens meanwhile goes to the next usable endpoint: no request to it, no second wait", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(day)
      const { arrivals, layer } = opening(["g1", "g2"])
      const response = yield* waitWhileG1Opens.pipe(Effect.provide(layer))
      assert.deepStrictEqual(arrivals.map((a) => [a.endpoint, a.modelId, a.at]), [
        ["g1", "gemini-x", 0],
        ["g1", "gemini-pro", 10_000],
        ["g2", "gemini-x", 60_000]
      ])
      assert.deepStrictEqual([response.endpoint, response.attempts], ["g2", 1])
    }))

  it.effect("… or, woken the moment the breaker opens, to the fallbacks when the model has no other usable endpoint (their slots are their own: no wait out of the alias's)", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(day)
      const { arrivals, layer } = opening(["g1"])
      const response = yield* waitWhileG1Opens.pipe(Effect.provide(layer))
      assert.deepStrictEqual(arrivals.map((a) => [a.endpoint, a.at]), [["g1", 0], ["g1", 10_000], ["d1", 10_000]])
      assert.deepStrictEqual([response.alias, response.endpoint, response.attempts], ["qwen", "d1", 1])
    }))
  it.effect("… also when the breaker opens while the waiting call still asks the ledger for its slot (a PostgreSQL round trip)", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(day)
      const asking = yield* Deferred.make<void>()
      const answer = yield* Deferred.make<void>()
      let flashAdmissions = 0
      // the second flash admission (the waiting call's) answers only once g1 has opened
      const slowToAnswer = Layer.effect(
        Ledger,
        Effect.map(Ledger, (ledger) => ({
          ...ledger,
          admit: (request: Parameters<typeof ledger.admit>[0]) =>
            request.alias === "flash" && ++flashAdmissions === 2
              ? Effect.zipRight(
                Effect.zipRight(Deferred.succeed(asking, undefined), Deferred.await(answer)),
                ledger.admit(request)
              )
              : ledger.admit(request)
        }))
      ).pipe(Layer.provide(layerMemoryLedger()))
      const { arrivals, layer } = opening(["g1"], slowToAnswer)
      const response = yield* Effect.gen(function*() {
        yield* generate()
        const waiting = yield* Effect.fork(generate())
        yield* Deferred.await(asking)
        yield* TestClock.adjust("10 seconds")
        yield* Effect.flip(generate({ model: "pro" }))
        yield* Deferred.succeed(answer, undefined)
        return yield* joinAdvancing(waiting)
      }).pipe(Effect.provide(layer))
      assert.deepStrictEqual(arrivals.map((a) => [a.endpoint, a.at]), [["g1", 0], ["g1", 10_000], ["d1", 10_000]])
      assert.deepStrictEqual([response.alias, response.endpoint], ["qwen", "d1"])
    }))
})

describe("rate limits: config, span and metrics", () => {
  it.effect("limits keys are validated like every config key", () =>
    Effect.gen(function*() {
      const failure = (limits: unknown) =>
        Effect.flip(Effect.scoped(Layer.build(LLMConfig.layerIsolated({
          ...configWith(undefined),
          models: { flash: { provider: "google", model_id: "gemini-x", limits } }
        }))))
      const zero = yield* failure({ rpm: 0 })
      assert.strictEqual(zero._tag, "ConfigError")
      assert.strictEqual(zero.path, "models.flash.limits.rpm")
      assert.include(zero.message, "expected a positive integer, got 0")
      const fraction = yield* failure({ tpm: 1.5 })
      assert.strictEqual(fraction.path, "models.flash.limits.tpm")
      const unknown = yield* failure({ rps: 3 })
      assert.strictEqual(unknown.path, "models.flash.limits.rps")
      assert.include(unknown.message, "unknown key (known: rpm, tpm, rpd)")
      const text = yield* failure({ rpd: "ten" })
      assert.include(text.message, "models.flash.limits.rpd: expected a positive integer")
      const config = yield* Effect.scoped(Effect.map(
        Layer.build(LLMConfig.layerIsolated(configWith({ rpm: 5, tpm: 1000, rpd: 100 }))),
        (context) => context.unsafeMap.get(LLMConfig.LLMConfig.key) as LLMConfig.LLMConfig.Service
      ))
      assert.deepStrictEqual(config.config.models.flash?.limits, { rpm: 5, tpm: 1000, rpd: 100 })
      assert.strictEqual(config.config.models.pro?.limits, undefined)
    }))

  it.effect("the attempt span records a limiter wait; the wait is logged at Debug with its call's trace id; metrics count admitted, waited and refused attempts", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(day)
      const recording = RecordingTracer.make()
      const alias = "metered"
      const config = {
        ...configWith(undefined, { max_wait_timeout_s: 90 }),
        models: { [alias]: { provider: "google", model_id: "gemini-m", limits: { rpm: 1 } } },
        default_model: alias
      }
      const { layer } = harness(config, layerMemoryLedger())
      const count = (metric: Metric.Metric.Counter<number>, tags: Record<string, string>) =>
        Effect.map(Metric.value(Telemetry.withTags(metric, tags)), (state) => state.count)
      const waits: Array<{ readonly level: string; readonly annotations: Record<string, unknown> }> = []
      const logger = Logger.make(({ annotations, logLevel, message }) => {
        if (String(message).includes("slot of")) {
          waits.push({ level: logLevel.label, annotations: Object.fromEntries(HashMap.toEntries(annotations)) })
        }
      })
      yield* Effect.gen(function*() {
        yield* all([generate({ traceId: "t-1" }), generate({ traceId: "t-2" })])
      }).pipe(
        Effect.provide(layer),
        Effect.withTracer(recording.tracer),
        Effect.provide(Layer.merge(Logger.replace(Logger.defaultLogger, logger), Logger.minimumLogLevel(LogLevel.All)))
      )
      assert.strictEqual(waits.length, 1)
      assert.strictEqual(waits[0]!.level, "DEBUG")
      assert.include(["t-1", "t-2"], waits[0]!.annotations.traceId)
      assert.deepInclude(waits[0]!.annotations, { endpoint: "g1", attempt: 1, limitKind: "rpm", delayMs: 60_000 })
      const attempts = recording.named("LLMClient.attempt")
      assert.strictEqual(attempts.length, 2)
      const waited = attempts.find((span) => span.attributes.has(Telemetry.attributes.limiterWaitMs))
      assert.strictEqual(waited?.attributes.get(Telemetry.attributes.limiterWaitMs), 60_000)
      assert.strictEqual(waited?.attributes.get(Telemetry.attributes.limiterLimit), "rpm")
      assert.strictEqual(yield* count(Telemetry.limiterAdmitted, { model: alias }), 2)
      assert.strictEqual(yield* count(Telemetry.limiterWaited, { model: alias, limit: "rpm" }), 1)
      const histogram = yield* Metric.value(Telemetry.withTags(Telemetry.limiterWaitMs, { model: alias }))
      assert.strictEqual(histogram.sum, 60_000)
      // a refusal is counted too
      const strict = harness({ ...config, resilience: { max_wait_timeout_s: 1 } }, layerMemoryLedger())
      yield* Effect.gen(function*() {
        yield* generate()
        yield* Effect.flip(generate())
      }).pipe(Effect.provide(strict.layer))
      assert.strictEqual(yield* count(Telemetry.limiterRefused, { model: alias, limit: "rpm" }), 1)
    }))
})

const layerMemoryLedger = () => backends[0]!.layer(900)
