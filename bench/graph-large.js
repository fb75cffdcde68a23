'use strict'
// A graph of many events: `node bench/graph-large.js [millions=50]`.
// Builds native-task chains (link, ready, executionBegin, executionEnd:
// 4 events, 3 graph items each) in 1M-event batches decoded from record
// buffers, as drain() delivers them, then asks the questions a user asks
// of a large trace (sites(), pending(), roots, one stack). Prints time and
// memory; not a test (no timed assertions anywhere).
const nat = require('..')

const millions = Number(process.argv[2] || 50)
const total = Math.round(millions * 1e6)
const BATCH = 1 << 20
const REC = 48

let id = 0
let ts = 1e9
function batch (events) {
  const buf = new ArrayBuffer(events * REC)
  const dv = new DataView(buf)
  let o = 0
  const put = (type, exec, link, ready, thread) => {
    dv.setBigUint64(o, BigInt(ts), true); ts += 50
    dv.setBigUint64(o + 8, BigInt(exec), true)
    dv.setBigUint64(o + 16, BigInt(link), true)
    dv.setBigUint64(o + 24, BigInt(ready), true)
    dv.setUint32(o + 32, 0, true); dv.setUint32(o + 36, 1, true); dv.setUint32(o + 40, thread, true)
    dv.setUint16(o + 44, type, true)
    o += REC
  }
  for (let i = 0; i + 4 <= events; i += 4) {
    const l = ++id; const r = ++id; const f = ++id
    // Every 8th task is linked by the previous task's frame: chains.
    put(3, (l % 8 === 0 && l > 4) ? l - 1 : 0, l, 0, 1)
    put(4, 0, l, r, 2)
    put(1, f, 0, r, 1)
    put(2, f, 0, 0, 1)
  }
  return nat.decode(buf.slice(0, o))
}

const mib = (b) => (b / 1048576).toFixed(0)
const t0 = process.hrtime.bigint()
const g = nat.graph()
let done = 0
let peakRss = 0
while (done < total) {
  const n = Math.min(BATCH, total - done)
  g.add(batch(n))
  done += n
  peakRss = Math.max(peakRss, process.memoryUsage().rss)
}
const t1 = process.hrtime.bigint()
const sites = g.sites()
const pending = g.pending()
const roots = g.roots.length
const last = g.stack(id)
const t2 = process.hrtime.bigint()
peakRss = Math.max(peakRss, process.memoryUsage().rss)
console.log(`${g.events} events -> ${g.roots.length} root frames: add ${(Number(t1 - t0) / 1e9).toFixed(1)} s, ` +
  `sites/pending/roots/stack ${(Number(t2 - t1) / 1e9).toFixed(1)} s; sites ${sites.length}, pending ${pending.length}, ` +
  `roots ${roots}, stack depth ${last.length}; peak RSS ${mib(peakRss)} MiB, heap used ${mib(process.memoryUsage().heapUsed)} MiB`)
