/**
 * What only the PostgreSQL ledger does: share one database between connections, refuse a newer
 * schema, name an unreachable server without its password, and give up on one that never answers.
 * The tests on the test database are skipped with a notice when it is unreachable, unless
 * EFFECT_LLM_REQUIRE_PG=1.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Schedule from "effect/Schedule"
import * as TestClock from "effect/TestClock"
import * as Net from "node:net"
import { layerPostgres } from "../../../src/services/Ledger.js"
import { lockTimeoutMs, queryTimeoutMs, schemaKey, withLockTimeout } from "../../../src/services/ledger/Postgres.js"
import {
  adminClient,
  buildFailure,
  freshPgSchema,
  layerPostgresFresh,
  ledgerOf,
  pgReachable,
  pgUrl,
  reopenedCountsEveryWindow,
  request,
  twoConnections
} from "../../support/LedgerBackends.js"

/**
 * A login role made for the test on the schema `url` names (`<schema>_<suffix>`, dropped at the end of
 * the scope) with `grants`, and `url` as that role.
 */
const asNewRole = (
  url: Redacted.Redacted<string>,
  suffix: string,
  grants: (schema: string, role: string) => ReadonlyArray<string>
) =>
  Effect.gen(function*() {
    const schema = /search_path%3D(\w+)/.exec(Redacted.value(url))![1]!
    const role = `${schema}_${suffix}`
    const admin = yield* Effect.orDie(adminClient)
    yield* Effect.orDie(admin.unsafe(`CREATE ROLE ${role} LOGIN`))
    yield* Effect.addFinalizer(() =>
      Effect.ignore(Effect.zipRight(admin.unsafe(`DROP OWNED BY ${role}`), admin.unsafe(`DROP ROLE ${role}`)))
    )
    for (const grant of grants(schema, role)) yield* Effect.orDie(admin.unsafe(grant))
    const asRole = new URL(Redacted.value(url))
    asRole.username = role
    return { admin, schema, asRole: Redacted.make(asRole.toString()) }
  })

/**
 * A loopback server that accepts a connection and never answers (it reads what pg sends, and so sees
 * the end), and a ledger opening against it, forked once its connection is accepted; `closed`
 * resolves when that connection's socket closes.
 */
const openingOnSilentServer = Effect.gen(function*() {
  const sockets: Array<Net.Socket> = []
  let accepted!: () => void
  const connected = new Promise<void>((resolve) => accepted = resolve)
  const server = yield* Effect.acquireRelease(
    Effect.async<Net.Server>((resume) => {
      const server = Net.createServer((socket) => {
        sockets.push(socket)
        socket.resume()
        accepted()
      })
      server.listen(0, "127.0.0.1", () => resume(Effect.succeed(server)))
    }),
    (server) =>
      Effect.sync(() => {
        for (const socket of sockets) socket.destroy()
        server.close()
      })
  )
  const { port } = server.address() as Net.AddressInfo
  const opening = yield* Effect.fork(buildFailure(
    layerPostgres({ url: Redacted.make(`postgres://ledger:hunter2-secret@127.0.0.1:${port}/ledger`) })
  ))
  yield* Effect.promise(() => connected)
  const closed = new Promise<void>((resolve) => sockets[0]!.once("close", () => resolve()))
  return { closed, opening, port }
})

/**
 * A loopback server that speaks enough of PostgreSQL's protocol to ask for a cleartext password and
 * refuse it, quoting it back (a pooler that does).
 */
const quotingPasswordServer = Effect.acquireRelease(
  Effect.async<Net.Server>((resume) => {
    const message = (type: string, body: Buffer) => {
      const length = Buffer.alloc(4)
      length.writeInt32BE(body.length + 4)
      return Buffer.concat([Buffer.from(type), length, body])
    }
    const server = Net.createServer((socket) => {
      let startup = true
      let pending = Buffer.alloc(0)
      socket.on("error", () => {})
      socket.on("data", (data) => {
        pending = Buffer.concat([pending, data])
        if (startup) {
          if (pending.length < 8 || pending.length < pending.readInt32BE(0)) return
          const sslRequest = pending.readInt32BE(4) === 80877103
          pending = pending.subarray(pending.readInt32BE(0))
          if (sslRequest) return void socket.write("N")
          startup = false
          const cleartext = Buffer.alloc(4)
          cleartext.writeInt32BE(3)
          return void socket.write(message("R", cleartext))
        }
        if (pending.length < 5 || pending.length < pending.readInt32BE(1) + 1) return
        const password = pending.subarray(5, pending.readInt32BE(1)).toString("utf8")
        socket.end(message(
          "E",
          Buffer.from(`SFATAL\0C28P01\0Mpassword authentication failed: received "${password}"\0\0`)
        ))
      })
    })
    server.listen(0, "127.0.0.1", () => resume(Effect.succeed(server)))
  }),
  (server) => Effect.sync(() => server.close())
)

