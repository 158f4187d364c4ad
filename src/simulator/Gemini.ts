/**
 * The Gemini API v1beta wire format as the simulator serves it (WIRE.md §1, WIRE-tools-multimodal §1):
 * `x-goog-api-key` auth (a wrong key is 400 API_KEY_INVALID), `GenerateContentResponse` bodies,
 * `alt=sse` streams framed `data: {json}\r\n\r\n` with cumulative `usageMetadata`, whole
 * `functionCall` parts (ids and a signed first call on Gemini 3) for a step's tool calls, and
 * `google.rpc.Status` error bodies — including the 400s for the tools, parts and tool turns the real
 * service rejects (`GeminiTools.ts`).
 */
import { checkContents, checkJsonOutput, checkTools, isGemini3, signatureOf, signsCalls } from "./GeminiTools.js"
import { type Completion, type ParsedRequest, type SimulatorStep, tokensOf } from "./Script.js"
import { type Reply, type RequestHeaders, retryHeaders, type Wire } from "./Wire.js"

const jsonHeaders = { "content-type": "application/json; charset=UTF-8", server: "scaffolding on HTTPServer2" }
const sseHeaders = {
  "content-type": "text/event-stream",
  "content-disposition": "attachment",
  server: "scaffolding on HTTPServer2"
}

const statusNames: Record<number, string> = {
  400: "INVALID_ARGUMENT",
  401: "UNAUTHENTICATED",
  403: "PERMISSION_DENIED",
  404: "NOT_FOUND",
  408: "DEADLINE_EXCEEDED",
  409: "ABORTED",
  429: "RESOURCE_EXHAUSTED",
  499: "CANCELLED",
  500: "INTERNAL",
  501: "NOT_IMPLEMENTED",
  502: "UNAVAILABLE",
  503: "UNAVAILABLE",
  504: "DEADLINE_EXCEEDED"
}

const messages: Record<number, string> = {
  400: "Request contains an invalid argument.",
  403: "The caller does not have permission",
  404: "Requested entity was not found.",
  500:
    "An internal error has occurred. Please retry or report in https://developers.generativeai.google/guide/troubleshooting",
  503: "The model is overloaded. Please try again later.",
  504: "The request timed out. Please try again."
}

const errorObject = (status: number, step: SimulatorStep): Record<string, unknown> => {
  const details: Array<Record<string, unknown>> = []
  let message = step.message ?? messages[status] ?? "The service encountered an error."
  if (status === 429) {
    const perDay = step.quota === "day"
    const quotaId = perDay
      ? "GenerateRequestsPerDayPerProjectPerModel-FreeTier"
      : "GenerateRequestsPerMinutePerProjectPerModel-FreeTier"
    const metric = "generativelanguage.googleapis.com/generate_content_free_tier_requests"
    message = step.message ??
      `You exceeded your current quota, please check your plan and billing details. For more information on this error, head to: https://ai.google.dev/gemini-api/docs/rate-limits.\n* Quota exceeded for metric: ${metric}, limit: ${
          perDay ? 250 : 10
        }` +
        (step.retryInfo !== undefined ? `\nPlease retry in ${step.retryInfo}.` : "")
    details.push(
      { "@type": "type.googleapis.com/google.rpc.QuotaFailure", violations: [{ quotaMetric: metric, quotaId }] },
      {
        "@type": "type.googleapis.com/google.rpc.Help",
        links: [{
          description: "Learn more about Gemini API quotas",
          url: "https://ai.google.dev/gemini-api/docs/rate-limits"
        }]
      }
    )
    if (step.retryInfo !== undefined) {
      details.push({ "@type": "type.googleapis.com/google.rpc.RetryInfo", retryDelay: step.retryInfo })
    }
  }
  return {
    code: status,
    message,
    status: step.code ?? statusNames[status] ?? (status >= 500 ? "INTERNAL" : "UNKNOWN"),
    ...(details.length > 0 ? { details } : {})
  }
}

const errorReply = (
  status: number,
  step: SimulatorStep,
  stream: boolean,
  extra: Record<string, string> = {}
): Reply => ({
  status,
  // A failed stream request keeps `text/event-stream` but carries a plain JSON body (WIRE.md §1.7).
  headers: { ...(stream ? sseHeaders : jsonHeaders), ...retryHeaders(step), ...extra },
  body: JSON.stringify({ error: errorObject(status, step) }, null, 2)
})

const invalid = (message: string): Reply => ({
  status: 400,
  headers: jsonHeaders,
  body: JSON.stringify({ error: { code: 400, message, status: "INVALID_ARGUMENT" } }, null, 2)
})

/** The text of a content: text parts, and function calls and responses as `name: {json}` (for tokens and the echo). */
const textOf = (content: unknown): string => {
  const parts = (content as { parts?: unknown } | undefined)?.parts
  if (!Array.isArray(parts)) return ""
  return parts.map((part) => {
    if (typeof part?.text === "string") return part.text as string
    const call = part?.functionCall ?? part?.functionResponse
    return typeof call?.name === "string" ? `${call.name}: ${JSON.stringify(call.args ?? call.response ?? {})}` : ""
  }).join("")
}

