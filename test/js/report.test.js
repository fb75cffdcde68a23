'use strict'
// renderReport without a browser: the page is self-contained, embeds the
// data, cannot be broken out of by site names or stacks, and keeps its
// frame budget without cutting any async stack short.
const test = require('node:test')
const assert = require('node:assert/strict')
const { root, loadConsumer, nativeChain } = require('./helpers')

const nat = require(root)
const { renderReport } = require(`${root}/lib/report`)
const { buildModel, stackOf } = require(`${root}/lib/report/model`)
const c = loadConsumer()

const EVIL_SITE = 'x:</script><img src=x onerror=alert(1)>'
const EVIL_STACK = 'at evil (</script><script>alert(2)</script>)\nat <!-- (file.js:1:1)'

test.afterEach(() => {
  nat.disable()
  nat.drain()
})



// The JSON blob of a rendered page.
function embedded (html) {
  const m = /<script type="application\/json" id="report-data">([\s\S]*?)<\/script>/.exec(html)
  assert.ok(m, 'the page embeds its data')
  return JSON.parse(m[1])
}

// The frame IDs a page embeds.
function framesOf (data) {
  return new Set(data.frames.id)
}

// The async stack of frame id as the page walks it.
function walkStack (data, id) {
  return stackOf(buildModel(data), id)
}

// graph.stack(id) with times made relative to the report's t0, in the
// shape walkStack gives (NaN as null, no `aborted`).
function expectedSteps (g, id, t0) {
  const rel = (v) => Number.isFinite(v) ? v - t0 : null
  return g.stack(id).map((s) => {
    const o = { ...s }
    delete o.aborted
    if ('ts' in o) o.ts = rel(o.ts)
    if (o.kind === 'frame') {
      o.begin = rel(o.begin)
      o.end = rel(o.end)
      o.duration = Number.isFinite(s.duration) ? o.end - o.begin : null
    }
    return o
  })
}

function assertStacksMatch (g, data) {
  const m = buildModel(data)
  for (const id of framesOf(data)) {
    assert.deepEqual(stackOf(m, id), expectedSteps(g, id, data.t0 === null ? 0 : data.t0), `the stack of frame ${id}`)
  }
}

