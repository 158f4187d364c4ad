/**
 * A child process for test/services/LedgerProcesses.test.ts (which runs it from an esbuild bundle; by
 * hand: `node --import tsx test/support/ledger-child.ts '<json Args>'`). Mode `loop` holds and commits
 * forever on a SQLite ledger, printing each committed hold id once `commit` returned (after one hold it
 * never settles). Mode `burst` prints `ready`, waits for a start time on stdin, then fires concurrent holds.
 * Mode `raise` does the same, prints `held`, waits for a second start time, then moves every hold to a
 * pricier fallback at once, prints `raised`, and on a third start time settles (each call that went
 * ahead commits at the fallback's full price, the others cancel). Mode `users` is a burst whose holds are
 * tagged with one of `users` users, each held against a daily limit per user, and every granted one
 * commits at its estimate. Mode `open` commits one hold on a ledger it never closes (as a program on the
 * shared `LiveLayer` does), prints `committed`, and prints `still running` and exits 3 if the ledger keeps
 * the process alive for 5 s after that.
 */
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import type * as Exit from "effect/Exit"
import type * as Layer from "effect/Layer"
import * as ManagedRuntime from "effect/ManagedRuntime"
import * as Redacted from "effect/Redacted"
import * as Readline from "node:readline"
import type { LedgerError } from "../../src/domain/Errors.js"
import { type Hold, type HoldRequest, layerPostgres, layerSqlite, Ledger } from "../../src/services/Ledger.js"

/** What the parent asks for. */
export type Args =
  & ({ readonly backend: "sqlite"; readonly path: string } | { readonly backend: "postgres"; readonly url: string })
  & (
    | { readonly mode: "loop"; readonly holdTtlS: number }
    | { readonly mode: "open" }
    | { readonly mode: "burst"; readonly holds: number; readonly estimate: number; readonly limit: number }
    | {
      readonly mode: "users"
      readonly holds: number
      readonly users: number
      readonly estimate: number
      readonly limit: number
    }
    | {
      readonly mode: "raise"
      readonly holds: number
      readonly estimate: number
      readonly fallback: number
      readonly limit: number
    }
  )

const args = JSON.parse(process.argv[2] ?? "{}") as Args
const say = (line: string) => Effect.sync(() => process.stdout.write(`${line}\n`))
const holdTtlS = args.mode === "loop" ? args.holdTtlS : 900
const layer: Layer.Layer<Ledger, LedgerError> = args.backend === "sqlite" ?
  layerSqlite({ path: args.path, holdTtlS }) :
  layerPostgres({ url: Redacted.make(args.url), holdTtlS })

const limits = (limit: number) => limit > 0 ? [{ scope: "global", window: "daily", limit } as const] : []

const request = (estimate: number, limit: number): HoldRequest => ({
  traceId: `pid-${process.pid}`,
  provider: "gemini",
  model: "gemini-2.5-flash",
  alias: "flash",
  estimate,
  limits: limits(limit)
})

/** The parent's lines on stdin, in order. */
const input = Readline.createInterface({ input: process.stdin })
const received: Array<string> = []
const waiting: Array<(line: string) => void> = []
input.on("line", (line) => {
  const waiter = waiting.shift()
  if (waiter) waiter(line)
  else received.push(line)
})

/**
 * Waits for the parent's next line, an epoch ms, then until that moment: every child starts together.
 * After the `last` one stdin is closed (or the open pipe keeps this process alive).
 */
const waitForStart = (last: boolean) =>
  Effect.async<void>((resume) => {
    const start = (line: string) => {
      if (last) {
        input.close()
        process.stdin.destroy()
      }
      setTimeout(() => resume(Effect.void), Math.max(0, Number(line) - Date.now()))
    }
    const line = received.shift()
    if (line !== undefined) start(line)
    else waiting.push(start)
  })

/** A fallback priced at `estimate` raises the call's hold, atomically with the check (across processes). */
const fallback = (ledger: Ledger.Service, hold: Hold, estimate: number, limit: number) =>
  ledger.raise(hold, { provider: "dashscope", model: "qwen-max", alias: "max", estimate, limits: limits(limit) })

