'use strict'
// Fault loops: recording stopped, drained, aborted and torn down while
// native threads are busy, each repeated enough times to hit the races.
// Each asserts that nothing crashed and that the counts still add up.
// (Also in other files: Workers terminated mid-flight, worker.test.js;
// process.exit with pool threads readying, queue.test.js.)
const test = require('node:test')
const assert = require('node:assert/strict')
const path = require('node:path')
const { Worker } = require('node:worker_threads')
const { root, runFresh, buildConsumer, sleep, until, runScenario, scenarioPrelude } = require('./helpers')

const consumer = buildConsumer()
const nat = require(root)
const c = require(consumer)
const PRELUDE = scenarioPrelude()
const child = runScenario


test('disable() and enable() while 4 native threads record, 20 rounds: every ID handed out is recorded or dropped', () => {
  const ROUNDS = 20
  const out = child(`
    const rounds = []
    nat.enable({ capacity: 64 })
    nat.disable()
    nat.drain()
    for (let r = 0; r < ${ROUNDS}; r++) {
      const s0 = nat.stats()
      nat.enable()                      // opens the root frame: one record
      const h = c.markFlood('fault:toggle', 4, 100000)
      let toggles = 1, drains = 0
      const batches = []
      while (c.markFloodStatus(h).finished < 4) {
        nat.disable(); toggles++        // closes the root frame: one record
        for (let i = r % 4; i > 0; i--) ; // vary the gaps between toggles
        nat.enable(); toggles++         // reopens it: one record
        if ((toggles & 63) === 0) { batches.push(nat.drain()); drains++ }
      }
      nat.disable(); toggles++
      const status = c.markFloodJoin(h)
      const s1 = nat.stats()
      const tally = new Tally({ first: s0.lastId, last: s1.lastId, site: 'fault:toggle' })
      for (const b of batches) tally.take(b)
      tally.drainAll(nat)
      const s2 = nat.stats()
      rounds.push({ status, toggles, drains, ids: s1.lastId - s0.lastId,
        recorded: s2.recorded - s0.recorded, dropped: s2.dropped - s0.dropped,
        drained: s2.drained - s0.drained, tally: tally.summary() })
    }
    done(rounds)
  `)
  let zeros = 0; let produced = 0; let dropped = 0
  for (const [i, r] of out.entries()) {
    const t = r.tally
    const msg = `round ${i}: ${JSON.stringify({ ...r, tally: { ...t, lostByThread: undefined } })}`
    assert.equal(r.status.errors, 0, msg)
    assert.equal(r.status.ids + r.status.zeros, 4 * 100000 * 2, msg)
    assert.equal(r.ids, r.status.ids, `${msg}: the IDs handed out are the threads' non-zero ones`)
    // The main thread records one root event per toggle (executionBegin 0
    // on enable, executionEnd 0 on disable); they have no site. A thread
    // that was handed an ID while recording was on records the event even
    // if a disable() lands before it writes (regression: the event was
    // neither recorded nor counted as dropped).
    assert.equal(r.recorded + r.dropped, r.status.ids + r.toggles, `${msg}: recorded + dropped == produced`)
    assert.equal(t.lost, r.dropped, `${msg}: lost markers add up to the drops`)
    assert.equal(t.twice, 0, msg)
    assert.equal(t.missing + (r.toggles - t.other), t.lost, `${msg}: every event not drained is counted lost`)
    assert.equal(r.drained, r.recorded, msg)
    assert.equal(t.unordered, 0, `${msg}: each batch is in time order`)
    zeros += r.status.zeros; produced += r.status.ids; dropped += r.dropped
  }
  assert.ok(zeros > 0, 'the threads saw recording off at times')
  console.log(`${ROUNDS} rounds: ${produced} IDs handed out, ${zeros} calls while off, ${dropped} dropped`)
})

