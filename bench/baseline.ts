/**
 * The bench's baseline: what a careful engineer writes by hand against the same endpoint — global
 * `fetch` + `JSON.parse` for a call, and a minimal SSE loop over the fetch body (blank-line framing,
 * one `JSON.parse` per event) for a stream, in the wire format of `options.protocol`
 * (bench/protocols.ts). No Effect is loaded in this process.
 */
import type { BenchClient, ClientOptions, StreamResult } from "./client.js"
import { splitEvents, wires } from "./protocols.js"

export const make = async (options: ClientOptions): Promise<BenchClient> => {
  const wire = wires[options.protocol]
  const callUrl = wire.url(options.url, options.modelId, false)
  const streamUrl = wire.url(options.url, options.modelId, true)
  const headers = wire.headers(options.apiKey, false)
  const streamHeaders = wire.headers(options.apiKey, true)

  const call = async (prompt: string): Promise<string> => {
    const response = await fetch(callUrl, {
      method: "POST",
      headers,
      body: JSON.stringify(wire.body(prompt, options.modelId, false))
    })
    const text = await response.text()
    if (!response.ok) throw new Error(`HTTP ${response.status}: ${text.slice(0, 200)}`)
    return wire.textOf(JSON.parse(text))
  }

  const stream = async (prompt: string): Promise<StreamResult> => {
    const started = performance.now()
    const response = await fetch(streamUrl, {
      method: "POST",
      headers: streamHeaders,
      body: JSON.stringify(wire.body(prompt, options.modelId, true))
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
    const onEvent = (data: string, name: string | undefined) => {
      const reading = wire.readEvent(data, name)
      if (reading.error) throw new Error(`stream error: ${data.slice(0, 200)}`)
      if (reading.delta.length > 0) {
        if (ttftMs < 0) ttftMs = performance.now() - started
        events++
        chars += reading.delta.length
      }
      if (reading.finished) finished = true
    }
    for await (const bytes of response.body) {
      buffer = splitEvents(buffer + decoder.decode(bytes, { stream: true }), onEvent)
    }
    if (!finished) throw new Error("the stream ended without a finish signal")
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