/**
 * A loopback proxy in front of the test database that misbehaves on cue:
 * - `arm(pattern, nth)`: loses the server's reply to the COMMIT after the `nth` statement matching
 *   `pattern` (the server runs it, the connection is cut before its reply — a backend terminated, a
 *   network cut at that moment); `arm(pattern, nth, "unsent")`: cuts the connection before that COMMIT
 *   reaches the server (the transaction rolls back);
 * - `freeze()`: from now on forwards nothing either way, the connections left open (a frozen server, a
 *   stuck pooler, a paused VM).
 */
const testDatabaseProxy = Effect.acquireRelease(
  Effect.async<
    {
      readonly port: number
      readonly arm: (pattern: RegExp, nth: number, commit?: "unsent") => void
      readonly freeze: () => void
      readonly close: () => void
    }
  >(
    (resume) => {
      let armed: { readonly pattern: RegExp; left: number; readonly unsent: boolean } | undefined
      let frozen = false
      const sockets = new Set<Net.Socket>()
      const target = new URL(pgUrl)
      const server = Net.createServer((client) => {
        const upstream = Net.connect(Number(target.port || 5432), target.hostname)
        sockets.add(client).add(upstream)
        let lost = false
        client.on("data", (chunk) => {
          if (frozen) return
          const text = chunk.toString("latin1")
          if (armed?.unsent === true && armed.left === 0 && text.includes("COMMIT")) {
            armed = undefined
            client.destroy()
            upstream.destroy()
            return
          }
          upstream.write(chunk)
          if (armed === undefined) return
          if (armed.left > 0 && armed.pattern.test(text)) armed.left--
          else if (armed.left === 0 && text.includes("COMMIT")) {
            armed = undefined
            lost = true
            // the server runs it; its reply is never forwarded, then the connection goes
            setTimeout(() => {
              client.destroy()
              upstream.destroy()
            }, 100)
          }
        })
        upstream.on("data", (chunk) => lost || frozen || client.write(chunk))
        for (const [a, b] of [[client, upstream], [upstream, client]] as const) {
          a.on("error", () => b.destroy())
          a.on("close", () => b.destroy())
        }
      })
      server.listen(0, "127.0.0.1", () =>
        resume(Effect.succeed({
          port: (server.address() as Net.AddressInfo).port,
          arm: (pattern, nth, commit) => armed = { pattern, left: nth, unsent: commit === "unsent" },
          freeze: () => {
            frozen = true
          },
          close: () => {
            for (const socket of sockets) socket.destroy()
            server.close()
          }
        })))
    }
  ),
  (proxy) => Effect.sync(proxy.close)
)

/** A fresh schema of the test database, and its URL through a `testDatabaseProxy` (`proxied`). */
const schemaBehindProxy = (params: Record<string, string> = {}) =>
  Effect.gen(function*() {
    const proxy = yield* testDatabaseProxy
    const url = yield* freshPgSchema()
    const direct = new URL(Redacted.value(url))
    direct.port = String(proxy.port)
    for (const [name, value] of Object.entries(params)) direct.searchParams.set(name, value)
    return { proxy, url, proxied: Redacted.make(direct.toString()) }
  })

