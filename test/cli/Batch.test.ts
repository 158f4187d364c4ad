/**
 * `effect-llm batch` end to end: the CLI as a child process against the loopback simulator (temp
 * config, SQLite ledger in a temp dir), its results file and ledger compared line by line; resume
 * after a SIGKILL, `--retry-failed`, malformed lines and `--strict`, the budget stop, Ctrl-C once and
 * twice, and the progress output on a pseudo-terminal, in a log and as JSON, parsed structurally.
 */
import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { spawn } from "node:child_process"
import { existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import type { Summary } from "../../src/cli/batch/Progress.js"
import type { ResultLine } from "../../src/cli/batch/Results.js"
import type { LedgerEvent } from "../../src/domain/LedgerEvent.js"
import { layerSqlite, Ledger } from "../../src/services/Ledger.js"
import * as Simulator from "../../src/simulator/Simulator.js"
import { bin, type CliOptions, runCli, simulatorConfig, tempDir, writeConfig } from "../support/cli-harness.js"

let sim: Simulator.Simulator

beforeAll(async () => {
  sim = await Simulator.start()
})
afterAll(() => sim.close())

/** A temp dir with a config for the simulator (`endpoint`: the simulated path of `google-a`). */
const setup = (overrides: { readonly budget?: unknown; readonly endpoint?: string } = {}) => {
  const dir = tempDir()
  const config = writeConfig(
    dir,
    simulatorConfig(sim, dir, {
      ...(overrides.budget !== undefined ? { budget: overrides.budget } : {}),
      ...(overrides.endpoint !== undefined ? { googleUrl: sim.baseUrl(overrides.endpoint) } : {})
    })
  )
  return { dir, config, input: join(dir, "input.jsonl"), out: join(dir, "results.jsonl") }
}

type Setup = ReturnType<typeof setup>

const writeInput = (path: string, lines: ReadonlyArray<unknown>) =>
  writeFileSync(path, lines.map((line) => (typeof line === "string" ? line : JSON.stringify(line))).join("\n") + "\n")

/** `count` items `item-0` … with prompts `question i` plus `suffix` (a simulator directive). */
const numbered = (count: number, suffix = "") =>
  Array.from({ length: count }, (_, i) => ({ id: `item-${i}`, prompt: `question ${i} ${suffix}`.trim() }))

const batch = (s: Setup, extra: ReadonlyArray<string> = [], options: CliOptions = {}) =>
  runCli(["batch", s.input, "--out", s.out, "--config", s.config, ...extra], { cwd: s.dir, ...options })

const readResults = (path: string): Array<ResultLine> =>
  existsSync(path)
    ? readFileSync(path, "utf8").split("\n").filter((line) => line !== "").map((line) => JSON.parse(line) as ResultLine)
    : []

const ledgerEvents = (dir: string): Promise<ReadonlyArray<LedgerEvent>> =>
  Effect.runPromise(
    Effect.flatMap(Ledger, (ledger) => ledger.events()).pipe(
      Effect.provide(layerSqlite({ path: join(dir, "ledger.db") }))
    )
  )

/** The JSON events on stderr (`--json`), by type; the last stderr line may be the `error:` line. */
const eventsOf = (stderr: string) => {
  const events = stderr.split("\n").filter((line) => line.startsWith("{")).map((line) =>
    JSON.parse(line) as { readonly type: string } & Record<string, unknown>
  )
  return { all: events, of: (type: string) => events.filter((event) => event.type === type) }
}

const errorLine = (stderr: string) => stderr.trim().split("\n").filter((line) => line.startsWith("error: ")).at(-1)

/** The ledger agrees with the results file: one commit per success, one `error` cancel per failure, the same cost. */
const assertLedgerAgrees = (results: ReadonlyArray<ResultLine>, events: ReadonlyArray<LedgerEvent>) => {
  const commits = events.filter((e) => e.type === "commit")
  const errors = events.filter((e) => e.type === "cancel" && e.status === "error")
  assert.deepStrictEqual(
    commits.map((e) => e.traceId).sort(),
    results.filter((r) => r.ok).map((r) => r.traceId).sort()
  )
  assert.deepStrictEqual(
    errors.map((e) => e.traceId).sort(),
    results.filter((r) => !r.ok && r.attempts > 0).map((r) => r.traceId).sort()
  )
  const ledgerCost = [...commits, ...errors].reduce((sum, e) => sum + e.cost, 0)
  assert.closeTo(results.reduce((sum, r) => sum + r.cost, 0), ledgerCost, 1e-12)
}

/** `key=value` pairs of a plain progress line. */
const plainFields = (line: string) =>
  Object.fromEntries(line.replace(/^progress /, "").split(" ").map((pair) => pair.split("=") as [string, string]))

const progressKeys = ["done", "ok", "failed", "running", "rate", "spent", "today", "eta"]

describe.concurrent("effect-llm batch", { timeout: 120_000 }, () => {
  it("runs every line, writes one result line per item, and the ledger agrees on counts and cost", async () => {
    const s = setup()
    writeInput(s.input, [
      ...numbered(8),
      { id: "fatal", prompt: "this one fails [[sim status=400]]" },
      { id: "quota", prompt: "quota gone [[sim status=429 quota=day]]" },
      {
        id: "qwen",
        prompt: "per-line model and parameters",
        model: "qwen-plus",
        maxOutputTokens: 10,
        temperature: 0.2
      },
      {
        id: 42,
        messages: [{ role: "user", content: "a conversation" }],
        system: "be brief",
        tags: { team: "acme" }
      }
    ])
    const run = await batch(s, ["--concurrency", "4", "--json"])
    assert.strictEqual(run.code, 1, run.stderr)
    assert.match(errorLine(run.stderr)!, /^error: BatchIncomplete: 2 item\(s\) failed/)

    const results = readResults(s.out)
    assert.deepStrictEqual(
      results.map((r) => String(r.id)).sort(),
      [...numbered(8).map((i) => i.id), "fatal", "quota", "qwen", "42"].sort()
    )
    const byId = new Map(results.map((r) => [String(r.id), r]))
    assert.strictEqual(byId.get("42")!.id, 42) // as the input gave it
    assert.deepInclude(byId.get("fatal")!.error, { tag: "FatalError" })
    assert.deepInclude(byId.get("fatal"), { ok: false, alias: "gemini-flash", endpoint: "google-a", attempts: 1 })
    assert.deepInclude(byId.get("quota")!.error, { tag: "RateLimitError", reason: "quota_exhausted" })
    assert.deepInclude(byId.get("qwen"), {
      ok: true,
      alias: "qwen-plus",
      provider: "dashscope",
      endpoint: "dashscope-a"
    })
    assert.strictEqual(byId.get("qwen")!.usage!.outputTokens, 10)
    assert.include(byId.get("42")!.content, "a conversation")
    for (const r of results.filter((r) => r.ok)) {
      assert.isString(r.content)
      assert.isAbove(r.cost, 0)
      assert.strictEqual(r.attempts, 1)
      assert.match(r.traceId, /^[0-9a-f-]{36}$/)
      assert.isAtLeast(r.latencyMs, 0)
      assert.isFalse(Number.isNaN(Date.parse(r.finishedAt)))
    }
    assertLedgerAgrees(results, await ledgerEvents(s.dir))

    const events = eventsOf(run.stderr)
    assert.strictEqual(events.all[0]!.type, "start")
    assert.deepInclude(events.all[0], { total: 12, items: 12, alreadyDone: 0, malformed: 0, concurrency: 4 })
    assert.strictEqual(events.of("item").length, 12)
    const summary = JSON.parse(run.stdout) as Summary
    assert.deepInclude(summary.counts, { items: 12, toRun: 12, ok: 10, failed: 2, notRun: 0, malformed: 0 })
    assert.deepStrictEqual(summary.failures, { FatalError: 1, RateLimitError: 1 })
    assert.strictEqual(summary.outcome, "completed")
    assert.closeTo(summary.cost, results.reduce((sum, r) => sum + r.cost, 0), 1e-12)
    assert.strictEqual(summary.tokens.output, results.reduce((sum, r) => sum + (r.usage?.outputTokens ?? 0), 0))
    assert.isAtMost(summary.latencyMs.p50!, summary.latencyMs.p95!)
  })

  it("resumes after a SIGKILL mid-run: no duplicate success, no finished item lost", async () => {
    const s = setup()
    writeInput(s.input, numbered(24, "[[sim delayMs=150]]"))
    const items = (stderr: string) => eventsOf(stderr).of("item").length
    const killed = await batch(s, ["--concurrency", "3", "--json"], {
      signalWhen: { signal: "SIGKILL", stderr: (stderr) => items(stderr) >= 6 }
    })
    assert.strictEqual(killed.signal, "SIGKILL")
    const before = readResults(s.out)
    assert.isAtLeast(before.length, 6)
    assert.isBelow(before.length, 24)
    // Every item reported finished is in the file (an `item` event is emitted after its line is written).
    const reported = eventsOf(killed.stderr).of("item").map((e) => e.id as string)
    assert.includeMembers(before.map((r) => r.id), reported)
    const ledgerBefore = await ledgerEvents(s.dir)
    const committed = new Set(ledgerBefore.filter((e) => e.type === "commit").map((e) => e.traceId))
    for (const r of before) assert.isTrue(committed.has(r.traceId), `${r.id} has no commit`)

    const resumed = await batch(s, ["--concurrency", "3", "--json"])
    assert.strictEqual(resumed.code, 0, resumed.stderr)
    assert.deepInclude(eventsOf(resumed.stderr).of("start")[0], {
      alreadyDone: before.length,
      total: 24 - before.length
    })
    const after = readResults(s.out)
    assert.deepStrictEqual(after.slice(0, before.length), before) // the first run's lines untouched
    assert.deepStrictEqual(after.map((r) => r.id).sort(), numbered(24).map((i) => i.id).sort()) // each id once
    assert.isTrue(after.every((r) => r.ok))
    // Each line's call committed exactly once; the only other ledger traffic is what the kill caught
    // between a commit and its line: results waiting in runBatch's queue (≤ concurrency), calls that
    // committed and wait to hand theirs over (≤ concurrency) and the line being written (1).
    const ledgerAfter = await ledgerEvents(s.dir)
    const commits = ledgerAfter.filter((e) => e.type === "commit")
    for (const r of after) assert.strictEqual(commits.filter((e) => e.traceId === r.traceId).length, 1, String(r.id))
    assert.isAtMost(commits.length - after.length, 2 * 3 + 1)
    const summary = JSON.parse(resumed.stdout) as Summary
    assert.deepInclude(summary.counts, { ok: 24 - before.length, alreadyDone: before.length, failed: 0 })
  })

  it("an id holding a configured secret is written scrubbed, and a re-run still finds it done: never run (nor paid) twice", async () => {
    const s = setup()
    const id = `${sim.keys.google}-1`
    writeInput(s.input, [{ id, prompt: "question" }, { id: "plain", prompt: "question" }])
    const first = await batch(s)
    assert.strictEqual(first.code, 0, first.stderr)
    assert.notInclude(readFileSync(s.out, "utf8"), sim.keys.google)
    const again = await batch(s, ["--json"])
    assert.strictEqual(again.code, 0, again.stderr)
    assert.deepInclude(eventsOf(again.stderr).all[0], { alreadyDone: 2 })
    assert.lengthOf(readResults(s.out), 2)
    assert.lengthOf((await ledgerEvents(s.dir)).filter((event) => event.type === "commit"), 2)
  })

  it("an integer id comes back an integer (results and --json events), and a re-run finds it done", async () => {
    const s = setup({ endpoint: "batch-integer-ids" })
    writeInput(s.input, [{ id: 42, prompt: "the answer" }, { id: "q-7", prompt: "a named one" }, {
      id: "42",
      prompt: "again"
    }])
    const first = await batch(s, ["--json"])
    assert.strictEqual(first.code, 1, first.stderr) // the duplicate line
    assert.sameDeepMembers(readResults(s.out).map((r) => [r.id, r.ok]), [[42, true], ["q-7", true]])
    // `"42"` is the same id as `42`: a duplicate line
    assert.deepInclude(JSON.parse(first.stdout).counts, { ok: 2, malformed: 1 })
    assert.sameMembers(eventsOf(first.stderr).of("item").map((event) => event.id), [42, "q-7"])
    const again = await batch(s, ["--json"])
    assert.strictEqual(again.code, 1, again.stderr)
    assert.deepInclude(JSON.parse(again.stdout).counts, { toRun: 0, alreadyDone: 2 })
    assert.strictEqual(readResults(s.out).length, 2)
  })

  it("keeps failed items unless --retry-failed, which runs only them", async () => {
    const endpoint = "batch-retry"
    const s = setup({ endpoint })
    writeInput(s.input, numbered(4))
    // The first item's two attempts (max_retries: 1) fail; every later request succeeds.
    sim.script(endpoint, { status: 500 }, { status: 500 })
    const first = await batch(s, ["--concurrency", "1"])
    assert.strictEqual(first.code, 1, first.stderr)
    const failed = readResults(s.out).filter((r) => !r.ok)
    assert.deepStrictEqual(failed.map((r) => [r.id, r.error?.tag, r.attempts]), [["item-0", "RetryableError", 2]])

    const kept = await batch(s, ["--json"])
    assert.strictEqual(kept.code, 1)
    assert.match(errorLine(kept.stderr)!, /1 failed in an earlier run \(--retry-failed retries them\)/)
    assert.deepInclude(JSON.parse(kept.stdout).counts, { toRun: 0, alreadyDone: 3, keptFailed: 1 })
    assert.strictEqual(readResults(s.out).length, 4)

    const retried = await batch(s, ["--retry-failed", "--json"])
    assert.strictEqual(retried.code, 0, retried.stderr)
    assert.deepInclude(JSON.parse(retried.stdout).counts, { toRun: 1, ok: 1, alreadyDone: 3, keptFailed: 0 })
    const results = readResults(s.out)
    assert.deepStrictEqual(results.map((r) => [r.id, r.ok]).slice(4), [["item-0", true]])
    assertLedgerAgrees(results, await ledgerEvents(s.dir))
  })

  it("reports malformed lines with their numbers and skips them; --strict runs nothing (exit 2)", async () => {
    const s = setup()
    writeInput(s.input, [
      { id: "a", prompt: "fine" },
      "{\"id\": \"broken\"",
      { prompt: "no id" },
      { id: "b", prompt: "fine too" },
      { id: "a", prompt: "duplicate" },
      { id: "c", prompt: "too hot", temperature: 5 },
      { id: "d", prompt: "who?", model: "no-such-model" },
      { id: "e", prompt: "typo", temprature: 0.5 },
      "",
      { id: "f", messages: [] }
    ])
    const run = await batch(s, ["--json"])
    assert.strictEqual(run.code, 1, run.stderr)
    const malformed = eventsOf(run.stderr).of("malformed")
    assert.deepStrictEqual(malformed.map((e) => e.line), [2, 3, 5, 6, 7, 8, 10])
    assert.deepStrictEqual(malformed.map((e) => e.id), [undefined, undefined, "a", "c", "d", "e", "f"])
    assert.match(malformed[2]!.reason as string, /duplicate id "a" \(first at line 1\)/)
    assert.match(malformed[5]!.reason as string, /unknown field "temprature"/)
    assert.deepStrictEqual(readResults(s.out).map((r) => r.id).sort(), ["a", "b"])
    assert.deepInclude(JSON.parse(run.stdout).counts, { items: 2, ok: 2, malformed: 7 })

    const plain = await batch(s)
    assert.include(plain.stderr, `warn: ${s.input}:2: not valid JSON`)
    // they are not in the results file: the error line says where they are
    assert.strictEqual(errorLine(plain.stderr), "error: BatchIncomplete: 7 malformed line(s) skipped (see the summary)")

    const t = setup()
    writeInput(t.input, [{ id: "a", prompt: "fine" }, "not json"])
    const strict = await batch(t, ["--strict"])
    assert.strictEqual(strict.code, 2)
    assert.match(errorLine(strict.stderr)!, /^error: MalformedInput: 1 malformed line\(s\) .*line 2.*nothing was run/)
    assert.isFalse(existsSync(t.out))
    assert.deepStrictEqual(await ledgerEvents(t.dir), [])
  })

  it("a bad --progress-interval (0, -1, NaN) or --concurrency (0, above 1,000) exits 2 with one line, nothing run", async () => {
    const cases = [
      ["--progress-interval", "0", "--progress-interval: expected a positive number of seconds, got 0"],
      ["--progress-interval", "-1", "--progress-interval: expected a positive number of seconds, got -1"],
      ["--progress-interval", "NaN", "--progress-interval: expected a positive number of seconds, got NaN"],
      ["--concurrency", "0", "--concurrency must be from 1 to 1000, got 0"],
      ["--concurrency", "100000", "--concurrency must be from 1 to 1000, got 100000"]
    ] as const
    const runs = await Promise.all(cases.map(([option, value]) => {
      const s = setup()
      writeInput(s.input, numbered(1))
      return batch(s, [option, value]).then((run) => ({ s, run }))
    }))
    for (const [i, { run, s }] of runs.entries()) {
      assert.strictEqual(run.code, 2, run.stderr)
      assert.strictEqual(run.stderr.trim(), `error: InvalidValue: ${cases[i]![2]}`)
      assert.isFalse(existsSync(s.out))
    }
  })

  it("an --out that cannot be written (a path under a file) exits 2 with one line naming it, nothing run", async () => {
    const s = setup()
    writeInput(s.input, numbered(1))
    const underFile = `${s.input}/results.jsonl`
    const run = await batch({ ...s, out: underFile })
    assert.strictEqual(run.code, 2, run.stderr)
    assert.isTrue(run.stderr.trim().startsWith(`error: FileNotWritable: ${underFile}: cannot be written (`), run.stderr)
    assert.strictEqual(run.stderr.trim().split("\n").length, 1)
  })

  it("an --out that is the input file (its own path or a link to it) exits 2 with one line, the prompts untouched", async () => {
    const s = setup()
    writeInput(s.input, numbered(2))
    const before = readFileSync(s.input, "utf8")
    const link = `${s.input}.link`
    symlinkSync(s.input, link)
    for (const out of [s.input, link]) {
      const run = await batch({ ...s, out })
      assert.strictEqual(run.code, 2, run.stderr)
      assert.strictEqual(
        run.stderr.trim(),
        `error: SameFile: --out ${out} is the input file ${s.input}; name another file for the results`
      )
      assert.strictEqual(readFileSync(s.input, "utf8"), before)
    }
  })

  it("an input path that is not a readable file, or an --out that is not a file, exits 2 with one line naming it", async () => {
    const [directory, missing] = [setup(), setup()]
    mkdirSync(directory.input)
    const [isDirectory, isMissing] = await Promise.all([batch(directory), batch(missing)])
    assert.strictEqual(isDirectory.code, 2, isDirectory.stderr)
    assert.strictEqual(isDirectory.stderr.trim(), `error: NotAFile: ${directory.input}: not a file (Directory)`)
    assert.strictEqual(isMissing.code, 2, isMissing.stderr)
    assert.strictEqual(isMissing.stderr.trim(), `error: FileNotFound: ${missing.input}: no such file`)
    assert.isFalse(existsSync(directory.out))
    // --out naming a directory: the same usage error, before anything runs
    const outDirectory = setup()
    writeInput(outDirectory.input, numbered(1))
    mkdirSync(outDirectory.out)
    const isOutDirectory = await batch(outDirectory)
    assert.strictEqual(isOutDirectory.code, 2, isOutDirectory.stderr)
    assert.strictEqual(isOutDirectory.stderr.trim(), `error: NotAFile: ${outDirectory.out}: not a file (Directory)`)
  })

  it("`-` as the input (stdin) is a usage error saying batch reads a file, wherever --out is", async () => {
    const s = setup()
    const [before, after] = await Promise.all([
      runCli(["batch", "-", "--out", s.out, "--config", s.config], {
        cwd: s.dir,
        stdin: "{\"id\":\"a\",\"prompt\":\"hi\"}\n"
      }),
      runCli(["batch", "--out", s.out, "--config", s.config, "-"], {
        cwd: s.dir,
        stdin: "{\"id\":\"a\",\"prompt\":\"hi\"}\n"
      })
    ])
    for (const run of [before, after]) {
      assert.strictEqual(run.code, 2, run.stderr)
      assert.match(
        run.stderr.trim(),
        /^error: StdinInput: batch: the input must be a file .*`-` \(stdin\) is not supported/
      )
    }
    assert.isFalse(existsSync(s.out))
  })

  it("--out - is a usage error saying the results are a file; a `-` given as an option's value is not taken for the input", async () => {
    const s = setup()
    writeInput(s.input, numbered(1))
    for (const out of [["--out", "-"], ["-o", "-"], ["--out=-"]]) {
      const run = await runCli(["batch", s.input, ...out, "--config", s.config], { cwd: s.dir })
      assert.strictEqual(run.code, 2, run.stderr)
      assert.match(
        run.stderr.trim(),
        /^error: StdoutOutput: batch: --out must be a file .*`-` \(stdout\) is not supported/
      )
    }
    assert.isFalse(existsSync(join(s.dir, "-")))
    // a model alias "-" is the model's business (unknown alias), not stdin
    const model = await runCli(["batch", s.input, "--out", s.out, "--model", "-", "--config", s.config], { cwd: s.dir })
    assert.notInclude(model.stderr, "StdinInput")
  })

  it("a budget refusal stops the batch (exit 3): nothing more is started, the refused item is not written", async () => {
    const s = setup()
    writeInput(s.input, [
      ...numbered(2),
      { id: "huge", prompt: "a novel", maxOutputTokens: 10_000_000 },
      ...numbered(5).slice(2)
    ])
    const run = await batch(s, ["--concurrency", "1", "--json"])
    assert.strictEqual(run.code, 3, run.stderr)
    assert.match(errorLine(run.stderr)!, /^error: BatchStopped: the batch stopped at item "huge": BudgetExceededError/)
    const summary = JSON.parse(run.stdout) as Summary
    assert.strictEqual(summary.outcome, "stopped")
    assert.deepInclude(summary.stoppedBy, { id: "huge", tag: "BudgetExceededError" })
    assert.deepInclude(summary.counts, { ok: 2, refused: 1, notRun: 3 })
    assert.deepStrictEqual(readResults(s.out).map((r) => r.id), ["item-0", "item-1"])
    assertLedgerAgrees(readResults(s.out), await ledgerEvents(s.dir))

    // --stop-on never: the refused item is skipped (not written) and the rest run; exit 3 still says so.
    const never = await batch(s, ["--stop-on", "never", "--json"])
    assert.strictEqual(never.code, 3, never.stderr)
    assert.deepInclude(JSON.parse(never.stdout).counts, { ok: 3, refused: 1, alreadyDone: 2 })
    assert.strictEqual(readResults(s.out).length, 5)
  })

  it("a budget refusal after requests were made (the fallback's raise refused) is a failure, written as the ledger settled it", async () => {
    const dir = tempDir()
    // an endpoint of its own: the requests it got are this test's
    const base = simulatorConfig(sim, dir, { googleUrl: sim.baseUrl("google-fallback-refused") })
    const config = writeConfig(dir, {
      ...base,
      models: {
        ...base.models,
        "gemini-flash": { ...base.models["gemini-flash"], fallbacks: ["qwen-max"] },
        "qwen-max": { provider: "dashscope", model_id: "qwen-max", pricing: { input_per_1m: 100, output_per_1m: 1000 } }
      },
      resilience: { ...base.resilience, circuit_breaker: { failure_threshold: 1, recovery_timeout_s: 300 } },
      budget: { daily_spend_limit: 0.05, default_max_output_tokens: 200 }
    })
    const s = { dir, config, input: join(dir, "input.jsonl"), out: join(dir, "results.jsonl") }
    writeInput(s.input, [{ id: "a", prompt: "the primary fails [[sim status=503]]" }])
    const sentTo = () => sim.log().filter((entry) => entry.endpoint === "google-fallback-refused").length
    const first = await batch(s, ["--json"])
    const sent = sentTo()
    assert.isAtLeast(sent, 1, "the primary was asked")
    const [line] = readResults(s.out)
    assert.deepInclude(line, { id: "a", ok: false, attempts: 1 })
    assert.strictEqual((line as { error?: { tag?: string } }).error?.tag, "BudgetExceededError", first.stderr)
    assertLedgerAgrees(readResults(s.out), await ledgerEvents(s.dir))
    // done, as the ledger says: a re-run sends nothing again
    await batch(s, ["--json"])
    assert.strictEqual(sentTo(), sent)
  })

  it("Ctrl-C once: no new item starts, those in flight settle and are written, summary, exit 130", async () => {
    const s = setup()
    writeInput(s.input, numbered(10, "[[sim delayMs=1500]]"))
    const run = await batch(s, ["--concurrency", "3", "--json", "--progress-interval", "0.1"], {
      signalWhen: {
        signal: "SIGINT",
        stderr: (stderr) => eventsOf(stderr).of("progress").some((e) => e.running === 3)
      }
    })
    assert.strictEqual(run.code, 130, run.stderr)
    const events = eventsOf(run.stderr)
    assert.strictEqual(events.of("stopping").length, 1)
    const summary = JSON.parse(run.stdout) as Summary
    assert.strictEqual(summary.outcome, "interrupted")
    const results = readResults(s.out)
    assert.isAtLeast(results.length, 3)
    assert.isBelow(results.length, 10)
    assert.isTrue(results.every((r) => r.ok))
    assert.deepInclude(summary.counts, { ok: results.length, cancelled: 0, notRun: 10 - results.length })
    const ledger = await ledgerEvents(s.dir)
    assert.deepStrictEqual(ledger.filter((e) => e.type === "cancel"), [])
    assertLedgerAgrees(results, ledger)
  })

  it("Ctrl-C twice: the items in flight are cancelled (settled `cancelled` in the ledger), exit 130", async () => {
    const s = setup()
    // Calls that would take 60 s, past the test's timeout: only a cancellation ends the run in time.
    writeInput(s.input, numbered(10, "[[sim delayMs=60000]]"))
    const run = await batch(s, ["--concurrency", "3", "--json", "--progress-interval", "0.1"], {
      signalWhen: {
        signal: "SIGINT",
        stderr: (stderr) => eventsOf(stderr).of("progress").some((e) => e.running === 3),
        next: { signal: "SIGINT", stderr: (stderr) => eventsOf(stderr).of("stopping").length > 0 }
      }
    })
    assert.strictEqual(run.code, 130, run.stderr)
    assert.deepInclude(eventsOf(run.stderr).of("cancelling")[0], { running: 3 })
    const summary = JSON.parse(run.stdout) as Summary
    assert.strictEqual(summary.outcome, "cancelled")
    assert.deepInclude(summary.counts, { ok: 0, cancelled: 3, notRun: 7 })
    assert.deepStrictEqual(readResults(s.out), [])
    const ledger = await ledgerEvents(s.dir)
    assert.deepStrictEqual(ledger.filter((e) => e.type !== "hold").map((e) => [e.type, e.status]), [
      ["cancel", "cancelled"],
      ["cancel", "cancelled"],
      ["cancel", "cancelled"]
    ])
  })

  it("progress: plain key=value lines when stderr is not a terminal, JSON events with --json", async () => {
    const s = setup()
    writeInput(s.input, numbered(12, "[[sim delayMs=200]]"))
    const plain = await batch(s, ["--concurrency", "2", "--progress-interval", "0.2"])
    assert.strictEqual(plain.code, 0, plain.stderr)
    const lines = plain.stderr.trim().split("\n").filter((line) => line.startsWith("progress "))
    assert.isAtLeast(lines.length, 3)
    const fields = lines.map(plainFields)
    for (const f of fields) assert.deepStrictEqual(Object.keys(f), progressKeys)
    const done = fields.map((f) => Number(f.done!.split("/")[0]))
    assert.deepStrictEqual(done, [...done].sort((a, b) => a - b))
    assert.deepInclude(fields.at(-1), { done: "12/12", ok: "12", failed: "0", running: "0", eta: "0s" })
    assert.match(fields.at(-1)!.today!, /^\$[\d.]+\/\$1\.00$/)
    assert.notInclude(plain.stderr, "\r")

    const t = setup()
    writeInput(t.input, numbered(12, "[[sim delayMs=200]]"))
    const json = await batch(t, ["--concurrency", "2", "--json", "--progress-interval", "0.2"])
    assert.strictEqual(json.code, 0, json.stderr)
    const events = eventsOf(json.stderr)
    assert.deepStrictEqual(events.all.map((e) => e.type).filter((type, i, all) => all.indexOf(type) === i), [
      "start",
      "progress",
      "item"
    ])
    assert.strictEqual(events.of("item").length, 12)
    const progress = events.of("progress")
    for (const e of progress) {
      assert.strictEqual(e.done, (e.ok as number) + (e.failed as number))
      assert.strictEqual(e.total, 12)
      assert.isAtMost(e.running as number, 2)
    }
    assert.deepInclude(progress.at(-1), { done: 12, ok: 12, running: 0, etaS: 0, limit: 1 })
    assert.deepInclude(JSON.parse(json.stdout), { type: "summary", outcome: "completed" })
  })

  it("progress on a terminal: one line redrawn in place, ending with the final count", async () => {
    const s = setup()
    writeInput(s.input, numbered(12, "[[sim delayMs=200]]"))
    // `script` runs the CLI on a pseudo-terminal: stderr is a TTY (stdout too; both arrive here).
    const command = [
      process.execPath,
      bin,
      "batch",
      s.input,
      "--out",
      s.out,
      "--config",
      s.config,
      "--concurrency",
      "2"
    ]
      .map((arg) => `'${arg}'`).join(" ")
    const run = await new Promise<{ code: number | null; output: string }>((resolve, reject) => {
      const child = spawn("script", ["-qfec", command, "/dev/null"], {
        cwd: s.dir,
        env: { ...process.env, NO_COLOR: "1", XDG_CONFIG_HOME: s.dir },
        stdio: ["ignore", "pipe", "pipe"]
      })
      let output = ""
      child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString("utf8")))
      child.on("error", reject)
      child.on("close", (code) => resolve({ code, output }))
    })
    assert.strictEqual(run.code, 0, run.output)
    const output = run.output.replace(/\r\n/g, "\n")
    // Frames: each redraw returns to the line's start and clears it; the last one ends the line.
    const live = output.slice(output.indexOf("\r\x1b[2K"), output.indexOf("\nbatch complete"))
    const frames = live.split("\r\x1b[2K").filter((frame) => frame !== "")
    assert.isAtLeast(frames.length, 3)
    assert.notInclude(frames.slice(0, -1).join(""), "\n") // redrawn in place, never a new line
    const parsed = frames.map((frame) => {
      const [bar, ...rest] = frame.trim().split(" · ")
      const [cells, ...first] = bar!.split(" ")
      return {
        cells,
        fields: Object.fromEntries([first.join(" "), ...rest].map((f) => f.split(" ") as [string, string]))
      }
    })
    for (const frame of parsed) {
      assert.match(frame.cells!, /^\[[#.]{10}\]$/)
      assert.deepStrictEqual(Object.keys(frame.fields), progressKeys)
    }
    const done = parsed.map((frame) => Number(frame.fields.done!.split("/")[0]))
    assert.deepStrictEqual(done, [...done].sort((a, b) => a - b))
    assert.deepInclude(parsed.at(-1), { cells: "[##########]" })
    assert.deepInclude(parsed.at(-1)!.fields, { done: "12/12", ok: "12", running: "0" })
    assert.notInclude(output, "progress done=")
    assert.strictEqual(readResults(s.out).length, 12)
  })
})
