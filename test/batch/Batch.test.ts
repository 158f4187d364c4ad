/**
 * `runBatch` over the whole client (scripted providers, in-memory ledger): results in completion
 * order, never more than `concurrency` calls in flight (measured with a gated fake provider), the
 * stop policy on a budget refusal (in-flight items settle, nothing more is admitted), per-item
 * failures recorded as results and in the ledger, and a halt from outside (`haltWhen`).
 */
import { assert, describe, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Chunk from "effect/Chunk"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import type * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as ManagedRuntime from "effect/ManagedRuntime"
import * as Queue from "effect/Queue"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/TestClock"
import { type BatchItem, type BatchResult, BatchStoppedError, runBatch } from "../../src/batch/Batch.js"
import { withCallContext } from "../../src/call/CallContext.js"
import { FatalError, RetryableError } from "../../src/domain/Errors.js"
import { textOf } from "../../src/domain/Prompt.js"
import { makeMockProviders, makeTestLayer, type MockCall, testConfig } from "../../src/layers/Test.js"
import type { ProviderAnswer } from "../../src/providers/Provider.js"
import { Ledger } from "../../src/services/Ledger.js"

const answer = (content: string): ProviderAnswer => ({
  content,
  reasoning: undefined,
  usage: { inputTokens: 10, outputTokens: 5, totalTokens: 15 },
  finishReason: "stop",
  requestId: undefined,
  modelVersion: undefined
})

const promptOf = (call: MockCall): string => textOf(call.request.messages[call.request.messages.length - 1]!)

const items = (...prompts: ReadonlyArray<string>): Stream.Stream<BatchItem> =>
  Stream.fromIterable(prompts.map((prompt) => ({ id: prompt, request: { prompt } })))

const layerWith = (reply: (call: MockCall) => Effect.Effect<ProviderAnswer, FatalError | RetryableError>) =>
  makeTestLayer({ providers: makeMockProviders({ otherwise: reply }), config: testConfig })

const summary = (result: BatchResult) => result.ok ? `${result.id} ok` : `${result.id} ${result.error._tag}`

/**
 * A fake provider whose calls wait until the test releases them: each arrival is queued with its
 * release; `inFlight` / `maxInFlight` count the calls between arrival and release.
 */
const gated = Effect.gen(function*() {
  const arrivals = yield* Queue.unbounded<{ readonly prompt: string; readonly release: Deferred.Deferred<void> }>()
  const counts = { inFlight: 0, maxInFlight: 0, calls: 0 }
  const reply = (call: MockCall) =>
    Effect.gen(function*() {
      const release = yield* Deferred.make<void>()
      counts.calls++
      counts.inFlight++
      counts.maxInFlight = Math.max(counts.maxInFlight, counts.inFlight)
      yield* Queue.offer(arrivals, { prompt: promptOf(call), release })
      yield* Effect.ensuring(Deferred.await(release), Effect.sync(() => counts.inFlight--))
      return answer(`answer to ${promptOf(call)}`)
    })
  return { arrivals, counts, reply }
})

/** Gives every other fiber many chances to run (a call that could start would have by then). */
const settle = Effect.repeatN(Effect.yieldNow(), 50)

describe("runBatch", () => {
  it.effect("an item read without its request (a null or missing one) fails alone, as invalid_request; the others run", () =>
    Effect.gen(function*() {
      const input = Stream.fromIterable<BatchItem>([
        { id: "null", request: null as never },
        { id: "missing" } as never,
        { id: "fine", request: { prompt: "fine" } }
      ])
      const results = Chunk.toReadonlyArray(
        yield* runBatch(input, { concurrency: 1 }).pipe(
          Stream.runCollect,
          Effect.provide(layerWith((call) => Effect.succeed(answer(`answer to ${promptOf(call)}`))))
        )
      )
      assert.deepStrictEqual(results.map(summary), ["null FatalError", "missing FatalError", "fine ok"])
      for (const result of results.slice(0, 2)) assert.isTrue(!result.ok && result.error.reason === "invalid_request")
    }))

  it.effect("a trace id holding a configured secret: each result's traceId is its ledger events' key (scrubbed), success and failure", () =>
    Effect.gen(function*() {
      const input = Stream.fromIterable<BatchItem>([
        { id: "ok", request: { prompt: "fine", traceId: "job-test-key-1" } },
        { id: "bad", request: { prompt: "fail", traceId: "job-test-key-2" } }
      ])
      const results = Chunk.toReadonlyArray(yield* Stream.runCollect(runBatch(input, { concurrency: 1 })))
      assert.deepStrictEqual(results.map(summary), ["ok ok", "bad FatalError"])
      const ledger = yield* Ledger
      for (const result of results) {
        assert.notInclude(result.traceId, "test-key")
        assert.isAbove((yield* ledger.events({ traceId: result.traceId })).length, 0, result.traceId)
      }
    }).pipe(Effect.provide(layerWith((call) =>
      promptOf(call) === "fail"
        ? Effect.fail(new FatalError({ reason: "invalid_request", message: "no", status: 400 }))
        : Effect.succeed(answer("yes"))
    ))))

  it.effect("emits results in completion order, not input order", () =>
    Effect.gen(function*() {
      // Each prompt names how long its call takes; the TestClock drives them.
      const layer = layerWith((call) => Effect.as(Effect.sleep(Number(promptOf(call).slice(1)) * 1000), answer("ok")))
      const fiber = yield* runBatch(items("a3", "b1", "c2"), { concurrency: 3 }).pipe(
        Stream.runCollect,
        Effect.provide(layer),
        Effect.fork
      )
      yield* TestClock.adjust("3 seconds")
      const results = Chunk.toReadonlyArray(yield* Fiber.join(fiber))
      assert.deepStrictEqual(results.map(summary), ["b1 ok", "c2 ok", "a3 ok"])
      assert.deepStrictEqual(results.map((r) => r.latencyMs), [1000, 2000, 3000])
      for (const result of results) {
        assert.isTrue(result.ok && result.response.traceId === result.traceId && result.response.content === "ok")
      }
    }))

  it.effect("never has more than `concurrency` calls in flight, and keeps that many busy", () =>
    Effect.gen(function*() {
      const { arrivals, counts, reply } = yield* gated
      const prompts = Array.from({ length: 12 }, (_, i) => `item-${i}`)
      const fiber = yield* runBatch(items(...prompts), { concurrency: 3 }).pipe(
        Stream.runCollect,
        Effect.provide(layerWith(reply)),
        Effect.fork
      )
      const released: Array<string> = []
      const waiting: Array<{ readonly prompt: string; readonly release: Deferred.Deferred<void> }> = []
      while (released.length < prompts.length) {
        while (waiting.length < Math.min(3, prompts.length - released.length)) waiting.push(yield* Queue.take(arrivals))
        yield* settle
        // Saturated at the bound: three calls waiting and no fourth arriving.
        assert.strictEqual(yield* Queue.size(arrivals), 0)
        assert.strictEqual(counts.inFlight, waiting.length)
        // Release the newest first, so completion order differs from input order.
        const next = waiting.pop()!
        released.push(next.prompt)
        yield* Deferred.succeed(next.release, undefined)
      }
      const results = Chunk.toReadonlyArray(yield* Fiber.join(fiber))
      assert.strictEqual(counts.maxInFlight, 3)
      assert.strictEqual(counts.calls, 12)
      assert.deepStrictEqual(results.map((r) => r.id), released)
      assert.notDeepEqual(released, prompts)
    }))

  it.effect("a worker takes its next item only once its result is consumed: at most `concurrency` calls are ever ahead of the consumer (what a kill -9 can catch between ledger and file)", () =>
    Effect.gen(function*() {
      let calls = 0
      let consumed = 0
      let mostAhead = 0
      const layer = layerWith(() => Effect.sync(() => (calls++, answer("ok"))))
      const prompts = Array.from({ length: 30 }, (_, i) => `item-${i}`)
      yield* runBatch(items(...prompts), { concurrency: 3 }).pipe(
        // a slow consumer (a file writer): every other fiber gets many chances to run ahead of it
        Stream.runForEach(() =>
          Effect.zipRight(
            settle,
            Effect.sync(() => {
              mostAhead = Math.max(mostAhead, calls - consumed)
              consumed++
            })
          )
        ),
        Effect.provide(layer)
      )
      assert.strictEqual(consumed, 30)
      assert.isAtMost(mostAhead, 3)
    }))

  it.effect("a budget refusal stops admitting: the call in flight settles and is emitted, then BatchStoppedError", () =>
    Effect.gen(function*() {
      const { arrivals, counts, reply } = yield* gated
      // testConfig's daily limit is $1.00 and output costs $2 / 1M tokens: 1M output tokens cannot fit.
      const input = Stream.fromIterable<BatchItem>([
        { id: "a", request: { prompt: "a" } },
        { id: "too-big", request: { prompt: "b", maxOutputTokens: 1_000_000 } },
        { id: "c", request: { prompt: "c" } },
        { id: "d", request: { prompt: "d" } }
      ])
      const emitted: Array<string> = []
      const fiber = yield* runBatch(input, { concurrency: 2 }).pipe(
        Stream.runForEach((result) => Effect.sync(() => emitted.push(summary(result)))),
        Effect.either,
        Effect.provide(layerWith(reply)),
        Effect.fork
      )
      const first = yield* Queue.take(arrivals)
      yield* settle
      assert.deepStrictEqual(emitted, ["too-big BudgetExceededError"])
      assert.strictEqual(counts.calls, 1) // c and d were not admitted
      yield* Deferred.succeed(first.release, undefined)
      const outcome = yield* Fiber.join(fiber)
      assert.deepStrictEqual(emitted, ["too-big BudgetExceededError", "a ok"])
      assert.isTrue(Either.isLeft(outcome))
      const stopped = Either.getLeft(outcome).pipe((option) => option._tag === "Some" ? option.value : undefined)
      assert.instanceOf(stopped, BatchStoppedError)
      assert.strictEqual(stopped!.id, "too-big")
      assert.strictEqual(stopped!.error._tag, "BudgetExceededError")
      assert.strictEqual(counts.calls, 1)
    }))

  it.effect("stopOn: \"never\" tries every item; \"error\" stops on any failure", () =>
    Effect.gen(function*() {
      const refuse = (id: string): BatchItem => ({ id, request: { prompt: id, maxOutputTokens: 1_000_000 } })
      const input = Stream.fromIterable<BatchItem>([refuse("x"), { id: "y", request: { prompt: "y" } }, refuse("z")])
      const layer = layerWith((call) =>
        promptOf(call) === "bad" ?
          Effect.fail(new FatalError({ reason: "bad_response", message: "garbled" })) :
          Effect.succeed(answer("ok"))
      )
      const never = yield* runBatch(input, { concurrency: 1, stopOn: "never" }).pipe(
        Stream.runCollect,
        Effect.provide(layer)
      )
      assert.deepStrictEqual(Chunk.toReadonlyArray(never).map(summary), [
        "x BudgetExceededError",
        "y ok",
        "z BudgetExceededError"
      ])

      const emitted: Array<string> = []
      const onError = yield* runBatch(items("ok-1", "bad", "ok-2"), { concurrency: 1, stopOn: "error" }).pipe(
        Stream.runForEach((result) => Effect.sync(() => emitted.push(summary(result)))),
        Effect.flip,
        Effect.provide(layer)
      )
      assert.deepStrictEqual(emitted, ["ok-1 ok", "bad FatalError"])
      assert.strictEqual(onError._tag, "BatchStoppedError")
      assert.deepInclude(onError, { id: "bad" })
    }))

  it.effect("per-item failures are that item's result, the batch goes on, and the ledger records each", () =>
    Effect.gen(function*() {
      const layer = layerWith((call) => {
        const prompt = promptOf(call)
        return prompt === "fatal"
          ? Effect.fail(new FatalError({ reason: "permission_denied", message: "403 forbidden", status: 403 }))
          : prompt === "down"
          ? Effect.fail(new RetryableError({ reason: "server_error", message: "503", status: 503 }))
          : Effect.succeed(answer(`answer to ${prompt}`))
      })
      const program = Effect.gen(function*() {
        const fiber = yield* runBatch(items("one", "fatal", "two", "down", "three"), { concurrency: 2 }).pipe(
          Stream.runCollect,
          Effect.fork
        )
        // "down" retries on testConfig's millisecond backoffs: the TestClock moves them along.
        yield* TestClock.adjust("1 minute")
        const results = Chunk.toReadonlyArray(yield* Fiber.join(fiber))
        const events = yield* (yield* Ledger).events()
        return { results, events }
      })
      const { events, results } = yield* Effect.provide(program, layer)
      assert.deepStrictEqual(results.map(summary).sort(), [
        "down RetryableError",
        "fatal FatalError",
        "one ok",
        "three ok",
        "two ok"
      ])
      for (const result of results) {
        const settled = events.filter((e) => e.traceId === result.traceId && e.type !== "hold")
        assert.deepStrictEqual(
          settled.map((e) => [e.type, e.status]),
          [result.ok ? ["commit", "ok"] : ["cancel", "error"]],
          result.id
        )
        if (!result.ok) assert.strictEqual(settled[0]!.error?.tag, result.error._tag)
      }
      const down = results.find((r) => r.id === "down")!
      assert.isAbove(events.find((e) => e.traceId === down.traceId && e.type === "cancel")!.attempts!, 1)
    }))

  it.effect("haltWhen stops admitting; the calls in flight settle and the stream ends", () =>
    Effect.gen(function*() {
      const { arrivals, counts, reply } = yield* gated
      const stop = yield* Deferred.make<void>()
      const fiber = yield* runBatch(items("a", "b", "c", "d"), { concurrency: 2, haltWhen: Deferred.await(stop) }).pipe(
        Stream.runCollect,
        Effect.provide(layerWith(reply)),
        Effect.fork
      )
      const a = yield* Queue.take(arrivals)
      const b = yield* Queue.take(arrivals)
      yield* Deferred.succeed(stop, undefined)
      yield* settle
      yield* Deferred.succeed(b.release, undefined)
      yield* Deferred.succeed(a.release, undefined)
      const results = Chunk.toReadonlyArray(yield* Fiber.join(fiber))
      assert.deepStrictEqual(results.map(summary), ["b ok", "a ok"])
      assert.strictEqual(counts.calls, 2)
    }))

  it.effect("cancelWhen cancels the calls in flight (settled `cancelled`), emits what settled, admits nothing more", () =>
    Effect.gen(function*() {
      const { arrivals, counts, reply } = yield* gated
      const cancel = yield* Deferred.make<void>()
      const program = Effect.gen(function*() {
        const fiber = yield* runBatch(items("a", "b", "c", "d"), { concurrency: 2, cancelWhen: Deferred.await(cancel) })
          .pipe(Stream.runCollect, Effect.fork)
        const a = yield* Queue.take(arrivals)
        yield* Queue.take(arrivals)
        yield* Deferred.succeed(a.release, undefined)
        const c = yield* Queue.take(arrivals) // a's slot went to c
        yield* settle
        yield* Deferred.succeed(cancel, undefined)
        const results = Chunk.toReadonlyArray(yield* Fiber.join(fiber))
        yield* Deferred.succeed(c.release, undefined) // too late: c was cancelled
        const events = yield* (yield* Ledger).events()
        return { results, events }
      })
      const { events, results } = yield* Effect.provide(program, layerWith(reply))
      assert.deepStrictEqual(results.map(summary), ["a ok"])
      assert.strictEqual(counts.calls, 3)
      assert.deepStrictEqual(
        events.filter((e) => e.type !== "hold").map((e) => [e.type, e.status]),
        [["commit", "ok"], ["cancel", "cancelled"], ["cancel", "cancelled"]]
      )
    }))

  it.effect("interrupting the stream cancels the calls in flight (settled `cancelled`)", () =>
    Effect.gen(function*() {
      const { arrivals, reply } = yield* gated
      const program = Effect.gen(function*() {
        const fiber = yield* runBatch(items("a", "b", "c"), { concurrency: 2 }).pipe(Stream.runCollect, Effect.fork)
        yield* Queue.take(arrivals)
        yield* Queue.take(arrivals)
        yield* Fiber.interrupt(fiber)
        return yield* (yield* Ledger).events()
      })
      const events = yield* Effect.provide(program, layerWith(reply))
      assert.deepStrictEqual(
        events.filter((e) => e.type !== "hold").map((e) => [e.type, e.status]),
        [["cancel", "cancelled"], ["cancel", "cancelled"]]
      )
    }))

  it.effect("a failing input stops admitting; the calls in flight settle, then the stream fails with its error", () =>
    Effect.gen(function*() {
      const { arrivals, counts, reply } = yield* gated
      const input = Stream.concat(items("a", "b"), Stream.fail("input broken" as const))
      const emitted: Array<string> = []
      const fiber = yield* runBatch(input, { concurrency: 4 }).pipe(
        Stream.runForEach((result) => Effect.sync(() => emitted.push(summary(result)))),
        Effect.flip,
        Effect.provide(layerWith(reply)),
        Effect.fork
      )
      const a = yield* Queue.take(arrivals)
      const b = yield* Queue.take(arrivals)
      yield* settle
      yield* Deferred.succeed(b.release, undefined)
      yield* Deferred.succeed(a.release, undefined)
      assert.strictEqual(yield* Fiber.join(fiber), "input broken")
      assert.deepStrictEqual(emitted, ["b ok", "a ok"])
      assert.strictEqual(counts.calls, 2)
    }))

  it.effect("keeps a request's own trace id; a concurrency outside 1..1000 is a defect", () =>
    Effect.gen(function*() {
      const layer = layerWith(() => Effect.succeed(answer("ok")))
      const [result] = yield* runBatch(Stream.make({ id: "t", request: { prompt: "p", traceId: "my-trace" } }), {
        concurrency: 1
      }).pipe(Stream.runCollect, Effect.map(Chunk.toReadonlyArray), Effect.provide(layer))
      assert.strictEqual(result!.traceId, "my-trace")
      const exit = yield* runBatch(items("p"), { concurrency: 0 }).pipe(
        Stream.runDrain,
        Effect.provide(layer),
        Effect.exit
      )
      assert.isTrue(exit._tag === "Failure" && exit.cause._tag === "Die")
      const tooMany = yield* runBatch(items("p"), { concurrency: 1001 }).pipe(
        Stream.runDrain,
        Effect.provide(layer),
        Effect.exit
      )
      assert.isTrue(tooMany._tag === "Failure" && tooMany.cause._tag === "Die")
    }))

  it.effect("an unknown stopOn is a defect before any item is called (not at the first failure, after paying for calls)", () =>
    Effect.gen(function*() {
      let calls = 0
      const layer = layerWith(() => Effect.sync(() => calls++).pipe(Effect.as(answer("ok"))))
      const exit = yield* runBatch(items("p", "q"), { concurrency: 1, stopOn: "errors" as never }).pipe(
        Stream.runDrain,
        Effect.provide(layer),
        Effect.exit
      )
      assert.isTrue(exit._tag === "Failure" && exit.cause._tag === "Die")
      assert.strictEqual(calls, 0)
    }))

  it.effect("an item without a trace id of its own gets withCallContext's; the request's own still wins", () =>
    Effect.gen(function*() {
      const layer = layerWith(() => Effect.succeed(answer("ok")))
      const results = yield* runBatch(
        Stream.make({ id: "a", request: { prompt: "p" } }, { id: "b", request: { prompt: "q", traceId: "own" } }),
        { concurrency: 1 }
      ).pipe(
        Stream.runCollect,
        Effect.map(Chunk.toReadonlyArray),
        withCallContext({ traceId: "job-1" }),
        Effect.provide(layer)
      )
      assert.deepStrictEqual(results.map((result) => [result.id, result.traceId]), [["a", "job-1"], ["b", "own"]])
    }))

  it.effect("a defect in one item's call fails the stream with it: the item is not left out silently", () =>
    Effect.gen(function*() {
      const layer = layerWith((call) => promptOf(call) === "b" ? Effect.die("boom") : Effect.succeed(answer("ok")))
      const emitted: Array<string> = []
      const exit = yield* runBatch(items("a", "b", "c"), { concurrency: 1 }).pipe(
        Stream.runForEach((result) => Effect.sync(() => emitted.push(summary(result)))),
        Effect.provide(layer),
        Effect.exit
      )
      assert.isTrue(exit._tag === "Failure" && Cause.isDie(exit.cause), String(exit))
      assert.deepStrictEqual(Cause.squash((exit as Exit.Failure<never, never>).cause), "boom")
      // the item after it is not taken
      assert.deepStrictEqual(emitted, ["a ok"])
    }))

  it.effect("a runtime disposed under a batch ends it with an interruption, never a success with items missing", () =>
    Effect.gen(function*() {
      const { arrivals, counts, reply } = yield* gated
      const runtime = ManagedRuntime.make(layerWith(reply))
      const fiber = runtime.runFork(
        runBatch(items("a", "b", "c", "d", "e"), { concurrency: 2 }).pipe(Stream.runCollect)
      )
      yield* Queue.take(arrivals)
      yield* Queue.take(arrivals)
      yield* Effect.promise(() => runtime.dispose())
      const exit = yield* Fiber.await(fiber)
      assert.isTrue(exit._tag === "Failure" && Cause.isInterrupted(exit.cause), String(exit))
      // nothing after the two in flight was sent
      assert.strictEqual(counts.calls, 2)
    }))

  it.effect("an item's call interrupted from outside (not by cancelWhen) fails the stream: the item is not left out silently", () =>
    Effect.gen(function*() {
      const layer = layerWith((call) => promptOf(call) === "b" ? Effect.interrupt : Effect.succeed(answer("ok")))
      const emitted: Array<string> = []
      const exit = yield* runBatch(items("a", "b", "c"), { concurrency: 1 }).pipe(
        Stream.runForEach((result) => Effect.sync(() => emitted.push(summary(result)))),
        Effect.provide(layer),
        Effect.exit
      )
      assert.isTrue(exit._tag === "Failure" && Cause.isInterrupted(exit.cause), String(exit))
      assert.deepStrictEqual(emitted, ["a ok"])
    }))
})
