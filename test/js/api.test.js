'use strict'
// The JS surface of the foundation: enable/disable, drain and decoding,
// stats, manual marks, the nativeApi External.
const test = require('node:test')
const assert = require('node:assert/strict')
const path = require('node:path')
const { root, runFresh, SEED_OUTPUT } = require('./helpers')

const nat = require(root)

test.afterEach(() => {
  nat.disable()
  nat.drain()
})

test('enable, disable and isEnabled', () => {
  nat.enable()
  assert.equal(nat.isEnabled(), true)
  assert.equal(nat.stats().enabled, true)
  nat.disable()
  assert.equal(nat.isEnabled(), false)
  assert.equal(nat.stats().enabled, false)
})

test('nothing is recorded while disabled', () => {
  nat.disable()
  nat.drain()
  const before = nat.stats().recorded
  const site = nat.marks.site('test:off')
  assert.equal(nat.marks.link(site), 0)
  assert.equal(nat.stats().recorded, before)
  assert.equal(nat.drain().length, 0)
})

test('a drained batch decodes every field', () => {
  nat.enable()
  const site = nat.marks.site('test:fields')
  const t0 = process.hrtime.bigint()
  const link = nat.marks.link(site)
  const t1 = process.hrtime.bigint()
  const batch = nat.drain()
  const events = [...batch].filter((e) => e.linkID === link)
  assert.equal(events.length, 1)
  const [e] = events
  assert.equal(e.event, 'link')
  assert.equal(e.site, 'test:fields')
  assert.equal(e.executeID, nat.marks.current())
  assert.equal(e.env, 1)
  assert.ok(e.thread >= 1)
  // The records use the clock of process.hrtime (libuv's uv_hrtime).
  assert.ok(BigInt(e.ts) >= t0 - 1000n && BigInt(e.ts) <= t1 + 1000n, `${t0} <= ${e.ts} <= ${t1}`)
  // Column accessors agree with the objects.
  const i = [...batch].findIndex((x) => x.linkID === link)
  assert.deepEqual(batch.get(i), e)
  assert.equal(batch.eventAt(i), 'link')
  assert.equal(batch.typeAt(i), nat.EVENT_TYPES.link)
  assert.equal(batch.siteIndexAt(i), site)
  assert.equal(batch.buffer.byteLength, batch.length * nat.constants.RECORD_SIZE)
})

test('drain takes each record once and honours max', () => {
  nat.enable()
  nat.drain()
  const site = nat.marks.site('test:max')
  const ids = []
  for (let i = 0; i < 10; i++) ids.push(nat.marks.link(site))
  const first = nat.drain({ max: 4 })
  const rest = nat.drain()
  const got = [...first, ...rest].filter((e) => e.event === 'link').map((e) => e.linkID)
  assert.equal(first.length, 4)
  assert.deepEqual(got, ids)
  assert.equal(nat.drain().length, 0)
})

test('stats counts recorded, drained and pending exactly', () => {
  nat.enable()
  nat.drain()
  const s0 = nat.stats()
  const site = nat.marks.site('test:stats')
  for (let i = 0; i < 25; i++) nat.marks.link(site)
  const s1 = nat.stats()
  assert.equal(s1.recorded - s0.recorded, 25)
  assert.equal(s1.pending, 25)
  const n = nat.drain().length
  const s2 = nat.stats()
  assert.equal(n, 25)
  assert.equal(s2.drained - s1.drained, 25)
  assert.equal(s2.pending, 0)
  assert.equal(s2.dropped, s0.dropped)
  assert.equal(s2.recordSize, 48)
  for (const key of ['capacity', 'rings', 'threads', 'threadsSeen', 'ringBytes', 'lastId', 'sites']) {
    assert.equal(typeof s2[key], 'number', key)
  }
})

