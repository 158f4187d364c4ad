/**
 * A stream's text that is not a well-formed event: an event cut short by the end of the body (told
 * from one that is undecodable), and JSON a server sent without SSE framing.
 */
import type { LLMError } from "../../domain/Errors.js"
import * as Errors from "./Errors.js"
import type { Step } from "./EventStream.js"
import * as Json from "./Json.js"

const fieldNames = ["data", "event", "id", "retry"]

/**
 * Whether text the end of the body closed was cut short rather than undecodable: the beginning of a
 * JSON text, or (one line, `unterminated`) an SSE field name cut before its colon (`da`).
 */
export const looksCut = (text: string, unterminated: boolean): boolean =>
  Json.isJsonPrefix(text) ||
  (unterminated && text.length > 0 && !text.includes("\n") && fieldNames.some((name) => name.startsWith(text)))

/**
 * An event whose data is not JSON: `stream_interrupted` when the end of the body cut it short
 * (a JSON beginning in an unterminated event), else `FatalError` `bad_response`.
 */
export const undecodable = (
  data: string,
  unterminated: boolean | undefined,
  context: Errors.ErrorContext
): LLMError =>
  unterminated === true && Json.isJsonPrefix(data)
    ? Errors.streamInterrupted("the stream ended in the middle of an event", context)
    : Errors.badResponse(`a stream event is not JSON: ${data}`, { ...context, status: 200 })

/** Raw text kept while waiting for it to form a JSON value; more is no JSON a server sends unframed. */
export const maxRawText = 64 * 1024

/**
 * Collects lines that are no SSE field (a JSON object a server sent without `data:` framing: Gemini's
 * error after the last event, a DashScope error body under a 200) until they parse as JSON.
 */
export interface RawJson {
  /**
   * Adds an event's raw lines; once the collected text parses, hands the value to `onJson` and
   * starts over. Fails with `bad_response` once the text passes `maxRawText`.
   */
  readonly add: (
    lines: ReadonlyArray<string>,
    unterminated: boolean | undefined,
    onJson: (json: unknown, text: string) => Step
  ) => Step
  /** At the end of the body: leftover text cut short is `stream_interrupted`, other text `bad_response`. */
  readonly end: () => LLMError | undefined
}

/** A fresh `RawJson` collector. */
export const rawJson = (context: Errors.ErrorContext): RawJson => {
  let text = ""
  let unterminated = false
  return {
    add: (lines, lastUnterminated, onJson) => {
      text += (text.length > 0 ? "\n" : "") + lines.join("\n")
      unterminated = lastUnterminated === true
      if (text.length > maxRawText) {
        return Errors.badResponse(`the stream holds text that is not an event: ${text}`, { ...context, status: 200 })
      }
      const json = Json.parse(text)
      if (json === undefined) return undefined
      const whole = text
      text = ""
      return onJson(json, whole)
    },
    end: () => {
      const left = text.trim()
      if (left.length === 0) return undefined
      return looksCut(left, unterminated)
        ? Errors.streamInterrupted("the stream ended in the middle of an event", context)
        : Errors.badResponse(`the stream ended with text that is not an event: ${left}`, { ...context, status: 200 })
    }
  }
}
