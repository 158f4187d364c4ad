/**
 * Input lines: what becomes an item (the request as the library takes it, the alias it asks for) and
 * the reason each kind of malformed line is rejected with.
 */
import { assert, describe, it } from "@effect/vitest"
import { type ParseContext, parseLine } from "../../../src/cli/batch/Input.js"

const context: ParseContext = { model: undefined, defaultModel: "flash", aliases: new Set(["flash", "qwen"]) }

const reason = (text: string, ctx = context) => {
  const parsed = parseLine(text, ctx)
  assert.strictEqual(parsed._tag, "Malformed", text)
  return parsed._tag === "Malformed" ? parsed.reason : ""
}

describe("batch input lines", () => {
  it("turns a line into an item: every parameter passed through, the alias resolved", () => {
    const parsed = parseLine(
      JSON.stringify({
        id: "q1",
        prompt: "hi",
        model: "qwen",
        system: "be brief",
        maxOutputTokens: 20,
        temperature: 0.5,
        topP: 0.9,
        stop: ["\n"],
        tags: { team: "acme" }
      }),
      context
    )
    assert.deepStrictEqual<unknown>(parsed, {
      _tag: "Item",
      alias: "qwen",
      integerId: false,
      item: {
        id: "q1",
        request: {
          prompt: "hi",
          model: "qwen",
          system: "be brief",
          maxOutputTokens: 20,
          temperature: 0.5,
          topP: 0.9,
          stop: ["\n"],
          tags: { team: "acme" }
        }
      }
    })
  })

  it("takes --model for lines that name none, else default_model; an integer id is keyed by its decimal string, marked an integer", () => {
    const withModel = parseLine(`{"id": 7, "messages": [{"role": "user", "content": "hi"}]}`, {
      ...context,
      model: "qwen"
    })
    assert.deepInclude(withModel, { _tag: "Item", alias: "qwen" })
    assert.deepInclude(parseLine(`{"id": 7, "prompt": "hi"}`, context), { _tag: "Item", alias: "flash" })
    assert.strictEqual(withModel._tag === "Item" && withModel.item.id, "7")
    assert.strictEqual(withModel._tag === "Item" && withModel.integerId, true)
    assert.deepStrictEqual(parseLine("   ", context), { _tag: "Blank" })
  })

  it("takes content parts (text, an image) in messages as generate does, and refuses a bad part by its position", () => {
    const png = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
    const parts = [{ type: "text", text: "What is this?" }, {
      type: "image",
      data: png,
      mediaType: "image/png"
    }] as const
    const line = parseLine(JSON.stringify({ id: "img", messages: [{ role: "user", content: parts }] }), context)
    assert.strictEqual(line._tag, "Item", JSON.stringify(line))
    assert.deepStrictEqual(line._tag === "Item" && line.item.request.messages, [{ role: "user", content: parts }])
    assert.match(
      reason(
        JSON.stringify({
          id: "a",
          messages: [{ role: "user", content: [{ type: "text", text: "hi" }, { type: "video" }] }]
        })
      ),
      /messages\[0\]\.content\[1\]/
    )
    assert.match(reason(`{"id": "a", "messages": [{"role": "user", "content": 42}]}`), /^messages\.0\.content/)
  })

  it("rejects each kind of malformed line with a reason", () => {
    assert.match(reason(`{"id": "a", "prompt": "hi"`), /^not valid JSON/)
    assert.strictEqual(reason(`[1, 2]`), "a line must be a JSON object")
    assert.strictEqual(reason(`{"prompt": "hi"}`), "no id")
    assert.strictEqual(
      reason(`{"id": "", "prompt": "hi"}`),
      `id must be a string that is not blank, or an integer, got ""`
    )
    assert.strictEqual(
      reason(`{"id": " ", "prompt": "hi"}`),
      `id must be a string that is not blank, or an integer, got " "`
    )
    // a number as the line wrote it, not as JSON.parse rounded it
    assert.strictEqual(
      reason(`{"id": 1.5, "prompt": "hi"}`),
      "id 1.5 is not an integer within ±9007199254740991 (give a larger one as a string)"
    )
    assert.strictEqual(
      reason(`{"id": 12345678901234567890, "prompt": "hi"}`),
      "id 12345678901234567890 is not an integer within ±9007199254740991 (give a larger one as a string)"
    )
    // the id JSON.parse kept: a duplicate key's last value, not another "id" in the line
    assert.match(reason(`{"id": 7, "id": 2.5, "prompt": "hi"}`), /^id 2\.5 is not an integer/)
    assert.match(
      reason(`{"messages": [{"role": "user", "content": [{"type": "text", "text": "x", "id": 99}]}], "id": 0.5}`),
      /^id 0\.5 is not an integer/
    )
    assert.strictEqual(reason(`{"id": "a", "promt": "hi"}`), `unknown field "promt"`)
    assert.match(reason(`{"id": "a", "prompt": 42}`), /^prompt: Expected string/)
    assert.match(reason(`{"id": "a"}`), /needs a non-empty `prompt` or `messages`/)
    assert.match(
      reason(`{"id": "a", "prompt": "hi", "temperature": 3}`),
      /^temperature must be a number within \[0, 2\]/
    )
    assert.match(
      reason(`{"id": "a", "prompt": "hi", "maxOutputTokens": 0}`),
      /^maxOutputTokens must be a positive integer/
    )
    assert.match(reason(`{"id": "a", "prompt": "hi", "tags": {"team": 1}}`), /^tags\.team: Expected string/)
    assert.match(reason(`{"id": "a", "prompt": "hi", "model": "gpt"}`), /^unknown model alias "gpt"/)
    const malformed = parseLine(`{"id": "a", "prompt": "hi", "model": "gpt"}`, context)
    assert.deepInclude(malformed, { id: "a" })
  })
})
