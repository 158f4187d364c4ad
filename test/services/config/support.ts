/**
 * Helpers for configuration tests: loads with a given protocol table, the environment from a map
 * (a `ConfigProvider`, never `process.env`) and Node's file system; scratch files.
 */
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import * as NodePath from "@effect/platform-node/NodePath"
import type * as FileSystem from "@effect/platform/FileSystem"
import type * as Path from "@effect/platform/Path"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as fs from "node:fs"
import * as os from "node:os"
import * as nodePath from "node:path"
import type { ConfigError } from "../../../src/domain/Errors.js"
import * as Load from "../../../src/services/config/Load.js"
import type { ProtocolTable } from "../../../src/services/config/Providers.js"
import type { Resolved } from "../../../src/services/config/Resolve.js"
import type { LoadOptions } from "../../../src/services/config/Sources.js"
import { withOpenAI } from "./protocols.js"

/** Runs `effect` with `env` as the whole environment and Node's file system. */
export const withEnv =
  (env: Readonly<Record<string, string>> = {}) =>
  <A, E>(effect: Effect.Effect<A, E, FileSystem.FileSystem | Path.Path>): Effect.Effect<A, E> =>
    effect.pipe(
      Effect.withConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(env)))),
      Effect.provide(Layer.mergeAll(NodeFileSystem.layer, NodePath.layer))
    )

/** A configuration object alone, resolved against `protocols` (default: gemini, dashscope, openai). */
export const loadObject = (
  config: unknown,
  env: Readonly<Record<string, string>> = {},
  protocols: ProtocolTable = withOpenAI
): Effect.Effect<Resolved, ConfigError> => Load.loadObject(config, protocols).pipe(withEnv(env))

/** A full load (files too) resolved against `protocols`; no user file unless `userConfig` names one. */
export const loadFiles = (
  options: LoadOptions,
  env: Readonly<Record<string, string>> = {},
  protocols: ProtocolTable = withOpenAI
) => Load.load({ cwd: scratchDir(), userConfig: false, ...options }, protocols).pipe(withEnv(env))

const root = fs.mkdtempSync(nodePath.join(os.tmpdir(), "effect-llm-config-"))
process.on("exit", () => fs.rmSync(root, { recursive: true, force: true }))
let counter = 0

/** A fresh empty directory. */
export const scratchDir = (): string => {
  const dir = nodePath.join(root, `case-${counter++}`)
  fs.mkdirSync(dir, { recursive: true })
  return dir
}

/** Writes `text` to `name` in a fresh directory. */
export const scratchFile = (name: string, text: string) => {
  const dir = scratchDir()
  const file = nodePath.join(dir, name)
  fs.mkdirSync(nodePath.dirname(file), { recursive: true })
  fs.writeFileSync(file, text)
  return { dir, file }
}
