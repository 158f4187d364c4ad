import { assert, describe, it } from "@effect/vitest"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import type { LLMError } from "../../../src/domain/Errors.js"
import * as Response from "../../../src/providers/dashscope/Response.js"
import * as DashScopeStream from "../../../src/providers/dashscope/Stream.js"
import type { StreamPart } from "../../../src/providers/Provider.js"
import * as Loopback from "../../support/LoopbackServer.js"
import {
  collect,
  context,
  expectError,
  failureOf,
  fixture,
  fixtureName,
  minimalRequest,
  partsOf,
  plainUsage,
  replay,
  targetOf,
  usage,
  withServer
} from "./Harness.js"

const expectedMessageText =
  "1+1 等于 2。这是最基本的数学加法之一，在十进制计数体系中，任何情况下 1 加上另一个 1 的结果都是 2。"
const sse = { "content-type": "text/event-stream;charset=UTF-8" }

/** Reads a stream up to its first text delta and stops. */
const untilFirstDelta = (stream: Stream.Stream<StreamPart, LLMError>) =>
  Stream.runCollect(Stream.takeUntil(stream, (part) => part._tag === "TextDelta")).pipe(
    Effect.map((parts) => partsOf([...parts], "TextDelta").map((part) => part.text))
  )

describe("DashScope streams", () => {
  it.scoped("replays the text-format stream: deltas, cumulative usage, finish stop", () =>
    withServer((server, client) =>
      Effect.gen(function*() {
        server.enqueue(replay("single-generation-text-sse"))
        const { deltas, exit, finish, parts, text, usages } = yield* collect(
          yield* client.stream(targetOf(server), minimalRequest)
        )
        assert.isTrue(Exit.isSuccess(exit))
        // The last event carries no new text: its (empty) delta is no part.
        assert.deepStrictEqual(deltas, ["1+", "1", "等于", "2。"])
        assert.strictEqual(text, "1+1等于2。")
        assert.deepStrictEqual(usages.map((u) => u.outputTokens), [2, 3, 4, 6, 6])
        assert.deepStrictEqual(plainUsage(usages.at(-1)), usage(16, 6, 22))
        assert.deepStrictEqual(finish, ["stop"])
        assert.strictEqual(parts.at(-1)!._tag, "Finish")
        assert.deepStrictEqual(partsOf(parts, "Metadata"), [
          { _tag: "Metadata", requestId: "5b441aa7-0b9c-9fbc-ae0a-e2b212b71eac", modelVersion: undefined }
        ])
        assert.strictEqual(parts[0]!._tag, "Metadata")
      })
    ))

  it.scoped("replays the message-format stream without blank lines between events", () =>
    withServer((server, client) =>
      Effect.gen(function*() {
        server.enqueue(replay("single-generation-message-sse"))
        const { exit, finish, parts, text, usages } = yield* collect(
          yield* client.stream(targetOf(server), minimalRequest)
        )
        assert.isTrue(Exit.isSuccess(exit))
        // Ten events (one usage snapshot each); the finish signal once, last.
        assert.strictEqual(usages.length, 10)
        assert.strictEqual(text, expectedMessageText)
        assert.deepStrictEqual(plainUsage(usages.at(-1)), usage(8, 40, 48))
        assert.deepStrictEqual(finish, ["stop"])
        assert.strictEqual(parts.at(-1)!._tag, "Finish")
      })
    ))

  it.scoped("replays a thinking stream, read byte by byte: reasoning_content as reasoning deltas, apart from the text", () =>
    withServer((server, client) =>
      Effect.gen(function*() {
        server.enqueue(replay("single-generation-message-reasoning-sse", { chunkSizes: [1, 7, 300] }, {
          status: 200,
          headers: { "content-type": "text/event-stream;charset=UTF-8" }
        }))
        const { exit, finish, parts, reasoning, text, usages } = yield* collect(
          yield* client.stream(targetOf(server), minimalRequest)
        )
        assert.isTrue(Exit.isSuccess(exit))
        assert.strictEqual(
          text,
          "1+1 等于 **2**。这是数学中最基本的加法运算之一。\n\n如果你有其他关于数学、科学或任何领域的问题，欢迎继续提问！😊"
        )
        assert.isTrue(reasoning.startsWith("嗯，用户问的是“1+1是多少"), reasoning)
        assert.notInclude(text, "用户")
        // Reasoning comes first.
        assert.isBelow(
          parts.findIndex((part) => part._tag === "ReasoningDelta"),
          parts.findIndex((part) => part._tag === "TextDelta")
        )
        assert.deepStrictEqual(plainUsage(usages.at(-1)), usage(16, 53, 69))
        assert.strictEqual(usages.at(-1)!.reasoningTokens, 10)
        assert.deepStrictEqual(finish, ["stop"])
      })
    ))

  it.scoped("LF, CRLF and CR framings decode to the same parts", () =>
    withServer((server, client) =>
      Effect.gen(function*() {
        const lf = fixture("single-generation-text-sse.response.body.txt")
        const bodies = [lf, lf.replace(/\n/g, "\r\n"), lf.replace(/\n/g, "\r")]
        for (const body of bodies) {
          server.enqueue(Loopback.replay(new TextEncoder().encode(body), { chunkSizes: [3, 1, 64] }))
        }
        const results = []
        for (const _ of bodies) results.push(yield* collect(yield* client.stream(targetOf(server), minimalRequest)))
        for (const result of results) {
          assert.isTrue(Exit.isSuccess(result.exit))
          assert.strictEqual(result.text, "1+1等于2。")
          assert.deepStrictEqual(result.parts, results[0]!.parts)
        }
      })
    ))

  it.scoped("an HTTP 200 stream whose first event is event:error fails with the classified error", () =>
    withServer((server, client) =>
      Effect.gen(function*() {
        server.enqueue(replay("parameter-error-sse"))
        const { exit, parts } = yield* collect(yield* client.stream(targetOf(server), minimalRequest))
        assert.strictEqual(parts.length, 0)
        const error = failureOf(exit)
        expectError(error, "FatalError", "invalid_request", 400)
        assert.match(error.message, /Role must be user or assistant/)
      })
    ))

  it.scoped("an event:error after two result events fails after their two deltas", () =>
    withServer((server, client) =>
      Effect.gen(function*() {
        const events = fixture("single-generation-text-sse.response.body.txt").split("\n\n").slice(0, 2).join("\n\n")
        const error =
          `id:3\nevent:error\n:HTTP_STATUS/429\ndata:{"code":"Throttling.AllocationQuota","message":"Free allocated quota exceeded.","request_id":"x"}\n\n`
        server.enqueue({ headers: sse, body: `${events}\n\n${error}` })
        const { deltas, exit, finish } = yield* collect(yield* client.stream(targetOf(server), minimalRequest))
        assert.deepStrictEqual(deltas, ["1+", "1"])
        assert.deepStrictEqual(finish, [])
        expectError(failureOf(exit), "RateLimitError", "quota_exhausted", 429)
        assert.match(
          failureOf(exit).message,
          /sent an error event mid-stream \(status 429\): Throttling\.AllocationQuota: Free allocated quota exceeded\./
        )
      })
    ))

  it.scoped("a body that ends while finish_reason is still \"null\" is stream_interrupted", () =>
    withServer((server, client) =>
      Effect.gen(function*() {
        const events = fixture("single-generation-text-sse.response.body.txt").split("\n\n").slice(0, 4).join("\n\n")
        server.enqueue({ headers: { "content-type": "text/event-stream" }, body: `${events}\n\n` })
        const { exit, finish, usages } = yield* collect(yield* client.stream(targetOf(server), minimalRequest))
        assert.strictEqual(usages.length, 4)
        assert.deepStrictEqual(finish, [])
        expectError(failureOf(exit), "RetryableError", "stream_interrupted")
      })
    ))

  it.scoped("events after the finish (a proxy's replay of the last one, later text) are no part of the answer", () =>
    withServer((server, client) =>
      Effect.gen(function*() {
        const events = fixture("single-generation-text-sse.response.body.txt").trim().split("\n\n")
        const late =
          `id:7\nevent:result\n:HTTP_STATUS/200\ndata:{"output":{"finish_reason":"null","text":"EXTRA"},"usage":{"total_tokens":23,"input_tokens":16,"output_tokens":1},"request_id":"5b441aa7-0b9c-9fbc-ae0a-e2b212b71eac"}`
        server.enqueue({ headers: sse, body: `${[...events, events.at(-1)!, late].join("\n\n")}\n\n` })
        const { exit, finish, text, usages } = yield* collect(yield* client.stream(targetOf(server), minimalRequest))
        assert.isTrue(Exit.isSuccess(exit))
        assert.strictEqual(text, "1+1等于2。")
        assert.deepStrictEqual(plainUsage(usages.at(-1)), usage(16, 6, 22))
        assert.deepStrictEqual(finish, ["stop"])
      })
    ))

  it.scoped("a socket cut mid-body is stream_interrupted", () =>
    withServer((server, client) =>
      Effect.gen(function*() {
        const bytes = Loopback.readFixture(fixtureName("single-generation-text-sse.response.body.txt"))
        server.enqueue({
          headers: { "content-type": "text/event-stream" },
          body: [bytes.subarray(0, 400)],
          end: "destroy"
        })
        const { deltas, exit } = yield* collect(yield* client.stream(targetOf(server), minimalRequest))
        assert.isAtLeast(deltas.length, 1)
        expectError(failureOf(exit), "RetryableError", "stream_interrupted")
      })
    ))

  it.scoped("a body that ends cleanly in the middle of an event is stream_interrupted, at every cut inside the data line", () =>
    withServer((server, client) =>
      Effect.gen(function*() {
        const body = fixture("single-generation-text-sse.response.body.txt")
        const dataStart = body.indexOf("data:")
        const dataEnd = body.indexOf("\n", dataStart)
        // Every cut point inside the first event's `data:` line (and right after its colon), ended cleanly.
        const cuts = [dataStart + 5, dataStart + 6, dataStart + 40, dataEnd - 1]
        for (const cut of cuts) {
          server.enqueue({ headers: { "content-type": "text/event-stream" }, body: body.slice(0, cut) })
        }
        for (const cut of cuts) {
          const { exit, parts } = yield* collect(yield* client.stream(targetOf(server), minimalRequest))
          assert.strictEqual(parts.length, 0, `cut at ${cut}`)
          expectError(failureOf(exit), "RetryableError", "stream_interrupted")
        }
      })
    ))

  it.effect("a body that ends cleanly at any byte before its end is stream_interrupted, never a bad response or a success", () =>
    Effect.gen(function*() {
      const bytes = Loopback.readFixture(fixtureName("single-generation-text-sse.response.body.txt"))
      const last = bytes.lastIndexOf("}".charCodeAt(0)) + 1
      for (let cut = 1; cut < bytes.length; cut++) {
        const exit = yield* DashScopeStream.decode(Stream.make(bytes.subarray(0, cut)), context).pipe(
          Stream.runDrain,
          Effect.exit
        )
        if (Exit.isSuccess(exit)) assert.isAtLeast(cut, last, `cut at ${cut} succeeded`)
        else expectError(failureOf(exit), "RetryableError", "stream_interrupted")
      }
    }))

  it.scoped("DataInspectionFailed after text ends the stream with finish filter; before any text it is a content_filter error", () =>
    withServer((server, client) =>
      Effect.gen(function*() {
        const events = fixture("single-generation-text-sse.response.body.txt").split("\n\n").slice(0, 2).join("\n\n")
        const moderation =
          `id:3\nevent:error\n:HTTP_STATUS/400\ndata:{"code":"DataInspectionFailed","message":"Output data may contain inappropriate content.","request_id":"x"}\n\n`
        server.enqueue({ headers: sse, body: `${events}\n\n${moderation}` }, { headers: sse, body: moderation })
        const cut = yield* collect(yield* client.stream(targetOf(server), minimalRequest))
        assert.isTrue(Exit.isSuccess(cut.exit))
        assert.strictEqual(cut.text, "1+1")
        assert.deepStrictEqual(cut.finish, ["filter"])
        assert.strictEqual(cut.parts.at(-1)!._tag, "Finish")
        assert.deepStrictEqual(plainUsage(cut.usages[1]), usage(16, 3, 19))
        const before = yield* collect(yield* client.stream(targetOf(server), minimalRequest))
        assert.strictEqual(before.parts.length, 0)
        expectError(failureOf(before.exit), "FatalError", "content_filter", 400)
      })
    ))

  it.scoped("an HTTP 200 stream whose body is a plain JSON error (no SSE framing) is classified by its code", () =>
    withServer((server, client) =>
      Effect.gen(function*() {
        server.enqueue({
          headers: sse,
          body:
            `{"code":"Throttling.RateQuota","message":"Requests rate limit exceeded, please try again later.","request_id":"r-1"}`
        })
        const { exit, parts } = yield* collect(yield* client.stream(targetOf(server), minimalRequest))
        assert.strictEqual(parts.length, 0)
        const error = failureOf(exit)
        expectError(error, "RateLimitError", "rate_limited")
        assert.match(error.message, /Throttling\.RateQuota/)
      })
    ))

  it.scoped("an HTTP 200 stream whose body is a plain JSON generation (no SSE framing) is read as one event", () =>
    withServer((server, client) =>
      Effect.gen(function*() {
        server.enqueue({ headers: sse, body: fixture("single-generation-message-nosse.response.body.txt") })
        const { exit, finish, text, usages } = yield* collect(yield* client.stream(targetOf(server), minimalRequest))
        assert.isTrue(Exit.isSuccess(exit))
        assert.isTrue(text.startsWith("1+1 等于 2。"))
        assert.deepStrictEqual(plainUsage(usages.at(-1)), usage(8, 39, 47))
        assert.deepStrictEqual(finish, ["stop"])
      })
    ))

  it.scoped("a 200 stream that cannot be decoded is a bad_response, never stream_interrupted (API.md §14); an empty one is a cut", () =>
    withServer((server, client) =>
      Effect.gen(function*() {
        const first = fixture("single-generation-text-sse.response.body.txt").split("\n\n")[0]!
        const bodies = [
          // Not SSE, not JSON: a gateway page under a 200.
          "<html><body>upstream error</body></html>",
          "<html>\n<body>upstream error</body>\n</html>\n",
          // An event whose data is not JSON, terminated or ended by the end of the body.
          `${first}\n\nid:2\nevent:result\n:HTTP_STATUS/200\ndata:<html>busy</html>\n\n`,
          `id:1\nevent:result\n:HTTP_STATUS/200\ndata:{not json`,
          // JSON of a generation's fields with the wrong types.
          `id:1\nevent:result\n:HTTP_STATUS/200\ndata:{"output":{"choices":[{"message":{"content":7}}]}}\n\n`,
          `id:1\nevent:result\n:HTTP_STATUS/200\ndata:{"output":{"text":"hi"},"usage":{"output_tokens":"3"}}\n\n`,
          // JSON that is neither a generation nor an error.
          `id:1\nevent:result\n:HTTP_STATUS/200\ndata:{"status":"ok"}\n\n`
        ]
        for (const body of bodies) server.enqueue({ headers: sse, body })
        for (const body of bodies) {
          const { exit } = yield* collect(yield* client.stream(targetOf(server), minimalRequest))
          const error = failureOf(exit)
          assert.strictEqual(error._tag, "FatalError", `${body}: ${error.message}`)
          expectError(error, "FatalError", "bad_response")
        }
        server.enqueue({ headers: sse, body: "" })
        const empty = yield* collect(yield* client.stream(targetOf(server), minimalRequest))
        expectError(failureOf(empty.exit), "RetryableError", "stream_interrupted")
      })
    ))

  it.scoped("a non-200 stream answer fails the open, whatever the body's framing", () =>
    withServer((server, client) =>
      Effect.gen(function*() {
        server.enqueue(
          {
            status: 429,
            headers: { "content-type": "application/json" },
            body: `{"code":"Throttling.RateQuota","message":"Requests rate limit exceeded"}`
          },
          {
            status: 400,
            headers: { "content-type": "application/json" },
            body: fixture("parameter-error-sse.response.body.txt")
          },
          {
            status: 500,
            headers: { "content-type": "text/event-stream" },
            body: `{"code":"InternalError","message":"An internal error has occured"}`
          }
        )
        const open = () => Effect.flip(Effect.scoped(client.stream(targetOf(server), minimalRequest)))
        expectError(yield* open(), "RateLimitError", "rate_limited", 429)
        expectError(yield* open(), "FatalError", "invalid_request", 400)
        expectError(yield* open(), "RetryableError", "server_error", 500)
      })
    ))

  it.scoped(
    "a consumer that stops early closes the HTTP connection",
    () =>
      withServer((server, client) =>
        Effect.gen(function*() {
          const events = fixture("single-generation-text-sse.response.body.txt").split("\n\n").slice(0, 2).join("\n\n")
          server.enqueue({ headers: { "content-type": "text/event-stream" }, body: [`${events}\n\n`], end: "hang" })
          const first = yield* Effect.scoped(
            Effect.flatMap(client.stream(targetOf(server), minimalRequest), untilFirstDelta)
          )
          assert.deepStrictEqual(first, ["1+"])
          const closed = yield* Effect.promise(() => server.requests[0]!.socketClosed.then(() => true)).pipe(
            Effect.timeoutTo({ duration: "2 seconds", onSuccess: (ok) => ok, onTimeout: () => false })
          )
          assert.isTrue(closed, "the server saw the socket close")
        })
      ),
    { timeout: 10_000 }
  )

  it.scoped(
    "interrupting a consumer waiting on a silent stream closes the connection",
    () =>
      withServer((server, client) =>
        Effect.gen(function*() {
          const events = fixture("single-generation-text-sse.response.body.txt").split("\n\n").slice(0, 1).join("\n\n")
          server.enqueue(
            { headers: { "content-type": "text/event-stream" }, body: [`${events}\n\n`], end: "hang" },
            { headers: { "content-type": "text/event-stream" }, body: [`${events}\n\n`], end: "hang" }
          )
          const seen = yield* Deferred.make<void>()
          const consumer = yield* Effect.fork(Effect.scoped(
            Effect.flatMap(
              client.stream(targetOf(server), minimalRequest),
              (stream) => Stream.runForEach(stream, () => Deferred.succeed(seen, undefined))
            )
          ))
          yield* Deferred.await(seen)
          yield* Fiber.interrupt(consumer)
          // A stream opened and never run: closing its scope alone must close the connection too.
          yield* Effect.scoped(client.stream(targetOf(server), minimalRequest))
          const closed = yield* Effect.promise(() =>
            Promise.all(server.requests.map((r) => r.socketClosed)).then(() => true)
          ).pipe(
            Effect.timeoutTo({ duration: "2 seconds", onSuccess: (ok) => ok, onTimeout: () => false })
          )
          assert.isTrue(closed, "the server saw both sockets close")
        })
      ),
    { timeout: 10_000 }
  )

  it.scoped("a 10,000-event stream decodes completely (speed: bench/decode.ts)", () =>
    withServer((server, client) =>
      Effect.gen(function*() {
        const event = (i: number, finish: string) =>
          `id:${i}\nevent:result\n:HTTP_STATUS/200\ndata:{"output":{"choices":[{"message":{"content":"t${i} ","role":"assistant"},"finish_reason":"${finish}"}]},"usage":{"total_tokens":${
            i + 8
          },"input_tokens":8,"output_tokens":${i}},"request_id":"r"}\n\n`
        const events = Array.from({ length: 10_000 }, (_, i) => event(i + 1, i === 9_999 ? "stop" : "null")).join("")
        server.enqueue(Loopback.replay(new TextEncoder().encode(events), { chunkSizes: [16_384] }))
        const { deltas, exit, usages } = yield* collect(yield* client.stream(targetOf(server), minimalRequest))
        assert.isTrue(Exit.isSuccess(exit))
        assert.strictEqual(deltas.length, 10_000)
        assert.strictEqual(usages.at(-1)!.outputTokens, 10_000)
      })
    ))
})

