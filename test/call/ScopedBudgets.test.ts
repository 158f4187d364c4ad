/**
 * Scoped budgets through the whole client (API.md §12, §14), over a fake Gemini `HttpClient`: every
 * scope and window refuses first in the documented order, before any request and holding nothing;
 * the windows turn at UTC midnight, on Monday and on the 1st (`TestClock`); 200 concurrent calls of
 * several users never pass any user's cap on any backend and leave no hold; a fallback raises (or
 * moves) its hold against the fallback alias's own budget.
 */
import * as HttpClient from "@effect/platform/HttpClient"
import type * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import { assert, describe, it } from "@effect/vitest"
import * as Deferred from "effect/Deferred"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Queue from "effect/Queue"
import * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import * as TestClock from "effect/TestClock"
import { type BudgetExceededError, generate, Ledger, type LedgerEvent, makeLiveLayer } from "../../src/index.js"
import { freshPgSchema, pgReachable, tempFile } from "../support/LedgerBackends.js"

/** A Gemini answer billing `outputTokens` (and the UTF-8 bytes of the prompt as input). */
const answer = (request: HttpClientRequest.HttpClientRequest, outputTokens?: number) => {
  const body = request.body._tag === "Uint8Array" ? new TextDecoder().decode(request.body.body) : "{}"
  const json = JSON.parse(body) as {
    contents: Array<{ parts: Array<{ text?: string }> }>
    generationConfig?: { maxOutputTokens?: number }
  }
  const inputTokens = json.contents.flatMap((c) => c.parts).reduce(
    (sum, part) => sum + Buffer.byteLength(part.text ?? "", "utf8"),
    0
  )
  const output = outputTokens ?? json.generationConfig?.maxOutputTokens ?? 8192
  return HttpClientResponse.fromWeb(
    request,
    new Response(
      JSON.stringify({
        candidates: [{ content: { role: "model", parts: [{ text: "ok" }] }, finishReason: "STOP" }],
        usageMetadata: {
          promptTokenCount: inputTokens,
          candidatesTokenCount: output,
          totalTokenCount: inputTokens + output
        }
      }),
      { status: 200, headers: { "content-type": "application/json" } }
    )
  )
}

/** A service answering every request with the worst case it may bill (the full output cap), after `delay`. */
const worstCase = (requests: { count: number }, delay: Duration.DurationInput = "0 millis") =>
  Layer.succeed(
    HttpClient.HttpClient,
    HttpClient.make((request) =>
      Effect.as(
        Effect.sleep(delay),
        answer(request)
      ).pipe(Effect.tap(() => Effect.sync(() => requests.count++)))
    )
  )

const provider = { api_key: "scoped-test-key-123456", endpoints: [{ name: "g", base_url: "http://127.0.0.1:9" }] }

