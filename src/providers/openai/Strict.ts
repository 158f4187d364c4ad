/**
 * Whether a JSON Schema qualifies for OpenAI's strict mode (Structured Outputs, WIRE-tools-multimodal
 * §3.5): the root is an object schema, every object schema (at any depth, in `$defs` too) has
 * `additionalProperties: false` and lists every key of `properties` in `required` (an optional field
 * is a nullable type instead), nesting stays within 5 levels, and only keywords of the documented
 * subset appear. A schema that does not qualify is sent with `strict: false` — the model is then
 * asked, not constrained, to follow it — rather than answered with OpenAI's 400.
 */
import type { JsonSchema } from "../../domain/Prompt.js"

// The keywords strict mode takes (a conservative reading of the Structured Outputs guide: the
// full list is unverified here, WIRE-tools-multimodal §3.5). `$schema` is allowed at the root only
// and is dropped when sending (see `schemaBody`).
const keywords = new Set([
  "type",
  "properties",
  "required",
  "additionalProperties",
  "items",
  "enum",
  "const",
  "anyOf",
  "description",
  "title",
  "$ref",
  "$defs",
  "definitions",
  "pattern",
  "format",
  "minimum",
  "maximum",
  "exclusiveMinimum",
  "exclusiveMaximum",
  "multipleOf",
  "minItems",
  "maxItems"
])

/** The deepest nesting of objects OpenAI enforced (`6 levels of nesting exceeds limit of 5`). */
const maxDepth = 5

const isObject = (value: unknown): value is Readonly<Record<string, unknown>> =>
  typeof value === "object" && value !== null && !Array.isArray(value)

const isObjectSchema = (schema: Readonly<Record<string, unknown>>): boolean =>
  schema.type === "object" || (Array.isArray(schema.type) && schema.type.includes("object")) ||
  isObject(schema.properties)

const qualifies = (schema: unknown, depth: number): boolean => {
  if (typeof schema === "boolean") return false
  if (!isObject(schema)) return false
  for (const key of Object.keys(schema)) if (!keywords.has(key)) return false
  if (isObjectSchema(schema)) {
    if (depth > maxDepth) return false
    if (schema.additionalProperties !== false) return false
    const properties = isObject(schema.properties) ? schema.properties : {}
    const required = Array.isArray(schema.required) ? new Set(schema.required) : new Set()
    for (const [name, property] of Object.entries(properties)) {
      if (!required.has(name) || !qualifies(property, depth + 1)) return false
    }
  }
  if (schema.items !== undefined && !qualifies(schema.items, depth)) return false
  if (schema.anyOf !== undefined && !(Array.isArray(schema.anyOf) && schema.anyOf.every((s) => qualifies(s, depth)))) {
    return false
  }
  for (const defs of [schema.$defs, schema.definitions]) {
    if (defs === undefined) continue
    if (!isObject(defs) || !Object.values(defs).every((s) => qualifies(s, 1))) return false
  }
  return true
}

/** Whether `schema` can be sent with `strict: true`. */
export const isStrict = (schema: JsonSchema): boolean => {
  if (schema.type !== "object") return false
  const { $schema: _, ...rest } = schema
  return qualifies(rest, 1)
}

/** The schema as sent: without the root `$schema` (a draft marker, not a constraint). */
export const schemaBody = (schema: JsonSchema): JsonSchema => {
  const { $schema: _, ...rest } = schema
  return rest
}
