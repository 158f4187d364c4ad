import { assert, describe, it } from "@effect/vitest"
import type { EndpointConfig, ModelConfig } from "../../src/domain/Config.js"
import { attemptOrder, type Candidate, type Routing } from "../../src/services/Router.js"

const model = (alias: string): ModelConfig => ({
  alias,
  provider: "p",
  protocol: "gemini",
  modelId: alias,
  pricing: undefined,
  fallbacks: []
})

const candidate = (alias: string, name: string): Candidate => ({
  model: model(alias),
  endpoint: { name, baseUrl: "http://127.0.0.1:9", region: undefined } satisfies EndpointConfig
})

const routing: Routing = {
  model: model("m"),
  own: [candidate("m", "a"), candidate("m", "b"), candidate("m", "c")],
  fallbacks: [candidate("f", "x"), candidate("f", "y")]
}

const names = (list: ReadonlyArray<Candidate>) => list.map((c) => c.endpoint.name).join(",")

describe("Router.attemptOrder (API.md §7, §14)", () => {
  it("the first attempt tries the model's endpoints in config order, then the fallbacks", () => {
    assert.strictEqual(names(attemptOrder(routing, undefined)), "a,b,c,x,y")
  })

  it("after a retryable failure the next endpoint after the failed one comes first, wrapping around", () => {
    assert.strictEqual(names(attemptOrder(routing, { endpoint: "a", stay: false })), "b,c,a,x,y")
    assert.strictEqual(names(attemptOrder(routing, { endpoint: "c", stay: false })), "a,b,c,x,y")
  })

  it("a one-endpoint model retries the same endpoint", () => {
    const single: Routing = { model: model("m"), own: [candidate("m", "a")], fallbacks: [] }
    assert.strictEqual(names(attemptOrder(single, { endpoint: "a", stay: false })), "a")
  })

  it("after a 429 the next attempt stays on the same endpoint (and fails over after it if its breaker refuses)", () => {
    assert.strictEqual(names(attemptOrder(routing, { endpoint: "b", stay: true })), "b,c,a,x,y")
  })

  it("after a failure on a fallback the model's own endpoints come first, then that fallback's next endpoint", () => {
    assert.strictEqual(names(attemptOrder(routing, { endpoint: "x", stay: false })), "a,b,c,y,x")
  })

  it("a fallback alias fails over among its own endpoints before the next fallback alias is tried", () => {
    const two: Routing = {
      ...routing,
      fallbacks: [candidate("f", "x"), candidate("f", "y"), candidate("g", "z")]
    }
    // y is f's last endpoint: the next attempt wraps to f's x, not on to g's z (API.md §7 "in order", §14)
    assert.strictEqual(names(attemptOrder(two, { endpoint: "y", stay: false })), "a,b,c,x,y,z")
    assert.strictEqual(names(attemptOrder(two, { endpoint: "x", stay: false })), "a,b,c,y,x,z")
    assert.strictEqual(names(attemptOrder(two, { endpoint: "z", stay: false })), "a,b,c,x,y,z")
    const single: Routing = { ...routing, fallbacks: [candidate("f", "x"), candidate("g", "z")] }
    assert.strictEqual(names(attemptOrder(single, { endpoint: "x", stay: false })), "a,b,c,x,z")
  })
})
