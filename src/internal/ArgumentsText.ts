/**
 * Tool-call arguments as JSON text, counted as output when a provider reports no usage (a token per
 * UTF-8 byte bounds what it may bill). `JSON.stringify` recurses: arguments nested some thousands
 * deep, which `JSON.parse` reads (iteratively), overflow its stack. Those are measured with an
 * explicit stack instead and stand as that many spaces: only their length is used.
 */
export const argumentsText = (params: unknown): string => {
  try {
    return JSON.stringify(params) ?? ""
  } catch (error) {
    // anything else (a BigInt, a cycle: arguments a test's mock made) counts as nothing
    return error instanceof RangeError ? " ".repeat(jsonBytes(params)) : ""
  }
}

/** The UTF-8 length of `JSON.stringify(root)`, without recursion (the values `JSON.parse` makes). */
const jsonBytes = (root: unknown): number => {
  let bytes = 0
  const pending: Array<unknown> = [root]
  while (pending.length > 0) {
    const value = pending.pop()
    if (Array.isArray(value)) {
      bytes += 2 + Math.max(0, value.length - 1)
      for (const item of value) pending.push(item === undefined || typeof item === "function" ? null : item)
    } else if (value !== null && typeof value === "object") {
      const entries = Object.entries(value).filter(([, item]) => item !== undefined && typeof item !== "function")
      bytes += 2 + Math.max(0, entries.length - 1)
      for (const [key, item] of entries) {
        bytes += Buffer.byteLength(JSON.stringify(key), "utf8") + 1
        pending.push(item)
      }
    } else {
      bytes += Buffer.byteLength(JSON.stringify(value) ?? "null", "utf8")
    }
  }
  return bytes
}
