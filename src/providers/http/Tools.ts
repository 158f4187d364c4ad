/**
 * Request rules about tools that hold for every protocol that has them, checked before any ledger
 * write: tool names match the service's pattern and are unique, and a tool choice that names tools
 * (or demands one) refers to tools the request declares.
 */
import { FatalError } from "../../domain/Errors.js"
import type { CallRequest, ToolChoice } from "../../domain/Prompt.js"

const refuse = (message: string) => new FatalError({ reason: "invalid_request", message })

/** The tool names a choice names (`{ tool }`, `{ oneOf }`); none for the other forms. */
export const namedTools = (choice: ToolChoice | undefined): ReadonlyArray<string> =>
  choice === undefined || typeof choice === "string" ? [] : "tool" in choice ? [choice.tool] : choice.oneOf

/**
 * The tool rules of a protocol whose names must match `namePattern` (e.g. `^[a-zA-Z0-9_-]{1,64}$`):
 * names valid and unique; `required`, `{ tool }` and `{ oneOf }` need declared tools, and every name
 * they give must be one of them (an empty `oneOf` is refused too).
 */
export const checkTools = (
  request: CallRequest,
  protocol: string,
  namePattern: RegExp
): FatalError | undefined => {
  const tools = request.tools ?? []
  const names = new Set<string>()
  for (const [index, tool] of tools.entries()) {
    if (!namePattern.test(tool.name)) {
      return refuse(
        `tools[${index}].name ${JSON.stringify(tool.name)} does not match ${namePattern.source} (${protocol})`
      )
    }
    if (names.has(tool.name)) return refuse(`tools[${index}].name ${JSON.stringify(tool.name)} is declared twice`)
    names.add(tool.name)
  }
  const choice = request.toolChoice
  if (choice === undefined || choice === "auto" || choice === "none") return undefined
  if (tools.length === 0) {
    return refuse(`toolChoice ${JSON.stringify(choice)} needs tools, and the request declares none`)
  }
  if (typeof choice === "object" && "oneOf" in choice && choice.oneOf.length === 0) {
    return refuse("toolChoice { oneOf: [] } names no tool")
  }
  for (const name of namedTools(choice)) {
    if (!names.has(name)) return refuse(`toolChoice names ${JSON.stringify(name)}, which is not a declared tool`)
  }
  return undefined
}
