/**
 * The `anthropic` protocol through the whole client (`makeLiveLayer` with `userConfig: false`) over
 * real HTTP — loopback servers replaying recorded Anthropic traffic, and the simulator — with
 * `TestClock` for every wait: max_tokens always sent, the temperature rule before any ledger write,
 * retries, Retry-After from the header and from the rate-limit reset times, breakers opened by 529s,
 * fallbacks to and from another protocol, holds settled with cache usage priced at its own rates,
 * early stop, truncation and mid-stream error events.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Chunk from "effect/Chunk"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as HashMap from "effect/HashMap"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import * as Random from "effect/Random"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/TestClock"
import type { LLMError } from "../../src/domain/Errors.js"
import type { StreamEvent } from "../../src/domain/StreamEvent.js"
import { CircuitBreaker, generate, Ledger, type LLMClient, makeLiveLayer, stream } from "../../src/index.js"
import { estimateCost, inputTokenBound } from "../../src/services/Pricing.js"
import * as Simulator from "../../src/simulator/Simulator.js"
import { readCassette } from "../providers/anthropic/Harness.js"
import * as Loopback from "../support/LoopbackServer.js"

const json = { "content-type": "application/json" }
const sse = { "content-type": "text/event-stream; charset=utf-8" }
const apiKey = "sk-ant-api03-client-test-0123456789"

const recordedText = Loopback.readFixture("vercel-ai-openai-anthropic/anthropic/anthropic-text.json")
const okText =
  "Hello! I'm doing well, thanks for asking. How are you doing today? Is there anything I can help you with?"
const ok: Loopback.ScriptedResponse = { headers: { ...json, "request-id": "req_ok" }, body: recordedText }
const overloaded: Loopback.ScriptedResponse = {
  status: 529,
  headers: json,
  body: `{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"},"request_id":"req_529"}`
}
const rateLimited = (headers: Record<string, string>): Loopback.ScriptedResponse => ({
  status: 429,
  headers: { ...json, ...headers },
  body:
    `{"type":"error","error":{"type":"rate_limit_error","message":"This request would exceed your organization's rate limit of 50 requests per minute."}}`
})
const geminiOk: Loopback.ScriptedResponse = {
  headers: json,
  body: Loopback.readFixture("vertexai-sdk-test-data/googleai/unary-success-basic-reply-short.json")
}
const geminiUnavailable: Loopback.ScriptedResponse = {
  status: 503,
  headers: json,
  body: `{"error":{"code":503,"message":"The model is overloaded. Please try again later.","status":"UNAVAILABLE"}}`
}

/** The wire bytes of a recorded api.anthropic.com stream with thinking (pydantic-ai cassette, `|+` block). */
const thinkingStream = readCassette("pydantic-pydantic-ai/test_anthropic_model_thinking_part_stream.yaml").body

const event = (data: Record<string, unknown>) => `event: ${data.type}\ndata: ${JSON.stringify(data)}\n\n`

/** A short stream: message_start with cache usage, `texts` as deltas, then (unless `finish` is false) the end. */
const cachedStream = (texts: ReadonlyArray<string>, finish = true) =>
  event({
    type: "message_start",
    message: {
      id: "msg_cache",
      type: "message",
      role: "assistant",
      model: "claude-haiku-4-5-20251001",
      content: [],
      stop_reason: null,
      usage: { input_tokens: 10, cache_read_input_tokens: 100, cache_creation_input_tokens: 20, output_tokens: 1 }
    }
  }) +
  event({ type: "content_block_start", index: 0, content_block: { type: "text", text: "" } }) +
  `event: ping\ndata: {"type": "ping"}\n\n` +
  texts.map((text) => event({ type: "content_block_delta", index: 0, delta: { type: "text_delta", text } })).join("") +
  (finish
    ? event({ type: "content_block_stop", index: 0 }) +
      event({
        type: "message_delta",
        delta: { stop_reason: "end_turn", stop_sequence: null },
        usage: { input_tokens: 10, cache_read_input_tokens: 100, cache_creation_input_tokens: 20, output_tokens: 30 }
      }) +
      event({ type: "message_stop" })
    : "")

const pricing = { input_per_1m: 1, output_per_1m: 5, cached_input_per_1m: 0.1, cache_write_per_1m: 1.25 }

interface Setup {
  readonly anthropic?: ReadonlyArray<{ readonly name: string; readonly url: string }>
  readonly google?: ReadonlyArray<{ readonly name: string; readonly url: string }>
  readonly defaultModel?: string
  readonly claudeFallbacks?: ReadonlyArray<string>
  readonly flashFallbacks?: ReadonlyArray<string>
  readonly resilience?: Record<string, unknown>
  readonly budget?: Record<string, unknown>
  readonly anthropicKey?: string
}

