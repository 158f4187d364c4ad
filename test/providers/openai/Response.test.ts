import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Decode from "../../../src/providers/openai/Response.js"
import { context, expectError, fixtureText, hello, json, targetOf, vao, withServer } from "./Harness.js"

const decode = (body: string, headers: Record<string, string> = {}) => Decode.decode(body, 200, headers, context)

const answer = (body: string, headers: Record<string, string> = {}) => {
  const decoded = decode(body, headers)
  if (Either.isLeft(decoded)) throw new Error(decoded.left.message)
  return decoded.right
}

const failure = (body: string) => {
  const decoded = decode(body)
  if (Either.isRight(decoded)) throw new Error("expected a failure")
  return decoded.left
}

describe("openai unary answers: which choice is the answer", () => {
  const completion = (choices: ReadonlyArray<object>) =>
    JSON.stringify({
      id: "c",
      object: "chat.completion",
      model: "m",
      choices,
      usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 }
    })
  const choice = (index: unknown, content: string) => ({
    index,
    message: { role: "assistant", content },
    finish_reason: "stop"
  })

  it("index 0 whatever its place; a quoted \"0\" too; a lone choice numbered otherwise is still the answer", () => {
    assert.strictEqual(answer(completion([choice(1, "second"), choice(0, "first")])).content, "first")
    assert.strictEqual(answer(completion([choice("0", "quoted")])).content, "quoted")
    assert.strictEqual(answer(completion([choice(1, "only")])).content, "only")
  })
})

describe("openai unary answers (recorded)", () => {
  it.scoped("OpenAI (gpt-4.1-nano) over HTTP, byte for byte and in tiny reads: content, usage details, finish, ids", () =>
    withServer((server, client) =>
      Effect.gen(function*() {
        const body = fixtureText(vao + "openai/openai-text.json")
        server.enqueue(
          { headers: { ...json, "x-request-id": "req_abc" }, body },
          { headers: json, body: [body.slice(0, 1), body.slice(1, 8), body.slice(8)] }
        )
        const first = yield* client.generate(targetOf(server), hello)
        const second = yield* client.generate(targetOf(server), hello)
        assert.isTrue(first.content.startsWith("**Holiday Name:**"))
        assert.isUndefined(first.reasoning)
        assert.deepStrictEqual(first.usage, {
          inputTokens: 16,
          outputTokens: 363,
          totalTokens: 379,
          cachedInputTokens: 0,
          reasoningTokens: 0
        })
        assert.strictEqual(first.finishReason, "stop")
        assert.strictEqual(first.requestId, "req_abc")
        assert.strictEqual(first.modelVersion, "gpt-4.1-nano-2025-04-14")
        assert.strictEqual(second.requestId, "chatcmpl-D8Z5f52zQqikDBEKQMQoYcWMcWPeU")
        assert.deepStrictEqual({ ...second, requestId: "req_abc" }, first)
      })
    ))

  it("DeepSeek: finish length, a bare UUID id, prompt_cache_hit_tokens beside cached_tokens", () => {
    const result = answer(fixtureText(vao + "deepseek/deepseek-text.json"))
    assert.strictEqual(result.finishReason, "length")
    assert.strictEqual(result.requestId, "00f10ecd-60b3-4707-b5db-e4bcadf7aea1")
    assert.deepStrictEqual(result.usage, { inputTokens: 13, outputTokens: 300, totalTokens: 313, cachedInputTokens: 0 })
  })

  it("DeepSeek reasoner: reasoning_content apart from the content; reasoning tokens inside the output", () => {
    const result = answer(fixtureText(vao + "deepseek/deepseek-reasoning.json"))
    assert.strictEqual(
      result.content,
      "The word \"strawberry\" contains three instances of the letter \"r\": one after the \"t\" and two before the \"y\"."
    )
    assert.isTrue(result.reasoning!.startsWith("We are asked: \"How many 'r's"))
    assert.notInclude(result.content, "We are asked")
    assert.strictEqual(result.usage!.outputTokens, 345)
    assert.strictEqual(result.usage!.reasoningTokens, 315)
  })

  it("Mistral's Magistral: content as thinking and text chunks, the thinking as reasoning, never in the content", () => {
    const content = [
      {
        type: "thinking",
        thinking: [{ type: "text", text: "The user greets me; " }, { type: "text", text: "greet back." }]
      },
      { type: "text", text: "Hello! How can I help?" }
    ]
    const result = answer(JSON.stringify({
      id: "m1",
      object: "chat.completion",
      model: "magistral-medium-2509",
      choices: [{ index: 0, message: { role: "assistant", content }, finish_reason: "stop" }],
      usage: { prompt_tokens: 10, completion_tokens: 20, total_tokens: 30 }
    }))
    assert.strictEqual(result.content, "Hello! How can I help?")
    assert.strictEqual(result.reasoning, "The user greets me; greet back.")
  })

  it("DashScope compatible mode (qwen3-max): system_fingerprint null, cached_tokens inside the input", () => {
    const result = answer(fixtureText("vercel-ai/alibaba/alibaba-text.json"))
    assert.isTrue(result.content.startsWith("## The Festival of Forgotten Things"), result.content.slice(0, 40))
    assert.strictEqual(result.content.length, 4892)
    assert.deepStrictEqual(result.usage, {
      inputTokens: 18,
      outputTokens: 1064,
      totalTokens: 1082,
      cachedInputTokens: 0
    })
    assert.strictEqual(result.finishReason, "stop")
    assert.strictEqual(result.requestId, "chatcmpl-2655c1fe-749c-96df-b204-e413daa7caee")
    assert.strictEqual(result.modelVersion, "qwen3-max")
  })

  it("Groq: timing fields and x_groq ignored; the three totals", () => {
    const result = answer(fixtureText(vao + "groq/groq-text.json"))
    assert.deepStrictEqual(result.usage, { inputTokens: 45, outputTokens: 607, totalTokens: 652 })
    assert.strictEqual(result.modelVersion, "llama-3.3-70b-versatile")
    assert.strictEqual(result.finishReason, "stop")
  })
})

