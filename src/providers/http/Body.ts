/**
 * A 2xx body read one read at a time, for the stream path. Over the Node `Readable` that
 * `@effect/platform-node`'s clients answer with, reads are taken from it directly and a wait for the
 * next one carries the idle timer itself; any other `HttpClient`'s body (fetch, a user's stub) is read
 * through `Stream.toPull(response.stream)` and timed by the caller.
 *
 * Why not always `response.stream`: its channel, the `toPull` executor over it and the closing of
 * that executor's scope were a third of a stream's fixed cost (~500 of ~1,450 effect steps per
 * call), and the idle timeout around each pull forked a fiber per read (bench/overhead.ts).
 */
import * as HttpClientError from "@effect/platform/HttpClientError"
import type * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { Readable } from "node:stream"
import type { LLMError } from "../../domain/Errors.js"
import * as Timeout from "../../internal/Timeout.js"
import * as Errors from "./Errors.js"

/** The next read of a body: one or more buffers, `undefined` at its end. */
export type Read = ReadonlyArray<Uint8Array> | undefined

/** A body being read. */
export interface Body {
  /**
   * The next read. A body that keeps its own time (`timed`) fails with `onIdle()` when nothing has
   * arrived by `deadline` (epoch ms on the live clock, `Timeout.liveNow`); a read failure is
   * `stream_interrupted`.
   */
  readonly read: (deadline: number) => Effect.Effect<Read, LLMError>
  /** Whether `read` honours its deadline (else the caller times the wait). */
  readonly timed: boolean
}

/**
 * The Node stream under a response of `@effect/platform-node`'s clients: undici's answers carry it as
 * `source.body`, `node:http`'s as `source`. Not part of `HttpClientResponse`'s interface: anything
 * else is read through `response.stream`.
 */
const nodeReadableOf = (response: HttpClientResponse.HttpClientResponse): Readable | undefined => {
  const source: unknown = (response as { readonly source?: unknown }).source
  if (source instanceof Readable) return source
  const body: unknown = typeof source === "object" && source !== null ? (source as { body?: unknown }).body : undefined
  return body instanceof Readable ? body : undefined
}

/**
 * Opens `response`'s body in the current scope (closing the scope stops reading and, if the body was
 * not read to its end, destroys it). `onIdle` is what a timed read fails with when its deadline passes;
 * without it no timer is set.
 */
export const open = (
  response: HttpClientResponse.HttpClientResponse,
  context: Errors.ErrorContext,
  onIdle: (() => LLMError) | undefined
): Effect.Effect<Body, never, Scope.Scope> => {
  const readError = (cause: unknown) =>
    Errors.fromHttpClientError(
      new HttpClientError.ResponseError({ request: response.request, response, reason: "Decode", cause }),
      context,
      "stream_interrupted"
    )
  const readable = nodeReadableOf(response)
  return readable === undefined ? fromStream(response, context) : fromReadable(readable, readError, onIdle)
}

/** Reads `response.stream` through its pull (not timed). */
const fromStream = (
  response: HttpClientResponse.HttpClientResponse,
  context: Errors.ErrorContext
): Effect.Effect<Body, never, Scope.Scope> =>
  Effect.map(Stream.toPull(response.stream), (pull) => {
    const read: Effect.Effect<Read, LLMError> = Effect.matchEffect(pull, {
      onFailure: (error) =>
        Option.isNone(error)
          ? Effect.succeed(undefined)
          : Effect.fail(Errors.fromHttpClientError(error.value, context, "stream_interrupted")),
      onSuccess: (chunk) => Chunk.isEmpty(chunk) ? read : Effect.succeed(Chunk.toReadonlyArray(chunk))
    })
    return { read: () => read, timed: false }
  })

/**
 * Reads a Node `Readable` in paused mode, as `@effect/platform-node`'s `NodeStream.fromReadable` does
 * (everything buffered per read; wait for `readable`, `end` or `error` when nothing is), without a channel.
 */
const fromReadable = (
  readable: Readable,
  readError: (cause: unknown) => LLMError,
  onIdle: (() => LLMError) | undefined
): Effect.Effect<Body, never, Scope.Scope> =>
  Effect.flatMap(Effect.scope, (scope) => {
    let failure: LLMError | undefined
    let ended = !readable.readable
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
    const read = (deadline: number): Effect.Effect<Read, LLMError> =>
      Effect.suspend(() => {
        const reads = take()
        if (reads !== undefined) return Effect.succeed(reads)
        if (failure !== undefined) return Effect.fail(failure)
        if (ended) return Effect.succeed(undefined)
        return Effect.async<Read, LLMError>((resume) => {
          let timer: ReturnType<typeof setTimeout> | undefined
          wake = () => {
            if (timer !== undefined) clearTimeout(timer)
            resume(read(deadline))
          }
          // `onIdle` is given only under the live clock (EventStream.openPull): its timer is a plain
          // one, as `Timeout.ts`'s, so a wait costs no fiber; any other clock times the pull itself.
          const wait = deadline - Timeout.liveNow()
          if (onIdle !== undefined && wait <= Timeout.maxTimerMs) {
            timer = setTimeout(() => {
              wake = undefined
              resume(Effect.fail(onIdle()))
            }, Math.max(0, wait))
          }
          return Effect.sync(() => {
            wake = undefined
            if (timer !== undefined) clearTimeout(timer)
          })
        })
      })
    return Effect.as(
      Scope.addFinalizer(
        scope,
        Effect.sync(() => {
          wake = undefined
          readable.off("readable", signal)
          readable.off("error", onError)
          readable.off("end", onEnd)
          if (!readable.destroyed && !readable.readableEnded) readable.destroy()
        })
      ),
      { read, timed: onIdle !== undefined }
    )
  })
