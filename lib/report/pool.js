'use strict'
// The thread-pool view's arithmetic, as pure functions: lib/report.js runs
// poolAnalysis over the whole graph at render time (so its figures cover
// every frame even when the page embeds only some), the page samples the
// series for its charts with sampleSeries. Unit-tested in Node.
//
// A pool item is one piece of work that ran on a pool thread (DESIGN.md
// section 2, async work): linked on the JS thread, made ready and run as a
// "pool frame" on a libuv pool thread, whose completion is then linked and
// made ready inside the pool frame and run as a frame on the JS thread.
// Its three waits: queue wait (link -> the pool frame's begin: waiting for a
// free pool thread), pool run (the pool frame), loop wait (the completion's
// ready -> its frame's begin: waiting for the event loop).

/**
 * Is frame f a pool frame? f, its ready r and r's link l are objects with
 * thread and env (as AsyncGraph#node gives them). The work was made ready
 * and began on the same thread, and that is not the thread that asked for
 * it. A threadsafe-function callback (made ready on a native thread, run
 * on the JS thread) and a JS continuation (all on one thread) are not.
 */
function isPoolFrame (f, r, l) {
  return r !== null && l !== null && r.thread === f.thread && r.env === f.env &&
    (l.thread !== f.thread || l.env !== f.env)
}

function quantiles (values) {
  const n = values.length
  if (n === 0) return { count: 0, p50: null, p99: null, max: null, total: 0 }
  const v = Float64Array.from(values).sort()
  let total = 0
  for (let i = 0; i < n; i++) total += v[i]
  const rank = (p) => v[Math.max(0, Math.ceil(p * n) - 1)]
  return { count: n, p50: rank(0.5), p99: rank(0.99), max: v[n - 1], total }
}

// A step function from +1/-1 changes: { t, v } with v[k] the value from
// t[k] until t[k + 1] (the last one holds until the end). Changes at the
// same time are merged; the series starts at 0 before t[0].
function stepSeries (changes) {
  changes.sort((a, b) => a[0] - b[0] || a[1] - b[1]) // at one instant, ends before starts
  const t = []
  const v = []
  let level = 0
  for (let k = 0; k < changes.length; k++) {
    level += changes[k][1]
    if (k + 1 < changes.length && changes[k + 1][0] === changes[k][0]) continue
    if (v.length > 0 && v[v.length - 1] === level) continue
    t.push(changes[k][0])
    v.push(level)
  }
  return { t, v }
}

/**
 * items: [{ site, env, thread, link, begin, end, loopReady, loopBegin }],
 * one per pool frame, times in ns (end, loopReady, loopBegin null when
 * unknown; end null: still running at `last`); queued: [{ site, link }] for
 * pool-site links never made ready (still in the queue at the end).
 * Returns { size, threads, sites, busy, queue, saturated, peakBusy,
 * peakQueue, verdict }.
 */
function poolAnalysis (items, queued, first, last) {
  const threads = new Map()
  const per = new Map()
  const busy = []
  const queue = []
  for (const it of items) {
    const key = `${it.env}:${it.thread}`
    if (!threads.has(key)) threads.set(key, { env: it.env, thread: it.thread, frames: 0, runTime: 0 })
    const th = threads.get(key)
    th.frames++
    let acc = per.get(it.site)
    if (acc === undefined) per.set(it.site, (acc = { site: it.site, items: 0, queue: [], run: [], loop: [] }))
    acc.items++
    const end = it.end === null ? last : it.end
    if (it.link !== null && it.begin !== null) {
      acc.queue.push(it.begin - it.link)
      queue.push([it.link, +1], [it.begin, -1])
    }
    if (it.begin !== null) {
      if (it.end !== null) acc.run.push(it.end - it.begin)
      th.runTime += end - it.begin
      busy.push([it.begin, +1], [end, -1])
    }
    if (it.loopReady !== null && it.loopBegin !== null) acc.loop.push(it.loopBegin - it.loopReady)
  }
  for (const q of queued) {
    if (q.link === null) continue
    queue.push([q.link, +1])
    let acc = per.get(q.site)
    if (acc === undefined) per.set(q.site, (acc = { site: q.site, items: 0, queue: [], run: [], loop: [] }))
    acc.stuck = (acc.stuck || 0) + 1
  }
  const size = threads.size
  const busySeries = stepSeries(busy)
  const queueSeries = stepSeries(queue)
  const sites = [...per.values()].map((a) => ({
    site: a.site, items: a.items, stuck: a.stuck || 0, queueWait: quantiles(a.queue), run: quantiles(a.run), loopWait: quantiles(a.loop)
  })).sort((a, b) => b.run.total - a.run.total)
  const saturated = size === 0 ? 0 : timeWhere(busySeries, queueSeries, size, first, last)
  const result = {
    size,
    threads: [...threads.values()].sort((a, b) => a.env - b.env || a.thread - b.thread),
    sites,
    busy: busySeries,
    queue: queueSeries,
    saturated,
    peakBusy: busySeries.v.reduce((m, x) => Math.max(m, x), 0),
    peakQueue: queueSeries.v.reduce((m, x) => Math.max(m, x), 0),
    stuck: queued.length
  }
  result.verdict = verdict(result)
  return result
}

// The fraction of [first, last] in which every pool thread was busy while
// work waited in the queue.
function timeWhere (busy, queue, size, first, last) {
  const span = last - first
  if (!(span > 0)) return 0
  const cuts = [...new Set([first, last, ...busy.t, ...queue.t])].filter((t) => t >= first && t <= last).sort((a, b) => a - b)
  let total = 0
  for (let k = 0; k + 1 < cuts.length; k++) {
    if (valueAt(busy, cuts[k]) >= size && valueAt(queue, cuts[k]) > 0) total += cuts[k + 1] - cuts[k]
  }
  return total / span
}

