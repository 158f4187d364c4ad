/**
 * Models that always think (QwQ, QVQ, `-thinking` releases) refuse a non-streaming call (WIRE.md §2.2:
 * 400 "parameter.enable_thinking must be set to false for non-streaming calls"): their unary calls go
 * out as streams and the answer is assembled from the parts.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Logger from "effect/Logger"
import * as Stream from "effect/Stream"
import { generate, Ledger, makeLiveLayer, stream } from "../../../src/index.js"
import type { ProviderTarget } from "../../../src/providers/Provider.js"
import * as Loopback from "../../support/LoopbackServer.js"
import {
  collect,
  expectError,
  failureOf,
  fixture,
  minimalRequest,
  plainUsage,
  targetOf,
  withServer
} from "./Harness.js"

const sse = { "content-type": "text/event-stream;charset=UTF-8" }
const thinking = (server: Loopback.LoopbackServer, modelId: string): ProviderTarget => ({
  ...targetOf(server),
  modelId
})

describe("DashScope models that answer only as a stream", () => {
  it.scoped("a unary call to qwq-plus is sent as a stream and answers what the stream said", () =>
    withServer((server, client) =>
      Effect.gen(function*() {
        const recorded = Loopback.replay(
          "cnblogs-dashscope-sdk/single-generation-message-reasoning-sse.response.body.txt",
          {
            headers: sse
          }
        )
        server.enqueue(recorded)
        server.enqueue(recorded)
        const answer = yield* client.generate(thinking(server, "qwq-plus"), minimalRequest)
        const streamed = yield* collect(yield* client.stream(thinking(server, "qwq-plus"), minimalRequest))

        const sent = server.requests[0]!
        assert.strictEqual(sent.headers["x-dashscope-sse"], "enable")
        assert.strictEqual(sent.headers["accept"], "text/event-stream")
        assert.strictEqual((sent.json as any).parameters.incremental_output, true)
        assert.strictEqual((sent.json as any).model, "qwq-plus")

        assert.isTrue(streamed.text.length > 0 && streamed.reasoning.length > 0)
        assert.strictEqual(answer.content, streamed.text)
        assert.strictEqual(answer.reasoning, streamed.reasoning)
        assert.deepStrictEqual(plainUsage(answer.usage), plainUsage(streamed.usages.at(-1)))
        assert.strictEqual(answer.usage?.reasoningTokens, streamed.usages.at(-1)?.reasoningTokens)
        assert.strictEqual(answer.finishReason, "stop")
        assert.strictEqual(answer.requestId, "ab9f3446-9bbf-963e-9754-2d6543343d7e")
        assert.isUndefined(answer.parts)
      })
    ))

  it.scoped("the open-weight Qwen3 hybrids (thinking by default) go as streams too; their -instruct releases do not", () =>
    withServer((server, client) =>
      Effect.gen(function*() {
        const recorded = Loopback.replay(
          "cnblogs-dashscope-sdk/single-generation-message-reasoning-sse.response.body.txt",
          { headers: sse }
        )
        for (const modelId of ["qwen3-32b", "qwen3-235b-a22b", "Qwen3-0.6B"]) {
          server.enqueue(recorded)
          const answer = yield* client.generate(thinking(server, modelId), minimalRequest)
          assert.strictEqual(server.requests.at(-1)!.headers["x-dashscope-sse"], "enable", modelId)
          assert.isTrue(answer.content.length > 0 && (answer.reasoning ?? "").length > 0, modelId)
        }
        server.enqueue(
          Loopback.replay("cnblogs-dashscope-sdk/single-generation-message-reasoning-nosse.response.body.txt", {
            headers: { "content-type": "application/json" }
          })
        )
        yield* client.generate(thinking(server, "qwen3-235b-a22b-instruct-2507"), minimalRequest)
        assert.isUndefined(server.requests.at(-1)!.headers["x-dashscope-sse"])
      })
    ))

  it.scoped("other models keep the unary request", () =>
    withServer((server, client) =>
      Effect.gen(function*() {
        server.enqueue(
          Loopback.replay("cnblogs-dashscope-sdk/single-generation-message-reasoning-nosse.response.body.txt", {
            headers: { "content-type": "application/json" }
          })
        )
        const answer = yield* client.generate(thinking(server, "qwen-plus"), minimalRequest)
        assert.isUndefined(server.requests[0]!.headers["x-dashscope-sse"])
        assert.isUndefined((server.requests[0]!.json as any).parameters.incremental_output)
        assert.match(answer.reasoning ?? "", /^我们被问到/)
        assert.strictEqual(answer.finishReason, "length")
      })
    ))

  it.scoped("a unary request answered with events (a proxy's doing) stays bad_response: without incremental_output each holds the whole text so far", () =>
    withServer((server, client) =>
      Effect.gen(function*() {
        server.enqueue(
          Loopback.replay("cnblogs-dashscope-sdk/single-generation-message-reasoning-sse.response.body.txt", {
            headers: sse
          })
        )
        const exit = yield* Effect.exit(client.generate(thinking(server, "qwen-plus"), minimalRequest))
        expectError(failureOf(exit), "FatalError", "bad_response", 200)
      })
    ))

  it.scoped("tool calls streamed to a -thinking model come back as the answer's ordered parts", () =>
    withServer((server, client) =>
      Effect.gen(function*() {
        const name = "single-generation-message-with-parallel-tools-sse"
        const recorded = Loopback.replay(`cnblogs-dashscope-sdk-tools/${name}.response.body.txt`, { headers: sse })
        server.enqueue(recorded)
        server.enqueue(recorded)
        const target = thinking(server, "qwen3-235b-a22b-thinking-2507")
        const answer = yield* client.generate(target, minimalRequest)
        const streamed = yield* collect(yield* client.stream(target, minimalRequest))
        const calls = streamed.parts.flatMap((part) => part._tag === "ToolCall" ? [part.call] : [])
        assert.isTrue(calls.length >= 2)
        const answered = (answer.parts ?? []).filter((part) => part.type === "tool-call")
        assert.deepStrictEqual(
          answered.map((part) => part.type === "tool-call" ? [part.name, part.params] : []),
          calls.map((call) => [call.name, call.params])
        )
        assert.deepStrictEqual([answer.finishReason], streamed.finish)
      })
    ))

  it.scoped("a stream cut before its finish is stream_interrupted, not a short answer", () =>
    withServer((server, client) =>
      Effect.gen(function*() {
        const body = fixture("single-generation-message-reasoning-sse.response.body.txt")
        server.enqueue({ headers: sse, body: body.slice(0, body.indexOf("id:6")), end: "destroy" })
        const exit = yield* Effect.exit(client.generate(thinking(server, "qwq-plus"), minimalRequest))
        assert.isTrue(Exit.isFailure(exit))
        expectError(failureOf(exit), "RetryableError", "stream_interrupted")
      })
    ))

  it.scoped("an error the stream sends is the call's typed error", () =>
    withServer((server, client) =>
      Effect.gen(function*() {
        server.enqueue({
          headers: sse,
          body: "id:1\nevent:error\n:HTTP_STATUS/400\n" +
            "data:{\"code\":\"DataInspectionFailed\",\"message\":\"Output data may contain inappropriate content.\"," +
            "\"request_id\":\"r-1\"}\n\n"
        })
        const exit = yield* Effect.exit(client.generate(thinking(server, "qvq-max"), minimalRequest))
        const error = failureOf(exit)
        assert.strictEqual(error._tag, "FatalError")
        assert.match(error.message, /inappropriate content/)
      })
    ))

  it.scoped("a refusal status is classified as for a unary call", () =>
    withServer((server, client) =>
      Effect.gen(function*() {
        server.enqueue({
          status: 429,
          headers: { "content-type": "application/json" },
          body: JSON.stringify({
            code: "Throttling.RateQuota",
            message: "Requests rate limit exceeded",
            request_id: "r-2"
          })
        })
        const exit = yield* Effect.exit(client.generate(thinking(server, "qwq-plus"), minimalRequest))
        expectError(failureOf(exit), "RateLimitError", "rate_limited", 429)
      })
    ))

  const layerFor = (url: string, requestTimeoutS: number) =>
    makeLiveLayer({
      config: {
        default_model: "qwq",
        providers: { dashscope: { api_key: "streams-only-key", endpoints: [{ name: "loop-ds", base_url: url }] } },
        models: { qwq: { provider: "dashscope", model_id: "qwq-plus" } },
        resilience: { max_retries: 0, request_timeout_s: requestTimeoutS },
        ledger: { backend: "memory" }
      },
      userConfig: false
    })

  it.scoped("through generate: the answer, and the ledger commits the stream's usage", () =>
    Effect.gen(function*() {
      const server = yield* Loopback.make
      server.enqueue(
        Loopback.replay("cnblogs-dashscope-sdk/single-generation-message-reasoning-sse.response.body.txt", {
          headers: sse
        })
      )
      const { events, response } = yield* Effect.gen(function*() {
        const response = yield* generate({ prompt: "请问 1+1 是多少？", traceId: "qwq-1", fullResponse: true })
        return { response, events: yield* Effect.flatMap(Ledger, (ledger) => ledger.events({ traceId: "qwq-1" })) }
      }).pipe(Effect.provide(layerFor(server.url, 30)))
      assert.strictEqual(server.requests[0]!.headers["x-dashscope-sse"], "enable")
      assert.isTrue(response.content.length > 0 && (response.reasoning ?? "").length > 0)
      assert.strictEqual(response.model, "qwq-plus")
      const commit = events.find((event) => event.type === "commit")
      assert.strictEqual(commit?.status, "ok")
      assert.deepStrictEqual(
        [commit?.usage?.inputTokens, commit?.usage?.outputTokens],
        [response.usage.inputTokens, response.usage.outputTokens]
      )
      assert.isTrue(response.usage.outputTokens > 0)
    }))

  /**
   * A `generate` whose streamed answer stops after its first events (the body then hangs or is reset):
   * the call's error and its ledger rows.
   */
  const stopsHalfWay = (end: "hang" | "destroy", requestTimeoutS: number, traceId: string) =>
    Effect.gen(function*() {
      const server = yield* Loopback.make
      const body = fixture("single-generation-message-reasoning-sse.response.body.txt")
      server.enqueue({ headers: sse, body: [body.slice(0, body.indexOf("id:3"))], end })
      return yield* Effect.gen(function*() {
        const error = yield* Effect.flip(generate({ prompt: "x", traceId }))
        return { error, events: yield* Effect.flatMap(Ledger, (ledger) => ledger.events({ traceId })), server }
      }).pipe(Effect.provide(layerFor(server.url, requestTimeoutS)))
    })

  it.scopedLive("a stream that stops half-way times out at request_timeout_s (live clock: its request is aborted)", () =>
    Effect.gen(function*() {
      const { error, events, server } = yield* stopsHalfWay("hang", 0.1, "qwq-2")
      assert.strictEqual(error._tag, "RetryableError")
      assert.strictEqual((error as { reason?: string }).reason, "timeout")
      yield* Effect.promise(() => server.requests[0]!.socketClosed)
      assert.deepStrictEqual(events.map((event) => [event.type, event.status]), [["hold", "ok"], ["cancel", "error"]])
      // priced by what the service reported before it stopped (it billed those tokens), not at $0
      const usage = events[1]!.usage
      assert.deepStrictEqual([usage?.inputTokens, usage?.outputTokens], [16, 3])
    }))

  it.scoped("a warning the assembled stream carries is logged scrubbed of the key, as the stream's is (API.md §14)", () =>
    Effect.gen(function*() {
      const server = yield* Loopback.make
      const frame = (id: number, message: unknown, finish: string) =>
        `id:${id}\nevent:result\n:HTTP_STATUS/200\ndata:${
          JSON.stringify({
            output: { choices: [{ message, finish_reason: finish }] },
            usage: { input_tokens: 3, output_tokens: 2, total_tokens: 5 },
            request_id: "r1"
          })
        }\n\n`
      // the server puts the key it was sent in a tool call the output limit then cuts
      server.setDefault((request) => ({
        headers: sse,
        body: [
          frame(1, {
            role: "assistant",
            content: "",
            tool_calls: [{
              index: 0,
              id: `call for ${String(request.headers.authorization).replace("Bearer ", "")}`,
              type: "function",
              function: { name: "lookup", arguments: "{\"q\": \"abc" }
            }]
          }, "null"),
          frame(2, { role: "assistant", content: "" }, "length")
        ]
      }))
      const logged: Array<string> = []
      const logger = Logger.make(({ message }) => void logged.push(String(message)))
      yield* Effect.gen(function*() {
        yield* generate({ prompt: "hi" })
        yield* Stream.runDrain(stream({ prompt: "hi" }))
      }).pipe(Effect.provide(layerFor(server.url, 30)), Effect.provide(Logger.replace(Logger.defaultLogger, logger)))
      const warnings = logged.filter((line) => line.includes("the output limit cut tool call"))
      assert.strictEqual(warnings.length, 2, "one from generate, one from stream")
      for (const line of warnings) {
        assert.notInclude(line, "streams-only-key")
        assert.include(line, "call for <redacted>")
      }
    }))

  it.scoped("a stream cut half-way is stream_interrupted, its cancel priced by the last usage it reported", () =>
    Effect.gen(function*() {
      const { error, events } = yield* stopsHalfWay("destroy", 30, "qwq-3")
      assert.deepStrictEqual([error._tag, (error as { reason?: string }).reason], [
        "RetryableError",
        "stream_interrupted"
      ])
      const cancel = events.find((event) => event.type === "cancel")
      assert.deepStrictEqual([cancel?.usage?.inputTokens, cancel?.usage?.outputTokens], [16, 3])
    }))
})
