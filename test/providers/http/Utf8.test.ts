import { assert, describe, it } from "@effect/vitest"
import * as Utf8 from "../../../src/providers/http/Utf8.js"
import { readFixture } from "../../support/LoopbackServer.js"

const encode = (text: string) => new TextEncoder().encode(text)

/** The text of `reads` through one reader, its end included. */
const readAll = (reads: ReadonlyArray<Uint8Array>) => {
  const reader = Utf8.makeReader()
  return reads.map((read) => reader.read(read)).join("") + reader.end()
}

/** What a streaming `TextDecoder` (the WHATWG decode, BOM kept) makes of the same reads. */
const streamingDecode = (reads: ReadonlyArray<Uint8Array>) => {
  const decoder = new TextDecoder("utf-8", { ignoreBOM: true })
  return reads.map((read) => decoder.decode(read, { stream: true })).join("") + decoder.decode()
}

describe("Utf8.makeReader", () => {
  it("a read boundary at every byte of two-, three- and four-byte characters keeps each character whole", () => {
    const bytes = encode("é 等于 🙂 x")
    for (let cut = 0; cut <= bytes.length; cut++) {
      const reader = Utf8.makeReader()
      const first = reader.read(bytes.subarray(0, cut))
      const second = reader.read(bytes.subarray(cut))
      assert.strictEqual(first + second, "é 等于 🙂 x", `cut at ${cut}`)
      assert.notInclude(first + second, "\ufffd")
      assert.strictEqual(reader.end(), "")
    }
    assert.strictEqual(readAll(Array.from(bytes, (byte) => Uint8Array.of(byte))), "é 等于 🙂 x")
  })

  it("a character cut by the body's end is one U+FFFD at the end, as a streaming decoder flushes it", () => {
    const emoji = encode("ok 🙂")
    for (let drop = 1; drop <= 3; drop++) {
      const reads = [emoji.subarray(0, emoji.length - drop)]
      assert.strictEqual(readAll(reads), "ok \ufffd", `${drop} bytes missing`)
      assert.strictEqual(readAll(reads), streamingDecode(reads))
    }
  })

  it("keeps a byte order mark wherever it is (the SSE parser strips the stream's leading one)", () => {
    const bom = Uint8Array.of(0xef, 0xbb, 0xbf)
    const data = encode("data: x\n\n")
    assert.strictEqual(readAll([bom, data, bom, data]), "\ufeffdata: x\n\n\ufeffdata: x\n\n")
    assert.strictEqual(readAll([bom.subarray(0, 2), bom.subarray(2), data]), "\ufeffdata: x\n\n")
  })

  it("invalid bytes become U+FFFD as in a streaming decoder, wherever the reads are cut", () => {
    const bytes = Uint8Array.of(0x61, 0xff, 0x62, 0x80, 0x80, 0x80, 0x80, 0x63, 0xe6, 0x97, 0x64, 0xf0, 0x9f, 0x99)
    const whole = streamingDecode([bytes])
    assert.include(whole, "\ufffd")
    for (let cut = 0; cut <= bytes.length; cut++) {
      const reads = [bytes.subarray(0, cut), bytes.subarray(cut)]
      assert.strictEqual(readAll(reads), whole, `cut at ${cut}`)
    }
  })

  it("random reads of recorded multi-byte streams decode to the text of one read", () => {
    const bytes = readFixture("cnblogs-dashscope-sdk/single-generation-message-reasoning-sse.response.body.txt")
    const whole = bytes.toString("utf8")
    assert.isAbove(Buffer.byteLength(whole), whole.length, "the recording has multi-byte characters")
    let seed = 20261204
    const random = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648)
    for (let iteration = 0; iteration < 200; iteration++) {
      const reads: Array<Uint8Array> = []
      for (let offset = 0; offset < bytes.length;) {
        const size = 1 + Math.floor(random() * 7)
        reads.push(bytes.subarray(offset, offset + size))
        offset += size
      }
      assert.strictEqual(readAll(reads), whole)
    }
  })
})
