/**
 * A 2xx body read one read at a time straight from the Node `Readable` that `@effect/platform-node`'s
 * clients answer with, for the stream path; a wait for the next read carries the idle timer itself.
 * (Any other `HttpClient`'s body is read through `response.stream`: `EventStream.openPull`.)
 *
 * Why not `response.stream` here: its channel, the `toPull` executor over it and the closing of that
 * executor's scope were a third of a stream's fixed cost (~500 of ~1,450 effect steps per call), and
 * the idle timeout around each pull forked a fiber per read (bench/overhead.ts).
 */
import * as HttpClientError from "@effect/platform/HttpClientError"
import type * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as Effect from "effect/Effect"
import { globalValue } from "effect/GlobalValue"
import * as Scope from "effect/Scope"
import { Readable } from "node:stream"
import type { LLMError } from "../../domain/Errors.js"
import * as Timeout from "../../internal/Timeout.js"
import * as Errors from "./Errors.js"

/** The next read of a body: one or more buffers, `undefined` at its end. */
export type Read = ReadonlyArray<Uint8Array> | undefined

/** A body being read. */
export interface Body {
  /**
   * The next read; with an `idle` (`fromNodeStream`), fails with `idle.onIdle()` when nothing has
   * arrived by `deadline` (epoch ms on the live clock, `Timeout.liveNow`). A read failure is
   * `stream_interrupted`.
   */
  readonly read: (deadline: number) => Effect.Effect<Read, LLMError>
  /**
   * Says the protocol's finish signal was read before the body's end (`data: [DONE]`): closing the
   * scope then lets what is left of the body (its last empty chunk) drain, so undici keeps the
   * connection for the next request, instead of destroying the body, which aborts the request and
   * closes the connection.
   */
  readonly finished: () => void
  /**
   * Once, after the scope closed a body not read to its end: what it had received but not been read
   * for (a Node stream's buffer, taken before it was destroyed, or after its connection's close destroyed
   * it); nothing is read from the network.
   */
  readonly unread: () => ReadonlyArray<Uint8Array>
}

/** What `@effect/platform`'s HttpClient wraps an unscoped request's response in (its `InterruptibleResponse`). */
interface Interruptible {
  readonly original: HttpClientResponse.HttpClientResponse
  readonly controller: AbortController
}

const interruptibleOf = (response: HttpClientResponse.HttpClientResponse): Interruptible | undefined => {
  const { controller, original } = response as Partial<Interruptible>
  return original !== undefined && controller instanceof AbortController ? { original, controller } : undefined
}

/**
 * The registry with which `@effect/platform`'s HttpClient aborts an unscoped response nobody read
 * (a `FinalizationRegistry`); its accessors take a response off it when they read the body, as
 * `readAllText` must. Looked up only once such a response exists, so the module that made it has run.
 */
const responseRegistry = (): { readonly unregister: (response: HttpClientResponse.HttpClientResponse) => void } =>
  globalValue("@effect/platform/HttpClient/responseRegistry", () => ({ unregister: () => {} }))

/**
 * The Node stream under a response of `@effect/platform-node`'s clients: undici's answers carry it as
 * `source.body`, `node:http`'s as `source`. Not part of `HttpClientResponse`'s interface: `undefined`
 * for anything else.
 */
export const nodeStreamOf = (response: HttpClientResponse.HttpClientResponse): Readable | undefined => {
  const wrapped = interruptibleOf(response)
  if (wrapped !== undefined) return nodeStreamOf(wrapped.original)
  const source: unknown = (response as { readonly source?: unknown }).source
  if (source instanceof Readable) return source
  const body: unknown = typeof source === "object" && source !== null ? (source as { body?: unknown }).body : undefined
  return body instanceof Readable ? body : undefined
}

/**
 * `response`'s headers by lower-case name. `@effect/platform-node`'s responses build a new `Headers`
 * copy of their Node headers at every `response.headers` (an `Object.entries` and an object per read:
 * ~0.6 KB for a typical answer); their Node record (undici's `headers`, `node:http`'s
 * `IncomingMessage.headers`: names lower-case) is returned as it is when every value is a string, the
 * same names and values `Headers.fromInput` gives. Any other response, or one with a repeated header
 * (an array value, which `Headers` joins), is read through `response.headers`. Read only: never written.
 */
