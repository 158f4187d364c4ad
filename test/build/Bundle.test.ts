/**
 * The package's entry points as `npm run build` ships them (`scripts/bundle-lib.ts`, bundled here from
 * the current sources): each exports what its source does, the entries share one instance of what they
 * both export, and a call runs through them.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { execFileSync } from "node:child_process"
import { readdirSync, readFileSync, rmSync } from "node:fs"
import { builtinModules } from "node:module"
import { join, posix, resolve } from "node:path"
import { pathToFileURL } from "node:url"
import { bundleCli } from "../../scripts/bundle-cli.js"
import { bundleLib } from "../../scripts/bundle-lib.js"
import { packageEntries } from "../readme/entries.js"

const root = resolve(import.meta.dirname, "../..")
const outdir = join(root, ".test-build/lib")
rmSync(outdir, { recursive: true, force: true })
await bundleLib(outdir)

type Root = typeof import("../../src/index.js")
type Testing = typeof import("../../src/testing.js")

const bundled = (name: string): Promise<Record<string, unknown>> =>
  import(pathToFileURL(join(outdir, `${name}.js`)).href)

describe("the bundled entry points", () => {
  it("export the names their sources export, for every entry in package.json", async () => {
    const entries = packageEntries(root)
    expect(entries.map((entry) => entry.specifier)).toEqual(["effect-llm", "effect-llm/testing", "effect-llm/ai"])
    for (const entry of entries) {
      const source = (await import(entry.source)) as Record<string, unknown>
      const name = entry.source.slice(join(root, "src/").length).replace(/\.ts$/, "")
      expect(Object.keys(await bundled(name)).sort(), entry.specifier).toEqual(Object.keys(source).sort())
    }
  })

  it("share one instance of what two entries export (an error class from testing is the root's)", async () => {
    const index = await bundled("index")
    const testing = await bundled("testing")
    for (const name of ["LLMError", "FatalError", "RetryableError", "RateLimitError", "BudgetExceededError"]) {
      expect(testing[name], name).toBeTypeOf("function")
      expect(testing[name], name).toBe(index[name])
    }
  })

  it("keep the error and record classes' names (printed with every failure and every logged record)", async () => {
    const index = await bundled("index")
    for (
      const name of [
        "FatalError",
        "RetryableError",
        "RateLimitError",
        "CircuitOpenError",
        "LedgerError",
        "TokenUsage",
        "GenerationResponse",
        "StreamEvent",
        "LedgerEvent"
      ]
    ) {
      expect((index[name] as { readonly name: string }).name).toBe(name)
    }
  })

  it.effect("run a call: generate from the root over a test layer from testing", () =>
    Effect.gen(function*() {
      const index = (yield* Effect.promise(() => bundled("index"))) as unknown as Root
      const testing = (yield* Effect.promise(() => bundled("testing"))) as unknown as Testing
      const providers = testing.makeMockProviders({ replies: ["from the bundle"] })
      const text = yield* index.generate({ prompt: "hello" }).pipe(
        Effect.provide(testing.makeTestLayer({ providers }))
      )
      expect(text).toBe("from the bundle")
      expect(providers.calls).toHaveLength(1)
    }))
})

/** The packages a bundle's files import by name (statically or with `import()`), e.g. `effect` for `effect/Schema`. */
const importedPackages = (dir: string): Set<string> => {
  const names = new Set<string>()
  for (const file of readdirSync(dir, { recursive: true, encoding: "utf8" })) {
    if (!/\.m?js$/.test(file)) continue
    const text = readFileSync(join(dir, file), "utf8")
    for (const [, specifier] of text.matchAll(/(?:^import [^;\n]* from |^import |\bimport\()"([^".][^"]*)"/gm)) {
      if (specifier!.startsWith("node:") || builtinModules.includes(specifier!)) continue
      const parts = specifier!.split("/")
      names.add(specifier!.startsWith("@") ? parts.slice(0, 2).join("/") : parts[0]!)
    }
  }
  return names
}

describe("package.json", () => {
  it("declares every package the library and the CLI bundles import (an isolated install — pnpm — has only those)", async () => {
    const manifest = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as {
      readonly dependencies: Record<string, string>
      readonly peerDependencies: Record<string, string>
    }
    const declared = new Set([...Object.keys(manifest.dependencies), ...Object.keys(manifest.peerDependencies)])
    const cliDir = join(root, ".test-build/cli-imports/cli")
    rmSync(cliDir, { recursive: true, force: true })
    await bundleCli(cliDir, ".mjs")
    const imported = new Set([...importedPackages(outdir), ...importedPackages(cliDir)])
    expect(imported.has("effect")).toBe(true)
    expect([...imported].filter((name) => !declared.has(name)).sort()).toEqual([])
  })

  it("every subpath of `exports` is in `typesVersions` with the same types, so TypeScript's legacy `node` resolution finds it", () => {
    const manifest = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as {
      readonly exports: Record<string, string | { readonly types: string }>
      readonly typesVersions: { readonly "*": Record<string, ReadonlyArray<string>> }
    }
    // (`./package.json` is the file itself, for tools that read the version)
    const subpaths = Object.keys(manifest.exports).filter((subpath) => subpath !== "." && subpath !== "./package.json")
    expect(subpaths.length).toBeGreaterThan(0)
    for (const subpath of subpaths) {
      const target = manifest.exports[subpath]!
      expect(manifest.typesVersions["*"][subpath.slice(2)], subpath).toEqual([
        typeof target === "string" ? target : target.types
      ])
    }
  })
})

/** The paths `npm pack` puts in the tarball (`files` in package.json, over what `npm run build` wrote). */
const packedFiles = (): Set<string> => {
  const listing = execFileSync("npm", ["pack", "--dry-run", "--json", "--ignore-scripts"], {
    cwd: root,
    encoding: "utf8",
    stdio: ["ignore", "pipe", "ignore"]
  })
  return new Set((JSON.parse(listing) as [{ files: Array<{ path: string }> }])[0].files.map((file) => file.path))
}

/** The files a module names by a relative path (`from "./x.js"`, `import("./x.js")`), as package paths. */
const relativeImports = (file: string): Array<string> =>
  [...readFileSync(join(root, file), "utf8").matchAll(/(?:\bfrom |\bimport\()"(\.{1,2}\/[^"]+)"/g)].map((
    [, specifier]
  ) => posix.join(posix.dirname(file), specifier!))

