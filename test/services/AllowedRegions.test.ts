/**
 * `allowed_regions` drops endpoints (API.md §4, data residency) without breaking the rest of the
 * config: a model whose provider has no endpoint left is served by its fallbacks' endpoints in the
 * allowed regions, and a model with none left anywhere is refused when called — a `ConfigError` naming
 * the filter, before any request or ledger write — while the other models keep working.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { generate, Ledger, makeMockProviders, makeTestLayer } from "../../src/index.js"

const config = {
  default_model: "flash",
  providers: {
    google: { api_key: "test-key", endpoints: [{ name: "google-us", base_url: "http://127.0.0.1:9", region: "us" }] },
    dashscope: {
      api_key: "test-key",
      endpoints: [
        { name: "dashscope-intl", base_url: "http://127.0.0.1:9", region: "sg" },
        { name: "dashscope-cn", base_url: "http://127.0.0.1:9", region: "cn" }
      ]
    }
  },
  models: {
    flash: { provider: "google", model_id: "gemini-2.5-flash", fallbacks: ["qwen"] },
    lone: { provider: "google", model_id: "gemini-2.5-pro" },
    qwen: { provider: "dashscope", model_id: "qwen-plus" }
  },
  allowed_regions: ["cn"],
  ledger: { backend: "memory" }
}

describe("allowed_regions", () => {
  it.effect("keeps the config usable: the region's endpoints serve, fallbacks stand in, the rest is refused when called", () =>
    Effect.gen(function*() {
      const providers = makeMockProviders()
      yield* Effect.gen(function*() {
        yield* generate({ prompt: "hi", model: "qwen" })
        yield* generate({ prompt: "hi", model: "flash" }) // its own endpoint dropped: its fallback's, in cn
        assert.deepStrictEqual(providers.calls.map((call) => call.endpoint), ["dashscope-cn", "dashscope-cn"])
        const held = (yield* (yield* Ledger).events()).length
        const error = yield* Effect.flip(generate({ prompt: "hi", model: "lone" }))
        assert.strictEqual(error._tag, "ConfigError")
        assert.include(error.message, `no endpoint of model "lone" is left after the allowed_regions filter`)
        assert.strictEqual((yield* (yield* Ledger).events()).length, held)
        assert.strictEqual(providers.calls.length, 2)
      }).pipe(Effect.provide(makeTestLayer({ config, providers })))
    }))

  it.effect("when the fallback left standing cannot carry the request, the refusal says so (invalid_request naming the part), not the regions", () =>
    Effect.gen(function*() {
      const providers = makeMockProviders()
      yield* Effect.gen(function*() {
        const error = yield* Effect.flip(generate({
          model: "flash",
          messages: [{
            role: "user",
            content: [{ type: "text", text: "read" }, { type: "file", data: "JVBERi0=", mediaType: "application/pdf" }]
          }]
        }))
        assert.strictEqual(error._tag, "FatalError")
        assert.strictEqual((error as { reason?: string }).reason, "invalid_request")
        assert.include(error.message, "messages[0].content[1]")
        assert.include(error.message, "application/pdf")
        assert.lengthOf(yield* (yield* Ledger).events(), 0)
        assert.lengthOf(providers.calls, 0)
        // a request the fallback carries is served by it, as before
        assert.strictEqual(yield* generate({ prompt: "hi", model: "flash" }), "echo: hi")
      }).pipe(Effect.provide(makeTestLayer({ config, providers })))
    }))

  it.effect("regions match whatever their case (`CN` allows an endpoint of region `cn`)", () =>
    Effect.gen(function*() {
      const providers = makeMockProviders()
      yield* generate({ prompt: "hi", model: "qwen" }).pipe(
        Effect.provide(makeTestLayer({ config: { ...config, allowed_regions: ["CN"] }, providers }))
      )
      assert.deepStrictEqual(providers.calls.map((call) => call.endpoint), ["dashscope-cn"])
    }))
})
