/**
 * JSON helpers shared by the protocols' decoders: parsing without throwing, the lenient Schema field
 * every payload is declared with, the type guards of the stream path, and telling a JSON text cut
 * short (the end of the body came early) from one that can never be JSON (an undecodable answer).
 */
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"

/**
 * A decode failure's text, for a `bad_response` message: where and what, first — the field's path and
 * the value it had, then the type expected (`usage.completion_tokens: got "7", expected number`), as the
 * message is cut at 200 characters and a payload's type alone would fill them. Effect's formatter prints
 * the offending value recursively, which overflows the stack on a value nested a few thousand deep (a
 * hostile or broken server): then the text names the failure without the value, and the call still
 * fails typed.
 */
export const issueText = (error: ParseResult.ParseError): string => {
  try {
    // the deepest issue is the field at fault, not the payload around it (a union's members each say
    // why they failed: the one that got furthest names the field); every type expected there is named
    const issues = ParseResult.ArrayFormatter.formatErrorSync(error)
    const deepest = issues.reduce((max, issue) => Math.max(max, issue.path.length), 0)
    const at = issues.filter((issue) => issue.path.length === deepest)
    if (at.length === 0) return error.message
    const path = at[0]!.path.join(".")
    const where = deepest === 0 ? "the payload" : path
    const expected: Array<string> = []
    let actual: string | undefined
    for (const issue of at) {
      if (issue.path.join(".") !== path) continue
      const mismatch = /^Expected ([\s\S]*?), actual ([\s\S]*)$/.exec(issue.message)
      if (mismatch === null) return `${where}: ${issue.message}`
      // (an optional field's `undefined` says nothing of a value that is there)
      if (mismatch[1] !== "undefined" && !expected.includes(mismatch[1]!)) expected.push(mismatch[1]!)
      actual ??= mismatch[2]
    }
    return `${where}: got ${actual}, expected ${expected.join(" | ")}`
  } catch {
    return "a value does not match the expected shape (too deeply nested to print)"
  }
}

/**
 * A payload field, leniently: absent, `null` or a value of `schema`. Servers send surprising shapes
 * (WIRE.md), so nothing is required; a field of another type still fails the decode.
 */
export const field = <S extends Schema.Schema.Any>(schema: S) => Schema.optional(Schema.NullOr(schema))

/** `JSON.parse`, with a leading BOM dropped; `undefined` when the text is not JSON (JSON has no `undefined`). */
export const parse = (text: string): unknown => {
  try {
    return JSON.parse(text.charCodeAt(0) === 0xfeff ? text.slice(1) : text)
  } catch {
    return undefined
  }
}

/** A JSON array holding one object, as that object (Vertex AI's `[{"error":{…}}]` error bodies); else the value. */
export const unwrapOne = (value: unknown): unknown =>
  Array.isArray(value) && value.length === 1 && isObject(value[0]) ? value[0] : value

/** An object that is not an array: what a `Schema.Struct` accepts as its input. */
export const isObject = (value: unknown): value is { readonly [key: string]: unknown } =>
  typeof value === "object" && value !== null && !Array.isArray(value)

/** The guard of a `field(schema)`: absent, `null`, or passing `guard`. */
export const isField = (value: unknown, guard: (value: unknown) => boolean): boolean =>
  value === undefined || value === null || guard(value)

/** The guard of `Schema.String`. */
export const isString = (value: unknown): value is string => typeof value === "string"

/** The guard of `Schema.Number`. */
export const isNumber = (value: unknown): value is number => typeof value === "number"

/** The guard of `Schema.Boolean`. */
export const isBoolean = (value: unknown): value is boolean => typeof value === "boolean"

/** The guard of `Schema.Array(item)` for an item guard. */
export const isArrayOf = (value: unknown, item: (value: unknown) => boolean): boolean =>
  Array.isArray(value) && value.every(item)

const isWhitespace = (code: number) => code === 32 || code === 10 || code === 13 || code === 9
const isDigit = (code: number) => code >= 48 && code <= 57

// Scanners return the index after what they read, `incomplete` when the text ends inside it, or
// `invalid` when no continuation can make it JSON.
const incomplete = -1
const invalid = -2

