/**
 * The Anthropic Messages wire format as the simulator serves it (WIRE-openai-anthropic.md §2.8):
 * `x-api-key` (or `Authorization: Bearer`) auth and a required `anthropic-version`; `max_tokens`
 * required, `temperature` in [0, 1]; Message bodies with `request-id` and `anthropic-ratelimit-*`
 * headers; streams of named events (`event:` + `data:`, JSON padded with spaces before its last brace
 * as the real service pads it, a `ping` after the first block start, an optional thinking block,
 * `tool_use` blocks streamed as `input_json_delta`s — a step's calls, or a JSON answer under a forced
 * tool); request checks of blocks, tool turns, tools and `output_config` (`AnthropicTools.ts`);
 * `{type:"error", error:{type, message}}` bodies, in-band `event: error`, and 429/529/413 as observed.
 */
import { checkRequest, contentText, thinkingSignature } from "./AnthropicTools.js"
import { type Completion, type ParsedRequest, type SimulatorStep, tokensOf } from "./Script.js"
import { headerOf, type Reply, retryHeaders, type Wire } from "./Wire.js"

/**
 * The tool-use system prompt Anthropic adds to a request with tools, in tokens (its tool-use pricing
 * table: 346 for the Claude 4 models and Sonnet 3.7 with tool_choice auto or none).
 */
const toolUseSystemPromptTokens = 346

const jsonType = { "content-type": "application/json" }
const sseType = { "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache" }

/** RFC 3339 at second precision, as Anthropic writes its reset times. */
const rfc3339 = (epochMs: number) => new Date(Math.ceil(epochMs / 1000) * 1000).toISOString().replace(/\.000Z$/, "Z")

/** The rate-limit headers of a healthy answer: nothing exhausted. */
const rateLimitHeaders = (): Record<string, string> => {
  const now = rfc3339(Date.now())
  return {
    "anthropic-ratelimit-requests-limit": "4000",
    "anthropic-ratelimit-requests-remaining": "3999",
    "anthropic-ratelimit-requests-reset": now,
    "anthropic-ratelimit-input-tokens-limit": "400000",
    "anthropic-ratelimit-input-tokens-remaining": "400000",
    "anthropic-ratelimit-input-tokens-reset": now,
    "anthropic-ratelimit-output-tokens-limit": "80000",
    "anthropic-ratelimit-output-tokens-remaining": "80000",
    "anthropic-ratelimit-output-tokens-reset": now,
    "anthropic-ratelimit-tokens-limit": "480000",
    "anthropic-ratelimit-tokens-remaining": "480000",
    "anthropic-ratelimit-tokens-reset": now
  }
}

/** A 429's headers: the request limit exhausted until `ratelimitReset`, else now + the step's wait (60 s). */
const exhaustedHeaders = (step: SimulatorStep): Record<string, string> => {
  const wait = typeof step.retryAfter === "number" ? step.retryAfter : 60
  return {
    ...rateLimitHeaders(),
    "anthropic-ratelimit-requests-limit": "50",
    "anthropic-ratelimit-requests-remaining": "0",
    "anthropic-ratelimit-requests-reset": step.ratelimitReset ?? rfc3339(Date.now() + wait * 1000)
  }
}

const errorTypes: Record<number, readonly [string, string]> = {
  400: ["invalid_request_error", "Invalid request."],
  401: ["authentication_error", "invalid x-api-key"],
  402: ["billing_error", "Your credit balance is too low to access the Anthropic API."],
  403: ["permission_error", "Your API key does not have permission to use the specified resource."],
  404: ["not_found_error", "The requested resource could not be found."],
  408: ["timeout_error", "Request timed out."],
  409: ["conflict_error", "Conflict."],
  413: ["request_too_large", "Request exceeds the maximum allowed number of bytes."],
  429: [
    "rate_limit_error",
    "This request would exceed your organization's rate limit of 50 requests per minute. For details, refer to: https://docs.claude.com/en/api/rate-limits."
  ],
  500: ["api_error", "Internal server error"],
  504: ["timeout_error", "Request timed out. Consider using streaming."],
  529: ["overloaded_error", "Overloaded"]
}

const errorJson = (status: number, step: SimulatorStep, requestId: string, details: unknown = undefined): string => {
  const spendLimit = status === 429 && step.quota === "day"
  const [type, message] = spendLimit
    ? ["rate_limit_error", "You have reached your monthly spend limit for this workspace."] as const
    : errorTypes[status] ?? (status >= 500 ? errorTypes[500]! : errorTypes[400]!)
  return JSON.stringify({
    type: "error",
    error: {
      ...(details !== undefined ? { details } : {}),
      type: step.code ?? type,
      message: step.message ?? message,
      ...(spendLimit ? { details: { error_code: "enforced_spend_limit_reached" } } : {})
    },
    request_id: requestId
  })
}

