/**
 * The OpenAI client over an `HttpClient`: one attempt encodes the request (`Request.ts`), sends it and
 * decodes the answer (`Response.ts`, `Stream.ts`) or classifies the failure (`Errors.ts`). Loaded when
 * `Providers.layerHttp` is built, not with the package (`OpenAI.ts` holds the rules a call checks first).
 */
import * as Effect from "effect/Effect"
import type { LLMError } from "../../domain/Errors.js"
import { headersOf } from "../http/Body.js"
import * as Client from "../http/Client.js"
import * as Errors from "./Errors.js"
import * as Request from "./Request.js"
import * as Decode from "./Response.js"
import * as OpenAIStream from "./Stream.js"

/** A 400/422 that names `stream_options`: a server that does not take the option (Mistral, older Azure). */
const refusesStreamOptions = (error: LLMError): boolean =>
  error._tag === "FatalError" && error.reason === "invalid_request" && (error.status === 400 || error.status === 422) &&
  error.message.includes("stream_options")

/**
 * The Chat Completions client over the `HttpClient` in context. An endpoint that refuses
 * `stream_options` gets its streams without it from then on (their usage comes on the last chunk).
 */
export const make = Effect.suspend(() => {
  const withoutStreamOptions = new Set<string>()
  return Client.make({
    encode: (target, request, streaming) =>
      Request.make(target, request, streaming, !withoutStreamOptions.has(target.endpoint.baseUrl)),
    classify: Errors.classify,
    decode: (bodyText, response, context) => Decode.decode(bodyText, response.status, headersOf(response), context),
    streamHandler: (response, context) => OpenAIStream.makeHandler(headersOf(response), context),
    streamWithout: (error, target, request) => {
      if (!refusesStreamOptions(error) || withoutStreamOptions.has(target.endpoint.baseUrl)) return undefined
      withoutStreamOptions.add(target.endpoint.baseUrl)
      return Request.make(target, request, true, false)
    }
  })
})