/** A Gemini 3 call id: 8 characters, as the service sends (`PPik6Btt`). */
const callId = (requestId: string, index: number): string =>
  Buffer.from(`${requestId}:${index}`).toString("base64").replace(/[^A-Za-z0-9]/g, "").slice(-8)

/** Gemini's `args` is an object: a scripted arguments text is parsed (`{}` when it is no JSON object). */
const argsOf = (value: unknown): unknown => {
  if (typeof value !== "string") return value ?? {}
  try {
    const parsed: unknown = JSON.parse(value)
    return typeof parsed === "object" && parsed !== null && !Array.isArray(parsed) ? parsed : {}
  } catch {
    return {}
  }
}

/** A step's tool calls as `functionCall` parts: ids on Gemini 3, the first call signed on thinking models. */
const callParts = (completion: Completion): Array<Record<string, unknown>> =>
  (completion.toolCalls ?? []).map((call, index) => {
    const id = call.id ?? (isGemini3(completion.model) ? callId(completion.requestId, index) : undefined)
    const functionCall = { name: call.name, args: argsOf(call.arguments), ...(id !== undefined ? { id } : {}) }
    return index === 0 && signsCalls(completion.model)
      ? { functionCall, thoughtSignature: signatureOf(functionCall) }
      : { functionCall }
  })

const hasCalls = (completion: Completion): boolean => (completion.toolCalls?.length ?? 0) > 0

const callTokens = (parts: ReadonlyArray<Record<string, unknown>>): number =>
  parts.reduce((sum, part) => sum + tokensOf(JSON.stringify(part.functionCall).length), 0)

const usageJson = (prompt: number, candidates: number): string =>
  `{"promptTokenCount":${prompt},"candidatesTokenCount":${candidates},"totalTokenCount":${prompt + candidates}}`

const finishOf = (completion: Completion): string =>
  completion.finishRaw ?? (completion.finish === "length" ? "MAX_TOKENS" : "STOP")

