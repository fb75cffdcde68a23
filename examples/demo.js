'use strict'
// `npm start`: a traced workload on the example hashing addon.
//
// Six "requests", each under its own AsyncLocalStorage store, wait on a
// timer, hash a buffer on the addon's native worker threads, then hash the
// digest again from the first callback. The engine records every hop (the
// JS bridge adds the timers and promises); the demo prints the events in
// the seed format (abridged), the async call stack of one callback and the
// per-site latency table, and writes trace.json and report.html.
const fs = require('node:fs')
const path = require('node:path')
const { AsyncLocalStorage } = require('node:async_hooks')

const nat = require('napi-async-trace')
const hash = require('./hash')

const REQUESTS = 6
const SHOWN_EVENTS = 24
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

// Runs as the one continuation of the workload's promise, so nothing of the
// demo's own is left waiting while it asks what is pending.
function report ({ digests, seen, watched: watchedFrame }) {
  const watched = watchedFrame()
  const batch = nat.drain()
  const running = nat.marks.current() // this very continuation: not ended yet
  nat.disable()

  const lines = String(batch).split('\n')
  console.log(`== ${batch.length} events in the seed format (first ${SHOWN_EVENTS}) ==`)
  console.log(lines.slice(0, SHOWN_EVENTS).join('\n'))
  if (lines.length > SHOWN_EVENTS) console.log(`... ${lines.length - SHOWN_EVENTS} more`)

  const ok = seen.every(([want, got]) => want === got)
  console.log(`\n== AsyncLocalStorage: ${seen.length} callbacks, ${ok ? 'each saw its own request\'s store' : 'SOME SAW ANOTHER STORE'} ==`)
  console.log(`digests: ${digests.map((d) => d.slice(0, 12)).join(' ')}`)

  const g = nat.graph(batch)
  console.log(`\n== the async call stack of request 3's last callback (frame ${watched}) ==`)
  console.log(g.formatStack(watched))

  console.log('\n== per site (ms): frames, queue wait, dispatch wait, run time ==')
  console.log(`${pad('site', 18)}${lpad('frames', 7)}${lpad('queue p50', 11)}${lpad('p99', 9)}${lpad('dispatch p50', 14)}${lpad('p99', 9)}${lpad('run p50', 10)}${lpad('p99', 9)}`)
  for (const s of g.sites()) {
    console.log(`${pad(s.site, 18)}${lpad(s.frames, 7)}${lpad(ms(s.queueWait.p50), 11)}${lpad(ms(s.queueWait.p99), 9)}` +
      `${lpad(ms(s.dispatchWait.p50), 14)}${lpad(ms(s.dispatchWait.p99), 9)}${lpad(ms(s.run.p50), 10)}${lpad(ms(s.run.p99), 9)}`)
  }
  const pending = g.pending().filter((p) => p.id !== running)
  console.log(`\npending: ${pending.length}${pending.length ? `\n${nat.formatPending(pending)}` : ''}`)

  const { toTrace, writeTrace } = require('../lib/trace-file')
  const tracePath = path.join(outDir, 'trace.json')
  writeTrace(tracePath, toTrace([batch], { stacks: nat.linkStack, stats: nat.stats(), version: nat.version }))
  const { renderReport } = require('../lib/report')
  const reportPath = path.join(outDir, 'report.html')
  fs.writeFileSync(reportPath, renderReport(g, { title: 'napi-async-trace demo', generated: new Date().toISOString(), exclude: [running] }))
  console.log(`\nwrote ${path.relative(process.cwd(), tracePath) || tracePath} and ${path.relative(process.cwd(), reportPath) || reportPath}`)
  console.log('next: npx napi-async-trace stacks trace.json | npx napi-async-trace chrome trace.json -o trace.chrome.json (open in https://ui.perfetto.dev)')
  if (!ok) process.exitCode = 1
}

workload().then(report, (err) => {
  console.error(err)
  process.exitCode = 1
})
