/**
 * A `CallRequest` as an Anthropic Messages request (WIRE-openai-anthropic.md §2.1–§2.2,
 * WIRE-tools-multimodal §4): the system text top-level, the turns from `Content.ts` (consecutive turns
 * of one role merged, tool results in user turns), tools with `input_schema`, the tool choice, JSON
 * output as `output_config.format` or a forced tool, `max_tokens` always, the key in `x-api-key` with
 * `anthropic-version`, and the protocol's request rules (`temperature` in [0, 1], parts, tools).
 */
import { FatalError } from "../../domain/Errors.js"
import type { CallRequest, JsonResponseFormat, JsonSchema, ToolChoice, ToolDefinition } from "../../domain/Prompt.js"
import { jsonText } from "../../internal/JsonText.js"
import { type Capabilities, refuseUnsupported } from "../http/Parts.js"
import * as Request from "../http/Request.js"
import { checkTools, narrowTools } from "../http/Tools.js"
import type { ProviderTarget } from "../Provider.js"
import {
  type CacheControl,
  cacheControlOf,
  canCarry,
  encodeMessages,
  exceedsRequestSize,
  isBlank,
  type MessageBody
} from "./Content.js"

export { encodeMessages } from "./Content.js"

export type { BlockBody, MessageBody } from "./Content.js"

/** The Messages path, appended to an endpoint's `baseUrl` (the host). */
export const messagesPath = "/v1/messages"

/** The header that carries the API key. */
export const apiKeyHeader = "x-api-key"

/** The API version every request names (the only one Anthropic has published for the Messages API). */
export const anthropicVersion = "2023-06-01"

/**
 * `max_tokens` when a request reaches the encoder without an output cap. The plan always sets one for
 * this protocol (the request's, else `budget.default_max_output_tokens`); this is the same default, for
 * a client used directly.
 */
export const defaultMaxTokens = 1024

/** A tool (WIRE-tools-multimodal §4.1). */
export interface ToolBody {
  readonly name: string
  readonly description?: string
  readonly input_schema: JsonSchema
}

/** `tool_choice` (WIRE-tools-multimodal §4.1). */
export type ToolChoiceBody =
  | { readonly type: "auto" }
  | { readonly type: "any" }
  | { readonly type: "none" }
  | { readonly type: "tool"; readonly name: string }

/** The Messages request body. */
export interface MessagesRequest {
  readonly model: string
  readonly max_tokens: number
  readonly system?:
    | string
    | ReadonlyArray<{ readonly type: "text"; readonly text: string; readonly cache_control: CacheControl }>
  readonly messages: ReadonlyArray<MessageBody>
  readonly temperature?: number
  readonly top_p?: number
  readonly stop_sequences?: ReadonlyArray<string>
  readonly stream?: true
  readonly tools?: ReadonlyArray<ToolBody>
  readonly tool_choice?: ToolChoiceBody
  readonly output_config?: { readonly format: { readonly type: "json_schema"; readonly schema: JsonSchema } }
}

/**
 * Whether a model takes native structured output (`output_config.format`, WIRE-tools-multimodal §4.5):
 * the Claude 4.5 generation and later — Opus 4.5/4.6, Sonnet 4.5/4.6, Haiku 4.5, named as Anthropic
 * names them (`claude-sonnet-4-5`, `claude-opus-4-6-…`, with or without a date, a Bedrock or Vertex
 * prefix). Other models (Claude 4.1 and older, compatible servers' models) get a forced tool instead.
 */
export const nativeStructuredOutput = (modelId: string): boolean =>
  /claude-(opus|sonnet|haiku)-(4-[5-9]|[5-9])(?![0-9])/.test(modelId.toLowerCase())

/**
 * The tool a forced-tool JSON answer comes back through: the format's name when Anthropic's name
 * rule takes it, else `json`. Its `input` is the answer.
 */
export const answerToolOf = (format: JsonResponseFormat): string =>
  /^[a-zA-Z0-9_-]{1,64}$/.test(format.name) ? format.name : "json"

// Keywords native structured output rejects (the AI SDK strips exactly these before sending,
// `sanitize-json-schema.ts`: "Removes JSON Schema keywords that Anthropic rejects"; WIRE-tools-multimodal §4.5).
const unsupportedKeywords = new Set([
  "minimum",
  "maximum",
  "exclusiveMinimum",
  "exclusiveMaximum",
  "multipleOf",
  "minLength",
  "maxLength",
  "pattern",
  "minItems",
  "maxItems",
  "uniqueItems",
  "minProperties",
  "maxProperties",
  "not"
])

