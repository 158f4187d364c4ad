import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import { vi } from "vitest"
import { FatalError } from "../../../src/domain/Errors.js"
import * as Scrub from "../../../src/internal/Scrub.js"
import * as Errors from "../../../src/providers/http/Errors.js"
import * as LLMConfig from "../../../src/services/LLMConfig.js"
import { withOpenAI } from "./protocols.js"
import { loadFiles, loadObject, scratchFile } from "./support.js"

vi.mock("../../../src/providers/registry.js", async () => (await import("./protocols.js")).registryModule)

const values = (secrets: ReadonlyArray<Redacted.Redacted<string>>) => secrets.map(Redacted.value)

const serviceOf = (config: unknown, env: Readonly<Record<string, string>> = {}) =>
  Effect.map(
    loadObject(config, env),
    ({ config, secrets }) => LLMConfig.make(config, { secrets, protocols: withOpenAI })
  )

describe("secrets (API.md §14)", () => {
  it("urlSecrets: the password and every query value, as written and decoded", () => {
    assert.deepStrictEqual(Scrub.urlSecrets("https://user:p%40ss@h.example/v1?key=abc&x=a%2Fb&flag"), [
      "p%40ss",
      "p@ss",
      "abc",
      "a%2Fb",
      "a/b"
    ])
    assert.deepStrictEqual(Scrub.urlSecrets("https://h.example/v1"), [])
    assert.deepStrictEqual(Scrub.urlSecrets("not a url"), [])
  })

  it("a secret echoed inside JSON is removed as each common encoder escapes it (JSON.stringify, \\/, \\uXXXX)", () => {
    const secret = "sk-te/st\"<ключ>&"
    const scrub = Scrub.make([secret])
    const echoes = [
      JSON.stringify({ key: secret }), // JavaScript
      JSON.stringify({ key: secret }).replace(/\//g, "\\/"), // PHP, Java: "\/"
      "{\"key\": \"sk-te/st\\\"\\u003c\\u043a\\u043b\\u044e\\u0447\\u003e\\u0026\"}", // Go (HTML-safe)
      "{\"key\": \"sk-te\\/st\\\"\\u003c\\u043a\\u043b\\u044e\\u0447\\u003e\\u0026\"}"
    ]
    for (const echo of echoes) assert.strictEqual(scrub(echo).replace(/\s/g, ""), "{\"key\":\"<redacted>\"}", echo)
  })

  it("a non-ASCII secret a server echoes in a header is removed as Node reads a header's bytes (latin1)", () => {
    const scrub = Scrub.make(["pässwort-tenant-42"])
    const echoedHeader = Buffer.from("user:pässwort-tenant-42", "utf8").toString("latin1")
    assert.strictEqual(scrub(echoedHeader), "user:<redacted>")
    assert.strictEqual(scrub("user:pässwort-tenant-42"), "user:<redacted>")
  })

  it("a secret written with surrounding whitespace is removed as the server saw it: trimmed (HTTP drops the spaces)", () => {
    const scrub = Scrub.make(["  AIzaPaddedKey0123456789 \t", "tenant-with-tab\t"])
    assert.strictEqual(
      scrub(`{"error":"API key AIzaPaddedKey0123456789 not valid for tenant-with-tab"}`),
      `{"error":"API key <redacted> not valid for <redacted>"}`
    )
    // as written, too (a body that quotes the header as it was configured)
    assert.strictEqual(scrub("[  AIzaPaddedKey0123456789 \t]"), "[<redacted>]")
  })

  it("a secret a shortened message cut in two is removed: its start before the cut's ellipsis, the key hint kept", () => {
    const key = "sk-proj-Abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGH"
    const scrub = Scrub.make([key])
    const cut = Errors.truncate(`${"x".repeat(460)}${key} was rejected`)
    assert.include(cut, "sk-proj-Abcdefghijklmnopqrstuvwxyz01234…") // the echo as the error holds it
    const message = `HTTP 401: ${cut}; check OPENAI_API_KEY`
    const error = Scrub.scrubError(scrub, new FatalError({ reason: "authentication", message }))
    assert.strictEqual(error.message, `HTTP 401: ${"x".repeat(460)}<redacted>…; check OPENAI_API_KEY`)
    // text that merely ends in an ellipsis, or a start shorter than six characters, is left as it is
    assert.strictEqual(scrub.cut!("waiting…"), "waiting…")
    assert.strictEqual(scrub.cut!("sk-pr…"), "sk-pr…")
    // outside an error's message (a streamed answer, a log line) an ellipsis after a word is no cut
    const tenant = Scrub.make(["production-eu-west"])
    assert.strictEqual(tenant("deploying to production…"), "deploying to production…")
    assert.strictEqual(tenant.cut!("deploying to production…"), "deploying to <redacted>…")
  })

  it("a secret is removed as servers percent-encode it (lower-case hex, Python's quote, a form) and whitespace-collapsed", () => {
    const scrub = Scrub.make(["ak/Secret+Value==", "AIzaSyTab\tKey0123456789abcdef"])
    for (const echo of ["ak%2fSecret%2bValue%3d%3d", "ak/Secret%2BValue%3D%3D", "ak%2FSecret%2BValue%3D%3D"]) {
      assert.strictEqual(scrub(`key=${echo}&x=1`), "key=<redacted>&x=1", echo)
    }
    assert.strictEqual(scrub("key AIzaSyTab Key0123456789abcdef is invalid"), "key <redacted> is invalid")
    // Python's quote also encodes ! ' ( ) *
    const reserved = Scrub.make(["tok*en!SECRET(1)/x'"])
    for (
      const echo of [
        "tok%2Aen%21SECRET%281%29/x%27",
        "tok%2Aen%21SECRET%281%29%2Fx%27",
        "tok%2aen%21SECRET%281%29/x%27"
      ]
    ) {
      assert.strictEqual(reserved(`token=${echo}`), "token=<redacted>", echo)
    }
    // and its quote_plus, as `requests` encodes a form: a space as +, * encoded, ~ kept
    assert.strictEqual(Scrub.make(["sec ret*val~ue99"])("k=sec+ret%2Aval~ue99"), "k=<redacted>")
  })

  it("urlSecrets: a query value written with '+' in every form a server may echo", () => {
    assert.deepStrictEqual(Scrub.urlSecrets("https://h.example/v1?token=tok+a%2Fb+777&space=a%20b"), [
      "tok+a%2Fb+777", // as written
      "tok+a/b+777", // percent-decoded
      "tok a/b 777", // form-decoded (URLSearchParams)
      "a%20b",
      "a b",
      "a+b" // form-encoded, as the HTTP client rewrites a query it adds parameters to
    ])
  })

  it.effect("every configured secret value, each once, none empty", () =>
    Effect.gen(function*() {
      const service = yield* serviceOf(
        {
          providers: {
            google: {
              api_key: "file-google-key",
              endpoints: [{ name: "g", base_url: "https://g.example/?key=url-key" }]
            },
            deepseek: { protocol: "openai", endpoints: [{ name: "d", base_url: "https://d.example/v1" }] },
            openrouter: {
              protocol: "openai",
              api_key: "${OR_KEY}",
              headers: { "X-Title": "title-value", "X-Empty": "" },
              endpoints: [{ name: "o", base_url: "https://bob:url-password@o.example/v1" }]
            }
          },
          models: { m: { provider: "google", model_id: "gemini-2.5-flash" } },
          ledger: { backend: "postgres", url: "postgres://llm:ledger-password@db/llm?sslpassword=ssl-secret" }
        },
        { DEEPSEEK_API_KEY: "env-deepseek-key", OR_KEY: "interpolated-key" }
      )
      const secrets = values(service.secrets)
      for (
        const expected of [
          "file-google-key",
          "url-key",
          "env-deepseek-key",
          "interpolated-key",
          "title-value",
          "url-password",
          "ledger-password",
          "ssl-secret"
        ]
      ) assert.include(secrets, expected)
      assert.notInclude(secrets, "")
      assert.strictEqual(new Set(secrets).size, secrets.length)
      for (const notSecret of ["gemini-2.5-flash", "bob", "llm", "https://g.example/?key=url-key"]) {
        assert.notInclude(secrets, notSecret)
      }
      assert.notInclude(JSON.stringify(service), "file-google-key")
      assert.notInclude(String(service.secrets), "file-google-key")
    }))

  it.effect("a ${VAR} inside a header value or a key is a secret on its own: a server may echo the token without its \"Bearer \"", () =>
    Effect.gen(function*() {
      const service = yield* serviceOf(
        {
          providers: {
            gateway: {
              protocol: "openai",
              api_key: "sk-${KEY_PART}",
              headers: { Authorization: "Bearer ${GATEWAY_TOKEN}", "X-Tenant": "pre-${TENANT}-post" },
              endpoints: [{ name: "o", base_url: "https://o.example/v1" }]
            }
          },
          models: { m: { provider: "gateway", model_id: "gpt-4o-mini" } }
        },
        { GATEWAY_TOKEN: "gw-token-0a1b2c3d", TENANT: "tenant-77aa88bb", KEY_PART: "key-part-99cc00dd" }
      )
      const secrets = values(service.secrets)
      for (
        const expected of ["gw-token-0a1b2c3d", "tenant-77aa88bb", "key-part-99cc00dd", "Bearer gw-token-0a1b2c3d"]
      ) {
        assert.include(secrets, expected)
      }
      const scrub = Scrub.make(service.secrets)
      assert.strictEqual(
        scrub("invalid token gw-token-0a1b2c3d for tenant-77aa88bb"),
        "invalid token <redacted> for <redacted>"
      )
    }))

  it.effect("a header written literally as \"Bearer <token>\" (no ${VAR}) gives its token alone as a secret too; other header values stay whole", () =>
    Effect.gen(function*() {
      const service = yield* serviceOf(
        {
          providers: {
            gateway: {
              protocol: "openai",
              headers: { Authorization: "Bearer literal-token-5e6f7a8b", "X-Client": "acme production" },
              endpoints: [{ name: "o", base_url: "https://o.example/v1" }]
            }
          },
          models: { m: { provider: "gateway", model_id: "gpt-4o-mini" } }
        },
        {}
      )
      const secrets = values(service.secrets)
      for (const expected of ["Bearer literal-token-5e6f7a8b", "literal-token-5e6f7a8b", "acme production"]) {
        assert.include(secrets, expected)
      }
      assert.notInclude(secrets, "production", "only an authorization scheme's credentials are split off")
      assert.strictEqual(
        Scrub.make(service.secrets)("invalid token literal-token-5e6f7a8b"),
        "invalid token <redacted>"
      )
    }))

  it.effect("a secret pasted as a key name is not in the ConfigError: its message nor its path (what doctor prints)", () =>
    Effect.gen(function*() {
      const secret = "sk-pasted-as-a-key-0123"
      const error = yield* Effect.flip(loadObject({
        providers: {
          openai: { api_key: secret, endpoints: [{ name: "o", base_url: "https://o.example/v1" }] }
        },
        models: { m: { provider: "openai", model_id: "gpt-4o-mini" } },
        resilience: { [secret]: 1 }
      }))
      assert.strictEqual(error._tag, "ConfigError")
      assert.notInclude(error.message, secret)
      assert.notInclude(error.path, secret)
      assert.strictEqual(error.path, "resilience.<redacted>")
    }))

  it.effect("keys the merge did not pick are secrets too: an overridden file key, the option's, a dropped endpoint's", () =>
    Effect.gen(function*() {
      const user = scratchFile(
        "user.yaml",
        "providers:\n  google:\n    api_key: user-key\n    endpoints: [{ name: eu, base_url: 'https://eu.example/?token=eu-token', region: eu }]\n"
      )
      const { secrets } = yield* loadFiles(
        {
          config: {
            providers: {
              google: { api_key: "option-key", endpoints: [{ name: "g", base_url: "https://g.example", region: "us" }] }
            },
            models: { m: { provider: "google", model_id: "x" } },
            allowed_regions: ["us"]
          },
          userConfig: user.file
        },
        { GEMINI_API_KEY: "env-gemini", GOOGLE_API_KEY: "env-google" }
      )
      const found = values(secrets)
      for (const expected of ["option-key", "user-key", "env-gemini", "env-google", "eu-token"]) {
        assert.include(found, expected)
      }
    }))

  it.effect("layerFromConfig's service derives the secrets its configuration holds", () =>
    Effect.gen(function*() {
      const { config } = yield* loadObject(
        {
          providers: { google: { endpoints: [{ name: "g", base_url: "https://g.example" }] } },
          models: { m: { provider: "google", model_id: "x" } }
        },
        { GEMINI_API_KEY: "env-gemini" }
      )
      const service = yield* LLMConfig.LLMConfig.pipe(Effect.provide(LLMConfig.layerFromConfig(config)))
      assert.deepStrictEqual(values(service.secrets), ["env-gemini"])
    }))

  describe("no secret in a ConfigError", () => {
    it.effect("a base_url that is not http(s) is shown without its password or query values", () =>
      Effect.gen(function*() {
        const error = yield* Effect.flip(
          loadObject({
            providers: {
              google: { endpoints: [{ name: "g", base_url: "ftp://me:url-password@g.example/?key=url-key" }] }
            },
            models: { m: { provider: "google", model_id: "x" } }
          })
        )
        assert.strictEqual(error.path, "providers.google.endpoints[0].base_url")
        assert.strictEqual(
          error.message,
          `providers.google.endpoints[0].base_url: expected an http(s) URL, got "ftp://me:***@g.example/?key=***"`
        )
        const unparsable = yield* Effect.flip(
          loadObject({
            providers: { google: { endpoints: [{ name: "g", base_url: "g.example?key=url-key" }] } },
            models: { m: { provider: "google", model_id: "x" } }
          })
        )
        assert.strictEqual(
          unparsable.message,
          "providers.google.endpoints[0].base_url: expected an http(s) URL, got a string"
        )
      }))

    it.effect("a URL written where a mapping or a list belongs is shown without its password or query values", () =>
      Effect.gen(function*() {
        const google = (endpoints: unknown) => ({
          providers: { google: { endpoints } },
          models: { m: { provider: "google", model_id: "x" } }
        })
        const ledger = yield* Effect.flip(
          loadObject({
            ...google([{ name: "g", base_url: "https://g.example" }]),
            ledger: "postgres://llm:pw-111@db/llm"
          })
        )
        assert.strictEqual(ledger.message, `ledger: expected a mapping, got "postgres://llm:***@db/llm"`)
        const url = "https://gw:pw-222@gw.example/v1?token=tok-333"
        const item = yield* Effect.flip(loadObject(google([url])))
        assert.strictEqual(item.path, "providers.google.endpoints[0]")
        assert.include(item.message, `got "https://gw:***@gw.example/v1?token=***"`)
        const list = yield* Effect.flip(loadObject(google(url)))
        assert.strictEqual(list.path, "providers.google.endpoints")
        assert.include(list.message, `got "https://gw:***@gw.example/v1?token=***"`)
        for (const error of [ledger, item, list]) {
          for (const secret of ["pw-111", "pw-222", "tok-333"]) assert.notInclude(error.message, secret)
        }
      }))

    it.effect("a file that is not a mapping (a key file named by mistake) is told by its type, never quoted", () =>
      Effect.gen(function*() {
        const key = "sk-proj-Zq81bareKeyFile0123456789"
        const error = yield* Effect.flip(loadObject(key))
        assert.notInclude(error.message, key)
        assert.include(error.message, "got a string")
        // YAML's other values are named as what they are
        const dated = yield* Effect.flip(loadObject({ budget: { daily_spend_limit: new Date(0) } }))
        assert.include(dated.message, "got a date")
        const binary = yield* Effect.flip(loadObject({ budget: { daily_spend_limit: new Uint8Array([1]) } }))
        assert.include(binary.message, "got binary data")
      }))

    it.effect("a key, header value or environment key written into another field is quoted <redacted>", () =>
      Effect.gen(function*() {
        const base = {
          providers: {
            google: {
              api_key: "AIzaSECRETgoogleKEY123456789",
              endpoints: [{ name: "g", base_url: "https://g.example" }]
            },
            local: {
              protocol: "openai",
              headers: { "X-Secret": "HEADERSECRET999" },
              endpoints: [{ name: "l", base_url: "http://localhost:1/v1?token=${GW_TOKEN}" }]
            }
          },
          models: { m: { provider: "google", model_id: "x" } }
        }
        const env = { GEMINI_API_KEY: "AIza-envkey-0123456789", GW_TOKEN: "gw-token-4455" }
        const errors = [
          yield* Effect.flip(loadObject({ ...base, default_model: "AIzaSECRETgoogleKEY123456789" }, env)),
          yield* Effect.flip(loadObject({ ...base, resilience: { max_retries: "HEADERSECRET999" } }, env)),
          yield* Effect.flip(loadObject({ ...base, default_model: "${GEMINI_API_KEY}" }, env)),
          yield* Effect.flip(loadObject({ ...base, default_model: "gw-token-4455" }, env))
        ]
        assert.deepStrictEqual(errors.map((error) => error.path), [
          "default_model",
          "resilience.max_retries",
          "default_model",
          "default_model"
        ])
        for (const error of errors) {
          assert.include(error.message, `got "<redacted>"`, error.message)
          for (const secret of ["AIzaSECRET", "HEADERSECRET", "AIza-envkey", "gw-token"]) {
            assert.notInclude(error.message, secret)
          }
        }
      }))

    it.effect("a key or header value of the wrong type is described, never shown", () =>
      Effect.gen(function*() {
        const key = yield* Effect.flip(
          loadObject({
            providers: { google: { api_key: 987654321, endpoints: [{ name: "g", base_url: "https://g.example" }] } },
            models: { m: { provider: "google", model_id: "x" } }
          })
        )
        assert.strictEqual(key.message, "providers.google.api_key: expected a string, got a number")
        const header = yield* Effect.flip(
          loadObject({
            providers: {
              local: {
                protocol: "openai",
                headers: { "X-Key": true },
                endpoints: [{ name: "l", base_url: "http://localhost:1/v1" }]
              }
            },
            models: { m: { provider: "local", model_id: "x" } }
          })
        )
        assert.strictEqual(
          header.message,
          "providers.local.headers.X-Key: expected a header value (one line of Latin-1 text), got a boolean"
        )
      }))
  })
})
