'use strict'
// The report page's data model: the embedded JSON (lib/report.js writes it,
// README "An HTML report" documents it) turned into typed columns with
// named fields, plus the derived facts the views share: the async call
// stack of a frame (the walk of lib/walk.js, the one AsyncGraph#stack uses),
// each frame's parent and root request, and the site colours.
//
// Runs in the page (inlined by lib/report.js) and in Node (unit tests):
// it touches no DOM.
const { walkStack } = require('../walk')
const { fromSteps } = require('./codec')

// Column arrays of the JSON (null where a time is unknown) as a Float64Array
// (NaN where unknown).
function f64 (list) {
  const a = new Float64Array(list.length)
  for (let i = 0; i < list.length; i++) a[i] = list[i] === null ? NaN : list[i]
  return a
}

function indexOf (ids) {
  const m = new Map()
  for (let i = 0; i < ids.length; i++) m.set(ids[i], i)
  return m
}

/**
 * The model of `data` (the parsed JSON). Frames keep the order of the
 * data: by begin time, untimed ones last.
 */
function buildModel (data) {
  const fr = data.frames
  const n = fr.id.length
  const begin = fromSteps(fr.beginStep)
  const end = new Float64Array(n)
  for (let i = 0; i < n; i++) end[i] = fr.duration[i] === null ? NaN : begin[i] + fr.duration[i]
  const m = {
    data,
    n,
    sites: data.sites,
    lanes: data.lanes,
    frame: {
      id: f64(fr.id),
      site: Int32Array.from(fr.site),
      lane: Int32Array.from(fr.lane),
      begin,
      end,
      ready: f64(fr.ready)
    },
    frameIndex: indexOf(fr.id),
    readyTs: fromSteps(data.readies.tsStep),
    linkTs: fromSteps(data.links.tsStep),
    _lookup: null, // the readies', links' and others' ID maps, made on first use
    span: 1,
    parent: Int32Array.from(fr.parent),
    root: null
  }
  let span = data.span === null ? 0 : data.span
  for (let i = 0; i < n; i++) {
    const e = m.frame.end[i]
    const b = m.frame.begin[i]
    if (e === e && e > span) span = e
    else if (b === b && b > span) span = b
  }
  m.span = Math.max(1, span)
  computeRoots(m)
  return m
}

function siteName (m, i) {
  const s = i >= 0 && i < m.sites.length ? m.sites[i] : null
  return s === null || s === undefined ? null : s
}

// One step of the walk for frame index i, times relative to data.t0.
function frameStep (m, i) {
  const f = m.frame
  const lane = m.lanes[f.lane[i]]
  const begin = nul(f.begin[i])
  const end = nul(f.end[i])
  return {
    kind: 'frame',
    id: f.id[i],
    site: siteName(m, f.site[i]),
    thread: lane.thread,
    env: lane.env,
    ts: begin,
    readyID: f.ready[i],
    begin,
    end,
    duration: begin !== null && end !== null ? end - begin : null
  }
}

function nul (v) { return v === v ? v : null }

// The walk's view of the model (see lib/walk.js).
function walkSource (m) {
  const d = m.data
  return {
    frame (id) {
      const i = m.frameIndex.get(id)
      return i === undefined ? undefined : frameStep(m, i)
    },
    ready (id) {
      const j = lookup(m).ready.get(id)
      if (j === undefined) return undefined
      const r = d.readies
      return { kind: 'ready', id, site: siteName(m, r.site[j]), thread: r.thread[j], env: r.env[j], ts: nul(m.readyTs[j]), linkID: r.link[j], readyBy: r.by[j] }
    },
    link (id) {
      const j = lookup(m).link.get(id)
      if (j === undefined) return undefined
      const l = d.links
      const step = { kind: 'link', id, site: siteName(m, l.site[j]), thread: l.thread[j], env: l.env[j], ts: nul(m.linkTs[j]), frame: l.frame[j] }
      if (l.stack[j] >= 0 && l.stack[j] < d.stacks.length) step.stack = d.stacks[l.stack[j]]
      return step
    }
  }
}

