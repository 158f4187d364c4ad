/**
 * Call tags and `withCallContext` (API.md §10, §12): a call's tags — its request's, merged over those
 * of the context it runs in — reach the ledger for `generate` and `stream` and put it in its tag
 * scopes; invalid tags are refused before any ledger write or request.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import {
  type FatalError,
  generate,
  Ledger,
  type LedgerEvent,
  makeMockProviders,
  makeTestLayer,
  stream,
  testConfig,
  withCallContext
} from "../../src/index.js"

const tagsOf = (events: ReadonlyArray<LedgerEvent>) => events.map((e) => [e.type, e.traceId, e.tags])

/** The test config with `key` as the Google key (a configured secret). */
const withGoogleKey = (key: string) => ({
  ...testConfig,
  providers: { ...testConfig.providers, google: { ...testConfig.providers.google, api_key: key } }
})

describe("withCallContext", () => {
  it.effect("generate inside it gets the context's trace id and tags; the request's own win key by key", () =>
    Effect.gen(function*() {
      const ledger = yield* Ledger
      yield* generate({ prompt: "one" }).pipe(withCallContext({ traceId: "job-7", tags: { user: "u-1", team: "t" } }))
      yield* withCallContext(generate({ prompt: "two", tags: { user: "u-2" } }), {
        traceId: "job-8",
        tags: { team: "t" }
      })
      yield* generate({ prompt: "three", traceId: "own", tags: { plan: "pro" } }).pipe(
        withCallContext({ traceId: "job-9", tags: { user: "u-3" } })
      )
      assert.deepStrictEqual(tagsOf(yield* ledger.events()), [
        ["hold", "job-7", { user: "u-1", team: "t" }],
        ["commit", "job-7", { user: "u-1", team: "t" }],
        ["hold", "job-8", { team: "t", user: "u-2" }],
        ["commit", "job-8", { team: "t", user: "u-2" }],
        ["hold", "own", { user: "u-3", plan: "pro" }],
        ["commit", "own", { user: "u-3", plan: "pro" }]
      ])
    }).pipe(Effect.provide(makeTestLayer())))

  it.effect("a configured secret in a tag's name never reaches the ledger either", () => {
    const key = "sk-test-tagname-0123456789abcdef"
    const config = withGoogleKey(key)
    return Effect.gen(function*() {
      yield* generate({ prompt: "one", tags: { [`k${key}`]: "v", team: "t" } })
      const events = yield* (yield* Ledger).events()
      assert.lengthOf(events, 2)
      assert.notInclude(JSON.stringify(events), key)
      assert.deepStrictEqual(events.map((event) => event.tags?.team), ["t", "t"])
    }).pipe(Effect.provide(makeTestLayer({ config })))
  })

  it.effect("a configured secret passed as a tag value never reaches the ledger", () => {
    const key = "sk-test-tag-0123456789abcdef"
    const config = withGoogleKey(key)
    return Effect.gen(function*() {
      yield* generate({ prompt: "one", tags: { user: key, team: "t" } })
      yield* generate({ prompt: "two" }).pipe(withCallContext({ tags: { user: `id-${key}` } }))
      const events = yield* (yield* Ledger).events()
      assert.lengthOf(events, 4)
      assert.notInclude(JSON.stringify(events), key)
      assert.strictEqual(events[0]!.tags?.team, "t")
    }).pipe(Effect.provide(makeTestLayer({ config })))
  })

  it.effect("a configured secret passed as a trace id (the request's or the context's) never reaches the ledger or the answer", () => {
    const key = "sk-test-trace-0123456789abcdef"
    const config = withGoogleKey(key)
    return Effect.gen(function*() {
      const own = yield* generate({ prompt: "one", traceId: `job-${key}`, fullResponse: true })
      const inherited = yield* generate({ prompt: "two", fullResponse: true }).pipe(withCallContext({ traceId: key }))
      yield* stream({ prompt: "three", traceId: key }).pipe(Stream.runDrain)
      const events = yield* (yield* Ledger).events()
      assert.lengthOf(events, 6)
      assert.notInclude(JSON.stringify([own, inherited, events]), key)
      // the rest of the id is kept: the rows of one call still share it
      assert.match(own.traceId, /^job-/)
      assert.strictEqual(events[0]!.traceId, own.traceId)
    }).pipe(Effect.provide(makeTestLayer({ config })))
  })

  it.effect("stream: consumed inside a context, or wrapped with it, the call gets the context", () =>
    Effect.gen(function*() {
      const ledger = yield* Ledger
      yield* stream({ prompt: "a b c" }).pipe(
        Stream.runDrain,
        withCallContext({ traceId: "s-1", tags: { user: "u-1" } })
      )
      yield* stream({ prompt: "a b c" }).pipe(
        withCallContext({ traceId: "s-2", tags: { user: "u-2" } }),
        Stream.runDrain
      )
      yield* stream({ prompt: "a b c", tags: { user: "u-4" } }).pipe(
        Stream.take(1),
        Stream.runDrain,
        withCallContext({ tags: { user: "u-3", team: "t" } }),
        withCallContext({ traceId: "s-3" })
      )
      assert.deepStrictEqual(tagsOf(yield* ledger.events()), [
        ["hold", "s-1", { user: "u-1" }],
        ["commit", "s-1", { user: "u-1" }],
        ["hold", "s-2", { user: "u-2" }],
        ["commit", "s-2", { user: "u-2" }],
        ["hold", "s-3", { team: "t", user: "u-4" }],
        ["cancel", "s-3", { team: "t", user: "u-4" }]
      ])
    }).pipe(Effect.provide(makeTestLayer())))

  it.effect("a stream wrapped with a context: the calls of the consumer's later stages are not made in it", () =>
    Effect.gen(function*() {
      const ledger = yield* Ledger
      yield* stream({ prompt: "a b" }).pipe(
        withCallContext({ traceId: "wrapped", tags: { user: "u-1" } }),
        Stream.filter((event) => event.isFinish),
        Stream.mapEffect(() => generate({ prompt: "follow-up", traceId: "after" })),
        Stream.mapEffect(() => generate({ prompt: "untagged", fullResponse: true })),
        Stream.runDrain
      )
      const events = yield* ledger.events()
      assert.deepStrictEqual(events.slice(0, 4).map((e) => [e.type, e.traceId, e.tags]), [
        ["hold", "wrapped", { user: "u-1" }],
        ["commit", "wrapped", { user: "u-1" }],
        ["hold", "after", undefined],
        ["commit", "after", undefined]
      ])
      assert.lengthOf(events, 6)
      assert.notStrictEqual(events[4]!.traceId, "wrapped")
      assert.isUndefined(events[4]!.tags)
    }).pipe(Effect.provide(makeTestLayer())))

  it.effect("nested contexts merge: the inner trace id, inner tags over outer; outside, nothing", () =>
    Effect.gen(function*() {
      const ledger = yield* Ledger
      yield* generate({ prompt: "inner" }).pipe(
        withCallContext({ traceId: "inner", tags: { user: "u-2" } }),
        Effect.zipRight(generate({ prompt: "outer" })),
        withCallContext({ traceId: "outer", tags: { user: "u-1", team: "t" } })
      )
      yield* generate({ prompt: "none", traceId: "none" })
      const holds = (yield* ledger.events()).filter((e) => e.type === "hold")
      assert.deepStrictEqual(tagsOf(holds), [
        ["hold", "inner", { user: "u-2", team: "t" }],
        ["hold", "outer", { user: "u-1", team: "t" }],
        ["hold", "none", undefined]
      ])
    }).pipe(Effect.provide(makeTestLayer())))

  it.effect("context tags count toward per_tag budgets: each user is capped on their own", () =>
    Effect.gen(function*() {
      const asUser = (user: string) => withCallContext({ tags: { user } })
      yield* generate({ prompt: "hi", maxOutputTokens: 100 }).pipe(asUser("u-1")) // holds $0.000218, costs $0.000202
      const refused = yield* Effect.flip(generate({ prompt: "hi", maxOutputTokens: 100 }).pipe(asUser("u-1")))
      assert.deepStrictEqual(refused._tag === "BudgetExceededError" && [refused.scope, refused.window], [
        "user:u-1",
        "daily"
      ])
      yield* generate({ prompt: "hi", maxOutputTokens: 100 }).pipe(asUser("u-2"))
    }).pipe(
      Effect.provide(makeTestLayer({
        config: { ...testConfig, budget: { per_tag: { user: { daily: 0.0003 } } } },
        // every answer bills its full cap
        providers: makeMockProviders({ otherwise: { content: "ok", usage: { inputTokens: 2, outputTokens: 100 } } })
      }))
    ))
})

