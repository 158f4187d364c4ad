/**
 * The package's own entry points (`effect-llm`, `effect-llm/testing`, …) mapped to their sources, as
 * package.json `exports` lists them (`./dist/X.js` is built from `src/X.ts`): README examples import
 * the package by name, and are checked against the sources (tsconfig `paths`, vitest `alias`).
 */
import { readFileSync } from "node:fs"
import { join } from "node:path"

/** One entry point: the specifier users import and the source file behind it. */
export interface PackageEntry {
  readonly specifier: string
  readonly source: string
}

/** The entry points of the package at `root`, each with its absolute source path. */
export const packageEntries = (root: string): ReadonlyArray<PackageEntry> => {
  const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as {
    readonly name: string
    readonly exports: Readonly<Record<string, string | { readonly import?: string; readonly default?: string }>>
  }
  return Object.entries(pkg.exports).flatMap(([subpath, target]) => {
    const built = typeof target === "string" ? target : target.import ?? target.default
    if (built === undefined || !/^\.\/dist\/.*\.js$/.test(built)) return []
    return [{
      specifier: subpath === "." ? pkg.name : `${pkg.name}${subpath.slice(1)}`,
      source: join(root, built.replace(/^\.\/dist\//, "src/").replace(/\.js$/, ".ts"))
    }]
  })
}
