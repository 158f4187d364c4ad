/**
 * A `CallRequest` as a Gemini API v1beta request (WIRE.md §1.1–§1.2, WIRE-tools-multimodal §1): the
 * `generateContent` body (contents from `Content.ts`, the system text as `systemInstruction`, tools as
 * `functionDeclarations` with `parametersJsonSchema`, the tool choice as `toolConfig`, JSON output as
 * `responseJsonSchema`), the method URL, the key in `x-goog-api-key` (never the URL, never
 * `Authorization`), and the protocol's request rules.
 */
import type { FatalError } from "../../domain/Errors.js"
import type { CallRequest, JsonSchema, ToolChoice } from "../../domain/Prompt.js"
import { invalidRequest } from "../../domain/Request.js"
import { type Capabilities, refuseUnsupported } from "../http/Parts.js"
import * as Request from "../http/Request.js"
import { checkTools, namedTools } from "../http/Tools.js"
import type { ProviderTarget } from "../Provider.js"
import { canCarryFile, type ContentBody, encodeMessages, type PartBody } from "./Content.js"

export type { ContentBody, PartBody } from "./Content.js"

/** The header that carries the API key. */
export const apiKeyHeader = "x-goog-api-key"

/** A `FunctionDeclaration`: the parameters as JSON Schema (`parametersJsonSchema`, WIRE-tools-multimodal §1.1). */
export interface FunctionDeclarationBody {
  readonly name: string
  readonly description?: string
  readonly parametersJsonSchema: JsonSchema
}

/** `toolConfig.functionCallingConfig` (WIRE-tools-multimodal §1.2). */
export interface FunctionCallingConfigBody {
  readonly mode: "AUTO" | "ANY" | "NONE"
  readonly allowedFunctionNames?: ReadonlyArray<string>
}

/** The `generationConfig` fields effect-llm sets. */
export interface GenerationConfigBody {
  readonly maxOutputTokens?: number
  readonly temperature?: number
  readonly topP?: number
  readonly stopSequences?: ReadonlyArray<string>
  readonly responseMimeType?: "application/json"
  readonly responseJsonSchema?: JsonSchema
}

/** The `generateContent` / `streamGenerateContent` request body. */
export interface GenerateContentRequest {
  readonly contents: ReadonlyArray<ContentBody>
  readonly systemInstruction?: { readonly parts: ReadonlyArray<PartBody> }
  readonly tools?: ReadonlyArray<{ readonly functionDeclarations: ReadonlyArray<FunctionDeclarationBody> }>
  readonly toolConfig?: { readonly functionCallingConfig: FunctionCallingConfigBody }
  readonly generationConfig?: GenerationConfigBody
}

/** `auto` → AUTO, `none` → NONE, `required` → ANY, `{tool}` / `{oneOf}` → ANY limited to those names. */
export const functionCallingConfig = (choice: ToolChoice): FunctionCallingConfigBody => {
  if (choice === "auto") return { mode: "AUTO" }
  if (choice === "none") return { mode: "NONE" }
  if (choice === "required") return { mode: "ANY" }
  return { mode: "ANY", allowedFunctionNames: namedTools(choice) }
}

/**
 * The request body for `modelId`; unset settings (and an empty stop list) are left out, and so are
 * an empty `generationConfig`, `tools` when none are declared and `toolConfig` when no choice is made.
 */
export const encode = (request: CallRequest, modelId = ""): GenerateContentRequest => {
  const generationConfig: { -readonly [K in keyof GenerationConfigBody]: GenerationConfigBody[K] } = {}
  if (request.maxOutputTokens !== undefined) generationConfig.maxOutputTokens = request.maxOutputTokens
  if (request.temperature !== undefined) generationConfig.temperature = request.temperature
  if (request.topP !== undefined) generationConfig.topP = request.topP
  if (request.stop !== undefined && request.stop.length > 0) generationConfig.stopSequences = request.stop
  if (request.responseFormat !== undefined) {
    generationConfig.responseMimeType = "application/json"
    generationConfig.responseJsonSchema = request.responseFormat.schema
  }
  const tools = request.tools ?? []
  return {
    contents: encodeMessages(request.messages, modelId),
    ...(request.system !== undefined ? { systemInstruction: { parts: [{ text: request.system }] } } : {}),
    ...(tools.length > 0
      ? {
        tools: [{
          functionDeclarations: tools.map((tool) => ({
            name: tool.name,
            ...(tool.description !== undefined && tool.description.length > 0
              ? { description: tool.description }
              : {}),
            parametersJsonSchema: tool.parameters
          }))
        }]
      }
      : {}),
    ...(tools.length > 0 && request.toolChoice !== undefined
      ? { toolConfig: { functionCallingConfig: functionCallingConfig(request.toolChoice) } }
      : {}),
    ...(Object.keys(generationConfig).length > 0 ? { generationConfig } : {})
  }
}

/** The API version a base URL ends with (`…/v1`, `…/v1alpha`, `…/v1beta`), before any query or fragment. */
const versionEnding = /\/(v1(?:alpha|beta)?)\/*(?:[?#].*)?$/s

/**
 * `{baseUrl}/v1beta/models/{modelId}:{method}` (a leading `models/` in the id is tolerated); a base that
 * ends with an API version (Google's `…/v1beta`, or `…/v1` pasted from its docs) keeps that version.
 */
export const methodUrl = (
  baseUrl: string,
  modelId: string,
  method: "generateContent" | "streamGenerateContent"
): string => {
  const version = `/${versionEnding.exec(baseUrl)?.[1] ?? "v1beta"}`
  return Request.joinUrl(
    baseUrl,
    `${version}/models/${encodeURIComponent(modelId.replace(/^models\//, ""))}:${method}`,
    version
  )
}

/** The HTTP request of one attempt; a stream asks for `alt=sse` (without it the server sends one JSON array). */
export const make = (target: ProviderTarget, request: CallRequest, streaming: boolean): Request.PreparedRequest =>
  Request.jsonPost(target, {
    url: methodUrl(target.endpoint.baseUrl, target.modelId, streaming ? "streamGenerateContent" : "generateContent"),
    ...(streaming ? { urlParams: { alt: "sse" } } : {}),
    body: encode(request, target.modelId),
    apiKeyHeader: { name: apiKeyHeader },
    accept: streaming ? "sse" : "json"
  })

/** What Gemini carries: every part kind (files as `canCarryFile` says), tools and JSON output. */
export const capabilities: Capabilities = {
  part: (part) => part.type !== "file" || canCarryFile(part),
  tools: true,
  structuredOutput: true
}

/** A function name Gemini accepts (GENAI's `FunctionDeclaration.name` rule, WIRE-tools-multimodal §1.1). */
export const functionName = /^[A-Za-z_][A-Za-z0-9_.:-]{0,127}$/

/** `generationConfig.stopSequences` holds "up to 5" (GENAI `GenerationConfig`); more is a 400 after the hold. */
export const maxStopSequences = 5

/**
 * Gemini's request rules: at most `maxStopSequences` stop sequences, the parts it carries (files by
 * media type and source), tool names and choices.
 */
export const check = (request: CallRequest, _modelId: string): FatalError | undefined =>
  (request.stop !== undefined && request.stop.length > maxStopSequences
    ? invalidRequest(`Gemini takes at most ${maxStopSequences} stop sequences, got ${request.stop.length}`)
    : undefined) ??
    refuseUnsupported(request, "gemini", capabilities) ?? checkTools(request, "gemini", functionName)
