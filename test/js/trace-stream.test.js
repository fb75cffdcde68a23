'use strict'
// The stream trace format (docs/trace-format.md): writer, reader, what a
// crash leaves, the bounded-memory summariser against the full graph.
const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { root } = require('./helpers')

const nat = require(root)
const stream = require(path.join(root, 'lib', 'trace-stream'))
const { loadGraph, summariseTrace, scanTrace } = require(path.join(root, 'lib', 'trace-load'))
const { Summary, Histogram, frameLabel } = require(path.join(root, 'lib', 'summary'))

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nat-stream-'))
test.after(() => fs.rmSync(dir, { recursive: true, force: true }))

// A chain of `hops` frames per round, `rounds` rounds, recorded live.
function recordChains (rounds, hops) {
  nat.enable()
  nat.drain()
  const site = nat.marks.site('stream:hop')
  const other = nat.marks.site('stream:other')
  for (let r = 0; r < rounds; r++) {
    let frame = 0
    for (let h = 0; h < hops; h++) {
      const l = nat.marks.link(h % 2 ? other : site)
      if (frame) nat.marks.end(frame)
      const rd = nat.marks.ready(h % 2 ? other : site, l)
      frame = nat.marks.begin(h % 2 ? other : site, rd)
    }
    nat.marks.end(frame)
  }
  nat.marks.link(site) // one left pending
  const b = nat.drain()
  nat.disable()
  return b
}

test('writeTrace then readTrace: the same events, sites and stacks', () => {
  const batch = recordChains(10, 3)
  const file = path.join(dir, 'rt.nat')
  const stacks = new Map([[batch.linkIDAt([...Array(batch.length).keys()].find((i) => batch.eventAt(i) === 'link')), 'at f (/x/y.js:3:4)']])
  const w = nat.writeTrace(file, batch, { stacks })
  assert.equal(w.events, batch.length)
  assert.ok(stream.isStreamFile(file))
  const { trace, stacks: back } = nat.readTrace(file)
  assert.equal(trace.format, stream.FORMAT)
  assert.equal(trace.truncated, null)
  assert.equal(trace.end.reason, 'written')
  const got = trace.events.flatMap((b) => b.toObjects())
  assert.deepEqual(got, batch.toObjects())
  assert.deepEqual([...back], [...stacks])
  // nat.graph() takes it as it is.
  const g = nat.graph(trace, { stacks: back })
  assert.equal(g.events, batch.length)
  assert.equal(g.sites().find((s) => s.site === 'stream:hop').frames, 20)
  // Event objects (a JSON trace's) write the same records.
  const file2 = path.join(dir, 'objects.nat')
  nat.writeTrace(file2, batch.toObjects())
  assert.deepEqual(nat.readTrace(file2).trace.events.flatMap((b) => b.toObjects()), batch.toObjects())
})

test('chunks are deflated when that pays, and read back the same', () => {
  const batch = recordChains(200, 3)
  const plain = path.join(dir, 'plain.nat')
  const packed = path.join(dir, 'packed.nat')
  nat.writeTrace(plain, batch, { compress: false })
  nat.writeTrace(packed, batch, { compress: true })
  const a = fs.statSync(plain).size
  const b = fs.statSync(packed).size
  assert.ok(b < a / 2, `deflate makes it smaller (${a} -> ${b} bytes)`)
  const flags = []
  stream.readChunks(packed, () => {})
  const buf = fs.readFileSync(packed)
  for (let pos = 8; pos < buf.length;) {
    flags.push({ type: buf[pos], flags: buf[pos + 1] })
    pos += 16 + buf.readUInt32LE(pos + 4)
  }
  assert.ok(flags.some((f) => f.type === stream.CHUNK.EVENTS && (f.flags & stream.FLAG_DEFLATE)))
  assert.deepEqual(nat.readTrace(packed).trace.events.flatMap((x) => x.toObjects()), batch.toObjects())
})

test('a file cut anywhere reads up to its last complete chunk and says where it was cut', () => {
  const batch = recordChains(50, 3)
  const file = path.join(dir, 'whole.nat')
  // Small chunks: several EVENTS chunks to cut between.
  const w = new stream.StreamWriter(file, { pid: 1 }, { compress: true })
  const names = [null, 'stream:hop', 'stream:other']
  w.sites(names)
  const step = 40 * 48
  const raw = Buffer.from(batch.buffer)
  for (let off = 0; off < raw.length; off += step) w.chunk(stream.CHUNK.EVENTS, raw.subarray(off, Math.min(raw.length, off + step)))
  w.end({ reason: 'test' })
  w.close()
  const whole = fs.readFileSync(file)
  const bounds = []
  for (let pos = 8; pos < whole.length;) {
    pos += 16 + whole.readUInt32LE(pos + 4)
    bounds.push(pos)
  }
  const cut = path.join(dir, 'cut.nat')
  let checked = 0
  for (let len = 8; len <= whole.length; len += 7) {
    fs.writeFileSync(cut, whole.subarray(0, len))
    let events = 0
    const r = stream.readStream(cut, { onEvents: (b) => { events += b.length } })
    const complete = bounds.filter((b) => b <= len).length
    assert.equal(r.chunks, complete, `cut at ${len}`)
    assert.equal(r.bytes, complete === 0 ? 8 : bounds[complete - 1])
    if (bounds.includes(len) || len === 8) assert.equal(r.truncated, null)
    else assert.match(r.truncated.reason, /ends inside a chunk/)
    assert.ok(events <= batch.length)
    checked++
  }
  assert.ok(checked > 100)
  // A flipped byte inside a chunk fails its CRC: reading stops there.
  const bad = Buffer.from(whole)
  bad[bounds[2] + 20] ^= 0xff
  fs.writeFileSync(cut, bad)
  const r = stream.readStream(cut, {})
  assert.equal(r.bytes, bounds[2])
  assert.match(r.truncated.reason, /CRC/)
})

