/**
 * The Anthropic client over an `HttpClient`: one attempt encodes the request (`Request.ts`), sends it and
 * decodes the answer (`Response.ts`, `Stream.ts`) or classifies the failure (`Errors.ts`). Loaded when
 * `Providers.layerHttp` is built, not with the package (`Anthropic.ts` holds the rules a call checks first).
 */
import { headersOf } from "../http/Body.js"
import * as Client from "../http/Client.js"
import * as Errors from "./Errors.js"
import * as Request from "./Request.js"
import * as Decode from "./Response.js"
import * as AnthropicStream from "./Stream.js"

/** The Anthropic client over the `HttpClient` in context. */
export const make = Client.make({
  encode: Request.make,
  classify: Errors.classify,
  decode: (bodyText, response, context, { target, request }) =>
    Decode.decode(
      bodyText,
      headersOf(response),
      { ...context, status: response.status },
      Request.replyToolFor(request, target.modelId)
    ),
  streamHandler: (response, context, { target, request }) =>
    AnthropicStream.makeHandler(headersOf(response), context, Request.replyToolFor(request, target.modelId))
})
