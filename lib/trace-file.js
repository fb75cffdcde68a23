'use strict'
// trace.json: what `napi-async-trace record` and the demo write, and what
// `report`, `stacks` and graph() read back. One JSON object:
//
//   { "format": "napi-async-trace", "formatVersion": 1,
//     "version": "<package>", "node": "<process.version>", "pid", "argv",
//     "stats": { ...stats() at the end },
//     "events": [ { event, executeID, linkID, readyID, ts, thread, env, site }, ... ],
//     "stacks": { "<linkID>": "at f (file:line:col)\n..." } }
//
// Events are the objects drain() iterates (lost markers carry `count`), so
// the file is readable by hand and by graph() as is.
const fs = require('node:fs')
const { EventBatch, EVENT_TYPES, RECORD_SIZE, RECORD_FLAG_CONSUMER } = require('./events')
const stream = require('./trace-stream')
const { natError, invalidArgType, invalidArgValue } = require('./errors.js')

const FORMAT = 'napi-async-trace'
const FORMAT_VERSION = 1

function traceError (code, message, cause) {
  return natError(code, message, cause)
}

/**
 * The trace object for some drained batches. stacks: (linkID) => string |
 * undefined, asked for every link in the batches.
 */
function toTrace (batches, { stacks, stats, version, argv } = {}) {
  const events = []
  const stackOut = {}
  for (const b of batches) {
    for (let i = 0; i < b.length; i++) {
      const e = b.get(i)
      events.push(e)
      if (stacks && e.event === 'link') {
        const s = stacks(e.linkID)
        if (typeof s === 'string') stackOut[e.linkID] = s
      }
    }
  }
  return {
    format: FORMAT,
    formatVersion: FORMAT_VERSION,
    version,
    node: process.version,
    pid: process.pid,
    argv: argv || process.argv.slice(1),
    stats,
    events,
    stacks: stackOut
  }
}

function writeTrace (file, trace) {
  const tmp = `${file}.tmp-${process.pid}`
  fs.writeFileSync(tmp, JSON.stringify(trace))
  fs.renameSync(tmp, file)
}

/**
 * Reads and checks a trace file: { trace, stacks: Map<linkID, string> }.
 * Errors carry a code: NAT_EIO (cannot read the file; `cause` is the file
 * system's error, e.g. ENOENT), NAT_EBADTRACE (not JSON, or JSON but not
 * a trace this package wrote), NAT_EVERSION (a newer format version).
 */
function readTrace (file) {
  let text
  try {
    text = fs.readFileSync(file, 'utf8')
  } catch (err) {
    throw traceError('NAT_EIO', `cannot read ${file}: ${err.code === 'ENOENT' ? 'no such file' : err.message}`, err)
  }
  let trace
  try {
    trace = JSON.parse(text)
  } catch (err) {
    throw traceError('NAT_EBADTRACE', `${file} is not valid JSON (${err.message})`, err)
  }
  return { trace: checkTrace(trace, file), stacks: stacksOf(trace) }
}

function checkTrace (trace, file = 'the trace') {
  if (Array.isArray(trace)) return { events: trace } // a bare event array (toJSON, toObjects)
  if (trace === null || typeof trace !== 'object') {
    throw traceError('NAT_EBADTRACE', `${file} is not a napi-async-trace trace (a JSON ${trace === null ? 'null' : typeof trace})`)
  }
  if (trace.format !== undefined && trace.format !== FORMAT) {
    throw traceError('NAT_EBADTRACE', `${file} is a ${JSON.stringify(trace.format)} file, not a napi-async-trace trace`)
  }
  if (typeof trace.formatVersion === 'number' && trace.formatVersion > FORMAT_VERSION) {
    throw traceError('NAT_EVERSION', `${file} has format version ${trace.formatVersion}; this version reads up to ${FORMAT_VERSION}`)
  }
  if (!Array.isArray(trace.events)) {
    throw traceError('NAT_EBADTRACE', `${file} has no "events" array${trace.traceEvents ? ' (it looks like a Chrome trace: pass the napi-async-trace recording instead)' : ''}`)
  }
  return trace
}

function stacksOf (trace) {
  const m = new Map()
  const s = trace && trace.stacks
  if (s !== null && typeof s === 'object' && !Array.isArray(s)) {
    for (const [k, v] of Object.entries(s)) {
      const id = Number(k)
      if (Number.isSafeInteger(id) && typeof v === 'string') m.set(id, v)
    }
  }
  return m
}

/**
 * Reads a trace of either format: the JSON trace (readTrace) or a stream
 * trace (lib/trace-stream.js), whole, into memory. Returns { trace,
 * stacks } where trace.events is what graph() takes (event objects, or an
 * array of EventBatches for a stream trace) and, for a stream trace,
 * trace.meta, trace.end and trace.truncated (null, or where and why the
 * file was cut: a crash leaves the last chunk incomplete).
 */
