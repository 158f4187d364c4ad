/**
 * Resilience end to end over HTTP (loopback servers speaking the real error formats), driven by
 * `TestClock`: the server's Retry-After hints, RetryInfo, per-attempt timeouts, 4xx that never
 * retry, and breakers that skip a dead endpoint without a request.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Chunk from "effect/Chunk"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Fiber from "effect/Fiber"
import * as HashMap from "effect/HashMap"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import * as Random from "effect/Random"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/TestClock"
import { generate, Ledger, type LLMClient, makeLiveLayer, stream } from "../../src/index.js"
import * as Loopback from "../support/LoopbackServer.js"

const ok = Loopback.readFixture("vertexai-sdk-test-data/googleai/unary-success-basic-reply-short.json")
const okResponse: Loopback.ScriptedResponse = { headers: { "content-type": "application/json" }, body: ok }
const retryInfo429 = Loopback.readFixture("vercel-ai/google/google-429-retry-info.json")
const json = { "content-type": "application/json" }
const rateLimited = (headers: Record<string, string>): Loopback.ScriptedResponse => ({
  status: 429,
  headers: { ...json, ...headers },
  body:
    `{"error":{"code":429,"message":"Resource has been exhausted (e.g. check quota).","status":"RESOURCE_EXHAUSTED"}}`
})
const unavailable: Loopback.ScriptedResponse = {
  status: 503,
  headers: json,
  body: `{"error":{"code":503,"message":"The model is overloaded. Please try again later.","status":"UNAVAILABLE"}}`
}

const layerFor = (endpoints: ReadonlyArray<{ name: string; url: string }>, resilience: Record<string, unknown> = {}) =>
  makeLiveLayer({
    config: {
      default_model: "flash",
      providers: {
        google: { api_key: "resilience-key", endpoints: endpoints.map((e) => ({ name: e.name, base_url: e.url })) }
      },
      models: { flash: { provider: "google", model_id: "gemini-2.5-flash" } },
      resilience: { max_retries: 3, base_delay_s: 1, ...resilience },
      ledger: { backend: "memory" }
    }
  })

/**
 * Starts `generate` in a fiber; the delays of its retries, as the library logs them (Debug) just
 * before sleeping, arrive on `retries`.
 */
const start = (layer: ReturnType<typeof layerFor>) =>
  Effect.gen(function*() {
    const retries = yield* Queue.unbounded<number>()
    const logger = Logger.make(({ annotations, message }) => {
      const delayMs = HashMap.get(annotations, "delayMs")
      if (String(message).startsWith("retrying") && Option.isSome(delayMs)) {
        Queue.unsafeOffer(retries, delayMs.value as number)
      }
    })
    const fiber = yield* Effect.fork(
      Effect.either(generate({ prompt: "hi", fullResponse: true }).pipe(Effect.provide(layer))).pipe(
        Effect.provide(Logger.add(logger)),
        Logger.withMinimumLogLevel(LogLevel.Debug)
      )
    )
    return { fiber, retries }
  })

/**
 * Waits until the call has decided its next retry and is asleep on the `TestClock` until then
 * (no wall-clock wait: the sleep follows the Debug line within the same fiber run); returns the delay.
 * Nothing else is scheduled before it, so moving the clock short of it cannot send a request.
 */
const awaitRetrySleep = (retries: Queue.Queue<number>) =>
  Effect.gen(function*() {
    const delayMs = yield* Queue.take(retries)
    const wakeAt = (yield* Clock.currentTimeMillis) + delayMs
    while (!Chunk.toReadonlyArray(yield* TestClock.sleeps()).includes(wakeAt)) yield* Effect.yieldNow()
    return delayMs
  })

