import { assert, describe, it } from "@effect/vitest"
import * as Chunk from "effect/Chunk"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as FiberId from "effect/FiberId"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as Random from "effect/Random"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/TestClock"
import { FatalError, RateLimitError, RetryableError } from "../../src/domain/Errors.js"
import { TokenUsage } from "../../src/domain/TokenUsage.js"
import { makeMockProviders, type MockReply, testConfig } from "../../src/layers/Test.js"
import * as Testing from "../../src/layers/Test.js"
import { CircuitBreaker } from "../../src/services/CircuitBreaker.js"
import { Ledger, makeMemory } from "../../src/services/Ledger.js"
import { generate, LLMClient, stream } from "../../src/services/LLMClient.js"
import { perMessageTokenAllowance } from "../../src/services/Pricing.js"

const unavailable = () => new RetryableError({ reason: "server_error", message: "503 model overloaded", status: 503 })

const setup = (replies: ReadonlyArray<MockReply>, config: Record<string, unknown> = {}, otherwise?: MockReply) => {
  const providers = makeMockProviders({ replies, ...(otherwise !== undefined ? { otherwise } : {}) })
  const layer = Testing.makeTestLayer({ config: { ...testConfig, ...config }, providers })
  return { providers, layer }
}

const twoEndpointsAndFallback = {
  providers: {
    google: {
      api_key: "k",
      endpoints: [
        { name: "g1", base_url: "http://127.0.0.1:9", region: "us" },
        { name: "g2", base_url: "http://127.0.0.1:9", region: "us" }
      ]
    },
    dashscope: { api_key: "k", endpoints: [{ name: "d1", base_url: "http://127.0.0.1:9", region: "sg" }] }
  },
  models: {
    "test-model": {
      provider: "google",
      model_id: "gemini-test",
      pricing: { input_per_1m: 1, output_per_1m: 2 },
      fallbacks: ["test-qwen"]
    },
    "test-qwen": { provider: "dashscope", model_id: "qwen-test", pricing: { input_per_1m: 1, output_per_1m: 2 } }
  },
  resilience: { max_retries: 0, circuit_breaker: { failure_threshold: 2, recovery_timeout_s: 30 } }
}

