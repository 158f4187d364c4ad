/**
 * The results file: what an earlier run left (the last line per id decides, a success wins), a last
 * line cut by a killed run truncated away, a complete last line without its line break kept (the
 * next line starts on a new one), and lines written through the run's scrubber.
 */
import * as NodeContext from "@effect/platform-node/NodeContext"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { openWriter, readPrevious, type ResultLine, successLine } from "../../../src/cli/batch/Results.js"
import { GenerationResponse } from "../../../src/domain/GenerationResponse.js"
import { TokenUsage } from "../../../src/domain/TokenUsage.js"

const file = (content: string) => {
  const path = join(mkdtempSync(join(tmpdir(), "effect-llm-results-")), "results.jsonl")
  writeFileSync(path, content)
  return path
}

const line = (id: string, ok: boolean, extra: Partial<ResultLine> = {}): ResultLine => ({
  id,
  ok,
  ...(ok ? { content: `answer ${id}` } : { error: { tag: "FatalError", message: "no" } }),
  alias: "m",
  cost: 0,
  attempts: 1,
  traceId: `trace-${id}`,
  latencyMs: 1,
  finishedAt: "2026-01-01T00:00:00.000Z",
  ...extra
})

const text = (...lines: ReadonlyArray<ResultLine>) => lines.map((l) => `${JSON.stringify(l)}\n`).join("")

describe("batch results file", () => {
  it.effect("reads which ids succeeded and which only failed; a missing file is empty", () =>
    Effect.gen(function*() {
      const path = file(text(line("a", true), line("b", false), line("c", false), line("c", true), line("a", false)))
      const previous = yield* readPrevious(path)
      assert.deepStrictEqual([...previous.succeeded].sort(), ["a", "c"])
      assert.deepStrictEqual([...previous.failed], ["b"])
      assert.deepInclude(previous, { lines: 5, cutBytes: 0, needsNewline: false })
      const none = yield* readPrevious(join(tmpdir(), "no-such-dir-effect-llm", "results.jsonl"))
      assert.deepInclude(none, { lines: 0, cutBytes: 0 })
    }).pipe(Effect.provide(NodeContext.layer)))

  it.effect("cuts an unfinished last line (a killed write) and ignores lines that are not results", () =>
    Effect.gen(function*() {
      const whole = text(line("a", true)) + "not a result\n" + text(line("b", true))
      const path = file(whole + `{"id":"c","ok":tr`)
      const previous = yield* readPrevious(path)
      assert.deepStrictEqual([...previous.succeeded], ["a", "b"])
      assert.deepStrictEqual(previous.unreadable, [2])
      assert.strictEqual(previous.cutBytes, `{"id":"c","ok":tr`.length)
      assert.strictEqual(readFileSync(path, "utf8"), whole)
    }).pipe(Effect.provide(NodeContext.layer)))

  it.effect("keeps a complete last line without a line break, and the next line starts on its own", () =>
    Effect.gen(function*() {
      const path = file(text(line("a", true)).trimEnd())
      const previous = yield* readPrevious(path)
      assert.deepInclude(previous, { cutBytes: 0, needsNewline: true })
      assert.deepStrictEqual([...previous.succeeded], ["a"])
      yield* Effect.scoped(Effect.gen(function*() {
        const writer = yield* openWriter(path, { scrub: (s) => s, needsNewline: previous.needsNewline })
        yield* writer.write(line("b", true))
      }))
      assert.deepStrictEqual(readFileSync(path, "utf8").split("\n").map((l) => l === "" ? "" : JSON.parse(l).id), [
        "a",
        "b",
        ""
      ])
    }).pipe(Effect.provide(NodeContext.layer)))

  it.effect.skipIf(!existsSync("/dev/full"))(
    "a file that cannot take a line (a full disk) fails the run naming the file, and says the call is in the ledger",
    () =>
      Effect.gen(function*() {
        const error = yield* Effect.scoped(Effect.gen(function*() {
          const writer = yield* openWriter("/dev/full", { scrub: (s) => s, needsNewline: false })
          return yield* Effect.flip(writer.write(line("a", true)))
        }))
        assert.strictEqual(error.kind, "FileNotWritable")
        assert.strictEqual(error.exitCode, 1)
        assert.strictEqual(
          error.message,
          "/dev/full: a result could not be written (ENOSPC); its call is in the ledger, and the next run sends it again"
        )
      }).pipe(Effect.provide(NodeContext.layer))
  )

  it.effect("writes every string through the scrubber, keeping the line valid JSON", () =>
    Effect.gen(function*() {
      const path = file("")
      const secret = "sk-secret-\"quoted\"-value"
      yield* Effect.scoped(Effect.gen(function*() {
        const writer = yield* openWriter(path, {
          scrub: (s) => s.split(secret).join("<redacted>"),
          needsNewline: false
        })
        yield* writer.write(line("a", true, { content: `the key is ${secret}` }))
        yield* writer.write(line("b", false, { error: { tag: "FatalError", message: `echo ${secret}` } }))
      }))
      const written = readFileSync(path, "utf8")
      assert.notInclude(written, "sk-secret")
      const [a, b] = written.trim().split("\n").map((l) => JSON.parse(l) as ResultLine)
      assert.strictEqual(a!.content, "the key is <redacted>")
      assert.strictEqual(b!.error!.message, "echo <redacted>")
    }).pipe(Effect.provide(NodeContext.layer)))

  it("a success line names the alias asked for; a fallback's answer names its own model and provider", () => {
    const response = new GenerationResponse({
      content: "hi",
      model: "qwen-plus",
      alias: "qwen-fallback",
      provider: "dashscope",
      endpoint: "dashscope-a",
      usage: new TokenUsage({ inputTokens: 1, outputTokens: 2, totalTokens: 3 }),
      cost: 0.001,
      finishReason: "stop",
      traceId: "t",
      timing: { totalMs: 5 },
      attempts: 2
    })
    const written = successLine({ id: "q1", ok: true, response, traceId: "t", latencyMs: 5 }, "gemini-flash", 0)
    assert.deepStrictEqual([written.alias, written.model, written.provider], ["gemini-flash", "qwen-plus", "dashscope"])
  })
})
