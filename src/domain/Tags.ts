/**
 * Call tags (API.md §12): what a tag key and value may be. A tag puts a call in a budget scope
 * (`user:u-42`) and is stored with its ledger events, so both are short, printable and free of the
 * characters that would make a scope, a CSV cell or a metric label ambiguous.
 */

/** At most this many tags on one call. */
export const maxTags = 16

/** A tag key: a letter, then up to 63 letters, digits, `_`, `.` or `-`. */
const keyPattern = /^[A-Za-z][A-Za-z0-9_.-]{0,63}$/

/**
 * A tag value: 1–128 letters (with their combining marks: Devanagari vowel signs, a decomposed
 * accent) or digits of any script, or `_ . : @ + / = # -` (ids, emails, UUIDs, paths); no whitespace,
 * commas, quotes or control characters. Values are kept as given (not normalised).
 */
const valuePattern = /^[\p{L}\p{M}\p{N}_.:@+/=#-]{1,128}$/u

const typeName = (value: unknown): string => value === null ? "null" : Array.isArray(value) ? "an array" : typeof value

/** Why `key` cannot be a tag key (`model` is reserved: `model:<alias>` scopes are aliases); undefined when it can. */
export const tagKeyProblem = (key: string): string | undefined =>
  key === "model"
    ? `"model" is reserved (model:<alias> scopes are model aliases)`
    : keyPattern.test(key)
    ? undefined
    : "a tag key is a letter, then up to 63 letters, digits, _ . or -"

/** Why `value` cannot be a tag value; undefined when it can. */
export const tagValueProblem = (value: unknown): string | undefined =>
  typeof value !== "string"
    ? `a tag value must be a string, got ${typeName(value)}`
    : valuePattern.test(value)
    ? undefined
    : "a tag value is 1 to 128 letters, digits or _ . : @ + / = # - (no spaces, commas or quotes)"

/** Why `tags` is not a valid set of call tags (naming the offending key); undefined when it is. */
export const tagsProblem = (tags: unknown): string | undefined => {
  if (typeof tags !== "object" || tags === null || Array.isArray(tags)) {
    return "tags must be an object of string values"
  }
  const keys = Object.keys(tags)
  if (keys.length > maxTags) return `tags: at most ${maxTags} tags, got ${keys.length}`
  for (const key of keys) {
    const keyProblem = tagKeyProblem(key)
    if (keyProblem !== undefined) return `tags: key ${JSON.stringify(key.slice(0, 70))}: ${keyProblem}`
    const valueProblem = tagValueProblem((tags as Record<string, unknown>)[key])
    if (valueProblem !== undefined) return `tags.${key}: ${valueProblem}`
  }
  return undefined
}

/**
 * A trace id: up to 256 characters, none of them control characters or half of a surrogate pair (it
 * is logged, traced and stored; SQLite and PostgreSQL would store a lone half as U+FFFD).
 */
const traceIdPattern = /^[^\p{Cc}\p{Cs}]{0,256}$/u

/** Why `traceId` cannot be a call's trace id; undefined when it can (absent and "" mean "make one"). */
export const traceIdProblem = (traceId: unknown): string | undefined =>
  traceId === undefined
    ? undefined
    : typeof traceId !== "string"
    ? `traceId must be a string, got ${typeName(traceId)}`
    : traceIdPattern.test(traceId)
    ? undefined
    : [...traceId].length > 256
    ? `traceId must be at most 256 characters, got ${[...traceId].length}`
    : /\p{Cs}/u.test(traceId)
    ? "traceId must be well-formed text, got half of a surrogate pair (a cut emoji)"
    : "traceId must have no control characters (a line break, a tab, NUL…), got one"

/**
 * The value of tag `key`, if the call has that tag: only the tags' own keys (a tag key may be any
 * name, `constructor` or `toString` too, which a plain object also inherits).
 */
export const tagValueOf = (
  tags: Readonly<Record<string, string>> | undefined,
  key: string
): string | undefined => tags !== undefined && Object.hasOwn(tags, key) ? tags[key] : undefined
