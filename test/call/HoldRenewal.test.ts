/**
 * A call in flight keeps its hold counting past `budget.hold_ttl_s` (which is for holds whose process
 * died, API.md §6): a stream renews its hold each third of the TTL while it is open, however slowly
 * its provider sends or its consumer reads, so concurrent calls cannot together pass a limit while it
 * runs; a unary call renews it while it waits for its answer, at an attempt made past a third of the
 * TTL and after each rate-limit wait; a hold whose call stopped renewing it still expires.
 */
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/TestClock"
import type { LLMConfig } from "../../src/index.js"
import { generate, Ledger, makeLiveLayer, RetryableError, stream } from "../../src/index.js"
import { layerMemoryLedger, makeMockProviders, makeTestLayer, testConfig } from "../../src/testing.js"

const frame = (text: string, last = false) =>
  new TextEncoder().encode(
    `data: {"candidates":[{"content":{"parts":[{"text":"${text}"}],"role":"model"}${
      last ? `,"finishReason":"STOP"` : ""
    }}],"usageMetadata":{"promptTokenCount":5,"candidatesTokenCount":3,"totalTokenCount":8}}\r\n\r\n`
  )

/**
 * A live layer whose one Gemini response is an SSE body the test writes chunk by chunk, and a budget
 * that fits one call's hold ($1 of output at `maxOutputTokens: 1000`) but not two.
 */
const harness = (
  resilience: Record<string, unknown> = { stream_idle_timeout_s: 55 },
  budget: Record<string, unknown> = { hold_ttl_s: 60 }
) => {
  let controller!: ReadableStreamDefaultController<Uint8Array>
  const body = new ReadableStream<Uint8Array>({ start: (c) => void (controller = c) })
  let requests = 0
  const client = HttpClient.make((request) =>
    Effect.sync(() => {
      requests++
      return HttpClientResponse.fromWeb(
        request,
        new Response(body, { status: 200, headers: { "content-type": "text/event-stream" } })
      )
    })
  )
  const layer = makeLiveLayer({
    config: {
      default_model: "flash",
      providers: {
        google: { api_key: "renewal-test-key", endpoints: [{ name: "g", base_url: "http://127.0.0.1:9" }] }
      },
      models: {
        flash: { provider: "google", model_id: "gemini-2.5-flash", pricing: { input_per_1m: 1, output_per_1m: 1000 } }
      },
      budget: { daily_spend_limit: 1.5, ...budget },
      resilience,
      ledger: { backend: "memory" }
    },
    userConfig: false,
    httpClient: Layer.succeed(HttpClient.HttpClient, client)
  })
  return {
    layer,
    write: (bytes: Uint8Array) => controller.enqueue(bytes),
    end: () => controller.close(),
    requests: () => requests
  }
}

/**
 * Starts a stream over the harness's body and waits for its first delta: the consumer's fiber, the
 * deltas it receives after that one, and the spend while the call is held.
 */
const firstDelta = (write: (bytes: Uint8Array) => void) =>
  Effect.gen(function*() {
    const received = yield* Queue.unbounded<string>()
    const running = yield* Effect.fork(
      Stream.runForEach(stream({ prompt: "x", maxOutputTokens: 1000 }), (event) => Queue.offer(received, event.delta))
    )
    write(frame("a"))
    assert.strictEqual(yield* Queue.take(received), "a")
    const held = yield* (yield* Ledger).spendToday()
    return { held, received, running }
  })

/**
 * A model `cheap` falling back to `pricey` (a thousand times its output price), over `ledger`: the first
 * failure opens the cheap endpoint's breaker, and the call's hold is raised for the fallback.
 */
const fallbackLayer = (
  providers: ReturnType<typeof makeMockProviders>,
  ledger: Layer.Layer<Ledger, never, LLMConfig>
) =>
  makeTestLayer({
    config: {
      ...testConfig,
      models: {
        cheap: {
          provider: "google",
          model_id: "c",
          pricing: { input_per_1m: 1, output_per_1m: 2 },
          fallbacks: ["pricey"]
        },
        pricey: { provider: "dashscope", model_id: "p", pricing: { input_per_1m: 1, output_per_1m: 2000 } }
      },
      default_model: "cheap",
      resilience: {
        base_delay_s: 0.5,
        max_delay_s: 0.5,
        max_retries: 2,
        request_timeout_s: 300,
        retry_budget_s: 300,
        circuit_breaker: { failure_threshold: 1, recovery_timeout_s: 600 }
      },
      budget: { daily_spend_limit: 100, hold_ttl_s: 30 }
    },
    providers,
    ledger
  })