test('readers: not a stream trace, a later version, unknown chunks skipped', () => {
  const junk = path.join(dir, 'junk.nat')
  fs.writeFileSync(junk, 'hello world, not a trace')
  assert.throws(() => stream.readStream(junk), { code: 'NAT_EBADTRACE' })
  const later = path.join(dir, 'later.nat')
  fs.writeFileSync(later, Buffer.concat([stream.MAGIC, stream.encodeChunk(stream.CHUNK.META, { format: stream.FORMAT, formatVersion: 99 })]))
  assert.throws(() => stream.readStream(later), { code: 'NAT_EVERSION', message: /format version 99/ })
  const extra = path.join(dir, 'extra.nat')
  const batch = recordChains(1, 2)
  nat.writeTrace(extra, batch)
  fs.appendFileSync(extra, stream.encodeChunk(200, Buffer.from('a chunk of a later version')))
  let n = 0
  const r = stream.readStream(extra, { onEvents: (b) => { n += b.length } })
  assert.equal(n, batch.length)
  assert.equal(r.truncated, null)
  assert.throws(() => stream.readStream(path.join(dir, 'missing.nat')), (err) => err.code === 'NAT_EIO' && err.cause.code === 'ENOENT')
})

test('the summariser agrees with the graph: per-site frames and run totals, pending, folded', () => {
  const batch = recordChains(300, 4)
  const file = path.join(dir, 'sum.nat')
  nat.writeTrace(file, batch)
  const { graph: g } = loadGraph(file)
  const { summary: s } = summariseTrace(file)
  assert.equal(scanTrace(file).events, batch.length)
  const gs = new Map(g.sites().map((x) => [x.site, x]))
  for (const x of s.sites()) {
    const y = gs.get(x.site)
    assert.equal(x.frames, y.frames, x.site)
    assert.equal(x.run.total, y.run.total)
    assert.equal(x.run.max, y.run.max)
    assert.equal(x.queueWait.count, y.queueWait.count)
    assert.equal(x.queueWait.total, y.queueWait.total)
    // Histogram percentiles are within one bucket (2^(1/8), 9%).
    if (y.run.p50 > 0) assert.ok(Math.abs(Math.log2(x.run.p50 / y.run.p50)) <= 1 / 8 + 1e-9, `${x.run.p50} ~ ${y.run.p50}`)
  }
  assert.equal(s.pending().length, g.pending().length)
  assert.equal(s.pending().filter((p) => p.kind === 'link').length, 1)
  // Folded weights add up to the total run time (µs, rounded per line).
  let w = 0
  for (const l of s.folded().trim().split('\n')) w += Number(l.slice(l.lastIndexOf(' ') + 1))
  const total = g.sites().reduce((a, x) => a + x.run.total, 0) / 1000
  assert.ok(Math.abs(w - total) <= s.nodes, `${w} ~ ${total}`)
})

test('a graph limited to the first N events says it is a sample', () => {
  const batch = recordChains(100, 3)
  const file = path.join(dir, 'sample.nat')
  nat.writeTrace(file, batch)
  const r = loadGraph(file, { limit: 100 })
  assert.equal(r.sampled, true)
  assert.equal(r.added, 100)
  assert.equal(r.events, batch.length)
  assert.equal(r.graph.events, 100)
})

test('summary helpers: histogram quantiles, link stack labels', () => {
  const h = new Histogram()
  for (let i = 1; i <= 1000; i++) h.add(i * 1000)
  const j = h.toJSON()
  assert.equal(j.count, 1000)
  assert.equal(j.max, 1e6)
  assert.ok(Math.abs(j.p50 / 500000 - 1) < 0.1, String(j.p50))
  assert.ok(Math.abs(j.p99 / 990000 - 1) < 0.1, String(j.p99))
  assert.equal(frameLabel('at loadUser (/srv/app/users.js:14:5)\n    at main (/srv/app/index.js:3:1)'), 'loadUser (users.js:14)')
  assert.equal(frameLabel('at async loadUser (C:\\app\\users.js:14:5)'), 'loadUser (users.js:14)')
  assert.equal(frameLabel('at /srv/app/x.js:2:9'), '<anonymous> (x.js:2)')
  assert.equal(frameLabel(undefined), null)
  // The stack tree folds past its node limit instead of growing.
  const s = new Summary()
  assert.equal(s.path(0).join(';'), 'root')
})
