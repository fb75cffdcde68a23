'use strict'
// The panels around the timeline: the colour legend, the async call stack
// of the selected frame (every hop names its site and thread) with a drawing
// of the chain, the site table, the pending groups and the problems list.
// All DOM, built from the model with textContent.
const { el, svg, ms } = require('./dom')
const { stackOf, frameWhere } = require('./model')

const DRAW_MAX = 120
const LEGEND_MAX = 40

function label (site) { return site === null ? '(no site)' : site }

/** "(mydb:query, thread 3)": where frame id ran, or '' when unknown. */
function whereText (m, id) {
  const w = frameWhere(m, id)
  if (w === null) return ''
  return ` (${label(w.site)}, thread ${w.thread}${w.env ? `, env ${w.env}` : ''})`
}

/** The heading and detail line of one stack step, `prev` the step above it. */
function describe (m, s, prev) {
  const wait = prev && prev.ts !== null && s.ts !== null && s.ts !== undefined ? ms(prev.ts - s.ts) : '–'
  switch (s.kind) {
    case 'frame':
      return [`frame ${s.id}`, `thread ${s.thread} · env ${s.env} · began ${ms(s.begin)} ms · ${s.end === null ? 'not ended' : `ran ${ms(s.duration)} ms`}`]
    case 'ready':
      return [s.readyBy === 0 ? `ready ${s.id} by a native thread or the loop` : `ready ${s.id} by frame ${s.readyBy}${whereText(m, s.readyBy)}`,
        `on thread ${s.thread} · env ${s.env} · at ${ms(s.ts)} ms · waited ${wait} ms for its frame`]
    case 'link':
      return [s.frame === 0 ? `link ${s.id} at the root` : `link ${s.id} in frame ${s.frame}${whereText(m, s.frame)}`,
        `on thread ${s.thread} · env ${s.env} · at ${ms(s.ts)} ms · waited ${wait} ms to be made ready`]
    case 'root':
      return ['root (frame 0)', 'program start, the event loop or a native thread']
    default:
      return [`${s.expected} ${s.id} is not in the report`, 'the chain leaves the embedded data here (not drained, dropped, left out of the report or another process)']
  }
}

