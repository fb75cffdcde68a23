'use strict'
// The AsyncGraph: async call stacks, pending work, per-site totals, and
// what it does with input that is not a clean drain.
const test = require('node:test')
const assert = require('node:assert/strict')
const { Worker } = require('node:worker_threads')
const { root, loadConsumer, consumerPath, sleep, until, nativeChain } = require('./helpers')

const nat = require(root)
const c = loadConsumer()


test.afterEach(() => {
  nat.disable()
  nat.drain()
})


test('the async call stack of the 5th hop names every hop in order', async () => {
  nat.enable()
  nat.drain()
  const { last, frame } = await nativeChain(c, 5, 'hop')
  const g = nat.graph(nat.drain())
  assert.deepEqual(g.stackSites(last), ['hop:5', 'hop:4', 'hop:3', 'hop:2', 'hop:1', 'hop:start', 'root'])
  const steps = g.stack(last)
  assert.equal(steps.length, 5 * 3 + 1 + 1) // (frame, ready, link) per hop, the JS frame, root
  assert.equal(steps[0].id, last)
  assert.equal(steps[steps.length - 2].id, frame)
  for (let i = 0; i < 5; i++) {
    const [f, r, l] = steps.slice(i * 3, i * 3 + 3)
    assert.deepEqual([f.kind, r.kind, l.kind], ['frame', 'ready', 'link'])
    assert.equal(f.readyID, r.id)
    assert.equal(r.linkID, l.id)
    assert.equal(l.frame, steps[i * 3 + 3].id, 'the link was made in the next frame down')
    assert.equal(f.site, `hop:${5 - i}`)
    assert.notEqual(r.thread, f.thread, 'each ready came from a pool thread')
    assert.ok(l.ts <= r.ts && r.ts <= f.begin && f.begin <= f.end, 'times run forward along a hop')
  }
  // children and roots agree with the stack.
  assert.deepEqual(g.children(frame).length, 1)
  assert.ok(g.roots.includes(frame))
  assert.equal(g.parent(last), steps[3].id)
  // Per-site totals: one frame per hop, with every wait measured.
  const sites = new Map(g.sites().map((s) => [s.site, s]))
  for (let i = 1; i <= 5; i++) {
    const s = sites.get(`hop:${i}`)
    assert.equal(s.frames, 1)
    assert.equal(s.queueWait.count, 1)
    assert.equal(s.dispatchWait.count, 1)
    assert.equal(s.run.count, 1)
    assert.ok(s.run.p50 >= 0 && s.run.p99 >= s.run.p50)
  }
  assert.match(g.formatStack(last), /^frame \d+ {2}hop:5[\s\S]*root \(frame 0\)$/)
  assert.equal(g.problemCount, 0)
})

test('the graph accumulates over several drains and reads its own JSON back', async () => {
  nat.enable()
  nat.drain()
  const g = nat.graph()
  const q = c.createQueue('acc:q', () => {}, { poolThreads: 1 })
  const parts = []
  const { last } = await nativeChain(c, 3, 'acc')
  for (let i = 0; i < 3; i++) {
    // drain in pieces: a frame's begin and end may land in different batches
    const b = nat.drain({ max: 7 })
    parts.push(...b.toObjects())
    g.add(b)
  }
  const rest = nat.drain()
  parts.push(...rest.toObjects())
  g.add(rest)
  c.release(q)
  assert.deepEqual(g.stackSites(last), ['acc:3', 'acc:2', 'acc:1', 'acc:start', 'root'])
  // The objects through JSON (another process's file) give the same stack.
  const fromJson = nat.graph(JSON.parse(JSON.stringify({ events: parts })))
  assert.deepEqual(fromJson.stack(last), g.stack(last))
  // The seed format (no times, no sites) still joins the chain.
  const seed = nat.graph(JSON.parse(JSON.stringify(parts.map((e) => {
    const { event, executeID, linkID, readyID } = e
    return { event, executeID, linkID, readyID }
  }))))
  assert.deepEqual(seed.stack(last).map((s) => s.kind), g.stack(last).map((s) => s.kind))
})

test('frames in a Worker have stacks too, through the process-wide drain', async () => {
  nat.enable()
  nat.drain()
  const code = `
    const { parentPort } = require('node:worker_threads')
    const nat = require(${JSON.stringify(root)})
    const c = require(${JSON.stringify(consumerPath)})
    nat.enable()
    let q2
    const q1 = c.createQueue('wk:1', () => c.submit(q2, 2, 0), { poolThreads: 1 })
    q2 = c.createQueue('wk:2', () => {
      parentPort.postMessage({ frame: nat.marks.current(), env: nat.drain.length >= 0 && 0 })
      c.release(q1); c.release(q2)
    }, { poolThreads: 1 })
    c.submit(q1, 1, 0)
  `
  const w = new Worker(code, { eval: true })
  // Listen for the exit first: it may come in the same turn as the message.
  const exited = new Promise((resolve) => w.once('exit', resolve))
  const msg = await new Promise((resolve, reject) => { w.once('message', resolve); w.once('error', reject) })
  await exited
  const g = nat.graph(nat.drain())
  const steps = g.stack(msg.frame)
  assert.deepEqual(g.stackSites(msg.frame), ['wk:2', 'wk:1', 'root'])
  assert.notEqual(steps[0].env, 1, 'the frame belongs to the Worker env')
})

