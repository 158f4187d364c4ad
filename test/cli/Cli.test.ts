/**
 * The `effect-llm` command line end to end: each test runs the CLI as a child process against the
 * loopback simulator (temp config, SQLite ledger in a temp dir) and checks stdout, stderr and the
 * exit code. Tests run concurrently: each child costs a Node + tsx start-up.
 */
import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import { execFileSync, spawnSync } from "node:child_process"
import {
  closeSync,
  constants,
  existsSync,
  lstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  statSync,
  symlinkSync,
  writeFileSync
} from "node:fs"
import { createServer, type Server } from "node:http"
import type { AddressInfo } from "node:net"
import { join } from "node:path"
import { GenerationResponse } from "../../src/domain/GenerationResponse.js"
import { TokenUsage } from "../../src/domain/TokenUsage.js"
import { layerSqlite, Ledger } from "../../src/services/Ledger.js"
import * as Simulator from "../../src/simulator/Simulator.js"
import { bin, root, runCli, simulatorConfig, tempDir, writeConfig } from "../support/cli-harness.js"

let sim: Simulator.Simulator
let echo: Server
let echoUrl: string

/**
 * A Gemini impostor that echoes everything it received (URL and headers: the key, secret header
 * values) back: in a 400 or 500 error body, or as the answer (`answer` in the prompt; streamed with
 * the echo cut into 7-character events, so a secret is split across events).
 */
const startEcho = () =>
  new Promise<void>((resolve) => {
    echo = createServer((request, response) => {
      let body = ""
      request.on("data", (chunk: Buffer) => (body += chunk.toString("utf8")))
      request.on("end", () => {
        const received = JSON.stringify({ url: request.url, headers: request.headers })
        if (body.includes("terminal codes")) {
          // a hostile server's message: clear the screen, retitle the window, ring, rub out
          response.writeHead(400, { "content-type": "application/json" })
          return response.end(JSON.stringify({
            error: {
              code: 400,
              message: "bad \x1b[2J\x1b]0;pwned\x07 \rOVER\b\b\x9b1m end",
              status: "INVALID_ARGUMENT"
            }
          }))
        }
        const status = /status=(\d+)/.exec(body)?.[1]
        if (status !== undefined || !body.includes("answer")) {
          response.writeHead(Number(status ?? 400), { "content-type": "application/json" })
          return response.end(JSON.stringify({
            error: { code: Number(status ?? 400), message: `echo: ${received}`, status: "INVALID_ARGUMENT" }
          }))
        }
        const usage = { promptTokenCount: 5, candidatesTokenCount: 50, totalTokenCount: 55 }
        const chunk = (text: string, finish?: string) => ({
          candidates: [{ content: { parts: [{ text }], role: "model" }, ...(finish ? { finishReason: finish } : {}) }],
          ...(finish ? { usageMetadata: usage } : {})
        })
        if (request.url?.includes(":streamGenerateContent") === true) {
          response.writeHead(200, { "content-type": "text/event-stream" })
          const pieces = received.match(/[\s\S]{1,7}/g) ?? []
          pieces.forEach((piece, i) =>
            response.write(
              `data: ${JSON.stringify(chunk(piece, i === pieces.length - 1 ? "STOP" : undefined))}\r\n\r\n`
            )
          )
          return response.end()
        }
        response.writeHead(200, { "content-type": "application/json" })
        response.end(JSON.stringify(chunk(received, "STOP")))
      })
    })
    echo.listen(0, "127.0.0.1", () => {
      echoUrl = `http://127.0.0.1:${(echo.address() as AddressInfo).port}`
      resolve()
    })
  })

/** A temp config over the simulator's with one provider entry set (and models added); its path. */
const configWith = (provider: string, entry: unknown, models: Record<string, unknown> = {}) => {
  const dir = tempDir()
  const base = simulatorConfig(sim, dir)
  return writeConfig(dir, {
    ...base,
    providers: { ...base.providers, [provider]: entry },
    models: { ...base.models, ...models }
  })
}

beforeAll(async () => {
  sim = await Simulator.start()
  await startEcho()
})
afterAll(async () => {
  await sim.close()
  await new Promise((resolve) => echo.close(resolve))
})

/** A temp dir holding a config for the simulator; returns the dir and `--config <path>`. */
const setup = (overrides: Parameters<typeof simulatorConfig>[2] = {}) => {
  const dir = tempDir()
  const config = writeConfig(dir, simulatorConfig(sim, dir, overrides))
  return { dir, args: ["--config", config] }
}

/** The events of the SQLite ledger in `dir` (as `setup` configures it). */
const ledgerEvents = (dir: string) =>
  Effect.runPromise(
    Effect.flatMap(Ledger, (ledger) => ledger.events()).pipe(
      Effect.provide(layerSqlite({ path: join(dir, "ledger.db") }))
    )
  )

/** The exit status as a shell reports it: the code, or 128 + the number of the signal that ended the process. */
const shellStatus = (run: { readonly code: number | null; readonly signal: NodeJS.Signals | null }) =>
  run.code ?? 128 + (run.signal === "SIGINT" ? 2 : run.signal === "SIGTERM" ? 15 : 64)

/** stderr holds exactly one line, the error line. */
const oneErrorLine = (stderr: string, pattern: RegExp) => {
  const lines = stderr.trim().split("\n")
  assert.strictEqual(lines.length, 1, `expected one line on stderr, got:\n${stderr}`)
  assert.match(lines[0]!, pattern)
}

