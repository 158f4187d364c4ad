/**
 * The command line's pieces that need no child process: the streamed-text scrubber (a secret split
 * across deltas never gets out) and `--log-level` taken out of the arguments wherever it stands.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as LogLevel from "effect/LogLevel"
import { takeLogLevel } from "../../src/cli/Arguments.js"
import * as Output from "../../src/cli/Output.js"

describe("Output.streamScrubber", () => {
  const secret = "sk-SECRET-0123456789"
  const text = `key ${secret}, again ${encodeURIComponent(`${secret}/x`)} and ${secret}.`

  it("removes a secret however the text is split into deltas, and holds back only a possible secret's start", () => {
    const output = Output.make()
    output.addSecrets([secret])
    for (let size = 1; size <= text.length; size++) {
      const scrubber = output.streamScrubber()
      let printed = ""
      for (let i = 0; i < text.length; i += size) printed += scrubber.push(text.slice(i, i + size))
      printed += scrubber.flush()
      assert.strictEqual(printed, "key <redacted>, again <redacted>%2Fx and <redacted>.", `deltas of ${size}`)
    }
    const scrubber = output.streamScrubber()
    assert.strictEqual(scrubber.push("plain text "), "plain text ")
    assert.strictEqual(scrubber.push("then sk-SEC"), "then ")
    assert.strictEqual(scrubber.push("ond"), "sk-SECond")
  })

  it("keeps a character split across two deltas (a surrogate pair's halves) whole, so it prints as itself", () => {
    const withSecret = Output.make()
    withSecret.addSecrets([secret])
    for (const output of [Output.make(), withSecret]) {
      const scrubber = output.streamScrubber()
      const printed = [scrubber.push("a\ud83d"), scrubber.push("\ude00b"), scrubber.flush()]
      assert.deepStrictEqual(printed, ["a", "\ud83d\ude00b", ""])
      assert.isTrue(printed.every((piece) => Buffer.from(piece, "utf8").toString("utf8") === piece))
      // a half never completed is printed at the end, as it came
      assert.deepStrictEqual([scrubber.push("x\ud83d"), scrubber.flush()], ["x", "\ud83d"])
    }
  })

  it("passes text through untouched while no secret is known", () => {
    const scrubber = Output.make().streamScrubber()
    assert.strictEqual(scrubber.push("sk-"), "sk-")
    assert.strictEqual(scrubber.flush(), "")
  })
})

describe("takeLogLevel", () => {
  const take = (args: ReadonlyArray<string>) => Effect.runSyncExit(takeLogLevel(args))

  it("takes --log-level <level> or --log-level=<level> from anywhere before `--`; the last wins", () => {
    assert.deepStrictEqual(
      take(["--log-level", "debug", "generate", "-c", "x.yaml", "hi", "--log-level=Error"]),
      Exit.succeed({ args: ["generate", "-c", "x.yaml", "hi"], level: LogLevel.Error })
    )
    assert.deepStrictEqual(
      take(["generate", "--", "--log-level", "debug"]),
      Exit.succeed({ args: ["generate", "--", "--log-level", "debug"], level: undefined })
    )
  })

  it("fails on a missing or unknown level (exit 2)", () => {
    for (const args of [["generate", "--log-level"], ["--log-level=", "generate"], ["--log-level", "loud"]]) {
      const exit = take(args)
      assert.isTrue(Exit.isFailure(exit))
      if (Exit.isFailure(exit)) {
        const error = exit.cause._tag === "Fail" ? exit.cause.error : undefined
        assert.strictEqual(error?.exitCode, 2)
      }
    }
  })
})