describe("LLMClient.generate", () => {
  it.effect("returns the text by default and the full record with fullResponse", () => {
    const { layer } = setup(["Hello there", "Hello again"])
    return Effect.gen(function*() {
      const text = yield* generate({ prompt: "hi" })
      assert.strictEqual(text, "Hello there")
      const response = yield* generate({ prompt: "hi", fullResponse: true, traceId: "trace-1" })
      assert.strictEqual(response.content, "Hello again")
      assert.strictEqual(String(response), "Hello again")
      assert.strictEqual(response.alias, "test-model")
      assert.strictEqual(response.model, "test-model-1")
      assert.strictEqual(response.provider, "google")
      assert.strictEqual(response.endpoint, "mock-google")
      assert.strictEqual(response.traceId, "trace-1")
      assert.strictEqual(response.attempts, 1)
      assert.strictEqual(response.finishReason, "stop")
      const expectedCost = (response.usage.inputTokens * 1 + response.usage.outputTokens * 2) / 1e6
      assert.closeTo(response.cost, expectedCost, 1e-12)
    }).pipe(Effect.provide(layer))
  })

  it.effect("a field set to undefined is absent (exactOptionalPropertyTypes: options passed through from optional ones)", () => {
    const { layer } = setup(["from the default model"])
    // what a caller's own optional settings give (typed `T | undefined` under exactOptionalPropertyTypes)
    const options: { readonly model?: string; readonly temperature?: number; readonly traceId?: string } = {}
    return Effect.gen(function*() {
      const response = yield* generate({
        prompt: "hi",
        model: options.model,
        temperature: options.temperature,
        traceId: options.traceId,
        messages: undefined,
        tags: undefined,
        fullResponse: true
      })
      assert.strictEqual(response.content, "from the default model")
      assert.strictEqual(response.alias, "test-model")
    }).pipe(Effect.provide(layer))
  })

  it.effect("generates a UUID trace id when none is given", () =>
    Effect.gen(function*() {
      const response = yield* generate({ prompt: "hi", fullResponse: true })
      assert.match(response.traceId, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/)
    }).pipe(Effect.provide(setup([]).layer)))

  it.effect("measures totalMs with Clock", () => {
    const slow: MockReply = () =>
      Effect.as(Effect.sleep("1500 millis"), {
        content: "ok",
        usage: TokenUsage.zero,
        finishReason: "stop" as const,
        requestId: undefined,
        modelVersion: undefined,
        reasoning: undefined
      })
    return Effect.gen(function*() {
      const fiber = yield* Effect.fork(generate({ prompt: "hi", fullResponse: true }))
      yield* TestClock.adjust("1500 millis")
      const response = yield* Fiber.join(fiber)
      assert.strictEqual(response.timing.totalMs, 1500)
    }).pipe(Effect.provide(setup([slow]).layer))
  })

  for (
    const [name, request] of [
      ["no prompt or messages", {}],
      ["an empty prompt", { prompt: "" }],
      ["temperature above 2", { prompt: "x", temperature: 2.5 }],
      ["negative temperature", { prompt: "x", temperature: -0.1 }],
      ["zero maxOutputTokens", { prompt: "x", maxOutputTokens: 0 }],
      ["fractional maxOutputTokens", { prompt: "x", maxOutputTokens: 1.5 }],
      ["maxOutputTokens past a 32-bit count (its hold would be infinite)", {
        prompt: "x",
        maxOutputTokens: Number.MAX_VALUE
      }],
      ["maxOutputTokens 2^31", { prompt: "x", maxOutputTokens: 2 ** 31 }],
      ["an unknown model alias", { prompt: "x", model: "nope" }],
      ["an empty stop sequence", { prompt: "x", stop: ["###", ""] }],
      ["six stop sequences for a Gemini model (it takes up to 5)", {
        prompt: "x",
        stop: ["a", "b", "c", "d", "e", "f"]
      }],
      // requests from JSON (a batch file) are checked as values, not only as types
      ["messages that is no array, beside a prompt", { prompt: "p", messages: "hello" }],
      ["messages that is an object", { prompt: "p", messages: {} }],
      ["a prompt that is no string", { prompt: 42 }],
      ["a fullResponse that is no boolean", { prompt: "p", fullResponse: "true" }]
    ] as const
  ) {
    it.effect(`rejects ${name} with FatalError invalid_request, before any ledger write or request`, () => {
      const { layer, providers } = setup([])
      return Effect.gen(function*() {
        const error = yield* Effect.flip(generate(request as never))
        assert.strictEqual(error._tag, "FatalError")
        assert.strictEqual((error as FatalError).reason, "invalid_request")
        const ledger = yield* Ledger
        assert.strictEqual((yield* ledger.events()).length, 0)
        assert.strictEqual(providers.calls.length, 0)
      }).pipe(Effect.provide(layer))
    })
  }

  it.effect("a malformed field is named in the message, on generate and stream alike", () => {
    const { layer, providers } = setup([])
    return Effect.gen(function*() {
      const cases = [
        [{ prompt: "p", messages: "hello" }, `messages must be an array of { role, content }, got a string ("hello")`],
        [{ prompt: 42 }, "prompt must be a string, got 42"],
        [{ prompt: "p", stop: ["###", ""] }, `stop[1] must be a non-empty string, got a string ("")`],
        [{ prompt: "p", fullResponse: 1 }, "fullResponse must be a boolean, got 1"],
        [{ prompt: "p", messages: { a: 1 } }, "messages must be an array of { role, content }, got an object"],
        [{ prompt: "p", fullResponse: "yes" }, `fullResponse must be a boolean, got a string ("yes")`],
        [{ prompt: "p", messages: true }, "messages must be an array of { role, content }, got a boolean (true)"],
        [
          { messages: [{ role: "user", content: [{ type: "image", data: "AAAA" }] }] },
          "messages[0].content[0].mediaType must be an image/* media type (image/png, image/jpeg, image/webp, image/gif), got nothing"
        ]
      ] as const
      for (const [request, message] of cases) {
        const unary = yield* Effect.flip(generate(request as never))
        const streamed = yield* Effect.flip(Stream.runDrain(stream(request as never)))
        for (const error of [unary, streamed]) {
          assert.strictEqual(error._tag, "FatalError")
          assert.strictEqual(error.message, message)
          // the default model resolves: the error names its provider (API.md §3)
          assert.strictEqual(error.provider, "google")
        }
      }
      const unknownAlias = yield* Effect.flip(generate({ prompt: "p", model: "nope", temperature: 9 }))
      assert.strictEqual(unknownAlias._tag, "FatalError")
      assert.isUndefined(unknownAlias.provider)
      assert.strictEqual((yield* (yield* Ledger).events()).length, 0)
      assert.strictEqual(providers.calls.length, 0)
    }).pipe(Effect.provide(layer))
  })

  it.effect("temperature 2 is refused for a DashScope model (it takes [0, 2)) before any ledger write or request, and accepted for Gemini", () => {
    const { layer, providers } = setup(["ok"], twoEndpointsAndFallback)
    return Effect.gen(function*() {
      const error = yield* Effect.flip(generate({ prompt: "x", temperature: 2, model: "test-qwen" }))
      assert.strictEqual(error._tag, "FatalError")
      assert.strictEqual((error as FatalError).reason, "invalid_request")
      assert.match(error.message, /\[0, 2\) for DashScope/)
      const ledger = yield* Ledger
      assert.strictEqual((yield* ledger.events()).length, 0)
      assert.strictEqual(providers.calls.length, 0)
      assert.strictEqual(yield* generate({ prompt: "x", temperature: 2, model: "test-model" }), "ok")
    }).pipe(Effect.provide(layer))
  })

  it.effect("five stop sequences go to a Gemini model, six to a DashScope one", () => {
    const { layer, providers } = setup(["ok", "ok"], twoEndpointsAndFallback)
    return Effect.gen(function*() {
      assert.strictEqual(yield* generate({ prompt: "x", stop: ["a", "b", "c", "d", "e"] }), "ok")
      assert.strictEqual(
        yield* generate({ prompt: "x", stop: ["a", "b", "c", "d", "e", "f"], model: "test-qwen" }),
        "ok"
      )
      assert.deepStrictEqual(providers.calls.map((call) => call.request.stop?.length), [5, 6])
    }).pipe(Effect.provide(layer))
  })

  it.effect("maps messages and system into the normalised request", () => {
    const { layer, providers } = setup(["ok"])
    return Effect.gen(function*() {
      yield* generate({
        system: "be brief",
        messages: [
          { role: "system", content: "also polite" },
          { role: "user", content: "hi" },
          { role: "assistant", content: "hello" },
          { role: "user", content: "how are you?" }
        ],
        maxOutputTokens: 50,
        temperature: 0.2,
        topP: 0.9,
        stop: ["\n\n"]
      })
      const request = providers.calls[0]!.request
      assert.strictEqual(request.system, "be brief\n\nalso polite")
      assert.deepStrictEqual(request.messages.map((m) => m.role), ["user", "assistant", "user"])
      assert.strictEqual(request.maxOutputTokens, 50)
      assert.deepStrictEqual(request.stop, ["\n\n"])
    }).pipe(Effect.provide(layer))
  })

  it.effect("a missing API key is a ConfigError at call time naming the variable", () => {
    const providers = makeMockProviders({})
    const layer = Testing.makeTestLayer({
      config: {
        ...testConfig,
        providers: {
          ...testConfig.providers,
          google: { ...testConfig.providers.google, api_key: "${UNSET_TEST_KEY_VAR}" }
        }
      },
      providers
    })
    return Effect.gen(function*() {
      const error = yield* Effect.flip(generate({ prompt: "hi" }))
      assert.strictEqual(error._tag, "ConfigError")
      assert.include(error.message, "UNSET_TEST_KEY_VAR")
      assert.strictEqual(providers.calls.length, 0)
      // The other provider still works.
      assert.strictEqual(yield* generate({ prompt: "hi", model: "test-qwen" }), "echo: hi")
    }).pipe(Effect.provide(layer))
  })
})

