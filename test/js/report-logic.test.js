'use strict'
// The report viewer's logic as pure functions, without a browser: timeline
// rows, zoom and pan, the per-pixel merge and hit-testing (layout.js), the
// pool analysis and its sampling (pool.js), pending groups (group.js),
// parents and root requests (model.js).
const test = require('node:test')
const assert = require('node:assert/strict')
const { root } = require('./helpers')

const L = require(`${root}/lib/report/layout`)
const P = require(`${root}/lib/report/pool`)
const { groupPending } = require(`${root}/lib/report/group`)
const { buildModel, requests, stackOf, siteColours } = require(`${root}/lib/report/model`)
const { reportData } = require(`${root}/lib/report`)
const { graph } = require(`${root}/lib/graph`)
const { syntheticPoolTrace } = require('./report-synth')

// Frame columns from [lane, begin, end] triples (end null: not ended).
function cols (list) {
  return {
    lane: Int32Array.from(list, (f) => f[0]),
    begin: Float64Array.from(list, (f) => f[1]),
    end: Float64Array.from(list, (f) => f[2] === null ? NaN : f[2])
  }
}

test('rows: a frame nested in another one on its thread goes one row down; untimed frames are left out', () => {
  const fr = cols([[0, 0, 100], [0, 10, 20], [0, 12, 15], [0, 30, 40], [1, 5, 6], [0, 200, null], [0, NaN, NaN]])
  const rows = L.buildRows(fr, 2, 1000)
  assert.deepEqual(rows.map((lane) => lane.map((r) => [...r.idx])), [[[0, 5], [1, 3], [2]], [[4]]])
  // maxEnd is the running maximum of ends; an unended frame runs to the span.
  assert.deepEqual([...rows[0][0].maxEnd], [100, 1000])
  assert.deepEqual([...rows[0][1].maxEnd], [20, 40])
  // Deep nesting shares the last row.
  const deep = cols(Array.from({ length: L.MAX_ROWS + 3 }, (_, k) => [0, k, 100 - k]))
  assert.equal(L.buildRows(deep, 1, 100)[0].length, L.MAX_ROWS)
})

test('zoom keeps the point under the pointer; pan and zoom stay inside the trace; ticks are round', () => {
  const span = 1e9
  const v = { v0: 0, v1: span }
  const z = L.zoomView(v, 0.5, 0.25, span)
  assert.equal(z.v1 - z.v0, span / 2)
  assert.equal(z.v0 + 0.25 * (z.v1 - z.v0), 0.25 * span, 'the point a quarter across stays a quarter across')
  assert.deepEqual(L.zoomView(v, 4, 0.5, span), v, 'zooming out stops at the whole trace')
  let tiny = v
  for (let i = 0; i < 60; i++) tiny = L.zoomView(tiny, 0.5, 0.5, span)
  assert.equal(tiny.v1 - tiny.v0, L.MIN_RANGE, 'zooming in stops at a microsecond')
  const p = L.panView({ v0: 100, v1: 200 }, -1000, span)
  assert.deepEqual(p, { v0: 0, v1: L.MIN_RANGE }, 'a pan past the start stops at it (the range clamped to the minimum)')
  assert.deepEqual(L.panView({ v0: 1e8, v1: 2e8 }, 1e10, span), { v0: 9e8, v1: 1e9 })
  const t = L.ticks(0, 1e9, 8)
  assert.equal(t.step, 2e8, 'five ticks rather than ten for about eight')
  assert.deepEqual(t.ticks, [0, 2e8, 4e8, 6e8, 8e8, 1e9])
  assert.ok(t.ticks.every((x) => x % t.step === 0))
})

test('rowMarks: frames in the view, clipped, merged to one mark per pixel; the filter keeps one subtree', () => {
  // 10000 frames of 10 ns each, 100 ns apart, over 1 ms.
  const n = 10000
  const fr = cols(Array.from({ length: n }, (_, k) => [0, k * 100, k * 100 + 10]))
  const [[row]] = L.buildRows(fr, 1, n * 100)
  const all = L.rowMarks(row, fr, { v0: 0, v1: n * 100 }, 0, 500, n * 100, 1, null)
  assert.ok(all.idx.length <= 501, `${all.idx.length} marks for 500 pixels`)
  assert.ok(all.idx.length >= 450, 'every pixel column that has a frame gets a mark')
  // Zoomed on frames 100..109: each is 10 ns of a 1000 ns view: 5 px of 500.
  const z = L.rowMarks(row, fr, { v0: 10000, v1: 11000 }, 0, 500, n * 100, 1, null)
  assert.deepEqual(z.idx, [100, 101, 102, 103, 104, 105, 106, 107, 108, 109])
  assert.deepEqual(z.x.map(Math.round), [0, 50, 100, 150, 200, 250, 300, 350, 400, 450])
  assert.deepEqual(z.w.map(Math.round), Array(10).fill(5))
  assert.ok(z.visited <= 12, 'a binary search finds the first frame: no walk from the start')
  // A long frame starting before the view is clipped to its left edge.
  const long = cols([[0, 0, 1000], [0, 2000, 3000]])
  const [[lr]] = L.buildRows(long, 1, 3000)
  const c = L.rowMarks(lr, long, { v0: 500, v1: 1500 }, 40, 100, 3000, 1, null)
  assert.deepEqual(c.idx, [0])
  assert.deepEqual([c.x[0], c.w[0]], [40, 50])
  const even = L.rowMarks(row, fr, { v0: 10000, v1: 11000 }, 0, 500, n * 100, 1, (i) => i % 2 === 0)
  assert.deepEqual(even.idx, [100, 102, 104, 106, 108])
})

