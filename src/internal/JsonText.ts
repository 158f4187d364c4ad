/**
 * `JSON.stringify` for data of any depth. `JSON.parse` reads nesting some thousands deep (it does not
 * recurse), so a service can answer with tool-call arguments `JSON.stringify` cannot write back: it
 * recurses and overflows the stack. Those (and only those: the native one runs first) are written
 * with an explicit stack instead, to the same text.
 */

/** `JSON.stringify(value)`, whatever its depth; throws as it does on a cycle or a `BigInt`. */
export const jsonText = (value: unknown): string | undefined => {
  try {
    return JSON.stringify(value)
  } catch (error) {
    if (error instanceof RangeError) return stringifyWithoutRecursion(value)
    throw error
  }
}

/** What is left to write: text as it is, a value under its key, or the end of a container. */
type Step =
  | { readonly _tag: "text"; readonly text: string }
  | { readonly _tag: "value"; readonly key: string; readonly value: unknown; readonly inArray: boolean }
  | { readonly _tag: "leave"; readonly container: object }

/** A value as `JSON.stringify` sees it: after `toJSON`; `undefined` for what it leaves out. */
const resolved = (key: string, value: unknown): unknown => {
  const withJson = value !== null && typeof value === "object" &&
      typeof (value as { toJSON?: unknown }).toJSON === "function"
    ? (value as { toJSON: (key: string) => unknown }).toJSON(key)
    : value
  return typeof withJson === "function" || typeof withJson === "symbol" ? undefined : withJson
}

const stringifyWithoutRecursion = (root: unknown): string | undefined => {
  const top = resolved("", root)
  if (top === undefined) return undefined
  const out: Array<string> = []
  const ancestors = new Set<object>()
  const steps: Array<Step> = [{ _tag: "value", key: "", value: top, inArray: false }]
  while (steps.length > 0) {
    const step = steps.pop()!
    if (step._tag === "text") {
      out.push(step.text)
      continue
    }
    if (step._tag === "leave") {
      ancestors.delete(step.container)
      continue
    }
    const value = step.value
    if (value === undefined) {
      out.push("null") // an array's hole or left-out value (an object's are skipped before)
    } else if (value === null || typeof value !== "object") {
      if (typeof value === "bigint") throw new TypeError("Do not know how to serialize a BigInt")
      out.push(typeof value === "number" && !Number.isFinite(value) ? "null" : JSON.stringify(value))
    } else {
      if (ancestors.has(value)) throw new TypeError("Converting circular structure to JSON")
      ancestors.add(value)
      steps.push({ _tag: "leave", container: value })
      const later: Array<Step> = []
      if (Array.isArray(value)) {
        later.push({ _tag: "text", text: "[" })
        // every index, holes too (`forEach` skips them; JSON.stringify writes them as null)
        for (let index = 0; index < value.length; index++) {
          if (index > 0) later.push({ _tag: "text", text: "," })
          later.push({ _tag: "value", key: String(index), value: resolved(String(index), value[index]), inArray: true })
        }
        later.push({ _tag: "text", text: "]" })
      } else {
        later.push({ _tag: "text", text: "{" })
        let first = true
        for (const key of Object.keys(value)) {
          const item = resolved(key, (value as Record<string, unknown>)[key])
          if (item === undefined) continue
          later.push({ _tag: "text", text: `${first ? "" : ","}${JSON.stringify(key)}:` })
          later.push({ _tag: "value", key, value: item, inArray: false })
          first = false
        }
        later.push({ _tag: "text", text: "}" })
      }
      for (let index = later.length - 1; index >= 0; index--) steps.push(later[index]!)
    }
  }
  return out.join("")
}