const layerFor = (setup: Setup) =>
  makeLiveLayer({
    config: {
      default_model: setup.defaultModel ?? "claude",
      providers: {
        anthropic: {
          api_key: setup.anthropicKey ?? apiKey,
          endpoints: (setup.anthropic ?? [{ name: "unused", url: "http://127.0.0.1:9" }]).map((e) => ({
            name: e.name,
            base_url: e.url
          }))
        },
        google: {
          api_key: "google-client-test-key",
          endpoints: (setup.google ?? [{ name: "unused-google", url: "http://127.0.0.1:9" }]).map((e) => ({
            name: e.name,
            base_url: e.url
          }))
        }
      },
      models: {
        claude: {
          provider: "anthropic",
          model_id: "claude-haiku-4-5",
          pricing,
          fallbacks: setup.claudeFallbacks ?? []
        },
        flash: {
          provider: "google",
          model_id: "gemini-2.5-flash",
          pricing: { input_per_1m: 0.3, output_per_1m: 2.5 },
          fallbacks: setup.flashFallbacks ?? []
        }
      },
      resilience: { max_retries: 3, base_delay_s: 1, ...setup.resilience },
      ...(setup.budget !== undefined ? { budget: setup.budget } : {}),
      ledger: { backend: "memory" }
    },
    userConfig: false
  })

/**
 * Forks a call (its layer provided); the delays of its retries, as the library logs them (Debug) just
 * before sleeping, arrive on `retries` (as in Resilience.test.ts).
 */
const forkCall = <A, E>(call: Effect.Effect<A, E>) =>
  Effect.gen(function*() {
    const retries = yield* Queue.unbounded<number>()
    const logger = Logger.make(({ annotations, message }) => {
      const delayMs = HashMap.get(annotations, "delayMs")
      if (String(message).startsWith("retrying") && Option.isSome(delayMs)) {
        Queue.unsafeOffer(retries, delayMs.value as number)
      }
    })
    const fiber = yield* Effect.fork(
      call.pipe(Effect.provide(Logger.add(logger)), Logger.withMinimumLogLevel(LogLevel.Debug))
    )
    return { fiber, retries }
  })

/**
 * Waits until the call has decided its next retry and is asleep on the `TestClock` until then (no
 * wall-clock wait); returns the delay. Moving the clock short of it cannot send a request.
 */
const awaitRetrySleep = (retries: Queue.Queue<number>) =>
  Effect.gen(function*() {
    const delayMs = yield* Queue.take(retries)
    const wakeAt = (yield* Clock.currentTimeMillis) + delayMs
    while (!Chunk.toReadonlyArray(yield* TestClock.sleeps()).includes(wakeAt)) yield* Effect.yieldNow()
    return delayMs
  })
const ledgerEvents = (traceId: string) => Effect.flatMap(Ledger, (ledger) => ledger.events({ traceId }))
const collect = <E, R>(s: Stream.Stream<StreamEvent, E, R>) => Effect.map(Stream.runCollect(s), Chunk.toReadonlyArray)
const bodyOf = (request: Loopback.CapturedRequest) => request.json as Record<string, unknown>