/** Cloudflare answers an oversized request itself, with a page (WIRE-openai-anthropic.md §2.2). */
const cloudflare413 = "<html>\r\n<head><title>413 Request Entity Too Large</title></head>\r\n<body>\r\n" +
  "<center><h1>413 Request Entity Too Large</h1></center>\r\n<hr><center>cloudflare</center>\r\n</body>\r\n</html>\r\n"

const invalid = (message: string, requestId: string, status = 400): Reply => ({
  status,
  headers: { ...jsonType, "request-id": requestId },
  body: JSON.stringify({ type: "error", error: { type: "invalid_request_error", message }, request_id: requestId })
})

/** The text of a `content` or `system` value: a string, or text blocks; `undefined` when it is neither. */
const textOf = (value: unknown): string | undefined => {
  if (typeof value === "string") return value
  if (!Array.isArray(value)) return undefined
  let text = ""
  for (const block of value) {
    if (typeof block !== "object" || block === null || (block as { type?: unknown }).type !== "text") return undefined
    const part = (block as { text?: unknown }).text
    if (typeof part !== "string") return undefined
    text += part
  }
  return text
}

/** A JSON object with `spaces` spaces before its last brace (the real stream pads some events so). */
const padded = (value: unknown, spaces: number): string => {
  const json = JSON.stringify(value)
  return spaces <= 0 ? json : `${json.slice(0, -1)}${" ".repeat(spaces)}}`
}

/** Frames events as `event:` + `data:`, padding each a different number of spaces (0–16, deterministic). */
const framer = () => {
  let padding = 0
  return (data: { readonly type: string; readonly [field: string]: unknown }): string => {
    padding = (padding + 7) % 17
    return `event: ${data.type}\ndata: ${padded(data, padding)}\n\n`
  }
}
const ping = `event: ping\ndata: {"type": "ping"}\n\n`

const messageId = (requestId: string) => requestId.replace(/^req_/, "msg_")

/** Usage as Anthropic reports it: the cache reads and writes apart from `input_tokens`. */
const usageOf = (completion: Completion, output: number) => {
  const read = completion.cacheReadTokens ?? 0
  const written = completion.cacheWriteTokens ?? 0
  return {
    input_tokens: Math.max(0, completion.inputTokens - read - written),
    cache_creation_input_tokens: written,
    cache_read_input_tokens: read,
    output_tokens: output
  }
}

/** A tool call block to send: a step's call, or the forced tool's call carrying a JSON answer. */
interface Call {
  readonly id: string
  readonly name: string
  /** The `input` as JSON text (streamed in `partial_json` pieces). */
  readonly json: string
}

/** An Anthropic tool-use id: `toolu_` and 24 letters and digits, from the request and the call's position. */
const toolUseId = (requestId: string, index: number): string =>
  `toolu_${Buffer.from(`${requestId}:${index}`).toString("base64").replace(/[^A-Za-z0-9]/g, "").slice(-24)}`

/**
 * The calls an answer sends: under a forced tool (`tool_choice: {type: "tool"}`) the answer itself —
 * its text, a step's `json` — as that tool's input; else the step's tool calls (a scripted string is
 * the input's raw JSON text).
 */
const callsOf = (completion: Completion): Array<Call> => {
  if (completion.answerTool !== undefined) {
    const text = completion.deltas.join("")
    let json = "{}"
    try {
      if (text.length > 0 && typeof JSON.parse(text) === "object") json = text
    } catch {
      // A text answer that is no JSON object: the tool gets an empty input.
    }
    return [{ id: toolUseId(completion.requestId, 0), name: completion.answerTool, json }]
  }
  return (completion.toolCalls ?? []).map((call, index) => ({
    id: call.id ?? toolUseId(completion.requestId, index),
    name: call.name,
    json: typeof call.arguments === "string" ? call.arguments : JSON.stringify(call.arguments ?? {})
  }))
}

/** The answer's text: none under a forced tool (it is the tool's input). */
const textOfAnswer = (completion: Completion): string =>
  completion.answerTool !== undefined ? "" : completion.deltas.join("")

const stopReasonOf = (completion: Completion): string =>
  completion.finishRaw ??
    (callsOf(completion).length > 0 ? "tool_use" : completion.finish === "length" ? "max_tokens" : "end_turn")

const outputTokens = (completion: Completion): number =>
  tokensOf(
    completion.deltas.join("").length + (completion.reasoning ?? "").length +
      (completion.toolCalls ?? []).reduce((sum, call) => sum + JSON.stringify(call).length, 0)
  )

const inputOf = (json: string): unknown => {
  try {
    return JSON.parse(json)
  } catch {
    return {}
  }
}

