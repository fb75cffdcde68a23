'use strict'
// `npm start`: a traced workload on the example hashing addon.
//
// Six "requests", each under its own AsyncLocalStorage store, wait on a
// timer, hash a buffer on the addon's native worker threads, then hash the
// digest again from the first callback. The engine records every hop (the
// JS bridge adds the timers and promises); the demo says what the events
// mean, prints the events of one request's chain with a plain-words note
// each, its async call stack, the per-site latency table and what is
// pending, and writes trace.nat and report.html from the same graph.
const fs = require('node:fs')
const path = require('node:path')
const { AsyncLocalStorage } = require('node:async_hooks')

const nat = require('napi-async-trace')
const hash = require('./hash')

const REQUESTS = 6
const outDir = process.env.NAT_DEMO_OUT || process.cwd()

function ms (ns) { return Number.isFinite(ns) ? (ns / 1e6).toFixed(3) : '-' }
function pad (s, n) { s = String(s); return s.length >= n ? s : s + ' '.repeat(n - s.length) }
function lpad (s, n) { s = String(s); return s.length >= n ? s : ' '.repeat(n - s.length) + s }

// The traced workload; resolves to what report() prints.
function workload () {
  hash.build() // the addon, with node-gyp, when missing or older than its source
  const hasher = hash.createHasher({ threads: 2, name: 'hash:sha256' })
  const als = new AsyncLocalStorage()
  const seen = [] // [requestId, the store each callback saw]
  let watched = 0 // the frame of request 3's second callback

  nat.enable({ stacks: true, js: true })

  const request = (id) => als.run({ requestId: id }, () => new Promise((resolve, reject) => {
    setTimeout(() => {
      hasher.hash(Buffer.alloc(64 * 1024, `request ${id} `), (err, first) => {
        if (err) return reject(err)
        seen.push([id, als.getStore().requestId])
        hasher.hashAsync(Buffer.from(first, 'hex')).then((second) => {
          seen.push([id, als.getStore().requestId])
          if (id === 3) watched = nat.marks.current()
          resolve(second)
        }, reject)
      })
    }, 2 * id)
  }))

  return Promise.all(Array.from({ length: REQUESTS }, (_, i) => request(i + 1)))
    .then((digests) => {
      hasher.close()
      return { digests, seen, watched: () => watched }
    })
}

// Runs as the one continuation of the workload's promise. Recording stops
// here, and the events are taken on the next turn: by then this callback
// has returned and its executionEnd is recorded (a frame begun while
// recording always gets its end), so nothing of the demo's own is left
// open and the console and the report see the same graph.
function report (result) {
  const watched = result.watched()
  nat.disable()
  setImmediate(() => finish(result, watched))
}

// Plain words for the sites of the shown chain (the JS bridge names JS
// resources js:<async_hooks type>; the addon names its queue hash:sha256).
const SITES = {
  'js:Timeout': { work: 'a timer (setTimeout)', done: 'the timer is due', callback: 'timer callback' },
  'hash:sha256': { work: 'a hash on the addon\'s native threads', done: 'the hash is done', callback: 'hash callback' },
  'js:PROMISE': { work: 'a promise continuation (.then)', done: 'the promise is resolved', callback: '.then callback' }
}

// Plain words for one event of the shown chain.
function explain (e, jsThread) {
  const s = SITES[e.site] || { work: `${e.site} work`, done: `${e.site} is done`, callback: `${e.site} callback` }
  const where = e.thread === jsThread ? 'on the JS thread' : `on native thread ${e.thread}`
  switch (e.event) {
    case 'link':
      return `${e.executeID === 0 ? 'the program' : `frame ${e.executeID}`} asks for ${s.work}`
    case 'ready':
      return e.executeID === 0 ? `${s.done} (${where})` : `${s.done} by frame ${e.executeID}`
    case 'executionBegin':
      return `the ${s.callback} starts ${where} (frame ${e.executeID})`
    case 'executionEnd':
      return `frame ${e.executeID} returns`
    default:
      return e.event
  }
}

