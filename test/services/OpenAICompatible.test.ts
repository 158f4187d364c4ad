/**
 * The openai protocol through the whole client (`makeLiveLayer({ config, userConfig: false })` over
 * Node's HTTP pool) against loopback servers replaying recorded or documented Chat Completions
 * traffic, and against the simulator: retries, every Retry-After source waited with `TestClock`,
 * breakers, fallbacks across protocols, budget holds and settlements (cached tokens priced apart),
 * keyless local models, early stops, truncations, and a service that reports no usage.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Chunk from "effect/Chunk"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as Random from "effect/Random"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/TestClock"
import type { StreamEvent } from "../../src/domain/StreamEvent.js"
import { generate, Ledger, makeLiveLayer, stream } from "../../src/index.js"
import { inputTokenBound } from "../../src/services/Pricing.js"
import * as Simulator from "../../src/simulator/Simulator.js"
import * as Loopback from "../support/LoopbackServer.js"
import { joinAdvancing } from "../support/TestClockRun.js"

const fixture = (path: string) => Loopback.readFixture(path).toString("utf8")
const json = { "content-type": "application/json" }
const sse = { "content-type": "text/event-stream; charset=utf-8" }

/** The recorded gpt-4.1-nano answer (vercel-ai), with an `x-request-id` header. */
const recordedAnswer: Loopback.ScriptedResponse = {
  headers: { ...json, "x-request-id": "req_recorded" },
  body: fixture("vercel-ai-openai-anthropic/openai/openai-text.json")
}
/** The recorded include_usage stream (vercel-ai), re-framed as the wire sends it. */
const recordedStream = fixture("vercel-ai/openai/openai-text.chunks.txt").split("\n").filter((l) => l.length > 0)
  .map((line) => `data: ${line}\n\n`).join("") + "data: [DONE]\n\n"

const errorBody = (error: Record<string, unknown>) => JSON.stringify({ error })
const overloaded: Loopback.ScriptedResponse = {
  status: 503,
  headers: json,
  body: errorBody({ message: "The engine is currently overloaded, please try again later", type: "server_error" })
}
const serverError: Loopback.ScriptedResponse = {
  status: 500,
  headers: json,
  body: errorBody({ message: "The server had an error while processing your request.", type: "server_error" })
}
const rateLimited = (headers: Record<string, string>, type = "requests"): Loopback.ScriptedResponse => ({
  status: 429,
  headers: { ...json, ...headers },
  body: errorBody({ message: "Rate limit reached for gpt-4o-mini.", type, param: null, code: "rate_limit_exceeded" })
})

/** Cerebras' 429: a flat body (nnminaya/grammar-nazi-bot#959), its resets per window in seconds. */
const cerebrasRateLimited = (headers: Record<string, string>, spent = "tokens"): Loopback.ScriptedResponse => ({
  status: 429,
  headers: { ...json, ...headers },
  body: JSON.stringify(
    spent === "tokens"
      ? {
        message: "Tokens per minute limit exceeded - too many tokens processed.",
        type: "too_many_tokens_error",
        param: "quota",
        code: "token_quota_exceeded"
      }
      : {
        message: "Requests per day limit exceeded - too many requests sent.",
        type: "too_many_requests_error",
        param: "quota",
        code: "request_quota_exceeded"
      }
  )
})

/** A config of one `openai` entry (named `openai`, key given) over `endpoints`, and extra sections. */
const openaiConfig = (
  endpoints: ReadonlyArray<{ readonly name: string; readonly url: string }>,
  extra: Record<string, unknown> = {},
  resilience: Record<string, unknown> = {}
) => ({
  default_model: "gpt",
  providers: {
    openai: {
      api_key: "sk-e2e-secret-0123456789",
      endpoints: endpoints.map((e) => ({ name: e.name, base_url: `${e.url}/v1` }))
    }
  },
  models: { gpt: { provider: "openai", model_id: "gpt-4o-mini", pricing: { input_per_1m: 0.15, output_per_1m: 0.6 } } },
  resilience: { max_retries: 3, base_delay_s: 1, ...resilience },
  ledger: { backend: "memory" },
  ...extra
})

const layerOf = (config: unknown) => makeLiveLayer({ config, userConfig: false })

/** Lets real I/O happen (a premature retry would reach the server in this time); not a clock wait. */
const settle = Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 50)))
const waitForRequests = (server: Loopback.LoopbackServer, count: number) =>
  Effect.promise(() => server.awaitRequests(count))
const collect = <E, R>(s: Stream.Stream<StreamEvent, E, R>) => Effect.map(Stream.runCollect(s), Chunk.toReadonlyArray)
const ledgerEvents = (traceId: string) => Effect.flatMap(Ledger, (ledger) => ledger.events({ traceId }))

