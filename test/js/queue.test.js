'use strict'
// Tracked queues, driven through the consumer fixture: an addon built only
// against include/napi_async_trace.h, with a pool of native threads.
const test = require('node:test')
const assert = require('node:assert/strict')
const { AsyncLocalStorage, AsyncResource, createHook, executionAsyncId, triggerAsyncId } = require('node:async_hooks')
const { root, runFresh, SEED_OUTPUT, loadConsumer, consumerPath, sleep, until } = require('./helpers')

const nat = require(root)
const c = loadConsumer()
// The C values of the codes, by name without the NAT_ prefix (E.ECLOSING).
const E = Object.fromEntries(Object.entries(nat.codes).map(([code, { errno }]) => [code.slice(4), errno]))


function eventsOf (site, events) {
  return events.filter((e) => e.site === site)
}

test.afterEach(() => {
  nat.disable()
  nat.drain()
})

test('the seed example with native tasks prints exactly DESIGN.md section 2', () => {
  const code = `
    const nat = require('napi-async-trace')
    const c = require(${JSON.stringify(consumerPath)})
    let a, b
    let n = 0
    const q = c.createQueue('seed:native', () => {
      if (++n === 1) {
        c.readyHere(b, 2)          // the first callback makes the second task ready
      } else {
        c.release(q)
        setImmediate(() => process.stdout.write(String(nat.drain()) + '\\n'))
      }
    }, { poolThreads: 1 })
    nat.enable()
    a = c.link(q)                  // a native task in place of setTimeout(cb)
    b = c.link(q)                  // and one in place of the promise
    setImmediate(() => c.readyFromPool(q, a, 1, 0)) // a native thread makes a ready
  `
  const r = runFresh(code)
  assert.equal(r.status, 0, r.stderr)
  assert.equal(r.stdout, SEED_OUTPUT)
})

test('every task is one link, one ready on a native thread and one frame', async () => {
  nat.enable()
  nat.drain()
  const results = []
  const q = c.createQueue('test:basic', (v) => results.push({ v, frame: nat.marks.current() }), { poolThreads: 2 })
  const links = []
  for (let i = 0; i < 20; i++) links.push(c.submit(q, i, 0))
  await until(() => results.length === 20, 'callbacks')
  assert.equal(c.release(q), 0)
  await until(() => c.queueStats(q).finalized === 1, 'finalize')
  const ev = eventsOf('test:basic', [...nat.drain()])
  const byType = (t) => ev.filter((e) => e.event === t)
  assert.equal(byType('link').length, 20)
  assert.equal(byType('ready').length, 20)
  assert.equal(byType('executionBegin').length, 20)
  assert.equal(byType('executionEnd').length, 20)
  const mainThread = byType('link')[0].thread
  for (const r of byType('ready')) {
    assert.notEqual(r.thread, mainThread, 'ready is recorded on the pool thread')
    assert.equal(r.executeID, 0, 'a native thread makes tasks ready from the root')
    assert.ok(links.includes(r.linkID))
  }
  const readyOf = new Map(byType('ready').map((r) => [r.readyID, r]))
  for (const b of byType('executionBegin')) {
    const r = readyOf.get(b.readyID)
    assert.ok(r, 'each frame names a ready')
    assert.ok(r.ts <= b.ts, 'the ready is stamped before its frame begins')
  }
  assert.deepEqual(results.map((r) => r.v).sort((x, y) => x - y), [...Array(20).keys()].map((i) => i * 2))
  const frames = new Set(byType('executionBegin').map((b) => b.executeID))
  assert.ok(results.every((r) => frames.has(r.frame)), 'callbacks run inside their frames')
})

test('AsyncLocalStorage: 1,000 tasks under 1,000 stores each see their own', async () => {
  nat.enable()
  const als = new AsyncLocalStorage()
  const stores = Array.from({ length: 1000 }, (_, i) => ({ i }))
  let seen = 0
  let thenSeen = 0
  const wrong = []
  const q = c.createQueue('test:als', (v) => {
    const i = v / 2
    if (als.getStore() !== stores[i]) wrong.push(`callback ${i}: ${JSON.stringify(als.getStore())}`)
    seen++
    Promise.resolve().then(() => {
      if (als.getStore() !== stores[i]) wrong.push(`then ${i}`)
      thenSeen++
    })
  }, { poolThreads: 2 })
  for (let i = 0; i < 1000; i++) als.run(stores[i], () => c.submit(q, i, 0))
  await until(() => thenSeen === 1000, 'callbacks and their promise continuations')
  c.release(q)
  assert.equal(seen, 1000)
  assert.deepEqual(wrong.slice(0, 5), [])
})

