/**
 * `internal/Timeout.ts`: the attempt and idle timeouts. Under the live clock they run on a plain
 * timer and one child fiber, or none when the attempt's request can be aborted (these few tests use
 * `it.live` with millisecond timeouts, the only way to reach that path); under `TestClock` they are Effect's own timeouts, driven by the test's clock.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Chunk from "effect/Chunk"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/TestClock"
import * as Timeout from "../../src/internal/Timeout.js"
import { failureOf, pullEndOf } from "../support/Exits.js"

describe("Timeout.timeoutFail under the live clock", () => {
  it.live("fails with the timeout error and interrupts the effect when it runs too long", () =>
    Effect.gen(function*() {
      const interrupted = yield* Deferred.make<void>()
      const result = yield* Timeout.timeoutFail(
        Effect.never.pipe(Effect.onInterrupt(() => Deferred.succeed(interrupted, undefined))),
        Duration.millis(5),
        () => "timed out" as const
      ).pipe(Effect.flip)
      assert.strictEqual(result, "timed out")
      // The effect was interrupted before the timeout error was returned.
      assert.isTrue(yield* Deferred.isDone(interrupted))
    }))

  it.live("passes a success and a failure through unchanged, and logs no unhandled error for the failure", () =>
    Effect.gen(function*() {
      const logs: Array<string> = []
      const logger = Logger.make(({ message }) => logs.push(String(message)))
      const ok = yield* Timeout.timeoutFail(Effect.succeed(42), Duration.seconds(60), () => "timed out")
      assert.strictEqual(ok, 42)
      const failed = yield* Timeout.timeoutFail(Effect.fail("boom"), Duration.seconds(60), () => "timed out").pipe(
        Effect.flip,
        Logger.withMinimumLogLevel(LogLevel.All),
        Effect.provide(Logger.replace(Logger.defaultLogger, logger))
      )
      assert.strictEqual(failed, "boom")
      assert.deepStrictEqual(logs, [])
    }))

  it.live("interrupting the caller interrupts the effect", () =>
    Effect.gen(function*() {
      const started = yield* Deferred.make<void>()
      const interrupted = yield* Deferred.make<void>()
      const fiber = yield* Effect.fork(Timeout.timeoutFail(
        Deferred.succeed(started, undefined).pipe(
          Effect.zipRight(Effect.never),
          Effect.onInterrupt(() => Deferred.succeed(interrupted, undefined))
        ),
        Duration.seconds(60),
        () => "timed out"
      ))
      yield* Deferred.await(started)
      const exit = yield* Fiber.interrupt(fiber)
      assert.isTrue(Exit.isInterrupted(exit))
      assert.isTrue(yield* Deferred.isDone(interrupted))
    }))
})

describe("Timeout.timeoutAbortable under the live clock", () => {
  /** An attempt that waits until its controller is aborted, then fails as a transport would. */
  const untilAborted = (abort: AbortController | undefined) =>
    Effect.async<never, string>((resume) => {
      abort?.signal.addEventListener("abort", () => resume(Effect.fail("request aborted")))
    })

  it.live("aborts the request's controller when the attempt outlasts it, and reports the timeout", () =>
    Effect.gen(function*() {
      let given: AbortController | undefined
      const error = yield* Timeout.timeoutAbortable(
        (abort) => {
          given = abort
          return untilAborted(abort)
        },
        true,
        Duration.millis(5),
        () => "timed out" as const
      ).pipe(Effect.flip)
      assert.strictEqual(error, "timed out")
      assert.isTrue(given?.signal.aborted === true, "the attempt was given a controller, then it was aborted")
    }))

  it.live("passes a success and a failure through, and never aborts a request that ended", () =>
    Effect.gen(function*() {
      const controllers: Array<AbortController | undefined> = []
      const ok = yield* Timeout.timeoutAbortable(
        (abort) => {
          controllers.push(abort)
          return Effect.succeed(42)
        },
        true,
        Duration.millis(5),
        () => "timed out"
      )
      const failed = yield* Timeout.timeoutAbortable(
        (abort) => {
          controllers.push(abort)
          return Effect.fail("boom")
        },
        true,
        Duration.millis(5),
        () => "timed out"
      ).pipe(Effect.flip)
      assert.strictEqual(ok, 42)
      assert.strictEqual(failed, "boom")
      yield* Effect.sleep(Duration.millis(30))
      assert.deepStrictEqual(controllers.map((abort) => abort?.signal.aborted), [false, false])
    }))

  it.live("a value that arrives after the abort: still the answer, unless it reads the aborted request", () =>
    Effect.gen(function*() {
      // The attempt does not hear the abort: its value comes at 30 ms, the timer fires at 5 ms.
      const late = () => Effect.as(Effect.sleep(Duration.millis(30)), "value")
      const answer = yield* Timeout.timeoutAbortable(late, true, Duration.millis(5), () => "timed out")
      const stream = yield* Timeout.timeoutAbortable(late, true, Duration.millis(5), () => "timed out", {
        resultReadsRequest: true
      }).pipe(Effect.flip)
      const inTime = yield* Timeout.timeoutAbortable(late, true, Duration.millis(200), () => "timed out", {
        resultReadsRequest: true
      })
      assert.deepStrictEqual([answer, stream, inTime], ["value", "timed out", "value"])
    }))

  it.live("a defect after the abort is reported as the defect, not as the timeout", () =>
    Effect.gen(function*() {
      const exit = yield* Timeout.timeoutAbortable(
        (abort) => Effect.flatMap(Effect.either(untilAborted(abort)), () => Effect.die(new Error("bug"))),
        true,
        Duration.millis(5),
        () => "timed out"
      ).pipe(Effect.exit)
      assert.isTrue(Exit.isFailure(exit) && Cause.isDie(exit.cause))
    }))

  it.live("interrupting the caller aborts the request", () =>
    Effect.gen(function*() {
      const started = yield* Deferred.make<AbortController | undefined>()
      const fiber = yield* Effect.fork(Timeout.timeoutAbortable(
        (abort) => Effect.zipRight(Deferred.succeed(started, abort), Effect.never),
        true,
        Duration.seconds(60),
        () => "timed out"
      ))
      const abort = yield* Deferred.await(started)
      assert.isFalse(abort!.signal.aborted)
      const exit = yield* Fiber.interrupt(fiber)
      assert.isTrue(Exit.isInterrupted(exit))
      assert.isTrue(abort!.signal.aborted)
    }))

  it.live("a client that does not honour a controller gets none, and its attempt is interrupted", () =>
    Effect.gen(function*() {
      const interrupted = yield* Deferred.make<void>()
      let given: AbortController | undefined = new AbortController()
      const error = yield* Timeout.timeoutAbortable(
        (abort) => {
          given = abort
          return Effect.never.pipe(Effect.onInterrupt(() => Deferred.succeed(interrupted, undefined)))
        },
        false,
        Duration.millis(5),
        () => "timed out" as const
      ).pipe(Effect.flip)
      assert.strictEqual(error, "timed out")
      assert.isUndefined(given)
      assert.isTrue(yield* Deferred.isDone(interrupted))
    }))
})