describe("anthropic through the client: requests", () => {
  it.scoped("a unary call: the recorded answer, requestId from request-id, max_tokens from the budget default", () =>
    Effect.gen(function*() {
      const server = yield* Loopback.make
      server.enqueue(ok)
      const response = yield* generate({ prompt: "hi", fullResponse: true }).pipe(
        Effect.provide(layerFor({ anthropic: [{ name: "a", url: server.url }] }))
      )
      assert.strictEqual(response.content, okText)
      assert.strictEqual(response.provider, "anthropic")
      assert.strictEqual(response.alias, "claude")
      assert.strictEqual(response.model, "claude-haiku-4-5")
      assert.strictEqual(response.requestId, "req_ok")
      assert.strictEqual(response.finishReason, "stop")
      assert.deepStrictEqual(
        { input: response.usage.inputTokens, output: response.usage.outputTokens },
        { input: 12, output: 29 }
      )
      assert.closeTo(response.cost, (12 * 1 + 29 * 5) / 1e6, 1e-12)
      const [request] = server.requests
      assert.strictEqual(request!.url, "/v1/messages")
      assert.strictEqual(request!.headers["x-api-key"], apiKey)
      assert.strictEqual(bodyOf(request!).max_tokens, 1024)
    }))

  it.scoped("max_tokens is sent even when no budget applies: the request's, else budget.default_max_output_tokens", () =>
    Effect.gen(function*() {
      const server = yield* Loopback.make
      server.enqueue(ok, ok)
      yield* Effect.gen(function*() {
        yield* generate({ prompt: "hi" })
        yield* generate({ prompt: "hi", maxOutputTokens: 77 })
      }).pipe(
        Effect.provide(layerFor({
          anthropic: [{ name: "a", url: server.url }],
          budget: { daily_spend_limit: 0, default_max_output_tokens: 333 }
        }))
      )
      assert.strictEqual(bodyOf(server.requests[0]!).max_tokens, 333)
      assert.strictEqual(bodyOf(server.requests[1]!).max_tokens, 77)
    }))

  it.scoped("temperature 1.5 is invalid_request before any ledger write and any request", () =>
    Effect.gen(function*() {
      const server = yield* Loopback.make
      server.enqueue(ok)
      yield* Effect.gen(function*() {
        const runs: ReadonlyArray<Effect.Effect<unknown, LLMError, LLMClient>> = [
          generate({ prompt: "hi", temperature: 1.5, traceId: "hot" }),
          collect(stream({ prompt: "hi", temperature: 1.5, traceId: "hot" }))
        ]
        for (const run of runs) {
          const error = yield* Effect.flip(run)
          assert.strictEqual(error._tag, "FatalError")
          assert.strictEqual((error as { reason?: string }).reason, "invalid_request")
          assert.include(error.message, "1.5")
        }
        assert.deepStrictEqual(yield* ledgerEvents("hot"), [])
        const ledger = yield* Ledger
        assert.deepStrictEqual(yield* ledger.events(), [])
        // 1 is within Anthropic's range.
        yield* generate({ prompt: "hi", temperature: 1 })
      }).pipe(Effect.provide(layerFor({ anthropic: [{ name: "a", url: server.url }] })))
      assert.strictEqual(server.requests.length, 1)
      assert.strictEqual(bodyOf(server.requests[0]!).temperature, 1)
    }))

  it.scoped("a recorded stream with thinking: text deltas, reasoning apart, one finish with usage and the reasoning", () =>
    Effect.gen(function*() {
      const server = yield* Loopback.make
      server.enqueue(Loopback.replay(thinkingStream, { headers: sse, chunkSizes: [500] }))
      const events = yield* collect(stream({ prompt: "How do I cross the street?" })).pipe(
        Effect.provide(layerFor({ anthropic: [{ name: "a", url: server.url }] }))
      )
      const finish = events.at(-1)!
      assert.isTrue(finish.isFinish)
      const text = events.filter((e) => !e.isFinish).map((e) => e.delta).join("")
      const reasoning = events.filter((e) => !e.isFinish).map((e) => e.reasoningDelta ?? "").join("")
      assert.isTrue(text.startsWith("Here are the basic"))
      assert.isTrue(reasoning.startsWith("This is a straightforward question"))
      assert.notInclude(text, "straightforward question")
      assert.strictEqual(finish.response!.content, text)
      assert.strictEqual(finish.response!.reasoning, reasoning)
      assert.deepStrictEqual(
        { input: finish.usage!.inputTokens, output: finish.usage!.outputTokens },
        { input: 43, output: 282 }
      )
      assert.strictEqual(finish.finishReason, "stop")
      assert.strictEqual(finish.response!.requestId, "msg_01ALwQ87pTS7hH1PjSdC9wJD")
      assert.strictEqual(bodyOf(server.requests[0]!).stream, true)
    }))
})

