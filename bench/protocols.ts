/**
 * The four wire formats the bench measures, as a hand-written client sees them: where to post, which
 * headers, the body, where the text of an answer is, and how a stream event reads (text delta, finish
 * signal). The fetch baseline and the plain Effect pipeline use these; effect-llm gets the matching
 * provider entry (`providerEntry`). All four are served by the simulator under one endpoint prefix.
 */

/** The protocols of the bench. */
export const protocolNames = ["gemini", "openai", "anthropic", "dashscope"] as const
export type ProtocolName = (typeof protocolNames)[number]

/** What one stream event says. */
export interface EventReading {
  readonly delta: string
  readonly finished: boolean
  /** The event is an in-band error. */
  readonly error: boolean
}

export interface WireSpec {
  /** The model id the bench asks for. */
  readonly modelId: string
  /** The provider entry name in effect-llm's config (it implies the protocol). */
  readonly provider: "google" | "openai" | "anthropic" | "dashscope"
  /** effect-llm's `base_url` for the endpoint prefix `base` (`http://127.0.0.1:PORT/bench`). */
  readonly baseUrl: (base: string) => string
  /** The request URL of a call or a stream. */
  readonly url: (base: string, modelId: string, stream: boolean) => string
  readonly headers: (apiKey: string, stream: boolean) => Record<string, string>
  readonly body: (prompt: string, modelId: string, stream: boolean) => unknown
  /** The text of a whole (non-streamed) answer. */
  readonly textOf: (answer: any) => string
  /** One SSE event's `data` (and `event:` name, when it has one). */
  readonly readEvent: (data: string, event: string | undefined) => EventReading
}

const geminiText = (response: any): string => {
  const parts = response?.candidates?.[0]?.content?.parts
  let text = ""
  if (Array.isArray(parts)) {
    for (const part of parts) if (typeof part?.text === "string" && part.thought !== true) text += part.text
  }
  return text
}

const none: EventReading = { delta: "", finished: false, error: false }

export const wires: Record<ProtocolName, WireSpec> = {
  gemini: {
    modelId: "gemini-2.5-flash",
    provider: "google",
    baseUrl: (base) => base,
    url: (base, modelId, stream) =>
      `${base}/v1beta/models/${modelId}:${stream ? "streamGenerateContent?alt=sse" : "generateContent"}`,
    headers: (apiKey, stream) => ({
      "content-type": "application/json",
      "x-goog-api-key": apiKey,
      ...(stream ? { accept: "text/event-stream" } : {})
    }),
    body: (prompt) => ({ contents: [{ role: "user", parts: [{ text: prompt }] }] }),
    textOf: geminiText,
    readEvent: (data) => {
      const event = JSON.parse(data)
      if (event.error !== undefined) return { ...none, error: true }
      return {
        delta: geminiText(event),
        finished: typeof event.candidates?.[0]?.finishReason === "string",
        error: false
      }
    }
  },
  openai: {
    modelId: "gpt-4.1-mini",
    provider: "openai",
    baseUrl: (base) => `${base}/v1`,
    url: (base) => `${base}/v1/chat/completions`,
    headers: (apiKey, stream) => ({
      "content-type": "application/json",
      authorization: `Bearer ${apiKey}`,
      ...(stream ? { accept: "text/event-stream" } : {})
    }),
    body: (prompt, modelId, stream) => ({
      model: modelId,
      messages: [{ role: "user", content: prompt }],
      ...(stream ? { stream: true, stream_options: { include_usage: true } } : {})
    }),
    textOf: (answer) => answer?.choices?.[0]?.message?.content ?? "",
    readEvent: (data) => {
      if (data === "[DONE]") return none
      const event = JSON.parse(data)
      if (event.error !== undefined) return { ...none, error: true }
      const choice = event.choices?.[0]
      return {
        delta: typeof choice?.delta?.content === "string" ? choice.delta.content : "",
        finished: typeof choice?.finish_reason === "string",
        error: false
      }
    }
  },
  anthropic: {
    modelId: "claude-sonnet-4-5",
    provider: "anthropic",
    baseUrl: (base) => base,
    url: (base) => `${base}/v1/messages`,
    headers: (apiKey, stream) => ({
      "content-type": "application/json",
      "x-api-key": apiKey,
      "anthropic-version": "2023-06-01",
      ...(stream ? { accept: "text/event-stream" } : {})
    }),
    body: (prompt, modelId, stream) => ({
      model: modelId,
      max_tokens: 32_768,
      messages: [{ role: "user", content: prompt }],
      ...(stream ? { stream: true } : {})
    }),
    textOf: (answer) => {
      let text = ""
      for (const block of answer?.content ?? []) if (block?.type === "text") text += block.text
      return text
    },
    readEvent: (data, name) => {
      if (name === "ping") return none
      const event = JSON.parse(data)
      if (event.type === "error") return { ...none, error: true }
      if (event.type === "content_block_delta" && event.delta?.type === "text_delta") {
        return { delta: event.delta.text, finished: false, error: false }
      }
      return { delta: "", finished: event.type === "message_stop", error: false }
    }
  },
  dashscope: {
    modelId: "qwen-plus",
    provider: "dashscope",
    baseUrl: (base) => base,
    url: (base) => `${base}/api/v1/services/aigc/text-generation/generation`,
    headers: (apiKey, stream) => ({
      "content-type": "application/json",
      authorization: `Bearer ${apiKey}`,
      ...(stream ? { accept: "text/event-stream", "x-dashscope-sse": "enable" } : {})
    }),
    body: (prompt, modelId, stream) => ({
      model: modelId,
      input: { messages: [{ role: "user", content: prompt }] },
      parameters: { result_format: "message", ...(stream ? { incremental_output: true } : {}) }
    }),
    textOf: (answer) => answer?.output?.choices?.[0]?.message?.content ?? "",
    readEvent: (data, name) => {
      if (name === "error") return { ...none, error: true }
      const event = JSON.parse(data)
      const choice = event.output?.choices?.[0]
      return {
        delta: typeof choice?.message?.content === "string" ? choice.message.content : "",
        finished: typeof choice?.finish_reason === "string" && choice.finish_reason !== "null",
        error: false
      }
    }
  }
}

/**
 * Splits SSE text into events (blank-line framed, LF or CRLF): calls `onEvent(data, eventName)` for
 * each complete event and returns the unfinished rest.
 */
export const splitEvents = (
  buffer: string,
  onEvent: (data: string, event: string | undefined) => void
): string => {
  const text = buffer.includes("\r") ? buffer.replace(/\r\n/g, "\n") : buffer
  let start = 0
  let end: number
  while ((end = text.indexOf("\n\n", start)) >= 0) {
    const frame = text.slice(start, end)
    start = end + 2
    let data: string | undefined
    let event: string | undefined
    for (const line of frame.split("\n")) {
      if (line.startsWith("data:")) data = line.slice(line.charCodeAt(5) === 32 ? 6 : 5)
      else if (line.startsWith("event:")) event = line.slice(6).trim()
    }
    if (data !== undefined) onEvent(data, event)
  }
  return text.slice(start)
}
