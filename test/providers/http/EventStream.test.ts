import { assert, describe, it } from "@effect/vitest"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Stream from "effect/Stream"
import { FatalError, type LLMError, RetryableError } from "../../../src/domain/Errors.js"
import type { FinishReason } from "../../../src/domain/FinishReason.js"
import * as EventStream from "../../../src/providers/http/EventStream.js"
import * as EventText from "../../../src/providers/http/EventText.js"
import type { StreamPart } from "../../../src/providers/Provider.js"

const context = { provider: "test", endpoint: "test-1" }
const bytes = (...texts: ReadonlyArray<string>) =>
  Stream.fromIterable(texts.map((text) => new TextEncoder().encode(text)))

/** A handler for `data: <text>` events: `finish:<reason>` sets the finish, `fail` fails, `end` ends; other data is a delta. */
const handler = (): EventStream.EventHandler => {
  let finish: FinishReason | undefined
  const raw = EventText.rawJson(context)
  return {
    onEvent: (event, out) => {
      if (event.raw.length > 0) {
        const step = raw.add(event.raw, event.unterminated, (json) => {
          out.push({ _tag: "TextDelta", text: JSON.stringify(json) })
          return undefined
        })
        if (step !== undefined) return step
      }
      const data = event.data
      if (data === undefined) return undefined
      if (data.startsWith("finish:")) finish = data.slice(7) as FinishReason
      else if (data === "fail") return new FatalError({ reason: "invalid_request", message: "failed" })
      else if (data === "end") {
        finish = "filter"
        return "finished"
      } else out.push({ _tag: "TextDelta", text: data })
      return undefined
    },
    onEnd: raw.end,
    finishReason: () => finish
  }
}

const run = (input: Stream.Stream<Uint8Array, LLMError>) =>
  Effect.gen(function*() {
    const parts: Array<StreamPart> = []
    const exit = yield* EventStream.decode(input, context, handler).pipe(
      Stream.runForEach((part) => Effect.sync(() => parts.push(part))),
      Effect.exit
    )
    return { parts, exit }
  })

const failure = (
  exit: Exit.Exit<void, LLMError>
) => (Exit.isFailure(exit) && exit.cause._tag === "Fail" ? exit.cause.error : undefined)

