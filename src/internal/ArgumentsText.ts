/**
 * Tool-call arguments as JSON text, counted as output when a provider reports no usage (a token per
 * UTF-8 byte bounds what it may bill); written whatever their depth (`JsonText`).
 */
import { jsonText } from "./JsonText.js"

export const argumentsText = (params: unknown): string => {
  try {
    return jsonText(params) ?? ""
  } catch {
    // a BigInt, a cycle: arguments a test's mock made count as nothing
    return ""
  }
}
