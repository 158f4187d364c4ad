/**
 * The README's TypeScript blocks are checked files (issue 11 #12). Every ```ts block is written as a
 * module under `.test-build/readme/blocks`, and all of them are typechecked in one `tsc` run against
 * the package sources (`effect-llm`, `effect-llm/testing`, … mapped to `src/` by tsconfig `paths`, as
 * package.json exports them). Blocks marked `<!-- readme: run -->` also run here: a program runs
 * against the embedded simulator (`LiveLayer` reads a config pointing at it; top-level `await` ends
 * with its work), a block that is a test itself (it imports vitest) runs as tests of this file. Only
 * `<!-- readme: skip <reason> -->` right above a block leaves it out.
 */
import { afterAll, assert, beforeAll, describe, it, vi } from "@effect/vitest"
import { spawn } from "node:child_process"
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { createRequire } from "node:module"
import { join, relative, resolve } from "node:path"
import { pathToFileURL } from "node:url"
import { disposeLiveLayer } from "../../src/layers/Live.js"
import * as Simulator from "../../src/simulator/Simulator.js"
import { packageEntries } from "./entries.js"

const root = resolve(import.meta.dirname, "../..")
const readmePath = join(root, "README.md")
const work = join(root, ".test-build/readme")
const blocksDir = join(work, "blocks")

/** One ```ts block of the README. */
interface Block {
  /** README line of the block's first code line (1-based). */
  readonly line: number
  readonly code: string
  readonly mode: "check" | "run" | "skip"
  /** The module written for it. */
  readonly file: string
}

/** The blocks, and the problems with markers (a skip without a reason, a marker above no ts block). */
const extract = (text: string): { readonly blocks: ReadonlyArray<Block>; readonly problems: ReadonlyArray<string> } => {
  const lines = text.split("\n")
  const blocks: Array<Block> = []
  const problems: Array<string> = []
  let marker: { readonly line: number; readonly mode: "run" | "skip" } | undefined
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!
    const directive = /^\s*<!--\s*readme:(.*?)-->\s*$/.exec(line)
    if (directive !== null) {
      const [, word, reason] = /^\s*(\S*)\s*(.*?)\s*$/.exec(directive[1]!)!
      if (word === "run") marker = { line: i + 1, mode: "run" }
      else if (word === "skip" && reason !== "") marker = { line: i + 1, mode: "skip" }
      else problems.push(`README.md:${i + 1}: expected <!-- readme: run --> or <!-- readme: skip <reason> -->`)
      continue
    }
    const fence = /^(\s*)(`{3,}|~{3,})\s*([\w-]*)/.exec(line)
    if (fence === null) {
      if (marker !== undefined && line.trim() !== "") {
        problems.push(`README.md:${marker.line}: the marker is not right above a \`\`\`ts block`)
        marker = undefined
      }
      continue
    }
    // A fenced block: find its end (the same fence, at least as long), whatever its language.
    const [, , ticks, language] = fence
    let end = i + 1
    while (end < lines.length && !lines[end]!.trim().startsWith(ticks!)) end++
    if (language === "ts" || language === "typescript") {
      blocks.push({
        line: i + 2,
        code: lines.slice(i + 1, end).join("\n"),
        mode: marker?.mode ?? "check",
        file: join(blocksDir, `readme-L${i + 2}.ts`)
      })
    } else if (marker !== undefined) {
      problems.push(`README.md:${marker.line}: the marker is not right above a \`\`\`ts block`)
    }
    marker = undefined
    i = end
  }
  return { blocks, problems }
}

const { blocks, problems } = extract(readFileSync(readmePath, "utf8"))
const checked = blocks.filter((block) => block.mode !== "skip")

// Each block a module of its own (`export {}`: even one without imports), importing the package by name.
rmSync(blocksDir, { recursive: true, force: true })
mkdirSync(blocksDir, { recursive: true })
for (const block of checked) writeFileSync(block.file, `${block.code}\n\nexport {}\n`)
const tsconfig = join(work, "tsconfig.json")
writeFileSync(
  tsconfig,
  JSON.stringify(
    {
      extends: relative(work, join(root, "tsconfig.json")),
      compilerOptions: {
        noEmit: true,
        // Re-checks only what changed since the last run (the sources are most of the work).
        incremental: true,
        tsBuildInfoFile: "./tsbuildinfo",
        // An example may well declare a value it only shows.
        noUnusedLocals: false,
        noUnusedParameters: false,
        paths: Object.fromEntries(
          packageEntries(root).map(({ source, specifier }) => [specifier, [relative(work, source)]])
        )
      },
      include: ["blocks/*.ts"]
    },
    null,
    2
  )
)