describe.concurrent("effect-llm CLI", { timeout: 120_000 }, () => {
  it("generate prints the answer's text", async () => {
    const { args } = setup()
    const run = await runCli(["generate", ...args, "hello there"])
    assert.strictEqual(run.code, 0, run.stderr)
    assert.match(run.stdout, /^Echo: hello there\. .+\n$/)
    assert.strictEqual(run.stderr, "")
  })

  it("generate --json prints the GenerationResponse, which decodes back with its Schema", async () => {
    const { args } = setup()
    const run = await runCli([
      "generate",
      ...args,
      "--json",
      "--model",
      "qwen-plus",
      "--max-tokens",
      "20",
      "--system",
      "be brief",
      "json please"
    ])
    assert.strictEqual(run.code, 0, run.stderr)
    const response = Schema.decodeUnknownSync(GenerationResponse)(JSON.parse(run.stdout))
    assert.strictEqual(response.alias, "qwen-plus")
    assert.strictEqual(response.provider, "dashscope")
    assert.strictEqual(response.endpoint, "dashscope-a")
    assert.strictEqual(response.usage.outputTokens, 20)
    assert.strictEqual(response.finishReason, "length")
    assert.isAbove(response.cost, 0)
    assert.include(response.content, "Echo: json please")
  })

  it("generate - reads the prompt from stdin, with the command's options before or after the -", async () => {
    const { args } = setup()
    const run = await runCli(["generate", ...args, "-"], { stdin: "a prompt from stdin\n" })
    assert.strictEqual(run.code, 0, run.stderr)
    assert.match(run.stdout, /^Echo: a prompt from stdin\. /)
    const [after, json, streamed] = await Promise.all([
      runCli(["generate", "-", ...args], { stdin: "options after the dash\n" }),
      runCli(["generate", "-", "--json", ...args, "--model", "qwen-plus"], { stdin: "as json\n" }),
      runCli(["stream", "-", ...args], { stdin: "streamed from stdin\n" })
    ])
    assert.strictEqual(after.code, 0, after.stderr)
    assert.match(after.stdout, /^Echo: options after the dash\. /)
    assert.strictEqual(json.code, 0, json.stderr)
    assert.strictEqual(JSON.parse(json.stdout).alias, "qwen-plus")
    assert.strictEqual(streamed.code, 0, streamed.stderr)
    assert.match(streamed.stdout, /^Echo: streamed from stdin/)
  })

  it("stream prints the tokens, then a one-line summary on stderr", async () => {
    const { args } = setup()
    const run = await runCli(["stream", ...args, "[[sim events=6 chars=10]] stream me"])
    assert.strictEqual(run.code, 0, run.stderr)
    assert.match(run.stdout, /^Echo: stream me/)
    assert.strictEqual(run.stdout.length, 61) // 6 deltas × 10 characters and the final newline
    oneErrorLine(
      run.stderr,
      /^gemini-flash \(google gemini-2\.5-flash\) via google-a · ttft \d+ ms · total \d+ ms · tokens \d+ in \/ 15 out · cost \$0\.\d{6}$/
    )
  })

  it("a stream that fails after text ends the answer's line: the error is a line of its own", async () => {
    const { args } = setup()
    const run = await runCli(["stream", ...args, "[[sim inStream=2 status=500 chars=5]] cut me"])
    assert.strictEqual(run.code, 1, run.stderr)
    assert.isTrue(run.stdout.length > 0 && run.stdout.endsWith("\n"), JSON.stringify(run.stdout))
    oneErrorLine(run.stderr, /^error: RetryableError: /)
  })

  it("ledger prints the summary as a table with today's spend bar, or as JSON", async () => {
    const { dir, args } = setup()
    // (the calls are today's on the real clock: a run that crosses UTC midnight cannot say today's spend)
    const utcDay = () => new Date().toISOString().slice(0, 10)
    const dayWritten = utcDay()
    // Two settled calls, written straight into the SQLite ledger the config names.
    await Effect.runPromise(
      Effect.gen(function*() {
        const ledger = yield* Ledger
        for (
          const [provider, model, alias] of [["google", "gemini-2.5-flash", "gemini-flash"], [
            "dashscope",
            "qwen-plus",
            "qwen-plus"
          ]]
        ) {
          const hold = yield* ledger.hold({
            traceId: model!,
            provider: provider!,
            model: model!,
            alias: alias!,
            estimate: 0.01,
            limits: [{ scope: "global", window: "daily", limit: 1 }]
          })
          yield* ledger.commit(hold, {
            cost: 0.125,
            usage: new TokenUsage({ inputTokens: 10, outputTokens: 48, totalTokens: 58 })
          })
        }
      }).pipe(Effect.provide(layerSqlite({ path: join(dir, "ledger.db") })))
    )
    const [table, json] = await Promise.all([
      runCli(["ledger", ...args, "--by", "model"]),
      runCli(["ledger", ...args, "--json"])
    ])
    if (utcDay() !== dayWritten) return
    assert.strictEqual(table.code, 0, table.stderr)
    assert.strictEqual(
      table.stdout,
      [
        "model             calls  input  output  cost    ok  error  cancelled  expired",
        "gemini-2.5-flash      1     10      48  $0.125   1      0          0        0",
        "qwen-plus             1     10      48  $0.125   1      0          0        0",
        "",
        "today  [#####...............] $0.25 / $1.00 (25%)",
        ""
      ].join("\n")
    )

    assert.strictEqual(json.code, 0, json.stderr)
    const parsed = JSON.parse(json.stdout)
    assert.strictEqual(parsed.groupBy, "day")
    assert.strictEqual(parsed.rows.length, 1)
    assert.include(parsed.rows[0], { calls: 2, ok: 2, inputTokens: 20, outputTokens: 96, cost: 0.25 })
    assert.deepStrictEqual(parsed.today, { spent: 0.25, limit: 1 })
  })

  it("ledger, budget and limits over a memory ledger say on stderr that it starts empty in every run", async () => {
    const dir = tempDir()
    const config = writeConfig(dir, { ...simulatorConfig(sim, dir), ledger: { backend: "memory" } })
    const runs = await Promise.all([
      runCli(["ledger", "--config", config]),
      runCli(["budget", "--config", config]),
      runCli(["ledger", "report", "--config", config]),
      runCli(["ledger", "limits", "--config", config, "--json"])
    ])
    for (const run of runs) {
      assert.strictEqual(run.code, 0, run.stderr)
      assert.match(run.stderr, /^note: ledger\.backend is memory: this run's ledger is its own and starts empty/)
      assert.notInclude(run.stdout, "note:")
    }
    // a durable ledger says nothing of the kind
    const { args } = setup()
    assert.strictEqual((await runCli(["ledger", ...args])).stderr, "")
  })

  it("doctor passes on a healthy setup and shows keys redacted", async () => {
    const { args } = setup()
    const run = await runCli(["doctor", ...args])
    assert.strictEqual(run.code, 0, run.stdout + run.stderr)
    assert.match(run.stdout, /gemini-flash\s+google gemini-2\.5-flash → google-a \(us\)/)
    assert.match(run.stdout, new RegExp(`google\\s+✓ present \\(${sim.keys.google.length} characters\\)`))
    assert.notInclude(run.stdout, sim.keys.google)
    assert.notInclude(run.stdout, sim.keys.dashscope)
    assert.match(run.stdout, /google-a\s+✓ reachable\s+http:\/\/127\.0\.0\.1:\d+\/google-a\s+tcp \d+ ms · http 404/)
    assert.match(run.stdout, /breaker\s+opens after 5 consecutive failures, probes after 300 s/)
    assert.match(run.stdout, /backend\s+sqlite .*ledger\.db\s+✓ opens/)
    assert.include(run.stdout, "✓ all checks passed")
    assert.strictEqual(run.stderr, "")
  })

  it("doctor checks OpenAI-compatible entries: versioned base URLs probed, a keyless local model needs no key", async () => {
    const dir = tempDir()
    const config = simulatorConfig(sim, dir) as ReturnType<typeof simulatorConfig> & {
      providers: Record<string, unknown>
      models: Record<string, unknown>
    }
    config.providers.openai = {
      api_key: sim.keys.openai,
      endpoints: [{ name: "openai-a", base_url: `${sim.baseUrl("openai-a")}/v1` }]
    }
    config.providers.local = {
      protocol: "openai",
      endpoints: [{ name: "ollama", base_url: `${sim.baseUrl("ollama")}/v1/` }]
    }
    config.models["gpt-mini"] = { provider: "openai", model_id: "gpt-4.1-mini" }
    config.models["llama-local"] = { provider: "local", model_id: "llama3.2" }
    const run = await runCli(["doctor", "--config", writeConfig(dir, config)])
    assert.strictEqual(run.code, 0, run.stdout + run.stderr)
    assert.match(run.stdout, /llama-local\s+local llama3\.2 → ollama · no pricing/)
    assert.match(run.stdout, /openai\s+✓ present \(\d+ characters\)/)
    assert.match(run.stdout, /local\s+✓ none needed/)
    assert.match(run.stdout, /openai-a\s+✓ reachable\s+http:\/\/127\.0\.0\.1:\d+\/openai-a\/v1\s+tcp \d+ ms · http 404/)
    assert.match(run.stdout, /ollama\s+✓ reachable\s+http:\/\/127\.0\.0\.1:\d+\/ollama\/v1\/\s+tcp/)
    assert.notInclude(run.stdout, sim.keys.openai)
    assert.include(run.stdout, "✓ all checks passed")
  })

  it("doctor fails on an unreachable endpoint and a missing key, showing the present key redacted only", async () => {
    const dir = tempDir()
    const key = "AIzaSyTEST-0123456789abcdef6789"
    const config = simulatorConfig(sim, dir, { googleKey: key })
    config.providers.google.endpoints.push({ name: "dead", base_url: "http://127.0.0.1:1", region: "us" })
    config.providers.dashscope.api_key = "${DASHSCOPE_API_KEY}"
    const run = await runCli(["doctor", "--config", writeConfig(dir, config)])
    assert.strictEqual(run.code, 1)
    assert.match(run.stdout, new RegExp(`google\\s+✓ present \\(${key.length} characters\\)\\n`))
    assert.notInclude(run.stdout + run.stderr, key.slice(-4))
    assert.notInclude(run.stdout + run.stderr, key)
    assert.notInclude(run.stdout + run.stderr, key.slice(0, 5))
    assert.match(run.stdout, /dashscope\s+✗ missing: .*DASHSCOPE_API_KEY is not set/)
    assert.match(run.stdout, /dead\s+✗ unreachable\s+http:\/\/127\.0\.0\.1:1\s+tcp 127\.0\.0\.1:1: ECONNREFUSED/)
    oneErrorLine(run.stderr, /^error: DoctorFailed: 2 problem\(s\): dashscope key, endpoint dead$/)
  })

  it("init writes the commented template, refuses to overwrite it (exit 2), and overwrites with --force", async () => {
    const cwd = tempDir()
    const first = await runCli(["init"], { cwd })
    assert.strictEqual(first.code, 0, first.stderr)
    // the next step names the key of every protocol the template configures
    for (
      const key of ["GEMINI_API_KEY", "DASHSCOPE_API_KEY", "OPENAI_API_KEY", "DEEPSEEK_API_KEY", "ANTHROPIC_API_KEY"]
    ) {
      assert.include(first.stderr, key)
    }
    // a note on stderr: stdout carries only an answer, a table or JSON
    assert.strictEqual(first.stdout, "")
    const written = join(cwd, "config.yaml")
    assert.strictEqual(readFileSync(written, "utf8"), readFileSync(join(root, "config.yaml"), "utf8"))
    const [again, forced] = await Promise.all([
      runCli(["init"], { cwd }),
      runCli(["init", "--force", "--config", join(cwd, "nested/dir/config.yaml")], { cwd })
    ])
    assert.strictEqual(again.code, 2)
    oneErrorLine(again.stderr, /^error: FileExists: .*config\.yaml already exists; pass --force to overwrite it$/)
    assert.strictEqual(forced.code, 0, forced.stderr)
    assert.isTrue(existsSync(join(cwd, "nested/dir/config.yaml")))
    if (existsSync("/proc/self")) {
      // no directory can be made there (Node 20's recursive mkdir never returned: the command hung)
      const proc = await runCli(["init", "--config", "/proc/effect-llm-nope/dir/config.yaml"], { cwd })
      assert.strictEqual(proc.code, 2, proc.stderr)
      oneErrorLine(
        proc.stderr,
        /^error: FileNotWritable: \/proc\/effect-llm-nope\/dir\/config\.yaml: cannot be written/
      )
    }
  })

  it("init writes where the other commands read: $EFFECT_LLM_CONFIG when --config is not given", async () => {
    const cwd = tempDir()
    const run = await runCli(["init"], { cwd, env: { EFFECT_LLM_CONFIG: join(cwd, "team/llm.yaml") } })
    assert.strictEqual(run.code, 0, run.stderr)
    assert.isTrue(existsSync(join(cwd, "team/llm.yaml")))
    assert.isFalse(existsSync(join(cwd, "config.yaml")))
  })

  it("init with a blank $EFFECT_LLM_CONFIG writes ./config.yaml, as the loader reads it (a blank variable is unset)", async () => {
    const cwd = tempDir()
    const run = await runCli(["init"], { cwd, env: { EFFECT_LLM_CONFIG: "   " } })
    assert.strictEqual(run.code, 0, run.stderr)
    assert.isTrue(existsSync(join(cwd, "config.yaml")))
    assert.isFalse(existsSync(join(cwd, "   ")))
  })

  it("init --force over a symlinked config.yaml replaces the file the link points to, with its mode; the link stays", async () => {
    const cwd = tempDir()
    mkdirSync(join(cwd, "dotfiles"))
    writeFileSync(join(cwd, "dotfiles/config.yaml"), "old: 1\n", { mode: 0o600 })
    symlinkSync("dotfiles/config.yaml", join(cwd, "config.yaml"))
    const forced = await runCli(["init", "--force"], { cwd })
    assert.strictEqual(forced.code, 0, forced.stderr)
    assert.isTrue(lstatSync(join(cwd, "config.yaml")).isSymbolicLink())
    assert.strictEqual(
      readFileSync(join(cwd, "dotfiles/config.yaml"), "utf8"),
      readFileSync(join(root, "config.yaml"), "utf8")
    )
    assert.strictEqual(statSync(join(cwd, "dotfiles/config.yaml")).mode & 0o777, 0o600)
    assert.deepStrictEqual(readdirSync(join(cwd, "dotfiles")), ["config.yaml"])
  })

  it("init whose write fails midway (a full disk; here a file-size limit) leaves no cut file: the old one stays whole, none is made", async () => {
    const cwd = tempDir()
    writeFileSync(join(cwd, "config.yaml"), "old: config\n")
    // `ulimit -f 1`: writes past 512 bytes fail with EFBIG (SIGXFSZ ignored), as a disk that fills
    const limited = (args: string) =>
      spawnSync("sh", ["-c", `trap '' XFSZ; ulimit -f 1; exec "${process.execPath}" "${bin}" init ${args}`], {
        cwd,
        encoding: "utf8",
        env: { ...process.env, NO_COLOR: "1", XDG_CONFIG_HOME: cwd }
      })
    const forced = limited("--force")
    assert.strictEqual(forced.status, 2, forced.stderr)
    oneErrorLine(forced.stderr, /^error: FileNotWritable: .*config\.yaml: cannot be written \(EFBIG\)$/)
    assert.strictEqual(readFileSync(join(cwd, "config.yaml"), "utf8"), "old: config\n")
    const fresh = limited(`--config ${join(cwd, "new.yaml")}`)
    assert.strictEqual(fresh.status, 2, fresh.stderr)
    assert.deepStrictEqual(readdirSync(cwd).sort(), ["config.yaml"])
  })

  it("init refuses a directory with or without --force, and a path under a file, as usage errors naming the path (exit 2); nothing is written", async () => {
    const cwd = tempDir()
    mkdirSync(join(cwd, "conf"))
    writeFileSync(join(cwd, "plain"), "keep\n")
    const [bare, forced, under] = await Promise.all([
      runCli(["init", "--config", "conf"], { cwd }),
      runCli(["init", "--force", "--config", "conf"], { cwd }),
      runCli(["init", "--force", "--config", "plain/config.yaml"], { cwd })
    ])
    for (const run of [bare, forced]) {
      assert.strictEqual(run.code, 2, run.stderr)
      oneErrorLine(
        run.stderr,
        /^error: NotAFile: \S*conf: not a file \(Directory\); name the file to write, e\.g\. \S*conf\/config\.yaml$/
      )
    }
    assert.strictEqual(under.code, 2, under.stderr)
    oneErrorLine(under.stderr, /^error: FileNotWritable: \S*plain\/config\.yaml: cannot be written/)
    assert.deepStrictEqual(readdirSync(join(cwd, "conf")), [])
    assert.strictEqual(readFileSync(join(cwd, "plain"), "utf8"), "keep\n")
  })

  it("a summary option of `ledger` where its subcommand does not take it is a usage error saying so, wherever it was typed", async () => {
    const { args } = setup()
    const [after, before] = await Promise.all([
      runCli(["ledger", "report", ...args, "--json"]),
      runCli(["ledger", "--since", "2026-01-01", "report", ...args])
    ])
    assert.strictEqual(after.code, 2, after.stderr)
    oneErrorLine(
      after.stderr,
      /^error: MisplacedOption: `ledger report` does not take --json \(for JSON: --format json; see `effect-llm ledger report --help`\)$/
    )
    assert.strictEqual(before.code, 2, before.stderr)
    oneErrorLine(before.stderr, /^error: MisplacedOption: --since before `report` is `ledger`'s own \(its summary\)/)
  })

  it("--wizard without a terminal on stdin is a usage error (exit 2), where @effect/cli's wizard would wait for answers forever", async () => {
    for (const args of [["--wizard"], ["generate", "--wizard"], ["ledger", "--wizard"]]) {
      const run = await runCli(args, { timeoutMs: 20_000 })
      assert.strictEqual(run.code, 2, `${args.join(" ")}: ${run.stderr}`)
      oneErrorLine(run.stderr, /^error: NotATerminal: --wizard asks its questions on a terminal, and stdin is not one/)
    }
  })

  it("a bad config exits 2 and names the key path", async () => {
    const dir = tempDir()
    const config = { ...simulatorConfig(sim, dir), resilience: { max_retries: "three" } }
    const run = await runCli(["generate", "--config", writeConfig(dir, config), "hi"])
    assert.strictEqual(run.code, 2)
    oneErrorLine(
      run.stderr,
      /^error: ConfigError: \S*config\.yaml: resilience\.max_retries: expected a non-negative integer, got "three"$/
    )
    assert.strictEqual(run.stdout, "")
  })

  it("a missing key exits 2 and names the environment variable", async () => {
    const { args } = setup({ googleKey: "${GEMINI_API_KEY}" })
    const run = await runCli(["generate", ...args, "hi"])
    assert.strictEqual(run.code, 2)
    oneErrorLine(
      run.stderr,
      /^error: ConfigError: providers\.google\.api_key: environment variable GEMINI_API_KEY is not set \(or is empty\)$/
    )
  })

  it("a budget refusal exits 3 without any request", async () => {
    const { args } = setup({ budget: { daily_spend_limit: 0.0001 }, googleUrl: sim.baseUrl("budget") })
    const run = await runCli(["generate", ...args, "too expensive"])
    assert.strictEqual(run.code, 3)
    oneErrorLine(
      run.stderr,
      /^error: BudgetExceededError: daily budget exceeded for global: spent \$[\d.]+ of \$0\.0001 today, this call is estimated at \$0\.00\d+$/
    )
    assert.strictEqual(sim.requests("budget"), 0)
  })

  it("ledger --since/--until read a date-time without a zone as UTC, whatever the machine's TZ", async () => {
    const { dir, args } = setup()
    await Effect.runPromise(
      Effect.gen(function*() {
        const ledger = yield* Ledger
        const hold = yield* ledger.hold({
          traceId: "t",
          provider: "google",
          model: "gemini-2.5-flash",
          alias: "gemini-flash",
          estimate: 0.01,
          limits: []
        })
        yield* ledger.commit(hold, { cost: 0.125 })
      }).pipe(Effect.provide(layerSqlite({ path: join(dir, "ledger.db") })))
    )
    // an hour ago and an hour ahead, written without a zone: read as New York time they would both
    // be hours ahead of the call, and the call would not be counted
    const zoneless = (offsetMs: number) => new Date(Date.now() + offsetMs).toISOString().slice(0, 16)
    const env = { TZ: "America/New_York" }
    const [counted, bad, reversed] = await Promise.all([
      runCli(["ledger", ...args, "--json", "--since", zoneless(-3_600_000), "--until", zoneless(3_600_000)], { env }),
      runCli(["ledger", ...args, "--json", "--since", "yesterday"], { env }),
      runCli(["ledger", ...args, "--since", "2026-03-02", "--until", "2026-03-01"], { env })
    ])
    assert.strictEqual(counted.code, 0, counted.stderr)
    assert.strictEqual(JSON.parse(counted.stdout).rows[0]?.calls, 1)
    assert.strictEqual(bad.code, 2, bad.stderr)
    oneErrorLine(bad.stderr, /^error: InvalidValue: --since: expected an ISO 8601 date or date-time .*got 'yesterday'$/)
    // a range that ends before it starts is a usage error, not an empty answer
    assert.strictEqual(reversed.code, 2, reversed.stderr)
    assert.strictEqual(reversed.stdout, "")
    oneErrorLine(
      reversed.stderr,
      /^error: InvalidRange: --since \(2026-03-02T00:00:00\.000Z\) must be before --until \(2026-03-01T00:00:00\.000Z\)$/
    )
  })

  it("bad arguments and invalid requests exit 2 with one error line", async () => {
    const { args } = setup()
    const [notInteger, noPrompt, unknownModel] = await Promise.all([
      runCli(["generate", ...args, "--max-tokens", "many", "hi"]),
      runCli(["stream", ...args]),
      runCli(["generate", ...args, "--model", "nope", "hi"])
    ])
    for (const run of [notInteger, noPrompt, unknownModel]) assert.strictEqual(run.code, 2, run.stderr)
    oneErrorLine(notInteger.stderr, /^error: InvalidValue: 'many' is not an integer$/)
    oneErrorLine(noPrompt.stderr, /^error: MissingValue: Missing argument <prompt>$/)
    oneErrorLine(
      unknownModel.stderr,
      /^error: FatalError: unknown model alias "nope" \(known: gemini-flash, qwen-plus\)$/
    )
  })

  it("a value outside an option's choices names the option and the value given", async () => {
    const { args } = setup()
    const [by, format, inline, second] = await Promise.all([
      runCli(["ledger", ...args, "--by", "week"]),
      runCli(["budget", ...args, "--format", "xml"]),
      runCli(["budget", ...args, "--format=yaml"]),
      // a valid choice of another option before it is not the one named
      runCli(["ledger", "--by", "model", "report", ...args, "--format", "xml"])
    ])
    for (const run of [by, format, inline, second]) assert.strictEqual(run.code, 2, run.stderr)
    oneErrorLine(second.stderr, /^error: InvalidValue: --format: expected one of table, csv, json; got 'xml'$/)
    oneErrorLine(by.stderr, /^error: InvalidValue: --by: expected one of day, model, provider; got 'week'$/)
    oneErrorLine(format.stderr, /^error: InvalidValue: --format: expected one of table, csv, json; got 'xml'$/)
    oneErrorLine(inline.stderr, /^error: InvalidValue: --format: expected one of table, csv, json; got 'yaml'$/)
  })

  it("an unknown option of generate or stream is a usage error naming it, never the prompt; after `--` it is the prompt", async () => {
    const { args, dir } = setup()
    const [typo, short, streamed, misspelt, missing, dashValue, forced] = await Promise.all([
      runCli(["generate", ...args, "--jsno", "hi"]),
      runCli(["generate", ...args, "hi", "-x"]),
      runCli(["stream", ...args, "--help-me"]),
      runCli(["generate", ...args, "--mdoel", "qwen-plus", "hi"]),
      runCli(["generate", ...args, "hi", "--model"]),
      runCli(["generate", ...args, "--system", "-be terse", "hi"]),
      runCli(["generate", ...args, "--", "--jsno"])
    ])
    for (const run of [typo, short, streamed, misspelt, missing]) {
      assert.strictEqual(run.code, 2, run.stderr)
      assert.strictEqual(run.stdout, "")
    }
    oneErrorLine(
      typo.stderr,
      /^error: UnknownOption: generate: unknown option '--jsno' \(a prompt that starts with '-' goes after '--'/
    )
    oneErrorLine(short.stderr, /^error: UnknownOption: generate: unknown option '-x' /)
    oneErrorLine(streamed.stderr, /^error: UnknownOption: stream: unknown option '--help-me' /)
    oneErrorLine(misspelt.stderr, /^error: UnknownOption: generate: unknown option '--mdoel' /)
    oneErrorLine(missing.stderr, /^error: MissingValue: generate: --model needs a value$/)
    // Only the two calls whose options were all known reached the model.
    assert.strictEqual(dashValue.code, 0, dashValue.stderr)
    assert.strictEqual(forced.code, 0, forced.stderr)
    assert.match(forced.stdout, /^Echo: --jsno\. /)
    const calls = (await ledgerEvents(dir)).filter((event) => event.type === "hold")
    assert.strictEqual(calls.length, 2)
  })

  it("--version prints the package's version on one line, nothing after it", async () => {
    const run = await runCli(["--version"])
    assert.strictEqual(run.code, 0, run.stderr)
    assert.strictEqual(run.stdout, `${JSON.parse(readFileSync(join(root, "package.json"), "utf8")).version}\n`)
  })

  it("generate --version and stream --version print the version, as their --help lists it (not UnknownOption)", async () => {
    const version = `${JSON.parse(readFileSync(join(root, "package.json"), "utf8")).version}\n`
    for (const command of ["generate", "stream"]) {
      const run = await runCli([command, "--version"])
      assert.strictEqual(run.code, 0, run.stderr)
      assert.strictEqual(run.stdout, version)
    }
  })

  it("--help shows examples and the exit codes", async () => {
    const run = await runCli(["stream", "--help"])
    assert.strictEqual(run.code, 0, run.stderr)
    assert.include(run.stdout, `$ effect-llm stream "Write a haiku about retries"`)
    assert.include(run.stdout, "EXIT CODES")
    assert.match(run.stdout, /3 {4}budget exceeded/)
    assert.notInclude(run.stdout, "\x1b[") // plain text when not a terminal
  })

  it("Ctrl-C during stream stops it promptly, exits 130 and the ledger records the call cancelled", async () => {
    const { dir, args } = setup()
    // Read to its end the stream would take 300 s (3,000 events × 100 ms), past the test's timeout.
    const run = await runCli(["stream", ...args, "[[sim eventDelayMs=100 events=3000 chars=4]] slowly"], {
      interruptWhen: (stdout) => stdout.length >= 12
    })
    assert.strictEqual(run.code, 130, run.stderr)
    assert.isBelow(run.stdout.length, 3000 * 4)
    assert.match(run.stderr, /interrupted after \d+ deltas: the stream was cancelled/)
    const events = await Effect.runPromise(
      Effect.flatMap(Ledger, (ledger) => ledger.events()).pipe(
        Effect.provide(layerSqlite({ path: join(dir, "ledger.db") }))
      )
    )
    assert.deepStrictEqual(events.map((event) => [event.type, event.status]), [["hold", "ok"], ["cancel", "cancelled"]])
    assert.isAbove(events[1]!.usage?.outputTokens ?? 0, 0)
  })

  it("a reader that stops (`stream … | head -c 5`) ends the stream quietly: exit 0, nothing on stderr, the call cancelled", async () => {
    const { dir, args } = setup()
    // Read to its end the stream would take 200 s (4,000 events × 50 ms), past the test's timeout:
    // that the process exits at all shows it stopped.
    const run = await runCli(["stream", ...args, "[[sim eventDelayMs=50 events=4000 chars=4]] slowly"], {
      closeStdoutWhen: (stdout) => stdout.length >= 5
    })
    assert.strictEqual(run.code, 0, run.stderr)
    assert.strictEqual(run.stderr, "")
    const events = await ledgerEvents(dir)
    assert.deepStrictEqual(events.map((event) => [event.type, event.status]), [["hold", "ok"], ["cancel", "cancelled"]])
    assert.isUndefined(events[1]!.error)
  })

  it("--log-level is accepted anywhere: before or after the subcommand, among its options, after the prompt", async () => {
    const placements = [
      (args: ReadonlyArray<string>) => ["--log-level", "debug", "generate", ...args, "hi"],
      (args: ReadonlyArray<string>) => ["generate", "--log-level", "debug", ...args, "hi"],
      (args: ReadonlyArray<string>) => ["generate", ...args, "--log-level", "debug", "--max-tokens", "20", "hi"],
      (args: ReadonlyArray<string>) => ["generate", ...args, "hi", "--log-level=debug"]
    ]
    const runs = await Promise.all(placements.map((place, i) => {
      // Each run on its own simulated endpoint whose first request fails: the retry is logged at Debug.
      const endpoint = `log-level-${i}`
      sim.script(endpoint, { status: 503 })
      const { args } = setup({ googleUrl: sim.baseUrl(endpoint) })
      return runCli(place(args))
    }))
    for (const run of runs) {
      assert.strictEqual(run.code, 0, run.stderr)
      assert.match(run.stdout, /^Echo: hi\. /)
      // the simulator's Gemini 503 says "The model is overloaded", as Gemini does: reason overloaded
      assert.match(run.stderr, /^debug: retrying gemini-flash after RetryableError \(overloaded\) from google-a/m)
    }
    // The default level (Warning) hides the retry; a bad level is a usage error; after `--` it is the prompt.
    sim.script("log-level-default", { status: 503 })
    const [quiet, bad, forced] = await Promise.all([
      runCli(["generate", ...setup({ googleUrl: sim.baseUrl("log-level-default") }).args, "hi"]),
      runCli(["generate", ...setup().args, "hi", "--log-level", "loud"]),
      runCli(["generate", ...setup().args, "--", "--log-level"])
    ])
    assert.strictEqual(quiet.code, 0, quiet.stderr)
    assert.strictEqual(quiet.stderr, "")
    assert.strictEqual(bad.code, 2)
    oneErrorLine(
      bad.stderr,
      /^error: InvalidValue: --log-level: expected one of all, trace, debug, info, warning, error, fatal, none, got 'loud'$/
    )
    assert.strictEqual(forced.code, 0, forced.stderr)
    assert.match(forced.stdout, /^Echo: --log-level\. /)
  })

  describe("a signal at any moment exits with 128 + its number (SIGINT 130, SIGTERM 143, SIGHUP 129), settling a call in flight", () => {
    const cases = [
      // The executable's own handler is installed, the rest of the command line still loading.
      { moment: "while the CLI loads", when: { mark: (mark: string) => mark === "sigterm-listeners=1" } },
      // NodeRuntime's handler is installed: the program runs, loading the config and opening the ledger.
      { moment: "while the command starts", when: { mark: (mark: string) => mark === "sigterm-listeners=2" } },
      { moment: "during a stream", when: { stdout: (stdout: string) => stdout.length >= 8 } }
    ] as const
    // SIGHUP: the terminal closed (an ssh session dropped)
    const codes = { SIGINT: 130, SIGTERM: 143, SIGHUP: 129 } as const
    for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
      for (const { moment, when } of cases) {
        it(`${signal} ${moment}`, async () => {
          const { dir, args } = setup()
          // Read to its end the stream would take 50 s, past the test's timeout: exiting at all is stopping.
          const run = await runCli(["stream", ...args, "[[sim eventDelayMs=50 events=1000 chars=4]] slowly"], {
            marks: true,
            signalWhen: { signal, ...when }
          })
          const expected = codes[signal]
          assert.isDefined(run.msAfterSignal, `no signal sent; marks: ${run.marks.join(", ")}`)
          assert.strictEqual(run.code, expected, `${run.signal ?? ""} ${run.stderr}`)
          assert.strictEqual(shellStatus(run), expected)
          const events = existsSync(join(dir, "ledger.db")) ? await ledgerEvents(dir) : []
          if (moment === "during a stream") {
            assert.match(run.stderr, /^\ninterrupted after \d+ deltas: the stream was cancelled\n$/)
            assert.deepStrictEqual(events.map((event) => [event.type, event.status]), [["hold", "ok"], [
              "cancel",
              "cancelled"
            ]])
          } else {
            assert.strictEqual(run.stdout, "")
            // A hold, if the call got that far, is settled.
            assert.strictEqual(events.filter((event) => event.type === "hold").length, events.length / 2)
          }
        })
      }
    }
  })

  it("a signal after the command ended, its answer still queued for a reader that has not read it, exits with the signal's code", async () => {
    const { args } = setup()
    const fifo = join(tempDir(), "stdout.fifo")
    execFileSync("mkfifo", [fifo])
    // a reader that never reads (until the end): the answer, past the pipe's 64 KiB, stays queued
    const reader = openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK)
    try {
      const run = await runCli(["generate", ...args, "[[sim events=100 chars=2000]] a long answer"], {
        stdoutTo: fifo,
        marks: true,
        signalWhen: { signal: "SIGINT", mark: (mark) => mark.startsWith("sigterm-removed=") }
      })
      assert.isDefined(run.msAfterSignal, `no signal sent; marks: ${run.marks.join(", ")}`)
      assert.strictEqual(run.code, 130, run.stderr)
    } finally {
      closeSync(reader)
    }
  })

  it("stdout that cannot be written (a full disk: /dev/full) is exit 1 with one error line, for every command; the call stays billed", async () => {
    const { dir, args } = setup()
    const runs = await Promise.all([
      runCli(["generate", ...args, "hello"], { stdoutTo: "/dev/full" }),
      runCli(["generate", ...args, "--json", "hello"], { stdoutTo: "/dev/full" }),
      runCli(["stream", ...args, "hello"], { stdoutTo: "/dev/full" })
    ])
    const ledger = await runCli(["ledger", ...args, "--json"], { stdoutTo: "/dev/full" })
    for (const run of [...runs, ledger]) {
      assert.strictEqual(run.code, 1, run.stderr)
      oneErrorLine(run.stderr, /^error: OutputError: stdout: ENOSPC/)
    }
    // the answers were billed; the stream stopped at its first write that failed (cancelled, as a consumer stopping)
    const events = await ledgerEvents(dir)
    assert.deepStrictEqual(
      events.filter((event) => event.type !== "hold").map((event) => event.status).sort(),
      ["cancelled", "ok", "ok"]
    )
  })

  it("a server's error text reaches the terminal with its control codes escaped, never run (screen clear, title, bell)", async () => {
    const path = configWith("google", {
      api_key: "AIzaSy-terminal-codes-key",
      endpoints: [{ name: "echo", base_url: echoUrl, region: "us" }]
    })
    const run = await runCli(["generate", "--config", path, "terminal codes"])
    assert.strictEqual(run.code, 2, run.stderr)
    assert.notMatch(run.stderr.replace(/\n$/, ""), /\p{Cc}/u)
    oneErrorLine(run.stderr, /^error: FatalError: .*bad \\u001b\[2J\\u001b\]0;pwned\\u0007 OVER\\b\\b\\u009b1m end/)
  })

  it("a log record quoting a server (a cut tool call's name and id) shows its control codes escaped", async () => {
    const chunk = (delta: unknown, finish: string | null) =>
      `data: ${
        JSON.stringify({
          id: "c",
          object: "chat.completion.chunk",
          choices: [{ index: 0, delta, finish_reason: finish }]
        })
      }\n\n`
    const hostile = createServer((_request, response) => {
      response.writeHead(200, { "content-type": "text/event-stream" })
      response.end(
        chunk({ content: "Hi" }, null) +
          chunk({
            tool_calls: [{
              index: 0,
              id: "call_\x1b[2J",
              function: { name: "get\x1b]0;pwned\x07", arguments: "{\"a\":" }
            }]
          }, null) +
          chunk({}, "length") + "data: [DONE]\n\n"
      )
    })
    await new Promise<void>((resolve) => hostile.listen(0, "127.0.0.1", resolve))
    try {
      const path = configWith("openai", {
        api_key: "sk-terminal-codes-0123456789",
        endpoints: [{ name: "o", base_url: `http://127.0.0.1:${(hostile.address() as AddressInfo).port}/v1` }]
      }, { gpt: { provider: "openai", model_id: "gpt-4o-mini" } })
      const run = await runCli(["stream", "--config", path, "--model", "gpt", "hi"])
      assert.strictEqual(run.code, 0, run.stderr)
      assert.notMatch(run.stderr.replace(/\n/g, ""), /\p{Cc}/u)
      assert.include(run.stderr, "the output limit cut tool call \"get\\u001b]0;pwned\\u0007\" (call_\\u001b[2J)")
    } finally {
      hostile.close()
    }
  })

  it("prints no secret: an echo server returning the key and header values, URL passwords in config", async () => {
    const key = "AIzaSyECHO-0123456789-secret-key"
    const header = "proxy-token-HEADER-SECRET-42"
    const basePassword = "base-url-PASSWORD-77"
    const ledgerPassword = "ledger-url-PASSWORD-99"
    const secrets = [key, header, basePassword, ledgerPassword]
    const dir = tempDir()
    const base = simulatorConfig(sim, dir)
    const config = {
      ...base,
      providers: {
        ...base.providers,
        google: {
          api_key: key,
          headers: { "x-proxy-token": header },
          endpoints: [{ name: "echo", base_url: echoUrl, region: "us" }]
        }
      }
    }
    const path = writeConfig(dir, config)
    // doctor and ledger also see a base_url and a PostgreSQL ledger.url with passwords (nothing listens on port 1).
    const withPasswords = writeConfig(dir, {
      ...config,
      providers: {
        ...config.providers,
        google: {
          ...config.providers.google,
          endpoints: [...config.providers.google.endpoints, {
            name: "with-password",
            base_url: `http://user:${basePassword}@127.0.0.1:1/g`,
            region: "us"
          }]
        }
      },
      ledger: { backend: "postgres", url: `postgres://postgres:${ledgerPassword}@127.0.0.1:1/test` }
    }, "passwords.yaml")
    const runs = await Promise.all([
      runCli(["generate", "--config", path, "please fail"]),
      runCli(["generate", "--config", path, "--log-level", "all", "please fail status=500"]),
      runCli(["generate", "--config", path, "answer"]),
      runCli(["generate", "--config", path, "--json", "answer"]),
      runCli(["stream", "--config", path, "answer"]),
      runCli(["doctor", "--config", withPasswords]),
      runCli(["ledger", "--config", withPasswords])
    ])
    const [rejected, retried, answered, json, streamed, doctor, ledger] = runs
    for (const run of runs) {
      for (const secret of secrets) assert.notInclude(run.stdout + run.stderr, secret)
    }
    // Each path printed the echo (or its failure), so a secret had the chance to appear.
    assert.strictEqual(rejected.code, 2, rejected.stderr)
    oneErrorLine(rejected.stderr, /^error: FatalError: .*echo: .*<redacted>/)
    assert.strictEqual(retried.code, 1, retried.stderr)
    assert.match(retried.stderr, /^error: RetryableError: .*<redacted>/m)
    assert.match(retried.stderr, /^debug: /m)
    for (const run of [answered, json, streamed]) {
      assert.strictEqual(run.code, 0, run.stderr)
      assert.include(run.stdout, `"x-goog-api-key":"<redacted>"`.replace(/"/g, run === json ? `\\"` : `"`))
      assert.include(run.stdout, "x-proxy-token")
    }
    assert.strictEqual(doctor.code, 1, doctor.stdout)
    assert.match(doctor.stdout, /with-password .*http:\/\/user:<redacted>@127\.0\.0\.1:1\/g/)
    assert.match(doctor.stdout, /backend\s+postgres .*✗ LedgerError/)
    assert.strictEqual(ledger.code, 1, ledger.stderr)
    oneErrorLine(ledger.stderr, /^error: LedgerError: /)
    assert.notInclude(readFileSync(join(dir, "ledger.db")).toString("latin1"), key)
  })
})