describe("PostgreSQL ledger", () => {
  it("a ledger URL gets lock_timeout (5 s) and query_timeout (30 s) unless it sets its own", () => {
    const url = (text: string) => Redacted.value(withLockTimeout(Redacted.make(text)))
    const both = `lock_timeout=${lockTimeoutMs}&query_timeout=${queryTimeoutMs}`
    assert.strictEqual(url("postgres://u@h/db"), `postgres://u@h/db?${both}`)
    assert.strictEqual(url("postgres://u@h/db?sslmode=require"), `postgres://u@h/db?sslmode=require&${both}`)
    assert.strictEqual(
      url("postgres://u@h/db?lock_timeout=200&query_timeout=900"),
      "postgres://u@h/db?lock_timeout=200&query_timeout=900"
    )
  })

  it("query_timeout=0 (no timeout, as the README says) is left out of the URL: pg reads the text \"0\" as a 0 ms timer", () => {
    const url = (text: string) => Redacted.value(withLockTimeout(Redacted.make(text)))
    assert.strictEqual(url("postgres://u@h/db?query_timeout=0"), "postgres://u@h/db?lock_timeout=5000")
    assert.strictEqual(
      url("postgres://u@h/db?query_timeout=0&sslmode=require"),
      "postgres://u@h/db?sslmode=require&lock_timeout=5000"
    )
    assert.strictEqual(url("postgres://u@h/db?a=1&query_timeout=00"), "postgres://u@h/db?a=1&lock_timeout=5000")
  })

  it.effect.skipIf(!pgReachable)(
    "a ledger whose URL sets query_timeout=0 opens and writes (it failed every statement)",
    () =>
      Effect.gen(function*() {
        const url = new URL(Redacted.value(yield* freshPgSchema()))
        url.searchParams.set("query_timeout", "0")
        const ledger = yield* ledgerOf(layerPostgres({ url: Redacted.make(url.toString()) }))
        yield* ledger.commit(yield* ledger.hold(request()), { cost: 0.001 })
        assert.deepStrictEqual((yield* ledger.events()).map((event) => event.type), ["hold", "commit"])
      }).pipe(Effect.scoped)
  )

  it.effect.skipIf(!pgReachable)(
    "an up-to-date ledger opens for a role that may only SELECT and INSERT (the migrator is not run); an older one it may not migrate is 'could not be migrated'",
    () =>
      Effect.gen(function*() {
        const url = yield* freshPgSchema()
        yield* ledgerOf(layerPostgres({ url })) // created and migrated by the owner
        const { admin, asRole, schema } = yield* asNewRole(url, "writer", (schema, role) => [
          `GRANT USAGE ON SCHEMA ${schema} TO ${role}`,
          `GRANT SELECT, INSERT ON ALL TABLES IN SCHEMA ${schema} TO ${role}`,
          `GRANT USAGE ON ALL SEQUENCES IN SCHEMA ${schema} TO ${role}`
        ])
        const ledger = yield* ledgerOf(layerPostgres({ url: asRole }))
        const held = yield* ledger.hold(request({ estimate: 0.5 }))
        yield* ledger.commit(held, { cost: 0.25 })
        assert.strictEqual(yield* ledger.spendToday(), 0.25)
        // an older schema, which this role may not migrate: said so, the ledger unchanged
        yield* Effect.orDie(admin.unsafe(`DELETE FROM ${schema}.effect_llm_migrations WHERE migration_id >= 5`))
        const error = yield* buildFailure(layerPostgres({ url: asRole }))
        assert.strictEqual(error.reason, "unavailable")
        assert.include(error.message, "could not be migrated")
      }).pipe(Effect.scoped)
  )

  it.effect.skipIf(!pgReachable)(
    "an empty database opened by a role that may not create tables there is unavailable, saying so (not 'relation does not exist')",
    () =>
      Effect.gen(function*() {
        const { asRole } = yield* asNewRole(
          yield* freshPgSchema(),
          "reader",
          (schema, role) => [`GRANT USAGE ON SCHEMA ${schema} TO ${role}`]
        )
        const error = yield* buildFailure(layerPostgres({ url: asRole }))
        assert.strictEqual(error.reason, "unavailable")
        assert.include(error.message, "the ledger's tables could not be created")
        assert.notInclude(error.message, "does not exist")
      }).pipe(Effect.scoped)
  )

  it.live.skipIf(!pgReachable)(
    "a server that stops answering with its connection open (frozen): ledger calls fail unavailable within query_timeout, never hang",
    () =>
      Effect.gen(function*() {
        const { proxied, proxy } = yield* schemaBehindProxy({ query_timeout: "300" })
        const ledger = yield* ledgerOf(layerPostgres({ url: proxied }))
        yield* ledger.hold(request())
        proxy.freeze()
        // each statement is given up on after 300 ms (the read before the write, the write, its read-back):
        // before, the hold waited for ever (this test's own timeout)
        const error = yield* Effect.flip(ledger.hold(request()))
        assert.strictEqual(error._tag === "LedgerError" && error.reason, "unavailable")
        assert.notInclude(error.message, "postgres:")
      }).pipe(Effect.scoped),
    30_000
  )

  it.effect.skipIf(!pgReachable)(
    "a write that waits on a lock past lock_timeout (a peer frozen holding it) fails LedgerError unavailable, nothing written",
    () =>
      Effect.gen(function*() {
        const url = yield* freshPgSchema()
        // the URL's own (short) lock_timeout: the server's wait, not the test's
        const ledger = yield* ledgerOf(layerPostgres({ url: Redacted.make(`${Redacted.value(url)}&lock_timeout=300`) }))
        const schema = /search_path%3D(\w+)/.exec(Redacted.value(url))![1]!
        const admin = yield* Effect.orDie(adminClient)
        const peer = yield* Effect.orDie(admin.reserve)
        const run = (statement: string) => Effect.orDie(peer.execute(statement, [], undefined))
        yield* run("BEGIN")
        yield* run(`LOCK TABLE ${schema}.ledger_events IN ACCESS EXCLUSIVE MODE`)
        const error = yield* Effect.flip(ledger.hold(request()))
        yield* run("ROLLBACK")
        assert.strictEqual(error._tag === "LedgerError" && error.reason, "unavailable")
        assert.include(error.message, "lock timeout")
        assert.deepStrictEqual(yield* ledger.events(), [])
        // the lock released, the ledger works
        yield* ledger.hold(request())
        assert.strictEqual((yield* ledger.events()).length, 1)
      }).pipe(Effect.scoped),
    { timeout: 15_000 }
  )

  it.live.skipIf(!pgReachable)(
    "ledgers in two schemas of one database never wait on each other: one stuck inside its write, the other holds",
    () =>
      Effect.gen(function*() {
        const urlOf = (url: Redacted.Redacted<string>) => Redacted.make(`${Redacted.value(url)}&lock_timeout=10000`)
        const stuckUrl = yield* freshPgSchema()
        const stuck = yield* ledgerOf(layerPostgres({ url: urlOf(stuckUrl) }))
        const free = yield* ledgerOf(layerPostgres({ url: urlOf(yield* freshPgSchema()) }))
        const schema = /search_path%3D(\w+)/.exec(Redacted.value(stuckUrl))![1]!
        const admin = yield* Effect.orDie(adminClient)
        const peer = yield* Effect.orDie(admin.reserve)
        const run = (statement: string) => Effect.orDie(peer.execute(statement, [], undefined))
        yield* run("BEGIN")
        yield* run(`LOCK TABLE ${schema}.ledger_events IN ACCESS EXCLUSIVE MODE`)
        // inside its write transaction (its write lock taken), waiting on the table
        const waiting = yield* Effect.fork(stuck.hold(request()))
        const blocked = Effect.orDie(
          admin`SELECT 1 FROM pg_locks WHERE NOT granted AND relation = ${`${schema}.ledger_events`}::regclass`
        )
        yield* Effect.repeat(blocked, { until: (rows) => rows.length > 0, schedule: Schedule.spaced("20 millis") })
        const held = yield* free.hold(request())
        assert.isTrue(Option.isNone(yield* Fiber.poll(waiting)), "the other schema's write is still waiting")
        yield* run("ROLLBACK")
        yield* Fiber.join(waiting)
        assert.strictEqual(held.estimate, 0.25)
      }).pipe(Effect.scoped),
    { timeout: 30_000 }
  )

  it.live.skipIf(!pgReachable)(
    "the locks are keyed by the schema the tables are in: a search_path whose first schema came later (empty) still shares them",
    () =>
      Effect.gen(function*() {
        const tablesUrl = yield* freshPgSchema()
        const tables = /search_path%3D(\w+)/.exec(Redacted.value(tablesUrl))![1]!
        yield* ledgerOf(layerPostgres({ url: tablesUrl })) // creates the tables in `tables`
        const admin = yield* Effect.orDie(adminClient)
        const first = `${tables}_first`
        yield* Effect.orDie(admin.unsafe(`CREATE SCHEMA ${first}`))
        yield* Effect.addFinalizer(() => Effect.ignore(admin.unsafe(`DROP SCHEMA ${first} CASCADE`)))
        const url = `${pgUrl}?options=${encodeURIComponent(`-c search_path=${first},${tables}`)}&lock_timeout=300`
        const ledger = yield* ledgerOf(layerPostgres({ url: Redacted.make(url) }))
        // a peer holding the write lock of the tables' schema: this ledger waits for it (and gives up)
        const peer = yield* Effect.orDie(admin.reserve)
        yield* Effect.orDie(peer.execute(`SELECT pg_advisory_lock(${0x4c4c4d48}, ${schemaKey(tables)})`, [], undefined))
        const error = yield* Effect.flip(ledger.hold(request()))
        yield* Effect.orDie(
          peer.execute(`SELECT pg_advisory_unlock(${0x4c4c4d48}, ${schemaKey(tables)})`, [], undefined)
        )
        assert.strictEqual(error._tag === "LedgerError" && error.reason, "unavailable")
        yield* ledger.hold(request())
      }).pipe(Effect.scoped),
    { timeout: 30_000 }
  )

  it.live(
    "a server that quotes the password back: the LedgerError is scrubbed, and no log record (a Debug one included) carries it",
    () =>
      Effect.gen(function*() {
        const server = yield* quotingPasswordServer
        const { port } = server.address() as Net.AddressInfo
        const records: Array<string> = []
        // as Effect's default logger prints a cause: the errors it wraps too
        const logger = Logger.make(({ cause, message }) =>
          records.push(`${String(message)} ${Cause.pretty(cause, { renderErrorCause: true })}`)
        )
        const error = yield* buildFailure(
          layerPostgres({ url: Redacted.make(`postgres://ledger:pw-quoted-4455@127.0.0.1:${port}/db?sslmode=disable`) })
        ).pipe(Effect.provide(Logger.replace(Logger.defaultLogger, logger)), Logger.withMinimumLogLevel(LogLevel.All))
        assert.strictEqual(error._tag, "LedgerError")
        assert.include(error.message, "password authentication failed")
        assert.notInclude(error.message, "pw-quoted-4455")
        for (const record of records) assert.notInclude(record, "pw-quoted-4455")
      }).pipe(Effect.scoped),
    { timeout: 30_000 }
  )

  it.live.skipIf(!pgReachable)(
    "a renewal is written under the write lock, as a settlement is: a row committed past another writer's would be skipped by every fold that read past it",
    () =>
      Effect.gen(function*() {
        const url = yield* freshPgSchema()
        const tables = /search_path%3D(\w+)/.exec(Redacted.value(url))![1]!
        const ledger = yield* ledgerOf(layerPostgres({ url }))
        const held = yield* ledger.hold(request())
        const admin = yield* Effect.orDie(adminClient)
        const peer = yield* Effect.orDie(admin.reserve)
        const lock = `advisory_lock(${0x4c4c4d48}, ${schemaKey(tables)})`
        yield* Effect.orDie(peer.execute(`SELECT pg_${lock}`, [], undefined))
        const renewing = yield* Effect.fork(ledger.renew!(held))
        yield* Effect.sleep("300 millis")
        assert.isTrue(Option.isNone(yield* Fiber.poll(renewing)), "the renewal waits for the writer")
        yield* Effect.orDie(peer.execute(`SELECT pg_advisory_un${lock.slice("advisory_".length)}`, [], undefined))
        yield* Fiber.join(renewing)
      }).pipe(Effect.scoped),
    { timeout: 30_000 }
  )

  it.live.skipIf(!pgReachable)(
    "a hold, a commit and a rate-limit admission whose connection the server ends (a restart, a failover, pg_terminate_backend) are written on a fresh one, once",
    () =>
      Effect.gen(function*() {
        const url = yield* freshPgSchema()
        const tables = /search_path%3D(\w+)/.exec(Redacted.value(url))![1]!
        const ledger = yield* ledgerOf(layerPostgres({ url }))
        const admin = yield* Effect.orDie(adminClient)
        const peer = yield* Effect.orDie(admin.reserve)
        /** Runs `write` while the peer holds its lock; the server ends the connection waiting for it. */
        const cutWhileWaiting = <A, E>(lockKey: number, write: Effect.Effect<A, E>) =>
          Effect.gen(function*() {
            const lock = `advisory_lock(${lockKey}, ${schemaKey(tables)})`
            yield* Effect.orDie(peer.execute(`SELECT pg_${lock}`, [], undefined))
            const writing = yield* Effect.fork(write)
            const ended = Effect.orDie(admin.unsafe<{ ended: boolean }>(
              `SELECT pg_terminate_backend(pid) AS ended FROM pg_stat_activity
               WHERE pid <> pg_backend_pid() AND wait_event_type = 'Lock' AND query LIKE '%pg_advisory_xact_lock(${lockKey}, ${
                schemaKey(tables)
              })%'`
            ))
            yield* Effect.repeat(ended, { until: (rows) => rows.length > 0, schedule: Schedule.spaced("20 millis") })
            yield* Effect.orDie(peer.execute(`SELECT pg_advisory_un${lock.slice("advisory_".length)}`, [], undefined))
            return yield* Fiber.join(writing)
          })
        const writeLock = 0x4c4c4d48
        const rateLock = 0x4c4c4d52
        const held = yield* cutWhileWaiting(writeLock, ledger.hold(request()))
        yield* cutWhileWaiting(
          writeLock,
          ledger.commit(held, { usage: { inputTokens: 1, outputTokens: 1, totalTokens: 2 }, cost: 0.1 })
        )
        const events = yield* ledger.events({ traceId: "trace-1" })
        assert.deepStrictEqual(events.map((event) => event.type), ["hold", "commit"])
        assert.strictEqual(yield* ledger.spendToday(), 0.1)
        const admitted = yield* cutWhileWaiting(
          rateLock,
          ledger.admit({ alias: "flash", endpoint: "google", limits: { rpm: 2 }, tokens: 10 })
        )
        assert.strictEqual(admitted._tag, "Admitted")
      }).pipe(Effect.scoped),
    { timeout: 30_000 }
  )

  it.effect.skipIf(!pgReachable)(
    "two connections to one database see each other's holds and settlements at once",
    () =>
      Effect.gen(function*() {
        const url = yield* freshPgSchema()
        yield* twoConnections(ledgerOf(layerPostgres({ url })))
      }).pipe(Effect.scoped)
  )

  it.live.skipIf(!pgReachable)(
    "a hold or a settlement whose COMMIT reply was lost is read back: held once, settled once, counted once",
    () =>
      Effect.gen(function*() {
        const { proxied, proxy } = yield* schemaBehindProxy()
        const ledger = yield* ledgerOf(layerPostgres({ url: proxied, holdTtlS: 900 }))
        const insert = /INSERT INTO "?ledger_events/
        proxy.arm(insert, 0)
        const held = yield* ledger.hold(request({ estimate: 0.25, limit: 0 })) // its reply lost: read back
        proxy.arm(insert, 0)
        yield* ledger.commit(held, { cost: 0.125 }) // its reply lost: read back, no failure, no cancel to follow
        const events = yield* ledger.events({ traceId: held.traceId })
        assert.deepStrictEqual(events.map((event) => [event.type, event.status, event.cost]), [
          ["hold", "ok", 0.25],
          ["commit", "ok", 0.125]
        ])
        assert.strictEqual(yield* ledger.spendToday(), 0.125)
      }).pipe(Effect.scoped),
    30_000
  )

  it.live.skipIf(!pgReachable)(
    "an admission whose COMMIT reply was lost finds its own slot: admitted under rpm 1, counted once",
    () =>
      Effect.gen(function*() {
        const { proxied, proxy } = yield* schemaBehindProxy()
        const ledger = yield* ledgerOf(layerPostgres({ url: proxied, holdTtlS: 900 }))
        proxy.arm(/INSERT INTO "?rate_events/, 0)
        const admission = yield* ledger.admit({ alias: "flash", endpoint: "google", limits: { rpm: 1 }, tokens: 10 })
        assert.strictEqual(admission._tag, "Admitted")
        const [use] = yield* ledger.limitUse()
        assert.strictEqual(use?.requestsMinute, 1)
      }).pipe(Effect.scoped),
    30_000
  )

  it.live.skipIf(!pgReachable)(
    "an admission whose COMMIT never reached the server is admitted again, its slot written: another process counts it",
    () =>
      Effect.gen(function*() {
        const { proxied, proxy, url } = yield* schemaBehindProxy()
        const ledger = yield* ledgerOf(layerPostgres({ url: proxied, holdTtlS: 900 }))
        const other = yield* ledgerOf(layerPostgres({ url, holdTtlS: 900 }))
        proxy.arm(/INSERT INTO "?rate_events/, 0, "unsent")
        const request = { alias: "flash", endpoint: "google", limits: { rpm: 1 }, tokens: 10 }
        assert.strictEqual((yield* ledger.admit(request))._tag, "Admitted")
        // the slot is in the database: another process sharing the ledger is refused for the minute
        assert.strictEqual((yield* other.admit(request))._tag, "Refused")
      }).pipe(Effect.scoped),
    30_000
  )

  it.live.skipIf(!pgReachable)(
    "opening outlasts a lost connection in its spend and rate-window reads, and counts nothing twice",
    () =>
      Effect.gen(function*() {
        const { proxied, proxy } = yield* schemaBehindProxy()
        // a TTL of 1 ms: the settlement below is older than two, so the open sums it in its day
        const open = ledgerOf(layerPostgres({ url: proxied, holdTtlS: 0.001 }))
        const first = yield* open
        yield* first.commit(yield* first.hold(request({ estimate: 0.25, limit: 0 })), { cost: 0.125 })
        yield* first.admit({ alias: "flash", endpoint: "google", limits: { rpm: 2 }, tokens: 10 })
        yield* Effect.sleep("10 millis")
        // the reply to each read's COMMIT is lost: the open reads again
        proxy.arm(/GROUP BY alias, tags/, 1)
        const afterSpendCut = yield* open
        assert.strictEqual(yield* afterSpendCut.spendToday(), 0.125)
        proxy.arm(/FROM rate_events WHERE keep_until/, 1)
        const afterWindowsCut = yield* open
        const [use] = yield* afterWindowsCut.limitUse()
        assert.strictEqual(use?.requestsMinute, 1)
        assert.strictEqual(yield* afterWindowsCut.spendToday(), 0.125)
      }).pipe(Effect.scoped),
    30_000
  )

  it.effect.skipIf(!pgReachable)(
    "a reopened ledger counts this week's and month's settlements in every scope",
    () =>
      Effect.gen(function*() {
        const url = yield* freshPgSchema()
        yield* reopenedCountsEveryWindow(() => layerPostgres({ url, holdTtlS: 900 }))
      }).pipe(Effect.scoped)
  )

  it.effect.skipIf(!pgReachable)(
    "a database whose ledger schema is newer fails with LedgerError incompatible_schema",
    () =>
      Effect.gen(function*() {
        const error = yield* buildFailure(layerPostgresFresh(900, 9))
        assert.strictEqual(error.reason, "incompatible_schema")
        assert.include(error.message, "version 9")
        assert.include(error.message, "point ledger.url elsewhere")
      })
  )

  it.effect(
    "an unreachable server fails with LedgerError unavailable whose message holds no password",
    () =>
      Effect.gen(function*() {
        const error = yield* buildFailure(
          layerPostgres({ url: Redacted.make("postgres://ledger:hunter2-secret@127.0.0.1:1/ledger") })
        )
        assert.strictEqual(error.reason, "unavailable")
        assert.include(error.message, "127.0.0.1:1/ledger")
        assert.notInclude(error.message, "hunter2")
      }),
    { timeout: 10_000 }
  )

  it.effect(
    "a password that is also the database's name is removed from the message's own label, not only from the server's text",
    () =>
      Effect.gen(function*() {
        const error = yield* buildFailure(
          layerPostgres({ url: Redacted.make("postgres://ledger:hunter2-secret@127.0.0.1:1/hunter2-secret") })
        )
        assert.strictEqual(error.reason, "unavailable")
        assert.include(error.message, "PostgreSQL ledger at 127.0.0.1:1/<redacted>")
        assert.notInclude(error.message, "hunter2")
      }),
    { timeout: 10_000 }
  )

  it.effect(
    "a URL passed as a plain string (from JavaScript) is taken as if Redacted, never quoted; a URL of another type is a LedgerError naming its type",
    () =>
      Effect.gen(function*() {
        const plain = "postgres://ledger:hunter2-secret@127.0.0.1:1/ledger"
        const unreachable = yield* buildFailure(layerPostgres({ url: plain as unknown as Redacted.Redacted<string> }))
        assert.strictEqual(unreachable.reason, "unavailable")
        assert.include(unreachable.message, "127.0.0.1:1/ledger")
        assert.notInclude(unreachable.message, "hunter2")
        const missing = yield* buildFailure(layerPostgres({ url: undefined as unknown as Redacted.Redacted<string> }))
        assert.strictEqual(
          missing.message,
          "PostgreSQL ledger: url must be a postgres:// URL (a Redacted string), got undefined"
        )
      }),
    { timeout: 10_000 }
  )

  it.live(
    "a server whose refusal quotes the password it was sent fails with LedgerError unavailable, the password removed (API.md §14)",
    () =>
      Effect.gen(function*() {
        // Speaks just enough of the protocol: no TLS, asks for a cleartext password, then refuses
        // quoting the password message as written and URL-encoded (as a pooler's error might).
        const server = yield* Effect.acquireRelease(
          Effect.async<Net.Server>((resume) => {
            const server = Net.createServer((socket) => {
              let asked = false
              socket.on("error", () => {})
              socket.on("data", (data) => {
                if (!asked && data.length === 8 && data.readUInt32BE(4) === 80877103) return void socket.write("N")
                if (!asked) {
                  asked = true
                  const cleartext = Buffer.alloc(9)
                  cleartext.write("R", 0)
                  cleartext.writeUInt32BE(8, 1)
                  cleartext.writeUInt32BE(3, 5)
                  return void socket.write(cleartext)
                }
                const sent = data.toString("latin1").replace(/\0/g, " ")
                const body = Buffer.from(
                  `SFATAL\0C28P01\0Mpassword authentication failed, you sent: ${sent} / ${
                    encodeURIComponent(sent)
                  }\0\0`,
                  "latin1"
                )
                const length = Buffer.alloc(4)
                length.writeUInt32BE(body.length + 4)
                socket.end(Buffer.concat([Buffer.from("E"), length, body]))
              })
            })
            server.listen(0, "127.0.0.1", () => resume(Effect.succeed(server)))
          }),
          (server) => Effect.sync(() => server.close())
        )
        const { port } = server.address() as Net.AddressInfo
        const error = yield* buildFailure(
          layerPostgres({ url: Redacted.make(`postgres://ledger:hunter2-secret@127.0.0.1:${port}/ledger`) })
        )
        assert.strictEqual(error.reason, "unavailable")
        assert.include(error.message, "password authentication failed, you sent:")
        assert.include(error.message, "<redacted>")
        assert.notInclude(error.message, "hunter2")
      }).pipe(Effect.scoped),
    { timeout: 15_000 }
  )

  it.effect(
    "a server that accepts the connection but never answers fails with LedgerError unavailable after 10 s, its socket closed",
    () =>
      Effect.gen(function*() {
        const { closed, opening, port } = yield* openingOnSilentServer
        yield* TestClock.adjust("9 seconds")
        assert.isTrue(Option.isNone(yield* Fiber.poll(opening)))
        yield* TestClock.adjust("1 second")
        const error = yield* Fiber.join(opening)
        assert.strictEqual(error.reason, "unavailable")
        assert.include(error.message, `127.0.0.1:${port}/ledger`)
        assert.notInclude(error.message, "hunter2")
        yield* Effect.promise(() => closed)
      }).pipe(Effect.scoped)
  )

  it.effect(
    "an opening interrupted while such a server holds it (a runtime disposed mid-build) ends at once, its socket closed",
    () =>
      Effect.gen(function*() {
        const { closed, opening } = yield* openingOnSilentServer
        // the TestClock never reaches the 10 s connect timeout: only the interruption can end the wait
        const exit = yield* Fiber.interrupt(opening)
        assert.isTrue(Exit.isInterrupted(exit))
        yield* Effect.promise(() => closed)
      }).pipe(Effect.scoped),
    // pg's own connect timer (10 s of real time) would end it too: the interruption must not wait for it
    { timeout: 5_000 }
  )
})
