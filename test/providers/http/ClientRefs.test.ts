/**
 * The HTTP client's fiber refs set once by the layer (`ClientRefs.ts`): under them a request of the
 * library goes without the client's span (native tracer) and with its secret headers redacted, a
 * caller's own request through the same client keeps its span, and a fiber the layer did not set up
 * gets the same outcome through the per-request form.
 */
import * as Headers from "@effect/platform/Headers"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientError from "@effect/platform/HttpClientError"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as FiberRef from "effect/FiberRef"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import type { ProviderConfig } from "../../../src/domain/Config.js"
import * as ClientRefs from "../../../src/providers/http/ClientRefs.js"
import * as Request from "../../../src/providers/http/Request.js"
import * as Response from "../../../src/providers/http/Response.js"
import * as Providers from "../../../src/services/Providers.js"

const context = { provider: "local", endpoint: "local-1" }

const prepared = () =>
  Request.jsonPost(
    {
      provider: "local",
      endpoint: { name: "local-1", baseUrl: "http://127.0.0.1:1", region: undefined },
      modelId: "m",
      apiKey: Redacted.make("sk-secret"),
      headers: [["X-Team", Redacted.make("t-9")]]
    },
    { url: "http://127.0.0.1:1/generate", body: {}, apiKeyHeader: { name: "x-api-token" }, accept: "json" }
  )

interface Seen {
  readonly url: string
  /** The span the client ran the request under: its own `http.client` span, or the caller's, or none. */
  readonly span: string | undefined
  readonly redacted: ReadonlyArray<string | RegExp>
}

/** A client answering 200 at once, recording the span and redacted names each request ran with. */
const recording = (seen: Array<Seen>) =>
  HttpClient.make((request) =>
    Effect.gen(function*() {
      const span = yield* Effect.option(Effect.currentSpan)
      seen.push({
        url: request.url,
        span: Option.getOrUndefined(Option.map(span, (s) => s.name)),
        redacted: yield* FiberRef.get(Headers.currentRedactedNames)
      })
      return HttpClientResponse.fromWeb(request, new globalThis.Response("ok", { status: 200 }))
    })
  )

const refused = () => {
  throw new Error("not classified")
}

describe("ClientRefs", () => {
  it.scoped("under the layer's refs the library's request has no client span and its secrets are redacted; the caller's own request keeps its span", () =>
    Effect.gen(function*() {
      yield* ClientRefs.install(["x-api-token", "x-team"])
      const seen: Array<Seen> = []
      const client = recording(seen)
      yield* Effect.scoped(Response.makeTransport(client).send(prepared(), context, refused))
      yield* Effect.scoped(client.execute(HttpClientRequest.get("http://127.0.0.1:1/mine")))
      assert.strictEqual(seen[0]!.url, "http://127.0.0.1:1/generate")
      assert.isUndefined(seen[0]!.span)
      assert.includeMembers([...seen[0]!.redacted], ["x-api-token", "x-team", "authorization"])
      assert.strictEqual(seen[1]!.url, "http://127.0.0.1:1/mine")
      assert.strictEqual(seen[1]!.span, "http.client GET")
    }))

  it.scoped("a predicate the caller installs after the layer still applies, and the library's request still goes untraced", () =>
    Effect.gen(function*() {
      yield* ClientRefs.install(["x-api-token"])
      const seen: Array<Seen> = []
      const client = recording(seen)
      const callersOwn = (request: HttpClientRequest.HttpClientRequest) => request.url.endsWith("/quiet")
      yield* Effect.locally(
        Effect.gen(function*() {
          yield* Effect.scoped(Response.makeTransport(client).send(prepared(), context, refused))
          yield* Effect.scoped(client.execute(HttpClientRequest.get("http://127.0.0.1:1/quiet")))
          yield* Effect.scoped(client.execute(HttpClientRequest.get("http://127.0.0.1:1/loud")))
        }),
        HttpClient.currentTracerDisabledWhen,
        callersOwn
      )
      assert.deepStrictEqual(seen.map((s) => [new URL(s.url).pathname, s.span]), [
        ["/generate", undefined],
        ["/quiet", undefined],
        ["/loud", "http.client GET"]
      ])
      // The per-request form ran for the library's request: its names were added for it.
      assert.include([...seen[0]!.redacted], "x-team")
    }))

  it.scoped("the install keeps the caller's redacted names and predicate, and adds each name once (and the request-id headers)", () =>
    Effect.gen(function*() {
      const callersOwn = (request: HttpClientRequest.HttpClientRequest) => request.url.endsWith("/quiet")
      yield* Effect.locallyScoped(Headers.currentRedactedNames, ["x-mine", "x-api-token"])
      yield* Effect.locallyScoped(HttpClient.currentTracerDisabledWhen, callersOwn)
      yield* ClientRefs.install(["x-api-token", "x-team"])
      assert.deepStrictEqual(
        yield* FiberRef.get(Headers.currentRedactedNames),
        ["x-mine", "x-api-token", "x-team", "x-request-id", "request-id"]
      )
      const predicate = yield* FiberRef.get(HttpClient.currentTracerDisabledWhen)
      assert.isTrue(predicate(HttpClientRequest.get("http://127.0.0.1:1/quiet")))
      assert.isFalse(predicate(HttpClientRequest.get("http://127.0.0.1:1/loud")))
    }))

  it.effect("without the layer's refs the library's request runs with them set around it, restored after a failure as after a success", () =>
    Effect.gen(function*() {
      const seen: Array<Seen> = []
      const client = recording(seen)
      const failing = HttpClient.make((request) =>
        Effect.zipRight(
          Effect.sync(() => seen.push({ url: request.url, span: undefined, redacted: [] })),
          Effect.fail(new HttpClientError.RequestError({ request, reason: "Transport", cause: new Error("reset") }))
        )
      )
      const before = yield* FiberRef.get(HttpClient.currentTracerDisabledWhen)
      yield* Effect.scoped(Response.makeTransport(client).send(prepared(), context, refused))
      assert.isUndefined(seen[0]!.span)
      assert.includeMembers([...seen[0]!.redacted], ["x-api-token", "x-team"])
      const error = yield* Effect.flip(
        Effect.scoped(Response.makeTransport(failing).send(prepared(), context, refused))
      )
      assert.strictEqual(error._tag, "RetryableError")
      assert.notInclude(yield* FiberRef.get(Headers.currentRedactedNames), "x-api-token")
      assert.strictEqual(yield* FiberRef.get(HttpClient.currentTracerDisabledWhen), before)
      // The caller's own request after them still gets its span.
      yield* Effect.scoped(client.execute(HttpClientRequest.get("http://127.0.0.1:1/mine")))
      assert.strictEqual(seen.at(-1)!.span, "http.client GET")
    }))

  it("a provider config's secret headers: each protocol's key header and every extra header, lower-cased, once", () => {
    const entry = (name: string, protocol: ProviderConfig["protocol"], headers: Array<string>): ProviderConfig => ({
      name,
      protocol,
      apiKey: { _tag: "None" },
      headers: headers.map((header) => [header, Redacted.make("v")] as const),
      endpoints: []
    })
    assert.deepStrictEqual(
      Providers.secretHeaderNames({
        google: entry("google", "gemini", ["X-Gateway-Token"]),
        deepseek: entry("deepseek", "openai", []),
        router: entry("router", "openai", ["X-Title", "x-gateway-token"]),
        anthropic: entry("anthropic", "anthropic", []),
        dashscope: entry("dashscope", "dashscope", [])
      }),
      ["x-goog-api-key", "x-gateway-token", "authorization", "x-title", "x-api-key"]
    )
  })
})
