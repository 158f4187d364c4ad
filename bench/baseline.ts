/**
 * The bench's baseline: what a careful engineer writes by hand against the same Gemini endpoint —
 * global `fetch` + `JSON.parse` for a call, and a minimal SSE loop over the fetch body (CRLF event
 * framing, one `JSON.parse` per event) for a stream. No Effect is loaded in this process.
 */
import type { BenchClient, ClientOptions, StreamResult } from "./client.js"

const textOf = (response: any): string => {
  const parts = response?.candidates?.[0]?.content?.parts
  let text = ""
  if (Array.isArray(parts)) {
    for (const part of parts) if (typeof part?.text === "string" && part.thought !== true) text += part.text
  }
  return text
}

export const make = async (options: ClientOptions): Promise<BenchClient> => {
  const base = `${options.url}/v1beta/models/${options.modelId}`
  const headers = { "content-type": "application/json", "x-goog-api-key": options.apiKey }
  const streamHeaders = { ...headers, accept: "text/event-stream" }
  const body = (prompt: string) => JSON.stringify({ contents: [{ role: "user", parts: [{ text: prompt }] }] })

  const call = async (prompt: string): Promise<string> => {
    const response = await fetch(`${base}:generateContent`, { method: "POST", headers, body: body(prompt) })
    const text = await response.text()
    if (!response.ok) throw new Error(`HTTP ${response.status}: ${text.slice(0, 200)}`)
    return textOf(JSON.parse(text))
  }

  const stream = async (prompt: string): Promise<StreamResult> => {
    const started = performance.now()
    const response = await fetch(`${base}:streamGenerateContent?alt=sse`, {
      method: "POST",
      headers: streamHeaders,
      body: body(prompt)
    })
    if (!response.ok || response.body === null) {
      throw new Error(`HTTP ${response.status}: ${(await response.text()).slice(0, 200)}`)
    }
    const decoder = new TextDecoder()
    let buffer = ""
    let events = 0
    let chars = 0
    let finished = false
    let ttftMs = -1
    for await (const bytes of response.body) {
      buffer += decoder.decode(bytes, { stream: true })
      let start = 0
      let end: number
      while ((end = buffer.indexOf("\r\n\r\n", start)) >= 0) {
        const frame = buffer.slice(start, end)
        start = end + 4
        if (!frame.startsWith("data: ")) continue
        const event = JSON.parse(frame.slice(6))
        if (event.error !== undefined) throw new Error(`stream error: ${frame.slice(0, 200)}`)
        const delta = textOf(event)
        if (delta.length > 0) {
          if (ttftMs < 0) ttftMs = performance.now() - started
          events++
          chars += delta.length
        }
        if (typeof event.candidates?.[0]?.finishReason === "string") finished = true
      }
      buffer = buffer.slice(start)
    }
    if (!finished) throw new Error("the stream ended without a finish reason")
    return { events, chars, finished, ttftMs }
  }

  return {
    call,
    calls: (prompts) => Promise.all(prompts.map(call)),
    stream,
    streams: (prompts) => Promise.all(prompts.map(stream)),
    close: async () => {}
  }
}