describe("openai unary answers streamed by a proxy", () => {
  it.scoped("SSE events answering a unary request, a comment or an id line first: the events are the answer", () =>
    withServer((server, client) =>
      Effect.gen(function*() {
        const chunk = (delta: Record<string, unknown>, finish: string | null, usage?: Record<string, number>) =>
          `data: ${
            JSON.stringify({
              id: "gen-1",
              object: "chat.completion.chunk",
              model: "gpt-4o",
              choices: [{ index: 0, delta, finish_reason: finish }],
              ...(usage === undefined ? {} : { usage })
            })
          }\n\n`
        const events = chunk({ role: "assistant", content: "Hel" }, null) +
          chunk({ content: "lo" }, "stop", { prompt_tokens: 5, completion_tokens: 2, total_tokens: 7 }) +
          "data: [DONE]\n\n"
        const sse = { "content-type": "text/event-stream" }
        server.enqueue(
          { headers: sse, body: `: OPENROUTER PROCESSING\n\n${events}` },
          { headers: sse, body: events.replace(/^data:/gm, "id: 1\ndata:") }
        )
        for (const _ of [1, 2]) {
          const answer = yield* client.generate(targetOf(server), hello)
          assert.strictEqual(answer.content, "Hello")
          assert.deepStrictEqual([answer.usage?.inputTokens, answer.usage?.outputTokens], [5, 2])
          assert.strictEqual(answer.finishReason, "stop")
        }
      })
    ))
})