describe("the packed package", () => {
  it("ships what its entries, declarations and executable load, no JavaScript module none of them reaches, and declarations that need no @types/node", () => {
    const manifest = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as {
      readonly exports: Record<string, string | { readonly types: string; readonly import: string }>
      readonly bin: Record<string, string>
    }
    const packed = packedFiles()
    const entries = [
      ...Object.values(manifest.exports).flatMap((target) =>
        typeof target === "string" ? [target] : [target.import, target.types]
      ),
      ...Object.values(manifest.bin)
    ].map((path) => posix.normalize(path))
    // what a program or the command line can load, followed from the entries
    const reached = new Set<string>()
    const pending = [...entries]
    for (let file = pending.pop(); file !== undefined; file = pending.pop()) {
      if (reached.has(file)) continue
      reached.add(file)
      expect(packed.has(file), `${file} is loaded but not packed`).toBe(true)
      const imports = relativeImports(file)
      pending.push(...(file.endsWith(".d.ts") ? imports.map((path) => path.replace(/\.js$/, ".d.ts")) : imports))
    }
    expect(packed.has("config.yaml")).toBe(true) // `effect-llm init`'s template
    // a program without `@types/node` type-checks against the declarations with `skipLibCheck` off
    const needingNodeTypes = [...reached].filter((path) =>
      path.endsWith(".d.ts") && /\bfrom "node:|reference types="node"/.test(readFileSync(join(root, path), "utf8"))
    )
    expect(needingNodeTypes).toEqual([])
    // tsc's per-file modules stay in dist for the bench and profiles; the bundles replace them
    const unreached = [...packed].filter((path) => /\.m?js$/.test(path) && !reached.has(path))
    expect(unreached).toEqual([])
  })
})
