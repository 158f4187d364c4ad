/**
 * A stream's outcome does not depend on how its bytes arrive or which of SSE's legal framings the
 * server uses: every recorded stream of the four protocols, decoded from one read, gives the same
 * deltas, reasoning, usage, finish and tool calls (or the same error) when its bytes come one or three
 * at a time, with CRLF, bare CR or LF line ends, a UTF-8 BOM, comment lines, extra blank lines, and
 * (Anthropic) `id`/`retry` fields and `ping` events between its events.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Stream from "effect/Stream"
import type { LLMError } from "../../../src/domain/Errors.js"
import * as AnthropicStream from "../../../src/providers/anthropic/Stream.js"
import * as DashScopeStream from "../../../src/providers/dashscope/Stream.js"
import * as GeminiStream from "../../../src/providers/gemini/Stream.js"
import * as OpenAIStream from "../../../src/providers/openai/Stream.js"
import type { StreamPart } from "../../../src/providers/Provider.js"
import * as Anthropic from "../anthropic/Harness.js"
import * as DashScope from "../dashscope/Harness.js"
import * as Gemini from "../gemini/Harness.js"
import * as OpenAI from "../openai/Harness.js"

type Decode = (bytes: Stream.Stream<Uint8Array>) => Stream.Stream<StreamPart, LLMError>

/** What a caller sees of a stream: the parts that matter, and how it ended. */
const outcome = (decode: Decode, reads: ReadonlyArray<Uint8Array>) =>
  decode(Stream.fromIterable(reads)).pipe(
    Stream.either,
    Stream.runCollect,
    Effect.map((all) => {
      const items = Chunk.toReadonlyArray(all)
      const parts = items.filter(Either.isRight).map((item) => item.right)
      const failure = items.find(Either.isLeft)?.left
      const text = (tag: "TextDelta" | "ReasoningDelta") =>
        parts.flatMap((part) => part._tag === tag ? [part.text] : []).join("")
      return {
        text: text("TextDelta"),
        reasoning: text("ReasoningDelta"),
        usage: parts.flatMap((part) => part._tag === "Usage" ? [part.usage] : []).at(-1),
        finish: parts.flatMap((part) => part._tag === "Finish" ? [part.reason] : []),
        calls: parts.flatMap((part) => part._tag === "ToolCall" ? [[part.call.name, part.call.params]] : []),
        failure: failure === undefined ? undefined : `${failure._tag} ${"reason" in failure ? failure.reason : ""}`
      }
    })
  )

const encode = (text: string) => new Uint8Array(Buffer.from(text, "utf8"))
const reads = (text: string, size: number): Array<Uint8Array> => {
  const bytes = encode(text)
  const out: Array<Uint8Array> = []
  for (let i = 0; i < bytes.length; i += size) out.push(bytes.subarray(i, i + size))
  return out
}

const anthropic: Decode = (bytes) => AnthropicStream.decode(bytes, Anthropic.context, {})
const openai: Decode = (bytes) => OpenAIStream.decode(bytes, OpenAI.context, {})
const gemini: Decode = (bytes) => GeminiStream.decode(bytes, Gemini.context, {})
const dashscope: Decode = (bytes) => DashScopeStream.decode(bytes, DashScope.context, {})
const gemini200 = (path: string) => Gemini.fixtureText(path)
const dashscope200 = (name: string) => DashScope.fixture(name)

const recorded: ReadonlyArray<readonly [string, Decode, string]> = [
  [
    "Anthropic thinking (pydantic-ai)",
    anthropic,
    Anthropic.readCassette(Anthropic.pydantic + "test_anthropic_model_thinking_part_stream.yaml").body.toString("utf8")
  ],
  [
    "Anthropic text (simonw)",
    anthropic,
    Anthropic.readCassette(Anthropic.simonw + "test_stream_events_text.yaml").body.toString("utf8")
  ],
  [
    "Anthropic tool, no arguments",
    anthropic,
    Anthropic.frameChunks(Anthropic.vercel + "anthropic-tool-no-args.chunks.txt").toString("utf8")
  ],
  ["OpenAI include_usage", openai, OpenAI.framed(OpenAI.vai + "openai-text.chunks.txt")],
  ["Azure leading filter chunk", openai, OpenAI.framed(OpenAI.vao + "openai/azure-model-router.1.chunks.txt")],
  ["DeepSeek reasoner", openai, OpenAI.framed(OpenAI.vao + "deepseek/deepseek-reasoning.chunks.txt")],
  ["Groq tool call", openai, OpenAI.framed(OpenAI.vao + "groq/groq-tool-call.chunks.txt")],
  ["Gemini long reply", gemini, gemini200(Gemini.googleai + "streaming-success-basic-reply-long.txt")],
  [
    "Gemini thought summary",
    gemini,
    gemini200(Gemini.googleai + "streaming-success-thinking-reply-thought-summary.txt")
  ],
  ["Gemini prompt blocked", gemini, gemini200(Gemini.googleai + "streaming-failure-prompt-blocked-safety.txt")],
  ["Gemini error after the events", gemini, gemini200(Gemini.vertexai + "streaming-failure-error-mid-stream.txt")],
  ["DashScope message", dashscope, dashscope200("single-generation-message-sse.response.body.txt")],
  ["DashScope reasoning", dashscope, dashscope200("single-generation-message-reasoning-sse.response.body.txt")],
  ["DashScope parameter error", dashscope, dashscope200("parameter-error-sse.response.body.txt")]
]

describe("a recorded stream decodes the same however its bytes arrive", () => {
  for (const [name, decode, body] of recorded) {
    it.effect(name, () =>
      Effect.gen(function*() {
        const expected = yield* outcome(decode, [encode(body)])
        const lf = body.replace(/\r\n/g, "\n")
        const variants: Record<string, ReadonlyArray<Uint8Array>> = {
          "1-byte reads": reads(body, 1),
          "3-byte reads": reads(body, 3),
          "CRLF, 1-byte reads": reads(lf.replace(/\n/g, "\r\n"), 1),
          "LF": [encode(lf)],
          "a BOM": [encode(`\ufeff${body}`)],
          "comment lines": [encode(lf.replace(/\n\n/g, "\n\n: keepalive\n\n"))],
          "extra blank lines": [encode(lf.replace(/\n\n/g, "\n\n\n\n"))]
        }
        // (bare CR would also end the lines of a raw multi-line JSON error: only for event-only bodies)
        if (!lf.includes("{\n")) variants["bare CR, 2-byte reads"] = reads(lf.replace(/\n/g, "\r"), 2)
        if (decode === anthropic) {
          variants["id and retry fields"] = [encode(`retry: 3000\n\n${lf.replace(/\ndata:/g, "\nid: 7\ndata:")}`)]
          variants["ping events"] = [encode(lf.replace(/\n\n/g, `\n\nevent: ping\ndata: {"type": "ping"}\n\n`))]
        }
        for (const [variant, bytes] of Object.entries(variants)) {
          assert.deepStrictEqual(yield* outcome(decode, bytes), expected, variant)
        }
      }))
  }
})
