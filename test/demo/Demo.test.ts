import { assert, describe, it } from "@effect/vitest"
import { spawn } from "node:child_process"
import { tourSteps } from "../../src/demo/Tour.js"

/** Runs the offline tour as `npm run demo` would (without npm), capturing its output and exit code. */
const runTour = (): Promise<{ code: number | null; output: string; ms: number }> =>
  new Promise((resolve, reject) => {
    const started = Date.now()
    const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: "1" }
    delete env.GEMINI_API_KEY
    delete env.DASHSCOPE_API_KEY
    const child = spawn(process.execPath, ["--import", "tsx", "src/demo/main.ts"], {
      env,
      stdio: ["ignore", "pipe", "pipe"]
    })
    let output = ""
    child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString("utf8")))
    child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString("utf8")))
    child.on("error", reject)
    child.on("close", (code) => resolve({ code, output, ms: Date.now() - started }))
  })

describe("demo tour", () => {
  it("lists its steps by name, the live ones first-class", () => {
    assert.deepStrictEqual(tourSteps.map((step) => step.name), [
      "generate",
      "full-response",
      "dashscope",
      "retries",
      "rate-limit",
      "circuit-breaker",
      "fallback",
      "recovery",
      "stream",
      "stream-stop",
      "budget",
      "ledger"
    ])
    assert.deepStrictEqual(tourSteps.filter((step) => step.live).map((step) => step.name), [
      "generate",
      "full-response",
      "stream"
    ])
  })

  it("runs offline end to end and exits 0", { timeout: 120_000 }, async () => {
    const { code, output } = await runTour()
    const expect = (text: string | RegExp) =>
      typeof text === "string" ? assert.include(output, text) : assert.match(output, text)
    expect("effect-llm tour (offline: no network, no keys)")
    expect(/generate\(\{ prompt \}\) → "Echo: /)
    expect(/alias\s+gemini-flash/)
    expect(/endpoint\s+google-primary/)
    expect(/answered by qwen-plus \(dashscope qwen-plus\) on dashscope-intl/)
    expect("→ attempts: 3, answered by gemini-flash")
    expect(/waited 1\.\d\d s as the server asked; attempts: 2/)
    expect("→ breaker google-primary opened; traffic moved to google-secondary")
    expect("answered by fallback model qwen-plus (dashscope qwen-plus on dashscope-intl)")
    expect("its breaker is closed again")
    expect(/→ \d+ deltas, ttft \d+ ms, total \d+ ms, usage \d+ in \/ 160 out/)
    expect(/cancel\s+cancelled/)
    expect("→ ledger: cancel/cancelled entry")
    expect("BudgetExceededError caught with Effect.catchTag: budget refusal")
    expect(/this call's estimate\s+\$0\.025/)
    expect("→ no HTTP request was made")
    expect("Ledger.summary({ groupBy: \"model\" })")
    expect(/gemini-2\.5-flash\s+\d+\s+\d+\s+0\s+1/)
    expect(`✓ tour finished: ${tourSteps.length} steps`)
    assert.notInclude(output, "✗")
    assert.notInclude(output, "sim-google-key")
    assert.notInclude(output, "sim-dashscope-key")
    assert.strictEqual(code, 0, output)
  })
})
