import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { afterAll, beforeAll, beforeEach } from "vitest"
import { parseAll } from "../../src/providers/http/Sse.js"
import * as Simulator from "../../src/simulator/Simulator.js"

let sim: Simulator.Simulator

beforeAll(async () => {
  sim = await Simulator.start({ keys: { google: "g-key", dashscope: ["d-key", "d-key-2"] } })
})
afterAll(() => sim.close())
beforeEach(() => sim.reset())

const geminiPath = (model: string, stream: boolean) =>
  `/v1beta/models/${model}:${stream ? "streamGenerateContent?alt=sse" : "generateContent"}`
const dashscopePath = "/api/v1/services/aigc/text-generation/generation"

const gemini = (
  endpoint: string,
  prompt: string,
  options: { stream?: boolean; headers?: Record<string, string>; generationConfig?: object; signal?: AbortSignal } = {}
) =>
  fetch(sim.baseUrl(endpoint) + geminiPath("gemini-2.5-flash", options.stream ?? false), {
    method: "POST",
    headers: { "content-type": "application/json", "x-goog-api-key": "g-key", ...options.headers },
    body: JSON.stringify({
      contents: [{ role: "user", parts: [{ text: prompt }] }],
      ...(options.generationConfig ? { generationConfig: options.generationConfig } : {})
    }),
    ...(options.signal ? { signal: options.signal } : {})
  })

const qwen = (
  endpoint: string,
  prompt: string,
  options: { stream?: boolean; headers?: Record<string, string>; parameters?: object; body?: object } = {}
) =>
  fetch(sim.baseUrl(endpoint) + dashscopePath, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      authorization: "Bearer d-key",
      ...(options.stream ? { "x-dashscope-sse": "enable", accept: "text/event-stream" } : {}),
      ...options.headers
    },
    body: JSON.stringify(
      options.body ?? {
        model: "qwen-plus",
        input: { messages: [{ role: "system", content: "be brief" }, { role: "user", content: prompt }] },
        parameters: { result_format: "message", incremental_output: true, ...options.parameters }
      }
    )
  })

/** A response body as loosely typed JSON (the tests check its shape field by field). */

const json = async (response: Response | Promise<Response>): Promise<any> => (await response).json()

/** Splits a Gemini SSE body on its CRLF framing and decodes each event's JSON. */
const geminiEvents = (body: string) => {
  const parts = body.split("\r\n\r\n")
  assert.strictEqual(parts.pop(), "", "the body ends with a complete \\r\\n\\r\\n-terminated event")
  return parts.map((part) => {
    assert.isTrue(part.startsWith("data: "), `event is one data line: ${part.slice(0, 40)}`)
    assert.notInclude(part, "\n")
    return JSON.parse(part.slice(6))
  })
}

/** Reads a body until the server ends or breaks it; returns the text and whether it broke. */
const readAll = async (response: Response): Promise<{ text: string; broken: boolean }> => {
  const reader = response.body!.getReader()
  const decoder = new TextDecoder()
  let text = ""
  try {
    for (;;) {
      const { done, value } = await reader.read()
      if (done) return { text, broken: false }
      text += decoder.decode(value, { stream: true })
    }
  } catch {
    return { text, broken: true }
  }
}