test('hit-testing finds the innermost frame under the pointer, with slack for thin frames', () => {
  const fr = cols([[0, 0, 100], [0, 10, 20], [0, 50, 51]])
  const rows = L.buildRows(fr, 1, 100)
  assert.equal(L.hitRow(rows[0][0], fr, 60, 0, 100), 0)
  assert.equal(L.hitRow(rows[0][1], fr, 15, 0, 100), 1)
  assert.equal(L.hitRow(rows[0][1], fr, 30, 0, 100), -1)
  assert.equal(L.hitRow(rows[0][1], fr, 52, 0, 100), -1)
  assert.equal(L.hitRow(rows[0][1], fr, 52, 2, 100), 2, 'a 1 ns frame is hit within the slack')
  const geo = L.laneGeometry([2, 1], { row: 10, pad: 2, axis: 20 }, [0, 5])
  assert.deepEqual(geo, { top: [20, 44], height: [24, 19], total: 63 })
  assert.deepEqual(L.laneAt(geo, [2, 1], 33, { row: 10, pad: 2 }), { lane: 0, row: 1 })
  assert.deepEqual(L.laneAt(geo, [2, 1], 47, { row: 10, pad: 2 }), { lane: 1, row: 0 })
  assert.deepEqual(L.laneAt(geo, [2, 1], 58, { row: 10, pad: 2 }), { lane: 1, row: -1 }, 'the ready-mark strip is no row')
  assert.equal(L.laneAt(geo, [2, 1], 10, { row: 10, pad: 2 }), null)
  assert.equal(L.fitLabel('mydb:query', 100, 6), 'mydb:query')
  assert.equal(L.fitLabel('mydb:query', 42, 6), 'mydb:q…')
  assert.equal(L.fitLabel('mydb:query', 12, 6), '')
})

test('pool analysis: queue depth, busy threads, the three waits per site and the verdict', () => {
  // Two pool threads; four items linked at 0; each runs 10; completions
  // wait 1 for the loop. Items 3 and 4 wait 10 in the queue.
  const item = (thread, link, begin, end) => ({ site: 'db:q', env: 0, thread, link, begin, end, loopReady: end, loopBegin: end + 1 })
  const a = P.poolAnalysis([item(2, 0, 0, 10), item(3, 0, 0, 10), item(2, 0, 10, 20), item(3, 0, 10, 20)], [{ site: 'db:q', link: 5 }], 0, 20)
  assert.equal(a.size, 2)
  assert.deepEqual(a.busy, { t: [0, 20], v: [2, 0] })
  assert.deepEqual(a.queue, { t: [0, 5, 10], v: [2, 3, 1] }, 'the never-ready link stays queued')
  assert.equal(a.peakQueue, 3)
  assert.equal(a.stuck, 1)
  assert.equal(a.saturated, 1, 'both threads busy with work queued the whole time')
  const s = a.sites[0]
  assert.deepEqual([s.items, s.stuck, s.queueWait.p50, s.queueWait.max, s.run.p50, s.loopWait.p50], [4, 1, 0, 10, 10, 1])
  assert.equal(a.verdict.level, 'small')
  // Two threads seen: the pool has at least libuv's default of 4, so the
  // suggestion is above 4 (it said 4, the default, before).
  assert.match(a.verdict.text, /all 2 pool threads that ran traced work were busy .* 100% of the trace.*at least 4 threads.*UV_THREADPOOL_SIZE=8/)
  // A pool that never fills.
  const b = P.poolAnalysis([item(2, 0, 0, 10), item(2, 20, 20, 30)], [], 0, 30)
  assert.equal(b.verdict.level, 'ok')
  assert.equal(b.saturated, 0)
  assert.equal(P.poolAnalysis([], [], 0, 1).verdict.level, 'none')
  assert.equal(P.valueAt(a.queue, -1), 0)
  assert.equal(P.valueAt(a.queue, 7), 3)
})

test('pool frames: made ready and run on a thread other than the requester\'s', () => {
  const t = (thread) => ({ thread, env: 0 })
  assert.equal(P.isPoolFrame(t(2), t(2), t(1)), true, 'async work execute on a pool thread')
  assert.equal(P.isPoolFrame(t(1), t(2), t(1)), false, 'a threadsafe-function callback (ready on a native thread)')
  assert.equal(P.isPoolFrame(t(1), t(1), t(1)), false, 'a JS continuation')
  assert.equal(P.isPoolFrame(t(2), null, null), false)
})

