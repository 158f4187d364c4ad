import { assert, describe, it } from "@effect/vitest"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import { peelUntil, type Pull } from "../../src/internal/Peel.js"

/** Every element the pull still gives, to its end (or its failure). */
const drain = <A, E>(pull: Pull<A, E>): Effect.Effect<Array<A>, E> =>
  Effect.gen(function*() {
    const out: Array<A> = []
    while (true) {
      const next = yield* Effect.either(pull)
      if (Either.isRight(next)) out.push(...next.right)
      else if (Option.isNone(next.left)) return out
      else return yield* Effect.fail(next.left.value)
    }
  })

describe("peelUntil", () => {
  it.scoped("splits at the first accepted element, inside a chunk; the same pull gives the rest in order", () =>
    Effect.gen(function*() {
      const pull = yield* Stream.toPull(Stream.fromChunks(Chunk.make(1, 2), Chunk.make(3, 10, 4, 5), Chunk.make(6)))
      const peeled = yield* peelUntil(pull, (n) => n >= 10)
      assert.deepStrictEqual(peeled.prefix, [1, 2, 3, 10])
      assert.deepStrictEqual(Chunk.toArray(peeled.leftover), [4, 5])
      assert.isFalse(peeled.ended)
      assert.deepStrictEqual(yield* drain(pull), [6])
    }))

  it.scoped("a stream that ends first gives the whole prefix and says it ended", () =>
    Effect.gen(function*() {
      const peeled = yield* peelUntil(yield* Stream.toPull(Stream.make(1, 2, 3)), (n) => n > 5)
      assert.deepStrictEqual(peeled.prefix, [1, 2, 3])
      assert.isTrue(peeled.ended)
      assert.strictEqual(Chunk.size(peeled.leftover), 0)
    }))

  it.scoped("a failure before the split fails the peel with the typed error", () =>
    Effect.gen(function*() {
      const pull = yield* Stream.toPull(Stream.concat(Stream.make(1), Stream.fail("cut")))
      assert.strictEqual(yield* Effect.flip(peelUntil(pull, (n) => n > 5)), "cut")
    }))

  it.scoped("a failure after the split reaches the later pulls as the typed error, not a defect", () =>
    Effect.gen(function*() {
      const pull = yield* Stream.toPull(Stream.concat(Stream.make(1, 2, 3), Stream.fail("boom")))
      const peeled = yield* peelUntil(pull, (n) => n === 1)
      assert.deepStrictEqual(Chunk.toArray(peeled.leftover), [2, 3])
      assert.strictEqual(yield* Effect.flip(drain(pull)), "boom")
    }))
})