describe("budget and ledger", () => {
  it.effect("writes hold then commit with usage, cost and attempts", () =>
    Effect.gen(function*() {
      const response = yield* generate({ prompt: "hi", fullResponse: true, traceId: "t-1" })
      const events = yield* (yield* Ledger).events({ traceId: "t-1" })
      assert.deepStrictEqual(events.map((e) => e.type), ["hold", "commit"])
      const commit = events[1]!
      assert.strictEqual(commit.holdId, events[0]!.id)
      assert.strictEqual(commit.status, "ok")
      assert.strictEqual(commit.cost, response.cost)
      assert.deepStrictEqual(commit.usage, response.usage)
      assert.strictEqual(commit.attempts, 1)
      assert.strictEqual(commit.endpoint, "mock-google")
    }).pipe(Effect.provide(setup(["answer"]).layer)))

  it.effect("a failed call is cancelled with status error, the last error and its attempts", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(generate({ prompt: "hi", traceId: "t-2" }))
      assert.strictEqual(error._tag, "FatalError")
      const events = yield* (yield* Ledger).events({ traceId: "t-2" })
      assert.deepStrictEqual(events.map((e) => e.type), ["hold", "cancel"])
      assert.strictEqual(events[1]!.status, "error")
      assert.strictEqual(events[1]!.error?.tag, "FatalError")
      assert.strictEqual(events[1]!.attempts, 1)
    }).pipe(Effect.provide(setup([new FatalError({ reason: "not_found", message: "404 model not found" })]).layer)))

  it.effect("an interrupted call is cancelled with status cancelled", () =>
    Effect.gen(function*() {
      const fiber = yield* Effect.fork(generate({ prompt: "hi", traceId: "t-3" }))
      yield* TestClock.adjust("1 second")
      yield* Fiber.interrupt(fiber)
      const events = yield* (yield* Ledger).events({ traceId: "t-3" })
      assert.deepStrictEqual(events.map((e) => e.type), ["hold", "cancel"])
      assert.strictEqual(events[1]!.status, "cancelled")
    }).pipe(Effect.provide(setup([() => Effect.never]).layer)))

  it.effect("a defect still closes the hold", () =>
    Effect.gen(function*() {
      const exit = yield* Effect.exit(generate({ prompt: "hi", traceId: "t-4" }))
      assert.isTrue(Exit.isFailure(exit))
      const events = yield* (yield* Ledger).events({ traceId: "t-4" })
      assert.deepStrictEqual(events.map((e) => e.type), ["hold", "cancel"])
      assert.strictEqual(events[1]!.status, "error")
      assert.strictEqual(events[1]!.error?.tag, "Defect")
    }).pipe(Effect.provide(setup([() => Effect.die(new Error("boom"))]).layer)))

  it.effect("over the limit: BudgetExceededError with spent, limit and estimate, and no request", () => {
    const { layer, providers } = setup([], { budget: { daily_spend_limit: 0.000001 } })
    return Effect.gen(function*() {
      const error = yield* Effect.flip(generate({ prompt: "hi", maxOutputTokens: 1000 }))
      assert.strictEqual(error._tag, "BudgetExceededError")
      if (error._tag === "BudgetExceededError") {
        assert.strictEqual(error.limit, 0.000001)
        assert.strictEqual(error.spent, 0)
        // "hi": 2 UTF-8 bytes plus the allowance for the message and the request (API.md §14).
        assert.closeTo(error.estimate, ((2 + 2 * perMessageTokenAllowance) * 1 + 1000 * 2) / 1e6, 1e-12)
      }
      assert.strictEqual(providers.calls.length, 0)
      assert.strictEqual((yield* (yield* Ledger).events()).length, 0)
    }).pipe(Effect.provide(layer))
  })

  it.effect("50 concurrent calls against a limit that fits 5: at most 5 holds, none left over", () => {
    // Each call is estimated at ((1 byte + 16 allowance) × $1 + 100 tokens × $2) / 1e6 = $0.000217; the limit fits 5.
    const gate = Deferred.unsafeMake<void>(undefined as never)
    const gated: MockReply = () =>
      Effect.as(Deferred.await(gate), {
        content: "ok",
        usage: new TokenUsage({ inputTokens: 1, outputTokens: 100, totalTokens: 101 }),
        finishReason: "stop" as const,
        requestId: undefined,
        modelVersion: undefined,
        reasoning: undefined
      })
    const { layer, providers } = setup([], { budget: { daily_spend_limit: 0.000217 * 5 + 0.0000001 } }, gated)
    return Effect.gen(function*() {
      const fibers = yield* Effect.forEach(
        Array.from({ length: 50 }, (_, i) => i),
        (i) => Effect.fork(Effect.either(generate({ prompt: "x", maxOutputTokens: 100, traceId: `race-${i}` }))),
        { concurrency: "unbounded" }
      )
      yield* Effect.yieldNow()
      yield* TestClock.adjust("1 millis")
      assert.strictEqual(providers.calls.length, 5)
      yield* Deferred.succeed(gate, undefined)
      const results = yield* Effect.forEach(fibers, Fiber.join)
      assert.strictEqual(results.filter((r) => r._tag === "Right").length, 5)
      assert.strictEqual(
        results.filter((r) => r._tag === "Left" && r.left._tag === "BudgetExceededError").length,
        45
      )
      const events = yield* (yield* Ledger).events()
      const holds = events.filter((e) => e.type === "hold")
      const settled = new Set(events.filter((e) => e.type !== "hold").map((e) => e.holdId))
      assert.strictEqual(holds.length, 5)
      assert.isTrue(holds.every((h) => settled.has(h.id)))
    }).pipe(Effect.provide(layer))
  })
})

