'use strict'
// The thread-pool view: the verdict on the pool's size, a chart of pool
// utilisation (busy pool threads / pool threads, shaded) and queue depth
// (work linked but not yet running on a pool thread, a line) over the
// timeline's view, and per site the split of each item's time into queue
// wait, pool run and loop wait. The figures come from lib/report/pool.js,
// computed over the whole trace at render time.
const { el, ms, cssVar } = require('./dom')
const { sampleSeries } = require('./pool')
const { fromSteps } = require('./codec')

const CHART_H = 90

function createPoolView (pool, { section, verdict, detail, canvas, table, plot, offDetail, offTable }) {
  verdict.textContent = pool.verdict.text
  verdict.setAttribute('data-level', pool.verdict.level)
  if (pool.offThread && pool.offThread.length > 0) offThreadTable(pool.offThread, offDetail, offTable)
  if (pool.size === 0) {
    detail.hidden = true
    return { draw () {} }
  }
  section.setAttribute('data-pool-size', String(pool.size))
  const theme = { busy: cssVar('--pool-busy'), queue: cssVar('--pool-queue'), muted: cssVar('--muted'), tick: cssVar('--tick') }
  const ctx = canvas.getContext('2d')
  const busy = { t: fromSteps(pool.busy.dt), v: Float64Array.from(pool.busy.v) }
  const queue = { t: fromSteps(pool.queue.dt), v: Float64Array.from(pool.queue.v) }

  let sized = ''
  function draw (view) {
    const { x0, width } = plot()
    const W = x0 + width + 6
    const dpr = window.devicePixelRatio || 1
    if (sized !== `${W}x${dpr}`) { // resizing a canvas reallocates it: only when the size changed
      sized = `${W}x${dpr}`
      canvas.style.width = `${W}px`
      canvas.style.height = `${CHART_H}px`
      canvas.width = Math.round(W * dpr)
      canvas.height = Math.round(CHART_H * dpr)
      ctx.setTransform(dpr, 0, 0, dpr, 0, 0)
    }
    ctx.clearRect(0, 0, W, CHART_H)
    const n = Math.max(1, Math.floor(width))
    const b = sampleSeries(busy, view.v0, view.v1, n)
    const q = sampleSeries(queue, view.v0, view.v1, n)
    const top = 8
    const h = CHART_H - top - 14
    ctx.fillStyle = theme.tick
    ctx.fillRect(x0, top, width, 1)
    ctx.fillRect(x0, top + h, width, 1)
    // Utilisation: the mean busy share of each pixel column.
    ctx.fillStyle = theme.busy
    for (let c = 0; c < n; c++) {
      const u = Math.min(1, b.mean[c] / pool.size)
      if (u > 0) ctx.fillRect(x0 + c, top + h - u * h, 1, u * h)
    }
    // Queue depth: the peak of each column, scaled to the trace's peak.
    const peak = Math.max(1, pool.peakQueue)
    ctx.strokeStyle = theme.queue
    ctx.lineWidth = 1.5
    ctx.beginPath()
    for (let c = 0; c < n; c++) {
      const y = top + h - (q.max[c] / peak) * h
      if (c === 0) ctx.moveTo(x0, y)
      else ctx.lineTo(x0 + c, y)
    }
    ctx.stroke()
    ctx.font = '11px system-ui, sans-serif'
    ctx.fillStyle = theme.muted
    ctx.fillText(`${pool.size} pool threads`, 6, top + 10)
    ctx.fillText('busy 100%', 6, top + 24)
    ctx.fillStyle = theme.busy
    ctx.fillRect(6, top + 32, 10, 8)
    ctx.fillStyle = theme.muted
    ctx.fillText('utilisation', 20, top + 40)
    ctx.strokeStyle = theme.queue
    ctx.beginPath()
    ctx.moveTo(6, top + 52)
    ctx.lineTo(16, top + 52)
    ctx.stroke()
    ctx.fillText(`queue (peak ${pool.peakQueue})`, 20, top + 56)
    ctx.fillText('0', x0 - 10, top + h)
  }

  // The per-site table.
  const thead = el('thead')
  const group = el('tr', { class: 'group' })
  group.append(el('th', { class: 'text', rowspan: 2 }, 'site'), el('th', { rowspan: 2 }, 'items'),
    el('th', { colspan: 2 }, 'queue wait'), el('th', { colspan: 2 }, 'pool run'), el('th', { colspan: 2 }, 'loop wait'),
    el('th', { rowspan: 2, class: 'text' }, 'where the time went'))
  const sub = el('tr')
  for (let i = 0; i < 3; i++) sub.append(el('th', null, 'p50'), el('th', null, 'p99'))
  thead.append(group, sub)
  const tbody = el('tbody')
  for (const s of pool.sites) {
    const tr = el('tr', { 'data-site': s.site === null ? '' : s.site })
    tr.append(el('td', { class: 'text site' }, s.site === null ? '(no site)' : s.site), el('td', null, String(s.items) + (s.stuck ? ` (+${s.stuck} queued)` : '')))
    for (const k of ['queueWait', 'run', 'loopWait']) tr.append(el('td', null, ms(s[k].p50)), el('td', null, ms(s[k].p99)))
    // A bar of the three shares of the site's total time.
    const total = s.queueWait.total + s.run.total + s.loopWait.total
    const bar = el('td', { class: 'text' })
    const split = el('div', { class: 'split', title: 'queue wait | pool run | loop wait (totals)' })
    for (const [k, cls] of [['queueWait', 'q'], ['run', 'r'], ['loopWait', 'l']]) {
      const part = el('span', { class: `split-${cls}` })
      part.style.width = `${total > 0 ? (100 * s[k].total / total).toFixed(1) : 0}%`
      split.append(part)
    }
    bar.append(split)
    tr.append(bar)
    tbody.append(tr)
  }
  table.append(thead, tbody)
  return { draw }
}

// Per site: items, the threads that made them ready, link -> ready and
// ready -> callback.
function offThreadTable (rows, detail, table) {
  detail.hidden = false
  const thead = el('thead')
  const group = el('tr', { class: 'group' })
  group.append(el('th', { class: 'text', rowspan: 2 }, 'site'), el('th', { rowspan: 2 }, 'items'), el('th', { rowspan: 2 }, 'threads'),
    el('th', { colspan: 2 }, 'queued + ran'), el('th', { colspan: 2 }, 'loop wait'))
  const sub = el('tr')
  for (let i = 0; i < 2; i++) sub.append(el('th', null, 'p50'), el('th', null, 'p99'))
  thead.append(group, sub)
  const tbody = el('tbody')
  for (const s of rows) {
    const tr = el('tr', { 'data-site': s.site === null ? '' : s.site })
    tr.append(el('td', { class: 'text site' }, s.site === null ? '(no site)' : s.site), el('td', null, String(s.items)), el('td', null, String(s.threads)))
    for (const k of ['work', 'loopWait']) tr.append(el('td', null, ms(s[k].p50)), el('td', null, ms(s[k].p99)))
    tbody.append(tr)
  }
  table.append(thead, tbody)
}

module.exports = { createPoolView }