describe("rate limits over HTTP (TestClock)", () => {
  it.scoped("429 + Retry-After: 7 → the second attempt happens at t = 7 s, not before", () =>
    Effect.gen(function*() {
      const server = yield* Loopback.make
      server.enqueue(rateLimited({ "retry-after": "7" }), okResponse)
      const { fiber, retries } = yield* start(layerFor([{ name: "a", url: server.url }]))
      assert.strictEqual(yield* awaitRetrySleep(retries), 7000)
      yield* TestClock.adjust("6999 millis")
      assert.strictEqual(server.requests.length, 1)
      yield* TestClock.adjust("1 millis")
      const result = yield* Fiber.join(fiber)
      assert.strictEqual(result._tag, "Right")
      if (result._tag === "Right") {
        assert.strictEqual(result.right.attempts, 2)
        assert.strictEqual(result.right.timing.totalMs, 7000)
      }
    }))

  it.scoped("the HTTP-date form of Retry-After is a wait relative to Clock", () =>
    Effect.gen(function*() {
      const server = yield* Loopback.make
      // TestClock starts at the epoch: this date is 12 s from now.
      server.enqueue(rateLimited({ "retry-after": new Date(12_000).toUTCString() }), okResponse)
      const { fiber, retries } = yield* start(layerFor([{ name: "a", url: server.url }]))
      assert.strictEqual(yield* awaitRetrySleep(retries), 12_000)
      yield* TestClock.adjust("11 seconds")
      assert.strictEqual(server.requests.length, 1)
      yield* TestClock.adjust("1 seconds")
      const result = yield* Fiber.join(fiber)
      assert.strictEqual(result._tag === "Right" && result.right.timing.totalMs, 12_000)
    }))

  it.scoped("retry-after-ms is honoured", () =>
    Effect.gen(function*() {
      const server = yield* Loopback.make
      server.enqueue(rateLimited({ "retry-after-ms": "2500" }), okResponse)
      const { fiber, retries } = yield* start(layerFor([{ name: "a", url: server.url }]))
      assert.strictEqual(yield* awaitRetrySleep(retries), 2500)
      yield* TestClock.adjust("2499 millis")
      assert.strictEqual(server.requests.length, 1)
      yield* TestClock.adjust("1 millis")
      const result = yield* Fiber.join(fiber)
      assert.strictEqual(result._tag === "Right" && result.right.timing.totalMs, 2500)
    }))

  it.scoped("Gemini RetryInfo \"34.4s\" (the recorded body) is waited out when it fits max_wait_timeout_s", () =>
    Effect.gen(function*() {
      const server = yield* Loopback.make
      server.enqueue({ status: 429, headers: json, body: retryInfo429 }, okResponse)
      const { fiber, retries } = yield* start(layerFor([{ name: "a", url: server.url }]))
      assert.strictEqual(yield* awaitRetrySleep(retries), 34_400)
      yield* TestClock.adjust("34399 millis")
      assert.strictEqual(server.requests.length, 1)
      yield* TestClock.adjust("1 millis")
      const result = yield* Fiber.join(fiber)
      assert.strictEqual(result._tag === "Right" && result.right.timing.totalMs, 34_400)
    }))

  it.scoped("over max_wait_timeout_s → an immediate RateLimitError with retryAfter 34.4 s", () =>
    Effect.gen(function*() {
      const server = yield* Loopback.make
      server.enqueue({ status: 429, headers: json, body: retryInfo429 }, okResponse)
      const error = yield* Effect.flip(
        generate({ prompt: "hi" }).pipe(
          Effect.provide(layerFor([{ name: "a", url: server.url }], { max_wait_timeout_s: 30 }))
        )
      )
      assert.strictEqual(error._tag, "RateLimitError")
      if (error._tag === "RateLimitError") {
        assert.strictEqual(error.reason, "rate_limited")
        assert.strictEqual(Duration.toMillis(error.retryAfter!), 34_400)
      }
      assert.strictEqual(server.requests.length, 1)
    }))

  it.scoped("wait_on_rate_limit: false → the RateLimitError at once, retryAfter filled in", () =>
    Effect.gen(function*() {
      const server = yield* Loopback.make
      server.enqueue(rateLimited({ "retry-after": "5" }), okResponse)
      const error = yield* Effect.flip(
        generate({ prompt: "hi" }).pipe(
          Effect.provide(layerFor([{ name: "a", url: server.url }], { wait_on_rate_limit: false }))
        )
      )
      assert.strictEqual(error._tag, "RateLimitError")
      if (error._tag === "RateLimitError") assert.strictEqual(Duration.toMillis(error.retryAfter!), 5000)
      assert.strictEqual(server.requests.length, 1)
    }))

  it.scoped("a per-day quota fails at once as quota_exhausted", () =>
    Effect.gen(function*() {
      const server = yield* Loopback.make
      const perDay = retryInfo429.toString("utf8").replace("PerMinute", "PerDay")
      server.enqueue({ status: 429, headers: json, body: perDay }, okResponse)
      const error = yield* Effect.flip(
        generate({ prompt: "hi" }).pipe(Effect.provide(layerFor([{ name: "a", url: server.url }])))
      )
      assert.strictEqual(error._tag === "RateLimitError" && error.reason, "quota_exhausted")
      assert.strictEqual(server.requests.length, 1)
    }))
})

