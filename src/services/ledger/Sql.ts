/**
 * The durable ledger over `@effect/sql`, one service for SQLite and PostgreSQL: one table of
 * immutable events written with tagged templates. A hold or raise checks every limit and inserts
 * itself in one transaction that holds the ledger's write lock (the dialect's), so processes sharing
 * a ledger can never jointly pass a limit; on SQLite that transaction is usually one conditional
 * INSERT (`Statements.lockingInsert`). Spend follows `Spend.ts`, folded incrementally.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import type { Fragment } from "@effect/sql/Statement"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Schema from "effect/Schema"
import { randomUUID } from "node:crypto"
import { type BudgetExceededError, type BudgetWindow, LedgerError } from "../../domain/Errors.js"
import { LedgerEvent, type LedgerQuery, type LedgerStatus } from "../../domain/LedgerEvent.js"
import type { BudgetLimit, Hold, HoldRequest, Ledger, RaiseRequest, Settlement, SummaryQuery } from "../Ledger.js"
import * as Alerts from "./Alerts.js"
import {
  foldRaises,
  holdEvent,
  holdOf,
  isNoopRaise,
  raisedAmount,
  raisedHold,
  type RaiseRecord,
  raiseRecord,
  settlementEvent
} from "./Events.js"
import { latestVersion, migrationsTable } from "./Migrations.js"
import { budgetExceeded, firstRefusal, SpendFold, windowStart } from "./Spend.js"
import { computeSummary } from "./Summary.js"

/** How a database names itself in errors and classifies its drivers' failures. */
export interface Dialect {
  /** Names the ledger in error messages (never holds a password). */
  readonly label: string
  /** The reason for a driver failure that is not the operation's own (busy, unreachable, corrupt). */
  readonly classify: (code: string) => LedgerError["reason"] | undefined
}

/**
 * What differs between the databases over an open client. Transaction control (BEGIN, the write
 * lock, COMMIT, PRAGMAs) is constant text run as-is on the reserved connection, as @effect/sql's own
 * `withTransaction` runs its BEGIN and COMMIT; every statement that reads or writes rows is a tagged
 * template. (A `Statement` costs ~15 µs more than the connection's `execute`, 4-5 of them a call.)
 */
export interface Statements {
  /** Opens a write transaction holding the ledger's write lock (a hold's or raise's; the budget check follows). */
  readonly beginWrite: ReadonlyArray<string>
  /** Run after a write transaction ended, however it ended. */
  readonly afterWrite: ReadonlyArray<string>
  /** Opens a settlement's transaction, when its single INSERT must take the write lock too. */
  readonly beginSettle: ReadonlyArray<string> | undefined
  /**
   * True when a lone `INSERT` takes the write lock itself and needs no statement around it, and the
   * driver returns the new row's `seq` (SQLite at `durability: normal`): a hold is then one
   * `INSERT … SELECT … WHERE` the table gained no row since the fold's last read, and the ledger
   * folds the rows it writes itself without reading them back.
   */
  readonly lockingInsert: boolean
  /** Opens a read-only transaction whose statements all see one snapshot. */
  readonly beginSnapshot: ReadonlyArray<string>
  /** True when the migrations table exists. */
  readonly hasMigrationsTable: Effect.Effect<boolean, SqlError>
  /** True when the database holds tables though no ledger (SQLite: such a file is refused); undefined to skip. */
  readonly hasTables: Effect.Effect<boolean, SqlError> | undefined
}

// ---------------------------------------------------------------------------------------------
// Failures

/** The driver's error (the first in the `cause` chain with a string `code`), else the outermost. */
const rootCause = (cause: unknown): unknown => {
  for (let current = cause, depth = 0; current !== undefined && depth < 8; depth++) {
    if (typeof current === "object" && current !== null) {
      if (typeof (current as { code?: unknown }).code === "string") return current
      current = (current as { cause?: unknown }).cause
    } else return current
  }
  return cause
}

/** A failure's message, with the driver's code in front when the message does not name it. */
export const explain = (cause: unknown): string => {
  const root = rootCause(cause)
  if (root instanceof Error) {
    const code = (root as { code?: unknown }).code
    const message = root.message || (root.constructor?.name ?? "error")
    return typeof code === "string" && !message.includes(code) ? `${code}: ${message}` : message
  }
  if (typeof root === "object" && root !== null && "message" in root) return String(root.message)
  return String(root)
}

