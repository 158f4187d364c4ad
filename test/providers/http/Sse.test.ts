import { assert, describe, it } from "@effect/vitest"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import * as Sse from "../../../src/providers/http/Sse.js"
import { readFixture, splitBytes } from "../../support/LoopbackServer.js"

const cnblogs = "cnblogs-dashscope-sdk/"
const encoder = new TextEncoder()

/** Decodes byte reads as `EventStream.decode` does: `Stream.decodeText`, each text fed to one parser, then `end`. */
const decodeReads = (reads: ReadonlyArray<Uint8Array>) =>
  Effect.suspend(() => {
    const parser = Sse.makeParser()
    return Stream.decodeText(Stream.fromIterable(reads)).pipe(
      Stream.runCollect,
      Effect.map((texts) => [...Chunk.toReadonlyArray(texts).flatMap((text) => parser.feed(text)), ...parser.end()])
    )
  })

/** Feeds text pieces to one parser. */
const feedAll = (pieces: ReadonlyArray<string>) => {
  const parser = Sse.makeParser()
  return [...pieces.flatMap((piece) => parser.feed(piece)), ...parser.end()]
}

/** mulberry32: a small seeded PRNG, so a failing fuzz case can be replayed. */
const prng = (seed: number) => () => {
  seed = (seed + 0x6d2b79f5) | 0
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296
}