describe("retries (TestClock)", () => {
  it.effect("503, 503, 200 succeeds with attempts 3 after delays within the jitter bounds of base×1 and base×2", () => {
    // A 1 s base (testConfig's backoffs are milliseconds).
    const { layer, providers } = setup([unavailable(), unavailable(), "finally"], {
      resilience: { base_delay_s: 1, max_delay_s: 60 }
    })
    return Effect.gen(function*() {
      const fiber = yield* Effect.fork(generate({ prompt: "hi", fullResponse: true }))
      yield* TestClock.adjust("1 millis")
      assert.strictEqual(providers.calls.length, 1)
      yield* TestClock.adjust("799 millis")
      assert.strictEqual(providers.calls.length, 1, "the first retry waits at least 0.8 × base")
      yield* TestClock.adjust("400 millis")
      assert.strictEqual(providers.calls.length, 2, "the first retry happens by 1.2 × base")
      yield* TestClock.adjust("1599 millis")
      assert.strictEqual(providers.calls.length, 2, "the second retry waits at least 0.8 × 2 × base")
      yield* TestClock.adjust("2400 millis")
      const response = yield* Fiber.join(fiber)
      assert.strictEqual(response.content, "finally")
      assert.strictEqual(response.attempts, 3)
    }).pipe(Effect.provide(layer), Effect.withRandom(Random.fixed([0.5])))
  })

  it.effect("max_retries: 3 with a permanent 503 makes exactly 4 attempts", () => {
    const { layer, providers } = setup([], { resilience: { max_retries: 3 } }, unavailable())
    return Effect.gen(function*() {
      const fiber = yield* Effect.fork(Effect.flip(generate({ prompt: "hi", traceId: "p503" })))
      yield* TestClock.adjust("60 seconds")
      const error = yield* Fiber.join(fiber)
      assert.strictEqual(error._tag, "RetryableError")
      assert.strictEqual(providers.calls.length, 4)
      const cancel = (yield* (yield* Ledger).events({ traceId: "p503" }))[1]!
      assert.strictEqual(cancel.attempts, 4)
      assert.strictEqual(cancel.error?.tag, "RetryableError")
    }).pipe(Effect.provide(layer))
  })

  it.effect("retry_budget_s stops a long sequence early", () => {
    const { layer, providers } = setup(
      [],
      { resilience: { max_retries: 10, base_delay_s: 1, retry_budget_s: 5 } },
      unavailable()
    )
    return Effect.gen(function*() {
      const fiber = yield* Effect.fork(Effect.flip(generate({ prompt: "hi" })))
      yield* TestClock.adjust("120 seconds")
      yield* Fiber.join(fiber)
      // 1 + 2 = 3 s of waits fit in 5 s; the next (4 s) does not.
      assert.strictEqual(providers.calls.length, 3)
    }).pipe(Effect.provide(layer), Effect.withRandom(Random.fixed([0.5])))
  })

  for (const reason of ["invalid_request", "authentication", "permission_denied", "not_found"] as const) {
    it.effect(`a FatalError (${reason}) makes one attempt`, () => {
      const { layer, providers } = setup([], {}, new FatalError({ reason, message: reason }))
      return Effect.gen(function*() {
        const fiber = yield* Effect.fork(Effect.flip(generate({ prompt: "hi" })))
        yield* TestClock.adjust("60 seconds")
        assert.strictEqual((yield* Fiber.join(fiber))._tag, "FatalError")
        assert.strictEqual(providers.calls.length, 1)
      }).pipe(Effect.provide(layer))
    })
  }

  it.effect("a 429 with Retry-After 7 s retries at t = 7 s, not before", () => {
    const limited = new RateLimitError({ reason: "rate_limited", message: "429", retryAfter: Duration.seconds(7) })
    const { layer, providers } = setup([limited, "ok"])
    return Effect.gen(function*() {
      const fiber = yield* Effect.fork(generate({ prompt: "hi", fullResponse: true }))
      yield* TestClock.adjust("6999 millis")
      assert.strictEqual(providers.calls.length, 1)
      yield* TestClock.adjust("1 millis")
      const response = yield* Fiber.join(fiber)
      assert.strictEqual(providers.calls.length, 2)
      assert.strictEqual(response.attempts, 2)
      assert.strictEqual(response.timing.totalMs, 7000)
    }).pipe(Effect.provide(layer))
  })

  it.effect("a wait over max_wait_timeout_s returns the RateLimitError at once", () => {
    const limited = new RateLimitError({ reason: "rate_limited", message: "429", retryAfter: Duration.seconds(34.4) })
    const { layer, providers } = setup([limited, "ok"], { resilience: { max_wait_timeout_s: 30 } })
    return Effect.gen(function*() {
      const error = yield* Effect.flip(generate({ prompt: "hi" }))
      assert.strictEqual(error._tag, "RateLimitError")
      if (error._tag === "RateLimitError") assert.strictEqual(Duration.toMillis(error.retryAfter!), 34_400)
      assert.strictEqual(providers.calls.length, 1)
    }).pipe(Effect.provide(layer))
  })

  it.effect("quota_exhausted fails at once", () => {
    const quota = new RateLimitError({ reason: "quota_exhausted", message: "per-day quota" })
    const { layer, providers } = setup([quota, "ok"])
    return Effect.gen(function*() {
      assert.strictEqual((yield* Effect.flip(generate({ prompt: "hi" })))._tag, "RateLimitError")
      assert.strictEqual(providers.calls.length, 1)
    }).pipe(Effect.provide(layer))
  })

  it.effect("a hanging endpoint fails with RetryableError timeout after request_timeout_s", () => {
    const { layer } = setup([], { resilience: { max_retries: 0, request_timeout_s: 10 } }, () => Effect.never)
    return Effect.gen(function*() {
      const fiber = yield* Effect.fork(Effect.flip(generate({ prompt: "hi" })))
      yield* TestClock.adjust("9999 millis")
      assert.isNull(yield* Fiber.poll(fiber).pipe(Effect.map((o) => o._tag === "None" ? null : o)))
      yield* TestClock.adjust("1 millis")
      const error = yield* Fiber.join(fiber)
      assert.strictEqual(error._tag, "RetryableError")
      assert.strictEqual((error as RetryableError).reason, "timeout")
    }).pipe(Effect.provide(layer))
  })
})

