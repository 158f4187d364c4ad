/**
 * Shared by the openai protocol tests: the recorded traffic (AI SDK `.chunks.txt` payloads re-framed
 * as SSE, VCR cassettes read with a YAML loader), a client over undici talking to a loopback server,
 * targets (with or without a key), running a stream while keeping the parts seen before a failure,
 * what a recording holds computed independently of the protocol code, and error assertions.
 */
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import type * as HttpClient from "@effect/platform/HttpClient"
import { assert } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as Yaml from "yaml"
import type { MaxTokensField } from "../../../src/domain/Config.js"
import type { LLMError } from "../../../src/domain/Errors.js"
import { type CallRequest, text } from "../../../src/domain/Prompt.js"
import type { UsageCounts } from "../../../src/domain/TokenUsage.js"
import * as OpenAI from "../../../src/providers/openai/OpenAI.js"
import type { ProviderClient, ProviderTarget, StreamPart } from "../../../src/providers/Provider.js"
import * as Loopback from "../../support/LoopbackServer.js"

export const vao = "vercel-ai-openai-anthropic/"
export const pai = "pydantic-pydantic-ai/"
export const sll = "simonw-llm/"
export const vai = "vercel-ai/openai/"

export const apiKey = "sk-test-secret-key-0123456789abcdef"
export const context = { provider: "openai", endpoint: "openai-test", now: Date.parse("2025-08-16T00:45:32Z") }
export const fixtureText = (path: string) => Loopback.readFixture(path).toString("utf8")

/**
 * An AI SDK `.chunks.txt` recording (one JSON payload per line, framing stripped upstream) framed
 * again as the wire sends it: `data: <payload>` and a blank line per line, then `data: [DONE]`.
 */
export const framed = (
  path: string,
  options: { readonly done?: boolean; readonly eol?: "\n" | "\r\n" } = {}
): string => {
  const eol = options.eol ?? "\n"
  const lines = fixtureText(path).split("\n").filter((line) => line.trim().length > 0)
  return lines.map((line) => `data: ${line}${eol}${eol}`).join("") +
    (options.done === false ? "" : `data: [DONE]${eol}${eol}`)
}

/** One recorded HTTP exchange's response: status, headers (framing and cookies dropped), body text. */
export interface Interaction {
  readonly status: number
  readonly headers: Readonly<Record<string, string>>
  readonly body: string
}

const droppedHeaders = new Set(["content-length", "transfer-encoding", "content-encoding", "date", "set-cookie"])

/**
 * The responses of a VCR cassette: `body.string` as the YAML loader reads it (the raw SSE text), or
 * `parsed_body` re-serialised as JSON (pydantic-ai keeps JSON bodies parsed).
 */
export const cassette = (path: string): Array<Interaction> => {
  const document = Yaml.parse(fixtureText(path)) as {
    interactions: ReadonlyArray<{
      response: {
        status: { code: number }
        headers?: Record<string, ReadonlyArray<string>>
        body?: { string: string }
        parsed_body?: unknown
      }
    }>
  }
  return document.interactions.map(({ response }) => {
    const headers: Record<string, string> = {}
    for (const [name, values] of Object.entries(response.headers ?? {})) {
      if (!droppedHeaders.has(name.toLowerCase())) headers[name] = values.join(", ")
    }
    return {
      status: response.status.code,
      headers,
      body: response.body !== undefined ? response.body.string : JSON.stringify(response.parsed_body)
    }
  })
}

/** Replays an interaction byte for byte with its status and headers. */
export const replayInteraction = (
  interaction: Interaction,
  options: Loopback.ReplayOptions = {}
): Loopback.ScriptedResponse =>
  Loopback.replay(Buffer.from(interaction.body, "utf8"), {
    status: interaction.status,
    headers: interaction.headers,
    ...options
  })

export const sse = { "content-type": "text/event-stream; charset=utf-8" }
export const json = { "content-type": "application/json" }

/** Replays an SSE body (text) as a 200 event stream. */
export const replaySse = (body: string, options: Loopback.ReplayOptions = {}): Loopback.ScriptedResponse =>
  Loopback.replay(Buffer.from(body, "utf8"), { headers: sse, ...options })

/** A target at a loopback server's `/v1`, with the key unless `apiKey: undefined` is given. */
export const targetOf = (
  server: Loopback.LoopbackServer,
  options: {
    readonly apiKey?: string | undefined
    readonly headers?: ReadonlyArray<readonly [string, string]>
    readonly maxTokensField?: MaxTokensField
    readonly modelId?: string
  } = {}
): ProviderTarget => {
  const key = "apiKey" in options ? options.apiKey : apiKey
  return {
    provider: "openai",
    endpoint: {
      name: "openai-test",
      baseUrl: `${server.url}/v1`,
      region: undefined,
      ...(options.maxTokensField !== undefined ? { maxTokensField: options.maxTokensField } : {})
    },
    modelId: options.modelId ?? "gpt-4o-mini",
    apiKey: key === undefined ? undefined : Redacted.make(key),
    headers: (options.headers ?? []).map(([name, value]) => [name, Redacted.make(value)] as const)
  }
}

export const hello: CallRequest = {
  system: undefined,
  messages: [{ role: "user", parts: [text("hi")] }],
  maxOutputTokens: undefined,
  temperature: undefined,
  topP: undefined,
  stop: undefined
}

