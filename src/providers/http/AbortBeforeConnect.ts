/**
 * Makes an undici dispatcher fail a request the moment its `AbortSignal` fires, even before the request
 * is on a connection. undici itself only records an abort that comes while the connection is still
 * being made (DNS, TCP connect, TLS handshake) and acts on it once connected, or at its own 10 s connect
 * timeout: an attempt's timeout that aborts its request (`Timeout.timeoutAbortable`) would then wait
 * that long for an endpoint that drops packets. Here the caller hears the abort at once, and a
 * connection still being made that only aborted requests wait for is closed (`ConnectingSockets`):
 * undici would keep it, and the process, alive until the handshake or that 10 s timeout.
 */
import type * as UndiciModule from "@effect/platform-node/Undici"
import type { Agent, buildConnector, Dispatcher } from "@effect/platform-node/Undici"
import * as Net from "node:net"

type Handler = Dispatcher.DispatchHandler

/**
 * The sockets a connector is still connecting, by origin, and how many requests to each origin wait for
 * a connection. When the last waiting request of an origin is aborted, its connecting sockets are only
 * awaited by aborted requests and are destroyed: undici then fails those requests (already ended for
 * their callers) and connects no more for them. An origin that ever had a request this count cannot
 * follow (sent without a signal, or with a new-style handler) is left to undici.
 */
export class ConnectingSockets {
  private readonly sockets = new Map<string, Set<Net.Socket>>()
  private readonly waiting = new Map<string, number>()
  private readonly untracked = new Set<string>()

  /** `connect`, whose sockets are tracked until connected or failed. */
  track(connect: buildConnector.connector): buildConnector.connector {
    return (options, callback) => {
      const origin = `${options.protocol}//${options.host}`
      let socket: Net.Socket | undefined
      let finished = false
      const done: buildConnector.Callback = (...result) => {
        finished = true
        if (socket !== undefined) this.forget(origin, socket)
        return (callback as (...args: typeof result) => void)(...result)
      }
      // undici's connector returns the socket it connects; its types say void.
      const made: unknown = connect(options, done)
      if (made instanceof Net.Socket && !finished) {
        socket = made
        const set = this.sockets.get(origin) ?? new Set()
        set.add(made)
        this.sockets.set(origin, set)
      }
    }
  }

  private forget(origin: string, socket: Net.Socket): void {
    const set = this.sockets.get(origin)
    if (set === undefined) return
    set.delete(socket)
    if (set.size === 0) this.sockets.delete(origin)
  }

  /** A request to `origin` now waits for a connection. */
  wait(origin: string): void {
    this.waiting.set(origin, (this.waiting.get(origin) ?? 0) + 1)
  }

  /** A request to `origin` no longer waits: connected, failed, or aborted (`aborted`). */
  stopWaiting(origin: string, aborted: boolean): void {
    const left = (this.waiting.get(origin) ?? 1) - 1
    if (left > 0) return void this.waiting.set(origin, left)
    this.waiting.delete(origin)
    if (aborted && !this.untracked.has(origin)) this.destroy(origin)
  }

  /** A request to `origin` this count cannot follow: its sockets are never destroyed for an abort. */
  cannotFollow(origin: string): void {
    this.untracked.add(origin)
  }

  private destroy(origin: string): void {
    const set = this.sockets.get(origin)
    if (set === undefined) return
    this.sockets.delete(origin)
    for (const socket of set) socket.destroy(new ConnectionAbandonedError())
  }

  /** Destroys every socket still connecting (the agent was destroyed: nobody waits for them). */
  destroyAll(): void {
    for (const origin of [...this.sockets.keys()]) this.destroy(origin)
  }
}

/** Why a connection still being made was closed: every request waiting for it was aborted. */
class ConnectionAbandonedError extends Error {
  override readonly name = "ConnectionAbandonedError"
  constructor() {
    super("connection abandoned: every request waiting for it was aborted")
  }
}

/** Forwards to `handler` until it has an end; an abort before the connection is such an end. */
class AbortBeforeConnectHandler implements Handler {
  private connected = false
  private ended = false

  constructor(
    private readonly handler: Handler,
    private readonly signal: AbortSignal,
    private readonly origin: string,
    private readonly connecting: ConnectingSockets
  ) {
    connecting.wait(origin)
    signal.addEventListener("abort", this)
  }

  /** The signal's abort: before the connection, it ends the request for the caller now. */
  handleEvent(): void {
    if (this.connected || this.ended) return
    this.end()
    this.connecting.stopWaiting(this.origin, true)
    this.handler.onError?.(abortReason(this.signal))
  }

