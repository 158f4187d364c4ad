/**
 * What a protocol whose JSON mode takes no schema (DashScope, DeepSeek's `json_object`) tells the model
 * instead: the word "JSON" (which the service requires somewhere in the messages) and the schema, in
 * the system text.
 */
import type { JsonResponseFormat } from "../../domain/Prompt.js"
import { isObject } from "./Json.js"

const scalarKinds = new Set(["string", "number", "integer", "boolean", "null"])

/** The root's kind as the instruction names it: an array root is asked for as an array, not an object. */
const rootKind = (schema: unknown): string => {
  if (!isObject(schema)) return "value"
  // A named root is a reference into its own definitions (`{ $ref: "#/$defs/Person", $defs }`).
  if (typeof schema.$ref === "string" && schema.$ref.startsWith("#/$defs/") && isObject(schema.$defs)) {
    const target = schema.$defs[schema.$ref.slice("#/$defs/".length)]
    if (target !== schema) return rootKind(target)
  }
  const type = schema.type
  if (type === "object" || (type === undefined && isObject(schema.properties))) return "object"
  if (type === "array") return "array"
  if (typeof type === "string" && scalarKinds.has(type)) return type === "integer" ? "number" : type
  return "value"
}

/** The instruction appended to the system text: one JSON answer of the schema's root kind, and the schema. */
export const instruction = (format: JsonResponseFormat): string =>
  `Answer with one JSON ${rootKind(format.schema)} and nothing else. It must follow this JSON Schema${
    format.description !== undefined ? ` (${format.description})` : ""
  }: ${JSON.stringify(format.schema)}`

/** `system` with the instruction appended (a blank line between), or the instruction alone. */
export const withInstruction = (system: string | undefined, format: JsonResponseFormat): string => {
  const text = instruction(format)
  return system !== undefined ? `${system}\n\n${text}` : text
}