describe("anthropic through the client: retries, Retry-After and breakers (TestClock)", () => {
  it.scoped("529, 529, 200 → attempts 3, each overloaded retried after the schedule's delay", () =>
    Effect.gen(function*() {
      const server = yield* Loopback.make
      server.enqueue(overloaded, overloaded, ok)
      const { fiber, retries } = yield* forkCall(
        generate({ prompt: "hi", fullResponse: true }).pipe(
          Effect.provide(layerFor({ anthropic: [{ name: "a", url: server.url }] }))
        )
      )
      // Random.fixed([0.5]): the jitter factor is 1, so the delays are exactly 1 s and 2 s.
      assert.strictEqual(yield* awaitRetrySleep(retries), 1000)
      yield* TestClock.adjust("1 seconds")
      assert.strictEqual(yield* awaitRetrySleep(retries), 2000)
      yield* TestClock.adjust("2 seconds")
      const response = yield* Fiber.join(fiber)
      assert.strictEqual(response.attempts, 3)
      assert.strictEqual(response.content, okText)
    }).pipe(Effect.withRandom(Random.fixed([0.5]))))

  it.scoped("429 + retry-after: 7 → the second attempt at t = 7 s, not before", () =>
    Effect.gen(function*() {
      const server = yield* Loopback.make
      server.enqueue(rateLimited({ "retry-after": "7" }), ok)
      const { fiber, retries } = yield* forkCall(
        generate({ prompt: "hi", fullResponse: true }).pipe(
          Effect.provide(layerFor({ anthropic: [{ name: "a", url: server.url }] }))
        )
      )
      assert.strictEqual(yield* awaitRetrySleep(retries), 7000)
      yield* TestClock.adjust("6999 millis")
      assert.strictEqual(server.requests.length, 1)
      yield* TestClock.adjust("1 millis")
      const response = yield* Fiber.join(fiber)
      assert.strictEqual(response.attempts, 2)
      assert.strictEqual(response.timing.totalMs, 7000)
    }))

  it.scoped("429 without retry-after waits until the latest reset of the exhausted limits", () =>
    Effect.gen(function*() {
      const server = yield* Loopback.make
      // TestClock starts at the epoch: the exhausted limit resets 12 s from now, a full one later.
      server.enqueue(
        rateLimited({
          "anthropic-ratelimit-requests-remaining": "0",
          "anthropic-ratelimit-requests-reset": "1970-01-01T00:00:12Z",
          "anthropic-ratelimit-tokens-remaining": "40000",
          "anthropic-ratelimit-tokens-reset": "1970-01-01T00:00:50Z"
        }),
        ok
      )
      const { fiber, retries } = yield* forkCall(
        generate({ prompt: "hi", fullResponse: true }).pipe(
          Effect.provide(layerFor({ anthropic: [{ name: "a", url: server.url }] }))
        )
      )
      assert.strictEqual(yield* awaitRetrySleep(retries), 12_000)
      yield* TestClock.adjust("11999 millis")
      assert.strictEqual(server.requests.length, 1)
      yield* TestClock.adjust("1 millis")
      const response = yield* Fiber.join(fiber)
      assert.strictEqual(response.timing.totalMs, 12_000)
    }))

  it.scoped("a spend-limit 429 and a too-low credit balance fail at once as quota_exhausted", () =>
    Effect.gen(function*() {
      const server = yield* Loopback.make
      server.enqueue(
        {
          status: 429,
          headers: json,
          body:
            `{"type":"error","error":{"details":{"error_code":"enforced_spend_limit_reached"},"type":"rate_limit_error","message":"You have reached your monthly spend limit."}}`
        },
        {
          status: 400,
          headers: json,
          body:
            `{"type":"error","error":{"type":"invalid_request_error","message":"Your credit balance is too low to access the Anthropic API. Please go to Plans & Billing to upgrade or purchase credits."}}`
        },
        ok
      )
      yield* Effect.gen(function*() {
        for (let i = 0; i < 2; i++) {
          const error = yield* Effect.flip(generate({ prompt: "hi" }))
          assert.strictEqual(error._tag, "RateLimitError")
          assert.strictEqual((error as { reason?: string }).reason, "quota_exhausted")
        }
      }).pipe(Effect.provide(layerFor({ anthropic: [{ name: "a", url: server.url }] })))
      assert.strictEqual(server.requests.length, 2)
    }))

  it.scoped("401 authentication_error: one attempt, a FatalError naming the variable, never the key", () =>
    Effect.gen(function*() {
      const server = yield* Loopback.make
      server.enqueue({
        status: 401,
        headers: json,
        body: `{"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key ${apiKey}"}}`
      }, ok)
      const error = yield* Effect.flip(
        generate({ prompt: "hi" }).pipe(Effect.provide(layerFor({ anthropic: [{ name: "a", url: server.url }] })))
      )
      assert.strictEqual(error._tag, "FatalError")
      assert.strictEqual((error as { reason?: string }).reason, "authentication")
      assert.include(error.message, "ANTHROPIC_API_KEY")
      // The server echoed the key: the client scrubs it.
      assert.notInclude(error.message, apiKey)
      assert.strictEqual(server.requests.length, 1)
    }))

  it.scoped("529s open the endpoint's breaker: it is skipped without a request, traffic goes to the next one", () =>
    Effect.gen(function*() {
      const dead = yield* Loopback.make
      const alive = yield* Loopback.make
      dead.setDefault(() => overloaded)
      alive.setDefault(() => ok)
      const layer = layerFor({
        anthropic: [{ name: "dead", url: dead.url }, { name: "alive", url: alive.url }],
        resilience: { max_retries: 0, circuit_breaker: { failure_threshold: 2, recovery_timeout_s: 60 } }
      })
      yield* Effect.gen(function*() {
        for (const prompt of ["1", "2"]) {
          const error = yield* Effect.flip(generate({ prompt }))
          assert.strictEqual((error as { reason?: string }).reason, "overloaded")
        }
        const breakers = yield* CircuitBreaker
        const states = yield* breakers.states()
        assert.strictEqual(states.find((b) => b.endpoint === "dead")?.state, "open")
        const response = yield* generate({ prompt: "3", fullResponse: true })
        assert.strictEqual(response.endpoint, "alive")
        assert.strictEqual(dead.requests.length, 2)
      }).pipe(Effect.provide(layer))
    }))
})