export const headersOf = (
  response: HttpClientResponse.HttpClientResponse
): Readonly<Record<string, string | undefined>> => nodeHeadersOf(response) ?? response.headers

const nodeHeadersOf = (
  response: HttpClientResponse.HttpClientResponse
): Readonly<Record<string, string | undefined>> | undefined => {
  const original = (response as Partial<Interruptible>).original
  if (original !== undefined) return nodeHeadersOf(original)
  const source: unknown = (response as { readonly source?: unknown }).source
  if (typeof source !== "object" || source === null) return undefined
  const node = source instanceof Readable ? source : (source as { body?: unknown }).body
  if (!(node instanceof Readable)) return undefined
  const headers: unknown = (source as { headers?: unknown }).headers
  if (typeof headers !== "object" || headers === null || Object.getPrototypeOf(headers) !== Object.prototype) {
    return undefined
  }
  for (const name in headers) {
    if (typeof (headers as Record<string, unknown>)[name] !== "string") return undefined
  }
  return headers as Readonly<Record<string, string>>
}

/** Node bodies left to drain after their stream's finish signal (`Body.finished`): not destroyed on close. */
const draining = new WeakSet<Readable>()

/**
 * The longest a finished stream's leftover body may take to end (it normally follows the finish signal
 * at once): past it the body is destroyed, as any unfinished one, so a server that never ends it
 * holds neither the connection nor anyone closing it for long.
 */
export const maxDrainMs = 1_000

/**
 * Reads the rest of a finished stream's body, discarding it; destroys it if it has not ended within
 * `limitMs` (a server that sent its finish signal but never ends the body must not hold the connection).
 */
const drain = (readable: Readable, raw: Readable | undefined, limitMs: number) => {
  if (raw !== undefined) draining.add(raw)
  const timer = setTimeout(() => {
    readable.destroy()
    raw?.destroy()
  }, limitMs)
  timer.unref()
  readable.once("close", () => clearTimeout(timer))
  // A failure of what is left no longer concerns the call (and must not be an uncaught 'error').
  readable.on("error", () => {})
  readable.resume()
}

/**
 * Reads `response`'s Node stream (`nodeStreamOf`) in paused mode, as `@effect/platform-node`'s
 * `NodeStream.fromReadable` does (everything buffered per read; wait for `readable`, `end` or `error`
 * when nothing is), without a channel. Closing `scope` stops reading and, if the body was not
 * read to its end, destroys it — unless `finished` was called and `idle` given: then the rest drains,
 * for at most the idle time or `maxDrainMs`, whichever is shorter. Without `idle` no timer is set.
 */