describe("openai over the whole client: answers, budget and ledger", () => {
  it.scoped("a recorded answer becomes the GenerationResponse; hold then commit; the budget's cap sent as max_completion_tokens to the openai entry", () =>
    Effect.gen(function*() {
      const server = yield* Loopback.make
      server.enqueue(recordedAnswer)
      yield* Effect.gen(function*() {
        const response = yield* generate({ prompt: "Invent a holiday", fullResponse: true, traceId: "unary-1" })
        assert.isTrue(response.content.startsWith("**Holiday Name:**"))
        assert.strictEqual(response.provider, "openai")
        assert.strictEqual(response.alias, "gpt")
        assert.strictEqual(response.model, "gpt-4o-mini")
        assert.strictEqual(response.endpoint, "a")
        assert.strictEqual(response.requestId, "req_recorded")
        assert.strictEqual(response.finishReason, "stop")
        assert.deepStrictEqual(
          { input: response.usage.inputTokens, output: response.usage.outputTokens, total: response.usage.totalTokens },
          { input: 16, output: 363, total: 379 }
        )
        assert.closeTo(response.cost, (16 * 0.15 + 363 * 0.6) / 1e6, 1e-12)
        const events = yield* ledgerEvents("unary-1")
        assert.deepStrictEqual(events.map((e) => [e.type, e.status]), [["hold", "ok"], ["commit", "ok"]])
        assert.strictEqual(events[1]!.cost, response.cost)
        assert.isAtLeast(events[0]!.cost, response.cost, "the hold bounds the call")
        assert.deepStrictEqual(events[1]!.usage, response.usage)
      }).pipe(Effect.provide(layerOf(openaiConfig([{ name: "a", url: server.url }]))))
      const [request] = server.requests
      assert.strictEqual(request!.url, "/v1/chat/completions")
      assert.strictEqual(request!.headers.authorization, "Bearer sk-e2e-secret-0123456789")
      // A budget applies (the default daily limit): its output cap is the provider's limit (API.md §14),
      // in OpenAI's field (WIRE-openai-anthropic §1.2: the entry named openai is the OpenAI service).
      assert.strictEqual((request!.json as { max_completion_tokens?: number }).max_completion_tokens, 1024)
      assert.isUndefined((request!.json as { max_tokens?: number }).max_tokens)
    }))

  it.scoped("DeepSeek (base_url without a version): cached tokens priced by cached_input_per_1m", () =>
    Effect.gen(function*() {
      const server = yield* Loopback.make
      server.enqueue({
        headers: json,
        body: JSON.stringify({
          id: "00f10ecd-60b3-4707-b5db-e4bcadf7aea1",
          object: "chat.completion",
          model: "deepseek-chat",
          choices: [{ index: 0, message: { role: "assistant", content: "cached answer" }, finish_reason: "stop" }],
          usage: {
            prompt_tokens: 1000,
            completion_tokens: 10,
            total_tokens: 1010,
            prompt_tokens_details: { cached_tokens: 800 },
            prompt_cache_hit_tokens: 800,
            prompt_cache_miss_tokens: 200
          }
        })
      })
      const config = {
        default_model: "chat",
        providers: {
          deepseek: { protocol: "openai", api_key: "ds-key", endpoints: [{ name: "deepseek", base_url: server.url }] }
        },
        models: {
          chat: {
            provider: "deepseek",
            model_id: "deepseek-chat",
            pricing: { input_per_1m: 0.27, cached_input_per_1m: 0.07, output_per_1m: 1.1 }
          }
        },
        ledger: { backend: "memory" }
      }
      yield* Effect.gen(function*() {
        const response = yield* generate({ prompt: "x".repeat(4000), fullResponse: true, traceId: "cached" })
        assert.strictEqual(response.provider, "deepseek")
        assert.strictEqual(response.usage.cachedInputTokens, 800)
        const expected = (200 * 0.27 + 800 * 0.07 + 10 * 1.1) / 1e6
        assert.closeTo(response.cost, expected, 1e-12)
        const events = yield* ledgerEvents("cached")
        assert.deepStrictEqual(events.map((e) => e.type), ["hold", "commit"])
        assert.closeTo(events[1]!.cost, expected, 1e-12)
        assert.strictEqual(events[1]!.usage?.cachedInputTokens, 800)
      }).pipe(Effect.provide(layerOf(config)))
      assert.strictEqual(server.requests[0]!.url, "/chat/completions")
    }))

  it.scoped("a keyless local model (simulator, Ollama-style): no Authorization header, the entry's name as provider", () =>
    Effect.gen(function*() {
      const sim = yield* Simulator.make({ keyless: ["ollama"] })
      const config = {
        default_model: "llama",
        providers: {
          local: { protocol: "openai", endpoints: [{ name: "ollama", base_url: `${sim.baseUrl("ollama")}/v1` }] }
        },
        models: { llama: { provider: "local", model_id: "llama3.2" } },
        ledger: { backend: "memory" }
      }
      yield* Effect.gen(function*() {
        const response = yield* generate({ prompt: "hello local", fullResponse: true })
        assert.match(response.content, /^Echo: hello local\. /)
        assert.strictEqual(response.provider, "local")
        assert.strictEqual(response.endpoint, "ollama")
        assert.strictEqual(response.cost, 0)
        const events = yield* collect(stream({ prompt: "stream local" }))
        assert.match(events.at(-1)!.response!.content, /^Echo: stream local\. /)
      }).pipe(Effect.provide(layerOf(config)))
      const log = sim.log("ollama")
      assert.strictEqual(log.length, 2)
      for (const entry of log) assert.isUndefined(entry.headers.authorization)
    }))

  it.scoped("a service that reports no usage: settled at the upper bound (input bound + answer bytes), ledger row without usage, said once at Debug", () =>
    Effect.gen(function*() {
      const sim = yield* Simulator.make({ keyless: ["local"], always: { local: { noUsage: true } } })
      const config = {
        default_model: "m",
        providers: {
          local: { protocol: "openai", endpoints: [{ name: "local", base_url: `${sim.baseUrl("local")}/v1` }] }
        },
        models: { m: { provider: "local", model_id: "m", pricing: { input_per_1m: 1, output_per_1m: 2 } } },
        ledger: { backend: "memory" }
      }
      const warnings: Array<string> = []
      const debug: Array<string> = []
      const logger = Logger.make(({ logLevel, message }) => {
        if (LogLevel.greaterThanEqual(logLevel, LogLevel.Info)) warnings.push(String(message))
        else debug.push(String(message))
      })
      yield* Effect.gen(function*() {
        const unary = yield* generate({ prompt: "no usage please", fullResponse: true, traceId: "nu-1" })
        const bound = inputTokenBound({
          system: undefined,
          messages: [{ role: "user", parts: [{ type: "text", text: "no usage please" }] }],
          maxOutputTokens: 1024,
          temperature: undefined,
          topP: undefined,
          stop: undefined
        }, "openai")
        const outputBound = Buffer.byteLength(unary.content, "utf8")
        assert.deepStrictEqual(
          { input: unary.usage.inputTokens, output: unary.usage.outputTokens },
          { input: bound, output: outputBound }
        )
        assert.closeTo(unary.cost, (bound * 1 + outputBound * 2) / 1e6, 1e-12)
        const events = yield* ledgerEvents("nu-1")
        assert.deepStrictEqual(events.map((e) => e.type), ["hold", "commit"])
        assert.isUndefined(events[1]!.usage, "the ledger row says the provider reported none")
        assert.closeTo(events[1]!.cost, unary.cost, 1e-12)
        assert.isAtMost(events[1]!.cost, events[0]!.cost, "never above the hold")
        const streamed = yield* collect(stream({ prompt: "no usage please", traceId: "nu-2" }))
        const finish = streamed.at(-1)!
        assert.isTrue(finish.isFinish)
        assert.strictEqual(finish.usage!.inputTokens, bound)
        assert.strictEqual(finish.usage!.outputTokens, Buffer.byteLength(finish.response!.content, "utf8"))
        assert.isUndefined((yield* ledgerEvents("nu-2"))[1]!.usage)
      }).pipe(
        Effect.provide(layerOf(config)),
        Effect.provide(Logger.replace(Logger.defaultLogger, logger)),
        Logger.withMinimumLogLevel(LogLevel.Debug)
      )
      // nothing at Info or above on a success path (API.md §14): said once, at Debug
      assert.deepStrictEqual(warnings, [])
      assert.strictEqual(debug.filter((line) => line.includes("reported no token usage")).length, 1, debug.join("\n"))
    }))

  it.scoped("budget refusal: no request is made", () =>
    Effect.gen(function*() {
      const server = yield* Loopback.make
      const error = yield* Effect.flip(generate({ prompt: "x", maxOutputTokens: 100_000 })).pipe(
        Effect.provide(layerOf(openaiConfig([{ name: "a", url: server.url }], { budget: { daily_spend_limit: 0.01 } })))
      )
      assert.strictEqual(error._tag, "BudgetExceededError")
      assert.strictEqual(server.requests.length, 0)
    }))

  it.scoped("temperature outside [0, 2] is refused before any ledger write or request", () =>
    Effect.gen(function*() {
      const server = yield* Loopback.make
      const error = yield* Effect.flip(generate({ prompt: "x", temperature: 2.5 })).pipe(
        Effect.provide(layerOf(openaiConfig([{ name: "a", url: server.url }])))
      )
      assert.strictEqual(error._tag === "FatalError" && error.reason, "invalid_request")
      assert.strictEqual(server.requests.length, 0)
    }))

  it.scoped("a 401 that echoes the key: FatalError authentication, the key in no message or ledger row", () =>
    Effect.gen(function*() {
      const server = yield* Loopback.make
      // A proxy that quotes the whole key back (api.openai.com masks it).
      server.enqueue({
        status: 401,
        headers: json,
        body: errorBody({ message: "Invalid key sk-e2e-secret-0123456789 for this proxy", code: "invalid_api_key" })
      })
      yield* Effect.gen(function*() {
        const error = yield* Effect.flip(generate({ prompt: "x", traceId: "auth" }))
        assert.strictEqual(error._tag === "FatalError" && error.reason, "authentication")
        assert.notInclude(error.message, "sk-e2e-secret-0123456789")
        assert.notInclude(error.message, "0123456789")
        const events = yield* ledgerEvents("auth")
        assert.notInclude(JSON.stringify(events), "0123456789")
      }).pipe(Effect.provide(layerOf(openaiConfig([{ name: "a", url: server.url }]))))
      assert.strictEqual(server.requests.length, 1)
    }))
})