describe("anthropic through the client: fallbacks to and from another protocol", () => {
  it.scoped("a gemini alias whose endpoint is open falls back to an anthropic alias (max_tokens sent to it only)", () =>
    Effect.gen(function*() {
      const google = yield* Loopback.make
      const anthropic = yield* Loopback.make
      google.setDefault(() => geminiUnavailable)
      anthropic.setDefault(() => ok)
      const { fiber, retries } = yield* forkCall(
        generate({ model: "flash", prompt: "hi", fullResponse: true }).pipe(
          Effect.provide(layerFor({
            google: [{ name: "g", url: google.url }],
            anthropic: [{ name: "a", url: anthropic.url }],
            flashFallbacks: ["claude"],
            budget: { daily_spend_limit: 0, default_max_output_tokens: 256 },
            resilience: { max_retries: 2, circuit_breaker: { failure_threshold: 1, recovery_timeout_s: 300 } }
          }))
        )
      )
      yield* TestClock.adjust(yield* awaitRetrySleep(retries))
      const response = yield* Fiber.join(fiber)
      assert.strictEqual(response.provider, "anthropic")
      assert.strictEqual(response.alias, "claude")
      assert.strictEqual(response.endpoint, "a")
      assert.strictEqual(response.content, okText)
      assert.strictEqual(google.requests.length, 1)
      // No budget applies, yet the anthropic fallback gets its output cap; the gemini attempt gets none
      // (API.md §14: with no budget in force, no output limit is added to the request).
      assert.strictEqual(bodyOf(anthropic.requests[0]!).max_tokens, 256)
      assert.isUndefined(
        (bodyOf(google.requests[0]!).generationConfig as { maxOutputTokens?: number } | undefined)?.maxOutputTokens
      )
    }).pipe(Effect.withRandom(Random.fixed([0.5]))))

  it.scoped("a request an anthropic fallback cannot carry (temperature 1.5) never goes to it", () =>
    Effect.gen(function*() {
      const google = yield* Loopback.make
      const anthropic = yield* Loopback.make
      google.setDefault(() => geminiUnavailable)
      anthropic.setDefault(() => ok)
      const { fiber, retries } = yield* forkCall(
        Effect.flip(generate({ model: "flash", prompt: "hi", temperature: 1.5 })).pipe(
          Effect.provide(layerFor({
            google: [{ name: "g", url: google.url }],
            anthropic: [{ name: "a", url: anthropic.url }],
            flashFallbacks: ["claude"],
            resilience: { max_retries: 2, circuit_breaker: { failure_threshold: 1, recovery_timeout_s: 300 } }
          }))
        )
      )
      const error = yield* Fiber.join(fiber)
      // the call failed for the 503 it got (its own failure opened the one breaker it could use), at once:
      // no backoff slept before finding nothing usable
      assert.strictEqual(error._tag, "RetryableError")
      assert.strictEqual(yield* Queue.size(retries), 0)
      assert.strictEqual(anthropic.requests.length, 0)
    }).pipe(Effect.withRandom(Random.fixed([0.5]))))

  it.scoped("an anthropic alias whose endpoint keeps answering 529 falls back to a gemini alias", () =>
    Effect.gen(function*() {
      const anthropic = yield* Loopback.make
      const google = yield* Loopback.make
      anthropic.setDefault(() => overloaded)
      google.setDefault(() => geminiOk)
      const { fiber, retries } = yield* forkCall(
        generate({ prompt: "hi", fullResponse: true, traceId: "to-gemini" }).pipe(
          Effect.flatMap((response) => Effect.map(ledgerEvents("to-gemini"), (events) => ({ response, events }))),
          Effect.provide(layerFor({
            google: [{ name: "g", url: google.url }],
            anthropic: [{ name: "a", url: anthropic.url }],
            claudeFallbacks: ["flash"],
            resilience: { max_retries: 2, circuit_breaker: { failure_threshold: 1, recovery_timeout_s: 300 } }
          }))
        )
      )
      yield* TestClock.adjust(yield* awaitRetrySleep(retries))
      const { events, response } = yield* Fiber.join(fiber)
      assert.strictEqual(response.provider, "google")
      assert.strictEqual(response.alias, "flash")
      assert.isTrue(response.content.startsWith("Google's headquarters, also known as the Googleplex"))
      assert.strictEqual(anthropic.requests.length, 1)
      assert.deepStrictEqual(events.map((e) => [e.type, e.status]), [["hold", "ok"], ["commit", "ok"]])
      assert.strictEqual(events[1]!.provider, "google")
    }).pipe(Effect.withRandom(Random.fixed([0.5]))))

  it.scoped("through the simulator: an anthropic endpoint always overloaded, the fallback answers from gemini", () =>
    Effect.gen(function*() {
      const sim = yield* Simulator.make({ keys: { anthropic: apiKey, google: "google-client-test-key" } })
      sim.always("anthropic-a", { status: 529 })
      const { fiber, retries } = yield* forkCall(
        generate({ prompt: "hello there", fullResponse: true }).pipe(
          Effect.provide(layerFor({
            anthropic: [{ name: "anthropic-a", url: sim.baseUrl("anthropic-a") }],
            google: [{ name: "google-a", url: sim.baseUrl("google-a") }],
            claudeFallbacks: ["flash"],
            resilience: { max_retries: 2, circuit_breaker: { failure_threshold: 1, recovery_timeout_s: 300 } }
          }))
        )
      )
      yield* TestClock.adjust(yield* awaitRetrySleep(retries))
      const response = yield* Fiber.join(fiber)
      assert.strictEqual(response.endpoint, "google-a")
      assert.isTrue(response.content.startsWith("Echo: hello there."))
      assert.strictEqual(sim.requests("anthropic-a"), 1)
      assert.strictEqual(sim.log("anthropic-a")[0]!.headers["x-api-key"], "<redacted>")
    }).pipe(Effect.withRandom(Random.fixed([0.5]))))
})

