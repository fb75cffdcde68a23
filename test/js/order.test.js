'use strict'
// What the drained stream promises across threads is per-thread order and
// causality through IDs, not that events of different threads interleave
// in causal order (stamps of two CPUs agree only to within the counter
// read's reordering window; nat_core.h, nat__drain). The graph must give
// the same answers whatever the cross-thread interleaving.
const test = require('node:test')
const assert = require('node:assert/strict')
const { root, loadConsumer, nativeChain } = require('./helpers')

const nat = require(root)
const c = loadConsumer()

test.afterEach(() => {
  nat.disable()
  nat.drain()
})

// The events of each thread kept in their order, the threads' runs laid
// end to end, the thread seen last first: every cross-thread cause then
// comes after its effect.
function threadsReversed (events) {
  const byThread = new Map()
  for (const e of events) {
    if (!byThread.has(e.thread)) byThread.set(e.thread, [])
    byThread.get(e.thread).push(e)
  }
  return [...byThread.values()].reverse().flat()
}

test('the graph answers the same when threads interleave in any order', async () => {
  nat.enable()
  nat.drain()
  const { last, frame } = await nativeChain(c, 4, 'order')
  const events = [...nat.drain()].map((e) => ({ ...e }))
  const threads = new Set(events.map((e) => e.thread))
  assert.ok(threads.size >= 2, 'the chain crossed threads')
  const shuffled = threadsReversed(events)
  // The reordering really moved effects before their causes: some ready
  // now comes before the link it makes ready.
  const at = (pred) => shuffled.findIndex(pred)
  const moved = shuffled.filter((e) => e.event === 'ready' &&
    at((x) => x === e) < at((x) => x.event === 'link' && x.linkID === e.linkID))
  assert.ok(moved.length > 0)
  const inOrder = nat.graph(events)
  const reordered = nat.graph(shuffled)
  assert.deepEqual(reordered.stackSites(last), inOrder.stackSites(last))
  assert.deepEqual(reordered.stackSites(last), ['order:4', 'order:3', 'order:2', 'order:1', 'order:start', 'root'])
  assert.deepEqual(reordered.stack(last).map((s) => [s.kind, s.id]), inOrder.stack(last).map((s) => [s.kind, s.id]))
  assert.deepEqual(reordered.children(frame), inOrder.children(frame))
  assert.deepEqual(reordered.pending().map((p) => p.id), inOrder.pending().map((p) => p.id))
  assert.deepEqual(reordered.problems, [])
  assert.deepEqual(inOrder.problems, [])
})
