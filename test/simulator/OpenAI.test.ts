/**
 * The simulator's OpenAI Chat Completions wire: answers, SSE framing with include_usage, key checks
 * (and keyless local endpoints), request validation, and the scripted faults the other two wires
 * have — checked with plain `fetch` and with the project's own openai decoder.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Stream from "effect/Stream"
import { afterAll, beforeAll, beforeEach } from "vitest"
import * as Errors from "../../src/providers/openai/Errors.js"
import * as Decode from "../../src/providers/openai/Response.js"
import * as OpenAIStream from "../../src/providers/openai/Stream.js"
import type { StreamPart } from "../../src/providers/Provider.js"
import * as Simulator from "../../src/simulator/Simulator.js"

let sim: Simulator.Simulator

beforeAll(async () => {
  sim = await Simulator.start({ keys: { openai: "sk-sim-0123456789" }, keyless: ["local"] })
})
afterAll(() => sim.close())
beforeEach(() => sim.reset())

const context = { provider: "openai", endpoint: "sim", now: 0 }

const chat = (
  endpoint: string,
  prompt: string,
  options: {
    readonly stream?: boolean
    readonly key?: string | null
    readonly body?: Record<string, unknown>
    readonly version?: string
  } = {}
) =>
  fetch(`${sim.baseUrl(endpoint)}${options.version ?? "/v1"}/chat/completions`, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      ...(options.key === null ? {} : { authorization: `Bearer ${options.key ?? "sk-sim-0123456789"}` })
    },
    body: JSON.stringify({
      model: "gpt-4o-mini",
      messages: [{ role: "system", content: "be brief" }, { role: "user", content: prompt }],
      ...(options.stream ? { stream: true, stream_options: { include_usage: true } } : {}),
      ...options.body
    })
  })

const json = async (response: Response | Promise<Response>): Promise<any> => (await response).json()

/** Decodes an SSE body with the project's openai stream decoder. */
const decodeStream = (body: string) =>
  Effect.runPromise(
    OpenAIStream.decode(Stream.make(new TextEncoder().encode(body)), context).pipe(
      Stream.runCollect,
      Effect.map(Chunk.toReadonlyArray),
      Effect.exit
    )
  )

const textOf = (parts: ReadonlyArray<StreamPart>) =>
  parts.flatMap((part) => (part._tag === "TextDelta" ? [part.text] : [])).join("")

