'use strict'
// What an AsyncGraph turns into for other tools:
//   toChromeTrace  the Trace Event Format (JSON object form) that Perfetto
//                  and chrome://tracing open: frames as complete ('X')
//                  slices per env (pid) and thread (tid), link -> frame as
//                  flow arrows ('s' at the link, 'f' bound to the frame's
//                  slice), readies and pending work as instant ('i') events,
//                  names from metadata ('M') events. Times in microseconds
//                  from the graph's first event.
//   toFolded       async call stacks, root first, weighted by each frame's
//                  own run time in ns, one `a;b;c weight` line per distinct
//                  stack (flamegraph.pl, speedscope, inferno); a step whose
//                  link has a JS stack also names the function and file:line
//                  that linked it (`js:PROMISE loadUser (users.js:14)`), as
//                  the CLI's streaming summary does.
//   toDot          Graphviz: frames as nodes clustered by site, edges from
//                  the frame that linked to the frame that ran the work.
// These read the graph's columns directly (same package) to stay linear.
const { invalidArgType, validateInteger } = require('./errors')
const { frameLabel } = require('./summary')

const KIND_READY = 2
const KIND_FRAME = 3
const FLAG_ENDED = 2

function validateOptions (options) {
  if (options === null || typeof options !== 'object') throw invalidArgType('options', 'of type object', options)
  return options
}

function siteLabel (g, s) {
  return g._sites[g._site[s]] || '(no site)'
}

// Is link slot l inside the slice of the frame that made it (a frame of
// the graph, on the same env and thread, begun before and not ended
// before the link)?
function onSlice (g, l) {
  const frame = g._a[l]
  if (frame === 0) return false
  const f = g._slot.get(frame)
  if (f === undefined || g._kind[f] !== KIND_FRAME) return false
  if (g._env[f] !== g._env[l] || g._thread[f] !== g._thread[l]) return false
  const t = g._ts[l]
  if (!(g._ts[f] <= t)) return false
  const ended = (g._flags[f] & FLAG_ENDED) !== 0 && Number.isFinite(g._b[f])
  return !ended || t <= g._b[f]
}

/**
 * The Trace Event Format object { traceEvents, displayTimeUnit, metadata }.
 * options.pending (default true): pending work as instant events;
 * options.readies (default true): readies as instant events on the thread
 * that made them ready.
 */
