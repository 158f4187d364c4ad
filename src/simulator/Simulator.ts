/**
 * An embedded, offline stand-in for the Gemini API, DashScope, OpenAI-compatible Chat Completions and
 * the Anthropic Messages API: one loopback HTTP server speaking the four real wire formats, with keys
 * checked like the real services (or not at all, for endpoints configured `keyless`, like a local
 * model server), deterministic answers, and scriptable faults per simulated endpoint. Each endpoint is
 * a path prefix — `baseUrl("google-a")` is `http://127.0.0.1:PORT/google-a`; an OpenAI-compatible
 * endpoint's `base_url` adds its version, `baseUrl("local") + "/v1"` — so one server impersonates any
 * number of endpoints.
 *
 * ```ts
 * const sim = yield* Simulator.make({ keys: { google: "demo-key" }, keyless: ["local"] })
 * sim.script("google-a", { status: 503 }, { status: 429, retryInfo: "2s" })  // next two requests
 * sim.always("google-b", { status: 503 })                                     // until changed
 * ```
 */
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http"
import type { AddressInfo } from "node:net"
import { anthropic } from "./Anthropic.js"
import { dashscope, dashscopeMultimodal } from "./DashScope.js"
import { gemini } from "./Gemini.js"
import { openai } from "./OpenAI.js"
import { complete, parseDirective, type ParsedRequest, type SimulatorStep } from "./Script.js"
import type { Reply, SimulatedProvider, Wire } from "./Wire.js"

export type { ScriptedToolCall, SimulatorStep } from "./Script.js"
export type { SimulatedProvider } from "./Wire.js"

/** How to start a simulator. */
export interface SimulatorOptions {
  /** Interface to listen on; default `127.0.0.1`. */
  readonly host?: string | undefined
  /** Port; default 0 (a free port). */
  readonly port?: number | undefined
  /**
   * Accepted API keys per provider; default `sim-google-key` / `sim-dashscope-key` / `sim-openai-key` /
   * `sim-anthropic-key`.
   */
  readonly keys?: {
    readonly google?: string | ReadonlyArray<string>
    readonly dashscope?: string | ReadonlyArray<string>
    readonly openai?: string | ReadonlyArray<string>
    readonly anthropic?: string | ReadonlyArray<string>
  }
  /**
   * OpenAI-compatible endpoints that check no key (a local model server such as Ollama: any
   * `Authorization`, or none, is accepted). Every other endpoint checks its provider's keys.
   */
  readonly keyless?: ReadonlyArray<string> | undefined
  /** Known model ids; a request for another gets the provider's 404. Default: any model is served. */
  readonly models?: ReadonlyArray<string> | undefined
  /** A step merged under every request's own (e.g. `{ eventDelayMs: 10 }` to slow all streams). */
  readonly defaults?: SimulatorStep | undefined
  /** Initial fault queues, by endpoint name. */
  readonly script?: Readonly<Record<string, ReadonlyArray<SimulatorStep>>> | undefined
  /** Initial standing behaviours, by endpoint name. */
  readonly always?: Readonly<Record<string, SimulatorStep>> | undefined
  /** Entries kept in the request log (oldest dropped first); default 10,000. */
  readonly maxLog?: number | undefined
}

/** One request as the simulator saw it (keys redacted). */
export interface SimulatorRequest {
  /** 1-based arrival order across the whole simulator. */
  readonly seq: number
  /** The endpoint (path prefix without slashes, `default` for none). */
  readonly endpoint: string
  readonly provider: SimulatedProvider | undefined
  readonly model: string | undefined
  readonly stream: boolean
  readonly method: string
  /** Path and query, without any `key=` query parameter. */
  readonly path: string
  /** Request headers; `authorization`, `x-goog-api-key` and `x-api-key` values replaced by `<redacted>` (a present header stays visible). */
  readonly headers: Readonly<Record<string, string>>
  /** The decoded JSON body (`undefined` if it was not JSON). */
  readonly body: unknown
  /** The step applied (queue, standing behaviour, defaults and in-prompt directive merged). */
  step: SimulatorStep | undefined
  /** HTTP status sent; 0 while unanswered, and for a hang or reset. */
  status: number
  /** Epoch ms of arrival. */
  readonly timestamp: number
}