describe("a client that has closed", () => {
  it.effect("refuses a call with an interruption before planning it (no FatalError for a bad request, nothing sent)", () =>
    Effect.gen(function*() {
      const providers = makeMockProviders()
      const scope = yield* Scope.make()
      const context = yield* Layer.buildWithScope(Testing.makeTestLayer({ providers }), scope)
      const client = Context.get(context, LLMClient)
      yield* Scope.close(scope, Exit.void)
      for (const request of [{ prompt: "hi" }, { prompt: "hi", model: "no-such-alias" }, { prompt: "" }]) {
        assert.isTrue(Exit.isInterrupted(yield* Effect.exit(client.generate(request))), JSON.stringify(request))
      }
      assert.strictEqual(providers.calls.length, 0)
    }))
})

/**
 * A memory ledger some of whose operations (`slowed`) pause: each signals `reached`, then waits 50 ms
 * on the test clock (a round trip on a database ledger) before it runs.
 */
const pausedLedger = (
  reached: Deferred.Deferred<void>,
  slowed: (
    ledger: Ledger["Type"],
    pause: <A, E>(operation: Effect.Effect<A, E>) => Effect.Effect<A, E>
  ) => Partial<Ledger["Type"]>
) =>
  Layer.effect(
    Ledger,
    Effect.map(makeMemory({}), (ledger) => ({
      ...ledger,
      ...slowed(ledger, (operation) =>
        Effect.zipRight(
          Deferred.succeed(reached, undefined),
          Effect.zipRight(Effect.sleep("50 millis"), operation)
        ))
    }))
  )

describe("a unary call interrupted between its answer and its commit", () => {
  it.effect("is cancelled at the usage the answer reported, not at $0 (the provider billed it)", () =>
    Effect.gen(function*() {
      const releasing = yield* Deferred.make<void>()
      // the slot release before the commit, a ledger round trip with rate limits on a database: held open
      const slowRelease = pausedLedger(releasing, (ledger, pause) => ({
        release: (slot, tokens) => pause(ledger.release(slot, tokens))
      }))
      const providers = makeMockProviders({
        replies: [{ content: "ok", usage: { inputTokens: 1000, outputTokens: 500 } }]
      })
      const layer = Testing.makeTestLayer({
        config: {
          ...testConfig,
          models: { ...testConfig.models, "test-model": { ...testConfig.models["test-model"], limits: { rpm: 1000 } } }
        },
        providers,
        ledger: slowRelease
      })
      yield* Effect.gen(function*() {
        const call = yield* Effect.fork(generate({ prompt: "hi", traceId: "t-between" }))
        yield* Deferred.await(releasing)
        const interrupted = yield* Effect.fork(Fiber.interrupt(call))
        yield* TestClock.adjust("50 millis")
        yield* Fiber.join(interrupted)
        const events = yield* (yield* Ledger).events({ traceId: "t-between" })
        const cancel = events.find((event) => event.type === "cancel")
        assert.strictEqual(cancel?.status, "cancelled")
        assert.deepStrictEqual([cancel?.usage?.inputTokens, cancel?.usage?.outputTokens], [1000, 500])
        assert.closeTo(cancel?.cost ?? 0, 0.002, 1e-12, "1,000 in at $1/M + 500 out at $2/M")
      }).pipe(Effect.provide(layer))
    }))
})

