import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import { defaults } from "../../../src/domain/Config.js"
import { loadFiles, loadObject, scratchDir, scratchFile } from "./support.js"

const minimal = {
  providers: { google: { endpoints: [{ name: "g", base_url: "https://g.example" }] } },
  models: { flash: { provider: "google", model_id: "gemini-2.5-flash" } }
}
const minimalYaml = "providers:\n  google:\n    endpoints: [{ name: g, base_url: https://g.example }]\n"

describe("resilience timeouts must be > 0 (API.md §14)", () => {
  for (const key of ["retry_budget_s", "request_timeout_s", "stream_idle_timeout_s"]) {
    it.effect(`${key}: 0 and negative values are refused, naming the key`, () =>
      Effect.gen(function*() {
        for (const value of [0, -1]) {
          const error = yield* Effect.flip(loadObject({ ...minimal, resilience: { [key]: value } }))
          assert.strictEqual(error._tag, "ConfigError")
          assert.strictEqual(error.reason, "invalid")
          assert.strictEqual(error.path, `resilience.${key}`)
          assert.strictEqual(error.message, `resilience.${key}: expected a positive number, got ${value}`)
        }
        const { config } = yield* loadObject({ ...minimal, resilience: { [key]: 0.5 } })
        assert.strictEqual(
          {
            retry_budget_s: config.resilience.retryBudgetS,
            request_timeout_s: config.resilience.requestTimeoutS,
            stream_idle_timeout_s: config.resilience.streamIdleTimeoutS
          }[key],
          0.5
        )
      }))
  }
})

describe("config object edge cases", () => {
  it.effect("a list with a hole is a ConfigError naming the missing item, not a defect", () =>
    Effect.gen(function*() {
      const regions: Array<string> = []
      regions[1] = "us"
      const error = yield* Effect.flip(loadObject({ ...minimal, allowed_regions: regions }))
      assert.strictEqual(error._tag, "ConfigError")
      assert.strictEqual(error.path, "allowed_regions[0]")
    }))

  it.effect("a name, model_id or path of blanks alone is empty: refused naming the key", () =>
    Effect.gen(function*() {
      const blankModel = yield* Effect.flip(
        loadObject({ ...minimal, models: { flash: { provider: "google", model_id: "   " } } })
      )
      assert.strictEqual(blankModel.path, "models.flash.model_id")
      assert.include(blankModel.message, "expected a non-empty string")
      const blankEndpoint = yield* Effect.flip(loadObject({
        ...minimal,
        providers: { google: { endpoints: [{ name: " ", base_url: "https://g.example" }] } }
      }))
      assert.strictEqual(blankEndpoint.path, "providers.google.endpoints[0].name")
    }))

  it.effect("blanks around a base_url are dropped: requests join their paths to the URL itself", () =>
    Effect.gen(function*() {
      const { config } = yield* loadObject({
        ...minimal,
        providers: { google: { endpoints: [{ name: "g", base_url: " https://g.example/v1beta \t" }] } }
      })
      assert.strictEqual(config.providers.google?.endpoints[0]?.baseUrl, "https://g.example/v1beta")
    }))
})

