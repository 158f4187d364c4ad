/**
 * The rate limiter of the durable ledger (API.md §11): `rate_events` rows folded into `RateWindows`.
 * Every row is inserted under the limiter's lock (SQLite's single writer; a PostgreSQL advisory lock
 * of its own, so admissions never wait for holds), so rows become visible in `seq` order and each
 * process reads only the rows added since its last read — an admission costs one short transaction
 * (lock, read the new rows, insert the slot) whatever the windows hold. Rows past `forgetAt` (one
 * retention after their `keep_until`, for a clock stepped back) are deleted under the same lock, at most
 * once a minute per process.
 */
import type * as SqlClient from "@effect/sql/SqlClient"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import { randomUUID } from "node:crypto"
import type { LedgerError } from "../../domain/Errors.js"
import type { Admission, AdmitRequest, LimitUse, Slot } from "../Ledger.js"
import { type Dialect, guard, inTransaction, reconnecting, toLedgerError, wholeMillis } from "./Sql.js"
import type { ReadQuery } from "./SqliteDriver.js"
import { dayMs, minuteMs, RateWindows, retention } from "./Windows.js"

/** The transaction text the limiter runs. */
export interface LimitStatements {
  /** Opens a transaction holding the limiter's lock (an admission's; the check follows). */
  readonly begin: ReadonlyArray<string>
  /** Run after such a transaction, however it ended. */
  readonly after: ReadonlyArray<string>
  /**
   * How a lone INSERT (a release, a pause) is written: `bare` (SQLite: an INSERT takes the write lock
   * itself), `transaction` (in `begin`/`after`: SQLite with `durability: full`, whose rows here need
   * no fsync), or `advisory` (PostgreSQL: one statement that takes the transaction-scoped advisory
   * lock `advisory` (its two keys) before its row gets a `seq`, so `seq` order stays commit order in one round trip).
   */
  readonly single: "bare" | "transaction" | { readonly advisory: readonly [number, number] }
}

type Row = Record<string, unknown>

/** The rows past a `seq` (its one parameter), in `seq` order. */
export const newRowsQuery =
  "SELECT seq, type, slot_id, alias, endpoint, tokens, timestamp, keep_until FROM rate_events WHERE seq > ? ORDER BY seq"

/** The ms a pause ending at `until` still runs at `now`. */
const remaining = (until: number | undefined, now: number): number | undefined =>
  until === undefined ? undefined : until - now

const untraced = <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.withTracerEnabled(effect, false)

