'use strict'
// Several consumers (issue 15, issue 12 item 10): drain(), each track(),
// recorders and consumers in Workers each see every event; each is bounded
// and says what it lost; nothing taken from the engine goes uncounted.
const test = require('node:test')
const assert = require('node:assert/strict')
const { Worker } = require('node:worker_threads')
const { root } = require('./helpers')

const nat = require(root)
const site = nat.marks.site('test:consumers')

test.afterEach(() => {
  nat.disable()
  nat.drain()
})

function links (batch) {
  const ids = []
  for (const e of batch) if (e.event === 'link' && e.site === 'test:consumers') ids.push(e.linkID)
  return ids
}

test('a track() that never settles keeps at most its limit, and drain() still gets everything', async () => {
  nat.enable()
  nat.drain()
  // Before consumers, this tracker's collector was fed by every later
  // drain() forever (451 MB after 3M tasks; past 16.7M IDs drain() threw an
  // uncoded RangeError after taking records from the rings).
  const never = nat.track(() => new Promise(() => {}), { limit: 1000 })
  assert.ok(never instanceof Promise)
  const made = []
  for (let round = 0; round < 5; round++) {
    for (let i = 0; i < 1000; i++) made.push(nat.marks.link(site))
    // The program drains as it goes: each drain hands on every link.
    const got = links(nat.drain())
    assert.deepEqual(got, made.slice(round * 1000, (round + 1) * 1000))
  }
  const tracker = nat.stats().consumers.find((c) => c.name === 'track')
  assert.ok(tracker, 'the tracker is listed among the consumers')
  assert.equal(tracker.queued, 1000, 'it keeps no more than its limit')
  assert.ok(tracker.lost >= 4000, `and counts what it could not keep (${tracker.lost})`)
  assert.equal(tracker.delivered, 0)
})

test('two consumers and drain() each see every event', () => {
  nat.enable()
  nat.drain()
  const a = nat.consumer({ name: 'a' })
  const b = nat.consumer({ name: 'b' })
  const made = []
  for (let i = 0; i < 100; i++) made.push(nat.marks.link(site))
  // Whoever drains first takes nothing from the others.
  assert.deepEqual(links(a.drain()), made)
  assert.deepEqual(links(nat.drain()), made)
  for (let i = 0; i < 10; i++) made.push(nat.marks.link(site))
  assert.deepEqual(links(b.drain()), made)
  assert.deepEqual(links(a.drain()), made.slice(100))
  assert.equal(a.stats().lost, 0)
  a.close()
  b.close()
  assert.equal(a.stats().open, false)
  assert.ok(!nat.stats().consumers.some((c) => c.name === 'a' || c.name === 'b'), 'closed consumers leave the list')
  assert.throws(() => a.drain(), { code: 'NAT_ECLOSING' })
})

test('a consumer past its limit reports one lost event with the exact count', () => {
  nat.enable()
  nat.drain()
  const small = nat.consumer({ name: 'small', limit: 64 })
  const made = []
  for (let i = 0; i < 200; i++) made.push(nat.marks.link(site))
  const batch = small.drain()
  const got = links(batch)
  assert.deepEqual(got, made.slice(0, 64), 'it keeps the oldest records')
  const lost = [...batch].filter((e) => e.event === 'lost')
  assert.equal(lost.length, 1)
  assert.equal(lost[0].consumer, true)
  const s = small.stats()
  assert.equal(lost[0].count, 200 - 64, 'the marker counts exactly what did not fit')
  assert.equal(batch.consumerLost, s.lost)
  assert.equal(s.delivered, 64)
  assert.equal(batch.length, 64 + 1, 'what it kept and the marker')
  // The marker is reported once.
  assert.equal(small.drain().consumerLost, 0)
  // The program's drain() has a limit of its own and lost nothing.
  assert.deepEqual(links(nat.drain()), made)
  small.close()
})

test('records taken from the engine but not used are counted (countLost)', () => {
  nat.enable()
  const c = nat.consumer({ name: 'failing' })
  const before = c.stats()
  nat.marks.link(site)
  const batch = c.drain()
  assert.ok(batch.length >= 1)
  c.countLost(batch.length)
  assert.equal(c.stats().lost, before.lost + batch.length)
  assert.equal(c.stats().delivered, before.delivered, 'what it could not use is not counted as delivered')
  c.close()
})

test('a consumer in the main thread sees what a Worker drained itself', async () => {
  nat.enable()
  const mine = nat.consumer({ name: 'main' })
  const code = `
    const { workerData, parentPort } = require('node:worker_threads')
    const nat = require(workerData.root)
    nat.enable()
    const site = nat.marks.site('test:consumers')
    const ids = []
    for (let i = 0; i < 50; i++) ids.push(nat.marks.link(site))
    const got = [...nat.drain()].filter((e) => e.event === 'link' && e.site === 'test:consumers').length
    parentPort.postMessage({ ids, got })
  `
  const w = new Worker(code, { eval: true, workerData: { root } })
  const { ids, got } = await new Promise((resolve, reject) => {
    w.once('message', resolve)
    w.once('error', reject)
  })
  await new Promise((resolve) => w.once('exit', resolve))
  assert.equal(got, 50, 'the Worker drained its own links')
  assert.deepEqual(links(mine.drain()), ids, 'and the main thread still got them')
  assert.ok(!nat.stats().consumers.some((c) => c.name === 'drain' && c.env !== nat.stats().consumers.find((x) => x.name === 'main').env),
    "the Worker's consumer went away with it")
  mine.close()
})

test('a consumer nobody refers to any more is freed by GC', async () => {
  const v8 = require('node:v8')
  const vm = require('node:vm')
  v8.setFlagsFromString('--expose-gc')
  const gc = vm.runInNewContext('gc')
  ;(() => { nat.consumer({ name: 'forgotten' }) })()
  assert.ok(nat.stats().consumers.some((c) => c.name === 'forgotten'))
  for (let i = 0; i < 10 && nat.stats().consumers.some((c) => c.name === 'forgotten'); i++) {
    gc()
    await new Promise((resolve) => setImmediate(resolve))
  }
  assert.ok(!nat.stats().consumers.some((c) => c.name === 'forgotten'))
})

test('consumer options are checked', () => {
  assert.throws(() => nat.consumer({ limit: 0 }), { code: 'NAT_ERANGE' })
  assert.throws(() => nat.consumer({ name: 5 }), { code: 'NAT_EINVAL' })
  assert.throws(() => nat.consumer(null), { code: 'NAT_EINVAL' })
  assert.throws(() => nat.enable({ limit: -1 }), { code: 'NAT_ERANGE' })
  assert.throws(() => nat.enable({ drain: 1 }), { code: 'NAT_EINVAL' })
})

test("track() takes nothing from the program's drain()", async () => {
  nat.enable()
  nat.drain()
  let inside
  const r = await nat.track(() => { inside = nat.marks.link(site) })
  assert.ok(r.graph.events > 0)
  assert.equal(r.lost, 0)
  assert.ok(links(nat.drain()).includes(inside), "the link made inside track() is in drain() too")
})
