/**
 * The DashScope native wire format as the simulator serves it (WIRE.md §2, WIRE-tools-multimodal §2),
 * on both generation endpoints: `Authorization: Bearer` auth (else 401 InvalidApiKey),
 * `input.messages`/`parameters` requests (string content on text-generation, one-key items on
 * multimodal-generation), `message` (or legacy `text`) result format, a step's tool calls as
 * `tool_calls` (streamed as index-keyed `arguments` fragments, `finish_reason: "tool_calls"` on the
 * last), `X-DashScope-SSE: enable` streams framed `id:`/`event:result`/`:HTTP_STATUS/200`/`data:` with
 * finish_reason `"null"` until the last event, cumulative usage, and flat `{code,message,request_id}`
 * errors — including the 400s for the messages, tools and JSON mode the real service rejects.
 */
import { checkRequest, contentText, modelJson } from "./DashScopeTools.js"
import { type Completion, type ParsedRequest, type SimulatorStep, tokensOf } from "./Script.js"
import { headerOf, type Reply, retryHeaders, type Wire } from "./Wire.js"

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

/** A DashScope call id: `call_` and 22 hex digits, as the service sends (`call_cec4c19d27624537b583af`). */
const callId = (requestId: string, index: number): string =>
  `call_${Buffer.from(`${requestId}:${index}`).toString("hex").slice(-22).padStart(22, "0")}`

interface Call {
  readonly id: string
  readonly name: string
  readonly arguments: string
}

/** A step's tool calls with their ids and the arguments text a Qwen model writes. */
const callsOf = (completion: Completion): Array<Call> =>
  (completion.toolCalls ?? []).map((call, index) => ({
    id: call.id ?? callId(completion.requestId, index),
    name: call.name,
    // A scripted string is the raw arguments text (malformed JSON included); a value is written as Qwen does.
    arguments: typeof call.arguments === "string" ? call.arguments : modelJson(call.arguments ?? {})
  }))

const makeWire = (multimodal: boolean): Wire => {
  /** A message's content: a string on text-generation, `[{text}]` (or `[]`) on multimodal-generation. */
  const content = (
    text: string
  ): string | Array<{ text: string }> => (multimodal ? (text.length > 0 ? [{ text }] : []) : text)
  const wire: Wire = {
    provider: "dashscope",

    authenticate: (headers, _url, keys, requestId) => {
      const match = /^Bearer\s+(.+)$/i.exec(headerOf(headers, "authorization") ?? "")
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
      const parameters = request.parameters ?? {}
      if (Array.isArray(messages) && messages.length > 0) {
        const rejected = checkRequest(messages, parameters, multimodal)
        if (typeof rejected === "string") return invalid(rejected, requestId)
        prompt = ""
        for (const message of messages as Array<{ role?: unknown; content?: unknown; tool_calls?: unknown }>) {
          const text = contentText(message.content)
          inputChars += text.length + (message.tool_calls !== undefined ? JSON.stringify(message.tool_calls).length : 0)
          if (message.role === "user" || message.role === "tool") prompt = text
        }
      } else if (prompt === "" || multimodal) {
        return invalid("Either \"prompt\" or \"messages\" must exist and cannot both be none", requestId)
      }
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
        resultFormat: multimodal || parameters.result_format === "message" ? "message" : "text",
        incremental: parameters.incremental_output === true
      } satisfies ParsedRequest
    },

    wantsStream: (headers) =>
      headerOf(headers, "x-dashscope-sse")?.toLowerCase() === "enable" ||
      (headerOf(headers, "accept") ?? "").includes("text/event-stream"),

    unary: (completion) => {
      const calls = callsOf(completion)
      const text = completion.deltas.join("")
      const output = tokensOf(text.length) +
        calls.reduce((sum, call) => sum + tokensOf(call.name.length + call.arguments.length), 0)
      const finish = completion.finishRaw ?? (calls.length > 0 ? "tool_calls" : completion.finish)
      const message = calls.length > 0
        ? {
          role: "assistant",
          content: content(text),
          tool_calls: calls.map((call, index) => ({
            function: { name: call.name, arguments: call.arguments },
            index,
            id: call.id,
            type: "function"
          }))
        }
        : { role: "assistant", content: content(text) }
      return {
        status: 200,
        headers: { ...baseHeaders(completion.requestId), ...jsonType },
        body: JSON.stringify({
          output: completion.resultFormat === "message"
            ? { choices: [{ finish_reason: finish, message }] }
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
      const event = (index: number, output: string, sentTokens: number) =>
        `id:${index}\nevent:result\n:HTTP_STATUS/200\ndata:{"output":${output},"usage":{"total_tokens":${
          input + sentTokens
        },"output_tokens":${sentTokens},"input_tokens":${input}}${tail}`
      const calls = callsOf(completion)
      if (calls.length > 0 && message) {
        // The step's text (if any), then each call in two fragments: id, name and the start of the
        // arguments, then `"id": ""` and the rest; the last fragment's event carries finish_reason
        // "tool_calls" (WIRE-tools-multimodal §2.4).
        const frames: Array<string> = []
        let sent = 0
        const finish = completion.finishRaw ?? "tool_calls"
        for (const delta of completion.deltas) {
          if (delta.length === 0) continue
          sent += tokensOf(delta.length)
          const choice = {
            message: { content: content(delta), role: "assistant" },
            ...(multimodal ? {} : { index: 0 }),
            finish_reason: "null"
          }
          frames.push(event(frames.length + 1, JSON.stringify({ choices: [choice] }), sent))
        }
        for (const [index, call] of calls.entries()) {
          const cut = Math.ceil(call.arguments.length / 2)
          const fragments = [
            {
              index,
              id: call.id,
              type: "function",
              function: { name: call.name, arguments: call.arguments.slice(0, cut) }
            },
            { index, id: "", type: "function", function: { arguments: call.arguments.slice(cut) } }
          ]
          for (const [part, fragment] of fragments.entries()) {
            sent += tokensOf((part === 0 ? call.name.length : 0) + fragment.function.arguments.length)
            const last = index === calls.length - 1 && part === 1
            const choice = {
              message: { content: content(""), tool_calls: [fragment], role: "assistant" },
              ...(multimodal ? {} : { index: 0 }),
              finish_reason: last ? finish : "null"
            }
            frames.push(event(frames.length + 1, JSON.stringify({ choices: [choice] }), sent))
          }
        }
        return frames
      }
      const frame = (index: number, text: string, finish: string, sentChars: number) => {
        const body = message
          ? `{"choices":[{"message":{"content":${
            JSON.stringify(content(text))
          },"role":"assistant"},"finish_reason":"${finish}"}]}`
          : `{"finish_reason":"${finish}","text":${JSON.stringify(text)}}`
        return event(index, body, tokensOf(sentChars))
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
      wire.error(
        400,
        { code: "DataInspectionFailed", message: "Input data may contain inappropriate content." },
        requestId,
        stream
      )
  }
  return wire
}

/** The DashScope native text-generation wire format (string content). */
export const dashscope: Wire = makeWire(false)

/** The DashScope native multimodal-generation wire format (content as one-key items). */
export const dashscopeMultimodal: Wire = makeWire(true)
