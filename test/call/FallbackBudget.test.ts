/**
 * A fallback priced above the hold raises the hold atomically before its request (API.md §12, §14;
 * issue 10's correctness bug): concurrent calls that all fall back can never together pass the
 * limit, on every ledger backend. The old client re-checked `spendToday()` outside any transaction
 * and reserved nothing, so five concurrent fallbacks spent about twice the limit.
 */
import * as HttpClient from "@effect/platform/HttpClient"
import type * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import { assert, describe, it } from "@effect/vitest"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Queue from "effect/Queue"
import * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import { generate, Ledger, makeLiveLayer } from "../../src/index.js"
import { freshPgSchema, pgReachable, tempFile } from "../support/LedgerBackends.js"

const answer = (request: HttpClientRequest.HttpClientRequest, outputTokens: number) =>
  HttpClientResponse.fromWeb(
    request,
    new Response(
      JSON.stringify({
        candidates: [{ content: { role: "model", parts: [{ text: "ok" }] }, finishReason: "STOP" }],
        usageMetadata: { promptTokenCount: 10, candidatesTokenCount: outputTokens, totalTokenCount: 10 + outputTokens }
      }),
      { status: 200, headers: { "content-type": "application/json" } }
    )
  )

/**
 * The cheap model's endpoint answers 503 (its breaker opens at once); the pricey fallback answers
 * with the full cap, but only once `release` completes — so every call has raised its hold before
 * any settles, the worst case for the budget.
 */
const service = (release: Deferred.Deferred<void>, arrived: Queue.Queue<string>) =>
  Layer.succeed(
    HttpClient.HttpClient,
    HttpClient.make((request) =>
      request.url.includes("cheap-model")
        ? Effect.succeed(HttpClientResponse.fromWeb(
          request,
          new Response(JSON.stringify({ error: { code: 503, message: "unavailable", status: "UNAVAILABLE" } }), {
            status: 503,
            headers: { "content-type": "application/json" }
          })
        ))
        : Effect.zipRight(
          Queue.offer(arrived, "raised and sent"),
          Effect.as(Deferred.await(release), answer(request, 100))
        )
    )
  )

// The hold of a call is about $0.0001 on the cheap model and $0.0025 on the pricey one: a limit of
// $0.006 fits two fallbacks, not five.
const limit = 0.006
const configWith = (ledger: Record<string, unknown>) => ({
  default_model: "cheap",
  providers: {
    google: {
      api_key: "fallback-test-key-123",
      endpoints: [{ name: "cheap-endpoint", base_url: "http://127.0.0.1:9" }]
    },
    gemini: {
      api_key: "fallback-test-key-456",
      endpoints: [{ name: "pricey-endpoint", base_url: "http://127.0.0.1:9" }]
    }
  },
  models: {
    cheap: {
      provider: "google",
      model_id: "cheap-model",
      pricing: { input_per_1m: 0.1, output_per_1m: 1 },
      fallbacks: ["pricey"]
    },
    pricey: { provider: "gemini", model_id: "pricey-model", pricing: { input_per_1m: 1, output_per_1m: 25 } }
  },
  budget: { daily_spend_limit: limit, default_max_output_tokens: 100 },
  resilience: {
    max_retries: 1,
    base_delay_s: 0.001,
    circuit_breaker: { failure_threshold: 1, recovery_timeout_s: 300 }
  },
  ledger
})

const backends: ReadonlyArray<{
  readonly name: string
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

describe("a pricier fallback raises the hold atomically", () => {
  for (const backend of backends) {
    it.live(
      `${backend.name}: five concurrent calls falling back never together pass the limit`,
      () =>
        Effect.scoped(Effect.gen(function*() {
          const release = yield* Deferred.make<void>()
          const arrived = yield* Queue.unbounded<string>()
          const layer = makeLiveLayer({
            config: configWith(yield* backend.ledger),
            userConfig: false,
            httpClient: service(release, arrived)
          })
          yield* Effect.gen(function*() {
            const calls = yield* Effect.forEach(
              Array.from({ length: 5 }, (_, i) => i),
              (i) =>
                Effect.fork(
                  Effect.either(generate({ prompt: `question ${i}`, traceId: `fallback-${i}` })).pipe(
                    Effect.tap((result) => Either.isLeft(result) ? Queue.offer(arrived, "refused") : Effect.void)
                  )
                ),
              { concurrency: "unbounded" }
            )
            // Wait until every call has either raised its hold (its request reached the fallback, which
            // holds the answer back) or been refused: the moment the most is held at once.
            yield* Queue.takeN(arrived, 5)
            const ledger = yield* Ledger
            const peak = yield* ledger.spendToday()
            assert.isAtMost(peak, limit + 1e-12, "the raised holds fit the limit while the calls are in flight")
            yield* Deferred.succeed(release, undefined)
            const results = yield* Effect.forEach(calls, (fiber) => fiber.await.pipe(Effect.flatten))
            const answered = results.filter(Either.isRight)
            const refused = results.filter((r) => Either.isLeft(r) && r.left._tag === "BudgetExceededError")
            assert.strictEqual(answered.length + refused.length, 5)
            assert.isAtLeast(refused.length, 1, "some fallbacks were refused")
            for (const result of refused) {
              const error = Either.isLeft(result) ? result.left : undefined
              // The refusal names the fallback it was for (API.md §3: provider/endpoint where known).
              assert.deepInclude(error, { provider: "gemini", endpoint: "pricey-endpoint", scope: "global" })
            }
            assert.isAtLeast(answered.length, 1)
            const events = yield* ledger.events()
            const settledCost = events.filter((e) => e.type !== "hold").reduce((sum, e) => sum + e.cost, 0)
            assert.isAtMost(settledCost, limit + 1e-12)
            assert.isTrue(
              events.filter((e) => e.type === "commit").every((e) => e.alias === "pricey"),
              "the fallback answered"
            )
          }).pipe(Effect.provide(layer))
        })),
      { timeout: 60_000 }
    )
  }
})