describe("a call interrupted while its commit is being written", () => {
  it.effect("is recorded exactly once, as committed: one commit row, no cancel, its cost counted once in the spend", () =>
    Effect.gen(function*() {
      const committing = yield* Deferred.make<void>()
      // the commit's write, a round trip on a database ledger: held open 50 ms on the test clock
      const slowCommit = pausedLedger(committing, (ledger, pause) => ({
        commit: (hold, settlement) => pause(ledger.commit(hold, settlement))
      }))
      const providers = makeMockProviders({
        replies: [{ content: "ok", usage: { inputTokens: 1000, outputTokens: 500 } }]
      })
      const layer = Testing.makeTestLayer({ config: testConfig, providers, ledger: slowCommit })
      yield* Effect.gen(function*() {
        const call = yield* Effect.fork(generate({ prompt: "hi", traceId: "t-committing" }))
        yield* Deferred.await(committing)
        // the caller's timeout fires now: the interruption waits for the commit, which stands
        const interrupted = yield* Effect.fork(Fiber.interrupt(call))
        yield* TestClock.adjust("50 millis")
        yield* Fiber.join(interrupted)
        const ledger = yield* Ledger
        const events = yield* ledger.events({ traceId: "t-committing" })
        assert.deepStrictEqual(events.map((event) => event.type), ["hold", "commit"])
        const commit = events[1]!
        assert.deepStrictEqual([commit.usage?.inputTokens, commit.usage?.outputTokens], [1000, 500])
        assert.closeTo(commit.cost, 0.002, 1e-12, "1,000 in at $1/M + 500 out at $2/M")
        assert.closeTo(yield* ledger.spendToday(), 0.002, 1e-12, "counted once: no open hold, no cancel beside it")
        // nothing is left to write at close: the settlement was the commit alone
        yield* TestClock.adjust("1 hour")
        assert.deepStrictEqual(
          (yield* ledger.events({ traceId: "t-committing" })).map((event) => event.type),
          ["hold", "commit"]
        )
      }).pipe(Effect.provide(layer))
    }))
})