const scanString = (text: string, start: number): number => {
  for (let i = start + 1; i < text.length; i++) {
    const code = text.charCodeAt(i)
    if (code === 34) return i + 1
    if (code < 32) return invalid
    if (code === 92) {
      i++
      if (i >= text.length) return incomplete
      const escape = text[i]!
      if (escape === "u") {
        for (let k = 1; k <= 4; k++) {
          if (i + k >= text.length) return incomplete
          if (!/[0-9a-fA-F]/.test(text[i + k]!)) return invalid
        }
        i += 4
      } else if (!"\"\\/bfnrt".includes(escape)) {
        return invalid
      }
    }
  }
  return incomplete
}

const scanDigits = (text: string, start: number): number => {
  if (start >= text.length) return incomplete
  if (!isDigit(text.charCodeAt(start))) return invalid
  let i = start
  while (i < text.length && isDigit(text.charCodeAt(i))) i++
  return i
}

const scanNumber = (text: string, start: number): number => {
  let i = start
  if (text.charCodeAt(i) === 45) i++
  if (i >= text.length) return incomplete
  if (text.charCodeAt(i) === 48) i++
  else {
    i = scanDigits(text, i)
    if (i < 0) return i
  }
  if (i < text.length && text.charCodeAt(i) === 46) {
    i = scanDigits(text, i + 1)
    if (i < 0) return i
  }
  if (i < text.length && (text.charCodeAt(i) === 101 || text.charCodeAt(i) === 69)) {
    i++
    if (i < text.length && (text.charCodeAt(i) === 43 || text.charCodeAt(i) === 45)) i++
    i = scanDigits(text, i)
    if (i < 0) return i
  }
  return i
}

const scanLiteral = (text: string, start: number): number => {
  for (const literal of ["true", "false", "null"]) {
    if (text.charCodeAt(start) !== literal.charCodeAt(0)) continue
    for (let k = 1; k < literal.length; k++) {
      if (start + k >= text.length) return incomplete
      if (text.charCodeAt(start + k) !== literal.charCodeAt(k)) return invalid
    }
    return start + literal.length
  }
  return invalid
}

/**
 * Whether `text` can be the beginning of a JSON text: some continuation makes it valid (`""`,
 * `{"a": [1, tr` are; `{not json`, `<html>`, `{"a":1}}` are not). What tells a body cut mid-value
 * from one that never was JSON; it runs once, when a body ends, so it favours clarity over speed.
 */
export const isJsonPrefix = (text: string): boolean => {
  // Open containers: `{` (123) or `[` (91).
  const open: Array<number> = []
  // What may come next: a value (or `]` right after `[`), a key (or `}` right after `{`), a colon,
  // a comma or a closing bracket, or nothing once the top-level value is whole.
  type Expect = "value" | "valueOrClose" | "key" | "keyOrClose" | "colon" | "commaOrClose" | "end"
  let expect: Expect = "value"
  const afterValue = (): Expect => (open.length === 0 ? "end" : "commaOrClose")
  let i = 0
  while (i < text.length) {
    const code = text.charCodeAt(i)
    if (isWhitespace(code)) {
      i++
      continue
    }
    switch (expect) {
      case "value":
      case "valueOrClose": {
        if (code === 93 && expect === "valueOrClose") {
          open.pop()
          expect = afterValue()
          i++
        } else if (code === 123 || code === 91) {
          open.push(code)
          expect = code === 123 ? "keyOrClose" : "valueOrClose"
          i++
        } else {
          const end = code === 34
            ? scanString(text, i)
            : code === 45 || isDigit(code)
            ? scanNumber(text, i)
            : scanLiteral(text, i)
          if (end < 0) return end === incomplete
          i = end
          expect = afterValue()
        }
        break
      }
      case "key":
      case "keyOrClose": {
        if (code === 125 && expect === "keyOrClose") {
          open.pop()
          expect = afterValue()
          i++
        } else if (code === 34) {
          const end = scanString(text, i)
          if (end < 0) return end === incomplete
          i = end
          expect = "colon"
        } else return false
        break
      }
      case "colon": {
        if (code !== 58) return false
        expect = "value"
        i++
        break
      }
      case "commaOrClose": {
        const top = open[open.length - 1]
        if (code === 44) expect = top === 123 ? "key" : "value"
        else if ((code === 125 && top === 123) || (code === 93 && top === 91)) {
          open.pop()
          expect = afterValue()
        } else return false
        i++
        break
      }
      case "end":
        return false
    }
  }
  return true
}
