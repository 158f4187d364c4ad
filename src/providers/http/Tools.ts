/**
 * Request rules about tools that hold for every protocol that has them, checked before any ledger
 * write: tool names match the service's pattern and are unique, and a tool choice that names tools
 * (or demands one) refers to tools the request declares. Also what the protocols that send arguments
 * as a JSON string share: the arguments text of a replayed call, the params of a decoded one, a tool
 * result as text, and a choice of several tools narrowed to a "required" over them.
 */
import { FatalError } from "../../domain/Errors.js"
import type {
  CallRequest,
  Message,
  ToolCallPart,
  ToolChoice,
  ToolDefinition,
  ToolResultPart
} from "../../domain/Prompt.js"
import { jsonText } from "../../internal/JsonText.js"
import { escapeControls } from "../../internal/Printable.js"
import type { StreamPart } from "../Provider.js"

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

/**
 * A call's `arguments` text for a protocol that sends arguments as a JSON string (OpenAI, DashScope):
 * the string the service sent, kept in the part's metadata under `metadataKey`, when it still says
 * what `params` says (services check it is JSON: never re-serialised needlessly), else `params` as JSON.
 */
export const argumentsText = (part: ToolCallPart, metadataKey: string): string => {
  const original = part.metadata?.[metadataKey]?.arguments
  if (typeof original === "string") {
    try {
      if (JSON.stringify(JSON.parse(original)) === JSON.stringify(part.params)) return original
    } catch (error) {
      // Nested too deep to compare (`JSON.stringify` recurses): the service's own text, sent back as
      // it came. Not JSON: the params are sent instead.
      if (error instanceof RangeError) return original
    }
  }
  return typeof part.params === "string" ? part.params : jsonText(part.params ?? {}) ?? "{}"
}

/**
 * A call's arguments text as `params`: the parsed JSON (`{}` when empty), or the text itself when it
 * is not JSON (the caller's tool decode then fails on it, never the provider's).
 */
export const parseArguments = (text: string): unknown => {
  if (text.trim().length === 0) return {}
  try {
    return JSON.parse(text)
  } catch {
    return text
  }
}

/** What a stream says of a tool call the output limit cut: left out of the answer, never run. */
export const cutCallWarning = (name: string, id: string, cause = "the output limit"): StreamPart => ({
  _tag: "Warning",
  // (the name and id are the server's: shown escaped in a log, never run by a terminal)
  message:
    `${cause} cut tool call "${escapeControls(name)}"${
      id.length > 0 ? ` (${escapeControls(id)})` : ""
    } before its arguments ended: ` +
    "it is left out of the answer and not run"
})

/**
 * Whether a call's arguments were cut by the output limit: under a `length` finish, arguments that
 * are not one whole JSON text (WIRE-tools-multimodal §5: a truncated answer is not a partial result).
 * Such a call is left out, as Anthropic's cut `tool_use` block never reaches its stop.
 */
export const cutByLength = (text: string, finishedByLength: boolean): boolean => finishedByLength && !isWholeJson(text)

const isBlank = (text: string): boolean => text.trim().length === 0

/** Whether a call's argument text is complete: blank (no arguments, `{}`) or one whole JSON text. */
export const isWholeArguments = (text: string): boolean => isBlank(text) || isWholeJson(text)

/** Whether `text` is one whole JSON text (arguments no limit cut). */
export const isWholeJson = (text: string): boolean => {
  try {
    JSON.parse(text)
    return true
  } catch {
    return false
  }
}

/**
 * An assembled call as a tool-call part, for a protocol that sends arguments as a JSON string (OpenAI,
 * DashScope): `params` the parsed `arguments` (`{}` when empty; the text itself when it is not JSON),
 * the original text kept in metadata under `metadataKey` so that a replay sends it unchanged.
 */
export const toolCallPart = (
  metadataKey: string,
  id: string,
  name: string,
  text: string,
  newId: () => string = newCallId
): ToolCallPart => ({
  type: "tool-call",
  id: id.length > 0 ? id : newId(),
  name,
  params: parseArguments(text),
  metadata: { [metadataKey]: { arguments: text } }
})

