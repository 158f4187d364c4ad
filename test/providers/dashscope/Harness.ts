/**
 * Shared by the DashScope protocol tests: recorded captures (cnblogs-dashscope-sdk) replayed with
 * their status and headers, a client over undici talking to a loopback server, requests, running a
 * stream while keeping the parts seen before a failure, and error assertions.
 */
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import type * as HttpClient from "@effect/platform/HttpClient"
import { assert } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type { LLMError } from "../../../src/domain/Errors.js"
import { type CallRequest, text } from "../../../src/domain/Prompt.js"
import type { UsageCounts } from "../../../src/domain/TokenUsage.js"
import * as DashScope from "../../../src/providers/dashscope/DashScope.js"
import type { ProviderClient, ProviderTarget, StreamPart } from "../../../src/providers/Provider.js"
import * as Loopback from "../../support/LoopbackServer.js"

export const fixtureName = (name: string) => `cnblogs-dashscope-sdk/${name}`
export const fixture = (name: string): string => Loopback.readFixture(fixtureName(name)).toString("utf8")
export const context = { provider: "dashscope", endpoint: "dashscope-intl", now: Date.parse("2025-08-16T00:45:32Z") }

export const expectError = (error: LLMError, tag: LLMError["_tag"], reason: string, status?: number) => {
  assert.strictEqual(error._tag, tag)
  assert.strictEqual((error as { reason: string }).reason, reason)
  if (status !== undefined) assert.strictEqual((error as { status?: number }).status, status)
  assert.strictEqual((error as { provider?: string }).provider, "dashscope")
  assert.strictEqual((error as { endpoint?: string }).endpoint, "dashscope-intl")
}

export const apiKey = "sk-test-secret-key-0123456789"
export const targetOf = (server: Loopback.LoopbackServer): ProviderTarget => ({
  provider: "dashscope",
  endpoint: { name: "dashscope-intl", baseUrl: `${server.url}/`, region: "sg" },
  modelId: "qwen-plus",
  apiKey: Redacted.make(apiKey),
  headers: []
})

export const minimalRequest: CallRequest = {
  system: undefined,
  messages: [{ role: "user", parts: [text("请问 1+1 是多少？")] }],
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
    { role: "user", parts: [text("1+1?")] }
  ],
  maxOutputTokens: 100,
  temperature: 0.5,
  topP: 0.8,
  stop: ["\n\n"]
}

/** The recorded status and headers of `<name>.response.header.txt`, minus framing/encoding headers. */
export const recordedHead = (name: string): { status: number; headers: Record<string, string> } => {
  const lines = fixture(`${name}.response.header.txt`).replace(/^\uFEFF/, "").split(/\r?\n/).filter((l) => l.length > 0)
  const headers: Record<string, string> = {}
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(":")
    const header = line.slice(0, colon).trim()
    if (!["content-encoding", "transfer-encoding", "content-length", "date"].includes(header.toLowerCase())) {
      headers[header] = line.slice(colon + 1).trim()
    }
  }
  return { status: Number(lines[0]!.split(" ")[1]), headers }
}

/** Replays `<name>.response.body.txt` byte for byte with the recorded status and headers (when recorded). */
export const replay = (
  name: string,
  options: Loopback.ReplayOptions = {},
  head = recordedHead(name)
): Loopback.ScriptedResponse =>
  Loopback.replay(fixtureName(`${name}.response.body.txt`), { status: head.status, headers: head.headers, ...options })

export const withServer = <A, E>(
  f: (
    server: Loopback.LoopbackServer,
    client: ProviderClient
  ) => Effect.Effect<A, E, HttpClient.HttpClient | Scope.Scope>
) =>
  Effect.gen(function*() {
    const server = yield* Loopback.make
    const client = yield* DashScope.make
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
      finish: partsOf(parts, "Finish").map((part) => part.reason)
    }
  })

export const failureOf = <A>(exit: Exit.Exit<A, LLMError>): LLMError => {
  if (Exit.isSuccess(exit)) throw new Error("expected a failure")
  const failure = exit.cause._tag === "Fail" ? exit.cause.error : undefined
  if (failure === undefined) throw new Error(`expected a typed failure, got ${String(exit.cause)}`)
  return failure
}

export const usage = (inputTokens: number, outputTokens: number, totalTokens: number) => ({
  inputTokens,
  outputTokens,
  totalTokens
})
export const plainUsage = (u: UsageCounts | undefined) =>
  u === undefined ? undefined : usage(u.inputTokens, u.outputTokens, u.totalTokens)
