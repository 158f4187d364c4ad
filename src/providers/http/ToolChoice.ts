/**
 * The tool-choice rule every protocol shares: a choice that forces a call (`required`, `{tool}`,
 * `{oneOf}`) needs declared tools, and the tools it names must be among them — else `invalid_request`
 * before any ledger write, rather than the service's 400.
 */
import { FatalError } from "../../domain/Errors.js"
import type { CallRequest, ToolChoice } from "../../domain/Prompt.js"

/** The tool names a choice restricts the model to (none for `auto`, `none`, `required`). */
export const namedTools = (choice: ToolChoice): ReadonlyArray<string> =>
  typeof choice === "string" ? [] : "tool" in choice ? [choice.tool] : choice.oneOf

/** The first problem with `request.toolChoice`, as an `invalid_request`; else `undefined`. */
export const checkToolChoice = (request: CallRequest): FatalError | undefined => {
  const choice = request.toolChoice
  if (choice === undefined || choice === "auto" || choice === "none") return undefined
  const invalid = (message: string) => new FatalError({ reason: "invalid_request", message })
  const declared = new Set((request.tools ?? []).map((tool) => tool.name))
  if (declared.size === 0) return invalid(`toolChoice ${JSON.stringify(choice)} needs tools, and none are declared`)
  const named = namedTools(choice)
  if (typeof choice !== "string" && named.length === 0) return invalid("toolChoice oneOf names no tool")
  const unknown = named.find((name) => !declared.has(name))
  return unknown === undefined ? undefined : invalid(`toolChoice names the tool "${unknown}", which is not declared`)
}