/** A streamed tool-call fragment in the Chat Completions shape (DashScope sends it too). */
export interface CallFragment {
  readonly index?: number | null | undefined
  readonly id?: string | null | undefined
  readonly function?:
    | { readonly name?: string | null | undefined; readonly arguments?: string | null | undefined }
    | null
    | undefined
}

/**
 * Tool calls streamed as `index`-keyed fragments (OpenAI, DashScope): each call keeps its first
 * fragment's id and name — continuations carry none, or DashScope's `"id": ""` — and gathers the
 * arguments; `flush` emits the calls whole, in index order, once (when the choice or stream finished).
 */
export const fragmentAssembler = (metadataKey: string) => {
  // `reported`: the characters of name and arguments a usage report already counted (`reported()`).
  const calls = new Map<number, { id: string; name: string; arguments: string; reported: number }>()
  // Fragments without an `index` (a server that leaves it out): keyed by their position in the chunk,
  // and a fragment bringing another id than its position's call starts a new call — two calls sent
  // whole in two chunks are two calls, not one with both argument texts. Keys above any real index, in
  // arrival order.
  let unindexed: Array<number> = []
  let nextUnindexed = 2 ** 30
  const unindexedKey = (position: number, id: string | null | undefined): number => {
    const key = unindexed[position]
    const current = key === undefined ? undefined : calls.get(key)
    if (current !== undefined && (id == null || id.length === 0 || current.id.length === 0 || current.id === id)) {
      return key!
    }
    unindexed[position] = nextUnindexed
    return nextUnindexed++
  }
  // Fragments with an `index`: a fragment bringing another id and a name, after its index's call's
  // arguments are whole, starts a new call (Ollama's `/v1` sends every call of a parallel batch whole
  // at `index: 0`, each with its id); so does one of another function after a call with no arguments
  // yet (a no-argument call sent whole as `""`), its arguments whole or still to come. A continuation under a changed id
  // (Poolside, older mlx-openai-server) brings no name, or its call's name again, or comes
  // mid-arguments, and stays in its call: on shape alone the two can look alike, and a merged call is
  // safer than an invented one.
  const reindexed = new Map<number, number>()
  const indexedKey = (
    index: number,
    id: string | null | undefined,
    name: string | null | undefined
  ): number => {
    const key = reindexed.size === 0 ? index : reindexed.get(index) ?? index
    if (id == null || id.length === 0 || name == null || name.length === 0) return key
    const current = calls.get(key)
    if (
      current === undefined || current.id.length === 0 || current.id === id ||
      !(isBlank(current.arguments) ? name !== current.name : isWholeJson(current.arguments))
    ) {
      return key
    }
    reindexed.set(index, nextUnindexed)
    return nextUnindexed++
  }
  return {
    add: (fragments: ReadonlyArray<CallFragment>): void => {
      // An indexed loop: `entries()` with destructuring cost ~1.5 µs per (mostly empty) call until
      // V8 optimized it, a tenth of a cold 10,000-event stream's CPU (bench W3).
      for (let position = 0; position < fragments.length; position++) {
        const fragment = fragments[position]!
        const index = fragment.index == null
          ? unindexedKey(position, fragment.id)
          : indexedKey(fragment.index, fragment.id, fragment.function?.name)
        let call = calls.get(index)
        if (call === undefined) {
          call = { id: "", name: "", arguments: "", reported: 0 }
          calls.set(index, call)
        }
        if (fragment.id != null && fragment.id.length > 0 && call.id.length === 0) call.id = fragment.id
        const name = fragment.function?.name
        if (name != null && name.length > 0 && call.name.length === 0) call.name = name
        call.arguments += fragment.function?.arguments ?? ""
      }
    },
    /**
     * UTF-8 bytes of the names and argument text of the calls not yet emitted that no usage report
     * counted yet (`heldOutputBytes` of `EventStream.EventHandler`).
     */
    heldBytes: (): number => {
      let bytes = 0
      for (const call of calls.values()) {
        bytes += Buffer.byteLength((call.name + call.arguments).slice(call.reported), "utf8")
      }
      return bytes
    },
    /** A usage report came: it counts the fragments received so far (its output is cumulative). */
    reported: (): void => {
      for (const call of calls.values()) call.reported = call.name.length + call.arguments.length
    },
    /**
     * Emits the calls whole; after a `length` finish, those whose arguments it cut are left out, and
     * said as a `Warning` (WIRE-tools-multimodal §4.3: reported, never run).
     */
    flush: (out: Array<StreamPart>, finishedByLength = false): void => {
      for (const index of [...calls.keys()].sort((a, b) => a - b)) {
        const call = calls.get(index)!
        if (cutByLength(call.arguments, finishedByLength)) {
          out.push(cutCallWarning(call.name, call.id))
          continue
        }
        out.push({ _tag: "ToolCall", call: toolCallPart(metadataKey, call.id, call.name, call.arguments) })
      }
      calls.clear()
      unindexed = []
      reindexed.clear()
    }
  }
}

