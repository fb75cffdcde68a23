'use strict'
// Tracked async work and the ABI checks of nat_import, through the consumer
// fixture.
const test = require('node:test')
const assert = require('node:assert/strict')
const { AsyncLocalStorage, AsyncResource, executionAsyncId, triggerAsyncId } = require('node:async_hooks')
const { root, runFresh, loadConsumer, consumerPath } = require('./helpers')

const nat = require(root)
const c = loadConsumer()

function work (name, value, delayMs) {
  return new Promise((resolve) => {
    c.work(name, value, delayMs, (cancelled, result) => {
      resolve({ cancelled, result, frame: nat.marks.current(), id: executionAsyncId(), trigger: triggerAsyncId() })
    })
  })
}

test.afterEach(() => {
  nat.disable()
  nat.drain()
})

test('a run is one link, one ready on the pool and one frame around complete', async () => {
  nat.enable()
  nat.drain()
  const site = nat.marks.site('test:work-parent')
  const frame = nat.marks.begin(site, 0)
  const p = work('test:work', 21, 0)
  nat.marks.end(frame)
  const r = await p
  assert.deepEqual([r.cancelled, r.result], [false, 42])
  const ev = [...nat.drain()].filter((e) => e.site === 'test:work')
  const link = ev.find((e) => e.event === 'link')
  const ready = ev.find((e) => e.event === 'ready')
  const begin = ev.find((e) => e.event === 'executionBegin')
  const end = ev.find((e) => e.event === 'executionEnd')
  assert.equal(link.executeID, frame, 'linked in the frame that queued it')
  assert.equal(ready.linkID, link.linkID)
  assert.equal(ready.executeID, 0)
  assert.notEqual(ready.thread, link.thread, 'ready on a libuv pool thread')
  assert.equal(begin.readyID, ready.readyID)
  assert.equal(r.frame, begin.executeID, 'complete runs inside the frame')
  assert.equal(end.executeID, begin.executeID)
})

test('complete runs in the requester\'s context (AsyncLocalStorage, async_hooks)', async () => {
  const als = new AsyncLocalStorage()
  const runs = []
  for (let i = 0; i < 200; i++) {
    const res = new AsyncResource('test:work-requester')
    runs.push(res.runInAsyncScope(() => als.run(i, () => {
      const requester = executionAsyncId()
      return work('test:work-ctx', i, 0).then((r) => ({ r, requester, store: als.getStore(), i }))
    })))
  }
  const done = await Promise.all(runs)
  for (const { r, requester, i } of done) {
    assert.equal(r.result, 2 * i)
    assert.equal(r.trigger, requester, `run ${i} is triggered by its requester`)
  }
  assert.equal(new Set(done.map((d) => d.r.id)).size, 200, 'one async id per run')
  assert.ok(done.every((d) => d.store === d.i), 'the store of each requester')
})

test('cancel: a run that has not started completes with cancelled and an abort event', () => {
  // A fresh process with a libuv pool of 2 threads, both kept busy.
  const code = `
    const nat = require('napi-async-trace')
    const c = require(${JSON.stringify(consumerPath)})
    nat.enable()
    const out = { results: [] }
    let pending = 3
    const done = (cancelled, result) => {
      out.results.push({ cancelled, result })
      if (--pending === 0) {
        out.events = [...nat.drain()].filter((e) => e.site === 'test:cancel').map((e) => e.event)
        console.log(JSON.stringify(out))
      }
    }
    c.work('test:cancel', 1, 150, done)
    c.work('test:cancel', 2, 150, done)
    const w = c.work('test:cancel', 3, 0, done)
    out.cancel = c.workCancel(w)
  `
  const r = runFresh(code, { env: { UV_THREADPOOL_SIZE: '2' } })
  assert.equal(r.status, 0, r.stderr)
  const out = JSON.parse(r.stdout)
  assert.equal(out.cancel, 0)
  const cancelled = out.results.filter((x) => x.cancelled)
  assert.equal(cancelled.length, 1)
  assert.equal(out.events.filter((e) => e === 'abort').length, 1)
  assert.equal(out.events.filter((e) => e === 'link').length, 3)
  assert.equal(out.events.filter((e) => e === 'executionBegin').length, 2, 'no frame for the cancelled run')
})

test('nat_import: checks the table and fails with clear messages', () => {
  assert.deepEqual(c.importCheck('ok'), { rc: 0 })
  const missing = c.importCheck('missing')
  assert.equal(missing.rc, -7)
  assert.equal(missing.code, 'NAT_ENOTLOADED')
  assert.match(missing.message, /not loaded.*require\('napi-async-trace'\)/)
  const older = c.importCheck('older')
  assert.equal(older.rc, -8)
  assert.equal(older.code, 'NAT_EVERSION')
  assert.match(older.message, /older than this addon needs/)
  assert.deepEqual(c.importCheck('olderMin'), { rc: 0 }, 'an addon that needs less accepts the smaller table')
  assert.match(c.importCheck('magic').message, /not napi-async-trace's/)
  assert.match(c.importCheck('major').message, /another ABI major/)
})

test('loading the consumer before napi-async-trace fails with NAT_ENOTLOADED', () => {
  const r = runFresh(`
    try { require(${JSON.stringify(consumerPath)}); console.log('loaded') }
    catch (e) { console.log(JSON.stringify({ code: e.code, message: e.message })) }
  `)
  assert.equal(r.status, 0, r.stderr)
  const out = JSON.parse(r.stdout)
  assert.equal(out.code, 'NAT_ENOTLOADED')
  assert.match(out.message, /require\('napi-async-trace'\) before loading this addon/)
})

test('the table the consumer imported is the package\'s', () => {
  assert.equal(c.version(), nat.version)
})