test('AsyncLocalStorage with a shared-context queue: callbacks see the creator\'s store', async () => {
  // The documented trade-off of NAT_QUEUE_SHARED_CONTEXT: one context for
  // every task, the one of the frame that created the queue.
  const als = new AsyncLocalStorage()
  const seen = []
  const q = als.run('creator', () => c.createQueue('test:als-shared', () => seen.push(als.getStore()), { shared: true, poolThreads: 2 }))
  for (let i = 0; i < 50; i++) als.run(`request ${i}`, () => c.submit(q, i, 0))
  await until(() => seen.length === 50, 'callbacks')
  c.release(q)
  assert.deepEqual(new Set(seen), new Set(['creator']))
})

test('async_hooks: each callback has its own async id, triggered by its requester', async () => {
  const requesters = new Map()
  const got = new Map()
  const q = c.createQueue('test:hooks', (v) => {
    got.set(v / 2, { id: executionAsyncId(), trigger: triggerAsyncId() })
  }, { poolThreads: 2 })
  for (let i = 0; i < 100; i++) {
    new AsyncResource('test:requester').runInAsyncScope(() => {
      requesters.set(i, executionAsyncId())
      c.submit(q, i, 0)
    })
  }
  await until(() => got.size === 100, 'callbacks')
  c.release(q)
  const ids = new Set([...got.values()].map((g) => g.id))
  assert.equal(ids.size, 100, 'one async id per task')
  for (const [i, g] of got) assert.equal(g.trigger, requesters.get(i), `task ${i}`)
})

test('exact accounting: 4 native threads x 100,000 tasks through one queue', () => {
  // In a child process: its rings and IDs are its own.
  const code = `
    const nat = require('napi-async-trace')
    const c = require(${JSON.stringify(consumerPath)})
    nat.enable({ capacity: 1 << 20 })
    const q = c.createQueue('load:flood', null, { poolThreads: 0 })
    const site = 'load:flood'
    const count = { link: 0, ready: 0, executionBegin: 0, executionEnd: 0, lost: 0, other: 0 }
    const links = new Set()
    const readyToLink = new Map()
    const beginReady = []
    function take () {
      for (const b = nat.drain(); ; ) {
        for (let i = 0; i < b.length; i++) {
          const ev = b.eventAt(i)
          if (ev === 'lost') { count.lost += b.get(i).count; continue }
          if (b.siteAt(i) !== site) continue
          count[ev] = (count[ev] || 0) + 1
          if (ev === 'link') links.add(b.linkIDAt(i))
          else if (ev === 'ready') readyToLink.set(b.readyIDAt(i), b.linkIDAt(i))
          else if (ev === 'executionBegin') beginReady.push(b.readyIDAt(i))
        }
        return b.length
      }
    }
    c.flood(q, 4, 100000)
    const timer = setInterval(() => {
      take()
      const s = c.floodStatus(q)
      if (s.dispatched < s.total) return
      clearInterval(timer)
      c.release(q)
      setImmediate(() => {
        while (take() > 0);
        let orphanBegins = 0
        for (const r of beginReady) {
          const l = readyToLink.get(r)
          if (l === undefined || !links.has(l)) orphanBegins++
        }
        const st = nat.stats()
        console.log(JSON.stringify({ status: c.floodStatus(q), count, orphanBegins, dropped: st.dropped }))
      })
    }, 2)
  `
  const r = runFresh(code)
  assert.equal(r.status, 0, r.stderr)
  const out = JSON.parse(r.stdout)
  assert.deepEqual(out.status, { total: 400000, dispatched: 400000, once: 400000, missing: 0, twice: 0, errors: 0 })
  assert.equal(out.dropped, 0, 'no record was dropped')
  assert.equal(out.count.link, 400000)
  assert.equal(out.count.ready, 400000)
  assert.equal(out.count.executionBegin, 400000)
  assert.equal(out.count.executionEnd, 400000)
  assert.equal(out.orphanBegins, 0, 'every executionBegin names a ready that names a link')
})

