/**
 * Spans, attributes and metrics a user's telemetry sees: a success, a retried call, a breaker
 * opening, a stream; and no attribute ever holds the key.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Metric from "effect/Metric"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/TestClock"
import { RateLimitError, RetryableError } from "../../src/domain/Errors.js"
// Telemetry through the package root, as users reach the metrics (README Observability)
import { generate, makeLiveLayer, stream, Telemetry, withCallContext } from "../../src/index.js"
import { makeMockProviders, makeTestLayer, type MockReply, testConfig } from "../../src/layers/Test.js"
import { Ledger } from "../../src/services/Ledger.js"
import * as Loopback from "../support/LoopbackServer.js"
import * as RecordingTracer from "../support/RecordingTracer.js"

const counter = (metric: Metric.Metric.Counter<number>, tags: Record<string, string>) =>
  Effect.map(Metric.value(Telemetry.withTags(metric, tags)), (state) => state.count)

const unavailable = () => new RetryableError({ reason: "server_error", message: "503", status: 503 })

const layerFor = (replies: ReadonlyArray<MockReply>, config: Record<string, unknown> = {}, otherwise?: MockReply) =>
  makeTestLayer({
    config: { ...testConfig, ...config },
    providers: makeMockProviders({ replies, ...(otherwise !== undefined ? { otherwise } : {}) })
  })

describe("observability", () => {
  it.effect("a success: generate span with GenAI attributes, one attempt span, ledger spans, request counter", () => {
    const recording = RecordingTracer.make()
    return Effect.gen(function*() {
      const who = { provider: "google", model: "test-model-1" }
      const before = yield* counter(Telemetry.requests, { ...who, outcome: "ok" })
      const attemptsBefore = yield* counter(Telemetry.attempts, { provider: "google", endpoint: "mock-google" })
      const latenciesBefore = (yield* Metric.value(Telemetry.withTags(Telemetry.latencyMs, who))).count
      const spendBefore = (yield* Metric.value(Telemetry.withTags(Telemetry.spendUsd, who))).count
      const response = yield* generate({ prompt: "hello", fullResponse: true, traceId: "obs-1" })
      const [span] = recording.named("LLMClient.generate")
      assert.isDefined(span)
      assert.isTrue(span!.ended)
      const attributes = Object.fromEntries(span!.attributes)
      assert.strictEqual(attributes["gen_ai.system"], "google")
      assert.strictEqual(attributes["gen_ai.request.model"], "test-model-1")
      assert.strictEqual(attributes["gen_ai.response.model"], "test-model-1")
      assert.strictEqual(attributes["gen_ai.usage.input_tokens"], response.usage.inputTokens)
      assert.strictEqual(attributes["gen_ai.usage.output_tokens"], response.usage.outputTokens)
      assert.deepStrictEqual(attributes["gen_ai.response.finish_reasons"], ["stop"])
      assert.strictEqual(attributes["effect_llm.cost_usd"], response.cost)
      assert.strictEqual(attributes["effect_llm.endpoint"], "mock-google")
      assert.strictEqual(attributes["effect_llm.trace_id"], "obs-1")
      assert.isUndefined(attributes["gen_ai.prompt"], "no prompt text unless record_content")
      const attempts = recording.named("LLMClient.attempt")
      assert.strictEqual(attempts.length, 1)
      assert.strictEqual(attempts[0]!.parentName, "LLMClient.generate")
      assert.strictEqual(attempts[0]!.attributes.get("effect_llm.attempt"), 1)
      // the README's attribute table: alias and trace id on call, attempt and ledger spans
      assert.strictEqual(attempts[0]!.attributes.get("effect_llm.alias"), "test-model")
      assert.strictEqual(attempts[0]!.attributes.get("gen_ai.response.model"), "test-model-1")
      const ledgerSpans = recording.spans.filter((s) => s.name.startsWith("Ledger."))
      assert.deepStrictEqual(ledgerSpans.map((s) => s.name), ["Ledger.hold", "Ledger.commit"])
      for (const ledgerSpan of ledgerSpans) {
        assert.strictEqual(ledgerSpan.attributes.get("effect_llm.alias"), "test-model", ledgerSpan.name)
        assert.strictEqual(ledgerSpan.attributes.get("effect_llm.trace_id"), "obs-1", ledgerSpan.name)
      }
      const after = yield* counter(Telemetry.requests, { ...who, outcome: "ok" })
      assert.strictEqual(after - before, 1)
      // each metric under its own tags: attempts by provider and endpoint, latency and spend by model
      const attemptsAfter = yield* counter(Telemetry.attempts, { provider: "google", endpoint: "mock-google" })
      assert.strictEqual(attemptsAfter - attemptsBefore, 1)
      assert.strictEqual((yield* Metric.value(Telemetry.withTags(Telemetry.latencyMs, who))).count - latenciesBefore, 1)
      assert.isAbove(response.cost, 0)
      assert.closeTo(
        (yield* Metric.value(Telemetry.withTags(Telemetry.spendUsd, who))).count - spendBefore,
        response.cost,
        1e-12
      )
    }).pipe(Effect.provide(layerFor(["hi there"])), Effect.withTracer(recording.tracer))
  })

  it.effect("record_content: true puts the prompt and answer on the span", () => {
    const recording = RecordingTracer.make()
    return Effect.gen(function*() {
      yield* generate({ prompt: "secret prompt" })
      const [span] = recording.named("LLMClient.generate")
      assert.include(String(span!.attributes.get("gen_ai.prompt")), "secret prompt")
      assert.strictEqual(span!.attributes.get("gen_ai.completion"), "the answer")
    }).pipe(
      Effect.provide(layerFor(["the answer"], { observability: { record_content: true } })),
      Effect.withTracer(recording.tracer)
    )
  })

  it.effect("record_content: a prompt or an answer quoting a configured secret is on the span scrubbed (API.md §14)", () => {
    const recording = RecordingTracer.make()
    const key = "sk-quoted-in-content-31415"
    return Effect.gen(function*() {
      yield* generate({ prompt: `my key is ${key}` })
      const [span] = recording.named("LLMClient.generate")
      const prompt = String(span!.attributes.get("gen_ai.prompt"))
      const completion = String(span!.attributes.get("gen_ai.completion"))
      assert.include(prompt, "my key is <redacted>")
      assert.strictEqual(completion, "echo: my key is <redacted>")
      assert.notInclude(prompt + completion, key)
    }).pipe(
      Effect.provide(layerFor([], {
        providers: { ...testConfig.providers, google: { ...testConfig.providers.google, api_key: key } },
        observability: { record_content: true }
      })),
      Effect.withTracer(recording.tracer)
    )
  })

  it.effect("a request id echoing a configured secret is scrubbed for the response and the span, unary and stream", () => {
    const recording = RecordingTracer.make()
    const key = "sk-echoed-in-request-id-2718"
    const echoing: MockReply = (call) =>
      Effect.succeed({
        content: "ok",
        reasoning: undefined,
        usage: { inputTokens: 1, outputTokens: 1, totalTokens: 2 },
        finishReason: "stop",
        requestId: `req-${key}`,
        modelVersion: call.modelId
      })
    return Effect.gen(function*() {
      const response = yield* generate({ prompt: "hi", fullResponse: true })
      const events = yield* Stream.runCollect(stream({ prompt: "hi" }))
      const finish = [...events].find((event) => event.response !== undefined)
      assert.strictEqual(response.requestId, "req-<redacted>")
      assert.strictEqual(finish?.response?.requestId, "req-<redacted>")
      const ids = [...recording.named("LLMClient.generate"), ...recording.named("LLMClient.stream")].map((span) =>
        span.attributes.get("gen_ai.response.id")
      )
      assert.deepStrictEqual(ids, ["req-<redacted>", "req-<redacted>"])
    }).pipe(
      Effect.provide(layerFor([echoing, echoing], {
        providers: { ...testConfig.providers, google: { ...testConfig.providers.google, api_key: key } }
      })),
      Effect.withTracer(recording.tracer)
    )
  })

  it.effect("a retried call: one span per attempt and the retry counted by reason", () => {
    const recording = RecordingTracer.make()
    return Effect.gen(function*() {
      const before = yield* counter(Telemetry.retries, { reason: "server_error" })
      const fiber = yield* Effect.fork(generate({ prompt: "x", fullResponse: true }))
      yield* TestClock.adjust("10 seconds")
      const response = yield* Fiber.join(fiber)
      assert.strictEqual(response.attempts, 2)
      const attempts = recording.named("LLMClient.attempt")
      assert.deepStrictEqual(attempts.map((s) => s.attributes.get("effect_llm.attempt")), [1, 2])
      assert.strictEqual(attempts[0]!.status._tag === "Ended" && attempts[0]!.status.exit._tag, "Failure")
      assert.strictEqual((yield* counter(Telemetry.retries, { reason: "server_error" })) - before, 1)
    }).pipe(Effect.provide(layerFor([unavailable(), "ok"])), Effect.withTracer(recording.tracer))
  })

  it.effect("a provider's 429 wait counts the seconds slept and the retry once made: a caller leaving mid-wait made none", () => {
    const tooMany = () =>
      new RateLimitError({ reason: "rate_limited", message: "429", status: 429, retryAfter: Duration.seconds(5) })
    const asleep = Effect.gen(function*() {
      while ((yield* TestClock.sleeps()).length === 0) yield* Effect.yieldNow()
    })
    return Effect.gen(function*() {
      const retries = () => counter(Telemetry.retries, { reason: "rate_limited" })
      const waited = () => counter(Telemetry.rateLimitWaitSeconds, { provider: "google" })
      const [retriesBefore, waitedBefore] = [yield* retries(), yield* waited()]
      const stayed = yield* Effect.fork(generate({ prompt: "x" }))
      yield* asleep
      yield* TestClock.adjust("5 seconds")
      assert.strictEqual(yield* Fiber.join(stayed), "ok")
      assert.strictEqual((yield* retries()) - retriesBefore, 1)
      assert.strictEqual((yield* waited()) - waitedBefore, 5)
      const left = yield* Effect.fork(generate({ prompt: "x" }))
      yield* asleep
      yield* TestClock.adjust("500 millis")
      yield* Fiber.interrupt(left)
      assert.strictEqual((yield* retries()) - retriesBefore, 1)
      assert.strictEqual((yield* waited()) - waitedBefore, 5.5)
    }).pipe(Effect.provide(layerFor([tooMany(), "ok", tooMany()])))
  })

  it.effect("effect_llm_limiter_wait_ms records how long a wait for a slot lasted, not how long it was planned", () => {
    const config = {
      ...testConfig,
      models: { ...testConfig.models, "test-model": { ...testConfig.models["test-model"], limits: { rpm: 1 } } }
    }
    return Effect.gen(function*() {
      const histogram = Telemetry.withTags(Telemetry.limiterWaitMs, { model: "test-model" })
      const before = yield* Metric.value(histogram)
      yield* generate({ prompt: "x" })
      const waiting = yield* Effect.fork(generate({ prompt: "x" }))
      while ((yield* TestClock.sleeps()).length === 0) yield* Effect.yieldNow()
      yield* TestClock.adjust("10 seconds")
      yield* Fiber.interrupt(waiting)
      const after = yield* Metric.value(histogram)
      assert.strictEqual(after.count - before.count, 1)
      assert.strictEqual(after.sum - before.sum, 10_000)
    }).pipe(Effect.provide(layerFor([], config, "ok")))
  })

  it.effect("a call a fallback answered: its span names the provider, endpoint and model that answered", () => {
    const recording = RecordingTracer.make()
    const config = {
      models: {
        ...testConfig.models,
        "test-model": { ...testConfig.models["test-model"], fallbacks: ["test-qwen"] }
      },
      resilience: { ...testConfig.resilience, circuit_breaker: { failure_threshold: 1, recovery_timeout_s: 300 } }
    }
    return Effect.gen(function*() {
      const fiber = yield* Effect.fork(generate({ prompt: "x", fullResponse: true }))
      yield* TestClock.adjust("10 seconds")
      const response = yield* Fiber.join(fiber)
      assert.strictEqual(response.provider, "dashscope")
      const span = Object.fromEntries(recording.named("LLMClient.generate")[0]!.attributes)
      assert.strictEqual(span["gen_ai.system"], "dashscope")
      assert.strictEqual(span["effect_llm.endpoint"], "mock-dashscope")
      assert.strictEqual(span["gen_ai.response.model"], "qwen-test")
      // what was asked for stays on the span
      assert.strictEqual(span["gen_ai.request.model"], "test-model-1")
    }).pipe(Effect.provide(layerFor([unavailable(), "from the fallback"], config)), Effect.withTracer(recording.tracer))
  })

  it.effect("a call the budget refuses is counted by its outcome (not its latency) and its span names the model, unary and stream", () => {
    const recording = RecordingTracer.make()
    const providers = makeMockProviders({ replies: [] })
    return Effect.gen(function*() {
      const tags = { provider: "google", model: "test-model-1", outcome: "BudgetExceededError" }
      const before = yield* counter(Telemetry.requests, tags)
      const who = { provider: "google", model: "test-model-1" }
      const latenciesBefore = (yield* Metric.value(Telemetry.withTags(Telemetry.latencyMs, who))).count
      const refusals = [
        yield* Effect.flip(generate({ prompt: "x", traceId: "refused-1" })),
        yield* Effect.flip(Stream.runDrain(stream({ prompt: "x", traceId: "refused-2" })))
      ]
      assert.deepStrictEqual(refusals.map((error) => error._tag), ["BudgetExceededError", "BudgetExceededError"])
      assert.strictEqual(providers.calls.length, 0)
      assert.strictEqual((yield* counter(Telemetry.requests, tags)) - before, 2)
      // no request, no latency: refusals would pull the model's percentiles down
      assert.strictEqual((yield* Metric.value(Telemetry.withTags(Telemetry.latencyMs, who))).count - latenciesBefore, 0)
      const calls = [...recording.named("LLMClient.generate"), ...recording.named("LLMClient.stream")]
      assert.strictEqual(calls.length, 2)
      for (const [i, span] of calls.entries()) {
        assert.isTrue(span.ended)
        assert.strictEqual(span.attributes.get("gen_ai.system"), "google")
        assert.strictEqual(span.attributes.get("gen_ai.request.model"), "test-model-1")
        assert.strictEqual(span.attributes.get("effect_llm.alias"), "test-model")
        assert.strictEqual(span.attributes.get("effect_llm.trace_id"), `refused-${i + 1}`)
        // what it came to, as any call that ended unanswered says: no attempt, $0
        assert.strictEqual(span.attributes.get("effect_llm.attempts"), 0)
        assert.strictEqual(span.attributes.get("effect_llm.cost_usd"), 0)
      }
    }).pipe(
      Effect.provide(makeTestLayer({ config: { ...testConfig, budget: { daily_spend_limit: 1e-9 } }, providers })),
      Effect.withTracer(recording.tracer)
    )
  })

  it.effect("a trace id holding a configured secret is on the span scrubbed, for a call made and a call refused before it is planned", () => {
    const recording = RecordingTracer.make()
    const key = "sk-pasted-as-trace-id-1618"
    return Effect.gen(function*() {
      yield* generate({ prompt: "hi", traceId: `job-${key}` })
      yield* Effect.flip(generate({ prompt: "x", temperature: 99, traceId: key }))
      const ids = recording.named("LLMClient.generate").map((span) => span.attributes.get("effect_llm.trace_id"))
      assert.deepStrictEqual(ids, ["job-<redacted>", "<redacted>"])
    }).pipe(
      Effect.provide(layerFor([], {
        providers: { ...testConfig.providers, google: { ...testConfig.providers.google, api_key: key } }
      })),
      Effect.withTracer(recording.tracer)
    )
  })

  it.effect("gen_ai.response.model is the model version the provider reported, unary and stream; the id asked for when it reports none", () => {
    const recording = RecordingTracer.make()
    const versioned: MockReply = () =>
      Effect.succeed({
        content: "ok",
        reasoning: undefined,
        usage: { inputTokens: 1, outputTokens: 1, totalTokens: 2 },
        finishReason: "stop",
        requestId: "req-1",
        modelVersion: "test-model-1-2026-01-01"
      })
    return Effect.gen(function*() {
      yield* generate({ prompt: "hi" })
      yield* Stream.runDrain(stream({ prompt: "hi" }))
      const models = [...recording.named("LLMClient.generate"), ...recording.named("LLMClient.stream")].map((span) =>
        span.attributes.get("gen_ai.response.model")
      )
      assert.deepStrictEqual(models, ["test-model-1-2026-01-01", "test-model-1-2026-01-01"])
      // the attempt names the model it asks
      assert.strictEqual(
        recording.named("LLMClient.attempt")[0]!.attributes.get("gen_ai.response.model"),
        "test-model-1"
      )
    }).pipe(Effect.provide(layerFor([versioned, versioned])), Effect.withTracer(recording.tracer))
  })

  it.effect("a call refused before it is planned (a bad parameter, an unknown alias) is counted and its span names its trace id and, when it resolves, its alias", () => {
    const recording = RecordingTracer.make()
    const providers = makeMockProviders({ replies: [] })
    return Effect.gen(function*() {
      const malformed = { provider: "google", model: "test-model-1", outcome: "FatalError" }
      const unknown = { provider: "", model: "", outcome: "FatalError" }
      const before = [yield* counter(Telemetry.requests, malformed), yield* counter(Telemetry.requests, unknown)]
      const refusals = [
        yield* Effect.flip(generate({ prompt: "x", temperature: 99, traceId: "bad-1" })),
        yield* Effect.flip(
          Stream.runDrain(stream({ prompt: "x", model: "no-such-alias" })).pipe(withCallContext({ traceId: "bad-2" }))
        )
      ]
      assert.deepStrictEqual(refusals.map((error) => error._tag), ["FatalError", "FatalError"])
      assert.strictEqual(providers.calls.length, 0)
      assert.strictEqual((yield* counter(Telemetry.requests, malformed)) - before[0]!, 1)
      assert.strictEqual((yield* counter(Telemetry.requests, unknown)) - before[1]!, 1)
      const [generated] = recording.named("LLMClient.generate")
      assert.strictEqual(generated!.attributes.get("effect_llm.trace_id"), "bad-1")
      assert.strictEqual(generated!.attributes.get("effect_llm.alias"), "test-model")
      assert.strictEqual(generated!.attributes.get("gen_ai.request.model"), "test-model-1")
      assert.strictEqual(generated!.attributes.get("effect_llm.attempts"), 0)
      const [streamed] = recording.named("LLMClient.stream")
      assert.strictEqual(streamed!.attributes.get("effect_llm.trace_id"), "bad-2")
      assert.isFalse(streamed!.attributes.has("effect_llm.alias"))
      assert.deepStrictEqual(yield* (yield* Ledger).events(), [])
    }).pipe(
      Effect.provide(makeTestLayer({ config: testConfig, providers })),
      Effect.withTracer(recording.tracer)
    )
  })

  it("every counter is monotonic (`incremental`): exporters send it as a counter, not a gauge-like sum", () => {
    for (const [name, metric] of Object.entries(Telemetry)) {
      const keyType = (metric as { readonly keyType?: { readonly constructor: { readonly name: string } } }).keyType
      if (keyType?.constructor.name !== "CounterKeyType") continue
      assert.isTrue((keyType as unknown as { readonly incremental: boolean }).incremental, name)
    }
    assert.isTrue((Telemetry.rateLimitWaitSeconds.keyType as unknown as { readonly incremental: boolean }).incremental)
  })

  it.effect("a request over its alias's tpm (refused by the rate limiter before any ledger write) is counted as RateLimitError and its span names the call, unary and stream", () => {
    const recording = RecordingTracer.make()
    const providers = makeMockProviders({ replies: [] })
    const config = {
      ...testConfig,
      models: { ...testConfig.models, "test-model": { ...testConfig.models["test-model"], limits: { tpm: 5 } } }
    }
    return Effect.gen(function*() {
      const tags = { provider: "google", model: "test-model-1", outcome: "RateLimitError" }
      const before = yield* counter(Telemetry.requests, tags)
      const refusedBefore = yield* counter(Telemetry.limiterRefused, { model: "test-model", limit: "tpm" })
      const refusals = [
        yield* Effect.flip(generate({ prompt: "x", traceId: "too-big-1" })),
        yield* Effect.flip(Stream.runDrain(stream({ prompt: "x", traceId: "too-big-2" })))
      ]
      assert.deepStrictEqual(refusals.map((error) => [error._tag, (error as RateLimitError).reason]), [
        ["RateLimitError", "local_limit"],
        ["RateLimitError", "local_limit"]
      ])
      assert.strictEqual(providers.calls.length, 0)
      assert.deepStrictEqual(yield* (yield* Ledger).events(), [])
      assert.strictEqual((yield* counter(Telemetry.requests, tags)) - before, 2)
      // and as the limiter's refusals, as a wait that could not fit is
      assert.strictEqual(
        (yield* counter(Telemetry.limiterRefused, { model: "test-model", limit: "tpm" })) - refusedBefore,
        2
      )
      const calls = [...recording.named("LLMClient.generate"), ...recording.named("LLMClient.stream")]
      assert.strictEqual(calls.length, 2)
      for (const [i, span] of calls.entries()) {
        assert.isTrue(span.ended)
        assert.strictEqual(span.attributes.get("effect_llm.alias"), "test-model")
        assert.strictEqual(span.attributes.get("effect_llm.trace_id"), `too-big-${i + 1}`)
        assert.strictEqual(span.attributes.get("effect_llm.attempts"), 0)
      }
    }).pipe(
      Effect.provide(makeTestLayer({ config, providers })),
      Effect.withTracer(recording.tracer)
    )
  })

  it.effect("a rate-limited alias: the ledger's Ledger.admit, Ledger.release and Ledger.pause spans carry the call's trace id", () => {
    const recording = RecordingTracer.make()
    const limited = new RateLimitError({
      reason: "rate_limited",
      message: "429",
      status: 429,
      retryAfter: Duration.seconds(1)
    })
    const config = {
      ...testConfig,
      models: { ...testConfig.models, "test-model": { ...testConfig.models["test-model"], limits: { rpm: 100 } } }
    }
    return Effect.gen(function*() {
      const fiber = yield* Effect.fork(generate({ prompt: "hello", traceId: "slots-1" }))
      yield* TestClock.adjust("2 seconds")
      assert.strictEqual(yield* Fiber.join(fiber), "hi")
      const names = ["Ledger.admit", "Ledger.release", "Ledger.pause"]
      for (const name of names) {
        const spans = recording.named(name)
        assert.isAbove(spans.length, 0, name)
        for (const span of spans) assert.strictEqual(span.attributes.get("effect_llm.trace_id"), "slots-1", name)
      }
    }).pipe(Effect.provide(layerFor([limited, "hi"], config)), Effect.withTracer(recording.tracer))
  })

  it.effect("a call that ends without an answer: its span carries the endpoint, attempts and cost; a stream's Ledger.cancel is under its span", () => {
    const recording = RecordingTracer.make()
    return Effect.gen(function*() {
      yield* Effect.flip(generate({ prompt: "x" }))
      const [failed] = recording.named("LLMClient.generate")
      assert.strictEqual(failed!.status._tag === "Ended" && failed!.status.exit._tag, "Failure")
      assert.strictEqual(failed!.attributes.get("effect_llm.endpoint"), "mock-google")
      assert.strictEqual(failed!.attributes.get("effect_llm.attempts"), 1)
      assert.strictEqual(failed!.attributes.get("effect_llm.cost_usd"), 0)
      assert.deepStrictEqual(recording.named("Ledger.cancel").map((span) => span.parentName), ["LLMClient.generate"])

      // a consumer that stops after the first delta
      yield* Stream.runDrain(Stream.take(stream({ prompt: "x" }), 1))
      const [stopped] = recording.named("LLMClient.stream")
      assert.isTrue(stopped!.ended)
      assert.strictEqual(stopped!.attributes.get("effect_llm.endpoint"), "mock-google")
      assert.strictEqual(stopped!.attributes.get("effect_llm.attempts"), 1)
      assert.isAbove(stopped!.attributes.get("effect_llm.cost_usd") as number, 0)
      const cancels = recording.named("Ledger.cancel")
      assert.strictEqual(cancels.length, 2)
      assert.strictEqual(cancels[1]!.parentName, "LLMClient.stream")
      assert.strictEqual(cancels[1]!.traceId, stopped!.traceId)
    }).pipe(
      Effect.provide(layerFor([unavailable(), { content: "one two three", deltas: ["one ", "two ", "three"] }], {
        resilience: { max_retries: 0 }
      })),
      Effect.withTracer(recording.tracer)
    )
  })

  it.effect("a breaker opening is counted", () =>
    Effect.gen(function*() {
      const tags = { endpoint: "mock-google", from: "closed", to: "open" }
      const before = yield* counter(Telemetry.breakerTransitions, tags)
      for (let i = 0; i < 2; i++) yield* Effect.flip(generate({ prompt: "x" }))
      assert.strictEqual((yield* counter(Telemetry.breakerTransitions, tags)) - before, 1)
    }).pipe(
      Effect.provide(
        layerFor([], {
          resilience: { max_retries: 0, circuit_breaker: { failure_threshold: 2, recovery_timeout_s: 60 } }
        }, unavailable())
      )
    ))

  it.effect("a stream: the span lives as long as the stream and carries the usage", () => {
    const recording = RecordingTracer.make()
    return Effect.gen(function*() {
      yield* Stream.runDrain(stream({ prompt: "x" }))
      const [span] = recording.named("LLMClient.stream")
      assert.isDefined(span)
      assert.isTrue(span!.ended)
      assert.isNumber(span!.attributes.get("gen_ai.usage.output_tokens"))
      assert.strictEqual(recording.named("LLMClient.attempt")[0]!.parentName, "LLMClient.stream")
    }).pipe(Effect.provide(layerFor(["one two three"])), Effect.withTracer(recording.tracer))
  })

  it.effect("time to first delta is recorded for a stream that had its first delta, finished or stopped early", () =>
    Effect.gen(function*() {
      const samples = Effect.map(Metric.value(Telemetry.ttftMs), (state) => state.count)
      const before = yield* samples
      yield* Stream.runDrain(stream({ prompt: "x" }))
      assert.strictEqual((yield* samples) - before, 1, "a finished stream")
      // stopped after its first delta: the delta came, so did its time
      yield* Stream.runDrain(Stream.take(stream({ prompt: "x" }), 1))
      assert.strictEqual((yield* samples) - before, 2, "a stream stopped early")
    }).pipe(Effect.provide(layerFor([], {}, { content: "one two three", deltas: ["one ", "two ", "three"] }))))

  it.scoped("no span attribute ever contains the API key, even echoed in x-request-id (real HTTP through the Gemini provider)", () => {
    const recording = RecordingTracer.make()
    const key = "AIzaSyTEST-never-in-a-span-0123456789"
    return Effect.gen(function*() {
      const server = yield* Loopback.make
      server.setDefault(() => ({
        // the client's span records response headers; it can redact the request id only by name
        headers: { "content-type": "application/json", "x-request-id": `req-${key}` },
        body: Loopback.readFixture("vertexai-sdk-test-data/googleai/unary-success-basic-reply-short.json")
      }))
      const layer = makeLiveLayer({
        config: {
          default_model: "flash",
          providers: { google: { api_key: key, endpoints: [{ name: "loop", base_url: server.url }] } },
          models: { flash: { provider: "google", model_id: "gemini-2.5-flash" } },
          ledger: { backend: "memory" }
        }
      })
      yield* generate({ prompt: "hi" }).pipe(Effect.provide(layer))
      assert.isAbove(recording.spans.length, 3)
      for (const span of recording.spans) {
        for (const [name, value] of span.attributes) {
          assert.notInclude(String(value), key, `span ${span.name} attribute ${name}`)
          assert.notInclude(JSON.stringify(value) ?? "", key, `span ${span.name} attribute ${name}`)
        }
      }
      const http = recording.spans.find((s) => s.name.startsWith("http.client"))
      assert.isDefined(http, "the HTTP client span is recorded")
      // The header is on the span, redacted.
      assert.isDefined(http!.attributes.get("http.request.header.x-goog-api-key"))
    }).pipe(Effect.withTracer(recording.tracer))
  })
})
