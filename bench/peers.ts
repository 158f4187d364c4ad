/**
 * The peer SDKs, each on its own wire format and pointed at the simulator through its base-URL
 * option, retries off (the simulator never fails): `openai` on Chat Completions, `@google/genai` on
 * Gemini, `@anthropic-ai/sdk` on the Messages API. DashScope's native API has no peer SDK for Node.
 */
import type { BenchClient, ClientOptions, StreamResult } from "./client.js"
import type { ProtocolName } from "./protocols.js"

/** Which peer SDK speaks a protocol (none for DashScope). */
export const peerOf: Record<ProtocolName, string | undefined> = {
  gemini: "@google/genai",
  openai: "openai",
  anthropic: "@anthropic-ai/sdk",
  dashscope: undefined
}

/** Counts a stream's text deltas the way every client here does. */
const counter = () => {
  const started = performance.now()
  let events = 0
  let chars = 0
  let ttftMs = -1
  return {
    delta: (text: string | undefined) => {
      if (text === undefined || text.length === 0) return
      if (ttftMs < 0) ttftMs = performance.now() - started
      events++
      chars += text.length
    },
    result: (finished: boolean): StreamResult => ({ events, chars, finished, ttftMs })
  }
}

const make = async (options: ClientOptions): Promise<BenchClient> => {
  const model = options.modelId
  switch (options.protocol) {
    case "openai": {
      const { default: OpenAI } = await import("openai")
      const client = new OpenAI({ apiKey: options.apiKey, baseURL: `${options.url}/v1`, maxRetries: 0 })
      const call = async (prompt: string) => {
        const answer = await client.chat.completions.create({ model, messages: [{ role: "user", content: prompt }] })
        return answer.choices[0]?.message.content ?? ""
      }
      const stream = async (prompt: string) => {
        const count = counter()
        let finished = false
        const chunks = await client.chat.completions.create({
          model,
          messages: [{ role: "user", content: prompt }],
          stream: true,
          stream_options: { include_usage: true }
        })
        for await (const chunk of chunks) {
          const choice = chunk.choices[0]
          count.delta(choice?.delta.content ?? undefined)
          if (choice?.finish_reason != null) finished = true
        }
        return count.result(finished)
      }
      return clientOf(call, stream)
    }
    case "gemini": {
      const { GoogleGenAI } = await import("@google/genai")
      const ai = new GoogleGenAI({ apiKey: options.apiKey, httpOptions: { baseUrl: options.url } })
      const call = async (prompt: string) => (await ai.models.generateContent({ model, contents: prompt })).text ?? ""
      const stream = async (prompt: string) => {
        const count = counter()
        let finished = false
        for await (const chunk of await ai.models.generateContentStream({ model, contents: prompt })) {
          count.delta(chunk.text)
          if (chunk.candidates?.[0]?.finishReason !== undefined) finished = true
        }
        return count.result(finished)
      }
      return clientOf(call, stream)
    }
    case "anthropic": {
      const { default: Anthropic } = await import("@anthropic-ai/sdk")
      // An explicit timeout: without one the SDK refuses a non-streaming call whose max_tokens could take
      // over 10 minutes (the bench sends 32,768, as effect-llm's clients do).
      const client = new Anthropic({ apiKey: options.apiKey, baseURL: options.url, maxRetries: 0, timeout: 600_000 })
      const call = async (prompt: string) => {
        const answer = await client.messages.create({
          model,
          max_tokens: 32_768,
          messages: [{ role: "user", content: prompt }]
        })
        let text = ""
        for (const block of answer.content) if (block.type === "text") text += block.text
        return text
      }
      const stream = async (prompt: string) => {
        const count = counter()
        let finished = false
        const events = await client.messages.create({
          model,
          max_tokens: 32_768,
          messages: [{ role: "user", content: prompt }],
          stream: true
        })
        for await (const event of events) {
          if (event.type === "content_block_delta" && event.delta.type === "text_delta") count.delta(event.delta.text)
          else if (event.type === "message_stop") finished = true
        }
        return count.result(finished)
      }
      return clientOf(call, stream)
    }
    case "dashscope":
      throw new Error("no peer SDK speaks DashScope's native API")
  }
}

const clientOf = (
  call: (prompt: string) => Promise<string>,
  stream: (prompt: string) => Promise<StreamResult>
): BenchClient => ({
  call,
  calls: (prompts) => Promise.all(prompts.map(call)),
  stream,
  streams: (prompts) => Promise.all(prompts.map(stream)),
  close: async () => {}
})

export { make }