describe("EventStream.decode", () => {
  it.effect("succeeds only after the finish signal, with Finish as the last part", () =>
    Effect.gen(function*() {
      const { exit, parts } = yield* run(bytes("data: a\n\ndata: b\n", "\ndata: finish:length\n\n"))
      assert.isTrue(Exit.isSuccess(exit))
      assert.deepStrictEqual(parts, [
        { _tag: "TextDelta", text: "a" },
        { _tag: "TextDelta", text: "b" },
        { _tag: "Finish", reason: "length" }
      ])
    }))

  it.effect("a body that ends before the finish signal is stream_interrupted, after the parts it held", () =>
    Effect.gen(function*() {
      const { exit, parts } = yield* run(bytes("data: a\n\n"))
      assert.deepStrictEqual(parts, [{ _tag: "TextDelta", text: "a" }])
      const error = failure(exit)
      assert.strictEqual(error?._tag, "RetryableError")
      assert.strictEqual((error as RetryableError).reason, "stream_interrupted")
      assert.strictEqual((error as RetryableError).provider, "test")
    }))

  it.effect("a handler's error fails the stream after the parts of the same read", () =>
    Effect.gen(function*() {
      const { exit, parts } = yield* run(bytes("data: a\n\ndata: fail\n\ndata: b\n\ndata: finish:stop\n\n"))
      assert.deepStrictEqual(parts, [{ _tag: "TextDelta", text: "a" }])
      assert.strictEqual(failure(exit)?.message, "failed")
    }))

  it.effect("\"finished\" ends the stream there, successfully, without reading on", () =>
    Effect.gen(function*() {
      const { exit, parts } = yield* run(Stream.concat(bytes("data: a\n\ndata: end\n\n"), Stream.die("read on")))
      assert.isTrue(Exit.isSuccess(exit))
      assert.deepStrictEqual(parts, [{ _tag: "TextDelta", text: "a" }, { _tag: "Finish", reason: "filter" }])
    }))

  it.effect("a body read failure fails the stream with it (mapped to stream_interrupted by fromResponse)", () =>
    Effect.gen(function*() {
      const cut = new RetryableError({ reason: "stream_interrupted", message: "cut" })
      const { exit, parts } = yield* run(Stream.concat(bytes("data: a\n\n"), Stream.fail(cut)))
      assert.deepStrictEqual(parts, [{ _tag: "TextDelta", text: "a" }])
      assert.strictEqual(failure(exit), cut)
    }))

  it.effect("a body read failure after the finish signal ends the stream there, successfully (a reset after the last event)", () =>
    Effect.gen(function*() {
      const cut = new RetryableError({ reason: "stream_interrupted", message: "cut" })
      const { exit, parts } = yield* run(Stream.concat(bytes("data: a\n\ndata: finish:stop\n\n"), Stream.fail(cut)))
      assert.isTrue(Exit.isSuccess(exit))
      assert.deepStrictEqual(parts, [{ _tag: "TextDelta", text: "a" }, { _tag: "Finish", reason: "stop" }])
    }))

  it.effect("raw JSON lines are collected until they parse; leftover text is a cut when JSON-shaped, else a bad response", () =>
    Effect.gen(function*() {
      const whole = yield* run(bytes("{\n\"a\": 1\n}\n\ndata: finish:stop\n\n"))
      assert.deepStrictEqual(whole.parts, [{ _tag: "TextDelta", text: "{\"a\":1}" }, {
        _tag: "Finish",
        reason: "stop"
      }])
      const cut = failure((yield* run(bytes("{\n\"a\": [1, 2"))).exit)
      assert.strictEqual((cut as RetryableError).reason, "stream_interrupted")
      const fieldCut = failure((yield* run(bytes("data: a\n\nda"))).exit)
      assert.strictEqual((fieldCut as RetryableError).reason, "stream_interrupted")
      const notJson = failure((yield* run(bytes("<html>\n</html>\n"))).exit)
      assert.strictEqual((notJson as FatalError).reason, "bad_response")
      const huge = failure((yield* run(bytes(`${"x".repeat(EventText.maxRawText + 1)}\n`))).exit)
      assert.strictEqual((huge as FatalError).reason, "bad_response")
    }))

  it.effect("each network read is decoded as it comes: one output chunk per input chunk", () =>
    Effect.gen(function*() {
      const reads = Stream.rechunk(bytes("data: a\n\ndata: b\n\n", "data: c\n\ndata: finish:stop\n\n"), 1)
      const chunks = yield* EventStream.decode(reads, context, handler).pipe(
        Stream.chunks,
        Stream.runCollect
      )
      assert.deepStrictEqual(Chunk.toReadonlyArray(chunks).map((chunk) => Chunk.size(chunk)), [2, 1, 1])
    }))

  it.effect("reads cut inside multi-byte characters give whole deltas; a leading byte order mark is dropped", () =>
    Effect.gen(function*() {
      const body = new TextEncoder().encode("\ufeffdata: 等于\n\ndata: 🙂é\n\ndata: finish:stop\n\n")
      for (let cut = 1; cut < 30; cut++) {
        const reads = Stream.make(body.subarray(0, cut), body.subarray(cut))
        const { exit, parts } = yield* run(reads)
        assert.isTrue(Exit.isSuccess(exit), `cut at ${cut}`)
        assert.deepStrictEqual(
          parts.map((part) => part._tag === "TextDelta" ? part.text : part._tag),
          ["等于", "🙂é", "Finish"],
          `cut at ${cut}`
        )
      }
    }))
})

describe("EventText.undecodable", () => {
  it("an unterminated event cut inside its JSON is a cut; anything else that is no JSON is a bad response", () => {
    assert.strictEqual(
      (EventText.undecodable("{\"a\": [1", true, context) as RetryableError).reason,
      "stream_interrupted"
    )
    assert.strictEqual((EventText.undecodable("", true, context) as RetryableError).reason, "stream_interrupted")
    assert.strictEqual((EventText.undecodable("{\"a\": [1", false, context) as FatalError).reason, "bad_response")
    assert.strictEqual((EventText.undecodable("<html>", true, context) as FatalError).reason, "bad_response")
  })
})
