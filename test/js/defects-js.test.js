'use strict'
// Regression tests for the JS-layer defects an independent test found
// (issue 12, items 11 to 18). Each failed before its fix.
const test = require('node:test')
const assert = require('node:assert/strict')
const { spawnSync } = require('node:child_process')
const path = require('node:path')
const nat = require('../..')
const { runFresh } = require('./helpers')

// A coded error of the given class: what every bad input must give.
function coded (Ctor) {
  return (err) => {
    assert.ok(err instanceof Ctor, `expected a ${Ctor.name}, got ${err && err.constructor && err.constructor.name}: ${err && err.message}`)
    assert.equal(typeof err.code, 'string', `no code on: ${err.message}`)
    assert.ok(err.code.length > 0)
    return true
  }
}

// 12.11: a frame fn leaves open no longer makes track() reject or leave
// both frames open; later top-level links belong to the root again.
test('track(fn) where fn leaves a frame open: result kept, frames closed, reported', async () => {
  const site = nat.marks.site('defects:leaky-frame')
  const { result, pending } = await nat.track(() => {
    nat.marks.begin(site, 0) // never ended by fn
    return 42
  })
  assert.equal(result, 42)
  const left = pending.filter((p) => p.kind === 'frame' && p.leftOpen)
  assert.equal(left.length, 1, JSON.stringify(pending))
  assert.equal(left[0].site, 'defects:leaky-frame')
  assert.equal(nat.marks.current(), 0, 'no frame stays open after track()')
  nat.enable()
  const link = nat.marks.link(site)
  const events = [...nat.drain()]
  nat.disable()
  const ev = events.find((e) => e.event === 'link' && e.linkID === link)
  assert.ok(ev)
  assert.equal(ev.executeID, 0, 'a later top-level link belongs to the root')
})

// 12.12: the graph fails up front, all or nothing, with a coded error
// naming its limit; roots work with many roots.
test('graph: over maxItems fails up front with a coded RangeError and adds nothing', () => {
  const g = nat.graph(undefined, { maxItems: 10 })
  const ev = []
  for (let i = 1; i <= 6; i++) ev.push({ event: 'link', executeID: 0, linkID: i })
  g.add(ev)
  const more = []
  for (let i = 7; i <= 12; i++) more.push({ event: 'link', executeID: 0, linkID: i })
  assert.throws(() => g.add(more), (err) => coded(RangeError)(err) && /10/.test(err.message))
  assert.equal(g.node(7), null, 'nothing of the failed add is in the graph')
  assert.ok(g.node(6))
  assert.throws(() => nat.graph(undefined, { maxItems: 0 }), coded(RangeError))
})

test('graph: roots of 200,000 root frames do not overflow the stack', () => {
  const ev = []
  let id = 1
  for (let i = 0; i < 200000; i++) {
    const l = id++; const r = id++; const f = id++
    ev.push({ event: 'link', executeID: 0, linkID: l },
      { event: 'ready', executeID: 0, linkID: l, readyID: r },
      { event: 'executionBegin', executeID: f, readyID: r },
      { event: 'executionEnd', executeID: f })
  }
  const g = nat.graph(ev)
  assert.equal(g.roots.length, 200000)
})

// 12.13: a trace file's own stacks, not this process's.
test('graph(trace file object) uses the file\'s stacks', () => {
  const trace = {
    format: 'napi-async-trace',
    formatVersion: 1,
    events: [{ event: 'link', executeID: 0, linkID: 1 }],
    stacks: { 1: 'at fromTheFile (file.js:1:1)' }
  }
  const g = nat.graph(trace)
  const p = g.pending().find((x) => x.id === 1)
  assert.equal(p.stack, 'at fromTheFile (file.js:1:1)')
})

// 12.14: a clean test with a later t.after() passes.
test('assertNoPending(t, { js: true }) then t.after(): a clean test passes', () => {
  const file = path.join(__dirname, '..', 'fixtures', 'cli', 'after-hook.js')
  const env = { ...process.env }
  delete env.NODE_TEST_CONTEXT // a test run of its own, not a subtest of ours
  const r = spawnSync(process.execPath, ['--test', '--test-reporter=tap', file], { encoding: 'utf8', env })
  assert.equal(r.status, 0, r.stdout + r.stderr)
  assert.match(r.stdout, /# pass 2/)
})

// 12.15: evictions are said, the limit is bounded by memory.
test('stackLimit is bounded and evicted link stacks are counted and warned about', () => {
  assert.throws(() => nat.enable({ stackLimit: 1e7 }), coded(RangeError))
  const r = runFresh(`
    const nat = require('napi-async-trace')
    const warnings = []
    process.on('warning', (w) => warnings.push(w.code))
    nat.enable({ stacks: true, stackLimit: 5 })
    const s = nat.marks.site('defects:stack')
    for (let i = 0; i < 8; i++) nat.marks.link(s)
    setImmediate(() => console.log(JSON.stringify({ evicted: nat.stats().stacksEvicted, warnings })))
  `)
  assert.equal(r.status, 0, r.stderr)
  const out = JSON.parse(r.stdout)
  assert.equal(out.evicted, 3)
  assert.equal(out.warnings.filter((c) => c === 'NAT_STACKS_EVICTED').length, 1)
})

// 12.16: coded errors; own properties only.
test('formatPending/formatStack reject bad input with coded TypeErrors', () => {
  assert.throws(() => nat.formatPending(null), coded(TypeError))
  assert.throws(() => nat.formatPending([null]), coded(TypeError))
  assert.throws(() => nat.formatStack(null), coded(TypeError))
  assert.throws(() => nat.formatStack([{ kind: 'link', stack: 5 }]), coded(TypeError))
  assert.throws(() => nat.formatStack([null]), coded(TypeError))
})

test('options and events are read from own properties only', () => {
  Object.prototype.js = true // eslint-disable-line no-extend-native
  Object.prototype.event = 'link' // eslint-disable-line no-extend-native
  Object.prototype.linkID = 5 // eslint-disable-line no-extend-native
  try {
    nat.enable({})
    assert.equal(nat.stats().bridge, false, 'an inherited js: true does not turn the bridge on')
    nat.disable()
    assert.throws(() => nat.graph([{}]), coded(TypeError))
  } finally {
    delete Object.prototype.js
    delete Object.prototype.event
    delete Object.prototype.linkID
  }
  nat.drain()
})

// 12.17: ts beyond what a Number holds exactly is refused.
test('graph: a BigInt ts beyond Number range is rejected with a coded RangeError', () => {
  assert.throws(() => nat.graph([{ event: 'link', executeID: 0, linkID: 1, ts: 10n ** 400n }]), coded(RangeError))
  assert.throws(() => nat.graph([{ event: 'link', executeID: 0, linkID: 1, ts: 2n ** 64n }]), coded(RangeError))
  const g = nat.graph([{ event: 'link', executeID: 0, linkID: 1, ts: 123n }])
  assert.equal(g.firstTs, 123)
})

// 12.18: an over-long name ending in a multi-byte character.
test('raw binding site(): 257 bytes ending in a multi-byte character is ENAMETOOLONG', () => {
  const binding = require('../../lib/binding')
  const name = 'a'.repeat(254) + 'é' // 254 + 2 = 256 bytes
  assert.throws(() => binding.site(name), (err) => /NAMETOOLONG/.test(err.code))
  const name2 = 'a'.repeat(255) + 'é' // 257 bytes
  assert.throws(() => binding.site(name2), (err) => /NAMETOOLONG/.test(err.code))
  assert.ok(binding.site('a'.repeat(253) + 'é') > 0) // 255 bytes
})