test('pending() lists exactly what is left behind, and nothing once all ran', async () => {
  nat.enable()
  nat.drain()
  let ran = 0
  const q = c.createQueue('pend:q', () => { ran++ }, { poolThreads: 1 })
  const never = [c.link(q), c.link(q), c.link(q)] // linked, never made ready
  const soon = [c.link(q), c.link(q)]
  for (const t of soon) assert.equal(c.readyHere(t, 1), 0) // made ready, not yet run
  const ids = (tasks) => tasks.map((t) => c.taskIds(t))
  const neverIds = ids(never).map((x) => x.linkID).sort((a, b) => a - b)
  const soonIds = ids(soon).map((x) => x.readyID).sort((a, b) => a - b)

  const g = nat.graph(nat.drain())
  const p = g.pending().filter((x) => x.site === 'pend:q')
  assert.deepEqual(p.filter((x) => x.kind === 'link').map((x) => x.id), neverIds)
  assert.deepEqual(p.filter((x) => x.kind === 'ready').map((x) => x.id), soonIds)
  assert.equal(p.length, 5)
  for (const x of p) assert.ok(x.age >= 0)

  await until(() => ran === 2, 'the two ready tasks')
  g.add(nat.drain())
  assert.deepEqual(g.pending().filter((x) => x.site === 'pend:q').map((x) => x.id), neverIds)

  for (const t of never) assert.equal(c.readyHere(t, 1), 0)
  await until(() => ran === 5, 'the rest')
  c.release(q)
  await until(() => c.queueStats(q).finalized === 1, 'finalize')
  g.add(nat.drain())
  assert.deepEqual(g.pending().filter((x) => x.site === 'pend:q'), [])
})

test('cancelled and aborted tasks are not pending; they are listed as aborted', async () => {
  nat.enable()
  nat.drain()
  const q = c.createQueue('pend:abort', () => {}, { poolThreads: 0 })
  const t1 = c.link(q)
  const t2 = c.link(q)
  const t3 = c.link(q)
  const [id1, id2, id3] = [t1, t2, t3].map((t) => c.taskIds(t).linkID)
  assert.equal(c.cancel(t1), 0)
  assert.equal(c.readyHere(t2, 1), 0) // queued, then the queue is aborted under it
  const ready2 = c.taskIds(t2).readyID
  c.abort(q)
  await until(() => c.queueStats(q).finalized === 1, 'finalize')
  const g = nat.graph(nat.drain())
  // t3 is still held by its owner, never made ready: that one is pending.
  assert.deepEqual(g.pending().filter((x) => x.site === 'pend:abort').map((x) => x.id), [id3])
  const aborted = g.aborted().filter((x) => x.site === 'pend:abort')
  assert.deepEqual(aborted.map((x) => `${x.kind} ${x.id}`).sort(),
    [`link ${id1}`, `link ${id2}`, `ready ${ready2}`].sort())
})

test('with stacks on, a pending link carries the JS stack that made it', () => {
  nat.enable({ stacks: true })
  nat.drain()
  const q = c.createQueue('pend:stack', () => {}, { poolThreads: 0 })
  function leakyRequester () { return c.link(q) }
  const t = leakyRequester()
  const id = c.taskIds(t).linkID
  const g = nat.graph(nat.drain())
  const [p] = g.pending().filter((x) => x.site === 'pend:stack')
  assert.equal(p.id, id)
  assert.match(p.stack, /^at leakyRequester \(.*graph\.test\.js:\d+:\d+\)/)
  assert.equal(nat.linkStack(id), p.stack)
  assert.doesNotMatch(p.stack, /lib[/\\]index\.js/, 'the engine\'s own frames are cut')
  nat.enable({ stacks: false })
  const t2 = c.link(q)
  assert.equal(nat.linkStack(c.taskIds(t2).linkID), undefined)
  c.cancel(t)
  c.cancel(t2)
  c.abort(q)
})

test('stackLimit keeps the newest stacks and counts the evicted', () => {
  nat.enable({ stacks: true, stackLimit: 10 })
  const site = nat.marks.site('stacks:limit')
  const before = nat.stats().stacksEvicted
  const ids = []
  for (let i = 0; i < 25; i++) ids.push(nat.marks.link(site))
  assert.equal(nat.stats().stacksEvicted - before >= 15, true)
  assert.equal(nat.linkStack(ids[0]), undefined)
  assert.equal(typeof nat.linkStack(ids[24]), 'string')
  nat.enable({ stacks: false, stackLimit: 10000 })
})