describe("breakers and routing", () => {
  it.effect("a half-open probe interrupted the moment it is admitted is given back: the next call probes again", () => {
    const { layer, providers } = setup([unavailable(), "ok"], {
      resilience: { max_retries: 0, circuit_breaker: { failure_threshold: 1, recovery_timeout_s: 10 } }
    })
    let target: Fiber.RuntimeFiber<unknown, unknown> | undefined
    // Interrupts the call as its probe is admitted (the transition's log), as a caller's timeout firing
    // at that moment would: before the guard that gives an unused probe back was installed.
    const interrupter = Logger.make(({ message }) => {
      const text = String(Array.isArray(message) ? message.join(" ") : message)
      if (text.includes("open -> half_open") && target !== undefined) {
        target.unsafeInterruptAsFork(FiberId.none)
        target = undefined
      }
    })
    return Effect.gen(function*() {
      assert.strictEqual((yield* Effect.flip(generate({ prompt: "1" })))._tag, "RetryableError")
      yield* TestClock.adjust("10 seconds")
      const probe = yield* Effect.fork(generate({ prompt: "2" }))
      target = probe as Fiber.RuntimeFiber<unknown, unknown>
      assert.isTrue(Exit.isInterrupted(yield* Fiber.await(probe)))
      assert.strictEqual(yield* generate({ prompt: "3" }), "ok", "the next call is the probe, not CircuitOpenError")
      assert.strictEqual(providers.calls.length, 2, "the interrupted probe sent nothing")
    }).pipe(Effect.provide(layer), Effect.provide(Logger.replace(Logger.defaultLogger, interrupter)))
  })

  it.effect("a failing endpoint opens its breaker; traffic moves to the second endpoint, then to the fallback", () => {
    const failing: MockReply = (call) =>
      call.endpoint === "g1" || call.endpoint === "g2"
        ? Effect.fail(unavailable())
        : Effect.succeed({
          content: `from ${call.endpoint}`,
          usage: TokenUsage.zero,
          finishReason: "stop" as const,
          requestId: undefined,
          modelVersion: undefined,
          reasoning: undefined
        })
    const { layer, providers } = setup([], twoEndpointsAndFallback, failing)
    return Effect.gen(function*() {
      // Two failures on g1 open it.
      yield* Effect.flip(generate({ prompt: "1" }))
      yield* Effect.flip(generate({ prompt: "2" }))
      // Now g2 gets the traffic, and fails twice too.
      yield* Effect.flip(generate({ prompt: "3" }))
      yield* Effect.flip(generate({ prompt: "4" }))
      assert.deepStrictEqual(providers.calls.map((c) => c.endpoint), ["g1", "g1", "g2", "g2"])
      const response = yield* generate({ prompt: "5", fullResponse: true })
      assert.strictEqual(response.endpoint, "d1")
      assert.strictEqual(response.alias, "test-qwen")
      assert.strictEqual(response.provider, "dashscope")
      const states = yield* (yield* CircuitBreaker).states()
      assert.deepStrictEqual(
        states.map((s) => [s.endpoint, s.state]).sort(),
        [["d1", "closed"], ["g1", "open"], ["g2", "open"]]
      )
      // A request the fallback's protocol cannot carry (DashScope takes temperature < 2): the error says why
      // nothing was usable though the fallback's breaker is closed.
      const refused = yield* Effect.flip(generate({ prompt: "6", temperature: 2 }))
      assert.strictEqual(refused._tag, "CircuitOpenError")
      assert.include(refused.message, `left out: "test-qwen", whose protocol cannot carry this request`)
    }).pipe(Effect.provide(layer))
  })

  it.effect("a fallback whose provider's key is not set is left out: the 503, then CircuitOpenError naming why", () => {
    const { layer, providers } = setup([], {
      ...twoEndpointsAndFallback,
      providers: {
        ...twoEndpointsAndFallback.providers,
        dashscope: { endpoints: [{ name: "d1", base_url: "http://127.0.0.1:9", region: "sg" }] }
      }
    }, () => Effect.fail(unavailable()))
    return Effect.gen(function*() {
      const first = yield* Effect.flip(generate({ prompt: "1" }))
      const second = yield* Effect.flip(generate({ prompt: "2" }))
      assert.deepStrictEqual(
        [first._tag, second._tag],
        ["RetryableError", "RetryableError"],
        "the 503s, not a ConfigError"
      )
      yield* Effect.flip(generate({ prompt: "3" }))
      yield* Effect.flip(generate({ prompt: "4" }))
      // both endpoints are open now: the fallback's missing key is named, and no request was made
      const open = yield* Effect.flip(generate({ prompt: "5" }))
      assert.strictEqual(open._tag, "CircuitOpenError")
      assert.include(open.message, `left out: "test-qwen", whose provider's key is not set`)
      assert.deepStrictEqual(providers.calls.map((c) => c.endpoint), ["g1", "g1", "g2", "g2"])
    }).pipe(Effect.provide(layer))
  })

  it.effect("CircuitOpenError when everything is open, with no request, and recovery after recovery_timeout_s", () => {
    const { layer, providers } = setup(
      [],
      {
        ...twoEndpointsAndFallback,
        models: {
          ...twoEndpointsAndFallback.models,
          "test-model": { ...twoEndpointsAndFallback.models["test-model"], fallbacks: [] }
        }
      },
      unavailable()
    )
    return Effect.gen(function*() {
      for (let i = 0; i < 4; i++) yield* Effect.flip(generate({ prompt: "x" }))
      const before = providers.calls.length
      const error = yield* Effect.flip(generate({ prompt: "x" }))
      assert.strictEqual(error._tag, "CircuitOpenError")
      if (error._tag === "CircuitOpenError") assert.strictEqual(error.reopensAt, 30_000)
      assert.strictEqual(providers.calls.length, before)
      yield* TestClock.adjust("30 seconds")
      yield* Effect.flip(generate({ prompt: "x" }))
      assert.strictEqual(providers.calls.length, before + 1, "one probe after recovery")
    }).pipe(Effect.provide(layer))
  })

  it.effect("4xx and 429 do not open the breaker", () => {
    const { layer, providers } = setup(
      [],
      { ...twoEndpointsAndFallback },
      new FatalError({ reason: "not_found", message: "no such model" })
    )
    return Effect.gen(function*() {
      for (let i = 0; i < 5; i++) yield* Effect.flip(generate({ prompt: "x" }))
      assert.isTrue(providers.calls.every((c) => c.endpoint === "g1"))
    }).pipe(Effect.provide(layer))
  })

  it.effect("an attempt cut short by what is left of retry_budget_s does not count for the breaker; request_timeout_s does", () => {
    const limited = new RateLimitError({ reason: "rate_limited", message: "429", retryAfter: Duration.seconds(9) })
    const { layer, providers } = setup(
      [limited],
      {
        resilience: {
          max_retries: 1,
          retry_budget_s: 10,
          request_timeout_s: 5,
          circuit_breaker: { failure_threshold: 1, recovery_timeout_s: 300 }
        }
      },
      () => Effect.never
    )
    const breaker = Effect.map(
      Effect.flatMap(CircuitBreaker, (breakers) => breakers.states()),
      (states) => states.filter((s) => s.endpoint === "mock-google").map((s) => [s.endpoint, s.state, s.failures])
    )
    return Effect.gen(function*() {
      // the 429 asks for 9 s: the retry has 1 s of the 10 s budget left, and hangs
      const cut = yield* Effect.fork(Effect.flip(generate({ prompt: "1" })))
      yield* TestClock.adjust("1 minute")
      const error = yield* Fiber.join(cut)
      assert.strictEqual(
        error._tag === "RetryableError" && error.reason,
        "timeout",
        "the caller's error is the timeout"
      )
      assert.strictEqual(error.message, `google (endpoint "mock-google") sent no response within 1s`)
      assert.deepStrictEqual(yield* breaker, [["mock-google", "closed", 0]])
      // a hang that reaches request_timeout_s (5 s, within the budget) is the endpoint's failure
      const timedOut = yield* Effect.fork(Effect.flip(generate({ prompt: "2" })))
      yield* TestClock.adjust("1 minute")
      yield* Fiber.join(timedOut)
      assert.deepStrictEqual(yield* breaker, [["mock-google", "open", 1]])
      assert.strictEqual(providers.calls.length, 3)
    }).pipe(Effect.provide(layer))
  })

  it.effect("a fallback priced above the hold re-checks the budget", () => {
    const pricey = {
      ...twoEndpointsAndFallback,
      models: {
        ...twoEndpointsAndFallback.models,
        "test-qwen": {
          provider: "dashscope",
          model_id: "qwen-test",
          pricing: { input_per_1m: 1000, output_per_1m: 1000 }
        }
      },
      budget: { daily_spend_limit: 0.01 }
    }
    const failing: MockReply = (call) =>
      call.endpoint.startsWith("g")
        ? Effect.fail(unavailable())
        : Effect.succeed({
          content: "q",
          usage: TokenUsage.zero,
          finishReason: "stop" as const,
          requestId: undefined,
          modelVersion: undefined,
          reasoning: undefined
        })
    const { layer, providers } = setup([], pricey, failing)
    return Effect.gen(function*() {
      for (let i = 0; i < 4; i++) yield* Effect.flip(generate({ prompt: "x", maxOutputTokens: 10 }))
      const error = yield* Effect.flip(generate({ prompt: "x", maxOutputTokens: 100 }))
      assert.strictEqual(error._tag, "BudgetExceededError")
      assert.isFalse(providers.calls.some((c) => c.endpoint === "d1"))
    }).pipe(Effect.provide(layer))
  })
})

