/**
 * Shared by the Anthropic protocol tests: a client over undici talking to a loopback server, a target,
 * running a stream to its end, the summary of its parts, the recordings (VCR cassettes read with a
 * YAML loader, gzip bodies inflated; the AI SDK's unframed chunk files framed as the API frames
 * them), and what a recorded SSE body holds computed independently of the protocol code.
 */
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Redacted from "effect/Redacted"
import * as Stream from "effect/Stream"
import { gunzipSync } from "node:zlib"
import * as YAML from "yaml"
import type { LLMError } from "../../../src/domain/Errors.js"
import { type CallRequest, text } from "../../../src/domain/Prompt.js"
import * as Anthropic from "../../../src/providers/anthropic/Anthropic.js"
import * as AnthropicStream from "../../../src/providers/anthropic/Stream.js"
import type { ProviderClient, ProviderTarget, StreamPart } from "../../../src/providers/Provider.js"
import * as Loopback from "../../support/LoopbackServer.js"

export const apiKey = "sk-ant-api03-test-0123456789abcdef"
export const vercel = "vercel-ai-openai-anthropic/anthropic/"
export const simonw = "simonw-llm-anthropic/"
export const pydantic = "pydantic-pydantic-ai/"

export const targetOf = (server: Loopback.LoopbackServer, modelId = "claude-haiku-4-5"): ProviderTarget => ({
  provider: "anthropic",
  endpoint: { name: "anthropic-test", baseUrl: server.url, region: "us" },
  modelId,
  apiKey: Redacted.make(apiKey),
  headers: []
})

export const hello: CallRequest = {
  system: undefined,
  messages: [{ role: "user", parts: [text("hi")] }],
  maxOutputTokens: 1024,
  temperature: undefined,
  topP: undefined,
  stop: undefined
}

/** The recordings' day: `Date` of SLA `test_stream_events_text.yaml` (its resets are one second earlier). */
export const context = { provider: "anthropic", endpoint: "anthropic-test", now: Date.parse("2026-04-05T14:28:38Z") }
export const fixtureText = (path: string) => Loopback.readFixture(path).toString("utf8")

/** A client over the undici client talking to a fresh loopback server. */
export const setup = Effect.gen(function*() {
  const server = yield* Loopback.make
  const client = yield* Anthropic.make
  return { server, client, target: targetOf(server) }
})

/** Runs a stream to its end; the failure, if any, comes last as a `Left`. */
export const runStream = (client: ProviderClient, target: ProviderTarget, request: CallRequest = hello) =>
  Effect.scoped(
    Effect.flatMap(Effect.either(client.stream(target, request)), (opened) =>
      Either.isLeft(opened)
        ? Effect.succeed({ parts: [] as Array<StreamPart>, error: opened.left as LLMError | undefined })
        : opened.right.pipe(
          Stream.either,
          Stream.runCollect,
          Effect.map((all) => {
            const items = Chunk.toReadonlyArray(all)
            const parts = items.filter(Either.isRight).map((item) => item.right)
            const failure = items.find(Either.isLeft)
            return { parts, error: failure?.left }
          })
        ))
  )

/** The parts of one tag. */
export const partsOf = <Tag extends StreamPart["_tag"]>(parts: ReadonlyArray<StreamPart>, tag: Tag) =>
  parts.filter((part): part is Extract<StreamPart, { _tag: Tag }> => part._tag === tag)

/** What a stream delivered, in terms both the decoder and the independent reading of a recording give. */
export interface Summary {
  readonly text: string
  readonly reasoning: string
  readonly usage:
    | {
      readonly input: number
      readonly output: number
      readonly total: number
      readonly cacheRead: number | undefined
      readonly cacheWrite: number | undefined
    }
    | undefined
  readonly finishReason: string | undefined
}

/** Text and reasoning deltas joined, the last usage snapshot (with its cache parts), the finish reason. */
export const summary = (parts: ReadonlyArray<StreamPart>): Summary => {
  const usage = partsOf(parts, "Usage").at(-1)?.usage
  return {
    text: partsOf(parts, "TextDelta").map((part) => part.text).join(""),
    reasoning: partsOf(parts, "ReasoningDelta").map((part) => part.text).join(""),
    usage: usage === undefined ? undefined : {
      input: usage.inputTokens,
      output: usage.outputTokens,
      total: usage.totalTokens,
      cacheRead: usage.cachedInputTokens,
      cacheWrite: usage.cacheWriteTokens
    },
    finishReason: partsOf(parts, "Finish").at(-1)?.reason
  }
}

/**
 * What a recorded SSE body holds, computed independently of the protocol: each `data:` line is one
 * JSON event; text and thinking are their deltas; each usage field comes from the last event that has
 * it; the finish reason is the last `stop_reason`, and only counts once `message_stop` came.
 */
