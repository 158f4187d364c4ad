import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import * as NodePath from "@effect/platform-node/NodePath"
import type * as FileSystem from "@effect/platform/FileSystem"
import type * as Path from "@effect/platform/Path"
import { afterAll, assert, describe, it } from "@effect/vitest"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as Redacted from "effect/Redacted"
import * as fs from "node:fs"
import * as os from "node:os"
import * as nodePath from "node:path"
import { fileURLToPath } from "node:url"
import { vi } from "vitest"
import { defaults, type ResolvedConfig } from "../../src/domain/Config.js"
import type { ConfigError } from "../../src/domain/Errors.js"
import * as LLMConfig from "../../src/services/LLMConfig.js"

// The real registry once the protocol modules it imports exist; until then a table with the same rules.
vi.mock("../../src/providers/registry.js", async (importOriginal) => {
  try {
    return await importOriginal()
  } catch {
    return (await import("./config/protocols.js")).registryModule
  }
})

const root = fs.mkdtempSync(nodePath.join(os.tmpdir(), "effect-llm-config-"))
afterAll(() => fs.rmSync(root, { recursive: true, force: true }))

let counter = 0
/** A fresh empty directory (a cwd with no config.yaml). */
const freshDir = (): string => {
  const dir = nodePath.join(root, `case-${counter++}`)
  fs.mkdirSync(dir, { recursive: true })
  return dir
}
/** Writes `text` to `name` in a fresh directory and returns the directory and the file. */
const writeFile = (name: string, text: string) => {
  const dir = freshDir()
  const file = nodePath.join(dir, name)
  fs.mkdirSync(nodePath.dirname(file), { recursive: true })
  fs.writeFileSync(file, text)
  return { dir, file }
}

const nodeFiles = Layer.mergeAll(NodeFileSystem.layer, NodePath.layer)

/** Runs with `env` as the whole environment (a ConfigProvider, never process.env) and Node's file system. */
const withEnv =
  (env: Readonly<Record<string, string>>) => <A, E>(effect: Effect.Effect<A, E, FileSystem.FileSystem | Path.Path>) =>
    effect.pipe(
      Effect.withConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(env)))),
      Effect.provide(nodeFiles)
    )

type Options = LLMConfig.LoadOptions & { readonly env?: Readonly<Record<string, string>> }

/** `LLMConfig.load` with `env` as the environment (default none) and Node's file system. */
const loadIn = ({ env = {}, ...options }: Options = {}) => LLMConfig.load(options).pipe(withEnv(env))

/** `load` isolated from the machine: empty env, an empty cwd, no user file. */
const load = (options: Options = {}) => loadIn({ cwd: freshDir(), userConfig: false, ...options })

const loadError = (options: Options) => Effect.flip(load(options))

const assertError = (
  error: ConfigError,
  expected: { readonly path: string; readonly message: string; readonly reason?: ConfigError["reason"] }
) => {
  assert.strictEqual(error._tag, "ConfigError")
  assert.strictEqual(error.path, expected.path)
  assert.strictEqual(error.message, expected.message)
  if (expected.reason !== undefined) assert.strictEqual(error.reason, expected.reason)
}

const google = {
  api_key: "${GEMINI_API_KEY}",
  endpoints: [{ name: "google", base_url: "https://g.example", region: "us" }]
}
const dashscope = {
  api_key: "${DASHSCOPE_API_KEY}",
  endpoints: [
    { name: "dashscope-intl", base_url: "https://intl.example", region: "sg" },
    { name: "dashscope-cn", base_url: "https://cn.example", region: "cn" }
  ]
}
const flash = { provider: "google", model_id: "gemini-2.5-flash" }
/** A minimal valid configuration, in the YAML shape. */
const minimal = { providers: { google }, models: { flash } }

const keyOf = (config: ResolvedConfig, provider: string) => {
  const key = config.providers[provider]?.apiKey
  return key?._tag === "Present" ? Redacted.value(key.value) : key
}