/** Maps any failure (driver error, migration error or defect) to a `LedgerError` naming what failed. */
export const toLedgerError =
  (dialect: Dialect, reason: LedgerError["reason"], doing: string) => (cause: unknown): LedgerError => {
    if (cause instanceof LedgerError) return cause
    const code = (rootCause(cause) as { code?: unknown } | undefined)?.code
    return new LedgerError({
      reason: (typeof code === "string" ? dialect.classify(code) : undefined) ?? reason,
      message: `${dialect.label}: ${doing} failed: ${explain(cause)}`
    })
  }

/** Runs `effect`, turning every failure and defect into a `LedgerError`. */
/**
 * The clock in whole milliseconds: timestamps are BIGINT columns, and a clock that is not the wall
 * clock (TestClock after a jittered sleep, a scaled demo clock) can stand between two milliseconds.
 */
export const wholeMillis: Effect.Effect<number> = Effect.map(Clock.currentTimeMillis, Math.floor)

export const guard =
  (dialect: Dialect, reason: LedgerError["reason"], doing: string) =>
  <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, LedgerError, R> => {
    const map = toLedgerError(dialect, reason, doing)
    return effect.pipe(Effect.mapError(map), Effect.catchAllDefect((defect) => Effect.fail(map(defect))))
  }

// ---------------------------------------------------------------------------------------------
// Transactions

/**
 * Runs `body` in a transaction on a reserved connection: the `begin` statements, then `body`, then
 * COMMIT, or ROLLBACK on any failure; then the `after` statements. Every statement `body` writes
 * with `sql` runs on that connection (provided as the `TransactionConnection`). Uninterruptible, so
 * a connection never returns to its pool mid-transaction. (`SqlClient.withTransaction` does not
 * fit: it begins with a deferred `BEGIN`, which lets two SQLite processes read the same spend, and
 * dies on a failed COMMIT.)
 */
export const inTransaction = <A, E>(
  sql: SqlClient.SqlClient,
  begin: ReadonlyArray<string>,
  body: Effect.Effect<A, E>,
  after: ReadonlyArray<string> = []
): Effect.Effect<A, E | SqlError> =>
  Effect.scoped(Effect.flatMap(sql.reserve, (connection) => {
    const run = (statement: string) => connection.execute(statement, [], undefined)
    const rollback = Effect.ignore(run("ROLLBACK"))
    return Effect.uninterruptible(
      Effect.forEach(begin, run, { discard: true }).pipe(
        Effect.zipRight(Effect.provideService(body, SqlClient.TransactionConnection, [connection, 0] as const)),
        Effect.exit,
        Effect.flatMap((exit): Effect.Effect<A, E | SqlError> =>
          Exit.isSuccess(exit) ?
            Effect.as(Effect.tapError(run("COMMIT"), () => rollback), exit.value) :
            Effect.zipRight(rollback, exit)
        ),
        Effect.ensuring(Effect.ignore(Effect.forEach(after, run, { discard: true })))
      )
    )
  }))

/** Refuses a database whose schema is newer than this code (or, with `hasTables`, that holds other data). Writes nothing. */
export const checkSchema = (
  sql: SqlClient.SqlClient,
  dialect: Dialect,
  statements: Pick<Statements, "hasMigrationsTable" | "hasTables">
): Effect.Effect<void, LedgerError> =>
  Effect.gen(function*() {
    if (!(yield* statements.hasMigrationsTable)) {
      if (statements.hasTables === undefined || !(yield* statements.hasTables)) return
      return yield* new LedgerError({
        reason: "corrupt",
        message:
          `${dialect.label}: not an effect-llm ledger (a SQLite database with tables but no ${migrationsTable} table); left unchanged`
      })
    }
    const [row] = yield* sql<{ version: number | string | null }>`SELECT MAX(migration_id) AS version FROM ${
      sql(migrationsTable)
    }`
    const version = Number(row?.version ?? 0)
    if (version > latestVersion) {
      return yield* new LedgerError({
        reason: "incompatible_schema",
        message:
          `${dialect.label}: the ledger's schema is version ${version}, newer than this effect-llm knows (up to ${latestVersion}); upgrade effect-llm or point ledger.path elsewhere — the ledger was left unchanged`
      })
    }
  }).pipe(guard(dialect, "read_failed", "reading the schema version"))

