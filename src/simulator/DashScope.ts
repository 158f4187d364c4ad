/**
 * The DashScope native text-generation wire format as the simulator serves it (WIRE.md §2):
 * `Authorization: Bearer` auth (else 401 InvalidApiKey), `input.messages`/`parameters` requests,
 * `message` (or legacy `text`) result format, and `X-DashScope-SSE: enable` streams framed
 * `id:`/`event:result`/`:HTTP_STATUS/200`/`data:` with finish_reason `"null"` until the last event,
 * cumulative usage, and flat `{code,message,request_id}` errors.
 */
import type { IncomingHttpHeaders } from "node:http"
import { type ParsedRequest, type SimulatorStep, tokensOf } from "./Script.js"
import { type Reply, retryHeaders, type Wire } from "./Wire.js"

const baseHeaders = (requestId: string) => ({
  "x-request-id": requestId,
  "x-dashscope-call-gateway": "true",
  server: "istio-envoy"
})
const jsonType = { "content-type": "application/json" }
const sseType = { "content-type": "text/event-stream;charset=UTF-8" }

const codes: Record<number, readonly [string, string]> = {
  400: ["InvalidParameter", "Required parameter(s) missing or invalid, please check the request parameters."],
  401: ["InvalidApiKey", "Invalid API-key provided."],
  403: ["AccessDenied", "Access denied."],
  404: ["ModelNotFound", "Model not exist."],
  408: ["RequestTimeOut", "Request timed out, please try again later."],
  413: ["BadRequest.TooLarge", "Payload Too Large"],
  429: ["Throttling.RateQuota", "Requests rate limit exceeded, please try again later."],
  500: ["InternalError", "An internal error has occured, please try again later or contact service support."],
  502: ["InternalError", "An internal error has occured, please try again later or contact service support."],
  503: ["ModelUnavailable", "Model is unavailable, please try again later."],
  504: ["InternalError.Timeout", "An internal error has occured during execution, please try again later."]
}

const errorJson = (status: number, step: SimulatorStep, requestId: string): string => {
  const [code, message] = status === 429 && step.quota === "day"
    ? ["Throttling.AllocationQuota", "Free allocated quota exceeded."] as const
    : codes[status] ??
      ["InternalError", "An internal error has occured, please try again later or contact service support."]
  return JSON.stringify({ code: step.code ?? code, message: step.message ?? message, request_id: requestId })
}

const invalid = (message: string, requestId: string): Reply => ({
  status: 400,
  headers: { ...baseHeaders(requestId), ...jsonType },
  body: JSON.stringify({ code: "InvalidParameter", message, request_id: requestId })
})

const header = (headers: IncomingHttpHeaders, name: string): string | undefined => {
  const value = headers[name]
  return Array.isArray(value) ? value[0] : value
}

