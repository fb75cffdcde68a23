'use strict'
// Timeline layout as pure functions (unit-tested in Node, used by the page):
// rows of nested frames within a lane, lane geometry, the view window and
// its zoom and pan, tick marks, which frames of a row fall in the view
// (merged to at most one mark per pixel), and hit-testing.
//
// Times are ns relative to the trace's start; a view is { v0, v1 } with
// 0 <= v0 < v1 <= span. Pixels: x0 is where time v0 is drawn, width the
// pixels for v1 - v0.

// A frame that starts inside another one on the same thread (a nested
// frame) goes one row down; deeper nesting than this shares the last row.
const MAX_ROWS = 8
// Narrowest view, ns: below a microsecond nothing more is to be seen.
const MIN_RANGE = 1000

/**
 * Rows of the frames of each lane. `frames` is the model's frame columns
 * (begin-sorted; untimed frames, begin NaN, are left out), `lanes` the
 * number of lanes. Returns { rows: lanes x [ { idx, maxEnd } ] } where idx
 * holds the row's frame indices by begin and maxEnd[k] is the latest end
 * among idx[0..k] (an unended frame runs to `span`), which makes "the first
 * frame that may reach into the view" a binary search.
 */
function buildRows (frames, lanes, span) {
  const perLane = []
  for (let l = 0; l < lanes; l++) perLane.push({ open: [], rows: [] })
  const n = frames.begin.length
  for (let i = 0; i < n; i++) {
    const b = frames.begin[i]
    if (b !== b) continue
    const e = frames.end[i] === frames.end[i] ? Math.max(b, frames.end[i]) : span
    const L = perLane[frames.lane[i]]
    while (L.open.length > 0 && L.open[L.open.length - 1] <= b) L.open.pop()
    const row = Math.min(L.open.length, MAX_ROWS - 1)
    while (L.rows.length <= row) L.rows.push([])
    L.rows[row].push(i)
    L.open.push(e)
  }
  return perLane.map((L) => {
    if (L.rows.length === 0) L.rows.push([])
    return L.rows.map((list) => {
      const idx = Int32Array.from(list)
      const maxEnd = new Float64Array(idx.length)
      let m = -Infinity
      for (let k = 0; k < idx.length; k++) {
        const i = idx[k]
        const e = frames.end[i] === frames.end[i] ? frames.end[i] : span
        if (e > m) m = e
        maxEnd[k] = m
      }
      return { idx, maxEnd }
    })
  })
}

/**
 * Lane geometry: tops and heights in CSS pixels, given the rows per lane,
 * the row height, padding inside a lane and the axis height on top;
 * `extra[l]` adds room under lane l (ready marks). Returns { top, height,
 * total }.
 */
function laneGeometry (rowsPerLane, { row, pad, axis }, extra) {
  const top = []
  const height = []
  let y = axis
  for (let l = 0; l < rowsPerLane.length; l++) {
    const h = rowsPerLane[l] * row + 2 * pad + (extra ? extra[l] : 0)
    top.push(y)
    height.push(h)
    y += h
  }
  return { top, height, total: y }
}

function clampView (v0, range, span) {
  range = Math.min(span, Math.max(MIN_RANGE, range))
  v0 = Math.max(0, Math.min(span - range, v0))
  return { v0, v1: v0 + range }
}

/**
 * The view zoomed by `factor` (< 1 zooms in) about the point `frac` of the
 * way across it (0 left, 1 right), which stays where it is on screen.
 */
function zoomView (view, factor, frac, span) {
  const at = view.v0 + frac * (view.v1 - view.v0)
  const range = Math.min(span, Math.max(MIN_RANGE, (view.v1 - view.v0) * factor))
  return clampView(at - frac * range, range, span)
}

/** The view moved by dt ns (positive: later), kept inside [0, span]. */
function panView (view, dt, span) {
  return clampView(view.v0 + dt, view.v1 - view.v0, span)
}

/** Round tick marks for the view: about `target` of them. { step, ticks }. */
function ticks (v0, v1, target) {
  const range = v1 - v0
  let step = Math.pow(10, Math.floor(Math.log10(range / target)))
  if (range / step > 2 * target) step *= 5
  else if (range / step > target) step *= 2
  const out = []
  for (let t = Math.ceil(v0 / step) * step; t <= v1; t += step) out.push(t)
  return { step, ticks: out }
}

// The first k with maxEnd[k] >= t (maxEnd is non-decreasing).
function firstReaching (maxEnd, t) {
  let lo = 0
  let hi = maxEnd.length
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    if (maxEnd[mid] < t) lo = mid + 1
    else hi = mid
  }
  return lo
}

/**
 * The marks of one row in the view: for each frame drawn, its index, x and
 * width in pixels (at least `minW`). Frames narrower than a pixel that fall
 * on a pixel already covered are merged into it, so a row costs at most
 * about `width` marks whatever the number of frames. `keep(i)` filters
 * (one request's subtree); null keeps all. Returns { idx, x, w, visited }.
 */
function rowMarks (row, frames, view, x0, width, span, minW, keep) {
  const scale = width / (view.v1 - view.v0)
  const idx = []
  const xs = []
  const ws = []
  let covered = -Infinity // the right edge of the last mark, px
  let k = firstReaching(row.maxEnd, view.v0)
  let visited = 0
  for (; k < row.idx.length; k++) {
    const i = row.idx[k]
    const b = frames.begin[i]
    if (b >= view.v1) break // starts at or past the right edge
    visited++
    const e = frames.end[i] === frames.end[i] ? frames.end[i] : span
    if (e < view.v0) continue
    if (keep !== null && !keep(i)) continue
    let x = x0 + (b - view.v0) * scale
    let right = x0 + (e - view.v0) * scale
    if (x < x0) x = x0
    if (right > x0 + width) right = x0 + width
    const w = Math.max(minW, right - x)
    if (right <= covered && right - x < 1) continue // inside a pixel already drawn
    idx.push(i)
    xs.push(x)
    ws.push(w)
    covered = Math.max(covered, x + w)
  }
  return { idx, x: xs, w: ws, visited }
}

/**
 * The frame of `row` under time t, or -1; `slack` ns on either side lets a
 * frame narrower than a pixel be hit. The innermost (latest-starting) frame
 * containing t wins.
 */
function hitRow (row, frames, t, slack, span) {
  const k0 = firstReaching(row.maxEnd, t - slack)
  let best = -1
  for (let k = k0; k < row.idx.length; k++) {
    const i = row.idx[k]
    const b = frames.begin[i]
    if (b > t + slack) break
    const e = frames.end[i] === frames.end[i] ? frames.end[i] : span
    if (e >= t - slack) best = i
  }
  return best
}

/** The lane and row at y (CSS px) or null. */
function laneAt (geometry, rowsPerLane, y, { row, pad }) {
  for (let l = 0; l < geometry.top.length; l++) {
    const top = geometry.top[l]
    if (y < top || y >= top + geometry.height[l]) continue
    const r = Math.floor((y - top - pad) / row)
    if (r < 0 || r >= rowsPerLane[l]) return { lane: l, row: -1 }
    return { lane: l, row: r }
  }
  return null
}

/** Characters of `text` that fit in `px` at `charPx` a character ('…' when cut). */
function fitLabel (text, px, charPx) {
  const n = Math.floor(px / charPx)
  if (n < 3) return ''
  return text.length <= n ? text : text.slice(0, n - 1) + '…'
}

module.exports = {
  MAX_ROWS, MIN_RANGE, buildRows, laneGeometry, zoomView, panView, clampView, ticks, firstReaching, rowMarks, hitRow, laneAt, fitLabel
}
