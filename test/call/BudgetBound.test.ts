/**
 * The hold bounds the call (API.md §14): whenever a budget applies, the output cap is sent and the
 * input is held at an upper bound, so a service answering with the worst case it is allowed — the
 * full output cap, and one input token per UTF-8 byte of text — can never take spend past the limit,
 * one call at a time or 300 at once, on every ledger backend. A service that ignores the cap is
 * settled at its real cost, with a warning naming the model.
 */
import * as HttpClient from "@effect/platform/HttpClient"
import type * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import { generate, Ledger, makeLiveLayer } from "../../src/index.js"
import { freshPgSchema, pgReachable, tempFile } from "../support/LedgerBackends.js"

interface Captured {
  readonly maxOutputTokens: number | undefined
}

/**
 * A Gemini-speaking HTTP client answering every request with the worst case a service may bill:
 * input = the UTF-8 bytes of every text it was sent, output = the cap it was sent (8192 without one),
 * or `overshoot` × the cap for a service that ignores it.
 */
const worstCaseService = (captured: Array<Captured>, overshoot = 1) =>
  Layer.succeed(
    HttpClient.HttpClient,
    HttpClient.make((request: HttpClientRequest.HttpClientRequest) =>
      Effect.sync(() => {
        const body = request.body._tag === "Uint8Array" ? new TextDecoder().decode(request.body.body) : "{}"
        const json = JSON.parse(body) as {
          contents: Array<{ parts: Array<{ text?: string }> }>
          systemInstruction?: { parts: Array<{ text?: string }> }
          generationConfig?: { maxOutputTokens?: number }
        }
        const texts = [...json.contents, ...(json.systemInstruction ? [json.systemInstruction] : [])]
          .flatMap((content) => content.parts.map((part) => part.text ?? ""))
        const inputTokens = texts.reduce((sum, text) => sum + Buffer.byteLength(text, "utf8"), 0)
        const cap = json.generationConfig?.maxOutputTokens
        captured.push({ maxOutputTokens: cap })
        const outputTokens = (cap ?? 8192) * overshoot
        return HttpClientResponse.fromWeb(
          request,
          new Response(
            JSON.stringify({
              candidates: [{ content: { role: "model", parts: [{ text: "ok" }] }, finishReason: "MAX_TOKENS" }],
              usageMetadata: {
                promptTokenCount: inputTokens,
                candidatesTokenCount: outputTokens,
                totalTokenCount: inputTokens + outputTokens
              }
            }),
            { status: 200, headers: { "content-type": "application/json" } }
          )
        )
      })
    )
  )

const limit = 0.05
const configWith = (ledger: Record<string, unknown>) => ({
  default_model: "flash",
  providers: {
    google: { api_key: "budget-test-key-123456", endpoints: [{ name: "g", base_url: "http://127.0.0.1:9" }] }
  },
  models: { flash: { provider: "google", model_id: "gemini-x", pricing: { input_per_1m: 1, output_per_1m: 4 } } },
  budget: { daily_spend_limit: limit, default_max_output_tokens: 1000 },
  resilience: { max_retries: 0 },
  ledger
})

/** Prompts of English and dense CJK text, which a characters / 3 estimate under-counts. */
const prompts = [
  "Summarise the attached quarterly report in three bullet points.",
  "请用三句话总结这份季度报告的要点，并列出主要风险。",
  "短",
  "日本語のテキストは一文字あたり三バイトです。トークン数の上限を確認します。"
]

const backends: ReadonlyArray<{
  readonly name: string
  /** The `ledger:` section of a fresh ledger, alive for the enclosing scope. */
  readonly ledger: Effect.Effect<Record<string, unknown>, never, Scope.Scope>
}> = [
  { name: "memory", ledger: Effect.succeed({ backend: "memory" }) },
  { name: "sqlite", ledger: Effect.sync(() => ({ backend: "sqlite", path: tempFile() })) },
  ...(pgReachable
    ? [{
      name: "postgres",
      ledger: Effect.map(freshPgSchema(), (url) => ({ backend: "postgres", url: Redacted.value(url) }))
    }]
    : [])
]

/** Committed and cancelled cost in the ledger, and the spend it reports. */
const spent = Effect.gen(function*() {
  const ledger = yield* Ledger
  const events = yield* ledger.events()
  const settled = events.filter((event) => event.type !== "hold").reduce((sum, event) => sum + event.cost, 0)
  return {
    settled,
    spendToday: yield* ledger.spendToday(),
    calls: events.filter((event) => event.type === "commit").length
  }
})