describe("invalid tags are refused before any ledger write or request", () => {
  const cases: ReadonlyArray<readonly [string, unknown, RegExp]> = [
    ["a key with a space", { "user id": "u" }, /^tags: key "user id": a tag key is a letter/],
    ["a key starting with a digit", { "1st": "u" }, /^tags: key "1st"/],
    ["the reserved key model", { model: "x" }, /"model" is reserved/],
    ["a number value", { user: 42 }, /^tags\.user: a tag value must be a string, got number/],
    ["an empty value", { user: "" }, /^tags\.user: a tag value is 1 to 128/],
    ["a value with a comma", { user: "a,b" }, /^tags\.user: a tag value is/],
    ["a value too long", { user: "x".repeat(129) }, /^tags\.user: a tag value is/],
    ["seventeen tags", Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`k${i}`, "v"])), /at most 16 tags/],
    ["not an object", ["user"], /^tags must be an object/]
  ]
  for (const [name, tags, message] of cases) {
    it.effect(name, () =>
      Effect.gen(function*() {
        const providers = makeMockProviders()
        yield* Effect.gen(function*() {
          const error = yield* Effect.flip(generate({ prompt: "hi", tags: tags as Record<string, string> }))
          assert.strictEqual(error._tag, "FatalError")
          assert.strictEqual(error._tag === "FatalError" && error.reason, "invalid_request")
          assert.match(error.message, message)
          assert.deepStrictEqual(yield* (yield* Ledger).events(), [])
        }).pipe(Effect.provide(makeTestLayer({ providers })))
        assert.strictEqual(providers.calls.length, 0)
      }))
  }

  it.effect("a trace id that is not a string, holds a control character or is too long is refused the same way", () =>
    Effect.gen(function*() {
      const providers = makeMockProviders()
      yield* Effect.gen(function*() {
        for (
          const [traceId, message] of [
            [5, /^traceId must be a string, got number/],
            [{ id: 1 }, /^traceId must be a string, got object/],
            ["job\u0000-7", /^traceId must have no control characters \(a line break, a tab, NUL…\), got one$/],
            ["line\nbreak", /no control characters/],
            ["cut \ud83d", /^traceId must be well-formed text, got half of a surrogate pair \(a cut emoji\)$/],
            ["x".repeat(257), /^traceId must be at most 256 characters, got 257$/]
          ] as const
        ) {
          const error = yield* Effect.flip(generate({ prompt: "hi", traceId: traceId as string }))
          assert.strictEqual(error._tag === "FatalError" && error.reason, "invalid_request", String(traceId))
          assert.match(error.message, message)
          // the default model resolves: the refusal names its provider, as every other field's does
          assert.strictEqual((error as FatalError).provider, "google", String(traceId))
          const streamed = yield* Effect.flip(Stream.runDrain(stream({ prompt: "hi", traceId: traceId as string })))
          assert.match(streamed.message, message)
        }
        const inContext = yield* Effect.flip(generate({ prompt: "hi" }).pipe(withCallContext({ traceId: "a\tb" })))
        assert.match(inContext.message, /^withCallContext: traceId must have no control characters/)
        assert.strictEqual((inContext as FatalError).provider, "google")
        assert.deepStrictEqual(yield* (yield* Ledger).events(), [])
        // what is taken: any printable text up to 256 characters, emoji whole
        const ok = yield* generate({
          prompt: "hi",
          traceId: "ünï-côdé job/7 #1 😀".padEnd(256, "x"),
          fullResponse: true
        })
        assert.strictEqual(ok.traceId, "ünï-côdé job/7 #1 😀".padEnd(256, "x"))
      }).pipe(Effect.provide(makeTestLayer({ providers })))
      assert.strictEqual(providers.calls.length, 1)
    }))

  it.effect("invalid context tags fail each call inside the context the same way", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(
        generate({ prompt: "hi" }).pipe(withCallContext({ tags: { "bad key": "x" } }))
      )
      assert.strictEqual(error._tag === "FatalError" && error.reason, "invalid_request")
      assert.match(error.message, /^withCallContext: tags: key "bad key"/)
      const streamed = yield* Effect.flip(
        stream({ prompt: "hi" }).pipe(Stream.runDrain, withCallContext({ tags: { user: "a b" } }))
      )
      assert.strictEqual(streamed._tag === "FatalError" && streamed.reason, "invalid_request")
      assert.deepStrictEqual(yield* (yield* Ledger).events(), [])
    }).pipe(Effect.provide(makeTestLayer())))

  it.effect("tags with ids, emails, UUIDs and other scripts are accepted", () =>
    Effect.gen(function*() {
      const tags = {
        user: "alice@example.com",
        org: "org_9f1c2d3e-0000-4000-8000-000000000000",
        "team.name": "研究部",
        // scripts whose letters carry combining marks (a vowel sign; an accent written decomposed)
        lang: "हिंदी",
        name: "Jose\u0301",
        path: "a/b:c+d=e#f"
      }
      yield* generate({ prompt: "hi", tags, traceId: "ok" })
      assert.deepStrictEqual((yield* (yield* Ledger).events())[0]?.tags, tags)
    }).pipe(Effect.provide(makeTestLayer())))
})
