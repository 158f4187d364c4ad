/**
 * Bundles the `effect-llm` executable with esbuild: `bin` installs the signal handlers (`Signals`), then
 * loads the rest (`Main`, one bundle of the command line with its dependencies). An executable is an
 * application, not a library: nothing imports it, so it carries its own copy of what it runs. Measured
 * (`npm run bench -- --only CLI`): loading ~725 modules is most of a command's start-up; a bundle is three.
 * `npm run build` writes it over `tsc`'s `dist/cli/{bin,Main,Signals}.js`; the CLI tests
 * (`test/support/cli-harness.ts`) run the same bundle. Run: `tsx scripts/bundle-cli.ts [outdir]`.
 */
import * as Esbuild from "esbuild"
import { join, resolve } from "node:path"
import { pathToFileURL } from "node:url"

/** The repository root. */
const root = resolve(import.meta.dirname, "..")

/**
 * Writes `bin`, `Main` and `Signals` into `outdir` (two levels under the root, like `dist/cli`, so the
 * CLI finds `package.json` and `config.yaml`), with `extension` (`.js` in `dist`, `.mjs` for tests).
 */
export const bundleCli = async (outdir: string, extension: ".js" | ".mjs"): Promise<void> => {
  /** The three files import each other at run time, so `Signals` is one module (its state shared). */
  const separateFiles: Esbuild.Plugin = {
    name: "separate-files",
    setup: (build) =>
      build.onResolve(
        { filter: /^\.\/(Main|Signals)\.js$/ },
        (args) => ({ path: args.path.replace(/\.js$/, extension), external: true })
      )
  }
  await Esbuild.build({
    entryPoints: ["bin", "Main", "Signals"].map((name) => join(root, `src/cli/${name}.ts`)),
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    outdir,
    outExtension: { ".js": extension },
    plugins: [separateFiles],
    // native drivers stay packages of their own (loaded only by the backends that use them)
    external: ["better-sqlite3", "pg-native"],
    // class and function names as written (errors and logs print them)
    keepNames: true,
    logLevel: "error",
    // CommonJS dependencies inside an ESM bundle still call `require`.
    banner: {
      js:
        "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);"
    }
  })
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  await bundleCli(resolve(process.argv[2] ?? join(root, "dist/cli")), ".js")
}
