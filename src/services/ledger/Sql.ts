/**
 * The durable ledger over `@effect/sql`, one service for SQLite and PostgreSQL: one table of
 * immutable events written with tagged templates. A hold or raise checks every limit and inserts
 * itself in one transaction that holds the ledger's write lock (the dialect's), so processes sharing
 * a ledger can never jointly pass a limit; on SQLite that transaction is usually one conditional
 * INSERT (`Statements.lockingInsert`). Spend follows `Spend.ts`, folded incrementally (`SqlSpend.ts`);
 * the dialect's parts are in `SqlDialect.ts`, rows in `SqlRows.ts`.
 */
import type * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import type { Fragment } from "@effect/sql/Statement"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { randomUUID } from "node:crypto"
import { type BudgetExceededError, type BudgetWindow, LedgerError } from "../../domain/Errors.js"
import type { LedgerEvent, LedgerQuery, LedgerStatus } from "../../domain/LedgerEvent.js"
import type { BudgetLimit, Hold, HoldRequest, Ledger, RaiseRequest, Settlement, SummaryQuery } from "../Ledger.js"
import * as Alerts from "./Alerts.js"
import {
  foldRaises,
  holdEvent,
  holdOf,
  isNoopRaise,
  raisedHold,
  type RaiseRecord,
  raiseRecord,
  renewRecord,
  settlementEvent
} from "./Events.js"
import { reconnecting, reconnections, reconnectPause } from "./Reconnect.js"
import { budgetedTagSet, budgetExceeded, firstRefusal, settledInLaterWindow } from "./Spend.js"
import {
  type Dialect,
  DirectStatements,
  explain,
  guard,
  inTransaction,
  type Statements,
  toLedgerError,
  unanswered,
  wholeMillis
} from "./SqlDialect.js"
import { type Row, rowOf, rowToStored, sqliteInsert, sqliteInsertIfLast } from "./SqlRows.js"
import { makeSpend } from "./SqlSpend.js"
import { computeSummary } from "./Summary.js"

export * from "./Reconnect.js"
export * from "./SqlDialect.js"

/**
 * The per-call statements (hold, raise, settle, spend) run without `sql.execute` spans: a span costs
 * more than a SQLite statement (~30 µs against ~10). The operation keeps its own `Ledger.*` span;
 * `events` and `summary` keep their statements' spans.
 */
const untraced = <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.withTracerEnabled(effect, false)

/** The ledger's spend side (the rate limiter is `SqlLimits.ts`). */
export type SpendLedger = Omit<Ledger.Service, "admit" | "release" | "pause" | "limitUse">