describe("Gemini wire format", () => {
  it("answers generateContent with a GenerateContentResponse", async () => {
    const response = await gemini("google", "why is the sky blue?")
    assert.strictEqual(response.status, 200)
    assert.include(response.headers.get("content-type")!, "application/json")
    const body = await json(response)
    const candidate = body.candidates[0]
    assert.strictEqual(candidate.content.role, "model")
    assert.isTrue(candidate.content.parts[0].text.startsWith("Echo: why is the sky blue? "))
    assert.strictEqual(candidate.finishReason, "STOP")
    const usage = body.usageMetadata
    assert.strictEqual(usage.candidatesTokenCount, Math.ceil(candidate.content.parts[0].text.length / 4))
    assert.strictEqual(usage.totalTokenCount, usage.promptTokenCount + usage.candidatesTokenCount)
    assert.strictEqual(body.modelVersion, "gemini-2.5-flash")
    assert.isString(body.responseId)
  })

  it("answers deterministically from the prompt", async () => {
    const a = await json(gemini("google", "same prompt"))
    const b = await json(gemini("google", "same prompt"))
    assert.strictEqual(a.candidates[0].content.parts[0].text, b.candidates[0].content.parts[0].text)
    assert.notStrictEqual(a.responseId, b.responseId)
  })

  it("streams data: events framed by CRLF CRLF with cumulative usage and a final finishReason", async () => {
    const unary = await json(gemini("google", "stream me [[sim tokens=40]]"))
    const response = await gemini("google", "stream me [[sim tokens=40]]", { stream: true })
    assert.strictEqual(response.status, 200)
    assert.strictEqual(response.headers.get("content-type"), "text/event-stream")
    const events = geminiEvents(await response.text())
    assert.isAbove(events.length, 2)
    let previous = 0
    for (const [index, event] of events.entries()) {
      const usage = event.usageMetadata
      assert.isAtLeast(usage.candidatesTokenCount, previous)
      previous = usage.candidatesTokenCount
      assert.strictEqual(usage.totalTokenCount, usage.promptTokenCount + usage.candidatesTokenCount)
      assert.strictEqual(event.modelVersion, "gemini-2.5-flash")
      assert.strictEqual(event.responseId, events[0].responseId)
      assert.strictEqual(event.candidates[0].finishReason, index === events.length - 1 ? "STOP" : undefined)
    }
    const text = events.map((e) => e.candidates[0].content.parts[0].text).join("")
    assert.strictEqual(text, unary.candidates[0].content.parts[0].text)
    assert.strictEqual(previous, unary.usageMetadata.candidatesTokenCount)
  })

  it("is readable by the project's SSE parser", async () => {
    const body = await (await gemini("google", "parse me", { stream: true })).text()
    const events = parseAll(body)
    assert.isAbove(events.length, 1)
    assert.isTrue(events.every((e) => e.data !== undefined && e.raw.length === 0))
  })

  it("caps the answer at maxOutputTokens with MAX_TOKENS and cuts at a stop sequence", async () => {
    const capped = await json(
      gemini("google", "long [[sim tokens=500]]", { generationConfig: { maxOutputTokens: 10 } })
    )
    assert.strictEqual(capped.candidates[0].finishReason, "MAX_TOKENS")
    assert.strictEqual(capped.usageMetadata.candidatesTokenCount, 10)
    const stopped = await json(gemini("google", "hi", { generationConfig: { stopSequences: ["."] } }))
    assert.strictEqual(stopped.candidates[0].content.parts[0].text, "Echo: hi")
    assert.strictEqual(stopped.candidates[0].finishReason, "STOP")
  })

  it("rejects a wrong key with 400 API_KEY_INVALID, a missing key with 403, an OAuth header with 401", async () => {
    const wrong = await gemini("google", "hi", { headers: { "x-goog-api-key": "nope" } })
    assert.strictEqual(wrong.status, 400)
    const body = await json(wrong)
    assert.strictEqual(body.error.status, "INVALID_ARGUMENT")
    assert.strictEqual(body.error.details[0].reason, "API_KEY_INVALID")
    assert.notInclude(JSON.stringify(body), "nope")
    const missing = await gemini("google", "hi", { headers: { "x-goog-api-key": "" } })
    assert.strictEqual(missing.status, 403)
    assert.strictEqual((await json(missing)).error.status, "PERMISSION_DENIED")
    const oauth = await gemini("google", "hi", { headers: { authorization: "Bearer g-key" } })
    assert.strictEqual(oauth.status, 401)
    assert.strictEqual((await json(oauth)).error.status, "UNAUTHENTICATED")
  })

  it("accepts the key as a ?key= query parameter and keeps it out of the log", async () => {
    const response = await fetch(`${sim.url}${geminiPath("gemini-2.5-flash", false)}?key=g-key`, {
      method: "POST",
      body: JSON.stringify({ contents: [{ parts: [{ text: "hi" }] }] })
    })
    assert.strictEqual(response.status, 200)
    assert.notInclude(JSON.stringify(sim.log()), "g-key")
  })

  it("log() keeps the newest maxLog requests", async () => {
    const small = await Simulator.start({ maxLog: 3 })
    try {
      for (let i = 0; i < 8; i++) {
        const response = await fetch(small.baseUrl("g") + geminiPath("gemini-2.5-flash", false), {
          method: "POST",
          headers: { "x-goog-api-key": small.keys.google },
          body: JSON.stringify({ contents: [{ parts: [{ text: `n${i}` }] }] })
        })
        assert.strictEqual(response.status, 200)
      }
      assert.strictEqual(small.log().length, 3)
      assert.strictEqual(small.log("g").length, 3)
    } finally {
      await small.close()
    }
  })

  it("rejects a body with a role other than user/model", async () => {
    const response = await fetch(sim.url + geminiPath("gemini-2.5-flash", false), {
      method: "POST",
      headers: { "x-goog-api-key": "g-key" },
      body: JSON.stringify({ contents: [{ role: "assistant", parts: [{ text: "hi" }] }] })
    })
    assert.strictEqual(response.status, 400)
    assert.strictEqual((await json(response)).error.status, "INVALID_ARGUMENT")
  })

  it("answers an unknown model with 404 NOT_FOUND when models are listed", async () => {
    const strict = await Simulator.start({ models: ["gemini-2.5-flash"] })
    try {
      const response = await fetch(strict.url + geminiPath("gemini-9", false), {
        method: "POST",
        headers: { "x-goog-api-key": strict.keys.google },
        body: JSON.stringify({ contents: [{ parts: [{ text: "hi" }] }] })
      })
      assert.strictEqual(response.status, 404)
      const body = await json(response)
      assert.strictEqual(body.error.status, "NOT_FOUND")
      assert.include(body.error.message, "models/gemini-9 is not found")
    } finally {
      await strict.close()
    }
  })

  it("blocks a prompt with promptFeedback and no candidates", async () => {
    sim.script("google", { promptBlocked: "PROHIBITED_CONTENT" })
    const body = await json(gemini("google", "hi"))
    assert.strictEqual(body.promptFeedback.blockReason, "PROHIBITED_CONTENT")
    assert.isUndefined(body.candidates)
  })
})

