import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import { vi } from "vitest"
import type { ApiKeySource } from "../../../src/domain/Config.js"
import * as LLMConfig from "../../../src/services/LLMConfig.js"
import { current, withOpenAI } from "./protocols.js"
import { loadFiles, loadObject, scratchFile } from "./support.js"

// LLMConfig.ts imports the registry; its protocol modules may not exist yet: these tests pass tables.
vi.mock("../../../src/providers/registry.js", async () => (await import("./protocols.js")).registryModule)

const endpoint = (name: string) => ({ name, base_url: `https://${name}.example/v1` })
const deepseek = { protocol: "openai", api_key: "${DEEPSEEK_API_KEY}", endpoints: [endpoint("deepseek")] }
const local = { protocol: "openai", endpoints: [{ name: "ollama", base_url: "http://localhost:11434/v1" }] }
const model = (provider: string) => ({ provider, model_id: `${provider}-model` })

const keyOf = (key: ApiKeySource | undefined) => (key?._tag === "Present" ? Redacted.value(key.value) : key)

/** The service over a configuration object, as `layerIsolated` builds it but against `withOpenAI`. */
const serviceOf = (config: unknown, env: Readonly<Record<string, string>> = {}) =>
  Effect.map(
    loadObject(config, env),
    ({ config, secrets }) => LLMConfig.make(config, { secrets, protocols: withOpenAI })
  )

