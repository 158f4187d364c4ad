/**
 * An in-memory `Tracer` for tests: records every span with its parent, attributes and exit.
 */
import type * as Context from "effect/Context"
import type * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as Tracer from "effect/Tracer"

/** A span as recorded. */
export class RecordedSpan implements Tracer.Span {
  readonly _tag = "Span"
  readonly attributes = new Map<string, unknown>()
  readonly events: Array<{ name: string; attributes: Record<string, unknown> | undefined }> = []
  readonly sampled = true
  status: Tracer.SpanStatus
  links: ReadonlyArray<Tracer.SpanLink>
  constructor(
    readonly name: string,
    readonly parent: Option.Option<Tracer.AnySpan>,
    readonly context: Context.Context<never>,
    links: ReadonlyArray<Tracer.SpanLink>,
    startTime: bigint,
    readonly kind: Tracer.SpanKind,
    readonly spanId: string,
    readonly traceId: string
  ) {
    this.links = links
    this.status = { _tag: "Started", startTime }
  }
  end(endTime: bigint, exit: Exit.Exit<unknown, unknown>): void {
    this.status = { _tag: "Ended", startTime: this.status.startTime, endTime, exit }
  }
  attribute(key: string, value: unknown): void {
    this.attributes.set(key, value)
  }
  event(name: string, _startTime: bigint, attributes?: Record<string, unknown>): void {
    this.events.push({ name, attributes })
  }
  addLinks(links: ReadonlyArray<Tracer.SpanLink>): void {
    this.links = [...this.links, ...links]
  }
  get parentName(): string | undefined {
    return Option.match(this.parent, { onNone: () => undefined, onSome: (p) => p._tag === "Span" ? p.name : undefined })
  }
  get ended(): boolean {
    return this.status._tag === "Ended"
  }
}

/** A tracer and the spans it recorded. */
export const make = () => {
  const spans: Array<RecordedSpan> = []
  let next = 0
  const tracer = Tracer.make({
    span: (name, parent, context, links, startTime, kind) => {
      const id = (++next).toString(16).padStart(16, "0")
      const traceId = Option.match(parent, { onNone: () => id.padStart(32, "0"), onSome: (p) => p.traceId })
      const span = new RecordedSpan(name, parent, context, links, startTime, kind, id, traceId)
      spans.push(span)
      return span
    },
    context: (f) => f()
  })
  return { tracer, spans, named: (name: string) => spans.filter((s) => s.name === name) }
}
