'use strict'
// Frames whose end comes after disable(): every ID handed out gets its
// event (or is counted as dropped), so a frame that was begun while
// recording gets its executionEnd even when recording stops inside it.
const test = require('node:test')
const assert = require('node:assert/strict')
const { root, loadConsumer, until } = require('./helpers')

const nat = require(root)
const c = loadConsumer()

test.afterEach(() => {
  nat.disable()
  nat.drain()
})

const setImmediateP = () => new Promise((resolve) => setImmediate(resolve))

// The executeIDs of frames begun in `events` that have no executionEnd.
function unended (events) {
  const open = new Map()
  for (const e of events) {
    if (e.event === 'executionBegin') open.set(e.executeID, e.site)
    else if (e.event === 'executionEnd') open.delete(e.executeID)
  }
  return [...open].map(([id, site]) => `${site || '(root)'} ${id}`)
}

test('nat.disable() inside a queue callback: the callback frame still ends', async () => {
  nat.enable()
  nat.drain()
  let frame = 0
  const q = c.createQueue('frames:disable-inside', () => {
    frame = nat.marks.current()
    nat.disable()
  }, { poolThreads: 1 })
  c.submit(q, 1, 0)
  await until(() => frame !== 0, 'the callback')
  c.release(q)
  await until(() => c.queueStats(q).finalized === 1, 'finalize')
  const events = [...nat.drain()]
  assert.ok(events.some((e) => e.event === 'executionBegin' && e.executeID === frame),
    'the callback frame was recorded')
  assert.deepEqual(unended(events), [])
})

test('nat.marks: a frame begun while recording, ended after disable(), gets its end', () => {
  nat.enable()
  nat.drain()
  const site = nat.marks.site('frames:marks')
  const outer = nat.marks.begin(site, 0)
  const inner = nat.marks.begin(site, 0)
  nat.disable()
  nat.marks.end(inner)
  nat.marks.end(outer)
  const ends = [...nat.drain()].filter((e) => e.event === 'executionEnd').map((e) => e.executeID)
  assert.deepEqual(ends.filter((id) => id === inner || id === outer), [inner, outer])
  // A frame begun after disable() has no ID and records nothing.
  const off = nat.marks.begin(site, 0)
  nat.marks.end(off)
  assert.equal(off, 0)
  assert.equal(nat.drain().length, 0)
})

test('track(fn, { js: true }) leaves no js:PROMISE frame unended', async () => {
  for (let round = 0; round < 3; round++) {
    const r = await nat.track(async () => {
      await null
      return round
    }, { js: true })
    assert.equal(r.result, round)
    // The frame of the continuation that resumed track() after `await`
    // ends after track() switched recording off: a later drain has it.
    await setImmediateP()
    r.graph.add(nat.drain())
    const open = r.graph.pending().filter((p) => p.kind === 'frame').map((p) => `${p.site} ${p.id}`)
    assert.deepEqual(open, [], `round ${round}`)
  }
})
