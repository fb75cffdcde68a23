'use strict'
// Regression tests of issue 12, items 1-6: the C ABI of tracked queues and
// tracked async work, driven through the consumer fixture (an addon built
// only against include/). Scenarios that used to crash, hang or deadlock
// run in a child process with a hang guard (a generous limit that turns a
// hang into a failure; nothing here is a timing assertion).
const test = require('node:test')
const assert = require('node:assert/strict')
const { spawnSync } = require('node:child_process')
const { createHook, executionAsyncId, executionAsyncResource } = require('node:async_hooks')
const { root, scenarioPrelude, loadConsumer, until } = require('./helpers')

const nat = require(root)
const c = loadConsumer()
const E = Object.fromEntries(['EINVAL', 'ENOMEM', 'EWRONGTHREAD', 'ECLOSING', 'EFULL', 'EALREADY',
  'ENOTLOADED', 'EVERSION', 'ENAPI', 'EFRAME', 'EBUSY', 'ENAMETOOLONG'].map((n, i) => [n, -(i + 1)]))

// Runs the scenario in a fresh process; `wait(cond, then)` polls on the
// loop. Returns the object passed to done(), after asserting a clean exit.
function scenario (code, { env = {}, limitMs = 60_000 } = {}) {
  const r = spawnSync(process.execPath, ['--expose-gc', '-e', scenarioPrelude() + `
    const wait = (cond, then, left = 20000) => cond() ? then()
      : left === 0 ? done({ timedOut: true }) : setTimeout(() => wait(cond, then, left - 1), 1)
  ` + code], { cwd: root, encoding: 'utf8', timeout: limitMs, env: { ...process.env, ...env } })
  assert.equal(r.error, undefined, `the child hung (killed after ${limitMs} ms): ${r.error}\n${r.stderr}`)
  assert.equal(r.signal, null, `child killed by ${r.signal}\n${r.stderr}`)
  assert.equal(r.status, 0, r.stderr)
  return JSON.parse(r.stdout.trim().split('\n').pop())
}

test('item 1: abort without a reference of the caller\'s takes nobody else\'s', () => {
  // Two initial references: a native thread keeps one, idle. The JS thread
  // releases its own, then aborts (as an env cleanup hook would). The
  // native thread's later release must find the queue alive and its
  // reference still counted.
  const out = scenario(`
    let ran = 0
    const q = c.createQueue('abi:abort-noref', () => { ran++ }, { poolThreads: 0, threads: 2 })
    c.hold(q)
    const t = c.link(q)
    const ready = c.readyHere(t, 1)
    const release = c.rawRelease(q)
    const abort = c.rawAbort(q)
    wait(() => c.queueStats(q).finalized === 1, () => {
      const holder = c.letGo(q)
      setTimeout(() => done({ ready, release, abort, holder, ran, stats: c.queueStats(q) }), 5)
    })
  `)
  assert.deepEqual(out, { ready: 0, release: 0, abort: 0, holder: 0, ran: 0, stats: { calls: 0, drops: 1, finalized: 1 } })
})

test('item 1: abort after the last release drops the task still queued', () => {
  const out = scenario(`
    let ran = 0
    const q = c.createQueue('abi:abort-after-release', () => { ran++ }, { poolThreads: 0 })
    const ready = c.readyHere(c.link(q), 1)
    const release = c.rawRelease(q)
    const abort = c.rawAbort(q)
    wait(() => c.queueStats(q).finalized === 1, () => done({ ready, release, abort, ran, stats: c.queueStats(q) }))
  `)
  assert.deepEqual(out, { ready: 0, release: 0, abort: 0, ran: 0, stats: { calls: 0, drops: 1, finalized: 1 } })
})

