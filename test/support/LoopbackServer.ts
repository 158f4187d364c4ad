/**
 * A scripted node:http server on 127.0.0.1 (port 0) for provider tests: queue responses per request
 * (whole bodies, timed chunks, a hang, a cut socket), capture what the client sent, count TCP
 * connections and see when the client closed one. Also replays recorded fixtures byte for byte.
 */
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import * as Fs from "node:fs"
import * as Http from "node:http"
import * as Net from "node:net"
import * as Path from "node:path"
import { fileURLToPath } from "node:url"

/**
 * One piece of a chunked body: bytes/text written as one `write`, a pause before the next piece, or
 * a gate the test opens (the next piece waits for the promise).
 */
export type BodyPart = string | Uint8Array | { readonly delayMs: number } | { readonly gate: Promise<void> }

/** What the server answers to one request. */
export interface ScriptedResponse {
  /** HTTP status; 200 when absent. */
  readonly status?: number
  readonly headers?: Readonly<Record<string, string>>
  /** A whole body, or parts written one by one (each `write` is flushed as its own HTTP chunk). */
  readonly body?: string | Uint8Array | ReadonlyArray<BodyPart>
  /** Wait this long before sending the status line. */
  readonly delayMs?: number
  /**
   * How the response ends after the body: `"end"` (default) finishes it normally; `"destroy"` resets
   * the socket mid-body (a cut connection, the client sees no terminating chunk); `"hang"` keeps it
   * open without finishing (an idle stream).
   */
  readonly end?: "end" | "destroy" | "hang"
  /** Never answer at all: not even the status line. */
  readonly hang?: boolean
}

/** A request as the server saw it. */
export interface CapturedRequest {
  readonly method: string
  /** Path and query, as sent (`/v1beta/models/x:generateContent`). */
  readonly url: string
  /** Header names lower-cased. */
  readonly headers: Readonly<Record<string, string | ReadonlyArray<string> | undefined>>
  readonly bodyText: string
  /** The body parsed as JSON, `undefined` when it is not JSON. */
  readonly json: unknown
  /** Resolves when the TCP socket that carried this request closes. */
  readonly socketClosed: Promise<void>
  /** The id of that socket in accept order (0, 1, …); equal ids mean a reused keep-alive connection. */
  readonly connectionId: number
}

/** A running loopback server. */
export interface LoopbackServer {
  /** `http://127.0.0.1:<port>`, no trailing slash. */
  readonly url: string
  readonly port: number
  /** Queues responses, answered in order, one per request; when the queue is empty the default handler answers. */
  readonly enqueue: (...responses: ReadonlyArray<ScriptedResponse>) => void
  /** Replaces the default handler (initially a 404 `{"error":"no scripted response"}`). */
  readonly setDefault: (handler: (request: CapturedRequest) => ScriptedResponse) => void
  /** Requests received so far, in arrival order. */
  readonly requests: ReadonlyArray<CapturedRequest>
  /** TCP connections accepted so far. */
  readonly connectionsAccepted: () => number
  /** TCP connections closed so far (either side). */
  readonly connectionsClosed: () => number
  /** Resolves once `count` requests have arrived. */
  readonly awaitRequests: (count: number) => Promise<ReadonlyArray<CapturedRequest>>
  /** Stops listening and destroys every open connection. */
  readonly close: () => Promise<void>
}

const collect = (req: Http.IncomingMessage): Promise<string> =>
  new Promise((resolve, reject) => {
    const chunks: Array<Buffer> = []
    req.on("data", (chunk: Buffer) => chunks.push(chunk))
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")))
    req.on("error", reject)
  })

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

const parseJson = (text: string): unknown => {
  try {
    return JSON.parse(text)
  } catch {
    return undefined
  }
}

const answer = async (res: Http.ServerResponse, script: ScriptedResponse): Promise<void> => {
  if (script.hang === true) return
  if (script.delayMs !== undefined) await sleep(script.delayMs)
  if (res.destroyed) return
  const parts: ReadonlyArray<BodyPart> = script.body === undefined
    ? []
    : typeof script.body === "string" || script.body instanceof Uint8Array
    ? [script.body]
    : script.body
  const headers: Record<string, string> = { ...script.headers }
  const whole = typeof script.body === "string" || script.body instanceof Uint8Array
  const hasLength = Object.keys(headers).some((name) => name.toLowerCase() === "content-length")
  if (whole && !hasLength && (script.end ?? "end") === "end") {
    headers["content-length"] = String(Buffer.byteLength(script.body as string | Uint8Array))
  }
  res.writeHead(script.status ?? 200, headers)
  res.flushHeaders()
  for (const part of parts) {
    if (res.destroyed) return
    if (typeof part === "string" || part instanceof Uint8Array) {
      await new Promise<void>((resolve) => res.write(part, () => resolve()))
    } else if ("gate" in part) {
      await part.gate
    } else {
      await sleep(part.delayMs)
    }
  }
  switch (script.end ?? "end") {
    case "end":
      res.end()
      return
    case "destroy":
      // Let the last write leave the kernel buffer before the reset, so the client sees the partial body.
      await sleep(10)
      res.socket?.destroy()
      return
    case "hang":
      return
  }
}