function createPanels (m, colours, dom, actions) {
  const { panel, graph, legend } = dom

  // ---- legend ----------------------------------------------------------------
  const counts = new Int32Array(m.sites.length)
  for (let i = 0; i < m.n; i++) counts[m.frame.site[i]]++
  const order = m.sites.map((_, i) => i).filter((i) => counts[i] > 0).sort((a, b) => counts[b] - counts[a])
  for (const i of order.slice(0, LEGEND_MAX)) {
    const item = el('li', { 'data-site': m.sites[i] === null ? '' : m.sites[i] })
    const sw = el('span', { class: 'swatch' })
    sw.style.background = colours[i].fill
    item.append(sw, document.createTextNode(`${label(m.sites[i])} `), el('span', { class: 'count' }, String(counts[i])))
    legend.append(item)
  }
  if (order.length > LEGEND_MAX) legend.append(el('li', { class: 'more' }, `+ ${order.length - LEGEND_MAX} more sites`))

  // ---- the stack panel ---------------------------------------------------------
  // `intro` (optional): nodes shown above the stack (a pending group).
  function showStack (id, intro) {
    panel.textContent = ''
    if (intro) panel.append(...intro)
    if (id === null) {
      graph.textContent = ''
      return []
    }
    const steps = stackOf(m, id)
    const list = el('ol', { id: 'stack-list' })
    let prev = null
    const chain = []
    for (const s of steps) {
      const siteLabel = s.kind === 'root' ? 'root' : s.kind === 'missing' ? '' : (s.site === null ? '' : s.site)
      const li = el('li', { class: `step step-${s.kind}`, 'data-kind': s.kind, 'data-site': siteLabel, 'data-id': s.id })
      const [what, meta] = describe(m, s, prev)
      const head = el('div', { class: 'what' })
      head.append(document.createTextNode(what))
      if (s.kind === 'frame' || s.kind === 'ready' || s.kind === 'link') head.append(document.createTextNode(' '), el('code', null, label(s.site)))
      li.append(head, el('div', { class: 'meta' }, meta))
      if (s.kind === 'link' && s.stack) li.append(el('pre', null, s.stack))
      if (s.kind === 'frame') {
        const i = m.frameIndex.get(s.id)
        chain.push(i)
        if (s.id === id) li.classList.add('current')
        li.title = 'select this frame'
        li.addEventListener('click', () => actions.select(s.id))
      }
      list.append(li)
      if (s.ts !== undefined && s.ts !== null) prev = s
    }
    const i = m.frameIndex.get(id)
    const tools = el('div', { class: 'toolbar' })
    if (i !== undefined) {
      const only = el('button', { type: 'button', id: 'only-request' }, `only this request (frame ${m.frame.id[m.root[i]]})`)
      only.addEventListener('click', () => actions.pickRequest(m.root[i]))
      tools.append(only)
    }
    panel.append(el('p', { class: 'hint' }, `frame ${id} back to the root: each frame, the ready that dispatched it and the link that asked for it, in the frame below.`), tools, list)
    drawChain(steps, id)
    return chain
  }

  // The chain as a graph, root at the top: frame -> link -> ready -> frame.
  function drawChain (steps, selected) {
    graph.textContent = ''
    const shown = steps.slice(0, DRAW_MAX).reverse()
    const GAP = 34
    const defs = svg('defs')
    const marker = svg('marker', { id: 'arrow', viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse' })
    marker.append(svg('path', { d: 'M0,0 L10,5 L0,10 z', class: 'arrow-head' }))
    defs.append(marker)
    graph.append(defs)
    let top = 12
    if (steps.length > DRAW_MAX) {
      graph.append(svg('text', { x: 10, y: top + 10 }, `… ${steps.length - DRAW_MAX} older steps not drawn`))
      top += 24
    }
    const cx = 90
    let prevY = null
    let prevStep = null
    shown.forEach((s, k) => {
      const y = top + k * GAP
      if (prevY !== null) {
        graph.append(svg('line', { class: 'edge', x1: cx, y1: prevY + 10, x2: cx, y2: y - 10, 'marker-end': 'url(#arrow)' }))
        if (prevStep.ts !== undefined && prevStep.ts !== null && s.ts !== undefined && s.ts !== null) {
          graph.append(svg('text', { class: 'edge-label', x: cx + 6, y: (prevY + y) / 2 + 3 }, `+${ms(s.ts - prevStep.ts)} ms`))
        }
      }
      let shape
      if (s.kind === 'frame') {
        const c = colours[m.frame.site[m.frameIndex.get(s.id)]]
        shape = svg('rect', { class: s.id === selected ? 'node frame selected' : 'node frame', x: cx - 70, y: y - 10, width: 140, height: 20, rx: 4 })
        shape.style.fill = c.fill
      } else if (s.kind === 'root') {
        shape = svg('rect', { class: 'node root', x: cx - 70, y: y - 10, width: 140, height: 20, rx: 4 })
      } else if (s.kind === 'missing') {
        shape = svg('rect', { class: 'node missing', x: cx - 70, y: y - 10, width: 140, height: 20, rx: 4 })
      } else {
        shape = svg('circle', { class: `node ${s.kind}`, cx, cy: y, r: 7 })
      }
      graph.append(shape)
      const text = s.kind === 'root' ? 'root'
        : s.kind === 'missing' ? `${s.expected} ${s.id} missing`
          : s.kind === 'frame' ? (s.site === null ? `frame ${s.id}` : s.site) : `${s.kind} ${s.id}`
      const short = text.length > 22 ? text.slice(0, 21) + '…' : text
      const boxed = s.kind === 'frame' || s.kind === 'root' || s.kind === 'missing'
      const t = svg('text', { x: boxed ? cx : cx + 12, y: y + 4, 'text-anchor': boxed ? 'middle' : 'start' }, short)
      t.append(svg('title', null, s.kind === 'frame' ? `frame ${s.id} ${text} (thread ${s.thread}, env ${s.env})` : text))
      graph.append(t)
      prevY = y
      prevStep = s
    })
    graph.setAttribute('width', 300)
    graph.setAttribute('height', top + shown.length * GAP)
  }

  // ---- sites -------------------------------------------------------------------
  function siteTable (table) {
    const thead = el('thead')
    const group = el('tr', { class: 'group' })
    group.append(el('th', { class: 'text', rowspan: 2 }, 'site'), el('th', { rowspan: 2 }, 'frames'),
      el('th', { colspan: 3 }, 'queue wait'), el('th', { colspan: 3 }, 'dispatch wait'), el('th', { colspan: 3 }, 'run'))
    const sub = el('tr')
    for (let k = 0; k < 3; k++) sub.append(el('th', null, 'p50'), el('th', null, 'p99'), el('th', null, 'max'))
    thead.append(group, sub)
    const tbody = el('tbody')
    for (const s of m.data.siteStats) {
      const tr = el('tr', { 'data-site': s.site === null ? '' : s.site })
      tr.append(el('td', { class: 'text site' }, label(s.site)), el('td', null, String(s.frames)))
      for (const k of ['queueWait', 'dispatchWait', 'run']) tr.append(el('td', null, ms(s[k].p50)), el('td', null, ms(s[k].p99)), el('td', null, ms(s[k].max)))
      tbody.append(tr)
    }
    if (m.data.siteStats.length === 0) {
      const tr = el('tr')
      tr.append(el('td', { class: 'text empty', colspan: 11 }, 'No frames.'))
      tbody.append(tr)
    }
    table.append(thead, tbody)
  }

  // ---- pending groups -------------------------------------------------------------
  const KIND_TEXT = { link: 'linked, never made ready', ready: 'made ready, never run', frame: 'began, never ended' }

  function groupIntro (g) {
    const box = el('div', { class: 'pending-intro', 'data-group-kind': g.kind, 'data-group-site': g.site === null ? '' : g.site })
    box.append(el('div', { class: 'what' }, `${g.count} pending ${g.kind}${g.count === 1 ? '' : 's'} at ${label(g.site)}: ${KIND_TEXT[g.kind]}`))
    const where = g.frame === null ? 'their requester is not in the trace'
      : g.frame === 0 ? 'requested at the root (frame 0)'
        : g.kind === 'frame' ? `the oldest is frame ${g.frame}; its stack:`
          : `requested in frame ${g.frame}${whereText(m, g.frame)}; its stack:`
    box.append(el('div', { class: 'meta' }, `oldest ${ms(g.oldestAge)} ms before the end of the trace · ${where}`))
    const ids = el('details')
    ids.append(el('summary', null, `IDs (${g.ids.length < g.count ? `first ${g.ids.length} of ${g.count}` : g.count})`), el('p', { class: 'ids' }, g.ids.join(' ')))
    box.append(ids)
    if (g.frames.length > 1) {
      const also = el('p', { class: 'hint' }, `requested from ${g.frames.length}${g.frames.length >= 50 ? '+' : ''} frames: `)
      for (const f of g.frames.slice(0, 12)) {
        if (!m.frameIndex.has(f)) continue
        const a = el('button', { type: 'button', class: 'link' }, String(f))
        a.addEventListener('click', () => actions.select(f))
        also.append(a, document.createTextNode(' '))
      }
      box.append(also)
    }
    if (g.stack) box.append(el('pre', null, g.stack))
    if (g.frame !== null && g.frame !== 0 && !m.frameIndex.has(g.frame)) {
      box.append(el('p', { class: 'note' }, `frame ${g.frame} is not embedded in this report (left out to keep it small).`))
    }
    return box
  }

  function pendingTable (table, note) {
    const head = el('tr')
    for (const h of ['count', 'kind', 'site', 'oldest (ms)', 'requested in', 'stack']) {
      head.append(el('th', { class: h === 'count' || h === 'oldest (ms)' ? '' : 'text' }, h))
    }
    const thead = el('thead')
    thead.append(head)
    const tbody = el('tbody')
    const groups = m.data.pendingGroups
    groups.forEach((g, k) => {
      const tr = el('tr', { class: 'group-row', tabindex: 0, 'data-group': k, 'data-kind': g.kind, 'data-site': g.site === null ? '' : g.site, 'data-count': g.count })
      const from = g.frame === null ? '?' : g.frame === 0 ? 'root' : `frame ${g.frame}${whereText(m, g.frame)}`
      tr.append(el('td', null, String(g.count)), el('td', { class: 'text' }, g.kind), el('td', { class: 'text site' }, label(g.site)),
        el('td', null, ms(g.oldestAge)), el('td', { class: 'text' }, from), el('td', { class: 'text stack' }, g.stack === null ? '' : g.stack.split('\n')[0].trim()))
      const open = () => actions.pickGroup(k)
      tr.addEventListener('click', open)
      tr.addEventListener('keydown', (e) => { if (e.key === 'Enter') open() })
      tbody.append(tr)
    })
    if (groups.length === 0) {
      const tr = el('tr')
      tr.append(el('td', { class: 'text empty', colspan: 6 }, 'Nothing pending.'))
      tbody.append(tr)
    }
    table.append(thead, tbody)
    const t = m.data.totals
    note.textContent = t.pending > 0 ? `${t.pending} pending item${t.pending === 1 ? '' : 's'} in ${groups.length} group${groups.length === 1 ? '' : 's'} (by kind, site and the JS stack of the link). Click a group for its chain.` : ''
  }

  return { showStack, groupIntro, siteTable, pendingTable }
}

module.exports = { createPanels, describe }
