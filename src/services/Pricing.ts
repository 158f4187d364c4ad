/**
 * Prices calls from config (API.md §8): input, cached input, cache writes and output at their own
 * per-million rates; and the pre-call estimate the budget holds, which is an upper bound of what the
 * call can cost (API.md §14). A model without pricing costs 0; the layer says so once, when built.
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as FiberRef from "effect/FiberRef"
import * as Layer from "effect/Layer"
import type { ModelConfig, ProtocolName } from "../domain/Config.js"
import type { CallRequest, Part } from "../domain/Prompt.js"
import type { UsageCounts } from "../domain/TokenUsage.js"
import { argumentsText } from "../internal/ArgumentsText.js"
import { roundUsd } from "../internal/Usd.js"
import { LLMConfig } from "./LLMConfig.js"
import { fileTokenBound } from "./pricing/Media.js"

export declare namespace Pricing {
  export interface Service {
    /** USD for the usage of a call to `model`. */
    readonly cost: (model: ModelConfig, usage: UsageCounts) => Effect.Effect<number>
    /** USD the call is held at: the input bound at the dearest input rate, plus the output cap at the output rate. */
    readonly estimate: (model: ModelConfig, request: CallRequest, outputCap: number) => Effect.Effect<number>
  }
}

/** The pricing service. */
export class Pricing extends Context.Tag("effect-llm/Pricing")<Pricing, Pricing.Service>() {}

/** Tokens allowed per message (and once for the request) for the role markers and framing a chat template adds. */
export const perMessageTokenAllowance = 8

const utf8Bytes = (value: string): number => Buffer.byteLength(value, "utf8")

/**
 * Input tokens a protocol's service adds to a request that declares tools, beyond the definitions:
 * Anthropic prepends a tool-use system prompt of 159–530 tokens by model and tool choice (its tool-use
 * pricing table; Claude 3 Opus with `auto` or `none` is the largest), which the byte bound of a small
 * tool's definition does not cover. The others' framing of tools stays within the definitions' bytes.
 */
const anthropicToolPromptTokens = 530
export const toolPromptTokens: Readonly<Partial<Record<ProtocolName, number>>> = {
  anthropic: anthropicToolPromptTokens
}

/**
 * Input tokens a protocol's request adds for an output schema, beyond the schema's bytes: Anthropic
 * answers it through a forced tool where the model has no native output format (its tool-use system
 * prompt, as above); DashScope's JSON mode puts the schema into an instruction appended to the system
 * text (its ~90 bytes of prose and, without a system text, a message of its own).
 */
export const responseFormatPromptTokens: Readonly<Partial<Record<ProtocolName, number>>> = {
  anthropic: anthropicToolPromptTokens,
  dashscope: 128
}

/**
 * An upper bound of the input tokens a provider can count for a request to a `protocol`: every
 * tokenizer in use emits at most one token per UTF-8 byte of text, so the bound is the bytes of every
 * text, reasoning, tool call and tool result (as JSON), of the system text, of the tool definitions
 * and of the output schema (plus the prompt the protocol adds for them, counted once: Anthropic's
 * forced answer tool is its tool-use prompt again), plus `perMessageTokenAllowance`
 * per message and once for the request; each image or file counts at its conservative figure
 * (`pricing/Media.ts`). It over-counts English about 4× and CJK about 2–3×, which refuses calls
 * earlier near a limit.
 */
export const inputTokenBound = (request: CallRequest, protocol: ProtocolName, modelId?: string): number => {
  let tokens = perMessageTokenAllowance
  if (request.system !== undefined) tokens += utf8Bytes(request.system) + perMessageTokenAllowance
  // OpenAI bills images by per-model rules of its own (`pricing/Media.ts`)
  const openaiModel = protocol === "openai" ? modelId ?? "" : undefined
  for (const message of request.messages) {
    tokens += perMessageTokenAllowance
    for (const part of message.parts) tokens += partTokenBound(part, openaiModel)
  }
  let addedPrompt = 0
  if (request.tools !== undefined && request.tools.length > 0) {
    tokens += jsonBytes(request.tools)
    addedPrompt = toolPromptTokens[protocol] ?? 0
  }
  if (request.responseFormat !== undefined) {
    tokens += jsonBytes(request.responseFormat)
    addedPrompt = Math.max(addedPrompt, responseFormatPromptTokens[protocol] ?? 0)
  }
  return tokens + addedPrompt
}