test('drain racing 4 native producers, 10 rounds of 4 x 200,000 marks: every event drained once or reported lost', () => {
  const ROUNDS = 10
  const out = child(`
    const rounds = []
    nat.enable({ capacity: 256 })
    setImmediate(() => {
      nat.drain()
      for (let r = 0; r < ${ROUNDS}; r++) {
        const s0 = nat.stats()
        const h = c.markFlood('fault:drain', 4, 200000)
        const batches = []
        let drains = 0
        while (c.markFloodStatus(h).finished < 4) {
          const max = drains % 3 === 0 ? undefined : 1 + ((drains * 7919) % 1000)
          batches.push(nat.drain(max === undefined ? undefined : { max }))
          drains++
        }
        const status = c.markFloodJoin(h)
        const s1 = nat.stats()
        const tally = new Tally({ first: s0.lastId, last: s1.lastId, site: 'fault:drain' })
        for (const b of batches) tally.take(b)
        tally.drainAll(nat)
        const s2 = nat.stats()
        rounds.push({ status, drains, ids: s1.lastId - s0.lastId,
          recorded: s2.recorded - s0.recorded, dropped: s2.dropped - s0.dropped,
          drained: s2.drained - s0.drained, pending: s2.pending, tally: tally.summary() })
      }
      done(rounds)
    })
  `)
  let drains = 0; let dropped = 0; let recorded = 0
  for (const [i, r] of out.entries()) {
    const t = r.tally
    const msg = `round ${i}: ${JSON.stringify({ ...r, tally: { ...t, lostByThread: undefined } })}`
    assert.equal(r.status.ids, 4 * 200000 * 2, msg)
    assert.equal(r.ids, r.status.ids, msg)
    assert.equal(r.recorded + r.dropped, r.ids, `${msg}: recorded + dropped == produced`)
    assert.equal(t.once, r.recorded, `${msg}: each recorded event drained once`)
    assert.equal(t.twice, 0, `${msg}: no event drained twice`)
    assert.equal(t.missing, t.lost, `${msg}: every event not drained is reported lost`)
    assert.equal(t.lost, r.dropped, msg)
    assert.equal(t.other, 0, msg)
    assert.equal(t.unordered, 0, `${msg}: each batch is in time order`)
    assert.equal(r.drained, r.recorded, msg)
    assert.equal(r.pending, 0, msg)
    drains += r.drains; dropped += r.dropped; recorded += r.recorded
  }
  console.log(`${ROUNDS} rounds, ${drains} drains: ${ROUNDS * 1600000} produced, ${recorded} drained, ${dropped} dropped and reported lost`)
})

test('abort while 4 pool threads make tasks ready, 50 rounds: each task ran or was aborted, once', async () => {
  nat.enable({ capacity: 1 << 16 })
  nat.drain()
  const ROUNDS = 50
  const TASKS = 200
  let ranTotal = 0; let abortedTotal = 0
  for (let round = 0; round < ROUNDS; round++) {
    let calls = 0
    const q = c.createQueue('fault:abort', () => { calls++ }, { poolThreads: 4, maxQueueSize: 4 })
    const links = new Set()
    for (let i = 0; i < TASKS; i++) links.add(c.submit(q, i, 0))
    if (round % 3 === 1) await new Promise(setImmediate)
    else if (round % 3 === 2) await sleep(round % 5)
    assert.equal(c.abort(q), 0)
    c.join(q) // every pool thread has readied, failed or cancelled its tasks
    await until(() => c.queueStats(q).finalized === 1, 'finalize')
    const ev = [...nat.drain()].filter((e) => e.site === 'fault:abort' || e.event === 'lost')
    assert.equal(ev.filter((e) => e.event === 'lost').length, 0)
    const readyToLink = new Map(ev.filter((e) => e.event === 'ready').map((e) => [e.readyID, e.linkID]))
    const ran = ev.filter((e) => e.event === 'executionBegin').map((e) => readyToLink.get(e.readyID))
    const aborted = ev.filter((e) => e.event === 'abort').map((e) => e.linkID)
    const outcome = new Map()
    for (const l of [...ran, ...aborted]) outcome.set(l, (outcome.get(l) || 0) + 1)
    assert.equal(ran.length, calls, `round ${round}: one frame per callback`)
    assert.equal(ran.length + aborted.length, TASKS, `round ${round}: ${ran.length} ran + ${aborted.length} aborted`)
    for (const l of links) assert.equal(outcome.get(l), 1, `round ${round}: task ${l} has exactly one outcome`)
    assert.equal(ev.filter((e) => e.event === 'executionEnd').length, ran.length)
    ranTotal += ran.length; abortedTotal += aborted.length
  }
  nat.disable()
  assert.ok(abortedTotal > 0, 'aborts caught tasks in flight')
  console.log(`${ROUNDS} rounds x ${TASKS} tasks: ${ranTotal} ran, ${abortedTotal} aborted`)
})

test('process.exit while native threads record and make tasks ready, 20 runs', () => {
  for (let i = 0; i < 20; i++) {
    const r = runFresh(PRELUDE + `
      nat.enable({ capacity: ${i % 2 ? 16 : 4096} })
      c.markFlood('fault:exit-marks', 2, 1e9)     // joined by its env cleanup hook
      const q = c.createQueue('fault:exit', () => {}, { poolThreads: 2, maxQueueSize: 2 })
      c.flood(q, 2, 1e6)                          // blocked readies wake on teardown
      for (let i = 0; i < 100; i++) c.submit(q, i, 0)
      const drainer = setInterval(() => nat.drain(), 1)
      setTimeout(() => process.exit(${i % 7 + 3}), ${i % 5})
    `)
    assert.equal(r.signal, null, `run ${i}: ${r.stderr}`)
    assert.equal(r.status, i % 7 + 3, `run ${i}: ${r.stderr}`)
  }
})