function toChromeTrace (g, options = {}) {
  validateOptions(options)
  const withPending = options.pending !== false
  const withReadies = options.readies !== false
  const t0 = Number.isFinite(g.firstTs) ? g.firstTs : 0
  const us = (ns) => Math.max(0, (ns - t0) / 1000)
  const events = []
  const lanes = new Map() // "pid:tid" -> true
  const lane = (pid, tid) => {
    const key = `${pid}:${tid}`
    if (!lanes.has(key)) lanes.set(key, [pid, tid])
  }
  const cat = 'napi-async-trace'
  for (let s = 0; s < g._n; s++) {
    if (g._kind[s] !== KIND_FRAME || !Number.isFinite(g._ts[s])) continue
    const pid = g._env[s]
    const tid = g._thread[s]
    lane(pid, tid)
    const ended = (g._flags[s] & FLAG_ENDED) !== 0 && Number.isFinite(g._b[s])
    const begin = g._ts[s]
    const end = ended ? g._b[s] : g.lastTs
    const [r, l] = g._hops(s)
    const args = { executeID: g._id[s], readyID: g._a[s] }
    if (r >= 0) args.dispatchWaitUs = (begin - g._ts[r]) / 1000
    if (l >= 0) {
      args.linkID = g._id[l]
      args.queueWaitUs = (g._ts[r] - g._ts[l]) / 1000
      args.linkedInFrame = g._a[l]
    }
    if (!ended) args.unfinished = true
    const dur = (end - begin) / 1000
    events.push({ name: siteLabel(g, s), cat, ph: 'X', ts: us(begin), dur: Number.isFinite(dur) ? Math.max(0, dur) : 0, pid, tid, args })
    if (l >= 0 && Number.isFinite(g._ts[l])) {
      // The arrow starts at the link (inside the linking frame's slice on
      // its thread) and ends at this frame's slice. Its id is the frame's:
      // a link readied more than once (an interval) has one arrow per run.
      lane(g._env[l], g._thread[l])
      const id = g._id[s]
      // A flow start binds to the slice around it on its thread. Links
      // made where no frame slice is (the root frame 0, the event loop, a
      // native thread, a frame not in the trace) get a slice of their own,
      // a 1 ns mark named for where the link was made, so every arrow is
      // drawn.
      if (!onSlice(g, l)) {
        const frame = g._a[l]
        events.push({ name: frame === 0 ? 'root' : `frame ${frame}`, cat: `${cat}.link`, ph: 'X', ts: us(g._ts[l]), dur: 0.001, pid: g._env[l], tid: g._thread[l], args: { linkID: g._id[l], linkedInFrame: frame } })
      }
      events.push({ name: 'link', cat: `${cat}.flow`, ph: 's', id, ts: us(g._ts[l]), pid: g._env[l], tid: g._thread[l] })
      events.push({ name: 'link', cat: `${cat}.flow`, ph: 'f', bp: 'e', id, ts: us(begin), pid, tid })
    }
  }
  if (withReadies) {
    for (let s = 0; s < g._n; s++) {
      if (g._kind[s] !== KIND_READY || !Number.isFinite(g._ts[s])) continue
      lane(g._env[s], g._thread[s])
      events.push({
        name: `ready ${siteLabel(g, s)}`, cat, ph: 'i', s: 't', ts: us(g._ts[s]), pid: g._env[s], tid: g._thread[s],
        args: { readyID: g._id[s], linkID: g._a[s], readyBy: g._b[s] }
      })
    }
  }
  if (withPending) {
    for (const p of g.pending()) {
      if (!Number.isFinite(p.ts)) continue
      lane(p.env, p.thread)
      const args = { kind: p.kind, id: p.id, ageUs: p.age / 1000 }
      if (p.stack) args.stack = p.stack
      events.push({ name: `pending ${p.kind} ${p.site || '(no site)'}`, cat: `${cat}.pending`, ph: 'i', s: 'p', ts: us(p.ts), pid: p.env, tid: p.thread, args })
    }
  }
  // Metadata: names for processes (envs) and threads.
  const pids = new Set()
  for (const [pid, tid] of lanes.values()) {
    if (!pids.has(pid)) {
      pids.add(pid)
      events.push({ name: 'process_name', ph: 'M', pid, tid: 0, args: { name: pid === 1 ? 'env 1 (main thread)' : `env ${pid}` } })
    }
    events.push({ name: 'thread_name', ph: 'M', pid, tid, args: { name: `thread ${tid}` } })
  }
  return {
    traceEvents: events,
    displayTimeUnit: 'ms',
    metadata: { 'napi-async-trace': { events: g.events, lost: g.lost, problems: g.problemCount, firstTsNs: t0 } }
  }
}

/**
 * Folded stacks: `root;site;site... weight` lines, weight = the frame's run
 * time in nanoseconds (frames not ended and zero-length frames are left
 * out). A step whose link has a JS stack reads `site fn (file.js:line)`.
 * options.maxDepth (default 64): longer chains keep their innermost
 * frames below an `...` step.
 */
