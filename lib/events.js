'use strict'
// Drained records, decoded lazily. A batch keeps the ArrayBuffer the addon
// filled and reads fields through typed-array views at the offsets of
// nat_record_t (include/napi_async_trace_defs.h); objects are only made
// when asked for (iteration, get(), toJSON()).
//
// Record layout, 48 bytes, little-endian on every platform Node ships for:
//   0 ts  8 executeID  16 linkID  24 readyID  (u64)
//   32 site  36 env  40 thread  (u32)   44 type  46 flags  (u16)
const { isArrayBuffer } = require('node:util').types
const { invalidArgType, outOfRange, validateInteger } = require('./errors')

const RECORD_SIZE = 48
const W32 = RECORD_SIZE / 4
const W16 = RECORD_SIZE / 2
const TWO32 = 4294967296
const RECORD_FLAG_CONSUMER = 1 // NAT_RECORD_FLAG_CONSUMER

// Record type -> event name. The first four are the model's (DESIGN.md 2).
const EVENT_NAMES = Object.freeze([
  undefined, 'executionBegin', 'executionEnd', 'link', 'ready', 'lost', 'abort', 'readyFailed'
])
const EVENT_TYPES = Object.freeze({
  executionBegin: 1, executionEnd: 2, link: 3, ready: 4, lost: 5, abort: 6, readyFailed: 7
})

// The key order of the seed format (DESIGN.md 2).
function seedObject (event, executeID, linkID, readyID, count, thread) {
  switch (event) {
    case 'executionBegin':
      return readyID === 0 ? { event, executeID } : { event, executeID, readyID }
    case 'executionEnd':
      return { event, executeID }
    case 'link':
      return { event, executeID, linkID }
    case 'ready':
      return { event, executeID, linkID, readyID }
    case 'lost':
      return { event, count, thread }
    case 'abort':
      return readyID === 0 ? { event, linkID } : { event, linkID, readyID }
    case 'readyFailed':
      return { event, executeID, linkID, readyID }
    default:
      return { event }
  }
}

// One seed-format object as one line: { "event": "link", "executeID": 0 }
function seedLine (obj) {
  const parts = []
  for (const key of Object.keys(obj)) parts.push(`${JSON.stringify(key)}: ${JSON.stringify(obj[key])}`)
  return `{ ${parts.join(', ')} }`
}

class EventBatch {
  // buffer: an ArrayBuffer of whole records (as drain() returns it).
  // siteName: index -> name (or null for site 0 / unknown).
  constructor (buffer, siteName) {
    if (buffer === null || buffer === undefined) buffer = new ArrayBuffer(0)
    // isArrayBuffer, not instanceof: an object whose prototype is an
    // ArrayBuffer passes instanceof and then throws from byteLength.
    if (!isArrayBuffer(buffer)) throw invalidArgType('buffer', 'an ArrayBuffer', buffer)
    if (buffer.byteLength % RECORD_SIZE !== 0) {
      throw outOfRange('buffer.byteLength', `a multiple of ${RECORD_SIZE} (whole records)`, buffer.byteLength)
    }
    this.buffer = buffer
    this.length = buffer.byteLength / RECORD_SIZE
    this._u32 = new Uint32Array(buffer)
    this._u16 = new Uint16Array(buffer)
    this._siteName = typeof siteName === 'function' ? siteName : () => null
  }

  _u64 (i, word) {
    const k = i * W32 + word
    return this._u32[k] + this._u32[k + 1] * TWO32
  }

  // Column accessors: no object per record. i must be in [0, length).
  typeAt (i) { return this._u16[i * W16 + 22] }
  eventAt (i) { return EVENT_NAMES[this._u16[i * W16 + 22]] || 'unknown' }
  // Nanoseconds on the clock of process.hrtime.bigint(); exact below 2^53
  // (104 days of uptime), within a few ns above.
  tsAt (i) { return this._u64(i, 0) }
  executeIDAt (i) { return this._u64(i, 2) }
  linkIDAt (i) { return this._u64(i, 4) }
  readyIDAt (i) { return this._u64(i, 6) }
  siteIndexAt (i) { return this._u32[i * W32 + 8] }
  siteAt (i) { const s = this._u32[i * W32 + 8]; return s === 0 ? null : this._siteName(s) }
  envAt (i) { return this._u32[i * W32 + 9] }
  threadAt (i) { return this._u32[i * W32 + 10] }
  flagsAt (i) { return this._u16[i * W16 + 23] }

  // The record as an object with every field. For a lost marker, count is
  // the number of records of `thread` that were dropped (thread 0: threads
  // that could get no ring); its IDs are 0.
  get (i) {
    validateInteger(i, 'index', 0, this.length - 1)
    return this._object(i)
  }

  _object (i) {
    const type = this.typeAt(i)
    const obj = {
      event: EVENT_NAMES[type] || 'unknown',
      executeID: this.executeIDAt(i),
      linkID: this.linkIDAt(i),
      readyID: this.readyIDAt(i),
      ts: this.tsAt(i),
      thread: this.threadAt(i),
      env: this.envAt(i),
      site: this.siteAt(i)
    }
    if (type === EVENT_TYPES.lost) {
      obj.count = obj.linkID
      obj.linkID = 0
      // Lost by one consumer (its queue was full), not by the engine.
      if (this.flagsAt(i) & RECORD_FLAG_CONSUMER) obj.consumer = true
    }
    return obj
  }

  * [Symbol.iterator] () {
    for (let i = 0; i < this.length; i++) yield this._object(i)
  }

  // The number of records missing from this batch: dropped by the engine
  // or by the consumer that drained it (lost markers).
  get lost () {
    let n = 0
    for (let i = 0; i < this.length; i++) {
      if (this.typeAt(i) === EVENT_TYPES.lost) n += this.linkIDAt(i)
    }
    return n
  }

  // Of lost, the records the consumer could not keep (its limit); the
  // rest the engine dropped.
  get consumerLost () {
    let n = 0
    for (let i = 0; i < this.length; i++) {
      if (this.typeAt(i) === EVENT_TYPES.lost && (this.flagsAt(i) & RECORD_FLAG_CONSUMER)) n += this.linkIDAt(i)
    }
    return n
  }

  // One seed-format object (DESIGN.md 2) of record i.
  seed (i) {
    const type = this.typeAt(i)
    const link = this.linkIDAt(i)
    return seedObject(EVENT_NAMES[type] || 'unknown', this.executeIDAt(i),
      type === EVENT_TYPES.lost ? 0 : link, this.readyIDAt(i), link, this.threadAt(i))
  }

  // The seed format: what JSON.stringify(batch) writes.
  toJSON () {
    const out = new Array(this.length)
    for (let i = 0; i < this.length; i++) out[i] = this.seed(i)
    return out
  }

  // One seed-format line per record, as DESIGN.md section 2 prints them.
  toString () {
    const lines = new Array(this.length)
    for (let i = 0; i < this.length; i++) lines[i] = seedLine(this.seed(i))
    return lines.join('\n')
  }

  // Every field of every record as plain objects (a lossless form for
  // files: the graph and the exporters read it back).
  toObjects () {
    const out = new Array(this.length)
    for (let i = 0; i < this.length; i++) out[i] = this._object(i)
    return out
  }
}

module.exports = { EventBatch, EVENT_NAMES, EVENT_TYPES, RECORD_SIZE, RECORD_FLAG_CONSUMER, seedLine, seedObject }
