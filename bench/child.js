'use strict'
// One measurement in a fresh process (bench/run.js starts one per run and
// variant): prints one JSON line on stdout.
//
//   node bench/child.js queue raw|hooks|shared|task ITEMS
//   node bench/child.js seed raw|hooks|shared|raw4|shared4|hand|task|sharedoff|taskoff|rawrec|rawrec4|handtramp|hooksjs ITEMS
//   node bench/child.js work raw|tracked ITEMS
//   node bench/child.js drain - EVENTS
//   node bench/child.js graph - EVENTS
//
// Queue and work runs time the whole stream of ITEMS from the first link
// to the last callback; tracked variants record and drain while they run
// (every DRAIN_EVERY callbacks, from the callback, as an application that
// keeps its trace would), raw ones run the same callback with a no-op in
// place of the drain.
const path = require('node:path')
const root = path.join(__dirname, '..')
const nat = require(root)
const bench = require(path.join(__dirname, 'addon', 'build', 'Release', 'bench.node'))

const [kind, variant, countArg] = process.argv.slice(2)
const count = Number(countArg)
const DRAIN_EVERY = 16384 // a power of two
const CAPACITY = 1 << 18 // records per thread ring in tracked runs

function out (obj) {
  const ru = process.resourceUsage()
  obj.maxRssBytes = ru.maxRSS * 1024
  process.stdout.write(JSON.stringify(obj) + '\n')
}

function now () { return process.hrtime.bigint() }

let drained = 0
let lastCpuUs = 0 // CPU time of the process (all threads) in the last stream
function drainNow () { const b = nat.drain(); drained += b.length }
function noop () {}

// Runs `items` through fn(mode, items, arg, cb, done); resolves with ns.
function stream (fn, mode, items, arg, onItem) {
  return new Promise((resolve) => {
    let n = 0
    const cb = function () { if ((++n & (DRAIN_EVERY - 1)) === 0) onItem() }
    const t0 = now()
    const c0 = process.cpuUsage()
    fn(mode, items, arg, cb, () => {
      if (n !== items) throw new Error(`${n} callbacks for ${items} items`)
      const c = process.cpuUsage(c0)
      lastCpuUs = c.user + c.system
      resolve(Number(now() - t0))
    })
  })
}

async function queue () {
  let mode = variant
  if (variant === 'hooks') {
    // Today's only way to observe a threadsafe function's items: an empty
    // async_hooks hook (records nothing, just has hooks installed).
    require('node:async_hooks').createHook({
      init () {}, before () {}, after () {}, destroy () {}
    }).enable()
    mode = 'raw'
  }
  const tracked = mode === 'shared' || mode === 'task'
  if (tracked) nat.enable({ capacity: CAPACITY })
  const onItem = tracked ? drainNow : noop
  const WINDOW = 1024
  await stream(bench.queueRun, mode, 20000, WINDOW, onItem) // warm-up
  if (tracked) drainNow()
  drained = 0
  const ns = await stream(bench.queueRun, mode, count, WINDOW, () => onItem())
  let finalNs = 0
  if (tracked) {
    const t = now()
    drainNow() // what the run left in the rings counts too
    finalNs = Number(now() - t)
  }
  const s = nat.stats()
  out({
    kind, variant, items: count, ns: ns + finalNs,
    itemsPerSec: count / ((ns + finalNs) / 1e9),
    cpuNsPerItem: lastCpuUs * 1000 / count,
    eventsDrained: drained, dropped: s.dropped, ringBytes: s.ringBytes, rings: s.rings,
    capacity: s.capacity, recordSize: s.recordSize
  })
}

async function work () {
  const tracked = variant === 'tracked'
  if (tracked) nat.enable({ capacity: CAPACITY })
  const onItem = tracked ? drainNow : noop
  const PARALLEL = 16 // runs in flight (issue 13's figure)
  await stream(bench.workRun, variant, 5000, PARALLEL, onItem) // warm-up
  if (tracked) drainNow()
  drained = 0
  const ns = await stream(bench.workRun, variant, count, PARALLEL, () => onItem())
  let finalNs = 0
  if (tracked) {
    const t = now()
    drainNow()
    finalNs = Number(now() - t)
  }
  out({
    kind, variant, items: count, ns: ns + finalNs,
    itemsPerSec: count / ((ns + finalNs) / 1e9),
    cpuNsPerItem: lastCpuUs * 1000 / count,
    eventsDrained: drained, dropped: nat.stats().dropped
  })
}

