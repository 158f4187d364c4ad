/**
 * A `CallRequest` as a Gemini API v1beta request (WIRE.md §1.1–§1.2): the `generateContent` body
 * (roles `user`/`model`, the system text as `systemInstruction`), the method URL, the key in
 * `x-goog-api-key` (never the URL, never `Authorization`), and the protocol's request rules.
 */
import type { FatalError } from "../../domain/Errors.js"
import type { CallRequest, Part } from "../../domain/Prompt.js"
import { refuseUnsupported, textOnly } from "../http/Parts.js"
import * as Request from "../http/Request.js"
import type { ProviderTarget } from "../Provider.js"

/** The header that carries the API key. */
export const apiKeyHeader = "x-goog-api-key"

/** A Gemini `Part` of a request. */
export interface PartBody {
  readonly text: string
}

/** A Gemini `Content`. */
export interface ContentBody {
  readonly role: "user" | "model"
  readonly parts: ReadonlyArray<PartBody>
}

/** The `generateContent` / `streamGenerateContent` request body. */
export interface GenerateContentRequest {
  readonly contents: ReadonlyArray<ContentBody>
  readonly systemInstruction?: { readonly parts: ReadonlyArray<PartBody> }
  readonly generationConfig?: {
    readonly maxOutputTokens?: number
    readonly temperature?: number
    readonly topP?: number
    readonly stopSequences?: ReadonlyArray<string>
  }
}

// Only text is carried today: `check` refuses every other part before a request is built.
const encodePart = (part: Part): PartBody => ({ text: part.type === "text" ? part.text : "" })

/** The request body; unset settings (and an empty stop list) are left out, and so is an empty `generationConfig`. */
export const encode = (request: CallRequest): GenerateContentRequest => {
  const generationConfig: {
    maxOutputTokens?: number
    temperature?: number
    topP?: number
    stopSequences?: ReadonlyArray<string>
  } = {}
  if (request.maxOutputTokens !== undefined) generationConfig.maxOutputTokens = request.maxOutputTokens
  if (request.temperature !== undefined) generationConfig.temperature = request.temperature
  if (request.topP !== undefined) generationConfig.topP = request.topP
  if (request.stop !== undefined && request.stop.length > 0) generationConfig.stopSequences = request.stop
  return {
    contents: request.messages.map((message) => ({
      role: message.role === "assistant" ? "model" : "user",
      parts: message.parts.map(encodePart)
    })),
    ...(request.system !== undefined ? { systemInstruction: { parts: [{ text: request.system }] } } : {}),
    ...(Object.keys(generationConfig).length > 0 ? { generationConfig } : {})
  }
}

/** `{baseUrl}/v1beta/models/{modelId}:{method}` (a leading `models/` in the id is tolerated). */
export const methodUrl = (
  baseUrl: string,
  modelId: string,
  method: "generateContent" | "streamGenerateContent"
): string =>
  Request.joinUrl(baseUrl, `/v1beta/models/${encodeURIComponent(modelId.replace(/^models\//, ""))}:${method}`)

/** The HTTP request of one attempt; a stream asks for `alt=sse` (without it the server sends one JSON array). */
export const make = (target: ProviderTarget, request: CallRequest, streaming: boolean): Request.PreparedRequest =>
  Request.jsonPost(target, {
    url: methodUrl(target.endpoint.baseUrl, target.modelId, streaming ? "streamGenerateContent" : "generateContent"),
    ...(streaming ? { urlParams: { alt: "sse" } } : {}),
    body: encode(request),
    apiKeyHeader: { name: apiKeyHeader },
    accept: streaming ? "sse" : "json"
  })

/** Gemini's request rules: the parts, tools and output formats it carries. */
export const check = (request: CallRequest, _modelId: string): FatalError | undefined =>
  refuseUnsupported(request, "gemini", textOnly)
