#!/usr/bin/env node
'use strict'
// Seeded fuzz of the JS surface: calls every exported function of
// require('napi-async-trace') (and marks.*, EventBatch and its methods,
// decode, and the raw binding lib/ wraps) with random argument types and
// values. The only outcomes allowed are a normal return or a clean
// exception: a TypeError/RangeError with a string `code` (an Error with a
// string `code` from the binding's state checks, e.g. NAT_EFRAME), or the very
// error a hostile argument threw at us. A crash ends this process; the
// caller (test/js/fuzz.test.js) reports it with the seed.
//
//   node test/fuzz/js-fuzz.js                 random seed, 10,000 calls
//   NAT_FUZZ_SEED=1234 NAT_FUZZ_CALLS=50000 node test/fuzz/js-fuzz.js
//
// Prints `seed <n>` first, then one JSON summary line; exits 1 when a call
// ended in an exception that is not clean.
const path = require('node:path')
const root = path.join(__dirname, '..', '..')
const nat = require(root)
const binding = require(path.join(root, 'lib', 'binding'))

const seed = process.env.NAT_FUZZ_SEED !== undefined
  ? Number(process.env.NAT_FUZZ_SEED) >>> 0
  : (Math.random() * 2 ** 32) >>> 0
const CALLS = Number(process.env.NAT_FUZZ_CALLS || 10000)
process.stdout.write(`seed ${seed}\n`)

// mulberry32: small, seedable, good enough to pick cases.
let state = seed
function rand () {
  state = (state + 0x6d2b79f5) >>> 0
  let t = state
  t = Math.imul(t ^ (t >>> 15), t | 1)
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296
}
const int = (n) => Math.floor(rand() * n)
const pick = (arr) => arr[int(arr.length)]

const HOSTILE = new Error('thrown by a hostile argument')
const hostile = () => new Proxy({}, {
  get () { throw HOSTILE },
  has () { throw HOSTILE },
  ownKeys () { throw HOSTILE },
  getOwnPropertyDescriptor () { throw HOSTILE },
  getPrototypeOf () { throw HOSTILE }
})

function randomString () {
  switch (int(8)) {
    case 0: return ''
    case 1: return 'fuzz:' + int(50)
    case 2: return 'x'.repeat(250 + int(10)) // around SITE_NAME_MAX (255)
    case 3: return 'a\0b'
    case 4: return '\u00e9\u{1f600}'.repeat(1 + int(70)) // multi-byte UTF-8
    case 5: return String.fromCharCode(...Array.from({ length: int(20) }, () => int(0xffff)))
    case 6: return '\ud800' // a lone surrogate
    default: return 'mod:kind'
  }
}

function randomBuffer () {
  const records = int(6)
  const len = rand() < 0.8 ? records * 48 : int(200)
  const buf = new ArrayBuffer(len)
  const u8 = new Uint8Array(buf)
  for (let i = 0; i < len; i++) u8[i] = int(256)
  if (rand() < 0.5) {
    // Plausible records: a real type, small IDs, an existing site.
    const u16 = new Uint16Array(buf, 0, Math.floor(len / 2))
    const u32 = new Uint32Array(buf, 0, Math.floor(len / 4))
    for (let r = 0; r < records; r++) {
      u16[r * 24 + 22] = int(8)
      u32[r * 12 + 8] = int(4)
    }
  }
  return buf
}

function randomNumber () {
  return pick([0, 1, -1, 2, 15, 16, 17, 48, 1000, 65536, 2 ** 26, 2 ** 26 + 1, 2 ** 31, 2 ** 32 - 1, 2 ** 32,
    2 ** 53 - 1, 2 ** 53, -(2 ** 53), 0.5, -0, NaN, Infinity, -Infinity, 1e300, int(100), int(2 ** 31), lastId()])
}

function lastId () {
  try { return nat.stats().lastId } catch { return 1 }
}

let lastBatch = null
function randomValue (depth = 0) {
  switch (int(depth > 1 ? 10 : 16)) {
    case 0: return undefined
    case 1: return null
    case 2: return rand() < 0.5
    case 3: case 4: case 5: return randomNumber()
    case 6: case 7: return randomString()
    case 8: return pick([Symbol('s'), 10n, -1n, 2n ** 70n])
    case 9: return pick([() => 1, function named () { return 'x' }, Math.max])
    case 10: return randomBuffer()
    case 11: return pick([new Uint8Array(48), new DataView(new ArrayBuffer(48)), new SharedArrayBuffer(48), Buffer.alloc(96)])
    case 12: return hostile()
    case 13: return Array.from({ length: int(3) }, () => randomValue(depth + 1))
    case 14: return lastBatch || nat.drain()
    default: {
      const o = {}
      const keys = ['max', 'capacity', 'maxThreads', 'foo', '__proto__', 'length']
      // '__proto__' sets the prototype (say, to an ArrayBuffer); a later
      // key may then hit a read-only inherited property: skip that key.
      for (let i = int(3); i > 0; i--) {
        try { o[pick(keys)] = randomValue(depth + 1) } catch {}
      }
      return o
    }
  }
}

function args (n) {
  const a = []
  const count = rand() < 0.15 ? int(n + 2) : n // sometimes too few or too many
  for (let i = 0; i < count; i++) a.push(randomValue())
  return a
}