/** A running simulator. */
export interface Simulator {
  /** `http://HOST:PORT`, the base URL of the `default` endpoint. */
  readonly url: string
  readonly port: number
  /** The first accepted key per provider (what a config should use). */
  readonly keys: {
    readonly google: string
    readonly dashscope: string
    readonly openai: string
    readonly anthropic: string
  }
  /** The base URL of a simulated endpoint: `http://HOST:PORT/<endpoint>` (put it in config `base_url`). */
  readonly baseUrl: (endpoint?: string) => string
  /** Queues steps for an endpoint's next requests, one step per request, in order. */
  readonly script: (endpoint: string, ...steps: ReadonlyArray<SimulatorStep>) => void
  /** Sets (or, with `undefined`, clears) the behaviour of an endpoint whenever its queue is empty. */
  readonly always: (endpoint: string, step: SimulatorStep | undefined) => void
  /** Steps still queued for an endpoint. */
  readonly pending: (endpoint: string) => number
  /** Requests received by an endpoint (or by all, without an argument). */
  readonly requests: (endpoint?: string) => number
  /** Requests received per endpoint. */
  readonly counts: () => Readonly<Record<string, number>>
  /** The request log, oldest first (optionally one endpoint's). */
  readonly log: (endpoint?: string) => ReadonlyArray<SimulatorRequest>
  /** Clears queues, standing behaviours, counters and log (of one endpoint, or all). */
  readonly reset: (endpoint?: string) => void
  /** Stops the server, dropping open connections (hung requests included). Idempotent. */
  readonly close: () => Promise<void>
}

interface EndpointState {
  queue: Array<SimulatorStep>
  always: SimulatorStep | undefined
  requests: number
}

interface Route {
  readonly endpoint: string
  readonly wire: Wire
  readonly model: string | undefined
  /** The route itself names a stream (Gemini `:streamGenerateContent`). */
  readonly stream: boolean
}

const geminiPath = /^(.*?)\/(?:v1beta|v1)\/models\/([^/:]+):(generateContent|streamGenerateContent)$/
const dashscopePath = /^(.*?)\/api\/v1\/services\/aigc\/(text|multimodal)-generation\/generation$/
const openaiPath = /^(.*?)\/chat\/completions$/
const anthropicPath = /^(.*?)\/v1\/messages$/

const endpointName = (prefix: string): string => prefix.replace(/^\/+|\/+$/g, "") || "default"

/**
 * An OpenAI-compatible endpoint is the first segment of the prefix before `/chat/completions` (its
 * `base_url` carries a version: `/local/v1`, `/ark/api/v3`); `default` when the prefix starts with one.
 */
const openaiEndpoint = (prefix: string): string => {
  const first = prefix.split("/").find((segment) => segment.length > 0)
  return first === undefined || /^(v\d+|api|compatible-mode)$/.test(first) ? "default" : first
}

const routeOf = (path: string): Route | undefined => {
  const g = geminiPath.exec(path)
  if (g !== null) {
    return {
      endpoint: endpointName(g[1]!),
      wire: gemini,
      model: decodeURIComponent(g[2]!),
      stream: g[3] === "streamGenerateContent"
    }
  }
  const d = dashscopePath.exec(path)
  if (d !== null) {
    return {
      endpoint: endpointName(d[1]!),
      wire: d[2] === "multimodal" ? dashscopeMultimodal : dashscope,
      model: undefined,
      stream: false
    }
  }
  const o = openaiPath.exec(path)
  if (o !== null) return { endpoint: openaiEndpoint(o[1]!), wire: openai, model: undefined, stream: false }
  const a = anthropicPath.exec(path)
  if (a !== null) return { endpoint: endpointName(a[1]!), wire: anthropic, model: undefined, stream: false }
  return undefined
}

