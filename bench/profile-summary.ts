/**
 * Summarises a V8 `.cpuprofile` (from `node --cpu-prof`): self time by function and by package/file,
 * to find where a bench worker spends its time. Run: `npx tsx bench/profile-summary.ts <file> [top]`.
 */
import * as Fs from "node:fs"

interface Node {
  readonly id: number
  readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number }
  readonly children?: ReadonlyArray<number>
}
interface Profile {
  readonly nodes: ReadonlyArray<Node>
  readonly samples: ReadonlyArray<number>
  readonly timeDeltas: ReadonlyArray<number>
}

const [file, topArg] = process.argv.slice(2)
const profile = JSON.parse(Fs.readFileSync(file!, "utf8")) as Profile
const top = Number(topArg ?? 40)
// The repository the profiled worker ran from (its own code is charged to it).
const root = process.cwd()
const byId = new Map(profile.nodes.map((node) => [node.id, node]))
const self = new Map<number, number>()
profile.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)))
const total = [...self.values()].reduce((a, b) => a + b, 0)

const where = (url: string) => {
  const m = /node_modules\/((?:@[^/]+\/)?[^/]+)\/(.*)$/.exec(url)
  if (m) return `${m[1]}/${m[2]!.replace(/^(dist\/(esm|cjs)\/|src\/)/, "")}`
  return url.replace(`file://${root}/`, "") || "(native)"
}
const add = (map: Map<string, number>, key: string, value: number) => map.set(key, (map.get(key) ?? 0) + value)
const fns = new Map<string, number>()
const files = new Map<string, number>()
const pkgs = new Map<string, number>()
for (const [id, time] of self) {
  const frame = byId.get(id)!.callFrame
  const w = where(frame.url)
  add(fns, `${frame.functionName || "(anon)"} ${w}:${frame.lineNumber + 1}`, time)
  add(files, w, time)
  add(pkgs, w.startsWith("(") ? w : w.split("/").slice(0, w.startsWith("@") ? 2 : 1).join("/"), time)
}
const show = (title: string, map: Map<string, number>, n: number) => {
  console.log(`\n== ${title} (total ${(total / 1000).toFixed(0)} ms)`)
  for (const [key, time] of [...map].sort((a, b) => b[1] - a[1]).slice(0, n)) {
    console.log(`${((100 * time) / total).toFixed(1).padStart(5)}%  ${(time / 1000).toFixed(1).padStart(8)} ms  ${key}`)
  }
}
// Self time charged to the nearest frame of this package's own code (dist/ or src/) up the stack:
// what each of our functions costs, libraries underneath included.
const parent = new Map<number, number>()
for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id)
const ours = new Map<string, number>()
const own = (url: string) => url.startsWith(`file://${root}/dist/`) || url.startsWith(`file://${root}/src/`)
for (const [id, time] of self) {
  let current: number | undefined = id
  let label = "(outside effect-llm)"
  while (current !== undefined) {
    const frame = byId.get(current)!.callFrame
    if (own(frame.url)) {
      label = `${frame.functionName || "(anon)"} ${where(frame.url)}:${frame.lineNumber + 1}`
      break
    }
    current = parent.get(current)
  }
  const leaf = byId.get(id)!.callFrame.functionName
  if (leaf === "(idle)" || leaf === "(garbage collector)" || leaf === "(program)") label = leaf
  add(ours, label, time)
}

show("by package", pkgs, 15)
show("by file", files, 25)
show("by function", fns, top)
show("by nearest effect-llm function (inclusive of what it calls)", ours, top)
