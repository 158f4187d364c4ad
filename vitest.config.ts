import { fileURLToPath } from "node:url"
import { defineConfig } from "vitest/config"
import { packageEntries } from "./test/readme/entries.js"

const root = fileURLToPath(new URL(".", import.meta.url))
const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&")

export default defineConfig({
  resolve: {
    // `effect-llm`, `effect-llm/testing`, … resolve to the sources (the README's examples import them by name).
    alias: packageEntries(root).map(({ source, specifier }) => ({
      find: new RegExp(`^${escape(specifier)}$`),
      replacement: source
    }))
  },
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 30_000,
    hookTimeout: 30_000
  }
})
