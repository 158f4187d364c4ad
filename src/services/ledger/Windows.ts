/**
 * The rate-limit windows (API.md §11), one pure structure shared by every backend: the memory ledger
 * is this structure; the SQL ledgers fold their `rate_events` rows into one. Per alias, the admitted
 * attempts (slots) in timestamp order; per alias and endpoint, the pause a server's 429 taught.
 * A slot counts toward `rpm`/`tpm` for 60 s and `rpd` for 24 h after its admission. It is dropped once
 * twice that retention has passed (`forgetAt`): a clock stepped back by up to one retention (an NTP
 * correction, `TestClock.setTime`) still finds the slots it counts, and memory and storage stay bounded.
 */
import type { RateLimits } from "../../domain/Config.js"
import type { LimitKind } from "../../domain/Errors.js"

/** The longest pause a server's Retry-After teaches (a day: no limit's window is longer). */
export const longestPauseMs = 24 * 60 * 60 * 1000

export const minuteMs = 60_000
export const dayMs = 86_400_000

/**
 * How far past the longest pause a learned pause may end and still be one: the writer's clock may be
 * ahead of the reader's. Past it, a row an older version wrote before the cap (a Retry-After in
 * milliseconds read as seconds: 1,000 days), which is no hint.
 */
const pauseSkewMs = 60 * minuteMs

/** One admitted attempt as the windows count it. */
export interface SlotRecord {
  readonly id: string
  readonly alias: string
  readonly endpoint: string
  /** Epoch ms of its admission. */
  readonly timestamp: number
  /** Tokens it counts: the estimate until it settles, then what it used. */
  tokens: number
  /** Epoch ms after which no window counts it (24 h with `rpd`, else 60 s). */
  readonly keepUntil: number
}

/** A refusal: the limit that refused and how long until the attempt would fit. */
export interface Refusal {
  readonly kind: LimitKind
  readonly retryAfterMs: number
}

/** Current use of one alias's windows. */
export interface WindowUse {
  readonly requestsMinute: number
  readonly tokensMinute: number
  /**
   * Requests in the last 24 h. Kept for an alias with `rpd` only: an alias without one keeps its
   * requests 60 s (its windows need no more), so for it this is the last minute's count.
   */
  readonly requestsDay: number
  /** Endpoints paused by a server's 429, with the epoch ms the pause ends. */
  readonly pauses: ReadonlyArray<{ readonly endpoint: string; readonly until: number }>
}

/** How long a slot admitted under `limits` counts. */
export const retention = (limits: RateLimits): number => limits.rpd !== undefined ? dayMs : minuteMs

/** When a slot may be forgotten: one more retention after its windows stop counting it. */
export const forgetAt = (slot: Pick<SlotRecord, "timestamp" | "keepUntil">): number =>
  2 * slot.keepUntil - slot.timestamp

/**
 * An alias's slots in timestamp order, the live ones from `head`. The oldest are dropped by moving
 * `head`, not by shifting the array: at 100,000 requests a day (an `rpd` alias keeps two days) a shift
 * per admission moved 200,000 references, 636 µs of every check. The array is compacted once half of it
 * is dropped, so each slot is moved O(1) times.
 */
interface SlotQueue {
  items: Array<SlotRecord>
  head: number
}

/** The first index from `queue.head` whose timestamp is > `after`. */
const firstAfter = (queue: SlotQueue, after: number): number => {
  const slots = queue.items
  let low = queue.head
  let high = slots.length
  while (low < high) {
    const mid = (low + high) >>> 1
    if (slots[mid]!.timestamp > after) high = mid
    else low = mid + 1
  }
  return low
}

const pauseKey = (alias: string, endpoint: string) => `${alias}\u0000${endpoint}`

/** The windows of every alias (and the learned pauses). Not synchronised: callers serialise. */
export class RateWindows {
  private readonly slots = new Map<string, SlotQueue>()
  private readonly byId = new Map<string, SlotRecord>()
  private readonly pauses = new Map<string, { readonly alias: string; readonly endpoint: string; until: number }>()

  /** Drops the alias's slots past `forgetAt` (the oldest first). */
  private prune(alias: string, now: number): SlotQueue {
    let queue = this.slots.get(alias)
    if (queue === undefined) {
      queue = { items: [], head: 0 }
      this.slots.set(alias, queue)
      return queue
    }
    const items = queue.items
    let head = queue.head
    while (head < items.length && forgetAt(items[head]!) <= now) this.byId.delete(items[head++]!.id)
    if (head > 0 && head * 2 >= items.length) {
      items.splice(0, head)
      head = 0
    }
    queue.head = head
    return queue
  }