/** The value of step series s at time t (0 before its first change). */
function valueAt (s, t) {
  let lo = 0
  let hi = s.t.length
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    if (s.t[mid] <= t) lo = mid + 1
    else hi = mid
  }
  return lo === 0 ? 0 : s.v[lo - 1]
}

function fmt (ns) { return ns === null ? '?' : `${(ns / 1e6).toFixed(ns >= 1e8 ? 0 : ns >= 1e6 ? 1 : 3)} ms` }

/**
 * The answer to "is my UV_THREADPOOL_SIZE too small?" from the analysis:
 * { level: 'none' | 'ok' | 'busy' | 'small', text }.
 */
const LIBUV_DEFAULT_POOL = 4

function verdict (a) {
  if (a.size === 0) {
    return { level: 'none', text: 'No work ran on pool threads in this trace. Pool frames come from async work traced with the engine (zero-code tracing: require(\'napi-async-trace/register\') or the record command).' }
  }
  let q = 0
  let r = 0
  let l = 0
  let qn = 0
  for (const s of a.sites) {
    q += s.queueWait.total
    r += s.run.total
    l += s.loopWait.total
    qn += s.queueWait.count
  }
  const meanQ = qn ? q / qn : 0
  const meanR = a.sites.reduce((n, s) => n + s.run.count, 0) ? r / a.sites.reduce((n, s) => n + s.run.count, 0) : 0
  const pct = Math.round(a.saturated * 100)
  // The trace shows the threads that ran traced work, not the configured
  // size: the pool has at least those, and at least libuv's default of 4
  // (its other threads may have been busy with untraced work: fs, dns,
  // crypto). A suggestion is always above that lower bound.
  const atLeast = Math.max(a.size, LIBUV_DEFAULT_POOL)
  const threads = `${a.size} pool thread${a.size === 1 ? '' : 's'} that ran traced work`
  if (a.saturated >= 0.1 && meanQ >= 0.25 * meanR) {
    return {
      level: 'small',
      text: `Probably too small: all ${threads} were busy while work waited in the queue for ${pct}% of the trace; ` +
        `work waited ${fmt(meanQ)} on average for a thread against ${fmt(meanR)} of run. ` +
        `The pool has at least ${atLeast} threads (libuv's default is ${LIBUV_DEFAULT_POOL}): ` +
        `try UV_THREADPOOL_SIZE=${Math.min(1024, atLeast * 2)} (set before the pool's first use).`
    }
  }
  const loopHeavy = l > q && l > 0.5 * r
  if (a.saturated > 0) {
    return {
      level: 'busy',
      text: `At times full: all ${threads} were busy with work queued for ${pct}% of the trace; mean queue wait ${fmt(meanQ)}, mean run ${fmt(meanR)}.` +
        (loopHeavy ? ' Completions waited longer for the event loop than for the pool: the loop is the tighter spot.' : '')
    }
  }
  return {
    level: 'ok',
    text: `Not the bottleneck: at most ${a.peakBusy} of ${threads} were busy at once and work never waited for a thread while all were busy.` +
      (loopHeavy ? ' Completions waited mostly for the event loop.' : '')
  }
}

/**
 * Work finished on other threads without a pool frame: the engine's tracked
 * async work today (ready when execute returns on the pool thread) and
 * native threads handing results to a tracked queue (examples/hash). When
 * execute began is not recorded, so there is no utilisation; what is known
 * is the time from link to ready (queued and ran, together) and from ready
 * to the callback (loop wait). items: [{ site, env, thread (the thread that
 * made it ready), link, ready, begin }] (ns, null when unknown). Returns per
 * site { site, items, threads, work, loopWait }, most items first.
 */
function offThreadAnalysis (items) {
  const per = new Map()
  for (const it of items) {
    let acc = per.get(it.site)
    if (acc === undefined) per.set(it.site, (acc = { site: it.site, items: 0, threads: new Set(), work: [], loop: [] }))
    acc.items++
    acc.threads.add(`${it.env}:${it.thread}`)
    if (it.link !== null && it.ready !== null) acc.work.push(it.ready - it.link)
    if (it.ready !== null && it.begin !== null) acc.loop.push(it.begin - it.ready)
  }
  return [...per.values()].map((a) => ({ site: a.site, items: a.items, threads: a.threads.size, work: quantiles(a.work), loopWait: quantiles(a.loop) }))
    .sort((a, b) => b.items - a.items)
}

/**
 * Step series s sampled into `n` pixel columns over [v0, v1]: the maximum
 * and the time-weighted mean in each column. { max, mean } Float64Arrays.
 */
function sampleSeries (s, v0, v1, n) {
  const max = new Float64Array(n)
  const mean = new Float64Array(n)
  const dt = (v1 - v0) / n
  let lo = 0
  let hi = s.t.length
  while (lo < hi) { // the last change at or before v0
    const mid = (lo + hi) >>> 1
    if (s.t[mid] <= v0) lo = mid + 1
    else hi = mid
  }
  let k = lo // next change
  let level = lo === 0 ? 0 : s.v[lo - 1]
  for (let c = 0; c < n; c++) {
    const a = v0 + c * dt
    const b = a + dt
    let m = level
    let area = 0
    let t = a
    while (k < s.t.length && s.t[k] < b) {
      area += level * (s.t[k] - t)
      t = Math.max(t, s.t[k])
      level = s.v[k]
      if (level > m) m = level
      k++
    }
    area += level * (b - t)
    max[c] = m
    mean[c] = dt > 0 ? area / dt : level
  }
  return { max, mean }
}

module.exports = { isPoolFrame, poolAnalysis, offThreadAnalysis, stepSeries, valueAt, sampleSeries, verdict, quantiles }
