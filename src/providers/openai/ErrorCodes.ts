/**
 * The codes, types and words the Chat Completions error table reads (`Errors.classOf`), by what they
 * mean, for every compatible service: OpenAI's, gateways', and Chinese services' own. Ark's codes are
 * dotted PascalCase (WIRE-openai-anthropic §1.8); DashScope's compatible mode sends its native
 * PascalCase codes as well as snake_case ones (WIRE.md §2.5, §3).
 */
import * as Errors from "../http/Errors.js"

export const overloadCodes = new Set([
  "server_is_overloaded",
  "engine_overloaded",
  "overloaded",
  "overloaded_error",
  "slow_down",
  "capacity_exceeded",
  "ServerOverloaded"
])
export const authenticationCodes = new Set(
  ["invalid_api_key", "invalid_authentication", "authentication_error", "AuthenticationError"]
)
export const notFoundCodes = new Set(
  ["model_not_found", "not_found_error", "ModelNotOpen", "InvalidEndpoint.NotFound", "InvalidEndpointOrModel.NotFound"]
)
export const permissionCodes = new Set([
  "AccessDenied",
  "permission_error",
  "unsupported_country_region_territory",
  ...Errors.lockedAccountCodes
])
// (Zhipu's 1301: the input or output holds unsafe or sensitive content)
export const contentFilterCodes = new Set(
  ["content_filter", "content_policy_violation", "DataInspectionFailed", "data_inspection_failed", "1301"]
)

/**
 * A rate limit said in words under another status (Tencent Hunyuan's 400 `2003`: "请求限频，请稍后重试"),
 * read up to the first quote: a 400 quoting the user's prompt (vLLM's validation echo, "Prompt starts:
 * '…'") must not turn into a rate limit because the prompt speaks of one.
 */
export const saysRateLimited = (words: string): boolean => {
  const quote = /['"“‘「]/.exec(words)
  return rateLimitWords.test(quote === null ? words : words.slice(0, quote.index))
}

const rateLimitWords = /请求限频|请求过于频繁|限流/

/** A moderation refusal's words (OpenRouter's flagged input). */
export const moderationWords = /requires moderation|input was flagged/i

export const contextWords = /\bcontext (?:length|window)\b|maximum context|max_new_tokens/i

/**
 * A message up to where it starts echoing the request: vLLM's validation errors quote it under
 * `'input':` / `'ctx':` (pydantic's `input_value=`), and words there are the user's, not the server's.
 * A gateway quoting its upstream's error (`"message":"Your credit balance is too low…"`) keeps it.
 */
export const beforeRequestEcho = (words: string): string => {
  const echo = /['"](?:input|ctx)['"]\s*:|\binput_value=/.exec(words)
  return echo === null ? words : words.slice(0, echo.index)
}

const limitAndRequested = /\bLimit:? (\d+), (?:Used:? \d+, )?Requested:? (\d+)/i

/** Whether a rate-limit message says the request alone asks more than the limit allows. */
export const requestsMoreThanLimit = (words: string): boolean => {
  const numbers = limitAndRequested.exec(words)
  return numbers !== null && Number(numbers[2]) > Number(numbers[1])
}

// DashScope's `Throttling*` codes (API.md §3), also through its OpenAI-compatible mode
export const isRateLimitCode = (code: string): boolean =>
  code === "rate_limit_exceeded" || code.startsWith("RateLimitExceeded") || code.endsWith("RateLimitExceeded") ||
  code.startsWith("Throttling")