// String formats native structured output takes (the AI SDK keeps exactly these, WIRE-tools-multimodal §4.5).
const supportedFormats = new Set([
  "date-time",
  "time",
  "date",
  "duration",
  "email",
  "hostname",
  "uri",
  "ipv4",
  "ipv6",
  "uuid"
])

const isObject = (value: unknown): value is Readonly<Record<string, unknown>> =>
  typeof value === "object" && value !== null && !Array.isArray(value)

/** A local `$ref`: where it sits and where it points, as JSON Pointers (`""` is the root). */
interface LocalRef {
  readonly at: string
  readonly to: string
}

const localRefs = (schema: unknown, at: string, out: Array<LocalRef>): Array<LocalRef> => {
  if (Array.isArray(schema)) schema.forEach((item, i) => localRefs(item, `${at}/${i}`, out))
  else if (isObject(schema)) {
    for (const [key, value] of Object.entries(schema)) {
      if (key === "$ref" && typeof value === "string") {
        if (value === "#" || value.startsWith("#/")) out.push({ at, to: value.slice(1) })
      } else localRefs(value, `${at}/${key.replace(/~/g, "~0").replace(/\//g, "~1")}`, out)
    }
  }
  return out
}

/**
 * Whether a schema refers to itself (`Schema.suspend`): following local `$ref`s (each leads to the refs
 * inside its target) comes back to one. A `$ref` to a shared definition outside any cycle is no recursion.
 */
const recursiveSchema = (schema: unknown): boolean => {
  const refs = localRefs(schema, "", [])
  const state = new Map<LocalRef, "visiting" | "done">()
  const cycleFrom = (ref: LocalRef): boolean => {
    const seen = state.get(ref)
    if (seen !== undefined) return seen === "visiting"
    state.set(ref, "visiting")
    const next = refs.filter((inner) => inner.at === ref.to || inner.at.startsWith(`${ref.to}/`))
    if (next.some(cycleFrom)) return true
    state.set(ref, "done")
    return false
  }
  return refs.some(cycleFrom)
}

/** Every object schema (at any depth) closed, and no keyword of the list the service rejects. */
const closedSchema = (schema: unknown): boolean => {
  if (Array.isArray(schema)) return schema.every(closedSchema)
  if (!isObject(schema)) return true
  for (const [key, value] of Object.entries(schema)) {
    if (unsupportedKeywords.has(key)) return false
    if (key === "format" && typeof value === "string" && !supportedFormats.has(value)) return false
    // `properties`, `$defs` and `definitions` map names to schemas; a name is no keyword.
    if (key === "properties" || key === "$defs" || key === "definitions") {
      if (isObject(value) && !Object.values(value).every(closedSchema)) return false
    } else if (typeof value === "object" && !closedSchema(value)) return false
  }
  const isObjectSchema = schema.type === "object" || isObject(schema.properties)
  return !isObjectSchema || schema.additionalProperties === false
}

/**
 * Whether `output_config.format` takes a schema: every object schema (at any depth) has
 * `additionalProperties: false`, no keyword of the list the service rejects appears, and it is not
 * recursive (WIRE-tools-multimodal §4.5: native structured outputs do not support recursion). A schema
 * that does not qualify goes through a forced tool, whose `input_schema` takes any JSON Schema.
 */
export const nativeSchema = (schema: unknown): boolean => closedSchema(schema) && !recursiveSchema(schema)

/**
 * How a request's JSON answer comes back: the name of the forced tool whose `input` is the answer,
 * or `undefined` when the model answers natively in text (a model `nativeStructuredOutput` names,
 * with a schema `nativeSchema` takes), or no JSON is asked for.
 */
export const answerToolFor = (request: CallRequest, modelId: string): string | undefined =>
  request.responseFormat !== undefined &&
    !(nativeStructuredOutput(modelId) && nativeSchema(request.responseFormat.schema))
    ? answerToolOf(request.responseFormat)
    : undefined

/**
 * The tool an answer's JSON may come back through: the forced one, or — when the model was asked to
 * answer natively and the request declares no tools of its own — the name of the format's, since a
 * `tool_use` can then only be the answer (a gateway that rewrote the request into a forced tool, a
 * recording made so); a text answer reads as text either way.
 */
export const replyToolFor = (request: CallRequest, modelId: string): string | undefined =>
  answerToolFor(request, modelId) ??
    (request.responseFormat !== undefined && (request.tools ?? []).length === 0
      ? answerToolOf(request.responseFormat)
      : undefined)

