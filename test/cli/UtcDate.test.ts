/** `--since`/`--until` dates: ISO 8601, UTC unless they name a zone, whatever the machine's TZ. */
import { afterEach, assert, describe, it } from "@effect/vitest"
import { parseUtcDate } from "../../src/cli/UtcDate.js"

const savedTz = process.env.TZ

describe("parseUtcDate", () => {
  afterEach(() => {
    if (savedTz === undefined) delete process.env.TZ
    else process.env.TZ = savedTz
  })

  it("reads a date-time without a zone as UTC under a non-UTC TZ", () => {
    process.env.TZ = "America/New_York"
    assert.strictEqual(parseUtcDate("2025-01-31T10:00")?.toISOString(), "2025-01-31T10:00:00.000Z")
    assert.strictEqual(parseUtcDate("2025-01-31 10:00:30")?.toISOString(), "2025-01-31T10:00:30.000Z")
    assert.strictEqual(parseUtcDate("2025-01-31")?.toISOString(), "2025-01-31T00:00:00.000Z")
  })

  it("keeps a zone the text names", () => {
    process.env.TZ = "Asia/Tokyo"
    assert.strictEqual(parseUtcDate("2025-01-31T10:00+02:00")?.toISOString(), "2025-01-31T08:00:00.000Z")
    assert.strictEqual(parseUtcDate("2025-01-31T10:00:00.5z")?.toISOString(), "2025-01-31T10:00:00.500Z")
  })

  it("rounds digits finer than a millisecond up (ledger timestamps are whole ms)", () => {
    assert.strictEqual(parseUtcDate("2025-01-31T23:59:59.9999")?.toISOString(), "2025-02-01T00:00:00.000Z")
    assert.strictEqual(parseUtcDate("2025-01-31T10:00:00.1230001Z")?.toISOString(), "2025-01-31T10:00:00.124Z")
    assert.strictEqual(parseUtcDate("2025-01-31T10:00:00.123000")?.toISOString(), "2025-01-31T10:00:00.123Z")
  })

  it("refuses what is not an ISO 8601 date", () => {
    for (const text of ["yesterday", "31/01/2025", "2025-13-01", "2025-01-31T25:00", ""]) {
      assert.isUndefined(parseUtcDate(text), text)
    }
  })

  it("refuses a day the month does not have, instead of rolling it over to the next month", () => {
    for (const text of ["2025-02-30", "2025-02-29", "2026-11-31", "2025-04-31T10:00", "2025-06-31T00:00Z", "2025-00"]) {
      assert.isUndefined(parseUtcDate(text), text)
    }
    assert.strictEqual(parseUtcDate("2024-02-29")?.toISOString(), "2024-02-29T00:00:00.000Z")
    assert.strictEqual(parseUtcDate("2026-11-30T23:59")?.toISOString(), "2026-11-30T23:59:00.000Z")
    assert.strictEqual(parseUtcDate("2026-12")?.toISOString(), "2026-12-01T00:00:00.000Z")
  })
})
