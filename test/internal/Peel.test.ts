import { assert, describe, it } from "@effect/vitest"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Stream from "effect/Stream"
import { peelUntil } from "../../src/internal/Peel.js"

describe("peelUntil", () => {
  it.scoped("splits at the first accepted element, inside a chunk, keeping the order of the rest", () =>
    Effect.gen(function*() {
      const stream = Stream.fromChunks(Chunk.make(1, 2), Chunk.make(3, 10, 4, 5), Chunk.make(6))
      const { prefix, rest } = yield* peelUntil(stream, (n) => n >= 10)
      assert.deepStrictEqual(prefix, [1, 2, 3, 10])
      assert.deepStrictEqual(Chunk.toArray(yield* Stream.runCollect(rest)), [4, 5, 6])
    }))

  it.scoped("a stream that ends first gives the whole prefix and an empty rest", () =>
    Effect.gen(function*() {
      const { prefix, rest } = yield* peelUntil(Stream.make(1, 2, 3), (n) => n > 5)
      assert.deepStrictEqual(prefix, [1, 2, 3])
      assert.strictEqual(Chunk.size(yield* Stream.runCollect(rest)), 0)
    }))

  it.scoped("a failure before the split fails the peel with the typed error", () =>
    Effect.gen(function*() {
      const result = yield* Effect.either(peelUntil(Stream.concat(Stream.make(1), Stream.fail("cut")), (n) => n > 5))
      assert.deepStrictEqual(result, Either.left("cut"))
    }))

  it.scoped("a failure after the split reaches the rest as the typed error, not a defect (Stream.peel's in effect 3.22)", () =>
    Effect.gen(function*() {
      const { rest } = yield* peelUntil(Stream.concat(Stream.make(1, 2, 3), Stream.fail("boom")), (n) => n === 1)
      const result = yield* Effect.either(Stream.runCollect(rest))
      assert.deepStrictEqual(Either.map(result, Chunk.toArray), Either.left("boom"))
    }))
})
