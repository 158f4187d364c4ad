/**
 * The protocols' stream decoding alone, W3-sized: one 10,000-event stream (8 characters per delta)
 * decoded from bytes into StreamParts by each protocol's client over an in-memory `HttpClient`, read
 * in 64 KiB and in 256-byte pieces; and the per-event cost of the Schema decode the stream path
 * replaces with guards (src/providers/<protocol>/Stream.ts). `npx tsx bench/decode.ts [rounds]`.
 * Prints the fastest and median run (CPU time too: this machine is shared).
 */
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import { text } from "../src/domain/Prompt.js"
import * as Anthropic from "../src/providers/anthropic/Anthropic.js"
import * as AnthropicResponse from "../src/providers/anthropic/Response.js"
import * as DashScope from "../src/providers/dashscope/DashScope.js"
import * as DashScopeResponse from "../src/providers/dashscope/Response.js"
import * as Gemini from "../src/providers/gemini/Gemini.js"
import * as GeminiResponse from "../src/providers/gemini/Response.js"
import * as OpenAI from "../src/providers/openai/OpenAI.js"
import * as OpenAIResponse from "../src/providers/openai/Response.js"
import type { ProviderClient, ProviderTarget } from "../src/providers/Provider.js"

const events = 10_000
const rounds = Number(process.argv[2] ?? 15)
const delta = (i: number) => `tok${String(i).padStart(5, "0")}`

const geminiEvent = (i: number) =>
  `{"candidates":[{"content":{"parts":[{"text":${JSON.stringify(delta(i))}}],"role":"model"}${
    i === events - 1 ? `,"finishReason":"STOP"` : ""
  },"index":0}],"usageMetadata":{"promptTokenCount":5,"candidatesTokenCount":${i + 1},"totalTokenCount":${
    i + 6
  }},"modelVersion":"gemini-2.5-flash","responseId":"abc"}`
const dashScopeEvent = (i: number) =>
  `{"output":{"choices":[{"message":{"content":${JSON.stringify(delta(i))},"role":"assistant"},"finish_reason":"${
    i === events - 1 ? "stop" : "null"
  }"}]},"usage":{"total_tokens":${i + 9},"output_tokens":${i + 1},"input_tokens":8},"request_id":"r"}`

// OpenAI Chat Completions (include_usage): text chunks, the finish chunk, the usage chunk, then [DONE].
const openaiEvent = (i: number) =>
  `{"id":"chatcmpl-abc","object":"chat.completion.chunk","created":1770933892,"model":"gpt-4.1-nano-2025-04-14","choices":[{"index":0,"delta":{"content":${
    JSON.stringify(delta(i))
  }},"logprobs":null,"finish_reason":null}],"usage":null}`
const openaiTail = `{"id":"chatcmpl-abc","choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"usage":null}`
const openaiUsage =
  `{"id":"chatcmpl-abc","choices":[],"usage":{"prompt_tokens":5,"completion_tokens":${events},"total_tokens":${
    events + 5
  },"prompt_tokens_details":{"cached_tokens":0},"completion_tokens_details":{"reasoning_tokens":0}}}`
const anthropicEvent = (i: number) =>
  `{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":${JSON.stringify(delta(i))}}}`

const geminiBody = Buffer.from(Array.from({ length: events }, (_, i) => `data: ${geminiEvent(i)}\r\n\r\n`).join(""))
const dashScopeBody = Buffer.from(
  Array.from({ length: events }, (_, i) => `id:${i + 1}\nevent:result\n:HTTP_STATUS/200\ndata:${dashScopeEvent(i)}\n\n`)
    .join("")
)
const anthropicBody = Buffer.from(
  `event: message_start\ndata: {"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","model":"m","content":[],"stop_reason":null,"usage":{"input_tokens":5,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":1}}}\n\n` +
    `event: content_block_start\ndata: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}\n\n` +
    Array.from({ length: events }, (_, i) => `event: content_block_delta\ndata: ${anthropicEvent(i)}\n\n`).join("") +
    `event: content_block_stop\ndata: {"type":"content_block_stop","index":0}\n\n` +
    `event: message_delta\ndata: {"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":${events}}}\n\n` +
    `event: message_stop\ndata: {"type":"message_stop"}\n\n`
)

const openaiBody = Buffer.from(
  Array.from({ length: events }, (_, i) => `data: ${openaiEvent(i)}\n\n`).join("") +
    `data: ${openaiTail}\n\ndata: ${openaiUsage}\n\ndata: [DONE]\n\n`
)

/** An `HttpClient` answering 200 with `body`, read in pieces of `size` bytes. */
const clientOf = (body: Buffer, size: number) =>
  HttpClient.make((request) =>
    Effect.sync(() => {
      let offset = 0
      const stream = new ReadableStream<Uint8Array>({
        pull(controller) {
          if (offset >= body.length) return controller.close()
          controller.enqueue(body.subarray(offset, offset + size))
          offset += size
        }
      })
      return HttpClientResponse.fromWeb(
        request,
        new Response(stream, { status: 200, headers: { "content-type": "text/event-stream" } })
      )
    })
  )