const toolBody = (tool: ToolDefinition): ToolBody => ({
  name: tool.name,
  ...(tool.description !== undefined && tool.description.length > 0 ? { description: tool.description } : {}),
  input_schema: tool.parameters
})

/**
 * The tools the history calls or answers that the request does not declare, by name with an open
 * object schema (in order of first appearance): the service refuses tool blocks in a request that
 * defines no tools, so a turn sent without the toolkit still declares them.
 */
const undeclaredHistoryTools = (
  request: CallRequest,
  declared: ReadonlyArray<ToolDefinition>,
  answerTool?: string
): Array<ToolBody> => {
  const names = new Set<string>()
  for (const message of request.messages) {
    for (const part of message.parts) {
      if ((part.type === "tool-call" || part.type === "tool-result") && part.name.length > 0) names.add(part.name)
    }
  }
  for (const tool of declared) names.delete(tool.name)
  // the forced answer tool is declared with the format's schema already (tool names must be unique)
  if (answerTool !== undefined) names.delete(answerTool)
  // a name the service would refuse to declare (a call made over another protocol) is left undeclared
  return [...names].filter((name) => toolName.test(name)).map((name) => ({ name, input_schema: { type: "object" } }))
}

/** `auto`, `none`, `required` → `any`, one named tool → `tool` (after `narrowTools`). */
export const toolChoiceOf = (choice: ToolChoice): ToolChoiceBody =>
  choice === "auto" || choice === "none"
    ? { type: choice }
    : choice === "required"
    ? { type: "any" }
    : { type: "tool", name: "tool" in choice ? choice.tool : choice.oneOf[0]! }

/**
 * The request body; unset settings (and an empty stop list) are left out, `stream` only on streams. A
 * choice of several tools is `any` over those tools only (`narrowTools`). JSON output is
 * `output_config.format` on the models `nativeStructuredOutput` names, for a schema `nativeSchema`
 * takes; otherwise a tool
 * named `answerToolOf` with the format's schema is added and forced (the other tools are still
 * declared, so that the history's calls stay valid, but cannot be called in that request).
 */
export const encode = (modelId: string, request: CallRequest, streaming: boolean): MessagesRequest => {
  const body: { -readonly [K in keyof MessagesRequest]: MessagesRequest[K] } = {
    model: modelId,
    max_tokens: request.maxOutputTokens ?? defaultMaxTokens,
    messages: encodeMessages(request.messages)
  }
  if (request.system !== undefined && !isBlank(request.system)) {
    // (whitespace-only system text is left out: "system: text content blocks must contain non-whitespace text")
    // a cache breakpoint needs the block form; otherwise the plain string every compatible server takes
    const cacheControl = cacheControlOf(request.systemMetadata)
    body.system = cacheControl === undefined
      ? request.system
      : [{ type: "text", text: request.system, cache_control: cacheControl }]
  }
  if (request.temperature !== undefined) body.temperature = request.temperature
  if (request.topP !== undefined) body.top_p = request.topP
  if (request.stop !== undefined && request.stop.length > 0) body.stop_sequences = request.stop
  if (streaming) body.stream = true
  const { choice, tools } = narrowTools(request.tools ?? [], request.toolChoice)
  const format = request.responseFormat
  const answerTool = answerToolFor(request, modelId)
  if (format !== undefined && answerTool !== undefined) {
    // Forced tool use: the answer is the `input` of a call to a tool whose schema is the format's.
    body.tools = [
      ...tools.map(toolBody),
      ...undeclaredHistoryTools(request, tools, answerTool),
      toolBody({
        name: answerTool,
        description: format.description ?? "Respond with a JSON object.",
        parameters: format.schema
      })
    ]
    body.tool_choice = { type: "tool", name: answerTool }
    return body
  }
  if (tools.length > 0) {
    body.tools = tools.map(toolBody)
    if (choice !== undefined) body.tool_choice = toolChoiceOf(choice)
  } else {
    // A history with tool calls or results needs tools declared ("Requests which include `tool_use` or
    // `tool_result` blocks must define tools."): a follow-up turn without a toolkit (a summary, a
    // `generateObject` after a tool loop) declares the history's tools by name, none of them callable.
    const declared = undeclaredHistoryTools(request, tools)
    if (declared.length > 0) {
      body.tools = declared
      body.tool_choice = { type: "none" }
    }
  }
  if (format !== undefined) {
    // The root `$schema` (a draft marker, not a constraint) is dropped, as for OpenAI.
    const { $schema: _, ...schema } = format.schema
    body.output_config = { format: { type: "json_schema", schema } }
  }
  return body
}