  /**
   * Whether an attempt to `endpoint` of `alias` with `tokens` fits at `now`: `undefined` when it
   * does, else the refusal whose wait is longest (the attempt fits once every limit would admit it).
   * A learned pause is one of them: a window that frees later than the pause ends is the wait (a
   * call must not sleep out the pause only to find the window still full, past its longest wait).
   */
  check(alias: string, endpoint: string, limits: RateLimits, tokens: number, now: number): Refusal | undefined {
    let refusal: Refusal | undefined
    const refuse = (kind: LimitKind, retryAfterMs: number) => {
      if (refusal === undefined || retryAfterMs > refusal.retryAfterMs) refusal = { kind, retryAfterMs }
    }
    const until = this.pausedUntil(alias, endpoint, now)
    if (until !== undefined) refuse("server", until - now)
    const queue = this.prune(alias, now)
    const list = queue.items
    const minute = firstAfter(queue, now - minuteMs)
    const inMinute = list.length - minute
    if (limits.rpm !== undefined && inMinute >= limits.rpm) {
      // the (inMinute - rpm + 1)th oldest slot of the minute must leave it
      refuse("rpm", list[minute + inMinute - limits.rpm]!.timestamp + minuteMs - now)
    }
    if (limits.tpm !== undefined) {
      let used = 0
      for (let i = minute; i < list.length; i++) used += list[i]!.tokens
      if (used + tokens > limits.tpm) {
        let i = minute
        while (i < list.length && used + tokens > limits.tpm) used -= list[i++]!.tokens
        // `tokens` alone over `tpm` never fits; callers refuse such an attempt before asking
        refuse("tpm", i === minute ? minuteMs : list[i - 1]!.timestamp + minuteMs - now)
      }
    }
    if (limits.rpd !== undefined) {
      const day = firstAfter(queue, now - dayMs)
      const inDay = list.length - day
      if (inDay >= limits.rpd) refuse("rpd", list[day + inDay - limits.rpd]!.timestamp + dayMs - now)
    }
    return refusal
  }

  /** Counts an admitted slot (kept in timestamp order: another process's may be slightly older). */
  add(slot: SlotRecord): void {
    if (this.byId.has(slot.id)) return
    let queue = this.slots.get(slot.alias)
    if (queue === undefined) {
      queue = { items: [], head: 0 }
      this.slots.set(slot.alias, queue)
    }
    const list = queue.items
    let at = list.length
    while (at > queue.head && list[at - 1]!.timestamp > slot.timestamp) at--
    if (at === list.length) list.push(slot)
    else list.splice(at, 0, slot)
    this.byId.set(slot.id, slot)
  }

  /** The slot counted under `id`, if any. */
  slot(id: string): SlotRecord | undefined {
    return this.byId.get(id)
  }

  /** Sets a slot's tokens to what its attempt used (a slot already dropped is ignored). */
  correct(id: string, tokens: number): void {
    const slot = this.byId.get(id)
    if (slot !== undefined) slot.tokens = tokens
  }

  /**
   * Pauses an endpoint of an alias until `until` (a longer pause already learned stays). One past the
   * longest pause at `now` is not kept (so no pause kept is ever one): an old row's must not hide a
   * real pause learned after it.
   */
  pause(alias: string, endpoint: string, until: number, now: number): void {
    if (until - now > longestPauseMs + pauseSkewMs) return
    const key = pauseKey(alias, endpoint)
    const found = this.pauses.get(key)
    if (found === undefined) this.pauses.set(key, { alias, endpoint, until })
    else if (until > found.until) found.until = until
  }

  /** The end (epoch ms) of the pause learned for an alias's endpoint, while it is in force at `now`. */
  pausedUntil(alias: string, endpoint: string, now: number): number | undefined {
    const key = pauseKey(alias, endpoint)
    const pause = this.pauses.get(key)
    if (pause === undefined) return undefined
    if (pause.until > now) return pause.until
    this.pauses.delete(key)
    return undefined
  }

  /** The aliases with slots or pauses. */
  aliases(): ReadonlyArray<string> {
    const names = new Set(this.slots.keys())
    for (const pause of this.pauses.values()) names.add(pause.alias)
    return [...names].sort()
  }

  /** An alias's current window use. */
  use(alias: string, now: number): WindowUse {
    const queue = this.prune(alias, now)
    const list = queue.items
    const minute = firstAfter(queue, now - minuteMs)
    let tokensMinute = 0
    for (let i = minute; i < list.length; i++) tokensMinute += list[i]!.tokens
    const pauses: Array<{ readonly endpoint: string; readonly until: number }> = []
    for (const pause of this.pauses.values()) {
      if (pause.alias === alias && pause.until > now) {
        pauses.push({ endpoint: pause.endpoint, until: pause.until })
      }
    }
    // slots kept past their retention (`forgetAt`) are not in any window
    let requestsDay = 0
    for (let i = firstAfter(queue, now - dayMs); i < list.length; i++) if (list[i]!.keepUntil > now) requestsDay++
    return { requestsMinute: list.length - minute, tokensMinute, requestsDay, pauses }
  }
}