test('links from a native thread belong to the frame that created the queue', async () => {
  nat.enable()
  nat.drain()
  const site = nat.marks.site('test:creator')
  const frame = nat.marks.begin(site, 0)
  const q = c.createQueue('test:native-link', null, { poolThreads: 0 })
  nat.marks.end(frame)
  c.flood(q, 1, 10)
  await until(() => c.floodStatus(q).dispatched === 10, 'dispatch')
  c.release(q)
  const links = eventsOf('test:native-link', [...nat.drain()]).filter((e) => e.event === 'link')
  assert.equal(links.length, 10)
  assert.ok(links.every((l) => l.executeID === frame), 'attributed to the creating frame')
})

test('nested frames: links made in a callback carry its frame, marks nest inside it', async () => {
  nat.enable()
  nat.drain()
  let inner = null
  let outerFrame = 0
  let done = false
  const q2 = c.createQueue('test:nested-inner', () => { done = true }, { poolThreads: 1 })
  const q = c.createQueue('test:nested', () => {
    outerFrame = nat.marks.current()
    inner = c.marks('test:nested-marks')
    c.submit(q2, 1, 0)
  }, { poolThreads: 1 })
  c.submit(q, 1, 0)
  await until(() => done, 'the inner task')
  c.release(q)
  c.release(q2)
  const ev = [...nat.drain()]
  assert.equal(inner.current, outerFrame, 'a frame begun in the callback nests in it')
  assert.equal(inner.inner, inner.exec)
  const innerLink = ev.find((e) => e.event === 'link' && e.site === 'test:nested-inner')
  assert.equal(innerLink.executeID, outerFrame)
  const marksLink = ev.find((e) => e.event === 'link' && e.linkID === inner.link)
  assert.equal(marksLink.executeID, outerFrame)
  const markReadyFrom = ev.find((e) => e.event === 'ready' && e.readyID === inner.readyFrom)
  assert.equal(markReadyFrom.executeID, inner.exec, 'ready made inside the nested frame')
  const begin = ev.find((e) => e.event === 'executionBegin' && e.executeID === inner.exec)
  const end = ev.find((e) => e.event === 'executionEnd' && e.executeID === inner.exec)
  assert.ok(begin && end && begin.ts <= end.ts)
})

test('abort with tasks queued: each is dropped and reported aborted, none runs', async () => {
  nat.enable()
  nat.drain()
  let calls = 0
  const q = c.createQueue('test:abort', () => { calls++ }, { poolThreads: 0 })
  const links = []
  for (let i = 0; i < 100; i++) {
    const t = c.link(q)
    links.push(c.taskIds(t).linkID)
    assert.equal(c.readyHere(t, i), 0)
  }
  const late = c.link(q)
  assert.equal(c.abort(q), 0)
  assert.throws(() => c.link(q), { code: 'NAT_ECLOSING' })
  assert.equal(c.readyHere(late, 1), E.ECLOSING, 'ready after abort fails and aborts the task')
  await until(() => c.queueStats(q).finalized === 1 && c.queueStats(q).drops === 100, 'finalize and drops')
  assert.equal(calls, 0)
  const ev = eventsOf('test:abort', [...nat.drain()])
  const aborted = ev.filter((e) => e.event === 'abort').map((e) => e.linkID).sort((a, b) => a - b)
  assert.equal(aborted.length, 101)
  assert.deepEqual(aborted.slice(0, 100), links.sort((a, b) => a - b))
  assert.equal(ev.filter((e) => e.event === 'executionBegin').length, 0)
})

test('release with tasks queued: they still run, then the queue finalizes', async () => {
  let calls = 0
  const q = c.createQueue('test:release', () => { calls++ }, { poolThreads: 0 })
  for (let i = 0; i < 100; i++) assert.equal(c.readyHere(c.link(q), i), 0)
  assert.equal(c.release(q), 0)
  assert.equal(c.release(q), E.EALREADY, 'the fixture refuses a second release')
  await until(() => c.queueStats(q).finalized === 1, 'finalize')
  assert.equal(calls, 100)
  assert.equal(c.queueStats(q).drops, 0)
})