describe("providers with any name (API.md §8)", () => {
  describe("protocol", () => {
    it.effect("google and gemini imply gemini, dashscope implies dashscope", () =>
      Effect.gen(function*() {
        const { config } = yield* loadObject({
          providers: {
            google: { endpoints: [endpoint("g")] },
            gemini: { endpoints: [endpoint("g2")] },
            dashscope: { endpoints: [endpoint("d")] }
          },
          models: { a: model("google"), b: model("gemini"), c: model("dashscope") }
        })
        assert.deepStrictEqual(
          Object.values(config.providers).map((provider) => [provider.name, provider.protocol]),
          [["google", "gemini"], ["gemini", "gemini"], ["dashscope", "dashscope"]]
        )
        assert.deepStrictEqual(
          Object.values(config.models).map((model) => [model.provider, model.protocol]),
          [["google", "gemini"], ["gemini", "gemini"], ["dashscope", "dashscope"]]
        )
      }))

    it.effect("an entry named openai implies openai once the protocol is registered", () =>
      Effect.gen(function*() {
        const { config } = yield* loadObject({
          providers: { openai: { endpoints: [endpoint("openai")] } },
          models: { m: model("openai") }
        })
        assert.strictEqual(config.providers.openai?.protocol, "openai")
      }))

    it.effect("an entry named openai or anthropic without a registered protocol is not supported", () =>
      Effect.gen(function*() {
        const openai = yield* Effect.flip(
          loadObject(
            { providers: { openai: { endpoints: [endpoint("openai")] } }, models: { m: model("openai") } },
            {},
            current
          )
        )
        assert.strictEqual(openai._tag, "ConfigError")
        assert.strictEqual(openai.reason, "invalid")
        assert.strictEqual(openai.path, "providers.openai.protocol")
        assert.strictEqual(openai.provider, "openai")
        assert.strictEqual(
          openai.message,
          `providers.openai.protocol: protocol "openai" (implied by the name openai) is not supported (supported: gemini, dashscope)`
        )
        const anthropic = yield* Effect.flip(
          loadObject(
            { providers: { anthropic: { endpoints: [endpoint("a")] } }, models: { m: model("anthropic") } },
            {},
            current
          )
        )
        assert.strictEqual(anthropic.path, "providers.anthropic.protocol")
        assert.include(anthropic.message, "not supported")
      }))

    it.effect("any other name must say its protocol", () =>
      Effect.gen(function*() {
        const error = yield* Effect.flip(
          loadObject({
            providers: { deepseek: { endpoints: [endpoint("deepseek")] } },
            models: { m: model("deepseek") }
          })
        )
        assert.strictEqual(error.reason, "missing")
        assert.strictEqual(error.path, "providers.deepseek.protocol")
        assert.strictEqual(
          error.message,
          "providers.deepseek.protocol: expected one of gemini, dashscope, openai (only the names google, gemini, dashscope, openai, anthropic imply theirs), got nothing"
        )
      }))

    it.effect("an unknown protocol names the key path", () =>
      Effect.gen(function*() {
        const error = yield* Effect.flip(
          loadObject({
            providers: { mine: { protocol: "grpc", endpoints: [endpoint("mine")] } },
            models: { m: model("mine") }
          })
        )
        assert.strictEqual(error.reason, "invalid")
        assert.strictEqual(error.path, "providers.mine.protocol")
        assert.strictEqual(
          error.message,
          `providers.mine.protocol: protocol "grpc" is not supported (supported: gemini, dashscope, openai)`
        )
        const wrongType = yield* Effect.flip(
          loadObject({
            providers: { mine: { protocol: 3, endpoints: [endpoint("mine")] } },
            models: { m: model("mine") }
          })
        )
        assert.strictEqual(wrongType.path, "providers.mine.protocol")
      }))

    it.effect("an unknown key in an entry lists the known ones; a misspelt implied name hints at them", () =>
      Effect.gen(function*() {
        const unknown = yield* Effect.flip(
          loadObject({ providers: { deepseek: { ...deepseek, api_ky: "k" } }, models: { m: model("deepseek") } })
        )
        assert.strictEqual(unknown.path, "providers.deepseek.api_ky")
        assert.strictEqual(
          unknown.message,
          "providers.deepseek.api_ky: unknown key (known: protocol, api_key, headers, endpoints)"
        )
        const misspelt = yield* Effect.flip(
          loadObject({ providers: { googel: { endpoints: [endpoint("g")] } }, models: { m: model("googel") } })
        )
        assert.strictEqual(misspelt.path, "providers.googel.protocol")
        assert.include(misspelt.message, "only the names google, gemini, dashscope, openai, anthropic imply theirs")
      }))

    it.effect("an unused entry is checked too", () =>
      Effect.gen(function*() {
        const error = yield* Effect.flip(
          loadObject({
            providers: { google: { endpoints: [endpoint("g")] }, spare: {} },
            models: { m: model("google") }
          })
        )
        assert.strictEqual(error.path, "providers.spare.protocol")
      }))

    it.effect("an entry with any name and a protocol is what models name and what responses carry", () =>
      Effect.gen(function*() {
        const { config } = yield* loadObject(
          { providers: { deepseek, local }, models: { chat: model("deepseek"), small: model("local") } },
          { DEEPSEEK_API_KEY: "ds-key" }
        )
        assert.deepStrictEqual<unknown>(config.models.chat, {
          alias: "chat",
          provider: "deepseek",
          protocol: "openai",
          modelId: "deepseek-model",
          pricing: undefined,
          fallbacks: []
        })
        assert.deepStrictEqual(Object.keys(config.providers), ["deepseek", "local"])
        assert.deepStrictEqual(config.providers.local?.endpoints, [
          { name: "ollama", baseUrl: "http://localhost:11434/v1", region: undefined }
        ])
      }))

    it.effect("a model naming an entry that does not exist", () =>
      Effect.gen(function*() {
        const error = yield* Effect.flip(loadObject({ providers: { deepseek }, models: { chat: model("deepsek") } }))
        assert.strictEqual(error.path, "models.chat.provider")
        assert.strictEqual(
          error.message,
          `models.chat.provider: expected one of the configured providers (deepseek), got "deepsek"`
        )
      }))
  })

  describe("max_tokens_field", () => {
    it.effect("an openai endpoint may say which field carries the output cap; absent, the protocol decides by host", () =>
      Effect.gen(function*() {
        const { config } = yield* loadObject({
          providers: {
            proxy: {
              protocol: "openai",
              endpoints: [
                {
                  name: "gateway",
                  base_url: "https://llm-gateway.example/v1",
                  max_tokens_field: "max_completion_tokens"
                },
                { name: "plain", base_url: "https://plain.example/v1", max_tokens_field: "max_tokens" },
                { name: "default", base_url: "https://default.example/v1" }
              ]
            }
          },
          models: { m: model("proxy") }
        })
        assert.deepStrictEqual(config.providers.proxy?.endpoints, [
          {
            name: "gateway",
            baseUrl: "https://llm-gateway.example/v1",
            region: undefined,
            maxTokensField: "max_completion_tokens"
          },
          { name: "plain", baseUrl: "https://plain.example/v1", region: undefined, maxTokensField: "max_tokens" },
          { name: "default", baseUrl: "https://default.example/v1", region: undefined }
        ])
      }))

    it.effect("another value is refused, naming the key path and the two values", () =>
      Effect.gen(function*() {
        const error = yield* Effect.flip(loadObject({
          providers: {
            deepseek: { ...deepseek, endpoints: [{ ...endpoint("deepseek"), max_tokens_field: "max_output_tokens" }] }
          },
          models: { m: model("deepseek") }
        }))
        assert.strictEqual(error.path, "providers.deepseek.endpoints[0].max_tokens_field")
        assert.strictEqual(
          error.message,
          `providers.deepseek.endpoints[0].max_tokens_field: expected one of max_tokens, max_completion_tokens, got "max_output_tokens"`
        )
      }))

    it.effect("is refused on an endpoint of another protocol", () =>
      Effect.gen(function*() {
        const error = yield* Effect.flip(loadObject({
          providers: { google: { endpoints: [{ ...endpoint("g"), max_tokens_field: "max_tokens" }] } },
          models: { m: model("google") }
        }))
        assert.strictEqual(error.reason, "invalid")
        assert.strictEqual(error.path, "providers.google.endpoints[0].max_tokens_field")
        assert.strictEqual(
          error.message,
          `providers.google.endpoints[0].max_tokens_field: expected nothing: only protocol "openai" endpoints take it, and this entry's protocol is "gemini"`
        )
      }))
  })

  describe("json_mode", () => {
    it.effect("an openai endpoint may say how structured output is asked for; another value or protocol is refused", () =>
      Effect.gen(function*() {
        const { config } = yield* loadObject({
          providers: {
            proxy: {
              protocol: "openai",
              endpoints: [{ name: "gateway", base_url: "https://llm-gateway.example/v1", json_mode: "json_object" }]
            }
          },
          models: { m: model("proxy") }
        })
        assert.strictEqual(config.providers.proxy?.endpoints[0]?.jsonMode, "json_object")
        const wrong = yield* Effect.flip(loadObject({
          providers: { deepseek: { ...deepseek, endpoints: [{ ...endpoint("deepseek"), json_mode: "json" }] } },
          models: { m: model("deepseek") }
        }))
        assert.strictEqual(
          wrong.message,
          `providers.deepseek.endpoints[0].json_mode: expected one of json_schema, json_object, got "json"`
        )
        const gemini = yield* Effect.flip(loadObject({
          providers: { google: { endpoints: [{ ...endpoint("g"), json_mode: "json_object" }] } },
          models: { m: model("google") }
        }))
        assert.strictEqual(gemini.path, "providers.google.endpoints[0].json_mode")
      }))
  })

  describe("api_key", () => {
    it.effect("is optional for a protocol that needs none: no key, no auth header", () =>
      Effect.gen(function*() {
        const service = yield* serviceOf({ providers: { local }, models: { small: model("local") } })
        assert.deepStrictEqual(service.config.providers.local?.apiKey, { _tag: "None" })
        assert.deepStrictEqual(yield* service.credentials("local"), { apiKey: undefined, headers: [] })
      }))

    it.effect("a named but unset variable fails the calls even where a key is optional", () =>
      Effect.gen(function*() {
        const service = yield* serviceOf({
          providers: { openai: { api_key: "${OPENAI_API_KEY}", endpoints: [endpoint("openai")] } },
          models: { m: model("openai") }
        })
        assert.deepStrictEqual(service.config.providers.openai?.apiKey, { _tag: "Missing", variable: "OPENAI_API_KEY" })
        const error = yield* Effect.flip(service.credentials("openai"))
        assert.strictEqual(error.path, "providers.openai.api_key")
        assert.strictEqual(
          error.message,
          "providers.openai.api_key: environment variable OPENAI_API_KEY is not set (or is empty)"
        )
      }))

    it.effect("a key variable holding only blanks is unset, as an empty one is: no key of spaces is sent", () =>
      Effect.gen(function*() {
        const env = { OPENAI_API_KEY: " \t " }
        const implicit = yield* serviceOf({
          providers: { openai: { endpoints: [endpoint("openai")] } },
          models: { m: model("openai") }
        }, env)
        // (a key is optional for this protocol: none is sent)
        assert.deepStrictEqual(yield* implicit.credentials("openai"), { apiKey: undefined, headers: [] })
        const named = yield* serviceOf({
          providers: { openai: { api_key: "${OPENAI_API_KEY}", endpoints: [endpoint("openai")] } },
          models: { m: model("openai") }
        }, env)
        assert.include(
          (yield* Effect.flip(named.credentials("openai"))).message,
          "OPENAI_API_KEY is not set (or is empty)"
        )
      }))

    it.effect("blanks around a key (a .env line) are no part of it, from the environment or a ${VAR}", () =>
      Effect.gen(function*() {
        const env = { OPENAI_API_KEY: " sk-spaced \t" }
        const implicit = yield* loadObject({
          providers: { openai: { endpoints: [endpoint("openai")] } },
          models: { m: model("openai") }
        }, env)
        assert.strictEqual(keyOf(implicit.config.providers.openai?.apiKey), "sk-spaced")
        const named = yield* loadObject({
          providers: { openai: { api_key: "${OPENAI_API_KEY}", endpoints: [endpoint("openai")] } },
          models: { m: model("openai") }
        }, env)
        assert.strictEqual(keyOf(named.config.providers.openai?.apiKey), "sk-spaced")
        // a key of blanks alone is none (not an empty Bearer)
        const blank = yield* loadObject({
          providers: { openai: { api_key: "   ", endpoints: [endpoint("openai")] } },
          models: { m: model("openai") }
        })
        assert.notStrictEqual(blank.config.providers.openai?.apiKey._tag, "Present")
      }))

    it.effect("is required where the protocol needs one, but only fails when the entry is used", () =>
      Effect.gen(function*() {
        const service = yield* serviceOf({
          providers: { vertex: { protocol: "gemini", endpoints: [endpoint("vertex")] }, local },
          models: { m: model("vertex"), small: model("local") }
        })
        assert.deepStrictEqual(service.config.providers.vertex?.apiKey, { _tag: "Missing", variable: undefined })
        const error = yield* Effect.flip(service.credentials("vertex"))
        assert.strictEqual(error.reason, "missing")
        assert.strictEqual(error.path, "providers.vertex.api_key")
        assert.strictEqual(error.provider, "vertex")
        assert.strictEqual(error.message, "providers.vertex.api_key: no API key configured (set VERTEX_API_KEY)")
        assert.strictEqual((yield* service.credentials("local")).apiKey, undefined)
      }))

    it.effect("<NAME>_API_KEY supplies any entry's key: upper-cased, every other character as _", () =>
      Effect.gen(function*() {
        const config = {
          providers: {
            deepseek: { ...deepseek, api_key: undefined },
            "my-proxy.eu": { protocol: "openai", endpoints: [endpoint("proxy")] }
          },
          models: { m: model("deepseek") }
        }
        const { config: resolved } = yield* loadObject(config, {
          DEEPSEEK_API_KEY: "env-key",
          MY_PROXY_EU_API_KEY: "proxy-key"
        })
        assert.strictEqual(keyOf(resolved.providers.deepseek?.apiKey), "env-key")
        assert.strictEqual(keyOf(resolved.providers["my-proxy.eu"]?.apiKey), "proxy-key")
      }))

    it.effect("the config option's explicit key beats the environment; the environment beats the files", () =>
      Effect.gen(function*() {
        const explicit = yield* loadObject(
          { providers: { deepseek: { ...deepseek, api_key: "option-key" } }, models: { m: model("deepseek") } },
          { DEEPSEEK_API_KEY: "env-key" }
        )
        assert.strictEqual(keyOf(explicit.config.providers.deepseek?.apiKey), "option-key")
        const { file } = scratchFile(
          "config.yaml",
          "providers:\n  deepseek:\n    protocol: openai\n    api_key: file-key\n    endpoints: [{ name: d, base_url: https://d.example }]\nmodels:\n  m: { provider: deepseek, model_id: x }\n"
        )
        const fromFile = yield* loadFiles({ configPath: file }, { DEEPSEEK_API_KEY: "env-key" })
        assert.strictEqual(keyOf(fromFile.config.providers.deepseek?.apiKey), "env-key")
        assert.strictEqual(
          keyOf((yield* loadFiles({ configPath: file })).config.providers.deepseek?.apiKey),
          "file-key"
        )
      }))

    it.effect("a key no HTTP header can carry, written in the config or a file, fails the load without showing it", () =>
      Effect.gen(function*() {
        for (const key of ["sk-line-one\nline-two", "sk-dash-\u2010-key", Redacted.make("sk-cr-key\r")]) {
          const error = yield* Effect.flip(
            loadObject({ providers: { deepseek: { ...deepseek, api_key: key } }, models: { m: model("deepseek") } })
          )
          assert.strictEqual(error.reason, "invalid")
          assert.strictEqual(error.path, "providers.deepseek.api_key")
          assert.strictEqual(
            error.message,
            "providers.deepseek.api_key: expected a key on one line of Latin-1 text, got a string no HTTP header can carry"
          )
        }
        const { file } = scratchFile(
          "config.yaml",
          "providers:\n  deepseek:\n    protocol: openai\n    api_key: \"sk-file-\u2010-key\"\n    endpoints: [{ name: d, base_url: https://d.example }]\nmodels:\n  m: { provider: deepseek, model_id: x }\n"
        )
        const fromFile = yield* Effect.flip(loadFiles({ configPath: file }))
        assert.strictEqual(fromFile.path, "providers.deepseek.api_key")
        assert.notInclude(fromFile.message, "sk-file")
      }))

    it.effect("a key from the environment no header can carry fails the calls naming the variable, as an unset one", () =>
      Effect.gen(function*() {
        const bad = "sk-env-line\nsecond-part"
        const cases = [
          [
            { providers: { deepseek: { ...deepseek, api_key: undefined } }, models: { m: model("deepseek") } },
            "deepseek",
            "DEEPSEEK_API_KEY"
          ],
          [
            {
              providers: { gw: { protocol: "openai", api_key: "${GW_TOKEN}", endpoints: [endpoint("gw")] } },
              models: { m: model("gw") }
            },
            "gw",
            "GW_TOKEN"
          ]
        ] as const
        for (const [config, name, variable] of cases) {
          const service = yield* serviceOf(config, { [variable]: bad })
          assert.deepStrictEqual(service.config.providers[name]?.apiKey, { _tag: "Malformed", variable })
          const error = yield* Effect.flip(service.credentials(name))
          assert.strictEqual(error.reason, "invalid")
          assert.strictEqual(error.path, `providers.${name}.api_key`)
          assert.include(error.message, `environment variable ${variable} holds a character no HTTP header can carry`)
          assert.notInclude(error.message, "sk-env-line")
          // still a configured secret, scrubbed wherever it appears
          assert.include(service.secrets.map(Redacted.value), bad)
        }
      }))

    it.effect("an unconfigured entry: credentials fails suggesting its variable", () =>
      Effect.gen(function*() {
        const service = yield* serviceOf({ providers: { local }, models: { small: model("local") } })
        const error = yield* Effect.flip(service.credentials("deepseek"))
        assert.strictEqual(error.path, "providers.deepseek.api_key")
        assert.strictEqual(error.reason, "missing")
        assert.include(error.message, "provider deepseek is not configured")
        assert.include(error.message, "DEEPSEEK_API_KEY")
        assert.strictEqual((yield* Effect.flip(service.credentials("toString"))).path, "providers.toString.api_key")
      }))
  })

  describe("headers", () => {
    const openrouter = {
      protocol: "openai",
      api_key: "or-key",
      headers: { "X-Title": "my-app", "HTTP-Referer": "https://${SITE}/" },
      endpoints: [endpoint("openrouter")]
    }

    it.effect("are extra request headers, ${VAR} allowed, every value Redacted", () =>
      Effect.gen(function*() {
        const service = yield* serviceOf({ providers: { openrouter }, models: { m: model("openrouter") } }, {
          SITE: "me.example"
        })
        const { apiKey, headers } = yield* service.credentials("openrouter")
        assert.strictEqual(Redacted.value(apiKey!), "or-key")
        assert.deepStrictEqual(headers.map(([name]) => name), ["X-Title", "HTTP-Referer"])
        for (const [, value] of headers) assert.isTrue(Redacted.isRedacted(value))
        assert.deepStrictEqual(headers.map(([, value]) => Redacted.value(value)), ["my-app", "https://me.example/"])
        assert.notInclude(JSON.stringify(service.config), "my-app")
        assert.notInclude(String(headers), "my-app")
      }))

    it.effect("a header value given as a Redacted in the config option", () =>
      Effect.gen(function*() {
        const service = yield* serviceOf({
          providers: { openrouter: { ...openrouter, headers: { "X-Secret": Redacted.make("s3") } } },
          models: { m: model("openrouter") }
        })
        const { headers } = yield* service.credentials("openrouter")
        assert.strictEqual(Redacted.value(headers[0]![1]), "s3")
      }))

    it.effect("an invalid header name is refused, naming the header", () =>
      Effect.gen(function*() {
        const error = yield* Effect.flip(
          loadObject({
            providers: { openrouter: { ...openrouter, headers: { "X Title": "a" } } },
            models: { m: model("openrouter") }
          })
        )
        assert.strictEqual(error.reason, "invalid")
        assert.strictEqual(error.path, "providers.openrouter.headers.X Title")
        assert.include(error.message, `expected a header name`)
        const empty = yield* Effect.flip(
          loadObject({
            providers: { openrouter: { ...openrouter, headers: { "": "a" } } },
            models: { m: model("openrouter") }
          })
        )
        assert.include(empty.message, "expected a header name")
      }))

    it.effect("a header value with a line break, or not a string, is refused without echoing it", () =>
      Effect.gen(function*() {
        const broken = yield* Effect.flip(
          loadObject({
            providers: { openrouter: { ...openrouter, headers: { "X-Token": "secret-1\r\nX-Evil: 1" } } },
            models: { m: model("openrouter") }
          })
        )
        assert.strictEqual(broken.path, "providers.openrouter.headers.X-Token")
        assert.strictEqual(
          broken.message,
          "providers.openrouter.headers.X-Token: expected a header value (one line of Latin-1 text), got a string"
        )
        const number = yield* Effect.flip(
          loadObject({
            providers: { openrouter: { ...openrouter, headers: { "X-Pin": 123456 } } },
            models: { m: model("openrouter") }
          })
        )
        assert.strictEqual(number.path, "providers.openrouter.headers.X-Pin")
        assert.notInclude(number.message, "123456")
        const list = yield* Effect.flip(
          loadObject({
            providers: { openrouter: { ...openrouter, headers: ["X-Title"] } },
            models: { m: model("openrouter") }
          })
        )
        assert.strictEqual(list.path, "providers.openrouter.headers")
      }))

    it.effect("a header value outside Latin-1 is refused at load, from ${VAR} naming the variable, never shown", () =>
      Effect.gen(function*() {
        const literal = yield* Effect.flip(
          loadObject({
            providers: { openrouter: { ...openrouter, headers: { "X-Title": "my\u2010app-title" } } },
            models: { m: model("openrouter") }
          })
        )
        assert.strictEqual(literal.path, "providers.openrouter.headers.X-Title")
        assert.strictEqual(
          literal.message,
          "providers.openrouter.headers.X-Title: expected a header value (one line of Latin-1 text), got a string"
        )
        const fromVariable = yield* Effect.flip(
          loadObject({ providers: { openrouter }, models: { m: model("openrouter") } }, {
            SITE: "me\u2010site.example"
          })
        )
        assert.strictEqual(fromVariable.reason, "invalid")
        assert.strictEqual(fromVariable.path, "providers.openrouter.headers.HTTP-Referer")
        assert.include(fromVariable.message, "environment variable SITE holds a character no HTTP header can carry")
        assert.notInclude(fromVariable.message, "site.example")
      }))

    it.effect("an unset variable in a header value is a load error naming the header", () =>
      Effect.gen(function*() {
        const error = yield* Effect.flip(loadObject({ providers: { openrouter }, models: { m: model("openrouter") } }))
        assert.strictEqual(error.reason, "missing")
        assert.strictEqual(error.path, "providers.openrouter.headers.HTTP-Referer")
        assert.include(error.message, "environment variable SITE is not set")
      }))

    it.effect("the same header twice in one entry (case-insensitive) is refused", () =>
      Effect.gen(function*() {
        const error = yield* Effect.flip(
          loadObject({
            providers: { openrouter: { ...openrouter, headers: { "X-Title": "a", "x-title": "b" } } },
            models: { m: model("openrouter") }
          })
        )
        assert.strictEqual(error.path, "providers.openrouter.headers.x-title")
      }))
  })

  describe("user-file merge per entry name (API.md §4)", () => {
    const userYaml = [
      "providers:",
      "  deepseek:",
      "    api_key: user-key",
      "    headers: { X-Title: user-title, X-Extra: extra }",
      "    endpoints:",
      "      - { name: deepseek-backup, base_url: https://backup.example/v1 }",
      "  local:",
      "    protocol: openai",
      "    endpoints: [{ name: ollama, base_url: http://localhost:11434/v1 }]",
      "models:",
      "  small: { provider: local, model_id: llama }",
      ""
    ].join("\n")
    const project = {
      providers: { deepseek: { ...deepseek, headers: { "x-title": "project-title" } } },
      models: { chat: model("deepseek") }
    }

    it.effect("the protocol comes from the project when the user's entry omits it; user endpoints are appended", () =>
      Effect.gen(function*() {
        const user = scratchFile("user.yaml", userYaml)
        const { config } = yield* loadFiles({ config: project, userConfig: user.file })
        assert.deepStrictEqual(Object.keys(config.providers), ["deepseek", "local"])
        assert.strictEqual(config.providers.deepseek?.protocol, "openai")
        assert.deepStrictEqual(config.providers.deepseek?.endpoints.map((endpoint) => endpoint.name), [
          "deepseek",
          "deepseek-backup"
        ])
        assert.deepStrictEqual(Object.keys(config.models), ["chat", "small"])
      }))

    it.effect("the project's key wins (its ${VAR} unset: the user's); headers per name, project first", () =>
      Effect.gen(function*() {
        const user = scratchFile("user.yaml", userYaml)
        const { config } = yield* loadFiles({ config: project, userConfig: user.file })
        // The project names ${DEEPSEEK_API_KEY}, unset: the user's file value is used.
        assert.strictEqual(keyOf(config.providers.deepseek?.apiKey), "user-key")
        const withKey = yield* loadFiles({ config: project, userConfig: user.file }, { DEEPSEEK_API_KEY: "env-key" })
        assert.strictEqual(keyOf(withKey.config.providers.deepseek?.apiKey), "env-key")
        assert.deepStrictEqual(
          config.providers.deepseek?.headers.map(([name, value]) => [name, Redacted.value(value)]),
          [["x-title", "project-title"], ["X-Extra", "extra"]]
        )
      }))

    it.effect("a user entry saying another protocol is an error in the user file", () =>
      Effect.gen(function*() {
        const user = scratchFile("user.yaml", "providers:\n  deepseek: { protocol: gemini }\n")
        const error = yield* Effect.flip(loadFiles({ config: project, userConfig: user.file }))
        assert.strictEqual(error.path, "providers.deepseek.protocol")
        assert.strictEqual(
          error.message,
          `${user.file}: providers.deepseek.protocol: expected "openai" (as the config option says), got "gemini"`
        )
      }))

    it.effect("a user entry saying another protocol than the one the project's entry name implies is an error", () =>
      Effect.gen(function*() {
        const user = scratchFile("user.yaml", "providers:\n  google: { protocol: openai }\n")
        const googleProject = {
          providers: { google: { api_key: "k", endpoints: [{ name: "g", base_url: "https://g.example" }] } },
          models: { flash: model("google") }
        }
        const error = yield* Effect.flip(loadFiles({ config: googleProject, userConfig: user.file }))
        assert.strictEqual(error.path, "providers.google.protocol")
        assert.strictEqual(
          error.message,
          `${user.file}: providers.google.protocol: expected "gemini" (implied by the name google in the config option), got "openai"`
        )
        // the user file saying the implied one is no conflict
        const same = scratchFile("user.yaml", "providers:\n  google: { protocol: gemini }\n")
        const { config } = yield* loadFiles({ config: googleProject, userConfig: same.file })
        assert.strictEqual(config.providers.google?.protocol, "gemini")
      }))

    it.effect("an entry only the user file has must say its protocol there", () =>
      Effect.gen(function*() {
        const user = scratchFile(
          "user.yaml",
          "providers:\n  groq: { endpoints: [{ name: groq, base_url: https://groq.example/v1 }] }\n"
        )
        const error = yield* Effect.flip(loadFiles({ config: project, userConfig: user.file }))
        assert.strictEqual(error.path, "providers.groq.protocol")
        assert.isTrue(error.message.startsWith(`${user.file}: providers.groq.protocol: expected one of`), error.message)
      }))
  })
})