/** The async call stack of frame `id` (AsyncGraph#stack's steps, relative times). */
function stackOf (m, id) {
  return walkStack(walkSource(m), id)
}

/**
 * Where frame `id` is described for a reader: { site, thread, env } from an
 * embedded frame or from the frames kept only because they made a ready
 * (data.others); null when the trace has neither (or id is 0).
 */
function frameWhere (m, id) {
  const i = m.frameIndex.get(id)
  if (i !== undefined) {
    const lane = m.lanes[m.frame.lane[i]]
    return { site: siteName(m, m.frame.site[i]), thread: lane.thread, env: lane.env }
  }
  const j = lookup(m).other.get(id)
  if (j === undefined) return null
  const o = m.data.others
  return { site: siteName(m, o.site[j]), thread: o.thread[j], env: o.env[j] }
}

// The ID -> index maps of readies, links and others: only the stack walk
// and the panels need them, so they are made on the first click, not at
// load.
function lookup (m) {
  if (m._lookup === null) {
    m._lookup = { ready: indexOf(m.data.readies.id), link: indexOf(m.data.links.id), other: indexOf(m.data.others.id) }
  }
  return m._lookup
}

// root[i]: the index of the topmost embedded frame of i's chain (i itself
// for a root request), from the parents lib/report.js embeds. Frames come
// by begin time and a parent begins before its child, so one pass mostly
// settles it; a parent later in the order (equal or missing times) is
// followed up, at most n steps.
function computeRoots (m) {
  const n = m.n
  const parent = m.parent
  const root = new Int32Array(n).fill(-1)
  for (let i = 0; i < n; i++) {
    let r = i
    let steps = 0
    while (parent[r] >= 0 && steps++ < n) {
      if (parent[r] < i && root[parent[r]] >= 0) { r = root[parent[r]]; break }
      r = parent[r]
    }
    root[i] = r
  }
  m.root = root
}

/**
 * The root requests: frames at the top of a chain, each with the number of
 * frames in its subtree and the time from its begin to the last end in it;
 * by begin time.
 */
function requests (m) {
  const count = new Int32Array(m.n)
  const last = new Float64Array(m.n).fill(NaN)
  for (let i = 0; i < m.n; i++) {
    const r = m.root[i]
    count[r]++
    const e = m.frame.end[i]
    if (e === e && !(last[r] >= e)) last[r] = e
  }
  const out = []
  for (let i = 0; i < m.n; i++) {
    if (m.root[i] !== i) continue
    out.push({ index: i, id: m.frame.id[i], site: siteName(m, m.frame.site[i]), begin: nul(m.frame.begin[i]), last: nul(last[i]), frames: count[i] })
  }
  return out
}

// A colour per site: the page's palette (report.css, --site-0 ...) given
// out by frame count, most frames first, so the busiest sites get the most
// distinct colours; sites past the palette get a hue from a hash of their
// name (FNV-1a). The one place site colours are made.
function siteHue (name) {
  const text = name === null ? '(no site)' : name
  let h = 2166136261
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 16777619)
  return (h >>> 0) % 360
}

/** [{ fill }] per site index: palette colours by frame count, then hues. */
function siteColours (m, palette) {
  const counts = new Int32Array(m.sites.length)
  for (let i = 0; i < m.n; i++) counts[m.frame.site[i]]++
  const order = m.sites.map((_, i) => i).sort((a, b) => counts[b] - counts[a] || a - b)
  const out = new Array(m.sites.length)
  order.forEach((site, k) => {
    out[site] = { fill: k < palette.length ? palette[k] : `hsl(${siteHue(m.sites[site])} 55% 75%)` }
  })
  return out
}

module.exports = { buildModel, siteName, stackOf, frameWhere, requests, siteHue, siteColours, walkSource }
