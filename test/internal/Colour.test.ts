/** Colour in the CLI's help and the demo's tour: only on a terminal, and an empty NO_COLOR is as if unset (no-color.org). */
import { assert, describe, it } from "@effect/vitest"
import { colourWanted } from "../../src/internal/Colour.js"

describe("colourWanted", () => {
  it("a terminal is coloured unless NO_COLOR is set to something; a pipe never", () => {
    assert.isTrue(colourWanted(true, {}))
    assert.isTrue(colourWanted(true, { NO_COLOR: "" }))
    assert.isFalse(colourWanted(true, { NO_COLOR: "1" }))
    assert.isFalse(colourWanted(false, {}))
    assert.isFalse(colourWanted(undefined, { NO_COLOR: "" }))
  })
})
