/**
 * The fibers running calls through one client, so that closing the client's scope can interrupt
 * them and wait until each has settled, and refuse new calls meanwhile (API.md §14: shutdown settles).
 * A stream is tracked by its scope too: one pulled under a scope its consumer owns (`Stream.toPull`
 * in a scope of the program's) has no fiber running it between pulls, so its scope is closed.
 */
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as FiberRef from "effect/FiberRef"
import * as Scope from "effect/Scope"

/**
 * The fibers that opened a stream tracked by its scope, as every fiber forked from them afterwards
 * sees it (a fiber ref is inherited): a layer closed by such a fiber may run its finalizer on a child
 * of it (`Layer.merge` closes its parts in parallel), which must not await that fiber's interruption —
 * the fiber is waiting for the close. Holds fiber ids; one entry per generation, never more.
 */
const streamOpeners = FiberRef.unsafeMake<ReadonlySet<number>>(new Set(), {
  // a child's marks stay its own: joined back (a joined fiber, a race's winner, `Effect.timeout`), a
  // long-lived fiber would gather the id of every child that ever opened a stream
  join: (parent) => parent
})

/** Tracks the fibers of calls in flight; scoped: the scope's end interrupts and awaits them. */
export const make: Effect.Effect<
  {
    /** Runs `effect` as a tracked call of the current fiber (refused with an interruption once closing). */
    readonly track: <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
    /**
     * Tracks the current fiber until `scope` closes (a stream's consumer), and `scope` itself: still
     * open once that fiber's interruption is done, closing closes it as interrupted.
     */
    readonly trackIn: (scope: Scope.CloseableScope) => Effect.Effect<void>
    /**
     * Counts `fiber` in (false, and nothing counted, once closing). For a caller that already runs
     * an uninterruptible acquire and release around its call: it must `leave` as that release ends
     * (or as the acquire fails), which `track`'s `Effect.ensuring` would otherwise do in ~9 steps.
     */
    readonly enter: (fiber: Fiber.RuntimeFiber<unknown, unknown>) => boolean
    /** Counts `fiber` out (after `enter`). */
    readonly leave: (fiber: Fiber.RuntimeFiber<unknown, unknown>) => void
    /** `effect`, or an interruption once closing (checked when it runs, before anything else). */
    readonly whileOpen: <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
  },
  never,
  Scope.Scope
> = Effect.gen(function*() {
  // A fiber may run several calls at once (a stream and a generate): count them.
  const running = new Map<Fiber.RuntimeFiber<unknown, unknown>, number>()
  const streams = new Set<Scope.CloseableScope>()
  // Resolved once closing and every tracked stream's scope has run its finalizers: a scope its owner
  // began to close (another fiber, the same moment) reads as closed while its settlement still runs.
  let settled: (() => void) | undefined
  let closing = false

  const enter = (fiber: Fiber.RuntimeFiber<unknown, unknown>) => running.set(fiber, (running.get(fiber) ?? 0) + 1)
  const leaveNow = (fiber: Fiber.RuntimeFiber<unknown, unknown>) => {
    const count = (running.get(fiber) ?? 1) - 1
    if (count <= 0) running.delete(fiber)
    else running.set(fiber, count)
  }
  const leave = (fiber: Fiber.RuntimeFiber<unknown, unknown>) => Effect.sync(() => leaveNow(fiber))

  // On the scope itself, not `Effect.addFinalizer`: that would run it with the fiber refs of now, and
  // the closing fiber's own (what it inherited: `streamOpeners`) are the ones read.
  yield* Scope.addFinalizer(
    yield* Effect.scope,
    Effect.withFiberRuntime((closer) => {
      closing = true
      return Effect.zipRight(
        // not the closing fiber itself: a consumer that provided the layer and pulls a stream under a
        // scope of its own (`Stream.toPull` outside `Effect.provide`) closes the layer on its own fiber,
        // and awaiting its own interruption would never end; its stream's scope is closed below
        // (nor one the closing fiber was forked from: see `streamOpeners`)
        Fiber.interruptAll(
          [...running.keys()].filter((fiber) =>
            fiber !== closer && !closer.getFiberRef(streamOpeners).has(fiber.id().id)
          )
        ),
        Effect.suspend(() =>
          Effect.zipRight(
            Effect.forEach([...streams], (scope) => Scope.close(scope, Exit.interrupt(closer.id())), { discard: true }),
            Effect.async<void>((resume) => {
              if (streams.size === 0) return resume(Effect.void)
              settled = () => resume(Effect.void)
            })
          )
        )
      )
    })
  )

  const track = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
    Effect.withFiberRuntime((fiber) => {
      if (closing) return Effect.interrupt
      enter(fiber)
      return Effect.ensuring(effect, leave(fiber))
    })

  // A finalizer on the scope itself: `Effect.addFinalizer` would also diff the fiber's refs twice.
  const trackIn = (scope: Scope.CloseableScope): Effect.Effect<void> =>
    Effect.withFiberRuntime((fiber) => {
      if (closing) return Effect.interrupt
      enter(fiber)
      streams.add(scope)
      const id = fiber.id().id
      const openers = fiber.getFiberRef(streamOpeners)
      const marked = openers.has(id) ? Effect.void : FiberRef.set(streamOpeners, new Set(openers).add(id))
      return Effect.zipRight(
        marked,
        Scope.addFinalizer(
          scope,
          Effect.sync(() => {
            streams.delete(scope)
            leaveNow(fiber)
            if (streams.size === 0) settled?.()
          })
        )
      )
    })

  const enterIfOpen = (fiber: Fiber.RuntimeFiber<unknown, unknown>): boolean => {
    if (closing) return false
    enter(fiber)
    return true
  }

  const whileOpen = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
    Effect.suspend(() => closing ? Effect.interrupt : effect)

  return { track, trackIn, enter: enterIfOpen, leave: leaveNow, whileOpen }
})
