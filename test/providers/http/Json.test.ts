import { assert, describe, it } from "@effect/vitest"
import * as Json from "../../../src/providers/http/Json.js"

describe("Json.isJsonPrefix", () => {
  it("every beginning of a JSON text is a prefix", () => {
    const texts = [
      `{"candidates": [{"content": {"parts": [{"text": "a \\"quoted\\" \\u00e9 word"}]}, "finishReason": "STOP"}], "n": -12.5e+3}`,
      `[true, false, null, 0, 1.25, "x", {}, []]`,
      `  {"error": {\n    "code": 503,\n    "status": "UNAVAILABLE"\n  }\n}\n`
    ]
    for (const text of texts) {
      assert.doesNotThrow(() => JSON.parse(text))
      for (let cut = 0; cut <= text.length; cut++) {
        assert.isTrue(Json.isJsonPrefix(text.slice(0, cut)), JSON.stringify(text.slice(0, cut)))
      }
    }
  })

  it("text no continuation can make JSON is not", () => {
    for (
      const text of [
        "<html>",
        "{not json",
        "{'a': 1}",
        "{\"a\" 1",
        "[1,,2]",
        "{\"a\":1}}",
        "01",
        "-x",
        "1.e",
        "tru e",
        "nul!",
        "\"\\x\"",
        "\"\\u12g4\"",
        "{\"a\":1} x",
        "\"line\nbreak\""
      ]
    ) {
      assert.isFalse(Json.isJsonPrefix(text), JSON.stringify(text))
    }
  })
})

describe("Json.parse", () => {
  it("parses JSON (a leading BOM dropped) and gives undefined for anything else", () => {
    assert.deepStrictEqual(Json.parse("\uFEFF{\"a\":1}"), { a: 1 })
    assert.strictEqual(Json.parse("null"), null)
    assert.isUndefined(Json.parse("{"))
    assert.isUndefined(Json.parse(""))
  })
})