describe("retries, timeouts and breakers over HTTP (TestClock)", () => {
  it.scoped("503, 503, 200 → attempts 3", () =>
    Effect.gen(function*() {
      const server = yield* Loopback.make
      server.enqueue(unavailable, unavailable, okResponse)
      const { fiber, retries } = yield* start(layerFor([{ name: "a", url: server.url }]))
      // Random.fixed([0.5]): the jitter factor is 1, so the delays are exactly 1 s and 2 s.
      assert.strictEqual(yield* awaitRetrySleep(retries), 1000)
      yield* TestClock.adjust("1 seconds")
      assert.strictEqual(yield* awaitRetrySleep(retries), 2000)
      yield* TestClock.adjust("2 seconds")
      const result = yield* Fiber.join(fiber)
      assert.strictEqual(result._tag === "Right" && result.right.attempts, 3)
    }).pipe(Effect.withRandom(Random.fixed([0.5]))))

  for (
    const [status, body] of [
      [400, Loopback.readFixture("vertexai-sdk-test-data/googleai/unary-failure-api-key.json")],
      [
        401,
        `{"error":{"code":401,"message":"Request had invalid authentication credentials.","status":"UNAUTHENTICATED"}}`
      ],
      [
        403,
        Loopback.readFixture("vertexai-sdk-test-data/googleai/unary-failure-generativelanguage-api-not-enabled.json")
      ],
      [404, Loopback.readFixture("vertexai-sdk-test-data/googleai/unary-failure-unknown-model.json")]
    ] as const
  ) {
    it.scoped(`${status} → one attempt, FatalError`, () =>
      Effect.gen(function*() {
        const server = yield* Loopback.make
        server.enqueue({ status, headers: json, body }, okResponse)
        const error = yield* Effect.flip(
          generate({ prompt: "hi" }).pipe(Effect.provide(layerFor([{ name: "a", url: server.url }])))
        )
        assert.strictEqual(error._tag, "FatalError")
        assert.strictEqual(server.requests.length, 1)
        assert.notInclude(error.message, "resilience-key")
      }))
  }

  it.scoped("a hanging server → RetryableError timeout after request_timeout_s, connection released", () =>
    Effect.gen(function*() {
      const server = yield* Loopback.make
      server.enqueue({ hang: true })
      const { fiber } = yield* start(
        layerFor([{ name: "a", url: server.url }], { request_timeout_s: 20, max_retries: 0 })
      )
      yield* Effect.promise(() => server.awaitRequests(1))
      yield* TestClock.adjust("19 seconds")
      assert.isTrue((yield* Fiber.poll(fiber))._tag === "None")
      yield* TestClock.adjust("1 seconds")
      const result = yield* Fiber.join(fiber)
      assert.strictEqual(
        result._tag === "Left" && result.left._tag === "RetryableError" && result.left.reason,
        "timeout"
      )
      yield* Effect.promise(() => server.requests[0]!.socketClosed)
    }))

  it.scoped("an open endpoint is skipped without a request; traffic goes to the next one", () =>
    Effect.gen(function*() {
      const dead = yield* Loopback.make
      const alive = yield* Loopback.make
      dead.setDefault(() => unavailable)
      alive.setDefault(() => okResponse)
      const layer = layerFor([{ name: "dead", url: dead.url }, { name: "alive", url: alive.url }], {
        max_retries: 0,
        circuit_breaker: { failure_threshold: 2, recovery_timeout_s: 60 }
      })
      yield* Effect.gen(function*() {
        yield* Effect.flip(generate({ prompt: "1" }))
        yield* Effect.flip(generate({ prompt: "2" }))
        const response = yield* generate({ prompt: "3", fullResponse: true })
        assert.strictEqual(response.endpoint, "alive")
        assert.strictEqual(dead.requests.length, 2)
      }).pipe(Effect.provide(layer))
    }))
})

