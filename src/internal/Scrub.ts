/**
 * Removal of configured secret values from text effect-llm produces or stores (API.md §14): error
 * messages (including what a server echoed back), log records, span attributes, ledger rows, CLI
 * output. Each secret is matched as written, URL-encoded and JSON-escaped.
 */
import * as Redacted from "effect/Redacted"
import { billedUsageOf, withBilledUsage } from "./BilledUsage.js"

/** What a removed secret is replaced with. */
export const placeholder = "<redacted>"

/**
 * Secrets shorter than this are not searched for: a two-letter "key" would mangle every message,
 * and no real credential is that short.
 */
export const minimumSecretLength = 6

/**
 * A function removing every given secret from a text; `cut`, where one was made, also removes the
 * start of a secret a shortened server text left before its `…` (for error messages only: in any
 * other text an ellipsis after a word is no cut).
 */
export type Scrubber = ((text: string) => string) & { readonly cut?: (text: string) => string }

const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")

/**
 * `value` inside a JSON string as the encoders servers use write it: JSON.stringify's form, with `/`
 * as `\/` (PHP, Java), and with every non-ASCII character and Go's `<`, `>`, `&` as `\uXXXX`
 * (Python's ensure_ascii, Go's HTML-safe encoding).
 */
const jsonEscapedForms = (value: string): ReadonlyArray<string> => {
  const plain = JSON.stringify(value).slice(1, -1)
  const unicodeEscaped = plain.replace(
    /[\u0080-\uffff<>&]/g,
    (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, "0")}`
  )
  return [plain, plain.replace(/\//g, "\\/"), unicodeEscaped, unicodeEscaped.replace(/\//g, "\\/")]
}

/**
 * `value` percent-encoded as servers write it: `encodeURIComponent`'s form, with lower-case hex
 * (Go, some proxies), with `/` kept and `! ' ( ) *` encoded too (Python's `quote`, RFC 3986's
 * reserved set) and as a form value (`+` for a space).
 */