/** `flash` at $1 / $4 per million tokens: a call with a 1,000-token cap holds about $0.004. */
const configWith = (budget: Record<string, unknown>, ledger: Record<string, unknown> = { backend: "memory" }) => ({
  default_model: "flash",
  providers: { google: provider },
  models: { flash: { provider: "google", model_id: "gemini-x", pricing: { input_per_1m: 1, output_per_1m: 4 } } },
  budget: { daily_spend_limit: 0, default_max_output_tokens: 1000, ...budget },
  resilience: { max_retries: 0 },
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

const refusalOf = (result: Either.Either<unknown, { readonly _tag: string }>): BudgetExceededError => {
  assert.isTrue(Either.isLeft(result) && result.left._tag === "BudgetExceededError", JSON.stringify(result))
  return (result as Either.Left<BudgetExceededError, unknown>).left
}

describe("a tag without a budget makes no scope (API.md §12)", () => {
  for (const backend of backends) {
    it.scoped(`${backend.name}: its spend is not kept (it reads 0) while the budgeted tag's is, and the events keep both tags`, () =>
      Effect.gen(function*() {
        const requests = { count: 0 }
        const layer = makeLiveLayer({
          config: configWith({ per_tag: { user: { daily: 10 } } }, yield* backend.ledger),
          userConfig: false,
          httpClient: worstCase(requests)
        })
        yield* Effect.gen(function*() {
          const tags = { user: "u-1", request: "req-0001" }
          yield* generate({ prompt: "hi", tags })
          const ledger = yield* Ledger
          assert.isAbove(yield* ledger.spend("user:u-1", "daily"), 0)
          assert.strictEqual(yield* ledger.spend("request:req-0001", "daily"), 0)
          const events = yield* ledger.events()
          assert.deepStrictEqual(events.map((event) => event.tags), [tags, tags])
        }).pipe(Effect.provide(layer))
      }))
  }
})

describe("scoped budgets through the client", () => {
  it.live("every scope and window refuses first in the documented order, with no request and no hold", () =>
    Effect.gen(function*() {
      // Every limit far too small for a call; each round lifts the limit that refused, so the next one refuses.
      const order = [
        ["global", "daily"],
        ["global", "weekly"],
        ["global", "monthly"],
        ["model:flash", "daily"],
        ["model:flash", "weekly"],
        ["model:flash", "monthly"],
        ["team:acme", "daily"],
        ["team:acme", "weekly"],
        ["team:acme", "monthly"],
        ["user:u-1", "daily"],
        ["user:u-1", "weekly"],
        ["user:u-1", "monthly"]
      ] as const
      const tiny = 0.000001
      const budgetFor = (lifted: number) => {
        const limit = (index: number) => (index < lifted ? 100 : tiny)
        const scope = (first: number) => ({ daily: limit(first), weekly: limit(first + 1), monthly: limit(first + 2) })
        return {
          daily_spend_limit: limit(0),
          weekly_spend_limit: limit(1),
          monthly_spend_limit: limit(2),
          per_model: { flash: scope(3) },
          // declared user first: the order is by key name, not by declaration
          per_tag: { user: scope(9), team: scope(6) }
        }
      }
      const requests = { count: 0 }
      for (const [index, [scope, window]] of order.entries()) {
        const layer = makeLiveLayer({
          config: configWith(budgetFor(index)),
          userConfig: false,
          httpClient: worstCase(requests)
        })
        yield* Effect.gen(function*() {
          const error = refusalOf(yield* Effect.either(generate({ prompt: "hi", tags: { user: "u-1", team: "acme" } })))
          assert.deepStrictEqual([error.scope, error.window, error.reason, error.limit], [
            scope,
            window,
            `${window}_limit`,
            tiny
          ])
          assert.deepStrictEqual(yield* (yield* Ledger).events(), [], "a refusal holds nothing in any scope")
        }).pipe(Effect.provide(layer))
      }
      assert.strictEqual(requests.count, 0)
      // every limit lifted: the call goes through, held in all twelve
      const layer = makeLiveLayer({
        config: configWith(budgetFor(12)),
        userConfig: false,
        httpClient: worstCase(requests)
      })
      yield* Effect.gen(function*() {
        yield* generate({ prompt: "hi", tags: { user: "u-1", team: "acme" } })
        const ledger = yield* Ledger
        const spent = yield* Effect.forEach(order, ([scope, window]) => ledger.spend(scope, window))
        assert.isTrue(spent.every((usd) => usd > 0 && usd === spent[0]), String(spent))
        assert.strictEqual(yield* ledger.spend("user:u-2", "daily"), 0)
      }).pipe(Effect.provide(layer))
      assert.strictEqual(requests.count, 1)
    }))

  describe("the windows turn at UTC midnight, on Monday and on the 1st (TestClock)", () => {
    const boundaries = [
      { window: "daily", boundary: Date.UTC(2026, 0, 16) }, // Friday 16 January, 00:00 UTC
      { window: "weekly", boundary: Date.UTC(2026, 0, 19) }, // Monday 19 January
      { window: "monthly", boundary: Date.UTC(2026, 1, 1) } // Sunday 1 February
    ] as const
    for (const { boundary, window } of boundaries) {
      it.effect(`${window}: refused just before ${new Date(boundary).toISOString()}, accepted from it`, () =>
        Effect.gen(function*() {
          // A call holds ~$0.004 and settles at ~$0.0004 (100 output tokens): a second one no longer fits $0.0042.
          const budget = { per_tag: { user: { [window]: 0.0042 } } }
          const layer = makeLiveLayer({
            config: configWith(budget),
            userConfig: false,
            httpClient: Layer.succeed(
              HttpClient.HttpClient,
              HttpClient.make((request) => Effect.succeed(answer(request, 100)))
            )
          })
          yield* Effect.gen(function*() {
            const call = generate({ prompt: "hi", tags: { user: "u-1" } })
            yield* TestClock.setTime(boundary - 60_000)
            yield* call
            yield* TestClock.setTime(boundary - 1)
            const error = refusalOf(yield* Effect.either(call))
            assert.deepStrictEqual([error.scope, error.window], ["user:u-1", window])
            // another user has a cap of their own
            yield* generate({ prompt: "hi", tags: { user: "u-2" } })
            yield* TestClock.setTime(boundary)
            yield* call
            assert.closeTo(yield* (yield* Ledger).spend("user:u-1", window), 0.000402, 1e-9)
          }).pipe(Effect.provide(layer))
        }))
    }
  })

  describe("200 concurrent calls of five users against per_tag.user.daily", () => {
    const limit = 0.02 // about five holds of $0.004
    const users = ["u-0", "u-1", "u-2", "u-3", "u-4"]
    for (const backend of backends) {
      it.live(`${backend.name}: no user passes the cap, no hold is left`, () =>
        Effect.scoped(Effect.gen(function*() {
          const requests = { count: 0 }
          const layer = makeLiveLayer({
            config: configWith({ per_tag: { user: { daily: limit } } }, yield* backend.ledger),
            userConfig: false,
            httpClient: worstCase(requests, "5 millis")
          })
          yield* Effect.gen(function*() {
            const results = yield* Effect.forEach(
              Array.from({ length: 200 }, (_, i) => users[i % users.length]!),
              (user) => Effect.either(generate({ prompt: `question from ${user}`, tags: { user } })),
              { concurrency: "unbounded" }
            )
            const refusals = results.filter(Either.isLeft).map(refusalOf)
            assert.isTrue(refusals.every((e) => e.window === "daily" && /^user:u-\d$/.test(e.scope)))
            assert.strictEqual(results.length - refusals.length, requests.count)
            const ledger = yield* Ledger
            const events = yield* ledger.events()
            for (const user of users) {
              const mine = events.filter((e: LedgerEvent) => e.tags?.user === user)
              const settled = mine.filter((e) => e.type !== "hold").reduce((sum, e) => sum + e.cost, 0)
              assert.isAtMost(settled, limit + 1e-12, user)
              assert.isAtMost(yield* ledger.spend(`user:${user}`, "daily"), limit + 1e-12, user)
              assert.isAtLeast(mine.filter((e) => e.type === "commit").length, 4, `${user} was served`)
              assert.isAtLeast(refusals.filter((e) => e.scope === `user:${user}`).length, 1, `${user} was refused`)
            }
            const settledHolds = new Set(events.filter((e) => e.type !== "hold").map((e) => e.holdId))
            assert.deepStrictEqual(events.filter((e) => e.type === "hold" && !settledHolds.has(e.holdId)), [])
          }).pipe(Effect.provide(layer))
        })), { timeout: 120_000 })
    }
  })

  describe("a fallback against the fallback alias's own budget", () => {
    /**
     * `cheap` answers 503 (its breaker opens at once) and falls back to `pricey`, whose own daily
     * budget fits two raised holds ($0.0025 each), not five. The fallback holds its answers until
     * every call has raised or been refused.
     */
    const fallbackConfig = (ledger: Record<string, unknown>, budget: Record<string, unknown>) => ({
      default_model: "cheap",
      providers: {
        google: { ...provider, endpoints: [{ name: "cheap-endpoint", base_url: "http://127.0.0.1:9" }] },
        gemini: { ...provider, endpoints: [{ name: "pricey-endpoint", base_url: "http://127.0.0.1:9" }] }
      },
      models: {
        cheap: {
          provider: "google",
          model_id: "cheap-model",
          pricing: { input_per_1m: 0.1, output_per_1m: 1 },
          fallbacks: ["pricey"]
        },
        pricey: {
          provider: "gemini",
          model_id: "pricey-model",
          pricing: { input_per_1m: 1, output_per_1m: 25 },
          fallbacks: ["cheap"]
        }
      },
      budget: { daily_spend_limit: 0, default_max_output_tokens: 100, ...budget },
      resilience: { max_retries: 1, base_delay_s: 0.001, circuit_breaker: { failure_threshold: 1 } },
      ledger
    })
    const unavailable = (request: HttpClientRequest.HttpClientRequest) =>
      HttpClientResponse.fromWeb(
        request,
        new Response(JSON.stringify({ error: { code: 503, message: "unavailable", status: "UNAVAILABLE" } }), {
          status: 503,
          headers: { "content-type": "application/json" }
        })
      )

    for (const backend of backends) {
      it.live(
        `${backend.name}: concurrent fallbacks raise atomically within model:pricey's limit`,
        () =>
          Effect.scoped(Effect.gen(function*() {
            const limit = 0.006
            const release = yield* Deferred.make<void>()
            const arrived = yield* Queue.unbounded<string>()
            const httpClient = Layer.succeed(
              HttpClient.HttpClient,
              HttpClient.make((request) =>
                request.url.includes("cheap-model")
                  ? Effect.succeed(unavailable(request))
                  : Effect.zipRight(Queue.offer(arrived, "raised"), Effect.as(Deferred.await(release), answer(request)))
              )
            )
            const layer = makeLiveLayer({
              config: fallbackConfig(yield* backend.ledger, { per_model: { pricey: { daily: limit } } }),
              userConfig: false,
              httpClient
            })
            yield* Effect.gen(function*() {
              const calls = yield* Effect.forEach(
                [0, 1, 2, 3, 4],
                (i) =>
                  Effect.fork(
                    Effect.either(generate({ prompt: `question ${i}`, tags: { user: `u-${i}` } })).pipe(
                      Effect.tap((result) => Either.isLeft(result) ? Queue.offer(arrived, "refused") : Effect.void)
                    )
                  ),
                { concurrency: "unbounded" }
              )
              yield* Queue.takeN(arrived, 5)
              const ledger = yield* Ledger
              assert.isAtMost(yield* ledger.spend("model:pricey", "daily"), limit + 1e-12)
              yield* Deferred.succeed(release, undefined)
              const results = yield* Effect.forEach(calls, (fiber) => fiber.await.pipe(Effect.flatten))
              const refusals = results.filter(Either.isLeft).map(refusalOf)
              assert.isAtLeast(refusals.length, 1)
              assert.isAtLeast(results.length - refusals.length, 1)
              assert.isTrue(refusals.every((e) => e.scope === "model:pricey" && e.window === "daily"))
              const events = yield* ledger.events()
              const settled = events.filter((e) => e.type !== "hold")
              assert.isAtMost(settled.reduce((sum, e) => sum + e.cost, 0), limit + 1e-12)
              assert.isTrue(settled.filter((e) => e.type === "commit").every((e) => e.alias === "pricey"))
              // the raised holds kept the call's tags
              assert.deepStrictEqual(
                events.filter((e) => e.type === "hold").map((e) => e.tags?.user).sort(),
                ["u-0", "u-1", "u-2", "u-3", "u-4"]
              )
            }).pipe(Effect.provide(layer))
          })),
        { timeout: 60_000 }
      )
    }

    it.live("a cheaper fallback with a budget of its own moves the hold there, or refuses", () =>
      Effect.gen(function*() {
        // pricey fails and falls back to cheap, whose own daily limit is below a cheap call's estimate
        const requests: Array<string> = []
        const httpClient = Layer.succeed(
          HttpClient.HttpClient,
          HttpClient.make((request) =>
            Effect.sync(() => {
              requests.push(request.url.includes("cheap-model") ? "cheap" : "pricey")
              return request.url.includes("pricey-model") ? unavailable(request) : answer(request, 10)
            })
          )
        )
        const refused = yield* generate({ model: "pricey", prompt: "hi" }).pipe(
          Effect.either,
          Effect.provide(makeLiveLayer({
            config: fallbackConfig({ backend: "memory" }, { per_model: { cheap: { daily: 0.00001 } } }),
            userConfig: false,
            httpClient
          }))
        )
        assert.deepStrictEqual([refusalOf(refused).scope, refusalOf(refused).window], ["model:cheap", "daily"])
        assert.deepStrictEqual(requests, ["pricey"])
        const answered = yield* Effect.gen(function*() {
          const response = yield* generate({ model: "pricey", prompt: "hi", fullResponse: true })
          return [response.alias, yield* (yield* Ledger).spend("model:cheap", "daily"), response.cost] as const
        }).pipe(Effect.provide(makeLiveLayer({
          config: fallbackConfig({ backend: "memory" }, { per_model: { cheap: { daily: 1 } } }),
          userConfig: false,
          httpClient
        })))
        assert.strictEqual(answered[0], "cheap")
        assert.closeTo(answered[1], answered[2], 1e-12)
      }))

    it.live("a cheaper fallback's own limit is checked at the fallback's estimate, not the primary's", () =>
      Effect.gen(function*() {
        // pricey's estimate (100 output tokens at $25/1M: $0.0025) is over cheap's limit; cheap's ($0.0001) is not
        const httpClient = Layer.succeed(
          HttpClient.HttpClient,
          HttpClient.make((request) =>
            Effect.sync(() => request.url.includes("pricey-model") ? unavailable(request) : answer(request, 10))
          )
        )
        const [response, held] = yield* Effect.gen(function*() {
          const response = yield* generate({ model: "pricey", prompt: "hi", fullResponse: true })
          const events = yield* (yield* Ledger).events({ traceId: response.traceId })
          return [response, events.find((event) => event.type === "hold")!] as const
        }).pipe(Effect.provide(makeLiveLayer({
          config: fallbackConfig({ backend: "memory" }, { per_model: { cheap: { daily: 0.001 } } }),
          userConfig: false,
          httpClient
        })))
        assert.strictEqual(response.alias, "cheap")
        assert.strictEqual(held.alias, "cheap")
        assert.isBelow(held.cost, 0.001)
        assert.isAtMost(response.cost, held.cost + 1e-12)
      }))
  })
})