describe("DashScope wire format", () => {
  it("answers in the message result format with usage and request_id", async () => {
    const response = await qwen("dashscope", "1+1?")
    assert.strictEqual(response.status, 200)
    const body = await json(response)
    assert.strictEqual(body.output.choices[0].finish_reason, "stop")
    assert.strictEqual(body.output.choices[0].message.role, "assistant")
    assert.isTrue(body.output.choices[0].message.content.startsWith("Echo: 1+1? "))
    assert.strictEqual(body.usage.total_tokens, body.usage.input_tokens + body.usage.output_tokens)
    assert.strictEqual(body.usage.input_tokens, Math.ceil("be brief1+1?".length / 4))
    assert.strictEqual(response.headers.get("x-request-id"), body.request_id)
  })

  it("answers in the legacy text format when result_format is not message", async () => {
    const body = await json(qwen("dashscope", "hi", { parameters: { result_format: "text" } }))
    assert.strictEqual(body.output.finish_reason, "stop")
    assert.isString(body.output.text)
  })

  it("streams id/event:result/:HTTP_STATUS/200/data frames, finish_reason \"null\" until the last", async () => {
    const response = await qwen("dashscope", "count [[sim tokens=30 chars=20]]", {
      stream: true,
      parameters: { max_tokens: 100 }
    })
    assert.strictEqual(response.status, 200)
    assert.strictEqual(response.headers.get("content-type"), "text/event-stream;charset=UTF-8")
    const text = await response.text()
    const frames = text.split("\n\n")
    assert.strictEqual(frames.pop(), "")
    let previous = 0
    let content = ""
    for (const [index, frame] of frames.entries()) {
      const lines = frame.split("\n")
      assert.deepStrictEqual(lines.slice(0, 3), [`id:${index + 1}`, "event:result", ":HTTP_STATUS/200"])
      assert.isTrue(lines[3]!.startsWith("data:{"))
      const data = JSON.parse(lines[3]!.slice(5))
      const last = index === frames.length - 1
      assert.strictEqual(data.output.choices[0].finish_reason, last ? "stop" : "null")
      if (last) assert.strictEqual(data.output.choices[0].message.content, "")
      content += data.output.choices[0].message.content
      assert.isAtLeast(data.usage.output_tokens, previous)
      previous = data.usage.output_tokens
      assert.strictEqual(data.request_id, response.headers.get("x-request-id"))
    }
    assert.strictEqual(content.length, 120)
    assert.strictEqual(previous, 30)
    const parsed = parseAll(text)
    assert.deepStrictEqual(parsed.map((e) => e.event), frames.map(() => "result"))
    assert.deepStrictEqual(parsed[0]!.comments, ["HTTP_STATUS/200"])
  })

  it("sends the whole text so far in each event when incremental_output is false", async () => {
    const text = await (await qwen("dashscope", "hi [[sim tokens=20 chars=20]]", {
      stream: true,
      parameters: { incremental_output: false }
    })).text()
    const contents = parseAll(text).map((e) => JSON.parse(e.data!).output.choices[0].message.content as string)
    for (let i = 1; i < contents.length; i++) assert.isTrue(contents[i]!.startsWith(contents[i - 1]!))
    assert.strictEqual(contents.at(-1)!.length, 80)
  })

  it("reports finish_reason length when max_tokens cuts the answer", async () => {
    const body = await json(qwen("dashscope", "long [[sim tokens=200]]", { parameters: { max_tokens: 5 } }))
    assert.strictEqual(body.output.choices[0].finish_reason, "length")
    assert.strictEqual(body.usage.output_tokens, 5)
  })

  it("rejects a missing or wrong bearer key with 401 InvalidApiKey, accepts any configured key", async () => {
    for (const headers of [{ authorization: "Bearer nope" }, { authorization: "" }]) {
      const response = await qwen("dashscope", "hi", { headers })
      assert.strictEqual(response.status, 401)
      const body = await json(response)
      assert.deepStrictEqual(Object.keys(body), ["code", "message", "request_id"])
      assert.strictEqual(body.code, "InvalidApiKey")
      assert.strictEqual(body.message, "Invalid API-key provided.")
    }
    assert.strictEqual((await qwen("dashscope", "hi", { headers: { authorization: "Bearer d-key-2" } })).status, 200)
  })

  it("rejects messages outside input with 400 InvalidParameter", async () => {
    const response = await qwen("dashscope", "", {
      body: { model: "qwen-plus", messages: [{ role: "user", content: "hi" }] }
    })
    assert.strictEqual(response.status, 400)
    assert.strictEqual((await json(response)).code, "InvalidParameter")
  })
})