/** The Gemini wire format. */
export const gemini: Wire = {
  provider: "google",

  authenticate: (headers: RequestHeaders, url: URL, keys: ReadonlySet<string>) => {
    if (headers.authorization !== undefined) {
      return {
        status: 401,
        headers: jsonHeaders,
        body: JSON.stringify(
          {
            error: {
              code: 401,
              message:
                "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.",
              status: "UNAUTHENTICATED"
            }
          },
          null,
          2
        )
      }
    }
    const header = headers["x-goog-api-key"]
    const key = (Array.isArray(header) ? header[0] : header) ?? url.searchParams.get("key") ?? undefined
    if (key === undefined || key === "") {
      return {
        status: 403,
        headers: jsonHeaders,
        body: JSON.stringify(
          {
            error: {
              code: 403,
              message:
                "Method doesn't allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API.",
              status: "PERMISSION_DENIED"
            }
          },
          null,
          2
        )
      }
    }
    if (keys.has(key)) return undefined
    return {
      status: 400,
      headers: jsonHeaders,
      body: JSON.stringify(
        {
          error: {
            code: 400,
            message: "API key not valid. Please pass a valid API key.",
            status: "INVALID_ARGUMENT",
            details: [
              {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                reason: "API_KEY_INVALID",
                domain: "googleapis.com",
                metadata: { service: "generativelanguage.googleapis.com" }
              },
              {
                "@type": "type.googleapis.com/google.rpc.LocalizedMessage",
                locale: "en-US",
                message: "API key not valid. Please pass a valid API key."
              }
            ]
          }
        },
        null,
        2
      )
    }
  },

  parse: (body, model) => {
    const request = body as {
      contents?: unknown
      systemInstruction?: unknown
      system_instruction?: unknown
      tools?: unknown
      toolConfig?: unknown
      tool_config?: unknown
      generationConfig?: Record<string, unknown>
      generation_config?: Record<string, unknown>
    }
    if (typeof request !== "object" || request === null) return invalid("Invalid JSON payload received.")
    if (!Array.isArray(request.contents) || request.contents.length === 0) {
      return invalid("* GenerateContentRequest.contents: contents is not specified\n")
    }
    let inputChars = textOf(request.systemInstruction ?? request.system_instruction).length
    let prompt = ""
    for (const content of request.contents as Array<{ role?: unknown }>) {
      if (content?.role !== undefined && content.role !== "user" && content.role !== "model") {
        return invalid(`Please use a valid role: user, model.`)
      }
      const text = textOf(content)
      inputChars += text.length
      if (content?.role !== "model") prompt = text
    }
    const rejected = checkContents(request.contents, model ?? "")
    if (rejected !== undefined) return invalid(rejected.message)
    const tools = checkTools(request.tools, request.toolConfig ?? request.tool_config)
    if ("message" in tools) return invalid(tools.message)
    const config = request.generationConfig ?? request.generation_config ?? {}
    const json = checkJsonOutput(config)
    if (json !== undefined) return invalid(json.message)
    const max = config.maxOutputTokens ?? config.max_output_tokens
    if (max !== undefined && !(Number.isInteger(max) && (max as number) > 0)) {
      return invalid("* GenerateContentRequest.generation_config.max_output_tokens: must be positive\n")
    }
    const temperature = config.temperature
    if (temperature !== undefined && !(typeof temperature === "number" && temperature >= 0 && temperature <= 2)) {
      return invalid("* GenerateContentRequest.generation_config.temperature: must be in [0.0, 2.0]\n")
    }
    const stop = config.stopSequences ?? config.stop_sequences
    return {
      model: model ?? "unknown",
      prompt,
      inputChars,
      maxOutputTokens: max as number | undefined,
      stop: Array.isArray(stop) ? stop.filter((s): s is string => typeof s === "string") : [],
      resultFormat: "message",
      incremental: true
    } satisfies ParsedRequest
  },

  wantsStream: () => false,

  unary: (completion) => {
    if (hasCalls(completion)) {
      // A step's text (if any) comes first, as in "Let me check." then the call (VAI issue-10781).
      const text = completion.deltas.join("")
      const calls = callParts(completion)
      const parts = text.length > 0 ? [{ text }, ...calls] : calls
      const output = callTokens(calls) + tokensOf(text.length)
      return {
        status: 200,
        headers: jsonHeaders,
        body: JSON.stringify(
          {
            candidates: [{
              content: { parts, role: "model" },
              finishReason: "STOP",
              index: 0,
              finishMessage: "Model generated function call(s)."
            }],
            usageMetadata: {
              promptTokenCount: completion.inputTokens,
              candidatesTokenCount: output,
              totalTokenCount: completion.inputTokens + output
            },
            modelVersion: completion.model,
            responseId: completion.requestId
          },
          null,
          2
        )
      }
    }
    const text = completion.deltas.join("")
    return {
      status: 200,
      headers: jsonHeaders,
      body: JSON.stringify(
        {
          candidates: [{ content: { parts: [{ text }], role: "model" }, finishReason: finishOf(completion), index: 0 }],
          usageMetadata: {
            promptTokenCount: completion.inputTokens,
            candidatesTokenCount: tokensOf(text.length),
            totalTokenCount: completion.inputTokens + tokensOf(text.length)
          },
          modelVersion: completion.model,
          responseId: completion.requestId
        },
        null,
        2
      )
    }
  },

  streamHeaders: () => sseHeaders,

  frames: (completion) => {
    const tail = `,"modelVersion":${JSON.stringify(completion.model)},"responseId":${
      JSON.stringify(completion.requestId)
    }}\r\n\r\n`
    if (hasCalls(completion)) {
      // The step's text chunks (if any), one chunk per whole call, then an empty text part with the
      // finish reason (Gemini 3 streams).
      const frames: Array<string> = []
      let output = 0
      for (const delta of completion.deltas) {
        if (delta.length === 0) continue
        output += tokensOf(delta.length)
        frames.push(
          `data: {"candidates":[{"content":{"parts":[{"text":${
            JSON.stringify(delta)
          }}],"role":"model"},"index":0}],"usageMetadata":${usageJson(completion.inputTokens, output)}${tail}`
        )
      }
      for (const part of callParts(completion)) {
        output += callTokens([part])
        frames.push(
          `data: {"candidates":[{"content":{"parts":[${
            JSON.stringify(part)
          }],"role":"model"},"index":0}],"usageMetadata":${usageJson(completion.inputTokens, output)}${tail}`
        )
      }
      frames.push(
        `data: {"candidates":[{"content":{"parts":[{"text":""}],"role":"model"},"finishReason":"STOP","index":0}],"usageMetadata":${
          usageJson(completion.inputTokens, output)
        }${tail}`
      )
      return frames
    }
    const last = completion.deltas.length - 1
    const finish = `,"finishReason":${JSON.stringify(finishOf(completion))}`
    const frames = new Array<string>(completion.deltas.length)
    let sent = 0
    for (let i = 0; i <= last; i++) {
      const delta = completion.deltas[i]!
      sent += delta.length
      frames[i] = `data: {"candidates":[{"content":{"parts":[{"text":${JSON.stringify(delta)}}],"role":"model"}${
        i === last ? finish : ""
      },"index":0}],"usageMetadata":${usageJson(completion.inputTokens, tokensOf(sent))}${tail}`
    }
    return frames
  },

  error: (status, step, _requestId, stream) => errorReply(status, step, stream),

  streamError: (status, step) => `data: ${JSON.stringify({ error: errorObject(status, step) })}\r\n\r\n`,

  blocked: (request, reason, requestId, stream) => {
    const input = tokensOf(request.inputChars)
    const payload = {
      promptFeedback: { blockReason: reason },
      usageMetadata: { promptTokenCount: input, totalTokenCount: input },
      modelVersion: request.model,
      responseId: requestId
    }
    return stream
      ? { status: 200, headers: sseHeaders, body: `data: ${JSON.stringify(payload)}\r\n\r\n` }
      : { status: 200, headers: jsonHeaders, body: JSON.stringify(payload, null, 2) }
  }
}
