/**
 * What `@effect/ai` asks besides the prompt, in `CallRequest`'s shape: the toolkit's tools as JSON
 * Schema definitions (`Tool.getJsonSchema`, as the `@effect/ai-*` providers do), the tool choice in
 * its five forms, and `generateObject`'s schema as a JSON response format.
 */
import type * as LanguageModel from "@effect/ai/LanguageModel"
import * as Tool from "@effect/ai/Tool"
import * as Option from "effect/Option"
import type * as Schema from "effect/Schema"
import * as AST from "effect/SchemaAST"
import { FatalError } from "../domain/Errors.js"
import type { JsonResponseFormat, ToolChoice, ToolDefinition } from "../domain/Prompt.js"
import { describe, invalidRequest } from "../domain/Request.js"

/**
 * `schema`'s JSON Schema, or `invalid_request` naming `what` when it has none (`Tool.getJsonSchema`
 * throws for a Schema such as `DateFromSelf` or a `declare` without a `jsonSchema` annotation): a typed
 * failure before any ledger write, not a defect.
 */
const jsonSchemaOf = (schema: Schema.Schema.Any, what: string): Record<string, unknown> | FatalError => {
  if (isEmptyStruct(schema.ast)) return emptyObjectSchema(schema.ast)
  try {
    return withTuplesAs2020(Tool.getJsonSchemaFromSchemaAst(schema.ast) as unknown as Record<string, unknown>)
  } catch (cause) {
    return invalidRequest(
      `${what} has no JSON Schema form (${cause instanceof Error ? cause.message.split("\n")[0] : String(cause)}): ` +
        `give its Schema a jsonSchema annotation or use a Schema JSON can express`
    )
  }
}

/**
 * Effect writes a tuple in draft-07's form (`items: [..]`, `additionalItems`), which Anthropic (whose
 * tool schemas are JSON Schema 2020-12, WIRE-tools-multimodal §4.1) and OpenAI refuse with a 400 for
 * the whole request: it goes in 2020-12's (`prefixItems`, the rest as `items`), the root's `$schema`
 * then saying so. Every other schema is returned as it is.
 */
const dataKeywords = new Set(["default", "examples", "const", "enum"])
/** Keywords whose value maps names (a property's, a definition's) to schemas: any name, even `default`. */
const schemaMaps = new Set(["properties", "patternProperties", "$defs", "definitions", "dependentSchemas"])

const withTuplesAs2020 = (root: Record<string, unknown>): Record<string, unknown> => {
  let converted = false
  const visitMap = (value: unknown): unknown => {
    if (typeof value !== "object" || value === null || Array.isArray(value)) return visit(value)
    const out: Record<string, unknown> = {}
    for (const [name, schema] of Object.entries(value)) out[name] = visit(schema)
    return out
  }
  const visit = (value: unknown): unknown => {
    if (Array.isArray(value)) return value.map(visit)
    if (typeof value !== "object" || value === null) return value
    const out: Record<string, unknown> = {}
    // values (a default, examples, a const or enum) are data, not schemas: kept as they are
    for (const [key, child] of Object.entries(value)) {
      out[key] = dataKeywords.has(key) ? child : schemaMaps.has(key) ? visitMap(child) : visit(child)
    }
    if (Array.isArray(out.items)) {
      converted = true
      out.prefixItems = out.items
      delete out.items
      if (out.additionalItems !== undefined) out.items = out.additionalItems
      delete out.additionalItems
    }
    return out
  }
  const schema = visit(root) as Record<string, unknown>
  if (!converted) return root
  return schema.$schema === undefined ? schema : { ...schema, $schema: "https://json-schema.org/draft/2020-12/schema" }
}

/**
 * `Schema.Struct({})` (what `Tool.make(name, { parameters: {} })` builds) is TypeScript's `{}`, which
 * Effect writes as `anyOf: [object, array]`; no protocol takes that as a tool's parameters (Anthropic
 * and OpenAI answer 400: they need `type: "object"`). It goes as the object with no properties that a
 * tool without parameters (`Tool.EmptyParams`) sends.
 */
const isEmptyStruct = (ast: AST.AST): ast is AST.TypeLiteral =>
  AST.isTypeLiteral(ast) && ast.propertySignatures.length === 0 && ast.indexSignatures.length === 0