describe("OpenAI wire format", () => {
  it("answers with a chat.completion, usage, x-request-id and the rate-limit headers", async () => {
    const response = await chat("openai-a", "hello there")
    assert.strictEqual(response.status, 200)
    assert.match(response.headers.get("x-request-id")!, /^req_sim/)
    assert.strictEqual(response.headers.get("x-ratelimit-reset-requests"), "2ms")
    const body = await response.json() as any
    assert.strictEqual(body.object, "chat.completion")
    assert.strictEqual(body.model, "gpt-4o-mini")
    assert.match(body.choices[0].message.content, /^Echo: hello there\. /)
    assert.strictEqual(body.choices[0].finish_reason, "stop")
    assert.strictEqual(body.usage.prompt_tokens, Math.ceil("be briefhello there".length / 4))
    assert.strictEqual(body.usage.completion_tokens, 48)
    assert.strictEqual(sim.log("openai-a")[0]!.provider, "openai")
    assert.isFalse(sim.log("openai-a")[0]!.stream)
  })

  it("streams data: chunks, a finish chunk, the choices:[] usage chunk, then [DONE]", async () => {
    const response = await chat("openai-a", "stream please", { stream: true })
    assert.strictEqual(response.headers.get("content-type"), "text/event-stream; charset=utf-8")
    const text = await response.text()
    const frames = text.split("\n\n")
    assert.strictEqual(frames.pop(), "")
    assert.strictEqual(frames.at(-1), "data: [DONE]")
    const chunks = frames.slice(0, -1).map((frame) => {
      assert.isTrue(frame.startsWith("data: "))
      return JSON.parse(frame.slice(6))
    })
    assert.strictEqual(chunks[0].choices[0].delta.role, "assistant")
    const usageChunk = chunks.at(-1)
    assert.deepStrictEqual(usageChunk.choices, [])
    assert.strictEqual(usageChunk.usage.completion_tokens, 48)
    const finishChunk = chunks.at(-2)
    assert.deepStrictEqual(finishChunk.choices[0].delta, {})
    assert.strictEqual(finishChunk.choices[0].finish_reason, "stop")
    assert.isTrue(chunks.slice(0, -1).every((chunk: any) => chunk.usage === null))
    assert.isTrue(sim.log("openai-a")[0]!.stream)
    const exit = await decodeStream(text)
    assert.isTrue(Exit.isSuccess(exit))
    if (Exit.isSuccess(exit)) assert.match(textOf(exit.value), /^Echo: stream please\. /)
  })

  it("without include_usage a stream reports no usage (the key is absent, as OpenAI does)", async () => {
    const text = await (await chat("openai-a", "x", { body: { stream: true } })).text()
    assert.notInclude(text, "\"usage\"")
    assert.isTrue(text.endsWith("data: [DONE]\n\n"))
  })

  it("noUsage: a server that ignores include_usage, unary and stream", async () => {
    sim.script("openai-a", { noUsage: true }, { noUsage: true })
    const unary = await json(chat("openai-a", "x"))
    assert.isUndefined(unary.usage)
    const text = await (await chat("openai-a", "x", { stream: true })).text()
    assert.notInclude(text, "\"choices\":[]")
  })

  it("reasoning: reasoning_content deltas before the answer, counted as reasoning tokens", async () => {
    sim.script("openai-a", { reasoning: "Let me think about this step by step." }, { reasoning: "Hmm." })
    const text = await (await chat("openai-a", "why", { stream: true })).text()
    const exit = await decodeStream(text)
    assert.isTrue(Exit.isSuccess(exit))
    if (Exit.isSuccess(exit)) {
      const reasoning = exit.value.flatMap((part) => (part._tag === "ReasoningDelta" ? [part.text] : [])).join("")
      assert.strictEqual(reasoning, "Let me think about this step by step.")
      const usage = exit.value.flatMap((part) => (part._tag === "Usage" ? [part.usage] : [])).at(-1)!
      assert.strictEqual(usage.reasoningTokens, Math.ceil(reasoning.length / 4))
    }
    const unary = await json(chat("openai-a", "why"))
    assert.strictEqual(unary.choices[0].message.reasoning_content, "Hmm.")
  })

  it("caps the answer at max_tokens or max_completion_tokens with finish length", async () => {
    for (const field of ["max_tokens", "max_completion_tokens"]) {
      const body = await json(chat("openai-a", "x", { body: { [field]: 5 } }))
      assert.strictEqual(body.choices[0].finish_reason, "length")
      assert.strictEqual(body.choices[0].message.content.length, 20)
    }
  })

  it("rejects a missing key and a wrong key with 401, quoting the wrong key masked", async () => {
    const missing = await chat("openai-a", "x", { key: null })
    assert.strictEqual(missing.status, 401)
    assert.match((await missing.json() as any).error.message, /You didn't provide an API key/)
    const wrong = await chat("openai-a", "x", { key: "sk-wrong-key-abcdef" })
    assert.strictEqual(wrong.status, 401)
    const body = await wrong.json() as any
    assert.strictEqual(body.error.code, "invalid_api_key")
    assert.include(body.error.message, "sk-************cdef")
    assert.notInclude(body.error.message, "wrong-key")
    assert.strictEqual(sim.log("openai-a")[1]!.headers.authorization, "<redacted>")
  })

  it("a keyless endpoint (a local model server) answers without a key, or with any", async () => {
    const none = await chat("local", "x", { key: null })
    assert.strictEqual(none.status, 200)
    const any = await chat("local", "x", { key: "ollama" })
    assert.strictEqual(any.status, 200)
    // Keyless is per endpoint: the others still check.
    assert.strictEqual((await chat("openai-b", "x", { key: null })).status, 401)
  })

  it("routes /<endpoint>/v1, /<endpoint>/api/v3 and /<endpoint>/compatible-mode/v1 to the endpoint; /v1 to default", async () => {
    await chat("ark", "x", { version: "/api/v3" })
    await chat("compat", "x", { version: "/compatible-mode/v1" })
    await fetch(`${sim.url}/v1/chat/completions`, {
      method: "POST",
      headers: { authorization: "Bearer sk-sim-0123456789" },
      body: JSON.stringify({ model: "m", messages: [{ role: "user", content: "x" }] })
    })
    assert.deepStrictEqual(sim.counts(), { ark: 1, compat: 1, default: 1 })
  })

  it("validates like OpenAI: messages, roles, temperature in [0, 2], stream_options only with stream", async () => {
    const cases: ReadonlyArray<readonly [Record<string, unknown>, RegExp]> = [
      [{ messages: [] }, /too short/],
      [{ messages: [{ role: "robot", content: "x" }] }, /Invalid value: 'robot'/],
      [{ temperature: 2.5 }, /Invalid 'temperature'/],
      [{ stream_options: { include_usage: true } }, /only allowed when 'stream' is enabled/],
      [{ max_tokens: 0 }, /Invalid 'max_tokens'/]
    ]
    for (const [body, message] of cases) {
      const response = await chat("openai-a", "x", { body })
      assert.strictEqual(response.status, 400)
      const error = (await response.json() as any).error
      assert.strictEqual(error.type, "invalid_request_error")
      assert.match(error.message, message)
    }
    assert.strictEqual((await chat("openai-a", "x", { body: { temperature: 2 } })).status, 200)
  })

  it("answers an unknown model with 404 model_not_found when models are listed", async () => {
    const listed = await Simulator.start({ models: ["gpt-4o-mini"], keyless: ["local"] })
    try {
      const response = await fetch(`${listed.baseUrl("local")}/v1/chat/completions`, {
        method: "POST",
        body: JSON.stringify({ model: "gpt-9", messages: [{ role: "user", content: "x" }] })
      })
      assert.strictEqual(response.status, 404)
      const error = (await response.json() as any).error
      assert.strictEqual(error.code, "model_not_found")
      assert.strictEqual(error.message, "The model `gpt-9` does not exist or you do not have access to it.")
    } finally {
      await listed.close()
    }
  })
})

describe("OpenAI fault scripts", () => {
  const classify = async (response: Response) =>
    Errors.classify(
      response.status,
      await response.text(),
      Object.fromEntries(response.headers.entries()),
      context
    )

  it("errors by status, each classified by the project as the row says", async () => {
    const rows: ReadonlyArray<readonly [Simulator.SimulatorStep, string, string]> = [
      [{ status: 400, code: "context_length_exceeded" }, "FatalError", "invalid_request"],
      [{ status: 402 }, "RateLimitError", "quota_exhausted"],
      [{ status: 403 }, "FatalError", "permission_denied"],
      [{ status: 404 }, "FatalError", "not_found"],
      [{ status: 408 }, "RetryableError", "timeout"],
      [{ status: 429 }, "RateLimitError", "rate_limited"],
      [{ status: 429, quota: "day" }, "RateLimitError", "quota_exhausted"],
      [{ status: 500 }, "RetryableError", "server_error"],
      [{ status: 503 }, "RetryableError", "overloaded"],
      [{ status: 529 }, "RetryableError", "overloaded"]
    ]
    sim.script("openai-a", ...rows.map(([step]) => step))
    for (const [step, tag, reason] of rows) {
      const error = await classify(await chat("openai-a", "x"))
      assert.strictEqual(error._tag, tag, JSON.stringify(step))
      assert.strictEqual((error as { reason: string }).reason, reason, JSON.stringify(step))
    }
  })

  it("429 with Retry-After, retry-after-ms or x-ratelimit-reset-requests", async () => {
    sim.script(
      "openai-a",
      { status: 429, retryAfter: 7 },
      { status: 429, retryAfterMs: 2500 },
      { status: 429, resetRequests: "6m0s", resetTokens: "1s" }
    )
    const first = await chat("openai-a", "x")
    assert.strictEqual(first.headers.get("retry-after"), "7")
    const second = await chat("openai-a", "x")
    assert.strictEqual(second.headers.get("retry-after-ms"), "2500")
    const third = await chat("openai-a", "x")
    assert.strictEqual(third.headers.get("x-ratelimit-reset-requests"), "6m0s")
    assert.strictEqual(third.headers.get("x-ratelimit-remaining-requests"), "0")
    const error = await classify(third)
    assert.strictEqual(error._tag === "RateLimitError" && error.retryAfter !== undefined, true)
  })

  it("an error to a stream request is a JSON body before the stream", async () => {
    sim.script("openai-a", { status: 503 })
    const response = await chat("openai-a", "x", { stream: true })
    assert.strictEqual(response.status, 503)
    assert.strictEqual(response.headers.get("content-type"), "application/json")
    assert.match((await response.json() as any).error.message, /overloaded/)
  })

  it("delivers an in-stream data: {\"error\"} after N chunks", async () => {
    sim.script("openai-a", { status: 500, inStream: 2, events: 5, chars: 4 })
    const response = await chat("openai-a", "x", { stream: true })
    assert.strictEqual(response.status, 200)
    const text = await response.text()
    const frames = text.split("\n\n").filter((frame) => frame.length > 0)
    assert.strictEqual(frames.length, 3)
    assert.match(frames[2]!, /^data: \{"error":\{"message":"The server had an error/)
    assert.notInclude(text, "[DONE]")
    const exit = await decodeStream(text)
    assert.isTrue(Exit.isFailure(exit))
  })

  it("cuts a stream after N chunks, or ends it cleanly without [DONE] or a finish", async () => {
    sim.script("openai-a", { cutAfter: 2, events: 5, chars: 4 }, { endAfter: 2, events: 5, chars: 4 })
    const cut = await chat("openai-a", "x", { stream: true })
    let broken = false
    try {
      await cut.text()
    } catch {
      broken = true
    }
    assert.isTrue(broken, "the connection was destroyed mid-body")
    const ended = await (await chat("openai-a", "x", { stream: true })).text()
    assert.strictEqual(ended.split("\n\n").filter((frame) => frame.length > 0).length, 2)
    const exit = await decodeStream(ended)
    assert.isTrue(Exit.isFailure(exit))
    if (Exit.isFailure(exit)) assert.include(String(exit.cause), "ended before the provider's finish signal")
  })

  it("a blocked prompt is 400 content_filter", async () => {
    sim.script("openai-a", { promptBlocked: "SAFETY" })
    const response = await chat("openai-a", "x")
    assert.strictEqual(response.status, 400)
    assert.strictEqual((await classify(response) as { reason: string }).reason, "content_filter")
  })

  it("reads faults from a [[sim …]] directive in the prompt; the unary answer decodes", async () => {
    const failed = await chat("openai-a", "[[sim status=529]] hi")
    assert.strictEqual(failed.status, 529)
    const ok = await chat("openai-a", "[[sim tokens=3]] hi")
    const decoded = Decode.decode(await ok.text(), 200, {}, context)
    assert.strictEqual(decoded._tag, "Right")
    if (decoded._tag === "Right") assert.strictEqual(decoded.right.usage!.outputTokens, 3)
  })
})