export const expectedFromRecording = (body: string): Summary => {
  let text = ""
  let reasoning = ""
  const fields: Record<string, number> = {}
  let stop: string | undefined
  let stopped = false
  for (const line of body.split(/\r\n|\n|\r/)) {
    if (!line.startsWith("data:")) continue
    const event = JSON.parse(line.slice(5))
    if (event.type === "content_block_delta" && event.delta.type === "text_delta") text += event.delta.text
    if (event.type === "content_block_delta" && event.delta.type === "thinking_delta") {
      reasoning += event.delta.thinking
    }
    const usage = event.type === "message_start" ? event.message.usage : event.usage
    for (const [key, value] of Object.entries(usage ?? {})) if (typeof value === "number") fields[key] = value
    if (event.type === "message_delta" && event.delta.stop_reason) stop = event.delta.stop_reason
    if (event.type === "message_stop") stopped = true
  }
  const read = fields.cache_read_input_tokens
  const write = fields.cache_creation_input_tokens
  const input = (fields.input_tokens ?? 0) + (read ?? 0) + (write ?? 0)
  const output = fields.output_tokens ?? 0
  const finishReason = !stopped || stop === undefined
    ? undefined
    : ({ end_turn: "stop", stop_sequence: "stop", max_tokens: "length", refusal: "filter" } as Record<string, string>)[
      stop
    ] ?? "other"
  return {
    text,
    reasoning,
    usage: Object.keys(fields).length === 0
      ? undefined
      : { input, output, total: input + output, cacheRead: read, cacheWrite: write },
    finishReason
  }
}

/** An AI SDK `.chunks.txt` (one JSON payload per line, no framing) framed as the API sends it. */
export const frameChunks = (path: string): Buffer =>
  Buffer.from(
    fixtureText(path).split("\n").filter((line) => line.trim().length > 0).map((line) =>
      `event: ${JSON.parse(line).type}\ndata: ${line}\n\n`
    ).join("")
  )

/** One response of a VCR cassette: status, headers (lower-case names, first values), body bytes (inflated). */
export interface CassetteResponse {
  readonly status: number
  readonly headers: Readonly<Record<string, string>>
  readonly body: Buffer
}

/**
 * Reads the first interaction's response of a VCR cassette (path relative to `test/support/fixtures`).
 * A `!!binary` gzip body is inflated (its `content-encoding` dropped) unless `compressed`, which keeps
 * it as recorded, header included; a `parsed_body` (pydantic's cassettes keep JSON bodies parsed) is
 * serialised back; length and transfer headers are dropped.
 */
export const readCassette = (path: string, options: { readonly compressed?: boolean } = {}): CassetteResponse => {
  const document = YAML.parse(fixtureText(path), { customTags: ["binary"] }) as {
    interactions: ReadonlyArray<{
      response: {
        status: { code: number }
        headers?: Record<string, ReadonlyArray<string>>
        body?: { string: string | Uint8Array }
        parsed_body?: unknown
      }
    }>
  }
  const response = document.interactions[0]!.response
  const headers: Record<string, string> = {}
  for (const [name, values] of Object.entries(response.headers ?? {})) {
    const lower = name.toLowerCase()
    if (["content-length", "transfer-encoding", "connection"].includes(lower)) continue
    if (lower === "content-encoding" && options.compressed !== true) continue
    headers[lower] = values[0]!
  }
  const raw = response.body?.string
  const body = raw === undefined
    ? Buffer.from(JSON.stringify(response.parsed_body))
    : typeof raw === "string"
    ? Buffer.from(raw, "utf8")
    : options.compressed === true
    ? Buffer.from(raw)
    : gunzipSync(raw)
  return { status: response.status.code, headers, body }
}

/** Replays a cassette's response byte for byte (optionally in writes of `chunkSizes`). */
export const replayCassette = (
  cassette: CassetteResponse,
  options: { readonly chunkSizes?: ReadonlyArray<number>; readonly delayMs?: number } = {}
): Loopback.ScriptedResponse =>
  Loopback.replay(cassette.body, {
    status: cassette.status,
    headers: cassette.headers,
    ...(options.chunkSizes !== undefined ? { chunkSizes: options.chunkSizes } : {}),
    ...(options.delayMs !== undefined ? { delayMs: options.delayMs } : {})
  })

/** Decodes body bytes read as `reads` with the protocol's stream decoder (no HTTP). */
export const decodeReads = (reads: ReadonlyArray<Uint8Array>, headers: Record<string, string> = {}) =>
  AnthropicStream.decode(Stream.fromIterable(reads), context, headers).pipe(
    Stream.runCollect,
    Effect.map(Chunk.toReadonlyArray)
  )