function finish ({ digests, seen }, watched) {
  const batch = nat.drain()
  const g = nat.graph(batch)
  const jsThread = batch.length ? batch.get(0).thread : 1

  console.log(`napi-async-trace demo: ${REQUESTS} requests, each under its own AsyncLocalStorage store, wait on a
timer, hash 64 KiB on the example addon's native threads (examples/hash), then
hash the digest again. The engine recorded ${batch.length} events of four kinds; IDs come from one
counter, and 0 means "outside any callback":
  link            work was asked for, in frame executeID
  ready           that work is done, its callback may run
  executionBegin  a callback frame starts (executeID), because of readyID
  executionEnd    the frame returns`)

  // The events of one chain, request 3's: the frames, readies and links on
  // the async call stack of its last callback, in the order they happened.
  const want = { frame: new Set(), ready: new Set(), link: new Set() }
  for (const step of g.stack(watched)) if (want[step.kind]) want[step.kind].add(step.id)
  const shown = []
  for (const e of batch) {
    if ((e.event === 'link' && want.link.has(e.linkID)) || (e.event === 'ready' && want.ready.has(e.readyID)) ||
        ((e.event === 'executionBegin' || e.event === 'executionEnd') && want.frame.has(e.executeID))) shown.push(e)
  }
  console.log(`\n== request 3, event by event (${shown.length} of the ${batch.length}; trace.nat has them all) ==`)
  const width = Math.max(...shown.map((e) => seedLine(e).length))
  for (const e of shown) {
    const line = seedLine(e)
    console.log(`${pad(line, width)}  ${explain(e, jsThread)}`)
  }

  const ok = seen.every(([want, got]) => want === got)
  console.log(`\n== AsyncLocalStorage: ${seen.length} callbacks, ${ok ? 'each saw its own request\'s store' : 'SOME SAW ANOTHER STORE'} ==`)
  console.log('(Node alone hands native callbacks the store of whoever created the queue, or none.)')
  console.log(`digests: ${digests.map((d) => d.slice(0, 12)).join(' ')}`)

  console.log(`\n== the async call stack of request 3's last callback (frame ${watched}) ==`)
  console.log('Innermost first. Each frame shows what made it ready (<- ready) and where it was')
  console.log('asked for (<- link, with the JS stack of that moment), down to the root.')
  console.log(g.formatStack(watched))

  console.log('\n== per site, in ms: callbacks run, queue wait (asked for -> done), dispatch wait (done -> running), run time ==')
  console.log(`${pad('site', 18)}${lpad('frames', 7)}${lpad('queue p50', 11)}${lpad('p99', 9)}${lpad('dispatch p50', 14)}${lpad('p99', 9)}${lpad('run p50', 10)}${lpad('p99', 9)}`)
  for (const s of g.sites()) {
    console.log(`${pad(s.site, 18)}${lpad(s.frames, 7)}${lpad(ms(s.queueWait.p50), 11)}${lpad(ms(s.queueWait.p99), 9)}` +
      `${lpad(ms(s.dispatchWait.p50), 14)}${lpad(ms(s.dispatchWait.p99), 9)}${lpad(ms(s.run.p50), 10)}${lpad(ms(s.run.p99), 9)}`)
  }
  const pending = g.pending()
  console.log(`\npending: ${pending.length}`)
  console.log('(work asked for and not finished when the events were taken; the report counts the same)')
  if (pending.length) console.log(nat.formatPending(pending))

  // The public writer: the same stream trace `napi-async-trace record`
  // writes, with this process's link stacks, for the CLI to read back.
  const tracePath = path.join(outDir, 'trace.nat')
  nat.writeTrace(tracePath, batch)
  const reportPath = path.join(outDir, 'report.html')
  fs.writeFileSync(reportPath, nat.renderReport(g, { title: 'napi-async-trace demo', generated: new Date().toISOString() }))
  const shownPath = (p) => path.relative(process.cwd(), p) || p
  console.log(`\nwrote ${shownPath(tracePath)} (every event, for the CLI) and ${shownPath(reportPath)} (open it in a browser)`)
  console.log('next:')
  console.log(`  npx napi-async-trace stacks ${shownPath(tracePath)}                       async stacks of the slowest frames`)
  console.log(`  npx napi-async-trace report ${shownPath(tracePath)} -o report.html        the same report, from the trace file`)
  console.log(`  npx napi-async-trace chrome ${shownPath(tracePath)} -o trace-chrome.json  then open it in https://ui.perfetto.dev`)
  if (!ok) process.exitCode = 1
}

// One event as String(nat.drain()) prints it (DESIGN.md's seed format).
function seedLine (e) {
  const f = { event: e.event, executeID: e.executeID }
  if (e.event === 'link' || e.event === 'ready') f.linkID = e.linkID
  if (e.event === 'ready' || (e.event === 'executionBegin' && e.readyID)) f.readyID = e.readyID
  return `{ ${Object.entries(f).map(([k, v]) => `"${k}": ${JSON.stringify(v)}`).join(', ')} }`
}

workload().then(report, (err) => {
  console.error(err)
  process.exitCode = 1
})
