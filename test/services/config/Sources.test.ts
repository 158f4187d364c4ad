import { assert, describe, it } from "@effect/vitest"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Effect from "effect/Effect"
import { readEnvironment } from "../../../src/services/config/Sources.js"

describe("Sources.readEnvironment", () => {
  it.effect("reads each variable whole from the ConfigProvider; an empty or unset one is absent", () =>
    Effect.gen(function*() {
      const env = yield* readEnvironment(["LIST", "EMPTY", "UNSET", "LIST"]).pipe(
        Effect.withConfigProvider(ConfigProvider.fromMap(new Map([["LIST", "a,b, c"], ["EMPTY", ""]])))
      )
      assert.deepStrictEqual(env, { LIST: "a,b, c" })
    }))
})