describe("openai unary answers (documented shapes)", () => {
  const completion = (message: Record<string, unknown>, extra: Record<string, unknown> = {}) =>
    JSON.stringify({ id: "x", choices: [{ index: 0, message, finish_reason: "stop" }], ...extra })

  it("`reasoning` (Groq, Ollama, OpenRouter) is reasoning too; reasoning_content wins when a server sends both", () => {
    assert.strictEqual(answer(completion({ content: "4", reasoning: "2+2" })).reasoning, "2+2")
    const both = answer(completion({ content: "4", reasoning_content: "rc", reasoning: "r" }))
    assert.strictEqual(both.reasoning, "rc")
    assert.strictEqual(both.content, "4")
  })

  it("usage absent (a server that reports none) is undefined, not zero; an empty usage object too", () => {
    assert.isUndefined(answer(completion({ content: "hi" })).usage)
    assert.isUndefined(answer(completion({ content: "hi" }, { usage: null })).usage)
    assert.isUndefined(answer(completion({ content: "hi" }, { usage: {} })).usage)
    // Ollama: the three totals only.
    assert.deepStrictEqual(
      answer(completion({ content: "hi" }, { usage: { prompt_tokens: 3, completion_tokens: 1, total_tokens: 4 } }))
        .usage,
      { inputTokens: 3, outputTokens: 1, totalTokens: 4 }
    )
  })

  it("reasoning left out of completion_tokens (xAI; gateways translating Gemini) is output all the same, as the total says", () => {
    const usageOf = (usage: Record<string, unknown>) => ({ ...answer(completion({ content: "hi" }, { usage })).usage })
    const details = (reasoning: number) => ({ completion_tokens_details: { reasoning_tokens: reasoning } })
    // xAI's grok-3-mini: 9 + 94 reasoning = 103 beyond the 32 of the prompt
    assert.deepStrictEqual(
      usageOf({ prompt_tokens: 32, completion_tokens: 9, total_tokens: 135, ...details(94) }),
      { inputTokens: 32, outputTokens: 103, totalTokens: 135, reasoningTokens: 94 }
    )
    // CLIProxyAPI #5733: completion 0, reasoning 60
    assert.deepStrictEqual(
      usageOf({ prompt_tokens: 21, completion_tokens: 0, total_tokens: 81, ...details(60) }),
      { inputTokens: 21, outputTokens: 60, totalTokens: 81, reasoningTokens: 60 }
    )
    // no total: reasoning clearly above the completion cannot be inside it; a tenth above it is a miscount
    assert.strictEqual(usageOf({ prompt_tokens: 5, completion_tokens: 9, ...details(94) }).outputTokens, 103)
    assert.strictEqual(usageOf({ prompt_tokens: 5, completion_tokens: 0, ...details(60) }).outputTokens, 60)
    assert.strictEqual(usageOf({ prompt_tokens: 5, completion_tokens: 10, ...details(11) }).outputTokens, 10)
    assert.strictEqual(usageOf({ prompt_tokens: 5, completion_tokens: 1000, ...details(1001) }).outputTokens, 1000)
    // reasoning inside completion (OpenAI, DeepSeek): unchanged; a total above the sum never counts more than both
    assert.strictEqual(
      usageOf({ prompt_tokens: 5, completion_tokens: 100, total_tokens: 105, ...details(60) }).outputTokens,
      100
    )
    assert.strictEqual(
      usageOf({ prompt_tokens: 5, completion_tokens: 10, total_tokens: 500, ...details(20) }).outputTokens,
      30
    )
    // Perplexity's deep research (its docs' example): citations are input, reasoning output, both beside the total
    assert.deepStrictEqual(
      usageOf({
        prompt_tokens: 19,
        completion_tokens: 498,
        total_tokens: 517,
        citation_tokens: 10175,
        num_search_queries: 48,
        reasoning_tokens: 95305
      }),
      { inputTokens: 10194, outputTokens: 95803, totalTokens: 105997, reasoningTokens: 95305 }
    )
    // sonar-pro reports citation tokens it does not bill (its model card's sample)
    assert.deepStrictEqual(
      usageOf({ prompt_tokens: 11, completion_tokens: 401, total_tokens: 412, citation_tokens: 5149 }),
      { inputTokens: 11, outputTokens: 401, totalTokens: 412 }
    )
    // OpenRouter's 11 reasoning tokens in 10 output, the total agreeing with 10: 10 (reasoning cut to it)
    assert.strictEqual(
      usageOf({ prompt_tokens: 5, completion_tokens: 10, total_tokens: 15, ...details(11) }).outputTokens,
      10
    )
  })

  it("cached_tokens (or DeepSeek's prompt_cache_hit_tokens) become cachedInputTokens, inside inputTokens", () => {
    const usage = { prompt_tokens: 1000, completion_tokens: 10, prompt_tokens_details: { cached_tokens: 800 } }
    assert.deepStrictEqual(answer(completion({ content: "hi" }, { usage })).usage, {
      inputTokens: 1000,
      outputTokens: 10,
      totalTokens: 1010,
      cachedInputTokens: 800
    })
    const deepseek = { prompt_tokens: 100, completion_tokens: 5, total_tokens: 105, prompt_cache_hit_tokens: 64 }
    assert.strictEqual(answer(completion({ content: "hi" }, { usage: deepseek })).usage!.cachedInputTokens, 64)
    // Alibaba's compatible mode reports an explicit cache's writes as cache_creation_input_tokens
    const alibaba = {
      prompt_tokens: 5000,
      completion_tokens: 20,
      prompt_tokens_details: { cached_tokens: 0, cache_creation_input_tokens: 4800 }
    }
    assert.strictEqual(answer(completion({ content: "hi" }, { usage: alibaba })).usage!.cacheWriteTokens, 4800)
    // Moonshot's context cache: a top-level cached_tokens
    const moonshot = { prompt_tokens: 19, completion_tokens: 13, total_tokens: 32, cached_tokens: 16 }
    assert.strictEqual(answer(completion({ content: "hi" }, { usage: moonshot })).usage!.cachedInputTokens, 16)
  })

  it("Perplexity's answer carries an empty `delta` beside its `message`: the message is the answer", () => {
    const perplexity = JSON.stringify({
      id: "p1",
      model: "sonar",
      object: "chat.completion",
      citations: ["https://example.com"],
      choices: [{
        index: 0,
        finish_reason: "stop",
        message: { role: "assistant", content: "Hi there" },
        delta: { role: "assistant", content: "" }
      }],
      usage: { prompt_tokens: 5, completion_tokens: 3, total_tokens: 8 }
    })
    assert.strictEqual(answer(perplexity).content, "Hi there")
  })

  it("finish reasons: stop, length, content_filter → filter, tool_calls and unknown → other; none → other", () => {
    const withFinish = (finish: string | null) =>
      answer(JSON.stringify({ choices: [{ message: { content: "x" }, finish_reason: finish }] })).finishReason
    assert.strictEqual(withFinish("stop"), "stop")
    assert.strictEqual(withFinish("length"), "length")
    assert.strictEqual(withFinish("content_filter"), "filter")
    // Zhipu's moderation
    assert.strictEqual(withFinish("sensitive"), "filter")
    assert.strictEqual(withFinish("tool_calls"), "other")
    assert.strictEqual(withFinish("insufficient_system_resource"), "other")
    assert.strictEqual(withFinish(null), "other")
  })

  it("content null (a refusal, tool calls) is empty content", () => {
    assert.strictEqual(answer(completion({ content: null, refusal: "I can't help with that." })).content, "")
  })

  it("leading blank lines (DeepSeek's keep-alive while queued) are skipped", () => {
    assert.strictEqual(answer(`\n\n\n${completion({ content: "late" })}`).content, "late")
  })

  it("a 200 that is not a completion is bad_response; one carrying an error is classified", () => {
    for (
      const body of [
        "<html>busy</html>",
        "",
        "[]",
        JSON.stringify({ status: "ok" }),
        JSON.stringify({ choices: "none" }),
        JSON.stringify({ choices: [{ message: { content: 7 } }] }),
        JSON.stringify({ choices: [], usage: { prompt_tokens: "3" } })
      ]
    ) {
      expectError(failure(body), "FatalError", "bad_response", 200)
    }
    // a field of the wrong type is named with its value, before the 200-character cut
    const wrongTypes = [
      [{ choices: [{ message: { content: 7 } }] }, "choices.0.message.content: got 7, expected string"],
      [{ choices: [], usage: { completion_tokens: "7" } }, "usage.completion_tokens: got \"7\", expected number"],
      [
        { id: "x", choices: [{ message: { content: "a", tool_calls: "none" } }] },
        "choices.0.message.tool_calls: got \"none\", expected ReadonlyArray<"
      ]
    ] as const
    for (const [body, said] of wrongTypes) assert.include(failure(JSON.stringify(body)).message, said)
    expectError(failure(JSON.stringify({ error: "model is loading" })), "RetryableError", "server_error")
    expectError(
      failure(JSON.stringify({ error: { message: "quota", type: "insufficient_quota" } })),
      "RateLimitError",
      "quota_exhausted"
    )
  })
})

describe("openai unary answers: an error body inside a 200", () => {
  it("is classified by its error type, and its message reads 'with an error body: <type>: <message>'", () => {
    const error = failure(JSON.stringify({ error: { message: "The server had an error", type: "server_error" } }))
    assert.strictEqual(error._tag, "RetryableError")
    assert.include(error.message, "answered HTTP 200 with an error body: server_error: The server had an error")
  })
})