// Arguments that are mostly right, so calls get past the checks and reach
// the engine (sites that exist, IDs that were handed out, open frames).
const sites = []
const frames = []
function goodSite () { return sites.length && rand() < 0.9 ? pick(sites) : randomValue() }
function goodId () { return rand() < 0.7 ? int(lastId() + 2) : randomValue() }

const batchMethods = ['typeAt', 'eventAt', 'tsAt', 'executeIDAt', 'linkIDAt', 'readyIDAt', 'siteIndexAt',
  'siteAt', 'envAt', 'threadAt', 'seed']

const targets = [
  ['enable', () => nat.enable(...args(1))],
  ['enable(good)', () => nat.enable(pick([{}, { capacity: pick([16, 17, 1000, 4096]) }, { maxThreads: 1 + int(2000) }]))],
  ['disable', () => nat.disable(...args(0))],
  ['isEnabled', () => nat.isEnabled(...args(0))],
  ['drain', () => { lastBatch = nat.drain(...args(1)); return lastBatch }],
  ['drain(good)', () => { lastBatch = nat.drain(rand() < 0.5 ? undefined : { max: 1 + int(100) }); return lastBatch }],
  ['decode', () => nat.decode(...args(1))],
  ['decode(buffer)', () => { lastBatch = nat.decode(randomBuffer()); return lastBatch }],
  ['stats', () => nat.stats(...args(0))],
  ['marks.site', () => { const s = nat.marks.site(...args(1)); sites.push(s); return s }],
  ['marks.site(good)', () => { const s = nat.marks.site(randomString()); sites.push(s); return s }],
  ['marks.link', () => nat.marks.link(goodSite(), ...args(0))],
  ['marks.ready', () => nat.marks.ready(goodSite(), goodId())],
  ['marks.begin', () => { const f = nat.marks.begin(goodSite(), goodId()); frames.push(f); return f }],
  ['marks.end', () => nat.marks.end(rand() < 0.7 && frames.length ? frames.pop() : goodId())],
  ['marks.current', () => nat.marks.current(...args(0))],
  ['new EventBatch', () => new nat.EventBatch(...args(2))],
  ['batch.get', () => {
    const b = lastBatch || nat.drain()
    return b.get(rand() < 0.6 ? int(b.length + 2) - 1 : randomValue())
  }],
  // The column accessors are the unchecked fast path (documented: i in
  // [0, length)); any number must still give a value, not a crash.
  ['batch column', () => {
    const b = lastBatch || nat.drain()
    return b[pick(batchMethods)](rand() < 0.6 ? int(b.length + 2) - 1 : randomNumber())
  }],
  ['batch whole', () => {
    const b = lastBatch || nat.drain()
    switch (int(5)) {
      case 0: return b.lost
      case 1: return JSON.stringify(b)
      case 2: return String(b)
      case 3: return b.toObjects()
      default: return [...b]
    }
  }],
  // The raw binding: lib/ checks first, but the addon must hold up alone.
  ...['enable', 'disable', 'enabled', 'rootEnd', 'drain', 'stats', 'site', 'sites', 'link', 'ready', 'begin',
    'end', 'currentFrame', 'envSerial'].map((name) =>
    [`binding.${name}`, () => binding[name](...args(2))])
]

function clean (err) {
  if (err === HOSTILE) return 'hostile'
  if (err === null || typeof err !== 'object') return null
  if (typeof err.code !== 'string' || typeof err.message !== 'string') return null
  // Only codes of the one vocabulary (README, Errors) count as clean.
  if (!Object.hasOwn(nat.codes, err.code)) return null
  if (err instanceof TypeError || err instanceof RangeError) return err.code
  // State errors of the engine (a frame that is not the innermost, ...).
  if (err.constructor === Error) return err.code
  return null
}

function describe (v) {
  try { return typeof v === 'bigint' ? `${v}n` : typeof v === 'symbol' ? String(v) : JSON.stringify(v) } catch { return typeof v }
}

nat.enable()
nat.marks.link(nat.marks.site('fuzz:start')) // the main thread's ring, at the default size
const summary = { seed, calls: 0, returned: 0, threw: {}, unclean: [] }
for (let i = 0; i < CALLS; i++) {
  const [name, fn] = pick(targets)
  summary.calls++
  try {
    fn()
    summary.returned++
  } catch (err) {
    const code = clean(err)
    if (code !== null) {
      summary.threw[code] = (summary.threw[code] || 0) + 1
    } else if (summary.unclean.length < 10) {
      summary.unclean.push({ call: i, name, error: String(err && err.stack || describe(err)) })
    }
  }
  // Keep the state sane: recording on most of the time, frames balanced.
  if (frames.length > 64) {
    while (frames.length) { try { nat.marks.end(frames.pop()) } catch {} }
  }
}

// The engine still works and its counters still agree after all that.
while (nat.marks.current() !== 0) {
  try { nat.marks.end(nat.marks.current()) } catch { break }
}
nat.enable()
const site = nat.marks.site('fuzz:end')
const link = nat.marks.link(site)
let found = false
for (let b = nat.drain(); b.length > 0; b = nat.drain()) {
  for (const e of b) if (e.event === 'link' && e.linkID === link && e.site === 'fuzz:end') found = true
}
const s = nat.stats()
summary.after = { found, pending: s.pending, consistent: s.recorded === s.drained + s.pending }
nat.disable()
process.stdout.write(JSON.stringify(summary) + '\n')
process.exitCode = summary.unclean.length === 0 && found && summary.after.consistent ? 0 : 1