/** The limiter over a migrated database; starts its windows from one snapshot. */
export const make = (
  sql: SqlClient.SqlClient,
  dialect: Dialect,
  statements: LimitStatements,
  beginSnapshot: ReadonlyArray<string>,
  /** `newRowsQuery` prepared on a connection of its own (SQLite's file): reads without the client. */
  readNewRows?: ReadQuery
) =>
  Effect.gen(function*() {
    const windows = new RateWindows()
    let lastSeq = 0
    let lastPrune = 0

    const apply = (rows: ReadonlyArray<Row>, now: number) => {
      for (const row of rows) {
        const seq = Number(row.seq)
        if (seq <= lastSeq) continue // a concurrent read already folded it
        lastSeq = seq
        const alias = String(row.alias)
        const endpoint = String(row.endpoint)
        switch (row.type) {
          case "slot":
            windows.add({
              id: String(row.slot_id),
              alias,
              endpoint,
              timestamp: Number(row.timestamp),
              tokens: Number(row.tokens),
              keepUntil: Number(row.keep_until)
            })
            break
          case "settle":
            windows.correct(String(row.slot_id), Number(row.tokens))
            break
          case "pause":
            windows.pause(alias, endpoint, Number(row.timestamp), now)
            break
        }
      }
    }
    const columns = sql`seq, type, slot_id, alias, endpoint, tokens, timestamp, keep_until`
    const catchUp = Effect.flatMap(Clock.currentTimeMillis, (now) =>
      Effect.map(
        sql<Row>`SELECT ${columns} FROM rate_events WHERE seq > ${lastSeq} ORDER BY seq`,
        (rows) => apply(rows, now)
      ))
    const insert = (row: {
      readonly type: "slot" | "settle" | "pause"
      readonly slot_id: string
      readonly alias: string
      readonly endpoint: string
      readonly tokens: number
      readonly timestamp: number
      readonly keep_until: number
    }) => sql`INSERT INTO rate_events ${sql.insert(row)}`
    /** A single insert, under the lock where the dialect needs it for `seq` order. */
    const insertOne = (row: Parameters<typeof insert>[0]) => {
      const single = statements.single
      if (single === "bare") return insert(row)
      if (single === "transaction") return inTransaction(sql, statements.begin, insert(row), statements.after)
      return sql`WITH locked AS (SELECT pg_advisory_xact_lock(${single.advisory[0]}::int, ${single.advisory[1]}::int))
INSERT INTO rate_events (type, slot_id, alias, endpoint, tokens, timestamp, keep_until)
SELECT ${row.type}::text, ${row.slot_id}::text, ${row.alias}::text, ${row.endpoint}::text, ${row.tokens}::bigint,
  ${row.timestamp}::bigint, ${row.keep_until}::bigint FROM locked`
    }

    // the windows as they stand: every row some window may still count
    const startedAt = yield* wholeMillis
    yield* inTransaction(
      sql,
      beginSnapshot,
      Effect.gen(function*() {
        const [last] = yield* sql<
          { last: number | string | null }
        >`SELECT COALESCE(MAX(seq), 0) AS last FROM rate_events`
        apply(
          yield* sql<Row>`SELECT ${columns} FROM rate_events WHERE keep_until > ${startedAt - dayMs} ORDER BY seq`,
          startedAt
        )
        lastSeq = Math.max(lastSeq, Number(last?.last ?? 0))
      })
      // (safe to run again on a lost connection: a row already folded is skipped by its seq)
    ).pipe(reconnecting(dialect), guard(dialect, "read_failed", "reading the rate-limit windows"))

    const admit = (request: AdmitRequest): Effect.Effect<Admission, LedgerError> =>
      Effect.suspend(() => admitAs(request, randomUUID()))
    /**
     * Admits under slot `id`, drawn once per admission: run again after a lost connection, it finds its
     * own slot if the slot's COMMIT landed (the catch-up read it), and takes it.
     */
    const admitAs = (request: AdmitRequest, id: string): Effect.Effect<Admission, LedgerError> =>
      untraced(inTransaction(
        sql,
        statements.begin,
        Effect.gen(function*() {
          yield* catchUp
          const landed = windows.slot(id)
          if (landed !== undefined) return { _tag: "Admitted", slot: { ...landed } } as const
          // the time is read under the lock: a slot's timestamp is never older than the slots it was checked against
          const now = yield* wholeMillis
          if (now - lastPrune >= minuteMs) {
            lastPrune = now
            // the first condition lets the keep_until index find the rows (every slot's retention is >= 1 min).
            // The newest row stays: SQLite numbers a row after the largest `seq` there is, so emptying
            // the table would number the next rows from 1 again, below what the other processes have
            // read (they catch up from it) — they would miss each other's slots and pauses.
            const counted = now - minuteMs
            yield* sql`DELETE FROM rate_events WHERE keep_until <= ${counted} AND 2 * keep_until - timestamp <= ${now}
  AND seq < (SELECT MAX(seq) FROM rate_events)`
          }
          const refusal = windows.check(request.alias, request.endpoint, request.limits, request.tokens, now)
          if (refusal !== undefined) return { _tag: "Refused", refusal } as const
          const slot: Slot = {
            id,
            alias: request.alias,
            endpoint: request.endpoint,
            timestamp: now,
            tokens: request.tokens,
            keepUntil: now + retention(request.limits)
          }
          yield* insert({
            type: "slot",
            slot_id: slot.id,
            alias: slot.alias,
            endpoint: slot.endpoint,
            tokens: slot.tokens,
            timestamp: slot.timestamp,
            keep_until: slot.keepUntil
          })
          return { _tag: "Admitted", slot } as const
        }),
        statements.after
      )).pipe(
        // counted once committed (a transaction cut before its COMMIT left no slot); when a later
        // catch-up reads this row, `add` knows the id and skips it
        Effect.tap((admission) => {
          if (admission._tag === "Admitted") windows.add({ ...admission.slot })
        }),
        reconnecting(dialect),
        guard(dialect, "write_failed", `admitting an attempt of ${request.alias}`)
      )

    const release = (slot: Slot, used: number) => {
      const tokens = Math.ceil(used)
      return untraced(insertOne({
        type: "settle",
        slot_id: slot.id,
        alias: slot.alias,
        endpoint: slot.endpoint,
        tokens,
        timestamp: slot.timestamp,
        keep_until: slot.keepUntil
      })).pipe(
        reconnecting(dialect), // a slot's settlement states its tokens: a second row says the same
        Effect.tap(() => windows.correct(slot.id, tokens)),
        Effect.asVoid,
        guard(dialect, "write_failed", `releasing a slot of ${slot.alias}`)
      )
    }

    const pause = (alias: string, endpoint: string, at: number) => {
      const until = Math.ceil(at)
      return untraced(insertOne({
        type: "pause",
        slot_id: "",
        alias,
        endpoint,
        tokens: 0,
        timestamp: until,
        keep_until: until
      })).pipe(
        reconnecting(dialect),
        Effect.tap(() => Effect.map(Clock.currentTimeMillis, (now) => windows.pause(alias, endpoint, until, now))),
        Effect.asVoid,
        guard(dialect, "write_failed", `pausing ${endpoint} for ${alias}`)
      )
    }

    // Before each attempt of an alias without limits (it takes no slot): the pauses any process
    // learned. No lock: rows become visible in `seq` order, so reading those past `lastSeq` misses none.
    const readFailed = toLedgerError(dialect, "read_failed", "reading the rate-limit pauses")
    const throughClient = (alias: string, endpoint: string) =>
      Effect.mapBoth(Effect.zipRight(reconnecting(dialect)(untraced(catchUp)), Clock.currentTimeMillis), {
        onFailure: readFailed,
        onSuccess: (now) => remaining(windows.pausedUntil(alias, endpoint, now), now)
      })
    const pausedFor = (alias: string, endpoint: string): Effect.Effect<number | undefined, LedgerError> =>
      readNewRows === undefined ? throughClient(alias, endpoint) : Effect.clockWith((clock) => {
        const rows = readNewRows(lastSeq)
        if (rows === undefined) return throughClient(alias, endpoint)
        const now = clock.unsafeCurrentTimeMillis()
        apply(rows as ReadonlyArray<Row>, now)
        return Effect.succeed(remaining(windows.pausedUntil(alias, endpoint, now), now))
      })

    const limitUse = () =>
      Effect.flatMap(wholeMillis, (now) =>
        Effect.map(
          catchUp,
          (): ReadonlyArray<LimitUse> => windows.aliases().map((alias) => ({ alias, ...windows.use(alias, now) }))
        )).pipe(reconnecting(dialect), guard(dialect, "read_failed", "reading the rate-limit windows"))

    return { admit, release, pause, pausedFor, limitUse }
  })