const urlEncodedForms = (value: string): ReadonlyArray<string> => {
  const encoded = encodeURIComponent(value)
  const lowerHex = encoded.replace(/%[0-9A-F]{2}/g, (escape) => escape.toLowerCase())
  const strict = encoded.replace(/[!'()*]/g, (char) => `%${char.charCodeAt(0).toString(16).toUpperCase()}`)
  const strictLowerHex = strict.replace(/%[0-9A-F]{2}/g, (escape) => escape.toLowerCase())
  return [
    encoded,
    lowerHex,
    encoded.replace(/%2F/g, "/"),
    lowerHex.replace(/%2f/g, "/"),
    strict,
    strictLowerHex,
    strict.replace(/%2F/g, "/"),
    strictLowerHex.replace(/%2f/g, "/"),
    formEncoded(value),
    // Python's quote_plus (`requests`, `urlencode`): `+` for a space, `~` kept, `*` encoded
    strict.replace(/%20/g, "+")
  ]
}

/**
 * The texts searched for: each secret (of at least `minimumSecretLength` characters) as written,
 * URL-encoded and JSON-escaped, longest first, without duplicates.
 */
export const formsOf = (secrets: Iterable<Redacted.Redacted<string> | string>): ReadonlyArray<string> => {
  const forms = new Set<string>()
  for (const secret of secrets) {
    const written = typeof secret === "string" ? secret : Redacted.value(secret)
    // HTTP drops a header value's surrounding whitespace (a key pasted with a space, an `.env` slip):
    // the server sees, and may echo, the trimmed value.
    // A message's server text has its whitespace collapsed (`Errors.truncate`): a key holding a tab
    // is echoed with a space.
    for (const value of new Set([written, written.trim(), written.replace(/\s+/g, " ").trim()])) {
      if (value.length < minimumSecretLength) continue
      forms.add(value)
      for (const form of urlEncodedForms(value)) forms.add(form)
      for (const form of jsonEscapedForms(value)) forms.add(form)
      // Node reads a header's bytes as latin1: a non-ASCII secret a server echoes in a header arrives
      // as its UTF-8 bytes so read (`pässwort` as `pÃ¤sswort`)
      if (/[^ -~\s]/.test(value)) forms.add(Buffer.from(value, "utf8").toString("latin1"))
    }
  }
  // Longest first, so a secret that contains another is removed whole.
  return [...forms].sort((a, b) => b.length - a.length)
}

/** What a shortened server text ends with (`Errors.truncate`), where the scrubber looks for a cut secret. */
export const cutMark = "…"

/**
 * `text` without the start of a secret that a cut (`Errors.truncate`, done where the error is made,
 * before any scrubber sees it) left just before its `…`: the echoed key was not whole, so the
 * whole-value pass cannot find it.
 */
const withoutCutSecrets = (forms: ReadonlyArray<string>, text: string): string => {
  let result = text
  for (let at = result.indexOf(cutMark); at !== -1; at = result.indexOf(cutMark, at + 1)) {
    for (const form of forms) {
      let length = Math.min(form.length - 1, at)
      while (length >= minimumSecretLength && !result.startsWith(form.slice(0, length), at - length)) length--
      if (length >= minimumSecretLength) {
        result = result.slice(0, at - length) + placeholder + result.slice(at)
        at += placeholder.length - length
        break
      }
    }
  }
  return result
}

/** Builds a scrubber for the given secret values (one pass over the text per call; `cut`: two if it was cut). */
export const make = (secrets: Iterable<Redacted.Redacted<string> | string>): Scrubber => {
  const forms = formsOf(secrets)
  if (forms.length === 0) return (text) => text
  const pattern = new RegExp(forms.map(escapeRegExp).join("|"), "g")
  const scrub = (text: string) => text.replace(pattern, placeholder)
  return Object.assign(scrub, {
    cut: (text: string) => {
      const scrubbed = scrub(text)
      return scrubbed.includes(cutMark) ? withoutCutSecrets(forms, scrubbed) : scrubbed
    }
  })
}

const percentDecoded = (text: string): string => {
  try {
    return decodeURIComponent(text)
  } catch {
    return text
  }
}

/**
 * The secrets of a header value: the value, and for an authorization scheme and its credentials
 * (`Bearer <token>`, `Basic <base64>`, written literally rather than as `Bearer ${TOKEN}`) the
 * credentials alone, which a server may echo without the scheme.
 */
export const headerSecrets = (value: string): ReadonlyArray<string> => {
  const credentials = /^(?:bearer|basic|token|bot|api-?key|key)\s+(\S+)\s*$/i.exec(value)?.[1]
  return credentials === undefined ? [value] : [value, credentials]
}

/** `text` as `URLSearchParams` writes a query value (as the HTTP client rewrites a query it adds parameters to). */
const formEncoded = (text: string): string => new URLSearchParams([["", text]]).toString().slice(1)

/**
 * The secrets of a URL — its password and every query-parameter value — in every form a server may
 * echo: as written (percent-encoded), percent-decoded, form-decoded (`+` as a space, as
 * `URLSearchParams` and servers reading a query as a form do) and form-encoded again. The one list
 * both the configuration's secrets and a request's URL scrubbing use. Nothing for text that is not a URL.
 */
export const urlSecrets = (text: string): ReadonlyArray<string> => {
  let url: URL
  try {
    url = new URL(text)
  } catch {
    return []
  }
  const written = [
    url.password,
    ...url.search.slice(1).split("&").map((pair) => pair.slice(pair.indexOf("=") + 1 || pair.length))
  ]
  const forms = new Set<string>()
  for (const value of written) {
    if (value === "") continue
    const formDecoded = percentDecoded(value.replace(/\+/g, " "))
    forms.add(value).add(percentDecoded(value)).add(formDecoded).add(formEncoded(formDecoded))
  }
  return [...forms]
}

/**
 * An error with its text scrubbed — its `message` and every other string field (a `ConfigError`'s
 * `path` names a key, which may be a secret pasted in the wrong place): the same class and fields
 * (the error itself when nothing changed). For the tagged errors of effect-llm, whose constructors
 * take their fields.
 */
export const scrubError = <E>(scrubber: Scrubber, error: E): E => {
  if (typeof error !== "object" || error === null) return error
  // an error's message holds server text `Errors.truncate` may have cut
  const scrub = scrubber.cut ?? scrubber
  const message = (error as { readonly message?: unknown }).message
  if (typeof message !== "string") return error
  let changed = false
  const fields: Record<string, unknown> = {}
  for (const key of Object.keys(error)) {
    if (key === "_tag") continue
    const value = (error as Record<string, unknown>)[key]
    const scrubbed = typeof value === "string" ? scrub(value) : value
    if (scrubbed !== value) changed = true
    fields[key] = scrubbed
  }
  const scrubbedMessage = scrub(message)
  if (scrubbedMessage !== message) changed = true
  if (!changed) return error
  fields.message = scrubbedMessage
  const Constructor = (error as object).constructor as new(
    fields: Record<string, unknown>,
    disableValidation?: boolean
  ) => E
  // (the usage a billed failure reported stays with its copy)
  return withBilledUsage(new Constructor(fields, true) as E & object, billedUsageOf(error))
}