// Issue 13: the seed pattern (bench.c seedRun). Variants:
//   raw, hooks (raw + an empty async_hooks hook), shared: one native
//   producer; raw4, shared4: four; hand (raw tsfn + per-item
//   napi_async_init/napi_make_callback by hand), task (tracked, a context
//   per task): items linked from JS inside als.run, one producer readies.
//   sharedoff, taskoff: shared and task with recording off (what the
//   queue itself costs, apart from the records and drains).
// Tracked variants record and drain every DRAIN_EVERY callbacks.
async function seed () {
  const { AsyncLocalStorage, createHook } = require('node:async_hooks')
  if (variant === 'hooks' || variant === 'hooksjs') createHook({ init () {}, before () {}, after () {}, destroy () {} }).enable()
  const mode = {
    raw: 'raw', hooks: 'raw', shared: 'shared', raw4: 'raw', shared4: 'shared', hand: 'hand', task: 'task',
    sharedoff: 'shared', taskoff: 'task', // the queue alone, recording off
    rawrec: 'rawrec', // the floor: raw tsfn + the four records per item
    rawrec4: 'rawrec', // the same with four producers
    handtramp: 'handtramp', // hand, with call_js's C run inside the context
    // The JS-linked workload (als.run + a link per item) on a raw tsfn with
    // an empty async_hooks hook: what async_hooks alone gives for it (one
    // context per tsfn, so the store is not carried and not checked).
    hooksjs: 'rawjs'
  }[variant]
  if (!mode) throw new Error(`unknown seed variant ${variant}`)
  const producers = variant.endsWith('4') ? 4 : 1
  const tracked = (mode === 'shared' || mode === 'task' || mode === 'rawrec') && !variant.endsWith('off')
  const jsLinked = mode === 'hand' || mode === 'task' || mode === 'handtramp' || mode === 'rawjs'
  const carries = mode !== 'rawjs' // does the callback see the linker's store
  if (tracked) nat.enable({ capacity: CAPACITY })
  const als = new AsyncLocalStorage()
  const stores = Array.from({ length: 64 }, (_, i) => ({ i }))
  const WINDOW = 1024
  function once (items) {
    return new Promise((resolve) => {
      let n = 0
      let linked = 0
      let wrong = 0
      let h = null
      const link = () => bench.seedLink(h)
      const cb = jsLinked
        ? function (i) {
          if (carries && als.getStore() !== stores[i & 63]) wrong++
          if ((++n & (DRAIN_EVERY - 1)) === 0 && tracked) drainNow()
          if (linked < items) { als.run(stores[linked & 63], link); linked++ }
        }
        : function (i) { if ((++n & (DRAIN_EVERY - 1)) === 0 && tracked) drainNow() }
      const t0 = now()
      const c0 = process.cpuUsage()
      h = bench.seedRun(mode, items, producers, cb, (jsCpuNs, producerCpuNs) => {
        const ns = Number(now() - t0)
        const c = process.cpuUsage(c0)
        if (n !== items) throw new Error(`${n} callbacks for ${items} items`)
        if (wrong !== 0) throw new Error(`${wrong} callbacks saw another AsyncLocalStorage store`)
        setImmediate(() => resolve({ ns, jsCpuNs, producerCpuNs, processCpuNs: (c.user + c.system) * 1000 }))
      })
      if (jsLinked) for (; linked < Math.min(WINDOW, items); linked++) als.run(stores[linked & 63], link)
    })
  }
  await once(20000) // warm-up
  if (tracked) drainNow()
  drained = 0
  const r = await once(count)
  let finalNs = 0
  if (tracked) {
    const t = now()
    drainNow()
    finalNs = Number(now() - t)
  }
  out({
    kind, variant, items: count, ns: r.ns + finalNs,
    itemsPerSec: count / ((r.ns + finalNs) / 1e9),
    jsCpuNsPerItem: r.jsCpuNs / count,
    producerCpuNsPerItem: r.producerCpuNs / count,
    cpuNsPerItem: r.processCpuNs / count,
    eventsDrained: drained, dropped: nat.stats().dropped
  })
}

// count events made with the manual marks (4 per item) on this thread.
function makeEvents (events) {
  bench.chain(Math.ceil(events / 4))
}

function drainDecode () {
  // One ring big enough for the whole batch, so nothing is dropped.
  let cap = 16
  while (cap < count + 16) cap *= 2
  nat.enable({ capacity: cap })
  const runs = 5
  const drainNs = []
  const decodeNs = []
  let n = 0
  for (let r = 0; r < runs; r++) {
    makeEvents(count)
    let t = now()
    const batch = nat.drain()
    drainNs.push(Number(now() - t))
    n = batch.length
    // Iterated as objects, every field read.
    t = now()
    let sum = 0
    for (const e of batch) sum += e.executeID + e.linkID + e.readyID + e.thread + (e.site === null ? 0 : 1)
    decodeNs.push(Number(now() - t))
    if (sum < 0) throw new Error('unreachable')
  }
  drainNs.sort((a, b) => a - b)
  decodeNs.sort((a, b) => a - b)
  const dn = drainNs[runs >> 1]
  const de = decodeNs[runs >> 1]
  out({
    kind, events: n, drainNs: dn, decodeNs: de,
    drainedPerSec: n / (dn / 1e9), decodedPerSec: n / (de / 1e9)
  })
}

function graph () {
  if (typeof nat.graph !== 'function') {
    out({ kind, available: false })
    return
  }
  nat.enable({ capacity: 1 << 21 })
  makeEvents(count)
  const batch = nat.drain()
  if (global.gc) global.gc()
  const heap0 = process.memoryUsage().heapUsed
  const rss0 = process.memoryUsage().rss
  const t = now()
  const g = nat.graph(batch)
  const ns = Number(now() - t)
  const heap1 = process.memoryUsage().heapUsed
  if (global.gc) global.gc()
  const heapKept = process.memoryUsage().heapUsed - heap0
  out({
    kind, available: true, events: batch.length, ns, heapGrowthBytes: heap1 - heap0,
    heapRetainedBytes: heapKept, rssBeforeBytes: rss0, graphType: g && g.constructor && g.constructor.name
  })
}

const run = { queue, seed, work, drain: drainDecode, graph }[kind]
if (!run) throw new Error(`unknown kind ${kind}`)
Promise.resolve(run()).catch((err) => {
  process.stderr.write(String(err && err.stack) + '\n')
  process.exit(1)
})