function readTraceFile (file, options = {}) {
  if (!stream.isStreamFile(file)) return readTrace(file)
  const batches = []
  const stacks = new Map()
  const r = stream.readStream(file, {
    onEvents: (b) => batches.push(b),
    onStacks: (m) => { for (const [k, v] of m) stacks.set(k, v) },
    onProgress: options.onProgress
  })
  return {
    // stacks twice: on the trace (graph() takes a trace's own stacks for
    // its links) and as a Map.
    trace: { format: stream.FORMAT, formatVersion: stream.FORMAT_VERSION, meta: r.meta, end: r.end, truncated: r.truncated, events: batches, stats: r.end && r.end.stats, stacks: Object.fromEntries(stacks) },
    stacks
  }
}

// Event objects -> whole records with sites as names (site field filled
// by the caller's table).
function recordsOf (list) {
  const n = list.length
  const ab = new ArrayBuffer(n * RECORD_SIZE)
  const u32 = new Uint32Array(ab)
  const u16 = new Uint16Array(ab)
  const put64 = (k, v) => {
    // Integers below 2^53 (IDs, ns timestamps) as two u32 words.
    u32[k] = v % 4294967296
    u32[k + 1] = Math.floor(v / 4294967296)
  }
  const names = []
  for (let i = 0; i < n; i++) {
    const e = list[i]
    const W = i * (RECORD_SIZE / 4)
    const type = EVENT_TYPES[e.event]
    if (type === undefined) throw invalidArgValue(`events[${i}].event`, 'is not an event name', e.event)
    put64(W, Number(e.ts) || 0)
    put64(W + 2, e.executeID || 0)
    put64(W + 4, type === EVENT_TYPES.lost ? (e.count || 0) : (e.linkID || 0))
    put64(W + 6, e.readyID || 0)
    u32[W + 9] = e.env || 0
    u32[W + 10] = e.thread || 0
    u16[i * (RECORD_SIZE / 2) + 22] = type
    u16[i * (RECORD_SIZE / 2) + 23] = e.consumer === true ? RECORD_FLAG_CONSUMER : 0
    names.push(e.site || null)
  }
  return { buffer: ab, names }
}

/**
 * Writes events (an EventBatch, an array of EventBatches, or an array of
 * event objects) to `file` as a stream trace. options.stacks: a Map or
 * (linkID) => text for the links written; compress; meta.
 */
function writeStreamTrace (file, events, { stacks, compress = true, meta = {} } = {}) {
  let parts
  if (events instanceof EventBatch) parts = [events]
  else if (Array.isArray(events) && events.every((b) => b instanceof EventBatch)) parts = events
  else if (Array.isArray(events)) {
    const { buffer, names } = recordsOf(events)
    const siteOf = (i) => names[i]
    // A batch whose site names come from the objects, by record index.
    const b = new EventBatch(buffer)
    b.siteAt = siteOf
    parts = [b]
  } else if (events !== null && typeof events === 'object' && Array.isArray(events.events)) {
    return writeStreamTrace(file, events.events, { stacks, compress, meta })
  } else {
    throw invalidArgType('events', 'an EventBatch, an array of EventBatches or an array of event objects', events)
  }
  const stackOf = stacks instanceof Map ? (id) => stacks.get(id) : typeof stacks === 'function' ? stacks : () => undefined
  const tmp = `${file}.tmp-${process.pid}`
  const w = new stream.StreamWriter(tmp, { node: process.version, pid: process.pid, argv: process.argv.slice(1), ...meta }, { compress })
  let count = 0
  try {
    const table = [null]
    const index = new Map()
    for (const b of parts) {
      const copy = new Uint8Array(b.length * RECORD_SIZE)
      copy.set(new Uint8Array(b.buffer, 0, b.length * RECORD_SIZE))
      const u32 = new Uint32Array(copy.buffer)
      const linkStacks = new Map()
      for (let i = 0; i < b.length; i++) {
        const name = b.siteAt(i)
        let s = 0
        if (name !== null && name !== undefined) {
          s = index.get(name)
          if (s === undefined) {
            s = table.length
            table.push(name)
            index.set(name, s)
          }
        }
        u32[i * (RECORD_SIZE / 4) + 8] = s
        if (b.typeAt(i) === EVENT_TYPES.link) {
          const t = stackOf(b.linkIDAt(i))
          if (typeof t === 'string') linkStacks.set(b.linkIDAt(i), t)
        }
      }
      w.sites(table)
      w.events(Buffer.from(copy.buffer))
      w.stacks(linkStacks)
      count += b.length
    }
    w.end({ reason: 'written', events: count })
  } finally {
    w.close()
  }
  fs.renameSync(tmp, file)
  return { file, events: count, bytes: w.bytes }
}

module.exports = { FORMAT, FORMAT_VERSION, toTrace, writeTrace, readTrace, readTraceFile, writeStreamTrace, recordsOf, checkTrace, stacksOf }
