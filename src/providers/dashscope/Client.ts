/**
 * The DashScope client over an `HttpClient`: one attempt encodes the request (`Request.ts`), sends it and
 * decodes the answer (`Response.ts`, `Stream.ts`) or classifies the failure (`Errors.ts`). Loaded when
 * `Providers.layerHttp` is built, not with the package (`DashScope.ts` holds the rules a call checks first).
 */
import { headersOf } from "../http/Body.js"
import * as Client from "../http/Client.js"
import * as Errors from "./Errors.js"
import * as Models from "./Models.js"
import * as Request from "./Request.js"
import * as Decode from "./Response.js"
import * as DashScopeStream from "./Stream.js"

/** The DashScope client over the `HttpClient` in context. */
export const make = Client.make({
  encode: Request.make,
  classify: Errors.classify,
  // Thinking models refuse a non-streaming call (WIRE.md §2.2)
  streamsOnly: Models.thinks,
  decode: (bodyText, response, context) => Decode.decode(bodyText, response.status, headersOf(response), context),
  streamHandler: (response, context) => DashScopeStream.makeHandler(headersOf(response), context),
  unaryEvents: false
})