describe("a call whose own failures open the breaker", () => {
  it.scoped("fails with the error it got, not CircuitOpenError; the next call is refused without a request", () =>
    Effect.gen(function*() {
      const server = yield* Loopback.make
      server.setDefault(() => unavailable)
      // one instance for both calls (the breaker is the layer's)
      const layer = Layer.succeedContext(
        yield* Layer.build(layerFor([{ name: "a", url: server.url }], {
          max_retries: 4,
          circuit_breaker: { failure_threshold: 2, recovery_timeout_s: 600 }
        }))
      )
      const { fiber, retries } = yield* start(layer)
      yield* TestClock.adjust(yield* awaitRetrySleep(retries))
      // the second 503 opened the breaker: nothing is usable before it reopens, so the call ends at once
      // (no second backoff slept)
      const result = yield* Fiber.join(fiber)
      assert.strictEqual(yield* Queue.size(retries), 0)
      assert.strictEqual(server.requests.length, 2)
      assert.deepStrictEqual(
        Either.isLeft(result) ? [result.left._tag, result.left.reason] : result.right,
        ["RetryableError", "overloaded"]
      )
      // CircuitOpenError keeps its meaning: refused before any request
      const refused = yield* Effect.flip(generate({ prompt: "again" }).pipe(Effect.provide(layer)))
      assert.strictEqual(refused._tag, "CircuitOpenError")
      assert.strictEqual(server.requests.length, 2)
    }).pipe(Effect.withRandom(Random.fixed([0.5]))))
})