export const fromNodeStream = (
  response: HttpClientResponse.HttpClientResponse,
  readable: Readable,
  context: Errors.ErrorContext,
  idle: { readonly ms: number; readonly onIdle: () => LLMError } | undefined,
  scope: Scope.Scope
): Effect.Effect<Body> =>
  Effect.suspend(() => {
    const readError = (cause: unknown) =>
      Errors.fromHttpClientError(
        new HttpClientError.ResponseError({ request: response.request, response, reason: "Decode", cause }),
        context,
        "stream_interrupted"
      )
    let failure: LLMError | undefined
    let ended = !readable.readable
    let complete = false
    // What the buffer held when the scope closed the body unread (`Body.unread`).
    let unread: ReadonlyArray<Uint8Array> | undefined
    // The waiting read's resumption, while one waits.
    let wake: (() => void) | undefined
    const signal = () => {
      const resume = wake
      wake = undefined
      resume?.()
    }
    const onError = (cause: unknown) => {
      failure ??= readError(cause)
      signal()
    }
    const onEnd = () => {
      ended = true
      signal()
    }
    readable.on("readable", signal)
    readable.on("error", onError)
    readable.on("end", onEnd)

    const take = (): Array<Uint8Array> | undefined => {
      let item = readable.read() as Uint8Array | null
      if (item === null) return undefined
      const reads = [item]
      while ((item = readable.read() as Uint8Array | null) !== null) reads.push(item)
      return reads
    }
    // The idle watchdog (`idle` is given only under the live clock, EventStream.openPull: a plain
    // timer, as `Timeout.ts`'s, so a wait costs no fiber; any other clock times the pull itself).
    // One timer at a time, armed by a wait that finds none and left running when data arrives: when
    // it fires it fails the waiting read if that read's deadline has passed, re-arms for the deadline
    // if not, and stops if no read waits. A fast stream sets one timer per idle period instead of a
    // setTimeout and a clearTimeout per read (~6% of a 10,000-event stream's CPU went to timer lists).
    let watchdog: ReturnType<typeof setTimeout> | undefined
    let watchdogAt = Number.POSITIVE_INFINITY
    // The waiting read's deadline and resumption, while one waits under the watchdog.
    let waitingUntil = 0
    let waitingResume: ((effect: Effect.Effect<Read, LLMError>) => void) | undefined
    const arm = (deadline: number) => {
      watchdogAt = deadline
      watchdog = setTimeout(fire, Math.max(0, deadline - Timeout.liveNow()))
      // a wait keeps the process alive by its socket: a stream abandoned with no read waiting must not
      watchdog.unref()
    }
    const fire = () => {
      watchdog = undefined
      watchdogAt = Number.POSITIVE_INFINITY
      const resume = waitingResume
      if (resume === undefined || idle === undefined) return
      if (Timeout.liveNow() < waitingUntil) return arm(waitingUntil)
      waitingResume = undefined
      wake = undefined
      resume(Effect.fail(idle.onIdle()))
    }
    const read = (deadline: number): Effect.Effect<Read, LLMError> =>
      Effect.suspend(() => {
        const reads = take()
        if (reads !== undefined) return Effect.succeed(reads)
        if (failure !== undefined) return Effect.fail(failure)
        if (ended) return Effect.succeed(undefined)
        return Effect.async<Read, LLMError>((resume) => {
          wake = () => {
            waitingResume = undefined
            resume(read(deadline))
          }
          if (idle !== undefined && deadline - Timeout.liveNow() <= Timeout.maxTimerMs) {
            waitingUntil = deadline
            waitingResume = resume
            if (deadline < watchdogAt) {
              if (watchdog !== undefined) clearTimeout(watchdog)
              arm(deadline)
            }
          }
          return Effect.sync(() => {
            wake = undefined
            waitingResume = undefined
          })
        })
      })
    return Effect.as(
      Scope.addFinalizer(
        scope,
        Effect.sync(() => {
          // A read still waiting (a pull run by another fiber than the one closing the scope: a runtime
          // disposed under it) fails, as when the connection closes under it, rather than waiting for ever.
          const waiting = wake
          if (waiting !== undefined) failure ??= readError(new Error("the stream was closed while a read waited"))
          wake = undefined
          waitingResume = undefined
          waiting?.()
          if (watchdog !== undefined) clearTimeout(watchdog)
          readable.off("readable", signal)
          readable.off("error", onError)
          readable.off("end", onEnd)
          if (readable.readableEnded) return
          // a body its connection's close destroyed keeps what it had buffered: seen, as below
          if (readable.destroyed) {
            if (!complete) unread = take()
            return
          }
          if (complete && failure === undefined && idle !== undefined) {
            drain(readable, nodeStreamOf(response), Math.min(idle.ms, maxDrainMs))
          } else {
            unread = take()
            readable.destroy()
          }
        })
      ),
      {
        read,
        finished: () => {
          complete = true
        },
        unread: () => {
          const reads = unread ?? []
          unread = undefined
          return reads
        }
      }
    )
  })

const utf8 = new TextDecoder()

/** The longest body read whole (an answer or an error body): far above any real one, far below V8's string limit. */
export const maxBodyBytes = 64 * 1024 * 1024

/** The code of the failure of a body over `maxBodyBytes` (or that cannot become a string). */
export const bodyTooLargeCode = "EFFECT_LLM_BODY_TOO_LARGE"