test('a full queue: non-blocking ready reports EFULL and takes its ready back', async () => {
  nat.enable()
  nat.drain()
  const q = c.createQueue('test:full', () => {}, { poolThreads: 0, maxQueueSize: 2 })
  const tasks = [c.link(q), c.link(q), c.link(q)]
  const third = c.taskIds(tasks[2]).linkID // handles are consumed by a ready that takes
  assert.equal(c.readyHere(tasks[0], 0, true), 0)
  assert.equal(c.readyHere(tasks[1], 0, true), 0)
  assert.equal(c.readyHere(tasks[2], 0, true), E.EFULL)
  assert.equal(c.taskIds(tasks[2]).readyID, 0)
  await sleep(5) // the queue drains
  assert.equal(c.readyHere(tasks[2], 0, true), 0, 'the same task may be made ready again')
  await sleep(5)
  c.release(q)
  const ev = eventsOf('test:full', [...nat.drain()])
  const readies = ev.filter((e) => e.event === 'ready')
  const failed = ev.filter((e) => e.event === 'readyFailed')
  assert.equal(readies.length, 4, 'three that took and one that did not')
  assert.equal(failed.length, 1)
  const taken = readies.filter((r) => r.readyID !== failed[0].readyID)
  assert.equal(failed[0].linkID, third)
  assert.equal(taken.filter((r) => r.linkID === failed[0].linkID).length, 1, 'made ready again')
  // The graph counts the link as ready once, through the ready that took.
  const g = nat.graph(ev)
  assert.deepEqual(g.pending(), [])
  assert.equal(g.frames().length, 3)
})

test('hasRef() of the resources async_hooks sees follows ref/unref', async () => {
  const resources = []
  const hook = createHook({
    init (id, type, trigger, resource) { if (type === 'test:hasref') resources.push(resource) }
  }).enable()
  const q = c.createQueue('test:hasref', () => {}, { poolThreads: 1 })
  c.submit(q, 1, 0)
  hook.disable()
  assert.ok(resources.length >= 2, `queue and task resources seen (${resources.length})`)
  assert.ok(resources.every((r) => typeof r.hasRef === 'function'))
  assert.ok(resources.every((r) => r.hasRef() === true))
  assert.equal(c.unref(q), 0)
  assert.ok(resources.every((r) => r.hasRef() === false))
  assert.equal(c.ref(q), 0)
  assert.ok(resources.every((r) => r.hasRef() === true))
  await sleep(5)
  c.release(q)
  assert.equal(c.ref(q), E.ECLOSING, 'ref after the last release')
  await until(() => c.queueStats(q).finalized === 1, 'finalize')
  assert.ok(resources.every((r) => r.hasRef() === false), 'a finalized queue holds nothing')
})

test('bad input and wrong threads get documented codes, never a crash', async () => {
  const q = c.createQueue('test:bad', () => {}, { poolThreads: 0 })
  const codes = c.badInput(q)
  const expect = {
    linkNull: E.EINVAL,
    linkNullOut: E.EINVAL,
    readyNull: E.EINVAL,
    cancelNull: E.EINVAL,
    idsNull: E.EINVAL,
    acquireNull: E.EINVAL,
    releaseNull: E.EINVAL,
    abortNull: E.EINVAL,
    refNull: E.EINVAL,
    unrefNull: E.EINVAL,
    createNull: E.EINVAL,
    createNoCallback: E.EINVAL,
    createNoThreads: E.EINVAL,
    createSmallStruct: E.EINVAL,
    createBadFlags: E.EINVAL,
    createLongName: E.ENAMETOOLONG,
    siteLongName: E.ENAMETOOLONG,
    siteEmpty: E.EINVAL,
    siteNull: E.EINVAL,
    linkOutNull: E.EINVAL,
    frameBeginOutNull: E.EINVAL,
    frameEndNotOpen: E.EFRAME,
    currentNull: E.EINVAL,
    readyFirst: 0,
    readyTwice: E.EALREADY,
    cancelAfterReady: E.EALREADY,
    readyBadMode: E.EINVAL,
    workNoExecute: E.EINVAL,
    workSmallStruct: E.EINVAL,
    workQueueNull: E.EINVAL,
    workCancelNull: E.EINVAL,
    workDeleteNull: E.EINVAL,
    workCancelIdle: E.EALREADY,
    threadSite: E.EWRONGTHREAD,
    threadFrameBegin: E.EWRONGTHREAD,
    threadFrameEnd: E.EWRONGTHREAD,
    threadCurrent: E.EWRONGTHREAD,
    threadRef: E.EWRONGTHREAD,
    threadWorkQueue: E.EWRONGTHREAD,
    threadQueueCreate: E.EWRONGTHREAD,
    threadLink: 0,
    threadCancel: 0,
    workDelete: 0
  }
  assert.deepEqual(codes, expect)
  await sleep(5)
  c.release(q)
  assert.throws(() => c.link(q), { code: 'NAT_ECLOSING' }, 'link after release')
})