describe("openai over the whole client: retries and waits (TestClock)", () => {
  it.scoped("503 overloaded, 500, then the answer → attempts 3", () =>
    Effect.gen(function*() {
      const server = yield* Loopback.make
      server.enqueue(overloaded, serverError, recordedAnswer)
      const fiber = yield* Effect.fork(
        generate({ prompt: "hi", fullResponse: true }).pipe(
          Effect.provide(layerOf(openaiConfig([{ name: "a", url: server.url }])))
        )
      )
      yield* waitForRequests(server, 1)
      yield* TestClock.adjust("1200 millis")
      yield* waitForRequests(server, 2)
      yield* TestClock.adjust("2400 millis")
      const response = yield* Fiber.join(fiber)
      assert.strictEqual(response.attempts, 3)
    }).pipe(Effect.withRandom(Random.fixed([0.5]))))

  it.scoped("x-should-retry: false (the server's verdict, which OpenAI's SDK obeys): a 500 and a 429 are not retried; a 400 with true is not either", () =>
    Effect.gen(function*() {
      const server = yield* Loopback.make
      const refused = { "x-should-retry": "false" }
      server.enqueue(
        { ...serverError, headers: { ...json, ...refused } },
        rateLimited({ ...refused, "retry-after": "1" }),
        {
          status: 400,
          headers: { ...json, "x-should-retry": "true" },
          body: errorBody({ message: "Invalid parameter", type: "invalid_request_error" })
        }
      )
      const layer = layerOf(openaiConfig([{ name: "a", url: server.url }]))
      const failures = yield* Effect.forEach(
        ["t-500", "t-429", "t-400"],
        (traceId) => Effect.flip(generate({ prompt: "hi", traceId }).pipe(Effect.provide(layer)))
      )
      assert.deepStrictEqual(failures.map((error) => [error._tag, "reason" in error ? error.reason : undefined]), [
        ["RetryableError", "server_error"],
        ["RateLimitError", "rate_limited"],
        ["FatalError", "invalid_request"]
      ])
      yield* settle
      assert.strictEqual(server.requests.length, 3, "one request each, none retried")
      // the status alone still decides without the header: the answer after a plain 500
      server.enqueue(serverError, recordedAnswer)
      const fiber = yield* Effect.fork(generate({ prompt: "hi", fullResponse: true }).pipe(Effect.provide(layer)))
      yield* waitForRequests(server, 4)
      yield* TestClock.adjust("1200 millis")
      assert.strictEqual((yield* Fiber.join(fiber)).attempts, 2)
    }).pipe(Effect.withRandom(Random.fixed([0.5]))))

  const waits: ReadonlyArray<readonly [string, Loopback.ScriptedResponse, number]> = [
    ["retry-after: 7 (seconds)", rateLimited({ "retry-after": "7" }), 7_000],
    // TestClock starts at the epoch: this date is 12 s from now.
    ["retry-after as an HTTP-date", rateLimited({ "retry-after": new Date(12_000).toUTCString() }), 12_000],
    ["retry-after-ms: 2500", rateLimited({ "retry-after-ms": "2500", "retry-after": "3" }), 2_500],
    [
      "x-ratelimit-reset-tokens 20s for a tokens 429 (requests would be 6m0s)",
      rateLimited({ "x-ratelimit-reset-requests": "6m0s", "x-ratelimit-reset-tokens": "20s" }, "tokens"),
      20_000
    ],
    [
      "x-ratelimit-reset-requests 1m0s (within max_wait_timeout_s)",
      rateLimited({ "x-ratelimit-reset-requests": "1m0s" }),
      60_000
    ],
    [
      "Cerebras' spent x-ratelimit-reset-tokens-minute 3.38 (seconds), its daily requests left",
      cerebrasRateLimited({
        "x-ratelimit-remaining-tokens-minute": "0",
        "x-ratelimit-reset-tokens-minute": "3.38",
        "x-ratelimit-remaining-requests-day": "14399",
        "x-ratelimit-reset-requests-day": "33011.382867097855"
      }),
      3_380
    ]
  ]
  for (const [name, response, waitMs] of waits) {
    it.scoped(`429 with ${name}: the second attempt happens at t = ${waitMs} ms, not before`, () =>
      Effect.gen(function*() {
        const server = yield* Loopback.make
        server.enqueue(response, recordedAnswer)
        const fiber = yield* Effect.fork(
          generate({ prompt: "hi", fullResponse: true }).pipe(
            Effect.provide(layerOf(openaiConfig([{ name: "a", url: server.url }])))
          )
        )
        yield* waitForRequests(server, 1)
        yield* TestClock.adjust(Duration.millis(waitMs - 1))
        yield* settle
        assert.strictEqual(server.requests.length, 1)
        yield* TestClock.adjust("1 millis")
        const result = yield* Fiber.join(fiber)
        assert.strictEqual(result.attempts, 2)
        assert.strictEqual(result.timing.totalMs, waitMs)
      }))
  }

  it.scoped("503 with retry-after: 5 on a one-endpoint model: the retry waits the hint, not the 0.8-1.2 s backoff", () =>
    Effect.gen(function*() {
      const server = yield* Loopback.make
      server.enqueue({ ...overloaded, headers: { ...json, "retry-after": "5" } }, recordedAnswer)
      const fiber = yield* Effect.fork(
        generate({ prompt: "hi", fullResponse: true }).pipe(
          Effect.provide(layerOf(openaiConfig([{ name: "a", url: server.url }])))
        )
      )
      yield* waitForRequests(server, 1)
      yield* TestClock.adjust("4999 millis")
      yield* settle
      assert.strictEqual(server.requests.length, 1)
      yield* TestClock.adjust("1 millis")
      const result = yield* Fiber.join(fiber)
      assert.strictEqual(result.attempts, 2)
      assert.strictEqual(result.timing.totalMs, 5_000)
    }))

  it.scoped("503 whose retry-after is over max_wait_timeout_s: retried after the schedule's delay", () =>
    Effect.gen(function*() {
      const server = yield* Loopback.make
      server.enqueue({ ...overloaded, headers: { ...json, "retry-after": "600" } }, recordedAnswer)
      const fiber = yield* Effect.fork(
        generate({ prompt: "hi", fullResponse: true }).pipe(
          Effect.provide(layerOf(openaiConfig([{ name: "a", url: server.url }])))
        )
      )
      yield* waitForRequests(server, 1)
      yield* TestClock.adjust("1200 millis")
      const result = yield* Fiber.join(fiber)
      assert.strictEqual(result.attempts, 2)
      assert.isAtMost(result.timing.totalMs, 1_200)
    }).pipe(Effect.withRandom(Random.fixed([0.5]))))

  it.scoped("503 with retry-after on one of two endpoints: the retry fails over to the other without waiting the hint", () =>
    Effect.gen(function*() {
      const first = yield* Loopback.make
      const second = yield* Loopback.make
      first.enqueue({ ...overloaded, headers: { ...json, "retry-after": "30" } })
      second.enqueue(recordedAnswer)
      const fiber = yield* Effect.fork(
        generate({ prompt: "hi", fullResponse: true }).pipe(
          Effect.provide(layerOf(openaiConfig([{ name: "a", url: first.url }, { name: "b", url: second.url }])))
        )
      )
      yield* waitForRequests(first, 1)
      yield* TestClock.adjust("1200 millis")
      const result = yield* Fiber.join(fiber)
      assert.strictEqual(result.endpoint, "b")
      assert.isAtMost(result.timing.totalMs, 1_200)
    }).pipe(Effect.withRandom(Random.fixed([0.5]))))

  it.scoped("a reset hint over max_wait_timeout_s fails at once with its retryAfter", () =>
    Effect.gen(function*() {
      const server = yield* Loopback.make
      server.enqueue(rateLimited({ "x-ratelimit-reset-requests": "6m0s" }), recordedAnswer)
      const error = yield* Effect.flip(generate({ prompt: "hi" })).pipe(
        Effect.provide(layerOf(openaiConfig([{ name: "a", url: server.url }])))
      )
      assert.strictEqual(error._tag, "RateLimitError")
      if (error._tag === "RateLimitError") assert.strictEqual(Duration.toMillis(error.retryAfter!), 360_000)
      assert.strictEqual(server.requests.length, 1)
    }))

  it.scoped("Cerebras' spent daily requests (reset in 9 h, seconds) fail at once with their retryAfter", () =>
    Effect.gen(function*() {
      const server = yield* Loopback.make
      server.enqueue(
        cerebrasRateLimited({
          "x-ratelimit-remaining-requests-day": "0",
          "x-ratelimit-reset-requests-day": "33011.382867097855",
          "x-ratelimit-remaining-tokens-minute": "59000",
          "x-ratelimit-reset-tokens-minute": "11.382867097854614"
        }, "requests"),
        recordedAnswer
      )
      const error = yield* Effect.flip(generate({ prompt: "hi" })).pipe(
        Effect.provide(layerOf(openaiConfig([{ name: "a", url: server.url }])))
      )
      assert.strictEqual(error._tag, "RateLimitError")
      if (error._tag === "RateLimitError") assert.strictEqual(Duration.toMillis(error.retryAfter!), 33_011_383)
      assert.strictEqual(server.requests.length, 1)
    }))

  it.scoped("insufficient_quota and DeepSeek 402 fail at once as quota_exhausted, whatever Retry-After says", () =>
    Effect.gen(function*() {
      const server = yield* Loopback.make
      server.enqueue(
        {
          status: 429,
          headers: { ...json, "retry-after": "1" },
          body: errorBody({
            message: "You exceeded your current quota, please check your plan and billing details.",
            type: "insufficient_quota",
            code: "insufficient_quota"
          })
        },
        {
          status: 402,
          headers: json,
          body: errorBody({ message: "Insufficient Balance", type: "unknown_error", code: "invalid_request_error" })
        }
      )
      yield* Effect.gen(function*() {
        for (const status of [429, 402]) {
          const error = yield* Effect.flip(generate({ prompt: "hi" }))
          assert.strictEqual(error._tag === "RateLimitError" && error.reason, "quota_exhausted")
          assert.strictEqual((error as { status?: number }).status, status)
          // the 429's Retry-After pauses the endpoint for the alias (API.md §11): the next call waits it out
          yield* TestClock.adjust("1 second")
        }
      }).pipe(Effect.provide(layerOf(openaiConfig([{ name: "a", url: server.url }]))))
      assert.strictEqual(server.requests.length, 2)
    }))

  for (
    const [status, body] of [
      [400, errorBody({ message: "context too long", type: "invalid_request_error", code: "context_length_exceeded" })],
      [401, errorBody({ message: "Incorrect API key provided: sk-e2e-******6789.", code: "invalid_api_key" })],
      [403, errorBody({ message: "Country, region, or territory not supported", type: "request_forbidden" })],
      [404, errorBody({ message: "The model `gpt-9` does not exist", code: "model_not_found" })],
      [422, errorBody({ message: "Invalid Parameters", type: "invalid_request_error" })]
    ] as const
  ) {
    it.scoped(`${status} → one attempt, FatalError, the breaker untouched`, () =>
      Effect.gen(function*() {
        const server = yield* Loopback.make
        server.setDefault(() => ({ status, headers: json, body }))
        yield* Effect.gen(function*() {
          for (let i = 0; i < 3; i++) {
            const error = yield* Effect.flip(generate({ prompt: "hi" }))
            assert.strictEqual(error._tag, "FatalError")
          }
        }).pipe(Effect.provide(layerOf(openaiConfig([{ name: "a", url: server.url }], {}, {
          circuit_breaker: { failure_threshold: 2, recovery_timeout_s: 60 }
        }))))
        assert.strictEqual(server.requests.length, 3, "one request per call, never skipped")
      }))
  }

  it.scoped("529 and overload bodies open the breaker; traffic moves to the next endpoint without a request", () =>
    Effect.gen(function*() {
      const dead = yield* Loopback.make
      const alive = yield* Loopback.make
      dead.setDefault(() => ({
        status: 529,
        headers: json,
        body: errorBody({ type: "overloaded_error", message: "Overloaded" })
      }))
      alive.setDefault(() => recordedAnswer)
      const config = openaiConfig([{ name: "dead", url: dead.url }, { name: "alive", url: alive.url }], {}, {
        max_retries: 0,
        circuit_breaker: { failure_threshold: 2, recovery_timeout_s: 60 }
      })
      yield* Effect.gen(function*() {
        for (const prompt of ["1", "2"]) {
          const error = yield* Effect.flip(generate({ prompt }))
          assert.strictEqual(error._tag === "RetryableError" && error.reason, "overloaded")
        }
        const response = yield* generate({ prompt: "3", fullResponse: true })
        assert.strictEqual(response.endpoint, "alive")
        assert.strictEqual(dead.requests.length, 2)
      }).pipe(Effect.provide(layerOf(config)))
    }))
})