/** UTF-8 bytes of `value` as JSON (a value nested too deep for `JSON.stringify`, a tool call's arguments, counted without recursion). */
const jsonBytes = (value: unknown): number => utf8Bytes(argumentsText(value))

const partTokenBound = (part: Part, openaiModel: string | undefined): number => {
  switch (part.type) {
    case "text":
      return utf8Bytes(part.text)
    case "reasoning":
      // with what its metadata sends back: Anthropic's `redacted_thinking` data (counted as input within
      // a tool-use cycle), signatures
      return utf8Bytes(part.text) + (part.metadata === undefined ? 0 : jsonBytes(part.metadata))
    case "file":
      return fileTokenBound(part, openaiModel)
    case "tool-call":
      return utf8Bytes(part.name) + jsonBytes(part.params) + perMessageTokenAllowance
    case "tool-result":
      return utf8Bytes(part.name) + jsonBytes(part.result) + perMessageTokenAllowance
  }
}

/** USD for `usage` at a model's price (0 without one); cache reads and writes at their own rates. */
export const price = (model: ModelConfig, usage: UsageCounts): number => {
  const pricing = model.pricing
  if (pricing === undefined) return 0
  const cached = usage.cachedInputTokens ?? 0
  const written = usage.cacheWriteTokens ?? 0
  const plainInput = Math.max(0, usage.inputTokens - cached - written)
  return roundUsd(
    (
      plainInput * pricing.inputPer1m +
      cached * (pricing.cachedInputPer1m ?? pricing.inputPer1m) +
      written * (pricing.cacheWritePer1m ?? pricing.inputPer1m) +
      usage.outputTokens * pricing.outputPer1m
    ) / 1e6
  )
}

/** USD of the estimate: the input bound at the dearest input rate, the output cap at the output rate. */
export const estimateCost = (model: ModelConfig, inputTokens: number, outputTokens: number): number => {
  const pricing = model.pricing
  if (pricing === undefined) return 0
  const inputRate = Math.max(pricing.inputPer1m, pricing.cachedInputPer1m ?? 0, pricing.cacheWritePer1m ?? 0)
  // rounded as `price` is (monotonic: a cost within the unrounded estimate stays within the rounded one)
  return roundUsd((inputTokens * inputRate + outputTokens * pricing.outputPer1m) / 1e6)
}

/** The pricing service (pure: a call's success path logs nothing, API.md §14). */
export const make: Effect.Effect<Pricing.Service> = Effect.succeed(Pricing.of({
  cost: (model, usage) => Effect.succeed(price(model, usage)),
  estimate: (model, request, outputCap) =>
    Effect.succeed(estimateCost(model, inputTokenBound(request, model.protocol, model.modelId), outputCap))
}))

/** Warns, once when the layer is built, about every model without pricing (its calls cost $0). */
export const warnUnpriced = (models: Iterable<ModelConfig>): Effect.Effect<void> =>
  Effect.forEach(
    [...models].filter((model) => model.pricing === undefined),
    (model) =>
      Effect.logWarning(`model "${model.alias}" has no pricing in config: its calls are counted as costing $0`).pipe(
        Effect.annotateLogs({ alias: model.alias })
      ),
    { discard: true }
  )

/**
 * Whether building `layer` warns about unpriced models (it does); `LiveLayer` turns it off for its
 * private build and warns in the fiber that first provides it, where the user's `Logger` is.
 */
export const warnsAtBuild: FiberRef.FiberRef<boolean> = FiberRef.unsafeMake(true)

/** The pricing service as a layer, warning at build about the models config leaves unpriced. */
export const layer: Layer.Layer<Pricing, never, LLMConfig> = Layer.effect(
  Pricing,
  Effect.zipRight(
    Effect.flatMap(
      FiberRef.get(warnsAtBuild),
      (warns) =>
        warns ? Effect.flatMap(LLMConfig, ({ config }) => warnUnpriced(Object.values(config.models))) : Effect.void
    ),
    make
  )
)
