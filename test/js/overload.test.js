'use strict'
// Exact accounting under overload: the smallest rings, native producer
// threads recording through the public C table (the consumer fixture), and
// millions of events with no drain, or rare drains, while they run. Every
// event the engine decided to record (an ID handed out) is either drained
// once or counted as dropped, and the drops come back as `lost` markers.
// Each scenario runs in a child process: its IDs, rings and stats are its
// own, and a crash is a failed test, not a dead runner.
const test = require('node:test')
const assert = require('node:assert/strict')
const { runScenario } = require('./helpers')

const child = runScenario

const THREADS = 4
const PER_THREAD = 1_000_000 // iterations; two records (link, ready) each

test(`${THREADS} native threads x ${PER_THREAD * 2} marks into ${16}-record rings, never drained while producing`, () => {
  const out = child(`
    nat.enable({ capacity: nat.constants.MIN_CAPACITY })
    setImmediate(() => {          // after the root frame 0 has closed
      nat.drain()
      const s0 = nat.stats()
      const h = c.markFlood('over:nodrain', ${THREADS}, ${PER_THREAD})
      const status = c.markFloodJoin(h)
      const s1 = nat.stats()
      const tally = new Tally({ first: s0.lastId, last: s1.lastId, site: 'over:nodrain' })
      tally.drainAll(nat)
      const s2 = nat.stats()
      done({ status, capacity: s1.capacity, ids: s1.lastId - s0.lastId,
        recorded: s1.recorded - s0.recorded, dropped: s1.dropped - s0.dropped,
        drained: s2.drained - s1.drained, pending: s2.pending, tally: tally.summary() })
    })
  `)
  const produced = THREADS * PER_THREAD * 2
  assert.equal(out.capacity, 16)
  assert.deepEqual(out.status, { threads: THREADS, finished: THREADS, ids: produced, zeros: 0, errors: 0, site: out.status.site })
  assert.equal(out.ids, produced, 'one ID per event, nothing else recorded meanwhile')
  assert.equal(out.recorded + out.dropped, produced, 'recorded + dropped == produced')
  assert.equal(out.recorded, THREADS * 16, 'each thread filled its own ring once')
  assert.equal(out.dropped, produced - THREADS * 16)
  const t = out.tally
  assert.equal(t.lost, out.dropped, 'the lost markers add up to the drops')
  assert.equal(t.lostMarkers, THREADS, 'one marker per thread that dropped')
  for (const n of Object.values(t.lostByThread)) assert.equal(n, PER_THREAD * 2 - 16)
  assert.equal(t.once, out.recorded, 'each recorded event drained once')
  assert.equal(t.twice, 0)
  assert.equal(t.missing, out.dropped, 'each missing ID was counted as dropped')
  assert.equal(t.other, 0)
  assert.equal(out.drained, out.recorded)
  assert.equal(out.pending, 0)
  console.log(`produced ${produced}, recorded ${out.recorded}, dropped ${out.dropped}, lost reported ${t.lost}`)
})

test(`${THREADS} native threads x ${PER_THREAD * 2} marks into 16-record rings, drained rarely while producing`, () => {
  const out = child(`
    nat.enable({ capacity: nat.constants.MIN_CAPACITY })
    setImmediate(() => {
      nat.drain()
      const s0 = nat.stats()
      const h = c.markFlood('over:rare', ${THREADS}, ${PER_THREAD})
      const batches = []            // drained now, counted once the range is known
      let drains = 0
      const timer = setInterval(() => {
        batches.push(nat.drain()); drains++
        if (c.markFloodStatus(h).finished < ${THREADS}) return
        clearInterval(timer)
        const status = c.markFloodJoin(h)
        const s1 = nat.stats()
        const tally = new Tally({ first: s0.lastId, last: s1.lastId, site: 'over:rare' })
        for (const b of batches) tally.take(b)
        tally.drainAll(nat)
        const s2 = nat.stats()
        done({ status, drains, ids: s1.lastId - s0.lastId,
          recorded: s2.recorded - s0.recorded, dropped: s2.dropped - s0.dropped,
          drained: s2.drained - s0.drained, pending: s2.pending, tally: tally.summary() })
      }, 5)
    })
  `)
  const produced = THREADS * PER_THREAD * 2
  assert.equal(out.status.ids, produced)
  assert.equal(out.ids, produced)
  assert.equal(out.recorded + out.dropped, produced, 'recorded + dropped == produced')
  assert.ok(out.dropped > 0, 'the rings overflowed')
  const t = out.tally
  assert.equal(t.lost, out.dropped, 'the lost markers add up to the drops')
  assert.equal(t.once, out.recorded)
  assert.equal(t.twice, 0, 'no event drained twice')
  assert.equal(t.missing, t.lost, 'every event not drained is reported lost')
  assert.equal(out.drained, out.recorded)
  assert.equal(out.pending, 0)
  console.log(`${out.drains} drains: produced ${produced}, recorded ${out.recorded}, dropped ${out.dropped}, lost reported ${t.lost}`)
})

test('4 native threads x 250,000 queue tasks with 16-record rings: every task still runs once', () => {
  const TASKS = 250_000
  const out = child(`
    nat.enable({ capacity: nat.constants.MIN_CAPACITY })
    const q = c.createQueue('over:queue', null, { poolThreads: 0 })
    setImmediate(() => {
      nat.drain()
      const s0 = nat.stats()
      c.flood(q, 4, ${TASKS})
      const batches = []
      const timer = setInterval(() => {
        if (Math.random() < 0.1) batches.push(nat.drain())
        const st = c.floodStatus(q)
        if (st.dispatched < st.total) return
        clearInterval(timer)
        c.release(q)
        setImmediate(() => {
          const s1 = nat.stats()
          const tally = new Tally({ first: s0.lastId, last: s1.lastId, site: 'over:queue' })
          for (const b of batches) tally.take(b)
          tally.drainAll(nat)
          const s2 = nat.stats()
          done({ status: c.floodStatus(q), ids: s1.lastId - s0.lastId,
            recorded: s2.recorded - s0.recorded, dropped: s2.dropped - s0.dropped,
            drained: s2.drained - s0.drained, tally: tally.summary() })
        })
      }, 2)
    })
  `)
  const tasks = 4 * TASKS
  assert.deepEqual(out.status, { total: tasks, dispatched: tasks, once: tasks, missing: 0, twice: 0, errors: 0 },
    'dropping records never drops work')
  assert.equal(out.ids, 3 * tasks, 'link, ready and executionBegin IDs')
  const produced = 4 * tasks // link, ready, executionBegin, executionEnd
  assert.equal(out.recorded + out.dropped, produced, 'recorded + dropped == produced')
  assert.ok(out.dropped > 0)
  const t = out.tally
  assert.equal(t.lost, out.dropped, 'the lost markers add up to the drops')
  assert.equal(t.twice, 0)
  assert.equal(t.endsTwice, 0)
  assert.equal(t.records, out.recorded, 'every recorded event drained')
  assert.equal(t.other, 0)
  const ev = t.events
  assert.equal(ev.link + ev.ready + ev.executionBegin + ev.executionEnd + t.lost, produced,
    'every produced event drained once or reported lost')
  console.log(`${tasks} tasks: produced ${produced} events, recorded ${out.recorded}, dropped ${out.dropped}, lost reported ${t.lost}`)
})