/** The HTTP request of one attempt: `POST {base_url}/v1/messages`, a stream asking for `text/event-stream`. */
export const make = (target: ProviderTarget, request: CallRequest, streaming: boolean): Request.PreparedRequest =>
  Request.jsonPost(target, {
    url: Request.joinUrl(target.endpoint.baseUrl, messagesPath, "/v1"),
    body: encode(target.modelId, request, streaming),
    apiKeyHeader: { name: apiKeyHeader },
    accept: streaming ? "sse" : "json",
    headers: { "anthropic-version": anthropicVersion }
  })

/** What Anthropic carries: files in user turns as `Content.canCarry` says, tools and JSON output. */
export const capabilities: Capabilities = { part: canCarry, tools: true, structuredOutput: true }

/** A tool name Anthropic accepts everywhere (the older, narrower rule; WIRE-tools-multimodal §4.1). */
export const toolName = /^[a-zA-Z0-9_-]{1,64}$/

const invalid = (message: string) => new FatalError({ reason: "invalid_request", message })

/**
 * Anthropic's request rules: `temperature` within [0, 1] (the Messages API's range, narrower than
 * the [0, 2] effect-llm accepts), refused here rather than as the service's 400; the parts it carries
 * (files by kind, source and turn); tool names and choices; and, for JSON output through a forced
 * tool, no other tool choice and no declared tool of the answer tool's name.
 */
export const check = (request: CallRequest, modelId: string): FatalError | undefined => {
  if (request.temperature !== undefined && !(request.temperature >= 0 && request.temperature <= 1)) {
    return invalid(`temperature must be within [0, 1] for Anthropic models, got ${request.temperature}`)
  }
  const refused = refuseUnsupported(request, "anthropic", capabilities) ?? checkTools(request, "anthropic", toolName)
  if (refused !== undefined) return refused
  const oversized = exceedsRequestSize(request, () => Buffer.byteLength(jsonText(encode(modelId, request, true)) ?? ""))
  if (oversized !== undefined) return invalid(oversized)
  // A stop sequence of whitespace only: "stop_sequences: each stop sequence must contain non-whitespace" (400).
  const blankStop = (request.stop ?? []).findIndex(isBlank)
  if (blankStop >= 0) {
    return invalid(
      `stop[${blankStop}] ${
        JSON.stringify(request.stop![blankStop])
      } is whitespace only, which Anthropic refuses (each stop sequence must contain non-whitespace)`
    )
  }
  // Whitespace-only text is left out (the service refuses it): a request of nothing else has nothing to send.
  if (!request.messages.some((message) => message.parts.some((part) => part.type !== "text" || !isBlank(part.text)))) {
    return invalid("the messages hold only whitespace, which Anthropic refuses (text must contain non-whitespace text)")
  }
  // A last user turn of whitespace only would be left out, making the assistant turn before it a
  // prefill: the model would go on with its last answer instead of replying. Said instead — only when
  // the turn sent last is then the assistant's (a blank turn after a user turn or a tool result is merged).
  const lastIndex = request.messages.length - 1
  const last = request.messages[lastIndex]
  if (
    last !== undefined && last.role !== "assistant" &&
    last.parts.every((part) => part.type === "text" && isBlank(part.text)) &&
    encodeMessages(request.messages).at(-1)?.role === "assistant"
  ) {
    return invalid(
      `the last user turn (messages[${lastIndex}]) holds only whitespace, which Anthropic refuses; left out, the answer would continue the assistant turn before it`
    )
  }
  const answerTool = answerToolFor(request, modelId)
  if (answerTool === undefined) return undefined
  // A tool's input_schema must be an object schema (the service answers 400 otherwise).
  const schema = request.responseFormat?.schema
  if (!isObject(schema) || schema.type !== "object") {
    return invalid(
      `JSON output on ${modelId} comes back through a forced call of the tool "${answerTool}", whose input_schema must be an object schema (type "object"); got ${
        isObject(schema) && typeof schema.type === "string" ? `type "${schema.type}"` : "a schema without it"
      }: wrap the answer in an object (a Struct)`
    )
  }
  if (request.toolChoice !== undefined && request.toolChoice !== "auto") {
    return invalid(
      `toolChoice ${
        JSON.stringify(request.toolChoice)
      } cannot be combined with JSON output on ${modelId}: the answer comes back through a forced call of the tool "${answerTool}"`
    )
  }
  if ((request.tools ?? []).some((tool) => tool.name === answerTool)) {
    return invalid(
      `tools declare "${answerTool}", the name of the tool JSON output on ${modelId} comes back through; rename the tool or the output format`
    )
  }
  return undefined
}