  private end(): void {
    this.ended = true
    this.signal.removeEventListener("abort", this)
  }

  onConnect(abort: (err?: Error) => void): void {
    if (this.ended) return abort(abortReason(this.signal))
    this.connected = true
    this.connecting.stopWaiting(this.origin, false)
    this.signal.removeEventListener("abort", this)
    return this.handler.onConnect?.(abort)
  }

  onError(err: Error): void {
    if (this.ended) return
    this.end()
    if (!this.connected) this.connecting.stopWaiting(this.origin, false)
    return this.handler.onError?.(err)
  }

  onUpgrade(statusCode: number, headers: Array<Buffer> | Array<string> | null, socket: never): void {
    this.end()
    return this.handler.onUpgrade?.(statusCode, headers, socket)
  }

  onResponseStarted(): void {
    return this.handler.onResponseStarted?.()
  }

  onHeaders(statusCode: number, headers: Array<Buffer>, resume: () => void, statusText: string): boolean {
    return this.handler.onHeaders?.(statusCode, headers, resume, statusText) ?? true
  }

  onData(chunk: Buffer): boolean {
    return this.handler.onData?.(chunk) ?? true
  }

  onComplete(trailers: Array<string> | null): void {
    this.end()
    return this.handler.onComplete?.(trailers)
  }

  onBodySent(...args: Parameters<NonNullable<Handler["onBodySent"]>>): void {
    return this.handler.onBodySent?.(...args)
  }
}

const abortReason = (signal: AbortSignal): Error =>
  signal.reason instanceof Error ? signal.reason : new DOMException("This operation was aborted", "AbortError")

/** The key a connector sees for a request's origin (`protocol//host`, default port left out). */
const originKeys = new Map<string, string>()
const originKey = (origin: unknown): string => {
  if (origin instanceof URL) return origin.origin
  const text = String(origin)
  let key = originKeys.get(text)
  if (key === undefined) {
    key = URL.canParse(text) ? new URL(text).origin : text
    if (originKeys.size >= 1024) originKeys.clear()
    originKeys.set(text, key)
  }
  return key
}

/**
 * `dispatcher`, whose every request sent with an `AbortSignal` ends for its caller when the signal
 * fires, connected or not (undici's own handlers are old-style, so the wrapper is too: no conversion
 * of headers per response, as `compose`'s interceptors would add). A new-style handler (`compose`'s
 * interceptors) is passed on unwrapped, as undici takes it. Give it the `connecting` the dispatcher's
 * connector tracks to close connections only aborted requests wait for.
 */
export const abortBeforeConnect = <D extends Dispatcher>(
  dispatcher: D,
  connecting: ConnectingSockets = new ConnectingSockets()
): D => {
  const dispatch = dispatcher.dispatch.bind(dispatcher)
  dispatcher.dispatch = (options, handler) => {
    // `request` passes its options (and their signal) on to `dispatch`; the types leave it out.
    const signal = (options as { readonly signal?: unknown }).signal
    if (signal instanceof AbortSignal && signal.aborted) {
      handler.onError?.(abortReason(signal))
      return true
    }
    const origin = originKey(options.origin)
    if (!(signal instanceof AbortSignal) || isNewStyle(handler)) {
      connecting.cannotFollow(origin)
      return dispatch(options, handler)
    }
    return dispatch(options, new AbortBeforeConnectHandler(handler, signal, origin, connecting))
  }
  return dispatcher
}

/** undici 7's handler interface (`onRequestStart`, `onResponseStart`, ...), which undici unwraps itself. */
const isNewStyle = (handler: Handler): boolean =>
  typeof (handler as { readonly onRequestStart?: unknown }).onRequestStart === "function" ||
  typeof (handler as { readonly onResponseStart?: unknown }).onResponseStart === "function"

/** The live layer's pool: an undici Agent with default options, its connections tracked. */
export interface LiveAgent {
  readonly agent: Agent
  /** Destroys the agent, then the connections it is still making (undici leaves those to finish). */
  readonly close: () => Promise<void>
}

export const makeLiveAgent = (undici: typeof UndiciModule): LiveAgent => {
  const connecting = new ConnectingSockets()
  // The connector an Agent builds from default options, tracked.
  const agent = abortBeforeConnect(
    new undici.Agent({ connect: connecting.track(undici.buildConnector({})) }),
    connecting
  )
  return { agent, close: () => agent.destroy().then(() => connecting.destroyAll()) }
}