/** The Anthropic Messages wire format. */
export const anthropic: Wire = {
  provider: "anthropic",

  authenticate: (headers, _url, keys, requestId) => {
    const bearer = /^Bearer\s+(.+)$/i.exec(headerOf(headers, "authorization") ?? "")
    const key = headerOf(headers, "x-api-key") ?? bearer?.[1]?.trim()
    if (key === undefined || key === "" || !keys.has(key)) {
      return {
        status: 401,
        headers: { ...jsonType, "request-id": requestId },
        body: JSON.stringify({
          type: "error",
          error: {
            type: "authentication_error",
            message: key === undefined || key === "" ? "x-api-key header is required" : "invalid x-api-key"
          },
          request_id: requestId
        })
      }
    }
    // The real message for a missing version is not recorded (WIRE-openai-anthropic.md §6).
    if (headerOf(headers, "anthropic-version") === undefined) {
      return invalid("anthropic-version: header is required", requestId)
    }
    return undefined
  },

  parse: (body, _model, requestId) => {
    const request = body as {
      model?: unknown
      max_tokens?: unknown
      messages?: unknown
      system?: unknown
      temperature?: unknown
      stop_sequences?: unknown
    }
    if (typeof request !== "object" || request === null) return invalid("Request body is not valid JSON.", requestId)
    if (typeof request.model !== "string" || request.model === "") return invalid("model: Field required", requestId)
    const max = request.max_tokens
    if (max === undefined) return invalid("max_tokens: Field required", requestId)
    if (!(Number.isInteger(max) && (max as number) >= 1)) {
      return invalid("max_tokens: Input should be greater than or equal to 1", requestId)
    }
    if (!Array.isArray(request.messages) || request.messages.length === 0) {
      return invalid("messages: Field required", requestId)
    }
    const system = request.system === undefined ? "" : textOf(request.system)
    if (system === undefined) return invalid("system: Input should be a valid string", requestId)
    const checked = checkRequest(request.messages, request as Record<string, unknown>)
    if (typeof checked === "string") return invalid(checked, requestId)
    let inputChars = system.length
    let prompt = ""
    for (const message of request.messages as Array<{ role?: unknown; content?: unknown }>) {
      const text = contentText(message.content)
      inputChars += text.length
      // The prompt is the last user text (a turn of tool results alone keeps the one before).
      if (message.role === "user" && text.length > 0) prompt = text
    }
    // Tools count as input, with the tool-use system prompt Anthropic prepends to a request that has them.
    const tools = (request as { tools?: unknown }).tools
    if (Array.isArray(tools) && tools.length > 0) {
      inputChars += JSON.stringify(tools).length + toolUseSystemPromptTokens * 4
    }
    const temperature = request.temperature
    if (temperature !== undefined && !(typeof temperature === "number" && temperature >= 0 && temperature <= 1)) {
      return invalid("temperature: range: 0..1", requestId)
    }
    const stop = request.stop_sequences
    return {
      model: request.model,
      prompt,
      inputChars,
      maxOutputTokens: max as number,
      stop: Array.isArray(stop) ? stop.filter((s): s is string => typeof s === "string") : [],
      resultFormat: "message",
      incremental: true,
      ...(checked.forcedTool !== undefined ? { answerTool: checked.forcedTool } : {})
    } satisfies ParsedRequest
  },

  wantsStream: (_headers, _url, body) => (body as { stream?: unknown } | undefined)?.stream === true,

  unary: (completion) => {
    const thinking = completion.reasoning
    const calls = callsOf(completion)
    const answer = textOfAnswer(completion)
    const content = [
      ...(thinking !== undefined
        ? [{ type: "thinking", thinking, signature: thinkingSignature }]
        : []),
      // Beside tool calls there is a text block only when there is text.
      ...(answer.length > 0 || calls.length === 0 ? [{ type: "text", text: answer }] : []),
      ...calls.map((call) => ({ type: "tool_use", id: call.id, name: call.name, input: inputOf(call.json) }))
    ]
    return {
      status: 200,
      headers: { ...jsonType, "request-id": completion.requestId, ...rateLimitHeaders() },
      body: JSON.stringify({
        model: completion.model,
        id: messageId(completion.requestId),
        type: "message",
        role: "assistant",
        content,
        stop_reason: stopReasonOf(completion),
        stop_sequence: null,
        usage: { ...usageOf(completion, outputTokens(completion)), service_tier: "standard" }
      })
    }
  },

  streamHeaders: (completion) => ({ ...sseType, "request-id": completion.requestId, ...rateLimitHeaders() }),

  frames: (completion) => {
    const frame = framer()
    // One frame per text delta; the first also opens the message (and the thinking block), the last
    // frame closes it: `inStream`, `cutAfter` and `endAfter` count text deltas, as for the other wires.
    let opening = frame({
      type: "message_start",
      message: {
        model: completion.model,
        id: messageId(completion.requestId),
        type: "message",
        role: "assistant",
        content: [],
        stop_reason: null,
        stop_sequence: null,
        usage: { ...usageOf(completion, 1), service_tier: "standard" }
      }
    })
    let index = 0
    if (completion.reasoning !== undefined) {
      opening += frame({
        type: "content_block_start",
        index,
        content_block: { type: "thinking", thinking: "", signature: "" }
      }) +
        ping
      // Thinking deltas of 24 characters, as the text deltas are by default.
      for (let at = 0; at < completion.reasoning.length; at += 24) {
        const thinking = completion.reasoning.slice(at, at + 24)
        opening += frame({ type: "content_block_delta", index, delta: { type: "thinking_delta", thinking } })
      }
      opening += frame({
        type: "content_block_delta",
        index,
        delta: { type: "signature_delta", signature: thinkingSignature }
      }) + frame({ type: "content_block_stop", index })
      index++
    }
    const calls = callsOf(completion)
    const textBlock = textOfAnswer(completion).length > 0 || calls.length === 0
    if (textBlock) opening += frame({ type: "content_block_start", index, content_block: { type: "text", text: "" } })
    if (completion.reasoning === undefined) opening += ping
    const deltas = textBlock ? completion.deltas : [""]
    const frames = deltas.map((delta, i) =>
      (i === 0 ? opening : "") +
      (delta.length > 0
        ? frame({ type: "content_block_delta", index, delta: { type: "text_delta", text: delta } })
        : "")
    )
    if (textBlock) {
      frames[frames.length - 1] += frame({ type: "content_block_stop", index })
      index++
    }
    // Each call a block: its start with `input: {}`, an empty first fragment, the JSON in pieces, its stop.
    for (const call of calls) {
      let block = frame({
        type: "content_block_start",
        index,
        content_block: { type: "tool_use", id: call.id, name: call.name, input: {} }
      }) + frame({ type: "content_block_delta", index, delta: { type: "input_json_delta", partial_json: "" } })
      for (let at = 0; at < call.json.length; at += 11) {
        block += frame({
          type: "content_block_delta",
          index,
          delta: { type: "input_json_delta", partial_json: call.json.slice(at, at + 11) }
        })
      }
      frames.push(block + frame({ type: "content_block_stop", index }))
      index++
    }
    const reason = stopReasonOf(completion)
    frames.push(
      frame({
        type: "message_delta",
        delta: { stop_reason: reason, stop_sequence: null },
        usage: usageOf(completion, outputTokens(completion))
      }) +
        frame({ type: "message_stop" })
    )
    return frames
  },

  error: (status, step, requestId) => {
    if (status === 413) return { status, headers: { "content-type": "text/html" }, body: cloudflare413 }
    return {
      status,
      headers: {
        ...jsonType,
        "request-id": requestId,
        ...(status === 429 && step.quota !== "day" ? exhaustedHeaders(step) : {}),
        ...(step.quota === "day" ? {} : retryHeaders(step))
      },
      body: errorJson(status, step, requestId)
    }
  },

  streamError: (status, step, requestId) => `event: error\ndata: ${errorJson(status, step, requestId, null)}\n\n`,

  blocked: (request, reason, requestId, stream) => {
    const input = tokensOf(request.inputChars)
    const usage = { input_tokens: input, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 }
    const stopDetails = {
      type: "refusal",
      category: reason,
      explanation: "This request triggered restrictions and was blocked under Anthropic's Usage Policy.",
      recommended_model: null
    }
    const headers = { "request-id": requestId, ...rateLimitHeaders() }
    const frame = framer()
    if (!stream) {
      return {
        status: 200,
        headers: { ...jsonType, ...headers },
        body: JSON.stringify({
          model: request.model,
          id: messageId(requestId),
          type: "message",
          role: "assistant",
          content: [],
          stop_reason: "refusal",
          stop_sequence: null,
          stop_details: stopDetails,
          usage: { ...usage, output_tokens: 5 }
        })
      }
    }
    return {
      status: 200,
      headers: { ...sseType, ...headers },
      body: frame({
        type: "message_start",
        message: {
          model: request.model,
          id: messageId(requestId),
          type: "message",
          role: "assistant",
          content: [],
          stop_reason: null,
          stop_sequence: null,
          usage: { ...usage, output_tokens: 1 }
        }
      }) + ping +
        frame({
          type: "message_delta",
          delta: { stop_reason: "refusal", stop_sequence: null, stop_details: stopDetails },
          usage: { ...usage, output_tokens: 5 }
        }) +
        frame({ type: "message_stop" })
    }
  }
}
