'use strict'
// The report page's entry: reads the embedded data, builds the model and the
// views, and wires them together. Selecting a frame (timeline click, a hop
// of the stack, a pending group) shows its async stack and outlines its
// chain in the timeline; picking a request draws only its subtree.
//
// window.natReport is a small read-only handle for the browser test and
// the benchmark (the view, a frame's box on screen, draw counts).
const { el, ms, cssVar } = require('./dom')
const { buildModel, siteColours, requests } = require('./model')
const { createTimeline } = require('./timeline')
const { createPoolView } = require('./poolview')
const { createPanels } = require('./panels')

const REQUESTS_LISTED = 1000

function main () {
  const phases = {}
  let lap = performance.now()
  const phase = (name) => { const now = performance.now(); phases[name] = now - lap; lap = now }
  phases.start = lap // when the script began (ms since navigation)
  const data = JSON.parse(document.getElementById('report-data').textContent)
  phase('parse')
  const m = buildModel(data)
  phase('model')
  const palette = []
  for (let k = 0; cssVar(`--site-${k}`) !== ''; k++) palette.push(cssVar(`--site-${k}`))
  const colours = siteColours(m, palette)
  const $ = (id) => document.getElementById(id)
  let timeline = null
  let pool = null

  const actions = {
    select (id) {
      const chain = panels.showStack(id)
      timeline.highlight(m.frameIndex.has(id) ? m.frameIndex.get(id) : -1, chain.filter((i) => i !== undefined))
      document.body.setAttribute('data-selected', String(id))
      try {
        if (location.hash !== `#frame=${id}`) history.replaceState(null, '', `#frame=${id}`)
      } catch (err) {
        // Some file: URLs refuse it; the selection still works.
      }
    },
    pickGroup (k) {
      const g = data.pendingGroups[k]
      const id = g.frame !== null && g.frame !== 0 && m.frameIndex.has(g.frame) ? g.frame : null
      const chain = panels.showStack(id, [panels.groupIntro(g)])
      timeline.highlight(id === null ? -1 : m.frameIndex.get(id), chain.filter((i) => i !== undefined))
      for (const row of document.querySelectorAll('#pending-groups tr.picked')) row.classList.remove('picked')
      const row = document.querySelector(`#pending-groups tr[data-group="${k}"]`)
      if (row) row.classList.add('picked')
      document.body.setAttribute('data-group', String(k))
      $('stack-section').scrollIntoView({ block: 'nearest' })
    },
    pickRequest (rootIndex) {
      timeline.filter(rootIndex)
      const select = $('request')
      select.value = rootIndex < 0 ? '' : String(rootIndex)
      if (rootIndex >= 0 && select.value !== String(rootIndex)) { // not among the listed ones
        select.append(el('option', { value: String(rootIndex) }, `frame ${m.frame.id[rootIndex]}`))
        select.value = String(rootIndex)
      }
      $('request-clear').disabled = rootIndex < 0
      document.body.setAttribute('data-request', rootIndex < 0 ? '' : String(m.frame.id[rootIndex]))
      if (rootIndex >= 0) {
        const r = reqs.find((x) => x.index === rootIndex)
        if (r && r.begin !== null) {
          const end = r.last === null ? m.span : r.last
          const pad = Math.max(1000, (end - r.begin) * 0.05)
          timeline.setView({ v0: r.begin - pad, v1: end + pad })
        }
      }
    }
  }

  const panels = createPanels(m, colours, { panel: $('stack-panel'), graph: $('stack-graph'), legend: $('legend') }, actions)
  timeline = createTimeline(m, $('timeline'), {
    colours,
    onSelect: (id) => actions.select(id),
    onHover: (text) => { $('hover-info').textContent = text },
    onDraw: (view) => { if (pool) pool.draw(view) }
  })
  phase('timeline')
  pool = createPoolView(data.pool, {
    section: $('pool-section'),
    verdict: $('pool-verdict'),
    detail: $('pool-detail'),
    offDetail: $('offthread-detail'),
    offTable: $('offthread-table'),
    canvas: $('pool-chart'),
    table: $('pool-table'),
    plot: timeline.plot
  })
  pool.draw(timeline.view())
  phase('pool')

  $('zoom-in').addEventListener('click', () => timeline.zoom(0.5, 0.5))
  $('zoom-out').addEventListener('click', () => timeline.zoom(2, 0.5))
  $('pan-left').addEventListener('click', () => timeline.pan(-0.25))
  $('pan-right').addEventListener('click', () => timeline.pan(0.25))
  $('zoom-reset').addEventListener('click', () => timeline.reset())

  // The request picker: root requests by begin time.
  const reqs = requests(m)
  const select = $('request')
  select.append(el('option', { value: '' }, `all ${reqs.length} request${reqs.length === 1 ? '' : 's'}`))
  for (const r of reqs.slice(0, REQUESTS_LISTED)) {
    const dur = r.begin !== null && r.last !== null ? ` · ${ms(r.last - r.begin)} ms` : ''
    select.append(el('option', { value: String(r.index) }, `frame ${r.id} · ${r.site === null ? '(no site)' : r.site} · ${r.frames} frame${r.frames === 1 ? '' : 's'}${dur}`))
  }
  if (reqs.length > REQUESTS_LISTED) select.title = `the first ${REQUESTS_LISTED} of ${reqs.length}; select a frame and use "only this request" for the others`
  select.addEventListener('change', () => actions.pickRequest(select.value === '' ? -1 : Number(select.value)))
  $('request-clear').addEventListener('click', () => actions.pickRequest(-1))

  panels.siteTable($('site-table'))
  panels.pendingTable($('pending-groups'), $('pending-note'))

  const t = data.totals
  $('timeline-note').textContent = t.framesUntimed > 0
    ? `${t.framesUntimed} frame(s) have no timestamps and are not drawn; they are still in the stacks.`
    : m.n === 0 ? 'No frames in this trace.' : ''

  if (data.problems.length > 0) {
    $('problems-section').hidden = false
    const ul = $('problem-list')
    for (const p of data.problems) ul.append(el('li', null, p))
    if (t.problems > data.problems.length) ul.after(el('p', { class: 'note' }, `Showing ${data.problems.length} of ${t.problems}.`))
  }

  phase('panels')
  window.natReport = {
    phases,
    view: () => timeline.view(),
    frameBox: (id) => timeline.frameBox(id),
    afterDraw: () => timeline.afterDraw(),
    stats: () => timeline.stats(),
    laneLabels: () => timeline.laneLabels(),
    frames: m.n,
    readyAt: 0 // performance.now() when the page was ready
  }
  const hash = /^#frame=(\d+)$/.exec(location.hash)
  if (hash && m.frameIndex.has(Number(hash[1]))) actions.select(Number(hash[1]))
  window.natReport.readyAt = performance.now()
  document.body.setAttribute('data-ready', 'true')
}

main()
