'use strict'
// renderReport: an AsyncGraph as one self-contained HTML file. Everything
// the page needs is inside it: the CSS (lib/report/report.css), the viewer's
// code (the modules of lib/report/ and lib/walk.js, inlined here with a
// ten-line module table) and the data as escaped JSON in a
// <script type="application/json"> element. A Content Security Policy
// forbids every fetch, so the page works offline and user strings (site
// names, stacks) can never load anything even if they got out of their
// JSON; the viewer puts them in the DOM only through textContent.
//
// The page shows a header with totals (the console's: frames, sites(),
// pending()), a canvas timeline (a lane per env and thread, pool threads
// marked), the thread-pool view, the async call stack of the selected
// frame, the per-site latency table and the pending work in groups.
//
// This file does not load the addon: it needs only lib/graph.js.
const fs = require('node:fs')
const path = require('node:path')
const { AsyncGraph } = require('./graph')
const { poolAnalysis, isPoolFrame, offThreadAnalysis } = require('./report/pool')
const { groupPending } = require('./report/group')
const { toSteps } = require('./report/codec')
const {
  invalidArgType, invalidArgValue, validateInteger, validateObject, validateString
} = require('./errors')

const REPORT_OPTIONS = new Set(['title', 'maxFrames', 'generated', 'exclude', 'omitted'])
const DEFAULT_TITLE = 'napi-async-trace report'
const DEFAULT_MAX_FRAMES = 250000
const MAX_FRAMES_LIMIT = 10000000
const MAX_PROBLEMS_SHOWN = 200
// Bumped when the shape of the embedded data changes.
const DATA_VERSION = 3

