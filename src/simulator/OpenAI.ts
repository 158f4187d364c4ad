/**
 * The OpenAI Chat Completions wire format as the simulator serves it (WIRE-openai-anthropic §1.10):
 * `Authorization: Bearer` auth (401 `invalid_api_key`; endpoints configured keyless accept anything),
 * request validation with OpenAI's 400 bodies (content parts, tool turns, tools and JSON output as
 * `OpenAITools.ts` checks them), `chat.completion` answers (with a step's tool calls) with `x-request-id` and
 * `x-ratelimit-*` headers, streams framed `data: {chunk}\n\n` — text deltas, a finish chunk with an
 * empty delta, a `choices: []` usage chunk when `stream_options.include_usage` asks for it, then
 * `data: [DONE]` — and `{"error":{message,type,param,code}}` errors, before the stream or in it.
 */
import { checkRequest, contentText } from "./OpenAITools.js"
import { type Completion, type ParsedRequest, type SimulatorStep, tokensOf } from "./Script.js"
import { headerOf, type Reply, retryHeaders, type Wire } from "./Wire.js"

const jsonType = { "content-type": "application/json" }
const sseType = { "content-type": "text/event-stream; charset=utf-8" }

const baseHeaders = (requestId: string) => ({
  "x-request-id": requestId,
  "openai-version": "2020-10-01",
  "openai-processing-ms": "42"
})

/** The rate-limit headers of a successful answer (api.openai.com sends them on every response). */
const rateLimitHeaders = {
  "x-ratelimit-limit-requests": "30000",
  "x-ratelimit-limit-tokens": "150000000",
  "x-ratelimit-remaining-requests": "29999",
  "x-ratelimit-remaining-tokens": "149999990",
  "x-ratelimit-reset-requests": "2ms",
  "x-ratelimit-reset-tokens": "0s"
}

interface ErrorObject {
  readonly message: string
  readonly type: string | null
  readonly param: string | null
  readonly code: string | null
}

const errors: Record<number, ErrorObject> = {
  400: { message: "Invalid request.", type: "invalid_request_error", param: null, code: null },
  401: {
    message: "Incorrect API key provided. You can find your API key at https://platform.openai.com/account/api-keys.",
    type: "invalid_request_error",
    param: null,
    code: "invalid_api_key"
  },
  // DeepSeek's balance refusal (no OpenAI status): WIRE-openai-anthropic §1.8.
  402: { message: "Insufficient Balance", type: "unknown_error", param: null, code: "invalid_request_error" },
  403: {
    message: "Country, region, or territory not supported",
    type: "request_forbidden",
    param: null,
    code: "unsupported_country_region_territory"
  },
  404: {
    message: "The model does not exist or you do not have access to it.",
    type: "invalid_request_error",
    param: null,
    code: "model_not_found"
  },
  408: { message: "Request timed out.", type: "timeout", param: null, code: null },
  422: { message: "Invalid Parameters", type: "invalid_request_error", param: null, code: null },
  429: {
    message: "Rate limit reached for requests. Please try again in 1s.",
    type: "requests",
    param: null,
    code: "rate_limit_exceeded"
  },
  500: {
    message: "The server had an error while processing your request. Sorry about that!",
    type: "server_error",
    param: null,
    code: null
  },
  502: { message: "Bad gateway.", type: "server_error", param: null, code: null },
  503: {
    message: "The engine is currently overloaded, please try again later",
    type: "server_error",
    param: null,
    code: null
  },
  504: { message: "Gateway timeout.", type: "server_error", param: null, code: null },
  529: { message: "Overloaded", type: "overloaded_error", param: null, code: null }
}

const quotaError: ErrorObject = {
  message:
    "You exceeded your current quota, please check your plan and billing details. For more information on this error, read the docs: https://platform.openai.com/docs/guides/error-codes/api-errors.",
  type: "insufficient_quota",
  param: null,
  code: "insufficient_quota"
}

const errorObject = (status: number, step: SimulatorStep): ErrorObject => {
  const base = status === 429 && step.quota === "day"
    ? quotaError
    : errors[status] ?? { ...errors[500]!, message: `The server had an error (HTTP ${status}).` }
  return {
    ...base,
    ...(step.code !== undefined ? { code: step.code } : {}),
    ...(step.message !== undefined ? { message: step.message } : {})
  }
}

const errorJson = (error: ErrorObject): string => JSON.stringify({ error })

const invalid = (message: string, param: string | null, code: string | null, requestId: string): Reply => ({
  status: 400,
  headers: { ...baseHeaders(requestId), ...jsonType },
  body: errorJson({ message, type: "invalid_request_error", param, code })
})

/** How OpenAI quotes a wrong key: its first 3 and last 4 characters, the rest as stars. */
const maskedKey = (key: string): string =>
  key.length <= 8 ? "*".repeat(key.length) : `${key.slice(0, 3)}${"*".repeat(key.length - 7)}${key.slice(-4)}`

