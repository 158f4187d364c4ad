/**
 * The OpenAI client over an `HttpClient`: one attempt encodes the request (`Request.ts`), sends it and
 * decodes the answer (`Response.ts`, `Stream.ts`) or classifies the failure (`Errors.ts`). Loaded when
 * `Providers.layerHttp` is built, not with the package (`OpenAI.ts` holds the rules a call checks first).
 */
import * as Effect from "effect/Effect"
import type { LLMError } from "../../domain/Errors.js"
import { headersOf } from "../http/Body.js"
import * as Client from "../http/Client.js"
import type { ProviderTarget } from "../Provider.js"
import * as Errors from "./Errors.js"
import * as Request from "./Request.js"
import * as Decode from "./Response.js"
import * as OpenAIStream from "./Stream.js"

/**
 * A 400/422 refusing `stream_options` itself (Mistral's `"loc": ["body", "stream_options"]`, Azure's
 * "Unrecognized request argument supplied: stream_options" and "Validation error at #/stream_options:
 * Extra inputs are not permitted"), not one that merely echoes the request (vLLM's validation errors
 * quote it whole: `'stream_options': {…}` — the key and its object, or its `None`, or the message's cut,
 * which the request id the message ends with may follow).
 */
const refusesStreamOptions = (error: LLMError): boolean =>
  error._tag === "FatalError" && error.reason === "invalid_request" && (error.status === 400 || error.status === 422) &&
  /stream_options(?!['"]?\s*:\s*(?:\{|None\b|null\b|…|$|\(request_id\b))/.test(error.message)

/** Where a refusal of `stream_options` is remembered: the endpoint and the model (a gateway's models differ). */
const endpointModel = (target: ProviderTarget): string => `${target.endpoint.baseUrl} ${target.modelId}`

/**
 * The Chat Completions client over the `HttpClient` in context. An endpoint that refuses
 * `stream_options` for a model gets its streams without it from then on (their usage comes on the
 * last chunk). Every stream refused for it is sent once more without it — also one encoded with it
 * before the first refusal was seen (concurrent first streams).
 */
export const make = Effect.suspend(() => {
  const withoutStreamOptions = new Set<string>()
  return Client.make({
    encode: (target, request, streaming) =>
      Request.make(target, request, streaming, !streaming || !withoutStreamOptions.has(endpointModel(target))),
    classify: Errors.classify,
    decode: (bodyText, response, context) => Decode.decode(bodyText, response.status, headersOf(response), context),
    streamHandler: (response, context) => OpenAIStream.makeHandler(headersOf(response), context),
    streamWithout: (error, target, request) => {
      if (!refusesStreamOptions(error)) return undefined
      withoutStreamOptions.add(endpointModel(target))
      return Request.make(target, request, true, false)
    }
  })
})