/** A tool result as text: a string as it is, anything else as JSON; a failure as `{"error":…}`. */
export const resultText = (part: ToolResultPart): string =>
  part.isFailure
    ? jsonText({ error: part.result })!
    : typeof part.result === "string"
    ? part.result
    : jsonText(part.result ?? null) ?? "null"

/** A local id for a call that came without one: `call_` and 24 hex digits. */
export const newCallId = (): string => {
  let id = "call_"
  for (let i = 0; i < 24; i++) id += Math.floor(Math.random() * 16).toString(16)
  return id
}

/**
 * The tools a request sends and the choice among them, for a protocol whose choice names at most one
 * tool: a choice of several (`{ oneOf }` with more than one name) is "required" over those tools
 * only — the others are left out of that request, so the model must call one of the named ones.
 */
export const narrowTools = (
  tools: ReadonlyArray<ToolDefinition>,
  choice: ToolChoice | undefined
): { readonly tools: ReadonlyArray<ToolDefinition>; readonly choice: ToolChoice | undefined } => {
  if (choice === undefined || typeof choice === "string" || "tool" in choice) return { tools, choice }
  if (choice.oneOf.length === 1) return { tools, choice: { tool: choice.oneOf[0]! } }
  const names = new Set(choice.oneOf)
  return { tools: tools.filter((tool) => names.has(tool.name)), choice: "required" }
}

/**
 * The tool results after each model turn in the order of its calls: Gemini pairs a `functionResponse`
 * with its call by position (WIRE-tools-multimodal §1.5: "in call order"; the ids effect-llm makes on
 * Gemini 2.x are never sent), DashScope takes "one `tool` message per call, in call order" (§2.5), so
 * results a loop appended as they finished would answer the wrong calls. A run of tool messages becomes
 * one, its results sorted by their call's place; results of no call of that turn keep their order, last.
 * Messages without tool results are returned as they are.
 */
export const resultsInCallOrder = (messages: ReadonlyArray<Message>): ReadonlyArray<Message> => {
  if (!messages.some((message) => message.role === "tool")) return messages
  const out: Array<Message> = []
  let callOrder = new Map<string, number>()
  // a turn that repeats a call id cannot be ordered by id: its results stay as given
  let ambiguous = false
  for (let index = 0; index < messages.length; index++) {
    const message = messages[index]!
    if (message.role !== "tool") {
      if (message.role === "assistant") {
        // consecutive assistant messages are one model turn (see `encodeMessages`)
        if (out[out.length - 1]?.role !== "assistant") {
          callOrder = new Map()
          ambiguous = false
        }
        for (const part of message.parts) {
          if (part.type !== "tool-call") continue
          if (callOrder.has(part.id)) ambiguous = true
          callOrder.set(part.id, callOrder.size)
        }
      }
      out.push(message)
      continue
    }
    const results: Array<ToolResultPart> = [...message.parts]
    while (messages[index + 1]?.role === "tool") results.push(...(messages[++index] as typeof message).parts)
    const place = (part: ToolResultPart) => ambiguous ? 0 : callOrder.get(part.id) ?? callOrder.size
    out.push({
      role: "tool",
      parts: results.map((part, at) => ({ part, at })).sort((a, b) => place(a.part) - place(b.part) || a.at - b.at).map(
        ({ part }) => part
      )
    })
  }
  return out
}
