/**
 * A 3xx is an answer, never followed: `x-goog-api-key`, `x-api-key` and `headers` values would go to
 * wherever it points. Node's pool follows none; `fetch` follows by default, so `makeLiveLayer`
 * gives a client it is handed `FetchHttpClient.RequestInit` `{ redirect: "manual" }`.
 */
import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Stream from "effect/Stream"
import { generate, makeLiveLayer, stream } from "../../src/index.js"
import { failureOf } from "../support/Exits.js"
import * as Loopback from "../support/LoopbackServer.js"

const protocols = ["gemini", "openai", "anthropic", "dashscope"] as const

const configFor = (protocol: (typeof protocols)[number], baseUrl: string) => ({
  default_model: "m",
  providers: {
    p: {
      protocol,
      api_key: "sk-redirect-secret-0123456789",
      headers: { "x-tenant": "tenant-secret-abcdef" },
      endpoints: [{ name: "e", base_url: baseUrl, ...(protocol === "dashscope" ? { region: "sg" } : {}) }]
    }
  },
  models: { m: { provider: "p", model_id: "some-model" } },
  resilience: { max_retries: 0 },
  ledger: { backend: "memory" }
})

const clients = [
  ["Node's pool", undefined],
  ["fetch", FetchHttpClient.layer]
] as const

describe("a 3xx answer", () => {
  for (const [clientName, httpClient] of clients) {
    for (const protocol of protocols) {
      it.scoped(`${protocol} over ${clientName}: a FatalError invalid_request with its status, nothing sent to its Location`, () =>
        Effect.gen(function*() {
          const elsewhere = yield* Loopback.make
          const server = yield* Loopback.make
          for (const status of [301, 302, 303, 307, 308]) {
            server.setDefault(() => ({ status, headers: { location: `${elsewhere.url}/stolen` }, body: "" }))
            const layer = makeLiveLayer({
              userConfig: false,
              config: configFor(protocol, server.url),
              ...(httpClient === undefined ? {} : { httpClient })
            })
            for (const call of [generate({ prompt: "hi" }), Stream.runDrain(stream({ prompt: "hi" }))]) {
              const error = failureOf(yield* Effect.exit(Effect.provide(call, layer)))
              assert.strictEqual(error._tag, "FatalError", `${status}`)
              assert.strictEqual(error._tag === "FatalError" ? error.reason : "", "invalid_request", `${status}`)
              assert.strictEqual(error._tag === "FatalError" ? error.status : 0, status)
              assert.include(
                error.message,
                `(a redirect to ${elsewhere.url}/stolen, not followed: check the endpoint's base_url)`
              )
            }
          }
          assert.strictEqual(server.requests.length, 10)
          assert.deepStrictEqual(elsewhere.requests, [])
        }))
    }
  }

  it.scoped("fetch options the client's own layer provides are kept (nearer wins): a user who asks to follow, follows", () =>
    Effect.gen(function*() {
      const elsewhere = yield* Loopback.make
      const server = yield* Loopback.make
      server.setDefault(() => ({ status: 302, headers: { location: `${elsewhere.url}/next` }, body: "" }))
      elsewhere.setDefault(() => ({ status: 404, headers: { "content-type": "application/json" }, body: "{}" }))
      const following = FetchHttpClient.layer.pipe(
        Layer.provide(Layer.succeed(FetchHttpClient.RequestInit, { redirect: "follow" }))
      )
      const layer = makeLiveLayer({ userConfig: false, config: configFor("openai", server.url), httpClient: following })
      yield* Effect.exit(Effect.provide(generate({ prompt: "hi" }), layer))
      assert.strictEqual(elsewhere.requests.length, 1)
    }))
})
