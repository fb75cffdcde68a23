'use strict'
// The timeline: one canvas, a lane per env and thread (pool threads marked),
// frames as boxes in rows (nested frames one row down), the ready marks of
// each thread in a strip under its lane, time ticks on top. Frames are
// drawn, never made into DOM nodes: a draw costs at most about one mark per
// pixel column per row (layout.rowMarks merges what is narrower), so zoom
// and pan stay quick with hundreds of thousands of frames. Clicks and hover
// are hit-tested against the same layout.
//
// Interaction: wheel zooms about the pointer, drag pans, the toolbar's
// buttons zoom about the middle, a click selects a frame (onSelect).
const L = require('./layout')
const { ms, cssVar } = require('./dom')
const { siteName } = require('./model')

const ROW = 18
const PAD = 3
const AXIS = 22
const GUTTER = 150
const MARK_H = 6
const MIN_W = 1
const CHAR_PX = 6.4 // the average width of a label character at 11px
const LABEL_MIN = 36 // narrowest frame that gets a label, px

// Ready marks per lane: { from, to } the run of data.readies made on that
// lane's thread (lib/report.js orders readies by lane, then time).
function readyMarks (m) {
  const r = m.data.readies
  const runs = m.lanes.map(() => ({ from: 0, to: 0 }))
  let j = 0
  while (j < r.id.length) {
    const lane = r.lane[j]
    let k = j
    while (k < r.id.length && r.lane[k] === lane) k++
    if (lane >= 0 && lane < runs.length) runs[lane] = { from: j, to: k }
    j = k
  }
  return { ts: m.readyTs, site: Int32Array.from(r.site), runs }
}

