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