describe("LLMClient.stream", () => {
  it.effect("yields deltas then exactly one finish event with the full response, and commits", () =>
    Effect.gen(function*() {
      const events = Chunk.toReadonlyArray(yield* Stream.runCollect(stream({ prompt: "hi", traceId: "s-1" })))
      assert.deepStrictEqual(events.filter((e) => !e.isFinish).map((e) => e.delta), ["one ", "two ", "three"])
      const finish = events[events.length - 1]!
      assert.isTrue(finish.isFinish)
      assert.strictEqual(events.filter((e) => e.isFinish).length, 1)
      assert.strictEqual(finish.response?.content, "one two three")
      assert.strictEqual(finish.finishReason, "stop")
      assert.deepStrictEqual(finish.usage, finish.response?.usage)
      const ledgerEvents = yield* (yield* Ledger).events({ traceId: "s-1" })
      assert.deepStrictEqual(ledgerEvents.map((e) => [e.type, e.status]), [["hold", "ok"], ["commit", "ok"]])
    }).pipe(Effect.provide(setup(["one two three"]).layer)))

  it.effect("a consumer that stops early cancels the call with status cancelled", () =>
    Effect.gen(function*() {
      const events = yield* Stream.runCollect(Stream.take(stream({ prompt: "hi", traceId: "s-2" }), 1))
      assert.strictEqual(Chunk.size(events), 1)
      const ledgerEvents = yield* (yield* Ledger).events({ traceId: "s-2" })
      assert.deepStrictEqual(ledgerEvents.map((e) => [e.type, e.status]), [["hold", "ok"], ["cancel", "cancelled"]])
    }).pipe(Effect.provide(setup(["one two three"]).layer)))

  it.effect("a failure before the first delta is retried", () => {
    const { layer, providers } = setup([unavailable(), "after retry"])
    return Effect.gen(function*() {
      const fiber = yield* Effect.fork(Stream.runCollect(stream({ prompt: "hi" })))
      yield* TestClock.adjust("10 seconds")
      const events = Chunk.toReadonlyArray(yield* Fiber.join(fiber))
      assert.strictEqual(events[events.length - 1]!.response?.attempts, 2)
      assert.strictEqual(providers.calls.length, 2)
    }).pipe(Effect.provide(layer))
  })

  it.effect("budget refusal: the stream fails before any request", () => {
    const { layer, providers } = setup([], { budget: { daily_spend_limit: 0.000001 } })
    return Effect.gen(function*() {
      const error = yield* Effect.flip(Stream.runDrain(stream({ prompt: "hi", maxOutputTokens: 1000 })))
      assert.strictEqual(error._tag, "BudgetExceededError")
      assert.strictEqual(providers.calls.length, 0)
    }).pipe(Effect.provide(layer))
  })
})

describe("test layers", () => {
  it.effect("a user can swap the ledger and still run the pipeline", () =>
    Effect.gen(function*() {
      assert.strictEqual(yield* generate({ prompt: "ping" }), "echo: ping")
    }).pipe(Effect.provide(Layer.fresh(Testing.makeTestLayer()))))

  it.effect("a scripted provider error names the provider and endpoint the call went to, as a live one does", () =>
    Effect.gen(function*() {
      const { layer } = setup([
        new FatalError({ reason: "invalid_request", message: "400 bad", status: 400 }),
        new RateLimitError({ reason: "quota_exhausted", message: "quota", provider: "mine", endpoint: "own" }),
        () => Effect.fail(new RetryableError({ reason: "server_error", message: "503", status: 503 }))
      ], { resilience: { max_retries: 0 } })
      const errors = yield* Effect.all([
        Effect.flip(generate({ prompt: "a" })),
        Effect.flip(generate({ prompt: "b" })),
        Effect.flip(Stream.runDrain(stream({ prompt: "c" })))
      ]).pipe(Effect.provide(layer))
      assert.deepStrictEqual(
        errors.map((
          error
        ) => [error._tag, "provider" in error && error.provider, "endpoint" in error && error.endpoint]),
        [["FatalError", "google", "mock-google"], ["RateLimitError", "mine", "own"], [
          "RetryableError",
          "google",
          "mock-google"
        ]]
      )
      // the rest of the error is the script's
      assert.strictEqual(errors[0]!.message, "400 bad")
      assert.strictEqual((errors[0] as FatalError).status, 400)
    }))

  it.effect("a scripted 429 or 4xx without a status is the endpoint's answer, as a live one's: it closes a half-open breaker", () =>
    Effect.gen(function*() {
      const { layer } = setup([
        new RetryableError({ reason: "server_error", message: "503" }),
        new RateLimitError({ reason: "rate_limited", message: "slow down" }),
        new FatalError({ reason: "invalid_request", message: "bad" })
      ], { resilience: { max_retries: 0, circuit_breaker: { failure_threshold: 1, recovery_timeout_s: 10 } } })
      yield* Effect.gen(function*() {
        const breakers = yield* CircuitBreaker
        const state = Effect.map(breakers.states(), (all) => all.find((b) => b.endpoint === "mock-google")?.state)
        yield* Effect.flip(generate({ prompt: "a" }))
        assert.strictEqual(yield* state, "open")
        yield* TestClock.adjust("10 seconds")
        const limited = yield* Effect.flip(generate({ prompt: "b" }))
        assert.strictEqual(limited._tag === "RateLimitError" && limited.status, 429)
        assert.strictEqual(yield* state, "closed", "the probe was answered")
        const refused = yield* Effect.flip(generate({ prompt: "c" }))
        assert.strictEqual(refused._tag === "FatalError" && refused.status, 400)
      }).pipe(Effect.provide(layer))
    }))
})

describe("makeTestLayer's ledger", () => {
  it.effect("keeps at most ledger.max_events events, as the live memory ledger does (API.md §14)", () =>
    Effect.gen(function*() {
      const { layer } = setup([], { ledger: { backend: "memory", max_events: 4 } })
      const events = yield* Effect.gen(function*() {
        for (let i = 0; i < 5; i++) yield* generate({ prompt: `call ${i}` })
        return yield* (yield* Ledger).events()
      }).pipe(Effect.provide(layer))
      // five calls wrote ten events; the newest four are kept, in order
      assert.deepStrictEqual(events.map((event) => event.type), ["hold", "commit", "hold", "commit"])
      assert.strictEqual(events.length, 4)
    }))
})