function createTimeline (m, canvas, { colours, onSelect, onHover, onDraw }) {
  const rows = L.buildRows(m.frame, m.lanes.length, m.span)
  const rowsPerLane = rows.map((r) => r.length)
  const rowOf = new Int8Array(m.n).fill(-1)
  rows.forEach((lane) => lane.forEach((row, r) => { for (const i of row.idx) rowOf[i] = r }))
  const marks = readyMarks(m)
  const geo = L.laneGeometry(rowsPerLane, { row: ROW, pad: PAD, axis: AXIS }, marks.runs.map((x) => x.to > x.from ? MARK_H + 2 : 0))
  const theme = {
    lane: cssVar('--lane'),
    laneAlt: cssVar('--lane-alt'),
    pool: cssVar('--lane-pool'),
    ink: cssVar('--ink'),
    muted: cssVar('--muted'),
    tick: cssVar('--tick'),
    sel: cssVar('--sel'),
    dim: cssVar('--dim'),
    edge: cssVar('--frame-edge')
  }
  const state = {
    view: { v0: 0, v1: m.span },
    selected: -1, // frame index
    chain: new Set(), // frame indices on the selected frame's stack
    root: -1, // only this request's subtree (a frame index), or -1: all
    drawn: 0, // marks drawn by the last draw
    visited: 0,
    drawMs: 0 // how long the last draw took
  }
  const waiters = []
  let scheduled = false
  let cssWidth = 0

  const ctx = canvas.getContext('2d')
  function resize () {
    const dpr = window.devicePixelRatio || 1
    cssWidth = Math.max(300, canvas.parentElement.clientWidth)
    canvas.style.width = `${cssWidth}px`
    canvas.style.height = `${geo.total}px`
    canvas.width = Math.round(cssWidth * dpr)
    canvas.height = Math.round(geo.total * dpr)
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0)
  }
  const plotW = () => cssWidth - GUTTER - 6
  const keep = () => state.root < 0 ? null : (i) => m.root[i] === state.root

  function laneLabel (l) {
    const lane = m.lanes[l]
    return lane.pool ? `pool thread ${lane.thread}` + (lane.env ? ` · env ${lane.env}` : '') : `env ${lane.env} · thread ${lane.thread}`
  }

  function draw () {
    const started = performance.now()
    const { v0, v1 } = state.view
    const W = plotW()
    const scale = W / (v1 - v0)
    ctx.clearRect(0, 0, cssWidth, geo.total)
    ctx.font = '11px system-ui, sans-serif'
    ctx.textBaseline = 'middle'
    for (let l = 0; l < m.lanes.length; l++) {
      ctx.fillStyle = m.lanes[l].pool ? theme.pool : l % 2 ? theme.laneAlt : theme.lane
      ctx.fillRect(0, geo.top[l], cssWidth, geo.height[l])
    }
    // Ticks.
    const t = L.ticks(v0, v1, Math.max(2, W / 120))
    ctx.fillStyle = theme.tick
    for (const x of t.ticks) ctx.fillRect(GUTTER + (x - v0) * scale, AXIS - 4, 1, geo.total)
    // Frames.
    const k = keep()
    let drawn = 0
    let visited = 0
    const chainBoxes = []
    for (let l = 0; l < rows.length; l++) {
      for (let r = 0; r < rows[l].length; r++) {
        const y = geo.top[l] + PAD + r * ROW
        const mk = L.rowMarks(rows[l][r], m.frame, state.view, GUTTER, W, m.span, MIN_W, k)
        visited += mk.visited
        drawn += mk.idx.length
        let site = -1
        for (let q = 0; q < mk.idx.length; q++) {
          const i = mk.idx[q]
          if (m.frame.site[i] !== site) { site = m.frame.site[i]; ctx.fillStyle = colours[site].fill }
          const x = mk.x[q]
          const w = mk.w[q]
          ctx.fillRect(x, y + 1, w, ROW - 2)
          if (w >= 4) {
            ctx.strokeStyle = theme.edge
            ctx.lineWidth = 1
            ctx.strokeRect(x + 0.5, y + 1.5, w - 1, ROW - 3)
          }
          if (w >= LABEL_MIN) {
            const text = L.fitLabel(siteName(m, site) || `frame ${m.frame.id[i]}`, w - 6, CHAR_PX)
            if (text) {
              ctx.fillStyle = theme.ink
              ctx.fillText(text, x + 3, y + ROW / 2)
              ctx.fillStyle = colours[site].fill
            }
          }
          if (state.chain.has(i)) chainBoxes.push([i, x, y, w])
        }
        // A chain frame merged into a neighbour's pixel is still outlined.
        if (state.chain.size > 0) {
          for (const i of state.chain) {
            if (m.frame.lane[i] !== l || rowOf[i] !== r || mk.idx.includes(i)) continue
            const box = boxOf(i)
            if (box !== null) chainBoxes.push([i, box.x, y, box.w])
          }
        }
      }
    }
    for (const [i, x, y, w] of chainBoxes) {
      ctx.strokeStyle = theme.sel
      ctx.lineWidth = i === state.selected ? 3 : 1.5
      ctx.strokeRect(x + 0.5, y + 0.5, Math.max(2, w - 1), ROW - 1)
    }
    // Ready marks, one per pixel at most.
    for (let l = 0; l < marks.runs.length; l++) {
      const { from, to } = marks.runs[l]
      if (to === from) continue
      const y = geo.top[l] + geo.height[l] - MARK_H - 1
      let j = from + L.firstReaching(marks.ts.subarray(from, to), v0)
      let last = -1
      ctx.fillStyle = theme.edge
      ctx.fillRect(GUTTER, y + MARK_H - 1, plotW(), 1)
      for (; j < to && marks.ts[j] <= v1; j++) {
        const x = Math.floor(GUTTER + (marks.ts[j] - v0) * scale)
        if (x === last) continue
        last = x
        ctx.fillStyle = colours[marks.site[j]].fill
        ctx.fillRect(x, y, 2, MARK_H)
      }
    }
    // The gutter with lane names, and the axis labels, on top.
    for (let l = 0; l < m.lanes.length; l++) {
      ctx.fillStyle = m.lanes[l].pool ? theme.pool : l % 2 ? theme.laneAlt : theme.lane
      ctx.fillRect(0, geo.top[l], GUTTER - 4, geo.height[l])
      ctx.fillStyle = theme.muted
      ctx.fillText(laneLabel(l), 6, geo.top[l] + PAD + ROW / 2)
    }
    ctx.clearRect(0, 0, cssWidth, AXIS - 4)
    ctx.fillStyle = theme.muted
    ctx.textBaseline = 'alphabetic'
    for (const x of t.ticks) ctx.fillText(`${ms(x)} ms`, GUTTER + (x - v0) * scale + 3, AXIS - 8)
    if (state.root >= 0) {
      ctx.fillStyle = theme.dim
      ctx.fillText(`only request ${m.frame.id[state.root]}`, 6, AXIS - 8)
    }
    state.drawn = drawn
    state.visited = visited
    if (onDraw) onDraw(state.view) // the charts that share the view, in the same animation frame
    state.drawMs = performance.now() - started
    canvas.setAttribute('data-view', `${Math.round(v0)}-${Math.round(v1)}`)
    canvas.setAttribute('data-drawn', String(drawn))
    for (const w of waiters.splice(0)) w()
  }

  function schedule () {
    if (scheduled) return
    scheduled = true
    requestAnimationFrame(() => { scheduled = false; draw() })
  }

  function setView (view) {
    state.view = L.clampView(view.v0, view.v1 - view.v0, m.span)
    schedule()
  }

  // The box of frame index i in canvas CSS pixels, or null off screen.
  function boxOf (i) {
    const b = m.frame.begin[i]
    if (b !== b || rowOf[i] < 0) return null
    const { v0, v1 } = state.view
    const W = plotW()
    const scale = W / (v1 - v0)
    const e = m.frame.end[i] === m.frame.end[i] ? m.frame.end[i] : m.span
    if (e < v0 || b > v1) return null
    const x = GUTTER + Math.max(0, b - v0) * scale
    const right = GUTTER + Math.min(v1 - v0, e - v0) * scale
    const y = geo.top[m.frame.lane[i]] + PAD + rowOf[i] * ROW
    return { x, y, w: Math.max(MIN_W, right - x), h: ROW }
  }

  function hit (x, y) {
    if (x < GUTTER) return -1
    const at = L.laneAt(geo, rowsPerLane, y, { row: ROW, pad: PAD })
    if (at === null || at.row < 0) return -1
    const { v0, v1 } = state.view
    const scale = plotW() / (v1 - v0)
    const i = L.hitRow(rows[at.lane][at.row], m.frame, v0 + (x - GUTTER) / scale, 3 / scale, m.span)
    if (i >= 0 && state.root >= 0 && m.root[i] !== state.root) return -1
    return i
  }

  function zoom (factor, frac) {
    setView(L.zoomView(state.view, factor, frac, m.span))
  }

  canvas.addEventListener('wheel', (e) => {
    e.preventDefault()
    const box = canvas.getBoundingClientRect()
    const frac = Math.min(1, Math.max(0, (e.clientX - box.left - GUTTER) / plotW()))
    // A mouse wheel notch (about 100 px of delta) zooms by 1.25; a
    // trackpad's many small deltas add up to the same.
    const px = e.deltaMode === 1 ? e.deltaY * 33 : e.deltaMode === 2 ? e.deltaY * 800 : e.deltaY
    zoom(Math.pow(1.25, Math.max(-3, Math.min(3, px / 100))), frac)
  }, { passive: false })
  let drag = null
  canvas.addEventListener('mousedown', (e) => {
    drag = { x: e.clientX, view: state.view, moved: false }
  })
  window.addEventListener('mousemove', (e) => {
    if (drag === null) return
    const dx = e.clientX - drag.x
    if (Math.abs(dx) > 3) drag.moved = true
    if (!drag.moved) return
    const range = drag.view.v1 - drag.view.v0
    setView(L.panView(drag.view, -dx / plotW() * range, m.span))
  })
  window.addEventListener('mouseup', (e) => {
    const d = drag
    drag = null
    if (d === null || d.moved) return
    const box = canvas.getBoundingClientRect()
    const i = hit(e.clientX - box.left, e.clientY - box.top)
    if (i >= 0) onSelect(m.frame.id[i])
  })
  canvas.addEventListener('mousemove', (e) => {
    if (drag !== null && drag.moved) return
    const box = canvas.getBoundingClientRect()
    const i = hit(e.clientX - box.left, e.clientY - box.top)
    canvas.style.cursor = i >= 0 ? 'pointer' : 'default'
    if (i < 0) { onHover(''); return }
    const b = m.frame.begin[i]
    const e2 = m.frame.end[i]
    onHover(`frame ${m.frame.id[i]} · ${siteName(m, m.frame.site[i]) || '(no site)'} · at ${ms(b)} ms · ` +
      (e2 === e2 ? `ran ${ms(e2 - b)} ms` : 'not ended'))
  })
  window.addEventListener('resize', () => { resize(); schedule() })

  resize()
  draw()

  return {
    zoom,
    pan (fraction) { setView(L.panView(state.view, fraction * (state.view.v1 - state.view.v0), m.span)) },
    reset () { setView({ v0: 0, v1: m.span }) },
    setView,
    view: () => state.view,
    /** Outline the frames (indices) of a stack; `selected` thicker. */
    highlight (selected, chain) {
      state.selected = selected
      state.chain = new Set(chain)
      schedule()
    },
    /** Draw only the subtree of root frame index `root` (-1: everything). */
    filter (root) {
      state.root = root
      schedule()
    },
    /** Frame `id`'s box in client (viewport) coordinates, or null. */
    frameBox (id) {
      const i = m.frameIndex.get(id)
      const b = i === undefined ? null : boxOf(i)
      if (b === null) return null
      const r = canvas.getBoundingClientRect()
      return { x: r.left + b.x, y: r.top + b.y, w: b.w, h: b.h }
    },
    /** Resolves after the next draw. */
    afterDraw () { return new Promise((resolve) => { waiters.push(resolve); schedule() }) },
    stats: () => ({ drawn: state.drawn, visited: state.visited, drawMs: state.drawMs, lanes: m.lanes.length, width: cssWidth }),
    /** The lanes' names as drawn in the gutter. */
    laneLabels: () => m.lanes.map((_, l) => laneLabel(l)),
    plot: () => ({ x0: GUTTER, width: plotW() })
  }
}

module.exports = { createTimeline, readyMarks, GUTTER }