// ---------------------------------------------------------------------------------------------
// Rows

/** A row of `ledger_events` as the drivers return it. */
type Row = Record<string, unknown>

/** PostgreSQL returns BIGINT as text. */
const numeric = (value: unknown): unknown => typeof value === "string" ? Number(value) : value
const present = (value: unknown): boolean => value !== null && value !== undefined
const parseTags = (value: unknown): Record<string, string> | undefined =>
  present(value) ? JSON.parse(String(value)) as Record<string, string> : undefined

/** The columns of an event or raise. */
const rowOf = (event: LedgerEvent | RaiseRecord) => {
  const settled = event.type === "raise" ? undefined : event
  return {
    id: event.id,
    type: event.type,
    hold_id: event.holdId,
    trace_id: event.traceId,
    provider: event.provider,
    model: event.model,
    alias: event.alias ?? null,
    endpoint: settled?.endpoint ?? null,
    input_tokens: settled?.usage?.inputTokens ?? null,
    output_tokens: settled?.usage?.outputTokens ?? null,
    total_tokens: settled?.usage?.totalTokens ?? null,
    cost: event.cost,
    status: settled?.status ?? "ok",
    attempts: settled?.attempts ?? null,
    error_tag: settled?.error?.tag ?? null,
    error_message: settled?.error?.message ?? null,
    ttft_ms: settled?.timing?.ttftMs ?? null,
    total_ms: settled?.timing?.totalMs ?? null,
    timestamp: event.timestamp,
    tags: event.tags !== undefined && Object.keys(event.tags).length > 0 ? JSON.stringify(event.tags) : null
  }
}

/** The columns of `rowOf`, in its order. */
const eventColumns = Object.keys(
  rowOf({
    id: "",
    type: "raise",
    holdId: "",
    traceId: "",
    provider: "",
    model: "",
    alias: "",
    tags: undefined,
    cost: 0,
    timestamp: 0
  })
).join(", ")
const eventPlaceholders = eventColumns.split(", ").map(() => "?").join(", ")
/** SQLite's text of an event's INSERT, built once: a statement the ledger writes needs no compiling per call. */
const sqliteInsert = `INSERT INTO ledger_events (${eventColumns}) VALUES (${eventPlaceholders})`
/** The same, inserting only while the last row's `seq` is the bound one (MAX of the rowid is one B-tree seek). */
const sqliteInsertIfLast = `INSERT INTO ledger_events (${eventColumns}) SELECT ${eventPlaceholders}
WHERE COALESCE((SELECT MAX(seq) FROM ledger_events), 0) = ?`

const decodeEvent = Schema.decodeUnknownSync(LedgerEvent)

const rowToStored = (row: Row): LedgerEvent | RaiseRecord => {
  const tags = parseTags(row.tags)
  if (row.type === "raise") {
    return {
      id: String(row.id),
      type: "raise",
      holdId: String(row.hold_id),
      traceId: String(row.trace_id),
      provider: String(row.provider),
      model: String(row.model),
      alias: String(row.alias ?? ""),
      tags,
      cost: Number(row.cost),
      timestamp: Number(row.timestamp)
    }
  }
  return decodeEvent({
    id: row.id,
    type: row.type,
    holdId: row.hold_id,
    traceId: row.trace_id,
    provider: row.provider,
    model: row.model,
    ...(present(row.alias) ? { alias: row.alias } : {}),
    ...(present(row.endpoint) ? { endpoint: row.endpoint } : {}),
    ...(tags !== undefined ? { tags } : {}),
    ...(present(row.input_tokens) ?
      {
        usage: {
          inputTokens: numeric(row.input_tokens),
          outputTokens: numeric(row.output_tokens),
          totalTokens: numeric(row.total_tokens)
        }
      } :
      {}),
    cost: numeric(row.cost),
    status: row.status,
    ...(present(row.attempts) ? { attempts: numeric(row.attempts) } : {}),
    ...(present(row.error_tag) ? { error: { tag: row.error_tag, message: row.error_message ?? "" } } : {}),
    ...(present(row.total_ms) ?
      {
        timing: {
          totalMs: numeric(row.total_ms),
          ...(present(row.ttft_ms) ? { ttftMs: numeric(row.ttft_ms) } : {})
        }
      } :
      {}),
    timestamp: numeric(row.timestamp)
  })
}