describe("the hold bounds the call (worst-case service)", () => {
  for (const backend of backends) {
    it.live(
      `${backend.name}: one call at a time until refused never passes the limit`,
      () =>
        Effect.scoped(Effect.gen(function*() {
          const captured: Array<Captured> = []
          const ledger = yield* backend.ledger
          const layer = makeLiveLayer({
            config: configWith(ledger),
            userConfig: false,
            httpClient: worstCaseService(captured)
          })
          return yield* Effect.gen(function*() {
            let refused = false
            for (let i = 0; i < 200 && !refused; i++) {
              const result = yield* Effect.either(generate({ prompt: prompts[i % prompts.length]! }))
              if (Either.isLeft(result)) {
                assert.strictEqual(result.left._tag, "BudgetExceededError")
                refused = true
              }
            }
            assert.isTrue(refused, "the budget eventually refuses")
            assert.isTrue(captured.every((c) => c.maxOutputTokens === 1000), "the cap was sent with every request")
            const { calls, settled, spendToday } = yield* spent
            assert.isAbove(calls, 5)
            assert.isAtMost(settled, limit + 1e-12)
            assert.isAtMost(spendToday, limit + 1e-12)
          }).pipe(Effect.provide(layer))
        })),
      { timeout: 60_000 }
    )

    it.live(`${backend.name}: 300 concurrent calls never pass the limit`, () =>
      Effect.scoped(Effect.gen(function*() {
        const captured: Array<Captured> = []
        const ledger = yield* backend.ledger
        const layer = makeLiveLayer({
          config: configWith(ledger),
          userConfig: false,
          httpClient: worstCaseService(captured)
        })
        return yield* Effect.gen(function*() {
          const results = yield* Effect.forEach(
            Array.from({ length: 300 }, (_, i) => prompts[i % prompts.length]!),
            (prompt) => Effect.either(generate({ prompt })),
            { concurrency: "unbounded" }
          )
          const ok = results.filter(Either.isRight).length
          const refusals = results.filter((r) => Either.isLeft(r) && r.left._tag === "BudgetExceededError").length
          assert.strictEqual(ok + refusals, 300)
          assert.isAbove(ok, 5)
          assert.isAbove(refusals, 0)
          const { calls, settled, spendToday } = yield* spent
          assert.strictEqual(calls, ok)
          assert.isAtMost(settled, limit + 1e-12)
          assert.isAtMost(spendToday, limit + 1e-12)
        }).pipe(Effect.provide(layer))
      })), { timeout: 60_000 })
  }

  it.live("with no budget in force no output cap is sent", () =>
    Effect.gen(function*() {
      const captured: Array<Captured> = []
      const config = { ...configWith({ backend: "memory" }), budget: { daily_spend_limit: 0 } }
      yield* generate({ prompt: "hi" }).pipe(
        Effect.provide(makeLiveLayer({ config, userConfig: false, httpClient: worstCaseService(captured) }))
      )
      assert.deepStrictEqual(captured, [{ maxOutputTokens: undefined }])
    }))

  it.live("a service that ignores the cap is settled at its real cost, with a warning naming the model", () =>
    Effect.gen(function*() {
      const captured: Array<Captured> = []
      const warnings: Array<string> = []
      const logger = Logger.make(({ logLevel, message }) => {
        if (logLevel._tag === "Warning") warnings.push(String(Array.isArray(message) ? message.join(" ") : message))
      })
      const layer = makeLiveLayer({
        config: configWith({ backend: "memory" }),
        userConfig: false,
        httpClient: worstCaseService(captured, 3)
      })
      const response = yield* generate({ prompt: "hi", fullResponse: true }).pipe(
        Effect.provide(Layer.merge(layer, Logger.replace(Logger.defaultLogger, logger)))
      )
      assert.strictEqual(response.usage.outputTokens, 3000)
      assert.closeTo(response.cost, (2 * 1 + 3000 * 4) / 1e6, 1e-12)
      const overshoot = warnings.find((w) => w.includes("\"flash\"") && w.includes("more than its hold"))
      assert.isDefined(overshoot, warnings.join("\n"))
      // money as people read it: the cost to four significant digits, no float noise
      assert.include(overshoot, "costing $0.012,")
      assert.notMatch(overshoot!, /\d{9,}/)
    }))

  it.live("with no budget in force an answer longer than the estimate is settled at its cost and logs nothing", () =>
    Effect.gen(function*() {
      const captured: Array<Captured> = []
      const logged: Array<string> = []
      const logger = Logger.make(({ logLevel, message }) => {
        if (logLevel.ordinal >= LogLevel.Info.ordinal) logged.push(String(message))
      })
      const config = { ...configWith({ backend: "memory" }), budget: { daily_spend_limit: 0 } }
      const response = yield* generate({ prompt: "hi", fullResponse: true }).pipe(
        Effect.provide(Layer.merge(
          makeLiveLayer({ config, userConfig: false, httpClient: worstCaseService(captured, 3) }),
          Logger.replace(Logger.defaultLogger, logger)
        ))
      )
      // far past the 1,024 tokens the estimate assumed: no cap was sent, so nothing was ignored
      assert.isAbove(response.usage.outputTokens, 3 * 1024)
      assert.closeTo(response.cost, (2 * 1 + response.usage.outputTokens * 4) / 1e6, 1e-12)
      assert.deepStrictEqual(logged, [])
    }))
})