test('frames nest and links carry the innermost frame', () => {
  nat.enable()
  nat.drain()
  const site = nat.marks.site('test:nest')
  const outerLink = nat.marks.link(site)
  const outerReady = nat.marks.ready(site, outerLink)
  const outer = nat.marks.begin(site, outerReady)
  assert.equal(nat.marks.current(), outer)
  const innerLink = nat.marks.link(site)
  const inner = nat.marks.begin(site, nat.marks.ready(site, innerLink))
  const deepLink = nat.marks.link(site)
  nat.marks.end(inner)
  const afterLink = nat.marks.link(site)
  nat.marks.end(outer)
  const links = new Map([...nat.drain()].filter((e) => e.event === 'link').map((e) => [e.linkID, e.executeID]))
  assert.equal(links.get(innerLink), outer)
  assert.equal(links.get(deepLink), inner)
  assert.equal(links.get(afterLink), outer)
})

test('frame end out of order throws EFRAME and keeps the stack', () => {
  nat.enable()
  const site = nat.marks.site('test:frame')
  const a = nat.marks.begin(site, 0)
  const b = nat.marks.begin(site, 0)
  assert.throws(() => nat.marks.end(a), { code: 'NAT_EFRAME' })
  assert.equal(nat.marks.current(), b)
  nat.marks.end(b)
  nat.marks.end(a)
  assert.throws(() => nat.marks.end(a), { code: 'NAT_EFRAME' })
})

test('the seed example prints exactly the sequence of DESIGN.md section 2', () => {
  // Fresh process: IDs start at 1. Manual marks stand in for a native
  // queue here (the tracked-queue suite runs the same example natively).
  const code = `
    const nat = require('napi-async-trace')
    const q = nat.marks.site('seed:queue')
    const p = nat.marks.site('seed:promise')
    nat.enable()
    const task = nat.marks.link(q)      // like setTimeout(cb)
    const then = nat.marks.link(p)      // like promise.then(cb2)
    setImmediate(() => {
      const r = nat.marks.ready(q, task)  // the loop makes the task ready
      const f = nat.marks.begin(q, r)
      const r2 = nat.marks.ready(p, then) // cb resolves the promise
      nat.marks.end(f)
      setImmediate(() => {
        const g = nat.marks.begin(p, r2)
        nat.marks.end(g)
        process.stdout.write(String(nat.drain()) + '\\n')
      })
    })
  `
  const r = runFresh(code)
  assert.equal(r.status, 0, r.stderr)
  assert.equal(r.stdout, SEED_OUTPUT)
})

test('toJSON gives the seed format and toObjects every field', () => {
  nat.enable()
  nat.drain()
  const site = nat.marks.site('test:json')
  const link = nat.marks.link(site)
  const batch = nat.drain()
  const cur = nat.marks.current()
  assert.deepEqual(JSON.parse(JSON.stringify(batch)), [{ event: 'link', executeID: cur, linkID: link }])
  const [o] = batch.toObjects()
  assert.deepEqual(Object.keys(o), ['event', 'executeID', 'linkID', 'readyID', 'ts', 'thread', 'env', 'site'])
})

test('decode reads a copied buffer back', () => {
  nat.enable()
  nat.drain()
  const site = nat.marks.site('test:decode')
  nat.marks.link(site)
  const batch = nat.drain()
  const copy = batch.buffer.slice(0)
  assert.deepEqual(nat.decode(copy).toObjects(), batch.toObjects())
})

test('nativeApi is an External, also on the global symbol', () => {
  assert.equal(typeof nat.nativeApi, 'object')
  assert.equal(Object.getPrototypeOf(nat.nativeApi), null)
  assert.equal(globalThis[Symbol.for('napi-async-trace:api')], nat.nativeApi)
  assert.equal(nat.version, require(path.join(root, 'package.json')).version)
})

test('the ESM entry exposes the same module', async () => {
  const esm = await import(path.join(root, 'lib', 'index.mjs'))
  assert.equal(esm.default, nat)
  assert.equal(esm.drain, nat.drain)
  assert.equal(esm.nativeApi, nat.nativeApi)
})

test('the include path points at the public header without loading the addon', () => {
  const r = runFresh(`
    const dir = require('napi-async-trace/include')
    const fs = require('node:fs')
    const loaded = Object.keys(require.cache).some((f) => f.endsWith('.node'))
    console.log(JSON.stringify({ ok: fs.existsSync(dir + '/napi_async_trace.h'), loaded }))
  `)
  assert.equal(r.status, 0, r.stderr)
  assert.deepEqual(JSON.parse(r.stdout), { ok: true, loaded: false })
})