describe("fault scripts", () => {
  it("plays an endpoint's queue in order, then answers normally; other endpoints are unaffected", async () => {
    sim.script("google-a", { status: 503 }, { status: 500 })
    assert.strictEqual(sim.pending("google-a"), 2)
    assert.strictEqual((await gemini("google-b", "hi")).status, 200)
    const first = await gemini("google-a", "hi")
    assert.strictEqual(first.status, 503)
    assert.deepStrictEqual((await json(first)).error, {
      code: 503,
      message: "The model is overloaded. Please try again later.",
      status: "UNAVAILABLE"
    })
    assert.strictEqual((await gemini("google-a", "hi")).status, 500)
    assert.strictEqual((await gemini("google-a", "hi")).status, 200)
    assert.strictEqual(sim.requests("google-a"), 3)
    assert.strictEqual(sim.requests("google-b"), 1)
    assert.strictEqual(sim.requests(), 4)
    assert.deepStrictEqual(sim.counts(), { "google-a": 3, "google-b": 1 })
    assert.deepStrictEqual(sim.log("google-a").map((e) => e.status), [503, 500, 200])
  })

  it("keeps failing with a standing behaviour until it is cleared", async () => {
    sim.always("down", { status: 503 })
    for (let i = 0; i < 3; i++) assert.strictEqual((await qwen("down", "hi")).status, 503)
    sim.always("down", undefined)
    assert.strictEqual((await qwen("down", "hi")).status, 200)
  })

  it("sends Retry-After on a 429 when asked", async () => {
    sim.script("google", { status: 429, retryAfter: 1 })
    const response = await gemini("google", "hi")
    assert.strictEqual(response.status, 429)
    assert.strictEqual(response.headers.get("retry-after"), "1")
    assert.strictEqual((await json(response)).error.status, "RESOURCE_EXHAUSTED")
  })

  it("sends a Gemini 429 with RetryInfo and QuotaFailure, and no Retry-After header", async () => {
    sim.script("google", { status: 429, retryInfo: "2s" }, { status: 429, quota: "day" })
    const response = await gemini("google", "hi")
    assert.isNull(response.headers.get("retry-after"))
    const details = (await json(response)).error.details as Array<Record<string, unknown>>
    assert.deepStrictEqual(details.find((d) => String(d["@type"]).endsWith("RetryInfo")), {
      "@type": "type.googleapis.com/google.rpc.RetryInfo",
      retryDelay: "2s"
    })
    const daily = await json(gemini("google", "hi"))
    assert.include(JSON.stringify(daily), "PerDay")
  })

  it("sends DashScope throttling codes", async () => {
    sim.script("dashscope", { status: 429 }, { status: 429, quota: "day" }, { status: 500 })
    assert.strictEqual((await json(qwen("dashscope", "hi"))).code, "Throttling.RateQuota")
    const quota = await json(qwen("dashscope", "hi"))
    assert.strictEqual(quota.code, "Throttling.AllocationQuota")
    assert.strictEqual(quota.message, "Free allocated quota exceeded.")
    assert.strictEqual((await json(qwen("dashscope", "hi"))).code, "InternalError")
  })

  it("fails a Gemini stream request before the stream with an event-stream content type and a JSON body", async () => {
    sim.script("google", { status: 503 })
    const response = await gemini("google", "hi", { stream: true })
    assert.strictEqual(response.status, 503)
    assert.strictEqual(response.headers.get("content-type"), "text/event-stream")
    assert.strictEqual((await json(response)).error.code, 503)
  })

  it("delivers an in-stream error after N events (Gemini data: error, DashScope event:error)", async () => {
    sim.script("google", { status: 503, inStream: 2 })
    const response = await gemini("google", "hi [[sim events=5 chars=4]]", { stream: true })
    assert.strictEqual(response.status, 200)
    const events = geminiEvents(await response.text())
    assert.strictEqual(events.length, 3)
    assert.deepStrictEqual(events[2].error.status, "UNAVAILABLE")
    sim.script("dashscope", { status: 429, inStream: true, quota: "day" })
    const text = await (await qwen("dashscope", "hi", { stream: true })).text()
    const [event] = parseAll(text)
    assert.strictEqual(event!.event, "error")
    assert.deepStrictEqual(event!.comments, ["HTTP_STATUS/429"])
    assert.strictEqual(JSON.parse(event!.data!).code, "Throttling.AllocationQuota")
  })

  it("sends a DashScope error to a stream request as an SSE-framed event:error body", async () => {
    sim.script("dashscope", { status: 503 })
    const response = await qwen("dashscope", "hi", { stream: true })
    assert.strictEqual(response.status, 503)
    const [event] = parseAll(await response.text())
    assert.strictEqual(event!.event, "error")
    assert.strictEqual(JSON.parse(event!.data!).code, "ModelUnavailable")
  })

  it("cuts a stream mid-body after N events", async () => {
    sim.script("google", { cutAfter: 3, eventDelayMs: 5 })
    const response = await gemini("google", "hi [[sim events=10 chars=8]]", { stream: true })
    const { text, broken } = await readAll(response)
    assert.isTrue(broken)
    assert.strictEqual(geminiEvents(text).length, 3)
  })

  it("ends a stream cleanly without the finish signal", async () => {
    sim.script("dashscope", { endAfter: 2 })
    const { text, broken } = await readAll(await qwen("dashscope", "hi [[sim events=6 chars=8]]", { stream: true }))
    assert.isFalse(broken)
    const events = parseAll(text)
    assert.strictEqual(events.length, 2)
    assert.isTrue(events.every((e) => JSON.parse(e.data!).output.choices[0].finish_reason === "null"))
  })

  it("paces a stream of N events of M chars", async () => {
    sim.script("google", { events: 5, chars: 3, eventDelayMs: 30 })
    const started = Date.now()
    const events = geminiEvents(await (await gemini("google", "hi", { stream: true })).text())
    assert.isAtLeast(Date.now() - started, 140)
    assert.deepStrictEqual(events.map((e) => e.candidates[0].content.parts[0].text.length), [3, 3, 3, 3, 3])
  })

  it("hangs until the client gives up, and resets a connection", async () => {
    sim.script("google", { hang: true }, { reset: true })
    const hung = await gemini("google", "hi", { signal: AbortSignal.timeout(150) }).then(
      () => "answered",
      (e) => e.name
    )
    assert.strictEqual(hung, "TimeoutError")
    const reset = await gemini("google", "hi").then(() => "answered", () => "failed")
    assert.strictEqual(reset, "failed")
    assert.deepStrictEqual(sim.log("google").map((e) => e.status), [0, 0])
    assert.isTrue(sim.log("google")[0]!.step!.hang)
  })

  it("waits delayMs before answering", async () => {
    sim.script("google", { delayMs: 120 })
    const started = Date.now()
    assert.strictEqual((await gemini("google", "hi")).status, 200)
    assert.isAtLeast(Date.now() - started, 110)
  })

  it("reads faults from a [[sim …]] directive in the prompt", async () => {
    assert.strictEqual((await gemini("google", "please fail [[sim status=503]]")).status, 503)
    const body = await json(gemini("google", "[[sim text=fixed]]"))
    assert.strictEqual(body.candidates[0].content.parts[0].text, "fixed")
  })

  it("serves a 10,000-event stream of 8-character deltas", async () => {
    sim.script("bench", { events: 10_000, chars: 8 })
    const text = await (await gemini("bench", "bench", { stream: true })).text()
    const events = parseAll(text)
    assert.strictEqual(events.length, 10_000)
    assert.strictEqual(JSON.parse(events[9_999]!.data!).usageMetadata.candidatesTokenCount, 20_000)
  })
})