/**
 * Renders graph (an AsyncGraph) as one HTML document (a string) that needs
 * no network to view. Options:
 *   title      shown in the header and the window title
 *              (default 'napi-async-trace report')
 *   maxFrames  most frames embedded (default 250000). When the graph has
 *              more, the slowest frames are kept together with every frame
 *              on their async call stacks, and the page says how many were
 *              left out. Totals, site latencies, the pool view and pending
 *              work always cover the whole graph.
 *   generated  a free-form line shown under the title (a date, a command)
 *   exclude    IDs to leave out of the pending work (e.g. the frame that is
 *              rendering the report), an iterable of integers
 *   omitted    what the graph itself leaves out, when whoever built it
 *              sampled or aggregated a huge trace: { events, frames }
 *              (counts, optional) and reason (a sentence); shown as a
 *              warning in the header and embedded as data.omitted
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
  const exclude = new Set()
  if (options.exclude !== undefined) {
    const ex = options.exclude
    if (ex === null || typeof ex !== 'object' || typeof ex[Symbol.iterator] !== 'function') {
      throw invalidArgType('options.exclude', 'an iterable of IDs', ex)
    }
    let i = 0
    for (const id of ex) exclude.add(validateInteger(id, `options.exclude[${i++}]`, 0, Number.MAX_SAFE_INTEGER))
  }
  let omitted = null
  if (options.omitted !== undefined && options.omitted !== null) {
    const o = validateObject(options.omitted, 'options.omitted')
    for (const key of Object.keys(o)) {
      if (key !== 'events' && key !== 'frames' && key !== 'reason') {
        throw invalidArgValue(`options.omitted.${key}`, 'is not a field (known: events, frames, reason)', o[key])
      }
    }
    omitted = {
      events: o.events === undefined ? null : validateInteger(o.events, 'options.omitted.events', 0, Number.MAX_SAFE_INTEGER),
      frames: o.frames === undefined ? null : validateInteger(o.frames, 'options.omitted.frames', 0, Number.MAX_SAFE_INTEGER),
      reason: o.reason === undefined ? '' : validateString(o.reason, 'options.omitted.reason')
    }
  }
  return page(reportData(graph, { title, generated, maxFrames, exclude, omitted }))
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

// The page's data, one JSON object (README, "An HTML report to open
// anywhere", documents it). Record lists are columns with named fields
// ({ id: [...], site: [...], ... }, one entry per record), which keeps a
// quarter of a million frames compact and quick to read into typed arrays.
//   version, title, generated, t0 (the graph's first timestamp, ns; every
//   other time is relative to it; null when unknown), span
//   totals: { frames, framesShown, framesOmitted, framesUntimed, sites,
//             siteNames, events, pending, aborted, lost, problems }
//   omitted: null or { events, frames, reason } (renderReport's option)
//   sites:   site names; every `site` below is an index here
//   lanes:   [{ env, thread, pool }], one timeline lane each
//   frames:  { id, site, lane, beginStep, duration, ready, parent }, by
//            begin time (parent: the index here of the frame that linked,
//            or -1; duration null when not ended)
//   readies: { id, site, thread, env, tsStep, link, by, lane } of the drawn
//            frames, by lane (-1: no lane or no time, last) then time
//   links:   { id, site, thread, env, tsStep, frame, stack } (stack: an
//            index in `stacks` or -1)
//   Times (ns from t0) travel as steps, each minus the previous known one
//   (*Step, pool series' dt; lib/report/codec.js); null where unknown.
//   others:  { id, site, thread, env } of frames named by a ready or a
//            pending group but not embedded
//   stacks:  JS stack strings of links
//   siteStats: AsyncGraph#sites() (each wait { count, p50, p99, max })
//   pool:    lib/report/pool.js poolAnalysis() over the whole graph, and
//            pool.offThread: offThreadAnalysis() (work finished on other
//            threads without a pool frame)
//   pendingGroups: lib/report/group.js groupPending() over the pending work
//   problems: messages
function reportData (graph, { title, generated, maxFrames, exclude = new Set(), omitted = null }) {
  const all = graph.frames()
  const kept = selectFrames(graph, all, maxFrames)
  const t0 = Number.isFinite(graph.firstTs) ? graph.firstTs : 0
  const rel = (ts) => Number.isFinite(ts) ? ts - t0 : null
  const last = Number.isFinite(graph.lastTs) ? graph.lastTs - t0 : 0

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

  // Each frame's hop: its ready and link, where AsyncGraph#stack finds them.
  const hop = (f) => {
    const r = f.readyID === 0 ? null : graph.node(f.readyID)
    if (r === null || r.kind !== 'ready') return { r: null, l: null }
    const l = graph.node(r.linkID)
    return { r, l: l !== null && l.kind === 'link' ? l : null }
  }

  // The pool view over every frame of the graph (not only the kept ones).
  const items = []
  const offThread = []
  const poolSites = new Set()
  const poolThreads = new Set()
  for (const f of all) {
    const { r, l } = hop(f)
    if (!isPoolFrame(f, r, l)) {
      // Made ready by a native thread (no frame) other than the callback's:
      // work that finished off the JS thread without a pool frame.
      if (r !== null && r.readyBy === 0 && (r.thread !== f.thread || r.env !== f.env)) {
        offThread.push({ site: f.site === undefined ? null : f.site, env: r.env, thread: r.thread, link: l === null ? null : rel(l.ts), ready: rel(r.ts), begin: rel(f.begin) })
      }
      continue
    }
    poolSites.add(f.site)
    poolThreads.add(`${f.env}:${f.thread}`)
    // The completion: the frame this pool frame's work made ready on
    // another thread (the JS thread's complete).
    let loopReady = null
    let loopBegin = null
    for (const c of graph.children(f.id)) {
      const cf = graph.frame(c)
      if (cf === null || (cf.thread === f.thread && cf.env === f.env)) continue
      const cr = graph.node(cf.readyID)
      if (cr === null || cr.kind !== 'ready') continue
      loopReady = rel(cr.ts)
      loopBegin = rel(cf.begin)
      break
    }
    items.push({ site: f.site === undefined ? null : f.site, env: f.env, thread: f.thread, link: rel(l.ts), begin: rel(f.begin), end: rel(f.end), loopReady, loopBegin })
  }

  const pendingAll = graph.pending().filter((p) => !exclude.has(p.id))
  const queued = pendingAll.filter((p) => p.kind === 'link' && poolSites.has(p.site)).map((p) => ({ site: p.site, link: rel(p.ts) }))
  const pool = poolAnalysis(items, queued, 0, last)
  pool.offThread = offThreadAnalysis(offThread)
  if (pool.size === 0 && pool.offThread.length > 0) {
    const n = pool.offThread.reduce((k, x) => k + x.items, 0)
    pool.verdict.text += ` ${n} item${n === 1 ? '' : 's'} finished on other threads without a pool frame: see below.`
  }

  // A lane per env and thread that ran a kept frame or made one of their
  // readies (a native thread gets a lane of ready marks); pool threads
  // after the others.
  const laneKeys = new Map()
  const addLane = (env, thread) => {
    const key = `${env}:${thread}`
    if (!laneKeys.has(key)) laneKeys.set(key, { env, thread, pool: poolThreads.has(key) })
  }
  const hops = new Map()
  for (const f of kept) {
    addLane(f.env, f.thread)
    const h = hop(f)
    hops.set(f.id, h)
    if (h.r !== null && Number.isFinite(h.r.ts)) addLane(h.r.env, h.r.thread)
  }
  const lanes = [...laneKeys.values()].sort((a, b) => (a.pool - b.pool) || a.env - b.env || a.thread - b.thread)
  const laneOf = new Map(lanes.map((l, i) => [`${l.env}:${l.thread}`, i]))

  const ordered = kept.slice().sort((a, b) => {
    const x = Number.isFinite(a.begin) ? a.begin : Infinity
    const y = Number.isFinite(b.begin) ? b.begin : Infinity
    return x - y || a.id - b.id
  })
  const frames = { id: [], site: [], lane: [], begin: [], end: [], ready: [], parent: [] }
  const keptIds = new Map() // id -> index in frames
  const readyList = []
  const links = { id: [], site: [], thread: [], env: [], ts: [], frame: [], stack: [] }
  let untimed = 0
  for (const f of ordered) {
    keptIds.set(f.id, frames.id.length)
    if (!Number.isFinite(f.begin)) untimed++
    frames.id.push(f.id)
    frames.site.push(site(f.site))
    frames.lane.push(laneOf.get(`${f.env}:${f.thread}`))
    frames.begin.push(rel(f.begin))
    frames.end.push(rel(f.end))
    frames.ready.push(f.readyID)
    const { r, l } = hops.get(f.id)
    if (r !== null) readyList.push(r)
    if (l === null) continue
    links.id.push(l.id)
    links.site.push(site(l.site))
    links.thread.push(l.thread)
    links.env.push(l.env)
    links.ts.push(rel(l.ts))
    links.frame.push(l.frame)
    links.stack.push(stack(l.stack))
  }
  // Each frame's parent (the frame that linked its work) as an index in
  // `frames`, -1 for the root or a frame not embedded: the page's request
  // picker needs it for every frame at load.
  for (const f of ordered) {
    const { l } = hops.get(f.id)
    const p = l === null ? undefined : keptIds.get(l.frame)
    frames.parent.push(p === undefined ? -1 : p)
  }
  // Readies by lane, then time: the page draws each lane's ready marks from
  // one contiguous, sorted run.
  const readyLane = (r) => {
    const lane = laneOf.get(`${r.env}:${r.thread}`)
    return lane === undefined || !Number.isFinite(r.ts) ? lanes.length : lane
  }
  for (const r of readyList) r.lane = readyLane(r)
  readyList.sort((a, b) => a.lane - b.lane || a.ts - b.ts || a.id - b.id)
  const readies = { id: [], site: [], thread: [], env: [], ts: [], link: [], by: [], lane: [] }
  for (const r of readyList) {
    readies.id.push(r.id)
    readies.site.push(site(r.site))
    readies.thread.push(r.thread)
    readies.env.push(r.env)
    readies.ts.push(rel(r.ts))
    readies.link.push(r.linkID)
    readies.by.push(r.readyBy)
    readies.lane.push(r.lane === lanes.length ? -1 : r.lane)
  }

  const pendingGroups = groupPending(pendingAll)

  // Frames the page names (who made a ready, who requested pending work)
  // without embedding them: their site and thread.
  const others = { id: [], site: [], thread: [], env: [] }
  const named = new Set()
  const other = (id) => {
    if (id === null || id === 0 || keptIds.has(id) || named.has(id)) return
    named.add(id)
    const f = graph.frame(id)
    if (f === null) return
    others.id.push(id)
    others.site.push(site(f.site))
    others.thread.push(f.thread)
    others.env.push(f.env)
  }
  for (const by of readies.by) other(by)
  for (const g of pendingGroups) {
    other(g.frame)
    g.site = g.site === undefined ? null : g.site
  }

  const summary = (s) => ({ count: s.count, p50: nul(s.p50), p99: nul(s.p99), max: nul(s.max) })
  const siteStats = graph.sites().map((s) => ({
    site: s.site === undefined ? null : s.site,
    frames: s.frames,
    queueWait: summary(s.queueWait),
    dispatchWait: summary(s.dispatchWait),
    run: summary(s.run)
  }))

  // Times as steps (lib/report/codec.js): frames by begin, readies by lane
  // and time, links in frame order, the pool's series by time.
  const encodedFrames = {
    id: frames.id,
    site: frames.site,
    lane: frames.lane,
    beginStep: toSteps(frames.begin),
    duration: frames.begin.map((b, i) => b === null || frames.end[i] === null ? null : frames.end[i] - b),
    ready: frames.ready,
    parent: frames.parent
  }
  const withSteps = (cols) => {
    const { ts, ...rest } = cols
    return { ...rest, tsStep: toSteps(ts) }
  }
  const series = (x) => ({ dt: toSteps(x.t), v: x.v })
  pool.busy = series(pool.busy)
  pool.queue = series(pool.queue)

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
      sites: siteStats.length,
      siteNames: graph.siteNames.length,
      events: graph.events,
      pending: pendingAll.length,
      aborted: graph.aborted().length,
      lost: graph.lost,
      problems: graph.problemCount
    },
    omitted,
    sites,
    lanes,
    frames: encodedFrames,
    readies: withSteps(readies),
    links: withSteps(links),
    others,
    stacks,
    siteStats,
    pool,
    pendingGroups,
    problems: graph.problems.slice(0, MAX_PROBLEMS_SHOWN).map((p) => `event ${p.index}: ${p.message}`)
  }
}

function nul (v) { return Number.isFinite(v) ? v : null }

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

// The viewer's modules, in the page under their file names (require() in
// the page resolves a path by its last component). Order does not matter:
// a module runs when first required; 'main' starts the page.
const VIEWER_DIR = path.join(__dirname, 'report')
const VIEWER_MODULES = {
  walk: path.join(__dirname, 'walk.js'),
  codec: path.join(VIEWER_DIR, 'codec.js'),
  model: path.join(VIEWER_DIR, 'model.js'),
  layout: path.join(VIEWER_DIR, 'layout.js'),
  pool: path.join(VIEWER_DIR, 'pool.js'),
  dom: path.join(VIEWER_DIR, 'dom.js'),
  timeline: path.join(VIEWER_DIR, 'timeline.js'),
  poolview: path.join(VIEWER_DIR, 'poolview.js'),
  panels: path.join(VIEWER_DIR, 'panels.js'),
  main: path.join(VIEWER_DIR, 'main.js')
}
const STYLE_FILE = path.join(VIEWER_DIR, 'report.css')

// Nothing inlined may close its element or open a comment the HTML parser
// would see.
function inlineSafe (text, file) {
  if (/<\/(?:script|style)|<!--/i.test(text)) throw new Error(`${file}: must not contain </script, </style or <!-- (it is inlined into the report)`)
  return text
}

let assets = null
// The viewer's script and style, read once per process.
function viewerAssets () {
  if (assets !== null) return assets
  const parts = ['(function () {', "'use strict'", 'const defs = {}', 'const done = {}',
    'function require (name) {',
    "  const key = name.slice(name.lastIndexOf('/') + 1).replace(/\\.js$/, '')",
    '  if (done[key]) return done[key].exports',
    '  const module = { exports: {} }',
    '  done[key] = module',
    '  defs[key](module, module.exports, require)',
    '  return module.exports',
    '}']
  for (const [name, file] of Object.entries(VIEWER_MODULES)) {
    parts.push(`defs[${JSON.stringify(name)}] = function (module, exports, require) {`, inlineSafe(fs.readFileSync(file, 'utf8'), file), '}')
  }
  parts.push("require('main')", '})()')
  assets = { script: parts.join('\n'), style: inlineSafe(fs.readFileSync(STYLE_FILE, 'utf8'), STYLE_FILE) }
  return assets
}

function page (data) {
  const { script, style } = viewerAssets()
  const t = data.totals
  const total = (label, value, id, title) =>
    `<div class="total" id="total-${id}"${title ? ` title="${escapeHtml(title)}"` : ''}><dt>${escapeHtml(label)}</dt><dd>${escapeHtml(value)}</dd></div>`
  const framesOmitted = t.framesOmitted > 0
    ? `<p class="note" id="frames-omitted">${t.framesOmitted} of ${t.frames} frames left out: ` +
      `this report shows ${t.framesShown}: the slowest frames and every frame on their async stacks ` +
      '(site totals, the pool view and pending work still count them all).</p>'
    : ''
  const o = data.omitted
  const graphOmitted = o === null
    ? ''
    : '<p class="note warn" id="graph-omitted">This trace was reduced before the report was made' +
      (o.events !== null || o.frames !== null
        ? ` (left out: ${[o.events !== null ? `${o.events} events` : '', o.frames !== null ? `${o.frames} frames` : ''].filter(Boolean).join(', ')})`
        : '') +
      `${o.reason ? `: ${escapeHtml(o.reason)}` : ''}. Every count below is of what was kept.</p>`
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="${CSP}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(data.title)}</title>
<style>
${style}</style>
</head>
<body>
<header>
<h1>${escapeHtml(data.title)}</h1>
${data.generated ? `<p class="generated">${escapeHtml(data.generated)}</p>` : ''}
<dl id="totals">
${total('frames', t.frames, 'frames')}
${total('sites', t.sites, 'sites', `sites that ran frames (AsyncGraph#sites()); ${t.siteNames} site names seen in all`)}
${total('pending', t.pending, 'pending', 'AsyncGraph#pending(): links never made ready, readies never run, frames never ended')}
${total('aborted', t.aborted, 'aborted')}
${total('lost records', t.lost, 'lost')}
${total('problems', t.problems, 'problems')}
${total('events', t.events, 'events')}
${total('span', data.span === null ? '?' : `${(data.span / 1e6).toFixed(3)} ms`, 'span')}
</dl>
${graphOmitted}
${framesOmitted}
${t.lost > 0 ? '<p class="note warn">The engine dropped records: some chains may end in "missing" and some items may look pending only because their later events were lost.</p>' : ''}
</header>
<main>
<section id="timeline-section">
<h2>Timeline</h2>
<div class="toolbar">
<button type="button" id="zoom-in" title="zoom in">+</button>
<button type="button" id="zoom-out" title="zoom out">&minus;</button>
<button type="button" id="pan-left" title="earlier">&larr;</button>
<button type="button" id="pan-right" title="later">&rarr;</button>
<button type="button" id="zoom-reset">whole trace</button>
<select id="request" aria-label="show one request"></select>
<button type="button" id="request-clear" disabled>all requests</button>
<span id="hover-info"></span>
</div>
<div id="timeline-wrap"><canvas id="timeline" role="img" aria-label="frames by thread over time"></canvas></div>
<p class="hint">Click a frame for its async call stack. Wheel zooms, drag pans. Marks under a lane: readies made on that thread. Pick a request to see only its chain.</p>
<ul id="legend" aria-label="colours by site"></ul>
<p class="note" id="timeline-note"></p>
</section>
<section id="pool-section">
<h2>Thread pool</h2>
<p id="pool-verdict"></p>
<div id="pool-detail">
<canvas id="pool-chart" role="img" aria-label="pool utilisation and queue depth over the timeline's view"></canvas>
<p class="hint">Per site, each item's time: <span class="key split-q"></span>queue wait (linked until a pool thread took it) <span class="key split-r"></span>pool run <span class="key split-l"></span>loop wait (its completion ready until the event loop ran it). Over every pool frame of the trace.</p>
<table id="pool-table"></table>
</div>
<div id="offthread-detail" hidden>
<p class="hint">Work that finished on other threads without a pool frame (the engine's tracked async work and native threads handing results to a tracked queue record when the work was made ready, not when it began): per site, link to ready (queued and ran, together) and ready to its callback (loop wait).</p>
<table id="offthread-table"></table>
</div>
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
<p class="hint" id="pending-note"></p>
<table id="pending-groups"></table>
</section>
<section id="problems-section" hidden>
<h2>Problems in the input</h2>
<ul id="problem-list"></ul>
</section>
</main>
<script type="application/json" id="report-data">${scriptJson(data)}</script>
<script>
${script}
</script>
</body>
</html>
`
}

module.exports = { renderReport, reportData }
