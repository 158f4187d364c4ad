/**
 * `internal/PullStream.ts`: the stream's scope closes with the stream's own exit — its end, its own
 * failure or defect, an interruption — and, when its consumer stopped pulling because a later stage
 * of its own failed, as a stream stopped early (a success, as with `Stream.take`).
 */
import { assert, describe, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Chunk from "effect/Chunk"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { fromScopedPull } from "../../src/internal/PullStream.js"

const span = { name: "test", options: {} }

/**
 * A stream of 1, 2, … whose pull, at `last`, ends (`"end"`), fails with `"ours"` or dies, consumed by
 * `consume`; returns the exit its scope closed with.
 */
const scopeExit = (
  last: number,
  ending: "end" | "fail" | "die",
  consume: (stream: Stream.Stream<number, string>) => Effect.Effect<unknown, unknown>
) =>
  Effect.gen(function*() {
    const closed = yield* Deferred.make<Exit.Exit<unknown, unknown>>()
    let n = 0
    const pull: Effect.Effect<Chunk.Chunk<number>, Option.Option<string>> = Effect.suspend(() => {
      n += 1
      if (n < last) return Effect.succeed(Chunk.of(n))
      return ending === "end" ? Effect.fail(Option.none()) : ending === "fail"
        ? Effect.fail(Option.some("ours"))
        : Effect.die("our bug")
    })
    const stream = fromScopedPull(
      (scope) => Effect.as(Scope.addFinalizerExit(scope, (exit) => Deferred.succeed(closed, exit)), pull),
      span
    )
    yield* Effect.exit(consume(stream))
    return yield* Deferred.await(closed)
  })

describe("fromScopedPull", () => {
  it.effect("a consumer whose later stage fails or dies closes the scope as stopped early, not with its error", () =>
    Effect.gen(function*() {
      const failed = yield* scopeExit(
        10,
        "end",
        (stream) =>
          Stream.runDrain(Stream.mapEffect(stream, (n) => n === 2 ? Effect.fail("theirs") : Effect.succeed(n)))
      )
      assert.isTrue(Exit.isSuccess(failed), String(failed))
      const died = yield* scopeExit(10, "end", (stream) => Stream.runForEach(stream, () => Effect.die("their bug")))
      assert.isTrue(Exit.isSuccess(died), String(died))
      const taken = yield* scopeExit(10, "end", (stream) => Stream.runDrain(Stream.take(stream, 2)))
      assert.isTrue(Exit.isSuccess(taken))
    }))

  it.effect("its own failure or defect closes the scope with it, even when the consumer recovers", () =>
    Effect.gen(function*() {
      const failed = yield* scopeExit(
        3,
        "fail",
        (stream) => Stream.runDrain(Stream.catchAll(stream, () => Stream.empty))
      )
      assert.deepStrictEqual(failed, Exit.fail("ours"))
      const died = yield* scopeExit(3, "die", Stream.runDrain)
      assert.isTrue(Exit.isFailure(died) && Option.isSome(Cause.dieOption(died.cause)), String(died))
      const ended = yield* scopeExit(3, "end", Stream.runDrain)
      assert.isTrue(Exit.isSuccess(ended))
    }))

  it.effect("an interrupted consumer closes the scope interrupted", () =>
    Effect.gen(function*() {
      const closed = yield* Deferred.make<Exit.Exit<unknown, unknown>>()
      const pulled = yield* Deferred.make<void>()
      const stream = fromScopedPull(
        (scope) =>
          Effect.as(
            Scope.addFinalizerExit(scope, (exit) => Deferred.succeed(closed, exit)),
            Effect.zipRight(Deferred.succeed(pulled, undefined), Effect.never)
          ),
        span
      )
      const fiber = yield* Effect.fork(Stream.runDrain(stream))
      yield* Deferred.await(pulled)
      yield* Fiber.interrupt(fiber)
      const exit = yield* Deferred.await(closed)
      assert.isTrue(Exit.isFailure(exit) && Cause.isInterruptedOnly(exit.cause), String(exit))
    }))
})
