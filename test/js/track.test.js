'use strict'
// track() and assertNoPending(): what a test leaves behind.
const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { spawnSync } = require('node:child_process')
const { root, loadConsumer, consumerPath, sleep } = require('./helpers')

const nat = require(root)
const c = loadConsumer()

test.afterEach(() => {
  nat.disable()
  nat.drain()
})

test('track() returns the result and nothing pending when all work completes', async () => {
  let ran = 0
  const q = c.createQueue('track:clean', () => { ran++ }, { poolThreads: 1 })
  const r = await nat.track(async () => {
    for (let i = 0; i < 10; i++) c.submit(q, i, 0)
    while (ran < 10) await sleep(1)
    return 'value'
  })
  c.release(q)
  assert.equal(r.result, 'value')
  assert.deepEqual(r.pending, [])
  assert.equal(r.graph.sites().find((s) => s.site === 'track:clean').frames, 10)
  assert.equal(nat.isEnabled(), false, 'track switched recording off again')
})

test('track() lists the tasks a function leaves dangling, with their linking stacks', async () => {
  const q = c.createQueue('track:leak', () => {}, { poolThreads: 0 })
  let tasks
  function requestTwice () { return [c.link(q), c.link(q)] }
  const r = await nat.track(() => { tasks = requestTwice() }, { stacks: true })
  const ids = tasks.map((t) => c.taskIds(t).linkID)
  assert.equal(r.result, undefined)
  assert.deepEqual(r.pending.map((p) => [p.kind, p.id, p.site]), ids.map((id) => ['link', id, 'track:leak']))
  for (const p of r.pending) assert.match(p.stack, /^at requestTwice \(.*track\.test\.js/)
  assert.match(nat.formatPending(r.pending), /track:leak: link \d+ linked, never made ready/)
  for (const t of tasks) c.cancel(t)
  c.abort(q)
})

test('track() sees a ready never run, and work after an await', async () => {
  const q = c.createQueue('track:ready', () => {}, { poolThreads: 0 })
  let task
  const r = await nat.track(async () => {
    await sleep(1)
    task = c.link(q)
    assert.equal(c.readyHere(task, 1), 0) // queued; track checks before it runs
  })
  assert.deepEqual(r.pending.map((p) => p.kind), ['ready'])
  assert.equal(r.pending[0].site, 'track:ready')
  c.release(q)
})

test('track() rejects with the function\'s own error and cleans up', async () => {
  await assert.rejects(nat.track(() => { throw new Error('inner') }), /inner/)
  await assert.rejects(nat.track(async () => { throw new RangeError('later') }), RangeError)
  assert.equal(nat.isEnabled(), false)
  assert.throws(() => nat.track(42), { code: 'NAT_EINVAL' })
  assert.throws(() => nat.track(() => {}, { bogus: 1 }), { code: 'NAT_EINVAL' })
  assert.equal(nat.isEnabled(), false)
})

test('track() with the bridge reports a timer left armed', async () => {
  let timer
  function armForLater () { timer = setTimeout(() => {}, 60_000) }
  const r = await nat.track(armForLater, { js: true, stacks: true })
  clearTimeout(timer)
  const t = r.pending.filter((p) => p.site === 'js:Timeout')
  assert.equal(t.length, 1)
  assert.match(t[0].stack, /armForLater/)
})

test('assertNoPending(t) fails a test that leaves native tasks dangling, naming site and stack', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nat-track-'))
  const file = path.join(dir, 'leaky.test.js')
  fs.writeFileSync(file, `
    const test = require('node:test')
    const nat = require(${JSON.stringify(root)})
    const c = require(${JSON.stringify(consumerPath)})
    const q = c.createQueue('leaky:query', () => {}, { poolThreads: 1 })
    test('leaves a task behind', (t) => {
      nat.assertNoPending(t, { stacks: true })
      function startQuery () { return c.link(q) }
      startQuery()
    })
    test('cleans up after itself', async (t) => {
      nat.assertNoPending(t)
      let done = false
      const q2 = c.createQueue('tidy:query', () => { done = true }, { poolThreads: 1 })
      c.submit(q2, 1, 0)
      while (!done) await new Promise((r) => setTimeout(r, 1))
      c.release(q2)
    })
    test.after(() => c.abort(q))
  `)
  const env = { ...process.env }
  delete env.NODE_TEST_CONTEXT // a run of its own, not a child of this one
  const r = spawnSync(process.execPath, ['--test', '--test-reporter=tap', file], { encoding: 'utf8', env })
  fs.rmSync(dir, { recursive: true })
  assert.match(r.stdout, /not ok 1 - leaves a task behind/)
  assert.match(r.stdout, /left 1 async task\(s\) pending/)
  assert.match(r.stdout, /leaky:query: link \d+ linked, never made ready/)
  assert.match(r.stdout, /at startQuery \(/)
  assert.match(r.stdout, /ok 2 - cleans up after itself/)
  assert.doesNotMatch(r.stdout, /not ok 2/)
  assert.match(r.stdout, /# pass 1\n# fail 1/)
})

test('overlapping track() calls: each sees its own work finish; the last one switches recording off', async () => {
  const site = nat.marks.site('track:overlap')
  const job = (ms) => async () => {
    const l = nat.marks.link(site)
    await sleep(ms)
    const r = nat.marks.ready(site, l)
    nat.marks.end(nat.marks.begin(site, r))
  }
  const [a, b] = await Promise.all([nat.track(job(5)), nat.track(job(40))])
  // Each watches its env's whole time window: the short one sees the long
  // one's link still open when it ends; the long one sees everything end.
  assert.deepEqual(a.pending.map((p) => p.kind), ['link'])
  assert.deepEqual(b.pending, [], 'the longer one still recorded after the shorter one ended')
  assert.equal(nat.isEnabled(), false)
})

test('assertNoPending(t, { js: true }) passes a test whose promises all settled', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nat-track-'))
  const file = path.join(dir, 'clean.test.js')
  fs.writeFileSync(file, `
    const test = require('node:test')
    const nat = require(${JSON.stringify(root)})
    test('async and awaited', async (t) => {
      nat.assertNoPending(t, { js: true })
      for (let i = 0; i < 10; i++) await new Promise((resolve) => setTimeout(resolve, 1))
    })
    test('sync', (t) => { nat.assertNoPending(t, { js: true }) })
  `)
  const env = { ...process.env }
  delete env.NODE_TEST_CONTEXT
  const r = spawnSync(process.execPath, ['--test', '--test-reporter=tap', file], { encoding: 'utf8', env })
  fs.rmSync(dir, { recursive: true })
  assert.match(r.stdout, /# pass 2\n# fail 0/, r.stdout)
})