test('process.exit inside a dispatched callback, 20 runs', () => {
  for (let i = 0; i < 20; i++) {
    const r = runFresh(PRELUDE + `
      nat.enable()
      let n = 0
      const q = c.createQueue('fault:exit-dispatch', () => {
        if (++n === ${1 + i * 10}) process.exit(9)
      }, { poolThreads: 2, maxQueueSize: 4 })
      for (let i = 0; i < 1000; i++) c.submit(q, i, 0)
    `)
    assert.equal(r.signal, null, `run ${i}: ${r.stderr}`)
    assert.equal(r.status, 9, `run ${i}: ${r.stderr}`)
  }
})

// A Worker with a tracked queue whose callback ends the Worker's own env
// while it runs: process.exit() inside the callback, or a terminate()
// requested by the parent while the callback spins.
const teardownWorker = `
  const { parentPort, workerData } = require('node:worker_threads')
  const nat = require(workerData.root)
  const c = require(workerData.consumer)
  let n = 0
  const q = c.createQueue('fault:teardown', () => {
    if (++n < workerData.at) return
    if (workerData.how === 'exit') process.exit(5)
    parentPort.postMessage('spinning')
    for (;;) ;                        // until terminated
  }, { poolThreads: 2, maxQueueSize: 4 })
  for (let i = 0; i < 300; i++) c.submit(q, i, i % 20 === 0 ? 500 : 0)
  c.flood(q, 2, 1000)
  setInterval(() => {}, 1000)
`

test('a Worker ends its own env from inside a dispatched callback, 40 rounds: no crash, frames and tasks accounted for', async () => {
  nat.enable({ capacity: 1 << 18 })
  nat.drain()
  const ROUNDS = 40
  const events = []
  const take = () => { for (const e of nat.drain()) if (e.site === 'fault:teardown' || e.event === 'lost') events.push(e) }
  const codes = { exit: 0, terminate: 0 }
  for (let i = 0; i < ROUNDS; i++) {
    const how = i % 2 ? 'exit' : 'terminate'
    const w = new Worker(teardownWorker, { eval: true, workerData: { root, consumer, how, at: 1 + (i * 37) % 250 } })
    const exited = new Promise((resolve, reject) => { w.once('exit', resolve); w.once('error', reject) })
    if (how === 'terminate') {
      await new Promise((resolve, reject) => { w.once('message', resolve); w.once('error', reject) })
      await w.terminate()
    }
    const code = await exited
    assert.equal(code, how === 'exit' ? 5 : 1, `round ${i} (${how})`)
    codes[how]++
    take()
  }
  take()
  nat.disable()
  assert.equal(events.filter((e) => e.event === 'lost').length, 0, 'nothing dropped')
  const byEnv = new Map()
  for (const e of events) {
    if (!byEnv.has(e.env)) byEnv.set(e.env, [])
    byEnv.get(e.env).push(e)
  }
  assert.equal(byEnv.size, ROUNDS, 'one env per Worker')
  for (const [env, ev] of byEnv) {
    const links = new Set(ev.filter((e) => e.event === 'link').map((e) => e.linkID))
    const readies = new Map(ev.filter((e) => e.event === 'ready').map((e) => [e.readyID, e.linkID]))
    const begins = ev.filter((e) => e.event === 'executionBegin')
    const ends = new Set(ev.filter((e) => e.event === 'executionEnd').map((e) => e.executeID))
    // The 300 submits are linked before anything runs; the flood threads
    // link until their queue closes.
    assert.ok(links.size >= 300 && links.size <= 2300, `env ${env}: ${links.size} links`)
    for (const [, l] of readies) assert.ok(links.has(l), `env ${env}: each ready names a link`)
    for (const b of begins) assert.ok(readies.has(b.readyID), `env ${env}: each frame names a ready`)
    // The frame torn down mid-dispatch is closed too: the engine closes its
    // frame whatever the callback did.
    for (const b of begins) assert.ok(ends.has(b.executeID), `env ${env}: frame ${b.executeID} began and ended`)
    const ran = new Set(begins.map((b) => readies.get(b.readyID)))
    const aborted = new Set(ev.filter((e) => e.event === 'abort').map((e) => e.linkID))
    for (const l of ran) assert.ok(!aborted.has(l), `env ${env}: task ${l} ran and was aborted`)
  }
  console.log(`${ROUNDS} Workers torn down mid-dispatch (${codes.exit} process.exit, ${codes.terminate} terminate)`)
})