describe("ledger", () => {
  describe("url with backend postgres (API.md §14)", () => {
    it.effect("may be a Redacted the program already holds (Config.redacted), as api_key may", () =>
      Effect.gen(function*() {
        const url = "postgres://app:s3cret@127.0.0.1:5432/test"
        const { config } = yield* loadObject({ ...minimal, ledger: { backend: "postgres", url: Redacted.make(url) } })
        assert.strictEqual(config.ledger.backend, "postgres")
        assert.strictEqual(config.ledger.backend === "postgres" && Redacted.value(config.ledger.url), url)
      }))

    it.effect("blanks around it are dropped, as around a base_url (a value pasted with a stray space)", () =>
      Effect.gen(function*() {
        const { config } = yield* loadObject({
          ...minimal,
          ledger: { backend: "postgres", url: " postgres://app:s3cret@127.0.0.1:5432/test \t" }
        })
        assert.strictEqual(
          config.ledger.backend === "postgres" && Redacted.value(config.ledger.url),
          "postgres://app:s3cret@127.0.0.1:5432/test"
        )
      }))

    it.effect("must parse as a PostgreSQL URL at load: a plain word is refused without echoing it", () =>
      Effect.gen(function*() {
        const error = yield* Effect.flip(loadObject({ ...minimal, ledger: { backend: "postgres", url: "base" } }))
        assert.strictEqual(error.reason, "invalid")
        assert.strictEqual(error.path, "ledger.url")
        assert.strictEqual(
          error.message,
          "ledger.url: expected a PostgreSQL URL (postgres://user:password@host:5432/database), got a value that is not a URL"
        )
      }))

    it.effect("another scheme is refused, naming the scheme but never the password", () =>
      Effect.gen(function*() {
        const error = yield* Effect.flip(
          loadObject(
            { ...minimal, ledger: { backend: "postgres", url: "${DB_URL}" } },
            { DB_URL: "mysql://admin:hunter2-pw@db.example/llm" }
          )
        )
        assert.strictEqual(error.path, "ledger.url")
        assert.include(error.message, `got a URL with scheme "mysql:"`)
        assert.notInclude(JSON.stringify(error), "hunter2-pw")
        assert.notInclude(String(error), "hunter2-pw")
        const { file } = scratchFile(
          "config.yaml",
          `${minimalYaml}models: { m: { provider: google, model_id: x } }\nledger:\n  backend: postgres\n  url: "host=db password=hunter2-pw"\n`
        )
        const fromFile = yield* Effect.flip(loadFiles({ configPath: file }))
        assert.strictEqual(fromFile.path, "ledger.url")
        assert.isTrue(fromFile.message.startsWith(`${file}: ledger.url: expected a PostgreSQL URL`), fromFile.message)
        assert.notInclude(fromFile.message, "hunter2-pw")
      }))

    it.effect("the scheme without // is refused (the driver would read the rest as a local database name)", () =>
      Effect.gen(function*() {
        for (
          const url of ["postgres:u:secretpw1234@127.0.0.1:1/db", "postgresql:/u:secretpw1234@h/db", "postgres:pw"]
        ) {
          const error = yield* Effect.flip(loadObject({ ...minimal, ledger: { backend: "postgres", url } }))
          assert.strictEqual(error.path, "ledger.url", url)
          assert.include(error.message, `got a URL without "//" after`)
          assert.notInclude(JSON.stringify(error) + String(error), "secretpw1234")
        }
      }))

    it.effect("a password's unencoded / (an @ after the host) is refused, naming the encoding, never the password", () =>
      Effect.gen(function*() {
        for (
          const url of ["postgresql://postgres:Pa55@w0rd/x@127.0.0.1:1/db", "postgres://pa55@w0rd/secretpw1234@h/db"]
        ) {
          const error = yield* Effect.flip(loadObject({ ...minimal, ledger: { backend: "postgres", url } }))
          assert.strictEqual(error.path, "ledger.url", url)
          assert.include(error.message, "must be percent-encoded")
          assert.notInclude(JSON.stringify(error) + String(error), "w0rd")
          assert.notInclude(JSON.stringify(error) + String(error), "secretpw1234")
        }
        // an encoded one, and an @ in the query (a parameter's value), are fine
        for (const url of ["postgres://u:a%2Fb@h/db", "postgres://u@h/db?application_name=a@b"]) {
          yield* loadObject({ ...minimal, ledger: { backend: "postgres", url } })
        }
      }))

    it.effect("postgres:// and postgresql:// are accepted and stay Redacted", () =>
      Effect.gen(function*() {
        for (
          const url of [
            "postgres://user:pw@127.0.0.1:5432/test",
            "postgresql://db.example/llm?sslmode=require",
            "postgres:///llm?host=/var/run/postgresql"
          ]
        ) {
          const { config } = yield* loadObject({ ...minimal, ledger: { backend: "postgres", url } })
          assert.strictEqual(config.ledger.backend, "postgres")
          if (config.ledger.backend === "postgres") assert.strictEqual(Redacted.value(config.ledger.url), url)
        }
      }))

    it.effect("a url is not checked for other backends (it is not read)", () =>
      Effect.gen(function*() {
        const { config } = yield* loadObject({ ...minimal, ledger: { backend: "sqlite", url: "base" } })
        assert.deepStrictEqual(config.ledger, { backend: "sqlite", path: defaults.ledger.path, durability: "normal" })
      }))
  })

  describe("durability (sqlite backend)", () => {
    it.effect("defaults to normal; full is accepted", () =>
      Effect.gen(function*() {
        const { config } = yield* loadObject({ ...minimal, ledger: { backend: "sqlite", durability: "full" } })
        assert.deepStrictEqual(config.ledger, { backend: "sqlite", path: defaults.ledger.path, durability: "full" })
      }))

    it.effect("must be full or normal", () =>
      Effect.gen(function*() {
        const error = yield* Effect.flip(loadObject({ ...minimal, ledger: { backend: "sqlite", durability: "fsync" } }))
        assert.strictEqual(error.path, "ledger.durability")
        assert.strictEqual(error.message, `ledger.durability: expected one of full, normal, got "fsync"`)
      }))
  })

  describe("max_events (memory backend)", () => {
    it.effect("defaults to 10,000", () =>
      Effect.gen(function*() {
        const { config } = yield* loadObject({ ...minimal, ledger: { backend: "memory" } })
        assert.deepStrictEqual(config.ledger, { backend: "memory", maxEvents: 10_000 })
      }))

    it.effect("is read from the project, else the user file", () =>
      Effect.gen(function*() {
        const { config } = yield* loadObject({ ...minimal, ledger: { backend: "memory", max_events: 50 } })
        assert.deepStrictEqual(config.ledger, { backend: "memory", maxEvents: 50 })
        const user = scratchFile("user.yaml", "ledger: { max_events: 7 }\n")
        const merged = yield* loadFiles({
          config: { ...minimal, ledger: { backend: "memory" } },
          userConfig: user.file
        })
        assert.deepStrictEqual(merged.config.ledger, { backend: "memory", maxEvents: 7 })
      }))

    it.effect("must be a positive integer", () =>
      Effect.gen(function*() {
        for (const [value, shown] of [[0, "0"], [-5, "-5"], [1.5, "1.5"], ["many", `"many"`]] as const) {
          const error = yield* Effect.flip(loadObject({ ...minimal, ledger: { backend: "memory", max_events: value } }))
          assert.strictEqual(error.path, "ledger.max_events")
          assert.strictEqual(error.message, `ledger.max_events: expected a positive integer, got ${shown}`)
        }
      }))
  })
})