describe("hold renewal (API.md §6: the hold TTL is for dead processes)", () => {
  it.effect("a stream that outlives hold_ttl_s keeps its hold counting while its chunks arrive", () => {
    const { end, layer, requests, write } = harness()
    return Effect.gen(function*() {
      const ledger = yield* Ledger
      const { held, received, running } = yield* firstDelta(write)
      assert.isAbove(held, 1)
      // 50 s later a chunk arrives (the hold was renewed at 20 s and 40 s)
      yield* TestClock.adjust("50 seconds")
      write(frame("b"))
      assert.strictEqual(yield* Queue.take(received), "b")
      // 100 s after the hold, 50 s after its renewal: it still counts, and a second call does not fit
      yield* TestClock.adjust("50 seconds")
      assert.strictEqual(yield* ledger.spendToday(), held)
      const refused = yield* Effect.flip(generate({ prompt: "y", maxOutputTokens: 1000 }))
      assert.strictEqual(refused._tag, "BudgetExceededError")
      assert.strictEqual(requests(), 1)
      write(frame("c", true))
      end()
      yield* Fiber.join(running)
      assert.deepStrictEqual((yield* ledger.events()).map((event) => event.type), ["hold", "commit"])
      assert.isBelow(yield* ledger.spendToday(), held)
    }).pipe(Effect.provide(layer))
  })

  it.effect("a stream silent for longer than hold_ttl_s keeps its hold counting: it is renewed each third of the TTL while the call is open", () => {
    // renewed each 33,333.33… ms: a TestClock keeps time to the nanosecond, so the renewer must not
    // sleep the fraction of a nanosecond left over again and again
    const { end, layer, write } = harness({ stream_idle_timeout_s: 150 }, { hold_ttl_s: 100 })
    return Effect.gen(function*() {
      const ledger = yield* Ledger
      const { held, running } = yield* firstDelta(write)
      // 125 s of silence, past the 100 s TTL, within the 150 s idle timeout
      for (let second = 0; second < 125; second += 5) {
        yield* TestClock.adjust("5 seconds")
        assert.strictEqual(yield* ledger.spendToday(), held, `${second + 5} s after the hold`)
      }
      write(frame("b", true))
      end()
      yield* Fiber.join(running)
      assert.isBelow(yield* ledger.spendToday(), held)
      // the renewer stopped with the call: nothing more is written, however long after
      const rows = (yield* ledger.events()).length
      yield* TestClock.adjust("10 minutes")
      assert.strictEqual((yield* ledger.events()).length, rows)
    }).pipe(Effect.provide(layer))
  })

  it.effect("a consumer slower than its provider keeps the hold counting until the commit (the answer arrived at once)", () => {
    const { end, layer, write } = harness()
    return Effect.gen(function*() {
      const ledger = yield* Ledger
      const seen: Array<number> = []
      const consumed = yield* Effect.fork(
        Stream.runForEach(stream({ prompt: "x", maxOutputTokens: 1000 }), (event) =>
          !event.isFinish
            ? Effect.zipRight(
              Effect.flatMap(ledger.spendToday(), (spend) => Effect.sync(() => seen.push(spend))),
              Effect.sleep("45 seconds")
            )
            : Effect.void)
      )
      // the whole answer in one write: one chunk, read long before the consumer is done with it
      const frames = [...["a", "b", "c", "d"].map((text) => frame(text)), frame("e", true)]
      write(new Uint8Array(frames.flatMap((bytes) => [...bytes])))
      end()
      yield* TestClock.adjust("1 second")
      for (let step = 0; step < 5; step++) yield* TestClock.adjust("45 seconds")
      yield* Fiber.join(consumed)
      // five deltas over 225 s, the TTL 60 s: every one saw the call's hold still counting
      assert.lengthOf(seen, 5)
      assert.isAbove(seen[0]!, 1)
      assert.deepStrictEqual(seen, seen.map(() => seen[0]))
      assert.deepStrictEqual((yield* ledger.events()).map((event) => event.type), ["hold", "commit"])
    }).pipe(Effect.provide(layer))
  })

  // The live clock's path (a plain timer until the first renewal is due), on a TTL of 300 ms.
  it.live("under the live clock too: a stream open past its TTL keeps its hold counting, and stops renewing at its commit", () => {
    const { end, layer, write } = harness(undefined, { hold_ttl_s: 0.3 })
    return Effect.gen(function*() {
      const ledger = yield* Ledger
      const { held, running } = yield* firstDelta(write)
      assert.isAbove(held, 1)
      yield* Effect.sleep("500 millis")
      assert.strictEqual(yield* ledger.spendToday(), held)
      write(frame("b", true))
      end()
      yield* Fiber.join(running)
      const settled = yield* ledger.spendToday()
      assert.isBelow(settled, held)
      yield* Effect.sleep("250 millis")
      assert.strictEqual(yield* ledger.spendToday(), settled)
      assert.deepStrictEqual((yield* ledger.events()).map((event) => event.type), ["hold", "commit"])
    }).pipe(Effect.provide(layer))
  })

  it.effect("a call that retried past a third of the TTL renews its hold at its next attempt", () => {
    const providers = makeMockProviders({
      replies: [new RetryableError({ reason: "server_error", message: "503" }), () => Effect.never]
    })
    const layer = makeTestLayer({
      config: {
        ...testConfig,
        resilience: { base_delay_s: 15, max_delay_s: 15, max_retries: 1, request_timeout_s: 60, retry_budget_s: 200 },
        budget: { daily_spend_limit: 1, hold_ttl_s: 30 }
      },
      providers
    })
    return Effect.gen(function*() {
      const ledger = yield* Ledger
      const call = yield* Effect.fork(generate({ prompt: "x" }))
      yield* TestClock.adjust("20 seconds") // the retry (after 12-18 s of jittered backoff) is under way
      assert.strictEqual(providers.calls.length, 2)
      const held = yield* ledger.spendToday()
      assert.isAbove(held, 0)
      yield* TestClock.adjust("20 seconds") // 40 s after the hold, at most 28 s after its renewal
      assert.strictEqual(yield* ledger.spendToday(), held)
      yield* Fiber.interrupt(call)
      assert.deepStrictEqual((yield* ledger.events()).map((event) => [event.type, event.status]), [
        ["hold", "ok"],
        ["cancel", "cancelled"]
      ])
    }).pipe(Effect.provide(layer))
  })

  it.effect("a call whose answer takes longer than hold_ttl_s keeps its hold counting while it waits for it", () => {
    const providers = makeMockProviders({ replies: [() => Effect.never] })
    const layer = makeTestLayer({
      config: {
        ...testConfig,
        resilience: { ...testConfig.resilience, request_timeout_s: 300, retry_budget_s: 300 },
        budget: { daily_spend_limit: 1, hold_ttl_s: 40 }
      },
      providers
    })
    return Effect.gen(function*() {
      const ledger = yield* Ledger
      const call = yield* Effect.fork(generate({ prompt: "x" }))
      yield* TestClock.adjust("1 millis")
      const held = yield* ledger.spendToday()
      assert.isAbove(held, 0)
      yield* TestClock.adjust("130 seconds") // more than three TTLs into the one attempt
      assert.strictEqual(providers.calls.length, 1)
      assert.strictEqual(yield* ledger.spendToday(), held)
      yield* Fiber.interrupt(call)
      // no renewal after the settlement
      yield* TestClock.adjust("100 seconds")
      const events = (yield* ledger.events()).map((event) => [event.type, event.status])
      assert.deepStrictEqual(events, [["hold", "ok"], ["cancel", "cancelled"]])
      assert.strictEqual(yield* ledger.spendToday(), 0)
    }).pipe(Effect.provide(layer))
  })

  it.effect("a call made where interruption is off (an acquire, Effect.uninterruptible) still ends once its hold was renewed", () => {
    const providers = makeMockProviders({ replies: [() => Effect.as(Effect.sleep("100 seconds"), "slow answer")] })
    const layer = makeTestLayer({
      config: {
        ...testConfig,
        resilience: { ...testConfig.resilience, request_timeout_s: 300, retry_budget_s: 300 },
        budget: { daily_spend_limit: 1, hold_ttl_s: 30 }
      },
      providers
    })
    return Effect.gen(function*() {
      const ledger = yield* Ledger
      const inAcquire = yield* Effect.fork(
        Effect.scoped(Effect.acquireRelease(generate({ prompt: "x" }), () => Effect.void))
      )
      yield* TestClock.adjust("150 seconds") // renewed at 10 s, 20 s, … 100 s, then answered
      for (let i = 0; i < 50 && Option.isNone(yield* Fiber.poll(inAcquire)); i++) yield* Effect.yieldNow()
      assert.deepStrictEqual(yield* Fiber.poll(inAcquire), Option.some(Exit.succeed("slow answer")))
      assert.deepStrictEqual((yield* ledger.events()).map((event) => event.type), ["hold", "commit"])
    }).pipe(Effect.provide(layer))
  })

  it.effect("a renewal due while a fallback's raise is being written restates the raised hold, not the one it replaced", () => {
    const providers = makeMockProviders({
      replies: [new RetryableError({ reason: "server_error", message: "503" }), () => Effect.never]
    })
    // the raise's row is written, its acknowledgement slow: a renewal falls due in between
    const slowRaise = Layer.effect(
      Ledger,
      Effect.map(Ledger, (inner) => ({
        ...inner,
        raise: (...args: Parameters<typeof inner.raise>) =>
          Effect.tap(inner.raise(...args), () => Effect.sleep("12 seconds"))
      }))
    ).pipe(Layer.provide(layerMemoryLedger({ holdTtlS: 30 })))
    const layer = fallbackLayer(providers, slowRaise)
    return Effect.gen(function*() {
      const ledger = yield* Ledger
      const call = yield* Effect.fork(generate({ prompt: "x", maxOutputTokens: 1000 }))
      yield* TestClock.adjust("2 seconds") // failed, the breaker open, raised for the fallback
      const raised = yield* ledger.spendToday()
      yield* TestClock.adjust("13 seconds") // the renewal due at 10 s, then the fallback's attempt
      assert.strictEqual(yield* ledger.spendToday(), raised)
      assert.strictEqual(providers.calls.length, 2)
      yield* Fiber.interrupt(call)
    }).pipe(Effect.provide(layer))
  })

  it.effect("renewals slower than a third of the TTL (a ledger lock waited out) do not keep a fallback's raise waiting", () => {
    const providers = makeMockProviders({
      replies: [
        () =>
          Effect.zipRight(
            Effect.sleep("10500 millis"),
            Effect.fail(new RetryableError({ reason: "server_error", message: "503" }))
          ),
        "fallback answer"
      ]
    })
    // each renewal takes 20 s, twice the time between renewals
    const slowRenewals = Layer.effect(
      Ledger,
      Effect.map(Ledger, (inner) => ({
        ...inner,
        renew: (...args: Parameters<NonNullable<typeof inner.renew>>) =>
          Effect.zipRight(Effect.sleep("20 seconds"), inner.renew!(...args))
      }))
    ).pipe(Layer.provide(layerMemoryLedger({ holdTtlS: 30 })))
    const layer = fallbackLayer(providers, slowRenewals)
    return Effect.gen(function*() {
      const call = yield* Effect.fork(generate({ prompt: "x", maxOutputTokens: 1000 }))
      // the first attempt fails at 10.5 s, during the renewal begun at 10 s (it ends at 30 s): the raise
      // goes next, before another renewal
      for (let second = 0; second < 45; second++) yield* TestClock.adjust("1 seconds")
      assert.strictEqual(yield* Fiber.join(call), "fallback answer")
      assert.strictEqual(providers.calls.length, 2)
    }).pipe(Effect.provide(layer))
  })

  it.effect("a call that loses the race for a rate-limit slot again and again renews its hold after each wait", () => {
    const providers = makeMockProviders({ otherwise: { content: "ok", usage: { inputTokens: 20, outputTokens: 100 } } })
    const pricing = { input_per_1m: 1000, output_per_1m: 1000 }
    const layer = makeTestLayer({
      config: {
        ...testConfig,
        models: {
          "test-model": { ...testConfig.models["test-model"], limits: { rpm: 1 }, pricing },
          "test-qwen": { ...testConfig.models["test-qwen"], pricing }
        },
        // each wait (60 s at most) is under the TTL, as the README advises; two in a row are not
        resilience: { ...testConfig.resilience, max_wait_timeout_s: 60, retry_budget_s: 300 },
        budget: { daily_spend_limit: 0.4, hold_ttl_s: 100 }
      },
      providers
    })
    return Effect.gen(function*() {
      const ledger = yield* Ledger
      yield* generate({ prompt: "hi", maxOutputTokens: 100 }) // the minute's one slot, taken at 0 s
      const first = yield* Effect.fork(generate({ prompt: "hi", maxOutputTokens: 100 }))
      const second = yield* Effect.fork(generate({ prompt: "hi", maxOutputTokens: 100 }))
      yield* TestClock.adjust("1 millis")
      // at 60 s one waiter takes the slot; the other sleeps again, until 120 s
      yield* TestClock.adjust("61 seconds")
      const spendWhileWaiting = yield* ledger.spendToday()
      yield* TestClock.adjust("45 seconds") // 106 s: past the TTL of the hold made at 0 s, its call still waiting
      assert.strictEqual(yield* ledger.spendToday(), spendWhileWaiting)
      // so a call the waiting one's hold leaves no room for is refused, not sent beside it
      const other = yield* Effect.either(generate({ model: "test-qwen", prompt: "hi", maxOutputTokens: 100 }))
      assert.isTrue(Either.isLeft(other) && other.left._tag === "BudgetExceededError")
      yield* TestClock.adjust("20 seconds")
      yield* Fiber.join(first)
      yield* Fiber.join(second)
      assert.isAtMost(yield* ledger.spendToday(), 0.4)
    }).pipe(Effect.provide(layer))
  })
})
