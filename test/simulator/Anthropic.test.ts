/**
 * The simulator's Anthropic Messages wire: raw HTTP checks of what it requires and how it frames
 * answers, and the `anthropic` protocol client decoding every scripted behaviour (the two must agree
 * with each other and with the recordings the protocol tests replay).
 */
import { NodeHttpClient } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import { afterAll, beforeAll, beforeEach } from "vitest"
import type { LLMError } from "../../src/domain/Errors.js"
import { type CallRequest, text } from "../../src/domain/Prompt.js"
import * as Anthropic from "../../src/providers/anthropic/Anthropic.js"
import { parseAll } from "../../src/providers/http/Sse.js"
import type { ProviderTarget } from "../../src/providers/Provider.js"
import * as Simulator from "../../src/simulator/Simulator.js"
import { partsOf, runStream, summary } from "../providers/anthropic/Harness.js"

let sim: Simulator.Simulator

beforeAll(async () => {
  sim = await Simulator.start({ keys: { anthropic: "a-key-0123456789" } })
})
afterAll(() => sim.close())
beforeEach(() => sim.reset())

const messages = (
  endpoint: string,
  body: Record<string, unknown>,
  headers: Record<string, string> = { "x-api-key": "a-key-0123456789", "anthropic-version": "2023-06-01" }
) =>
  fetch(`${sim.baseUrl(endpoint)}/v1/messages`, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify(body)
  })

const hello = (prompt: string, extra: Record<string, unknown> = {}) => ({
  model: "claude-haiku-4-5",
  max_tokens: 256,
  messages: [{ role: "user", content: prompt }],
  ...extra
})

const errorOf = async (response: Response) => {
  const body = await response.json() as { type: string; error: { type: string; message: string } }
  assert.strictEqual(body.type, "error")
  return body.error
}

describe("Anthropic wire format (raw HTTP)", () => {
  it("requires x-api-key (or a Bearer token), anthropic-version and max_tokens; temperature in [0, 1]", async () => {
    const missing = await messages("a", hello("hi"), { "anthropic-version": "2023-06-01" })
    assert.strictEqual(missing.status, 401)
    assert.deepStrictEqual(await errorOf(missing), {
      type: "authentication_error",
      message: "x-api-key header is required"
    })
    const wrong = await messages("a", hello("hi"), { "x-api-key": "nope", "anthropic-version": "2023-06-01" })
    assert.strictEqual((await errorOf(wrong)).message, "invalid x-api-key")
    const bearer = await messages("a", hello("hi"), {
      authorization: "Bearer a-key-0123456789",
      "anthropic-version": "2023-06-01"
    })
    assert.strictEqual(bearer.status, 200)
    const noVersion = await messages("a", hello("hi"), { "x-api-key": "a-key-0123456789" })
    assert.strictEqual(noVersion.status, 400)
    assert.strictEqual((await errorOf(noVersion)).type, "invalid_request_error")
    const noMax = await messages("a", { model: "claude-haiku-4-5", messages: [{ role: "user", content: "hi" }] })
    assert.strictEqual(noMax.status, 400)
    assert.include((await errorOf(noMax)).message, "max_tokens")
    const hot = await messages("a", hello("hi", { temperature: 1.5 }))
    assert.strictEqual(hot.status, 400)
    assert.include((await errorOf(hot)).message, "temperature")
    const systemRole = await messages("a", { ...hello("hi"), messages: [{ role: "system", content: "x" }] })
    assert.strictEqual(systemRole.status, 400)
    // The log never holds the key.
    assert.isTrue(
      sim.log("a").every((entry) =>
        entry.headers["x-api-key"] === undefined || entry.headers["x-api-key"] === "<redacted>"
      )
    )
    assert.strictEqual(sim.log("a")[2]!.headers.authorization, "<redacted>")
  })

  it("answers a Message with request-id and rate-limit headers; usage counts the cache apart from input_tokens", async () => {
    const response = await messages("a", hello("why is the sky blue? [[sim cacheReadTokens=100 cacheWriteTokens=20]]"))
    assert.strictEqual(response.status, 200)
    assert.match(response.headers.get("request-id")!, /^req_011Sim/)
    assert.strictEqual(response.headers.get("anthropic-ratelimit-requests-remaining"), "3999")
    assert.match(response.headers.get("anthropic-ratelimit-tokens-reset")!, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/)
    const body = await response.json() as any
    assert.strictEqual(body.type, "message")
    assert.strictEqual(body.stop_reason, "end_turn")
    assert.isTrue(body.content[0].text.startsWith("Echo: why is the sky blue?"))
    assert.strictEqual(body.usage.cache_read_input_tokens, 100)
    assert.strictEqual(body.usage.cache_creation_input_tokens, 20)
    assert.strictEqual(body.usage.output_tokens, Math.ceil(body.content[0].text.length / 4))
  })

  it("streams named events: event: + data:, padded JSON, a ping after the first block start, message_stop last", async () => {
    const response = await messages(
      "a",
      hello("stream me [[sim tokens=30 reasoning=Pondering_the_question_first]]", { stream: true })
    )
    assert.strictEqual(response.headers.get("content-type"), "text/event-stream; charset=utf-8")
    const body = await response.text()
    assert.match(body, / +}\n\n/, "some JSON is padded before its last brace")
    const events = parseAll(body)
    const names = events.map((event) => event.event)
    assert.deepStrictEqual(names.slice(0, 4), ["message_start", "content_block_start", "ping", "content_block_delta"])
    assert.deepStrictEqual(names.slice(-3), ["content_block_stop", "message_delta", "message_stop"])
    for (const event of events) assert.strictEqual(JSON.parse(event.data!).type, event.event)
    assert.include(body, `"type":"thinking_delta"`)
    assert.include(body, `"type":"signature_delta"`)
    assert.strictEqual(body.indexOf(`"type":"text_delta"`) > body.lastIndexOf(`"type":"thinking_delta"`), true)
  })
})

