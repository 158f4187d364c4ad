/**
 * `effect-llm/ai`'s layer: `@effect/ai`'s `LanguageModel` for one configured alias (API.md §10), each
 * model request one call of effect-llm's pipeline — validated, held, routed, breaker-guarded, retried,
 * settled with usage and cost, traced — through the client's internal parts entry (`call/Parts.ts`).
 */
import * as LanguageModel from "@effect/ai/LanguageModel"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Stream from "effect/Stream"
import * as Tracer from "effect/Tracer"
import * as Parts from "../call/Parts.js"
import { FatalError } from "../domain/Errors.js"
import type { CallRequest } from "../domain/Prompt.js"
import { validate } from "../domain/Request.js"
import { LLMClient } from "../services/LLMClient.js"
import { toAiError } from "./Errors.js"
import * as Memory from "./Memory.js"
import { encodePrompt } from "./Prompt.js"
import { decodeAnswer, streamChunkDecoder } from "./Response.js"
import { responseFormatOf, toolChoiceOf, toolDefinitionsOf } from "./Tools.js"

/** What the layer sends besides @effect/ai's request: the alias, and generation settings for every call. */
export interface Options {
  /** A model alias from config `models` (absent: `default_model`). */
  readonly model?: string | undefined
  readonly maxOutputTokens?: number | undefined
  readonly temperature?: number | undefined
  readonly topP?: number | undefined
  readonly stop?: ReadonlyArray<string> | undefined
  /** Tool calls whose provider data is remembered for `Chat` histories (default 4096). */
  readonly memoryCapacity?: number | undefined
}

/** @effect/ai's request as a `CallRequest` (the settings checked as `generate` checks them). */
export const callRequestOf = (
  options: LanguageModel.ProviderOptions,
  settings: Options,
  memory?: Memory.Memory
): CallRequest | FatalError => {
  // The settings go through `generate`'s own checks (with a placeholder prompt): same rules, same messages.
  const checked = validate({
    prompt: "-",
    ...(settings.maxOutputTokens !== undefined ? { maxOutputTokens: settings.maxOutputTokens } : {}),
    ...(settings.temperature !== undefined ? { temperature: settings.temperature } : {}),
    ...(settings.topP !== undefined ? { topP: settings.topP } : {}),
    ...(settings.stop !== undefined ? { stop: settings.stop } : {})
  })
  if (checked instanceof FatalError) return checked
  const prompt = encodePrompt(options.prompt, memory)
  if (prompt instanceof FatalError) return prompt
  const tools = toolDefinitionsOf(options.tools)
  if (tools instanceof FatalError) return tools
  const toolChoice = toolChoiceOf(options.toolChoice, tools.map((tool) => tool.name))
  if (toolChoice instanceof FatalError) return toolChoice
  const responseFormat = responseFormatOf(options.responseFormat)
  if (responseFormat instanceof FatalError) return responseFormat
  return {
    ...prompt,
    maxOutputTokens: checked.maxOutputTokens,
    temperature: checked.temperature,
    topP: checked.topP,
    stop: checked.stop,
    ...(tools.length > 0 ? { tools } : {}),
    ...(toolChoice !== undefined ? { toolChoice } : {}),
    ...(responseFormat !== undefined ? { responseFormat } : {})
  }
}

const notOurs =
  "effect-llm/ai needs the LLMClient built by effect-llm's layers (LiveLayer, makeTestLayer, …): a client wrapped in a new object is not it; provide this layer from the unwrapped client"

/** The `LanguageModel` service over the `LLMClient` in context. */
export const make = (options: Options): Effect.Effect<LanguageModel.Service, never, LLMClient> =>
  Effect.gen(function*() {
    const client = yield* LLMClient
    const entry = Parts.entryOf(client)
    if (entry === undefined) return yield* Effect.dieMessage(notOurs)
    const memory = Memory.make(options.memoryCapacity)
    const input = (request: CallRequest): Parts.PartsInput => ({ model: options.model, request })

    return yield* LanguageModel.make({
      generateText: (providerOptions) =>
        Effect.suspend(() => {
          const request = callRequestOf(providerOptions, options, memory)
          return request instanceof FatalError ? Effect.fail(request) : entry.generate(input(request))
        }).pipe(
          Effect.flatMap(({ answer, response }) =>
            Effect.map(Clock.currentTimeMillis, (now) => decodeAnswer(answer, response, memory, new Date(now)))
          ),
          Effect.mapError(toAiError("generateText"))
        ),
      streamText: (providerOptions) =>
        Stream.unwrap(Effect.map(Effect.clock, (clock) => {
          const request = callRequestOf(providerOptions, options, memory)
          if (request instanceof FatalError) return Stream.fail(request)
          // Timestamps from the fiber's Clock, so TestClock controls them.
          const decode = streamChunkDecoder(memory, () => new Date(clock.unsafeCurrentTimeMillis()))
          return Stream.flattenChunks(Stream.mapChunks(entry.stream(input(request)), decode))
        })).pipe(
          Stream.mapError(toAiError("streamText")),
          // @effect/ai makes its streamText span without making it current: the call's span goes under it.
          Stream.provideService(Tracer.ParentSpan, providerOptions.span)
        )
    })
  })

/** `LanguageModel` for the alias `options.model`, over the `LLMClient` in context. */
export const layer = (options: Options): Layer.Layer<LanguageModel.LanguageModel, never, LLMClient> =>
  Layer.effect(LanguageModel.LanguageModel, make(options))
