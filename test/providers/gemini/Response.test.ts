import { NodeHttpClient } from "@effect/platform-node"
import { assert, it } from "@effect/vitest"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import type { UsageCounts } from "../../../src/domain/TokenUsage.js"
import * as Gemini from "../../../src/providers/gemini/Gemini.js"
import { finishOf } from "../../../src/providers/gemini/Response.js"
import * as Loopback from "../../support/LoopbackServer.js"
import { apiKey, fixtureText, googleai, hello, jsGenai, setup, targetOf, vercel, vertexai } from "./Harness.js"

const millis = (
  duration: Duration.Duration | undefined
) => (duration === undefined ? undefined : Duration.toMillis(duration))
const counts = (usage: UsageCounts | undefined) =>
  usage === undefined ? undefined : [usage.inputTokens, usage.outputTokens, usage.totalTokens]

it.layer(NodeHttpClient.layerUndici)("Gemini unary answers", (it) => {
  const answer = (fixture: string) =>
    Effect.gen(function*() {
      const { client, server, target } = yield* setup
      server.enqueue(Loopback.replay(fixture, { headers: { "content-type": "application/json; charset=UTF-8" } }))
      return yield* client.generate(target, hello)
    })

  it.scoped("a plain success", () =>
    Effect.gen(function*() {
      const result = yield* answer(googleai + "unary-success-basic-reply-short.json")
      assert.strictEqual(
        result.content,
        "Google's headquarters, also known as the Googleplex, is located in **Mountain View, California**.\n"
      )
      assert.deepStrictEqual(counts(result.usage), [7, 22, 29])
      assert.strictEqual(result.finishReason, "stop")
      assert.strictEqual(result.modelVersion, "gemini-2.0-flash")
      assert.isUndefined(result.requestId)
      assert.isUndefined(result.reasoning)
    }))

  it.scoped("SAFETY keeps the partial text and maps to filter", () =>
    Effect.gen(function*() {
      const result = yield* answer(googleai + "unary-failure-finish-reason-safety.json")
      assert.strictEqual(result.content, "Safety error incoming in 5, 4, 3, 2...")
      assert.strictEqual(result.finishReason, "filter")
      assert.deepStrictEqual(counts(result.usage), [7, 20, 27])
    }))

  it.scoped("candidates: [] with only a prompt-feedback message (no blockReason) is an empty answer, finish other, without usage", () =>
    Effect.gen(function*() {
      const result = yield* answer(googleai + "unary-failure-only-prompt-feedback.json")
      assert.strictEqual(result.content, "")
      assert.strictEqual(result.finishReason, "other")
      assert.isUndefined(result.usage)
      assert.strictEqual(result.modelVersion, "gemini-2.0-flash")
    }))

  it("prompt feedback ends an answer by its blockReason (filter) or its message alone (other); its safety ratings alone end nothing", () => {
    assert.strictEqual(finishOf({ promptFeedback: { blockReason: "SAFETY", blockReasonMessage: "m" } }), "filter")
    assert.strictEqual(finishOf({ candidates: [], promptFeedback: { blockReasonMessage: "Message" } }), "other")
    assert.isUndefined(finishOf({ promptFeedback: { safetyRatings: [] } } as never))
  })

  it.scoped("a candidate without content (OTHER + finishMessage) is an empty answer without usage", () =>
    Effect.gen(function*() {
      const result = yield* answer(googleai + "unary-failure-with-message-no-content.json")
      assert.strictEqual(result.content, "")
      assert.strictEqual(result.finishReason, "other")
      assert.isUndefined(result.usage)
    }))

  it.scoped("an unknown finish reason enum maps to other", () =>
    Effect.gen(function*() {
      const result = yield* answer(vertexai + "unary-failure-unknown-enum-finish-reason.json")
      assert.strictEqual(result.content, "Some text")
      assert.strictEqual(result.finishReason, "other")
    }))

  it.scoped("implicit caching: input is the prompt count with the cached part apart, thoughts count as output and as reasoning", () =>
    Effect.gen(function*() {
      const result = yield* answer(vertexai + "unary-success-implicit-caching.json")
      const raw = JSON.parse(fixtureText(vertexai + "unary-success-implicit-caching.json")).usageMetadata
      assert.deepStrictEqual([raw.promptTokenCount, raw.cachedContentTokenCount, raw.totalTokenCount], [
        12013,
        11243,
        12101
      ])
      assert.deepStrictEqual(counts(result.usage), [12013, raw.candidatesTokenCount + raw.thoughtsTokenCount, 12101])
      assert.strictEqual(result.usage?.cachedInputTokens, 11243)
      assert.strictEqual(result.usage?.reasoningTokens, 73)
      assert.isUndefined(result.usage?.cacheWriteTokens)
    }))

  it.scoped("a blocked prompt (no candidates key) is filter with empty content", () =>
    Effect.gen(function*() {
      const result = yield* answer(vertexai + "unary-failure-prompt-blocked-safety.json")
      assert.strictEqual(result.content, "")
      assert.strictEqual(result.finishReason, "filter")
      const blocked = yield* answer(vercel + "issue-19758-prompt-block.json")
      assert.strictEqual(blocked.finishReason, "filter")
      assert.strictEqual(blocked.requestId, "EXCPaojyHaDUjMcP656rqAk")
      assert.deepStrictEqual(counts(blocked.usage), [9, 0, 9])
    }))

  it.scoped("a js-genai recording: MAX_TOKENS after thinking, responseId as request id", () =>
    Effect.gen(function*() {
      const { client, server, target } = yield* setup
      const recording = Loopback.readRecording(
        jsGenai + "Client_Tests_ML_Dev_should_generate_content_with_per-request_retry_options.json"
      )
      server.enqueue(Loopback.replayRecording(recording))
      const result = yield* client.generate(target, hello)
      const body = recording.response.bodySegments[0] as any
      assert.strictEqual(result.content, body.candidates[0].content.parts[0].text)
      assert.strictEqual(result.finishReason, "length")
      assert.strictEqual(result.requestId, "ojQWad2SFf-gz7IPnpHRgAk")
      assert.strictEqual(result.modelVersion, "gemini-2.5-flash")
      assert.deepStrictEqual(counts(result.usage), [7, 147 + 51, 205])
      assert.strictEqual(result.usage?.reasoningTokens, 51)
    }))

  it.scoped("thought parts are the reasoning, never part of the content", () =>
    Effect.gen(function*() {
      const { client, server, target } = yield* setup
      server.enqueue({
        body: JSON.stringify({
          candidates: [{
            content: {
              role: "model",
              parts: [
                { text: "**Weighing it**\n\nThe user wants a number.", thought: true },
                { text: "4", thought: false },
                { text: "", thoughtSignature: "c2lnbmF0dXJl" },
                { text: ".\n" }
              ]
            },
            finishReason: "STOP"
          }],
          usageMetadata: { promptTokenCount: 6, candidatesTokenCount: 2, thoughtsTokenCount: 30, totalTokenCount: 38 }
        })
      })
      const result = yield* client.generate(target, hello)
      assert.strictEqual(result.content, "4.\n")
      assert.strictEqual(result.reasoning, "**Weighing it**\n\nThe user wants a number.")
      assert.deepStrictEqual(counts(result.usage), [6, 32, 38])
      assert.strictEqual(result.usage?.reasoningTokens, 30)
    }))

  it.scoped("a usage block without candidatesTokenCount: the output is what the total leaves (none for a blocked prompt, whose total is its prompt)", () =>
    Effect.gen(function*() {
      const { client, server, target } = yield* setup
      const answer = (usageMetadata: Record<string, number>) => ({
        status: 200,
        headers: { "content-type": "application/json" },
        body: JSON.stringify({
          candidates: [{ content: { role: "model", parts: [{ text: "Hello there." }] }, finishReason: "STOP" }],
          usageMetadata
        })
      })
      server.enqueue(answer({ promptTokenCount: 7, totalTokenCount: 29 }))
      assert.deepStrictEqual(counts((yield* client.generate(target, hello)).usage), [7, 22, 29])
      server.enqueue(answer({ promptTokenCount: 7, thoughtsTokenCount: 12, totalTokenCount: 29 }))
      assert.deepStrictEqual(counts((yield* client.generate(target, hello)).usage), [7, 22, 29])
      server.enqueue(answer({ promptTokenCount: 7, totalTokenCount: 7 }))
      assert.deepStrictEqual(counts((yield* client.generate(target, hello)).usage), [7, 0, 7])
    }))

  it.scoped("a usage block that counts nothing ({} or every count null) is no report, unary and streamed: the call is settled at its bound", () =>
    Effect.gen(function*() {
      const { client, server, target } = yield* setup
      const candidates = [{ content: { role: "model", parts: [{ text: "Hello there." }] }, finishReason: "STOP" }]
      for (const empty of [{}, { promptTokenCount: null, candidatesTokenCount: null, totalTokenCount: null }]) {
        server.enqueue({
          status: 200,
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ candidates, usageMetadata: empty })
        })
        assert.isUndefined((yield* client.generate(target, hello)).usage, JSON.stringify(empty))
        server.enqueue({
          status: 200,
          headers: { "content-type": "text/event-stream" },
          body: `data: ${JSON.stringify({ candidates, usageMetadata: empty })}\r\n\r\n`
        })
        const parts = yield* Stream.runCollect(Stream.unwrapScoped(client.stream(target, hello)))
        assert.deepStrictEqual([...parts].filter((part) => part._tag === "Usage"), [], JSON.stringify(empty))
      }
    }))

  it.scoped("a count the usage block leaves out is 0 (WIRE.md §1.5) unless its total says it; a stream keeps its earlier prompt count", () =>
    Effect.gen(function*() {
      const { client, server, target } = yield* setup
      const content = (text: string) => ({ content: { role: "model", parts: [{ text }] } })
      const noPrompt = { candidatesTokenCount: 5, totalTokenCount: 5 }
      server.enqueue({
        status: 200,
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ candidates: [{ ...content("Hello."), finishReason: "STOP" }], usageMetadata: noPrompt })
      })
      assert.deepStrictEqual(counts((yield* client.generate(target, hello)).usage), [0, 5, 5])
      // a total beside the output counts says what the prompt was (total = prompt + candidates + thoughts)
      server.enqueue({
        status: 200,
        headers: { "content-type": "application/json" },
        body: JSON.stringify({
          candidates: [{ ...content("Hello."), finishReason: "STOP" }],
          usageMetadata: { candidatesTokenCount: 1, thoughtsTokenCount: 2, totalTokenCount: 10 }
        })
      })
      assert.deepStrictEqual(counts((yield* client.generate(target, hello)).usage), [7, 3, 10])
      const usages = (body: string) =>
        Effect.gen(function*() {
          server.enqueue({ status: 200, headers: { "content-type": "text/event-stream" }, body })
          const parts = yield* Stream.runCollect(Stream.unwrapScoped(client.stream(target, hello)))
          return [...parts].flatMap((part) => part._tag === "Usage" ? [counts(part.usage)] : [])
        })
      const event = (json: unknown) => `data: ${JSON.stringify(json)}\r\n\r\n`
      // alone, a block without the prompt counts it as 0
      assert.deepStrictEqual(
        yield* usages(event({ candidates: [{ ...content("Hello."), finishReason: "STOP" }], usageMetadata: noPrompt })),
        [[0, 5, 5]]
      )
      // after a block that counted it (7, 4 of them cached), the prompt stays counted
      const cachedOf = (usage: unknown) => (usage as { cachedInputTokens?: number }).cachedInputTokens
      server.enqueue({
        status: 200,
        headers: { "content-type": "text/event-stream" },
        body: event({
          candidates: [content("Hel")],
          usageMetadata: {
            promptTokenCount: 7,
            cachedContentTokenCount: 4,
            candidatesTokenCount: 1,
            totalTokenCount: 8
          }
        }) +
          event({
            candidates: [{ ...content("lo."), finishReason: "STOP" }],
            usageMetadata: { candidatesTokenCount: 90 }
          })
      })
      const parts = [...yield* Stream.runCollect(Stream.unwrapScoped(client.stream(target, hello)))]
      const last = parts.filter((part) => part._tag === "Usage").at(-1)
      assert.deepStrictEqual(last?._tag === "Usage" ? [counts(last.usage), cachedOf(last.usage)] : [], [[7, 90, 97], 4])
      // a prompt an earlier block's total said is kept too
      assert.deepStrictEqual(
        (yield* usages(
          event({ candidates: [content("Hel")], usageMetadata: { candidatesTokenCount: 1, totalTokenCount: 8 } }) +
            event({
              candidates: [{ ...content("lo."), finishReason: "STOP" }],
              usageMetadata: { candidatesTokenCount: 5 }
            })
        )).at(-1),
        [7, 5, 12]
      )
      // but a block's own total says its prompt first
      assert.deepStrictEqual(
        (yield* usages(
          event({ candidates: [content("Hel")], usageMetadata: { candidatesTokenCount: 1, totalTokenCount: 8 } }) +
            event({
              candidates: [{ ...content("lo."), finishReason: "STOP" }],
              usageMetadata: { candidatesTokenCount: 5, totalTokenCount: 20 }
            })
        )).at(-1),
        [15, 5, 20]
      )
      // keeping the earlier block's cached count, and never below its prompt (a total of the output only)
      for (
        const [total, expected] of [[1010, [[1000, 10, 1010], 900]], [10, [[1000, 10, 10], 900]]] as Array<
          [number, unknown]
        >
      ) {
        server.enqueue({
          status: 200,
          headers: { "content-type": "text/event-stream" },
          body: event({
            candidates: [content("Hel")],
            usageMetadata: { promptTokenCount: 1000, cachedContentTokenCount: 900, totalTokenCount: 1000 }
          }) +
            event({
              candidates: [{ ...content("lo."), finishReason: "STOP" }],
              usageMetadata: { candidatesTokenCount: 10, totalTokenCount: total }
            })
        })
        const streamed = [...yield* Stream.runCollect(Stream.unwrapScoped(client.stream(target, hello)))]
        const final = streamed.filter((part) => part._tag === "Usage").at(-1)
        assert.deepStrictEqual<unknown>(
          final?._tag === "Usage" ? [counts(final.usage), cachedOf(final.usage)] : [],
          expected
        )
      }
    }))

  it.scoped("a 200 body that is not JSON is a bad_response", () =>
    Effect.gen(function*() {
      const { client, server, target } = yield* setup
      server.enqueue({ status: 200, headers: { "content-type": "text/html" }, body: "<html>proxy login</html>" })
      const error = yield* Effect.flip(client.generate(target, hello))
      assert.strictEqual(error._tag, "FatalError")
      assert.strictEqual((error as any).reason, "bad_response")
    }))

  it.scoped("a 200 JSON body of another shape is a bad_response", () =>
    Effect.gen(function*() {
      const { client, server, target } = yield* setup
      server.enqueue({ status: 200, body: JSON.stringify({ this: [{ is: { not: [{ a: "valid" }] }, response: {} }] }) })
      server.enqueue({ status: 200, body: "[1,2,3]" })
      server.enqueue({ status: 200, body: JSON.stringify({ candidates: "nope" }) })
      server.enqueue({ status: 200, body: JSON.stringify({ candidates: [{ content: { parts: [{ text: 42 }] } }] }) })
      for (let i = 0; i < 4; i++) {
        const error = yield* Effect.flip(client.generate(target, hello))
        assert.strictEqual(error._tag, "FatalError")
        assert.strictEqual((error as any).reason, "bad_response")
        assert.strictEqual((error as any).provider, "google")
      }
    }))

  it.scoped("another 2xx that is no response (a proxy's 204, a 203 page) is bad_response naming its own status", () =>
    Effect.gen(function*() {
      const { client, server, target } = yield* setup
      server.enqueue({ status: 204, body: "" })
      server.enqueue({ status: 203, body: JSON.stringify({ candidates: [{ content: { parts: [{ text: 42 }] } }] }) })
      for (const status of [204, 203]) {
        const error = yield* Effect.flip(client.generate(target, hello))
        assert.strictEqual((error as any).reason, "bad_response")
        assert.strictEqual((error as any).status, status)
      }
    }))

  it.scoped("a 200 body holding a google.rpc error is that error", () =>
    Effect.gen(function*() {
      const { client, server, target } = yield* setup
      server.enqueue({
        status: 200,
        body: JSON.stringify({ error: { code: 503, message: "The model is overloaded.", status: "UNAVAILABLE" } })
      })
      const error = yield* Effect.flip(client.generate(target, hello))
      assert.strictEqual(error._tag, "RetryableError")
      assert.strictEqual((error as any).status, 503)
    }))

  it.scoped("HTTP errors are classified from their body and carry the entry's name", () =>
    Effect.gen(function*() {
      const { client, server, target } = yield* setup
      server.enqueue(
        Loopback.replay(googleai + "unary-failure-api-key.json", {
          status: 400,
          headers: { "content-type": "application/json" }
        })
      )
      const error = yield* Effect.flip(client.generate({ ...target, provider: "gemini-eu" }, hello))
      assert.strictEqual(error._tag, "FatalError")
      assert.strictEqual((error as any).reason, "authentication")
      assert.strictEqual((error as any).status, 400)
      assert.strictEqual((error as any).provider, "gemini-eu")
      assert.strictEqual((error as any).endpoint, "google-test")
      assert.include(error.message, "GEMINI_EU_API_KEY")
      assert.notInclude(error.message, apiKey)
    }))

  it.scoped("a 429 takes Retry-After from the response headers when the body has no RetryInfo", () =>
    Effect.gen(function*() {
      const { client, server, target } = yield* setup
      server.enqueue(
        Loopback.replay(vertexai + "unary-failure-quota-exceeded.json", {
          status: 429,
          headers: { "retry-after": "7" }
        })
      )
      const error = yield* Effect.flip(client.generate(target, hello))
      assert.strictEqual(error._tag, "RateLimitError")
      assert.strictEqual(millis((error as any).retryAfter), 7000)
    }))

  it.scoped("connection refused is a RetryableError connection", () =>
    Effect.gen(function*() {
      const client = yield* Gemini.make
      const closed = yield* Effect.promise(() => Loopback.start())
      const target = targetOf(closed)
      yield* Effect.promise(() => closed.close())
      const error = yield* Effect.flip(client.generate(target, hello))
      assert.strictEqual(error._tag, "RetryableError")
      assert.strictEqual((error as any).reason, "connection")
      assert.notInclude(error.message, apiKey)
      const streamError = yield* Effect.flip(Effect.scoped(client.stream(target, hello)))
      assert.strictEqual((streamError as any).reason, "connection")
    }))

  it.scoped("a unary body cut mid-way is a RetryableError", () =>
    Effect.gen(function*() {
      const { client, server, target } = yield* setup
      server.enqueue({ status: 200, body: ["{\"candidates\": [{\"content\": ", { delayMs: 20 }], end: "destroy" })
      const error = yield* Effect.flip(client.generate(target, hello))
      assert.strictEqual(error._tag, "RetryableError")
    }))
})
