/**
 * The plain Effect pipeline: what an Effect user writes without effect-llm — `HttpClient` on Node's
 * undici pool (the client effect-llm uses), `Schema` to decode the answer's text, `Stream` over the
 * SSE body — with nothing else (no budget, ledger, breaker, retry, spans or metrics). It shows what
 * Effect itself costs on the same calls.
 */
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as Effect from "effect/Effect"
import * as ManagedRuntime from "effect/ManagedRuntime"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import type { BenchClient, ClientOptions, StreamResult } from "./client.js"
import { type ProtocolName, splitEvents, wires } from "./protocols.js"

const Text = Schema.Struct({ text: Schema.optional(Schema.String) })
/** The part of each protocol's answer that holds its text. */
const answers: Record<ProtocolName, Schema.Schema<any, any>> = {
  gemini: Schema.Struct({
    candidates: Schema.Array(Schema.Struct({ content: Schema.Struct({ parts: Schema.Array(Text) }) }))
  }),
  openai: Schema.Struct({
    choices: Schema.Array(Schema.Struct({ message: Schema.Struct({ content: Schema.NullOr(Schema.String) }) }))
  }),
  anthropic: Schema.Struct({ content: Schema.Array(Schema.Struct({ type: Schema.String, ...Text.fields })) }),
  dashscope: Schema.Struct({
    output: Schema.Struct({
      choices: Schema.Array(Schema.Struct({ message: Schema.Struct({ content: Schema.String }) }))
    })
  })
}

export const make = async (options: ClientOptions): Promise<BenchClient> => {
  const wire = wires[options.protocol]
  const decode = Schema.decodeUnknown(Schema.parseJson(answers[options.protocol]))
  const runtime = ManagedRuntime.make(NodeHttpClient.layerUndici)
  const client = await runtime.runPromise(HttpClient.HttpClient)
  const ok = HttpClient.filterStatusOk(client)
  const request = (prompt: string, stream: boolean) =>
    HttpClientRequest.post(wire.url(options.url, options.modelId, stream)).pipe(
      HttpClientRequest.setHeaders(wire.headers(options.apiKey, stream)),
      HttpClientRequest.bodyUnsafeJson(wire.body(prompt, options.modelId, stream))
    )

  const call = (prompt: string) =>
    ok.execute(request(prompt, false)).pipe(
      Effect.flatMap((response) => response.text),
      Effect.flatMap(decode),
      Effect.map(wire.textOf),
      Effect.scoped
    )

  const stream = (prompt: string) =>
    Effect.suspend(() => {
      const started = performance.now()
      let events = 0
      let chars = 0
      let finished = false
      let ttftMs = -1
      let buffer = ""
      const onEvent = (data: string, name: string | undefined) => {
        const reading = wire.readEvent(data, name)
        if (reading.error) throw new Error(`stream error: ${data.slice(0, 200)}`)
        if (reading.delta.length > 0) {
          if (ttftMs < 0) ttftMs = performance.now() - started
          events++
          chars += reading.delta.length
        }
        if (reading.finished) finished = true
      }
      return ok.execute(request(prompt, true)).pipe(
        Effect.map((response) => response.stream),
        Stream.unwrapScoped,
        Stream.decodeText(),
        Stream.runForEach((text) => Effect.sync(() => (buffer = splitEvents(buffer + text, onEvent)))),
        Effect.map((): StreamResult => ({ events, chars, finished, ttftMs }))
      )
    })

  return {
    call: (prompt) => runtime.runPromise(call(prompt)),
    calls: (prompts) => runtime.runPromise(Effect.forEach(prompts, call, { concurrency: "unbounded" })),
    stream: (prompt) => runtime.runPromise(stream(prompt)),
    streams: (prompts) => runtime.runPromise(Effect.forEach(prompts, stream, { concurrency: "unbounded" })),
    close: () => runtime.dispose()
  }
}
