/**
 * Shared by the Gemini protocol tests: a client over undici talking to a loopback server, a target,
 * running a stream to its end, the summary of its parts, and what a recorded SSE body holds computed
 * independently of the protocol code.
 */
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Redacted from "effect/Redacted"
import * as Stream from "effect/Stream"
import type { LLMError } from "../../../src/domain/Errors.js"
import { type CallRequest, text } from "../../../src/domain/Prompt.js"
import * as Gemini from "../../../src/providers/gemini/Gemini.js"
import * as GeminiStream from "../../../src/providers/gemini/Stream.js"
import type { ProviderClient, ProviderTarget, StreamPart } from "../../../src/providers/Provider.js"
import * as Loopback from "../../support/LoopbackServer.js"

export const apiKey = "AIza-test-key-0123456789"
export const googleai = "vertexai-sdk-test-data/googleai/"
export const vertexai = "vertexai-sdk-test-data/vertexai/"
export const jsGenai = "js-genai/"
export const vercel = "vercel-ai/google/"

export const targetOf = (server: Loopback.LoopbackServer, modelId = "gemini-2.5-flash"): ProviderTarget => ({
  provider: "google",
  endpoint: { name: "google-test", baseUrl: server.url, region: "us" },
  modelId,
  apiKey: Redacted.make(apiKey),
  headers: []
})

export const hello: CallRequest = {
  system: undefined,
  messages: [{ role: "user", parts: [text("hi")] }],
  maxOutputTokens: undefined,
  temperature: undefined,
  topP: undefined,
  stop: undefined
}

export const context = { provider: "google", endpoint: "google-test", now: Date.parse("2025-08-16T00:45:32Z") }
export const fixtureText = (path: string) => Loopback.readFixture(path).toString("utf8")

/** A client over the undici client talking to a fresh loopback server. */
export const setup = Effect.gen(function*() {
  const server = yield* Loopback.make
  const client = yield* Gemini.make
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

/** Text deltas joined, the last usage snapshot, the finish reason. */
export const summary = (parts: ReadonlyArray<StreamPart>) => {
  const usage = partsOf(parts, "Usage").at(-1)?.usage
  return {
    text: partsOf(parts, "TextDelta").map((part) => part.text).join(""),
    usage: usage === undefined
      ? undefined
      : { input: usage.inputTokens, output: usage.outputTokens, total: usage.totalTokens },
    finishReason: partsOf(parts, "Finish").at(-1)?.reason
  }
}

/**
 * What a recorded SSE body holds, computed independently of the protocol: every `data: ` line is
 * one JSON event; text is the non-thought parts; usage is the last snapshot; the finish reason the last one.
 */
export const expectedFromRecording = (body: string) => {
  let text = ""
  let usage: { input: number; output: number; total: number } | undefined
  let finish: string | undefined
  for (const line of body.split(/\r\n|\n|\r/)) {
    if (!line.startsWith("data: ")) continue
    const event = JSON.parse(line.slice(6))
    const candidate = event.candidates?.[0]
    for (const part of candidate?.content?.parts ?? []) if (!part.thought && part.text) text += part.text
    if (candidate?.finishReason) finish = candidate.finishReason
    if (event.promptFeedback?.blockReason) finish = "BLOCKED"
    const u = event.usageMetadata
    if (u) {
      const input = (u.promptTokenCount ?? 0) + (u.toolUsePromptTokenCount ?? 0)
      const output = (u.candidatesTokenCount ?? 0) + (u.thoughtsTokenCount ?? 0)
      usage = { input, output, total: u.totalTokenCount ?? input + output }
    }
  }
  const finishReason = finish === undefined
    ? undefined
    : ({ STOP: "stop", MAX_TOKENS: "length", SAFETY: "filter", RECITATION: "filter", BLOCKED: "filter" } as Record<
      string,
      string
    >)[finish] ?? "other"
  return { text, usage, finishReason }
}

/** Decodes body bytes read as `reads` with the protocol's stream decoder (no HTTP). */
export const decodeReads = (reads: ReadonlyArray<Uint8Array>) =>
  GeminiStream.decode(Stream.fromIterable(reads), context).pipe(Stream.runCollect, Effect.map(Chunk.toReadonlyArray))