const target: ProviderTarget = {
  provider: "bench",
  endpoint: { name: "bench-1", baseUrl: "http://127.0.0.1:1", region: undefined },
  modelId: "m",
  apiKey: Redacted.make("k"),
  headers: []
}
const request = {
  system: undefined,
  messages: [{ role: "user" as const, parts: [text("hi")] }],
  maxOutputTokens: undefined,
  temperature: undefined,
  topP: undefined,
  stop: undefined
}

const once = (make: Effect.Effect<ProviderClient, never, HttpClient.HttpClient>, body: Buffer, size: number) =>
  Effect.gen(function*() {
    const client = yield* make
    const cpu = process.cpuUsage()
    const start = performance.now()
    const deltas = yield* Effect.scoped(
      Effect.flatMap(
        client.stream(target, request),
        (stream) => Stream.runFold(stream, 0, (n, part) => (part._tag === "TextDelta" ? n + 1 : n))
      )
    )
    const used = process.cpuUsage(cpu)
    if (deltas !== events) throw new Error(`expected ${events} deltas, got ${deltas}`)
    return { wall: performance.now() - start, cpu: (used.user + used.system) / 1000 }
  }).pipe(Effect.provideService(HttpClient.HttpClient, clientOf(body, size)))

const stats = (values: Array<number>) => {
  const sorted = [...values].sort((a, b) => a - b)
  return { min: sorted[0]!, median: sorted[Math.floor(sorted.length / 2)]! }
}

const perEvent = (name: string, payloads: Array<unknown>, check: (payload: unknown) => boolean) => {
  const times: Array<number> = []
  for (let round = 0; round < rounds; round++) {
    const start = performance.now()
    for (const payload of payloads) if (!check(payload)) throw new Error(`${name} refused an event`)
    times.push(performance.now() - start)
  }
  const { median, min } = stats(times)
  console.log(
    `${name.padEnd(40)} ${(min * 1000 / payloads.length).toFixed(2)} µs/event (min), ${
      (median * 1000 / payloads.length).toFixed(2)
    } (median)`
  )
}

const main = Effect.gen(function*() {
  console.log(`${events.toLocaleString("en")}-event streams, ${rounds} rounds (first 3 warm-up)`)
  for (
    const [name, make, body] of [
      ["gemini", Gemini.make, geminiBody],
      ["dashscope", DashScope.make, dashScopeBody],
      ["openai", OpenAI.make, openaiBody],
      ["anthropic", Anthropic.make, anthropicBody]
    ] as const
  ) {
    for (const size of [65536, 256]) {
      const wall: Array<number> = []
      const cpu: Array<number> = []
      for (let round = 0; round < rounds + 3; round++) {
        const run = yield* once(make, body, size)
        if (round < 3) continue
        wall.push(run.wall)
        cpu.push(run.cpu)
      }
      const w = stats(wall)
      const c = stats(cpu)
      console.log(
        `${name.padEnd(10)} reads of ${String(size).padStart(5)} B: ${w.min.toFixed(1)} ms (median ${
          w.median.toFixed(1)
        }, cpu ${c.min.toFixed(1)}), ${Math.round(events / w.min * 1000).toLocaleString("en")} events/s`
      )
    }
  }
  const gemini = Array.from({ length: events }, (_, i) => JSON.parse(geminiEvent(i)))
  const dashScope = Array.from({ length: events }, (_, i) => JSON.parse(dashScopeEvent(i)))
  const geminiSchema = Schema.decodeUnknownEither(GeminiResponse.GenerateContentResponse)
  const dashScopeSchema = Schema.decodeUnknownEither(DashScopeResponse.Generation)
  perEvent("gemini Schema.decodeUnknownEither", gemini, (payload) => Either.isRight(geminiSchema(payload)))
  perEvent("gemini guards (Response.isResponse)", gemini, GeminiResponse.isResponse)
  perEvent("dashscope Schema.decodeUnknownEither", dashScope, (payload) => Either.isRight(dashScopeSchema(payload)))
  perEvent("dashscope guards (Response.isGeneration)", dashScope, DashScopeResponse.isGeneration)
  const openai = Array.from({ length: events }, (_, i) => JSON.parse(openaiEvent(i)))
  const openaiSchema = Schema.decodeUnknownEither(OpenAIResponse.Completion)
  perEvent("openai Schema.decodeUnknownEither", openai, (payload) => Either.isRight(openaiSchema(payload)))
  perEvent("openai guards (Response.isCompletion)", openai, OpenAIResponse.isCompletion)
  const anthropic = Array.from({ length: events }, (_, i) => JSON.parse(anthropicEvent(i)))
  const anthropicSchema = Schema.decodeUnknownEither(AnthropicResponse.StreamEvent)
  perEvent("anthropic Schema.decodeUnknownEither", anthropic, (payload) => Either.isRight(anthropicSchema(payload)))
  perEvent("anthropic guards (Response.isStreamEvent)", anthropic, AnthropicResponse.isStreamEvent)
})

Effect.runPromise(main)
