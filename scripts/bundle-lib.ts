/**
 * Bundles the package's entry points (`exports` in package.json: `.`, `./testing`, `./ai`) with esbuild
 * over `tsc`'s `dist/index.js`, `dist/testing.js` and `dist/ai.js`: the library's own modules in a few
 * files (`dist/chunks/` holds what the entries share, so a service tag or error class is one instance
 * whichever entry imported it), every package left external — users' programs keep their own single
 * `effect`. Measured: importing the package loads ~70 fewer modules, ~60 ms of CPU less per fresh
 * process (README, Performance). `tsc`'s per-file modules stay beside them (`bench/overhead.ts` and
 * profiles read them); the declarations are `tsc`'s. Run by `npm run build` after `tsc`.
 */
import * as Esbuild from "esbuild"
import * as Fs from "node:fs"
import { join, resolve } from "node:path"
import { pathToFileURL } from "node:url"

const root = resolve(import.meta.dirname, "..")

/** `src/X.ts` for each `./dist/X.js` the package exports. */
const entryPoints = (): Array<string> => {
  const manifest = JSON.parse(Fs.readFileSync(join(root, "package.json"), "utf8")) as {
    readonly exports: Record<string, string | { readonly import: string }>
  }
  // (a string target is a file shipped as it is: `./package.json`)
  return Object.values(manifest.exports).flatMap((target) =>
    typeof target === "string" ? [] : [join(root, target.import.replace(/^\.\/dist\/(.*)\.js$/, "src/$1.ts"))]
  )
}

export const bundleLib = async (outdir: string): Promise<void> => {
  // chunk names carry a hash of their content: an earlier build's would stay beside the new ones
  Fs.rmSync(join(outdir, "chunks"), { recursive: true, force: true })
  await Esbuild.build({
    entryPoints: entryPoints(),
    bundle: true,
    splitting: true,
    platform: "node",
    format: "esm",
    target: "node20",
    outdir,
    chunkNames: "chunks/[name]-[hash]",
    packages: "external",
    // No `keepNames`: it wraps every named function in a `__name` call, ~590 of them inside functions
    // (per call, per stream). Unminified, esbuild renames only a name two modules share: three service
    // tag classes (`Ledger2`; their keys, which Effect prints, are unchanged); error classes keep theirs.
    keepNames: false,
    sourcemap: true,
    logLevel: "error"
  })
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  await bundleLib(resolve(process.argv[2] ?? join(root, "dist")))
}