describe("openai over the whole client: fallbacks across protocols (simulator)", () => {
  const crossConfig = (sim: Simulator.Simulator) => ({
    default_model: "flash",
    providers: {
      google: { api_key: sim.keys.google, endpoints: [{ name: "google-a", base_url: sim.baseUrl("google-a") }] },
      deepseek: {
        protocol: "openai",
        api_key: sim.keys.openai,
        endpoints: [{ name: "deepseek-a", base_url: sim.baseUrl("deepseek-a") }]
      }
    },
    models: {
      flash: {
        provider: "google",
        model_id: "gemini-2.5-flash",
        pricing: { input_per_1m: 0.3, output_per_1m: 2.5 },
        fallbacks: ["chat"]
      },
      chat: {
        provider: "deepseek",
        model_id: "deepseek-chat",
        pricing: { input_per_1m: 0.27, output_per_1m: 1.1 },
        fallbacks: ["flash"]
      }
    },
    resilience: { max_retries: 1, base_delay_s: 1, circuit_breaker: { failure_threshold: 1, recovery_timeout_s: 300 } },
    ledger: { backend: "memory" }
  })

  it.scoped("a Gemini alias falls back to an openai alias, and an openai alias back to the Gemini one", () =>
    Effect.gen(function*() {
      const sim = yield* Simulator.make()
      sim.always("google-a", { status: 503 })
      const layer = layerOf(crossConfig(sim))
      yield* Effect.gen(function*() {
        const fiber = yield* Effect.fork(generate({ prompt: "to deepseek", fullResponse: true, traceId: "g2o" }))
        const response = yield* joinAdvancing(fiber, { settleMs: 50 })
        assert.strictEqual(response.alias, "chat")
        assert.strictEqual(response.provider, "deepseek")
        assert.strictEqual(response.endpoint, "deepseek-a")
        assert.strictEqual(response.attempts, 2)
        assert.match(response.content, /^Echo: to deepseek\. /)
        const events = yield* ledgerEvents("g2o")
        assert.strictEqual(events.at(-1)!.type, "commit")
        assert.strictEqual(events.at(-1)!.provider, "deepseek")
      }).pipe(Effect.provide(layer))
      assert.strictEqual(sim.requests("google-a"), 1)
      assert.strictEqual(sim.requests("deepseek-a"), 1)

      sim.reset()
      sim.always("deepseek-a", { status: 529 })
      yield* Effect.gen(function*() {
        const fiber = yield* Effect.fork(collect(stream({ prompt: "to gemini", model: "chat" })))
        const events = yield* joinAdvancing(fiber, { settleMs: 50 })
        const response = events.at(-1)!.response!
        assert.strictEqual(response.alias, "flash")
        assert.strictEqual(response.provider, "google")
        assert.match(response.content, /^Echo: to gemini\. /)
      }).pipe(Effect.provide(layerOf(crossConfig(sim))))
      assert.strictEqual(sim.requests("deepseek-a"), 1)
      assert.strictEqual(sim.requests("google-a"), 1)
    }))
})