describe("pricing", () => {
  const providers = { google: { endpoints: [endpoint("g")] } }

  it.effect("accepts cached_input_per_1m and cache_write_per_1m", () =>
    Effect.gen(function*() {
      const { config } = yield* loadObject({
        providers,
        models: {
          cached: {
            ...model("google"),
            pricing: { input_per_1m: 1, output_per_1m: 2, cached_input_per_1m: 0.25, cache_write_per_1m: 1.25 }
          },
          plain: { ...model("google"), pricing: { input_per_1m: 1, output_per_1m: 2 } }
        }
      })
      assert.deepStrictEqual(config.models.cached?.pricing, {
        inputPer1m: 1,
        outputPer1m: 2,
        cachedInputPer1m: 0.25,
        cacheWritePer1m: 1.25
      })
      assert.deepStrictEqual(config.models.plain?.pricing, { inputPer1m: 1, outputPer1m: 2 })
    }))

  it.effect("prices must be non-negative numbers of at most $1,000,000 per million tokens", () =>
    Effect.gen(function*() {
      const negative = yield* Effect.flip(
        loadObject({
          providers,
          models: { m: { ...model("google"), pricing: { input_per_1m: 1, output_per_1m: 2, cached_input_per_1m: -1 } } }
        })
      )
      assert.strictEqual(negative.path, "models.m.pricing.cached_input_per_1m")
      assert.strictEqual(
        negative.message,
        "models.m.pricing.cached_input_per_1m: expected a non-negative number of USD per million tokens, at most 1000000, got -1"
      )
      // a rate past any price (a typo's exponent) would make costs Infinity in the ledger
      const huge = yield* Effect.flip(
        loadObject({
          providers,
          models: { m: { ...model("google"), pricing: { input_per_1m: 1e302, output_per_1m: 2 } } }
        })
      )
      assert.strictEqual(huge.path, "models.m.pricing.input_per_1m")
      const text = yield* Effect.flip(
        loadObject({
          providers,
          models: { m: { ...model("google"), pricing: { input_per_1m: 1, output_per_1m: 2, cache_write_per_1m: "x" } } }
        })
      )
      assert.strictEqual(text.path, "models.m.pricing.cache_write_per_1m")
    }))
})

describe("names JavaScript reserves", () => {
  /** Loads a YAML file with one OpenAI-compatible provider and one model, as named. */
  const loadNamed = (provider: string, alias: string) =>
    Effect.flip(loadFiles({
      configPath: scratchFile(
        "config.yaml",
        `providers:\n  ${provider}:\n    protocol: openai\n    endpoints: [{ name: a, base_url: https://a.example/v1 }]\n` +
          `models:\n  ${alias}: { provider: ${provider}, model_id: x }\n`
      ).file
    }))

  it.effect("a provider or model named __proto__ in a YAML file is refused, not silently dropped", () =>
    Effect.gen(function*() {
      const fromProviders = yield* loadNamed("__proto__", "m")
      assert.strictEqual(fromProviders._tag, "ConfigError")
      assert.strictEqual(fromProviders.path, "providers.__proto__")
      assert.include(fromProviders.message, "choose another name")
      const fromModels = yield* loadNamed("deepseek", "__proto__")
      assert.strictEqual(fromModels.path, "models.__proto__")
    }))
})
