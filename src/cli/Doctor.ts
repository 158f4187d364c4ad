/**
 * `effect-llm doctor`: checks a setup without spending anything. Loads and validates the config,
 * lists models and their endpoints after region filtering, shows which keys are present (redacted),
 * probes every endpoint (TCP connect, then one plain HTTP request to the base URL: any status means
 * reachable, no generation call), shows the resilience settings and opens the ledger. Everything it
 * prints passes the run's `Output`, told the config's secrets first (a password in a `base_url`).
 */
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as HttpClient from "@effect/platform/HttpClient"
import * as Console from "effect/Console"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as net from "node:net"
import type { EndpointConfig, LedgerConfig, RateLimits } from "../domain/Config.js"
import type { ConfigError } from "../domain/Errors.js"
import { ledgerFromConfig, nodeFileSystem } from "../layers/Live.js"
import { lookupEnv } from "../services/config/Interpolate.js"
import { Ledger } from "../services/Ledger.js"
import * as LLMConfig from "../services/LLMConfig.js"
import { CliError, ExitCode } from "./Exit.js"
import { keyValues, ms, redactKey, spendLine, table } from "./Format.js"
import { CliOutput } from "./Output.js"

/** A model's rate limits as doctor lists them. */
const rateLimitsText = (limits: RateLimits | undefined): string => {
  const set = (["rpm", "tpm", "rpd"] as const).filter((key) => limits?.[key] !== undefined)
  return set.length === 0 ? "no rate limits" : `limits: ${set.map((key) => `${key} ${limits![key]}`).join(", ")}`
}

/** Per-probe timeout of the reachability checks. */
const probeTimeoutMs = 3_000

const ok = (text: string) => `✓ ${text}`
const bad = (text: string) => `✗ ${text}`
/** What a provider entry no model uses lacks: shown, not a problem. */
const unused = (text: string) => `- ${text}`

/** Opens (and closes) a TCP connection; fails with the socket error code, or after the probe timeout. */
const tcpConnect = (host: string, port: number): Effect.Effect<void, string> =>
  Effect.async<void, string>((resume) => {
    const socket = net.connect({ host, port })
    socket.once("connect", () => {
      socket.destroy()
      resume(Effect.void)
    })
    socket.once("error", (error: NodeJS.ErrnoException) => resume(Effect.fail(error.code ?? error.message)))
    return Effect.sync(() => socket.destroy())
  }).pipe(Effect.timeoutFail({ duration: probeTimeoutMs, onTimeout: () => `timed out after ${probeTimeoutMs} ms` }))

/** TCP connect, then `GET <base_url>` without a key: any HTTP status counts as reachable. */
const probe = (endpoint: EndpointConfig): Effect.Effect<string, string, HttpClient.HttpClient> =>
  Effect.gen(function*() {
    const url = yield* Effect.try({ try: () => new URL(endpoint.baseUrl), catch: () => "not a valid URL" })
    const port = Number(url.port || (url.protocol === "https:" ? 443 : 80))
    const [tcpTime] = yield* Effect.timed(tcpConnect(url.hostname.replace(/^\[|\]$/g, ""), port)).pipe(
      Effect.mapError((error) => `tcp ${url.host}: ${error}`)
    )
    const [httpTime, status] = yield* HttpClient.get(url).pipe(
      Effect.map((response) => response.status),
      Effect.timeoutFail({ duration: probeTimeoutMs, onTimeout: () => `timed out after ${probeTimeoutMs} ms` }),
      Effect.mapError((error) => `http: ${typeof error === "string" ? error : error.message.split("\n")[0]}`),
      Effect.timed
    )
    return `tcp ${ms(Duration.toMillis(tcpTime))} · http ${status} in ${ms(Duration.toMillis(httpTime))}`
  })

/** The ledger backend for display; a PostgreSQL URL loses its credentials. */
const describeLedger = (ledger: LedgerConfig): string => {
  switch (ledger.backend) {
    case "sqlite":
      return `sqlite ${ledger.path}`
    case "memory":
      return "memory (forgets on exit)"
    case "postgres": {
      if (ledger.url === undefined) return "postgres"
      try {
        const url = new URL(Redacted.value(ledger.url))
        return `postgres ${url.protocol}//${url.host}${url.pathname}`
      } catch {
        return "postgres (unparsable URL)"
      }
    }
  }
}

const seconds = (value: number) => `${value} s`

const indent = (text: string) => text.replace(/^/gm, "  ")