/** Starts a server (plain Promise API); call `close()` when done. */
export const start = (): Promise<LoopbackServer> => {
  const queue: Array<ScriptedResponse> = []
  const requests: Array<CapturedRequest> = []
  const sockets = new Set<Net.Socket>()
  const socketIds = new WeakMap<Net.Socket, { id: number; closed: Promise<void> }>()
  const waiters: Array<{ count: number; resolve: (requests: ReadonlyArray<CapturedRequest>) => void }> = []
  let accepted = 0
  let closed = 0
  let defaultHandler = (_: CapturedRequest): ScriptedResponse => ({
    status: 404,
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ error: "no scripted response" })
  })

  const server = Http.createServer((req, res) => {
    void (async () => {
      const bodyText = await collect(req)
      const info = socketIds.get(req.socket)!
      const captured: CapturedRequest = {
        method: req.method ?? "GET",
        url: req.url ?? "/",
        headers: req.headers,
        bodyText,
        json: parseJson(bodyText),
        socketClosed: info.closed,
        connectionId: info.id
      }
      requests.push(captured)
      for (let i = waiters.length - 1; i >= 0; i--) {
        if (requests.length >= waiters[i]!.count) waiters.splice(i, 1)[0]!.resolve([...requests])
      }
      await answer(res, queue.shift() ?? defaultHandler(captured))
    })().catch(() => res.socket?.destroy())
  })
  server.keepAliveTimeout = 30_000
  server.on("connection", (socket: Net.Socket) => {
    const id = accepted++
    sockets.add(socket)
    const closedPromise = new Promise<void>((resolve) =>
      socket.on("close", () => {
        closed++
        sockets.delete(socket)
        resolve()
      })
    )
    socketIds.set(socket, { id, closed: closedPromise })
  })

  return new Promise((resolve, reject) => {
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const port = (server.address() as Net.AddressInfo).port
      resolve({
        url: `http://127.0.0.1:${port}`,
        port,
        enqueue: (...responses) => {
          queue.push(...responses)
        },
        setDefault: (handler) => {
          defaultHandler = handler
        },
        requests,
        connectionsAccepted: () => accepted,
        connectionsClosed: () => closed,
        awaitRequests: (count) =>
          requests.length >= count
            ? Promise.resolve([...requests])
            : new Promise((done) => waiters.push({ count, resolve: done })),
        close: () =>
          new Promise<void>((done) => {
            for (const socket of sockets) socket.destroy()
            server.close(() => done())
          })
      })
    })
  })
}

/** Starts a server for the enclosing `Scope` (for `it.scoped` / `Effect.scoped`); closed on scope exit. */
export const make: Effect.Effect<LoopbackServer, never, Scope.Scope> = Effect.acquireRelease(
  Effect.promise(() => start()),
  (server) => Effect.promise(() => server.close())
)

/**
 * A TCP listener on loopback that accepts connections and never says a word: for `https://` its
 * address, a TLS handshake that never completes (the connection never becomes ready). Counts the
 * connections it accepted and those still open (not closed by the client); closed, with them, on scope
 * exit.
 */
export interface SilentListener {
  readonly url: string
  readonly accepted: () => number
  readonly open: () => number
}

export const silentTlsListener: Effect.Effect<SilentListener, never, Scope.Scope> = Effect.map(
  Effect.acquireRelease(
    Effect.promise(() =>
      new Promise<{ server: Net.Server; sockets: Set<Net.Socket>; open: Set<Net.Socket> }>((done) => {
        const sockets = new Set<Net.Socket>()
        const open = new Set<Net.Socket>()
        const server = Net.createServer((socket) => {
          sockets.add(socket)
          socket.on("error", () => {})
          // Read and drop what the client sends, so its close reaches this side ("end", then "close").
          socket.resume()
          socket.on("close", () => open.delete(socket))
          open.add(socket)
        })
        server.listen(0, "127.0.0.1", () => done({ server, sockets, open }))
      })
    ),
    ({ server, sockets }) =>
      Effect.promise(() =>
        new Promise<void>((done) => {
          for (const socket of sockets) socket.destroy()
          server.close(() => done())
        })
      )
  ),
  ({ open, server, sockets }) => ({
    url: `https://127.0.0.1:${(server.address() as Net.AddressInfo).port}`,
    accepted: () => sockets.size,
    open: () => open.size
  })
)