// ---------------------------------------------------------------------------------------------
// The spend fold over the table

/**
 * `SpendFold`, fed incrementally. Every insert happens under the ledger's write lock (SQLite's single
 * writer; on PostgreSQL an advisory lock that settlements take too), so rows become visible in `seq`
 * order and reading `seq > last` misses none: a hold reads the few rows added since the previous read
 * instead of summing its windows, which keeps it O(1) as the ledger grows (and no query plan can turn
 * quadratic).
 */
const makeSpend = (sql: SqlClient.SqlClient, holdTtlS: number) => {
  const fold = new SpendFold(holdTtlS)
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
    fold.add({
      type: event.type,
      holdId: event.holdId,
      cost: event.cost,
      timestamp: event.timestamp,
      alias: event.alias,
      tags: event.tags
    })
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
  /**
   * Starts the fold at `now` from one snapshot: the settlements of the current week and month summed
   * per alias, tags and day up to twice the hold TTL ago, then every row since (holds, their raises
   * and settlements). A raise counts only while its hold is younger than the TTL, so twice the TTL
   * reaches every hold whose raise can still count.
   */
  const load = (now: number) =>
    Effect.gen(function*() {
      const [last] = yield* sql<
        { last: number | string | null }
      >`SELECT COALESCE(MAX(seq), 0) AS last FROM ledger_events`
      const windowsFrom = Math.min(windowStart("weekly", now), windowStart("monthly", now))
      const rowsFrom = now - 2 * ttlMs
      if (windowsFrom < rowsFrom) {
        const days = yield* sql<
          Row
        >`SELECT alias, tags, timestamp / 86400000 AS day, SUM(cost) AS cost FROM ledger_events
WHERE type IN ('commit', 'cancel') AND timestamp >= ${windowsFrom} AND timestamp < ${rowsFrom}
GROUP BY alias, tags, timestamp / 86400000`
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
      }
      add(
        yield* sql<Row>`SELECT seq, type, hold_id, cost, timestamp, alias, tags FROM ledger_events
WHERE timestamp >= ${rowsFrom} ORDER BY seq`
      )
      lastSeq = Math.max(lastSeq, Number(last?.last ?? 0))
    })
  return { fold, catchUp, load, own, last: () => lastSeq }
}