describe("userConfig (API.md §14)", () => {
  const userYaml = `${minimalYaml}models:\n  mine: { provider: google, model_id: m }\n`

  it.effect("false reads no user file, even where $XDG_CONFIG_HOME has one", () =>
    Effect.gen(function*() {
      const xdg = scratchFile("effect-llm/config.yaml", userYaml)
      const found = yield* loadFiles({ config: minimal, userConfig: undefined }, { XDG_CONFIG_HOME: xdg.dir })
      assert.deepStrictEqual(Object.keys(found.config.models), ["flash", "mine"])
      const none = yield* loadFiles({ config: minimal, userConfig: false }, { XDG_CONFIG_HOME: xdg.dir })
      assert.deepStrictEqual(Object.keys(none.config.models), ["flash"])
    }))

  it.effect("a path names the user file; it must exist", () =>
    Effect.gen(function*() {
      const user = scratchFile("mine.yaml", userYaml)
      const named = yield* loadFiles({ config: minimal, userConfig: user.file })
      assert.deepStrictEqual(Object.keys(named.config.models), ["flash", "mine"])
      const cwd = scratchDir()
      const error = yield* Effect.flip(loadFiles({ config: minimal, userConfig: "absent.yaml", cwd }))
      assert.strictEqual(error.reason, "unreadable")
      assert.strictEqual(error.message, "absent.yaml: config file not found (named by userConfig)")
    }))

  it.effect("the default user file is under $HOME/.config when $XDG_CONFIG_HOME is unset", () =>
    Effect.gen(function*() {
      const home = scratchFile(".config/effect-llm/config.yaml", userYaml)
      const { config } = yield* loadFiles({ config: minimal, userConfig: undefined }, { HOME: home.dir })
      assert.deepStrictEqual(Object.keys(config.models), ["flash", "mine"])
    }))
})

describe("numbers and flags from ${VAR}", () => {
  it.effect("a setting that is one ${VAR} takes the variable's text as YAML reads it: numbers and booleans", () =>
    Effect.gen(function*() {
      const { config } = yield* loadObject({
        ...minimal,
        models: {
          flash: {
            ...minimal.models.flash,
            pricing: { input_per_1m: "${IN_PRICE}", output_per_1m: "${OUT_PRICE}" },
            limits: { rpm: "${RPM}" }
          }
        },
        resilience: {
          max_retries: "${RETRIES}",
          request_timeout_s: "${TIMEOUT}",
          wait_on_rate_limit: "${WAIT}"
        },
        budget: { daily_spend_limit: "${DAILY}", alert_thresholds: ["${FIRST_ALERT}", 0.9] }
      }, {
        IN_PRICE: "0.3",
        OUT_PRICE: "2.5",
        RPM: "60",
        RETRIES: "3",
        TIMEOUT: " 12.5 ",
        WAIT: "false",
        DAILY: "2",
        FIRST_ALERT: "0.5"
      })
      assert.strictEqual(config.resilience.maxRetries, 3)
      assert.strictEqual(config.resilience.requestTimeoutS, 12.5)
      assert.strictEqual(config.resilience.waitOnRateLimit, false)
      assert.strictEqual(config.budget.dailySpendLimit, 2)
      assert.deepStrictEqual(config.budget.alertThresholds, [0.5, 0.9])
      assert.deepStrictEqual(config.models.flash?.pricing, { inputPer1m: 0.3, outputPer1m: 2.5 })
      assert.strictEqual(config.models.flash?.limits?.rpm, 60)
    }))

  it.effect("text that is not a number stays text and is refused naming the key; strings stay strings", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(loadObject({ ...minimal, resilience: { max_retries: "${RETRIES}" } }, {
        RETRIES: "three"
      }))
      assert.strictEqual(error.message, "resilience.max_retries: expected a non-negative integer, got \"three\"")
      // a model id (a string setting) that looks like a number is kept as written
      const { config } = yield* loadObject({
        ...minimal,
        models: { flash: { provider: "google", model_id: "${MODEL}" } }
      }, { MODEL: "42" })
      assert.strictEqual(config.models.flash?.modelId, "42")
    }))
})
