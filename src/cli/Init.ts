/**
 * `effect-llm init`: writes the package's commented `config.yaml` template to `--config` (default
 * `./config.yaml`), never over an existing file without `--force`.
 */
import * as Command from "@effect/cli/Command"
import type * as HelpDoc from "@effect/cli/HelpDoc"
import * as Options from "@effect/cli/Options"
import * as FileSystem from "@effect/platform/FileSystem"
import * as Path from "@effect/platform/Path"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { makeDirectories } from "../internal/Directories.js"
import { lookupEnv } from "../services/config/Interpolate.js"
import { CliError, ExitCode, notWritable, systemReason, usage } from "./Exit.js"
import { printError } from "./Output.js"

/** The commented template: the package's own `config.yaml` (shipped in `files`). */
const templateUrl = new URL("../../config.yaml", import.meta.url)

/** The `init` command over the shared `--config` option. */
export const makeCommand = (shared: {
  readonly config: Options.Options<Option.Option<string>>
  readonly describe: (summary: string, examples: ReadonlyArray<string>) => HelpDoc.HelpDoc
}) =>
  Command.make("init", {
    force: Options.boolean("force").pipe(Options.withDescription("Overwrite an existing file.")),
    config: shared.config
  }, (options) =>
    Effect.gen(function*() {
      const fs = yield* FileSystem.FileSystem
      const path = yield* Path.Path
      // where every other command reads it from: --config, else $EFFECT_LLM_CONFIG, else ./config.yaml
      const target = path.resolve(
        Option.getOrElse(options.config, () => lookupEnv(process.env, "EFFECT_LLM_CONFIG") ?? "config.yaml")
      )
      // What is at the path decides first: a directory (or anything else not a file) is never written
      // over, with or without --force; a path under a file, or one we may not write, is a usage error.
      const found = yield* fs.stat(target).pipe(
        Effect.map((info) => ({ type: info.type, mode: info.mode & 0o777 })),
        Effect.catchTag(
          "SystemError",
          (error) =>
            error.reason === "NotFound" ? Effect.succeed(undefined) : Effect.fail(notWritable(target, error.reason))
        )
      )
      if (found !== undefined && found.type !== "File") {
        return yield* usage(
          "NotAFile",
          `${target}: not a file (${found.type}); name the file to write, e.g. ${path.join(target, "config.yaml")}`
        )
      }
      if (!options.force && found !== undefined) {
        return yield* new CliError({
          kind: "FileExists",
          message: `${target} already exists; pass --force to overwrite it`,
          exitCode: ExitCode.usage
        })
      }
      const template = yield* fs.readFileString(yield* path.fromFileUrl(templateUrl))
      // Written beside the target, then renamed over it: a disk that fills midway leaves no cut file
      // (nor a cut-over one with --force: the old file stays whole). A file that exists is replaced
      // where it really is (a symlinked config, into a dotfiles repository, stays a link) with its mode.
      const file = found === undefined ? target : yield* fs.realPath(target).pipe(
        Effect.catchTag("SystemError", (error) => Effect.fail(notWritable(target, systemReason(error))))
      )
      const partial = `${file}.${process.pid}.partial`
      yield* makeDirectories(path.dirname(file)).pipe(
        Effect.zipRight(fs.writeFileString(partial, template)),
        Effect.zipRight(found === undefined ? Effect.void : fs.chmod(partial, found.mode)),
        Effect.zipRight(fs.rename(partial, file)),
        Effect.tapError(() => Effect.ignore(fs.remove(partial))),
        Effect.catchTag("SystemError", (error) => Effect.fail(notWritable(target, systemReason(error))))
      )
      // a note, not output (stdout carries only an answer, a table or JSON)
      yield* printError(
        `wrote ${target}\nnext: set the keys of the providers you use (GEMINI_API_KEY, DASHSCOPE_API_KEY, OPENAI_API_KEY, DEEPSEEK_API_KEY, ANTHROPIC_API_KEY), then run \`effect-llm doctor\` (it wants the key of every provider a model uses: remove the models you do not use)`
      )
    }).pipe(
      Effect.catchTags({
        SystemError: (error) =>
          new CliError({ kind: "SystemError", message: error.message, exitCode: ExitCode.runtime }),
        BadArgument: (error) =>
          new CliError({ kind: "BadArgument", message: error.message, exitCode: ExitCode.runtime })
      })
    )).pipe(
      Command.withDescription(
        shared.describe("Write a commented config.yaml template (never overwrites without --force).", [
          "effect-llm init",
          "effect-llm init --config ~/.config/effect-llm/config.yaml",
          "effect-llm init --force"
        ])
      )
    )