/** The endpoint a request path belongs to (for 404s outside both APIs: its first segment). */
const looseEndpoint = (path: string): string => endpointName(path.split("/")[1] ?? "")

const redactedHeaders = (request: IncomingMessage): Record<string, string> => {
  const headers: Record<string, string> = {}
  for (const [name, value] of Object.entries(request.headers)) {
    if (value === undefined) continue
    headers[name] = name === "authorization" || name === "x-goog-api-key" || name === "x-api-key"
      ? "<redacted>"
      : Array.isArray(value)
      ? value.join(", ")
      : value
  }
  return headers
}

const asSet = (value: string | ReadonlyArray<string> | undefined, fallback: string): ReadonlyArray<string> =>
  value === undefined ? [fallback] : typeof value === "string" ? [value] : value.length > 0 ? value : [fallback]

const readBody = (request: IncomingMessage): Promise<string> =>
  new Promise((resolve, reject) => {
    const chunks: Array<Buffer> = []
    request.on("data", (chunk: Buffer) => chunks.push(chunk))
    request.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")))
    request.on("error", reject)
  })

const isReply = (value: ParsedRequest | Reply): value is Reply => "status" in value && "body" in value

/** Starts a simulator; resolves once it listens. Call `close()` when done. */
export const start = async (options: SimulatorOptions = {}): Promise<Simulator> => {
  const host = options.host ?? "127.0.0.1"
  const googleKeys = asSet(options.keys?.google, "sim-google-key")
  const dashscopeKeys = asSet(options.keys?.dashscope, "sim-dashscope-key")
  const openaiKeys = asSet(options.keys?.openai, "sim-openai-key")
  const anthropicKeys = asSet(options.keys?.anthropic, "sim-anthropic-key")
  const keySets: Record<SimulatedProvider, ReadonlySet<string>> = {
    google: new Set(googleKeys),
    dashscope: new Set(dashscopeKeys),
    openai: new Set(openaiKeys),
    anthropic: new Set(anthropicKeys)
  }
  const keyless = new Set((options.keyless ?? []).map(endpointName))
  const models = options.models !== undefined ? new Set(options.models) : undefined
  const maxLog = options.maxLog ?? 10_000
  const endpoints = new Map<string, EndpointState>()
  const timers = new Set<NodeJS.Timeout>()
  let log: Array<SimulatorRequest> = []
  let sequence = 0
  let closed = false

  const state = (name: string): EndpointState => {
    let found = endpoints.get(name)
    if (found === undefined) {
      found = { queue: [], always: undefined, requests: 0 }
      endpoints.set(name, found)
    }
    return found
  }
  for (const [name, steps] of Object.entries(options.script ?? {})) state(name).queue.push(...steps)
  for (const [name, step] of Object.entries(options.always ?? {})) state(name).always = step

  const later = (ms: number, run: () => void) => {
    const timer = setTimeout(() => {
      timers.delete(timer)
      run()
    }, ms)
    timers.add(timer)
  }
  const sleep = (ms: number) => new Promise<void>((resolve) => later(ms, resolve))

  const send = (entry: SimulatorRequest, response: ServerResponse, reply: Reply) => {
    entry.status = reply.status
    response.writeHead(reply.status, reply.headers)
    response.end(reply.body)
  }

  const streamOut = (
    entry: SimulatorRequest,
    response: ServerResponse,
    wire: Wire,
    sse: boolean,
    step: SimulatorStep,
    parsed: ParsedRequest,
    requestId: string
  ) => {
    const completion = complete(parsed, step, requestId)
    const frames = wire.frames(completion)
    if (!sse) {
      // Gemini `:streamGenerateContent` without `alt=sse` streams one JSON array.
      return send(entry, response, {
        status: 200,
        headers: { "content-type": "application/json; charset=UTF-8" },
        body: `[${frames.map((frame) => frame.slice(6, -4)).join(",\r\n")}]`
      })
    }
    let count = frames.length
    let ending: "finish" | "cut" | "end" | "error" = "finish"
    const status = step.status ?? 0
    if (status >= 400) {
      count = Math.min(step.inStream === true ? 0 : Number(step.inStream), frames.length - 1)
      ending = "error"
    } else if (step.cutAfter !== undefined && step.cutAfter < frames.length) {
      count = step.cutAfter
      ending = "cut"
    } else if (step.endAfter !== undefined && step.endAfter < frames.length) {
      count = step.endAfter
      ending = "end"
    }
    const closing = ending === "error" ? wire.streamError(status, step, requestId, count) : ""
    const finish = (last: string) => {
      if (ending === "cut") {
        if (last.length > 0) response.write(last, () => response.destroy())
        else response.destroy()
      } else response.end(last + closing)
    }
    entry.status = 200
    response.writeHead(200, wire.streamHeaders(completion))
    const delay = step.eventDelayMs ?? 0
    if (delay <= 0) return finish(frames.slice(0, count).join(""))
    response.flushHeaders()
    let index = 0
    const next = () => {
      if (response.destroyed || closed) return
      if (index >= count) return finish("")
      response.write(frames[index++]!)
      later(delay, next)
    }
    later(delay, next)
  }

  const handle = async (request: IncomingMessage, response: ServerResponse) => {
    const url = new URL(request.url ?? "/", "http://simulator")
    url.searchParams.delete("key")
    const route = routeOf(url.pathname)
    const text = await readBody(request)
    let body: unknown
    try {
      body = text.length > 0 ? JSON.parse(text) : undefined
    } catch {
      body = undefined
    }
    const seq = ++sequence
    const endpoint = route?.endpoint ?? looseEndpoint(url.pathname)
    const stream = route !== undefined && (route.stream || route.wire.wantsStream(request.headers, url, body))
    const entry: SimulatorRequest = {
      seq,
      endpoint,
      provider: route?.wire.provider,
      model: route?.model ??
        (typeof (body as { model?: unknown })?.model === "string" ? (body as { model: string }).model : undefined),
      stream,
      method: request.method ?? "GET",
      path: url.pathname + url.search,
      headers: redactedHeaders(request),
      body,
      step: undefined,
      status: 0,
      timestamp: Date.now()
    }
    log.push(entry)
    if (log.length > maxLog + 1000) log = log.slice(log.length - maxLog)
    const target = state(endpoint)
    target.requests++

    if (route === undefined || request.method !== "POST") {
      return send(entry, response, {
        status: 404,
        headers: { "content-type": "application/json; charset=UTF-8" },
        body: JSON.stringify({
          error: { code: 404, message: `No simulated API at ${request.method} ${url.pathname}`, status: "NOT_FOUND" }
        })
      })
    }
    const wire = route.wire
    const requestId = wire.provider === "google"
      ? Buffer.from(`sim-response-${seq}`).toString("base64url")
      : wire.provider === "openai"
      ? `req_sim${seq.toString(16).padStart(24, "0")}`
      : wire.provider === "anthropic"
      ? `req_011Sim${seq.toString(36).padStart(15, "0")}`
      : `5e1a0000-0000-4000-8000-${seq.toString(16).padStart(12, "0")}`
    const rejected = wire.provider === "openai" && keyless.has(endpoint)
      ? undefined
      : wire.authenticate(
        request.headers,
        new URL(request.url ?? "/", "http://simulator"),
        keySets[wire.provider],
        requestId
      )
    if (rejected !== undefined) return send(entry, response, rejected)
    const parsed = wire.parse(body, route.model, requestId)
    if (isReply(parsed)) return send(entry, response, parsed)
    if (models !== undefined && !models.has(parsed.model)) {
      return send(
        entry,
        response,
        wire.error(
          404,
          {
            message: wire.provider === "google"
              ? `models/${parsed.model} is not found for API version v1beta, or is not supported for generateContent. Call ListModels to see the list of available models and their supported methods.`
              : wire.provider === "openai"
              ? `The model \`${parsed.model}\` does not exist or you do not have access to it.`
              : wire.provider === "anthropic"
              ? `model: ${parsed.model}`
              : "Model not exist."
          },
          requestId,
          stream
        )
      )
    }

    const step: SimulatorStep = {
      ...options.defaults,
      ...parseDirective(parsed.prompt),
      ...(target.queue.shift() ?? target.always)
    }
    entry.step = step
    if (step.reset === true) return void request.socket.destroy()
    if (step.hang === true) return
    if ((step.delayMs ?? 0) > 0) {
      await sleep(step.delayMs!)
      if (response.destroyed || closed) return
    }
    const status = step.status ?? 0
    const inStream = step.inStream !== undefined && step.inStream !== false
    if (status >= 400 && !(stream && inStream)) {
      return send(entry, response, wire.error(status, step, requestId, stream))
    }
    if (step.promptBlocked !== undefined) {
      return send(entry, response, wire.blocked(parsed, step.promptBlocked, requestId, stream))
    }
    if (!stream) return send(entry, response, wire.unary(complete(parsed, step, requestId)))
    const sse = wire.provider !== "google" || url.searchParams.get("alt") === "sse"
    streamOut(entry, response, wire, sse, step, parsed, requestId)
  }

  const server: Server = createServer((request, response) => {
    handle(request, response).catch((error: unknown) => {
      if (!response.headersSent) {
        response.writeHead(500, { "content-type": "text/plain" })
        response.end(`simulator error: ${String(error)}`)
      } else response.destroy()
    })
  })
  server.keepAliveTimeout = 30_000

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject)
    server.listen(options.port ?? 0, host, () => {
      server.off("error", reject)
      resolve()
    })
  })
  const port = (server.address() as AddressInfo).port
  const url = `http://${host.includes(":") ? `[${host}]` : host}:${port}`

  return {
    url,
    port,
    keys: {
      google: googleKeys[0]!,
      dashscope: dashscopeKeys[0]!,
      openai: openaiKeys[0]!,
      anthropic: anthropicKeys[0]!
    },
    baseUrl: (
      endpoint
    ) => (endpoint === undefined || endpoint === "default" ? url : `${url}/${endpointName(endpoint)}`),
    script: (endpoint, ...steps) => void state(endpointName(endpoint)).queue.push(...steps),
    always: (endpoint, step) => void (state(endpointName(endpoint)).always = step),
    pending: (endpoint) => endpoints.get(endpointName(endpoint))?.queue.length ?? 0,
    requests: (endpoint) =>
      endpoint === undefined
        ? [...endpoints.values()].reduce((sum, e) => sum + e.requests, 0)
        : endpoints.get(endpointName(endpoint))?.requests ?? 0,
    counts: () => Object.fromEntries([...endpoints].map(([name, e]) => [name, e.requests])),
    // the newest `maxLog` (the array itself is trimmed in batches, not at every request)
    log: (endpoint) => {
      const kept = log.length > maxLog ? log.slice(log.length - maxLog) : log.slice()
      return endpoint === undefined ? kept : kept.filter((e) => e.endpoint === endpointName(endpoint))
    },
    reset: (endpoint) => {
      if (endpoint === undefined) {
        endpoints.clear()
        log = []
      } else {
        endpoints.delete(endpointName(endpoint))
        log = log.filter((e) => e.endpoint !== endpointName(endpoint))
      }
    },
    close: () => {
      if (closed) return Promise.resolve()
      closed = true
      for (const timer of timers) clearTimeout(timer)
      timers.clear()
      return new Promise<void>((resolve) => {
        server.close(() => resolve())
        server.closeAllConnections()
      })
    }
  }
}

/** A simulator for the life of the enclosing `Scope` (closed when the scope closes). */
export const make = (options: SimulatorOptions = {}): Effect.Effect<Simulator, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.promise(() => start(options)),
    (simulator) => Effect.promise(() => simulator.close())
  )
