/**
 * A stream's usage reports into its call's progress: each one pulled, and those the stream had
 * received but its consumer never pulled; and the output it received that no part carried.
 */
import * as Effect from "effect/Effect"
import type { LLMError } from "../domain/Errors.js"
import { plausible, type UsageCounts } from "../domain/TokenUsage.js"
import { argumentsText } from "../internal/ArgumentsText.js"
import { heldOutputBytes, type Pull, unpulled } from "../internal/Peel.js"
import type { StreamPart } from "../providers/Provider.js"
import type { CallProgress } from "./Progress.js"

/**
 * Records a stream's usage report in the call's progress, and returns it when it is a full report
 * (what a commit settles at). An impossible report (negative, non-finite) is none: the text after the
 * last good one is priced at its bound. An input-only snapshot prices a stream that ends unfinished,
 * never a commit.
 */
export const observeReport = (
  progress: CallProgress,
  part: Extract<StreamPart, { readonly _tag: "Usage" }>
): UsageCounts | undefined => {
  const reported = plausible(part.usage)
  if (reported === undefined) return undefined
  if (part.inputOnly === true) {
    progress.observeInput(reported)
    return undefined
  }
  progress.observeUsage(reported)
  return reported
}

/**
 * Records the usage reports among what the answering stream received but its consumer never pulled
 * (the events after the first delta in the same read, what the body had buffered): a consumer that
 * stops at the first delta of a short answer sent in one read leaves the provider's final report
 * there. Only the reports: the parts are not emitted, and nothing more is read.
 */
export const observeUnpulled = (progress: CallProgress, pull: Pull<StreamPart, LLMError>): void => {
  // (first: decoding what was not pulled may complete the calls those bytes belong to)
  observeHeldOutput(progress, pull)
  for (const part of unpulled(pull)) if (part._tag === "Usage") observeReport(progress, part)
}

/**
 * `observeUnpulled` for the settling finalizer (no pull: the call never answered): decoding what was
 * not pulled runs the protocol's code on the server's bytes, and a throw there (a bug) would leave the
 * call unsettled and the stream's end waiting on it — logged instead, the call settled without it.
 */
export const observeUnpulledOrWarn = (
  progress: CallProgress,
  pull: Pull<StreamPart, LLMError> | undefined
): Effect.Effect<void> =>
  pull === undefined ? Effect.void : Effect.try(() => observeUnpulled(progress, pull)).pipe(
    Effect.catchAll((error) =>
      Effect.logWarning("reading what the stream held back failed; the call is settled without it", error.error)
    )
  )

/**
 * Records the output a stream received that no part carried when it ended or was stopped: the
 * fragments of tool calls not yet whole (Chat Completions sends a call's arguments piece by piece and
 * its usage only after the last), a refusal's text. The provider generated and billed them: a cut
 * stream with no usage report is priced with them at their bound, as streamed text is.
 */
export const observeHeldOutput = (progress: CallProgress, pull: Pull<StreamPart, LLMError>): void => {
  const bytes = heldOutputBytes(pull)
  if (bytes > 0) progress.observeOutputBytes(bytes)
}

/**
 * Records one part of a unary answer read as a stream (a model the service answers only so) in the
 * call's progress, as a stream's consumer records it: its reports and the output bytes they have not
 * counted, so an attempt that times out, is cut or is interrupted is priced by what it was billed.
 */
export const observePart = (progress: CallProgress, part: StreamPart): void => {
  switch (part._tag) {
    case "TextDelta":
    case "ReasoningDelta":
      progress.observeOutput(part.text)
      break
    case "ToolCall":
      progress.observeOutput(part.call.name + argumentsText(part.call.params))
      break
    case "Usage":
      observeReport(progress, part)
      break
  }
}

/**
 * What a stream attempt's read up to its first delta tells the call's progress: each usage report as
 * it comes (`seen`); and, when the read fails (`failed`: the attempt is cut, then retried or settled),
 * the output received that no part carried, and the tool calls it received whole since the last report
 * (handed over only with the finish, so the caller never had them: billed all the same).
 */
export const attemptObserver = (progress: CallProgress, pull: Pull<StreamPart, LLMError>) => {
  let callBytes = 0
  return {
    seen: (part: StreamPart): void => {
      if (part._tag === "Usage") {
        if (observeReport(progress, part) !== undefined) callBytes = 0
      } else if (part._tag === "ToolCall") {
        callBytes += Buffer.byteLength(part.call.name + argumentsText(part.call.params), "utf8")
      }
    },
    failed: (): void => {
      observeHeldOutput(progress, pull)
      if (callBytes > 0) progress.observeOutputBytes(callBytes)
    }
  }
}
