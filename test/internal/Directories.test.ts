/** Making a file's directories one level at a time (Node 20's recursive mkdir hangs under /proc). */
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { makeDirectories } from "../../src/internal/Directories.js"

const tempDir = () => Fs.mkdtempSync(Path.join(Os.tmpdir(), "effect-llm-dirs-"))

describe("makeDirectories", () => {
  it.effect("makes every missing level, and is a no-op for directories that exist", () =>
    Effect.gen(function*() {
      const nested = Path.join(tempDir(), "a", "b", "c")
      yield* makeDirectories(nested)
      assert.isTrue(Fs.statSync(nested).isDirectory())
      yield* makeDirectories(nested)
    }))

  it.effect("a file in the way fails with SystemError naming the path", () =>
    Effect.gen(function*() {
      const blocker = Path.join(tempDir(), "file")
      Fs.writeFileSync(blocker, "not a directory")
      const error = yield* Effect.flip(makeDirectories(Path.join(blocker, "sub")))
      assert.strictEqual(error._tag, "SystemError")
      assert.strictEqual(error.pathOrDescriptor, Path.join(blocker, "sub"))
      assert.include(error.message, "ENOTDIR")
    }))

  // Node 20's `mkdirSync(…, { recursive: true })` never returns for this path.
  it.effect.skipIf(!Fs.existsSync("/proc/self"))(
    "a path under /proc fails with SystemError NotFound",
    () =>
      Effect.gen(function*() {
        const error = yield* Effect.flip(makeDirectories("/proc/effect-llm-nope/sub"))
        assert.strictEqual(error.reason, "NotFound")
      })
  )
})
