/**
 * The batch input file: one JSON object per line — `id`, `prompt` or `messages`, and optionally
 * `model`, `system`, `maxOutputTokens`, `temperature`, `topP`, `stop`, `tags` — parsed into a
 * `BatchItem`, or rejected with a reason (reported with the line's number).
 */
import * as Either from "effect/Either"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import type { BatchItem } from "../../batch/Batch.js"
import { FatalError } from "../../domain/Errors.js"
import { type GenerateRequest, validate } from "../../domain/Request.js"

const Role = Schema.Literal("system", "user", "assistant")

/** The fields of an input line (besides `id`); any other field is rejected (a typo is not ignored). */
const Fields = Schema.Struct({
  prompt: Schema.optional(Schema.String),
  // content: text, or content parts (images, files) as `generate` takes them, judged by `validate` below
  messages: Schema.optional(
    Schema.Array(Schema.Struct({ role: Role, content: Schema.Union(Schema.String, Schema.Array(Schema.Unknown)) }))
  ),
  model: Schema.optional(Schema.String),
  system: Schema.optional(Schema.String),
  maxOutputTokens: Schema.optional(Schema.Number),
  temperature: Schema.optional(Schema.Number),
  topP: Schema.optional(Schema.Number),
  stop: Schema.optional(Schema.Array(Schema.String)),
  tags: Schema.optional(Schema.Record({ key: Schema.String, value: Schema.String }))
})

const known = new Set(["id", ...Object.keys(Fields.fields)])
const decodeFields = Schema.decodeUnknownEither(Fields)

/** A request with the optional `tags` of API.md §12 (passed through to the pipeline). */
export type BatchRequest = GenerateRequest & { readonly tags?: Readonly<Record<string, string>> }

/** What a line holds. */
export type ParsedLine =
  | { readonly _tag: "Blank" }
  | {
    readonly _tag: "Item"
    readonly item: BatchItem
    /** The id was a JSON integer (`42`): its results are written with it as one. */
    readonly integerId: boolean
    /** The alias it asks for (its `model`, else `--model`, else `default_model`). */
    readonly alias: string
  }
  | { readonly _tag: "Malformed"; readonly reason: string; readonly id?: string }

/** What parsing needs to know: the `--model` default and the configured aliases. */
export interface ParseContext {
  /** `--model`: the alias of lines that name none. */
  readonly model: string | undefined
  readonly defaultModel: string
  readonly aliases: ReadonlySet<string>
}

const malformed = (reason: string, id?: string): ParsedLine =>
  id === undefined ? { _tag: "Malformed", reason } : { _tag: "Malformed", reason, id }

const firstIssue = (error: ParseResult.ParseError): string => {
  const [issue] = ParseResult.ArrayFormatter.formatErrorSync(error)
  return issue === undefined ? error.message : `${issue.path.join(".")}: ${issue.message}`
}

/** Parses one line of the input file (a blank line is `Blank`, skipped without a report). */
export const parseLine = (text: string, context: ParseContext): ParsedLine => {
  if (text.trim() === "") return { _tag: "Blank" }
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch (error) {
    return malformed(`not valid JSON (${error instanceof Error ? error.message : String(error)})`)
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return malformed("a line must be a JSON object")
  }
  const record = value as Record<string, unknown>
  const rawId = record.id
  if (rawId === undefined) return malformed("no id")
  if (typeof rawId === "number" && !Number.isSafeInteger(rawId)) {
    // quoted as the line wrote it (JSON.parse rounds one past 2^53: 12345678901234567890 → …7000) when
    // that is the id JSON.parse kept — not a nested "id", not a duplicate key's first value
    const written = /"id"\s*:\s*(-?[\d.eE+-]+)/.exec(text)?.[1]
    const shown = written !== undefined && Number(written) === rawId ? written : String(rawId)
    return malformed(`id ${shown} is not an integer within ±9007199254740991 (give a larger one as a string)`)
  }
  if (typeof rawId !== "number" && !(typeof rawId === "string" && rawId.trim() !== "")) {
    return malformed(`id must be a string that is not blank, or an integer, got ${JSON.stringify(rawId)}`)
  }
  const id = String(rawId)
  const unknown = Object.keys(record).filter((key) => !known.has(key))
  if (unknown.length > 0) {
    return malformed(`unknown field ${unknown.map((key) => JSON.stringify(key)).join(", ")}`, id)
  }
  const decoded = decodeFields(record)
  if (Either.isLeft(decoded)) return malformed(firstIssue(decoded.left), id)
  const fields = decoded.right
  const model = fields.model ?? context.model
  const request: BatchRequest = {
    ...(fields.prompt !== undefined ? { prompt: fields.prompt } : {}),
    ...(fields.messages !== undefined ? { messages: fields.messages as GenerateRequest["messages"] } : {}),
    ...(model !== undefined ? { model } : {}),
    ...(fields.system !== undefined ? { system: fields.system } : {}),
    ...(fields.maxOutputTokens !== undefined ? { maxOutputTokens: fields.maxOutputTokens } : {}),
    ...(fields.temperature !== undefined ? { temperature: fields.temperature } : {}),
    ...(fields.topP !== undefined ? { topP: fields.topP } : {}),
    ...(fields.stop !== undefined ? { stop: fields.stop } : {}),
    ...(fields.tags !== undefined ? { tags: fields.tags } : {})
  }
  // The library's own check (API.md §1), before anything is spent.
  const checked = validate(request)
  if (checked instanceof FatalError) return malformed(checked.message, id)
  const alias = model ?? context.defaultModel
  if (!context.aliases.has(alias)) {
    return malformed(
      `unknown model alias ${JSON.stringify(alias)} (config models: ${[...context.aliases].join(", ")})`,
      id
    )
  }
  return { _tag: "Item", item: { id, request }, alias, integerId: typeof rawId === "number" }
}