function toFolded (g, options = {}) {
  validateOptions(options)
  const maxDepth = options.maxDepth === undefined ? 64 : validateInteger(options.maxDepth, 'options.maxDepth', 1, 4096)
  const totals = new Map()
  const clean = (name) => name.replace(/[;\n\r]/g, '_')
  // A frame's step: its site, and where a JS stack was captured at the
  // link that asked for it, the linking function and file:line (the same
  // formatting as the CLI's summary, so both outputs name hops alike).
  const step = (f) => {
    const site = siteLabel(g, f)
    const [, l] = g._hops(f)
    const where = l < 0 ? null : frameLabel(g._stackOf(g._id[l]))
    return where === null ? site : `${site} ${where}`
  }
  for (let s = 0; s < g._n; s++) {
    if (g._kind[s] !== KIND_FRAME || !(g._flags[s] & FLAG_ENDED)) continue
    const weight = Math.round(g._b[s] - g._ts[s])
    if (!(weight > 0)) continue
    const names = []
    let f = s
    let top = 'root'
    for (;;) {
      names.push(clean(step(f)))
      if (names.length >= maxDepth) { top = '...'; break }
      const p = g._parentFrame(f)
      if (p === 0) break
      const ps = p < 0 ? undefined : g._slot.get(p)
      if (ps === undefined || g._kind[ps] !== KIND_FRAME) { top = p < 0 ? '(unknown)' : '(not in graph)'; break }
      f = ps
    }
    names.push(top)
    const key = names.reverse().join(';')
    totals.set(key, (totals.get(key) || 0) + weight)
  }
  const lines = []
  for (const [k, v] of totals) lines.push(`${k} ${v}`)
  lines.sort()
  return lines.length ? `${lines.join('\n')}\n` : ''
}

function dotString (s) {
  return `"${String(s).replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`
}

/**
 * Graphviz DOT: frames as nodes in one cluster per site, edges from the
 * linking frame (or root) labelled with the queue wait. options.maxNodes
 * (default 2000): past it, the slowest frames are kept and a note says how
 * many were left out.
 */
function toDot (g, options = {}) {
  validateOptions(options)
  const maxNodes = options.maxNodes === undefined ? 2000 : validateInteger(options.maxNodes, 'options.maxNodes', 1, 1e6)
  let slots = []
  for (let s = 0; s < g._n; s++) if (g._kind[s] === KIND_FRAME) slots.push(s)
  const total = slots.length
  if (slots.length > maxNodes) {
    const dur = (s) => (g._flags[s] & FLAG_ENDED ? g._b[s] - g._ts[s] : Infinity)
    slots.sort((a, b) => dur(b) - dur(a))
    slots = slots.slice(0, maxNodes).sort((a, b) => a - b)
  }
  const kept = new Set(slots.map((s) => g._id[s]))
  const bySite = new Map()
  for (const s of slots) {
    const site = g._site[s]
    if (!bySite.has(site)) bySite.set(site, [])
    bySite.get(site).push(s)
  }
  const out = ['digraph async {', '  rankdir=LR;', '  node [shape=box, fontsize=10];',
    '  root [label="root (0)", shape=ellipse];']
  if (total > slots.length) out.push(`  note [shape=note, label=${dotString(`${total - slots.length} of ${total} frames left out (the fastest)`)}];`)
  let c = 0
  for (const [site, list] of bySite) {
    out.push(`  subgraph cluster_${c++} {`, `    label=${dotString(g._sites[site] || '(no site)')};`)
    for (const s of list) {
      const ended = g._flags[s] & FLAG_ENDED
      const label = `${g._id[s]}\n${ended ? `${((g._b[s] - g._ts[s]) / 1e6).toFixed(3)} ms` : 'not ended'}`
      out.push(`    f${g._id[s]} [label=${dotString(label)}${ended ? '' : ', style=dashed'}];`)
    }
    out.push('  }')
  }
  for (const s of slots) {
    const p = g._parentFrame(s)
    if (p < 0) continue
    const from = p === 0 ? 'root' : kept.has(p) ? `f${p}` : null
    if (from === null) continue
    const [r, l] = g._hops(s)
    const wait = r >= 0 && l >= 0 ? (g._ts[r] - g._ts[l]) / 1e6 : NaN
    out.push(`  ${from} -> f${g._id[s]}${Number.isFinite(wait) ? ` [label=${dotString(`${wait.toFixed(3)} ms`)}]` : ''};`)
  }
  out.push('}')
  return `${out.join('\n')}\n`
}

module.exports = { toChromeTrace, toFolded, toDot }