/** The ledger service's spend side over a migrated database; starts the spend fold from one snapshot. */
export const make = (
  sql: SqlClient.SqlClient,
  dialect: Dialect,
  statements: Statements,
  holdTtlS: number,
  alertThresholds: ReadonlyArray<number> = Alerts.defaultAlertThresholds,
  budgetedTags?: ReadonlyArray<string>
): Effect.Effect<SpendLedger, LedgerError> =>
  Effect.gen(function*() {
    const spend = makeSpend(sql, holdTtlS, budgetedTagSet(budgetedTags))
    const alerts = yield* Alerts.make(alertThresholds)
    const { tracker } = alerts
    /**
     * After a write committed: the alerts its limits owe, given the spend read under the write lock
     * (`spent`, without `added`). Nothing to publish is the common case and costs one comparison per limit.
     */
    const alertAfter = <A>(
      result: A,
      limits: ReadonlyArray<BudgetLimit>,
      spent: ReadonlyArray<number>,
      added: number,
      now: number
    ): Effect.Effect<A> => {
      const due = tracker.take(limits, spent, added, now)
      return due === undefined ? Effect.succeed(result) : Effect.as(alerts.publish(due), result)
    }
    /** A hold's or raise's own failure stays (a refusal); the database's becomes `LedgerError`. */
    const writeFailed = (doing: string) => {
      const map = toLedgerError(dialect, "write_failed", doing)
      return <A>(
        effect: Effect.Effect<A, BudgetExceededError | SqlError>
      ): Effect.Effect<A, BudgetExceededError | LedgerError> =>
        effect.pipe(
          Effect.catchTag("SqlError", (error) => Effect.fail(map(error))),
          Effect.catchAllDefect((defect) => Effect.fail(map(defect)))
        )
    }
    const direct = statements.lockingInsert ?
      yield* DirectStatements.make(sql).pipe(guard(dialect, "unavailable", "reserving the connection")) :
      undefined
    const insert = (event: LedgerEvent | RaiseRecord) => sql`INSERT INTO ledger_events ${sql.insert(rowOf(event))}`
    /**
     * With `lockingInsert` (`direct`): inserts an event of this process's own (with `lastSeq`: only while the
     * table's last row is that one) and folds it at once; false when the condition kept it out. Run
     * on the connection itself (`DirectStatements`), outside any transaction: no span to turn off.
     */
    const insertOwn = (
      direct: DirectStatements,
      event: LedgerEvent,
      lastSeq?: number
    ): Effect.Effect<boolean, SqlError> => {
      const values: Array<unknown> = Object.values(rowOf(event))
      if (lastSeq !== undefined) values.push(lastSeq)
      const statement = lastSeq === undefined ? sqliteInsert : sqliteInsertIfLast
      return Effect.map(
        direct.execute(statement, values),
        (result) => {
          const { changes, lastInsertRowid } = result as { changes: number; lastInsertRowid: number | bigint }
          if (changes === 0) return false
          spend.own(event, Number(lastInsertRowid))
          return true
        }
      )
    }
    /** Runs `body` under the write lock, after the fold caught up with every row written before. */
    const underWriteLock = <A, E>(body: Effect.Effect<A, E>) =>
      untraced(inTransaction(sql, statements.beginWrite, Effect.zipRight(spend.catchUp, body), statements.afterWrite))

    const startedAt = yield* wholeMillis
    yield* inTransaction(sql, statements.beginSnapshot, spend.load(startedAt)).pipe(
      reconnecting(dialect),
      guard(dialect, "read_failed", "reading the spend so far")
    )

    /**
     * The holds `holds` selects and the raises and settlements of those holds, each row matching
     * `also`, in time order: holds through the holds' trace index, the rest through the others' hold
     * index (schema v4; both indexes are partial, so each query names its row type as they do).
     */
    const holdsWithTheirRows = (holds: Fragment, also: ReadonlyArray<Fragment> = []) =>
      sql<Row>`SELECT * FROM ledger_events WHERE ${sql.and([sql`type = 'hold'`, holds, ...also])}
UNION ALL
SELECT * FROM ledger_events WHERE ${
        sql.and([
          sql`type <> 'hold'`,
          sql`hold_id IN (SELECT id FROM ledger_events WHERE ${sql.and([sql`type = 'hold'`, holds])})`,
          ...also
        ])
      }
ORDER BY timestamp, seq`

    const readStored = (rows: ReadonlyArray<Row>) =>
      Effect.try({
        try: () => rows.map(rowToStored),
        catch: (cause) =>
          new LedgerError({
            reason: "corrupt",
            message: `${dialect.label}: a stored event is not valid: ${explain(cause)}`
          })
      })

    const ttlMs = holdTtlS * 1000
    /**
     * A settlement adds to spend only above its hold, or for a hold that no longer counted (past its
     * TTL): only then, or when it lands in a later window than its hold (`settledInLaterWindow`), are
     * its limits read (the rows since the last read) and checked for alerts.
     */
    const alertAfterSettlement = (hold: Hold, settlement: Settlement, now: number): Effect.Effect<void> => {
      const limits = hold.limits
      const adds = tracker.active && limits !== undefined && limits.length > 0 &&
        (settlement.cost > hold.estimate + 1e-12 ||
          (settlement.cost > 0 && (now - hold.timestamp >= ttlMs || settledInLaterWindow(hold.timestamp, now))))
      if (!adds) return Effect.void
      return spend.catchUp.pipe(
        Effect.flatMap(() => alertAfter(undefined, limits, spend.fold.spentIn(limits, now), 0, now)),
        untraced,
        // the settlement is recorded; failing to read for an alert must not fail it
        Effect.catchAll((error) => Effect.logWarning(`budget alerts: reading the spend failed: ${explain(error)}`))
      )
    }

    /**
     * Whether a write whose statement failed is in the table after all: a connection cut after the
     * server committed but before its reply came back (PostgreSQL) leaves the outcome unknown, and
     * guessing "not written" would leave a hold open or settle a call twice. Read by the hold id
     * (indexed); a read that fails too says no.
     */
    const landed = (holdId: string, kind: "hold" | "settlement", failure: unknown) => {
      const read = Effect.map(
        kind === "hold"
          ? sql`SELECT 1 AS found FROM ledger_events WHERE hold_id = ${holdId} AND type = 'hold'`
          : sql`SELECT 1 AS found FROM ledger_events WHERE hold_id = ${holdId} AND type IN ('commit', 'cancel')`,
        (rows) => rows.length > 0
      )
      // On a server, under the write lock every write takes: a write whose connection was cut may still be
      // committing (its backend holds the lock until it has), and "not there yet" must not be taken for
      // "never", which a write run again would make twice
      // "never" (only a write whose outcome is unknown: its connection lost, or its answer never came; a
      // write the server refused, as one that ran out of lock_timeout waiting for this very lock, did not
      // land, and waiting for the lock again would only double the wait)
      const unknown = dialect.connectionLost?.(failure) === true || unanswered(failure)
      return (!unknown ?
        read :
        inTransaction(sql, statements.beginWrite, read, statements.afterWrite)).pipe(
          untraced,
          reconnecting(dialect),
          Effect.option
        )
    }
    /**
     * `write`, whose database failure is none when `landed` finds what it wrote (`written` then). A write
     * that lost its connection and did not land is run again on a fresh one (`reconnections` times):
     * the server ended a connection the pool still held, and a provider's billed answer must not be
     * lost for it. A read-back that fails too keeps the write's error (it may have landed).
     */
    const unlessLanded = <A, E>(
      write: Effect.Effect<A, E | SqlError>,
      holdId: string,
      kind: "hold" | "settlement",
      written: A,
      retries = reconnections
    ): Effect.Effect<A, E | SqlError> =>
      Effect.catchIf(
        write,
        (error): error is SqlError => (error as { readonly _tag?: unknown })._tag === "SqlError",
        (error) =>
          Effect.flatMap(landed(holdId, kind, error), (found) =>
            Option.isSome(found) && found.value ?
              Effect.succeed(written) :
              Option.isSome(found) && retries > 0 && dialect.connectionLost?.(error) === true
              ? Effect.zipRight(
                reconnectPause(reconnections - retries),
                unlessLanded(write, holdId, kind, written, retries - 1)
              )
              : Effect.fail(error))
      )

    const settle = (hold: Hold, settlement: Settlement, type: "commit" | "cancel", status: LedgerStatus) =>
      Effect.flatMap(wholeMillis, (now) => {
        const event = settlementEvent(hold, settlement, type, status, randomUUID(), now)
        const write: Effect.Effect<unknown, SqlError> = direct !== undefined ?
          insertOwn(direct, event) :
          untraced(
            statements.beginSettle === undefined
              ? insert(event)
              : inTransaction(sql, statements.beginSettle, insert(event))
          )
        return unlessLanded(Effect.asVoid(write), hold.id, "settlement", undefined).pipe(
          guard(dialect, "write_failed", `recording the ${type} of hold ${hold.id}`),
          Effect.zipRight(alertAfterSettlement(hold, settlement, now))
        )
      })

    const spent = (scope: string, window: BudgetWindow) =>
      Effect.flatMap(wholeMillis, (now) =>
        Effect.map(spend.catchUp, () => spend.fold.spent(scope, window, now)).pipe(
          untraced,
          reconnecting(dialect),
          guard(dialect, "read_failed", "reading the spend")
        ))

    return {
      hold: (request: HoldRequest) =>
        Effect.flatMap(wholeMillis, (now) => {
          const id = randomUUID()
          const locked = underWriteLock(
            Effect.suspend((): Effect.Effect<Array<number>, BudgetExceededError | SqlError> => {
              const spent = spend.fold.spentIn(request.limits, now)
              const refusal = firstRefusal(request.limits, spent, request.estimate)
              return refusal !== undefined ?
                Effect.fail(budgetExceeded(refusal.limit, refusal.spent, request.estimate, request.provider)) :
                Effect.as(insert(holdEvent(request, id, now)), spent)
            })
          )
          // One statement when no row came since the fold's last read: the check below then stood
          // under the INSERT's own write lock. Else (another writer, or a refusal the rows since may
          // lift) the full transaction: lock, catch up, check, insert.
          const attempt = direct === undefined ? locked : Effect.suspend(() => {
            const spent = spend.fold.spentIn(request.limits, now)
            if (firstRefusal(request.limits, spent, request.estimate) !== undefined) return locked
            return Effect.flatMap(
              insertOwn(direct, holdEvent(request, id, now), spend.last()),
              (inserted) => inserted ? Effect.succeed(spent) : locked
            )
          })
          // landed after all: held, its alerts (the spend it was checked against is unknown) left to the next write
          return unlessLanded<ReadonlyArray<number> | undefined, BudgetExceededError>(attempt, id, "hold", undefined)
            .pipe(
              writeFailed("recording a hold"),
              Effect.flatMap((spent) =>
                spent === undefined ?
                  Effect.succeed(holdOf(request, id, now)) :
                  alertAfter(holdOf(request, id, now), request.limits, spent, request.estimate, now)
              )
            )
        }),
      raise: (hold: Hold, request: RaiseRequest) =>
        isNoopRaise(hold, request) ?
          Effect.succeed(hold) :
          Effect.flatMap(wholeMillis, (now) => {
            const amount = request.estimate
            return underWriteLock(Effect.suspend((): Effect.Effect<Array<number>, BudgetExceededError | SqlError> => {
              const spent = spend.fold.spentIn(request.limits, now, hold.id)
              const refusal = firstRefusal(request.limits, spent, amount)
              return refusal !== undefined ?
                Effect.fail(budgetExceeded(refusal.limit, refusal.spent, amount, request.provider)) :
                Effect.as(insert(raiseRecord(hold, request, randomUUID(), now)), spent)
            })).pipe(
              reconnecting(dialect), // a raise states the hold's whole amount: a second row stands for the same
              writeFailed(`raising hold ${hold.id}`),
              Effect.flatMap((spent) => alertAfter(raisedHold(hold, request), request.limits, spent, amount, now))
            )
          }),
      // No limit to check: one row, which every process's fold reads in its order — written under the
      // write lock where settlements are (PostgreSQL): a row committed out of `seq` order would be
      // skipped for good by a fold that read past it
      renew: (hold: Hold) =>
        Effect.flatMap(wholeMillis, (now) => {
          const row = insert(renewRecord(hold, randomUUID(), now))
          return statements.beginSettle === undefined ? row : inTransaction(sql, statements.beginSettle, row)
        }).pipe(
          Effect.asVoid,
          untraced,
          reconnecting(dialect), // a second renewal row extends the hold as the first did
          guard(dialect, "write_failed", `renewing hold ${hold.id}`)
        ),
      commit: (hold: Hold, settlement: Settlement) => settle(hold, settlement, "commit", "ok"),
      cancel: (hold: Hold, settlement: Settlement & { readonly status: Exclude<LedgerStatus, "ok"> }) =>
        settle(hold, settlement, "cancel", settlement.status),
      spendToday: () => spent("global", "daily"),
      spend: spent,
      scopes: () =>
        Effect.flatMap(wholeMillis, (now) =>
          Effect.map(spend.catchUp, () => spend.fold.scopes(now)).pipe(
            untraced,
            reconnecting(dialect),
            guard(dialect, "read_failed", "reading the spend")
          )),
      events: (query?: LedgerQuery) => {
        const since: Array<Fragment> = query?.since === undefined ? [] : [sql`timestamp >= ${query.since.getTime()}`]
        const rows = query?.traceId === undefined ?
          sql<Row>`SELECT * FROM ledger_events WHERE ${sql.and(since)} ORDER BY timestamp, seq` :
          holdsWithTheirRows(sql`trace_id = ${query.traceId}`, since)
        return rows.pipe(
          reconnecting(dialect),
          guard(dialect, "read_failed", "reading events"),
          Effect.flatMap(readStored),
          Effect.map(foldRaises)
        )
      },
      summary: (query: SummaryQuery) =>
        Effect.gen(function*() {
          const now = yield* wholeMillis
          const since = query.since?.getTime() ?? Number.MIN_SAFE_INTEGER
          const until = query.until?.getTime() ?? Number.MAX_SAFE_INTEGER
          const rows = yield* holdsWithTheirRows(sql.and([sql`timestamp >= ${since}`, sql`timestamp < ${until}`]))
            .pipe(reconnecting(dialect), guard(dialect, "read_failed", "reading the summary"))
          return computeSummary(foldRaises(yield* readStored(rows)), query, now, holdTtlS)
        }),
      alerts: alerts.stream
    }
  })