describe("LLMConfig", () => {
  describe("shipped config.yaml", () => {
    const shipped = fileURLToPath(new URL("../../config.yaml", import.meta.url))

    it.effect("loads with the documented values", () =>
      Effect.gen(function*() {
        const config = yield* load({ configPath: shipped, env: { GEMINI_API_KEY: "g-key" } })
        assert.strictEqual(config.defaultModel, "gemini-flash")
        assert.deepStrictEqual(Object.keys(config.models), [
          "gemini-flash",
          "qwen-plus",
          "gpt-mini",
          "deepseek-chat",
          "claude-haiku"
        ])
        assert.deepStrictEqual(config.models["gemini-flash"], {
          alias: "gemini-flash",
          provider: "google",
          protocol: "gemini",
          modelId: "gemini-2.5-flash",
          pricing: { inputPer1m: 0.3, outputPer1m: 2.5 },
          fallbacks: ["qwen-plus"]
        })
        assert.deepStrictEqual(
          config.providers.dashscope?.endpoints.map((endpoint) => endpoint.name),
          ["dashscope-intl", "dashscope-cn"]
        )
        assert.deepStrictEqual(config.allowedRegions, ["us", "sg", "cn"])
        assert.deepStrictEqual(config.resilience, defaults.resilience)
        assert.deepStrictEqual(config.budget, defaults.budget)
        assert.deepStrictEqual(config.ledger, {
          backend: "sqlite",
          path: ".effect-llm/ledger.db",
          durability: "normal"
        })
        assert.deepStrictEqual(config.observability, { recordContent: false })
        assert.strictEqual(keyOf(config, "google"), "g-key")
        assert.deepStrictEqual(keyOf(config, "dashscope"), { _tag: "Missing", variable: "DASHSCOPE_API_KEY" })
        // The OpenAI-compatible entries load without their keys; only their calls would fail.
        assert.deepStrictEqual(
          Object.values(config.providers).map((provider) => [provider.name, provider.protocol]),
          [
            ["google", "gemini"],
            ["dashscope", "dashscope"],
            ["openai", "openai"],
            ["deepseek", "openai"],
            ["anthropic", "anthropic"]
          ]
        )
        assert.deepStrictEqual(keyOf(config, "openai"), { _tag: "Missing", variable: "OPENAI_API_KEY" })
        assert.deepStrictEqual(keyOf(config, "deepseek"), { _tag: "Missing", variable: "DEEPSEEK_API_KEY" })
        assert.deepStrictEqual(config.models["deepseek-chat"]?.pricing, {
          inputPer1m: 0.28,
          cachedInputPer1m: 0.028,
          outputPer1m: 0.42
        })
        assert.deepStrictEqual(config.models["gpt-mini"]?.fallbacks, ["gemini-flash"])
      }))

    it.effect("has an anthropic entry that loads without ANTHROPIC_API_KEY (its calls fail until it is set)", () =>
      Effect.gen(function*() {
        const config = yield* load({ configPath: shipped, env: {} })
        assert.deepStrictEqual(config.models["claude-haiku"], {
          alias: "claude-haiku",
          provider: "anthropic",
          protocol: "anthropic",
          modelId: "claude-haiku-4-5",
          pricing: { inputPer1m: 1, outputPer1m: 5, cachedInputPer1m: 0.1, cacheWritePer1m: 1.25 },
          fallbacks: ["gemini-flash"]
        })
        assert.deepStrictEqual(config.providers.anthropic?.endpoints, [
          { name: "anthropic", baseUrl: "https://api.anthropic.com", region: "us" }
        ])
        assert.deepStrictEqual(keyOf(config, "anthropic"), { _tag: "Missing", variable: "ANTHROPIC_API_KEY" })
        const supplied = yield* load({ configPath: shipped, env: { ANTHROPIC_API_KEY: "sk-ant-env" } })
        assert.strictEqual(keyOf(supplied, "anthropic"), "sk-ant-env")
      }))

    it.effect("is the default project file when it sits in the working directory", () =>
      Effect.gen(function*() {
        const config = yield* load({ cwd: nodePath.dirname(shipped) })
        assert.strictEqual(config.defaultModel, "gemini-flash")
      }))
  })

  describe("defaults", () => {
    it.effect("fill every section a source leaves out", () =>
      Effect.gen(function*() {
        const config = yield* load({ config: minimal })
        assert.strictEqual(config.defaultModel, "flash")
        assert.deepStrictEqual(config.resilience, defaults.resilience)
        assert.deepStrictEqual(config.budget, defaults.budget)
        assert.deepStrictEqual(config.ledger, { backend: "sqlite", path: defaults.ledger.path, durability: "normal" })
        assert.deepStrictEqual(config.observability, defaults.observability)
        assert.strictEqual(config.allowedRegions, undefined)
        assert.deepStrictEqual(config.models.flash, {
          alias: "flash",
          provider: "google",
          protocol: "gemini",
          modelId: "gemini-2.5-flash",
          pricing: undefined,
          fallbacks: []
        })
      }))

    it.effect("a key of the config object set to undefined counts as absent (options spread in code)", () =>
      Effect.gen(function*() {
        const config = yield* load({
          config: { ...minimal, default_model: undefined, resilience: { max_retries: undefined, base_delay_s: 2 } }
        })
        assert.strictEqual(config.defaultModel, "flash")
        assert.strictEqual(config.resilience.maxRetries, defaults.resilience.maxRetries)
        assert.strictEqual(config.resilience.baseDelayS, 2)
      }))

    it.effect("an empty section counts as absent", () =>
      Effect.gen(function*() {
        const { file } = writeFile(
          "config.yaml",
          "resilience:\nproviders:\n  google:\n    endpoints: [{ name: g, base_url: https://g.example }]\nmodels:\n  m: { provider: google, model_id: x }\n"
        )
        const config = yield* load({ configPath: file })
        assert.deepStrictEqual(config.resilience, defaults.resilience)
      }))
  })

  describe("validation", () => {
    it.effect("a wrong type names the file, the key path, the expectation and the value", () =>
      Effect.gen(function*() {
        const { dir } = writeFile("config.yaml", "resilience:\n  max_retries: three\n")
        const error = yield* loadError({ cwd: dir })
        assertError(error, {
          reason: "invalid",
          path: "resilience.max_retries",
          message: `config.yaml: resilience.max_retries: expected a non-negative integer, got "three"`
        })
      }))

    it.effect("an unknown key", () =>
      Effect.gen(function*() {
        const error = yield* loadError({ config: { ...minimal, resilience: { max_retrys: 3 } } })
        assert.strictEqual(error.path, "resilience.max_retrys")
        assert.isTrue(error.message.startsWith("resilience.max_retrys: unknown key"), error.message)
        assert.include(error.message, "max_retries")
      }))

    it.effect("an unknown top-level key and an unknown provider", () =>
      Effect.gen(function*() {
        const top = yield* loadError({ config: { ...minimal, maxRetries: 3 } })
        assert.strictEqual(top.path, "maxRetries")
        assert.include(top.message, "maxRetries: unknown key")
        // Providers have any name now (API.md §8): an unknown one is one without a protocol.
        const provider = yield* loadError({ config: { ...minimal, providers: { google, mystery: {} } } })
        assert.strictEqual(provider.path, "providers.mystery.protocol")
        assert.strictEqual(provider.reason, "missing")
      }))

    it.effect("a negative number", () =>
      Effect.gen(function*() {
        const error = yield* loadError({ config: { ...minimal, budget: { daily_spend_limit: -1 } } })
        assertError(error, {
          path: "budget.daily_spend_limit",
          message: "budget.daily_spend_limit: expected a non-negative number, got -1"
        })
      }))

    it.effect("a breaker recovery past any date a message can name (it failed every call once the breaker opened)", () =>
      Effect.gen(function*() {
        const error = yield* loadError({
          config: { ...minimal, resilience: { circuit_breaker: { recovery_timeout_s: 1e13 } } }
        })
        assertError(error, {
          path: "resilience.circuit_breaker.recovery_timeout_s",
          message:
            "resilience.circuit_breaker.recovery_timeout_s: expected a non-negative number of seconds, at most 1,000,000,000, got 10000000000000"
        })
      }))

    it.effect("a fraction where an integer is required", () =>
      Effect.gen(function*() {
        const retries = yield* loadError({ config: { ...minimal, resilience: { max_retries: 1.5 } } })
        assertError(retries, {
          path: "resilience.max_retries",
          message: "resilience.max_retries: expected a non-negative integer, got 1.5"
        })
        const threshold = yield* loadError({
          config: { ...minimal, resilience: { circuit_breaker: { failure_threshold: 2.5 } } }
        })
        assertError(threshold, {
          path: "resilience.circuit_breaker.failure_threshold",
          message: "resilience.circuit_breaker.failure_threshold: expected a positive integer, got 2.5"
        })
        const tokens = yield* loadError({ config: { ...minimal, budget: { default_max_output_tokens: 10.5 } } })
        assertError(tokens, {
          path: "budget.default_max_output_tokens",
          message: "budget.default_max_output_tokens: expected a positive integer up to 2147483647, got 10.5"
        })
        // past a 32-bit count (a request's maxOutputTokens has the same bound)
        const huge = yield* loadError({ config: { ...minimal, budget: { default_max_output_tokens: 3_000_000_000 } } })
        assertError(huge, {
          path: "budget.default_max_output_tokens",
          message: "budget.default_max_output_tokens: expected a positive integer up to 2147483647, got 3000000000"
        })
      }))

    it.effect("a model naming an unconfigured provider", () =>
      Effect.gen(function*() {
        const error = yield* loadError({
          config: { ...minimal, models: { x: { provider: "openai", model_id: "gpt" } } }
        })
        assertError(error, {
          path: "models.x.provider",
          message: `models.x.provider: expected one of the configured providers (google), got "openai"`
        })
      }))

    it.effect("a fallback naming an unknown alias, or the model itself", () =>
      Effect.gen(function*() {
        const unknown = yield* loadError({
          config: { ...minimal, models: { flash: { ...flash, fallbacks: ["nope"] } } }
        })
        assertError(unknown, {
          path: "models.flash.fallbacks[0]",
          message: `models.flash.fallbacks[0]: expected one of the model aliases (flash), got "nope"`
        })
        const itself = yield* loadError({
          config: { ...minimal, models: { flash: { ...flash, fallbacks: ["flash"] } } }
        })
        assert.strictEqual(itself.path, "models.flash.fallbacks[0]")
        assert.include(itself.message, `got "flash" (the model itself)`)
      }))

    it.effect("default_model naming an unknown alias", () =>
      Effect.gen(function*() {
        const error = yield* loadError({ config: { ...minimal, default_model: "pro" } })
        assertError(error, {
          path: "default_model",
          message: `default_model: expected one of the model aliases (flash), got "pro"`
        })
      }))

    it.effect("an empty endpoint list", () =>
      Effect.gen(function*() {
        const error = yield* loadError({ config: { ...minimal, providers: { google: { endpoints: [] } } } })
        assert.strictEqual(error.path, "providers.google.endpoints")
        assert.strictEqual(error.provider, "google")
        assert.isTrue(
          error.message.startsWith("providers.google.endpoints: expected at least one endpoint"),
          error.message
        )
      }))

    it.effect("a provider a model uses but with no endpoint at all", () =>
      Effect.gen(function*() {
        const error = yield* loadError({ config: { ...minimal, providers: { google: { api_key: "k" } } } })
        assert.strictEqual(error.path, "providers.google.endpoints")
        assert.include(error.message, "expected at least one endpoint")
      }))

    it.effect("duplicate endpoint names across providers", () =>
      Effect.gen(function*() {
        const error = yield* loadError({
          config: {
            ...minimal,
            providers: {
              google,
              dashscope: { endpoints: [{ name: "google", base_url: "https://d.example" }] }
            }
          }
        })
        assert.strictEqual(error.path, "providers.dashscope.endpoints[0].name")
        assert.include(
          error.message,
          `expected a unique endpoint name, got "google", already used by providers.google.endpoints[0]`
        )
      }))

    it.effect("duplicate endpoint names within one provider", () =>
      Effect.gen(function*() {
        const error = yield* loadError({
          config: { ...minimal, providers: { google: { endpoints: [google.endpoints[0], google.endpoints[0]] } } }
        })
        assert.strictEqual(error.path, "providers.google.endpoints[1].name")
      }))

    it.effect("a base_url that is not an http(s) URL", () =>
      Effect.gen(function*() {
        const notUrl = yield* loadError({
          config: { ...minimal, providers: { google: { endpoints: [{ name: "g", base_url: "generativelanguage" }] } } }
        })
        assertError(notUrl, {
          path: "providers.google.endpoints[0].base_url",
          message: `providers.google.endpoints[0].base_url: expected an http(s) URL, got "generativelanguage"`
        })
        const ftp = yield* loadError({
          config: { ...minimal, providers: { google: { endpoints: [{ name: "g", base_url: "ftp://g.example" }] } } }
        })
        assert.strictEqual(ftp.path, "providers.google.endpoints[0].base_url")
        // "u:pass@host" parses as a URL of scheme "u:": its password is not echoed
        const userInfo = yield* loadError({
          config: { ...minimal, providers: { google: { endpoints: [{ name: "g", base_url: "u:secretpw1234@h" }] } } }
        })
        assertError(userInfo, {
          path: "providers.google.endpoints[0].base_url",
          message: `providers.google.endpoints[0].base_url: expected an http(s) URL, got a string`
        })
      }))

    it.effect("a missing required key", () =>
      Effect.gen(function*() {
        const error = yield* loadError({ config: { ...minimal, models: { flash: { provider: "google" } } } })
        assertError(error, {
          reason: "missing",
          path: "models.flash.model_id",
          message: "models.flash.model_id: expected a non-empty string, got nothing"
        })
      }))

    it.effect("a ledger url without a backend is PostgreSQL's; an explicit backend keeps its own", () =>
      Effect.gen(function*() {
        const url = "postgres://app@db.internal/llm"
        const inferred = yield* load({ config: { ...minimal, ledger: { url } } })
        assert.strictEqual(inferred.ledger.backend, "postgres")
        const explicit = yield* load({ config: { ...minimal, ledger: { backend: "memory", url } } })
        assert.strictEqual(explicit.ledger.backend, "memory")
        // a SQLite setting beside it (a project's path, a user file's url) keeps the default backend,
        // and a warning says the url goes unused
        const warnings: Array<string> = []
        const logger = Logger.make(({ logLevel, message }) => {
          if (logLevel._tag === "Warning") warnings.push(String(Array.isArray(message) ? message.join(" ") : message))
        })
        const sqlite = yield* load({ config: { ...minimal, ledger: { path: "spend.db", url } } }).pipe(
          Effect.provide(Logger.replace(Logger.defaultLogger, logger))
        )
        assert.strictEqual(sqlite.ledger.backend, "sqlite")
        assert.strictEqual(warnings.length, 1)
        assert.include(warnings[0], "ledger.url is not used: ledger.path makes the ledger a local SQLite file")
        assert.notInclude(warnings[0], "db.internal")
        // and a url that is no PostgreSQL URL is refused as with backend: postgres
        const error = yield* loadError({ config: { ...minimal, ledger: { url: "mysql://db/llm" } } })
        assert.strictEqual(error.path, "ledger.url")
      }))

    it.effect("a postgres ledger without url", () =>
      Effect.gen(function*() {
        const error = yield* loadError({ config: { ...minimal, ledger: { backend: "postgres" } } })
        assert.strictEqual(error.path, "ledger.url")
        assert.strictEqual(error.reason, "missing")
        assert.include(error.message, "postgres")
      }))

    it.effect("an unknown ledger backend", () =>
      Effect.gen(function*() {
        const error = yield* loadError({ config: { ...minimal, ledger: { backend: "mysql" } } })
        assertError(error, {
          path: "ledger.backend",
          message: `ledger.backend: expected one of sqlite, memory, postgres, got "mysql"`
        })
      }))

    it.effect("max_delay_s below base_delay_s", () =>
      Effect.gen(function*() {
        const error = yield* loadError({ config: { ...minimal, resilience: { base_delay_s: 10, max_delay_s: 5 } } })
        assert.strictEqual(error.path, "resilience.max_delay_s")
      }))

    it.effect("base_delay_s above the default max_delay_s names base_delay_s, the key the user wrote", () =>
      Effect.gen(function*() {
        const error = yield* loadError({ config: { ...minimal, resilience: { base_delay_s: 90 } } })
        assertError(error, {
          path: "resilience.base_delay_s",
          message: "resilience.base_delay_s: expected at most max_delay_s (60, its default), got 90"
        })
      }))

    it.effect("no models anywhere", () =>
      Effect.gen(function*() {
        const error = yield* loadError({})
        assert.strictEqual(error.path, "models")
        assert.strictEqual(error.reason, "missing")
        assert.include(error.message, "expected at least one model alias")
        // no file was found at all: the message says how to make one
        assert.include(error.message, "`npx effect-llm init` writes a commented config.yaml")
        assert.include(error.message, "not found: config.yaml")
      }))

    it.effect("a YAML syntax error names the file and line", () =>
      Effect.gen(function*() {
        const { file } = writeFile("broken.yaml", "models:\n  flash: [1, 2\nresilience: {}\n")
        const error = yield* loadError({ configPath: file })
        assert.strictEqual(error.reason, "invalid")
        assert.isTrue(error.message.startsWith(`${file}: invalid YAML (line 3`), error.message)
      }))

    it.effect("a second YAML document (after a --- line) is refused in the file's own terms, not the parser's", () =>
      Effect.gen(function*() {
        const { file } = writeFile("two.yaml", "models:\n  flash: { provider: google, model_id: x }\n---\nfoo: 1\n")
        const error = yield* loadError({ configPath: file })
        assert.strictEqual(error.reason, "invalid")
        assert.include(error.message, "a config file holds one YAML document")
        assert.notInclude(error.message, "parseAllDocuments")
      }))

    it.effect("a document marker with nothing after it (a generated file's trailing ---) is still one document", () =>
      Effect.gen(function*() {
        const google = (key: string) =>
          `providers:\n  google: { api_key: ${key}, endpoints: [{ name: g, base_url: "https://g.example" }] }\n`
        const models = "models:\n  flash: { provider: google, model_id: x }\n"
        for (
          const [name, text] of [
            ["trailing.yaml", `${google("test-key-123")}${models}---\n`],
            ["both.yaml", `---\n${google("test-key-123")}${models}---\n# the end\n`],
            ["masked.yaml", `${google("${G_KEY}")}${models}---\n`]
          ] as const
        ) {
          const { file } = writeFile(name, text)
          const config = yield* load({ configPath: file, env: { G_KEY: "g-key-123" } })
          assert.strictEqual(config.models.flash?.modelId, "x", name)
        }
      }))

    it.effect("API.md §8's one-line entries with an unquoted ${VAR} inside { } load (no YAML on its own)", () =>
      Effect.gen(function*() {
        const { file } = writeFile(
          "one-line.yaml",
          [
            "providers:",
            "  deepseek:      { protocol: openai, api_key: ${DEEPSEEK_API_KEY}, endpoints: [{ name: deepseek, base_url: https://api.deepseek.com }] }",
            "  openrouter:    { protocol: openai, api_key: ${OPENROUTER_API_KEY}, headers: { X-Title: app-${APP_NAME} }, endpoints: [{ name: or, base_url: https://openrouter.ai/api/v1 }] }",
            "models:",
            "  chat: { provider: deepseek, model_id: deepseek-chat }",
            ""
          ].join("\n")
        )
        const config = yield* load({
          configPath: file,
          env: { DEEPSEEK_API_KEY: "sk-deep", OPENROUTER_API_KEY: "sk-or", APP_NAME: "demo" }
        })
        assert.strictEqual(keyOf(config, "deepseek"), "sk-deep")
        assert.strictEqual(keyOf(config, "openrouter"), "sk-or")
        assert.deepStrictEqual(
          config.providers["openrouter"]!.headers.map(([name, value]) => [name, Redacted.value(value)]),
          [["X-Title", "app-demo"]]
        )
        assert.strictEqual(config.providers["deepseek"]!.endpoints[0]!.baseUrl, "https://api.deepseek.com")
        // text that is no YAML for another reason is still refused, naming the line
        const { file: broken } = writeFile("broken-var.yaml", "models: { a: ${X}\nresilience: {}\n")
        const error = yield* loadError({ configPath: broken })
        assert.strictEqual(error.reason, "invalid")
        assert.isTrue(error.message.startsWith(`${broken}: invalid YAML (line`), error.message)
      }))

    it.effect("YAML anchors and << merge keys share settings between entries", () =>
      Effect.gen(function*() {
        const { file } = writeFile(
          "merge.yaml",
          [
            "providers:",
            "  google: { api_key: test-key-123, endpoints: [{ name: g, base_url: \"https://g.example\" }] }",
            "models:",
            "  flash: &cheap",
            "    provider: google",
            "    model_id: gemini-2.5-flash",
            "    pricing: { input_per_1m: 0.1, output_per_1m: 0.4 }",
            "  lite:",
            "    <<: *cheap",
            "    model_id: gemini-2.5-flash-lite",
            "    pricing: { input_per_1m: 0.05, output_per_1m: 0.2 }",
            ""
          ].join("\n")
        )
        const config = yield* load({ configPath: file })
        const lite = config.models["lite"]!
        assert.strictEqual(config.models["flash"]!.provider, "google")
        assert.strictEqual(lite.modelId, "gemini-2.5-flash-lite")
        assert.strictEqual(lite.pricing?.inputPer1m, 0.05) // the entry's own key over the merged one
      }))

    it.effect("a YAML alias bomb (billion laughs) is a ConfigError invalid naming the file, not a crash", () =>
      Effect.gen(function*() {
        const levels = ["a: &a [x, x, x, x, x, x, x, x, x]"]
        for (const [i, name] of ["b", "c", "d", "e", "f", "g"].entries()) {
          const below = "abcdefg"[i]!
          levels.push(`${name}: &${name} [${Array.from({ length: 9 }, () => `*${below}`).join(", ")}]`)
        }
        const { file } = writeFile("bomb.yaml", `${levels.join("\n")}\n`)
        const error = yield* loadError({ configPath: file })
        assert.strictEqual(error.reason, "invalid")
        assert.isTrue(error.message.startsWith(`${file}: invalid YAML: `), error.message)
        assert.include(error.message, "alias")
      }))

    it.effect("a YAML alias inside the node it names, or a cyclic config object, is a ConfigError at the key that closes the cycle, not a stack overflow", () =>
      Effect.gen(function*() {
        const head =
          "providers:\n  openai: { api_key: sk-cycle-secret, endpoints: [{ name: o, base_url: \"http://127.0.0.1:9/v1\" }] }\n"
        const cases = [
          [
            `${head}models: { m: { provider: openai, model_id: x } }\nobservability: &o { record_content: false, self: *o }\n`,
            "observability.self"
          ],
          [`${head}models: &ms { m: { provider: openai, model_id: x }, n: *ms }\n`, "models.n"],
          [
            `${head}models: { m: { provider: openai, model_id: x } }\nallowed_regions: &r [us, *r]\n`,
            "allowed_regions[1]"
          ],
          // with an unquoted ${VAR} in a one-line entry (the second reading, restored after)
          [
            "providers:\n  openai: { api_key: ${KEY}, endpoints: [{ name: o, base_url: \"http://127.0.0.1:9/v1\" }] }\nmodels: &ms { m: { provider: openai, model_id: x }, n: *ms }\n",
            "models.n"
          ]
        ] as const
        for (const [text, path] of cases) {
          const { file } = writeFile("cycle.yaml", text)
          const error = yield* loadError({ configPath: file, env: { KEY: "sk-cycle-secret" } })
          assert.strictEqual(error._tag, "ConfigError")
          assert.strictEqual(error.reason, "invalid")
          assert.strictEqual(error.path, path)
          assert.isTrue(error.message.startsWith(`${file}: ${path}: `), error.message)
          assert.include(error.message, "contains it")
        }
        const config: Record<string, unknown> = { models: { m: { provider: "openai", model_id: "x" } } }
        ;(config.models as Record<string, unknown>).again = config
        const error = yield* loadError({ config })
        assert.strictEqual(error.path, "models.again")
        // an alias used twice (no cycle) still loads
        const { file } = writeFile(
          "shared.yaml",
          `${head}models: { m: &entry { provider: openai, model_id: x }, n: *entry }\n`
        )
        assert.deepStrictEqual(Object.keys((yield* load({ configPath: file })).models), ["m", "n"])
      }))

    it.effect("a YAML syntax error elsewhere in a file with API.md §8's unquoted ${VAR}s is reported where it is, not at the first ${VAR}", () =>
      Effect.gen(function*() {
        const { file } = writeFile(
          "dup.yaml",
          "providers:\n  deepseek: { protocol: openai, api_key: ${DEEPSEEK_API_KEY}, endpoints: [{ name: d, base_url: https://api.deepseek.com }] }\nmodels: { a: { provider: deepseek, model_id: x } }\nmodels: {}\n"
        )
        const error = yield* loadError({ configPath: file })
        assert.strictEqual(error.reason, "invalid")
        assert.isTrue(error.message.startsWith(`${file}: invalid YAML (line 4`), error.message)
      }))

    it.effect("a file error is prefixed with the file, the path stays bare", () =>
      Effect.gen(function*() {
        const { dir, file } = writeFile(
          "conf/project.yaml",
          "models:\n  flash: { provider: google, model_id: m, extra: 1 }\n"
        )
        const error = yield* loadError({ configPath: file, cwd: dir })
        assertError(error, {
          path: "models.flash.extra",
          message:
            "conf/project.yaml: models.flash.extra: unknown key (known: provider, model_id, pricing, fallbacks, limits)"
        })
      }))
  })

  describe("sources", () => {
    it.effect("a missing explicit configPath is unreadable", () =>
      Effect.gen(function*() {
        const dir = freshDir()
        const error = yield* loadError({ configPath: "nope.yaml", cwd: dir })
        assert.strictEqual(error.reason, "unreadable")
        assert.strictEqual(
          error.message,
          "nope.yaml: config file not found (named by the configPath option or --config)"
        )
      }))

    it.effect("a missing $EFFECT_LLM_CONFIG file is unreadable", () =>
      Effect.gen(function*() {
        const error = yield* loadError({ env: { EFFECT_LLM_CONFIG: nodePath.join(root, "absent.yaml") } })
        assert.strictEqual(error.reason, "unreadable")
        assert.include(error.message, "EFFECT_LLM_CONFIG")
      }))

    it.effect("a missing ./config.yaml is fine when the user file has models", () =>
      Effect.gen(function*() {
        const user = writeFile(
          "user.yaml",
          "providers:\n  google:\n    endpoints: [{ name: g, base_url: https://g.example }]\nmodels:\n  mine: { provider: google, model_id: m }\n"
        )
        const config = yield* load({ userConfig: user.file })
        assert.strictEqual(config.defaultModel, "mine")
      }))

    it.effect("the user file is found under $XDG_CONFIG_HOME", () =>
      Effect.gen(function*() {
        const user = writeFile(
          "effect-llm/config.yaml",
          "providers:\n  google:\n    endpoints: [{ name: g, base_url: https://g.example }]\nmodels:\n  xdg: { provider: google, model_id: m }\n"
        )
        const config = yield* loadIn({ env: { XDG_CONFIG_HOME: user.dir }, cwd: freshDir() })
        assert.deepStrictEqual(Object.keys(config.models), ["xdg"])
      }))

    it.effect("$EFFECT_LLM_CONFIG names the project file; configPath wins over it", () =>
      Effect.gen(function*() {
        const fromEnv = writeFile(
          "env.yaml",
          "providers:\n  google:\n    endpoints: [{ name: g, base_url: https://g.example }]\nmodels:\n  env: { provider: google, model_id: m }\n"
        )
        const explicit = writeFile(
          "explicit.yaml",
          "providers:\n  google:\n    endpoints: [{ name: g, base_url: https://g.example }]\nmodels:\n  explicit: { provider: google, model_id: m }\n"
        )
        const env = { EFFECT_LLM_CONFIG: fromEnv.file }
        assert.deepStrictEqual(Object.keys((yield* load({ env })).models), ["env"])
        assert.deepStrictEqual(Object.keys((yield* load({ env, configPath: explicit.file })).models), ["explicit"])
      }))

    it.effect("the config option is the project configuration: no project file is read", () =>
      Effect.gen(function*() {
        const broken = writeFile("config.yaml", "this is: [not valid")
        const config = yield* load({ cwd: broken.dir, configPath: broken.file, config: minimal })
        assert.deepStrictEqual(Object.keys(config.models), ["flash"])
      }))

    it.effect("the config option is still merged over the user file", () =>
      Effect.gen(function*() {
        const user = writeFile(
          "user.yaml",
          "models:\n  extra: { provider: google, model_id: e }\nbudget: { daily_spend_limit: 5 }\n"
        )
        const config = yield* load({ config: minimal, userConfig: user.file })
        assert.deepStrictEqual(Object.keys(config.models), ["flash", "extra"])
        assert.strictEqual(config.budget.dailySpendLimit, 5)
      }))
  })

  describe("API keys", () => {
    it.effect("the environment beats any file value", () =>
      Effect.gen(function*() {
        const project = writeFile(
          "config.yaml",
          "providers:\n  google:\n    api_key: file-key\n    endpoints: [{ name: g, base_url: https://g.example }]\nmodels:\n  m: { provider: google, model_id: m }\n"
        )
        const config = yield* load({ cwd: project.dir, env: { GEMINI_API_KEY: "env-key" } })
        assert.strictEqual(keyOf(config, "google"), "env-key")
        assert.strictEqual(keyOf(yield* load({ cwd: project.dir }), "google"), "file-key")
      }))

    it.effect("GOOGLE_API_KEY supplies the google key; GEMINI_API_KEY comes first", () =>
      Effect.gen(function*() {
        const config = { ...minimal, providers: { google: { endpoints: google.endpoints } } }
        assert.strictEqual(keyOf(yield* load({ config, env: { GOOGLE_API_KEY: "g2" } }), "google"), "g2")
        assert.strictEqual(
          keyOf(yield* load({ config, env: { GOOGLE_API_KEY: "g2", GEMINI_API_KEY: "g1" } }), "google"),
          "g1"
        )
      }))

    it.effect("GEMINI_API_KEY supplies the google entry's key whatever protocol it speaks", () =>
      Effect.gen(function*() {
        const config = {
          ...minimal,
          providers: {
            google: { protocol: "openai", endpoints: [{ name: "g", base_url: "https://g.example/v1beta/openai" }] }
          }
        }
        assert.strictEqual(keyOf(yield* load({ config, env: { GEMINI_API_KEY: "g1" } }), "google"), "g1")
        assert.strictEqual(keyOf(yield* load({ config, env: { GOOGLE_API_KEY: "g2" } }), "google"), "g2")
      }))

    it.effect("an explicit key in the config option beats the environment", () =>
      Effect.gen(function*() {
        const config = { ...minimal, providers: { google: { ...google, api_key: "option-key" } } }
        assert.strictEqual(keyOf(yield* load({ config, env: { GEMINI_API_KEY: "env-key" } }), "google"), "option-key")
        const redacted = { ...minimal, providers: { google: { ...google, api_key: Redacted.make("redacted-key") } } }
        assert.strictEqual(keyOf(yield* load({ config: redacted }), "google"), "redacted-key")
      }))

    it.effect("the project's key wins over the user's, else the user's is used", () =>
      Effect.gen(function*() {
        const user = writeFile(
          "user.yaml",
          "providers:\n  google: { api_key: user-key }\n  dashscope: { api_key: user-ds-key }\n"
        )
        const config = {
          ...minimal,
          providers: { google: { ...google, api_key: "project-key" }, dashscope: { endpoints: dashscope.endpoints } }
        }
        const resolved = yield* load({ config, userConfig: user.file })
        assert.strictEqual(keyOf(resolved, "google"), "project-key")
        assert.strictEqual(keyOf(resolved, "dashscope"), "user-ds-key")
      }))

    it.effect("a missing key is not a load error; credentials fails naming the variable", () =>
      Effect.gen(function*() {
        const config = yield* load({
          config: { ...minimal, providers: { google, dashscope } },
          env: { DASHSCOPE_API_KEY: "ds-key" }
        })
        assert.deepStrictEqual(config.providers.google?.apiKey, { _tag: "Missing", variable: "GEMINI_API_KEY" })
        const service = LLMConfig.make(config)
        const error = yield* Effect.flip(service.credentials("google"))
        assertError(error, {
          reason: "missing",
          path: "providers.google.api_key",
          message: "providers.google.api_key: environment variable GEMINI_API_KEY is not set (or is empty)"
        })
        assert.strictEqual(error.provider, "google")
        assert.strictEqual(Redacted.value((yield* service.credentials("dashscope")).apiKey!), "ds-key")
      }))

    it.effect("an absent key suggests the provider's variables; an unconfigured provider fails too", () =>
      Effect.gen(function*() {
        const config = yield* load({ config: { ...minimal, providers: { google: { endpoints: google.endpoints } } } })
        assert.deepStrictEqual(config.providers.google?.apiKey, { _tag: "Missing", variable: undefined })
        const service = LLMConfig.make(config)
        const absent = yield* Effect.flip(service.credentials("google"))
        assert.strictEqual(absent.path, "providers.google.api_key")
        assert.include(absent.message, "GEMINI_API_KEY")
        const unconfigured = yield* Effect.flip(service.credentials("dashscope"))
        assert.strictEqual(unconfigured.path, "providers.dashscope.api_key")
        assert.strictEqual(unconfigured.reason, "missing")
        assert.include(unconfigured.message, "DASHSCOPE_API_KEY")
      }))

    it.effect("a key never appears in the resolved config's string forms or in errors", () =>
      Effect.gen(function*() {
        const secret = "sk-SECRET-0123456789"
        const envSecret = "sk-ENV-SECRET-987"
        const config = yield* load({
          config: { ...minimal, providers: { google: { ...google, api_key: secret }, dashscope } },
          env: { DASHSCOPE_API_KEY: envSecret }
        })
        for (
          const text of [
            String(config),
            JSON.stringify(config),
            String(config.providers.google?.apiKey),
            JSON.stringify(LLMConfig.make(config))
          ]
        ) {
          assert.notInclude(text, secret)
          assert.notInclude(text, envSecret)
        }
        const wrongType = yield* loadError({
          config: { ...minimal, providers: { google: { ...google, api_key: 123456789 } } }
        })
        assert.strictEqual(wrongType.path, "providers.google.api_key")
        assert.notInclude(wrongType.message, "123456789")
        const later = yield* loadError({
          config: { ...minimal, default_model: "nope", providers: { google: { ...google, api_key: secret } } }
        })
        assert.notInclude(JSON.stringify(later), secret)
        const { file } = writeFile("config.yaml", `providers:\n  google:\n    api_key: ${secret}: oops\n`)
        const syntax = yield* loadError({ configPath: file })
        assert.notInclude(syntax.message, secret)
      }))
  })

  describe("merge", () => {
    const userYaml = [
      "default_model: theirs",
      "providers:",
      "  google:",
      "    endpoints:",
      "      - { name: google, base_url: https://copy.example, region: us }",
      "      - { name: google-eu, base_url: https://eu.example, region: eu }",
      "models:",
      "  flash: { provider: google, model_id: user-flash }",
      "  theirs: { provider: google, model_id: user-model }",
      "resilience:",
      "  max_retries: 9",
      "  base_delay_s: 2",
      "  circuit_breaker: { recovery_timeout_s: 10 }",
      "budget: { hold_ttl_s: 60 }",
      "ledger: { backend: memory }",
      "observability: { record_content: true }",
      ""
    ].join("\n")

    it.effect("project models win per alias and come first; the user's other aliases are added", () =>
      Effect.gen(function*() {
        const user = writeFile("user.yaml", userYaml)
        const config = yield* load({ config: minimal, userConfig: user.file })
        assert.deepStrictEqual(Object.keys(config.models), ["flash", "theirs"])
        assert.strictEqual(config.models.flash?.modelId, "gemini-2.5-flash")
        assert.strictEqual(config.models.theirs?.modelId, "user-model")
        assert.strictEqual(config.defaultModel, "theirs")
        const withDefault = yield* load({ config: { ...minimal, default_model: "flash" }, userConfig: user.file })
        assert.strictEqual(withDefault.defaultModel, "flash")
      }))

    it.effect("user endpoints are appended; one repeating a project endpoint of the same provider is skipped", () =>
      Effect.gen(function*() {
        const user = writeFile("user.yaml", userYaml)
        const config = yield* load({ config: minimal, userConfig: user.file })
        assert.deepStrictEqual(config.providers.google?.endpoints, [
          { name: "google", baseUrl: "https://g.example", region: "us" },
          { name: "google-eu", baseUrl: "https://eu.example", region: "eu" }
        ])
      }))

    it.effect("scalar settings merge per key: project, else user, else defaults", () =>
      Effect.gen(function*() {
        const user = writeFile("user.yaml", userYaml)
        const config = yield* load({
          config: { ...minimal, resilience: { max_retries: 1, circuit_breaker: { failure_threshold: 2 } } },
          userConfig: user.file
        })
        assert.deepStrictEqual(config.resilience, {
          ...defaults.resilience,
          maxRetries: 1,
          baseDelayS: 2,
          circuitBreaker: { failureThreshold: 2, recoveryTimeoutS: 10 }
        })
        assert.deepStrictEqual(config.budget, { ...defaults.budget, holdTtlS: 60 })
        assert.deepStrictEqual(config.ledger, { backend: "memory", maxEvents: defaults.ledger.maxEvents })
        assert.deepStrictEqual(config.observability, { recordContent: true })
      }))

    it.effect("allowed_regions filters every endpoint; an endpoint without region is kept", () =>
      Effect.gen(function*() {
        const user = writeFile("user.yaml", `${userYaml}allowed_regions: [eu]\n`)
        const config = yield* load({
          config: {
            ...minimal,
            providers: {
              google: { endpoints: [...google.endpoints, { name: "global", base_url: "https://global.example" }] },
              dashscope
            },
            allowed_regions: ["us", "sg"]
          },
          userConfig: user.file
        })
        assert.deepStrictEqual(config.allowedRegions, ["us", "sg"])
        assert.deepStrictEqual(config.providers.google?.endpoints.map((endpoint) => endpoint.name), [
          "google",
          "global"
        ])
        assert.deepStrictEqual(config.providers.dashscope?.endpoints.map((endpoint) => endpoint.name), [
          "dashscope-intl"
        ])
        // The user's allowed_regions apply when the project sets none.
        const userOnly = yield* load({ config: minimal, userConfig: user.file })
        assert.deepStrictEqual(userOnly.providers.google?.endpoints.map((endpoint) => endpoint.name), ["google-eu"])
      }))

    it.effect("a used provider with every endpoint outside allowed_regions loads, without endpoints (its models are refused or served by fallbacks when called)", () =>
      Effect.gen(function*() {
        const config = yield* load({ config: { ...minimal, allowed_regions: ["cn"] } })
        assert.deepStrictEqual(config.providers.google?.endpoints, [])
        // an entry written without any endpoint is still an error
        const error = yield* loadError({ config: { ...minimal, providers: { google: { endpoints: [] } } } })
        assert.strictEqual(error.path, "providers.google.endpoints")
      }))
  })

  describe("interpolation", () => {
    it.effect("replaces ${VAR} in every string", () =>
      Effect.gen(function*() {
        const config = yield* load({
          config: {
            providers: {
              google: { endpoints: [{ name: "g-${REGION}", base_url: "https://${HOST}:${PORT}", region: "${REGION}" }] }
            },
            models: { flash: { provider: "google", model_id: "${MODEL}" } }
          },
          env: { HOST: "example.test", PORT: "8443", REGION: "us", MODEL: "gemini-x" }
        })
        assert.deepStrictEqual(config.providers.google?.endpoints, [
          { name: "g-us", baseUrl: "https://example.test:8443", region: "us" }
        ])
        assert.strictEqual(config.models.flash?.modelId, "gemini-x")
      }))

    it.effect("an unset variable outside api_key is a load error naming the key path", () =>
      Effect.gen(function*() {
        const { file } = writeFile("config.yaml", "ledger:\n  backend: postgres\n  url: ${EFFECT_LLM_LEDGER_URL}\n")
        const error = yield* loadError({ configPath: file })
        assertError(error, {
          reason: "missing",
          path: "ledger.url",
          message: `${file}: ledger.url: environment variable EFFECT_LLM_LEDGER_URL is not set (or is empty)`
        })
      }))

    it.effect("an interpolated ledger url stays redacted", () =>
      Effect.gen(function*() {
        const config = yield* load({
          config: { ...minimal, ledger: { backend: "postgres", url: "${DB_URL}" } },
          env: { DB_URL: "postgres://user:pw@db/llm" }
        })
        assert.strictEqual(config.ledger.backend, "postgres")
        if (config.ledger.backend === "postgres") {
          assert.strictEqual(Redacted.value(config.ledger.url!), "postgres://user:pw@db/llm")
        }
        assert.notInclude(JSON.stringify(config), "pw@db")
      }))
  })

  describe("service", () => {
    it.effect("model resolves aliases and the default; an unknown alias is an invalid request", () =>
      Effect.gen(function*() {
        const service = LLMConfig.make(
          yield* load({ config: { ...minimal, models: { flash, other: { provider: "google", model_id: "o" } } } })
        )
        assert.strictEqual((yield* service.model(undefined)).alias, "flash")
        assert.strictEqual((yield* service.model("other")).modelId, "o")
        const error = yield* Effect.flip(service.model("x"))
        assert.strictEqual(error._tag, "FatalError")
        assert.strictEqual(error.reason, "invalid_request")
        assert.strictEqual(error.message, `unknown model alias "x" (known: flash, other)`)
        assert.strictEqual((yield* Effect.flip(service.model("toString"))).reason, "invalid_request")
      }))

    it.effect("layerIsolated and layerFromConfig provide the service", () =>
      Effect.gen(function*() {
        const isolated = yield* LLMConfig.LLMConfig.pipe(Effect.provide(LLMConfig.layerIsolated(minimal)))
        assert.strictEqual(isolated.config.defaultModel, "flash")
        const fromConfig = yield* LLMConfig.LLMConfig.pipe(Effect.provide(LLMConfig.layerFromConfig(isolated.config)))
        assert.strictEqual(fromConfig.config, isolated.config)
        const error = yield* Effect.flip(
          LLMConfig.LLMConfig.pipe(Effect.provide(LLMConfig.layerIsolated({ ...minimal, budget: { hold_ttl_s: "x" } })))
        )
        assert.strictEqual(error.path, "budget.hold_ttl_s")
      }))

    it.effect("layerIsolated reads ${VAR} and <NAME>_API_KEY from its env map only", () =>
      Effect.gen(function*() {
        const config = {
          ...minimal,
          providers: { google: { endpoints: [{ name: "g", base_url: "https://${HOST}" }] } }
        }
        const service = yield* LLMConfig.LLMConfig.pipe(
          Effect.provide(LLMConfig.layerIsolated(config, { HOST: "g.example", GEMINI_API_KEY: "isolated-key" }))
        )
        assert.strictEqual(service.config.providers.google?.endpoints[0]?.baseUrl, "https://g.example")
        assert.strictEqual(Redacted.value((yield* service.credentials("google")).apiKey!), "isolated-key")
        assert.deepStrictEqual(service.secrets.map(Redacted.value), ["isolated-key"])
        // The surrounding ConfigProvider is not consulted.
        const error = yield* Effect.flip(
          LLMConfig.LLMConfig.pipe(
            Effect.provide(LLMConfig.layerIsolated(config)),
            Effect.withConfigProvider(ConfigProvider.fromMap(new Map([["HOST", "g.example"]])))
          )
        )
        assert.strictEqual(error.path, "providers.google.endpoints[0].base_url")
        assert.strictEqual(error.reason, "missing")
      }))

    it.effect("layer reads the files through FileSystem and the environment through the ConfigProvider", () =>
      Effect.gen(function*() {
        const project = writeFile(
          "config.yaml",
          "providers:\n  deepseek_like:\n    protocol: gemini\n    api_key: ${KEY}\n    headers: { X-Title: app }\n    endpoints: [{ name: g, base_url: https://g.example }]\nmodels:\n  m: { provider: deepseek_like, model_id: x }\n"
        )
        const service = yield* LLMConfig.LLMConfig.pipe(
          Effect.provide(LLMConfig.layer({ cwd: project.dir, userConfig: false })),
          withEnv({ KEY: "file-named-key", DEEPSEEK_LIKE_API_KEY: "env-key" })
        )
        const credentials = yield* service.credentials("deepseek_like")
        assert.strictEqual(Redacted.value(credentials.apiKey!), "env-key")
        assert.deepStrictEqual(service.secrets.map(Redacted.value).sort(), ["app", "env-key", "file-named-key"])
      }))
  })
})