const program = Effect.gen(function*() {
  const ledger = yield* Ledger
  if (args.mode === "loop") {
    const open = yield* ledger.hold(request(0.001, 0))
    yield* say(`open ${open.id}`)
    for (let i = 0;; i++) {
      const hold = yield* ledger.hold(request(0.001, 0))
      yield* ledger.commit(hold, { cost: 0.001, attempts: 1, timing: { totalMs: i } })
      yield* say(`committed ${hold.id}`)
    }
  }
  if (args.mode === "open") return
  yield* say("ready")
  if (args.mode === "raise") {
    yield* waitForStart(false)
    const holds = yield* Effect.all(
      Array.from({ length: args.holds }, () => ledger.hold(request(args.estimate, args.limit))),
      { concurrency: "unbounded" }
    )
    yield* say("held")
    yield* waitForStart(false)
    const raised = yield* Effect.all(
      holds.map((hold) => Effect.either(fallback(ledger, hold, args.fallback, args.limit))),
      { concurrency: "unbounded" }
    )
    // settlements free budget: none starts before every process has raised
    yield* say("raised")
    yield* waitForStart(true)
    yield* Effect.forEach(raised, (result, i) =>
      Either.isRight(result) ?
        ledger.commit(result.right, { cost: args.fallback }) :
        ledger.cancel(holds[i]!, {
          cost: 0,
          status: "error",
          error: { tag: "BudgetExceededError", message: "refused" }
        }))
    const refused = raised.filter((result) =>
      Either.isLeft(result) && result.left._tag === "BudgetExceededError"
    ).length
    const granted = raised.filter(Either.isRight).length
    return yield* say(
      JSON.stringify({ held: holds.length, granted, refused, failed: raised.length - granted - refused })
    )
  }
  if (args.mode === "users") {
    yield* waitForStart(true)
    const results = yield* Effect.all(
      Array.from({ length: args.holds }, (_, i) => {
        const user = `u${i % args.users}`
        return Effect.either(ledger.hold({
          ...request(args.estimate, 0),
          tags: { user },
          limits: [{ scope: "global", window: "daily", limit: 1000 }, {
            scope: `user:${user}`,
            window: "daily",
            limit: args.limit
          }]
        }))
      }),
      { concurrency: "unbounded" }
    )
    const granted = results.filter(Either.isRight).map((result) => result.right)
    yield* Effect.forEach(granted, (hold) => ledger.commit(hold, { cost: hold.estimate }))
    const byUser: Record<string, number> = {}
    for (const hold of granted) byUser[hold.tags!.user!] = (byUser[hold.tags!.user!] ?? 0) + 1
    const refused = results.filter((result) =>
      Either.isLeft(result) && result.left._tag === "BudgetExceededError"
    ).length
    return yield* say(
      JSON.stringify({ granted: granted.length, byUser, refused, failed: results.length - granted.length - refused })
    )
  }
  yield* waitForStart(true)
  const results = yield* Effect.all(
    Array.from({ length: args.holds }, () => Effect.either(ledger.hold(request(args.estimate, args.limit)))),
    { concurrency: "unbounded" }
  )
  const granted = results.filter(Either.isRight).map((result) => result.right)
  // settle half at the full estimate, leave the rest held: both count toward the limit
  yield* Effect.forEach(
    granted.slice(0, Math.ceil(granted.length / 2)),
    (hold) => ledger.commit(hold, { cost: hold.estimate })
  )
  const refused = results.filter((result) => Either.isLeft(result) && result.left._tag === "BudgetExceededError").length
  yield* say(JSON.stringify({ granted: granted.length, refused, failed: results.length - granted.length - refused }))
})

const neverClosed = Effect.gen(function*() {
  const ledger = yield* Ledger
  const hold = yield* ledger.hold(request(0.001, 0))
  yield* ledger.commit(hold, { cost: 0.001 })
  yield* say("committed")
  input.close()
  process.stdin.destroy()
  setTimeout(() => {
    process.stdout.write("still running\n")
    process.exit(3)
  }, 5000).unref()
})

const run: Promise<Exit.Exit<unknown, unknown>> = args.mode === "open" ?
  ManagedRuntime.make(layer).runPromiseExit(neverClosed) :
  Effect.runPromiseExit(Effect.provide(program, layer))
run.then((exit) => {
  if (exit._tag === "Failure") {
    process.stderr.write(`ledger-child failed: ${JSON.stringify(exit.cause)}\n`)
    process.exitCode = 1
  }
})