describe("Sse", () => {
  it("LF, CRLF and CR framing give the same events", () => {
    const lf = "event: a\ndata: one\ndata: two\n\n: note\ndata: three\n\n"
    const expected = feedAll([lf])
    assert.deepStrictEqual(
      expected.map((event) => [event.event, event.data, event.comments]),
      [["a", "one\ntwo", []], [undefined, "three", [" note"]]]
    )
    assert.deepStrictEqual(feedAll([lf.replace(/\n/g, "\r\n")]), expected)
    assert.deepStrictEqual(feedAll([lf.replace(/\n/g, "\r")]), expected)
  })

  it("keeps event names, ids and :HTTP_STATUS comments of a DashScope capture", () => {
    const events = Sse.parseAll(readFixture(cnblogs + "single-generation-text-sse.response.body.txt").toString("utf8"))
    assert.strictEqual(events.length, 5)
    assert.deepStrictEqual(events.map((event) => event.id), ["1", "2", "3", "4", "5"])
    assert.isTrue(events.every((event) => event.event === "result"))
    assert.isTrue(events.every((event) => event.comments.length === 1 && event.comments[0] === "HTTP_STATUS/200"))
    assert.deepStrictEqual(events.map((event) => JSON.parse(event.data!).output.text), ["1+", "1", "等于", "2。", ""])
  })

  it("strips a leading BOM (the error capture starts with one)", () => {
    const bytes = readFixture(cnblogs + "parameter-error-sse.response.body.txt")
    assert.deepStrictEqual([...bytes.subarray(0, 3)], [0xef, 0xbb, 0xbf])
    const [event] = Sse.parseAll(bytes.toString("utf8"))
    assert.strictEqual(event!.id, "1")
    assert.strictEqual(event!.event, "error")
    assert.deepStrictEqual(event!.comments, ["HTTP_STATUS/400"])
    assert.strictEqual(JSON.parse(event!.data!).code, "InvalidParameter")
  })

  it("starts a new event at a header line after data when the blank line is missing", () => {
    const events = Sse.parseAll(
      readFixture(cnblogs + "single-generation-message-reasoning-sse.response.body.txt").toString("utf8")
    )
    assert.strictEqual(events.length, 16)
    assert.deepStrictEqual(events.map((event) => event.id), Array.from({ length: 16 }, (_, i) => String(i + 1)))
  })

  it("keeps non-field lines (Gemini's raw error object) in raw", () => {
    const events = Sse.parseAll(
      readFixture("vertexai-sdk-test-data/vertexai/streaming-failure-error-mid-stream.txt").toString("utf8")
    )
    assert.strictEqual(events.length, 3)
    assert.strictEqual(events[2]!.data, undefined)
    assert.strictEqual(JSON.parse(events[2]!.raw.join("\n")).error.code, 499)
  })

  it.effect("a read boundary inside a multi-byte UTF-8 character keeps the character whole", () =>
    Effect.gen(function*() {
      const bytes = encoder.encode("data: 等于 🙂\n\n")
      for (let cut = 1; cut < bytes.length; cut++) {
        const events = yield* decodeReads([bytes.subarray(0, cut), bytes.subarray(cut)])
        assert.deepStrictEqual(events.map((event) => event.data), ["等于 🙂"], `cut at ${cut}`)
      }
      const byteByByte = yield* decodeReads(splitBytes(bytes, [1]))
      assert.deepStrictEqual(byteByByte.map((event) => event.data), ["等于 🙂"])
    }))

  it("a read boundary inside a line, or between CR and LF, changes nothing", () => {
    const expected = [{ event: undefined, id: undefined, data: "x\ny", comments: [], raw: [] }]
    assert.deepStrictEqual(feedAll(["da", "ta: x\r", "\ndata: y\r\n\r\n"]), expected)
    assert.deepStrictEqual(feedAll(["data: x\r", "\n", "data: y\r", "\n\r", "\n"]), expected)
    assert.deepStrictEqual(feedAll(["data: x\r\ndata: y\r\n\r\n"]), expected)
    // A CR at the end of a read followed by a second CR is a blank line, not CRLF.
    assert.deepStrictEqual(feedAll(["data: x\r\ndata: y\r", "\r"]), expected)
  })

  it("matches whole field names: a field without a colon has an empty value, other names are raw lines", () => {
    assert.deepStrictEqual(feedAll(["data\n\n"]), [{
      event: undefined,
      id: undefined,
      data: "",
      comments: [],
      raw: []
    }])
    assert.deepStrictEqual(feedAll(["event:named\ndata:  two\nretry: 10\n\n"]), [
      { event: "named", id: undefined, data: " two", comments: [], raw: [] }
    ])
    assert.deepStrictEqual(feedAll(["datum: x\ndat: y\ndata: z\n\n"]), [
      { event: undefined, id: undefined, data: "z", comments: [], raw: ["datum: x", "dat: y"] }
    ])
    // A colon further on (in a later line) is not this line's.
    assert.deepStrictEqual(feedAll(["data\nevent: e\n\n"]), [
      { event: undefined, id: undefined, data: "", comments: [], raw: [] },
      { event: "e", id: undefined, data: undefined, comments: [], raw: [] }
    ])
    assert.deepStrictEqual(feedAll(["{\n\"a\": 1}\n\n"]), [
      { event: undefined, id: undefined, data: undefined, comments: [], raw: ["{", "\"a\": 1}"] }
    ])
  })

  it("dispatches an unterminated last event at end of input", () => {
    assert.deepStrictEqual(feedAll(["data: last"]).map((event) => event.data), ["last"])
    assert.deepStrictEqual(feedAll(["data: a\n\ndata: b\n"]).map((event) => event.data), ["a", "b"])
  })

  it.effect("fuzz: random reads of 1..65536 bytes decode to the same events as one read", () =>
    Effect.gen(function*() {
      const recordings = [
        "vertexai-sdk-test-data/googleai/streaming-success-basic-reply-short.txt",
        "vertexai-sdk-test-data/googleai/streaming-success-basic-reply-long.txt",
        "vertexai-sdk-test-data/googleai/streaming-success-thinking-reply-thought-summary.txt",
        "vertexai-sdk-test-data/googleai/streaming-success-finish-message.txt",
        "vertexai-sdk-test-data/vertexai/streaming-failure-error-mid-stream.txt",
        "vercel-ai/google/google-usage-raw-live.chunks.txt",
        cnblogs + "single-generation-text-sse.response.body.txt",
        cnblogs + "single-generation-message-sse.response.body.txt",
        cnblogs + "single-generation-message-reasoning-sse.response.body.txt",
        cnblogs + "parameter-error-sse.response.body.txt"
      ]
      const random = prng(20251124)
      for (const path of recordings) {
        const bytes = readFixture(path)
        const reference = yield* decodeReads([bytes])
        assert.isAbove(reference.length, 0)
        assert.deepStrictEqual(reference, Sse.parseAll(bytes.toString("utf8")))
        for (let iteration = 0; iteration < 60; iteration++) {
          // Largest read size log-uniform in 1..65536, so tiny and huge reads are both common.
          const largest = Math.max(1, Math.round(Math.exp(random() * Math.log(65536))))
          const reads: Array<Uint8Array> = []
          for (let offset = 0; offset < bytes.length;) {
            const size = 1 + Math.floor(random() * largest)
            reads.push(bytes.subarray(offset, offset + size))
            offset += size
          }
          const events = yield* decodeReads(reads)
          assert.deepStrictEqual(events, reference, `${path}, iteration ${iteration}, largest read ${largest}`)
        }
      }
    }), 60_000)

  it("an event past the bound throws a RangeError (a line that never ends, or lines without a blank one); events under it each pass", () => {
    const bounded = () => Sse.makeParser(100)
    const oneLine = bounded()
    oneLine.feed(`data: ${"x".repeat(60)}`)
    assert.throws(() => oneLine.feed("x".repeat(60)), RangeError, /an event longer than 100 characters/)
    const manyLines = bounded()
    assert.throws(() => manyLines.feed("data: xxxxxxxx\n".repeat(20)), RangeError)
    // 40 events of 50 characters each: 2,000 in all, none over the bound
    const events = bounded()
    const fed = events.feed(`data: ${"y".repeat(44)}\n\n`.repeat(40))
    assert.strictEqual(fed.length, 40)
    assert.strictEqual(Sse.maxEventChars, 64 * 1024 * 1024)
  })
})