const emptyObjectSchema = (ast: AST.TypeLiteral): Record<string, unknown> => {
  const description = AST.getDescriptionAnnotation(ast)
  return {
    type: "object",
    properties: {},
    required: [],
    additionalProperties: false,
    ...(Option.isSome(description) ? { description: description.value } : {})
  }
}

/** The toolkit's tools as definitions; provider-defined tools (a vendor's built-in search, …) are refused. */
export const toolDefinitionsOf = (tools: ReadonlyArray<Tool.Any>): ReadonlyArray<ToolDefinition> | FatalError => {
  const out: Array<ToolDefinition> = []
  for (const tool of tools) {
    if (Tool.isProviderDefined(tool)) {
      return invalidRequest(
        `tool ${JSON.stringify(tool.name)} is provider-defined; effect-llm sends only user-defined tools`
      )
    }
    const parameters = jsonSchemaOf(tool.parametersSchema, `the parameters of tool ${JSON.stringify(tool.name)}`)
    if (parameters instanceof FatalError) return parameters
    out.push({
      name: tool.name,
      // `Tool.getDescription` / `Tool.getJsonSchema`, on the fields every tool has (`Tool.Any`).
      description: tool.description ?? Tool.getDescriptionFromSchemaAst(tool.parametersSchema.ast),
      parameters: parameters as ToolDefinition["parameters"]
    })
  }
  return out
}

/**
 * The choice as `CallRequest` has it: `{ oneOf, mode: "required" }` is one of those tools; `{ oneOf }`
 * otherwise is `auto` over them (the tools sent are already those of `oneOf`, as `LanguageModel` filters
 * them), as the `@effect/ai-*` providers read it. Undefined when no tool is sent. A `{ oneOf }` naming a
 * tool the request does not carry is `invalid_request` (API.md §10), as `{ tool }` naming an unknown tool
 * is: `LanguageModel` kept only the toolkit's tools it names, so a name left out is no tool of the
 * toolkit (a typo, names built at run time) — sent, it would have quietly dropped every tool.
 */
export const toolChoiceOf = (
  choice: LanguageModel.ToolChoice<string>,
  toolNames: ReadonlyArray<string>
): ToolChoice | FatalError | undefined => {
  // (a program without types, or one reading its choice from JSON, may pass anything)
  if ((choice as unknown) === undefined) return undefined
  if (!isToolChoice(choice)) {
    return invalidRequest(
      `toolChoice must be "auto", "none", "required", { tool } or { oneOf, mode? }, got ${describe(choice)}`
    )
  }
  if (typeof choice !== "string" && "oneOf" in choice) {
    const unknown = choice.oneOf.filter((name) => !toolNames.includes(name))
    if (choice.oneOf.length === 0 || unknown.length > 0) {
      return invalidRequest(
        `toolChoice { oneOf: ${JSON.stringify(choice.oneOf)} } names no declared tool${
          unknown.length > 0 ? ` (${unknown.map((name) => JSON.stringify(name)).join(", ")})` : ""
        }`
      )
    }
  }
  if (toolNames.length === 0) return undefined
  if (typeof choice === "string") return choice
  if ("tool" in choice) return { tool: choice.tool }
  return choice.mode === "required" ? { oneOf: choice.oneOf } : "auto"
}

const isToolChoice = (choice: unknown): choice is LanguageModel.ToolChoice<string> => {
  if (choice === "auto" || choice === "none" || choice === "required") return true
  if (typeof choice !== "object" || choice === null) return false
  if ("tool" in choice) return typeof choice.tool === "string"
  const { mode, oneOf } = choice as { readonly mode?: unknown; readonly oneOf?: unknown }
  return (mode === undefined || mode === "auto" || mode === "required") && Array.isArray(oneOf) &&
    oneOf.every((name) => typeof name === "string")
}

/** `generateObject`'s schema as a JSON response format named `objectName`, described by its description annotation. */
export const responseFormatOf = (
  format: LanguageModel.ProviderOptions["responseFormat"]
): JsonResponseFormat | FatalError | undefined => {
  if (format.type !== "json") return undefined
  const schema = format.schema as Schema.Schema.Any
  const jsonSchema = jsonSchemaOf(schema, `the schema of object ${JSON.stringify(format.objectName)}`)
  if (jsonSchema instanceof FatalError) return jsonSchema
  const description = Tool.getDescriptionFromSchemaAst(schema.ast)
  return {
    type: "json",
    name: format.objectName,
    ...(description !== undefined ? { description } : {}),
    schema: jsonSchema as JsonResponseFormat["schema"]
  }
}