test('process.exit with tasks queued and pool threads still making them ready', () => {
  for (let i = 0; i < 5; i++) {
    const r = runFresh(`
      const nat = require('napi-async-trace')
      const c = require(${JSON.stringify(consumerPath)})
      nat.enable()
      const q = c.createQueue('test:exit', () => {}, { poolThreads: 4, maxQueueSize: 4 })
      for (let i = 0; i < 2000; i++) c.submit(q, i, 0)
      setTimeout(() => process.exit(7), ${i})
    `)
    assert.equal(r.signal, null, r.stderr)
    assert.equal(r.status, 7, r.stderr)
  }
})

test('a queue handle collected before the queue finalizes (GC right after release)', () => {
  // The fixture frees its state only once both are gone; under the
  // sanitizer run (npm run test:sanitizers) a use after free shows here.
  const r = runFresh(`
    const nat = require('napi-async-trace')
    const c = require(${JSON.stringify(consumerPath)})
    nat.enable()
    let ran = 0
    for (let i = 0; i < 20; i++) {
      let q = c.createQueue('test:gcfree', () => { ran++ }, { poolThreads: 1 })
      c.submit(q, i, 0)
      c.release(q)
      q = null
      global.gc()
    }
    setTimeout(() => { global.gc(); console.log('ok') }, 50)
  `, { args: ['--expose-gc'] })
  assert.equal(r.signal, null, r.stderr)
  assert.equal(r.status, 0, r.stderr)
  assert.equal(r.stdout.trim(), 'ok')
})

test('caller-owned tasks (ABI 1.1 queue_link_into): they run like pooled ones; bad storage is EINVAL', async () => {
  nat.enable()
  nat.drain()
  const results = []
  const q = c.createQueue('test:into', (v) => results.push({ v, frame: nat.marks.current() }), { poolThreads: 2 })
  const checks = c.linkIntoChecks(q)
  assert.ok(checks.taskSize > 0 && checks.taskSize % 16 === 0, `task_size() ${checks.taskSize}`)
  assert.deepEqual({ ...checks, taskSize: 0 }, { taskSize: 0, nullStorage: E.EINVAL, misaligned: E.EINVAL, nullOut: E.EINVAL, nullQueue: E.EINVAL })
  const links = []
  for (let i = 0; i < 50; i++) links.push(c.submitInto(q, i))
  await until(() => results.length === 50, 'callbacks')
  assert.equal(c.release(q), 0)
  await until(() => c.queueStats(q).finalized === 1, 'finalize')
  assert.deepEqual(results.map((r) => r.v).sort((a, b) => a - b), [...Array(50).keys()].map((i) => i * 2))
  const ev = eventsOf('test:into', [...nat.drain()])
  assert.deepEqual(ev.filter((e) => e.event === 'link').map((e) => e.linkID).sort((a, b) => a - b), links.sort((a, b) => a - b))
  const begins = new Set(ev.filter((e) => e.event === 'executionBegin').map((e) => e.executeID))
  assert.equal(begins.size, 50)
  assert.ok(results.every((r) => begins.has(r.frame)))
})