// ---------------------------------------------------------------------------------------------
// The service

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
  alertThresholds: ReadonlyArray<number> = Alerts.defaultAlertThresholds
): Effect.Effect<SpendLedger, LedgerError> =>
  Effect.gen(function*() {
    const spend = makeSpend(sql, holdTtlS)
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
    const insert = (event: LedgerEvent | RaiseRecord) => sql`INSERT INTO ledger_events ${sql.insert(rowOf(event))}`
    /**
     * With `lockingInsert`: inserts an event of this process's own (with `lastSeq`: only while the
     * table's last row is that one) and folds it at once; false when the condition kept it out.
     */
    const insertOwn = (event: LedgerEvent, lastSeq?: number): Effect.Effect<boolean, SqlError> => {
      const values: Array<unknown> = Object.values(rowOf(event))
      if (lastSeq !== undefined) values.push(lastSeq)
      return Effect.map(
        sql.unsafe(lastSeq === undefined ? sqliteInsert : sqliteInsertIfLast, values).raw,
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
      guard(dialect, "read_failed", "reading the spend so far")
    )

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
     * TTL): only then are its limits read (the rows since the last read) and checked for alerts.
     */
    const alertAfterSettlement = (hold: Hold, settlement: Settlement, now: number): Effect.Effect<void> => {
      const limits = hold.limits
      const adds = tracker.active && limits !== undefined && limits.length > 0 &&
        (settlement.cost > hold.estimate + 1e-12 || (settlement.cost > 0 && now - hold.timestamp >= ttlMs))
      if (!adds) return Effect.void
      return spend.catchUp.pipe(
        Effect.flatMap(() => alertAfter(undefined, limits, spend.fold.spentIn(limits, now), 0, now)),
        untraced,
        // the settlement is recorded; failing to read for an alert must not fail it
        Effect.catchAll((error) => Effect.logWarning(`budget alerts: reading the spend failed: ${explain(error)}`))
      )
    }

    const settle = (hold: Hold, settlement: Settlement, type: "commit" | "cancel", status: LedgerStatus) =>
      Effect.flatMap(wholeMillis, (now) => {
        const event = settlementEvent(hold, settlement, type, status, randomUUID(), now)
        const write: Effect.Effect<unknown, SqlError> = statements.lockingInsert ?
          insertOwn(event) :
          statements.beginSettle === undefined ?
          insert(event) :
          inTransaction(sql, statements.beginSettle, insert(event))
        return write.pipe(
          untraced,
          Effect.asVoid,
          guard(dialect, "write_failed", `recording the ${type} of hold ${hold.id}`),
          Effect.zipRight(alertAfterSettlement(hold, settlement, now))
        )
      })

    const spent = (scope: string, window: BudgetWindow) =>
      Effect.flatMap(wholeMillis, (now) =>
        Effect.map(spend.catchUp, () => spend.fold.spent(scope, window, now)).pipe(
          untraced,
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
          const attempt = !statements.lockingInsert ? locked : Effect.suspend(() => {
            const spent = spend.fold.spentIn(request.limits, now)
            if (firstRefusal(request.limits, spent, request.estimate) !== undefined) return locked
            return Effect.flatMap(
              untraced(insertOwn(holdEvent(request, id, now), spend.last())),
              (inserted) => inserted ? Effect.succeed(spent) : locked
            )
          })
          return attempt.pipe(
            writeFailed("recording a hold"),
            Effect.flatMap((spent) =>
              alertAfter(holdOf(request, id, now), request.limits, spent, request.estimate, now)
            )
          )
        }),
      raise: (hold: Hold, request: RaiseRequest) =>
        isNoopRaise(hold, request) ?
          Effect.succeed(hold) :
          Effect.flatMap(wholeMillis, (now) => {
            const amount = raisedAmount(hold, request)
            return underWriteLock(Effect.suspend((): Effect.Effect<Array<number>, BudgetExceededError | SqlError> => {
              const spent = spend.fold.spentIn(request.limits, now, hold.id)
              const refusal = firstRefusal(request.limits, spent, amount)
              return refusal !== undefined ?
                Effect.fail(budgetExceeded(refusal.limit, refusal.spent, amount, request.provider)) :
                Effect.as(insert(raiseRecord(hold, request, randomUUID(), now)), spent)
            })).pipe(
              writeFailed(`raising hold ${hold.id}`),
              Effect.flatMap((spent) => alertAfter(raisedHold(hold, request), request.limits, spent, amount, now))
            )
          }),
      commit: (hold: Hold, settlement: Settlement) => settle(hold, settlement, "commit", "ok"),
      cancel: (hold: Hold, settlement: Settlement & { readonly status: Exclude<LedgerStatus, "ok"> }) =>
        settle(hold, settlement, "cancel", settlement.status),
      spendToday: () => spent("global", "daily"),
      spend: spent,
      events: (query?: LedgerQuery) => {
        const conditions: Array<Fragment> = []
        if (query?.traceId !== undefined) conditions.push(sql`trace_id = ${query.traceId}`)
        if (query?.since !== undefined) conditions.push(sql`timestamp >= ${query.since.getTime()}`)
        return sql<Row>`SELECT * FROM ledger_events WHERE ${sql.and(conditions)} ORDER BY timestamp, seq`.pipe(
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
          const rows = yield* sql<Row>`SELECT * FROM ledger_events WHERE hold_id IN
  (SELECT id FROM ledger_events WHERE type = 'hold' AND timestamp >= ${since} AND timestamp < ${until})
ORDER BY timestamp, seq`.pipe(guard(dialect, "read_failed", "reading the summary"))
          return computeSummary(foldRaises(yield* readStored(rows)), query, now, holdTtlS)
        }),
      alerts: alerts.stream
    }
  })