/** Resolves once `done()` holds, checked on each turn of the event loop (for socket events). */
export const waitFor = (done: () => boolean): Promise<void> =>
  new Promise((resolve) => {
    const check = () => (done() ? resolve() : setImmediate(check))
    check()
  })

// ---------------------------------------------------------------------------------------------------------------
// Fixtures

/** The folder of the copied recordings: `test/support/fixtures`. */
export const fixturesDir = Path.join(Path.dirname(fileURLToPath(import.meta.url)), "fixtures")

/** Reads a fixture (path relative to `test/support/fixtures`) as raw bytes. */
export const readFixture = (relativePath: string): Buffer => Fs.readFileSync(Path.join(fixturesDir, relativePath))

/** Splits bytes into parts of the given sizes (cycled), e.g. `[1]` byte by byte, `[7, 300]` alternating. */
export const splitBytes = (bytes: Uint8Array, sizes: ReadonlyArray<number>): Array<Uint8Array> => {
  const parts: Array<Uint8Array> = []
  let offset = 0
  let index = 0
  while (offset < bytes.length) {
    const size = Math.max(1, sizes[index++ % sizes.length] ?? bytes.length)
    parts.push(bytes.subarray(offset, offset + size))
    offset += size
  }
  return parts
}

/** Options of `replay`. */
export interface ReplayOptions {
  readonly status?: number
  /** Defaults to `content-type: text/event-stream` (the Gemini stream header). */
  readonly headers?: Readonly<Record<string, string>>
  /** Split the body into writes of these sizes (cycled); one write when absent. */
  readonly chunkSizes?: ReadonlyArray<number>
  /** Pause between writes (so each arrives as its own network read). */
  readonly delayMs?: number
  readonly end?: ScriptedResponse["end"]
}

/** A response whose body is a fixture file (or given bytes) byte for byte, optionally in chunks. */
export const replay = (fixture: string | Uint8Array, options: ReplayOptions = {}): ScriptedResponse => {
  const bytes = typeof fixture === "string" ? readFixture(fixture) : fixture
  const chunks = options.chunkSizes === undefined ? [bytes] : splitBytes(bytes, options.chunkSizes)
  const body: Array<BodyPart> = []
  for (const chunk of chunks) {
    if (body.length > 0 && options.delayMs !== undefined) body.push({ delayMs: options.delayMs })
    body.push(chunk)
  }
  return {
    status: options.status ?? 200,
    headers: options.headers ?? { "content-type": "text/event-stream" },
    body,
    ...(options.end !== undefined ? { end: options.end } : {})
  }
}

/** One interaction of a js-genai replay recording (`interactions[i]`). */
export interface Recording {
  readonly request: { readonly method: string; readonly url: string; readonly bodySegments: ReadonlyArray<unknown> }
  readonly response: {
    readonly statusCode: number
    readonly headers: Readonly<Record<string, string>>
    readonly bodySegments: ReadonlyArray<unknown>
  }
}

/** Reads the first interaction of a js-genai recording (path relative to `test/support/fixtures`). */
export const readRecording = (relativePath: string): Recording =>
  (JSON.parse(readFixture(relativePath).toString("utf8")) as { interactions: ReadonlyArray<Recording> })
    .interactions[0]!

/**
 * Replays a js-genai recording. The recorder kept parsed JSON (one object per SSE event), so a 200
 * event-stream is re-framed as `data: <json><eol><eol>` per segment (`eol` CRLF by default, like the
 * real server); any other body is the first segment as JSON. Length/encoding headers are dropped.
 */
export const replayRecording = (
  recording: Recording,
  options: { readonly eol?: "\r\n" | "\n" } = {}
): ScriptedResponse => {
  const headers: Record<string, string> = {}
  for (const [name, value] of Object.entries(recording.response.headers)) {
    const lower = name.toLowerCase()
    if (lower !== "content-length" && lower !== "content-encoding" && lower !== "date") headers[name] = value
  }
  const eol = options.eol ?? "\r\n"
  const contentType = headers["Content-Type"] ?? headers["content-type"] ?? ""
  const body = recording.response.statusCode === 200 && contentType.startsWith("text/event-stream")
    ? recording.response.bodySegments.map((segment) => `data: ${JSON.stringify(segment)}${eol}${eol}`).join("")
    : JSON.stringify(recording.response.bodySegments[0])
  return { status: recording.response.statusCode, headers, body }
}
