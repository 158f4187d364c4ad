/**
 * A child process for test/services/ledger/LimitsProcesses.test.ts (run from an esbuild bundle): the
 * whole client (`makeLiveLayer`) on a shared SQLite file or PostgreSQL database, calling the parent's
 * loopback Gemini server for model `flash` with `limits: { rpm }`. Mode `burst` prints `ready`, waits
 * for a start time on stdin, fires `callers` concurrent calls and prints how they ended as JSON. Mode
 * `hang` makes one call (the server never answers it) and is SIGKILLed by the parent mid-call.
 */
import * as Effect from "effect/Effect"
import * as Readline from "node:readline"
import { generate, makeLiveLayer } from "../../src/index.js"

/** What the parent asks for. */
export type LimitsArgs =
  & ({ readonly backend: "sqlite"; readonly path: string } | { readonly backend: "postgres"; readonly url: string })
  & { readonly baseUrl: string; readonly rpm: number }
  & ({ readonly mode: "burst"; readonly callers: number } | { readonly mode: "hang" })

const args = JSON.parse(process.argv[2] ?? "{}") as LimitsArgs
const say = (line: string) => Effect.sync(() => process.stdout.write(`${line}\n`))

const layer = makeLiveLayer({
  userConfig: false,
  config: {
    default_model: "flash",
    providers: { google: { api_key: "limits-child-key", endpoints: [{ name: "loopback", base_url: args.baseUrl }] } },
    models: { flash: { provider: "google", model_id: "gemini-2.5-flash", limits: { rpm: args.rpm } } },
    // a caller that would wait for the next minute is refused at once: the burst ends in moments
    resilience: { max_retries: 0, max_wait_timeout_s: 1 },
    budget: { daily_spend_limit: 0 },
    ledger: args.backend === "sqlite" ? { backend: "sqlite", path: args.path } : { backend: "postgres", url: args.url }
  }
})

/** Waits for the parent's start time (an epoch ms on stdin), then until that moment. */
const waitForStart = Effect.async<void>((resume) => {
  const input = Readline.createInterface({ input: process.stdin })
  input.once("line", (line) => {
    input.close()
    process.stdin.destroy()
    setTimeout(() => resume(Effect.void), Math.max(0, Number(line) - Date.now()))
  })
})

const program = Effect.gen(function*() {
  if (args.mode === "hang") {
    yield* say("ready")
    return yield* generate({ prompt: "never answered" })
  }
  // the layer is built (ledger open, migrated) before the start signal
  yield* say("ready")
  yield* waitForStart
  const results = yield* Effect.all(
    Array.from({ length: args.callers }, () => Effect.either(generate({ prompt: "hi" }))),
    { concurrency: "unbounded" }
  )
  const tally: Record<string, number> = {}
  for (const result of results) {
    const key = result._tag === "Right"
      ? "ok"
      : result.left._tag === "RateLimitError" && result.left.reason === "local_limit"
      ? `local_limit:${result.left.limitKind}`
      : `${result.left._tag}:${result.left.message}`
    tally[key] = (tally[key] ?? 0) + 1
  }
  yield* say(JSON.stringify(tally))
})

Effect.runPromiseExit(Effect.provide(program, layer)).then((exit) => {
  if (exit._tag === "Failure") {
    process.stderr.write(`limits-child failed: ${JSON.stringify(exit.cause)}\n`)
    process.exitCode = 1
  }
})