describe("breakers and streams", () => {
  const events = Loopback.readFixture("vertexai-sdk-test-data/googleai/streaming-success-basic-reply-long.txt")
    .toString("utf8").split(/\r?\n\r?\n/).filter((event) => event.length > 0).map((event) => `${event}\r\n\r\n`)
  const sse = { "content-type": "text/event-stream" }
  /** Three events (deltas reach the caller), then the connection is reset. */
  const cut: Loopback.ScriptedResponse = { headers: sse, body: events.slice(0, 3), end: "destroy" }
  const whole: Loopback.ScriptedResponse = { headers: sse, body: events.join("") }
  const breakerConfig = { max_retries: 0, circuit_breaker: { failure_threshold: 2, recovery_timeout_s: 60 } }
  const drain = (prompt: string) => Effect.either(Stream.runDrain(stream({ prompt })))
  /** Runs `calls` against one endpoint that answers `responses` in order, with the breaker above. */
  const onOneEndpoint = <A, E>(
    responses: ReadonlyArray<Loopback.ScriptedResponse>,
    calls: (server: Loopback.LoopbackServer) => Effect.Effect<A, E, LLMClient>
  ) =>
    Effect.gen(function*() {
      const server = yield* Loopback.make
      server.enqueue(...responses)
      return yield* calls(server).pipe(Effect.provide(layerFor([{ name: "a", url: server.url }], breakerConfig)))
    })

  it.scoped("streams cut after their first delta are failed attempts: two open the breaker, the third call sends nothing", () =>
    onOneEndpoint([cut, cut], (server) =>
      Effect.gen(function*() {
        for (const prompt of ["1", "2"]) {
          const result = yield* drain(prompt)
          assert.strictEqual(
            Either.isLeft(result) && result.left._tag === "RetryableError" && result.left.reason,
            "stream_interrupted"
          )
        }
        const refused = yield* drain("3")
        assert.strictEqual(Either.isLeft(refused) && refused.left._tag, "CircuitOpenError")
        assert.strictEqual(server.requests.length, 2)
      })))

  it.scoped("under Stream.zip (which ends the stream by interrupting its fiber) cuts still count and settle as errors", () =>
    Effect.gen(function*() {
      const server = yield* Loopback.make
      server.enqueue(cut, cut)
      yield* Effect.gen(function*() {
        for (const prompt of ["1", "2"]) {
          const zipped = Stream.zip(stream({ prompt, traceId: `zip-${prompt}` }), Stream.range(1, 1_000))
          const result = yield* Effect.either(Stream.runDrain(zipped))
          assert.strictEqual(Either.isLeft(result) && (result.left as { reason?: string }).reason, "stream_interrupted")
          const settled = (yield* Effect.flatMap(Ledger, (ledger) => ledger.events({ traceId: `zip-${prompt}` })))
            .find((event) => event.type === "cancel")
          assert.deepStrictEqual([settled?.status, settled?.error?.tag], ["error", "RetryableError"])
        }
        const refused = yield* drain("3")
        assert.strictEqual(Either.isLeft(refused) && refused.left._tag, "CircuitOpenError")
        assert.strictEqual(server.requests.length, 2)
      }).pipe(Effect.provide(layerFor([{ name: "a", url: server.url }], breakerConfig)))
    }))

  it.scoped("under Stream.zip a call refused before its first delta (401) is settled with its error too", () =>
    Effect.gen(function*() {
      const server = yield* Loopback.make
      server.enqueue({
        status: 401,
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ error: { code: 401, message: "API key not valid.", status: "UNAUTHENTICATED" } })
      })
      const settled = yield* Effect.gen(function*() {
        const zipped = Stream.zip(stream({ prompt: "p", traceId: "zip-401" }), Stream.range(1, 1_000))
        const result = yield* Effect.either(Stream.runDrain(zipped))
        assert.strictEqual(Either.isLeft(result) && result.left._tag, "FatalError")
        return (yield* Effect.flatMap(Ledger, (ledger) => ledger.events({ traceId: "zip-401" })))
          .find((event) => event.type === "cancel")
      }).pipe(Effect.provide(layerFor([{ name: "a", url: server.url }], breakerConfig)))
      assert.deepStrictEqual([settled?.status, settled?.error?.tag], ["error", "FatalError"])
    }))

  it.scoped("read through Stream.toPull, a failed stream is settled with its error, not the Option around it", () =>
    Effect.gen(function*() {
      const server = yield* Loopback.make
      server.enqueue(cut)
      const settled = yield* Effect.gen(function*() {
        const drained = Effect.scoped(Effect.flatMap(
          Stream.toPull(stream({ prompt: "p", traceId: "pulled" })),
          (pull) => Effect.forever(pull)
        ))
        yield* Effect.either(drained)
        return (yield* Effect.flatMap(Ledger, (ledger) => ledger.events({ traceId: "pulled" })))
          .find((event) => event.type === "cancel")
      }).pipe(Effect.provide(layerFor([{ name: "a", url: server.url }], breakerConfig)))
      assert.deepStrictEqual([settled?.status, settled?.error?.tag], ["error", "RetryableError"])
      assert.match(settled?.error?.message ?? "", /^google \(endpoint "a"\)/)
    }))

  it.scoped("a stream that finishes counts as a success: the failures before it are no longer consecutive", () =>
    onOneEndpoint([cut, whole, cut, whole], (server) =>
      Effect.gen(function*() {
        assert.isTrue(Either.isLeft(yield* drain("1")))
        assert.isTrue(Either.isRight(yield* drain("2")))
        assert.isTrue(Either.isLeft(yield* drain("3")))
        assert.isTrue(Either.isRight(yield* drain("4")))
        assert.strictEqual(server.requests.length, 4)
      })))

  it.scoped("a stream its caller stops early is no failure of the endpoint", () =>
    onOneEndpoint([cut, whole, cut, whole], (server) =>
      Effect.gen(function*() {
        assert.isTrue(Either.isLeft(yield* drain("1")))
        const first = yield* Stream.runCollect(Stream.take(stream({ prompt: "2" }), 1))
        assert.strictEqual(Chunk.size(first), 1)
        assert.isTrue(Either.isLeft(yield* drain("3")))
        assert.isTrue(Either.isRight(yield* drain("4")))
        assert.strictEqual(server.requests.length, 4)
      })))
})