describe("DashScope stream event guards", () => {
  const isSchema = Schema.is(Response.Generation)
  const decodeSchema = Schema.decodeUnknownEither(Response.Generation)
  const headers = {}

  /** Every payload of the recorded captures (stream events and unary bodies). */
  const recordedPayloads = (): Array<unknown> => {
    const out: Array<unknown> = []
    for (
      const name of [
        "single-generation-text-sse.response.body.txt",
        "single-generation-message-sse.response.body.txt",
        "single-generation-message-reasoning-sse.response.body.txt",
        "single-generation-message-nosse.response.body.txt",
        "single-generation-text-nosse.response.body.txt",
        "single-generation-message-reasoning-nosse.response.body.txt",
        "../cnblogs-dashscope-sdk-tools/single-generation-message-with-tools-nosse.response.body.txt",
        "../cnblogs-dashscope-sdk-tools/single-generation-message-with-parallel-tools-sse.response.body.txt",
        "../cnblogs-dashscope-sdk-tools/single-generation-message-json-nosse.response.body.txt",
        "../cnblogs-dashscope-sdk-tools/multimodal-generation-vl-nosse.response.body.txt",
        "../cnblogs-dashscope-sdk-tools/multimodal-generation-audio-nosse.response.body.txt",
        "../cnblogs-dashscope-sdk-tools/multimodal-generation-message-with-parallel-function-call-sse.response.body.txt",
        "../cnblogs-dashscope-sdk-tools/multimodal-generation-message-with-tools-sse.response.body.txt"
      ]
    ) {
      const text = fixture(name).replace(/^\uFEFF/, "")
      if (name.includes("nosse")) out.push(JSON.parse(text))
      else for (const line of text.split(/\r?\n/)) if (line.startsWith("data:")) out.push(JSON.parse(line.slice(5)))
    }
    return out
  }

  /** Copies of `value` with one field at a time replaced by a value of another type (or null). */
  const mutations = (value: unknown): Array<unknown> => {
    const out: Array<unknown> = []
    const replacements = [null, 42, "text", true, [], {}]
    const walk = (node: unknown, rebuild: (replacement: unknown) => unknown) => {
      for (const replacement of replacements) out.push(rebuild(replacement))
      if (Array.isArray(node)) {
        node.forEach((item, index) => walk(item, (r) => rebuild(node.map((x, i) => (i === index ? r : x)))))
      } else if (typeof node === "object" && node !== null) {
        for (const key of Object.keys(node)) {
          walk((node as Record<string, unknown>)[key], (r) => rebuild({ ...(node as object), [key]: r }))
        }
      }
    }
    walk(value, (r) => r)
    return out
  }

  it("accept exactly what the Schema accepts, and the readers give the same answer on either value", () => {
    const payloads = recordedPayloads()
    assert.isAbove(payloads.length, 30)
    let checked = 0
    for (const payload of payloads) {
      for (const candidate of [payload, ...mutations(payload)]) {
        const guard = Response.isGeneration(candidate)
        assert.strictEqual(guard, isSchema(candidate), JSON.stringify(candidate))
        const decoded = decodeSchema(candidate)
        if (guard && Either.isRight(decoded)) {
          const newId = () => "call_fixed"
          assert.deepStrictEqual(
            Response.answerOf(candidate, headers, newId),
            Response.answerOf(decoded.right, headers, newId)
          )
        }
        checked++
      }
    }
    assert.isAbove(checked, 2_000)
  })
})
