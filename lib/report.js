'use strict'
// renderReport: an AsyncGraph as one self-contained HTML file. Everything
// the page needs is inside it: the CSS, the script, and the data as a JSON
// blob in a <script type="application/json"> element. A Content Security
// Policy forbids every fetch, so the page works offline and user strings
// (site names, stacks) can never load anything even if they got out of
// their JSON; they only ever reach the DOM through textContent.
//
// The page shows a header with totals, a timeline (one lane per env and
// thread, nested frames in rows), the async call stack of the frame you
// click (walked in the page from the embedded frames, readies and links,
// by the same rules as AsyncGraph#stack) with a drawing of that chain, the
// per-site latency table and the pending list.
//
// This file does not load the addon: it needs only lib/graph.js.
const { AsyncGraph } = require('./graph')
const {
  invalidArgType, invalidArgValue, validateInteger, validateObject, validateString
} = require('./errors')

const REPORT_OPTIONS = new Set(['title', 'maxFrames', 'generated'])
const DEFAULT_TITLE = 'napi-async-trace report'
const DEFAULT_MAX_FRAMES = 20000
const MAX_FRAMES_LIMIT = 10000000
// Long lists are cut in the page (the header says by how much).
const MAX_PENDING_SHOWN = 2000
const MAX_PROBLEMS_SHOWN = 200
// Bumped when the shape of the embedded data changes.
const DATA_VERSION = 1

/**
 * Renders graph (an AsyncGraph) as one HTML document (a string) that needs
 * no network to view. Options:
 *   title      shown in the header and the window title
 *              (default 'napi-async-trace report')
 *   maxFrames  most frames embedded (default 20000). When the graph has
 *              more, the slowest frames are kept together with every frame
 *              on their async call stacks, and the page says how many were
 *              left out. Totals, site latencies and pending work always
 *              cover the whole graph.
 *   generated  a free-form line shown under the title (a date, a command)
 */
function renderReport (graph, options = {}) {
  if (!(graph instanceof AsyncGraph)) throw invalidArgType('graph', 'an AsyncGraph', graph)
  validateObject(options, 'options')
  for (const key of Object.keys(options)) {
    if (!REPORT_OPTIONS.has(key)) {
      throw invalidArgValue(`options.${key}`, `is not an option (known: ${[...REPORT_OPTIONS].join(', ')})`, options[key])
    }
  }
  const title = options.title === undefined ? DEFAULT_TITLE : validateString(options.title, 'options.title')
  const generated = options.generated === undefined ? '' : validateString(options.generated, 'options.generated')
  const maxFrames = options.maxFrames === undefined
    ? DEFAULT_MAX_FRAMES
    : validateInteger(options.maxFrames, 'options.maxFrames', 1, MAX_FRAMES_LIMIT)
  return page(reportData(graph, { title, generated, maxFrames }))
}

// ---- choosing frames -------------------------------------------------------

// The frames to embed: all of them when they fit; otherwise the slowest
// (unended frames count as running until the graph's last timestamp) plus
// every frame on their async stacks, so every embedded frame's stack is
// whole. The kept set is closed under "parent frame" and never larger than
// maxFrames. IDs decrease strictly along a stack, so depths are found in
// one pass in ID order.
function selectFrames (graph, all, maxFrames) {
  if (all.length <= maxFrames) return all
  const byId = new Map()
  for (const f of all) byId.set(f.id, f)
  const parentOf = new Map()
  const depth = new Map()
  const inIdOrder = all.slice().sort((a, b) => a.id - b.id)
  for (const f of inIdOrder) {
    const p = graph.parent(f.id)
    const parent = p !== null && p !== 0 && byId.has(p) ? p : 0
    parentOf.set(f.id, parent)
    depth.set(f.id, parent === 0 ? 1 : depth.get(parent) + 1)
  }
  const last = graph.lastTs
  const cost = (f) => Number.isFinite(f.duration)
    ? f.duration
    : (Number.isFinite(f.begin) && Number.isFinite(last) ? last - f.begin : -1)
  const slowest = all.slice().sort((a, b) => cost(b) - cost(a) || a.id - b.id)
  const kept = new Set()
  // A candidate whose chain does not fit is skipped; the walks are capped
  // so a graph of huge chains stays linear-ish.
  let budget = 50 * maxFrames + all.length
  for (const f of slowest) {
    if (kept.size >= maxFrames || budget <= 0) break
    if (kept.has(f.id) || depth.get(f.id) > maxFrames) continue
    const room = maxFrames - kept.size
    const chain = []
    let id = f.id
    while (id !== 0 && !kept.has(id) && chain.length <= room) {
      chain.push(id)
      id = parentOf.get(id)
    }
    budget -= chain.length + 1
    if (chain.length > room) continue
    for (const c of chain) kept.add(c)
  }
  return all.filter((f) => kept.has(f.id))
}

// ---- the embedded data -----------------------------------------------------