describe("openai over the whole client: streams", () => {
  it.scoped("a recorded stream: deltas as they come, then one finish with the text, usage, reason and request id", () =>
    Effect.gen(function*() {
      const server = yield* Loopback.make
      server.enqueue(
        Loopback.replay(Buffer.from(recordedStream), {
          headers: { ...sse, "x-request-id": "req_s" },
          chunkSizes: [700]
        })
      )
      const events = yield* collect(stream({ prompt: "write", traceId: "s-1" })).pipe(
        Effect.provide(layerOf(openaiConfig([{ name: "a", url: server.url }])))
      )
      const deltas = events.filter((e) => !e.isFinish)
      assert.isAbove(deltas.length, 100)
      const finish = events.at(-1)!
      assert.isTrue(finish.isFinish)
      assert.strictEqual(finish.response!.content, deltas.map((e) => e.delta).join(""))
      assert.strictEqual(finish.usage!.outputTokens, 300)
      assert.strictEqual(finish.usage!.inputTokens, 16)
      assert.strictEqual(finish.finishReason, "stop")
      assert.strictEqual(finish.response!.requestId, "req_s")
      const body = server.requests[0]!.json as Record<string, unknown>
      assert.strictEqual(body.stream, true)
      assert.deepStrictEqual(body.stream_options, { include_usage: true })
    }))

  it.scoped("DeepSeek reasoner stream: reasoning deltas apart, the finish response carries the reasoning", () =>
    Effect.gen(function*() {
      const server = yield* Loopback.make
      const body = fixture("vercel-ai-openai-anthropic/deepseek/deepseek-reasoning.chunks.txt").split("\n")
        .filter((l) => l.length > 0).map((line) => `data: ${line}\n\n`).join("") + "data: [DONE]\n\n"
      server.enqueue(Loopback.replay(Buffer.from(body), { headers: sse, chunkSizes: [1, 7, 300] }))
      const events = yield* collect(stream({ prompt: "strawberry" })).pipe(
        Effect.provide(layerOf(openaiConfig([{ name: "a", url: server.url }])))
      )
      const finish = events.at(-1)!
      const reasoning = events.map((e) => e.reasoningDelta ?? "").join("")
      assert.isTrue(reasoning.startsWith("We need"))
      assert.strictEqual(finish.response!.reasoning, reasoning)
      assert.notInclude(finish.response!.content, "We need")
      assert.strictEqual(finish.usage!.reasoningTokens, 205)
    }))

  it.scoped("an error event before any delta is retried; the retry's stream is the answer", () =>
    Effect.gen(function*() {
      const server = yield* Loopback.make
      server.enqueue(
        {
          headers: sse,
          body: `: keep-alive\n\ndata: ${errorBody({ message: "Server overloaded", type: "server_error" })}\n\n`
        },
        Loopback.replay(Buffer.from(recordedStream), { headers: sse })
      )
      const fiber = yield* Effect.fork(
        collect(stream({ prompt: "write" })).pipe(
          Effect.provide(layerOf(openaiConfig([{ name: "a", url: server.url }])))
        )
      )
      yield* waitForRequests(server, 1)
      yield* TestClock.adjust("2 seconds")
      const events = yield* Fiber.join(fiber)
      assert.strictEqual(events.at(-1)!.response!.attempts, 2)
    }))

  it.scoped("an error event after deltas surfaces the classified error, never replayed", () =>
    Effect.gen(function*() {
      const server = yield* Loopback.make
      const firstThree = recordedStream.split("\n\n").slice(0, 4).join("\n\n") + "\n\n"
      server.enqueue({
        headers: sse,
        body: `${firstThree}data: ${errorBody({ message: "Rate limit exceeded upstream", code: 429 })}\n\n`
      })
      const deltas: Array<string> = []
      const error = yield* Stream.runForEach(stream({ prompt: "x" }), (e) =>
        Effect.sync(() => {
          if (!e.isFinish) deltas.push(e.delta)
        })).pipe(Effect.flip, Effect.provide(layerOf(openaiConfig([{ name: "a", url: server.url }]))))
      assert.deepStrictEqual(deltas, ["**", "Holiday", " Name"])
      assert.strictEqual(error._tag, "RateLimitError")
      assert.strictEqual(server.requests.length, 1)
    }))

  it.scoped("an error after the finish_reason leaves the answer whole: committed, the error logged once as a warning, the key in no line", () =>
    Effect.gen(function*() {
      const server = yield* Loopback.make
      server.enqueue({
        headers: sse,
        body:
          `data: {"id":"c1","object":"chat.completion.chunk","model":"gpt-4o-mini","choices":[{"index":0,"delta":{"content":"Hello"},"finish_reason":null}]}\n\n` +
          `data: {"id":"c1","object":"chat.completion.chunk","model":"gpt-4o-mini","choices":[{"index":0,"delta":{},"finish_reason":"length"}],"usage":{"prompt_tokens":9,"completion_tokens":1,"total_tokens":10}}\n\n` +
          `data: ${
            errorBody({ message: "Token limit reached for key sk-e2e-secret-0123456789", code: 400 })
          }\n\ndata: [DONE]\n\n`
      })
      const logged: Array<string> = []
      const logger = Logger.make(({ logLevel, message }) => {
        if (LogLevel.greaterThanEqual(logLevel, LogLevel.Info)) logged.push(`${logLevel.label} ${String(message)}`)
      })
      yield* Effect.gen(function*() {
        const events = yield* collect(stream({ prompt: "x", traceId: "late-1" }))
        const finish = events.at(-1)!
        assert.strictEqual(finish.finishReason, "length")
        assert.strictEqual(finish.response!.content, "Hello")
        assert.strictEqual(finish.usage!.outputTokens, 1)
        const ledger = yield* ledgerEvents("late-1")
        assert.deepStrictEqual(ledger.map((e) => [e.type, e.status]), [["hold", "ok"], ["commit", "ok"]])
      }).pipe(
        Effect.provide(layerOf(openaiConfig([{ name: "a", url: server.url }]))),
        Effect.provide(Logger.replace(Logger.defaultLogger, logger))
      )
      assert.strictEqual(logged.length, 1, logged.join("\n"))
      assert.match(logged[0]!, /^WARN .*Token limit reached.*the answer stands/)
      assert.notInclude(logged[0]!, "sk-e2e-secret-0123456789")
      assert.strictEqual(server.requests.length, 1)
    }))

  it.scoped("an error after the finish whose text the 500-character cut splits inside the key: no piece of the key in the warning", () =>
    Effect.gen(function*() {
      const server = yield* Loopback.make
      const key = "gsk_cut-secret-0123456789abcdef"
      server.setDefault((request) => ({
        headers: sse,
        body:
          `data: {"id":"c1","object":"chat.completion.chunk","model":"m","choices":[{"index":0,"delta":{"content":"Hello"},"finish_reason":"stop"}]}\n\n` +
          `data: ${
            errorBody({
              message: "p".repeat(489) + String(request.headers.authorization).replace("Bearer ", "") + " and more",
              type: "server_error"
            })
          }\n\ndata: [DONE]\n\n`
      }))
      const logged: Array<string> = []
      const logger = Logger.make(({ logLevel, message }) => {
        if (LogLevel.greaterThanEqual(logLevel, LogLevel.Info)) logged.push(String(message))
      })
      const config = openaiConfig([{ name: "a", url: server.url }])
      yield* collect(stream({ prompt: "x" })).pipe(
        Effect.provide(layerOf({ ...config, providers: { openai: { ...config.providers.openai, api_key: key } } })),
        Effect.provide(Logger.replace(Logger.defaultLogger, logger))
      )
      assert.strictEqual(logged.length, 1, logged.join("\n"))
      assert.include(logged[0]!, "…")
      for (let length = 6; length <= key.length; length++) assert.notInclude(logged[0]!, key.slice(0, length))
    }))

  it.scoped("moderation cutting the answer after text (DashScope's data_inspection_failed) is a filter finish: the text so far, committed with the usage seen", () =>
    Effect.gen(function*() {
      const server = yield* Loopback.make
      const chunk = (content: string, usage: string) =>
        `data: {"id":"c1","object":"chat.completion.chunk","model":"qwen-plus","choices":[{"index":0,"delta":{"content":"${content}"},"finish_reason":null}],"usage":${usage}}\n\n`
      const moderation = `data: ${
        errorBody({
          code: "data_inspection_failed",
          type: "data_inspection_failed",
          message: "Output data may contain inappropriate content."
        })
      }\n\n`
      server.enqueue(
        // vLLM-style cumulative usage on each chunk: the usage seen is the one reported
        {
          headers: sse,
          body: chunk("Hel", `{"prompt_tokens":12,"completion_tokens":1,"total_tokens":13}`) + moderation
        },
        // no usage at all: the usage seen is its bound
        { headers: sse, body: chunk("Hel", "null") + chunk("lo", "null") + moderation }
      )
      yield* Effect.gen(function*() {
        const reported = yield* collect(stream({ prompt: "x", traceId: "mod-1" }))
        assert.deepStrictEqual(reported.filter((e) => !e.isFinish).map((e) => e.delta), ["Hel"])
        const finish = reported.at(-1)!
        assert.isTrue(finish.isFinish)
        assert.strictEqual(finish.finishReason, "filter")
        assert.strictEqual(finish.response!.content, "Hel")
        assert.deepStrictEqual([finish.usage!.inputTokens, finish.usage!.outputTokens], [12, 1])
        const ledger = yield* ledgerEvents("mod-1")
        assert.deepStrictEqual(ledger.map((e) => [e.type, e.status]), [["hold", "ok"], ["commit", "ok"]])
        assert.strictEqual(ledger[1]!.usage?.outputTokens, 1)
        assert.closeTo(ledger[1]!.cost, (12 * 0.15 + 1 * 0.6) / 1e6, 1e-12)

        const bounded = yield* collect(stream({ prompt: "x", traceId: "mod-2" }))
        const boundFinish = bounded.at(-1)!
        assert.strictEqual(boundFinish.finishReason, "filter")
        assert.strictEqual(boundFinish.response!.content, "Hello")
        assert.isAbove(boundFinish.usage!.inputTokens, 0)
        assert.strictEqual(boundFinish.usage!.outputTokens, Buffer.byteLength("Hello", "utf8"))
        const boundLedger = yield* ledgerEvents("mod-2")
        assert.deepStrictEqual(boundLedger.map((e) => [e.type, e.status]), [["hold", "ok"], ["commit", "ok"]])
        assert.isAbove(boundLedger[1]!.cost, 0)
        assert.isAtMost(boundLedger[1]!.cost, boundLedger[0]!.cost)
      }).pipe(Effect.provide(layerOf(openaiConfig([{ name: "a", url: server.url }]))))
      assert.strictEqual(server.requests.length, 2, "each answered once, never retried")
    }))

  it.scoped("a consumer that stops early: ledger cancelled with the usage's bound (none reported yet), the socket closed", () =>
    Effect.gen(function*() {
      const server = yield* Loopback.make
      const firstChunks = recordedStream.split("\n\n").slice(0, 6).join("\n\n") + "\n\n"
      server.enqueue({ headers: sse, body: [firstChunks], end: "hang" })
      yield* Effect.gen(function*() {
        const events = yield* collect(Stream.take(stream({ prompt: "write", traceId: "early" }), 2))
        assert.strictEqual(events.length, 2)
        const ledger = yield* ledgerEvents("early")
        assert.deepStrictEqual(ledger.map((e) => [e.type, e.status]), [["hold", "ok"], ["cancel", "cancelled"]])
        // Chat Completions reports usage at the end of a stream only: none was seen, so the usage seen so far
        // is its bound (input bound + one token per byte streamed), recorded and priced.
        const usage = ledger[1]!.usage!
        assert.isAbove(usage.inputTokens, 0)
        assert.isAbove(usage.outputTokens, 0)
        assert.strictEqual(usage.totalTokens, usage.inputTokens + usage.outputTokens)
        assert.isAbove(ledger[1]!.cost, 0)
        assert.isAtMost(ledger[1]!.cost, ledger[0]!.cost)
      }).pipe(Effect.provide(layerOf(openaiConfig([{ name: "a", url: server.url }]))))
      yield* Effect.promise(() => server.requests[0]!.socketClosed)
    }))

  it.scoped("a truncated stream (cut after deltas) fails with stream_interrupted; the ledger records error with the usage seen", () =>
    Effect.gen(function*() {
      const server = yield* Loopback.make
      // vLLM's continuous_usage_stats: a cumulative usage on every chunk.
      const chunk = (i: number) =>
        `data: {"id":"cmpl-1","object":"chat.completion.chunk","model":"m","choices":[{"index":0,"delta":{"content":"t${i} "},"finish_reason":null}],"usage":{"prompt_tokens":12,"completion_tokens":${i},"total_tokens":${
          12 + i
        }}}\n\n`
      server.enqueue(
        { headers: sse, body: [chunk(1) + chunk(2) + chunk(3)], end: "destroy" },
        // A clean end before any finish_reason or [DONE] is the same cut.
        { headers: sse, body: chunk(1) + chunk(2) }
      )
      yield* Effect.gen(function*() {
        for (const [traceId, seen] of [["cut", 3], ["ended", 2]] as const) {
          const deltas: Array<string> = []
          const error = yield* Stream.runForEach(stream({ prompt: "x", traceId }), (e) =>
            Effect.sync(() => {
              if (!e.isFinish) deltas.push(e.delta)
            })).pipe(Effect.flip)
          assert.strictEqual(deltas.length, seen)
          assert.strictEqual(error._tag === "RetryableError" && error.reason, "stream_interrupted")
          const ledger = yield* ledgerEvents(traceId)
          assert.deepStrictEqual(ledger.map((e) => [e.type, e.status]), [["hold", "ok"], ["cancel", "error"]])
          assert.strictEqual(ledger[1]!.usage?.outputTokens, seen, "partial usage recorded")
          assert.closeTo(ledger[1]!.cost, (12 * 0.15 + seen * 0.6) / 1e6, 1e-12)
        }
      }).pipe(Effect.provide(layerOf(openaiConfig([{ name: "a", url: server.url }]))))
      assert.strictEqual(server.requests.length, 2, "never replayed")
    }))

  it.scoped("keep-alive comments are not stream events: stream_idle_timeout_s runs through them", () =>
    Effect.gen(function*() {
      const server = yield* Loopback.make
      const firstChunks = recordedStream.split("\n\n").slice(0, 2).join("\n\n") + "\n\n"
      server.enqueue({
        headers: sse,
        body: [firstChunks, { delayMs: 200 }, ": keep-alive\n\n: keep-alive\n\n"],
        end: "hang"
      })
      const first = yield* Deferred.make<void>()
      const fiber = yield* Effect.fork(
        Stream.runDrain(stream({ prompt: "x" }).pipe(Stream.tap(() => Deferred.succeed(first, undefined)))).pipe(
          Effect.flip,
          Effect.provide(layerOf(openaiConfig([{ name: "a", url: server.url }], {}, { stream_idle_timeout_s: 30 })))
        )
      )
      yield* Deferred.await(first)
      yield* TestClock.adjust("20 seconds")
      // The comments arrive now, 20 s into the silence.
      yield* Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 600)))
      assert.isTrue((yield* Fiber.poll(fiber))._tag === "None", "still waiting")
      yield* TestClock.adjust("10 seconds")
      yield* settle
      // 30 s after the last chunk, whatever comments came in between (not 30 s after the comments).
      assert.isTrue((yield* Fiber.poll(fiber))._tag === "Some", "timed out at 30 s")
      const error = yield* Fiber.join(fiber)
      assert.strictEqual(error._tag === "RetryableError" && error.reason, "stream_interrupted")
    }))

  it.scoped("OpenRouter-style: 17 keep-alive comments before the stream, the entry's extra headers sent", () =>
    Effect.gen(function*() {
      const server = yield* Loopback.make
      const comments = ": OPENROUTER PROCESSING\n\n".repeat(17)
      const body = comments + recordedStream
      server.enqueue(Loopback.replay(Buffer.from(body), { headers: sse, chunkSizes: [9, 200] }))
      const config = {
        default_model: "or",
        providers: {
          openrouter: {
            protocol: "openai",
            api_key: "or-key",
            headers: { "X-Title": "effect-llm tests", "HTTP-Referer": "https://example.org" },
            endpoints: [{ name: "openrouter", base_url: `${server.url}/api/v1` }]
          }
        },
        models: { or: { provider: "openrouter", model_id: "openai/gpt-4o-mini" } },
        ledger: { backend: "memory" }
      }
      const events = yield* collect(stream({ prompt: "x" })).pipe(Effect.provide(layerOf(config)))
      assert.strictEqual(events.at(-1)!.finishReason, "stop")
      const [request] = server.requests
      assert.strictEqual(request!.url, "/api/v1/chat/completions")
      assert.strictEqual(request!.headers["x-title"], "effect-llm tests")
      assert.strictEqual(request!.headers["http-referer"], "https://example.org")
      assert.strictEqual(request!.headers.authorization, "Bearer or-key")
    }))
})