/** Runs every check, printing as it goes; fails with the `ConfigError` (exit 2), or `DoctorFailed` (exit 1). */
export const doctor = (configPath: string | undefined): Effect.Effect<void, CliError | ConfigError, CliOutput> =>
  Effect.gen(function*() {
    const problems: Array<string> = []
    // the loader's rule: a blank variable is unset
    const source = configPath ?? lookupEnv(process.env, "EFFECT_LLM_CONFIG") ?? "config.yaml"

    yield* Console.log("config")
    const loaded = yield* Effect.either(
      LLMConfig.LLMConfig.pipe(
        Effect.provide(LLMConfig.layer(configPath === undefined ? {} : { configPath })),
        Effect.provide(nodeFileSystem)
      )
    )
    if (Either.isLeft(loaded)) {
      const { path, reason } = loaded.left
      yield* Console.log(`  ${bad(`${source}: ${reason}${path === "" ? "" : ` at ${path}`}`)}`)
      return yield* loaded.left
    }
    const service = loaded.right
    const { config } = service
    const output = yield* CliOutput
    output.addSecrets(service.secrets)
    yield* Console.log(`  ${ok(`${source} loaded and valid (default model ${config.defaultModel})`)}`)

    yield* Console.log(
      "\nmodels → endpoints" + (config.allowedRegions ? ` (allowed regions: ${config.allowedRegions.join(", ")})` : "")
    )
    const endpointsOf = (alias: string) => {
      const model = config.models[alias]
      return model === undefined ? [] : config.providers[model.provider]?.endpoints ?? []
    }
    yield* Console.log(keyValues(
      Object.values(config.models).map((model) => {
        // no endpoint of its own or of a fallback in the allowed regions: every call to it fails
        const stranded = endpointsOf(model.alias).length === 0 &&
          model.fallbacks.every((alias) => endpointsOf(alias).length === 0)
        if (stranded) problems.push(`model ${model.alias}`)
        return [
          model.alias,
          `${model.provider} ${model.modelId} → ` +
          (endpointsOf(model.alias).map((e) => `${e.name}${e.region ? ` (${e.region})` : ""}`)
            .join(", ") || "(none in the allowed regions)") +
          (model.fallbacks.length > 0 ? ` · fallbacks: ${model.fallbacks.join(", ")}` : "") +
          (model.pricing === undefined ? " · no pricing (costs counted as $0)" : "") +
          ` · ${rateLimitsText(model.limits)}` +
          (stranded ? ` ${bad("no endpoint left for it or its fallbacks: every call to it fails")}` : "")
        ] as const
      })
    ))

    // A provider entry no model uses is shown with `-` and what it lacks, never counted as a problem.
    const used = new Set(Object.values(config.models).map((model) => model.provider))
    const providers = Object.keys(config.providers)

    yield* Console.log("\nkeys")
    const keyLines = yield* Effect.forEach(
      providers,
      (name) =>
        Effect.map(Effect.either(service.credentials(name)), (key): readonly [string, string] => {
          if (Either.isRight(key)) {
            const apiKey = key.right.apiKey
            return [
              name,
              ok(
                apiKey === undefined
                  ? "none needed (no key configured)"
                  : `present ${redactKey(Redacted.value(apiKey))}`
              )
            ]
          }
          if (used.has(name)) problems.push(`${name} key`)
          return [name, (used.has(name) ? bad : unused)(`missing: ${key.left.message}`)]
        })
    )
    yield* Console.log(keyValues(keyLines))

    yield* Console.log("\nendpoints")
    const endpoints = providers.flatMap((provider) =>
      config.providers[provider]!.endpoints.map((endpoint) => ({ provider, endpoint }))
    )
    const probes = yield* Effect.forEach(
      endpoints,
      ({ endpoint, provider }) =>
        Effect.map(Effect.either(probe(endpoint)), (result) => {
          if (Either.isRight(result)) return [endpoint.name, ok("reachable"), endpoint.baseUrl, result.right]
          if (!used.has(provider)) {
            return [
              endpoint.name,
              unused("unreachable"),
              endpoint.baseUrl,
              `${result.left} · no model uses ${provider}`
            ]
          }
          problems.push(`endpoint ${endpoint.name}`)
          return [endpoint.name, bad("unreachable"), endpoint.baseUrl, result.left]
        }),
      { concurrency: "unbounded" }
    ).pipe(Effect.provide(NodeHttpClient.layerUndici))
    // Scrubbed before the columns are measured: a `<redacted>` password or query value must neither
    // shift the columns after it nor leave padding that tells the secret's length.
    const rows = probes.map((row) => row.map(output.scrub))
    yield* Console.log(indent(table(["name", "status", "base url", "detail"], rows)))

    const { resilience, budget } = config
    yield* Console.log("\nresilience")
    yield* Console.log(keyValues([
      [
        "retries",
        `${resilience.maxRetries} (backoff ${seconds(resilience.baseDelayS)} doubling to ${
          seconds(resilience.maxDelayS)
        }, budget ${seconds(resilience.retryBudgetS)})`
      ],
      [
        "rate limits",
        resilience.waitOnRateLimit ? `waited out up to ${seconds(resilience.maxWaitTimeoutS)}` : "returned at once"
      ],
      [
        "timeouts",
        `request ${seconds(resilience.requestTimeoutS)}, stream idle ${seconds(resilience.streamIdleTimeoutS)}`
      ],
      [
        "breaker",
        `opens after ${resilience.circuitBreaker.failureThreshold} consecutive failures, probes after ${
          seconds(resilience.circuitBreaker.recoveryTimeoutS)
        }`
      ]
    ]))

    yield* Console.log("\nledger")
    const ledger = yield* Effect.either(
      Effect.flatMap(Ledger, (ledger) => ledger.spendToday()).pipe(
        Effect.provide(ledgerFromConfig.pipe(Layer.provide(Layer.succeed(LLMConfig.LLMConfig, service))))
      )
    )
    if (Either.isLeft(ledger)) problems.push("ledger")
    yield* Console.log(keyValues([
      [
        "backend",
        `${describeLedger(config.ledger)}  ${
          Either.isRight(ledger) ? ok("opens") : bad(`LedgerError: ${ledger.left.message}`)
        }`
      ],
      ["today", Either.isRight(ledger) ? spendLine(ledger.right, budget.dailySpendLimit) : "-"]
    ]))

    yield* Console.log("")
    if (problems.length > 0) {
      return yield* new CliError({
        kind: "DoctorFailed",
        message: `${problems.length} problem(s): ${problems.join(", ")}`,
        exitCode: ExitCode.runtime
      })
    }
    yield* Console.log(ok("all checks passed"))
  })
