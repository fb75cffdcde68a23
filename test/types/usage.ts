// Every documented API of napi-async-trace, used as a TypeScript program
// would (README "Use", "Follow a chain", "Outputs", "An HTML report",
// "Errors"). test/js/types.test.js runs `tsc --strict --noEmit` over it:
// a documented name missing from the .d.ts files, or typed so that this
// ordinary use does not compile, fails that test. Never run, only checked.
import * as nat from 'napi-async-trace'
import natDefault from 'napi-async-trace'
import { renderReport } from 'napi-async-trace/report'
import * as registered from 'napi-async-trace/register'
import includeDir = require('napi-async-trace/include')

export async function everything (t: { after (fn: () => void): void, name?: string }): Promise<string[]> {
  const out: string[] = []
  nat.enable()
  nat.enable({ capacity: 1 << 16, maxThreads: 64, stacks: true, stackLimit: 1000, js: { ignore: ['PROMISE'] } })
  nat.enable({ js: true })
  const on: boolean = nat.isEnabled()

  const site: number = nat.marks.site('app:thing')
  const link: number = nat.marks.link(site)
  const ready: number = nat.marks.ready(site, link)
  const frame: number = nat.marks.begin(site, ready)
  const current: number = nat.marks.current()
  nat.marks.end(frame)

  const batch: nat.EventBatch = nat.drain({ max: 1000 })
  for (const e of batch) {
    const ids: number[] = [e.executeID, e.linkID, e.readyID, e.ts, e.thread, e.env]
    const where: string | null = e.site
    const name: nat.EventName | 'unknown' = e.event
    out.push(`${name} ${where ?? ''} ${ids.join(',')} ${e.count ?? 0}`)
  }
  out.push(String(batch), JSON.stringify(batch))
  const seed: nat.SeedEvent[] = batch.toJSON()
  const first: nat.TraceEvent = batch.get(0)
  out.push(`${batch.length} ${batch.lost} ${seed.length} ${first.event} ${batch.eventAt(0)} ${batch.siteAt(0)}`)
  const again: nat.EventBatch = nat.decode(batch.buffer)
  const objects: nat.TraceEvent[] = again.toObjects()

  const s: nat.Stats = nat.stats()
  out.push(`${s.recorded} ${s.dropped} ${s.drained} ${s.pending} ${s.capacity} ${s.threads} ${on} ${current}`)

  const g: nat.AsyncGraph = nat.graph(batch)
  g.add(nat.drain()).add(objects).add({ events: seed })
  const h = new nat.AsyncGraph({ stacks: new Map([[1, 'at f (x.js:1:1)']]) })
  h.setStacks((id) => nat.linkStack(id)).setStacks(null)
  const steps: nat.StackStep[] = g.stack(current)
  out.push(g.formatStack(current), nat.formatStack(steps), g.stackSites(current).join(';'))
  const pending: nat.PendingItem[] = g.pending({ now: 0, since: 0 })
  out.push(nat.formatPending(pending))
  for (const p of pending) out.push(`${p.kind} ${p.id} ${p.age}`)
  const sites: nat.SiteTotals[] = g.sites()
  for (const st of sites) out.push(`${st.site} ${st.frames} ${st.queueWait.p50} ${st.dispatchWait.p99} ${st.run.max}`)
  const kids: number[] = g.children(0)
  const roots: number[] = g.roots
  const parent: number | null = g.parent(current)
  const aborted: Array<nat.LinkNode | nat.ReadyNode> = g.aborted()
  const frames: nat.FrameNode[] = g.frames()
  const f: nat.FrameNode | null = g.frame(current)
  const node = g.node(link)
  out.push(`${kids.length} ${roots.length} ${parent} ${aborted.length} ${frames.length} ${f?.duration} ${node?.kind}`)
  out.push(`${g.size} ${g.events} ${g.lost} ${g.problemCount} ${g.problems.map((p) => p.message).join()} ${g.firstTs} ${g.lastTs} ${g.siteNames.join()}`)

  const chrome: nat.ChromeTrace = g.toChromeTrace({ pending: true, readies: false })
  const slices: nat.ChromeTraceEvent[] = chrome.traceEvents.filter((e) => e.ph === 'X')
  out.push(JSON.stringify(chrome), String(slices.length), g.toFolded({ maxDepth: 32 }), g.toDot({ maxNodes: 100 }))

  out.push(nat.renderReport(g, { title: 't', maxFrames: 100, generated: new Date().toISOString() }))
  out.push(renderReport(g))

  const tracked: nat.TrackResult<number> = await nat.track(async () => 42, { stacks: true, js: true, capacity: 4096 })
  const answer: number = tracked.result
  out.push(`${answer} ${tracked.pending.length} ${tracked.graph.size}`)
  nat.assertNoPending(t, { stacks: true })

  try {
    nat.marks.site('')
  } catch (err) {
    const e = err as nat.NatError
    const code: nat.NatErrorCode = e.code
    out.push(code, nat.codes[code].message, String(nat.codes.NAT_EINVAL.errno))
  }

  const c: nat.Constants = nat.constants
  out.push(`${c.RECORD_SIZE} ${c.SITE_NAME_MAX} ${nat.version} ${nat.engine.version}`)
  out.push(String(nat.EVENT_TYPES.link), String(nat.EVENT_NAMES[1]), typeof nat.nativeApi)
  out.push(includeDir, typeof natDefault.enable, typeof registered.drain)

  // OpenTelemetry, diagnostics_channel, link context.
  const provider: nat.OtelTracerProvider = { getTracer: () => ({}) }
  const opts: nat.OtelEnableOptions = { tracerProvider: provider, interval: 0, requireParentSpan: false }
  if (opts.interval === 1) nat.otel.enable(opts)
  const ended: number = nat.otel.flush()
  const os: nat.OtelStats = nat.otel.stats()
  out.push(String(ended), String(os.enabled), String(nat.otel.enabled))
  nat.otel.disable()
  if (nat.channel !== null) {
    const onStart = (ctx: nat.WorkChannelContext) => { out.push(`${ctx.linkID} ${ctx.site} ${ctx.executeID}`) }
    nat.channel.start.subscribe(onStart)
    nat.channel.start.unsubscribe(onStart)
    const handlers = { asyncStart: onStart }
    nat.channel.subscribe(handlers)
    out.push(String(nat.channel.hasSubscribers), String(nat.channel.unsubscribe(handlers)))
  }
  nat.setLinkContext(() => undefined)
  nat.setLinkContext(null)
  nat.disable()
  return out
}