test('the page needs no network: no external src/href, no imports, a CSP that forbids fetches', async () => {
  nat.enable({ stacks: true })
  nat.drain()
  await nativeChain(c, 3, 'net')
  const html = renderReport(nat.graph(nat.drain()), { title: 'net', generated: 'by the test' })
  assert.match(html, /^<!doctype html>/)
  assert.doesNotMatch(html, /\b(?:src|href|xlink:href|action|poster|srcset)\s*=\s*["']?\s*(?:[a-z][a-z0-9+.-]*:|\/\/)/i,
    'no attribute points at a URL')
  assert.doesNotMatch(html, /https?:/i, 'no http(s) URL anywhere, not even the SVG namespace')
  assert.doesNotMatch(html, /@import|url\(\s*["']?(?!#)/i, 'CSS loads nothing')
  assert.doesNotMatch(html, /<(?:link|img|iframe|object|embed|base|audio|video|source)\b/i)
  for (const m of html.matchAll(/<script\b[^>]*>/gi)) assert.doesNotMatch(m[0], /\bsrc\s*=/i, 'scripts are inline')
  assert.match(html, /<meta http-equiv="Content-Security-Policy" content="default-src 'none';/)
  assert.match(html, /<title>net<\/title>/)
  assert.match(html, /by the test/)
})

test('the page embeds frames, stacks, site totals and pending work', async () => {
  nat.enable({ stacks: true })
  nat.drain()
  const leak = nat.marks.link(nat.marks.site('leak:q'))
  const { last } = await nativeChain(c, 5, 'emb')
  const g = nat.graph(nat.drain())
  const data = embedded(renderReport(g))
  assert.equal(data.title, 'napi-async-trace report')
  assert.equal(data.totals.frames, g.frames().length)
  assert.equal(data.totals.framesOmitted, 0)
  assert.equal(data.totals.pending, g.pending().length)
  assert.equal(data.totals.lost, g.lost)
  assert.equal(data.totals.problems, g.problemCount)
  assert.equal(data.frames.id.length, g.frames().length)
  for (const k of ['site', 'lane', 'beginStep', 'duration', 'ready', 'parent']) assert.equal(data.frames[k].length, data.frames.id.length, `frames.${k} is a whole column`)
  assert.deepEqual(data.siteStats.map((s) => s.site), g.sites().map((s) => s.site))
  assert.equal(data.totals.sites, g.sites().length, 'the header counts the sites of the console\'s table')
  assert.ok(data.pendingGroups.some((p) => p.kind === 'link' && p.ids.includes(leak) && p.site === 'leak:q'))
  // The stack of every embedded frame walks exactly as graph.stack().
  assertStacksMatch(g, data)
  const steps = walkStack(data, last)
  assert.deepEqual(steps.filter((s) => s.kind === 'frame' || s.kind === 'root').map((s) => s.site ?? 'root'),
    g.stackSites(last))
  assert.ok(steps.some((s) => s.kind === 'link' && /nativeChain/.test(s.stack)), 'the JS stack of the first link is embedded')
})

test('site names and stacks cannot close the data tag or inject markup', () => {
  nat.enable()
  nat.drain()
  const evil = nat.marks.site(EVIL_SITE)
  const f = nat.marks.begin(evil, 0)
  const linkID = nat.marks.link(evil) // stays pending, with its stack
  nat.marks.end(f)
  const g = nat.graph(nat.drain(), { stacks: new Map([[linkID, EVIL_STACK]]) })
  const html = renderReport(g, { title: '</title><script>alert(3)</script>', generated: '<b>x</b>' })
  assert.equal(html.match(/<\/script/gi).length, 2, 'only the two script elements close')
  assert.equal(html.match(/<script/gi).length, 2, 'only the two script elements open')
  assert.doesNotMatch(html, /<img|<!--|<b>/i)
  assert.match(html, /<title>&lt;\/title&gt;&lt;script&gt;alert\(3\)&lt;\/script&gt;<\/title>/)
  const data = embedded(html)
  assert.ok(data.sites.includes(EVIL_SITE), 'the site name survives unchanged')
  assert.deepEqual(data.pendingGroups.filter((p) => p.site === EVIL_SITE).map((p) => p.stack), [EVIL_STACK])
  assert.deepEqual(data.siteStats.map((s) => s.site), [EVIL_SITE])
})

// A hand-made graph: `chains` chains of `depth` frames each (frame k of a
// chain links the work frame k+1 runs), one thread per chain, frame
// durations from a seeded sequence so the slowest are known.
function syntheticEvents (chains, depth) {
  const events = []
  let id = 0
  let ts = 1_000_000
  let seed = 7
  const rand = () => { seed = (seed * 1103515245 + 12345) % 2147483648; return seed / 2147483648 }
  for (let c = 0; c < chains; c++) {
    let parent = 0
    for (let d = 0; d < depth; d++) {
      const site = `syn:${d}`
      const linkID = ++id
      events.push({ event: 'link', executeID: parent, linkID, ts: ts++, site, thread: c + 1, env: 1 })
      const readyID = ++id
      events.push({ event: 'ready', executeID: 0, linkID, readyID, ts: ts += 10, site, thread: 0, env: 1 })
      const exec = ++id
      events.push({ event: 'executionBegin', executeID: exec, readyID, ts: ts += 10, site, thread: c + 1, env: 1 })
      ts += 1 + Math.floor(rand() * 100_000)
      events.push({ event: 'executionEnd', executeID: exec, ts, site, thread: c + 1, env: 1 })
      parent = exec
    }
  }
  return events
}

test('maxFrames keeps the slowest frames with their whole stacks and says how many were left out', () => {
  const g = nat.graph(syntheticEvents(40, 6)) // 240 frames
  const all = g.frames()
  assert.equal(all.length, 240)
  const full = embedded(renderReport(g))
  assert.equal(full.frames.id.length, 240)
  assert.doesNotMatch(renderReport(g), /id="frames-omitted"/)

  for (const max of [1, 6, 25, 100, 239]) {
    const html = renderReport(g, { maxFrames: max })
    const data = embedded(html)
    const shown = data.frames.id.length
    assert.ok(shown <= max, `${shown} frames embedded for maxFrames ${max}`)
    assert.ok(shown > 0)
    assert.equal(data.totals.frames, 240)
    assert.equal(data.totals.framesOmitted, 240 - shown)
    assert.match(html, new RegExp(`id="frames-omitted">${240 - shown} of 240 frames left out: this report shows ${shown}: `))
    // Site totals still count every frame.
    assert.equal(data.siteStats.reduce((n, s) => n + s.frames, 0), 240)
    // Closed under the async stack: no embedded frame's stack goes missing.
    assertStacksMatch(g, data)
    const frames = framesOf(data)
    for (const id of frames) {
      assert.ok(walkStack(data, id).every((s) => s.kind !== 'missing'), `frame ${id}'s stack is whole`)
    }
    // The slowest frame whose chain fits is in.
    const slowest = all.filter((f) => g.stack(f.id).filter((s) => s.kind === 'frame').length <= max)
      .sort((a, b) => b.duration - a.duration)[0]
    assert.ok(frames.has(slowest.id), `the slowest frame that fits (${slowest.id}) is kept for maxFrames ${max}`)
  }
})

test('input without times (the seed format) renders, stacks intact', () => {
  const g = nat.graph(syntheticEvents(2, 3).map(({ event, executeID, linkID, readyID }) => ({ event, executeID, linkID, readyID })))
  const html = renderReport(g)
  const data = embedded(html)
  assert.equal(data.t0, null)
  assert.equal(data.totals.framesUntimed, 6)
  assertStacksMatch(g, data)
})

test('renderReport checks its arguments', () => {
  const g = nat.graph([])
  const code = (fn, expected) => assert.throws(fn, (err) => err.code === expected)
  code(() => renderReport({}), 'NAT_EINVAL')
  code(() => renderReport([]), 'NAT_EINVAL')
  code(() => renderReport(g, null), 'NAT_EINVAL')
  code(() => renderReport(g, { nope: 1 }), 'NAT_EINVAL')
  code(() => renderReport(g, { title: 5 }), 'NAT_EINVAL')
  code(() => renderReport(g, { maxFrames: 0 }), 'NAT_ERANGE')
  code(() => renderReport(g, { maxFrames: 1.5 }), 'NAT_ERANGE')
  code(() => renderReport(g, { generated: {} }), 'NAT_EINVAL')
  const data = embedded(renderReport(g)) // an empty graph is a valid, empty page
  assert.equal(data.frames.id.length, 0)
  assert.equal(nat.renderReport, renderReport)
  code(() => renderReport(g, { exclude: 5 }), 'NAT_EINVAL')
  code(() => renderReport(g, { exclude: [-1] }), 'NAT_ERANGE')
  code(() => renderReport(g, { omitted: 'some' }), 'NAT_EINVAL')
  code(() => renderReport(g, { omitted: { events: -1 } }), 'NAT_ERANGE')
  code(() => renderReport(g, { omitted: { sampled: true } }), 'NAT_EINVAL')
  code(() => renderReport(g, { omitted: { reason: 1 } }), 'NAT_EINVAL')
})

test('the engine\'s tracked async work (ready on a libuv pool thread, no pool frame) is summarised per site', async () => {
  nat.enable()
  nat.drain()
  const f = nat.marks.begin(nat.marks.site('test:report-parent'), 0)
  const runs = []
  for (let i = 0; i < 8; i++) runs.push(new Promise((resolve) => c.work('test:report-work', i, 1, resolve)))
  nat.marks.end(f)
  await Promise.all(runs)
  const g = nat.graph(nat.drain())
  const data = embedded(renderReport(g))
  assert.equal(data.pool.size, 0, 'no pool frames: the engine records the ready when execute returns')
  assert.equal(data.pool.verdict.level, 'none')
  assert.match(data.pool.verdict.text, /8 items finished on other threads without a pool frame/)
  const row = data.pool.offThread.find((r) => r.site === 'test:report-work')
  assert.equal(row.items, 8)
  assert.ok(row.threads >= 1 && row.threads <= 4, `${row.threads} pool threads`)
  assert.equal(row.work.count, 8)
  assert.ok(row.work.p50 >= 1e6, 'each run slept 1 ms on the pool')
  assert.equal(row.loopWait.count, 8)
  // The pool threads that made them ready have lanes (with ready marks).
  const poolThreads = new Set(g.frames().filter((x) => x.site === 'test:report-work').map((x) => g.node(x.readyID).thread))
  for (const t of poolThreads) assert.ok(data.lanes.some((l) => l.thread === t && !l.pool), `a lane for pool thread ${t}`)
})

test('exclude leaves IDs out of pending; omitted is shown and embedded', () => {
  nat.enable()
  nat.drain()
  const site = nat.marks.site('test:excl')
  const a = nat.marks.link(site)
  const b = nat.marks.link(site)
  const g = nat.graph(nat.drain())
  assert.equal(embedded(renderReport(g)).totals.pending, 2)
  const html = renderReport(g, { exclude: [a], omitted: { events: 1200, reason: 'sampled 1 in 10 <b>' } })
  const data = embedded(html)
  assert.equal(data.totals.pending, 1)
  assert.deepEqual(data.pendingGroups.map((x) => x.ids), [[b]])
  assert.deepEqual(data.omitted, { events: 1200, frames: null, reason: 'sampled 1 in 10 <b>' })
  assert.match(html, /id="graph-omitted">This trace was reduced before the report was made \(left out: 1200 events\): sampled 1 in 10 &lt;b&gt;\./)
})