describe("Timeout under TestClock", () => {
  it.effect("the timeout waits for the test's clock", () =>
    Effect.gen(function*() {
      const fiber = yield* Effect.fork(Timeout.timeoutFail(Effect.never, Duration.seconds(30), () => "timed out"))
      yield* TestClock.adjust(Duration.seconds(29))
      assert.isTrue((yield* Fiber.poll(fiber))._tag === "None", "still running before the timeout")
      yield* TestClock.adjust(Duration.seconds(1))
      const exit = yield* Fiber.await(fiber)
      assert.strictEqual(failureOf(exit), "timed out")
    }))

  it.effect("timeoutAbortable follows the test's clock and gives no controller (the attempt is interrupted)", () =>
    Effect.gen(function*() {
      let given: AbortController | undefined = new AbortController()
      const fiber = yield* Effect.fork(Timeout.timeoutAbortable(
        (abort) => {
          given = abort
          return Effect.never
        },
        true,
        Duration.seconds(30),
        () => "timed out"
      ))
      yield* TestClock.adjust(Duration.seconds(29))
      assert.isTrue((yield* Fiber.poll(fiber))._tag === "None", "still running before the timeout")
      yield* TestClock.adjust(Duration.seconds(1))
      assert.strictEqual(failureOf(yield* Fiber.await(fiber)), "timed out")
      assert.isUndefined(given)
    }))

  it.scoped("idleTimeout fails a pull that goes silent, after the chunks that came in time", () =>
    Effect.gen(function*() {
      const pull = Timeout.idleTimeout(
        yield* Stream.toPull(Stream.concat(Stream.make(1, 2), Stream.never)),
        { duration: Duration.seconds(10), onIdle: () => "idle" }
      )
      assert.deepStrictEqual(Chunk.toReadonlyArray(yield* pull), [1, 2])
      const fiber = yield* Effect.fork(pull)
      yield* TestClock.adjust(Duration.seconds(9))
      assert.isTrue((yield* Fiber.poll(fiber))._tag === "None", "still waiting before the timeout")
      yield* TestClock.adjust(Duration.seconds(1))
      assert.strictEqual(pullEndOf(yield* Fiber.await(fiber)), "idle")
    }))
})