test('the JS bridge: setTimeout -> native task -> promise.then is one path from the root', async () => {
  nat.enable({ js: true })
  nat.drain()
  let thenFrame = 0
  const q = c.createQueue('bridge:native', () => {
    Promise.resolve(1).then(() => { thenFrame = nat.marks.current() })
  }, { poolThreads: 1 })
  setTimeout(() => { c.submit(q, 1, 0) }, 1)
  await until(() => thenFrame !== 0, 'the promise continuation')
  nat.enable({ js: false })
  c.release(q)
  const g = nat.graph(nat.drain())
  const sites = g.stackSites(thenFrame)
  assert.deepEqual(sites.slice(0, 3), ['js:PROMISE', 'bridge:native', 'js:Timeout'])
  assert.equal(sites[sites.length - 1], 'root', 'the path reaches the root with nothing missing')
  assert.ok(!g.stack(thenFrame).some((s) => s.kind === 'missing'))
  assert.equal(nat.stats().bridgeErrors, 0)
})

test('the JS bridge: a promise is readied by the frame that resolves it; a cleared timer is aborted', async () => {
  nat.enable({ js: true })
  nat.drain()
  let resolveIt
  let resolverFrame = 0
  let thenFrame = 0
  const p = new Promise((resolve) => { resolveIt = resolve })
  p.then(() => { thenFrame = nat.marks.current() })
  const cleared = setTimeout(() => {}, 60_000)
  clearTimeout(cleared)
  setTimeout(() => { resolverFrame = nat.marks.current(); resolveIt() }, 1)
  await until(() => thenFrame !== 0, 'the continuation')
  await sleep(5)
  nat.enable({ js: false })
  const g = nat.graph(nat.drain())
  const steps = g.stack(thenFrame)
  assert.equal(steps[1].kind, 'ready')
  assert.equal(steps[1].readyBy, resolverFrame, 'the timer callback that resolved made it ready')
  const timeouts = g.aborted().filter((x) => x.site === 'js:Timeout')
  assert.ok(timeouts.length >= 1, 'the cleared timer is reported aborted')
  assert.ok(!g.pending().some((x) => timeouts.some((t) => t.id === x.id)))
})

test('the JS bridge leaves the tracked queues\' own async resources to the engine', async () => {
  nat.enable({ js: true })
  nat.drain()
  let done = false
  const q = c.createQueue('bridge:own', () => { done = true }, { poolThreads: 1 })
  c.submit(q, 1, 0)
  await until(() => done, 'the task')
  nat.enable({ js: false })
  c.release(q)
  const ev = [...nat.drain()]
  assert.equal(ev.filter((e) => e.site === 'js:bridge:own').length, 0)
  assert.equal(ev.filter((e) => e.site === 'bridge:own' && e.event === 'executionBegin').length, 1)
})

test('the JS bridge holds nothing for settled promises (100,000 awaits)', async () => {
  nat.enable({ js: true })
  for (let i = 0; i < 100_000; i++) await Promise.resolve(i)
  const p = Promise.resolve(1)
  for (let i = 0; i < 1000; i++) p.then(() => {})
  await sleep(5)
  const s = nat.stats()
  // (a few belong to the test runner's own promises in flight)
  assert.ok(s.bridgeWaiting < 100, `promises held: ${s.bridgeWaiting}`)
  assert.ok(s.bridgeLinks < 100, `links held: ${s.bridgeLinks}`)
  nat.enable({ js: false })
})

test('the JS bridge: enable({ js }) again keeps what is in flight; ignore applies to promises', async () => {
  nat.enable({ js: true })
  nat.drain()
  let frame = -1
  setTimeout(() => { frame = nat.marks.current() }, 5)
  nat.enable({ js: true }) // e.g. a track(fn, { js: true }) meanwhile
  await until(() => frame !== -1, 'the timer')
  assert.notEqual(frame, 0, 'the timer still ran in a frame of its own')
  nat.enable({ js: { ignore: ['PROMISE'] } })
  nat.drain()
  await Promise.resolve(1).then(() => 2)
  assert.equal([...nat.drain()].filter((e) => e.site === 'js:PROMISE' && e.event === 'link').length, 0)
  nat.enable({ js: false })
})

test('the JS bridge closes frames a callback left open', async () => {
  nat.enable({ js: true })
  const site = nat.marks.site('bridge:leftopen')
  let later = null
  setTimeout(() => { nat.marks.begin(site, 0) }, 1) // never ended
  await sleep(10)
  setImmediate(() => { later = require(`${root}/lib/binding`).openFrames() })
  await until(() => later !== null, 'the immediate')
  assert.equal(later.length, 1, `only the immediate's own frame is open: ${later}`)
  nat.enable({ js: false })
})
