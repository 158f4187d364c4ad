/**
 * Statements whose connection the server ended (a restart, a failover, an idle timeout,
 * `pg_terminate_backend`), run again on a fresh connection: how many times and how far apart.
 */
import * as Effect from "effect/Effect"
import type { Dialect } from "./SqlDialect.js"

/**
 * How many times a statement whose connection was lost is run again, each time on a fresh connection
 * from the pool: a pool may hold several connections the server ended while they were idle, each
 * found dead only when used. Paced by `reconnectDelay` (25 ms doubling: about 3 s in all), so that a
 * server ending connections again and again (a pooler recycling them, a failover) is outlasted
 * rather than met four times within the same few hundred milliseconds.
 */
export const reconnections = 7

/** The pause before the `attempt`-th (0-based) run again of a statement whose connection was lost. */
export const reconnectDelay = (attempt: number): number => 25 * 2 ** attempt

/**
 * A pause in real time, whatever the program's `Clock`: a server restarting or failing over is outlasted
 * in real time (as another process's migration is waited for), and a test on `TestClock` that meets a
 * lost connection must not hang until it adjusts its clock. Jittered (0.8-1.2), so that processes cut
 * at once do not come back at once.
 */
export const reconnectPause = (attempt: number): Effect.Effect<void> =>
  Effect.async<void>((resume) => {
    const timer = setTimeout(() => resume(Effect.void), reconnectDelay(attempt) * (0.8 + 0.4 * Math.random()))
    return Effect.sync(() => clearTimeout(timer))
  })

/**
 * `effect` run again (up to `reconnections` times) when it failed because its connection was lost.
 * Only for what is safe to repeat: a read, or a write whose repeat the limits count conservatively;
 * a hold or a settlement first reads whether it landed (`Sql.ts`).
 */
export const reconnecting = (dialect: Dialect) => <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> => {
  const lost = dialect.connectionLost
  if (lost === undefined) return effect
  const attempt = (n: number): Effect.Effect<A, E, R> =>
    n >= reconnections ? effect : Effect.catchIf(
      effect,
      (error) => lost(error),
      () => Effect.zipRight(reconnectPause(n), attempt(n + 1))
    )
  return attempt(0)
}