it.layer(NodeHttpClient.layerUndici)("Anthropic wire format through the protocol client", (it) => {
  const target = (endpoint: string): ProviderTarget => ({
    provider: "anthropic",
    endpoint: { name: endpoint, baseUrl: sim.baseUrl(endpoint), region: undefined },
    modelId: "claude-haiku-4-5",
    apiKey: Redacted.make("a-key-0123456789"),
    headers: []
  })
  const request = (prompt: string, maxOutputTokens = 512): CallRequest => ({
    system: "be brief",
    messages: [{ role: "user", parts: [text(prompt)] }],
    maxOutputTokens,
    temperature: undefined,
    topP: undefined,
    stop: undefined
  })
  const reasonOf = (error: LLMError | undefined) => (error as { reason?: string } | undefined)?.reason

  it.effect("unary and stream give the same answer, usage and ids; thinking and cache when scripted", () =>
    Effect.gen(function*() {
      const client = yield* Anthropic.make
      const prompt =
        "same answer [[sim tokens=40 reasoning=Let_me_think_about_this_one_with_care cacheReadTokens=64 cacheWriteTokens=8]]"
      const unary = yield* client.generate(target("a"), request(prompt))
      const { error, parts } = yield* runStream(client, target("a"), request(prompt))
      assert.isUndefined(error)
      const streamed = summary(parts)
      assert.strictEqual(streamed.text, unary.content)
      assert.strictEqual(streamed.reasoning, unary.reasoning)
      assert.isAbove(unary.reasoning!.length, 20)
      assert.strictEqual(streamed.finishReason, "stop")
      assert.deepStrictEqual(streamed.usage, {
        input: unary.usage!.inputTokens,
        output: unary.usage!.outputTokens,
        total: unary.usage!.totalTokens,
        cacheRead: 64,
        cacheWrite: 8
      })
      assert.strictEqual(unary.usage!.cachedInputTokens, 64)
      assert.match(unary.requestId!, /^req_011Sim/)
      assert.match(partsOf(parts, "Metadata")[0]!.requestId!, /^req_011Sim/)
    }))

  it.effect("max_tokens caps the answer: stop_reason max_tokens is length", () =>
    Effect.gen(function*() {
      const client = yield* Anthropic.make
      const unary = yield* client.generate(target("a"), request("long [[sim tokens=100]]", 10))
      assert.strictEqual(unary.finishReason, "length")
      assert.strictEqual(unary.usage!.outputTokens, 10)
    }))

  it.effect("429 carries retry-after and an exhausted request limit; the spend limit is quota_exhausted without a wait", () =>
    Effect.gen(function*() {
      const client = yield* Anthropic.make
      sim.script(
        "a",
        { status: 429, retryAfter: 7 },
        { status: 429, ratelimitReset: "1970-01-01T00:00:30Z" },
        { status: 429, quota: "day" }
      )
      const limited = yield* Effect.flip(client.generate(target("a"), request("x")))
      assert.strictEqual(limited._tag, "RateLimitError")
      assert.strictEqual(reasonOf(limited), "rate_limited")
      assert.strictEqual(Duration.toMillis((limited as { retryAfter?: Duration.Duration }).retryAfter!), 7000)
      // Without retry-after: the reset of the exhausted limit, from Clock (the TestClock is at the epoch).
      const byReset = yield* Effect.flip(client.generate(target("a"), request("x")))
      assert.strictEqual(Duration.toMillis((byReset as { retryAfter?: Duration.Duration }).retryAfter!), 30_000)
      const spent = yield* Effect.flip(client.generate(target("a"), request("x")))
      assert.strictEqual(reasonOf(spent), "quota_exhausted")
      assert.isUndefined((spent as { retryAfter?: Duration.Duration }).retryAfter)
    }))

  it.effect("529 is overloaded; 413 is Cloudflare's page, invalid_request; 500 api_error is server_error", () =>
    Effect.gen(function*() {
      const client = yield* Anthropic.make
      sim.script("a", { status: 529 }, { status: 413 }, { status: 500 }, { status: 504 })
      const overloaded = yield* Effect.flip(client.generate(target("a"), request("x")))
      assert.strictEqual(overloaded._tag, "RetryableError")
      assert.strictEqual(reasonOf(overloaded), "overloaded")
      const tooLarge = yield* Effect.flip(client.generate(target("a"), request("x")))
      assert.strictEqual(tooLarge._tag, "FatalError")
      assert.strictEqual(reasonOf(tooLarge), "invalid_request")
      assert.include(tooLarge.message, "413 Request Entity Too Large")
      assert.strictEqual(reasonOf(yield* Effect.flip(client.generate(target("a"), request("x")))), "server_error")
      assert.strictEqual(reasonOf(yield* Effect.flip(client.generate(target("a"), request("x")))), "timeout")
    }))

  it.effect("an error event before any delta, and after two deltas", () =>
    Effect.gen(function*() {
      const client = yield* Anthropic.make
      sim.script("a", { status: 529, inStream: true }, { status: 529, inStream: 2, events: 5, chars: 4 })
      const first = yield* runStream(client, target("a"), request("x"))
      assert.strictEqual(partsOf(first.parts, "TextDelta").length, 0)
      assert.strictEqual(reasonOf(first.error), "overloaded")
      const second = yield* runStream(client, target("a"), request("x"))
      assert.strictEqual(partsOf(second.parts, "TextDelta").length, 2)
      assert.strictEqual(reasonOf(second.error), "overloaded")
    }))

  it.effect("a cut and a body ended before message_stop are stream_interrupted after the deltas sent", () =>
    Effect.gen(function*() {
      const client = yield* Anthropic.make
      sim.script("a", { cutAfter: 3, events: 6, chars: 4 }, { endAfter: 6, events: 6, chars: 4 })
      const cut = yield* runStream(client, target("a"), request("x"))
      assert.strictEqual(partsOf(cut.parts, "TextDelta").length, 3)
      assert.strictEqual(reasonOf(cut.error), "stream_interrupted")
      const ended = yield* runStream(client, target("a"), request("x"))
      assert.strictEqual(partsOf(ended.parts, "TextDelta").length, 6)
      assert.strictEqual(reasonOf(ended.error), "stream_interrupted")
    }))

  it.effect("a blocked prompt is a refusal: empty answer, finish filter, unary and streamed", () =>
    Effect.gen(function*() {
      const client = yield* Anthropic.make
      sim.script("a", { promptBlocked: "cyber" }, { promptBlocked: "cyber" })
      const unary = yield* client.generate(target("a"), request("x"))
      assert.strictEqual(unary.content, "")
      assert.strictEqual(unary.finishReason, "filter")
      const { error, parts } = yield* runStream(client, target("a"), request("x"))
      assert.isUndefined(error)
      assert.deepStrictEqual(summary(parts).finishReason, "filter")
      assert.strictEqual(summary(parts).text, "")
    }))

  it.effect("an unknown model is not_found; a wrong key is authentication", () =>
    Effect.gen(function*() {
      const client = yield* Anthropic.make
      const strict = yield* Effect.acquireRelease(
        Effect.promise(() => Simulator.start({ keys: { anthropic: "a-key-0123456789" }, models: ["claude-opus-4-1"] })),
        (server) => Effect.promise(() => server.close())
      )
      const missing = yield* Effect.flip(
        client.generate(
          { ...target("a"), endpoint: { name: "s", baseUrl: strict.url, region: undefined } },
          request("x")
        )
      )
      assert.strictEqual(reasonOf(missing), "not_found")
      assert.include(missing.message, "model: claude-haiku-4-5")
      const denied = yield* Effect.flip(
        client.generate({ ...target("a"), apiKey: Redacted.make("sk-wrong-0123456789") }, request("x"))
      )
      assert.strictEqual(reasonOf(denied), "authentication")
      assert.notInclude(denied.message, "sk-wrong-0123456789")
    }).pipe(Effect.scoped))
})