test('work finished off the JS thread without a pool frame: link to ready and ready to callback per site', () => {
  const rows = P.offThreadAnalysis([
    { site: 'hash', env: 0, thread: 2, link: 0, ready: 10, begin: 12 },
    { site: 'hash', env: 0, thread: 3, link: 5, ready: 25, begin: 26 },
    { site: 'x', env: 0, thread: 2, link: null, ready: 3, begin: null }
  ])
  assert.deepEqual(rows.map((r) => [r.site, r.items, r.threads, r.work.count, r.work.max, r.loopWait.p50, r.loopWait.max]),
    [['hash', 2, 2, 2, 20, 1, 2], ['x', 1, 1, 0, null, null, null]])
})

test('times travel as steps and come back exact, unknown ones as NaN', () => {
  const { toSteps, fromSteps } = require(`${root}/lib/report/codec`)
  const t = [5, 17, null, 16, 1e10 + 3, null]
  assert.deepEqual(toSteps(t), [5, 12, null, -1, 1e10 + 3 - 16, null])
  assert.deepEqual([...fromSteps(toSteps(t))], [5, 17, NaN, 16, 1e10 + 3, NaN])
  assert.deepEqual([...fromSteps([])], [])
})

test('sampleSeries: the maximum and the time-weighted mean per pixel column', () => {
  const s = { t: [10, 20, 25, 40], v: [2, 5, 1, 0] }
  const r = P.sampleSeries(s, 0, 40, 4)
  assert.deepEqual([...r.max], [0, 2, 5, 1])
  assert.deepEqual([...r.mean], [0, 2, (5 * 5 + 5 * 1) / 10, 1])
})

test('pending groups: by kind, site and link stack, with counts, the oldest age and the chain frame', () => {
  const pending = [
    { kind: 'link', id: 10, site: 'db:q', frame: 3, stack: 'at a', ts: 1, age: 90 },
    { kind: 'link', id: 11, site: 'db:q', frame: 4, stack: 'at a', ts: 2, age: 80 },
    { kind: 'link', id: 12, site: 'db:q', frame: 4, stack: 'at b', ts: 3, age: 70 },
    { kind: 'ready', id: 13, site: 'db:q', linkID: 9, linkFrame: 5, ts: 4, age: 60 },
    { kind: 'frame', id: 14, site: null, ts: 5, age: 50 },
    { kind: 'link', id: 15, site: 'db:q', frame: 3, stack: 'at a', ts: 6, age: 40 }
  ]
  const g = groupPending(pending)
  assert.deepEqual(g.map((x) => [x.kind, x.site, x.stack, x.count]), [
    ['link', 'db:q', 'at a', 3], ['link', 'db:q', 'at b', 1], ['ready', 'db:q', null, 1], ['frame', null, null, 1]])
  assert.deepEqual(g[0].ids, [10, 11, 15])
  assert.equal(g[0].oldestAge, 90)
  assert.equal(g[0].frame, 3, 'the oldest item\'s linking frame')
  assert.deepEqual(g[0].frames, [3, 4])
  assert.equal(g[2].frame, 5, 'a pending ready: the frame that linked its link')
  assert.equal(g[3].frame, 14, 'a pending frame: itself')
  assert.deepEqual(groupPending([]), [])
})

test('model: parents, root requests and the stack walk over a synthetic pool trace', () => {
  const { events } = syntheticPoolTrace({ requests: 20, perRequest: 2, leaks: 5 })
  const g = graph(events)
  const data = reportData(g, { title: 't', generated: '', maxFrames: 1e6 })
  const m = buildModel(data)
  assert.equal(m.n, g.frames().length)
  // Every frame's root is the http:request frame that started its chain.
  const reqs = requests(m)
  assert.equal(reqs.length, 20)
  assert.ok(reqs.every((r) => r.site === 'http:request' && r.frames === 1 + 2 * 2))
  assert.deepEqual(reqs.map((r) => r.id).sort((a, b) => a - b), g.roots)
  for (let i = 0; i < m.n; i++) {
    const id = m.frame.id[i]
    const steps = stackOf(m, id)
    const top = steps.filter((s) => s.kind === 'frame').pop()
    assert.equal(top.id, m.frame.id[m.root[i]], `frame ${id}'s root`)
    assert.deepEqual(steps.map((s) => s.kind), g.stack(id).map((s) => s.kind))
    const p = g.parent(id)
    assert.equal(m.parent[i] < 0 ? 0 : m.frame.id[m.parent[i]], p)
  }
  // The pool: four threads; the view's figures cover every pool frame.
  assert.equal(data.pool.size, 4)
  assert.equal(data.pool.sites.reduce((n, s) => n + s.items, 0), 40)
  assert.deepEqual(data.lanes.filter((l) => l.pool).map((l) => l.thread), [2, 3, 4, 5])
  assert.equal(data.pendingGroups.length, 1)
  assert.equal(data.pendingGroups[0].count, 4)
  // Colours: the palette by frame count, distinct.
  const c = siteColours(m, ['#a', '#b', '#c', '#d', '#e'])
  assert.equal(new Set(c.map((x) => x.fill)).size, m.sites.length)
})