// The page's data (one JSON object, documented in the README section of
// the report):
//   version, title, generated, t0 (the graph's first timestamp, ns; every
//   other time is relative to it, null when unknown)
//   totals: { frames, framesShown, framesOmitted, framesUntimed, sites,
//             events, pending, pendingShown, aborted, lost, problems }
//   sites:  site names; every `site` below is an index here
//   lanes:  [{ env, thread }], one timeline lane each: the threads that
//           ran frames or made their readies (ready marks)
//   frames: [id, site, lane, begin, end, readyID], sorted by begin
//   readies: { readyID: [site, thread, env, ts, linkID, readyBy] }
//   links:   { linkID: [site, thread, env, ts, frame, stack] }, stack an
//            index in `stacks` or -1
//   stacks:  JS stack strings of links
//   siteStats: [{ site, frames, queueWait, dispatchWait, run }], each
//            wait { count, p50, p99, max } in ns
//   pending: [{ kind, id, site, thread, env, ts, age, frame?, readyBy?,
//            linkID?, linkFrame?, stack? }], oldest first
//   problems: [messages]
function reportData (graph, { title, generated, maxFrames }) {
  const all = graph.frames()
  const kept = selectFrames(graph, all, maxFrames)
  const t0 = Number.isFinite(graph.firstTs) ? graph.firstTs : 0
  const rel = (ts) => Number.isFinite(ts) ? ts - t0 : null

  const sites = []
  const siteIndex = new Map()
  const site = (name) => {
    const key = name === undefined ? null : name
    let i = siteIndex.get(key)
    if (i === undefined) {
      i = sites.length
      sites.push(key)
      siteIndex.set(key, i)
    }
    return i
  }
  const stacks = []
  const stackIndex = new Map()
  const stack = (text) => {
    if (typeof text !== 'string') return -1
    let i = stackIndex.get(text)
    if (i === undefined) {
      i = stacks.length
      stacks.push(text)
      stackIndex.set(text, i)
    }
    return i
  }

  // A lane per env and thread that ran a frame or made one of their
  // readies (a native pool thread gets a lane of ready marks).
  const laneKeys = new Map()
  const addLane = (env, thread) => {
    const key = `${env}:${thread}`
    if (!laneKeys.has(key)) laneKeys.set(key, { env, thread })
  }
  for (const f of kept) {
    addLane(f.env, f.thread)
    const r = f.readyID === 0 ? null : graph.node(f.readyID)
    if (r !== null && r.kind === 'ready' && Number.isFinite(r.ts)) addLane(r.env, r.thread)
  }
  const lanes = [...laneKeys.values()].sort((a, b) => a.env - b.env || a.thread - b.thread)
  const laneOf = new Map(lanes.map((l, i) => [`${l.env}:${l.thread}`, i]))

  const ordered = kept.slice().sort((a, b) => {
    const x = Number.isFinite(a.begin) ? a.begin : Infinity
    const y = Number.isFinite(b.begin) ? b.begin : Infinity
    return x - y || a.id - b.id
  })
  const frames = []
  const readies = {}
  const links = {}
  let untimed = 0
  for (const f of ordered) {
    if (!Number.isFinite(f.begin)) untimed++
    frames.push([f.id, site(f.site), laneOf.get(`${f.env}:${f.thread}`), rel(f.begin), rel(f.end), f.readyID])
    // This frame's hop of the stack: its ready and link, exactly where
    // AsyncGraph#stack would find them.
    if (f.readyID === 0) continue
    const r = graph.node(f.readyID)
    if (r === null || r.kind !== 'ready') continue
    readies[r.id] = [site(r.site), r.thread, r.env, rel(r.ts), r.linkID, r.readyBy]
    const l = graph.node(r.linkID)
    if (l === null || l.kind !== 'link') continue
    links[l.id] = [site(l.site), l.thread, l.env, rel(l.ts), l.frame, stack(l.stack)]
  }

  const summary = (s) => ({ count: s.count, p50: s.p50, p99: s.p99, max: s.max })
  const siteStats = graph.sites().map((s) => ({
    site: s.site,
    frames: s.frames,
    queueWait: summary(s.queueWait),
    dispatchWait: summary(s.dispatchWait),
    run: summary(s.run)
  }))

  const pendingAll = graph.pending()
  const pending = pendingAll.slice(0, MAX_PENDING_SHOWN).map((p) => {
    const o = { kind: p.kind, id: p.id, site: p.site, thread: p.thread, env: p.env, ts: rel(p.ts), age: p.age }
    if (p.kind === 'link') o.frame = p.frame
    if (p.kind === 'ready') {
      o.linkID = p.linkID
      o.readyBy = p.readyBy
      if (p.linkFrame !== undefined) o.linkFrame = p.linkFrame
    }
    if (typeof p.stack === 'string') o.stack = p.stack
    return o
  })

  return {
    version: DATA_VERSION,
    title,
    generated,
    t0: Number.isFinite(graph.firstTs) ? graph.firstTs : null,
    span: Number.isFinite(graph.lastTs) ? graph.lastTs - t0 : null,
    totals: {
      frames: all.length,
      framesShown: kept.length,
      framesOmitted: all.length - kept.length,
      framesUntimed: untimed,
      sites: graph.siteNames.length,
      events: graph.events,
      pending: pendingAll.length,
      pendingShown: pending.length,
      aborted: graph.aborted().length,
      lost: graph.lost,
      problems: graph.problemCount
    },
    sites,
    lanes,
    frames,
    readies,
    links,
    stacks,
    siteStats,
    pending,
    problems: graph.problems.slice(0, MAX_PROBLEMS_SHOWN).map((p) => `event ${p.index}: ${p.message}`)
  }
}

