'use strict'
// A synthetic trace in the shape DESIGN.md gives async work on the libuv
// pool (used by the report's tests and bench/report-browser.js): requests
// arrive on the JS thread; each request's frame links some queries; a pool
// of `poolSize` threads runs them in order (a pool frame each, ready and
// begin on the pool thread); each pool frame links and readies its
// completion, which the JS thread runs when it is free. A discrete-event
// simulation, so every time and ID is consistent: a link precedes its
// ready, a ready its frame, and the JS thread runs one frame at a time.
//
// Deterministic (seeded). Returns { events, frames } with frames the count
// of executionBegin events.

const JS_THREAD = 1

// A binary heap of [time, seq, task] by time then seq.
class Heap {
  constructor () { this.a = [] }
  get size () { return this.a.length }
  push (x) {
    const a = this.a
    a.push(x)
    let i = a.length - 1
    while (i > 0) {
      const p = (i - 1) >> 1
      if (less(a[p], a[i])) break
      ;[a[p], a[i]] = [a[i], a[p]]
      i = p
    }
  }

  pop () {
    const a = this.a
    const top = a[0]
    const last = a.pop()
    if (a.length > 0) {
      a[0] = last
      let i = 0
      for (;;) {
        const l = 2 * i + 1
        const r = l + 1
        let m = i
        if (l < a.length && less(a[l], a[m])) m = l
        if (r < a.length && less(a[r], a[m])) m = r
        if (m === i) break
        ;[a[m], a[i]] = [a[i], a[m]]
        i = m
      }
    }
    return top
  }
}
function less (x, y) { return x[0] < y[0] || (x[0] === y[0] && x[1] < y[1]) }

const SITES = [
  { name: 'mydb:query', run: 900_000, spread: 1_400_000 },
  { name: 'fs:read', run: 150_000, spread: 200_000 },
  { name: 'crypto:pbkdf2', run: 2_500_000, spread: 1_000_000 }
]

/**
 * options: requests (count), perRequest (pool works per request, default 3),
 * poolSize (default 4), interval (ns between arrivals, default 1.25 ms),
 * leaks (every leaks-th request also links a 'cache:get' that is never made
 * ready; 0: none), seed.
 */
function syntheticPoolTrace ({ requests, perRequest = 3, poolSize = 4, interval = 1_250_000, leaks = 0, seed = 1 } = {}) {
  let s = seed >>> 0 || 1
  const rand = () => { s = (Math.imul(s, 1103515245) + 12345) >>> 0; return s / 4294967296 }
  const events = []
  let id = 0
  let seq = 0
  let frames = 0
  const t0 = 1_000_000_000
  const main = new Heap() // JS-thread tasks by the time they are ready
  const poolFree = new Array(poolSize).fill(t0)
  let jsFree = t0

  for (let r = 0; r < requests; r++) main.push([t0 + r * interval + Math.floor(rand() * interval), seq++, { kind: 'request', r }])

  // Queue one pool work linked at `ts` in frame `frame`: FIFO onto the
  // thread that frees first.
  const queueWork = (frame, ts, site) => {
    const linkID = ++id
    events.push({ event: 'link', executeID: frame, linkID, ts, site: site.name, thread: JS_THREAD, env: 0 })
    let k = 0
    for (let j = 1; j < poolSize; j++) if (poolFree[j] < poolFree[k]) k = j
    const begin = Math.max(ts + 2_000, poolFree[k])
    const readyID = ++id
    const exec = ++id
    const thread = 2 + k
    events.push({ event: 'ready', executeID: 0, linkID, readyID, ts: begin - 500, site: site.name, thread, env: 0 })
    events.push({ event: 'executionBegin', executeID: exec, readyID, ts: begin, site: site.name, thread, env: 0 })
    frames++
    const end = begin + site.run + Math.floor(rand() * site.spread)
    const doneLink = ++id
    const doneReady = ++id
    events.push({ event: 'link', executeID: exec, linkID: doneLink, ts: end - 300, site: site.name, thread, env: 0 })
    events.push({ event: 'ready', executeID: exec, linkID: doneLink, readyID: doneReady, ts: end - 200, site: site.name, thread, env: 0 })
    events.push({ event: 'executionEnd', executeID: exec, ts: end, site: site.name, thread, env: 0 })
    poolFree[k] = end
    main.push([end - 200, seq++, { kind: 'complete', readyID: doneReady, site }])
  }

  while (main.size > 0) {
    const [ready, , task] = main.pop()
    const begin = Math.max(ready + 1_000, jsFree)
    if (task.kind === 'request') {
      // The request's frame: made ready by the loop (an incoming socket).
      const linkID = ++id
      const readyID = ++id
      const exec = ++id
      events.push({ event: 'link', executeID: 0, linkID, ts: ready - 5_000, site: 'http:request', thread: JS_THREAD, env: 0 })
      events.push({ event: 'ready', executeID: 0, linkID, readyID, ts: ready, site: 'http:request', thread: JS_THREAD, env: 0 })
      events.push({ event: 'executionBegin', executeID: exec, readyID, ts: begin, site: 'http:request', thread: JS_THREAD, env: 0 })
      frames++
      let ts = begin + 20_000
      for (let k = 0; k < perRequest; k++) {
        queueWork(exec, ts, SITES[Math.floor(rand() * SITES.length)])
        ts += 5_000
      }
      if (leaks > 0 && task.r % leaks === 0) {
        events.push({ event: 'link', executeID: exec, linkID: ++id, ts: ts, site: 'cache:get', thread: JS_THREAD, env: 0 })
        ts += 5_000
      }
      events.push({ event: 'executionEnd', executeID: exec, ts: ts + 10_000, thread: JS_THREAD, env: 0 })
      jsFree = ts + 10_000
    } else {
      const exec = ++id
      events.push({ event: 'executionBegin', executeID: exec, readyID: task.readyID, ts: begin, site: task.site.name, thread: JS_THREAD, env: 0 })
      frames++
      const end = begin + 15_000 + Math.floor(rand() * 30_000)
      events.push({ event: 'executionEnd', executeID: exec, ts: end, thread: JS_THREAD, env: 0 })
      jsFree = end
    }
  }
  return { events, frames }
}

/** Requests needed for about `frames` frames. */
function requestsFor (frames, perRequest = 3) {
  return Math.max(1, Math.round(frames / (1 + 2 * perRequest)))
}

module.exports = { syntheticPoolTrace, requestsFor, JS_THREAD }
