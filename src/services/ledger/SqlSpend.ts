/**
 * The SQL ledgers' spend: `SpendFold` over `ledger_events`, fed incrementally by the rows added
 * since the last read.
 */
import type * as SqlClient from "@effect/sql/SqlClient"
import * as Effect from "effect/Effect"
import type { LedgerEvent } from "../../domain/LedgerEvent.js"
import { SpendFold, spendRow, windowStart } from "./Spend.js"
import { parseTags, present, type Row } from "./SqlRows.js"

/**
 * `SpendFold`, fed incrementally. Every insert happens under the ledger's write lock (SQLite's single
 * writer; on PostgreSQL an advisory lock that settlements take too), so rows become visible in `seq`
 * order and reading `seq > last` misses none: a hold reads the few rows added since the previous read
 * instead of summing its windows, which keeps it O(1) as the ledger grows (and no query plan can turn
 * quadratic).
 */
export const makeSpend = (
  sql: SqlClient.SqlClient,
  holdTtlS: number,
  budgetedTags: ReadonlySet<string> | undefined
) => {
  const fold = new SpendFold(holdTtlS, budgetedTags)
  const ttlMs = holdTtlS * 1000
  let lastSeq = 0
  const add = (rows: ReadonlyArray<Row>) => {
    for (const row of rows) {
      const seq = Number(row.seq)
      if (seq <= lastSeq) continue // a concurrent read already folded it
      lastSeq = seq
      fold.add({
        type: row.type as "hold" | "raise" | "commit" | "cancel",
        holdId: String(row.hold_id),
        cost: Number(row.cost),
        timestamp: Number(row.timestamp),
        alias: present(row.alias) ? String(row.alias) : undefined,
        tags: parseTags(row.tags)
      })
    }
  }
  /**
   * Folds a row this process just wrote as `seq`, when it directly follows the last row read: then
   * the fold still holds every row up to `seq`. Else a later catch-up reads it with the rows before it.
   */
  const own = (event: LedgerEvent, seq: number) => {
    if (seq !== lastSeq + 1) return
    lastSeq = seq
    fold.add(spendRow(event))
  }
  /** Folds the rows added since the last read (on the reserved connection inside a transaction). */
  const catchUp = Effect.suspend(() =>
    Effect.map(
      sql<
        Row
      >`SELECT seq, type, hold_id, cost, timestamp, alias, tags FROM ledger_events WHERE seq > ${lastSeq} ORDER BY seq`,
      add
    )
  )
  let loaded = false
  /**
   * Starts the fold at `now` from one snapshot: the settlements of the current week and month summed
   * per alias, tags and day up to twice the hold TTL ago, then every row since (holds, their raises
   * and settlements). A hold or a raise (which restarts its hold's age) counts for one TTL from its
   * own time, so twice the TTL reaches every row that can still count, with room for clock skew.
   * Folded only once every read is in, and once: run again after a lost connection, it adds nothing
   * twice.
   */
  const load = (now: number) =>
    Effect.gen(function*() {
      if (loaded) return
      const [last] = yield* sql<
        { last: number | string | null }
      >`SELECT COALESCE(MAX(seq), 0) AS last FROM ledger_events`
      const windowsFrom = Math.min(windowStart("weekly", now), windowStart("monthly", now))
      const rowsFrom = now - 2 * ttlMs
      const days = windowsFrom < rowsFrom
        ? yield* sql<
          Row
        >`SELECT alias, tags, timestamp / 86400000 AS day, SUM(cost) AS cost FROM ledger_events
WHERE type IN ('commit', 'cancel') AND timestamp >= ${windowsFrom} AND timestamp < ${rowsFrom}
GROUP BY alias, tags, timestamp / 86400000`
        : []
      const rows = yield* sql<Row>`SELECT seq, type, hold_id, cost, timestamp, alias, tags FROM ledger_events
WHERE timestamp >= ${rowsFrom} ORDER BY seq`
      for (const day of days) {
        fold.add({
          type: "commit",
          holdId: "",
          cost: Number(day.cost),
          timestamp: Number(day.day) * 86_400_000,
          alias: present(day.alias) ? String(day.alias) : undefined,
          tags: parseTags(day.tags)
        })
      }
      add(rows)
      lastSeq = Math.max(lastSeq, Number(last?.last ?? 0))
      loaded = true
    })
  return { fold, catchUp, load, own, last: () => lastSeq }
}