/** One `tsc` run over every block, started now so that it overlaps the runs below. */
const typecheck = new Promise<string>((resolvePromise, reject) => {
  const tsc = createRequire(import.meta.url).resolve("typescript/bin/tsc")
  const child = spawn(process.execPath, [tsc, "-p", tsconfig, "--pretty", "false"], { cwd: root })
  let output = ""
  child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString("utf8")))
  child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString("utf8")))
  child.on("error", reject)
  child.on("close", () => resolvePromise(output))
})

/** tsc's diagnostics with a block's file and line turned into the README's line. */
const inReadme = (output: string): ReadonlyArray<string> =>
  output.split("\n").filter((line) => line.trim() !== "").map((line) => {
    const located = /^(.*?)\((\d+),(\d+)\): (.*)$/.exec(line)
    const block = located === null ? undefined : checked.find((b) => resolve(root, located[1]!) === b.file)
    return block === undefined || located === null
      ? line
      : `README.md:${block.line + Number(located[2]) - 1}:${located[3]}: ${located[4]}`
  })

let sim: Simulator.Simulator
const environment = ["EFFECT_LLM_CONFIG", "XDG_CONFIG_HOME", "GEMINI_API_KEY", "GOOGLE_API_KEY", "DASHSCOPE_API_KEY"]
const saved = Object.fromEntries(environment.map((name) => [name, process.env[name]]))

beforeAll(async () => {
  // `LiveLayer` (built on first use) reads this config: both providers on the simulator, a memory ledger.
  sim = await Simulator.start()
  const config = join(work, "config.yaml")
  writeFileSync(
    config,
    JSON.stringify({
      default_model: "gemini-flash",
      providers: {
        google: { api_key: sim.keys.google, endpoints: [{ name: "google-a", base_url: sim.baseUrl("google-a") }] },
        dashscope: {
          api_key: sim.keys.dashscope,
          endpoints: [{ name: "dashscope-a", base_url: sim.baseUrl("dashscope-a") }]
        }
      },
      models: {
        "gemini-flash": {
          provider: "google",
          model_id: "gemini-2.5-flash",
          pricing: { input_per_1m: 0.3, output_per_1m: 2.5 }
        },
        "qwen-plus": {
          provider: "dashscope",
          model_id: "qwen-plus",
          pricing: { input_per_1m: 0.4, output_per_1m: 1.2 }
        }
      },
      ledger: { backend: "memory" }
    })
  )
  for (const name of environment) delete process.env[name]
  process.env.EFFECT_LLM_CONFIG = config
  process.env.XDG_CONFIG_HOME = work // no effect-llm/config.yaml there: no user file
  // The examples print their answers; the test output stays readable.
  vi.spyOn(console, "log").mockImplementation(() => {})
  vi.spyOn(process.stdout, "write").mockImplementation(() => true)
})

afterAll(async () => {
  vi.restoreAllMocks()
  await disposeLiveLayer()
  await sim?.close()
  for (const name of environment) {
    if (saved[name] === undefined) delete process.env[name]
    else process.env[name] = saved[name]
  }
})

describe("README.md code blocks", () => {
  it("are marked correctly: a skip gives its reason, a marker stands right above a ```ts block", () => {
    assert.deepStrictEqual(problems, [])
    assert.isAbove(checked.length, 0)
  })

  it("typecheck, all in one tsc run against the sources", { timeout: 120_000 }, async () => {
    const diagnostics = inReadme(await typecheck)
    assert.strictEqual(diagnostics.length, 0, `\n${diagnostics.join("\n")}`)
  })

  for (const block of checked.filter((b) => b.mode === "run")) {
    const url = pathToFileURL(block.file).href
    if (/from\s+["'](@effect\/)?vitest["']/.test(block.code)) {
      // A test itself: importing it here registers its tests in this suite.
      describe(`README.md:${block.line} (its own tests)`, { timeout: 20_000 }, async () => {
        await import(url)
      })
    } else {
      it(`README.md:${block.line} runs against the simulator`, { timeout: 20_000 }, async () => {
        await import(url)
      })
    }
  }
})