/** The DashScope native wire format. */
export const dashscope: Wire = {
  provider: "dashscope",

  authenticate: (headers, _url, keys, requestId) => {
    const match = /^Bearer\s+(.+)$/i.exec(header(headers, "authorization") ?? "")
    if (match !== null && keys.has(match[1]!.trim())) return undefined
    return {
      status: 401,
      headers: { ...baseHeaders(requestId), ...jsonType },
      body: JSON.stringify({ code: "InvalidApiKey", message: "Invalid API-key provided.", request_id: requestId })
    }
  },

  parse: (body, _model, requestId) => {
    const request = body as {
      model?: unknown
      input?: { messages?: unknown; prompt?: unknown }
      parameters?: Record<string, unknown>
      messages?: unknown
    }
    if (typeof request !== "object" || request === null) return invalid("Request body is not valid JSON.", requestId)
    if (typeof request.model !== "string" || request.model === "") {
      return invalid("Model not specified.", requestId)
    }
    const input = request.input ?? {}
    const messages = input.messages
    let prompt = typeof input.prompt === "string" ? input.prompt : ""
    let inputChars = prompt.length
    if (Array.isArray(messages) && messages.length > 0) {
      prompt = ""
      for (const message of messages as Array<{ role?: unknown; content?: unknown }>) {
        if (!["system", "user", "assistant"].includes(message?.role as string) || typeof message.content !== "string") {
          return invalid("Role must be user or assistant and Content length must be greater than 0", requestId)
        }
        inputChars += message.content.length
        if (message.role === "user") prompt = message.content
      }
    } else if (prompt === "") {
      return invalid("Either \"prompt\" or \"messages\" must exist and cannot both be none", requestId)
    }
    const parameters = request.parameters ?? {}
    const max = parameters.max_tokens ?? parameters.max_completion_tokens
    if (max !== undefined && !(Number.isInteger(max) && (max as number) >= 1 && (max as number) <= 32768)) {
      return invalid("<400> InternalError.Algo.InvalidParameter: Range of max_tokens should be [1, 32768]", requestId)
    }
    const temperature = parameters.temperature
    if (temperature !== undefined && !(typeof temperature === "number" && temperature >= 0 && temperature < 2)) {
      return invalid("<400> InternalError.Algo.InvalidParameter: Temperature should be in [0.0, 2.0)", requestId)
    }
    const stop = parameters.stop
    return {
      model: request.model,
      prompt,
      inputChars,
      maxOutputTokens: max as number | undefined,
      stop: typeof stop === "string"
        ? [stop]
        : Array.isArray(stop)
        ? stop.filter((s): s is string => typeof s === "string")
        : [],
      resultFormat: parameters.result_format === "message" ? "message" : "text",
      incremental: parameters.incremental_output === true
    } satisfies ParsedRequest
  },

  wantsStream: (headers) =>
    header(headers, "x-dashscope-sse")?.toLowerCase() === "enable" ||
    (header(headers, "accept") ?? "").includes("text/event-stream"),

  unary: (completion) => {
    const text = completion.deltas.join("")
    const output = tokensOf(text.length)
    const finish = completion.finishRaw ?? completion.finish
    return {
      status: 200,
      headers: { ...baseHeaders(completion.requestId), ...jsonType },
      body: JSON.stringify({
        output: completion.resultFormat === "message"
          ? { choices: [{ finish_reason: finish, message: { role: "assistant", content: text } }] }
          : { finish_reason: finish, text },
        usage: {
          total_tokens: completion.inputTokens + output,
          output_tokens: output,
          input_tokens: completion.inputTokens
        },
        request_id: completion.requestId
      })
    }
  },

  streamHeaders: (completion) => ({ ...baseHeaders(completion.requestId), ...sseType }),

  frames: (completion) => {
    const message = completion.resultFormat === "message"
    const incremental = completion.incremental
    const input = completion.inputTokens
    const tail = `,"request_id":${JSON.stringify(completion.requestId)}}\n\n`
    const frame = (index: number, text: string, finish: string, sentChars: number) => {
      const output = tokensOf(sentChars)
      const body = message
        ? `{"choices":[{"message":{"content":${JSON.stringify(text)},"role":"assistant"},"finish_reason":"${finish}"}]}`
        : `{"finish_reason":"${finish}","text":${JSON.stringify(text)}}`
      return `id:${index}\nevent:result\n:HTTP_STATUS/200\ndata:{"output":${body},"usage":{"total_tokens":${
        input + output
      },"output_tokens":${output},"input_tokens":${input}}${tail}`
    }
    const frames: Array<string> = []
    let sent = 0
    let all = ""
    for (const delta of completion.deltas) {
      if (delta.length === 0) continue
      sent += delta.length
      if (!incremental) all += delta
      frames.push(frame(frames.length + 1, incremental ? delta : all, "null", sent))
    }
    // The finish signal: a last event with no new text and the real finish_reason.
    frames.push(frame(frames.length + 1, incremental ? "" : all, completion.finishRaw ?? completion.finish, sent))
    return frames
  },

  error: (status, step, requestId, stream) => {
    const json = errorJson(status, step, requestId)
    return {
      status,
      headers: { ...baseHeaders(requestId), ...(stream ? sseType : jsonType), ...retryHeaders(step) },
      body: stream ? `id:1\nevent:error\n:HTTP_STATUS/${status}\ndata:${json}\n\n` : json
    }
  },

  streamError: (status, step, requestId, index) =>
    `id:${index + 1}\nevent:error\n:HTTP_STATUS/${status}\ndata:${errorJson(status, step, requestId)}\n\n`,

  blocked: (_request, _reason, requestId, stream) =>
    dashscope.error(
      400,
      { code: "DataInspectionFailed", message: "Input data may contain inappropriate content." },
      requestId,
      stream
    )
}