/**
 * A whole body of `@effect/platform-node`'s clients as text (UTF-8, a BOM dropped), read straight from
 * its Node stream (`nodeStreamOf`) as `response.text` would, with the same interruption: the request
 * aborted, the body destroyed. `undefined` for any other response. Why: undici's `text` runs a fiber of
 * its own (`Effect.cached` under `Effect.runSync`) and a promise for every response: ~20% of a unary
 * call's effect steps and allocation in bench/overhead.ts.
 */
export const readAllText = (
  response: HttpClientResponse.HttpClientResponse
): Effect.Effect<string, HttpClientError.ResponseError> | undefined => {
  const wrapper = interruptibleOf(response)
  const readable = nodeStreamOf(response)
  if (readable === undefined) return undefined
  const failure = (cause: unknown) =>
    new HttpClientError.ResponseError({ request: response.request, response, reason: "Decode", cause })
  return Effect.async<string, HttpClientError.ResponseError>((resume) => {
    if (wrapper !== undefined) responseRegistry().unregister(wrapper.original)
    const chunks: Array<Uint8Array> = []
    const detach = () => {
      readable.off("data", onData)
      readable.off("end", onEnd)
      readable.off("error", onError)
      readable.off("close", onClose)
    }
    const done = (result: Effect.Effect<string, HttpClientError.ResponseError>) => {
      detach()
      resume(result)
    }
    let received = 0
    const onData = (chunk: Uint8Array) => {
      received += chunk.byteLength
      if (received > maxBodyBytes) {
        // a body no answer is that long: stop reading it (undici drops the connection), fail typed
        onError(Object.assign(new Error(`the body is longer than ${maxBodyBytes} bytes`), { code: bodyTooLargeCode }))
        if (!readable.destroyed) readable.destroy()
        return
      }
      chunks.push(chunk)
    }
    // Never throw from an emitter callback: that is an uncaught exception, the process's end.
    const onEnd = () => {
      let text: string
      try {
        text = utf8.decode(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks))
      } catch (cause) {
        return onError(cause)
      }
      done(Effect.succeed(text))
    }
    const onError = (cause: unknown) => done(Effect.fail(failure(cause)))
    const onClose = () => {
      if (!readable.readableEnded) onError(new Error("the body was closed before its end"))
    }
    if (readable.readableEnded) return done(Effect.succeed(""))
    if (readable.destroyed) return done(Effect.fail(failure(readable.errored ?? new Error("the body was destroyed"))))
    readable.on("data", onData)
    readable.on("end", onEnd)
    readable.on("error", onError)
    readable.on("close", onClose)
    return Effect.sync(() => {
      detach()
      wrapper?.controller.abort()
      if (!readable.destroyed) readable.destroy()
    })
  })
}

/**
 * Ties a response of `@effect/platform`'s HttpClient, sent without `HttpClient.withScope`, to `scope`:
 * a Node stream body not read to its end is destroyed when the scope closes (undici then aborts the
 * request and drops the connection), any other body's request is aborted, and the response is taken
 * off the registry that would abort it when collected. A response sent under the caller's own
 * controller (`abort`, `Response.Transport`) comes neither wrapped nor registered: that controller is
 * the one aborted. Why not `withScope`: it aborts every request's
 * `AbortController` at every close, finished or not, and `abort()` builds a `DOMException` with its
 * stack each time (~4% of a 20-event stream's CPU in bench/overhead.ts).
 */
export const closeWithScope = (
  response: HttpClientResponse.HttpClientResponse,
  scope: Scope.Scope,
  abort?: AbortController
): Effect.Effect<void> => {
  const wrapper = interruptibleOf(response)
  // Sent under the caller's own controller (`abort`), the response comes unwrapped and unregistered.
  const controller = wrapper?.controller ?? abort
  if (controller === undefined) return Effect.void
  if (wrapper !== undefined) responseRegistry().unregister(wrapper.original)
  return Scope.addFinalizer(
    scope,
    Effect.sync(() => {
      const readable = nodeStreamOf(response)
      if (readable === undefined) controller.abort()
      else if (!readable.readableEnded && !readable.destroyed && !draining.has(readable)) readable.destroy()
    })
  )
}