describe("anthropic through the client: holds, early stop, truncation, error events", () => {
  it.scoped("the hold prices the whole input at the dearest input rate; the commit prices cache reads and writes at their own rates", () =>
    Effect.gen(function*() {
      const server = yield* Loopback.make
      server.enqueue(
        Loopback.replay(Buffer.from(cachedStream(["Cached ", "answer."])), { headers: sse }),
        {
          headers: json,
          body: JSON.stringify({
            id: "msg_u",
            type: "message",
            role: "assistant",
            model: "claude-haiku-4-5",
            content: [{ type: "text", text: "Cached answer." }],
            stop_reason: "end_turn",
            usage: {
              input_tokens: 10,
              cache_read_input_tokens: 100,
              cache_creation_input_tokens: 20,
              output_tokens: 30
            }
          })
        }
      )
      const prompt = "x".repeat(400)
      const expectedCost = (10 * 1 + 100 * 0.1 + 20 * 1.25 + 30 * 5) / 1e6
      const hold = estimateCost(
        {
          alias: "claude",
          provider: "anthropic",
          protocol: "anthropic",
          modelId: "claude-haiku-4-5",
          pricing: { inputPer1m: 1, outputPer1m: 5, cachedInputPer1m: 0.1, cacheWritePer1m: 1.25 },
          fallbacks: []
        },
        inputTokenBound({
          system: undefined,
          messages: [{ role: "user", parts: [{ type: "text", text: prompt }] }],
          maxOutputTokens: 64,
          temperature: undefined,
          topP: undefined,
          stop: undefined
        }, "anthropic"),
        64
      )
      yield* Effect.gen(function*() {
        const events = yield* collect(stream({ prompt, maxOutputTokens: 64, traceId: "cache-stream" }))
        const finish = events.at(-1)!
        assert.deepStrictEqual(
          {
            input: finish.usage!.inputTokens,
            cached: finish.usage!.cachedInputTokens,
            written: finish.usage!.cacheWriteTokens,
            output: finish.usage!.outputTokens
          },
          { input: 130, cached: 100, written: 20, output: 30 }
        )
        assert.closeTo(finish.response!.cost, expectedCost, 1e-12)
        const response = yield* generate({ prompt, maxOutputTokens: 64, traceId: "cache-unary", fullResponse: true })
        assert.closeTo(response.cost, expectedCost, 1e-12)
        for (const traceId of ["cache-stream", "cache-unary"]) {
          const ledger = yield* ledgerEvents(traceId)
          assert.deepStrictEqual(ledger.map((e) => [e.type, e.status]), [["hold", "ok"], ["commit", "ok"]], traceId)
          // The dearest input rate is the cache write's 1.25 per million.
          assert.closeTo(ledger[0]!.cost, hold, 1e-12, traceId)
          assert.closeTo(hold, ((8 + 8 + 400) * 1.25 + 64 * 5) / 1e6, 1e-12)
          assert.closeTo(ledger[1]!.cost, expectedCost, 1e-12, traceId)
          assert.strictEqual(ledger[1]!.usage!.cachedInputTokens, 100)
          assert.strictEqual(ledger[1]!.usage!.cacheWriteTokens, 20)
          assert.isAbove(ledger[0]!.cost, ledger[1]!.cost, "the hold bounds the call")
        }
      }).pipe(Effect.provide(layerFor({ anthropic: [{ name: "a", url: server.url }] })))
    }))

  it.scoped("a consumer that stops early: cancelled with the usage seen so far, and the socket closed", () =>
    Effect.gen(function*() {
      const server = yield* Loopback.make
      server.enqueue({ headers: sse, body: [cachedStream(["one ", "two ", "three "], false)], end: "hang" })
      yield* Effect.gen(function*() {
        const events = yield* collect(Stream.take(stream({ prompt: "count", traceId: "early" }), 2))
        assert.deepStrictEqual(events.map((e) => e.delta), ["one ", "two "])
        const ledger = yield* ledgerEvents("early")
        assert.deepStrictEqual(ledger.map((e) => [e.type, e.status]), [["hold", "ok"], ["cancel", "cancelled"]])
        // message_start's usage: the input with its cache parts; its output is a placeholder, so the text
        // streamed after it is priced at its bound, one token per byte ("one two " at least).
        assert.strictEqual(ledger[1]!.usage!.inputTokens, 130)
        assert.strictEqual(ledger[1]!.usage!.cachedInputTokens, 100)
        const output = ledger[1]!.usage!.outputTokens
        assert.isAtLeast(output, 1 + Buffer.byteLength("one two "))
        assert.closeTo(ledger[1]!.cost, (10 * 1 + 100 * 0.1 + 20 * 1.25 + output * 5) / 1e6, 1e-12)
      }).pipe(Effect.provide(layerFor({ anthropic: [{ name: "a", url: server.url }] })))
      yield* Effect.promise(() => server.requests[0]!.socketClosed)
    }))

  it.scoped("a stream that ends without message_stop is stream_interrupted, not replayed, settled as error with partial usage", () =>
    Effect.gen(function*() {
      const server = yield* Loopback.make
      const whole = cachedStream(["Partial ", "answer"])
      server.enqueue(
        Loopback.replay(Buffer.from(whole.slice(0, whole.indexOf("event: message_stop"))), { headers: sse })
      )
      yield* Effect.gen(function*() {
        const seen: Array<string> = []
        const error = yield* Stream.runForEach(
          stream({ prompt: "x", traceId: "trunc" }),
          (e) => Effect.sync(() => seen.push(e.delta))
        ).pipe(Effect.flip)
        assert.deepStrictEqual(seen, ["Partial ", "answer"])
        assert.strictEqual(error._tag, "RetryableError")
        assert.strictEqual((error as { reason?: string }).reason, "stream_interrupted")
        const ledger = yield* ledgerEvents("trunc")
        assert.deepStrictEqual(ledger.map((e) => [e.type, e.status]), [["hold", "ok"], ["cancel", "error"]])
        assert.strictEqual(ledger[1]!.error?.tag, "RetryableError")
        assert.strictEqual(ledger[1]!.usage!.outputTokens, 30, "message_delta's usage came before the cut")
      }).pipe(Effect.provide(layerFor({ anthropic: [{ name: "a", url: server.url }] })))
      assert.strictEqual(server.requests.length, 1, "never replayed")
    }))

  it.scoped("a stream cut after message_start, before any delta: the input message_start reported is settled, not $0", () =>
    Effect.gen(function*() {
      const server = yield* Loopback.make
      server.enqueue(Loopback.replay(Buffer.from(cachedStream([], false)), { headers: sse }))
      yield* Effect.gen(function*() {
        const error = yield* Stream.runDrain(stream({ prompt: "x", traceId: "cut-early" })).pipe(Effect.flip)
        assert.strictEqual((error as { reason?: string }).reason, "stream_interrupted")
        const ledger = yield* ledgerEvents("cut-early")
        assert.deepStrictEqual(ledger.map((e) => [e.type, e.status]), [["hold", "ok"], ["cancel", "error"]])
        assert.strictEqual(ledger[1]!.usage?.inputTokens, 130)
        assert.strictEqual(ledger[1]!.usage?.cachedInputTokens, 100)
        assert.isAbove(ledger[1]!.cost, (10 * 1 + 100 * 0.1 + 20 * 1.25) / 1e6 - 1e-12)
      }).pipe(Effect.provide(layerFor({ anthropic: [{ name: "a", url: server.url }], resilience: { max_retries: 0 } })))
    }))

  it.scoped("a stream answered with one whole Message (a proxy ignoring stream: true): bad_response, its cancel priced by the Message's usage", () =>
    Effect.gen(function*() {
      const server = yield* Loopback.make
      server.enqueue({ headers: json, body: recordedText })
      yield* Effect.gen(function*() {
        const error = yield* Stream.runDrain(stream({ prompt: "x", traceId: "whole-message" })).pipe(Effect.flip)
        assert.deepStrictEqual([error._tag, (error as { reason?: string }).reason], ["FatalError", "bad_response"])
        const [, cancel] = yield* ledgerEvents("whole-message")
        const reported =
          (JSON.parse(String(recordedText)) as { usage: { input_tokens: number; output_tokens: number } }).usage
        assert.deepStrictEqual([cancel?.type, cancel?.usage?.inputTokens, cancel?.usage?.outputTokens], [
          "cancel",
          reported.input_tokens,
          reported.output_tokens
        ])
        assert.isAbove(cancel!.cost, 0)
      }).pipe(Effect.provide(layerFor({ anthropic: [{ name: "a", url: server.url }], resilience: { max_retries: 0 } })))
    }))

  it.scoped("a usage an attempt reported before its cut stays its own: a fallback that reports none is priced at its own bound", () =>
    Effect.gen(function*() {
      const google = yield* Loopback.make
      const anthropic = yield* Loopback.make
      const cut = () => Loopback.replay(Buffer.from(cachedStream([], false)), { headers: sse })
      anthropic.enqueue(cut())
      // one delta, then the body ends without a finish and without usageMetadata: cut after the first delta
      google.enqueue(Loopback.replay(
        Buffer.from(`data: {"candidates":[{"content":{"role":"model","parts":[{"text":"Hi"}]}}]}\r\n\r\n`),
        { headers: sse }
      ))
      const { fiber, retries } = yield* forkCall(
        Stream.runDrain(stream({ prompt: "x", traceId: "own-usage" })).pipe(
          Effect.flip,
          Effect.zip(ledgerEvents("own-usage")),
          Effect.provide(layerFor({
            anthropic: [{ name: "a", url: anthropic.url }],
            google: [{ name: "g", url: google.url }],
            claudeFallbacks: ["flash"],
            // the cut opens claude's only endpoint: the retry goes to the fallback
            resilience: { max_retries: 1, circuit_breaker: { failure_threshold: 1, recovery_timeout_s: 300 } }
          }))
        )
      )
      yield* TestClock.adjust(yield* awaitRetrySleep(retries))
      const [error, ledger] = yield* Fiber.join(fiber)
      assert.strictEqual((error as { reason?: string }).reason, "stream_interrupted")
      assert.deepStrictEqual([anthropic.requests.length, google.requests.length], [1, 1])
      const cancel = ledger.at(-1)!
      assert.strictEqual(cancel.model, "gemini-2.5-flash")
      // the prompt's bound on flash, not the 130 input tokens Anthropic's message_start reported
      assert.isBelow(cancel.usage!.inputTokens, 130)
    }).pipe(Effect.withRandom(Random.fixed([0.5]))))

  it.scoped("an overloaded_error event before the first delta is retried; after text it is surfaced, not replayed", () =>
    Effect.gen(function*() {
      const server = yield* Loopback.make
      const errorEvent =
        `event: error\ndata: {"type":"error","error":{"details":null,"type":"overloaded_error","message":"Overloaded"},"request_id":"req_x"}\n\n`
      const start = cachedStream([], false)
      server.enqueue(
        Loopback.replay(Buffer.from(start + errorEvent), { headers: sse }),
        Loopback.replay(Buffer.from(cachedStream(["after ", "retry"])), { headers: sse }),
        Loopback.replay(Buffer.from(cachedStream(["first ", "second "], false) + errorEvent), { headers: sse })
      )
      const layer = layerFor({ anthropic: [{ name: "a", url: server.url }] })
      const { fiber, retries } = yield* forkCall(collect(stream({ prompt: "x" })).pipe(Effect.provide(layer)))
      assert.strictEqual(yield* awaitRetrySleep(retries), 1000)
      yield* TestClock.adjust("1 seconds")
      const events = yield* Fiber.join(fiber)
      assert.strictEqual(events.at(-1)!.response!.attempts, 2)
      assert.strictEqual(events.at(-1)!.response!.content, "after retry")
      const deltas: Array<string> = []
      const error = yield* Stream.runForEach(stream({ prompt: "y" }), (e) =>
        Effect.sync(() => {
          if (!e.isFinish) deltas.push(e.delta)
        })).pipe(Effect.flip, Effect.provide(layer))
      assert.deepStrictEqual(deltas, ["first ", "second "])
      assert.strictEqual(error._tag, "RetryableError")
      assert.strictEqual((error as { reason?: string }).reason, "overloaded")
      assert.strictEqual(server.requests.length, 3)
    }).pipe(Effect.withRandom(Random.fixed([0.5]))))
})