test('queue_link takes tasks from the queue\'s pool: dispatched tasks\' memory is reused', async () => {
  // One task in flight at a time, 200 times: the pool hands back tasks of
  // its first slab (64 tasks, one allocation), never a new one. The
  // dispatch gives its tasks back once per wake-up, so a link may get
  // another task of the slab than the one just run.
  let calls = 0
  const q = c.createQueue('test:pool', () => { calls++ }, { poolThreads: 0 })
  const addrs = []
  for (let i = 0; i < 200; i++) {
    const t = c.link(q)
    addrs.push(c.taskAddr(t))
    assert.equal(c.readyHere(t, i), 0)
    await until(() => calls === i + 1, 'dispatch')
  }
  c.release(q)
  const distinct = new Set(addrs)
  assert.ok(distinct.size <= 64, `at most one slab of tasks for 200 sequential links, got ${distinct.size} addresses`)
  assert.ok(distinct.size < addrs.length, 'a dispatched task was reused')
  const span = Math.max(...addrs) - Math.min(...addrs)
  assert.ok(span < 64 * 1024, `the tasks lie in one slab (span ${span} bytes)`)
})

test('one async_hooks init per queue (its shared context), plus one per JS-linked task', async () => {
  const inits = []
  const hook = createHook({
    init (id, type, trigger, resource) { if (type.startsWith('test:inits-')) inits.push({ type, resource }) }
  }).enable()
  let calls = 0
  const shared = c.createQueue('test:inits-shared', () => { calls++ }, { poolThreads: 1, shared: true })
  const own = c.createQueue('test:inits-own', () => { calls++ }, { poolThreads: 1 })
  const atCreate = inits.length
  for (let i = 0; i < 3; i++) { c.submit(shared, i, 0); c.submit(own, i, 0) }
  await until(() => calls === 6, 'callbacks')
  hook.disable()
  c.release(shared)
  c.release(own)
  assert.equal(atCreate, 2, 'one init per queue')
  assert.equal(inits.filter((i) => i.type === 'test:inits-shared').length, 1, 'a shared queue: no init per task')
  assert.equal(inits.filter((i) => i.type === 'test:inits-own').length, 4, 'one per task')
  assert.equal(new Set(inits.map((i) => i.resource)).size, inits.length, 'no two inits share a resource')
  assert.ok(inits.every((i) => typeof i.resource.hasRef === 'function'))
})

test('microtasks run between items, each in its own callback scope (as a threadsafe function)', async () => {
  const order = []
  const q = c.createQueue('test:microtasks', (v) => {
    order.push(`cb ${v}`)
    Promise.resolve().then(() => order.push(`then ${v}`))
    process.nextTick(() => order.push(`tick ${v}`))
  }, { poolThreads: 0 })
  for (let i = 0; i < 3; i++) c.readyHere(c.link(q), i)
  await until(() => order.length === 9, 'callbacks')
  c.release(q)
  assert.deepEqual(order, ['cb 0', 'tick 0', 'then 0', 'cb 1', 'tick 1', 'then 1', 'cb 2', 'tick 2', 'then 2'])
})

test('at most 1,000 items per wake-up: the loop runs its other phases between batches', async () => {
  let calls = 0
  let atImmediate = -1
  const q = c.createQueue('test:batch', () => { calls++ }, { poolThreads: 0 })
  for (let i = 0; i < 2500; i++) assert.equal(c.readyHere(c.link(q), i), 0)
  setImmediate(() => { atImmediate = calls })
  await until(() => calls === 2500, 'callbacks')
  c.release(q)
  // The first wake-up (poll phase) takes 1,000 and re-arms; the check
  // phase's immediate runs before the next batch.
  assert.equal(atImmediate, 1000)
})

test('a release with readies still to come: they run, then the queue closes; later readies are ECLOSING', async () => {
  let calls = 0
  const q = c.createQueue('test:released', () => { calls++ }, { poolThreads: 0 })
  const tasks = [c.link(q), c.link(q), c.link(q)]
  assert.equal(c.readyHere(tasks[0], 0), 0)
  assert.equal(c.release(q), 0)
  assert.throws(() => c.link(q), { code: 'NAT_ECLOSING' }, 'no links after the last release')
  assert.equal(c.readyHere(tasks[1], 1), 0, 'a linked task is a reference: its ready takes')
  await until(() => c.queueStats(q).finalized === 1, 'finalize')
  assert.equal(calls, 2)
  assert.equal(c.readyHere(tasks[2], 2), E.ECLOSING, 'after the close')
  assert.equal(c.queueStats(q).drops, 0)
})
