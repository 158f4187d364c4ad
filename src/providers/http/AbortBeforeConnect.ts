/**
 * Makes an undici dispatcher fail a request the moment its `AbortSignal` fires, even before the request
 * is on a connection. undici itself only records an abort that comes while the connection is still
 * being made (DNS, TCP connect, TLS handshake) and acts on it once connected, or at its own 10 s connect
 * timeout: an attempt's timeout that aborts its request (`Timeout.timeoutAbortable`) would then wait
 * that long for an endpoint that drops packets. Here the caller hears the abort at once; the request,
 * if it later reaches a connection, is aborted there by undici without a word to anyone.
 */
import type { Dispatcher } from "@effect/platform-node/Undici"

type Handler = Dispatcher.DispatchHandler

/** Forwards to `handler` until it has an end; an abort before the connection is such an end. */
class AbortBeforeConnectHandler implements Handler {
  private connected = false
  private ended = false

  constructor(private readonly handler: Handler, private readonly signal: AbortSignal) {
    signal.addEventListener("abort", this)
  }

  /** The signal's abort: before the connection, it ends the request for the caller now. */
  handleEvent(): void {
    if (this.connected || this.ended) return
    this.end()
    this.handler.onError?.(abortReason(this.signal))
  }

  private end(): void {
    this.ended = true
    this.signal.removeEventListener("abort", this)
  }

  onConnect(abort: (err?: Error) => void): void {
    this.connected = true
    if (this.ended) return abort(abortReason(this.signal))
    this.signal.removeEventListener("abort", this)
    return this.handler.onConnect?.(abort)
  }

  onError(err: Error): void {
    if (this.ended) return
    this.end()
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

/**
 * `dispatcher`, whose every request sent with an `AbortSignal` ends for its caller when the signal
 * fires, connected or not (undici's own handlers are old-style, so the wrapper is too: no conversion
 * of headers per response, as `compose`'s interceptors would add).
 */
export const abortBeforeConnect = <D extends Dispatcher>(dispatcher: D): D => {
  const dispatch = dispatcher.dispatch.bind(dispatcher)
  dispatcher.dispatch = (options, handler) => {
    // `request` passes its options (and their signal) on to `dispatch`; the types leave it out.
    const signal = (options as { readonly signal?: unknown }).signal
    if (!(signal instanceof AbortSignal)) return dispatch(options, handler)
    if (signal.aborted) {
      handler.onError?.(abortReason(signal))
      return true
    }
    return dispatch(options, new AbortBeforeConnectHandler(handler, signal))
  }
  return dispatcher
}