const bodyId = (requestId: string) => `chatcmpl-${requestId.replace(/^req_/, "")}`

const usageObject = (completion: Completion) => {
  const answer = completion.deltas.join("")
  const reasoning = tokensOf(completion.reasoning?.length ?? 0)
  const calls = (completion.toolCalls ?? []).reduce((sum, call) => sum + JSON.stringify(call).length, 0)
  const output = tokensOf(answer.length + calls) + reasoning
  return {
    prompt_tokens: completion.inputTokens,
    completion_tokens: output,
    total_tokens: completion.inputTokens + output,
    prompt_tokens_details: { cached_tokens: 0, audio_tokens: 0 },
    completion_tokens_details: { reasoning_tokens: reasoning, audio_tokens: 0 }
  }
}

const hasCalls = (completion: Completion): boolean => (completion.toolCalls?.length ?? 0) > 0

const finishOf = (completion: Completion): string =>
  completion.finishRaw ?? (hasCalls(completion) ? "tool_calls" : completion.finish)

/** An OpenAI call id: `call_` and 24 letters and digits, derived from the request and the call's position. */
const callId = (requestId: string, index: number): string =>
  `call_${Buffer.from(`${requestId}:${index}`).toString("base64").replace(/[^A-Za-z0-9]/g, "").slice(-24)}`

/** A step's tool calls as `tool_calls` entries: a scripted string is the raw arguments text, a value compact JSON. */
const callsOf = (completion: Completion) =>
  (completion.toolCalls ?? []).map((call, index) => ({
    id: call.id ?? callId(completion.requestId, index),
    type: "function" as const,
    function: {
      name: call.name,
      arguments: typeof call.arguments === "string" ? call.arguments : JSON.stringify(call.arguments ?? {})
    }
  }))

/** Splits text into pieces of `size` characters. */
const pieces = (text: string, size: number): Array<string> => {
  const out: Array<string> = []
  for (let i = 0; i < text.length; i += size) out.push(text.slice(i, i + size))
  return out
}

