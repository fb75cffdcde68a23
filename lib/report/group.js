'use strict'
// Pending work grouped for the report: a real app leaves dozens of
// near-identical pending items (the same query, linked from the same line).
// Items group by kind, site and the JS stack of their link; each group
// counts its items, keeps the oldest age and a few IDs, and names the frame
// whose async call stack explains it (the frame that linked a pending link,
// the frame whose link a pending ready made ready, a pending frame itself).
// Pure: unit-tested in Node; lib/report.js runs it over graph.pending().

const IDS_KEPT = 50

/** The frame whose async stack explains pending item p (0: the root). */
function chainFrame (p) {
  if (p.kind === 'link') return p.frame
  if (p.kind === 'ready') return p.linkFrame === undefined ? null : p.linkFrame
  return p.id
}

/**
 * Groups pending items (AsyncGraph#pending's objects, oldest first) by
 * kind, site and link stack. Groups come largest first, then oldest.
 * Each: { kind, site, stack (string or null), count, ids (the first
 * IDS_KEPT, oldest first), oldestAge, frames (chain frames, distinct, first
 * IDS_KEPT), frame (the oldest item's chain frame, or null) }.
 */
function groupPending (pending) {
  const groups = new Map()
  for (const p of pending) {
    const stack = typeof p.stack === 'string' ? p.stack : null
    const key = `${p.kind}\u0000${p.site === undefined || p.site === null ? '' : p.site}\u0000${stack === null ? '' : stack}`
    let g = groups.get(key)
    if (g === undefined) {
      g = { kind: p.kind, site: p.site === undefined ? null : p.site, stack, count: 0, ids: [], oldestAge: -Infinity, frames: [], frame: chainFrame(p), first: p.ts }
      groups.set(key, g)
    }
    g.count++
    if (g.ids.length < IDS_KEPT) g.ids.push(p.id)
    if (p.age > g.oldestAge) g.oldestAge = p.age
    const f = chainFrame(p)
    if (f !== null && g.frames.length < IDS_KEPT && !g.frames.includes(f)) g.frames.push(f)
  }
  const out = [...groups.values()]
  out.sort((a, b) => b.count - a.count || b.oldestAge - a.oldestAge)
  for (const g of out) {
    if (!Number.isFinite(g.oldestAge)) g.oldestAge = null
    delete g.first
  }
  return out
}

module.exports = { groupPending, chainFrame, IDS_KEPT }
