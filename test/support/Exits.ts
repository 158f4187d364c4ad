/**
 * Exits as plain values to assert on. chai's `deepStrictEqual` cannot tell two of Effect's `Exit`
 * values apart (`Exit.fail(Option.some(e))` and `Exit.fail(Option.none())` compare equal), and
 * `Equal.equals` compares errors without their message: tests check what an exit holds instead.
 */
import * as Cause from "effect/Cause"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"

/** The error an exit failed with; throws (failing the test) on a success, a defect or an interruption. */
export const failureOf = <A, E>(exit: Exit.Exit<A, E>): E => {
  if (Exit.isSuccess(exit)) throw new Error(`expected a failure, got a success: ${String(exit.value)}`)
  const failure = Cause.failureOption(exit.cause)
  if (Option.isNone(failure)) throw new Error(`expected a failure, got: ${Cause.pretty(exit.cause)}`)
  return failure.value
}

/** How a pull (`Stream.toPull`) ended: `"end"` for the stream's end, else the error it failed with. */
export const pullEndOf = <A, E>(exit: Exit.Exit<A, Option.Option<E>>): E | "end" => {
  const failure = failureOf(exit)
  return Option.isNone(failure) ? "end" : failure.value
}