describe("lifecycle", () => {
  it.scoped("Simulator.make closes the server with its scope", () =>
    Effect.gen(function*() {
      const url = yield* Effect.scoped(
        Effect.gen(function*() {
          const scoped = yield* Simulator.make()
          const response = yield* Effect.promise(() =>
            fetch(scoped.baseUrl("x") + geminiPath("m", false), {
              method: "POST",
              headers: { "x-goog-api-key": scoped.keys.google },
              body: JSON.stringify({ contents: [{ parts: [{ text: "hi" }] }] })
            })
          )
          assert.strictEqual(response.status, 200)
          return scoped.url
        })
      )
      const after = yield* Effect.promise(() => fetch(url).then(() => "open", () => "closed"))
      assert.strictEqual(after, "closed")
    }))

  it("close() drops hung requests and is idempotent", async () => {
    const local = await Simulator.start()
    local.always("x", { hang: true })
    const pending = fetch(local.baseUrl("x") + geminiPath("m", false), {
      method: "POST",
      headers: { "x-goog-api-key": local.keys.google },
      body: JSON.stringify({ contents: [{ parts: [{ text: "hi" }] }] })
    }).then(() => "answered", () => "dropped")
    // Until the simulator has the request (it is hung from then on): each turn of the event loop lets
    // its I/O progress; no timed wait.
    while (local.requests("x") === 0) await new Promise((resolve) => setImmediate(resolve))
    await local.close()
    await local.close()
    assert.strictEqual(await pending, "dropped")
  })
})