/** The OpenAI Chat Completions wire format. */
export const openai: Wire = {
  provider: "openai",

  authenticate: (headers, _url, keys, requestId) => {
    const authorization = headerOf(headers, "authorization")
    const match = /^Bearer\s+(.+)$/i.exec(authorization ?? "")
    const key = match?.[1]?.trim()
    if (key !== undefined && keys.has(key)) return undefined
    const message = key === undefined
      ? "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY). You can obtain an API key from https://platform.openai.com/account/api-keys."
      : `Incorrect API key provided: ${
        maskedKey(key)
      }. You can find your API key at https://platform.openai.com/account/api-keys.`
    return {
      status: 401,
      headers: { ...baseHeaders(requestId), ...jsonType },
      body: errorJson({
        message,
        type: "invalid_request_error",
        param: null,
        code: key === undefined ? null : "invalid_api_key"
      })
    }
  },

  parse: (body, _model, requestId) => {
    const request = body as {
      model?: unknown
      messages?: unknown
      max_tokens?: unknown
      max_completion_tokens?: unknown
      temperature?: unknown
      stop?: unknown
      stream?: unknown
      stream_options?: { include_usage?: unknown } | null
    }
    if (typeof request !== "object" || request === null) {
      return invalid("We could not parse the JSON body of your request.", null, null, requestId)
    }
    if (typeof request.model !== "string" || request.model === "") {
      return invalid("you must provide a model parameter", null, null, requestId)
    }
    if (!Array.isArray(request.messages) || request.messages.length === 0) {
      return invalid("[] is too short - 'messages'", "messages", "empty_array", requestId)
    }
    const checked = checkRequest(request.messages, request as Record<string, unknown>)
    if ("message" in checked) return invalid(checked.message, checked.param, checked.code, requestId)
    let prompt = ""
    let inputChars = 0
    for (const message of request.messages as Array<{ role?: unknown; content?: unknown; tool_calls?: unknown }>) {
      const text = contentText(message.content)
      // Tool calls' arguments are input too.
      inputChars += text.length + (message.tool_calls !== undefined ? JSON.stringify(message.tool_calls).length : 0)
      if (message.role === "user") prompt = text
    }
    const field = request.max_completion_tokens !== undefined ? "max_completion_tokens" : "max_tokens"
    const max = request.max_completion_tokens ?? request.max_tokens
    if (max !== undefined && max !== null && !(Number.isInteger(max) && (max as number) >= 1)) {
      return invalid(
        `Invalid '${field}': integer below minimum value. Expected a value >= 1, but got ${String(max)} instead.`,
        field,
        "integer_below_min_value",
        requestId
      )
    }
    const temperature = request.temperature
    if (temperature !== undefined && temperature !== null) {
      if (typeof temperature !== "number" || temperature < 0 || temperature > 2) {
        return invalid(
          `Invalid 'temperature': decimal above maximum value. Expected a value <= 2, but got ${
            String(temperature)
          } instead.`,
          "temperature",
          "decimal_above_max_value",
          requestId
        )
      }
    }
    if (request.stream_options != null && request.stream !== true) {
      return invalid(
        "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
        "stream_options",
        "invalid_value",
        requestId
      )
    }
    const stop = request.stop
    return {
      model: request.model,
      prompt,
      inputChars,
      maxOutputTokens: max === null ? undefined : max as number | undefined,
      stop: typeof stop === "string"
        ? [stop]
        : Array.isArray(stop)
        ? stop.filter((s): s is string => typeof s === "string")
        : [],
      resultFormat: "message",
      incremental: true,
      includeUsage: request.stream_options?.include_usage === true
    } satisfies ParsedRequest
  },

  wantsStream: (_headers, _url, body) => (body as { stream?: unknown } | undefined)?.stream === true,

  unary: (completion) => {
    const reasoning = completion.reasoning
    return {
      status: 200,
      headers: { ...baseHeaders(completion.requestId), ...rateLimitHeaders, ...jsonType },
      body: JSON.stringify({
        id: bodyId(completion.requestId),
        object: "chat.completion",
        created: Math.floor(Date.now() / 1000),
        model: completion.model,
        choices: [{
          index: 0,
          message: {
            role: "assistant",
            // Beside tool calls an empty answer is `null`, as OpenAI sends it.
            content: hasCalls(completion) && completion.deltas.join("") === "" ? null : completion.deltas.join(""),
            ...(reasoning !== undefined ? { reasoning_content: reasoning } : {}),
            ...(hasCalls(completion) ? { tool_calls: callsOf(completion) } : {}),
            refusal: null
          },
          logprobs: null,
          finish_reason: finishOf(completion)
        }],
        ...(completion.reportUsage ? { usage: usageObject(completion) } : {}),
        system_fingerprint: "fp_simulator"
      })
    }
  },

  streamHeaders: (completion) => ({ ...baseHeaders(completion.requestId), ...rateLimitHeaders, ...sseType }),

  frames: (completion) => {
    const head = `{"id":${JSON.stringify(bodyId(completion.requestId))},"object":"chat.completion.chunk","created":${
      Math.floor(Date.now() / 1000)
    },"model":${JSON.stringify(completion.model)},"system_fingerprint":"fp_simulator","choices":`
    // With include_usage every chunk carries `"usage":null` until the usage chunk (OAI7).
    const tail = completion.includeUsage ? `,"usage":null}\n\n` : "}\n\n"
    const chunk = (delta: Record<string, unknown>, finish: string | null) =>
      `data: ${head}[{"index":0,"delta":${JSON.stringify(delta)},"logprobs":null,"finish_reason":${
        JSON.stringify(finish)
      }}]${tail}`
    const frames: Array<string> = []
    const role = () => (frames.length === 0 ? { role: "assistant" } : {})
    for (const piece of pieces(completion.reasoning ?? "", 24)) {
      frames.push(chunk({ ...role(), content: null, reasoning_content: piece }, null))
    }
    for (const delta of completion.deltas) {
      if (delta.length > 0) frames.push(chunk({ ...role(), content: delta }, null))
    }
    // Each call: a first fragment with its id, name and empty arguments, then the arguments in pieces
    // cut mid-token (WIRE-tools-multimodal §3.3).
    for (const [index, call] of callsOf(completion).entries()) {
      frames.push(
        chunk({ ...role(), tool_calls: [{ index, ...call, function: { ...call.function, arguments: "" } }] }, null)
      )
      for (const piece of pieces(call.function.arguments, 7)) {
        frames.push(chunk({ tool_calls: [{ index, function: { arguments: piece } }] }, null))
      }
    }
    frames.push(chunk({}, finishOf(completion)))
    if (completion.includeUsage && completion.reportUsage) {
      frames.push(`data: ${head}[],"usage":${JSON.stringify(usageObject(completion))}}\n\n`)
    }
    frames.push("data: [DONE]\n\n")
    return frames
  },

  error: (status, step, requestId, _stream) => ({
    status,
    headers: {
      ...baseHeaders(requestId),
      ...jsonType,
      ...retryHeaders(step),
      ...(status === 429
        ? {
          "x-ratelimit-limit-requests": "30000",
          "x-ratelimit-remaining-requests": "0",
          ...(step.resetRequests !== undefined ? { "x-ratelimit-reset-requests": step.resetRequests } : {}),
          ...(step.resetTokens !== undefined ? { "x-ratelimit-reset-tokens": step.resetTokens } : {})
        }
        : {})
    },
    body: errorJson(errorObject(status, step))
  }),

  streamError: (status, step) => `data: ${errorJson(errorObject(status, step))}\n\n`,

  blocked: (_request, _reason, requestId, stream) =>
    openai.error(
      400,
      {
        code: "content_filter",
        message: "The response was filtered due to the prompt triggering the content management policy."
      },
      requestId,
      stream
    )
}