// ---- the page ----------------------------------------------------------------

function escapeHtml (text) {
  return String(text).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c])
}

// JSON that is safe inside a <script> element: no '<' at all (so neither
// '</script' nor '<!--' can appear), and the two line separators that
// older parsers choke on are escaped too. JSON.parse reads it unchanged.
function scriptJson (value) {
  return JSON.stringify(value)
    .replace(/</g, '\\u003c')
    .replace(/\u2028/g, '\\u2028')
    .replace(/\u2029/g, '\\u2029')
}

const CSP = "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'"

// The page's own code, as source text. Nothing in it may close a <script>.
const CLIENT_SOURCE = `'use strict';\n${walkStack.toString()}\n(${client.toString()})();\n`
if (/<\/script|<!--/i.test(CLIENT_SOURCE)) throw new Error('report.js: the page script must not contain </script or <!--')

function page (data) {
  const t = data.totals
  const total = (label, value, id) =>
    `<div class="total" id="total-${id}"><dt>${escapeHtml(label)}</dt><dd>${escapeHtml(value)}</dd></div>`
  const omitted = t.framesOmitted > 0
    ? `<p class="note" id="frames-omitted">${t.framesOmitted} of ${t.frames} frames left out: ` +
      `this report shows ${t.framesShown}: the slowest frames and every frame on their async stacks ` +
      '(site totals and pending work still count them all).</p>'
    : ''
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="${CSP}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(data.title)}</title>
<style>${STYLE}</style>
</head>
<body>
<header>
<h1>${escapeHtml(data.title)}</h1>
${data.generated ? `<p class="generated">${escapeHtml(data.generated)}</p>` : ''}
<dl id="totals">
${total('frames', t.frames, 'frames')}
${total('sites', t.sites, 'sites')}
${total('pending', t.pending, 'pending')}
${total('aborted', t.aborted, 'aborted')}
${total('lost records', t.lost, 'lost')}
${total('problems', t.problems, 'problems')}
${total('events', t.events, 'events')}
${total('span', data.span === null ? '?' : `${(data.span / 1e6).toFixed(3)} ms`, 'span')}
</dl>
${omitted}
${t.lost > 0 ? '<p class="note warn">The engine dropped records: some chains may end in "missing" and some items may look pending only because their later events were lost.</p>' : ''}
</header>
<main>
<section id="timeline-section">
<h2>Timeline</h2>
<div class="toolbar">
<button type="button" id="zoom-in" title="zoom in">+</button>
<button type="button" id="zoom-out" title="zoom out">&minus;</button>
<button type="button" id="zoom-reset">whole trace</button>
<span class="hint">Click a frame for its async call stack. Wheel zooms, drag pans.</span>
<span id="hover-info"></span>
</div>
<div id="timeline-wrap"><svg id="timeline" role="img" aria-label="frames by thread over time"></svg></div>
<p class="note" id="timeline-note"></p>
</section>
<section id="stack-section">
<h2>Async call stack</h2>
<div id="stack-columns">
<div id="stack-panel" aria-live="polite"><p class="empty">No frame selected.</p></div>
<div id="stack-graph-wrap"><svg id="stack-graph" role="img" aria-label="the selected chain as an async graph"></svg></div>
</div>
</section>
<section id="sites-section">
<h2>Sites</h2>
<p class="hint">Times in ms over every frame of the trace. Queue wait: link to ready. Dispatch wait: ready to the frame's start. Run: the frame itself.</p>
<table id="site-table"></table>
</section>
<section id="pending-section">
<h2>Pending</h2>
<p class="hint">Links never made ready, readies never run, frames never ended; oldest first. Age: before the trace's last event.</p>
<table id="pending-list"></table>
</section>
<section id="problems-section" hidden>
<h2>Problems in the input</h2>
<ul id="problem-list"></ul>
</section>
</main>
<script type="application/json" id="report-data">${scriptJson(data)}</script>
<script>
${CLIENT_SOURCE}</script>
</body>
</html>
`
}

const STYLE = `
:root { color-scheme: light; --ink: #222; --muted: #667; --line: #d8dce3; --bg: #fafbfc; --sel: #c0392b; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--ink); background: #fff; }
header { padding: 12px 20px; background: var(--bg); border-bottom: 1px solid var(--line); }
h1 { font-size: 20px; margin: 0 0 4px; font-weight: 600; }
h2 { font-size: 16px; margin: 0 0 8px; font-weight: 600; }
.generated, .hint { color: var(--muted); margin: 0 0 6px; }
.hint { font-size: 12px; }
#totals { display: flex; flex-wrap: wrap; gap: 6px 22px; margin: 8px 0 0; }
.total dt { font-size: 11px; text-transform: uppercase; letter-spacing: .04em; color: var(--muted); }
.total dd { margin: 0; font-size: 18px; font-variant-numeric: tabular-nums; }
.note { font-size: 13px; color: #554; background: #fff8e1; border: 1px solid #f0e0a0; padding: 4px 8px; border-radius: 3px; }
.note:empty { display: none; }
.warn { background: #fdecea; border-color: #f3b8b0; }
main { padding: 12px 20px 40px; }
section { margin: 0 0 24px; }
.toolbar { display: flex; align-items: center; gap: 6px; margin-bottom: 6px; flex-wrap: wrap; }
.toolbar button { font: inherit; padding: 1px 9px; border: 1px solid var(--line); background: #fff; border-radius: 3px; cursor: pointer; }
#hover-info { margin-left: auto; font-size: 12px; color: var(--muted); font-variant-numeric: tabular-nums; }
#timeline-wrap { border: 1px solid var(--line); border-radius: 3px; overflow: hidden; background: #fff; }
#timeline { display: block; width: 100%; user-select: none; cursor: default; }
#timeline .lane-bg { fill: #f6f7f9; }
#timeline .lane-bg.odd { fill: #fff; }
#timeline .lane-label { font-size: 11px; fill: var(--muted); }
#timeline .tick { stroke: #e6e8ec; }
#timeline .tick-label { font-size: 10px; fill: var(--muted); }
#timeline rect.frame { stroke-width: 1; cursor: pointer; }
#timeline rect.ready-mark { pointer-events: none; }
#timeline rect.frame.chain { stroke: var(--sel); stroke-width: 1.5; }
#timeline rect.frame.selected { stroke: var(--sel); stroke-width: 2.5; }
#stack-columns { display: flex; gap: 20px; align-items: flex-start; flex-wrap: wrap; }
#stack-panel { flex: 1 1 480px; min-width: 320px; }
#stack-panel ol { list-style: none; margin: 0; padding: 0; }
.step { border-left: 3px solid var(--line); padding: 3px 8px; margin: 0 0 2px; }
.step .what { font-weight: 600; }
.step .meta { color: var(--muted); font-size: 12px; font-variant-numeric: tabular-nums; }
.step-frame { border-left-color: #4a7fb5; background: #f3f7fb; cursor: pointer; }
.step-frame.current { background: #fbeeee; border-left-color: var(--sel); }
.step-ready { border-left-color: #6aa56a; margin-left: 18px; }
.step-link { border-left-color: #c08a3e; margin-left: 18px; }
.step-root { border-left-color: #333; background: #f2f2f2; }
.step-missing { border-left-color: var(--sel); color: var(--sel); }
pre { margin: 3px 0 0; font: 12px/1.35 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; white-space: pre-wrap; word-break: break-all; color: #444; }
#stack-graph-wrap { flex: 0 0 auto; }
#stack-graph text { font-size: 11px; }
#stack-graph .edge { stroke: #99a; fill: none; }
#stack-graph .edge-label { fill: var(--muted); font-size: 10px; }
table { border-collapse: collapse; font-variant-numeric: tabular-nums; }
th, td { border-bottom: 1px solid var(--line); padding: 3px 8px; text-align: right; vertical-align: top; }
th { background: var(--bg); font-weight: 600; font-size: 12px; }
td.text, th.text { text-align: left; }
td.site { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 12px; }
tr.group th { text-align: center; }
tr.group th.text { text-align: left; }
.empty { color: var(--muted); }
details summary { cursor: pointer; color: var(--muted); font-size: 12px; }
`

// ---- code that runs in the page ------------------------------------------------

// The async call stack of frame `id` from the embedded data: the same steps
// as AsyncGraph#stack (times relative to data.t0), walked through the
// frames map (id -> frame tuple), data.readies and data.links. IDs must
// decrease along the walk (the graph guarantees it); a hand-edited file
// that breaks this ends in a missing step rather than a loop. Runs in the
// page (inserted by its source text) and in the tests.
function walkStack (data, frames, id) {
  const steps = []
  const siteName = (i) => i >= 0 && i < data.sites.length ? data.sites[i] : null
  let bound = Infinity
  for (;;) {
    if (id === 0) { steps.push({ kind: 'root', id: 0 }); break }
    const f = id < bound ? frames.get(id) : undefined
    if (f === undefined) { steps.push({ kind: 'missing', id, expected: 'frame' }); break }
    const lane = data.lanes[f[2]]
    steps.push({
      kind: 'frame',
      id,
      site: siteName(f[1]),
      thread: lane.thread,
      env: lane.env,
      ts: f[3],
      readyID: f[5],
      begin: f[3],
      end: f[4],
      duration: f[3] !== null && f[4] !== null ? f[4] - f[3] : null
    })
    const readyID = f[5]
    if (readyID === 0) { steps.push({ kind: 'root', id: 0 }); break }
    const r = readyID < id && Object.prototype.hasOwnProperty.call(data.readies, readyID) ? data.readies[readyID] : undefined
    if (r === undefined) { steps.push({ kind: 'missing', id: readyID, expected: 'ready' }); break }
    steps.push({ kind: 'ready', id: readyID, site: siteName(r[0]), thread: r[1], env: r[2], ts: r[3], linkID: r[4], readyBy: r[5] })
    const linkID = r[4]
    const l = linkID < readyID && Object.prototype.hasOwnProperty.call(data.links, linkID) ? data.links[linkID] : undefined
    if (l === undefined) { steps.push({ kind: 'missing', id: linkID, expected: 'link' }); break }
    const link = { kind: 'link', id: linkID, site: siteName(l[0]), thread: l[1], env: l[2], ts: l[3], frame: l[4] }
    if (l[5] >= 0 && l[5] < data.stacks.length) link.stack = data.stacks[l[5]]
    steps.push(link)
    bound = linkID
    id = l[4]
  }
  return steps
}

// The page's script. It reads the JSON blob and builds everything with
// createElement/createElementNS and textContent: no string of the data is
// ever parsed as HTML.
function client () {
  const data = JSON.parse(document.getElementById('report-data').textContent)
  const timeline = document.getElementById('timeline')
  const SVG = timeline.namespaceURI
  const frames = new Map()
  for (const f of data.frames) frames.set(f[0], f)

  function el (tag, attrs, text) {
    const e = document.createElement(tag)
    if (attrs) for (const k in attrs) e.setAttribute(k, attrs[k])
    if (text !== undefined && text !== null) e.textContent = text
    return e
  }
  function svg (tag, attrs, text) {
    const e = document.createElementNS(SVG, tag)
    if (attrs) for (const k in attrs) e.setAttribute(k, attrs[k])
    if (text !== undefined && text !== null) e.textContent = text
    return e
  }
  function ms (ns) {
    if (ns === null || ns === undefined || !isFinite(ns)) return '–'
    const v = ns / 1e6
    return v >= 100 ? v.toFixed(1) : v >= 1 ? v.toFixed(2) : v.toFixed(3)
  }
  function siteName (i) {
    const s = data.sites[i]
    return s === null || s === undefined ? '(no site)' : s
  }
  function hue (text) {
    let h = 2166136261
    for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 16777619)
    return (h >>> 0) % 360
  }

  // ---- timeline --------------------------------------------------------------
  const GUTTER = 120
  const ROW = 16
  const LANE_PAD = 4
  const AXIS = 20
  const MAX_ROWS = 8
  const MIN_W = 2
  let span = Math.max(1, data.span || 0)
  for (const f of data.frames) span = Math.max(span, (f[4] !== null ? f[4] : f[3]) || 0)
  let view0 = 0
  let view1 = span
  const rects = []
  const rectOf = new Map()
  let selected = 0
  let chain = []

  // Rows within a lane: a frame that starts inside another one on the same
  // thread (a nested frame) goes one row down.
  const laneFrames = data.lanes.map(() => [])
  let untimed = 0
  for (const f of data.frames) {
    if (f[3] === null) { untimed++; continue }
    laneFrames[f[2]].push(f)
  }
  const laneTop = []
  const rowOf = new Map()
  let y = AXIS
  laneFrames.forEach((list, lane) => {
    const open = []
    let rows = 1
    for (const f of list) {
      while (open.length > 0 && open[open.length - 1] <= f[3]) open.pop()
      const row = Math.min(open.length, MAX_ROWS - 1)
      rowOf.set(f[0], row)
      rows = Math.max(rows, row + 1)
      open.push(f[4] === null ? Infinity : f[4])
    }
    laneTop.push({ y, rows })
    y += rows * ROW + 2 * LANE_PAD
  })
  const height = Math.max(y, AXIS + ROW) + 1
  timeline.setAttribute('height', height)

  const ticksGroup = svg('g')
  const lanesGroup = svg('g')
  const framesGroup = svg('g')
  const labelsGroup = svg('g')
  timeline.append(lanesGroup, ticksGroup, framesGroup, labelsGroup)
  laneTop.forEach((l, i) => {
    const lane = data.lanes[i]
    lanesGroup.append(svg('rect', { class: 'lane-bg' + (i % 2 ? ' odd' : ''), x: 0, y: l.y, width: '100%', height: l.rows * ROW + 2 * LANE_PAD }))
    labelsGroup.append(svg('rect', { x: 0, y: l.y, width: GUTTER - 4, height: l.rows * ROW + 2 * LANE_PAD, fill: i % 2 ? '#fff' : '#f6f7f9' }))
    labelsGroup.append(svg('text', { class: 'lane-label', x: 6, y: l.y + LANE_PAD + 12 }, `env ${lane.env} · thread ${lane.thread}`))
  })
  const frag = document.createDocumentFragment()
  laneFrames.forEach((list, lane) => {
    for (const f of list) {
      const h = hue(siteName(f[1]))
      const r = svg('rect', {
        class: 'frame',
        'data-frame-id': f[0],
        y: laneTop[lane].y + LANE_PAD + rowOf.get(f[0]) * ROW + 1,
        height: ROW - 2,
        fill: `hsl(${h} 55% 78%)`,
        stroke: `hsl(${h} 40% 50%)`
      })
      rects.push([r, f])
      rectOf.set(f[0], r)
      frag.append(r)
    }
  })
  framesGroup.append(frag)
  // Ready marks: where (which thread) and when each drawn frame's work was
  // made ready, most often a native pool thread.
  const laneIndex = new Map(data.lanes.map((l, i) => [`${l.env}:${l.thread}`, i]))
  const marks = []
  const markFrag = document.createDocumentFragment()
  for (const id of Object.keys(data.readies)) {
    const r = data.readies[id]
    const lane = laneIndex.get(`${r[2]}:${r[1]}`)
    if (lane === undefined || r[3] === null) continue
    const h = hue(siteName(r[0]))
    const m = svg('rect', {
      class: 'ready-mark',
      'data-ready-id': id,
      y: laneTop[lane].y + LANE_PAD,
      height: ROW - 2,
      width: 2,
      fill: `hsl(${h} 60% 40%)`
    })
    marks.push([m, r[3]])
    markFrag.append(m)
  }
  framesGroup.append(markFrag)
  document.getElementById('timeline-note').textContent = untimed > 0
    ? `${untimed} frame(s) have no timestamps and are not drawn; they are still in the stacks.`
    : data.frames.length === 0 ? 'No frames in this trace.' : ''

  function width () {
    return Math.max(200, timeline.clientWidth || 1000)
  }
  function layout () {
    const w = width() - GUTTER - 8
    const scale = w / (view1 - view0)
    for (const [r, f] of rects) {
      const b = f[3]
      const e = f[4] === null ? span : f[4]
      let x = GUTTER + (b - view0) * scale
      let rw = Math.max(MIN_W, (e - b) * scale)
      if (x + rw < GUTTER || x > GUTTER + w + 10) {
        r.setAttribute('display', 'none')
        continue
      }
      if (x < GUTTER) { rw -= GUTTER - x; x = GUTTER }
      r.removeAttribute('display')
      r.setAttribute('x', x.toFixed(1))
      r.setAttribute('width', Math.max(MIN_W, rw).toFixed(1))
    }
    for (const [m, t] of marks) {
      const x = GUTTER + (t - view0) * scale
      if (x < GUTTER || x > GUTTER + w + 10) m.setAttribute('display', 'none')
      else {
        m.removeAttribute('display')
        m.setAttribute('x', (x - 1).toFixed(1))
      }
    }
    ticksGroup.textContent = ''
    const range = view1 - view0
    let step = Math.pow(10, Math.floor(Math.log10(range / 8)))
    if (range / step > 16) step *= 5
    else if (range / step > 8) step *= 2
    for (let t = Math.ceil(view0 / step) * step; t <= view1; t += step) {
      const x = GUTTER + (t - view0) * scale
      ticksGroup.append(svg('line', { class: 'tick', x1: x, x2: x, y1: AXIS - 4, y2: height }))
      ticksGroup.append(svg('text', { class: 'tick-label', x: x + 2, y: AXIS - 7 }, `${ms(t)} ms`))
    }
  }
  let pendingLayout = false
  function relayout () {
    if (pendingLayout) return
    pendingLayout = true
    requestAnimationFrame(() => { pendingLayout = false; layout() })
  }
  function zoom (factor, atX) {
    const w = width() - GUTTER - 8
    const frac = atX === undefined ? 0.5 : Math.min(1, Math.max(0, (atX - GUTTER) / w))
    const at = view0 + frac * (view1 - view0)
    const range = Math.min(span, Math.max(1000, (view1 - view0) * factor))
    view0 = Math.max(0, Math.min(span - range, at - frac * range))
    view1 = view0 + range
    relayout()
  }
  document.getElementById('zoom-in').addEventListener('click', () => zoom(0.5))
  document.getElementById('zoom-out').addEventListener('click', () => zoom(2))
  document.getElementById('zoom-reset').addEventListener('click', () => { view0 = 0; view1 = span; relayout() })
  timeline.addEventListener('wheel', (e) => {
    e.preventDefault()
    const box = timeline.getBoundingClientRect()
    zoom(e.deltaY > 0 ? 1.25 : 0.8, e.clientX - box.left)
  }, { passive: false })
  let drag = null
  timeline.addEventListener('mousedown', (e) => { drag = { x: e.clientX, v0: view0, v1: view1, moved: false } })
  window.addEventListener('mouseup', () => { setTimeout(() => { drag = null }, 0) })
  window.addEventListener('mousemove', (e) => {
    if (drag === null || (e.buttons & 1) === 0) return
    const dx = e.clientX - drag.x
    if (Math.abs(dx) > 3) drag.moved = true
    if (!drag.moved) return
    const range = drag.v1 - drag.v0
    const shift = -dx / (width() - GUTTER - 8) * range
    view0 = Math.max(0, Math.min(span - range, drag.v0 + shift))
    view1 = view0 + range
    relayout()
  })
  const hover = document.getElementById('hover-info')
  timeline.addEventListener('mousemove', (e) => {
    const id = e.target.getAttribute && e.target.getAttribute('data-frame-id')
    if (!id) { hover.textContent = ''; return }
    const f = frames.get(Number(id))
    hover.textContent = `frame ${f[0]} · ${siteName(f[1])} · at ${ms(f[3])} ms · ran ${f[4] === null ? 'not ended' : ms(f[4] - f[3]) + ' ms'}`
  })
  timeline.addEventListener('click', (e) => {
    if (drag !== null && drag.moved) return
    const id = e.target.getAttribute && e.target.getAttribute('data-frame-id')
    if (id) select(Number(id))
  })
  window.addEventListener('resize', relayout)
  layout()

  // ---- the stack panel and its drawing -------------------------------------
  const panel = document.getElementById('stack-panel')
  const graphSvg = document.getElementById('stack-graph')

  function describe (s, prev) {
    const where = s.thread === undefined ? '' : `thread ${s.thread} · env ${s.env}`
    switch (s.kind) {
      case 'frame':
        return [`frame ${s.id}`, `${where} · began ${ms(s.begin)} ms · ${s.end === null ? 'not ended' : `ran ${ms(s.duration)} ms`}`]
      case 'ready':
        return [`ready ${s.id}`, `${where} · made ready by ${s.readyBy === 0 ? 'a native thread or the loop (frame 0)' : `frame ${s.readyBy}`} at ${ms(s.ts)} ms · ` +
          `dispatch wait ${prev && prev.ts !== null && s.ts !== null ? ms(prev.ts - s.ts) : '–'} ms`]
      case 'link':
        return [`link ${s.id}`, `${where} · linked in frame ${s.frame} at ${ms(s.ts)} ms · ` +
          `queue wait ${prev && prev.ts !== null && s.ts !== null ? ms(prev.ts - s.ts) : '–'} ms`]
      case 'root':
        return ['root (frame 0)', 'program start, the event loop or a native thread']
      default:
        return [`${s.expected} ${s.id} is not in the trace`, 'the chain leaves the recorded graph here (not drained, dropped or another process)']
    }
  }

  function select (id) {
    if (!frames.has(id)) return
    for (const r of chain) r.classList.remove('chain', 'selected')
    chain = []
    selected = id
    const steps = walkStack(data, frames, id)
    const list = el('ol', { id: 'stack-list' })
    let prev = null
    for (const s of steps) {
      const siteLabel = s.kind === 'root' ? 'root' : s.kind === 'missing' ? '' : (s.site === null ? '' : s.site)
      const li = el('li', { class: `step step-${s.kind}`, 'data-kind': s.kind, 'data-site': siteLabel, 'data-id': s.id })
      const [what, meta] = describe(s, prev)
      const head = el('div', { class: 'what' })
      head.append(document.createTextNode(what))
      if (s.kind === 'frame' || s.kind === 'ready' || s.kind === 'link') {
        head.append(document.createTextNode(' '), el('code', null, s.site === null ? '(no site)' : s.site))
      }
      li.append(head, el('div', { class: 'meta' }, meta))
      if (s.kind === 'link' && s.stack) li.append(el('pre', null, s.stack))
      if (s.kind === 'frame') {
        if (s.id === id) li.classList.add('current')
        li.title = 'select this frame'
        li.addEventListener('click', () => select(s.id))
        const r = rectOf.get(s.id)
        if (r) { r.classList.add(s.id === id ? 'selected' : 'chain'); chain.push(r) }
      }
      list.append(li)
      if (s.ts !== undefined && s.ts !== null) prev = s
    }
    panel.textContent = ''
    panel.append(el('p', { class: 'hint' }, `frame ${id} back to the root: each frame, the ready that dispatched it and the link that asked for it, in the frame below.`), list)
    drawChain(steps)
    try {
      if (location.hash !== `#frame=${id}`) history.replaceState(null, '', `#frame=${id}`)
    } catch (err) {} // some file: URLs refuse it; the selection still works
  }

  // The chain as a graph, root at the top: frame -> link -> ready -> frame.
  const DRAW_MAX = 120
  function drawChain (steps) {
    graphSvg.textContent = ''
    const shown = steps.slice(0, DRAW_MAX).reverse()
    const W = 300
    const GAP = 34
    const defs = svg('defs')
    const marker = svg('marker', { id: 'arrow', viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse' })
    marker.append(svg('path', { d: 'M0,0 L10,5 L0,10 z', fill: '#99a' }))
    defs.append(marker)
    graphSvg.append(defs)
    let top = 10
    if (steps.length > DRAW_MAX) {
      graphSvg.append(svg('text', { x: 10, y: top + 10 }, `… ${steps.length - DRAW_MAX} older steps not drawn`))
      top += 24
    }
    const cx = 90
    let prevY = null
    let prevStep = null
    shown.forEach((s, i) => {
      const y = top + i * GAP
      if (prevY !== null) {
        graphSvg.append(svg('line', { class: 'edge', x1: cx, y1: prevY + 10, x2: cx, y2: y - 10, 'marker-end': 'url(#arrow)' }))
        if (prevStep.ts !== undefined && prevStep.ts !== null && s.ts !== undefined && s.ts !== null) {
          graphSvg.append(svg('text', { class: 'edge-label', x: cx + 6, y: (prevY + y) / 2 + 3 }, `+${ms(s.ts - prevStep.ts)} ms`))
        }
      }
      let shape
      if (s.kind === 'frame' || s.kind === 'root') {
        const h = s.kind === 'root' ? 0 : hue(s.site === null ? '(no site)' : s.site)
        shape = svg('rect', {
          x: cx - 70, y: y - 10, width: 140, height: 20, rx: 4,
          fill: s.kind === 'root' ? '#eee' : `hsl(${h} 55% 85%)`,
          stroke: s.id === selected && s.kind === 'frame' ? '#c0392b' : (s.kind === 'root' ? '#555' : `hsl(${h} 40% 50%)`),
          'stroke-width': s.id === selected && s.kind === 'frame' ? 2 : 1
        })
      } else if (s.kind === 'missing') {
        shape = svg('rect', { x: cx - 70, y: y - 10, width: 140, height: 20, rx: 4, fill: '#fff', stroke: '#c0392b', 'stroke-dasharray': '3 2' })
      } else {
        shape = svg('circle', { cx, cy: y, r: 7, fill: s.kind === 'link' ? '#f3dfbf' : '#d3ead3', stroke: s.kind === 'link' ? '#c08a3e' : '#6aa56a' })
      }
      graphSvg.append(shape)
      const label = s.kind === 'root' ? 'root'
        : s.kind === 'missing' ? `${s.expected} ${s.id} missing`
          : s.kind === 'frame' ? (s.site === null ? `frame ${s.id}` : s.site) : `${s.kind} ${s.id}`
      const short = label.length > 22 ? label.slice(0, 21) + '…' : label
      const t = svg('text', { x: s.kind === 'frame' || s.kind === 'root' || s.kind === 'missing' ? cx : cx + 12, y: y + 4, 'text-anchor': s.kind === 'frame' || s.kind === 'root' || s.kind === 'missing' ? 'middle' : 'start' }, short)
      t.append(svg('title', null, s.kind === 'frame' ? `frame ${s.id} ${label} (thread ${s.thread}, env ${s.env})` : label))
      graphSvg.append(t)
      prevY = y
      prevStep = s
    })
    graphSvg.setAttribute('width', W)
    graphSvg.setAttribute('height', top + shown.length * GAP)
  }

  // ---- sites -----------------------------------------------------------------
  const siteTable = document.getElementById('site-table')
  const thead = el('thead')
  const group = el('tr', { class: 'group' })
  group.append(el('th', { class: 'text', rowspan: 2 }, 'site'), el('th', { rowspan: 2 }, 'frames'),
    el('th', { colspan: 3 }, 'queue wait'), el('th', { colspan: 3 }, 'dispatch wait'), el('th', { colspan: 3 }, 'run'))
  const sub = el('tr')
  for (let i = 0; i < 3; i++) sub.append(el('th', null, 'p50'), el('th', null, 'p99'), el('th', null, 'max'))
  thead.append(group, sub)
  const tbody = el('tbody')
  for (const s of data.siteStats) {
    const tr = el('tr', { 'data-site': s.site === null ? '' : s.site })
    tr.append(el('td', { class: 'text site' }, s.site === null ? '(no site)' : s.site), el('td', null, String(s.frames)))
    for (const k of ['queueWait', 'dispatchWait', 'run']) {
      tr.append(el('td', null, ms(s[k].p50)), el('td', null, ms(s[k].p99)), el('td', null, ms(s[k].max)))
    }
    tbody.append(tr)
  }
  if (data.siteStats.length === 0) {
    const tr = el('tr')
    tr.append(el('td', { class: 'text empty', colspan: 11 }, 'No frames.'))
    tbody.append(tr)
  }
  siteTable.append(thead, tbody)

  // ---- pending ---------------------------------------------------------------
  const pendingTable = document.getElementById('pending-list')
  const ph = el('tr')
  for (const h of ['kind', 'site', 'id', 'age (ms)', 'thread', 'env', 'where', 'stack']) {
    ph.append(el('th', { class: h === 'kind' || h === 'site' || h === 'where' || h === 'stack' ? 'text' : '' }, h))
  }
  const phead = el('thead')
  phead.append(ph)
  const pbody = el('tbody')
  for (const p of data.pending) {
    const tr = el('tr', { 'data-kind': p.kind, 'data-site': p.site === null ? '' : p.site, 'data-id': p.id })
    const where = p.kind === 'link' ? `linked in frame ${p.frame}, never made ready`
      : p.kind === 'ready' ? `link ${p.linkID}${p.linkFrame !== undefined ? ` (from frame ${p.linkFrame})` : ''} made ready by frame ${p.readyBy}, never run`
        : 'frame never ended'
    const stackCell = el('td', { class: 'text' })
    if (p.stack) {
      const d = el('details')
      d.append(el('summary', null, p.stack.split('\n')[0]), el('pre', null, p.stack))
      stackCell.append(d)
    }
    const idCell = el('td', null, String(p.id))
    if (p.kind === 'frame' && frames.has(p.id)) {
      idCell.style.cursor = 'pointer'
      idCell.title = 'show its stack'
      idCell.addEventListener('click', () => select(p.id))
    }
    tr.append(el('td', { class: 'text' }, p.kind), el('td', { class: 'text site' }, p.site === null ? '(no site)' : p.site),
      idCell, el('td', null, ms(p.age)), el('td', null, String(p.thread)), el('td', null, String(p.env)),
      el('td', { class: 'text' }, where), stackCell)
    pbody.append(tr)
  }
  if (data.pending.length === 0) {
    const tr = el('tr')
    tr.append(el('td', { class: 'text empty', colspan: 8 }, 'Nothing pending.'))
    pbody.append(tr)
  }
  pendingTable.append(phead, pbody)
  if (data.totals.pending > data.pending.length) {
    pendingTable.after(el('p', { class: 'note' }, `Showing the oldest ${data.pending.length} of ${data.totals.pending} pending items.`))
  }

  // ---- problems ------------------------------------------------------------------
  if (data.problems.length > 0) {
    const sec = document.getElementById('problems-section')
    sec.hidden = false
    const ul = document.getElementById('problem-list')
    for (const m of data.problems) ul.append(el('li', null, m))
    if (data.totals.problems > data.problems.length) ul.after(el('p', { class: 'note' }, `Showing ${data.problems.length} of ${data.totals.problems}.`))
  }

  const m = /^#frame=(\d+)$/.exec(location.hash)
  if (m && frames.has(Number(m[1]))) select(Number(m[1]))
  document.body.setAttribute('data-ready', 'true')
}

module.exports = { renderReport, walkStack, reportData }
