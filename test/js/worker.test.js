'use strict'
// Worker threads: each env loads the addon with its own state and root;
// IDs stay unique process-wide; events carry their env.
const test = require('node:test')
const assert = require('node:assert/strict')
const { Worker } = require('node:worker_threads')
const { root } = require('./helpers')

const nat = require(root)

const workerCode = `
  const { parentPort, workerData } = require('node:worker_threads')
  const nat = require(workerData.root)
  const site = nat.marks.site('test:worker')
  const links = []
  for (let i = 0; i < workerData.n; i++) links.push(nat.marks.link(site))
  const f = nat.marks.begin(site, nat.marks.ready(site, links[0]))
  const inner = nat.marks.link(site)
  nat.marks.end(f)
  parentPort.postMessage({ links, frame: f, inner })
`

function runWorker (n) {
  return new Promise((resolve, reject) => {
    const w = new Worker(workerCode, { eval: true, workerData: { root, n } })
    let msg
    w.on('message', (m) => { msg = m })
    w.on('error', reject)
    w.on('exit', (code) => (code === 0 ? resolve(msg) : reject(new Error(`worker exit ${code}`))))
  })
}

test('workers record in their own env with unique IDs', async () => {
  nat.enable()
  nat.drain()
  const results = await Promise.all([runWorker(100), runWorker(100), runWorker(100)])
  const events = [...nat.drain()]
  const links = events.filter((e) => e.event === 'link' && e.site === 'test:worker')
  assert.equal(links.length, 3 * 101)
  const ids = new Set(links.map((e) => e.linkID))
  assert.equal(ids.size, links.length, 'link IDs are unique across workers')
  const envs = new Set(links.map((e) => e.env))
  assert.equal(envs.size, 3, 'each worker has its own env serial')
  assert.ok(!envs.has(1), 'workers are not env 1 (the main thread)')
  for (const r of results) {
    const inner = links.find((e) => e.linkID === r.inner)
    assert.equal(inner.executeID, r.frame, 'a link inside a worker frame carries that frame')
    assert.ok(r.links.every((id) => links.find((e) => e.linkID === id).executeID === 0))
  }
})

test('50 workers terminated while recording: no crash, every record accounted for', async () => {
  nat.enable({ capacity: 1024 })
  nat.drain()
  const s0 = nat.stats()
  const code = `
    const { workerData } = require('node:worker_threads')
    const nat = require(workerData.root)
    const site = nat.marks.site('test:terminate')
    for (;;) nat.marks.link(site)
  `
  for (let i = 0; i < 50; i++) {
    const w = new Worker(code, { eval: true, workerData: { root } })
    await new Promise((resolve) => setTimeout(resolve, 5))
    await w.terminate()
  }
  let drained = 0
  let lost = 0
  for (let b = nat.drain(); b.length > 0; b = nat.drain()) {
    drained += b.length - [...b].filter((e) => e.event === 'lost').length
    lost += b.lost
  }
  const s1 = nat.stats()
  assert.equal(s1.pending, 0)
  assert.equal(s1.recorded - s0.recorded, drained, 'every committed record was drained')
  assert.equal(s1.dropped - s0.dropped, lost, 'every drop was reported as lost')
  assert.ok(s1.threads <= s0.threads + 1, `rings of exited threads are released (${s1.threads})`)
})

test('50 Workers terminated with native tasks in flight: no crash, counts consistent', async () => {
  const { consumerPath, buildConsumer } = require('./helpers')
  buildConsumer()
  nat.enable({ capacity: 1 << 16 })
  nat.drain()
  const code = `
    const { parentPort, workerData } = require('node:worker_threads')
    const nat = require(workerData.root)
    const c = require(workerData.consumer)
    const q = c.createQueue('test:teardown', () => {}, { poolThreads: 2, maxQueueSize: 8 })
    for (let i = 0; i < 500; i++) c.submit(q, i, i % 50 === 0 ? 1000 : 0)
    // Every other worker gives up its own reference first: its teardown
    // must still wake pool threads blocked on the full queue.
    if (workerData.release) c.release(q)
    parentPort.postMessage('started')
    setInterval(() => {}, 1000)
  `
  const events = []
  const take = () => { for (const e of nat.drain()) if (e.site === 'test:teardown' || e.event === 'lost') events.push(e) }
  for (let i = 0; i < 50; i++) {
    const w = new Worker(code, { eval: true, workerData: { root, consumer: consumerPath, release: i % 2 === 1 } })
    await new Promise((resolve, reject) => { w.once('message', resolve); w.once('error', reject) })
    await new Promise((resolve) => setTimeout(resolve, i % 5))
    await w.terminate()
    take()
  }
  take()
  assert.equal(events.filter((e) => e.event === 'lost').length, 0, 'nothing dropped')
  const links = new Set(events.filter((e) => e.event === 'link').map((e) => e.linkID))
  const readies = new Map(events.filter((e) => e.event === 'ready').map((e) => [e.readyID, e.linkID]))
  const begins = events.filter((e) => e.event === 'executionBegin')
  const ends = new Set(events.filter((e) => e.event === 'executionEnd').map((e) => e.executeID))
  const aborts = events.filter((e) => e.event === 'abort')
  assert.equal(links.size, 50 * 500, 'every submit was linked')
  for (const [, link] of readies) assert.ok(links.has(link), 'each ready names a link')
  for (const b of begins) assert.ok(readies.has(b.readyID), 'each frame names a ready')
  for (const b of begins) assert.ok(ends.has(b.executeID), 'each frame that began ended')
  for (const a of aborts) assert.ok(links.has(a.linkID), 'each abort names a link')
  // Every task ran, was aborted, or is visibly pending (linked, never ready).
  const ran = new Set(begins.map((b) => readies.get(b.readyID)))
  const aborted = new Set(aborts.map((a) => a.linkID))
  let neither = 0
  for (const l of links) if (!ran.has(l) && !aborted.has(l)) neither++
  assert.equal(ran.size + aborted.size + neither, links.size)
  assert.ok(aborted.size > 0, 'terminations caught tasks in flight')
})

test('Workers importing the C table never disturb threads already using it', () => {
  // Every env's module init imports the same table into one global of the
  // addon; a nat_import that cleared it first crashed the other threads.
  const { consumerPath, buildConsumer, runFresh } = require('./helpers')
  buildConsumer()
  const r = runFresh(`
    const { Worker } = require('node:worker_threads')
    const nat = require('napi-async-trace')
    const c = require(${JSON.stringify(consumerPath)})
    const code = 'require(' + JSON.stringify('napi-async-trace') + '); require(' + JSON.stringify(${JSON.stringify(consumerPath)}) + ')'
    let started = 0
    let exited = 0
    function spawn () {
      started++
      const w = new Worker(code, { eval: true })
      w.on('exit', () => { exited++; if (started < 40) spawn() })
    }
    for (let i = 0; i < 4; i++) spawn()
    let calls = 0
    function spin () {
      for (let i = 0; i < 20000; i++) { c.marks('spin:x'); calls++ }
      if (exited < 40) setImmediate(spin)
      else console.log(JSON.stringify({ calls, exited }))
    }
    spin()
  `)
  assert.equal(r.signal, null, r.stderr)
  assert.equal(r.status, 0, r.stderr)
  const out = JSON.parse(r.stdout.trim())
  assert.equal(out.exited, 40)
  assert.ok(out.calls > 0)
})
