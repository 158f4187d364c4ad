/** The command line's money and spend bar: what a user reads against a limit must not overstate it. */
import { assert, describe, it } from "@effect/vitest"
import { bar, displayWidth, spendLine, table, usd } from "../../src/cli/Format.js"

describe("Format", () => {
  it("usd: whole cents with two decimals, sub-cent with six, anything else as many as it takes up to six", () => {
    assert.deepStrictEqual(
      [0, 0.1, 5, 0.105, 0.0995, 1.234567, 0.0049, 1 / 3, 2.0000004, 2.1000004, 2.0000006, 0.0099999996, 4e-7, 6e-7]
        .map(usd),
      [
        "$0.00",
        "$0.10",
        "$5.00",
        "$0.105",
        "$0.0995",
        "$1.234567",
        "$0.004900",
        "$0.333333",
        "$2.00",
        "$2.10",
        "$2.000001",
        "$0.01",
        "<$0.000001",
        "$0.000001"
      ]
    )
  })

  it("the spend bar and its percent reach full and 100% only at the limit", () => {
    assert.strictEqual(bar(0.999), `[${"#".repeat(19)}.]`)
    assert.strictEqual(bar(1), `[${"#".repeat(20)}]`)
    assert.strictEqual(spendLine(0.0995, 0.1), `[${"#".repeat(19)}.] $0.0995 / $0.10 (99%)`)
    assert.strictEqual(spendLine(0.1, 0.1), `[${"#".repeat(20)}] $0.10 / $0.10 (100%)`)
    assert.strictEqual(spendLine(0.25, 1), `[#####...............] $0.25 / $1.00 (25%)`)
  })
})

describe("Format.table", () => {
  it("scrubs each cell before the layout: a cell that becomes <redacted> keeps its row aligned", () => {
    const scrub = (text: string) => text.replaceAll("sk-live-0123456789abcdef", "<redacted>")
    const lines = table(["tag:user", "cost"], [["alice", "$0.01"], ["sk-live-0123456789abcdef", "$0.02"]], scrub).split(
      "\n"
    )
    assert.deepStrictEqual(lines, ["tag:user    cost", "alice       $0.01", "<redacted>  $0.02"])
  })

  it("aligns by the columns a terminal draws: CJK and Hangul two each, combining marks none; a line break in a cell is shown escaped", () => {
    const text = table(["tag:user", "calls"], [
      ["alice", "1"],
      ["ユーザー", "12"],
      ["김철수", "3"],
      ["e\u0301clair", "4"],
      ["two\nlines", "5"]
    ])
    const lines = text.split("\n")
    assert.lengthOf(lines, 6)
    assert.strictEqual(lines[5], "two\\nlines      5")
    // every row's last column ends in the same terminal column
    assert.deepStrictEqual(lines.map(displayWidth), lines.map(() => displayWidth(lines[0]!)))
    assert.deepStrictEqual(["ユーザー", "김철수", "e\u0301clair", "abc", "👍"].map(displayWidth), [8, 6, 6, 3, 2])
  })
})