test('item 2: per-task contexts are destroyed on the JS thread after abort, last release and native cancel', () => {
  const out = scenario(`
    const { createHook } = require('node:async_hooks')
    const count = { init: 0, destroy: 0 }
    const ids = new Set()
    createHook({
      init (id, type) { if (type.startsWith('abi:ctx-')) { count.init++; ids.add(id) } },
      destroy (id) { if (ids.delete(id)) count.destroy++ }
    }).enable()
    const rc = { abort: { cancel: [], readyNative: [], readyJs: [] }, release: { cancel: [], readyNative: [], readyJs: [] } }
    const qs = []
    for (const end of ['abort', 'release']) {
      const q = c.createQueue('abi:ctx-' + end, () => {}, { poolThreads: 0 })
      qs.push(q)
      const tasks = Array.from({ length: 12 }, () => c.link(q))
      for (let i = 0; i < 4; i++) rc[end].cancel.push(c.onThread('cancel', tasks[i]))
      c[end](q)
      for (let i = 4; i < 8; i++) rc[end].readyNative.push(c.onThread('ready', tasks[i], i))
      for (let i = 8; i < 12; i++) rc[end].readyJs.push(c.readyHere(tasks[i], i))
    }
    // Destroy hooks run a few turns after napi_async_destroy; the wait is
    // a hang guard: a leak shows as unequal counts.
    let turns = 0
    wait(() => qs.every((q) => c.queueStats(q).finalized === 1) && (count.destroy === count.init || ++turns > 2000),
      () => { global.gc(); setImmediate(() => done({ count, rc })) })
  `)
  assert.ok(out.count.init >= 24, `a context per task (${out.count.init} inits)`)
  assert.equal(out.count.destroy, out.count.init, 'every async context made is destroyed')
  // After an abort readies fail (the task ends where the ready was
  // called); after the last release a linked task still counts as a
  // reference, so its ready takes and it runs.
  assert.deepEqual(out.rc, {
    abort: { cancel: Array(4).fill(0), readyNative: Array(4).fill(E.ECLOSING), readyJs: Array(4).fill(E.ECLOSING) },
    release: { cancel: Array(4).fill(0), readyNative: Array(4).fill(0), readyJs: Array(4).fill(0) }
  })
})

test('item 3: initial_thread_count past INT64_MAX is EINVAL; over-release never counts below zero', () => {
  const out = scenario(`
    const codes = {}
    for (const [k, n] of [['max', 2n ** 64n - 1n], ['2^63', 2n ** 63n]]) {
      try { c.createQueue('abi:threads-' + k, () => {}, { poolThreads: 0, threads: n }); codes[k] = 'created' } catch (e) { codes[k] = e.code }
    }
    const q = c.createQueue('abi:overrelease', () => {}, { poolThreads: 0, threads: 2 })
    const rel = [c.rawRelease(q), c.rawRelease(q), c.rawRelease(q), c.rawRelease(q)]
    wait(() => c.queueStats(q).finalized === 1, () => done({ codes, rel, stats: c.queueStats(q) }))
  `, { limitMs: 20_000 })
  assert.deepEqual(out, {
    codes: { max: 'NAT_EINVAL', '2^63': 'NAT_EINVAL' },
    // Two references given back, then over-releases that change nothing.
    rel: [0, 0, E.EINVAL, E.EINVAL],
    stats: { calls: 0, drops: 0, finalized: 1 }
  })
})

test('item 4: work_cancel of a run already cancelled is EALREADY', () => {
  // One pool thread, busy: the second run stays queued until cancelled.
  const out = scenario(`
    const got = []
    c.work('abi:busy', 1, 100, () => got.push('busy'))
    const h = c.work('abi:cancel', 2, 0, (cancelled) => { got.push(cancelled ? 'cancelled' : 'ran'); done({ first, second, got }) })
    const first = c.workCancel(h)
    const second = c.workCancel(h)
  `, { env: { UV_THREADPOOL_SIZE: '1' } })
  assert.deepEqual(out, { first: 0, second: E.EALREADY, got: ['cancelled'] })
})

test('item 5: the callback runs in a resource typed with the queue\'s name, with hasRef(), and no snapshot resource per task', async () => {
  const types = new Map()
  const inits = new Map()
  const hook = createHook({
    init (id, type) {
      types.set(id, type)
      inits.set(type, (inits.get(type) || 0) + 1)
    }
  }).enable()
  const seen = []
  const q = c.createQueue('abi:resource', () => {
    const r = executionAsyncResource()
    seen.push({ type: types.get(executionAsyncId()), hasRef: typeof r.hasRef === 'function' && r.hasRef() })
  }, { poolThreads: 1 })
  for (let i = 0; i < 5; i++) c.submit(q, i, 0)
  await until(() => seen.length === 5, 'callbacks')
  hook.disable()
  assert.equal(c.release(q), 0)
  assert.deepEqual(seen, Array(5).fill({ type: 'abi:resource', hasRef: true }))
  assert.equal(inits.get('bound-anonymous-fn') || 0, 0, 'no AsyncLocalStorage.snapshot resource per task')
})

test('item 6: task_cancel from a native thread never blocks, even on a full queue', () => {
  const out = scenario(`
    const q = c.createQueue('abi:cancel-full', () => {}, { poolThreads: 0, maxQueueSize: 1 })
    const a = c.link(q)
    const b = c.link(q)
    const ready = c.readyHere(b, 1, true) // the queue is full now
    const cancel = c.onThread('cancel', a) // joined at once: must not wait for this thread
    c.release(q)
    done({ ready, cancel })
  `, { limitMs: 20_000 })
  assert.deepEqual(out, { ready: 0, cancel: 0 })
})