export const fullRequest: CallRequest = {
  system: "Answer briefly.",
  messages: [
    { role: "user", parts: [text("hi")] },
    { role: "assistant", parts: [text("hel"), text("lo")] },
    { role: "user", parts: [text("Capital of France?")] }
  ],
  maxOutputTokens: 100,
  temperature: 0.5,
  topP: 0.8,
  stop: ["\n\n"]
}

/** Runs `f` with a fresh loopback server and the protocol's client over undici. */
export const withServer = <A, E>(
  f: (
    server: Loopback.LoopbackServer,
    client: ProviderClient
  ) => Effect.Effect<A, E, HttpClient.HttpClient | Scope.Scope>
) =>
  Effect.gen(function*() {
    const server = yield* Loopback.make
    const client = yield* OpenAI.make
    return yield* f(server, client)
  }).pipe(Effect.provide(NodeHttpClient.layerUndici))

/** The parts of one tag. */
export const partsOf = <Tag extends StreamPart["_tag"]>(parts: ReadonlyArray<StreamPart>, tag: Tag) =>
  parts.filter((part): part is Extract<StreamPart, { _tag: Tag }> => part._tag === tag)

/** Runs a stream to its end, keeping the parts seen before any failure. */
export const collect = (stream: Stream.Stream<StreamPart, LLMError>) =>
  Effect.gen(function*() {
    const parts: Array<StreamPart> = []
    const exit = yield* Effect.exit(Stream.runForEach(stream, (part) => Effect.sync(() => parts.push(part))))
    const deltas = partsOf(parts, "TextDelta").map((part) => part.text)
    return {
      parts,
      exit,
      deltas,
      text: deltas.join(""),
      reasoning: partsOf(parts, "ReasoningDelta").map((part) => part.text).join(""),
      usages: partsOf(parts, "Usage").map((part) => part.usage),
      finish: partsOf(parts, "Finish").map((part) => part.reason),
      metadata: partsOf(parts, "Metadata")
    }
  })

/** Opens a stream on `client` and collects it (an open failure comes back as the exit). */
export const runStream = (client: ProviderClient, target: ProviderTarget, request: CallRequest = hello) =>
  Effect.scoped(
    Effect.flatMap(Effect.exit(client.stream(target, request)), (opened) =>
      Exit.isSuccess(opened)
        ? collect(opened.value)
        : Effect.succeed({
          parts: [] as Array<StreamPart>,
          exit: opened as Exit.Exit<void, LLMError>,
          deltas: [] as Array<string>,
          text: "",
          reasoning: "",
          usages: [] as Array<UsageCounts>,
          finish: [] as Array<string>,
          metadata: [] as Array<Extract<StreamPart, { _tag: "Metadata" }>>
        }))
  )

export const failureOf = <A>(exit: Exit.Exit<A, LLMError>): LLMError => {
  if (Exit.isSuccess(exit)) throw new Error("expected a failure")
  const failure = exit.cause._tag === "Fail" ? exit.cause.error : undefined
  if (failure === undefined) throw new Error(`expected a typed failure, got ${String(exit.cause)}`)
  return failure
}

export const expectError = (
  error: LLMError,
  tag: LLMError["_tag"],
  reason: string,
  status?: number,
  where: { readonly provider: string; readonly endpoint: string } = context
) => {
  assert.strictEqual(error._tag, tag, error.message)
  assert.strictEqual((error as { reason: string }).reason, reason, error.message)
  if (status !== undefined) assert.strictEqual((error as { status?: number }).status, status)
  assert.strictEqual((error as { provider?: string }).provider, where.provider)
  assert.strictEqual((error as { endpoint?: string }).endpoint, where.endpoint)
}

export const plainUsage = (u: UsageCounts | undefined) =>
  u === undefined ? undefined : { input: u.inputTokens, output: u.outputTokens, total: u.totalTokens }

/**
 * What a recorded SSE body holds, computed independently of the protocol: every `data:` line but
 * `[DONE]` is one JSON chunk; text is the first choice's `content`, reasoning its `reasoning_content`
 * or `reasoning`; usage the last non-null `usage` (or Groq's `x_groq.usage`); finish the last non-null
 * `finish_reason`; `done` whether `[DONE]` came.
 */
export const expectedFromRecording = (body: string) => {
  let text = ""
  let reasoning = ""
  let usage: { input: number; output: number; total: number } | undefined
  let finish: string | undefined
  let done = false
  for (const line of body.split(/\r\n|\n|\r/)) {
    if (!line.startsWith("data:")) continue
    const data = line.slice(5).trim()
    if (data === "[DONE]") {
      done = true
      continue
    }
    const chunk = JSON.parse(data)
    const choice = chunk.choices?.[0]
    const delta = choice?.delta ?? choice?.message
    if (typeof delta?.content === "string") text += delta.content
    const thought = delta?.reasoning_content || delta?.reasoning
    if (typeof thought === "string") reasoning += thought
    if (typeof choice?.finish_reason === "string") finish = choice.finish_reason
    const u = chunk.usage ?? chunk.x_groq?.usage
    if (u) usage = { input: u.prompt_tokens, output: u.completion_tokens, total: u.total_tokens }
  }
  const finishReason = finish === undefined
    ? done ? "other" : undefined
    : ({ stop: "stop", length: "length", content_filter: "filter" } as Record<string, string>)[finish] ?? "other"
  return { text, reasoning, usage, finishReason, done }
}
